"""Volatility shifts around events (METHODS section 4).

Per (event, asset) pair and event window ``W2 = [a, b]`` (:func:`pair_volatility`):

``variance_ratio``
    ``F = (sum_{W2} AR^2 / C / L2) / s^2 ~ F(L2, L1 - k)`` (METHODS 4a, prediction-error
    corrected), two-sided p ``= min(1, 2 min(sf, cdf))``.
``brown_forsythe``
    Brown-Forsythe (median-centred Levene) test of estimation residuals against the window ARs,
    ``F(1, n - 2)``, vectorised and equal to ``scipy.stats.levene(center='median')``.
``garch_cav``
    GARCH(1,1) fitted once per pair on the estimation residuals, analytic forecast
    ``h_tau``; ``CAV = sum_{W2} AR^2 / h - L2`` with ``sum AR^2 / h ~ chi2(L2)`` (METHODS 4b).
``log_variance_dummy``
    OLS of ``ln(e^2 + floor)`` on a constant and the block dummy ``1{t in W2}`` over
    ``W1 u W2`` with Newey-West HAC standard errors (METHODS 4c); reference N(0, 1).
``realized_vol`` (+ ``realized_vol_before``, ``realized_vol_after``)
    Annualised realised volatility of raw returns, window against estimation window.

Across the pairs of a scope (:func:`cross_sectional_volatility`): ``cs_variance_ratio``,
``cs_standardized_variance_ratio`` and ``beaver_u`` (Beaver U with an empirical null calibrated
on estimation-window blocks, robust to same-date clustering). :func:`level_change` reports the
change of an index level (e.g. Nikkei VI) from day -1 to each window end.

Conventions pinned here (tests pin each of them)
------------------------------------------------
* Rows with ``status != 'ok'`` carry NaN numbers and a one-line reason in ``message``; the
  functions never raise on degenerate data (zero variance, missing ARs, too few days).
  A window outside the panel's event period is a caller error and raises ``KeyError``.
* A pair with any missing AR inside ``W2`` is ``insufficient`` for that window (missing stays
  missing, nothing is dropped silently).
* Minimum window length: 1 event day for ``variance_ratio``, ``garch_cav``, ``beaver_u``;
  2 for ``brown_forsythe``, ``log_variance_dummy`` and ``realized_vol`` (a one-day block dummy
  is a day dummy, whose HAC standard error is degenerate, METHODS 2.3).
* ``n`` is the number of event-window days ``L2`` on pair rows and the number of pairs used
  on cross-sectional rows.
* p-values are two-sided (project convention 9). The Brown-Forsythe ANOVA F is already a
  two-sided test of equal variances, so its p is the upper tail.
* Variances at or below ``ZERO_VARIANCE`` (1e-20) count as zero (constant prices).
* GARCH: fitted once per pair on ``100 * residuals``; any warning during the fit, a
  non-zero ``convergence_flag`` or ``alpha + beta >= 1 - 1e-6`` is a failure. A failed fit
  gives, per window, one 'fallback' ``garch_cav`` row carrying the ``variance_ratio``
  numbers, with the reason of the failure in its message (a failure without a usable
  variance ratio stays 'failed'); fewer than 30 estimation residuals is 'insufficient'.
* Cross-sectional log variance ratios are centred at their H0 mean ``E ln F(L2, L1 - k)``
  before the t-test (for L2 = 1 that mean is -1.27: uncentred, the test would reject under
  H0); see :func:`cs_variance_ratio`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from eventstudy.panel import AbnormalPanel

PAIR_COLUMNS = [
    "event_id", "asset", "reaction", "window", "measure", "estimate", "statistic", "p_value",
    "distribution", "df", "n", "status", "message",
]
SCOPE_COLUMNS = PAIR_COLUMNS[3:]

TRADING_DAYS_PER_YEAR = 252
GARCH_SCALE = 100.0
"""Residuals are multiplied by this before the GARCH fit (numerical stability) and the
variance forecast is divided by its square afterwards."""
GARCH_MIN_ESTIMATION_DAYS = 30
GARCH_STATIONARITY_TOL = 1e-6
"""A fit with ``alpha + beta >= 1 - GARCH_STATIONARITY_TOL`` is treated as non-stationary."""
LOG_VARIANCE_FLOOR = 1e-12
"""``ln(e^2 + LOG_VARIANCE_FLOOR * s^2)`` keeps an exactly-zero residual finite."""
ZERO_VARIANCE = 1e-20
"""Variances at or below this (a daily s.d. of 1e-10) count as zero: constant prices, or
constant returns whose residuals are rounding noise."""
BEAVER_MIN_BLOCKS = 20
BEAVER_MIN_BLOCK_COVERAGE = 0.5
"""A null block is used when at least this share of its (pair, day) cells has a residual."""


# ----------------------------------------------------------------------------- helpers


def window_label(window: tuple[int, int]) -> str:
    """Text label of a window, ``'[a,b]'``."""
    return f"[{int(window[0])},{int(window[1])}]"


def _reactions(panel: AbnormalPanel) -> np.ndarray:
    """Each pair's reaction kind ('total' when the panel does not say)."""
    if panel.reactions is None:
        return np.full(panel.n_pairs, "total", dtype=object)
    return np.asarray(panel.reactions, dtype=object)


