"""Joint estimation of events whose windows overlap: one dummy-variable regression per cluster.

The model (Karafiath 1988; Binder 1998), per asset and cluster of events::

    R_t = x_t'theta + sum_d gamma_d D_dt + e_t,    D_dt = 1{t = d}

over the cluster's estimation sample plus every session d of its events' event periods.
``gamma_d`` is the abnormal return of session d, shared by every event of the cluster whose
event period contains d (a session can be day +5 of one event and day 0 of the next).

**Computed without the dummies** (Karafiath 1988): a day dummy fits its session exactly, so
``theta`` and ``s^2`` are those of OLS on the estimation sample alone, and ``gamma_d`` is the
out-of-sample prediction error ``y_d - x_d'theta`` with covariance
``Cov(gamma) = s^2 [I + X_D (X_S'X_S)^-1 X_D']`` and ``df = n_S - k`` (``n_S`` estimation
returns, ``k`` model parameters). These are exactly the classical OLS estimates, standard errors
and degrees of freedom of the dummy regression (``statsmodels`` ``OLS(...).fit()``, pinned in the
tests to 1e-10). One batched least-squares fit per (cluster, asset) gives every row;
p-values are two-sided Student t with ``df``.

**Rows** (``kind``):

* ``day``: ``gamma_d`` of every session ``rel_day`` of each event's event period, with its
  classical standard error. No HAC, for days or for blocks of days: a dummy fits its own
  days, their residuals vanish and a HAC "meat" collapses (Ford, Jackson & Skinner 2010 for
  day dummies; block-dummy HAC p-values rejected a true null 13-28% of the time on fat-tailed
  data, see ``docs/validation.md``).
* ``window``: the window's CAR as the sum of its day dummies, ``w'gamma``, with variance
  ``w'Cov(gamma)w`` (Salinger 1992) from the same classical covariance.

**Clusters.** Events are sorted by day 0 on the asset's session grid. A cluster starts at the
earliest event not yet assigned and takes every later event whose event period overlaps the
period of that first event (day 0 at most ``b - a`` sessions later for an event period
``[a, b]``). Chaining is therefore bounded: with the windows ``[-5, 10]`` no event's day 0
lies more than 15 sessions after the first day 0 of its cluster, so every estimation sample
ends at most ``15 + 11`` sessions before the event's own day 0 (11 for the cluster's first
event, as in the two-step estimates), never months earlier. Two events whose periods overlap
but fall into consecutive clusters each keep their own estimates of the shared sessions.
Events that share a day 0 share their dummies and have identical rows. Cluster ids are short
(``c01``, ``c02`` ... in order of first day 0); :func:`joint_tables` also returns one row per
(cluster, asset) with the cluster's events and its estimation span.

**Estimation sample.** The study's estimation window relative to the cluster's *first* day 0,
minus missing returns and, when ``exclude_other_events`` is on, minus the exclusion window of
every event outside the cluster (the same rule as the two-step estimates, see
:mod:`eventstudy.abnormal`). Other events' days are excluded rather than dummied out: in OLS
the two are the same (a day dummy fits its session exactly, leaving ``theta``, ``s^2`` and
``df`` unchanged), exclusion keeps the table to the cluster's own sessions, and one rule for
both routes means a cluster of a single event reproduces its two-step abnormal returns,
variances and CARs exactly. Sessions of the cluster's own event periods are never in the
estimation sample (they carry dummies). A (cluster, asset) with fewer than
``min_estimation_returns`` estimation returns, a singular design or zero residual variance is
refused with a reason.

Dimson: the dummy regression predicts with the lag and lead betas of the estimation fit
(``x_t'theta``), not with the aggregated beta of the two-step route, so its ARs differ from
``car.csv``. Scholes–Williams is refused: its beta is not an OLS coefficient, so there is no
dummy regression to run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from eventstudy.abnormal import AssetInput, day0_dates, format_window
from eventstudy.events import Event, StudySettings
from eventstudy.inference.frames import labels_taken
from eventstudy.models import fit_batch, two_sided_t_p_value

JOINT_COLUMNS = [
    "cluster", "event_id", "asset", "reaction", "kind", "rel_day", "window", "date", "estimate",
    "std_error", "t", "p_value", "df", "cov_type", "n_obs", "status", "message",
]
"""Columns of the ``joint`` table (one row per cluster, event, asset and day or window)."""

CLUSTER_COLUMNS = [
    "cluster", "asset", "reaction", "events", "n_events", "first_day0", "last_day0",
    "estimation_start", "estimation_end", "n_estimation", "df", "status", "message",
]
"""Columns of the ``joint_clusters`` table (one row per cluster and asset)."""

COV_TYPE = "nonrobust"
SCHOLES_WILLIAMS_REFUSAL = (
    "joint estimation is not available for the Scholes–Williams model (its beta is not an OLS "
    "coefficient, so there is no dummy regression); see its two-step CARs in the car table"
)


@dataclass(frozen=True)
class JointTables:
    """The two joint-estimation tables.

    Attributes
    ----------
    rows : DataFrame
        Columns :data:`JOINT_COLUMNS`: ``day`` rows (one per event-period session) and ``window``
        rows (one per event window) for every (cluster, event, asset).
    clusters : DataFrame
        Columns :data:`CLUSTER_COLUMNS`: the events of each cluster (``+``-joined ids) and, per
        asset, the estimation span (first and last session, number of returns, ``df``).
    """

    rows: pd.DataFrame
    clusters: pd.DataFrame


def clusters(day0_positions: Mapping[str, int], settings: StudySettings) -> list[list[str]]:
    """Clusters of events on one session grid: each overlaps the event period of its first event.

    Parameters
    ----------
    day0_positions : mapping
        ``event_id -> position of day 0`` on the asset's session grid.
    settings : StudySettings
        Supplies the event period ``[a, b]`` (the span of the event windows).

    Returns
    -------
    list of list of str
        Event ids per cluster, each sorted by day 0 (ties in the given order).

    Examples
    --------
    >>> from eventstudy.events import StudySettings
    >>> settings = StudySettings("s", event_windows=((0, 1), (-5, 10)))
    >>> clusters({"a": 100, "b": 103, "c": 115, "d": 118}, settings)
    [['a', 'b', 'c'], ['d']]
    """
    lo, hi = settings.event_period
    ordered = sorted(day0_positions.items(), key=lambda kv: kv[1])
    groups: list[list[str]] = []
    first = None
    for event_id, pos in ordered:
        if first is not None and pos - first <= hi - lo:
            groups[-1].append(event_id)
        else:
            groups.append([event_id])
            first = pos
    return groups


def joint_tables(
    inputs: Sequence[AssetInput],
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
    event_ids: Sequence[str] | None = None,
) -> JointTables:
    """Joint day-dummy estimates for every asset and every cluster of the chosen events.

    Parameters
    ----------
    inputs : sequence of AssetInput
        Assets with returns and model designs on their session grids (a ticker may appear
        twice, e.g. once with a ``total`` and once with a ``relative`` reaction).
    events : sequence of Event
        Every event of the study: an event applies to the assets it names, and every
        applicable event outside a cluster removes its exclusion window from that cluster's
        estimation sample.
    day0 : mapping
        ``(event_id, exchange) -> day-0 session`` (naive date).
    settings : StudySettings
        Estimation window, event windows, exclusions and the minimum estimation length.
    event_ids : sequence of str, optional
        Events to estimate (default: all).

    Returns
    -------
    JointTables
        ``rows`` (:data:`JOINT_COLUMNS`) and ``clusters`` (:data:`CLUSTER_COLUMNS`).

    Examples
    --------
    >>> tables = joint_tables(inputs, config.events, day0, config.settings)  # doctest: +SKIP
    >>> tables.rows.query("kind == 'window' and window == '[0,5]'")          # doctest: +SKIP
    """
    parts = JointParts(inputs, events, day0, settings, event_ids)
    row_parts, cluster_parts, n_pairs = [], [], 0
    for rows, pairs in parts.cluster_arrays():
        for part in rows:
            part["pair"] += n_pairs  # numbered across clusters
        row_parts += rows
        cluster_parts += pairs
        n_pairs += sum(len(part["cluster"]) for part in pairs)
    return JointTables(_rows_frame(row_parts, cluster_parts, parts.ids, inputs, events, settings),
                       _clusters_frame(cluster_parts, parts.ids, inputs))


class JointParts:
    """The joint estimation one cluster at a time, for a caller that writes each cluster's rows
    as they are done instead of holding the whole ``joint`` table (:func:`joint_tables` is
    the table at once; the same rows, in the same order).

    Examples
    --------
    >>> parts = JointParts(inputs, config.events, day0, config.settings)  # doctest: +SKIP
    >>> report.write_table_parts("joint", parts.rows(), "reports/big")   # doctest: +SKIP
    >>> report.write_table("joint_clusters", parts.clusters(), "reports/big")  # doctest: +SKIP
    """

    def __init__(
        self,
        inputs: Sequence[AssetInput],
        events: Sequence[Event],
        day0: Mapping[tuple[str, str], pd.Timestamp],
        settings: StudySettings,
        event_ids: Sequence[str] | None = None,
    ) -> None:
        known = {e.id for e in events}
        chosen = list(known if event_ids is None else event_ids)
        unknown = sorted(set(chosen) - known)
        if unknown:
            raise ValueError(f"joint estimation: unknown event id(s) {', '.join(unknown)}")
        self.inputs, self.events, self.settings = inputs, events, settings
        plans = _plans(inputs, events, day0, settings, set(chosen))
        self._order = _cluster_order(plans, inputs)
        width = max(2, len(str(len(self._order))))
        self.ids = np.array([f"c{n:0{width}d}" for n in range(1, len(self._order) + 1)], dtype=object)
        self._batches = _batches(plans, inputs)
        self._cluster_parts: list[dict[str, np.ndarray]] = []

    def cluster_arrays(self) -> Iterator[tuple[list[dict], list[dict]]]:
        """Per cluster, in the order of the ids: its batches' row arrays and pair arrays
        (:meth:`_Batch.rows`, :meth:`_Batch.cluster_rows`; pairs numbered from 0 within the
        cluster)."""
        event_index = {e.id: i for i, e in enumerate(self.events)}
        grids = _Grids(self.inputs)
        by_cluster: dict[int, list[tuple]] = {}
        for key in self._batches:
            by_cluster.setdefault(self._order[key[2]], []).append(key)
        from eventstudy.study import single_blas_thread

        for code in sorted(by_cluster):
            row_parts, pair_parts, n_pairs = [], [], 0
            with single_blas_thread():  # the same bytes whatever the machine's BLAS threading
                for key in by_cluster[code]:
                    members = self._batches[key]
                    batch = _Batch(members, self.inputs, self.settings, code, grids)
                    if key[0] == "scholes_williams":
                        batch.refuse("refused", SCHOLES_WILLIAMS_REFUSAL)
                    else:
                        batch.fit()
                    row_parts.append(batch.rows(event_index, n_pairs))
                    pair_parts.append(batch.cluster_rows())
                    n_pairs += len(members)
            yield row_parts, pair_parts

    def rows(self) -> Iterator[pd.DataFrame]:
        """The ``joint`` table (:data:`JOINT_COLUMNS`) in pieces, one per cluster (one empty
        table when there is none); :meth:`clusters` is known once they are all read."""
        self._cluster_parts = []
        empty = True
        for rows, pairs in self.cluster_arrays():
            self._cluster_parts += pairs
            empty = False
            yield _rows_frame(rows, pairs, self.ids, self.inputs, self.events, self.settings)
        if empty:
            yield _empty(JOINT_COLUMNS)

    def clusters(self) -> pd.DataFrame:
        """The ``joint_clusters`` table (:data:`CLUSTER_COLUMNS`) of the clusters :meth:`rows`
        gave."""
        return _clusters_frame(self._cluster_parts, self.ids, self.inputs)


# ---------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Plan:
    """One (cluster, asset): the cluster's events and their day-0 positions on the asset's grid."""

    asset: int
    events: tuple[str, ...]
    positions: np.ndarray  # (m,) ascending
    cover: np.ndarray | None  # (S,) other events' exclusion coverage on the asset's grid


def _plans(inputs, events, day0, settings, chosen) -> list[_Plan]:
    plans = []
    by_exchange: dict[str, np.ndarray] = {}  # every event's day 0 on each exchange
    for i, asset in enumerate(inputs):
        if asset.exchange not in by_exchange:
            by_exchange[asset.exchange] = day0_dates(events, day0, asset.exchange)
        positions = _day0_positions(asset, events, by_exchange[asset.exchange])
        cover = _exclusion_cover(positions, len(asset.sessions), settings)
        selected = {e: p for e, p in positions.items() if e in chosen}
        for group in clusters(selected, settings):
            plans.append(_Plan(i, tuple(group), np.array([selected[e] for e in group]), cover))
    return plans


def _day0_positions(asset: AssetInput, events: Sequence[Event], day0_dates: np.ndarray) -> dict[str, int]:
    """``event_id -> day-0 position`` of the applicable events whose day 0 is on the asset's grid
    (``day0_dates``: every event's day 0 on the asset's exchange, NaT where none)."""
    chosen = [e for e, event in enumerate(events) if event.applies_to(asset.ticker)]
    chosen = [e for e in chosen if not np.isnat(day0_dates[e])]
    if not chosen:
        return {}
    sessions = asset.sessions.values.astype("datetime64[D]")
    wanted = day0_dates[chosen]
    pos = np.searchsorted(sessions, wanted)
    found = (pos < len(sessions)) & (sessions[np.clip(pos, 0, len(sessions) - 1)] == wanted)
    return {events[e].id: p for e, p, f in zip(chosen, pos.tolist(), found.tolist()) if f}


def _exclusion_cover(positions: dict[str, int], n_sessions: int, settings: StudySettings):
    """How many applicable events' exclusion windows cover each session (None if switched off)."""
    if not settings.exclude_other_events:
        return None
    lo, hi = settings.other_event_exclusion
    cover = np.zeros(n_sessions, int)
    for p in positions.values():
        cover[max(p + lo, 0) : max(min(p + hi + 1, n_sessions), 0)] += 1
    return cover


