"""GARCH(1,1) fitted once per (event, asset) pair, for every pair of a panel at once.

The fit is the Gaussian quasi-maximum-likelihood estimate of a zero-mean GARCH(1,1) on the
pair's estimation residuals (in sample order), the model of
``arch.arch_model(e, mean='Zero', vol='GARCH', p=1, q=1)``: the recursion
``h_t = omega + alpha e_{t-1}^2 + beta h_{t-1}`` starts from arch's backcast (exponentially
weighted mean of the first 75 squared residuals, weights ``0.94^j``), with arch's bounds
``1e-8 v <= omega <= 10 v`` (``v = mean e^2``), ``0 <= alpha, beta <= 1``,
``alpha + beta <= 1`` and its grid of starting values. Instead of one SLSQP run per pair, all
pairs are maximised together in numpy: the recursion and its analytic first and second
derivatives are log-depth scans (:func:`linear_recursion`), steps are projected Newton steps
(Fisher scoring where the Hessian is not negative definite) with a backtracking line search,
from the three best grid points, keeping the highest likelihood. The tests check that the
likelihood reached is at least arch's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eventstudy.panel import AbnormalPanel
from eventstudy.volatility.base import ZERO_VARIANCE, EstimationSample, flag

GARCH_MIN_ESTIMATION_DAYS = 30
GARCH_STATIONARITY_TOL = 1e-6
"""A fit with ``alpha + beta >= 1 - GARCH_STATIONARITY_TOL`` is treated as non-stationary."""
GARCH_MAX_ITERATIONS = 200
GARCH_TOLERANCE = 1e-10
"""A fit has converged when the predicted log-likelihood gain of a Newton step is below this."""
BACKCAST_DAYS = 75
BACKCAST_DECAY = 0.94
GARCH_STARTS = 3
"""The maximiser runs from this many of arch's best starting values and keeps the highest
likelihood reached (the GARCH likelihood can have several local maxima)."""
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