def _two_sided(sf: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Two-sided p-value ``min(1, 2 min(sf, cdf))``."""
    return np.minimum(1.0, 2.0 * np.minimum(sf, cdf))


@dataclass
class _Measure:
    """One measure for all N pairs in one window (vectorised)."""

    name: str
    estimate: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    distribution: str
    df: np.ndarray
    n: np.ndarray
    status: np.ndarray
    message: np.ndarray
    rows: np.ndarray | None = None
    """Panel rows of the entries (None: all pairs in order)."""
    row_distribution: np.ndarray | None = None
    """Per-row reference distribution where it differs by row (GARCH fallbacks)."""

    def masked(self) -> _Measure:
        """NaN numbers and empty df on rows whose status is not 'ok'.

        Safety net: an 'ok' row whose estimate (or, for a test, statistic or p-value) is not
        finite becomes 'failed', so a NaN is never reported as a result.
        """
        numbers = [self.estimate] + ([self.statistic, self.p_value] if self.distribution else [])
        finite = np.logical_and.reduce([np.isfinite(np.asarray(x, float)) for x in numbers])
        _flag(self.status, self.message, ~finite, "result is not finite (degenerate data)",
              "failed")
        bad = self.status != "ok"
        for field in ("estimate", "statistic", "p_value"):
            values = np.asarray(getattr(self, field), dtype=float).copy()
            values[bad] = np.nan
            setattr(self, field, values)
        self.df = np.where(bad, "", self.df).astype(object)
        return self


def _ok(n_pairs: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full(n_pairs, "ok", dtype=object), np.full(n_pairs, "", dtype=object)


def _flag(status: np.ndarray, message: np.ndarray, where: np.ndarray, text: np.ndarray | str,
          label: np.ndarray | str = "insufficient") -> None:
    """Mark rows ``where`` (still 'ok') with ``label`` and ``text``; the first reason wins."""
    hit = np.asarray(where, dtype=bool) & (status == "ok")
    status[hit] = np.broadcast_to(np.asarray(label, dtype=object), status.shape)[hit]
    message[hit] = np.broadcast_to(np.asarray(text, dtype=object), status.shape)[hit]


def _window_arrays(panel: AbnormalPanel, window: tuple[int, int]):
    """Event-window ARs and variance factors ``C``, shape (N, L2), and the column mask."""
    inside = panel.window_selector(window).astype(bool)
    return panel.event_ar[:, inside], panel.variance_factor[:, inside], inside


def _pair_status(panel: AbnormalPanel, window: tuple[int, int], min_days: int, measure: str):
    """Status/message per pair for measures built on ARs and ``s^2``."""
    ar, factor, _ = _window_arrays(panel, window)
    status, message = _ok(panel.n_pairs)
    l2 = ar.shape[1]
    s2 = np.asarray(panel.s2, dtype=float)
    _flag(status, message, ~np.isfinite(s2) | (s2 <= ZERO_VARIANCE),
          "residual variance s^2 is zero or missing (constant returns?)")
    _flag(status, message, panel.dof <= 0, "no residual degrees of freedom (L1 - k <= 0)")
    missing = (~np.isfinite(ar) | ~np.isfinite(factor)).sum(axis=1)
    text = np.array([f"{m} of {l2} abnormal returns missing in window" for m in missing], object)
    _flag(status, message, missing > 0, text)
    if l2 < min_days:
        _flag(status, message, np.ones(panel.n_pairs, bool),
              f"window has {l2} event day(s); {measure} needs at least {min_days}")
    return status, message


def _f_df(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.array([f"{int(x)},{int(y)}" for x, y in zip(a, b)], dtype=object)


# ----------------------------------------------------------------------------- variance ratio


def variance_ratio(panel: AbnormalPanel, window: tuple[int, int]) -> _Measure:
    """Prediction-error-corrected variance ratio of each pair (METHODS 4a).

    ``F_i = (sum_{tau in W2} AR_{i,tau}^2 / C_{i,tau} / L2) / s_i^2``, reference
    ``F(L2, L1 - k)`` under normal iid residuals; ``estimate = statistic = F_i``;
    two-sided p ``= min(1, 2 min(F.sf, F.cdf))``.
    """
    ar, factor, _ = _window_arrays(panel, window)
    l2 = ar.shape[1]
    status, message = _pair_status(panel, window, 1, "variance_ratio")
    with np.errstate(all="ignore"):
        ratio = (ar**2 / factor).sum(axis=1) / l2 / panel.s2
        dof = panel.dof.astype(float)
        p = _two_sided(stats.f.sf(ratio, l2, dof), stats.f.cdf(ratio, l2, dof))
    return _Measure("variance_ratio", ratio, ratio, p, "F",
                    _f_df(np.full(panel.n_pairs, l2), panel.dof),
                    np.full(panel.n_pairs, l2), status, message).masked()


# ----------------------------------------------------------------------------- Brown-Forsythe


def brown_forsythe_statistic(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
    """Row-wise Brown-Forsythe statistic of two NaN-padded samples, shape (N, *).

    ``z = |y - median_j|``;
    ``W = (n - 2) sum_j n_j (zbar_j - zbar)^2 / sum_j sum_i (z_ij - zbar_j)^2 ~ F(1, n - 2)``
    (METHODS 4a; identical to ``scipy.stats.levene(..., center='median')``).

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


def brown_forsythe(panel: AbnormalPanel, window: tuple[int, int]) -> _Measure:
    """Brown-Forsythe test: estimation residuals vs the window's ARs.

    ``estimate`` = ``var(AR_W2) / var(e_W1)`` (sample variances, ddof = 1); ``statistic`` as in
    :func:`brown_forsythe_statistic`, reference ``F(1, n - 2)``, p = upper tail.
    """
    ar, _, _ = _window_arrays(panel, window)
    resid = panel.estimation_residuals()
    status, message = _pair_status(panel, window, 2, "brown_forsythe")
    statistic, n_est, n_event = brown_forsythe_statistic(resid, ar)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        estimate = np.nanvar(ar, axis=1, ddof=1) / np.nanvar(resid, axis=1, ddof=1)
        dof2 = n_est + n_event - 2
        p = stats.f.sf(statistic, 1, dof2)
    _flag(status, message, n_est < 2, "fewer than 2 estimation residuals")
    _flag(status, message, ~np.isfinite(statistic),
          "Brown-Forsythe statistic undefined (no dispersion around the medians)")
    return _Measure("brown_forsythe", estimate, statistic, p, "F",
                    _f_df(np.ones(panel.n_pairs), dof2), np.full(panel.n_pairs, ar.shape[1]),
                    status, message).masked()


# ----------------------------------------------------------------------------- log-variance dummy


def newey_west_maxlags(nobs: np.ndarray) -> np.ndarray:
    """``floor(4 (T / 100)^(2/9))`` (statsmodels' default for ``cov_hac``)."""
    return np.floor(4.0 * (np.asarray(nobs, dtype=float) / 100.0) ** (2.0 / 9.0)).astype(int)


def _compact(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each row's valid entries to the front, keeping their order."""
    order = np.argsort(~valid, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(valid, order, axis=1)


def block_dummy_hac(y: np.ndarray, dummy: np.ndarray, valid: np.ndarray):
    """Row-wise OLS of ``y`` on ``[1, D]`` with Newey-West HAC standard errors.

    Each row is one time series (valid entries in time order; invalid entries are dropped and
    the lag structure runs over the remaining observations). Bartlett weights
    ``1 - l/(m+1)``, ``m = floor(4 (T/100)^(2/9))``, small-sample factor ``T/(T - 2)``: the same
    numbers as ``sm.OLS(y, X).fit(cov_type='HAC', cov_kwds={'maxlags': m,
    'use_correction': True})``.

    Returns
    -------
    coef, se, nobs, maxlags : ndarray, shape (N,)
        Coefficient on ``D``, its HAC standard error, T and m.
    """
    y, valid_c = _compact(np.where(valid, y, 0.0), valid)
    d, _ = _compact(np.where(valid, dummy, 0.0), valid)
    d = np.where(valid_c, d, 0.0)
    nobs = valid_c.sum(axis=1)
    n1 = d.sum(axis=1)
    n0 = nobs - n1
    with np.errstate(all="ignore"):
        mean0 = np.where(valid_c & (d == 0), y, 0.0).sum(axis=1) / n0
        mean1 = np.where(d == 1, y, 0.0).sum(axis=1) / n1
        coef = mean1 - mean0
        resid = np.where(valid_c, y - mean0[:, None] - coef[:, None] * d, 0.0)
        scores = np.stack([resid, resid * d], axis=-1)
        maxlags = newey_west_maxlags(nobs)
        meat = np.einsum("nti,ntj->nij", scores, scores)
        for lag in range(1, int(maxlags.max(initial=0)) + 1):
            weight = np.where(lag <= maxlags, 1.0 - lag / (maxlags + 1.0), 0.0)
            gamma = np.einsum("nti,ntj->nij", scores[:, lag:], scores[:, :-lag])
            meat += weight[:, None, None] * (gamma + np.swapaxes(gamma, 1, 2))
        bread = np.stack([np.stack([n1, -n1], -1), np.stack([-n1, nobs], -1)], 1)
        bread = bread / (n0 * n1)[:, None, None]
        cov = bread @ meat @ bread * (nobs / (nobs - 2.0))[:, None, None]
        se = np.sqrt(cov[:, 1, 1])
    return coef, se, nobs, maxlags


def log_variance_dummy(panel: AbnormalPanel, window: tuple[int, int]) -> _Measure:
    """Block-dummy regression of log squared residuals (METHODS 4c).

    ``ln(e_t^2 + 1e-12 s^2) = a + c D_t + u_t`` over the estimation days and the window days
    (in-sample residuals on W1, out-of-sample ARs on W2), ``D_t = 1{t in W2}``.
    ``estimate`` = ``c`` (log variance ratio; the intercept absorbs ``E ln chi2_1``),
    ``statistic`` = ``c / se_HAC(c)``, reference N(0, 1) (HAC is asymptotic).
    """
    _, _, inside = _window_arrays(panel, window)
    status, message = _pair_status(panel, window, 2, "log_variance_dummy")
    event_cols = np.zeros(panel.ar.shape[1], dtype=bool)
    event_cols[panel.event_start:] = inside
    valid = (panel.is_estimation | event_cols[None, :]) & np.isfinite(panel.ar)
    with np.errstate(all="ignore"):
        floor = LOG_VARIANCE_FLOOR * np.asarray(panel.s2, dtype=float)
        y = np.log(np.where(valid, panel.ar, 0.0) ** 2 + floor[:, None])
    dummy = np.broadcast_to(event_cols.astype(float), y.shape)
    coef, se, nobs, maxlags = block_dummy_hac(y, dummy, valid & np.isfinite(y))
    with np.errstate(all="ignore"):
        t = coef / se
    _flag(status, message, ~np.isfinite(t) | (se <= 0),
          "HAC standard error is zero or undefined", "failed")
    measure = _Measure("log_variance_dummy", coef, t, 2.0 * stats.norm.sf(np.abs(t)), "normal",
                       np.full(panel.n_pairs, "", object), np.full(panel.n_pairs, inside.sum()),
                       status, message).masked()
    # the HAC lag choice is part of the result: it is stated on 'ok' rows too
    hac_text = [f"HAC Newey-West (Bartlett), maxlags={m}, T={n}, small-sample correction"
                for m, n in zip(maxlags, nobs)]
    measure.message = np.where(status == "ok", np.array(hac_text, dtype=object), message)
    return measure


# ----------------------------------------------------------------------------- realised volatility


def realized_vol(panel: AbnormalPanel, window: tuple[int, int]) -> list[_Measure]:
    """Annualised realised volatility of raw returns, window vs estimation window.

    ``RV = sqrt(252) sd(R)`` (ddof = 1) on the window days (after) and on the pair's estimation
    days (before). ``realized_vol``: estimate ``RV_after / RV_before - 1``, statistic
    ``F = var_after / var_before ~ F(L2 - 1, L1 - 1)``, two-sided p. ``realized_vol_before`` and
    ``realized_vol_after`` carry the annualised levels (estimate only).
    """
    inside = panel.window_selector(window).astype(bool)
    after = panel.ret[:, panel.event_start:][:, inside]
    before = np.where(panel.is_estimation, panel.ret, np.nan)
    l2 = after.shape[1]
    n_before = np.isfinite(before).sum(axis=1)
    status, message = _ok(panel.n_pairs)
    missing = (~np.isfinite(after)).sum(axis=1)
    _flag(status, message, missing > 0,
          np.array([f"{m} of {l2} returns missing in window" for m in missing], object))
    if l2 < 2:
        _flag(status, message, np.ones(panel.n_pairs, bool),
              f"window has {l2} event day(s); realized_vol needs at least 2")
    _flag(status, message, n_before < 2, "fewer than 2 estimation-window returns")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        var_after = np.nanvar(after, axis=1, ddof=1)
        var_before = np.nanvar(before, axis=1, ddof=1)
        _flag(status, message, ~(var_before > ZERO_VARIANCE),
              "estimation-window returns are constant (zero variance)")
        ratio = var_after / var_before
        d1, d2 = np.full(panel.n_pairs, l2 - 1), n_before - 1
        p = _two_sided(stats.f.sf(ratio, d1, d2), stats.f.cdf(ratio, d1, d2))
        rv_after = math.sqrt(TRADING_DAYS_PER_YEAR) * np.sqrt(var_after)
        rv_before = math.sqrt(TRADING_DAYS_PER_YEAR) * np.sqrt(var_before)
        change = rv_after / rv_before - 1.0
    n = np.full(panel.n_pairs, l2)
    nan = np.full(panel.n_pairs, np.nan)
    blank = np.full(panel.n_pairs, "", object)
    before_status, before_message = _ok(panel.n_pairs)
    _flag(before_status, before_message, n_before < 2, "fewer than 2 estimation-window returns")
    _flag(before_status, before_message, ~(var_before > ZERO_VARIANCE),
          "estimation-window returns are constant (zero variance)")
    return [
        _Measure("realized_vol", change, ratio, p, "F", _f_df(d1, d2), n,
                 status, message).masked(),
        _Measure("realized_vol_before", rv_before, nan, nan, "", blank, n_before,
                 before_status, before_message).masked(),
        _Measure("realized_vol_after", rv_after, nan, nan, "", blank, n,
                 status.copy(), message.copy()).masked(),
    ]


# ----------------------------------------------------------------------------- GARCH


class GarchFitError(RuntimeError):
    """A GARCH(1,1) fit that failed, did not converge or is not stationary."""


@dataclass(frozen=True)
class GarchForecasts:
    """Per-pair GARCH(1,1) variance forecasts over the event period.

    Attributes
    ----------
    h : ndarray, shape (N, E)
        Forecast conditional variance ``h_tau`` (return units squared), NaN if not fitted.
    status, message : ndarray of object, shape (N,)
        'ok' | 'failed' | 'insufficient' and the reason.
    """

    h: np.ndarray
    status: np.ndarray
    message: np.ndarray


def _arch_fit(scaled_resid: np.ndarray):
    """Fit a zero-mean GARCH(1,1) with normal errors (``arch``); returns the result object."""
    from arch import arch_model

    model = arch_model(scaled_resid, mean="Zero", vol="GARCH", p=1, q=1, dist="normal")
    return model.fit(disp="off", show_warning=True)


def garch_forecast(resid: np.ndarray, horizon: int) -> np.ndarray:
    """Analytic GARCH(1,1) variance forecast for horizons ``1..horizon`` after ``resid[-1]``.

    The model is fitted on ``100 * resid`` and the forecast is divided by ``100^2``.

    Raises
    ------
    GarchFitError
        If the fit warns (any warning is an error: ConvergenceWarning, DataScaleWarning, ...),
        ``convergence_flag != 0``, ``alpha + beta >= 1`` (within 1e-6) or the forecast is not
        finite and positive.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _arch_fit(GARCH_SCALE * np.asarray(resid, dtype=float))
        forecast = result.forecast(horizon=horizon, method="analytic", reindex=False)
    if caught:
        names = sorted({w.category.__name__ for w in caught})
        raise GarchFitError(f"fit raised {', '.join(names)}: {str(caught[0].message).strip()}")
    if result.convergence_flag != 0:
        raise GarchFitError(f"optimizer did not converge (flag {result.convergence_flag})")
    persistence = float(result.params["alpha[1]"] + result.params["beta[1]"])
    if persistence >= 1.0 - GARCH_STATIONARITY_TOL:
        raise GarchFitError(f"not stationary: alpha + beta = {persistence:.6f} >= 1")
    h = np.asarray(forecast.variance, dtype=float)[-1] / GARCH_SCALE**2
    if not np.all(np.isfinite(h) & (h > 0)):
        raise GarchFitError("variance forecast is not finite and positive")
    return h


def _garch_one(resid: np.ndarray, horizon: int) -> tuple[np.ndarray | None, str, str]:
    """Forecast for one pair, never raising: ``(h or None, status, message)``."""
    if len(resid) < GARCH_MIN_ESTIMATION_DAYS:
        return None, "insufficient", (
            f"{len(resid)} estimation residuals; GARCH needs {GARCH_MIN_ESTIMATION_DAYS}")
    if not np.var(resid) > ZERO_VARIANCE:
        return None, "insufficient", "estimation residuals are constant (zero variance)"
    try:
        return garch_forecast(resid, horizon), "ok", ""
    except GarchFitError as error:
        return None, "failed", f"GARCH(1,1) {error}"
    except Exception as error:  # noqa: BLE001 - any fitter failure becomes a 'failed' row
        return None, "failed", f"GARCH(1,1) fit error {type(error).__name__}: {error}"


def _garch_chunk(jobs: list[tuple[np.ndarray, int]]) -> list[tuple[np.ndarray | None, str, str]]:
    return [_garch_one(resid, horizon) for resid, horizon in jobs]


def _garch_jobs(panel: AbnormalPanel) -> tuple[list[tuple[np.ndarray, int]], np.ndarray]:
    """Per pair: (estimation residuals in sample order, horizon to the grid end), offsets.

    ``offset_i`` = column of the last estimation day; the forecast for event column ``j`` is at
    horizon ``j - offset_i`` (grid sessions between the last estimation day and ``tau``).
    """
    n_cols = panel.ar.shape[1]
    sample = panel.is_estimation & np.isfinite(panel.ar)
    last = np.where(sample.any(axis=1), n_cols - 1 - np.argmax(sample[:, ::-1], axis=1), -1)
    jobs = [(panel.ar[i, sample[i]], int(n_cols - 1 - last[i])) for i in range(panel.n_pairs)]
    return jobs, last


def fit_garch_forecasts(panel: AbnormalPanel, n_jobs: int = 1,
                        on_progress: Callable[[int], None] | None = None) -> GarchForecasts:
    """Fit GARCH(1,1) once per pair and forecast ``h`` over the event period.

    The sample is the pair's estimation residuals in time order (excluded and missing days are
    dropped); the analytic forecast runs from the last estimation day through the gap to the
    event-period end. ``n_jobs > 1`` spreads chunks of pairs over a ``ProcessPoolExecutor``.
    ``on_progress(n)`` is called as each chunk of ``n`` fits completes.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # fixed reduction order: same fits everywhere
        results, last = _fit_all(panel, n_jobs, on_progress)
    n_event = panel.event_ar.shape[1]
    h = np.full((panel.n_pairs, n_event), np.nan)
    event_cols = np.arange(panel.event_start, panel.ar.shape[1])
    for i, (forecast, _, _) in enumerate(results):
        if forecast is not None:
            h[i] = forecast[event_cols - last[i] - 1]
    status = np.array([r[1] for r in results], dtype=object)
    message = np.array([r[2] for r in results], dtype=object)
    return GarchForecasts(h, status, message)


def _fit_all(panel: AbnormalPanel, n_jobs: int, on_progress: Callable[[int], None] | None):
    """GARCH fit results per pair (in panel order) and each pair's last estimation column."""
    jobs, last = _garch_jobs(panel)
    n_chunks = min(len(jobs), 4 * n_jobs if n_jobs > 1 else 20)
    bounds = np.linspace(0, len(jobs), max(n_chunks, 1) + 1).astype(int)
    chunks = [jobs[a:b] for a, b in itertools.pairwise(bounds)]
    results = []
    if n_jobs > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=n_jobs) as pool:
            for chunk, done in zip(chunks, pool.map(_garch_chunk, chunks)):
                results.extend(done)
                _notify(on_progress, len(chunk))
    else:
        for chunk in chunks:
            results.extend(_garch_chunk(chunk))
            _notify(on_progress, len(chunk))
    return results, last


def _notify(on_progress: Callable[[int], None] | None, n: int) -> None:
    if on_progress is not None:
        on_progress(n)


def garch_daily(panel: AbnormalPanel, forecasts: GarchForecasts | None = None,
                n_jobs: int = 1) -> pd.DataFrame:
    """Daily GARCH path over the event period, for figures.

    Columns ``event_id, asset, rel_day, h_forecast, abnormal_volatility, status`` with
    ``abnormal_volatility = AR^2 / h`` (1 in expectation under H0). Pairs whose fit did not
    succeed have NaN numbers and their GARCH status.
    """
    forecasts = forecasts if forecasts is not None else fit_garch_forecasts(panel, n_jobs)
    n_event = len(panel.event_rel_days)
    with np.errstate(all="ignore"):
        av = panel.event_ar**2 / forecasts.h
    return pd.DataFrame({
        "event_id": np.repeat(panel.event_ids, n_event),
        "asset": np.repeat(panel.assets, n_event),
        "rel_day": np.tile(panel.event_rel_days, panel.n_pairs),
        "h_forecast": forecasts.h.ravel(),
        "abnormal_volatility": av.ravel(),
        "status": np.repeat(forecasts.status, n_event),
    })


def garch_cav(panel: AbnormalPanel, window: tuple[int, int], forecasts: GarchForecasts,
              ratio: _Measure) -> list[_Measure]:
    """Cumulative abnormal volatility from the GARCH forecast (METHODS 4b [D]).

    ``AV_tau = AR_tau^2 / h_tau``; ``CAV = sum_{W2} AV - L2`` (estimate); statistic
    ``sum_{W2} AV ~ chi2(L2)``, two-sided p. A pair whose fit failed gets a 'fallback' row
    carrying the ``variance_ratio`` result and the failure's reason in the message.
    """
    ar, _, inside = _window_arrays(panel, window)
    h = forecasts.h[:, inside]
    l2 = ar.shape[1]
    status, message = forecasts.status.copy(), forecasts.message.copy()
    window_status, window_message = _pair_status(panel, window, 1, "garch_cav")
    _flag(status, message, window_status != "ok", window_message, window_status)
    with np.errstate(all="ignore"):
        total = (ar**2 / h).sum(axis=1)
        p = _two_sided(stats.chi2.sf(total, l2), stats.chi2.cdf(total, l2))
    n = np.full(panel.n_pairs, l2)
    df = np.full(panel.n_pairs, str(l2), dtype=object)
    main = _Measure("garch_cav", total - l2, total, p, "chi2", df, n, status, message).masked()
    keep = np.flatnonzero((forecasts.status == "failed") & (ratio.status == "ok"))
    for field in ("estimate", "statistic", "p_value", "df", "n"):
        values = np.array(getattr(main, field), dtype=object if field == "df" else None)
        values[keep] = np.asarray(getattr(ratio, field))[keep]
        setattr(main, field, values)
    main.status[keep] = "fallback"
    main.message[keep] = [f"{forecasts.message[i]}; variance_ratio result substituted" for i in keep]
    main.row_distribution = np.full(panel.n_pairs, main.distribution, dtype=object)
    main.row_distribution[keep] = ratio.distribution
    return [main]


# ----------------------------------------------------------------------------- pair table


def _frame(panel: AbnormalPanel, window: tuple[int, int], measure: _Measure,
           order: int) -> pd.DataFrame:
    rows = measure.rows if measure.rows is not None else np.arange(panel.n_pairs)
    reported = np.isin(measure.status, ["ok", "fallback"])
    return pd.DataFrame({
        "event_id": panel.event_ids[rows], "asset": panel.assets[rows],
        "reaction": _reactions(panel)[rows], "window": window_label(window), "measure": measure.name,
        "estimate": measure.estimate, "statistic": measure.statistic,
        "p_value": measure.p_value,
        "distribution": np.where(reported, measure.distribution if measure.row_distribution is None
                                 else measure.row_distribution, ""),
        "df": measure.df, "n": np.asarray(measure.n, dtype=int),
        "status": measure.status, "message": measure.message,
        "_pair": rows, "_order": order,
    })


def pair_volatility(panel: AbnormalPanel, windows: Sequence[tuple[int, int]], garch: bool = True,
                    n_jobs: int = 1, forecasts: GarchForecasts | None = None,
                    on_progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """Volatility-shift measures per (event, asset) pair and window.

    Parameters
    ----------
    panel : AbnormalPanel
    windows : sequence of (a, b)
        Event windows in rel days, inside the panel's event period.
    garch : bool
        Fit GARCH(1,1) (once per pair) and report ``garch_cav``.
    n_jobs : int
        Worker processes for the GARCH fits.
    forecasts : GarchForecasts, optional
        Fits from :func:`fit_garch_forecasts` to reuse (e.g. shared with :func:`garch_daily`);
        by default they are computed here when ``garch`` is true.
    on_progress : callable, optional
        Called with the number of GARCH fits completed, chunk by chunk.

    Returns
    -------
    DataFrame
        Columns ``PAIR_COLUMNS``; one row per (pair, window, measure), ordered by pair, window
        and measure (``variance_ratio, brown_forsythe, garch_cav, log_variance_dummy,
        realized_vol, realized_vol_before, realized_vol_after``). A failed GARCH fit gives a
        'fallback' ``garch_cav`` row with the ``variance_ratio`` numbers.

    Examples
    --------
    >>> table = pair_volatility(panel, [(0, 0), (0, 4)], n_jobs=2)  # doctest: +SKIP
    """
    if garch and forecasts is None:
        forecasts = fit_garch_forecasts(panel, n_jobs, on_progress)
    if not garch:
        forecasts = None
    frames = []
    for w_index, window in enumerate(windows):
        ratio = variance_ratio(panel, window)
        measures = [ratio, brown_forsythe(panel, window)]
        if forecasts is not None:
            measures += garch_cav(panel, window, forecasts, ratio)
        measures += [log_variance_dummy(panel, window), *realized_vol(panel, window)]
        for m_index, measure in enumerate(measures):
            frames.append(_frame(panel, window, measure, w_index * 100 + m_index))
    table = pd.concat(frames, ignore_index=True)
    table = table.sort_values(["_pair", "_order"], kind="stable").drop(columns=["_pair", "_order"])
    return table.reset_index(drop=True)[PAIR_COLUMNS]


# ----------------------------------------------------------------------------- cross-section


def _scope_row(window: tuple[int, int], measure: str, estimate: float = np.nan,
               statistic: float = np.nan, p_value: float = np.nan, distribution: str = "",
               df: str = "", n: int = 0, status: str = "ok", message: str = "") -> dict:
    if status != "ok":
        estimate = statistic = p_value = np.nan
        distribution = df = ""
    return {"window": window_label(window), "measure": measure, "estimate": estimate,
            "statistic": statistic, "p_value": p_value, "distribution": distribution, "df": df,
            "n": n, "status": status, "message": message}


def log_f_null_moments(l2: np.ndarray, dof: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and s.d. of ``ln F`` for ``F ~ F(L2, d)``.

    ``E ln F = psi(L2/2) - psi(d/2) + ln(d / L2)``, ``Var ln F = psi'(L2/2) + psi'(d/2)``
    (``ln F = ln(chi2_L2 / L2) - ln(chi2_d / d)``, ``E ln chi2_v = psi(v/2) + ln 2``,
    ``Var ln chi2_v = psi'(v/2)``).
    """
    a, b = np.asarray(l2, float) / 2.0, np.asarray(dof, float) / 2.0
    mean = special.digamma(a) - special.digamma(b) + np.log(b / a)
    sd = np.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    return mean, sd


def _ratios_for_window(panel: AbnormalPanel, window: tuple[int, int],
                       pair_results: pd.DataFrame | None):
    """Per-pair variance ratios ``F_i`` with their d.o.f. (L2, L1 - k), status-'ok' pairs only."""
    if pair_results is None:
        ratio = variance_ratio(panel, window)
        ok = ratio.status == "ok"
        dfs = ratio.df[ok]
        values = ratio.statistic[ok]
    else:
        keys = pd.MultiIndex.from_arrays(
            [pair_results["event_id"], pair_results["asset"], pair_results["reaction"]])
        in_scope = keys.isin(list(zip(panel.event_ids, panel.assets, _reactions(panel))))
        rows = pair_results[in_scope & (pair_results["measure"] == "variance_ratio")
                            & (pair_results["window"] == window_label(window))
                            & (pair_results["status"] == "ok")]
        dfs = rows["df"].to_numpy()
        values = rows["statistic"].to_numpy(dtype=float)
    parsed = np.array([[int(x) for x in str(d).split(",")] for d in dfs], dtype=float)
    parsed = parsed.reshape(-1, 2)
    return values, parsed[:, 0], parsed[:, 1]


def _cross_sectional_t(window: tuple[int, int], measure: str, values: np.ndarray,
                       estimate: float, message: str) -> dict:
    """``t = mean / (sd / sqrt(N)) ~ t(N - 1)`` (EST ``t_AV``), two-sided p."""
    n = len(values)
    if n < 2:
        return _scope_row(window, measure, n=n, status="insufficient",
                          message=f"{n} pair(s) with a variance ratio; need at least 2")
    sd = float(np.std(values, ddof=1))
    if not sd > 0:
        return _scope_row(window, measure, n=n, status="insufficient",
                          message="no cross-sectional dispersion (sd = 0)")
    t = float(np.mean(values)) / (sd / math.sqrt(n))
    p = float(2.0 * stats.t.sf(abs(t), n - 1))
    return _scope_row(window, measure, estimate, t, p, "t", str(n - 1), n, "ok", message)


def cs_variance_ratio(panel: AbnormalPanel, window: tuple[int, int],
                      pair_results: pd.DataFrame | None = None) -> list[dict]:
    """Cross-sectional tests on per-pair log variance ratios (METHODS 4b ``t_AV``, 4d).

    ``delta_i = ln F_i`` (pinned), centred at its H0 mean ``m_i = E ln F(L2, d_i)``
    (:func:`log_f_null_moments`; -1.27 for L2 = 1), so that the test has its size for short
    windows.

    * ``cs_variance_ratio``: estimate = ``mean_i (delta_i - m_i)`` (bias-corrected mean log
      variance ratio; the raw ``mean ln F`` is in the message); ``t`` on ``delta_i - m_i``.
    * ``cs_standardized_variance_ratio``: ``S_i = (delta_i - m_i) / sd_i`` with ``sd_i`` the H0
      s.d. of ``ln F``; estimate = ``mean S``; ``t`` on ``S_i``.

    Both use ``t = mean / (sd / sqrt(N)) ~ t(N - 1)``, which assumes independent pairs (no
    same-date clustering correction; see ``beaver_u`` for a clustering-robust test).
    """
    values, l2, dof = _ratios_for_window(panel, window, pair_results)
    with np.errstate(all="ignore"):
        delta = np.log(values)
    finite = np.isfinite(delta)
    delta, l2, dof = delta[finite], l2[finite], dof[finite]
    null_mean, null_sd = log_f_null_moments(l2, dof)
    centred = delta - null_mean
    standardised = centred / null_sd
    raw = f"raw mean ln F = {np.mean(delta):.6g}; " if len(delta) else ""
    note = raw + "delta_i = ln F_i - E0[ln F_i]; assumes independent pairs"
    return [
        _cross_sectional_t(window, "cs_variance_ratio", centred,
                           float(np.mean(centred)) if len(centred) else np.nan, note),
        _cross_sectional_t(window, "cs_standardized_variance_ratio", standardised,
                           float(np.mean(standardised)) if len(standardised) else np.nan,
                           "S_i = (ln F_i - E0[ln F_i]) / sd0[ln F_i]; assumes independent pairs"),
    ]


def _block_means(values: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and valid-cell count of every run of ``length`` consecutive columns."""
    valid = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(valid, values, 0.0).sum(axis=0))])
    counts = np.concatenate([[0], np.cumsum(valid.sum(axis=0))])
    block_sum = sums[length:] - sums[:-length]
    block_count = counts[length:] - counts[:-length]
    with np.errstate(all="ignore"):
        return block_sum / block_count, block_count


def beaver_u(panel: AbnormalPanel, window: tuple[int, int]) -> dict:
    """Beaver U across pairs with an estimation-window (crude-dependence) null.

    ``U_{i,tau} = AR_{i,tau}^2 / (s_i^2 C_{i,tau})``; ``Ubar`` = mean over pairs and window days
    (estimate and statistic; 1 under H0). Null: the same mean for every run of ``L2``
    consecutive grid columns before the event period, from in-sample residuals scaled by
    ``SSR_i / L1_i = s_i^2 (L1 - k) / L1`` (so each pair's in-sample U averages exactly 1);
    a block is used when at least half its cells have a residual, and at least 20 blocks are
    required. p = ``min(1, 2 min(share(null >= Ubar), share(null <= Ubar)))``. Because each
    null block averages over the same pairs on common dates, same-date correlation is in the
    null. The naive ``N L2 Ubar ~ chi2(N L2)`` p-value (independence) is in the message.
    """
    ar, factor, _ = _window_arrays(panel, window)
    s2 = np.asarray(panel.s2, dtype=float)
    usable = (np.isfinite(ar).all(axis=1) & np.isfinite(factor).all(axis=1)
              & np.isfinite(s2) & (s2 > ZERO_VARIANCE) & (panel.dof > 0))
    n, l2 = int(usable.sum()), ar.shape[1]
    if n == 0:
        return _scope_row(window, "beaver_u", status="insufficient",
                          message="no pair with a complete window and positive s^2")
    u_bar = float(np.mean(ar[usable] ** 2 / (s2[usable, None] * factor[usable])))
    resid = panel.estimation_residuals()[usable, : panel.event_start]
    ml_var = s2[usable] * panel.dof[usable] / panel.n_est[usable]
    null, count = _block_means(resid**2 / ml_var[:, None], l2)
    null = null[count >= BEAVER_MIN_BLOCK_COVERAGE * n * l2]
    if len(null) < BEAVER_MIN_BLOCKS:
        return _scope_row(window, "beaver_u", n=n, status="insufficient",
                          message=f"{len(null)} estimation blocks of {l2} days; "
                                  f"need {BEAVER_MIN_BLOCKS}")
    p = min(1.0, 2.0 * min(np.mean(null >= u_bar), np.mean(null <= u_bar)))
    naive = n * l2 * u_bar
    naive_p = float(_two_sided(stats.chi2.sf(naive, n * l2), stats.chi2.cdf(naive, n * l2)))
    message = (f"empirical null from {len(null)} estimation blocks; naive chi2({n * l2}) "
               f"p = {naive_p:.4g} (assumes independent pairs)")
    return _scope_row(window, "beaver_u", u_bar, u_bar, p, "empirical", "", n, "ok", message)


def cross_sectional_volatility(panel: AbnormalPanel, windows: Sequence[tuple[int, int]],
                               pair_results: pd.DataFrame | None = None) -> pd.DataFrame:
    """Volatility tests across the pairs of one scope, per window.

    Parameters
    ----------
    panel : AbnormalPanel
        The pairs of the scope (e.g. one event, or one asset group).
    windows : sequence of (a, b)
    pair_results : DataFrame, optional
        Output of :func:`pair_volatility` (may cover more pairs than ``panel``); if given, its
        'ok' ``variance_ratio`` rows of the panel's pairs supply ``F_i``, else they are computed.

    Returns
    -------
    DataFrame
        Columns ``SCOPE_COLUMNS`` (the caller adds the scope id); measures
        ``cs_variance_ratio``, ``cs_standardized_variance_ratio``, ``beaver_u`` per window.

    Examples
    --------
    >>> pairs = pair_volatility(panel, [(0, 4)])  # doctest: +SKIP
    >>> scope = panel.subset(panel.event_ids == "2025-04-02-liberation-day")  # doctest: +SKIP
    >>> cross_sectional_volatility(scope, [(0, 4)], pairs)  # doctest: +SKIP
    """
    rows: list[dict] = []
    for window in windows:
        rows += cs_variance_ratio(panel, window, pair_results)
        rows.append(beaver_u(panel, window))
    return pd.DataFrame(rows, columns=SCOPE_COLUMNS)


# ----------------------------------------------------------------------------- index levels


def level_change(levels: pd.Series, day0: pd.Timestamp,
                 windows: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """Change of an index level (e.g. Nikkei VI) from day -1 to each window end.

    Days count the series' own sessions: day 0 is ``day0`` (which must be in the index),
    day -1 the session before it, the end of ``[a, b]`` is day ``b``. ``estimate`` =
    ``ln(level_b / level_-1)``; the change in points is in the message; no test (statistic and
    p NaN, distribution ''). Columns ``SCOPE_COLUMNS``; ``n`` = sessions spanned (``b + 1``).
    A missing day 0 or day -1, a window ending before day -1, a series too short or a
    non-positive level gives an 'insufficient' row.

    Examples
    --------
    >>> levels = pd.Series([20.0, 25.0, 40.0], index=pd.bdate_range("2025-04-02", periods=3))
    >>> row = level_change(levels, levels.index[2], [(0, 0)]).iloc[0]
    >>> round(float(row["estimate"]), 6), row["message"]
    (0.470004, '+15.00 points (25.00 on 2025-04-03 -> 40.00 on 2025-04-04)')
    """
    series = levels.dropna().sort_index()
    series = series[~series.index.duplicated(keep="last")]
    position = series.index.get_indexer([pd.Timestamp(day0)])[0]
    rows = []
    for window in windows:
        end = position + int(window[1])
        if position < 1:
            reason = f"day 0 {pd.Timestamp(day0).date()} or day -1 not in the level series"
        elif window[1] < -1:
            reason = f"window {window_label(window)} ends before day -1"
        elif end >= len(series):
            reason = f"level series ends before day {window[1]}"
        elif not (series.iloc[position - 1] > 0 and series.iloc[end] > 0):
            reason = "non-positive level"
        else:
            base, last = float(series.iloc[position - 1]), float(series.iloc[end])
            message = (f"{last - base:+.2f} points ({base:.2f} on "
                       f"{series.index[position - 1].date()} -> {last:.2f} on "
                       f"{series.index[end].date()})")
            rows.append(_scope_row(window, "level_change", math.log(last / base),
                                   n=int(window[1]) + 1, message=message))
            continue
        rows.append(_scope_row(window, "level_change", status="insufficient", message=reason))
    return pd.DataFrame(rows, columns=SCOPE_COLUMNS)
