"""Abnormal returns for every (event, asset) pair: estimation samples, batched fits, tidy tables.

The flow for one asset: its returns and model design live on its exchange's session grid;
each event maps to a day-0 session on that grid (``calendars``); the pair's event-time grid is
``day0 + rel_days``. The estimation sample is the estimation window minus missing returns and,
when ``exclude_other_events`` is on, minus the exclusion window of every other event that
applies to the asset. Pairs with fewer than ``min_estimation_returns`` returns, a singular
design or zero residual variance are refused with a reason in the models table.
"""

from __future__ import annotations

import json
import math
import mmap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from eventstudy.common import format_window
from eventstudy.events import Event, StudySettings
from eventstudy.models import (
    BatchFit,
    Design,
    fit_batch,
    scholes_williams_theta,
    two_sided_t_p_value,
)
from eventstudy.panel import AbnormalPanel, EventPeriodValues, PredictionCovariance, SessionDates

PAIRS_PER_BATCH = 4096
"""About how many (event, asset) pairs :func:`estimate` gathers and fits at once."""


@dataclass(frozen=True)
class AssetInput:
    """One asset ready for estimation: returns and model design on its session grid."""

    ticker: str
    exchange: str
    sessions: pd.DatetimeIndex
    returns: np.ndarray
    design: Design
    reaction: str = "total"  # 'total' | 'relative' (StudyConfig.reaction_of)


@dataclass
class _Group:
    """All pairs of the assets that share one design shape, gathered on the event-time grid."""

    pair_asset: np.ndarray  # (P,) index into the group's assets
    pair_event: np.ndarray  # (P,) index into events
    y: np.ndarray  # (P, T)
    x: np.ndarray  # (P, T, k) NaN-free (0 where missing)
    x_pred: np.ndarray  # (P, E, k) NaN-free
    offset: np.ndarray  # (P, T) NaN-free
    session_span: np.ndarray  # (P, 3): first grid column, start and end of the asset's sessions
    estimation: np.ndarray  # (P, T) bool
    status: np.ndarray  # (P,) object
    message: np.ndarray  # (P,) object
    members: np.ndarray | None = None  # asset indices (into the study's assets) of this group
    fit: BatchFit | None = None


def grid(settings: StudySettings) -> tuple[np.ndarray, int]:
    """Event-time grid ``rel_days`` (estimation start .. event-period end) and the event start column."""
    est_start = settings.estimation_window[0]
    ev_start, ev_end = settings.event_period
    return np.arange(est_start, ev_end + 1), ev_start - est_start


def estimate(
    assets: Sequence[AssetInput],
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
    pairs_per_batch: int | None = None,
    keep_series: bool = True,
    expected: str = "all",
    ret: str = "all",
) -> tuple[AbnormalPanel, pd.DataFrame]:
    """Fit every (event, asset) pair and return the abnormal-return panel and the models table.

    The pairs are gathered and fitted a batch of consecutive events at a time
    (:func:`estimate_batch`, about ``pairs_per_batch`` pairs each, default
    :data:`PAIRS_PER_BATCH`), so the working arrays of the fits are bounded by a batch.

    Parameters
    ----------
    assets : sequence of AssetInput
        Studied assets with their designs.
    events : sequence of Event
        Events in file order; an event restricted to some assets applies only to them.
    day0 : mapping
        ``(event_id, exchange) -> session`` (naive date) from :func:`calendars.map_events`.
    settings : StudySettings
        Windows, exclusions and the minimum estimation length.
    pairs_per_batch : int, optional
        About how many pairs are gathered and fitted at once (default :data:`PAIRS_PER_BATCH`).
    keep_series : bool
        Keep each pair's series and normal values in the panel (``ret``, ``expected``). False
        leaves them out (the panel holds read-only all-NaN views of them, which take no memory)
        for a caller that reads only the abnormal values and their variances; the other arrays
        are the same.
    expected : {'all', 'event'}
        Keep the normal returns over the whole grid (default) or over the event period only
        (``panel.expected`` is then an :class:`~eventstudy.panel.EventPeriodValues`: NaN before
        the event period, the same values in it), for a caller that reads them there only (the
        AR table, BHARs): one float per pair and estimation day less.
    ret : {'all', 'event'}
        The same for the realised returns (``panel.ret``), for a caller that reads neither the
        volatility nor the pre-event betas of the cross-section (which read the estimation
        window).

    Returns
    -------
    panel : AbnormalPanel
        Pairs whose fit succeeded, ordered by event (file order) then asset (file order).
    models : DataFrame
        One row per attempted pair with parameters, standard errors, status and message.
    """
    check_kept_periods(expected=expected, ret=ret)
    rel_days, event_start = grid(settings)
    pairs_per_batch = PAIRS_PER_BATCH if pairs_per_batch is None else pairs_per_batch
    batches = event_batches(len(events), len(assets), pairs_per_batch)
    if not batches:
        return _empty_panel(rel_days, event_start), pd.DataFrame(columns=MODEL_COLUMNS)
    layouts = design_layouts(assets, events, day0, settings)
    panel = _PanelBuilder(sum(len(layout.pair_event) for layout in layouts), rel_days, event_start, layouts,
                          keep_series, event_only={name for name, value in (("expected", expected), ("ret", ret))
                                                   if value == "event"})
    tables = [_estimate_into(panel, assets, events, day0, settings, chosen, layouts) for chosen in batches]
    models = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    return panel.finish(), models