def _cluster_order(plans: list[_Plan], inputs) -> dict[tuple[str, ...], int]:
    """Number of each distinct cluster (its events), in order of first day 0 (id ``c01`` = 0)."""
    first: dict[tuple[str, ...], np.datetime64] = {}
    for plan in plans:
        when = inputs[plan.asset].sessions.values[plan.positions[0]].astype("datetime64[D]")
        first[plan.events] = min(first.get(plan.events, when), when)
    ordered = sorted(first, key=lambda events: (first[events], events))
    return {events: n for n, events in enumerate(ordered)}


def _batches(plans: list[_Plan], inputs) -> dict[tuple, list[_Plan]]:
    """Plans fitted together: same cluster and same model form (name, number of parameters)."""
    out: dict[tuple, list[_Plan]] = {}
    for plan in plans:
        design = inputs[plan.asset].design
        out.setdefault((design.spec.name, design.k, plan.events), []).append(plan)
    return out


# ---------------------------------------------------------------------------- estimation


class _Grids:
    """Every input's series laid end to end (per number of model parameters), so that a batch
    gathers its pairs' grids with one indexing operation."""

    def __init__(self, inputs: Sequence[AssetInput]) -> None:
        self.inputs = inputs
        self.lengths = np.array([len(a.sessions) for a in inputs])
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(int)
        self.dates = np.concatenate([a.sessions.values.astype("datetime64[D]") for a in inputs]) \
            if len(inputs) else np.empty(0, "datetime64[D]")
        self._by_k: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def series(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``returns - offset`` and the regressors (S, k) of every input, laid end to end
        (zeros for the inputs of another number of parameters)."""
        if k not in self._by_k:
            total = int(self.lengths.sum())
            target, x = np.zeros(total), np.zeros((total, k))
            for a, start, n in zip(self.inputs, self.starts, self.lengths):
                if a.design.k == k:
                    target[start:start + n] = a.returns - a.design.offset
                    x[start:start + n] = a.design.x
            self._by_k[k] = (target, x)
        return self._by_k[k]


class _Batch:
    """The (cluster, asset) pairs of one cluster and model form on one relative grid.

    Grid columns are sessions relative to the cluster's first day 0 on each asset's grid, from
    the estimation-window start to the last event's event-period end.
    """

    def __init__(self, members: list[_Plan], inputs, settings: StudySettings, code: int,
                 grids: _Grids | None = None) -> None:
        self.members = members
        self.code = code
        self.settings = settings
        self.assets = np.array([m.asset for m in members])
        self.offsets = np.stack([m.positions - m.positions[0] for m in members])  # (P, m)
        self.events = members[0].events
        est_lo, est_hi = settings.estimation_window
        self.lo, self.hi = settings.event_period
        self.rel = np.arange(est_lo, int(self.offsets.max()) + self.hi + 1)
        self.event_start = int(np.searchsorted(self.rel, self.lo))
        self._gather(inputs, grids or _Grids(inputs))
        ev_rel = self.rel[None, None, :] - self.offsets[:, :, None]  # (P, m, T) rel to each event
        own = (ev_rel >= self.lo) & (ev_rel <= self.hi)
        self.dummy = own.any(axis=1) & self.valid
        in_window = (self.rel >= est_lo) & (self.rel <= est_hi)
        estimation = in_window[None, :] & self.valid & ~own.any(axis=1)
        if settings.exclude_other_events:
            xlo, xhi = settings.other_event_exclusion
            own_cover = ((ev_rel >= xlo) & (ev_rel <= xhi)).sum(axis=1)
            estimation &= (self.cover - own_cover) <= 0
        self.estimation = estimation
        self.n_est = estimation.sum(axis=1)
        n = len(members)
        self.status = np.full(n, "ok", dtype=object)
        self.message = np.full(n, "", dtype=object)
        minimum = settings.min_estimation_returns
        short = self.n_est < minimum
        self.status[short] = "insufficient"
        self.message[short] = [f"only {k} estimation returns (min_estimation_returns is {minimum})"
                               for k in self.n_est[short]]
        self.k = inputs[members[0].asset].design.k
        self.gamma = self.variance = self.cov_factor = self.s2 = None

    def _gather(self, inputs, grids: _Grids) -> None:
        """Returns, regressors, dates and other events' coverage of each pair on the grid."""
        k = inputs[self.members[0].asset].design.k
        target, regressors = grids.series(k)
        starts, lengths = grids.starts[self.assets], grids.lengths[self.assets]
        first = np.array([m.positions[0] for m in self.members])
        local = first[:, None] + self.rel[None, :]
        inside = (local >= 0) & (local < lengths[:, None])
        flat = np.where(inside, local + starts[:, None], 0)
        y, x = target[flat], regressors[flat]
        ok = inside & np.isfinite(y) & np.isfinite(x).all(axis=2)
        self.valid = ok
        self.y = np.where(ok, y, np.nan)
        self.x = np.where(ok[:, :, None], x, 0.0)
        self.offset = np.zeros(self.y.shape)
        self.dates = np.where(inside, grids.dates[flat], np.datetime64("NaT"))
        if self.members[0].cover is None:
            self.cover = np.zeros(self.y.shape, int)
        else:
            covers = np.concatenate([m.cover for m in self.members])
            cover_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            self.cover = np.where(inside, covers[np.where(inside, local + cover_starts[:, None], 0)], 0)
        positions = np.stack([m.positions for m in self.members])  # (P, m): day 0 may lie
        self.day0_dates = grids.dates[starts[:, None] + positions]  # outside the grid (run-up)

    def refuse(self, status: str, message: str) -> None:
        self.status[:] = status
        self.message[:] = message

    def fit(self) -> None:
        """One batched OLS on the estimation samples; gammas and their covariance (Karafiath)."""
        fit = fit_batch(self.y, self.x, self.x, self.offset, self.estimation, self.event_start)
        failed = (self.status == "ok") & (fit.status != "ok")
        self.status[failed] = fit.status[failed]
        self.message[failed] = fit.message[failed]
        ev = slice(self.event_start, None)
        self.gamma = np.where(self.dummy[:, ev], self.y[:, ev] - fit.expected[:, ev], np.nan)
        self.cov_factor = fit.cov_factor
        self.s2 = fit.s2

    # -- output ------------------------------------------------------------------------------

    def rows(self, event_index: Mapping[str, int], first_pair: int = 0) -> dict[str, np.ndarray]:
        """Row arrays (pair-major: pair, event, then day rows and window rows); ``pair`` numbers
        the batch's pairs from ``first_pair`` (the rows of :meth:`cluster_rows`)."""
        windows = self.settings.event_windows
        n_pairs, n_events = self.offsets.shape
        rel_days = np.arange(self.lo, self.hi + 1)
        n_slots = len(rel_days) + len(windows)
        ok = self.status == "ok"
        shape = (n_pairs, n_events, n_slots)
        estimate = np.full(shape, np.nan)
        variance = np.full(shape, np.nan)
        present = np.zeros(shape, bool)
        # day rows: column of event j's day r in event-period coordinates
        day_cols = self.offsets[:, :, None] + rel_days[None, None, :] - self.lo  # (P, m, R)
        grid_cols = day_cols + self.event_start
        if self.gamma is not None:
            pair = np.arange(n_pairs)[:, None, None]
            diag = np.diagonal(self.cov_factor, axis1=1, axis2=2)
            estimate[:, :, : len(rel_days)] = self.gamma[pair, day_cols]
            variance[:, :, : len(rel_days)] = self.s2[:, None, None] * diag[pair, day_cols]
            present[:, :, : len(rel_days)] = self.dummy[pair, grid_cols]
            # window rows: w'gamma and s2 w'Fw over each window's columns
            weights = self._window_weights(windows)  # (P, m, W, E)
            valid = self.dummy[:, self.event_start :]
            covered = weights.sum(axis=3)
            complete = np.einsum("pmwe,pe->pmw", weights, valid.astype(float)) == covered
            gamma0 = np.where(valid, self.gamma, 0.0)
            car = np.einsum("pmwe,pe->pmw", weights, gamma0)
            quad = np.einsum("pmwe,pef,pmwf->pmw", weights, self.cov_factor, weights)
            estimate[:, :, len(rel_days):] = np.where(complete, car, np.nan)
            variance[:, :, len(rel_days):] = np.where(complete, self.s2[:, None, None] * quad, np.nan)
            present[:, :, len(rel_days):] = complete
        present &= ok[:, None, None]
        estimate[~present] = np.nan
        variance[~present] = np.nan
        dates = np.full(shape, np.datetime64("NaT"), dtype="datetime64[D]")
        dates[:, :, : len(rel_days)] = np.take_along_axis(
            self.dates, grid_cols.reshape(n_pairs, -1), axis=1).reshape(n_pairs, n_events, -1)
        order = np.array([event_index[e] for e in self.events], dtype=np.int32)
        out = {  # integer keys as int32: a study has fewer than 2**31 rows
            "pair": first_pair + np.arange(n_pairs, dtype=np.int32)[:, None, None],
            "event": np.arange(n_events, dtype=np.int32)[None, :, None],
            "event_order": order[None, :, None],
            "slot": np.arange(n_slots, dtype=np.int32)[None, None, :],
            "estimate": estimate,
            "variance": variance,
            "date": dates,
            "present": present,
        }
        return {name: np.ascontiguousarray(np.broadcast_to(values, shape)).reshape(-1)
                for name, values in out.items()}

    def _window_weights(self, windows) -> np.ndarray:
        """``w`` of every (pair, event, window) over the event-period columns, shape (P, m, W, E)."""
        n_event_cols = len(self.rel) - self.event_start
        cols = np.arange(n_event_cols)[None, None, None, :]
        starts = np.array([w[0] for w in windows])[None, None, :, None] - self.lo
        ends = np.array([w[1] for w in windows])[None, None, :, None] - self.lo
        offsets = self.offsets[:, :, None, None]
        return ((cols >= offsets + starts) & (cols <= offsets + ends)).astype(float)

    def cluster_rows(self) -> dict[str, np.ndarray]:
        """Per pair: estimation span and the cluster's first and last day 0 on the asset's grid."""
        n_pairs = len(self.members)
        first_col = np.argmax(self.estimation, axis=1)
        last_col = len(self.rel) - 1 - np.argmax(self.estimation[:, ::-1], axis=1)
        has = self.n_est > 0
        pairs = np.arange(n_pairs)
        day0_first = self.day0_dates[:, 0]
        day0_last = self.day0_dates[:, -1]
        nat = np.datetime64("NaT")
        return {
            "cluster": np.full(n_pairs, self.code),
            "pair_asset": self.assets,
            "events": np.full(n_pairs, "+".join(self.events), dtype=object),
            "n_events": np.full(n_pairs, len(self.events)),
            "first_day0": day0_first,
            "last_day0": day0_last,
            "estimation_start": np.where(has, self.dates[pairs, first_col], nat),
            "estimation_end": np.where(has, self.dates[pairs, last_col], nat),
            "n_estimation": self.n_est,
            "n_obs": self.n_est + self.dummy.sum(axis=1),
            "df": (self.n_est - self.k).astype(float),
            "status": self.status,
            "message": self.message,
        }


# ---------------------------------------------------------------------------- frames


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}


