"""Test statistics of the event study (METHODS.md sections 2 and 3).

Three entry points read an :class:`~eventstudy.panel.AbnormalPanel`:

* :func:`daily_tests` -- the cross-sectional tests of :data:`TEST_IDS` on every
  event-period day;
* :func:`window_tests` -- the same tests for one CAR window;
* :func:`single_asset_tests` -- the time-series tests of :data:`SINGLE_ASSET_TEST_IDS`
  for every pair, day and window.

Every row reports ``statistic, p_value, distribution, df, n`` (cross-sectional rows also
``r_bar``) and a ``note``: a test that cannot be computed (too few pairs, zero dispersion,
``1 + (N-1) r_bar <= 0`` ...) returns NaN with the reason in ``note``; ``note`` is ``''``
for every computed row, so a NaN statistic never goes unexplained.

Conventions shared by all cross-sectional tests
-----------------------------------------------
* **Cross-section.** A day's cross-section is the set of pairs whose AR on that day is
  finite; a window's is the set of pairs whose ARs on every day of the window are finite
  (their CAR is finite). Tests on standardised ARs additionally need a finite, positive
  prediction-error variance. ``n`` counts the pairs actually used.
* **Same pairs everywhere.** Every quantity a test derives from the estimation window
  (``r_bar``, the portfolio series ``AAR_t`` of the crude-dependence and Lamb tests, the
  pooled ``p_hat`` of the generalised sign test, the rank dispersions ``S_K``, ``S_U``) is
  computed over the pairs of that day's or window's cross-section. Two inputs belong to
  a pair, not to a cross-section: its within-pair ranks (over all of its estimation and
  event-period days) and, for Corrado-Zivney, the cross-sectional s.d. that re-scales
  each event-period day (over every pair with an AR on that day).
* **Event time is the common calendar.** Pairs are aligned on the columns of the panel
  (``rel_days``); "the same day" for two pairs means the same event-time column. ``r_bar``
  uses the pairwise-complete columns of the estimation residuals.
* **A day is a one-day window.** The window statistic of ``[d, d]`` equals the daily
  statistic of day ``d`` (crude dependence changes only its reference distribution,
  t(L-1) for a day, N(0,1) for a window). The one exception is Corrado-Zivney when the
  number of pairs differs across days: its day form (METHODS 3.10) scales column sums by
  ``N_t^-1/2``, its Cowan window form uses column means.
* **p-values** follow ``alternative``: ``'two-sided'`` ``2 P(X >= |x|)``, ``'greater'``
  ``P(X >= x)``, ``'less'`` ``P(X <= x)``.

Performance: everything is vectorised over pairs and days. The residual correlations
and within-pair ranks of a panel are cached by a hash of their inputs (one panel at a
time), so ``daily_tests`` followed by ``window_tests`` on the same panel ranks once.
Small matrix products dominate; multi-threaded BLAS on a busy machine can be many times
slower than ``OPENBLAS_NUM_THREADS=1`` for these sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import special

from eventstudy.panel import AbnormalPanel

TEST_IDS: tuple[str, ...] = (
    "cs_t",
    "patell",
    "bmp",
    "kp_bmp",
    "kp_patell",
    "crude_dependence",
    "lamb",
    "skew_t",
    "sign",
    "gen_sign",
    "corrado",
    "corrado_zivney",
    "grank",
    "wilcoxon",
)
SINGLE_ASSET_TEST_IDS: tuple[str, ...] = ("ts_t", "sq")
ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")

_RESULT_COLUMNS = ["statistic", "p_value", "distribution", "df", "n", "r_bar", "note"]
_SINGLE_COLUMNS = [
    "event_id",
    "asset",
    "rel_day",
    "window",
    "test",
    "statistic",
    "p_value",
    "distribution",
    "df",
    "n",
    "note",
]
# A value set counts as constant when its spread is below this share of its magnitude.
_RELATIVE_TOLERANCE = 1e-12
# 1 + (N - 1) r_bar at or below this is treated as zero (Kolari-Pynnonen factor undefined).
_KP_FLOOR = 1e-10


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------


def daily_tests(panel: AbnormalPanel, alternative: str = "two-sided") -> pd.DataFrame:
    """Cross-sectional tests on every event-period day.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of N (event, asset) pairs.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values (H0: no abnormal return).

    Returns
    -------
    DataFrame
        One row per (event-period ``rel_day``, test of :data:`TEST_IDS`), in that order,
        with columns ``rel_day, test, statistic, p_value, distribution, df, n, r_bar,
        note``.

    Examples
    --------
    >>> table = daily_tests(panel)  # doctest: +SKIP
    >>> table.query("rel_day == 0 and test == 'kp_bmp'")  # doctest: +SKIP
    """
    _check_alternative(alternative)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        context = _PanelContext.build(panel)
        selector = np.eye(context.n_event_days, dtype=bool)
        sections = _CrossSections.build(context, selector, is_window=False)
        frame = _results_frame(_run_all(context, sections), alternative)
    days = np.tile(panel.event_rel_days.astype(np.int64), len(TEST_IDS))
    frame.insert(0, "rel_day", days)
    order = np.argsort(days, kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def window_tests(
    panel: AbnormalPanel, window: tuple[int, int], alternative: str = "two-sided"
) -> pd.DataFrame:
    """Cross-sectional tests for the cumulative abnormal return over ``window``.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of N (event, asset) pairs.
    window : tuple of int
        ``(first, last)`` event-period ``rel_day`` of the CAR window, inclusive.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values.

    Returns
    -------
    DataFrame
        One row per test of :data:`TEST_IDS` with columns ``test, statistic, p_value,
        distribution, df, n, r_bar, note``.

    Examples
    --------
    >>> window_tests(panel, (0, 1))  # doctest: +SKIP
    """
    _check_alternative(alternative)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        context = _PanelContext.build(panel)
        selector = panel.window_selector(tuple(window)).astype(bool)[None, :]
        sections = _CrossSections.build(context, selector, is_window=True)
        return _results_frame(_run_all(context, sections), alternative)


def scoped_tests(
    panel: AbnormalPanel,
    scopes: Sequence[tuple[str, str, np.ndarray]],
    windows: Sequence[tuple[int, int]],
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """Daily and window cross-sectional tests of many groups ("scopes") of one panel's pairs.

    Equal, row for row, to concatenating for every scope :func:`daily_tests` and
    :func:`window_tests` (each window) on ``panel.subset(rows)``, with the scope columns of
    :func:`eventstudy.study.scope_tests`; the difference is speed. What belongs to a pair
    (its within-pair ranks, its sorted estimation SARs, its CAR and SCAR per window) is
    computed once for the panel and sliced per scope; what depends on the scope's pairs is
    recomputed per scope with subset semantics: the Corrado-Zivney event-day
    cross-sectional s.d. (hence those ranks), ``r_bar``, the AAR series, ``p_hat``, ``S_K``,
    ``S_U``. Results equal the subset route up to floating-point rounding.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of all pairs.
    scopes : sequence of (str, str, ndarray of bool)
        ``(scope, scope_id, rows)``, ``rows`` a boolean mask over the panel's pairs.
    windows : sequence of (int, int)
        CAR windows ``(first, last)``, inclusive.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values.

    Returns
    -------
    DataFrame
        Columns ``scope, scope_id, asset, rel_day, test, statistic, p_value, distribution,
        df, n, r_bar, note, window`` (``asset`` ``''``), per scope first the daily rows (by
        ``rel_day``, then test; ``window`` ``''``), then each window's rows (``rel_day``
        NA); a fresh ``RangeIndex``.

    Examples
    --------
    >>> scoped_tests(panel, [("event", "e1", panel.event_ids == "e1")], [(0, 1)])  # doctest: +SKIP
    """
    _check_alternative(alternative)
    windows = [tuple(int(day) for day in window) for window in windows]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        inputs = _ScopeInputs.build(panel, windows)
        blocks = [
            inputs.scope_block(scope, scope_id, np.flatnonzero(np.asarray(rows, dtype=bool)))
            for scope, scope_id, rows in scopes
        ]
    return _scoped_frame(blocks, alternative)


def single_asset_tests(
    panel: AbnormalPanel,
    windows: Sequence[tuple[int, int]],
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """Time-series tests of each pair on each event-period day and each window.

    ``ts_t`` (METHODS 2.1): ``AR / sqrt(s2 C)`` for a day, ``CAR / sqrt(Var CAR)`` (full
    covariance) for a window, reference t(L1 - k). ``n`` is ``L1``, the number of
    estimation returns behind ``s2``.

    ``sq`` (Gelbach, Helland & Klick 2013; METHODS 2.2): the AR is compared with the
    empirical distribution ``F`` of the pair's estimation residuals; the statistic is
    ``F(AR)`` = share of residuals ``<= AR``; p-values are permutation p-values with
    ``k_le`` (``k_ge``) the number of reference values ``<=`` (``>=``) AR among ``n``:
    two-sided ``min(1, 2 min(k_le + 1, k_ge + 1) / (n + 1))``, 'greater'
    ``(k_ge + 1)/(n + 1)``, 'less' ``(k_le + 1)/(n + 1)``. (The plain-ECDF form of METHODS 2.2,
    whose exact convention is marked unconfirmed there, rejects 5.6% at n = 250 by
    construction; see docs/validation.md.) For a window of L2 days the reference set
    is every sum of L2 consecutive estimation residuals, consecutive in the pair's
    estimation sample order (a sum may straddle days excluded from the sample).
    ``n`` is the size of the reference set; distribution 'empirical'.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of N (event, asset) pairs.
    windows : sequence of (int, int)
        CAR windows ``(first, last)``, inclusive.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values.

    Returns
    -------
    DataFrame
        Columns ``event_id, asset, rel_day, window, test, statistic, p_value,
        distribution, df, n, note``; per pair first the daily rows (``rel_day`` set,
        ``window == ''``), then the window rows (``rel_day`` NA, ``window == '[a,b]'``).

    Examples
    --------
    >>> single_asset_tests(panel, [(0, 1), (0, 5)])  # doctest: +SKIP
    """
    _check_alternative(alternative)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        residuals = _packed_estimation_residuals(panel)  # once for every block
        blocks = [_single_asset_day_block(panel, residuals, alternative)]
        blocks += [
            _single_asset_window_block(panel, residuals, tuple(w), alternative) for w in windows
        ]
    return _single_asset_frame(panel, blocks)


def mean_offdiagonal_correlation(residuals: np.ndarray) -> float:
    """Kolari-Pynnonen ``r_bar``: mean off-diagonal Pearson correlation of residual rows.

    Each correlation uses the pairwise-complete columns of the two rows (columns where
    both are finite) with means over those columns; pairs with fewer than two common
    columns or a constant row on them are left out of the mean (METHODS 3.4).

    Parameters
    ----------
    residuals : ndarray, shape (N, T)
        Estimation residuals, NaN where missing.

    Returns
    -------
    float
        ``r_bar``; NaN when no pair of rows has a defined correlation.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 4.0], [3.0, 2.0, 1.0]])
    >>> round(mean_offdiagonal_correlation(x), 6)
    -0.333333
    """
    residuals = np.asarray(residuals, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        structure = _CorrelationStructure.build(residuals)
        total, count = structure.pair_sums(np.ones((1, residuals.shape[0]), dtype=bool))
    return float(total[0] / count[0]) if count[0] else float("nan")


# ----------------------------------------------------------------------------------------
# Shared inputs
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _PanelContext:
    """Panel-level arrays shared by every cross-section."""

    event_ar: np.ndarray  # (N, E) abnormal returns of the event period
    variance_factor: np.ndarray  # (N, E) C_i,tau
    cov_factor: np.ndarray  # (N, E, E)
    s2: np.ndarray  # (N,)
    dof: np.ndarray  # (N,) L1 - k
    est_mask: np.ndarray  # (N, T) bool, finite estimation residual
    est_weight: np.ndarray  # (N, T) est_mask as 0/1 floats
    est_resid: np.ndarray  # (N, T) estimation residuals, 0 outside est_mask
    est_sar: np.ndarray  # (N, T) AR / s on estimation cells, NaN elsewhere
    n_est_obs: np.ndarray  # (N,) number of estimation residuals
    ranked: _RankedInputs
    event_start: int
    r_bar_memo: dict = field(default_factory=dict)  # member-set bytes -> r_bar per section
    # each pair's estimation SARs sorted (set by scoped_tests): GRANK counts by position
    est_sorted: _SortedRows | None = None
    # member sums over distinct member sets only (scoped_tests; equal up to rounding)
    distinct_rows: bool = False

    @property
    def n_event_days(self) -> int:
        return self.event_ar.shape[1]

    @classmethod
    def build(cls, panel: AbnormalPanel) -> _PanelContext:
        ar = np.asarray(panel.ar, dtype=float)
        start = int(panel.event_start)
        arrays = _pair_arrays(panel)
        scale = _residual_scale(arrays["s2"])
        ranked = _RankedInputs.cached(ar, arrays["est_mask"], scale, start)
        return cls(**arrays, ranked=ranked, event_start=start)


_PAIR_FIELDS = (
    "event_ar",
    "variance_factor",
    "cov_factor",
    "s2",
    "dof",
    "est_mask",
    "est_weight",
    "est_resid",
    "est_sar",
    "n_est_obs",
)


def _residual_scale(s2: np.ndarray) -> np.ndarray:
    """``s_i = sqrt(s2_i)``, NaN where ``s2_i <= 0``."""
    return np.where(s2 > 0, np.sqrt(s2), np.nan)


def _pair_arrays(panel: AbnormalPanel) -> dict[str, np.ndarray]:
    """The per-pair arrays of :class:`_PanelContext` (:data:`_PAIR_FIELDS`)."""
    ar = np.asarray(panel.ar, dtype=float)
    start = int(panel.event_start)
    s2 = np.asarray(panel.s2, dtype=float)
    est_mask = np.asarray(panel.is_estimation, dtype=bool) & np.isfinite(ar)
    scale = _residual_scale(s2)
    return {
        "event_ar": ar[:, start:],
        "variance_factor": np.diagonal(panel.cov_factor, axis1=1, axis2=2),
        "cov_factor": np.asarray(panel.cov_factor, dtype=float),
        "s2": s2,
        "dof": np.asarray(panel.n_est - panel.k, dtype=float),
        "est_mask": est_mask,
        "est_weight": est_mask.astype(float),
        "est_resid": np.where(est_mask, ar, 0.0),
        "est_sar": np.where(est_mask, ar / scale[:, None], np.nan),
        "n_est_obs": est_mask.sum(axis=1),
    }


@dataclass(frozen=True)
class _RankedInputs:
    """The costly panel-level inputs: residual correlation sums and within-pair ranks.

    They depend only on ``ar``, the estimation cells, ``s2`` and ``event_start``, and are
    cached by a hash of exactly those contents (one panel at a time), so
    :func:`daily_tests` followed by :func:`window_tests` on the same panel computes them
    once; a panel with different contents never sees stale values.
    """

    correlation: _CorrelationStructure  # estimation-residual correlations
    rank_weight: np.ndarray  # (N, T) 0/1, cells ranked by the Corrado test
    rank_dev: np.ndarray  # (N, T) K_it - (T_i + 1)/2, 0 outside the ranked cells
    cz_mask: np.ndarray  # (N, T) bool, cells ranked by the Corrado-Zivney test
    cz_weight: np.ndarray  # (N, T) cz_mask as 0/1 floats
    cz_dev: np.ndarray  # (N, T) U_it - 1/2, 0 outside cz_mask
    est_sar_rank: np.ndarray  # (N, T) within-pair average ranks of the estimation SARs

    @classmethod
    def cached(
        cls, ar: np.ndarray, est_mask: np.ndarray, scale: np.ndarray, start: int
    ) -> _RankedInputs:
        """Compute once per panel: the cache holds the key arrays themselves and matches by
        identity plus a cheap content fingerprint (shape, sums), so it never serves values of
        another panel and never hashes the full arrays."""
        fingerprint = (ar.shape, start, float(np.nansum(ar)), int(est_mask.sum()), float(np.nansum(scale)))
        for held_ar, held_mask, held_print, value in _RANKED_CACHE:
            if held_ar is ar and held_print == fingerprint and np.array_equal(held_mask, est_mask):
                return value
        value = cls.compute(ar, est_mask, scale, start)
        _RANKED_CACHE[:] = [(ar, est_mask, fingerprint, value)]
        return value

    @classmethod
    def compute(
        cls, ar: np.ndarray, est_mask: np.ndarray, scale: np.ndarray, start: int
    ) -> _RankedInputs:
        is_event_col = np.arange(ar.shape[1]) >= start
        rank_mask = np.isfinite(ar) & (est_mask | is_event_col[None, :])
        correlation = _CorrelationStructure.build(np.where(est_mask, ar, np.nan))
        cz_values = _corrado_zivney_values(ar, rank_mask, scale, start)
        cz_mask = np.isfinite(cz_values)
        est_sar = np.where(est_mask, ar / scale[:, None], np.nan)
        return cls(
            correlation=correlation,
            rank_weight=rank_mask.astype(float),
            rank_dev=_centred_ranks(np.where(rank_mask, ar, np.nan)),
            cz_mask=cz_mask,
            cz_weight=cz_mask.astype(float),
            cz_dev=_uniform_ranks(cz_values),
            est_sar_rank=_average_ranks(est_sar),
        )


_RANKED_CACHE: list[tuple] = []  # one entry: (ar, est_mask, fingerprint, value)


@dataclass(frozen=True)
class _CrossSections:
    """K cross-sections: one per event day (daily tests) or one CAR window.

    ``selector[k]`` marks the event-period days of cross-section k; ``values`` holds the
    AR (day) or CAR (window) of each pair, ``standardized`` the SAR or SCAR.
    """

    selector: np.ndarray  # (K, E) bool
    length: np.ndarray  # (K,) L2
    values: np.ndarray  # (K, N)
    standardized: np.ndarray  # (K, N)
    members: np.ndarray  # (K, N) finite values
    std_members: np.ndarray  # (K, N) finite standardized values
    is_window: bool

    @classmethod
    def build(cls, context: _PanelContext, selector: np.ndarray, is_window: bool) -> _CrossSections:
        return cls.from_arrays(
            context.event_ar, context.cov_factor, context.s2, selector, is_window
        )

    @classmethod
    def from_arrays(
        cls,
        event_ar: np.ndarray,
        cov_factor: np.ndarray,
        s2: np.ndarray,
        selector: np.ndarray,
        is_window: bool,
    ) -> _CrossSections:
        """Cross-sections of ``selector`` from the event-period ARs, ``F_i`` and ``s2_i``."""
        gamma = selector.astype(float)
        finite = np.isfinite(event_ar)
        missing_days = gamma @ (~finite).T.astype(float)
        values = gamma @ np.where(finite, event_ar, 0.0).T
        values = np.where(missing_days == 0, values, np.nan)
        quad = ((cov_factor @ gamma.T) * gamma.T[None, :, :]).sum(axis=1).T
        standardized = values / np.sqrt(s2[None, :] * quad)
        return cls(
            selector=selector,
            length=selector.sum(axis=1),
            values=values,
            standardized=standardized,
            members=np.isfinite(values),
            std_members=np.isfinite(standardized),
            is_window=is_window,
        )

    def take(self, rows: np.ndarray) -> _CrossSections:
        """The same cross-sections restricted to the pairs ``rows`` (integer index)."""
        return _CrossSections(
            selector=self.selector,
            length=self.length,
            values=self.values[:, rows],
            standardized=self.standardized[:, rows],
            members=self.members[:, rows],
            std_members=self.std_members[:, rows],
            is_window=self.is_window,
        )


@dataclass
class _TestResult:
    """Statistics of one test over K cross-sections."""

    statistic: np.ndarray
    distribution: str
    df: np.ndarray
    n: np.ndarray
    note: np.ndarray
    r_bar: np.ndarray | None = None

    @classmethod
    def start(cls, n: np.ndarray, distribution: str) -> _TestResult:
        size = len(n)
        return cls(
            statistic=np.full(size, np.nan),
            distribution=distribution,
            df=np.full(size, np.nan),
            n=np.asarray(n, dtype=np.int64),
            note=np.full(size, "", dtype=object),
        )

    def fail(self, condition: np.ndarray, reason: str) -> None:
        """Record ``reason`` where ``condition`` holds and no earlier reason was given."""
        self.note[np.asarray(condition, dtype=bool) & (self.note == "")] = reason

    def finish(self, statistic: np.ndarray) -> _TestResult:
        """Set the statistic, NaN wherever a reason was recorded or the value is not finite."""
        self.fail(~np.isfinite(statistic), "not computable: non-finite input")
        failed = self.note != ""
        self.statistic = np.where(failed, np.nan, statistic)
        if self.distribution == "t":
            self.df = np.where(failed, np.nan, self.df)
        return self


# ----------------------------------------------------------------------------------------
# Cross-sectional tests (METHODS section 3). Each takes the panel context and the
# cross-sections and returns a _TestResult over them.
# ----------------------------------------------------------------------------------------


def _cs_t(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Cross-sectional t (METHODS 3.1).

    ``t = sqrt(N) mean(x) / s(x)``, ``s`` with divisor ``N - 1``, on ``x_i = AR_i,tau``
    (day) or ``x_i = CAR_i`` (window); reference t(N - 1). Source: estudy2 ``t_test``.
    """
    return _cross_sectional_t(cs.values, cs.members)


