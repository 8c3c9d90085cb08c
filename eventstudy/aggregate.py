"""CAR paths and scope averages with their uncertainty: what the figures and findings draw.

Nothing here is drawn; :mod:`eventstudy.plots` and the report only read these frames, and the
command line writes them as ``tables/car_paths`` and ``tables/caar``.

**CAR paths.** A path is the running sum of abnormal returns anchored at a day ``a`` where it
is 0 (default: day -1, the last session before the event; see :func:`path_anchor`). After the
anchor it adds each day's AR, before it subtracts them:
``L(d) = sum_{a < t <= d} AR_t`` for ``d >= a`` and ``L(d) = -sum_{d < t <= a} AR_t`` for
``d < a``. One missing AR inside the span makes that point missing.

**Band variances.** For one (event, asset) pair the variance of ``L(d)`` is the prediction-error
variance of that sum, ``s^2 g'Fg`` with the full covariance factor ``F = I + X*(X'X)^-1 X*'``
(the same as the CAR's in ``tables/car``), referred to t(L1 - k). For a scope (the pairs of one
event, category or tag in one asset group and one reaction kind) the average path is the mean
over its pairs and its variance is ``|d - a| * S^2``, where ``S^2`` is the variance (divisor
L - 1) of the scope's equal-weighted portfolio of estimation-window residuals in event time.
That is the Brown-Warner crude-dependence construction: same-date correlation between the
pairs enters through the portfolio, so the band stays honest when every pair shares the event
date. Its reference is N(0, 1).

**CAAR with confidence intervals.** For every scope and window, ``CAAR = mean_i CAR_i`` and the
95% interval ``CAAR +- z_0.975 sqrt(L2) S`` inverts the crude-dependence test (``p < 0.05``
exactly when the interval excludes 0); the table carries that test's p-value from the tests
table (:func:`featured_test`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse, special

from eventstudy import registry
from eventstudy.abnormal import repeated_labels
from eventstudy.common import format_window
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import SCOPE_LABELS, Scope

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

LEVEL = 0.95
CHUNK = 2048
"""Pairs per piece of the working arrays of the CAR paths."""
CELLS = 1 << 19
"""(pair, day) cells per piece of the working arrays of the portfolio variances (4 MB)."""
#: The cross-sectional test whose interval this module computes (see the module docstring).
PORTFOLIO_TEST = "crude_dependence"

PATH_COLUMNS = [*SCOPE_LABELS, "asset", "anchor", "rel_day", "car", "var_car", "df", "n"]
CAAR_COLUMNS = [*SCOPE_LABELS, "window", "n", "caar", "se", "ci_low", "ci_high", "test",
                "p_value"]


# ----------------------------------------------------------------------------- anchors


def path_anchor(event_period: tuple[int, int], anchor: int = -1) -> int:
    """The day where CAR paths are 0: ``anchor`` (default -1) when the path can reach it.

    A path covers the event period plus the day before it (where every CAR is 0 by
    definition), so the anchor must lie in ``[start - 1, end]``; otherwise it is the day
    before the period starts.

    Examples
    --------
    >>> path_anchor((-5, 10)), path_anchor((0, 2)), path_anchor((-10, -1)), path_anchor((2, 5))
    (-1, -1, -1, 1)
    """
    start, end = event_period
    return anchor if start - 1 <= anchor <= end else start - 1


def path_days(event_period: tuple[int, int]) -> np.ndarray:
    """Days of a CAR path: the day before the event period, then every event-period day."""
    return np.arange(event_period[0] - 1, event_period[1] + 1)


def featured_test() -> str:
    """Id of the cross-sectional test featured beside each CAAR.

    The crude-dependence (portfolio) test, whose interval :func:`scope_caar` computes, while
    the registry lists it as robust to same-date clustering; otherwise the first robust test.

    Examples
    --------
    >>> featured_test()
    'crude_dependence'
    """
    robust = registry.robust_tests()
    return PORTFOLIO_TEST if PORTFOLIO_TEST in robust else robust[0]


# ----------------------------------------------------------------------------- pair paths


def _range_bounds(n_days: int, anchor_pos: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each path position b (0..n_days): the summed event-day range [lo, hi) and its sign."""
    positions = np.arange(n_days + 1)
    lo = np.minimum(positions, anchor_pos)
    hi = np.maximum(positions, anchor_pos)
    sign = np.where(positions >= anchor_pos, 1.0, -1.0)
    return lo, hi, sign


