"""GARCH(1,1) abnormal volatility (METHODS 4b; amendment 17): one fit per pair, reused for every
window, for the calibrated p-values and for the daily ``AR^2 / h`` path.

The fit is the Gaussian quasi-maximum-likelihood estimate of a zero-mean GARCH(1,1) on the
pair's estimation residuals (in sample order), exactly the model of
``arch.arch_model(e, mean='Zero', vol='GARCH', p=1, q=1)``: the recursion
``h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}`` starts from arch's backcast (exponentially
weighted mean of the first 75 squared residuals, weights ``0.94^j``), with arch's bounds
``1e-8 v <= omega <= 10 v`` (``v = mean e^2``), ``0 <= alpha, beta <= 1``,
``alpha + beta <= 1`` and its grid of starting values. Instead of one SLSQP run per pair, all
pairs are maximised together in numpy (projected Newton steps with analytic first and second
derivatives of the recursion, Fisher scoring where the Hessian is not negative definite,
backtracking line search). The tests check that the likelihood reached is at least arch's.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy.panel import AbnormalPanel
from eventstudy.volatility.base import (
    EMPIRICAL,
    ZERO_VARIANCE,
    EstimationSample,
    Measure,
    flag,
    pair_status,
    reactions,
    references,
    two_sided,
    window_arrays,
)
from eventstudy.volatility.calibration import block_and_rest_means, calibrate, window_sum_null
from eventstudy.volatility.pair import PairInputs

GARCH_MIN_ESTIMATION_DAYS = 30
GARCH_STATIONARITY_TOL = 1e-6
"""A fit with ``alpha + beta >= 1 - GARCH_STATIONARITY_TOL`` is treated as non-stationary."""
GARCH_MAX_ITERATIONS = 200
GARCH_TOLERANCE = 1e-10
"""A fit has converged when the predicted log-likelihood gain of a Newton step is below this."""
BACKCAST_DAYS = 75
BACKCAST_DECAY = 0.94
GARCH_STARTS = 3
"""The maximiser runs from this many of arch's best starting values and keeps the best
converged optimum (the GARCH likelihood can have several local maxima)."""
BATCH_PAIRS = 2048
"""Pairs fitted together (bounds memory; progress is reported per batch)."""

_START_ALPHAS = (0.01, 0.05, 0.1, 0.2)
_START_PERSISTENCE = (0.5, 0.7, 0.9, 0.98)
_MAX_PERSISTENCE = 1.0 - 1e-9
_LINE_SEARCH_HALVINGS = 40


# ----------------------------------------------------------------------------- likelihood


@dataclass
class _Pass:
    """Log-likelihood of each row (without the 2 pi constant) and, on request, its gradient,
    Hessian and Fisher information with respect to ``(omega, alpha, beta)``."""

    loglik: np.ndarray
    h: np.ndarray
    grad: np.ndarray | None = None
    hess: np.ndarray | None = None
    info: np.ndarray | None = None


def linear_recursion(drive: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """``x_t = drive_t + beta x_{t-1}`` along each row (``x_0 = drive_0``).

    A log-depth prefix scan: after the doublings ``s = 1, 2, 4, ...``,
    ``x_t = sum_{j <= t} beta^(t - j) drive_j``; ``beta`` is one coefficient per row.

    Examples
    --------
    >>> linear_recursion(np.array([[1.0, 1.0, 1.0]]), np.array([0.5]))
    array([[1.  , 1.5 , 1.75]])
    """
    x = np.array(drive, dtype=float)
    power = np.asarray(beta, dtype=float)[:, None].copy()
    shift = 1
    while shift < x.shape[1]:
        x[:, shift:] = x[:, shift:] + power * x[:, :-shift]
        power = power * power
        shift *= 2
    return x


def _lagged(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``values`` shifted one day later along each row, ``first`` in column 0."""
    out = np.empty_like(values)
    out[:, 0] = first
    out[:, 1:] = values[:, :-1]
    return out