def _cross_sectional_t(x: np.ndarray, m: np.ndarray) -> _TestResult:
    """``sqrt(N) mean(x) / s(x)`` over the members of each cross-section, t(N - 1)."""
    n = m.sum(axis=1)
    result = _TestResult.start(n, "t")
    mean, sd = _mean_sd(x, m)
    result.fail(n < 2, "fewer than 2 pairs")
    result.fail(_is_constant(x, m), "zero cross-sectional dispersion")
    result.df = (n - 1).astype(float)
    return result.finish(np.sqrt(n) * mean / sd)


def _patell(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Patell (1976) z (METHODS 3.2, pinned convention 5).

    ``z = sum_i SAR_i,tau / sqrt(sum_i (L1_i - k_i)/(L1_i - k_i - 2))``; for a window the
    same with ``SCAR_i = CAR_i / sqrt(Var CAR_i)`` (full covariance) -- the pinned
    convention, not the ``CSAR_i`` of the section 3.2 table. Reference N(0,1).
    """
    z, m = cs.standardized, cs.std_members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal")
    result.fail(n < 1, "no pairs with a standardised abnormal return")
    bad_dof = (m & ~(context.dof > 2)[None, :]).any(axis=1)
    result.fail(bad_dof, "residual degrees of freedom L1 - k <= 2 for some pair")
    variance = np.where(context.dof > 2, context.dof / (context.dof - 2), 0.0)
    denominator = np.sqrt(m.astype(float) @ variance)
    return result.finish(np.where(m, z, 0.0).sum(axis=1) / denominator)


def _bmp(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Boehmer-Musumeci-Poulsen (1991) standardised cross-sectional t (METHODS 3.3, #6).

    ``t = sqrt(N) mean(SAR) / s(SAR)`` (``s`` with ``N - 1``); window on ``SCAR_i``
    (Stata estudy); reference t(N - 1) (estudy2).
    """
    return _cross_sectional_t(cs.standardized, cs.std_members)


def _kp_bmp(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Kolari-Pynnonen (2010) adjusted BMP (METHODS 3.4, pinned convention 7).

    ``t_KP = t_BMP sqrt((1 - r_bar) / (1 + (N - 1) r_bar))``, ``r_bar`` the mean
    off-diagonal correlation of the cross-section's estimation residuals (pairwise
    complete, by event-time column); reference t(N - 1).
    """
    result = _bmp(context, cs)
    r_bar = _cross_section_r_bar(context, cs.std_members)
    factor = _kp_factor(result, r_bar, result.n)
    result.r_bar = r_bar
    return result.finish(result.statistic * np.sqrt((1.0 - r_bar) * factor))


def _kp_patell(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Kolari-Pynnonen adjusted Patell (METHODS 3.4, pinned convention 7).

    ``z_KP = z_Patell / sqrt(1 + (N - 1) r_bar)`` (Stata estudy ``ADJPatell``; eventstudy2
    instead multiplies by the BMP factor); reference N(0,1).
    """
    result = _patell(context, cs)
    r_bar = _cross_section_r_bar(context, cs.std_members)
    factor = _kp_factor(result, r_bar, result.n)
    result.r_bar = r_bar
    return result.finish(result.statistic * np.sqrt(factor))


def _crude_dependence(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Crude dependence adjustment, Brown & Warner 1980/1985 (METHODS 3.5).

    ``AAR_t`` = mean estimation residual of the cross-section's pairs on estimation column
    t (pairs with ``is_estimation`` there); ``S^2 = sum_t (AAR_t - mean)^2 / (L - 1)`` over
    the L columns with an ``AAR_t``. Day: ``AAR_tau / S`` ~ t(L - 1); window:
    ``CAAR / (sqrt(L2) S)`` ~ N(0,1) (estudy2).
    """
    m = cs.members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal" if cs.is_window else "t")
    sd, n_cols = _portfolio_sd(context, m)
    mean, _ = _mean_sd(cs.values, m)
    result.fail(n < 1, "no pairs with data")
    result.fail(n_cols < 2, "fewer than 2 estimation days with an AAR")
    result.fail(~(sd > 0), "zero variance of the estimation-window AAR series")
    if not cs.is_window:
        result.df = (n_cols - 1).astype(float)
    return result.finish(mean / (np.sqrt(cs.length) * sd))


def _lamb(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Lamb (1995) (METHODS 3.5b).

    Day: ``AAR_tau / (S(AAR) sqrt(mean_i C_i,tau))`` with ``S(AAR)`` of the crude
    dependence test and ``mean_i C_i,tau`` the cross-section's mean prediction-error factor
    (equal to Lamb's common-index ``1 + 1/L1 + (R_m - Rbar_m)^2/S_mm`` for a common market
    index and common dates); window: ``sum of the daily statistics / sqrt(L2)`` (each day
    over the window's pairs); reference N(0,1) (estudy2 ``lamb``, ``car_lamb``).
    """
    m = cs.members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal")
    sd, n_cols = _portfolio_sd(context, m)
    event_ar = np.where(np.isfinite(context.event_ar), context.event_ar, 0.0)
    aar = _member_sums(context, m, event_ar) / n[:, None]
    factor = np.where(np.isfinite(context.variance_factor), context.variance_factor, 0.0)
    mean_factor = _member_sums(context, m, factor) / n[:, None]
    daily = aar / (sd[:, None] * np.sqrt(mean_factor))
    result.fail(n < 1, "no pairs with data")
    result.fail(n_cols < 2, "fewer than 2 estimation days with an AAR")
    result.fail(~(sd > 0), "zero variance of the estimation-window AAR series")
    statistic = np.where(cs.selector, daily, 0.0).sum(axis=1) / np.sqrt(cs.length)
    return result.finish(statistic)


def _skew_t(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Skewness-adjusted t, Hall (1992) / Lyon, Barber & Tsai (1999) (METHODS 3.6).

    On ``x_i = AR_i,tau`` (day) or ``CAR_i`` (window): ``S = mean(x) / s`` with ``s`` the
    sample s.d. (divisor ``N - 1``), ``g`` the adjusted Fisher-Pearson skewness
    ``sqrt(N(N-1))/(N-2) m3 / m2^1.5`` (``m_r`` central moments with divisor N; equals
    ``scipy.stats.skew(bias=False)``), ``t = sqrt(N) (S + g S^2/3 + g/(6N))``; reference
    N(0,1) (asymptotic; no bootstrap).
    """
    x, m = cs.values, cs.members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal")
    mean, sd = _mean_sd(x, m)
    deviation = np.where(m, x - mean[:, None], 0.0)
    m2 = (deviation**2).sum(axis=1) / n
    m3 = (deviation**3).sum(axis=1) / n
    skewness = np.sqrt(n * (n - 1.0)) / (n - 2.0) * m3 / m2**1.5
    ratio = mean / sd
    result.fail(n < 3, "fewer than 3 pairs")
    result.fail(_is_constant(x, m), "zero cross-sectional dispersion")
    statistic = np.sqrt(n) * (ratio + skewness * ratio**2 / 3.0 + skewness / (6.0 * n))
    return result.finish(statistic)


def _sign(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Sign test (METHODS 3.7).

    ``w`` = number of positive ``x_i`` (AR or CAR) among the N nonzero ones (zeros are
    dropped); ``z = (w - N/2) / sqrt(N/4)``, the normal approximation of Binomial(N, 1/2).
    """
    x, m = cs.values, cs.members
    nonzero = m & (x != 0)
    n = nonzero.sum(axis=1)
    result = _TestResult.start(n, "normal")
    positive = (nonzero & (x > 0)).sum(axis=1)
    result.fail(n < 1, "no nonzero abnormal returns")
    return result.finish((positive - 0.5 * n) / np.sqrt(0.25 * n))


def _gen_sign(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Generalised sign test, Cowan (1992) (METHODS 3.8).

    ``p_hat`` = pooled share of strictly positive estimation residuals over all
    estimation days of the cross-section's pairs; ``w`` = number of strictly positive
    ``x_i`` among all N pairs (a zero counts as not positive, as in ``p_hat``);
    ``z = (w - N p_hat) / sqrt(N p_hat (1 - p_hat))``; reference N(0,1).
    """
    x, m = cs.values, cs.members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal")
    weights = m.astype(float)
    positive_est = weights @ (context.est_mask & (context.est_resid > 0)).sum(axis=1).astype(float)
    all_est = weights @ context.est_weight.sum(axis=1)
    p_hat = positive_est / all_est
    positive = (m & (x > 0)).sum(axis=1)
    result.fail(n < 1, "no pairs with data")
    result.fail(~(all_est > 0), "no estimation residuals")
    result.fail((p_hat <= 0) | (p_hat >= 1), "estimation share of positive residuals is 0 or 1")
    return result.finish((positive - n * p_hat) / np.sqrt(n * p_hat * (1.0 - p_hat)))


def _corrado(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Corrado (1989) rank test with Cowan (1992) window aggregation (METHODS 3.9).

    Ranks ``K_it`` of each pair's ARs over its estimation and event-period days (average
    ranks for ties, missing days left out, ``T_i`` days ranked); ``Kbar_i = (T_i + 1)/2``;
    ``d_t = mean_i (K_it - Kbar_i)`` over the cross-section's pairs with data on column t;
    ``S_K = sqrt(sum_t d_t^2 / T)`` over the T columns with data. Window (a day is a
    one-day window): ``Z = sqrt(L2) (mean of K_it - Kbar_i over the N pairs and L2 days)
    / S_K``; reference N(0,1).
    """
    m = cs.members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal")
    per_column = _member_sums(context, m, context.ranked.rank_weight)
    dev_sums = _member_sums(context, m, context.ranked.rank_dev)
    mean_dev = np.where(per_column > 0, dev_sums / per_column, 0.0)
    n_cols = (per_column > 0).sum(axis=1)
    s_k = np.sqrt((mean_dev**2).sum(axis=1) / n_cols)
    event_sum = dev_sums[:, context.event_start :]
    window_mean = np.where(cs.selector, event_sum, 0.0).sum(axis=1) / (n * cs.length)
    result.fail(n < 1, "no pairs with data")
    result.fail(~(s_k > 0), "zero rank dispersion")
    return result.finish(np.sqrt(cs.length) * window_mean / s_k)


def _corrado_zivney(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Corrado-Zivney (1992) rank test (METHODS 3.10; eventstudy2 ``Zivney``).

    Standardise every AR by the pair's ``s_i`` (``SAR = AR / s_i``); on each event-period
    day divide the SARs again by their cross-sectional s.d. (divisor ``N_tau - 1``, all
    pairs with an AR that day). ``U_it = rank_i(SAR_it) / (T_i + 1)`` within the pair over
    its ``T_i`` estimation and event-period days.

    Day: ``Z = N_0^-1/2 sum_i (U_i0 - 1/2) / S_U`` with
    ``S_U = sqrt((1/T) sum_t [N_t^-1/2 sum_i (U_it - 1/2)]^2)`` over the T columns with
    data. Window (Cowan aggregation with U, eventstudy2 ``Zivney_Cowan``):
    ``Z = sqrt(L2) (Ubar_W - 1/2) / sqrt((1/T) sum_t (Ubar_t - 1/2)^2)`` with ``Ubar``
    means over the cross-section's pairs (identical to the day form when every column
    has the same pairs). Sums run over the cross-section's pairs; reference N(0,1).
    """
    complete = ~(
        cs.selector[:, None, :] & ~context.ranked.cz_mask[None, :, context.event_start :]
    ).any(axis=2)
    m = cs.members & complete
    n = m.sum(axis=1)
    result = _TestResult.start(n, "normal")
    per_column = _member_sums(context, m, context.ranked.cz_weight)
    sums = _member_sums(context, m, context.ranked.cz_dev)
    has_data = per_column > 0
    n_cols = has_data.sum(axis=1)
    event_sums = sums[:, context.event_start :]
    if cs.is_window:
        mean_dev = np.where(has_data, sums / per_column, 0.0)
        s_u = np.sqrt((mean_dev**2).sum(axis=1) / n_cols)
        window_mean = np.where(cs.selector, event_sums, 0.0).sum(axis=1) / (n * cs.length)
        statistic = np.sqrt(cs.length) * window_mean / s_u
    else:
        scaled = np.where(has_data, sums / np.sqrt(per_column), 0.0)
        s_u = np.sqrt((scaled**2).sum(axis=1) / n_cols)
        statistic = np.where(cs.selector, event_sums, 0.0).sum(axis=1) / np.sqrt(n) / s_u
    result.fail(n < 2, "fewer than 2 pairs (cross-sectional re-scaling undefined)")
    result.fail(~(s_u > 0), "zero rank dispersion")
    return result.finish(statistic)


def _grank(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Generalised rank test GRANK, Kolari & Pynnonen (2011) (METHODS 3.11, convention 8).

    1. ``SAR_it = AR_it / s_i`` on the pair's estimation days.
    2. ``W_i = SCAR_i`` (a day's ``SAR_i,tau``), ``GSAR_i0 = W_i sqrt(1 - r_bar) / s_N(W)``
       with ``s_N`` the cross-sectional s.d. (divisor ``N - 1``). Only ``sqrt(1 - r_bar)``:
       ``s_N`` estimates the idiosyncratic dispersion ``sqrt(1 - r_bar)``, and ``S_U`` below is
       built from mean ranks on the same calendar days, so it already carries the
       cross-correlation. METHODS 3.11 step 2 (after eventstudy2) also divides by
       ``sqrt(1 + (N - 1) r_bar)``; that corrects the correlation twice and made GRANK
       undersized in the clustered Brown–Warner simulation (1.4% at N = 100, docs/validation.md).
       Stata estudy, the pinned convention 8, applies no KP factor here.
    3. Stata-estudy convention: ranks within pair over its ``n_i = L1_i + 1`` values
       (estimation SARs and ``GSAR_i0``, average ranks), ``U_it = rank / n_i - 1/2``.
    4. ``Ubar_t = mean_i U_it`` over pairs with data on t; ``S_U = sqrt((1/T) sum_t
       (N_t/N) Ubar_t^2)``, the sum over the estimation columns *and* the CAR day,
       ``T`` = number of estimation columns with data (= L1 without missing days).
    5. ``Z = Ubar_0 / S_U``, ``t = Z sqrt((T - 2) / (T - 1 - Z^2))`` ~ t(T - 2).
    """
    w, m = cs.standardized, cs.std_members
    n = m.sum(axis=1)
    result = _TestResult.start(n, "t")
    r_bar = _cross_section_r_bar(context, m)
    _kp_factor(result, r_bar, n)  # records why r_bar is unusable, where it is
    result.r_bar = r_bar
    _, sd = _mean_sd(w, m)
    result.fail(n < 2, "fewer than 2 pairs")
    result.fail(_is_constant(w, m), "zero cross-sectional dispersion")
    result.fail(
        (m & (context.n_est_obs == 0)[None, :]).any(axis=1), "a pair has no estimation residuals"
    )
    gsar = w * np.sqrt(1.0 - r_bar)[:, None] / sd[:, None]
    u_sums, u_counts, u_zero = _grank_uniform_sums(context, m, gsar)
    n_cols = (u_counts > 0).sum(axis=1)
    weighted = np.where(u_counts > 0, u_sums**2 / np.where(u_counts > 0, u_counts, 1.0), 0.0)
    s_u = np.sqrt((weighted.sum(axis=1) / n + (u_zero / n) ** 2) / n_cols)
    z = (u_zero / n) / s_u
    result.fail(~(s_u > 0), "zero rank dispersion")
    result.fail(n_cols <= 2, "fewer than 3 estimation days")
    result.fail(~(n_cols - 1 - z**2 > 0), "T - 1 - Z^2 <= 0")
    result.df = (n_cols - 2).astype(float)
    return result.finish(z * np.sqrt((n_cols - 2) / (n_cols - 1 - z**2)))


def _wilcoxon(context: _PanelContext, cs: _CrossSections) -> _TestResult:
    """Wilcoxon signed-rank test (METHODS 3.12).

    On the N nonzero ``x_i`` (AR or CAR; zeros dropped, scipy ``zero_method='wilcox'``):
    ``W+`` = sum of the average ranks of ``|x_i|`` over positive ``x_i``;
    ``z = (W+ - N(N+1)/4) / sqrt(N(N+1)(2N+1)/24)``; normal approximation without tie or
    continuity correction (Stata estudy); reference N(0,1).
    """
    x, m = cs.values, cs.members
    nonzero = m & (x != 0)
    n = nonzero.sum(axis=1).astype(float)
    result = _TestResult.start(n, "normal")
    ranks = _average_ranks(np.where(nonzero, np.abs(x), np.nan))
    w_plus = np.where(nonzero & (x > 0), ranks, 0.0).sum(axis=1)
    mean = n * (n + 1.0) / 4.0
    sd = np.sqrt(n * (n + 1.0) * (2.0 * n + 1.0) / 24.0)
    result.fail(n < 1, "no nonzero abnormal returns")
    return result.finish((w_plus - mean) / sd)


_TESTS = {
    "cs_t": _cs_t,
    "patell": _patell,
    "bmp": _bmp,
    "kp_bmp": _kp_bmp,
    "kp_patell": _kp_patell,
    "crude_dependence": _crude_dependence,
    "lamb": _lamb,
    "skew_t": _skew_t,
    "sign": _sign,
    "gen_sign": _gen_sign,
    "corrado": _corrado,
    "corrado_zivney": _corrado_zivney,
    "grank": _grank,
    "wilcoxon": _wilcoxon,
}


def _run_all(context: _PanelContext, cs: _CrossSections) -> list[tuple[str, _TestResult]]:
    return [(test_id, _TESTS[test_id](context, cs)) for test_id in TEST_IDS]


# ----------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------


def _mean_sd(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row means and sample s.d. (divisor n - 1) of ``x`` over the cells ``m``."""
    n = m.sum(axis=1)
    mean = np.where(m, x, 0.0).sum(axis=1) / n
    deviation = np.where(m, x - mean[:, None], 0.0)
    return mean, np.sqrt((deviation**2).sum(axis=1) / (n - 1))


def _is_constant(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows whose values over ``m`` are all equal (spread below a relative tolerance)."""
    high = np.where(m, x, -np.inf).max(axis=1, initial=-np.inf)
    low = np.where(m, x, np.inf).min(axis=1, initial=np.inf)
    spread = high - low
    size = np.maximum(np.abs(high), np.abs(low))
    return m.any(axis=1) & (spread <= _RELATIVE_TOLERANCE * size)


def _member_sums(context: _PanelContext, m: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``m.astype(float) @ matrix``: per cross-section sums of the member pairs' rows.

    With ``context.distinct_rows`` (:func:`scoped_tests`) the product runs over the distinct
    member sets only -- usually one, as most days and windows hold every pair.
    """
    if not context.distinct_rows or len(m) < 2:
        return m.astype(float) @ matrix
    first, inverse = _distinct_rows(m)
    return (m[first].astype(float) @ matrix)[inverse]


def _distinct_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)``: index of the first of each distinct row of the bool matrix
    ``m`` (in order of appearance) and, per row, the number of its distinct row."""
    seen: dict[bytes, int] = {}
    packed = np.packbits(m, axis=1)
    inverse = np.array([seen.setdefault(row.tobytes(), len(seen)) for row in packed], dtype=np.intp)
    return np.unique(inverse, return_index=True)[1], inverse


def _cross_section_r_bar(context: _PanelContext, m: np.ndarray) -> np.ndarray:
    """``r_bar`` of each cross-section: mean defined off-diagonal correlation among ``m``."""
    key = _members_key(m)
    if key not in context.r_bar_memo:  # kp_bmp, kp_patell and grank share member sets
        total, count = context.ranked.correlation.pair_sums(m)
        context.r_bar_memo[key] = _r_bar_from_sums(total, count)
    return context.r_bar_memo[key]


def _members_key(m: np.ndarray) -> bytes:
    """Memo key of a (K, N) member matrix."""
    return np.ascontiguousarray(m).tobytes() + repr(m.shape).encode()


def _r_bar_from_sums(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


@dataclass(frozen=True)
class _CorrelationStructure:
    """Sums of pairwise-complete Pearson correlations without the N x N matrix.

    ``corr_ij`` uses the columns where rows i and j are both finite, with means over those
    columns; a pair counts only with at least two common columns and both rows
    non-constant on them. Rows sharing one missing-data pattern ("groups") are handled
    together: for i in group A and j in group B the common columns are the intersection
    M_AB of the two patterns, so ``sum_{i in A, j in B} corr_ij`` is the inner product of
    two weighted row sums over M_AB -- O(N T) per pattern pair instead of O(N^2 T). Rows
    whose pattern is rare are correlated with every row directly, in blocks of rows.
    """

    centred: np.ndarray  # (N, T) row minus its mean, 0 where missing
    mask: np.ndarray  # (N, T) 0/1 floats
    group: np.ndarray  # (N,) group index, -1 for rows handled directly
    common: np.ndarray  # (p, p) number of columns of M_AB
    weight: np.ndarray  # (N, p) 1/sqrt(sum of squared deviations over M_{g(i)B}), 0 if invalid
    sums: np.ndarray  # (N, p) sum of centred values over M_{g(i)B}
    valid: np.ndarray  # (N, p) row usable against group B
    direct: np.ndarray  # (n_d,) indices of rows handled directly

    _MAX_GROUPS = 48
    _BLOCK_CELLS = 2_000_000

    @classmethod
    def build(cls, residuals: np.ndarray) -> _CorrelationStructure:
        finite = np.isfinite(residuals)
        count = finite.sum(axis=1)
        row_mean = np.where(finite, residuals, 0.0).sum(axis=1) / np.maximum(count, 1)
        centred = np.where(finite, residuals - row_mean[:, None], 0.0)
        mask = finite.astype(float)
        if len(finite) and (finite == finite[0]).all():  # one missing-data pattern
            patterns, inverse = finite[:1], np.zeros(len(finite), dtype=int)
            sizes = np.array([len(finite)])
        else:
            packed = np.ascontiguousarray(np.packbits(finite, axis=1))
            keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
            _, first, inverse, sizes = np.unique(
                keys, return_index=True, return_inverse=True, return_counts=True
            )
            patterns, inverse = finite[first], inverse.ravel()
        chosen = [g for g in np.argsort(-sizes, kind="stable")[: cls._MAX_GROUPS] if sizes[g] >= 2]
        lookup = np.full(len(patterns), -1)
        lookup[chosen] = np.arange(len(chosen))
        group = lookup[inverse] if len(inverse) else np.zeros(0, dtype=int)
        chosen_patterns = patterns[chosen].astype(float).reshape(len(chosen), mask.shape[1])
        common = chosen_patterns @ chosen_patterns.T
        sums = centred @ chosen_patterns.T
        squares = (centred**2) @ chosen_patterns.T
        n_common = common[np.maximum(group, 0)] if len(chosen) else np.zeros((len(group), 0))
        deviation = squares - sums**2 / np.maximum(n_common, 1.0)
        valid = (
            (group >= 0)[:, None]
            & (n_common >= 2)
            & (deviation > _RELATIVE_TOLERANCE * np.maximum(squares, np.finfo(float).tiny))
        )
        weight = np.where(valid, 1.0 / np.sqrt(np.where(valid, deviation, 1.0)), 0.0)
        return cls(
            centred=centred,
            mask=mask,
            group=group,
            common=common,
            weight=weight,
            sums=np.where(valid, sums, 0.0),
            valid=valid,
            direct=np.flatnonzero(group < 0),
        )

    def pair_sums(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum and number of defined correlations over unordered pairs within each row of m."""
        total, count = self._grouped_sums(m)
        direct_total, direct_count = self._direct_sums(m)
        return total + direct_total, count + direct_count

    def _grouped_sums(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_groups = self.common.shape[0]
        n_sections = m.shape[0]
        total, count = np.zeros(n_sections), np.zeros(n_sections)
        if n_groups == 0:
            return total, count
        n_cols = self.centred.shape[1]
        chunk = max(1, self._BLOCK_CELLS // (n_groups * n_groups * max(n_cols, 1)))
        usable = self.common >= 2
        upper = np.triu(np.ones((n_groups, n_groups), dtype=bool), k=1) & usable
        diagonal = np.diag(usable)
        for start in range(0, n_sections, chunk):
            part = m[start : start + chunk].astype(float)
            size = part.shape[0]
            # u[k, A, B] = sum_{i in A} m_ki w_i^B x_i (a T-vector, zero off A's pattern)
            u = np.zeros((size, n_groups, n_groups, n_cols))
            v = np.zeros((size, n_groups, n_groups))
            c = np.zeros((size, n_groups, n_groups))
            for a in range(n_groups):
                rows = np.flatnonzero(self.group == a)
                coef = part[:, rows, None] * self.weight[None, rows, :]  # (k, i, B)
                flat = coef.transpose(0, 2, 1).reshape(size * n_groups, len(rows))
                u[:, a] = (flat @ self.centred[rows]).reshape(size, n_groups, n_cols)
                v[:, a] = (coef * self.sums[None, rows, :]).sum(axis=1)
                c[:, a] = part[:, rows] @ self.valid[rows].astype(float)
            inner = np.einsum("kabt,kbat->kab", u, u)
            term = inner - v * v.transpose(0, 2, 1) / np.maximum(self.common, 1.0)[None]
            pairs = c * c.transpose(0, 2, 1)
            same = np.diagonal(term, axis1=1, axis2=2)
            same_count = np.diagonal(c, axis1=1, axis2=2)
            total[start : start + size] = (term * upper).sum(axis=(1, 2)) + (
                0.5 * (same - same_count) * diagonal
            ).sum(axis=1)
            count[start : start + size] = (pairs * upper).sum(axis=(1, 2)) + (
                0.5 * same_count * (same_count - 1.0) * diagonal
            ).sum(axis=1)
        return total, count

    def _direct_sums(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs with at least one directly handled row, each unordered pair once."""
        n_sections = m.shape[0]
        total, count = np.zeros(n_sections), np.zeros(n_sections)
        if len(self.direct) == 0:
            return total, count
        n_rows = self.centred.shape[0]
        column_weight = np.ones(n_rows)
        column_weight[self.direct] = 0.5  # direct-direct pairs are met twice
        weights = m.astype(float) * column_weight[None, :]
        block = max(1, self._BLOCK_CELLS // max(n_rows, 1))
        x, mask = self.centred, self.mask
        for start in range(0, len(self.direct), block):
            rows = self.direct[start : start + block]
            corr, valid = _pairwise_block(x[rows], mask[rows], x, mask)
            valid[np.arange(len(rows)), rows] = False
            row_weight = m[:, rows].astype(float)
            total += (row_weight * (np.where(valid, corr, 0.0) @ weights.T).T).sum(axis=1)
            count += (row_weight * (valid.astype(float) @ weights.T).T).sum(axis=1)
        return total, count


def _pairwise_block(
    x_rows: np.ndarray, mask_rows: np.ndarray, x_all: np.ndarray, mask_all: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete correlations of some rows with all rows (centred, zero-filled)."""
    common = mask_rows @ mask_all.T
    sum_i = x_rows @ mask_all.T
    sum_j = mask_rows @ x_all.T
    squares_i = (x_rows**2) @ mask_all.T
    squares_j = mask_rows @ (x_all**2).T
    safe = np.maximum(common, 1.0)
    cov = x_rows @ x_all.T - sum_i * sum_j / safe
    var_i = squares_i - sum_i**2 / safe
    var_j = squares_j - sum_j**2 / safe
    tiny = np.finfo(float).tiny
    valid = (
        (common >= 2)
        & (var_i > _RELATIVE_TOLERANCE * np.maximum(squares_i, tiny))
        & (var_j > _RELATIVE_TOLERANCE * np.maximum(squares_j, tiny))
    )
    corr = np.where(valid, cov / np.sqrt(np.where(valid, var_i * var_j, 1.0)), 0.0)
    return corr, valid


def _kp_factor(result: _TestResult, r_bar: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``1 / (1 + (N - 1) r_bar)``, recording why it is undefined where it is.

    ``1 + (N - 1) r_bar`` below ``_KP_FLOOR`` counts as non-positive: it is zero up to
    rounding (e.g. two perfectly anti-correlated series) and would blow the statistic up.
    """
    denominator = 1.0 + (n - 1) * r_bar
    result.fail(n < 2, "fewer than 2 pairs")
    result.fail(~np.isfinite(r_bar), "r_bar undefined (no pair of estimation residual series)")
    result.fail(~(denominator > _KP_FLOOR), "1 + (N - 1) r_bar <= 0")
    return np.where(denominator > _KP_FLOOR, 1.0 / denominator, np.nan)


def _portfolio_sd(context: _PanelContext, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S.d. (divisor L - 1) of the estimation-window AAR series of each cross-section.

    Returns ``(sd, L)`` with L the number of estimation columns where at least one of
    the cross-section's pairs has an estimation residual.
    """
    count = _member_sums(context, m, context.est_weight)
    has = count > 0
    aar = np.where(has, _member_sums(context, m, context.est_resid) / np.where(has, count, 1.0), 0.0)
    n_cols = has.sum(axis=1)
    mean = aar.sum(axis=1) / n_cols
    deviation = np.where(has, aar - mean[:, None], 0.0)
    return np.sqrt((deviation**2).sum(axis=1) / (n_cols - 1)), n_cols


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) along the last axis; NaN cells stay NaN."""
    return _ranks_and_order(values)[0]


def _ranks_and_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ranks, order, ordered)``: average ranks, the sorting permutation, sorted values.

    Sorting is along the last axis, NaN last; ``ranks`` as :func:`_average_ranks`. Ties
    are rare, so the tie-averaging pass runs only on rows that have one (without ties the
    average rank is the position + 1, the same number).
    """
    shape = values.shape
    size = shape[-1]
    flat = np.asarray(values, dtype=float).reshape(int(np.prod(shape[:-1])), size)
    order = _sort_order(flat)
    ordered = np.take_along_axis(flat, order, axis=1)
    average = np.broadcast_to(np.arange(1.0, size + 1.0), flat.shape).copy()
    tied = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if tied.any():
        average[tied] = _tied_average_ranks(ordered[tied])
    average[np.isnan(ordered)] = np.nan
    ranks = np.empty(flat.shape)
    np.put_along_axis(ranks, order, average, axis=1)
    return ranks.reshape(shape), order.reshape(shape), ordered.reshape(shape)


def _tied_average_ranks(ordered: np.ndarray) -> np.ndarray:
    """1-based average ranks of the rows of ``ordered`` (each sorted, NaN last)."""
    size = ordered.shape[-1]
    position = np.broadcast_to(np.arange(size), ordered.shape)
    first = np.ones(ordered.shape, dtype=bool)
    first[..., 1:] = ordered[..., 1:] != ordered[..., :-1]  # NaN != NaN: own group
    last = np.ones(ordered.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    start = np.maximum.accumulate(np.where(first, position, 0), axis=-1)
    end = np.flip(np.minimum.accumulate(np.flip(np.where(last, position, size), -1), -1), -1)
    return (start + end) / 2.0 + 1.0


def _sort_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, axis=1)`` up to the order within ties (NaN last), faster.

    Sorts integer keys -- the float's order-preserving bit pattern with its lowest bits
    replaced by the column index -- and reads the permutation off the low bits. Values
    that differ only in those dropped bits may come out of order: such rows (checked) are
    argsorted instead.
    """
    size = values.shape[1]
    if size < 2:
        return np.zeros(values.shape, dtype=np.intp)
    bits = np.uint64((size - 1).bit_length())
    pattern = np.ascontiguousarray(values).view(np.uint64)
    key = np.where(pattern >> np.uint64(63), ~pattern, pattern | np.uint64(1 << 63))
    key[np.isnan(values)] = np.uint64(0xFFFFFFFFFFFFFFFF)
    key = ((key >> bits) << bits) | np.arange(size, dtype=np.uint64)
    key.sort(axis=1)
    order = (key & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.intp)
    ordered = np.take_along_axis(values, order, axis=1)
    unsorted = (ordered[:, 1:] < ordered[:, :-1]).any(axis=1)
    if unsorted.any():
        order[unsorted] = np.argsort(values[unsorted], axis=1)
    return order


def _centred_ranks(values: np.ndarray) -> np.ndarray:
    """``K_it - (T_i + 1)/2`` per row (Corrado), 0 where ``values`` is NaN."""
    count = np.isfinite(values).sum(axis=1)
    centred = _average_ranks(values) - (count[:, None] + 1.0) / 2.0
    return np.where(np.isfinite(values), centred, 0.0)


def _uniform_ranks(values: np.ndarray) -> np.ndarray:
    """``rank_it / (T_i + 1) - 1/2`` per row (Corrado-Zivney), 0 where NaN."""
    count = np.isfinite(values).sum(axis=1)
    uniform = _average_ranks(values) / (count[:, None] + 1.0) - 0.5
    return np.where(np.isfinite(values), uniform, 0.0)


def _corrado_zivney_values(
    ar: np.ndarray, rank_mask: np.ndarray, scale: np.ndarray, event_start: int
) -> np.ndarray:
    """``AR / s_i``, event-period days further divided by their cross-sectional s.d."""
    sar = np.where(rank_mask, ar / scale[:, None], np.nan)
    event = sar[:, event_start:]
    has = np.isfinite(event)
    _, sd = _mean_sd(event.T, has.T)
    sd = np.where(has.sum(axis=0) >= 2, sd, np.nan)
    sar[:, event_start:] = event / sd[None, :]
    return sar


def _chunks(n_items: int, cells_per_item: int, budget: int = 2_000_000) -> list[slice]:
    """Slices over ``n_items`` so that one slice holds about ``budget`` array cells."""
    step = max(1, budget // max(cells_per_item, 1))
    return [slice(start, start + step) for start in range(0, n_items, step)]


def _grank_uniform_sums(
    context: _PanelContext, m: np.ndarray, gsar: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sums of GRANK's ``U_it`` per cross-section.

    Within pair i the rank of an estimation SAR among the estimation SARs and
    ``GSAR_i0`` is its rank among the estimation SARs plus 1 if ``GSAR_i0`` is smaller
    (1/2 if equal); the rank of ``GSAR_i0`` is 1 + the number of smaller estimation SARs
    + half the number of equal ones. ``U = rank / (n_i + 1) - 1/2`` with ``n_i`` the
    number of estimation SARs.

    Returns
    -------
    u_sums : (K, T) sums of ``U_it`` over the cross-section's pairs per estimation column
    counts : (K, T) number of those pairs with an estimation SAR on the column
    u_zero : (K,) sum of ``U_i0`` over the cross-section's pairs
    """
    weights = m.astype(float)
    inverse_size = 1.0 / (context.n_est_obs + 1.0)
    base = np.where(context.est_mask, context.ranked.est_sar_rank * inverse_size[:, None], 0.0)
    counts = _member_sums(context, m, context.est_weight)
    u_sums = _member_sums(context, m, base) - 0.5 * counts
    if context.est_sorted is not None:
        above, ties = _grank_shift_sorted(context.est_sorted, m, gsar, weights * inverse_size, u_sums)
        return u_sums, counts, _grank_zero_sum(context.n_est_obs, m, above, ties, inverse_size)
    above = np.zeros(m.shape)  # estimation SARs above GSAR_i0, per (k, i)
    ties = np.zeros(m.shape)
    q = context.est_sar[None, :, :]  # NaN off the estimation cells: compares False
    for part in _chunks(m.shape[0], context.est_sar.size):
        g = np.where(m[part], gsar[part], np.nan)[:, :, None]
        coef = weights[part] * inverse_size[None, :]
        is_above, is_tie = q > g, q == g
        above[part] = is_above.sum(axis=2)
        ties[part] = is_tie.sum(axis=2)
        # an estimation SAR moves up one rank when GSAR_i0 is below it, half a rank on a tie
        u_sums[part] += np.einsum("kn,knt->kt", coef, is_above + 0.5 * is_tie)
    return u_sums, counts, _grank_zero_sum(context.n_est_obs, m, above, ties, inverse_size)


def _grank_zero_sum(
    n_est_obs: np.ndarray,
    m: np.ndarray,
    above: np.ndarray,
    ties: np.ndarray,
    inverse_size: np.ndarray,
) -> np.ndarray:
    """Sum of ``U_i0`` per cross-section from the counts of estimation SARs above/equal."""
    smaller = n_est_obs[None, :] - above - ties
    rank_zero = 1.0 + smaller + 0.5 * ties
    return np.where(m, rank_zero * inverse_size[None, :] - 0.5, 0.0).sum(axis=1)


def _grank_shift_sorted(
    est_sorted: _SortedRows,
    m: np.ndarray,
    gsar: np.ndarray,
    coef: np.ndarray,
    u_sums: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """GRANK's rank shifts from each pair's sorted estimation SARs (adds them to ``u_sums``).

    Same quantities as the comparison loop of :func:`_grank_uniform_sums`: an estimation
    SAR is above ``GSAR_i0`` exactly when its position in the pair's sorted SARs is at least
    the number of SARs ``<= GSAR_i0``, so one integer comparison per cell replaces two float
    ones, and the counts come from a row-wise binary search.

    Returns
    -------
    above, ties : (K, N) numbers of estimation SARs above and equal to ``GSAR_i0``
    """
    g = np.where(m, gsar, np.nan)
    rows = np.broadcast_to(np.arange(m.shape[1]), m.shape)
    below, at_most = est_sorted.count_below(rows, g)
    size = np.broadcast_to(est_sorted.size, m.shape)
    missing = np.isnan(g)  # compares False with every SAR: nothing above, no tie
    below = np.where(missing, size, below)
    at_most = np.where(missing, size, at_most)
    position = est_sorted.position
    threshold = at_most.astype(position.dtype)
    for part in _chunks(m.shape[0], position.size):
        is_above = position[None, :, :] >= threshold[part][:, :, None]
        u_sums[part] += np.einsum("kn,knt->kt", coef[part], is_above)
    tie_k, tie_i = np.nonzero(at_most > below)
    if len(tie_k):
        cells = (position[tie_i] >= below[tie_k, tie_i][:, None]) & (
            position[tie_i] < at_most[tie_k, tie_i][:, None]
        )
        np.add.at(u_sums, tie_k, 0.5 * coef[tie_k, tie_i][:, None] * cells)
    return (size - at_most).astype(float), (at_most - below).astype(float)


# ----------------------------------------------------------------------------------------
# Many scopes of one panel (scoped_tests)
# ----------------------------------------------------------------------------------------

_SCOPED_COLUMNS = ["scope", "scope_id", "asset", "rel_day", "test", *_RESULT_COLUMNS, "window"]


@dataclass(frozen=True)
class _SortedRows:
    """Each row's non-NaN values in ascending order, for row-wise counting by bisection."""

    values: np.ndarray  # (N, W) ascending, NaN-padded; W a power of two above every row size
    size: np.ndarray  # (N,) number of non-NaN values of the row (infinities included)
    position: np.ndarray  # (N, T) position of each cell in its sorted row, -1 where NaN
    rank: np.ndarray  # (N, T) average ranks within the row (as _average_ranks)

    @classmethod
    def build(cls, values: np.ndarray) -> _SortedRows:
        n_rows, n_cols = values.shape
        rank, order, ordered = _ranks_and_order(values)
        missing = np.isnan(values)
        size = (~missing).sum(axis=1).astype(np.int64)
        width = 1 << int(size.max(initial=0)).bit_length()  # > every size
        padded = np.full((n_rows, width), np.nan)
        kept = min(width, n_cols)
        padded[:, :kept] = ordered[:, :kept]
        dtype = np.int16 if n_cols < np.iinfo(np.int16).max else np.int32
        position = np.empty(values.shape, dtype=dtype)
        cells = np.broadcast_to(np.arange(n_cols, dtype=dtype), values.shape)
        np.put_along_axis(position, order, cells, axis=1)
        position[missing] = -1
        return cls(values=padded, size=size, position=position, rank=rank)

    def take(self, rows: np.ndarray) -> _SortedRows:
        """The rows ``rows`` (integer index)."""
        return _SortedRows(self.values[rows], self.size[rows], self.position[rows], self.rank[rows])

    def count_below(
        self, rows: np.ndarray, queries: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Numbers of values of row ``rows[j]`` below and at most ``queries[j]``.

        Both are 0 for a NaN query (it compares False with everything).
        """
        at_most = self._bisect(rows, queries, inclusive=True)
        # "below" differs only where the row holds the query value itself: bisect those again
        width = self.values.shape[1]
        largest = self.values.ravel()[rows * width + np.maximum(at_most - 1, 0)]
        tied = (at_most > 0) & (largest == queries)
        below = at_most.copy()
        if tied.any():
            below[tied] = self._bisect(rows[tied], queries[tied], inclusive=False)
        return below, at_most

    def _bisect(self, rows: np.ndarray, queries: np.ndarray, inclusive: bool) -> np.ndarray:
        """Branch-free bisection: the NaN padding compares False, so no row bounds needed."""
        width = self.values.shape[1]
        flat = self.values.ravel()
        cursor = rows * width - 1  # flat index of the last value counted so far
        step = width >> 1
        while step:
            value = flat[cursor + step]
            cursor += step * ((value <= queries) if inclusive else (value < queries))
            step >>= 1
        return cursor - rows * width + 1


@dataclass(frozen=True)
class _ScopeInputs:
    """What :func:`scoped_tests` computes once for the whole panel.

    Everything here belongs to a pair (or a pair and a cross-section) and is therefore the
    same in every scope that holds the pair; :meth:`scope_block` slices it and adds what
    depends on the scope's membership.
    """

    arrays: dict[str, np.ndarray]  # _PAIR_FIELDS of every pair
    event_start: int
    rel_days: np.ndarray  # (E,) event-period rel_days
    labels: list[str]  # '[a,b]' per window
    est_residuals: np.ndarray  # (N, T) estimation residuals, NaN elsewhere (r_bar input)
    rank_weight: np.ndarray  # (N, T) Corrado's ranked cells as 0/1
    rank_dev: np.ndarray  # (N, T) Corrado's K_it - (T_i + 1)/2
    cz_sar: np.ndarray  # (N, T) AR / s_i on the ranked cells, NaN elsewhere
    fixed: _SortedRows  # cz_sar before event_start: Corrado-Zivney values of every scope
    est_sorted: _SortedRows  # estimation SARs (GRANK)
    days: _CrossSections  # (E, N) one per event-period day
    windows: _CrossSections | None  # (W, N) one per window, None without windows

    @classmethod
    def build(cls, panel: AbnormalPanel, windows: Sequence[tuple[int, int]]) -> _ScopeInputs:
        arrays = _pair_arrays(panel)
        ar = np.asarray(panel.ar, dtype=float)
        start = int(panel.event_start)
        is_event_col = np.arange(ar.shape[1]) >= start
        rank_mask = np.isfinite(ar) & (arrays["est_mask"] | is_event_col[None, :])
        scale = _residual_scale(arrays["s2"])
        cz_sar = np.where(rank_mask, ar / scale[:, None], np.nan)
        est_sorted = _SortedRows.build(arrays["est_sar"])
        fixed_values = np.where(is_event_col[None, :], np.nan, cz_sar)
        same = np.array_equal(fixed_values, arrays["est_sar"], equal_nan=True)
        n_days = ar.shape[1] - start
        selectors = [panel.window_selector(window).astype(bool) for window in windows]
        return cls(
            arrays=arrays,
            event_start=start,
            rel_days=panel.event_rel_days.astype(np.int64),
            labels=[f"[{first},{last}]" for first, last in windows],
            est_residuals=np.where(arrays["est_mask"], ar, np.nan),
            rank_weight=rank_mask.astype(float),
            rank_dev=_centred_ranks(np.where(rank_mask, ar, np.nan)),
            cz_sar=cz_sar,
            fixed=est_sorted if same else _SortedRows.build(fixed_values),
            est_sorted=est_sorted,
            days=_panel_sections(arrays, np.eye(n_days, dtype=bool), is_window=False),
            windows=_panel_sections(arrays, np.array(selectors), is_window=True)
            if selectors
            else None,
        )

    def context(self, rows: np.ndarray) -> _PanelContext:
        """The :class:`_PanelContext` of ``panel.subset(rows)`` (``rows`` an integer index)."""
        cz_mask, cz_dev = _scope_corrado_zivney(self, rows)
        est_sorted = self.est_sorted.take(rows)
        ranked = _RankedInputs(
            correlation=_CorrelationStructure.build(self.est_residuals[rows]),
            rank_weight=self.rank_weight[rows],
            rank_dev=self.rank_dev[rows],
            cz_mask=cz_mask,
            cz_weight=cz_mask.astype(float),
            cz_dev=cz_dev,
            est_sar_rank=est_sorted.rank,
        )
        arrays = {name: values[rows] for name, values in self.arrays.items()}
        return _PanelContext(
            **arrays,
            ranked=ranked,
            event_start=self.event_start,
            est_sorted=est_sorted,
            distinct_rows=True,
        )

    def scope_block(self, scope: str, scope_id: str, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Output columns (all but ``p_value``) of one scope, rows in output order."""
        context = self.context(rows)
        days = self.days.take(rows)
        windows = self.windows.take(rows) if self.windows is not None else None
        _prefill_r_bar(context, [cs.std_members for cs in (days, windows) if cs is not None])
        n_tests = len(TEST_IDS)
        day_rel = np.tile(self.rel_days, n_tests)
        order = np.argsort(day_rel, kind="stable")
        columns = _results_columns(_run_all(context, days))
        columns = {name: values[order] for name, values in columns.items()}
        columns["rel_day"] = day_rel[order]
        columns["window"] = np.full(len(order), "", dtype=object)
        if windows is not None:
            n_windows = len(self.labels)
            order = np.arange(n_tests * n_windows).reshape(n_tests, n_windows).T.ravel()
            extra = _results_columns(_run_all(context, windows))
            extra = {name: values[order] for name, values in extra.items()}
            extra["rel_day"] = np.full(len(order), -1, dtype=np.int64)
            extra["window"] = np.repeat(np.array(self.labels, dtype=object), n_tests)
            columns = {name: np.concatenate([columns[name], extra[name]]) for name in columns}
        columns["scope"] = np.full(len(columns["test"]), scope, dtype=object)
        columns["scope_id"] = np.full(len(columns["test"]), scope_id, dtype=object)
        columns["is_day"] = np.arange(len(columns["test"])) < len(day_rel)
        return columns


def _panel_sections(
    arrays: dict[str, np.ndarray], selector: np.ndarray, is_window: bool
) -> _CrossSections:
    """Cross-sections of every pair of the panel (sliced per scope with ``take``)."""
    return _CrossSections.from_arrays(
        arrays["event_ar"], arrays["cov_factor"], arrays["s2"], selector, is_window
    )


def _scope_corrado_zivney(inputs: _ScopeInputs, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Corrado-Zivney ``cz_mask`` and ``cz_dev`` of the pairs ``rows`` as a panel of their own.

    The same numbers as ``_uniform_ranks(_corrado_zivney_values(...))`` on the subset, without
    sorting it: the event-period values depend on the scope (each day's cross-sectional s.d.
    over the scope's pairs) and are ranked by bisection among the pair's fixed values (sorted
    once) and by comparison among themselves; a fixed value keeps its rank among the fixed
    values plus one for each event value below it and one half for each equal one. Ranks are
    integers or halves, so they are exact and the values equal the subset's bit for bit.
    """
    start = inputs.event_start
    sar = inputs.cz_sar[rows]
    event = sar[:, start:]
    has = np.isfinite(event)
    _, sd = _mean_sd(event.T, has.T)
    sd = np.where(has.sum(axis=0) >= 2, sd, np.nan)
    value = event / sd[None, :]
    fixed = sar[:, :start]
    below, at_most = inputs.fixed.count_below(np.broadcast_to(rows[:, None], value.shape), value)
    among_below = (value[:, None, :] < value[:, :, None]).sum(axis=2)
    among_at_most = (value[:, None, :] <= value[:, :, None]).sum(axis=2)
    ties = (at_most - below) + (among_at_most - among_below)
    event_rank = (below + among_below) + (ties + 1) / 2.0
    count = np.isfinite(fixed).sum(axis=1) + np.isfinite(value).sum(axis=1)
    event_dev = np.where(np.isfinite(value), event_rank / (count[:, None] + 1.0) - 0.5, 0.0)
    # twice[i, j]: event values below the j-th smallest fixed value, twice, plus equal ones
    n_rows, width = len(rows), inputs.fixed.values.shape[1] + 1
    valid = ~np.isnan(value)
    offset = (np.arange(n_rows) * width)[:, None]
    steps = np.bincount(
        np.concatenate([(offset + at_most)[valid], (offset + below)[valid]]),
        minlength=n_rows * width,
    )
    twice = np.cumsum(steps.reshape(n_rows, width), axis=1)
    position = np.maximum(inputs.fixed.position[rows, :start], 0).astype(np.intp)
    fixed_rank = inputs.fixed.rank[rows, :start] + 0.5 * np.take_along_axis(twice, position, 1)
    fixed_dev = np.where(np.isfinite(fixed), fixed_rank / (count[:, None] + 1.0) - 0.5, 0.0)
    cz_mask = np.concatenate([np.isfinite(fixed), np.isfinite(value)], axis=1)
    return cz_mask, np.concatenate([fixed_dev, event_dev], axis=1)


def _prefill_r_bar(context: _PanelContext, member_sets: list[np.ndarray]) -> None:
    """``r_bar`` of every cross-section of ``member_sets`` in one pass over distinct member sets."""
    stacked = np.concatenate(member_sets, axis=0)
    if stacked.shape[0] == 0 or stacked.shape[1] == 0:
        return
    first, inverse = _distinct_rows(stacked)
    total, count = context.ranked.correlation.pair_sums(stacked[first])
    r_bar = _r_bar_from_sums(total, count)[inverse]
    start = 0
    for m in member_sets:
        context.r_bar_memo[_members_key(m)] = r_bar[start : start + len(m)]
        start += len(m)


def _scoped_frame(blocks: list[dict[str, np.ndarray]], alternative: str) -> pd.DataFrame:
    """One frame of every scope's rows (:data:`_SCOPED_COLUMNS`), p-values computed here."""
    if not blocks:
        return pd.DataFrame({name: [] for name in _SCOPED_COLUMNS})
    columns = {name: np.concatenate([block[name] for block in blocks]) for name in blocks[0]}
    columns["p_value"] = _p_value(
        columns["statistic"], columns["distribution"], columns["df"], alternative
    )
    columns["rel_day"] = pd.arrays.IntegerArray(columns["rel_day"], ~columns["is_day"])
    columns["asset"] = np.full(len(columns["test"]), "", dtype=object)
    return pd.DataFrame({name: columns[name] for name in _SCOPED_COLUMNS})


# ----------------------------------------------------------------------------------------
# p-values and frames
# ----------------------------------------------------------------------------------------


def _check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def _p_value(
    statistic: np.ndarray, distribution: str | np.ndarray, df: np.ndarray, alternative: str
) -> np.ndarray:
    """p-value of ``statistic`` under N(0,1) or t(df) (per row) for ``alternative``."""
    statistic = np.asarray(statistic, dtype=float)
    is_t = np.broadcast_to(np.asarray(distribution) == "t", statistic.shape)
    df = np.broadcast_to(np.asarray(df, dtype=float), statistic.shape)

    def cdf(x: np.ndarray) -> np.ndarray:
        # each function only where it applies: elementwise, so the values are unchanged
        out = np.empty(x.shape)
        out[is_t] = special.stdtr(df[is_t], x[is_t])
        out[~is_t] = special.ndtr(x[~is_t])
        return out

    if alternative == "two-sided":
        p = 2.0 * cdf(-np.abs(statistic))
    else:  # only the chosen tail is evaluated
        p = cdf(-statistic if alternative == "greater" else statistic)
    return np.where(np.isfinite(statistic), np.minimum(p, 1.0), np.nan)


def _results_frame(results: list[tuple[str, _TestResult]], alternative: str) -> pd.DataFrame:
    """Stack per-test results (each over K cross-sections) test by test."""
    columns = _results_columns(results)
    p_value = _p_value(columns["statistic"], columns["distribution"], columns["df"], alternative)
    return pd.DataFrame({name: columns[name] if name != "p_value" else p_value for name in
                         ["test", *_RESULT_COLUMNS]})


def _results_columns(results: list[tuple[str, _TestResult]]) -> dict[str, np.ndarray]:
    """``test`` and every column of :data:`_RESULT_COLUMNS` but ``p_value``, test by test."""
    sizes = [len(result.statistic) for _, result in results]
    r_bar = np.concatenate(
        [r.r_bar if r.r_bar is not None else np.full(len(r.statistic), np.nan) for _, r in results]
    )
    return {
        "test": np.repeat([test_id for test_id, _ in results], sizes).astype(object),
        "statistic": np.concatenate([result.statistic for _, result in results]),
        "distribution": np.repeat([result.distribution for _, result in results], sizes).astype(
            object
        ),
        "df": np.concatenate([result.df for _, result in results]),
        "n": np.concatenate([result.n for _, result in results]).astype(np.int64),
        "r_bar": r_bar.astype(float),
        "note": np.concatenate([result.note for _, result in results]).astype(object),
    }


# ----------------------------------------------------------------------------------------
# Single-asset tests (METHODS section 2)
# ----------------------------------------------------------------------------------------


@dataclass
class _SingleBlock:
    """Rows of the single-asset tests for one set of cells: (N, K) arrays per test."""

    rel_day: np.ndarray | None  # (K,) or None for a window
    window: str
    ts_t: _TestResult
    sq: _TestResult
    sq_p: np.ndarray
    ts_t_p: np.ndarray


def _single_asset_day_block(
    panel: AbnormalPanel, residuals: np.ndarray, alternative: str
) -> _SingleBlock:
    event_ar = np.asarray(panel.event_ar, dtype=float)
    return _single_block(
        panel,
        values=event_ar,
        variance=panel.s2[:, None] * panel.variance_factor,
        reference=residuals[:, None, :],
        alternative=alternative,
        rel_day=panel.event_rel_days.astype(np.int64),
        window="",
        counts=_sorted_reference_counts(residuals, event_ar),
    )


def _single_asset_window_block(
    panel: AbnormalPanel, residuals: np.ndarray, window: tuple[int, int], alternative: str
) -> _SingleBlock:
    car, var_car = panel.car(window)
    length = int(panel.window_selector(window).sum())
    if residuals.shape[1] >= length:
        sums = _window_sums(residuals, length)
    else:
        sums = np.full((residuals.shape[0], 1), np.nan)
    return _single_block(
        panel,
        values=car[:, None],
        variance=var_car[:, None],
        reference=sums[:, None, :],
        alternative=alternative,
        rel_day=None,
        window=f"[{window[0]},{window[1]}]",
    )


def _single_block(
    panel: AbnormalPanel,
    values: np.ndarray,
    variance: np.ndarray,
    reference: np.ndarray,
    alternative: str,
    rel_day: np.ndarray | None,
    window: str,
    counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> _SingleBlock:
    """ts_t and sq for the (N, K) cells ``values`` against their (N, 1, M) reference sets.

    ``counts``, when given, are the numbers of reference values ``<=`` and ``>=`` each cell
    (as :func:`_direct_reference_counts` would return them), computed by the caller.
    """
    shape = values.shape
    dof = np.broadcast_to(np.asarray(panel.n_est - panel.k, dtype=float)[:, None], shape)
    n_est = np.broadcast_to(np.asarray(panel.n_est, dtype=np.int64)[:, None], shape)
    ts_t = _TestResult.start(n_est.ravel(), "t")
    ts_t.df = dof.ravel().copy()
    ts_t.fail(~np.isfinite(values).ravel(), "abnormal return missing")
    ts_t.fail(~(dof > 0).ravel(), "no residual degrees of freedom (L1 - k <= 0)")
    ts_t.fail(~(variance > 0).ravel(), "non-positive prediction-error variance")
    ts_t.finish((values / np.sqrt(variance)).ravel())

    size = np.isfinite(reference).sum(axis=2)
    if counts is None:
        counts = _direct_reference_counts(reference, values)
    n_at_most, n_at_least = counts
    at_most = n_at_most / size
    # permutation p-values (k + 1) / (n + 1): exact size under exchangeability; the plain
    # empirical CDF of METHODS 2.2 rejects 2*7/251 = 5.6% at L1 = 250 by construction
    # (docs/validation.md, defect 2) and gives p = 0 beyond the sample.
    lower = (n_at_most + 1.0) / (size + 1.0)
    upper = (n_at_least + 1.0) / (size + 1.0)
    sq = _TestResult.start(np.broadcast_to(size, shape).ravel(), "empirical")
    sq.fail(~np.isfinite(values).ravel(), "abnormal return missing")
    sq.fail((np.broadcast_to(size, shape) < 1).ravel(), "no estimation residuals to compare with")
    sq.finish(at_most.ravel())
    p = {
        "two-sided": np.minimum(1.0, 2.0 * np.minimum(lower, upper)),
        "greater": upper,
        "less": lower,
    }[alternative].ravel()
    return _SingleBlock(
        rel_day=rel_day,
        window=window,
        ts_t=ts_t,
        sq=sq,
        sq_p=np.where(sq.note == "", p, np.nan),
        ts_t_p=_p_value(ts_t.statistic, "t", ts_t.df, alternative),
    )


def _direct_reference_counts(
    reference: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of reference values ``<=`` and ``>=`` each cell, by direct comparison.

    Parameters
    ----------
    reference : ndarray, shape (N, 1, M)
        Each pair's reference set, NaN-padded (NaN compares False).
    values : ndarray, shape (N, K)
        The cells compared with their pair's reference set.

    Returns
    -------
    tuple of ndarray, shape (N, K)
        ``(n_at_most, n_at_least)`` as floats; both 0 for a NaN cell.
    """
    shape = values.shape
    n_at_most, n_at_least = np.zeros(shape), np.zeros(shape)
    for part in _chunks(shape[0], shape[1] * reference.shape[2]):
        v = values[part][:, :, None]  # NaN residual padding compares False
        n_at_most[part] = (reference[part] <= v).sum(axis=2)
        n_at_least[part] = (reference[part] >= v).sum(axis=2)
    return n_at_most, n_at_least


def _sorted_reference_counts(
    reference: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_direct_reference_counts` by sorting each reference row once and bisecting.

    Counts are integers from the same ``<=`` / ``<`` comparisons, so they equal the direct
    counts exactly; the cost is O(N M log M + N K log M) instead of O(N K M).

    Parameters
    ----------
    reference : ndarray, shape (N, M)
        Each pair's reference set, NaN-padded; no infinities expected but allowed.
    values : ndarray, shape (N, K)
        The cells compared with their pair's reference set.

    Returns
    -------
    tuple of ndarray, shape (N, K)
        ``(n_at_most, n_at_least)`` as floats; both 0 for a NaN cell.
    """
    n_rows, n_ref = reference.shape
    size = (~np.isnan(reference)).sum(axis=1)
    width = 1 << int(n_ref).bit_length()  # > n_ref: at least one NaN pad per row
    padded = np.full((n_rows, width), np.nan)
    padded[:, :n_ref] = np.sort(reference, axis=1)  # NaN last
    rows = np.broadcast_to(np.arange(n_rows, dtype=np.intp)[:, None], values.shape)
    at_most = _bisect_sorted(padded, rows, values, inclusive=True)
    below = _bisect_sorted(padded, rows, values, inclusive=False)
    at_least = np.where(np.isnan(values), 0, size[:, None] - below)
    return at_most.astype(float), at_least.astype(float)


def _bisect_sorted(
    padded: np.ndarray, rows: np.ndarray, queries: np.ndarray, inclusive: bool
) -> np.ndarray:
    """Number of values of row ``rows`` of ``padded`` that are ``<=`` (``<``) each query.

    ``padded`` is (N, W) ascending with a NaN tail, ``W`` a power of two; the NaN padding
    compares False, so the branch-free bisection needs no row bounds. A NaN query counts 0.
    """
    width = padded.shape[1]
    flat = padded.ravel()
    base = rows * width
    cursor = base - 1  # flat index of the last value counted so far
    step = width >> 1
    while step:
        value = flat[cursor + step]
        cursor += step * ((value <= queries) if inclusive else (value < queries))
        step >>= 1
    return cursor - base + 1


def _window_sums(residuals: np.ndarray, length: int) -> np.ndarray:
    """Sums of ``length`` consecutive columns, bit for bit as numpy's pairwise ``sum``.

    Equal (up to the sign of a zero) to
    ``sliding_window_view(residuals, length, axis=1).sum(axis=2)``, which numpy reduces
    with its pairwise summation (blocks of eight accumulators below 128 terms, halving
    above); the same additions are done here on whole shifted column slices, which avoids
    one tiny strided reduction per cell.

    Parameters
    ----------
    residuals : ndarray, shape (N, M)
        Rows of values, NaN-padded (a sum touching a NaN is NaN).
    length : int
        Window length, ``1 <= length <= M``.

    Returns
    -------
    ndarray, shape (N, M - length + 1)
    """
    n_rows, n_cols = residuals.shape
    out = np.empty((n_rows, n_cols - length + 1))
    for part in _chunks(n_rows, n_cols, budget=100_000):  # cache-sized row blocks
        out[part] = _window_sums_rows(residuals[part], length)
    return out


def _window_sums_rows(residuals: np.ndarray, length: int) -> np.ndarray:
    """:func:`_window_sums` of one block of rows."""
    n_sums = residuals.shape[1] - length + 1

    def column(i: int) -> np.ndarray:
        return residuals[:, i : i + n_sums]

    def pairwise(first: int, n: int) -> np.ndarray:
        if n < 8:
            total = 0.0 + column(first)
            for i in range(first + 1, first + n):
                total = total + column(i)
            return total
        if n <= 128:
            acc = [column(first + j).copy() for j in range(8)]
            i = 8
            while i < n - (n % 8):
                for j in range(8):
                    acc[j] += column(first + i + j)
                i += 8
            left = (acc[0] + acc[1]) + (acc[2] + acc[3])
            total = left + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
            for k in range(i, n):
                total += column(first + k)
            return total
        half = n // 2
        half -= half % 8
        return pairwise(first, half) + pairwise(first + half, n - half)

    return pairwise(0, length)


def _packed_estimation_residuals(panel: AbnormalPanel) -> np.ndarray:
    """Each pair's estimation residuals in sample order, left-aligned, NaN-padded."""
    ar = np.asarray(panel.ar, dtype=float)
    keep = np.asarray(panel.is_estimation, dtype=bool) & np.isfinite(ar)
    order = np.argsort(~keep, axis=1, kind="stable")
    packed = np.take_along_axis(np.where(keep, ar, np.nan), order, axis=1)
    return packed[:, : max(int(keep.sum(axis=1).max(initial=0)), 1)]


def _single_asset_frame(panel: AbnormalPanel, blocks: list[_SingleBlock]) -> pd.DataFrame:
    """Rows ordered by pair, then days before windows, then ts_t before sq."""
    n_pairs = panel.n_pairs
    parts: dict[str, list[np.ndarray]] = {}
    distributions = sorted(
        {b.ts_t.distribution for b in blocks} | {b.sq.distribution for b in blocks}
    )
    for order, block in enumerate(blocks):
        cells = len(block.ts_t.statistic) // max(n_pairs, 1) if n_pairs else 0
        pair = np.repeat(np.arange(n_pairs), cells)
        cell = np.tile(np.arange(cells), n_pairs)
        is_window = block.rel_day is None
        rel_day = np.zeros(len(pair), dtype=np.int64) if is_window else block.rel_day[cell]
        for test_rank, (test_id, result, p) in enumerate(
            (("ts_t", block.ts_t, block.ts_t_p), ("sq", block.sq, block.sq_p))
        ):
            columns = {
                "pair": pair,
                "rel_day": rel_day.astype(np.int64),
                "rel_day_na": np.full(len(pair), is_window),
                "statistic": result.statistic,
                "p_value": p,
                "_distribution": np.full(len(pair), distributions.index(result.distribution)),
                "df": result.df.astype(float),
                "n": result.n.astype(np.int64),
                "note": result.note.astype(object),
                "_block": np.full(len(pair), order),
                "_cell": cell,
                "_test": np.full(len(pair), test_rank),
            }
            for name, values in columns.items():
                parts.setdefault(name, []).append(values)
    if not parts:
        return pd.DataFrame({column: [] for column in _SINGLE_COLUMNS})
    stacked = {name: np.concatenate(values) for name, values in parts.items()}
    rows = np.lexsort((stacked["_test"], stacked["_cell"], stacked["_block"], stacked["pair"]))
    out = {name: values[rows] for name, values in stacked.items()}
    out["event_id"] = _labels_taken(panel.event_ids, out["pair"])
    out["asset"] = _labels_taken(panel.assets, out["pair"])
    out["window"] = _labels_taken([block.window for block in blocks], out["_block"])
    out["test"] = _labels_taken(["ts_t", "sq"], out["_test"])
    out["distribution"] = _labels_taken(distributions, out["_distribution"])
    out["rel_day"] = pd.arrays.IntegerArray(out["rel_day"], out["rel_day_na"])
    return pd.DataFrame({column: out[column] for column in _SINGLE_COLUMNS})


def _labels_taken(
    labels: Sequence[str] | np.ndarray, codes: np.ndarray
) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as the column :class:`~pandas.DataFrame` would make of it.

    The labels go through the frame's own type inference once (so the column dtype is what
    an object array of the same strings gives, e.g. ``str`` under pandas 3) and are then
    gathered with ``take``, which is much faster than converting one string per row.

    Parameters
    ----------
    labels : sequence of str or ndarray
        The distinct labels (or one per pair).
    codes : ndarray of int
        Index into ``labels`` per output row.

    Returns
    -------
    ndarray or ExtensionArray
        One label per row.
    """
    labels = np.asarray(labels, dtype=object)
    codes = np.asarray(codes, dtype=np.intp)
    if len(labels) == 0 or len(codes) == 0:
        return labels[codes]
    return pd.Series(labels).array.take(codes)