def pair_path_arrays(panel: AbnormalPanel, anchor: int) -> tuple[np.ndarray, np.ndarray]:
    """CAR paths and their prediction-error variances, shape (N, E + 1) each.

    Columns are :func:`path_days` of the panel's event period; ``anchor`` must be one of them.

    Examples
    --------
    >>> car, var = pair_path_arrays(res.panel, anchor=-1)  # doctest: +SKIP
    """
    days = panel.event_rel_days
    n_days = len(days)
    anchor_pos = int(anchor - (days[0] - 1))
    if not 0 <= anchor_pos <= n_days:
        raise ValueError(f"anchor {anchor} is outside the path days {days[0] - 1}..{days[-1]}")
    ar = np.asarray(panel.event_ar, dtype=float)
    prefix = np.zeros((panel.n_pairs, n_days + 1))
    prefix[:, 1:] = np.cumsum(np.where(np.isfinite(ar), ar, 0.0), axis=1)
    missing = np.zeros((panel.n_pairs, n_days + 1))
    missing[:, 1:] = np.cumsum(~np.isfinite(ar), axis=1)
    lo, hi, sign = _range_bounds(n_days, anchor_pos)
    total = sign * (prefix[:, hi] - prefix[:, lo])
    gaps = missing[:, hi] - missing[:, lo]
    car = np.where(gaps > 0, np.nan, total)
    quad = np.empty((panel.n_pairs, n_days + 1))
    block = np.zeros((min(CHUNK, panel.n_pairs), n_days + 1, n_days + 1))
    for start in range(0, panel.n_pairs, CHUNK):  # a few pairs at a time: small working arrays
        rows = slice(start, min(start + CHUNK, panel.n_pairs))
        part = block[: rows.stop - rows.start]
        inner = part[:, 1:, 1:]  # running sums of the covariance factor, in place
        np.cumsum(np.asarray(panel.cov_factor[rows]), axis=1, out=inner)
        np.cumsum(inner, axis=2, out=inner)
        quad[rows] = part[:, hi, hi] - part[:, lo, hi] - part[:, hi, lo] + part[:, lo, lo]
    return car, panel.s2[:, None] * quad


