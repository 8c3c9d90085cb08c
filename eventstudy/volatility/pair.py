"""Volatility shifts of single (event, asset) pairs: variance ratio, Brown-Forsythe,
log-variance day dummies and realised volatility (docs/methods.md#volatility)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from eventstudy.panel import AbnormalPanel
from eventstudy.volatility.base import (
    EMPIRICAL,
    TRADING_DAYS_PER_YEAR,
    ZERO_VARIANCE,
    EstimationSample,
    Measure,
    f_df,
    flag,
    ok_status,
    pair_status,
    references,
    two_sided,
    window_arrays,
)
from eventstudy.volatility.calibration import block_and_rest_means, calibrate, window_sum_null

LOG_VARIANCE_FLOOR = 1e-12
"""``ln(x^2 + LOG_VARIANCE_FLOOR * s^2)`` keeps an exactly-zero residual finite."""


@dataclass(frozen=True)
class PairInputs:
    """What every pair measure reads from the estimation window, computed once per panel.

    Attributes
    ----------
    sample : EstimationSample
    resid : ndarray, shape (N, M)
        In-sample residuals in sample order.
    ret : ndarray, shape (N, M)
        Raw returns on the same days.
    """

    sample: EstimationSample
    resid: np.ndarray
    ret: np.ndarray
    nulls: dict = field(default_factory=dict, compare=False, repr=False)
    """Permutation nulls already drawn, by (measure, window) (the pair table and the
    cross-sections share them)."""

    @classmethod
    def of(cls, panel: AbnormalPanel) -> PairInputs:
        sample = EstimationSample.of(panel)
        return cls(sample, sample.pack(panel.ar), sample.pack(panel.ret))

    @property
    def length(self) -> np.ndarray:
        """``L1`` of each pair."""
        return self.sample.length

    def scaled_resid2(self, panel: AbnormalPanel) -> np.ndarray:
        """``e^2 L1 / (L1 - k)``: in-sample squared residuals on the scale of the window's
        ``AR^2 / C`` (their mean over the sample is ``s^2``; in-sample residuals are shrunk by
        the fit, ``E e^2 = s^2 (1 - h_tt)``)."""
        with np.errstate(all="ignore"):
            return self.resid**2 * (self.length / panel.dof)[:, None]


# ----------------------------------------------------------------------------- variance ratio


def variance_ratio(panel: AbnormalPanel, window: tuple[int, int],
                   inputs: PairInputs | None = None) -> Measure:
    """Prediction-error-corrected variance ratio of each pair (docs/methods.md#variance-ratio).

    ``F_i = (sum_{tau in W2} AR_{i,tau}^2 / C_{i,tau} / L2) / s_i^2`` (estimate and statistic).
    ``p_value``: calibrated on the pair's own data (:mod:`~eventstudy.volatility.calibration`)
    with the per-day values ``AR^2 / C`` on window days and ``e^2 L1 / (L1 - k)`` on
    estimation days (mean ``s^2``): every random ``L2``-day subset ``S`` of the pooled days,
    and every block of ``L2`` consecutive estimation days against the other estimation days,
    gives ``mean_S / mean_rest``. ``p_value_parametric``: two-sided ``F(L2, L1 - k)`` (normal
    residuals only; over-rejects on fat tails).

    Examples
    --------
    >>> variance_ratio(panel, (0, 4)).p_value  # doctest: +SKIP
    """
    inputs = inputs or PairInputs.of(panel)
    ar, factor, _ = window_arrays(panel, window)
    l2 = ar.shape[1]
    status, message = pair_status(panel, window, 1, "variance_ratio")
    with np.errstate(all="ignore"):
        ratio = (ar**2 / factor).sum(axis=1) / l2 / panel.s2
        dof = panel.dof.astype(float)
        parametric = two_sided(stats.f.sf(ratio, l2, dof), stats.f.cdf(ratio, l2, dof))
    lengths = np.full(panel.n_pairs, l2)
    measure = Measure("variance_ratio", ratio, ratio, np.full(panel.n_pairs, np.nan), EMPIRICAL,
                      np.full(panel.n_pairs, "", object), lengths, status, message,
                      p_parametric=parametric,
                      parametric_reference=references("F", lengths, panel.dof))
    reference = inputs.scaled_resid2(panel)
    days = _day_null(inputs, ("variance_ratio", tuple(window)), reference, ar**2 / factor)
    with np.errstate(all="ignore"):
        block, rest = block_and_rest_means(reference, inputs.length, l2)
        blocks = (ratio, block / rest)
    return calibrate(measure, days[:2], blocks).masked()


def variance_ratio_null(panel: AbnormalPanel, window: tuple[int, int],
                        inputs: PairInputs) -> np.ndarray:
    """``F_S = mean_S / mean_rest`` of every random subset of the pooled days, (N, B): the
    day-permutation null of :func:`variance_ratio`."""
    ar, factor, _ = window_arrays(panel, window)
    l2 = ar.shape[1]
    _, sums, total = _day_null(inputs, ("variance_ratio", tuple(window)),
                               inputs.scaled_resid2(panel), ar**2 / factor)
    with np.errstate(all="ignore"):
        return sums / l2 / ((total[:, None] - sums) / inputs.length[:, None])


def _day_null(inputs: PairInputs, key: tuple, reference: np.ndarray, window: np.ndarray):
    """:func:`~eventstudy.volatility.calibration.window_sum_null`, drawn once per key."""
    if key not in inputs.nulls:
        with np.errstate(all="ignore"):
            inputs.nulls[key] = window_sum_null(reference, inputs.length, window)
    return inputs.nulls[key]


# ----------------------------------------------------------------------------- Brown-Forsythe


def brown_forsythe_statistic(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise Brown-Forsythe statistic of two NaN-padded samples, shape (N, *).

    ``z = |y - median_j|``;
    ``W = (n - 2) sum_j n_j (zbar_j - zbar)^2 / sum_j sum_i (z_ij - zbar_j)^2 ~ F(1, n - 2)``
    (docs/methods.md#brown-forsythe; identical to ``scipy.stats.levene(..., center='median')``).

    Returns
    -------
    statistic, n_first, n_second : ndarray, shape (N,)
    """
    groups = (first, second)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = [np.abs(g - np.nanmedian(g, axis=1, keepdims=True)) for g in groups]
        counts = [np.isfinite(g).sum(axis=1) for g in groups]
        means = [np.nanmean(zj, axis=1) for zj in z]
        total = counts[0] + counts[1]
        grand = (counts[0] * means[0] + counts[1] * means[1]) / total
        between = sum(c * (m - grand) ** 2 for c, m in zip(counts, means))
        within = sum(np.nansum((zj - m[:, None]) ** 2, axis=1) for zj, m in zip(z, means))
        statistic = (total - 2) * between / within
    return statistic, counts[0], counts[1]


def brown_forsythe(panel: AbnormalPanel, window: tuple[int, int],
                   inputs: PairInputs | None = None) -> Measure:
    """Brown-Forsythe test: estimation residuals vs the window's ARs.

    ``estimate`` = ``var(AR_W2) / var(e_W1)`` (sample variances, ddof = 1); ``statistic`` as in
    :func:`brown_forsythe_statistic`, reference ``F(1, n - 2)``, p = upper tail. Median-based,
    so its size holds on fat-tailed residuals (docs/validation.md) and it keeps its F reference.
    """
    inputs = inputs or PairInputs.of(panel)
    ar, _, _ = window_arrays(panel, window)
    resid = inputs.resid
    status, message = pair_status(panel, window, 2, "brown_forsythe")
    statistic, n_est, n_event = brown_forsythe_statistic(resid, ar)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        estimate = np.nanvar(ar, axis=1, ddof=1) / np.nanvar(resid, axis=1, ddof=1)
        dof2 = n_est + n_event - 2
        p = stats.f.sf(statistic, 1, dof2)
    flag(status, message, n_est < 2, "fewer than 2 estimation residuals")
    flag(status, message, ~np.isfinite(statistic),
         "Brown-Forsythe statistic undefined (no dispersion around the medians)")
    return Measure("brown_forsythe", estimate, statistic, p, "F",
                   f_df(np.ones(panel.n_pairs), dof2), np.full(panel.n_pairs, ar.shape[1]),
                   status, message).masked()


# ----------------------------------------------------------------------------- log variance


def log_variance_dummy(panel: AbnormalPanel, window: tuple[int, int],
                       inputs: PairInputs | None = None) -> Measure:
    """Log-variance shift from day dummies (docs/methods.md#log-variance-dummy).

    ``y = ln(x^2 + 1e-12 s^2)`` with ``x = AR / sqrt(C)`` on window days and
    ``x = e sqrt(L1 / (L1 - k))`` on estimation days (:class:`PairInputs`). The OLS of ``y`` on a
    constant and one dummy per window day over ``W1 u W2`` gives day coefficients
    ``c_j = y_j - mean_W1(y)``; ``estimate`` = their mean, ``mean_W2(y) - mean_W1(y)`` (a
    log variance ratio). ``statistic`` = ``estimate / se`` with the classical OLS variance of
    the mean of the dummies, ``w'Cov(c)w = s_y^2 (1/L2 + 1/L1)``, ``s_y^2 = var_W1(y)``
    (ddof 1); no HAC (docs/methods.md#no-hac: the dummies fit their days exactly, so a HAC "meat"
    collapses). ``p_value``: calibrated on the pair's own data
    (:mod:`~eventstudy.volatility.calibration`; random ``L2``-day subsets ``S`` of the pooled
    days and blocks of ``L2`` estimation days give ``mean_S(y) - mean_rest(y)``);
    ``p_value_parametric``: ``t(L1 - 1)``, which assumes normal ``y`` (``ln x^2`` is strongly
    skewed).
    """
    inputs = inputs or PairInputs.of(panel)
    ar, factor, _ = window_arrays(panel, window)
    l2 = ar.shape[1]
    status, message = pair_status(panel, window, 1, "log_variance_dummy")
    l1 = inputs.length.astype(float)
    s2 = np.asarray(panel.s2, dtype=float)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        floor = (LOG_VARIANCE_FLOOR * s2)[:, None]
        y_event = np.log(ar**2 / factor + floor)
        y_est = np.log(inputs.scaled_resid2(panel) + floor)
        mean_est = np.nanmean(y_est, axis=1)
        estimate = y_event.mean(axis=1) - mean_est
        sd = np.nanstd(y_est, axis=1, ddof=1)
        t = estimate / (sd * np.sqrt(1.0 / l2 + 1.0 / l1))
        parametric = 2.0 * stats.t.sf(np.abs(t), l1 - 1)
    flag(status, message, ~(sd > 0), "log squared residuals have no dispersion")
    measure = Measure("log_variance_dummy", estimate, t, np.full(panel.n_pairs, np.nan),
                      EMPIRICAL, np.full(panel.n_pairs, "", object), np.full(panel.n_pairs, l2),
                      status, message, p_parametric=parametric,
                      parametric_reference=references("t", l1 - 1))
    with np.errstate(all="ignore"):
        window_sum, sums, _ = window_sum_null(y_est, inputs.length, y_event)
        block, rest = block_and_rest_means(y_est, inputs.length, l2)
    return calibrate(measure, (window_sum, sums), (estimate, block - rest)).masked()


# ----------------------------------------------------------------------------- realised volatility


def realized_vol(panel: AbnormalPanel, window: tuple[int, int],
                 inputs: PairInputs | None = None) -> list[Measure]:
    """Annualised realised volatility of raw returns around zero, window vs estimation window.

    ``RV = sqrt(252 mean(R^2))`` -- the root mean square of the returns, not their standard
    deviation around the window's own mean (docs/methods.md#realized-vol: a window of two -2.8% days is a rise
    in volatility, not a fall) -- over the window days (after) and over the pair's estimation
    days (before). ``realized_vol``: estimate ``RV_after / RV_before - 1``, statistic
    ``mean_W2(R^2) / mean_W1(R^2)``; ``p_value``: calibrated on the pair's own data
    (:mod:`~eventstudy.volatility.calibration`; random ``L2``-day subsets ``S`` of the pooled
    days and blocks of ``L2`` estimation days give ``mean_S(R^2) / mean_rest(R^2)``);
    ``p_value_parametric`` against
    ``F(L2, L1)`` (zero-mean normal returns). ``realized_vol_before`` and ``realized_vol_after``
    carry the annualised levels (estimate only).
    """
    inputs = inputs or PairInputs.of(panel)
    inside = panel.window_selector(window).astype(bool)
    after = panel.ret[:, panel.event_start:][:, inside]
    l2 = after.shape[1]
    n_before = inputs.length
    status, message = ok_status(panel.n_pairs)
    missing = (~np.isfinite(after)).sum(axis=1)
    flag(status, message, missing > 0,
         np.array([f"{m} of {l2} returns missing in window" for m in missing], object))
    before_status, before_message = ok_status(panel.n_pairs)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        square_before = np.nanmean(inputs.ret**2, axis=1)
        for state, text in ((status, message), (before_status, before_message)):
            flag(state, text, n_before < 1, "no estimation-window returns")
            flag(state, text, ~(square_before > ZERO_VARIANCE),
                 "estimation-window returns are all zero")
        square_after = np.mean(after**2, axis=1)
        ratio = square_after / square_before
        parametric = two_sided(stats.f.sf(ratio, l2, n_before), stats.f.cdf(ratio, l2, n_before))
        rv_after = np.sqrt(TRADING_DAYS_PER_YEAR * square_after)
        rv_before = np.sqrt(TRADING_DAYS_PER_YEAR * square_before)
        change = rv_after / rv_before - 1.0
        window_sum, sums, _ = window_sum_null(inputs.ret**2, n_before, after**2)
        block, rest = block_and_rest_means(inputs.ret**2, n_before, l2)
        block_ratio = block / rest
    n = np.full(panel.n_pairs, l2)
    nan = np.full(panel.n_pairs, np.nan)
    blank = np.full(panel.n_pairs, "", object)
    after_status, after_message = status.copy(), message.copy()
    test = Measure("realized_vol", change, ratio, nan, EMPIRICAL, blank, n, status, message,
                   p_parametric=parametric,
                   parametric_reference=references("F", n, n_before))
    test = calibrate(test, (window_sum, sums), (ratio, block_ratio)).masked()
    return [
        test,
        Measure("realized_vol_before", rv_before, nan, nan, "", blank, n_before,
                before_status, before_message).masked(),
        Measure("realized_vol_after", rv_after, nan, nan, "", blank, n,
                after_status, after_message).masked(),
    ]