def _garch_pass(z2: np.ndarray, valid: np.ndarray, backcast: np.ndarray, theta: np.ndarray,
                derivatives: bool) -> _Pass:
    """The GARCH(1,1) recursion over rows of squared (standardised) residuals.

    ``h_t = omega + alpha z_{t-1}^2 + beta h_{t-1}`` with ``z_{-1}^2 = h_{-1} = backcast``;
    ``l = -1/2 sum_t (ln h_t + z_t^2 / h_t)`` over the valid days. Every derivative of ``h``
    follows the same linear recursion in ``beta`` (:func:`linear_recursion`):
    ``dh/d(omega, alpha, beta)`` are driven by ``(1, z_{t-1}^2, h_{t-1})``, the non-zero second
    derivatives ``d2h/d beta d(omega, alpha, beta)`` by ``(dh_omega, dh_alpha, 2 dh_beta)``
    lagged one day (zero on day 0).
    """
    omega, alpha, beta = (theta[:, j][:, None] for j in range(3))
    e2_lag = _lagged(z2, backcast)
    h = linear_recursion(omega + alpha * e2_lag + np.where(
        np.arange(z2.shape[1]) == 0, beta * backcast[:, None], 0.0), beta[:, 0])
    ratio = z2 / h
    loglik = -0.5 * np.where(valid, np.log(h) + ratio, 0.0).sum(axis=1)
    if not derivatives:
        return _Pass(loglik, h)
    zero = np.zeros(len(z2))
    d_omega = linear_recursion(np.ones_like(h), beta[:, 0])
    d_alpha = linear_recursion(e2_lag, beta[:, 0])
    d_beta = linear_recursion(_lagged(h, backcast), beta[:, 0])
    first = np.stack([d_omega, d_alpha, d_beta], axis=1)  # (n, 3, T)
    cross = np.stack([linear_recursion(_lagged(d, zero), beta[:, 0]) for d in
                      (d_omega, d_alpha, 2.0 * d_beta)], axis=1)  # d2h / d beta d theta_j
    weight = np.where(valid, 0.5 * (ratio - 1.0) / h, 0.0)
    curvature = np.where(valid, 0.5 * (2.0 * ratio - 1.0) / h**2, 0.0)
    fisher = np.where(valid, 0.5 / h**2, 0.0)
    grad = np.einsum("nt,njt->nj", weight, first)
    info = np.einsum("nt,njt,nkt->njk", fisher, first, first)
    hess = -np.einsum("nt,njt,nkt->njk", curvature, first, first)
    second = np.einsum("nt,njt->nj", weight, cross)
    hess[:, 2, :] += second
    hess[:, :, 2] += second
    hess[:, 2, 2] -= second[:, 2]  # the (beta, beta) entry was added twice
    return _Pass(loglik, h, grad, hess, info)


def _backcast(z2: np.ndarray, length: np.ndarray) -> np.ndarray:
    """arch's backcast: ``sum_j w_j z_j^2`` over the first ``min(75, L)`` days,
    ``w_j = 0.94^j`` normalised."""
    days = min(BACKCAST_DAYS, z2.shape[1])
    weights = BACKCAST_DECAY ** np.arange(days)[None, :]
    weights = np.where(np.arange(days)[None, :] < np.asarray(length)[:, None], weights, 0.0)
    return (z2[:, :days] * weights).sum(axis=1) / weights.sum(axis=1)


def _starting_values(z2: np.ndarray, valid: np.ndarray, backcast: np.ndarray,
                     count: int) -> np.ndarray:
    """The ``count`` best points of arch's grid of starting values per row, shape
    (count, n, 3), best first (``omega = 1 - persistence`` on unit-variance data)."""
    grid = np.array([(1.0 - p, a, p - a) for a in _START_ALPHAS for p in _START_PERSISTENCE])
    n_rows, n_grid = len(z2), len(grid)
    theta = np.tile(grid, (n_rows, 1))
    result = _garch_pass(np.repeat(z2, n_grid, axis=0), np.repeat(valid, n_grid, axis=0),
                         np.repeat(backcast, n_grid), theta, derivatives=False)
    order = np.argsort(-result.loglik.reshape(n_rows, n_grid), axis=1, kind="stable")
    return grid[order[:, :count].T]


# ----------------------------------------------------------------------------- maximisation


