"""Volatility tests across the pairs of a scope (docs/methods.md#cs-variance-ratio, #beaver-u; scopes: #scopes).

``cs_variance_ratio`` and ``cs_standardized_variance_ratio`` average per-pair log variance
ratios, each centred (and scaled) by the pair's own estimation-window null, and test the mean
with a cross-sectional t: they assume independent pairs and are **not** robust to same-date
clustering (17-51% at 5% on real Tokyo returns with a shared day 0; 4.7-5.2% for independent
pairs). ``beaver_u`` calibrates the mean squared standardised AR of the scope on the scope's
own estimation-window dates, so same-date correlation is in its null; it keeps its size under
clustering for windows of 1-2 days, but over longer windows market-wide volatility regimes
make it reject about 9% of the time. Every row's message says which applies.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy.panel import AbnormalPanel
from eventstudy.registry import VOLATILITY_MEASURES
from eventstudy.scopes import calendar_span, overlapping_periods, shares_an_event
from eventstudy.volatility.base import (
    EMPIRICAL,
    SCOPE_COLUMNS,
    UNSIZED_SCOPE_NOTE,
    ZERO_VARIANCE,
    two_sided,
    window_arrays,
    window_label,
)
from eventstudy.volatility.calibration import PERMUTATIONS, permutation_p, subsets
from eventstudy.volatility.pair import PairInputs, variance_ratio, variance_ratio_null

BEAVER_MIN_BLOCKS = 20
BEAVER_MIN_BLOCK_COVERAGE = 0.5
"""A Beaver null block is used when at least this share of its (pair, day) cells has a
residual."""


BEAVER_CLUSTER_ROBUST_DAYS = 2
"""``beaver_u`` keeps its size under same-date clustering for windows of at most this many days
(real Tokyo returns, 30 stocks on one pseudo day 0: 4.6% and 5.0% for 1 and 2 days, 9.0% and
8.6% for 6 and 16 days; ``benchmarks/size_power_volatility.py``)."""


def clustering_note(measure: str, l2: int) -> str:
    """Whether a cross-sectional measure over an ``l2``-day window keeps its size under same-date
    clustering (the registry's flag; ``beaver_u`` by window length)."""
    if measure == "beaver_u":
        if l2 <= BEAVER_CLUSTER_ROBUST_DAYS:
            return "robust to same-date clustering (windows of up to 2 days)"
        return ("not robust to same-date clustering for windows longer than 2 days "
                "(market-wide volatility regimes)")
    if VOLATILITY_MEASURES[measure].robust_to_clustering:
        return "robust to same-date clustering"
    return "not robust to same-date clustering (assumes independent pairs)"


def scope_row(window: tuple[int, int], measure: str, estimate: float = np.nan,
              statistic: float = np.nan, p_value: float = np.nan, distribution: str = "",
              df: str = "", n: int = 0, status: str = "ok", message: str = "",
              n_null: int = 0, p_parametric: float = np.nan,
              parametric_reference: str = "") -> dict:
    """One row with :data:`SCOPE_COLUMNS` (numbers blanked unless ``status == 'ok'``)."""
    if status != "ok":
        estimate = statistic = p_value = p_parametric = np.nan
        distribution = df = parametric_reference = ""
        n_null = 0
    return {"window": window_label(window), "measure": measure, "estimate": estimate,
            "statistic": statistic, "p_value": p_value, "distribution": distribution, "df": df,
            "n": n, "n_null": n_null, "p_value_parametric": p_parametric,
            "parametric_reference": parametric_reference, "status": status, "message": message}


# ----------------------------------------------------------------------------- per-pair inputs


@dataclass(frozen=True)
class WindowInputs:
    """Per-pair quantities of one window that the scopes aggregate (computed once per panel).

    Attributes
    ----------
    centred, standardised : ndarray, shape (N,)
        ``ln F_i - m_i`` and ``(ln F_i - m_i) / sd_i``, with ``m_i``, ``sd_i`` the mean and s.d.
        of ``ln F`` over the pair's permutation null (:func:`variance_ratio_null`; NaN where
        not available).
    u_sum : ndarray, shape (N,)
        ``sum_{W2} AR^2 / (s^2 C)`` (NaN where the window is incomplete).
    resid2 : ndarray, shape (N, G)
        Squared estimation residuals on the grid columns before the event period (NaN on
        other days).
    dates : ndarray, shape (N, D + L2)
        Per-day values on the scale of ``s^2`` -- ``e^2 L1 / (L1 - k)`` on the ``D`` grid
        columns before the event period that hold an estimation day of some pair, then
        ``AR^2 / C`` on the window's columns -- for the permutation of dates.
    l2 : int
    """

    centred: np.ndarray
    standardised: np.ndarray
    u_sum: np.ndarray
    resid2: np.ndarray
    dates: np.ndarray
    l2: int

    @classmethod
    def of(cls, panel: AbnormalPanel, window: tuple[int, int],
           inputs: PairInputs | None = None) -> WindowInputs:
        inputs = inputs or PairInputs.of(panel)
        ratio = variance_ratio(panel, window, inputs)
        ar, factor, _ = window_arrays(panel, window)
        l2 = ar.shape[1]
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            log_null = np.log(variance_ratio_null(panel, window, inputs))
            log_null[~np.isfinite(log_null)] = np.nan
            centre = np.nanmean(log_null, axis=1)
            spread = np.nanstd(log_null, axis=1, ddof=1)
            centred = np.where(ratio.status == "ok", np.log(ratio.statistic) - centre, np.nan)
            standardised = centred / spread
            s2 = np.asarray(panel.s2, dtype=float)
            usable = (np.isfinite(ar).all(axis=1) & np.isfinite(factor).all(axis=1)
                      & (s2 > ZERO_VARIANCE) & (panel.dof > 0))
            u_sum = np.where(usable, (ar**2 / (s2[:, None] * factor)).sum(axis=1), np.nan)
            resid2 = panel.estimation_residuals()[:, :panel.event_start] ** 2
            used = np.isfinite(resid2).any(axis=0)
            scaled = resid2[:, used] * (panel.n_est / panel.dof)[:, None]
            dates = np.concatenate([scaled, ar**2 / factor], axis=1)
        return cls(centred, standardised, u_sum, resid2, dates, l2)


# ----------------------------------------------------------------------------- tests


def _cross_sectional_t(window: tuple[int, int], measure: str, values: np.ndarray,
                       message: str) -> dict:
    """``t = mean / (sd / sqrt(N)) ~ t(N - 1)``, two-sided p."""
    values = values[np.isfinite(values)]
    n = len(values)
    note = f"{message}; {clustering_note(measure, window[1] - window[0] + 1)}"
    if n < 2:
        return scope_row(window, measure, n=n, status="insufficient",
                         message=f"{n} pair(s) with a calibrated log variance ratio; need 2")
    sd = float(np.std(values, ddof=1))
    if not sd > 0:
        return scope_row(window, measure, n=n, status="insufficient",
                         message="no cross-sectional dispersion (sd = 0)")
    mean = float(np.mean(values))
    t = mean / (sd / math.sqrt(n))
    p = float(2.0 * stats.t.sf(abs(t), n - 1))
    return scope_row(window, measure, mean, t, p, "t", str(n - 1), n, "ok", note)


def cs_variance_ratio(window: tuple[int, int], data: WindowInputs,
                      rows: np.ndarray) -> list[dict]:
    """Cross-sectional t tests on per-pair log variance ratios (docs/methods.md#cs-variance-ratio).

    ``delta_i = ln F_i - m_i`` with ``F_i`` the pair's variance ratio and ``m_i`` the mean of
    ``ln F`` over its permutation null (random subsets of its pooled estimation and window
    days): each pair is centred at its own empirical null,
    so the test keeps its size on fat-tailed returns (a normal-theory centring
    ``E ln F(L2, d)`` does not: ``E ln`` of a mean of squared t(5) variables is larger).

    * ``cs_variance_ratio``: estimate ``mean_i delta_i``; ``t`` on ``delta_i``.
    * ``cs_standardized_variance_ratio``: ``S_i = delta_i / sd_i`` (``sd_i`` = s.d. of ``ln F``
      over the permutation null); estimate ``mean S``; ``t`` on ``S_i``.

    Both use ``t = mean / (sd / sqrt(N)) ~ t(N - 1)`` over the ``rows`` of the scope, which
    assumes independent pairs (not robust to same-date clustering; see :func:`beaver_u`).
    """
    return [
        _cross_sectional_t(window, "cs_variance_ratio", data.centred[rows],
                           "delta_i = ln F_i - mean ln F of the pair's permutation null"),
        _cross_sectional_t(window, "cs_standardized_variance_ratio", data.standardised[rows],
                           "S_i = delta_i / sd of ln F of the pair's permutation null"),
    ]


def _beaver_null(resid2: np.ndarray, l2: int) -> tuple[np.ndarray, np.ndarray]:
    """Ubar of every run of ``l2`` grid columns and its number of (pair, day) cells.

    Each pair's squared residuals in a block are scaled by that pair's mean squared residual
    over its *other* estimation days (leave-block-out, as the event window is scaled by a
    variance it is not part of).
    """
    valid = np.isfinite(resid2)
    values = np.where(valid, resid2, 0.0)
    sums = np.concatenate([np.zeros((len(values), 1)), np.cumsum(values, axis=1)], axis=1)
    counts = np.concatenate([np.zeros((len(values), 1)), np.cumsum(valid, axis=1)], axis=1)
    block_sum = sums[:, l2:] - sums[:, :-l2]
    block_count = counts[:, l2:] - counts[:, :-l2]
    with np.errstate(all="ignore"):
        rest = (sums[:, -1:] - block_sum) / (counts[:, -1:] - block_count)
        scaled = np.where(block_count > 0, block_sum / rest, 0.0)
        cells = block_count.sum(axis=0)
        return scaled.sum(axis=0) / cells, cells


def beaver_u(window: tuple[int, int], data: WindowInputs, rows: np.ndarray) -> dict:
    """Beaver U across pairs with an estimation-window (crude-dependence) null.

    ``U_{i,tau} = AR_{i,tau}^2 / (s_i^2 C_{i,tau})``; ``Ubar`` = mean over the scope's pairs
    and window days (estimate and statistic; 1 under H0). Null: the same mean for every run of
    ``L2`` consecutive grid columns before the event period, each pair's in-sample squared
    residuals scaled by their mean over the pair's other estimation days (leave-block-out); a
    block is used when at least half its cells have a residual, and at least 20 blocks are
    required. A second reference permutes *dates*: ``Ubar`` over 999 random sets of ``L2``
    columns of the pooled estimation and window dates, each pair's values scaled by their mean
    over its other pooled days (:func:`_date_null`; exact for dates independent over time,
    whatever the tails). Each reference gives a two-sided permutation p
    ``min(1, 2 min(k_ge + 1, k_le + 1) / (n + 1))`` (docs/methods.md#empirical-p); the reported p is the
    larger (for a one-day window, where blocks are dates, the date p). Both keep every pair of a date together, so same-date correlation is in the null.
    The independence-based ``N L2 Ubar ~ chi2(N L2)`` p-value is in ``p_value_parametric``.
    """
    usable = rows[np.isfinite(data.u_sum[rows])]
    n, l2 = len(usable), data.l2
    if n == 0:
        return scope_row(window, "beaver_u", status="insufficient",
                         message="no pair with a complete window and positive s^2")
    u_bar = float(data.u_sum[usable].sum() / (n * l2))
    null, count = _beaver_null(data.resid2[usable], l2)
    null = null[count >= BEAVER_MIN_BLOCK_COVERAGE * n * l2]
    if len(null) < BEAVER_MIN_BLOCKS:
        return scope_row(window, "beaver_u", n=n, status="insufficient",
                         message=f"{len(null)} estimation blocks of {l2} days; "
                                 f"need {BEAVER_MIN_BLOCKS}")
    p_blocks = permutation_p(np.array([u_bar]), null[None, :])[0]
    p_dates = permutation_p(np.array([u_bar]), _date_null(data.dates[usable], l2)[None, :])[0]
    p = p_dates if l2 == 1 else max(p_blocks, p_dates)  # one-day blocks are dates
    naive = n * l2 * u_bar
    naive_p = float(two_sided(stats.chi2.sf(naive, n * l2), stats.chi2.cdf(naive, n * l2)))
    message = (f"nulls from {len(null)} estimation blocks and {PERMUTATIONS} permuted "
               f"date sets of the scope's own dates; {clustering_note('beaver_u', l2)}")
    return scope_row(window, "beaver_u", u_bar, u_bar, p, EMPIRICAL, "", n, "ok", message,
                     n_null=len(null), p_parametric=naive_p,
                     parametric_reference=f"chi2({n * l2}), independent pairs")


def _date_null(dates: np.ndarray, l2: int) -> np.ndarray:
    """``Ubar`` of the scope over every random set of ``l2`` pooled dates, shape (B,).

    For a set ``S``: ``sum_i sum_{t in S} x_it / mean_{t not in S} x_it`` over the number of
    cells of ``S`` (pairs without a value on a date add nothing).
    """
    valid = np.isfinite(dates)
    values = np.where(valid, dates, 0.0)
    total, count = values.sum(axis=1), valid.sum(axis=1)
    picks = subsets(dates.shape[1], l2)
    scaled = np.zeros(len(picks))
    cells = np.zeros(len(picks))
    chunk = max(1, 2_000_000 // (len(picks) * l2))
    with np.errstate(all="ignore"):
        for start in range(0, len(dates), chunk):
            part = slice(start, start + chunk)
            sums = values[part][:, picks].sum(axis=2)
            counts = valid[part][:, picks].sum(axis=2)
            rest = (total[part, None] - sums) / (count[part, None] - counts)
            scaled += np.where(counts > 0, sums / rest, 0.0).sum(axis=0)
            cells += counts.sum(axis=0)
        return scaled / cells


# ----------------------------------------------------------------------------- tables


def scoped_volatility(panel: AbnormalPanel, windows: Sequence[tuple[int, int]],
                      scopes: Sequence[np.ndarray],
                      inputs: PairInputs | None = None,
                      assume_independent: bool | None = None) -> list[pd.DataFrame]:
    """Cross-sectional volatility rows of every scope (one frame per scope, in order).

    The per-pair inputs of each window are computed once for the whole panel; a scope only
    selects its rows. In a scope whose pairs' event periods share trading days, a measure
    that does not keep its size under same-date clustering (``cs_variance_ratio``,
    ``cs_standardized_variance_ratio``; ``beaver_u`` over more than 2 days) gets status
    ``'not_reported'`` with the reason in ``message``.

    Parameters
    ----------
    panel : AbnormalPanel
    windows : sequence of (a, b)
    scopes : sequence of ndarray of bool, shape (N,)
        The pairs of each scope.
    inputs : PairInputs, optional
        Estimation-window arrays of ``panel`` (computed here if not given).
    assume_independent : bool, optional
        ``True`` reports every measure in every scope (size studies of the measures
        themselves); default: decided per scope from the pairs' event dates.
    """
    inputs = inputs or PairInputs.of(panel)
    per_window = [(window, WindowInputs.of(panel, window, inputs)) for window in windows]
    days = panel.event_calendar_days()
    spans = [calendar_span(days, panel.window_selector(window).astype(bool)) for window in windows]
    frames = []
    for mask in scopes:
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        one_event = shares_an_event(np.asarray(panel.event_ids)[rows])
        records: list[dict] = []
        for (window, data), (first, last) in zip(per_window, spans):
            clustered = assume_independent is False or (
                assume_independent is None
                and (one_event or overlapping_periods(first[rows], last[rows])))
            l2 = window[1] - window[0] + 1
            for record in [*cs_variance_ratio(window, data, rows), beaver_u(window, data, rows)]:
                sized = (VOLATILITY_MEASURES[record["measure"]].robust_to_clustering
                         or (record["measure"] == "beaver_u" and l2 <= BEAVER_CLUSTER_ROBUST_DAYS))
                if clustered and not sized:
                    record = scope_row(window, record["measure"], n=record["n"],
                                       status="not_reported", message=UNSIZED_SCOPE_NOTE)
                records.append(record)
        frames.append(pd.DataFrame(records, columns=SCOPE_COLUMNS))
    return frames


def cross_sectional_volatility(panel: AbnormalPanel, windows: Sequence[tuple[int, int]],
                               assume_independent: bool | None = None) -> pd.DataFrame:
    """Volatility tests across all pairs of ``panel``, per window.

    Parameters
    ----------
    panel : AbnormalPanel
        The pairs of one scope (e.g. one event and one asset group, see
        :mod:`eventstudy.scopes`).
    windows : sequence of (a, b)
    assume_independent : bool, optional
        As in :func:`scoped_volatility`.

    Returns
    -------
    DataFrame
        Columns ``SCOPE_COLUMNS`` (the caller adds the scope labels); measures
        ``cs_variance_ratio``, ``cs_standardized_variance_ratio``, ``beaver_u`` per window.

    Examples
    --------
    >>> scope = panel.subset(panel.event_ids == "2025-04-02-liberation-day")  # doctest: +SKIP
    >>> cross_sectional_volatility(scope, [(0, 4)])                           # doctest: +SKIP
    """
    return scoped_volatility(panel, windows, [np.ones(panel.n_pairs, dtype=bool)],
                             assume_independent=assume_independent)[0]