def _concat_releasing(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """:func:`_concat` that drops each column of the parts once it is joined (the parts are
    left empty), so that the rows are held about once instead of twice."""
    joined = {}
    for name in list(parts[0]):
        joined[name] = np.concatenate([p.pop(name) for p in parts])
    return joined


def _rows_frame(parts, pair_parts, ids, inputs, events, settings) -> pd.DataFrame:
    """The ``joint`` rows ordered by cluster, event, asset and slot (day rows, then window rows);
    a refused pair keeps one row per event (its first slot) stating why.

    Builds the columns one at a time from the batches' row arrays (emptied as they are read),
    releasing each intermediate array when its column is made: at 1000 x 46 the rows' working
    memory is about half of what building every array first took."""
    if not parts:
        return _empty(JOINT_COLUMNS)
    rows, pairs = _concat_releasing(parts), _concat(pair_parts)
    n_days = settings.event_period[1] - settings.event_period[0] + 1
    pair_ok = pairs["status"] == "ok"
    keep = np.flatnonzero(pair_ok[rows["pair"]] | (rows["slot"] == 0))
    keys = [rows["slot"][keep], pairs["pair_asset"][rows["pair"][keep]], rows["event"][keep],
            pairs["cluster"][rows["pair"][keep]]]
    index = keep[_row_order(keys)]
    del keep, keys
    taken = {name: rows.pop(name)[index] for name in list(rows) if name != "event"}
    del rows, index
    pair, slot = taken.pop("pair"), taken.pop("slot")
    ok_pair = pair_ok[pair]
    is_day = slot < n_days
    pair_asset = pairs["pair_asset"][pair]
    tickers = np.array([a.ticker for a in inputs], dtype=object)
    reactions = np.array([a.reaction for a in inputs], dtype=object)
    event_ids = np.array([e.id for e in events], dtype=object)
    windows = [format_window(w) for w in settings.event_windows]
    columns = {  # string columns from their distinct values (no per-row conversion)
        "cluster": labels_taken(ids, pairs["cluster"][pair]),
        "event_id": labels_taken(event_ids, taken.pop("event_order")),
        "asset": labels_taken(tickers, pair_asset),
        "reaction": labels_taken(reactions, pair_asset),
        "kind": labels_taken(["day", "window"], np.where(is_day | ~ok_pair, 0, 1)),
    }
    del pair_asset
    rel_day = pd.array(np.where(is_day, slot + settings.event_period[0], 0), dtype="Int64")
    rel_day[~(is_day & ok_pair)] = pd.NA
    columns["rel_day"] = rel_day
    columns["window"] = labels_taken(["", *windows], np.where(is_day, 0, slot - n_days + 1))
    del rel_day, slot
    dates = taken.pop("date")
    dates[~(is_day & ok_pair)] = np.datetime64("NaT")
    columns["date"] = dates.astype("datetime64[ns]")
    del dates
    estimate = taken.pop("estimate")
    std_error = np.sqrt(taken.pop("variance"))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = estimate / std_error
    df = pairs["df"][pair]
    columns.update(estimate=estimate, std_error=std_error, t=t,
                   p_value=two_sided_t_p_value(t, df), df=np.where(ok_pair, df, np.nan))
    del estimate, std_error, t, df
    columns["cov_type"] = labels_taken([COV_TYPE, ""], np.where(ok_pair, 0, 1))
    columns["n_obs"] = np.where(ok_pair, pairs["n_obs"][pair], 0).astype(int)
    present = taken.pop("present")
    pair_status, status_codes = _codes(pairs["status"])
    columns["status"] = labels_taken(["ok", "missing", *pair_status],
                                     np.where(ok_pair, np.where(present, 0, 1), 2 + status_codes[pair]))
    pair_message, message_codes = _codes(pairs["message"])
    missing = ok_pair & ~present
    message = np.where(ok_pair, np.where(missing, np.where(is_day, 1, 2), 0), 3 + message_codes[pair])
    del present, missing, pair, ok_pair, is_day
    columns["message"] = labels_taken(
        ["", "no return on this session", "a return inside the window is missing", *pair_message],
        message)
    del message
    return pd.DataFrame(columns)  # made in the order of JOINT_COLUMNS: no reordering copy


def _row_order(keys: list[np.ndarray]) -> np.ndarray:
    """``np.lexsort(keys)`` (last key first) of non-negative integer keys whose combinations are
    distinct, as one sort of a combined key when it fits in 63 bits."""
    if not len(keys[0]):
        return np.zeros(0, int)
    sizes = [int(k.max()) + 1 for k in keys]
    if float(np.prod([float(n) for n in sizes])) >= 2.0**62:
        return np.lexsort(keys)
    combined = np.zeros(len(keys[0]), np.int64)
    for key, size in zip(reversed(keys), reversed(sizes)):
        combined *= size
        combined += key
    return np.argsort(combined, kind="stable")


def _codes(values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Distinct strings of an object array and each value's position among them."""
    codes, distinct = pd.factorize(values)
    return [str(v) for v in distinct], codes


def _clusters_frame(parts, ids, inputs) -> pd.DataFrame:
    if not parts:
        return _empty(CLUSTER_COLUMNS)
    data = _concat(parts)
    order = np.lexsort((data["pair_asset"], data["cluster"]))
    data = {name: values[order] for name, values in data.items()}
    frame = pd.DataFrame({
        "cluster": ids[data["cluster"]],
        "asset": np.array([a.ticker for a in inputs], dtype=object)[data["pair_asset"]],
        "reaction": np.array([a.reaction for a in inputs], dtype=object)[data["pair_asset"]],
        **{name: data[name] for name in ("events", "n_events")},
        **{name: data[name].astype("datetime64[ns]") for name in
           ("first_day0", "last_day0", "estimation_start", "estimation_end")},
        **{name: data[name] for name in ("n_estimation", "df", "status", "message")},
    })
    return frame[CLUSTER_COLUMNS]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
