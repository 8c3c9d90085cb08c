"""Event studies on a user's own return frames, without ``events.yaml``.

Rows of ``returns`` are the sessions of one common calendar (a row shift is one session);
each event gives a day-0 date per asset. Everything downstream (models, ARs, CARs, tests) is
the same code as :class:`eventstudy.Study` uses.

Examples
--------
>>> import eventstudy as es
>>> res = es.event_study(returns, {"liberation-day": "2025-04-03"}, market=topix_returns)  # doctest: +SKIP
>>> res.car.query("window == '[0,1]'")                                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from eventstudy import abnormal
from eventstudy.abnormal import AssetInput
from eventstudy.events import Event, ModelSpec, StudySettings
from eventstudy.models import build_design
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import Scope
from eventstudy.study import all_tests

EXCHANGE = "USER"
MARKET = "__market__"


@dataclass(frozen=True)
class FrameResult:
    """Tables of an event study on user frames (same columns as :class:`StudyResult`)."""

    abnormal: pd.DataFrame
    car: pd.DataFrame
    tests: pd.DataFrame
    models: pd.DataFrame
    panel: AbnormalPanel = field(repr=False)


def event_panel(
    returns: pd.DataFrame,
    events: Mapping[str, object] | pd.DataFrame,
    market: pd.Series | None = None,
    model: str = "market",
    estimation_window: tuple[int, int] = (-260, -11),
    event_windows: Sequence[tuple[int, int]] = ((0, 0), (0, 1)),
    min_estimation_returns: int = 120,
    exclude_other_events: bool = False,
) -> tuple[AbnormalPanel, pd.DataFrame]:
    """Fit every (event, asset) pair and return the :class:`AbnormalPanel` and the models table.

    Parameters
    ----------
    returns : DataFrame
        Returns, index = sessions (ascending), one column per asset; NaN = missing.
    events : mapping or DataFrame
        ``{event_id: date}`` (the event applies to every asset), or a frame with columns
        ``event_id, asset, date`` (per-asset day-0 dates, e.g. non-clustered designs).
    market : Series, optional
        Benchmark returns on the same index (needed for ``market``/``market_adjusted``).
    model : str
        ``constant_mean``, ``market_adjusted`` or ``market``.

    Returns
    -------
    panel, models
    """
    settings = StudySettings(
        name="frames", estimation_window=tuple(estimation_window), event_windows=tuple(map(tuple, event_windows)),
        exclude_other_events=exclude_other_events, min_estimation_returns=min_estimation_returns,
        model=ModelSpec(model, benchmark=MARKET if model != "constant_mean" else None),
    )
    sessions = pd.DatetimeIndex(returns.index)
    event_list, day0 = _events(events, list(returns.columns), sessions)
    regressors = {}
    if settings.model.benchmark:
        if market is None:
            raise ValueError(f"model {model!r} needs market returns")
        regressors[MARKET] = market.reindex(sessions).to_numpy(float)
    inputs = [
        AssetInput(str(c), EXCHANGE, sessions, returns[c].to_numpy(float),
                   build_design(settings.model, len(sessions), regressors))
        for c in returns.columns
    ]
    return abnormal.estimate(inputs, event_list, day0, settings)


def event_study(
    returns: pd.DataFrame,
    events: Mapping[str, object] | pd.DataFrame,
    market: pd.Series | None = None,
    model: str = "market",
    estimation_window: tuple[int, int] = (-260, -11),
    event_windows: Sequence[tuple[int, int]] = ((0, 0), (0, 1)),
    min_estimation_returns: int = 120,
    exclude_other_events: bool = False,
) -> FrameResult:
    """Abnormal returns, CARs and the full test battery (per event) on user frames.

    Same parameters as :func:`event_panel`.
    """
    panel, models = event_panel(returns, events, market, model, estimation_window, event_windows,
                                min_estimation_returns, exclude_other_events)
    reaction = "total" if model == "constant_mean" else "relative"
    scopes = [Scope("event", e, "all", "all", reaction, panel.event_ids == e)
              for e in dict.fromkeys(panel.event_ids)]
    tests = all_tests(panel, scopes, event_windows)
    return FrameResult(
        abnormal=abnormal.abnormal_table(panel),
        car=abnormal.car_table(panel, event_windows),
        tests=tests,
        models=models,
        panel=panel,
    )


def _events(events, assets: list[str], sessions: pd.DatetimeIndex):
    if isinstance(events, pd.DataFrame):
        table = events[["event_id", "asset", "date"]]
    else:
        table = pd.DataFrame(
            [(str(e), a, d) for e, d in events.items() for a in assets], columns=["event_id", "asset", "date"]
        )
    event_list, day0 = [], {}
    for event_id, rows in table.groupby("event_id", sort=False):
        dates = pd.to_datetime(rows["date"]).dt.normalize()
        if dates.nunique() != 1:
            # one event id per asset when dates differ: split into per-asset events
            for asset, date in zip(rows["asset"], dates):
                key = f"{event_id}|{asset}"
                event_list.append(_event(key, date, (str(asset),)))
                day0[(key, EXCHANGE)] = _on_or_after(date, sessions)
            continue
        date = dates.iloc[0]
        event_list.append(_event(str(event_id), date, tuple(map(str, rows["asset"]))))
        day0[(str(event_id), EXCHANGE)] = _on_or_after(date, sessions)
    return event_list, day0


def _event(event_id: str, date: pd.Timestamp, assets: tuple[str, ...]) -> Event:
    return Event(event_id, event_id, "other", pd.Timestamp(date).tz_localize("UTC"), ("user frame",), assets=assets)


def _on_or_after(date: pd.Timestamp, sessions: pd.DatetimeIndex) -> pd.Timestamp | None:
    """Day 0 = the first session on or after the event date (None beyond the data)."""
    pos = sessions.searchsorted(date)
    return sessions[pos] if pos < len(sessions) else None