def pair_paths(panel: AbnormalPanel, groups: np.ndarray | None = None, anchor: int = -1,
               paths: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Tidy CAR paths of every pair (``scope='pair'`` rows of ``tables/car_paths``).

    Parameters
    ----------
    panel : AbnormalPanel
    groups : ndarray, optional
        Each pair's asset group (the ``group`` label).
    anchor : int
        Requested anchor day (see :func:`path_anchor`).
    paths : tuple of ndarray, optional
        :func:`pair_path_arrays` at that anchor, when already computed.

    Returns
    -------
    DataFrame
        Columns :data:`PATH_COLUMNS`; ``var_car`` is the prediction-error variance, ``df`` =
        L1 - k.

    Examples
    --------
    >>> pair_paths(res.panel).query("asset == '^N225' and rel_day == 1")  # doctest: +SKIP
    """
    return next(pair_path_parts(panel, groups, anchor, paths, pairs_per_part=max(panel.n_pairs, 1)))


PATH_PAIRS_PER_PART = 65_536
"""Pairs per piece of :func:`pair_path_parts` (about a million rows of ``car_paths``)."""


def pair_path_parts(panel: AbnormalPanel, groups: np.ndarray | None = None, anchor: int = -1,
                    paths: tuple[np.ndarray, np.ndarray] | None = None,
                    pairs_per_part: int = PATH_PAIRS_PER_PART) -> Iterator[pd.DataFrame]:
    """:func:`pair_paths` in pieces of ``pairs_per_part`` pairs (the same rows, in order; one
    empty frame for a panel without pairs or days), for writing them without holding them all.

    Examples
    --------
    >>> pd.concat(list(pair_path_parts(res.panel, pairs_per_part=10)), ignore_index=True)  # doctest: +SKIP
    """
    days = panel.event_rel_days
    if panel.n_pairs == 0 or len(days) == 0:
        yield pd.DataFrame(columns=PATH_COLUMNS)
        return
    period = (int(days[0]), int(days[-1]))
    anchor = path_anchor(period, anchor)
    car, var = paths if paths is not None else pair_path_arrays(panel, anchor)
    steps = len(days) + 1
    groups = groups if groups is not None else np.full(panel.n_pairs, "", dtype=object)
    reactions, dof = _reactions(panel), panel.dof.astype(float)
    for start in range(0, panel.n_pairs, max(int(pairs_per_part), 1)):
        rows = slice(start, min(start + pairs_per_part, panel.n_pairs))
        n_pairs = rows.stop - rows.start
        yield pd.DataFrame({  # made in the order of PATH_COLUMNS: no reordering copy
            "scope": "pair",
            "scope_id": repeated_labels(panel.event_ids[rows], steps),
            "group_by": "",
            "group": repeated_labels(groups[rows], steps),
            "reaction": repeated_labels(reactions[rows], steps),
            "asset": repeated_labels(panel.assets[rows], steps),
            "anchor": anchor,
            "rel_day": np.tile(path_days(period), n_pairs),
            "car": car[rows].ravel(),
            "var_car": var[rows].ravel(),
            "df": np.repeat(dof[rows], steps),
            "n": np.isfinite(car[rows]).ravel().astype(int),
        })


# ----------------------------------------------------------------------------- scopes


def membership(scopes: Sequence[Scope], n_pairs: int) -> sparse.csr_matrix:
    """The pairs of each scope as a sparse 0/1 matrix, shape (n_scopes, n_pairs).

    A pair belongs to a few scopes only (its event, category and tags, once per partition),
    so the matrix is sparse: a study with thousands of scopes and tens of thousands of pairs
    needs megabytes, not gigabytes.

    Examples
    --------
    >>> membership(res.scopes(), res.panel.n_pairs).shape  # doctest: +SKIP
    (7236, 29348)
    """
    columns = [np.flatnonzero(s.rows) for s in scopes]
    counts = np.array([len(c) for c in columns], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    return sparse.csr_matrix((np.ones(len(indices)), indices, indptr),
                             shape=(len(scopes), n_pairs))


def _as_weights(members) -> sparse.csr_matrix:
    """A (n_scopes, N) 0/1 weight matrix from a boolean array or a sparse matrix."""
    if sparse.issparse(members):
        return sparse.csr_matrix(members, dtype=float)
    return sparse.csr_matrix(np.asarray(members, dtype=bool).astype(float))


def portfolio_variance(panel: AbnormalPanel, members, resid: np.ndarray | None = None,
                       ) -> tuple[np.ndarray, np.ndarray]:
    """``S^2`` of each scope's equal-weighted estimation-residual portfolio, and its L.

    Parameters
    ----------
    panel : AbnormalPanel
    members : ndarray of bool or sparse matrix, shape (n_scopes, N)
        The pairs of each scope (:func:`membership`).
    resid : ndarray, optional
        ``panel.estimation_residuals()`` when already computed.

    Returns
    -------
    s2, n_days : ndarray, shape (n_scopes,)
        Variance (divisor L - 1) of ``AAR_t`` = mean residual of the scope's pairs with an
        estimation residual on event-time column t, over the L columns that have one.
        NaN when L < 2.

    Examples
    --------
    >>> s2, days = portfolio_variance(res.panel, np.ones((1, res.panel.n_pairs), bool))  # doctest: +SKIP
    """
    return _PortfolioVariances(panel, resid)(members)


class _PortfolioVariances:
    """:func:`portfolio_variance` of one panel for several weight matrices, each distinct matrix
    computed once (the windows of a study usually leave the same pairs in every scope)."""

    def __init__(self, panel: AbnormalPanel, resid: np.ndarray | None = None) -> None:
        self.panel, self.resid = panel, resid
        self.done: list[tuple[sparse.csr_matrix, tuple[np.ndarray, np.ndarray]]] = []

    def __call__(self, members) -> tuple[np.ndarray, np.ndarray]:
        weights = _as_weights(members)
        for seen, result in self.done:
            if _same_matrix(seen, weights):
                return result
        count, sums = self._portfolio_sums(weights)
        present = count > 0
        aar = np.where(present, sums / np.where(present, count, 1.0), 0.0)
        n_days = present.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = aar.sum(axis=1) / n_days
            deviation = np.where(present, aar - mean[:, None], 0.0)
            s2 = (deviation**2).sum(axis=1) / (n_days - 1)
        result = (np.where(n_days >= 2, s2, np.nan), n_days)
        self.done.append((weights, result))
        return result


    def _portfolio_sums(self, weights: sparse.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Per scope and grid column: how many pairs have an estimation residual, and their sum
        (a few columns at a time: each column's sums are the same as in one product)."""
        n_days = self.panel.ar.shape[1]
        count, sums = np.empty((weights.shape[0], n_days)), np.empty((weights.shape[0], n_days))
        step = max(1, CELLS // max(self.panel.n_pairs, 1))
        for start in range(0, n_days, step):
            columns = slice(start, min(start + step, n_days))
            if self.resid is None:
                ar, estimation = self.panel.ar[:, columns], self.panel.is_estimation[:, columns]
                has = np.asarray(estimation, dtype=bool) & np.isfinite(ar)
            else:
                ar = self.resid[:, columns]
                has = np.isfinite(ar)
            count[:, columns] = weights @ has.astype(float)
            sums[:, columns] = weights @ np.where(has, ar, 0.0)
        return count, sums


def _same_matrix(a: sparse.csr_matrix, b: sparse.csr_matrix) -> bool:
    """The same stored entries in the same order (so every product with them is the same)."""
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))


