"""Event studies on a user's own return frames, without ``events.yaml``.

Rows of ``returns`` are the sessions of one common calendar (a row shift is one session);
each event gives a day-0 date per asset. Everything downstream (models, ARs, CARs, tests) is
the same code as :class:`eventstudy.Study` uses.

Inputs are checked and normalised at the door (:class:`FrameInputError`, one line each):

* ``returns`` is a DataFrame (one column per asset) or a Series (one asset, named by the
  Series' name); values must be numeric.
* Its index must hold dates: a DatetimeIndex, dates as strings (``"2025-04-07"``) or a
  PeriodIndex. An integer index is refused (it would be read as nanoseconds since 1970).
  Times of day are dropped; a tz-aware index becomes the local date in its own time zone (in
  ``exchange``'s time zone when one is given). Rows are sorted by date; a date that occurs
  twice is refused, naming it.
* ``market`` gets the same treatment and is aligned on the dates of ``returns``.
* Windows follow the rules of ``events.yaml``: ``[start, end]`` with start <= end, no window
  twice, an estimation window that ends before the earliest event-window start, and
  ``0 < min_estimation_returns <=`` its length.
* Event dates: a date (or a naive timestamp, whose time is ignored) puts day 0 on the first row
  on or after it. A tz-aware time needs ``exchange``: day 0 is then the first session of that
  exchange whose close is later than the announcement (the rule of ``events.yaml`` studies),
  or the next row of ``returns`` on or after it. A tz-aware midnight is read as a date.

Examples
--------
>>> import eventstudy as es
>>> res = es.event_study(returns, {"liberation-day": "2025-04-03"}, market=topix_returns)  # doctest: +SKIP
>>> res.car.query("window == '[0,1]'")                                                   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy import abnormal, calendars
from eventstudy.abnormal import AssetInput
from eventstudy.errors import ConfigError, EventStudyError
from eventstudy.events import Event, ModelSpec, StudySettings
from eventstudy.models import build_design
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import Scope
from eventstudy.study import all_tests, pair_tables

EXCHANGE = "USER"
MARKET = "__market__"
FRAME_MODELS = ("constant_mean", "market_adjusted", "market", "dimson", "scholes_williams")
"""Models available on frames: every model of ``events.yaml`` with at most one benchmark."""
EVENT_COLUMNS = ("event_id", "asset", "date")


class FrameInputError(ConfigError, ValueError):
    """Returns, market, events or windows given to :func:`event_panel` that cannot be used as
    they are; the message names the argument and the offending value."""


@dataclass(frozen=True)
class FrameResult:
    """Tables of an event study on user frames (same columns as :class:`StudyResult`)."""

    abnormal: pd.DataFrame
    car: pd.DataFrame
    tests: pd.DataFrame
    models: pd.DataFrame
    panel: AbnormalPanel = field(repr=False)


def event_panel(
    returns: pd.DataFrame | pd.Series,
    events: Mapping[str, object] | pd.DataFrame,
    market: pd.Series | None = None,
    model: str = "market",
    estimation_window: tuple[int, int] = (-260, -11),
    event_windows: Sequence[tuple[int, int]] = ((0, 0), (0, 1)),
    min_estimation_returns: int = 120,
    exclude_other_events: bool = False,
    exchange: str | None = None,
) -> tuple[AbnormalPanel, pd.DataFrame]:
    """Fit every (event, asset) pair and return the :class:`AbnormalPanel` and the models table.

    Parameters
    ----------
    returns : DataFrame or Series
        Returns, index = dates (sorted here), one column per asset (a Series is one asset);
        NaN = missing. See the module docstring for what is accepted.
    events : mapping or DataFrame
        ``{event_id: date}`` (the event applies to every asset), or a frame with columns
        ``event_id, asset, date`` (per-asset day-0 dates, e.g. non-clustered designs).
    market : Series, optional
        Benchmark returns by date (needed by every model but ``constant_mean``).
    model : str
        One of :data:`FRAME_MODELS`.
    estimation_window, event_windows, min_estimation_returns, exclude_other_events
        As in ``events.yaml`` (sessions relative to day 0, both ends inclusive).
    exchange : str, optional
        ``exchange_calendars`` name of the market the returns trade on (e.g. ``XTKS``): needed
        for tz-aware event times, which then map to day 0 by the session-close rule.

    Returns
    -------
    panel, models

    Raises
    ------
    FrameInputError
        (a ``ValueError`` and a ``ConfigError``) for input that cannot be used as given.

    Examples
    --------
    >>> panel, models = es.event_panel(returns, {"e": "2025-04-03"}, market=topix)  # doctest: +SKIP
    >>> models["status"].value_counts()  # doctest: +SKIP
    """
    _check_exchange(exchange)
    returns = _returns_frame(returns, exchange)
    windows = _check_windows(estimation_window, event_windows, min_estimation_returns)
    settings = StudySettings(
        name="frames", estimation_window=windows[0], event_windows=windows[1],
        exclude_other_events=bool(exclude_other_events), min_estimation_returns=min_estimation_returns,
        model=ModelSpec(_model_name(model), benchmark=MARKET if model != "constant_mean" else None),
    )
    sessions = pd.DatetimeIndex(returns.index)
    event_list, day0 = _events(events, list(returns.columns), sessions, exchange)
    regressors = {}
    if settings.model.benchmark:
        regressors[MARKET] = _market_returns(market, model, sessions, exchange)
    inputs = [
        AssetInput(str(c), EXCHANGE, sessions, returns[c].to_numpy(float),
                   build_design(settings.model, len(sessions), regressors))
        for c in returns.columns
    ]
    return abnormal.estimate(inputs, event_list, day0, settings)


def event_study(
    returns: pd.DataFrame | pd.Series,
    events: Mapping[str, object] | pd.DataFrame,
    market: pd.Series | None = None,
    model: str = "market",
    estimation_window: tuple[int, int] = (-260, -11),
    event_windows: Sequence[tuple[int, int]] = ((0, 0), (0, 1)),
    min_estimation_returns: int = 120,
    exclude_other_events: bool = False,
    exchange: str | None = None,
) -> FrameResult:
    """Abnormal returns, CARs and the full test battery (per event) on user frames.

    Same parameters as :func:`event_panel`.

    Examples
    --------
    >>> res = es.event_study(returns, {"e": "2025-04-03"}, market=topix)  # doctest: +SKIP
    >>> res.car.query("window == '[0,1]'")  # doctest: +SKIP
    """
    panel, models = event_panel(returns, events, market, model, estimation_window, event_windows,
                                min_estimation_returns, exclude_other_events, exchange)
    reaction = "total" if model == "constant_mean" else "relative"
    scopes = [Scope("event", e, "all", "all", reaction, panel.event_ids == e)
              for e in dict.fromkeys(panel.event_ids)]
    tests = all_tests(panel, scopes, event_windows)
    abnormal_rows, car_rows = pair_tables(panel, event_windows)
    return FrameResult(
        abnormal=abnormal_rows,
        car=car_rows,
        tests=tests,
        models=models,
        panel=panel,
    )


# ------------------------------------------------------------------------- returns and market
def _returns_frame(returns: object, exchange: str | None, name: str = "returns") -> pd.DataFrame:
    """``returns`` as a float DataFrame on a sorted, unique, naive date index."""
    if isinstance(returns, pd.Series):
        returns = returns.to_frame(name=returns.name if returns.name is not None else "asset")
    if not isinstance(returns, pd.DataFrame):
        raise FrameInputError(
            f"{name}: expected a DataFrame (one column per asset) or a Series, got "
            f"{type(returns).__name__}"
        )
    if returns.shape[1] == 0 or len(returns) == 0:
        raise FrameInputError(f"{name}: empty ({len(returns)} rows, {returns.shape[1]} columns)")
    for column in returns.columns:
        values = returns[column]
        if not pd.api.types.is_numeric_dtype(values):
            bad = values.notna() & pd.to_numeric(values, errors="coerce").isna()
            if bad.any():
                raise FrameInputError(
                    f"{name}: column {column!r} holds a non-number ({values[bad].iloc[0]!r})"
                )
    frame = returns.apply(pd.to_numeric, errors="coerce").astype(float)
    frame.index = _dates(returns.index, name, exchange)
    return _sorted_unique(frame, name)


def _dates(index: pd.Index, name: str, exchange: str | None) -> pd.DatetimeIndex:
    """Naive local dates from a date-like index; anything else is refused."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp().normalize().rename("date")
    if not isinstance(index, pd.DatetimeIndex):
        if pd.api.types.is_numeric_dtype(index) or pd.api.types.is_bool_dtype(index):
            shown = ", ".join(map(str, index[:3]))
            raise FrameInputError(
                f"{name}: the index must hold dates, not {index.dtype} values ({shown}, ...); "
                "set a DatetimeIndex, e.g. frame.set_index('date')"
            )
        index = _parse_dates(index, name)
    if index.tz is not None:
        zone = calendars.timezone(exchange) if exchange else index.tz
        index = index.tz_convert(zone).tz_localize(None)
    if index.hasnans:
        raise FrameInputError(f"{name}: the index has a missing date (NaT) at row {index.isna().argmax()}")
    return index.normalize().as_unit("ns").rename("date")


