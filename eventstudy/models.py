"""Normal-return models: design matrices on an asset's session grid and batched least squares.

All models are the linear form ``R = x'theta + e`` of docs/methods.md#models, fitted by OLS on each
(event, asset) pair's estimation sample. Thousands of pairs are solved at once with batched
normal equations (numpy); :func:`statsmodels_fit` gives the same numbers for a single pair
with full statsmodels inference, and a test pins the two together.

Model conventions (``k`` = estimated mean parameters, docs/methods.md#residual-variance):

=================  ==========================================  ====================  ===
model              estimation regressors ``x_t``               prediction ``x*_t``   k
=================  ==========================================  ====================  ===
constant_mean      1                                           1                     1
market_adjusted    none; ``E[R] = R_m``                        none                  0
market             1, R_m                                      1, R_m                2
factor             1, f_1 .. f_p                               1, f_1 .. f_p         p+1
dimson             1, R_m(t-lags) .. R_m(t+leads)              1, R_m, .., R_m       2+lags+leads
scholes_williams   (three simple regressions, see below)       1, R_m                2
=================  ==========================================  ====================  ===

* Dimson: the aggregated beta ``sum_k beta_k`` multiplies the contemporaneous benchmark return
  in the prediction (``AR = R - alpha - beta_D R_m``, docs/methods.md#dimson); writing the prediction row as
  ``(1, R_m, .., R_m)`` keeps the exact prediction-error covariance (docs/methods.md#prediction-error).
* Scholes–Williams: ``beta_SW = (b- + b0 + b+) / (1 + 2 rho_m)`` from three simple regressions
  and ``alpha_SW`` from the means over the estimation sample without its first and last
  returns (docs/methods.md#scholes-williams); its prediction-error covariance uses the market-model form
  ``I + X*(X'X)^-1 X*'`` with ``X = (1, R_m)`` (an approximation, stated in the models table).
* "lag" aligns a benchmark through both exchange calendars (see :mod:`eventstudy.returns`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from eventstudy.events import ModelSpec
from eventstudy.panel import prediction_covariance

ZERO_VARIANCE = 1e-20
CONDITION_LIMIT = 1e-10  # smallest / largest singular value of the scaled design


@dataclass(frozen=True)
class Design:
    """Regressors of one asset's model on its session grid (S sessions).

    ``x`` are estimation regressors (S, k); ``x_pred`` the prediction rows (S, k); ``offset`` is
    added to every prediction (the benchmark return of the market-adjusted model, else 0).
    ``market`` is the benchmark return used by Scholes–Williams (else None).
    """

    spec: ModelSpec
    names: tuple[str, ...]
    x: np.ndarray
    x_pred: np.ndarray
    offset: np.ndarray
    market: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.x.shape[1]


def build_design(spec: ModelSpec, n_sessions: int, regressors: dict[str, np.ndarray]) -> Design:
    """Design of ``spec`` from aligned regressor returns (each of length ``n_sessions``).

    ``regressors`` maps ``ticker`` (lag 0) or ``ticker@1`` (lag 1) to returns on the asset grid.
    """
    ones = np.ones((n_sessions, 1))
    zeros = np.zeros(n_sessions)
    if spec.name == "constant_mean":
        return Design(spec, ("alpha",), ones, ones, zeros)
    if spec.name == "factor":
        cols = [regressors[_key(f.ticker, f.lag)] for f in spec.factors]
        x = np.column_stack([ones[:, 0], *cols])
        names = ("alpha", *(f"beta[{f.ticker}{'@1' if f.lag else ''}]" for f in spec.factors))
        return Design(spec, names, x, x, zeros)
    market = regressors[_key(spec.benchmark, spec.lag)]
    if spec.name == "market_adjusted":
        empty = np.empty((n_sessions, 0))
        return Design(spec, (), empty, empty, market)
    if spec.name == "market":
        x = np.column_stack([ones[:, 0], market])
        return Design(spec, ("alpha", "beta"), x, x, zeros)
    if spec.name == "dimson":
        shifts = list(range(-spec.lags, spec.leads + 1))  # -1: R_m(t-1), +1: R_m(t+1)
        cols = [_shift(market, s) for s in shifts]
        x = np.column_stack([ones[:, 0], *cols])
        x_pred = np.column_stack([ones[:, 0], *([market] * len(shifts))])
        names = ("alpha", *(f"beta[{'t' if s == 0 else f't{s:+d}'}]" for s in shifts))
        return Design(spec, names, x, x_pred, zeros)
    if spec.name == "scholes_williams":
        x = np.column_stack([ones[:, 0], market])
        return Design(spec, ("alpha", "beta"), x, x, zeros, market=market)
    raise ValueError(f"unknown model {spec.name!r}")


def _key(ticker: str | None, lag: int) -> str:
    return f"{ticker}@1" if lag else str(ticker)


def _shift(values: np.ndarray, step: int) -> np.ndarray:
    """``out[t] = values[t + step]`` with NaN outside the series."""
    out = np.full_like(values, np.nan)
    if step == 0:
        return values.copy()
    if step > 0:
        out[:-step] = values[step:]
    else:
        out[-step:] = values[:step]
    return out


@dataclass(frozen=True)
class BatchFit:
    """OLS results of P pairs sharing one design shape (k parameters, T grid days, E event days)."""

    theta: np.ndarray  # (P, k)
    xtx_inv: np.ndarray  # (P, k, k)
    s2: np.ndarray  # (P,)
    n_est: np.ndarray  # (P,)
    k: int
    residual: np.ndarray  # (P, T): y - fitted on estimation days, NaN elsewhere
    expected: np.ndarray  # (P, T): normal return (estimation: fitted; event period: prediction)
    x_pred: np.ndarray  # (P, E, k): event-period regressors (NaN as 0)
    r2: np.ndarray  # (P,)
    status: np.ndarray  # (P,) object: 'ok' | 'singular' | 'degenerate'
    message: np.ndarray  # (P,) object

    @property
    def cov_factor(self) -> np.ndarray:
        """Prediction-error covariance factors ``I + X*(X'X)^-1 X*'``, shape (P, E, E),
        computed when read (:func:`eventstudy.panel.prediction_covariance`)."""
        return prediction_covariance(self.x_pred, self.xtx_inv)

    @property
    def std_errors(self) -> np.ndarray:
        """Classical OLS standard errors ``sqrt(s2 diag((X'X)^-1))``, shape (P, k)."""
        diag = np.diagonal(self.xtx_inv, axis1=1, axis2=2)
        return np.sqrt(self.s2[:, None] * diag)


def fit_batch(
    y: np.ndarray,
    x: np.ndarray,
    x_pred: np.ndarray,
    offset: np.ndarray,
    estimation: np.ndarray,
    event_start: int,
    theta: np.ndarray | None = None,
) -> BatchFit:
    """Batched OLS of ``y - offset`` on ``x`` over each pair's estimation days.

    Parameters
    ----------
    y, offset : ndarray (P, T)
        Returns and fixed part of the prediction on the event-time grid.
    x : ndarray (P, T, k)
        Estimation regressors (only the estimation days need to be finite).
    x_pred : ndarray (P, E, k) or (P, T, k)
        Prediction rows for the E event-period days (or for the whole grid).
    estimation : ndarray of bool (P, T)
        Days in each pair's estimation sample (``y``, ``x`` and ``offset`` finite there).
    event_start : int
        First grid column of the event period.
    theta : ndarray (P, k), optional
        Coefficients estimated elsewhere (Scholes–Williams); residuals, ``s2`` and the
        covariance factor are then evaluated at these coefficients.

    Returns
    -------
    BatchFit
        Coefficients, ``s2 = SSR/(L1 - k)``, residuals, predictions and the prediction-error
        covariance factor ``I + X*(X'X)^-1 X*'`` over the event period (docs/methods.md#prediction-error).
    """
    n_pairs, n_days, k = x.shape
    if x_pred.shape[1] == n_days:
        x_pred = x_pred[:, event_start:]
    x_pred = np.nan_to_num(x_pred)
    outside = ~estimation
    target = np.subtract(y, offset)  # working arrays finished in place (the same numbers)
    target[outside] = 0.0
    xw = np.where(estimation[:, :, None], x, 0.0)
    n_est = estimation.sum(axis=1)
    status = np.full(n_pairs, "ok", dtype=object)
    message = np.full(n_pairs, "", dtype=object)
    if k:
        xwt = xw.transpose(0, 2, 1)
        xtx = xwt @ xw
        xty = (xwt @ target[:, :, None])[:, :, 0]
        singular = _is_singular(xtx)
        status[singular] = "singular"
        message[singular] = "singular estimation design (a regressor is constant or collinear)"
        xtx_inv = np.linalg.inv(np.where(singular[:, None, None], np.eye(k), xtx))
        if theta is None:
            theta = (xtx_inv @ xty[:, :, None])[:, :, 0]
        theta = np.where(singular[:, None], np.nan, theta)
        fitted = _combine(x, theta)
        fitted += offset
        predicted = offset[:, event_start:] + _combine(x_pred, theta)
    else:
        xtx_inv = np.zeros((n_pairs, 0, 0))
        theta = np.zeros((n_pairs, 0))
        fitted = offset.copy()
        predicted = offset[:, event_start:]
    resid_est = np.subtract(y, fitted)
    resid_est[outside] = 0.0
    ssr = np.einsum("pt,pt->p", resid_est, resid_est)
    dof = n_est - k
    with np.errstate(invalid="ignore", divide="ignore"):
        s2 = np.where(dof > 0, ssr / dof, np.nan)
        mean = target.sum(axis=1) / n_est
        sst = np.einsum("pt,pt->p", target, target) - n_est * mean**2  # target is 0 off the sample
        r2 = np.where(sst > 0, 1.0 - ssr / sst, np.nan) if k > 1 else np.full(n_pairs, np.nan)
    degenerate = (status == "ok") & ~(s2 > ZERO_VARIANCE)
    status[degenerate] = "degenerate"
    message[degenerate] = "zero residual variance in the estimation window (constant prices?)"
    residual = resid_est
    residual[outside] = np.nan
    expected = fitted
    expected[:, event_start:] = predicted
    return BatchFit(theta, xtx_inv, s2, n_est, k, residual, expected, x_pred, r2, status, message)


def _combine(x: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``x @ theta`` per pair as a sum over the k columns (faster than tiny batched matmuls).

    Rows of ``x`` that are not finite give NaN (they are off the estimation sample).
    """
    out = np.zeros(x.shape[:2])
    term = np.empty(x.shape[:2])
    for j in range(x.shape[2]):
        out += np.multiply(x[:, :, j], theta[:, j, None], out=term)
    return out


def _is_singular(xtx: np.ndarray) -> np.ndarray:
    """Rank test on the column-scaled cross-product matrices (batched SVD)."""
    scale = np.sqrt(np.clip(np.diagonal(xtx, axis1=1, axis2=2), 1e-300, None))
    scaled = xtx / scale[:, :, None] / scale[:, None, :]
    singular_values = np.linalg.svd(scaled, compute_uv=False)
    zero_column = np.diagonal(xtx, axis1=1, axis2=2).min(axis=1) <= 0
    return zero_column | (singular_values[:, -1] < CONDITION_LIMIT * singular_values[:, 0])


def scholes_williams_theta(
    y: np.ndarray, market: np.ndarray, market_lag: np.ndarray, market_lead: np.ndarray,
    estimation: np.ndarray,
) -> np.ndarray:
    """Scholes–Williams ``(alpha, beta)`` per pair, shape (P, 2) (docs/methods.md#scholes-williams).

    ``b-``, ``b0``, ``b+`` are slopes of simple regressions of ``R_i,t`` on ``R_m,t-1``,
    ``R_m,t`` and ``R_m,t+1`` over the estimation days where both series are observed;
    ``rho_m`` is the first-order autocorrelation of ``R_m`` over the estimation days;
    ``alpha = mean(R_i) - beta * mean(R_m)`` over the estimation sample without its first and
    last observation.
    """
    slopes = [_simple_slope(y, m, estimation) for m in (market_lag, market, market_lead)]
    rho = _autocorrelation(market, market_lag, estimation)
    beta = (slopes[0] + slopes[1] + slopes[2]) / (1.0 + 2.0 * rho)
    inner = estimation.copy()
    order = np.cumsum(estimation, axis=1)
    inner &= (order > 1) & (order < estimation.sum(axis=1, keepdims=True))
    mean_y = np.nanmean(np.where(inner, y, np.nan), axis=1)
    mean_m = np.nanmean(np.where(inner, market, np.nan), axis=1)
    return np.column_stack([mean_y - beta * mean_m, beta])


def _simple_slope(y: np.ndarray, x: np.ndarray, estimation: np.ndarray) -> np.ndarray:
    use = estimation & np.isfinite(x)
    xs = np.where(use, x, np.nan)
    ys = np.where(use, y, np.nan)
    xc = xs - np.nanmean(xs, axis=1, keepdims=True)
    yc = ys - np.nanmean(ys, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(xc * yc, axis=1) / np.nansum(xc * xc, axis=1)


def _autocorrelation(market: np.ndarray, market_lag: np.ndarray, estimation: np.ndarray) -> np.ndarray:
    """First-order autocorrelation of the benchmark over the estimation days (both ends observed)."""
    use = estimation & np.isfinite(market_lag) & np.isfinite(market)
    a = np.where(use, market, np.nan)
    b = np.where(use, market_lag, np.nan)
    ac = a - np.nanmean(a, axis=1, keepdims=True)
    bc = b - np.nanmean(b, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nansum(ac * bc, axis=1) / np.sqrt(np.nansum(ac**2, axis=1) * np.nansum(bc**2, axis=1))


def statsmodels_fit(y: np.ndarray, x: np.ndarray):
    """Reference single-pair OLS with statsmodels (finite rows only); returns its results object.

    Examples
    --------
    >>> res = statsmodels_fit(returns, np.column_stack([np.ones(n), market]))  # doctest: +SKIP
    >>> res.params, res.bse  # doctest: +SKIP
    """
    import statsmodels.api as sm

    keep = np.isfinite(y) & np.isfinite(x).all(axis=1)
    return sm.OLS(y[keep], x[keep]).fit()


def two_sided_t_p_value(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``2 P(T_df >= |t|)``, the two-sided Student-t p-value, element by element.

    The same numbers as ``2 * scipy.stats.t.sf(abs(t), df)``: NaN where ``t`` is NaN or
    ``df`` is not positive, 0 where ``|t|`` is infinite.

    Examples
    --------
    >>> two_sided_t_p_value(np.array([0.0, 2.0, np.nan]), np.array([10.0, 1e9, 5.0])).round(4)
    array([1.    , 0.0455,    nan])
    """
    t, df = np.broadcast_arrays(np.asarray(t, dtype=float), np.asarray(df, dtype=float))
    size = np.abs(t)
    good = (df > 0) & np.isfinite(size)
    out = np.where(np.isnan(size) | ~(df > 0), np.nan, 0.0)
    out[good] = special.stdtr(df[good], -size[good])
    return 2.0 * out