def _project(theta: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Clip to the bounds, then pull ``alpha + beta`` back to at most ``1 - 1e-9``."""
    theta = np.clip(theta, lower, upper)
    alpha, beta = theta[:, 1], theta[:, 2]
    excess = np.maximum(alpha + beta - _MAX_PERSISTENCE, 0.0) / 2.0
    alpha, beta = alpha - excess, beta - excess
    alpha, beta = (np.where(beta < 0, _MAX_PERSISTENCE, np.maximum(alpha, 0.0)),
                   np.where(alpha < 0, _MAX_PERSISTENCE, np.maximum(beta, 0.0)))
    return np.column_stack([theta[:, 0], alpha, beta])


def _newton_step(theta: np.ndarray, current: _Pass, lower: np.ndarray,
                 upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projected Newton direction and its predicted gain ``g'A^-1 g`` per row.

    Parameters at a bound whose gradient points outward are held fixed. ``A`` is the negative
    Hessian where it is positive definite on the free parameters, else the Fisher information.
    """
    grad = current.grad
    fixed = ((theta <= lower * (1 + 1e-12)) & (grad < 0)) | ((theta >= upper) & (grad > 0))
    free = ~fixed
    keep = free[:, :, None] & free[:, None, :]
    identity = np.broadcast_to(np.eye(3), keep.shape)
    newton = np.where(keep, -current.hess, identity)
    scoring = np.where(keep, current.info, identity)
    finite = np.isfinite(newton).all(axis=(1, 2)) & np.isfinite(scoring).all(axis=(1, 2))
    newton = np.where(finite[:, None, None], newton, identity)
    scoring = np.where(finite[:, None, None], scoring, identity)
    positive = np.linalg.eigvalsh(newton)[:, 0] > 1e-12 * np.abs(newton).max(axis=(1, 2))
    matrix = np.where(positive[:, None, None], newton, scoring)
    scale = np.abs(np.diagonal(matrix, axis1=1, axis2=2)).max(axis=1)
    matrix = matrix + np.eye(3) * (1e-12 * np.where(scale > 0, scale, 1.0))[:, None, None]
    gradient = np.where(free & finite[:, None], grad, 0.0)
    try:
        step = np.linalg.solve(matrix, gradient[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:  # a singular information matrix: least-squares steps
        step = np.einsum("nij,nj->ni", np.linalg.pinv(matrix), gradient)
    gain = np.einsum("ij,ij->i", gradient, step)
    return step, np.where(finite, gain, np.nan)


@dataclass
class _Optimum:
    theta: np.ndarray
    loglik: np.ndarray
    h: np.ndarray
    converged: np.ndarray
    stalled: np.ndarray
    """Stopped without converging because the likelihood no longer increased (a flat ridge)."""
    iterations: np.ndarray

    def best_of(self, other: _Optimum) -> _Optimum:
        """Row by row, the run that reached the higher likelihood (converged or not: when the
        best point found is on a degenerate ridge, the fit is refused, not replaced by a
        lower local maximum)."""
        take = other.loglik > self.loglik
        pick = {name: np.where(take.reshape(-1, *[1] * (getattr(self, name).ndim - 1)),
                               getattr(other, name), getattr(self, name))
                for name in ("theta", "loglik", "h", "converged", "stalled", "iterations")}
        return _Optimum(**pick)


def _maximise(z2: np.ndarray, valid: np.ndarray, backcast: np.ndarray,
              theta: np.ndarray) -> _Optimum:
    """Maximise every row's likelihood from ``theta`` (unit-variance data)."""
    n_rows = len(theta)
    lower, upper = np.array([1e-8, 0.0, 0.0]), np.array([10.0, 1.0, 1.0])
    theta = _project(theta, lower, upper)
    converged = np.zeros(n_rows, dtype=bool)
    stalled_rows = np.zeros(n_rows, dtype=bool)
    iterations = np.zeros(n_rows, dtype=int)
    current = _garch_pass(z2, valid, backcast, theta, derivatives=True)
    loglik, h = current.loglik.copy(), current.h.copy()
    running = np.arange(n_rows)
    for _ in range(GARCH_MAX_ITERATIONS):
        if not running.size:
            break
        step, gain = _newton_step(theta[running], current, lower, upper)
        done = gain < GARCH_TOLERANCE
        converged[running[done]] = True
        live = ~done & np.isfinite(gain)  # a non-finite gain stops the row, not converged
        running, step, gain = running[live], step[live], gain[live]
        if not running.size:
            break
        before = loglik[running].copy()
        accepted = _line_search(z2, valid, backcast, theta, loglik, h, running, step, gain,
                                lower, upper)
        # a row whose likelihood no longer moves stops: converged if the predicted gain is
        # negligible too, else it creeps along a flat ridge (alpha = 0) and is not converged
        stalled = ~accepted | (loglik[running] - before < GARCH_TOLERANCE)
        converged[running[stalled]] = gain[stalled] < 1e-6
        stalled_rows[running[stalled]] = gain[stalled] >= 1e-6
        running = running[~stalled]
        iterations[running] += 1
        current = _garch_pass(z2[running], valid[running], backcast[running], theta[running],
                              derivatives=True)
    return _Optimum(theta, loglik, h, converged, stalled_rows, iterations)


def _line_search(z2, valid, backcast, theta, loglik, h, rows, step, gain, lower, upper):
    """Backtracking (Armijo) along ``step`` for ``rows``; updates theta, loglik, h in place.

    Returns which rows found a point with a sufficient increase.
    """
    length = np.ones(len(rows))
    accepted = np.zeros(len(rows), dtype=bool)
    searching = np.arange(len(rows))
    for _ in range(_LINE_SEARCH_HALVINGS):
        pick = rows[searching]
        candidate = _project(theta[pick] + length[searching, None] * step[searching], lower, upper)
        trial = _garch_pass(z2[pick], valid[pick], backcast[pick], candidate, derivatives=False)
        with np.errstate(invalid="ignore"):
            better = trial.loglik >= loglik[pick] + 1e-4 * length[searching] * gain[searching]
        better &= np.isfinite(trial.loglik)
        won = pick[better]
        theta[won], loglik[won], h[won] = candidate[better], trial.loglik[better], trial.h[better]
        accepted[searching[better]] = True
        searching = searching[~better]
        length[searching] /= 2.0
        if not searching.size:
            break
    return accepted


# ----------------------------------------------------------------------------- fits


@dataclass(frozen=True)
class GarchFits:
    """GARCH(1,1) fits of every pair of a panel (return units).

    Attributes
    ----------
    omega, alpha, beta : ndarray, shape (N,)
        Parameters (NaN where the fit did not succeed).
    loglik : ndarray, shape (N,)
        Gaussian log-likelihood at the estimate, with the ``2 pi`` constant.
    h_sample : ndarray, shape (N, M)
        One-step conditional variance of each estimation day, in sample order
        (:class:`~eventstudy.volatility.base.EstimationSample`).
    h_next : ndarray, shape (N,)
        Variance forecast for the first day after the sample.
    last_column : ndarray of int, shape (N,)
        Grid column of each pair's last estimation day; a grid column ``c`` is at forecast
        horizon ``c - last_column``.
    iterations : ndarray of int, shape (N,)
    status, message : ndarray of object, shape (N,)
        'ok' | 'failed' | 'insufficient' and the reason.
    """

    omega: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    loglik: np.ndarray
    h_sample: np.ndarray
    h_next: np.ndarray
    last_column: np.ndarray
    iterations: np.ndarray
    status: np.ndarray
    message: np.ndarray

    @property
    def persistence(self) -> np.ndarray:
        return self.alpha + self.beta

    def forecast(self, horizons: np.ndarray) -> np.ndarray:
        """Analytic forecasts ``h_{T+k} = s2 + phi^(k-1) (h_{T+1} - s2)``, ``phi = alpha + beta``,
        ``s2 = omega / (1 - phi)`` (identical to iterating ``h_{T+k} = omega + phi h_{T+k-1}``).

        Parameters
        ----------
        horizons : ndarray of int, shape (N, K)
            Horizons ``k >= 1`` after each pair's last estimation day.
        """
        phi = self.persistence[:, None]
        with np.errstate(all="ignore"):
            level = self.omega[:, None] / (1.0 - phi)
            return level + phi ** (horizons - 1.0) * (self.h_next[:, None] - level)

    def event_variance(self, panel: AbnormalPanel) -> np.ndarray:
        """Forecast ``h`` of every event-period day, shape (N, E)."""
        columns = np.arange(panel.event_start, panel.ar.shape[1])
        return self.forecast(columns[None, :] - self.last_column[:, None])


def fit_garch(panel: AbnormalPanel,
              on_progress: Callable[[int], None] | None = None) -> GarchFits:
    """Fit GARCH(1,1) once per pair on its estimation residuals (see the module docstring).

    Pairs with fewer than 30 residuals or constant residuals are 'insufficient'; a fit that does
    not converge in 200 Newton iterations, or with ``alpha + beta >= 1 - 1e-6`` (not
    stationary), is 'failed'. ``on_progress(n)`` is called as each batch of ``n`` pairs is done.

    Examples
    --------
    >>> fits = fit_garch(panel)                                    # doctest: +SKIP
    >>> fits.event_variance(panel)[:, panel.column(0) - panel.event_start]  # doctest: +SKIP
    """
    sample = EstimationSample.of(panel)
    resid = sample.pack(panel.ar)
    length = sample.length
    n_pairs, width = resid.shape
    status = np.full(n_pairs, "ok", dtype=object)
    message = np.full(n_pairs, "", dtype=object)
    with np.errstate(all="ignore"):
        variance = np.nanmean(np.where(sample.valid, resid**2, np.nan), axis=1)
    flag(status, message, length < GARCH_MIN_ESTIMATION_DAYS,
         np.array([f"{n} estimation residuals; GARCH needs {GARCH_MIN_ESTIMATION_DAYS}"
                   for n in length], dtype=object))
    flag(status, message, ~(variance > ZERO_VARIANCE),
         "estimation residuals are constant (zero variance)")
    theta = np.full((n_pairs, 3), np.nan)
    loglik = np.full(n_pairs, np.nan)
    h_sample = np.full((n_pairs, width), np.nan)
    iterations = np.zeros(n_pairs, dtype=int)
    converged = np.zeros(n_pairs, dtype=bool)
    stalled = np.zeros(n_pairs, dtype=bool)
    rows = np.flatnonzero(status == "ok")
    _notify(on_progress, n_pairs - len(rows))
    for start in range(0, len(rows), BATCH_PAIRS):
        batch = rows[start:start + BATCH_PAIRS]
        valid = sample.valid[batch]
        z2 = np.where(valid, resid[batch] ** 2 / variance[batch, None], 0.0)
        backcast = _backcast(z2, length[batch])
        starts = _starting_values(z2, valid, backcast, GARCH_STARTS)
        optimum = _maximise(z2, valid, backcast, starts[0])
        for theta_start in starts[1:]:
            optimum = optimum.best_of(_maximise(z2, valid, backcast, theta_start))
        scale = variance[batch]
        theta[batch] = optimum.theta * np.column_stack([scale, np.ones((len(batch), 2))])
        h_sample[batch] = np.where(valid, optimum.h * scale[:, None], np.nan)
        loglik[batch] = (optimum.loglik - 0.5 * length[batch] * (np.log(scale) + np.log(2 * np.pi)))
        iterations[batch] = optimum.iterations
        converged[batch] = optimum.converged
        stalled[batch] = optimum.stalled
        _notify(on_progress, len(batch))
    persistence = theta[:, 1] + theta[:, 2]
    flag(status, message, persistence >= 1.0 - GARCH_STATIONARITY_TOL,
         np.array([f"GARCH(1,1) not stationary: alpha + beta = {p:.6f} >= 1"
                   for p in persistence], dtype=object), "failed")
    flag(status, message, stalled,
         "GARCH(1,1) did not converge: flat likelihood (alpha = 0 ridge)", "failed")
    flag(status, message, ~converged,
         f"GARCH(1,1) did not converge in {GARCH_MAX_ITERATIONS} iterations", "failed")
    last_e2 = np.take_along_axis(resid, np.maximum(length - 1, 0)[:, None], axis=1)[:, 0] ** 2
    last_h = np.take_along_axis(h_sample, np.maximum(length - 1, 0)[:, None], axis=1)[:, 0]
    h_next = theta[:, 0] + theta[:, 1] * last_e2 + theta[:, 2] * last_h
    bad = status != "ok"
    theta[bad] = np.nan
    return GarchFits(theta[:, 0], theta[:, 1], theta[:, 2], np.where(bad, np.nan, loglik),
                     np.where(bad[:, None], np.nan, h_sample), np.where(bad, np.nan, h_next),
                     sample.last_column(), iterations, status, message)


def _notify(on_progress: Callable[[int], None] | None, n: int) -> None:
    if on_progress is not None and n:
        on_progress(n)


# ----------------------------------------------------------------------------- CAV


def garch_cav(panel: AbnormalPanel, window: tuple[int, int], fits: GarchFits, ratio: Measure,
              inputs: PairInputs) -> Measure:
    """Cumulative abnormal volatility from the GARCH forecast (METHODS 4b, amendment 17).

    ``S = sum_{W2} AR^2 / (C h)`` (prediction-error corrected, like the variance ratio);
    ``estimate`` = ``CAV = S - L2``; ``statistic`` = ``S``. ``p_value``: the larger of two
    p-values calibrated on the pair's own data (:mod:`~eventstudy.volatility.calibration`):

    * days: ``S`` among the sums of ``L2`` random days of the pooled standardised squares,
      ``AR^2 / (C h)`` on window days and ``e_t^2 L1 / (L1 - k) / h_{t|t-k}`` on estimation
      days, ``h_{t|t-k}`` forecast ``k`` days ahead (``k`` = horizon of the window's middle day,
      :func:`_standardised_sample`);
    * blocks: for every run of ``L2`` estimation days ``j..j+L2-1``, the same sum with the
      variances forecast from day ``j - d`` at the window's horizons ``d..d+L2-1``
      (:func:`_block_sums`), relative to the mean one-step standardised square of the other
      estimation days; ``S`` relative to that mean over all estimation days.

    ``p_value_parametric``: ``S ~ chi2(L2)`` (normal innovations, no parameter uncertainty).
    A pair whose fit failed gets a 'fallback' row carrying the ``variance_ratio`` result and
    the failure's reason in its message.
    """
    ar, factor, inside = window_arrays(panel, window)
    h = fits.event_variance(panel)[:, inside]
    l2 = ar.shape[1]
    status, message = fits.status.copy(), fits.message.copy()
    window_status, window_message = pair_status(panel, window, 1, "garch_cav")
    flag(status, message, window_status != "ok", window_message, window_status)
    first = int(np.argmax(inside)) + panel.event_start
    horizon = first - fits.last_column
    scaled = inputs.scaled_resid2(panel)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of failed fits
        standardised = ar**2 / (factor * h)
        total = standardised.sum(axis=1)
        parametric = two_sided(stats.chi2.sf(total, l2), stats.chi2.cdf(total, l2))
        reference, length = _standardised_sample(fits, scaled, inputs.length,
                                                 horizon + (l2 - 1) // 2)
        _, day_null, _ = window_sum_null(reference, length, standardised)
        _, rest = block_and_rest_means(scaled / fits.h_sample, inputs.length, l2)
        level = np.nanmean(np.where(np.isfinite(fits.h_sample), scaled / fits.h_sample, np.nan),
                           axis=1)
        block_null = _block_sums(fits, scaled, inputs.length, horizon, l2) / rest
    n = np.full(panel.n_pairs, l2)
    main = Measure("garch_cav", total - l2, total, np.full(panel.n_pairs, np.nan), EMPIRICAL,
                   np.full(panel.n_pairs, "", object), n, status, message,
                   p_parametric=parametric, parametric_reference=references("chi2", n))
    main = calibrate(main, (total, day_null), (total / level, block_null)).masked()
    return _with_fallback(main, ratio, fits)


def _block_sums(fits: GarchFits, values: np.ndarray, length: np.ndarray, horizon: np.ndarray,
                l2: int) -> np.ndarray:
    """``sum values / h`` over every run of ``l2`` estimation days, forecast like the window.

    A window whose first day is at forecast horizon ``d`` is matched by blocks of sample days
    ``j .. j + l2 - 1`` whose variances are forecast from day ``j - d`` at the same horizons
    ``d .. d + l2 - 1`` (from that day's one-step variance ``h_{j-d+1}``); blocks need
    ``j >= d``. Shape (N, M - l2 + 1), NaN where the block does not exist.
    """
    n_pairs, width = values.shape
    n_blocks = max(width - l2 + 1, 1)
    starts = np.arange(n_blocks)[None, :]
    after_origin = starts - horizon[:, None] + 1  # sample index of h_{j-d+1}
    exists = (after_origin >= 1) & (starts + l2 <= length[:, None])
    one_step = np.take_along_axis(fits.h_sample, np.clip(after_origin, 0, width - 1), axis=1)
    phi = fits.persistence[:, None]
    level = fits.omega[:, None] / (1.0 - phi)
    total = np.zeros((n_pairs, n_blocks))
    for day in range(l2):
        steps = (horizon[:, None] + day - 1).astype(float)
        days = values[:, day:day + n_blocks]
        total[:, :days.shape[1]] += days / (level + phi**steps * (one_step - level))
    return np.where(exists, total, np.nan)


def _standardised_sample(fits: GarchFits, values: np.ndarray, length: np.ndarray,
                         horizon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimation-day values divided by their ``k``-step-ahead variance forecast.

    Day ``t`` is scaled by ``h_{t|t-k} = s2 + phi^(k-1) (h_{t-k+1} - s2)`` (forecast from day
    ``t - k`` as the window's days are forecast from the last estimation day, ``k`` = the
    horizon of the window's middle day); the first ``k - 1`` days have no such forecast and
    are dropped. Returns the values in sample order and their number per pair.
    """
    width = values.shape[1]
    k = np.maximum(np.asarray(horizon, dtype=int), 1)[:, None]
    days = np.arange(width)[None, :]
    origin = days - k + 1  # sample index of h_{t-k+1}
    phi = fits.persistence[:, None]
    level = fits.omega[:, None] / (1.0 - phi)
    one_step = np.take_along_axis(fits.h_sample, np.clip(origin, 0, width - 1), axis=1)
    h = level + phi ** (k - 1.0) * (one_step - level)
    scaled = np.where(origin >= 0, values / h, np.nan)
    # drop the first k - 1 days of each pair: shift left
    shifted = np.take_along_axis(scaled, np.clip(days + k - 1, 0, width - 1), axis=1)
    kept = np.maximum(np.asarray(length) - (k[:, 0] - 1), 0)
    return np.where(days < kept[:, None], shifted, np.nan), kept


def _with_fallback(main: Measure, ratio: Measure, fits: GarchFits) -> Measure:
    """Rows whose fit failed carry the variance-ratio result as status 'fallback'."""
    keep = np.flatnonzero((fits.status == "failed") & (ratio.status == "ok"))
    for name in ("estimate", "statistic", "p_value", "p_parametric", "df", "n", "n_null",
                 "parametric_reference"):
        values = np.array(getattr(main, name), dtype=object if name in (
            "df", "parametric_reference") else None)
        values[keep] = np.asarray(getattr(ratio, name))[keep]
        setattr(main, name, values)
    main.status[keep] = "fallback"
    main.message[keep] = [f"{fits.message[i]}; variance_ratio result substituted" for i in keep]
    main.row_distribution = np.full(len(main.status), main.distribution, dtype=object)
    main.row_distribution[keep] = ratio.distribution
    return main


# ----------------------------------------------------------------------------- daily path


DAILY_COLUMNS = ["event_id", "asset", "reaction", "rel_day", "date", "ar", "h", "ar2_over_h",
                 "status"]
"""Columns of :func:`volatility_daily`."""


def volatility_daily(panel: AbnormalPanel, fits: GarchFits) -> pd.DataFrame:
    """Daily abnormal volatility ``AR^2 / h`` of every pair over the event period.

    ``h`` is the GARCH(1,1) variance forecast from the pair's estimation window (the same fit
    as ``garch_cav``); under H0 ``AR^2 / h`` has mean about 1. Pairs whose fit did not succeed
    keep their ARs with NaN ``h`` and their GARCH status.

    Returns
    -------
    DataFrame
        Columns :data:`DAILY_COLUMNS`, one row per (pair, event-period day), pairs in panel
        order.

    Examples
    --------
    >>> daily = volatility_daily(panel, fit_garch(panel))  # doctest: +SKIP
    """
    n_event = len(panel.event_rel_days)
    h = fits.event_variance(panel)
    with np.errstate(all="ignore"):
        ratio = panel.event_ar**2 / h
    return pd.DataFrame({
        "event_id": np.repeat(panel.event_ids, n_event),
        "asset": np.repeat(panel.assets, n_event),
        "reaction": np.repeat(reactions(panel), n_event),
        "rel_day": np.tile(panel.event_rel_days, panel.n_pairs),
        "date": pd.to_datetime(panel.dates[:, panel.event_start:].ravel()),
        "ar": panel.event_ar.ravel(),
        "h": h.ravel(),
        "ar2_over_h": ratio.ravel(),
        "status": np.repeat(fits.status, n_event),
    }, columns=DAILY_COLUMNS)


def garch_daily(panel: AbnormalPanel, fits: GarchFits | None = None) -> pd.DataFrame:
    """:func:`volatility_daily` with the column names ``plots.volatility_paths`` reads
    (``h_forecast``, ``abnormal_volatility``); fits the pairs when ``fits`` is not given."""
    daily = volatility_daily(panel, fits if fits is not None else fit_garch(panel))
    return daily.rename(columns={"h": "h_forecast", "ar2_over_h": "abnormal_volatility"})