def _parse_dates(index: pd.Index, name: str) -> pd.DatetimeIndex:
    try:
        return pd.DatetimeIndex(pd.to_datetime(index, format="mixed"))
    except (ValueError, TypeError) as error:
        for value in index:
            try:
                pd.Timestamp(value)
            except (ValueError, TypeError):
                raise FrameInputError(f"{name}: index value {value!r} is not a date") from None
        raise FrameInputError(f"{name}: index values are not dates ({error})") from None


def _sorted_unique(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if not frame.index.is_monotonic_increasing:
        frame = frame.sort_index(kind="stable")
    duplicated = frame.index.duplicated()
    if duplicated.any():
        day = frame.index[duplicated.argmax()]
        raise FrameInputError(
            f"{name}: date {day:%Y-%m-%d} occurs more than once (one row per session)"
        )
    return frame


def _market_returns(
    market: object, model: str, sessions: pd.DatetimeIndex, exchange: str | None
) -> np.ndarray:
    if market is None:
        raise FrameInputError(f"model {model!r} needs market returns (market=...)")
    if isinstance(market, pd.DataFrame):
        if market.shape[1] != 1:
            raise FrameInputError(f"market: expected one series, got {market.shape[1]} columns")
        market = market.iloc[:, 0]
    if not isinstance(market, pd.Series):
        raise FrameInputError(f"market: expected a Series of returns by date, got {type(market).__name__}")
    frame = _returns_frame(market.rename("market"), exchange, name="market")
    aligned = frame["market"].reindex(sessions).to_numpy(float)
    if not np.isfinite(aligned).any():
        raise FrameInputError("market: no market return on any date of returns (check both indexes)")
    return aligned


def _check_exchange(exchange: str | None) -> None:
    if exchange is None:
        return
    try:
        calendars.timezone(exchange)
    except ValueError:
        raise FrameInputError(
            f"exchange: unknown exchange {exchange!r} (use an exchange_calendars name such as "
            "XTKS or XNYS, or FX)"
        ) from None


# --------------------------------------------------------------------------- windows and model
def _check_windows(
    estimation_window: object, event_windows: object, min_estimation_returns: object
) -> tuple[tuple[int, int], tuple[tuple[int, int], ...]]:
    """The window rules of ``events.yaml``, with the same wording."""
    estimation = _window(estimation_window, "estimation_window")
    if isinstance(event_windows, str) or not isinstance(event_windows, Sequence) or not event_windows:
        raise FrameInputError(f"event_windows: expected a non-empty list of [start, end], "
                              f"got {event_windows!r}")
    windows = tuple(_window(w, f"event_windows[{i}]") for i, w in enumerate(event_windows))
    for i, window in enumerate(windows):
        if window in windows[:i]:
            raise FrameInputError(f"event_windows[{i}]: duplicate window {list(window)}")
    earliest = min(start for start, _ in windows)
    if estimation[1] >= earliest:
        raise FrameInputError(
            f"estimation_window: ends at {estimation[1]}, not before the earliest event-window "
            f"start {earliest} (event_windows)"
        )
    length = estimation[1] - estimation[0] + 1
    if (isinstance(min_estimation_returns, bool) or not isinstance(min_estimation_returns, int | np.integer)
            or not 0 < min_estimation_returns <= length):
        raise FrameInputError(
            f"min_estimation_returns: {min_estimation_returns!r} must be an integer > 0 and at "
            f"most the {length} sessions of the estimation window"
        )
    return estimation, windows


def _window(value: object, name: str) -> tuple[int, int]:
    if isinstance(value, str) or not isinstance(value, Sequence) or len(value) != 2:
        raise FrameInputError(f"{name}: expected [start, end], got {value!r}")
    start, end = value
    for bound in (start, end):
        if isinstance(bound, bool) or not isinstance(bound, int | np.integer):
            raise FrameInputError(f"{name}: expected whole numbers of sessions, got {list(value)!r}")
    if start > end:
        raise FrameInputError(f"{name}: start {start} is after end {end}")
    return int(start), int(end)


def _model_name(model: object) -> str:
    if model not in FRAME_MODELS:
        raise FrameInputError(f"model: {model!r} is not one of {', '.join(FRAME_MODELS)}")
    return str(model)


# ----------------------------------------------------------------------------------- events
def _events(events, assets: list[str], sessions: pd.DatetimeIndex, exchange: str | None):
    table = _event_table(events, assets)
    days = _event_days(table, exchange)
    event_list, day0 = [], {}
    table = table.assign(day=days)
    for event_id, rows in table.groupby("event_id", sort=False):
        dates = rows["day"]
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


def _event_table(events: object, assets: list[str]) -> pd.DataFrame:
    """``event_id, asset, date`` rows, checked: known assets, one row per (event, asset)."""
    if isinstance(events, pd.DataFrame):
        absent = [c for c in EVENT_COLUMNS if c not in events.columns]
        if absent:
            raise FrameInputError(f"events: the frame lacks the column(s) {', '.join(absent)} "
                                  f"(expected {', '.join(EVENT_COLUMNS)})")
        table = events[list(EVENT_COLUMNS)].reset_index(drop=True)
        table = table.assign(event_id=table["event_id"].astype(str), asset=table["asset"].astype(str))
        unknown = ~table["asset"].isin([str(a) for a in assets])
        if unknown.any():
            row = table[unknown].iloc[0]
            raise FrameInputError(f"events: event {row.event_id!r}: asset {row.asset!r} is not a "
                                  "column of returns")
        twice = table.duplicated(["event_id", "asset"])
        if twice.any():
            row = table[twice].iloc[0]
            raise FrameInputError(f"events: event {row.event_id!r} lists asset {row.asset!r} twice")
    elif isinstance(events, Mapping):
        table = pd.DataFrame(
            [(str(e), str(a), d) for e, d in events.items() for a in assets], columns=list(EVENT_COLUMNS)
        )
    else:
        raise FrameInputError(f"events: expected {{event_id: date}} or a DataFrame with columns "
                              f"{', '.join(EVENT_COLUMNS)}, got {type(events).__name__}")
    if table.empty:
        raise FrameInputError("events: no event given")
    return table


def _event_days(table: pd.DataFrame, exchange: str | None) -> pd.Series:
    """Day-0 reference date of every row: a naive date (see the module docstring)."""
    values = table["date"]
    if pd.api.types.is_datetime64_dtype(values) and not values.isna().any():
        return values.dt.normalize()  # fast path: naive timestamps
    by_value: dict[object, pd.Timestamp] = {}
    days = []
    for event_id, value in zip(table["event_id"], values):
        key = (event_id, value if _hashable(value) else repr(value))
        if key not in by_value:
            by_value[key] = _event_day(event_id, value, exchange)
        days.append(by_value[key])
    return pd.Series(pd.DatetimeIndex(days).as_unit("ns"), index=table.index)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _event_day(event_id: str, value: object, exchange: str | None) -> pd.Timestamp:
    try:
        moment = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise FrameInputError(f"events: event {event_id!r}: {value!r} is not a date") from None
    if pd.isna(moment):
        raise FrameInputError(f"events: event {event_id!r}: no date given")
    if moment.tz is None:
        return moment.normalize()
    if exchange is not None:
        try:
            return calendars.event_session(moment, exchange)[0]
        except (EventStudyError, ValueError) as error:
            raise FrameInputError(f"events: event {event_id!r}: {error}") from None
    if moment == moment.normalize():
        return moment.tz_localize(None)
    raise FrameInputError(
        f"events: event {event_id!r}: the time {moment.isoformat()} needs exchange=... (e.g. "
        "'XTKS' or 'XNYS') to find its day 0, the first session closing after it; or give the "
        "local trading date"
    )


def _event(event_id: str, date: pd.Timestamp, assets: tuple[str, ...]) -> Event:
    return Event(event_id, event_id, "other", pd.Timestamp(date).tz_localize("UTC"), ("user frame",), assets=assets)


def _on_or_after(date: pd.Timestamp, sessions: pd.DatetimeIndex) -> pd.Timestamp | None:
    """Day 0 = the first session on or after the event date (None beyond the data)."""
    pos = sessions.searchsorted(date)
    return sessions[pos] if pos < len(sessions) else None