def check_kept_periods(**kept: str) -> None:
    """Refuse a series option of :func:`estimate` (``expected=``, ``ret=``) that is neither
    ``'all'`` nor ``'event'``, with one line naming it.

    Examples
    --------
    >>> check_kept_periods(expected="event", ret="all")
    >>> check_kept_periods(ret="estimation")
    Traceback (most recent call last):
    ValueError: ret must be 'all' or 'event', got 'estimation'
    """
    for name, value in kept.items():
        if value not in ("all", "event"):
            raise ValueError(f"{name} must be 'all' or 'event', got {value!r}")


def event_batches(n_events: int, n_assets: int, pairs_per_batch: int = PAIRS_PER_BATCH) -> list[range]:
    """Consecutive event positions, as many per batch as keep ``n_assets x events`` within
    ``pairs_per_batch`` (at least one event).

    Examples
    --------
    >>> event_batches(5, 300, 700)
    [range(0, 2), range(2, 4), range(4, 5)]
    """
    step = max(1, pairs_per_batch // max(n_assets, 1))
    return [range(start, min(start + step, n_events)) for start in range(0, n_events, step)]


def estimate_batch(
    assets: Sequence[AssetInput],
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
    chosen: Sequence[int] | None = None,
    layouts: list[_Layout] | None = None,
) -> tuple[AbnormalPanel, pd.DataFrame]:
    """The unit of work of :func:`estimate`: the pairs of the events at positions ``chosen``
    (default all), as a panel and a models table.

    Every event of ``events`` still removes its exclusion window from the estimation samples;
    only the pairs of ``chosen`` are fitted. Pairs are ordered by event then asset.
    ``layouts`` (:func:`design_layouts` of the same arguments) saves laying the assets out again
    for every batch.
    """
    rel_days, event_start = grid(settings)
    layouts = design_layouts(assets, events, day0, settings) if layouts is None else layouts
    wanted = _wanted(len(events), chosen)
    size = sum(int(wanted[layout.pair_event].sum()) for layout in layouts)
    panel = _PanelBuilder(size, rel_days, event_start, layouts)
    models = _estimate_into(panel, assets, events, day0, settings, chosen, layouts)
    return panel.finish(), models


def _wanted(n_events: int, chosen: Sequence[int] | None) -> np.ndarray:
    wanted = np.zeros(n_events, dtype=bool)
    wanted[list(range(n_events)) if chosen is None else list(chosen)] = True
    return wanted


def _estimate_into(panel: _PanelBuilder, assets, events, day0, settings, chosen, layouts) -> pd.DataFrame:
    """Fit the pairs of the events ``chosen``, append the estimated ones to ``panel`` and return
    the models table of every attempted pair (see :func:`estimate_batch`)."""
    rel_days, event_start = grid(settings)
    wanted = _wanted(len(events), chosen)
    gathered = []
    for layout in layouts:
        group = _gather(layout, wanted[layout.pair_event], events, day0, settings, rel_days, event_start)
        group.members = np.asarray(layout.members)
        group.fit = _fit(group, layout.name, event_start)
        gathered.append((layout.members, group))
    models = _models_table(gathered, assets, events)
    panel.append(gathered, assets, events)
    return models


@dataclass(frozen=True)
class _Layout:
    """The assets of one design shape laid end to end, and every (event, asset) pair of them.

    ``dates`` holds the sessions end to end (``starts``); the series a pair's grid reads (``y``,
    ``x``, ``x_pred``, ``offset``, ``valid``, ``cover``) are laid out with ``pad`` filler cells
    before, between and after the assets (NaN, 1.0 in ``x`` and ``x_pred``, 0, False; ``x``
    and ``x_pred`` one row per column), so that every pair's grid is one contiguous slice from
    ``pad_starts``; a filler cell is never ``valid``.
    """

    name: str
    members: list[int]  # asset indices (into the study's assets)
    assets: list[AssetInput]
    lengths: np.ndarray
    starts: np.ndarray
    pad: int
    pad_starts: np.ndarray
    y: np.ndarray
    x: np.ndarray  # (k, S)
    x_pred: np.ndarray  # (k, S)
    offset: np.ndarray
    valid: np.ndarray
    dates: np.ndarray
    cover: np.ndarray  # applicable events whose exclusion window covers each session
    pair_asset: np.ndarray  # (P,) into ``assets``
    pair_event: np.ndarray  # (P,) into the events
    position: np.ndarray  # (P,) day-0 position on the asset's grid, -1 if none


def design_layouts(
    assets: Sequence[AssetInput],
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
) -> list[_Layout]:
    """The assets grouped by design shape, each group laid out once for every batch."""
    groups: dict[tuple[str, int], list[int]] = {}
    for i, a in enumerate(assets):
        groups.setdefault((a.design.spec.name, a.design.k), []).append(i)
    return [_layout(name, members, [assets[i] for i in members], events, day0, settings)
            for (name, _), members in groups.items()]


def _layout(name, members, assets, events, day0, settings) -> _Layout:
    lengths = np.array([len(a.sessions) for a in assets])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    y_flat = np.concatenate([a.returns for a in assets])
    x_flat = np.concatenate([a.design.x for a in assets])
    off_flat = np.concatenate([a.design.offset for a in assets])
    valid_flat = np.isfinite(y_flat) & np.isfinite(x_flat).all(axis=1) & np.isfinite(off_flat)
    if assets[0].design.market is not None:
        market_flat = np.concatenate([a.design.market for a in assets])
        valid_flat &= np.isfinite(market_flat)
    cover_flat = np.zeros(len(y_flat), int)
    pair_asset, pair_event, position = [], [], []
    by_exchange: dict[str, np.ndarray] = {}  # every event's day 0 on each exchange
    for j, asset in enumerate(assets):
        if asset.exchange not in by_exchange:
            by_exchange[asset.exchange] = day0_dates(events, day0, asset.exchange)
        positions = _event_positions(asset, events, by_exchange[asset.exchange])
        if settings.exclude_other_events:
            cover_flat[starts[j] : starts[j] + lengths[j]] = _exclusion_cover(
                positions, lengths[j], settings.other_event_exclusion
            )
        for e, pos in positions:
            pair_asset.append(j)
            pair_event.append(e)
            position.append(pos)
    order = np.lexsort((pair_asset, pair_event))  # the panel's order: by event, then asset
    rel_days = grid(settings)[0]
    pad = int(np.abs(rel_days).max()) + len(rel_days)  # a pair's grid never reaches past a pad
    pad_starts = starts + pad * np.arange(1, len(assets) + 1)
    cells = np.arange(len(y_flat)) + np.repeat(pad_starts - starts, lengths)
    size = len(y_flat) + pad * (len(assets) + 1)

    def padded(values: np.ndarray, fill) -> np.ndarray:
        out = np.full((*values.shape[:-1], size), fill, dtype=values.dtype)
        out[..., cells] = values
        return out

    x = padded(x_flat.T, 1.0)
    if all(a.design.x_pred is a.design.x for a in assets):  # most models predict from x itself:
        x_pred = x  # one read-only layout for both (a 3,000-stock layout is about 50 MB a column)
    else:
        x_pred = padded(np.concatenate([a.design.x_pred for a in assets]).T, 1.0)
    return _Layout(
        name=name, members=list(members), assets=list(assets), lengths=lengths, starts=starts,
        pad=pad, pad_starts=pad_starts, y=padded(y_flat, np.nan), x=x, x_pred=x_pred,
        offset=padded(off_flat, 0.0), valid=padded(valid_flat, False),
        dates=np.concatenate([a.sessions.values.astype("datetime64[D]") for a in assets]),
        cover=padded(cover_flat, 0), pair_asset=np.array(pair_asset, dtype=int)[order],
        pair_event=np.array(pair_event, dtype=int)[order], position=np.array(position, dtype=int)[order],
    )


def _gather(
    layout: _Layout,
    chosen: np.ndarray,
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
    rel_days: np.ndarray,
    event_start: int,
) -> _Group:
    """Gather returns and regressors of the pairs ``chosen`` (mask over the layout's pairs) of a
    design group at once; every event counts for the exclusions. Each pair's grid is one slice
    of the layout's padded series (cells off the asset's sessions are filler: not ``valid``)."""
    assets, lengths, starts = layout.assets, layout.lengths, layout.starts
    pair_asset, pair_event, position = (layout.pair_asset[chosen], layout.pair_event[chosen],
                                        layout.position[chosen])
    n_days = len(rel_days)
    # first cell of each pair's grid; a pair without day 0 reads the leading filler only
    first = np.where(position >= 0, layout.pad_starts[pair_asset] + position + rel_days[0], 0)
    ok = sliding_window_view(layout.valid, n_days)[first]
    y = np.where(ok, sliding_window_view(layout.y, n_days)[first], np.nan)
    x = _gather_columns(layout.x, first, n_days, ok)
    x_pred = _gather_columns(layout.x_pred, first + event_start, n_days - event_start, ok[:, event_start:])
    offset = np.where(ok, sliding_window_view(layout.offset, n_days)[first], 0.0)
    begin = starts[pair_asset]  # the pair's dates, as :class:`SessionDates` reads layout.dates
    span = np.column_stack([begin + position + rel_days[0], begin, begin + lengths[pair_asset]])
    in_window = (rel_days >= settings.estimation_window[0]) & (rel_days <= settings.estimation_window[1])
    estimation = ok & in_window[None, :]
    if settings.exclude_other_events:
        lo, hi = settings.other_event_exclusion
        own = ((rel_days >= lo) & (rel_days <= hi)).astype(int)[None, :]
        estimation &= (sliding_window_view(layout.cover, n_days)[first] - own) <= 0
    def pair(i: int) -> tuple[AssetInput, pd.Timestamp | None]:  # read for refused pairs only
        asset = assets[pair_asset[i]]
        return asset, day0.get((events[pair_event[i]].id, asset.exchange))

    status, message = _pair_status(position, estimation, y, event_start, settings, pair)
    return _Group(pair_asset, pair_event, y, x, x_pred, offset, span, estimation, status, message)


def _gather_columns(columns: np.ndarray, first: np.ndarray, n_days: int, ok: np.ndarray) -> np.ndarray:
    """The (P, n_days, k) slices from ``first`` of the (k, S) ``columns``, column by column,
    0 where not ``ok``."""
    out = np.zeros((len(first), n_days, columns.shape[0]))
    for j, column in enumerate(columns):
        if np.all(column == 1.0):  # (the filler of x and x_pred is 1.0)
            out[:, :, j] = ok  # the intercept: no gather needed
        else:
            out[:, :, j] = np.where(ok, sliding_window_view(column, n_days)[first], 0.0)
    return out


def day0_dates(events: Sequence[Event], day0: Mapping[tuple[str, str], pd.Timestamp],
               exchange: str) -> np.ndarray:
    """Day 0 of every event on ``exchange`` as ``datetime64[D]`` (NaT where none is mapped).

    Examples
    --------
    >>> day0_dates(config.events, day0, "XTKS")  # doctest: +SKIP
    """
    sessions = [day0.get((event.id, exchange)) for event in events]
    return np.array([np.datetime64("NaT") if s is None else np.datetime64(pd.Timestamp(s).date())
                     for s in sessions], dtype="datetime64[D]")


def _event_positions(asset: AssetInput, events: Sequence[Event], day0_dates: np.ndarray) -> list[tuple[int, int]]:
    """``(event index, day-0 position on the asset's grid or -1)`` for every applicable event
    (``day0_dates``: :func:`day0_dates` of the asset's exchange)."""
    chosen = [e for e, event in enumerate(events) if event.applies_to(asset.ticker)]
    if not chosen:
        return []
    sessions = asset.sessions.values.astype("datetime64[D]")
    wanted = day0_dates[chosen]
    pos = np.searchsorted(sessions, wanted)
    found = (pos < len(sessions)) & (sessions[np.clip(pos, 0, len(sessions) - 1)] == wanted)
    return [(e, int(p) if f else -1) for e, p, f in zip(chosen, pos.tolist(), found.tolist())]


def _exclusion_cover(positions: list[tuple[int, int]], n_sessions: int, window: tuple[int, int]) -> np.ndarray:
    """Number of applicable events whose exclusion window covers each session.

    A pair subtracts its own event's coverage, so only *other* events exclude a session.
    """
    lo, hi = window
    return window_cover(np.array([p for _, p in positions if p >= 0], dtype=np.int64), n_sessions, lo, hi)


def window_cover(positions: np.ndarray, n_sessions: int, lo: int, hi: int) -> np.ndarray:
    """How many of the windows ``[p + lo, p + hi]`` (clipped to the ``n_sessions`` sessions)
    cover each session, from one cumulative sum of the windows' ends.

    Examples
    --------
    >>> window_cover(np.array([1, 2, 9]), 6, 0, 1).tolist()
    [0, 1, 2, 1, 0, 0]
    """
    first = np.maximum(positions + lo, 0)
    stop = np.maximum(np.minimum(positions + hi + 1, n_sessions), 0)
    some = first < stop
    steps = (np.bincount(first[some], minlength=n_sessions + 1)
             - np.bincount(stop[some], minlength=n_sessions + 1))
    return np.cumsum(steps[:n_sessions])


def _pair_status(position, estimation, y, event_start, settings, pair):
    """Status and message of every pair; ``pair(i)`` gives the asset and day 0 of pair ``i``."""
    n = len(position)
    status = np.full(n, "ok", dtype=object)
    message = np.full(n, "", dtype=object)
    n_est = estimation.sum(axis=1)
    event_obs = np.isfinite(y[:, event_start:]).sum(axis=1)
    minimum = settings.min_estimation_returns
    for i in np.flatnonzero((position < 0) | (event_obs == 0) | (n_est < minimum)):
        asset, session = pair(i)
        ticker = asset.ticker
        if position[i] < 0:
            when = "no session mapped" if session is None else f"day 0 {session:%Y-%m-%d}"
            status[i], message[i] = "no_data", f"no price data for {ticker} around the event ({when})"
        elif event_obs[i] == 0:
            status[i], message[i] = "no_data", f"no returns for {ticker} in the event period"
        else:
            status[i] = "insufficient"
            message[i] = f"only {n_est[i]} estimation returns for {ticker} (min_estimation_returns is {minimum})"
    return status, message


def _fit(group: _Group, name: str, event_start: int) -> BatchFit:
    theta = None
    if name == "scholes_williams":
        market = group.x[:, :, 1].copy()
        market[group.x[:, :, 0] == 0] = np.nan
        theta = scholes_williams_theta(
            group.y, market, _shift_columns(market, -1), _shift_columns(market, 1), group.estimation
        )
    return fit_batch(group.y, group.x, group.x_pred, group.offset, group.estimation, event_start, theta=theta)


def _shift_columns(values: np.ndarray, step: int) -> np.ndarray:
    """``out[:, t] = values[:, t + step]`` with NaN outside."""
    out = np.full_like(values, np.nan)
    if step > 0:
        out[:, :-step] = values[:, step:]
    elif step < 0:
        out[:, -step:] = values[:, :step]
    else:
        out[:] = values
    return out


def _final_status(group: _Group) -> tuple[np.ndarray, np.ndarray]:
    status, message = group.status.copy(), group.message.copy()
    failed = (status == "ok") & (group.fit.status != "ok")
    status[failed] = group.fit.status[failed]
    message[failed] = group.fit.message[failed]
    return status, message


def _ordered_rows(gathered, assets, events):
    """(group number, row) of every pair ordered by event (file order) then asset (file order)."""
    keys, refs = [], []
    for g, (members, group) in enumerate(gathered):
        asset_index = np.asarray(members)[group.pair_asset]
        keys.append(group.pair_event * (len(assets) + 1) + asset_index)
        refs.append(np.column_stack([np.full(len(group.pair_event), g), np.arange(len(group.pair_event))]))
    if not keys:
        return np.empty((0, 2), int)
    order = np.argsort(np.concatenate(keys), kind="stable")
    return np.concatenate(refs)[order]


def _estimated_rows(rows: np.ndarray, statuses: Sequence[np.ndarray]) -> np.ndarray:
    """The (group number, row) pairs of ``rows`` whose status (``statuses[group][row]``) is ok.

    Examples
    --------
    >>> statuses = [np.array(["ok", "no_data"], object), np.array(["ok"], object)]
    >>> _estimated_rows(np.array([[1, 0], [0, 1], [0, 0]]), statuses).tolist()
    [[1, 0], [0, 0]]
    """
    if not len(rows):
        return rows
    ok = np.concatenate([status == "ok" for status in statuses])
    group_start = np.cumsum([0] + [len(status) for status in statuses])[:-1]
    return rows[ok[group_start[rows[:, 0]] + rows[:, 1]]]


def _empty_panel(rel_days: np.ndarray, event_start: int) -> AbnormalPanel:
    n_days, n_event = len(rel_days), len(rel_days) - event_start
    empty = np.empty((0, n_days))
    return AbnormalPanel(
        event_ids=np.empty(0, object), assets=np.empty(0, object), rel_days=rel_days,
        dates=np.empty((0, n_days), "datetime64[D]"), ret=empty, expected=empty, ar=empty,
        is_estimation=np.empty((0, n_days), bool), event_start=event_start,
        cov_factor=np.empty((0, n_event, n_event)), s2=np.empty(0), n_est=np.empty(0, int), k=np.empty(0, int),
    )


def _plain_pages(shape: tuple[int, ...], dtype: str | type = "float64") -> np.ndarray:
    """``np.empty(shape, dtype)`` in ordinary anonymous memory pages (freed with the array).

    numpy asks the kernel to back large arrays with transparent huge pages. Where a fresh huge
    page is expensive, writing the panel (hundreds of MB, once, row by row) costs more system
    time than the estimation itself: on the 2-core VM of the benchmarks, 0.71-0.87 s against
    0.34-0.38 s in ordinary pages for 29,016 pairs (four runs each, the same numbers).
    """
    count = int(np.prod(shape))
    buffer = mmap.mmap(-1, max(count * np.dtype(dtype).itemsize, 1))
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


SERIES_COLUMNS = ("ret", "expected")
"""The panel's series and normal values, which :func:`estimate` can leave out (``keep_series``)."""


class _PanelBuilder:
    """The rows of an :class:`AbnormalPanel` written batch after batch into arrays allocated once.

    ``capacity`` bounds the number of pairs (every attempted pair); each batch appends its
    estimated pairs in panel order, and :meth:`finish` returns views of the rows written (the
    pages of unused rows are never touched, so they cost no memory). Without ``keep_series``
    the series and normal values (:data:`SERIES_COLUMNS`) are neither allocated nor written;
    those named in ``event_only`` are kept over the event period only
    (:class:`~eventstudy.panel.EventPeriodValues`).
    """

    def __init__(self, capacity: int, rel_days: np.ndarray, event_start: int,
                 layouts: Sequence[_Layout], keep_series: bool = True,
                 event_only: Collection[str] = ()) -> None:
        n_days, n_event = len(rel_days), len(rel_days) - event_start
        self.rel_days, self.event_start, self.size = rel_days, event_start, 0
        self.keep_series = keep_series
        self.event_only = frozenset(event_only) & set(SERIES_COLUMNS) if keep_series else frozenset()
        self.sessions = np.concatenate([layout.dates for layout in layouts]) if layouts else \
            np.empty(0, "datetime64[D]")
        self.bases = np.cumsum([0] + [len(layout.dates) for layout in layouts])[:-1]
        self.n_params = max((len(layout.x) for layout in layouts), default=0)
        self.columns = {
            "event_ids": np.empty(capacity, object), "assets": np.empty(capacity, object),
            "reactions": np.empty(capacity, object), "session_span": np.empty((capacity, 3), np.int64),
            **{name: _plain_pages((capacity, n_event if name in self.event_only else n_days))
               for name in SERIES_COLUMNS if keep_series},
            "ar": _plain_pages((capacity, n_days)),
            "is_estimation": _plain_pages((capacity, n_days), bool),
            # the covariance factors as X* and (X'X)^-1, zero-padded to the most parameters
            "x_pred": _plain_pages((capacity, n_event, self.n_params)),
            "xtx_inv": _plain_pages((capacity, self.n_params, self.n_params)), "s2": np.empty(capacity),
            "n_est": np.empty(capacity, int), "k": np.empty(capacity, int),
        }

    def append(self, gathered, assets, events) -> None:
        """Append the estimated pairs of one batch, ordered by event then asset."""
        rows = _estimated_rows(_ordered_rows(gathered, assets, events),
                               [_final_status(group)[0] for _, group in gathered])
        event_ids = np.array([e.id for e in events], dtype=object)
        tickers = np.array([a.ticker for a in assets], dtype=object)
        reactions = np.array([a.reaction for a in assets], dtype=object)
        start = self.size
        for g, (_, group) in enumerate(gathered):
            mine = rows[:, 0] == g
            if not mine.any():
                continue
            where = start + np.flatnonzero(mine)
            if where[-1] - where[0] + 1 == len(where):  # one run of rows: a slice, no scatter
                where = slice(int(where[0]), int(where[-1]) + 1)
            pick = rows[mine, 1]
            if len(pick) == len(group.pair_event) and (pick == np.arange(len(pick))).all():
                pick = slice(None)  # every pair of the group, in order: no gather
            fit, event_start = group.fit, self.event_start
            expected, ar = fit.expected, fit.residual  # the batch's own arrays, finished in place
            expected[~np.isfinite(group.y)] = np.nan  # no return that day: no normal return either
            ar[:, event_start:] = group.y[:, event_start:] - expected[:, event_start:]
            asset_index = group.members[group.pair_asset[pick]]
            values = {
                "event_ids": event_ids[group.pair_event[pick]], "assets": tickers[asset_index],
                "reactions": reactions[asset_index],
                "session_span": group.session_span[pick] + self.bases[g],
                "ar": ar[pick], "is_estimation": group.estimation[pick],
                "s2": fit.s2[pick], "n_est": fit.n_est[pick], "k": fit.k,
            }
            self.columns["x_pred"][where, :, : fit.k] = fit.x_pred[pick]  # the rest stays 0
            self.columns["xtx_inv"][where, : fit.k, : fit.k] = fit.xtx_inv[pick]
            if self.keep_series:
                for name, series in (("ret", group.y), ("expected", expected)):
                    values[name] = series[pick, event_start:] if name in self.event_only else series[pick]
            for name, value in values.items():
                self.columns[name][where] = value
        self.size += len(rows)

    def finish(self) -> AbnormalPanel:
        """The panel of the rows appended so far."""
        rows = {name: values[: self.size] for name, values in self.columns.items()}
        if not self.keep_series:
            missing = np.broadcast_to(np.nan, (self.size, len(self.rel_days)))
            rows.update(dict.fromkeys(SERIES_COLUMNS, missing))
        for name in self.event_only:
            rows[name] = EventPeriodValues(rows[name], self.event_start, len(self.rel_days))
        rows["cov_factor"] = PredictionCovariance(rows.pop("x_pred"), rows.pop("xtx_inv"))
        span = rows.pop("session_span")
        dates = SessionDates(self.sessions, span[:, 0], span[:, 1], span[:, 2], len(self.rel_days))
        return AbnormalPanel(rel_days=self.rel_days, event_start=self.event_start, dates=dates, **rows)


def _models_table(gathered, assets, events) -> pd.DataFrame:
    frames = []
    event_ids = np.array([e.id for e in events], dtype=object)
    for members, group in gathered:
        design = assets[members[0]].design
        fit = group.fit
        status, message = _final_status(group)
        ok = status == "ok"
        theta = np.where(ok[:, None], fit.theta, np.nan)
        std_errors = np.where(ok[:, None], fit.std_errors, np.nan)
        if design.spec.name == "scholes_williams":
            std_errors[:] = np.nan
            message = np.where(ok, "prediction-error covariance uses the market-model form (approximation)", message)
        labels = np.array([assets[m].design.spec.label() for m in members], dtype=object)
        tickers = np.array([assets[m].ticker for m in members], dtype=object)
        reactions = np.array([assets[m].reaction for m in members], dtype=object)
        frames.append(pd.DataFrame({
            "event_id": event_ids[group.pair_event],
            "asset": tickers[group.pair_asset],
            "reaction": reactions[group.pair_asset],
            "model": labels[group.pair_asset],
            "alpha": theta[:, design.names.index("alpha")] if "alpha" in design.names else np.nan,
            "beta": _beta(design, theta, ok),
            "params": _json_rows(design.names, theta, ok),
            "std_errors": _json_rows(design.names, std_errors, ok),
            "sigma": np.where(ok, np.sqrt(fit.s2), np.nan),
            "r2": np.where(ok, fit.r2, np.nan),
            "n_obs": group.estimation.sum(axis=1),
            "k": design.k,
            "status": status,
            "message": message,
            "_order": group.pair_event * (len(assets) + 1) + np.asarray(members)[group.pair_asset],
        }))
    if not frames:
        return pd.DataFrame(columns=MODEL_COLUMNS)
    table = pd.concat(frames, ignore_index=True).sort_values("_order", kind="stable")
    return table.drop(columns="_order").reset_index(drop=True)[MODEL_COLUMNS]


MODEL_COLUMNS = ["event_id", "asset", "reaction", "model", "alpha", "beta", "params", "std_errors", "sigma", "r2",
                 "n_obs", "k", "status", "message"]


def _beta(design: Design, theta: np.ndarray, ok: np.ndarray) -> np.ndarray:
    name = design.spec.name
    if name == "market_adjusted":
        return np.where(ok, 1.0, np.nan)
    if name in ("market", "scholes_williams"):
        return theta[:, 1]
    if name == "dimson":
        return theta[:, 1:].sum(axis=1)
    return np.full(len(theta), np.nan)


def _json_rows(names: tuple[str, ...], values: np.ndarray, ok: np.ndarray) -> list[str]:
    """JSON objects ``{"name": value, ...}`` per row (``{}`` for refused pairs, null for NaN)."""
    columns = []
    for key, column in zip((json.dumps(n) for n in names), values.T.tolist()):
        prefix = f"{key}: "
        columns.append([prefix + ("null" if math.isnan(v) else repr(v)) for v in column])
    rows = ["{" + ", ".join(parts) + "}" for parts in zip(*columns)] if columns else ["{}"] * len(ok)
    return [row if good else "{}" for row, good in zip(rows, ok.tolist())]


def abnormal_table(panel: AbnormalPanel) -> pd.DataFrame:
    """Tidy daily rows over the event period: event_id, asset, reaction, rel_day, date, ret, expected, ar,
    sar, var_ar."""
    n, e = panel.n_pairs, len(panel.event_rel_days)
    sl = slice(panel.event_start, None)
    return pd.DataFrame(
        {
            "event_id": repeated_labels(panel.event_ids, e),
            "asset": repeated_labels(panel.assets, e),
            "reaction": repeated_labels(_reactions(panel), e),
            "rel_day": np.tile(panel.event_rel_days, n),
            "date": pd.to_datetime(panel.dates[:, sl].ravel()),
            "ret": panel.ret[:, sl].ravel(),
            "expected": panel.expected[:, sl].ravel(),
            "ar": panel.event_ar.ravel(),
            "sar": panel.sar.ravel(),
            "var_ar": panel.var_ar.ravel(),
        }
    )


def car_table(panel: AbnormalPanel, windows: Sequence[tuple[int, int]], returns: str = "simple") -> pd.DataFrame:
    """Tidy CAR rows: event_id, asset, reaction, window, car, scar, var_car, car_t, car_p_value, car_df,
    bhar.

    ``car_t`` is the single-asset time-series test of the CAR, ``CAR / sqrt(Var CAR)`` (= ``scar``)
    with the full prediction-error covariance, referred to t(L1 - k) (``car_df``), two-sided
    ``car_p_value`` (docs/conventions.md). ``bhar`` compounds simple returns (log returns are converted
    first); it has no per-pair test here: its test is the cross-sectional ``bhar_skew_t`` of the
    tests table.
    """
    frames = []
    dof = panel.dof.astype(float)
    for window, (car, var_car) in zip(windows, panel.cars(windows)):
        scar = car / np.sqrt(var_car)
        frames.append(
            pd.DataFrame(
                {
                    "event_id": panel.event_ids,
                    "asset": panel.assets,
                    "reaction": _reactions(panel),
                    "window": format_window(window),
                    "car": car,
                    "scar": scar,
                    "var_car": var_car,
                    "car_t": scar,
                    "car_p_value": two_sided_t_p_value(scar, dof),
                    "car_df": dof,
                    "bhar": bhar(panel, window, returns),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def bhar(panel: AbnormalPanel, window: tuple[int, int], returns: str = "simple") -> np.ndarray:
    """Buy-and-hold abnormal return of every pair over ``window``: ``prod(1+R) - prod(1+E[R])``.

    ``returns`` is the kind of ``panel.ret``: log returns are converted to simple returns first
    (compounding needs simple returns). NaN when a return of the window is missing.

    Examples
    --------
    >>> bhar(panel, (0, 1))  # doctest: +SKIP
    """
    if returns == "simple":
        return panel.bhar(window)
    inside = panel.window_selector(window).astype(bool)
    ret = np.expm1(panel.ret[:, panel.event_start:][:, inside])
    exp = np.expm1(panel.expected[:, panel.event_start:][:, inside])
    return np.prod(1 + ret, axis=1) - np.prod(1 + exp, axis=1)


def repeated_labels(values: np.ndarray, repeats: int):
    """``np.repeat(values, repeats)`` of a string array as the column a frame makes of it, built
    from the distinct strings (:func:`eventstudy.inference.frames.labels_taken`).

    Examples
    --------
    >>> list(repeated_labels(np.array(["a", "b"], dtype=object), 2))
    ['a', 'a', 'b', 'b']
    """
    from eventstudy.inference.frames import labels_taken  # (the inference package imports this one)

    codes, distinct = pd.factorize(np.asarray(values, dtype=object))
    if (codes < 0).any() or not all(type(label) is str for label in distinct):
        return np.repeat(values, repeats)  # missing or non-string labels: as the frame infers them
    return labels_taken(np.asarray(distinct, dtype=object), np.repeat(codes, repeats))


def _reactions(panel: AbnormalPanel) -> np.ndarray:
    if panel.reactions is None:
        return np.full(panel.n_pairs, "total", dtype=object)
    return panel.reactions