def scope_paths(panel: AbnormalPanel, scopes: Sequence[Scope], anchor: int = -1,
                paths: tuple[np.ndarray, np.ndarray] | None = None,
                members: sparse.csr_matrix | None = None, variances=None) -> pd.DataFrame:
    """Average CAR path of every scope with its crude-dependence band variance.

    ``car`` is the mean path over the scope's pairs with a value on that day (``n`` of them);
    ``var_car`` = ``|d - anchor| * S^2`` (:func:`portfolio_variance`); ``df`` is NaN (the
    reference is N(0, 1)). ``paths`` (:func:`pair_path_arrays` at the anchor) and ``members``
    (:func:`membership`) may be passed when already computed.

    Examples
    --------
    >>> scope_paths(res.panel, res.scopes()).query("scope == 'event'")  # doctest: +SKIP
    """
    days = panel.event_rel_days
    if not scopes or panel.n_pairs == 0 or len(days) == 0:
        return pd.DataFrame(columns=PATH_COLUMNS)
    period = (int(days[0]), int(days[-1]))
    anchor = path_anchor(period, anchor)
    car, _ = paths if paths is not None else pair_path_arrays(panel, anchor)
    members = members if members is not None else membership(scopes, panel.n_pairs)
    s2, _ = (variances or _PortfolioVariances(panel))(members)
    finite = np.isfinite(car)
    counts = np.asarray(members @ finite.astype(float))
    sums = np.asarray(members @ np.where(finite, car, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
    steps = path_days(period)
    var = s2[:, None] * np.abs(steps - anchor)[None, :]
    labels = np.array([s.labels() for s in scopes], dtype=object)
    frame = pd.DataFrame({name: np.repeat(labels[:, i], len(steps)) for i, name in enumerate(SCOPE_LABELS)})
    frame["asset"] = ""
    frame["anchor"] = anchor
    frame["rel_day"] = np.tile(steps, len(scopes))
    frame["car"] = mean.ravel()
    frame["var_car"] = var.ravel()
    frame["df"] = np.nan
    frame["n"] = counts.ravel().astype(int)
    return frame[PATH_COLUMNS]


def scope_caar(
    panel: AbnormalPanel,
    scopes: Sequence[Scope],
    windows: Iterable[tuple[int, int]],
    tests: pd.DataFrame | None = None,
    members: sparse.csr_matrix | None = None,
    variances=None,
) -> pd.DataFrame:
    """CAAR of every scope and window with its 95% interval and the featured test's p-value.

    ``CAAR = mean_i CAR_i`` over the scope's pairs with a CAR; ``se = sqrt(L2) S`` with
    ``S^2`` the portfolio variance of those pairs; ``ci = CAAR +- z_0.975 se``. ``p_value`` is
    copied from ``tests`` (the row of :func:`featured_test` for the same scope and window).

    Examples
    --------
    >>> scope_caar(res.panel, res.scopes(), [(0, 1)], res.tests).head()  # doctest: +SKIP
    """
    windows = list(windows)
    if not scopes or panel.n_pairs == 0 or not windows:
        return pd.DataFrame(columns=CAAR_COLUMNS)
    members = members if members is not None else membership(scopes, panel.n_pairs)
    labels = np.array([s.labels() for s in scopes], dtype=object)
    variances = variances or _PortfolioVariances(panel)
    z = special.ndtri(0.5 + LEVEL / 2)  # = scipy.stats.norm.ppf
    frames = []
    for window in windows:
        car, _ = panel.car(window)
        finite = np.isfinite(car)
        use = members @ sparse.diags(finite.astype(float))
        s2, _ = variances(use)
        n = np.asarray(use.sum(axis=1)).ravel().astype(int)
        with np.errstate(invalid="ignore", divide="ignore"):
            caar = np.where(n > 0, (use @ np.where(finite, car, 0.0)) / n, np.nan)
        se = np.sqrt((window[1] - window[0] + 1) * s2)
        frame = pd.DataFrame(labels, columns=SCOPE_LABELS)
        frame["window"] = format_window(window)
        frame["n"] = n
        frame["caar"] = caar
        frame["se"] = se
        frame["ci_low"] = caar - z * se
        frame["ci_high"] = caar + z * se
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    test = featured_test()
    out["test"] = test
    out["p_value"] = _test_p_values(out, tests, test)
    return out[CAAR_COLUMNS]


def _test_p_values(rows: pd.DataFrame, tests: pd.DataFrame | None, test: str) -> np.ndarray:
    if tests is None or tests.empty:
        return np.full(len(rows), np.nan)
    keys = [*SCOPE_LABELS, "window"]
    chosen = tests[(tests["test"] == test) & (tests["asset"] == "") & (tests["window"] != "")]
    lookup = chosen.drop_duplicates(keys).set_index(keys)["p_value"]
    index = pd.MultiIndex.from_frame(rows[keys])
    return lookup.reindex(index).to_numpy(dtype=float)


# ----------------------------------------------------------------------------- study level


def pair_groups(result: StudyResult) -> np.ndarray:
    """Each panel pair's asset group."""
    group = {a.ticker: a.group for a in result.config.assets}
    return np.array([group.get(t, "") for t in result.panel.assets], dtype=object)


def car_paths_table(result: StudyResult, anchor: int = -1,
                    scopes: Sequence[Scope] | None = None) -> pd.DataFrame:
    """``tables/car_paths``: every pair's path, then every scope's average path.

    Examples
    --------
    >>> car_paths_table(res).query("scope == 'event' and group == 'chips'")  # doctest: +SKIP
    """
    return _car_paths(result, anchor, result.scopes() if scopes is None else scopes)


def _car_paths(result: StudyResult, anchor: int, scopes: Sequence[Scope], members=None,
               variances=None) -> pd.DataFrame:
    parts = list(_car_path_parts(result, anchor, scopes, members, variances, pairs_per_part=None))
    return parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)


def _car_path_parts(result: StudyResult, anchor: int, scopes: Sequence[Scope], members=None,
                    variances=None, pairs_per_part: int | None = PATH_PAIRS_PER_PART,
                    ) -> Iterator[pd.DataFrame]:
    """``tables/car_paths`` in pieces: the pairs' paths ``pairs_per_part`` pairs at a time (None:
    all at once), then the scopes' (pieces without rows left out; one empty frame if all are)."""
    panel = result.panel
    days = panel.event_rel_days
    paths = None
    if panel.n_pairs and len(days):
        paths = pair_path_arrays(panel, path_anchor((int(days[0]), int(days[-1])), anchor))
    size = max(panel.n_pairs, 1) if pairs_per_part is None else pairs_per_part
    empty = True
    for part in pair_path_parts(panel, pair_groups(result), anchor, paths, size):
        if len(part):
            empty = False
            yield part
    scoped = scope_paths(panel, scopes, anchor, paths, members, variances)
    if len(scoped) or empty:
        yield scoped if len(scoped) else pd.DataFrame(columns=PATH_COLUMNS)


def caar_table(result: StudyResult, scopes: Sequence[Scope] | None = None) -> pd.DataFrame:
    """``tables/caar``: CAAR with 95% interval per scope and event window.

    Examples
    --------
    >>> caar_table(res).query("window == '[0,1]' and scope == 'event'")  # doctest: +SKIP
    """
    scopes = result.scopes() if scopes is None else scopes
    return scope_caar(result.panel, scopes, result.config.settings.event_windows, result.tests)


def tables(result: StudyResult) -> dict[str, pd.DataFrame]:
    """The tables this module adds to a run's output folder, by name.

    Examples
    --------
    >>> sorted(tables(res))  # doctest: +SKIP
    ['caar', 'car_paths']
    """
    tables = Aggregates(result)
    return {"car_paths": tables.car_paths(), "caar": tables.caar()}


class Aggregates:
    """The two tables of :func:`tables` for one result, sharing the scopes, their pair
    memberships and portfolio variances (paths and CAARs often use the same pairs);
    :meth:`car_path_parts` gives ``car_paths`` in pieces, to be written without holding it.

    Examples
    --------
    >>> tables = Aggregates(res)                                                     # doctest: +SKIP
    >>> report.write_table_parts("car_paths", tables.car_path_parts(), "reports/big")  # doctest: +SKIP
    """

    def __init__(self, result: StudyResult) -> None:
        self.result = result
        self.scopes = result.scopes()
        self.members = membership(self.scopes, result.panel.n_pairs) if self.scopes else None
        self.variances = _PortfolioVariances(result.panel)

    def car_paths(self) -> pd.DataFrame:
        """``tables/car_paths`` (anchor -1)."""
        return _car_paths(self.result, -1, self.scopes, self.members, self.variances)

    def car_path_parts(self, pairs_per_part: int = PATH_PAIRS_PER_PART) -> Iterator[pd.DataFrame]:
        """:meth:`car_paths` in consecutive pieces (the same rows)."""
        return _car_path_parts(self.result, -1, self.scopes, self.members, self.variances,
                               pairs_per_part)

    def caar(self) -> pd.DataFrame:
        """``tables/caar``."""
        return scope_caar(self.result.panel, self.scopes, self.result.config.settings.event_windows,
                          self.result.tests, self.members, self.variances)


def pair_interval(car: pd.DataFrame) -> pd.DataFrame:
    """``car`` rows with a 95% interval ``CAR +- t_0.975(df) sqrt(var_car)`` (its t-test's inversion).

    Examples
    --------
    >>> pair_interval(res.car)[["car", "ci_low", "ci_high"]].head()  # doctest: +SKIP
    """
    from scipy import stats  # imported here: a run that writes tables only never needs it

    out = car.copy()
    half = stats.t.ppf(0.5 + LEVEL / 2, out["car_df"].to_numpy(dtype=float)) * np.sqrt(
        out["var_car"].to_numpy(dtype=float))
    out["ci_low"] = out["car"] - half
    out["ci_high"] = out["car"] + half
    return out


def band_half_width(paths: pd.DataFrame) -> np.ndarray:
    """Half width of the 95% band of ``car_paths`` rows (t(df) for pairs, N(0,1) for scopes)."""
    from scipy import stats  # imported here: a run that writes tables only never needs it

    df = paths["df"].to_numpy(dtype=float)
    crit = np.where(np.isfinite(df), stats.t.ppf(0.5 + LEVEL / 2, np.where(np.isfinite(df), df, 1.0)),
                    stats.norm.ppf(0.5 + LEVEL / 2))
    return crit * np.sqrt(paths["var_car"].to_numpy(dtype=float))


def garch_daily_paths(result: StudyResult, event_ids: Iterable[str]) -> pd.DataFrame | None:
    """Daily abnormal volatility ``AR^2 / h`` of the pairs of ``event_ids``, read from
    ``result.volatility_daily`` (None: the volatility stage did not run or no pair matches).

    Columns of :data:`eventstudy.volatility.DAILY_COLUMNS` with ``h`` and ``ar2_over_h``
    named ``h_forecast`` and ``abnormal_volatility``, as the figure reads them.

    Examples
    --------
    >>> garch_daily_paths(res, ["liberation-day-reciprocal-tariffs"])  # doctest: +SKIP
    """
    daily = result.volatility_daily
    if daily is None:
        return None
    rows = daily[daily["event_id"].isin(list(event_ids))].reset_index(drop=True)
    if rows.empty:
        return None
    return rows.rename(columns={"h": "h_forecast", "ar2_over_h": "abnormal_volatility"})


def _reactions(panel: AbnormalPanel) -> np.ndarray:
    if panel.reactions is None:
        return np.full(panel.n_pairs, "total", dtype=object)
    return np.asarray(panel.reactions, dtype=object)
