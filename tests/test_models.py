"""Batched least squares against statsmodels and closed forms (docs/methods.md#prediction-error)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from eventstudy.events import FactorSpec, ModelSpec
from eventstudy.models import build_design, fit_batch, scholes_williams_theta, statsmodels_fit

L1, GAP, E = 120, 5, 6
T = L1 + GAP + E
EVENT_START = L1 + GAP


def _panel(rng, n_pairs=7, k_factors=1, missing=0.05):
    x_raw = rng.normal(0, 0.01, size=(n_pairs, T, k_factors))
    beta = rng.normal(1, 0.3, size=(n_pairs, k_factors))
    y = 0.0005 + np.einsum("ptk,pk->pt", x_raw, beta) + rng.normal(0, 0.02, size=(n_pairs, T))
    estimation = np.zeros((n_pairs, T), bool)
    estimation[:, :L1] = rng.random((n_pairs, L1)) > missing
    x = np.concatenate([np.ones((n_pairs, T, 1)), x_raw], axis=2)
    return y, x, estimation


def test_batched_ols_equals_statsmodels_per_pair():
    rng = np.random.default_rng(1)
    y, x, est = _panel(rng, k_factors=2)
    fit = fit_batch(y, x, x, np.zeros_like(y), est, EVENT_START)
    for p in range(len(y)):
        res = sm.OLS(y[p, est[p]], x[p, est[p]]).fit()
        np.testing.assert_allclose(fit.theta[p], res.params, rtol=0, atol=1e-10)
        np.testing.assert_allclose(fit.std_errors[p], res.bse, rtol=1e-10)
        np.testing.assert_allclose(fit.s2[p], res.scale, rtol=1e-10)
        np.testing.assert_allclose(fit.r2[p], res.rsquared, rtol=1e-10)
        assert fit.n_est[p] == res.nobs
        # statsmodels prediction variance of a new observation = s2 * (1 + x0 (X'X)^-1 x0')
        x_new = x[p, EVENT_START:]
        pred = res.get_prediction(x_new)
        np.testing.assert_allclose(
            fit.s2[p] * np.diag(fit.cov_factor[p]), pred.var_pred_mean + res.scale, rtol=1e-10
        )
        np.testing.assert_allclose(fit.expected[p, EVENT_START:], pred.predicted_mean, atol=1e-12)


def test_statsmodels_reference_helper_drops_missing_rows():
    rng = np.random.default_rng(2)
    y = rng.normal(size=50)
    x = np.column_stack([np.ones(50), rng.normal(size=50)])
    y[3] = np.nan
    res = statsmodels_fit(y, x)
    assert res.nobs == 49


def test_constant_mean_car_variance_closed_form():
    """Var(CAR) = s2 (L2 + L2^2/L1) for the constant-mean model (docs/methods.md#car)."""
    rng = np.random.default_rng(3)
    y = rng.normal(0.001, 0.02, size=(1, T))
    x = np.ones((1, T, 1))
    est = np.zeros((1, T), bool)
    est[:, :L1] = True
    fit = fit_batch(y, x, x, np.zeros_like(y), est, EVENT_START)
    mu = y[0, :L1].mean()
    s2 = ((y[0, :L1] - mu) ** 2).sum() / (L1 - 1)
    assert fit.s2[0] == pytest.approx(s2, rel=1e-12)
    np.testing.assert_allclose(fit.expected[0, EVENT_START:], mu)
    for l2 in (1, 2, 4):
        gamma = np.r_[np.ones(l2), np.zeros(E - l2)]
        var_car = fit.s2[0] * gamma @ fit.cov_factor[0] @ gamma
        assert var_car == pytest.approx(s2 * (l2 + l2**2 / L1), rel=1e-12)


def test_market_model_car_variance_closed_form():
    """Var(CAR) = s2 [L2 + L2^2/L1 + (sum(Rm - mean Rm))^2 / Smm] (docs/methods.md#car)."""
    rng = np.random.default_rng(4)
    rm = rng.normal(0, 0.01, size=T)
    y = (0.0002 + 1.2 * rm + rng.normal(0, 0.015, size=T))[None]
    x = np.column_stack([np.ones(T), rm])[None]
    est = np.zeros((1, T), bool)
    est[:, :L1] = True
    fit = fit_batch(y, x, x, np.zeros_like(y), est, EVENT_START)
    rm_est = rm[:L1]
    smm = ((rm_est - rm_est.mean()) ** 2).sum()
    beta = ((rm_est - rm_est.mean()) * (y[0, :L1] - y[0, :L1].mean())).sum() / smm
    alpha = y[0, :L1].mean() - beta * rm_est.mean()
    resid = y[0, :L1] - alpha - beta * rm_est
    s2 = (resid**2).sum() / (L1 - 2)
    assert fit.theta[0] == pytest.approx([alpha, beta], rel=1e-10)
    for l2 in (1, 3, 6):
        rm_w = rm[EVENT_START : EVENT_START + l2]
        gamma = np.r_[np.ones(l2), np.zeros(E - l2)]
        expected = s2 * (l2 + l2**2 / L1 + ((rm_w - rm_est.mean()).sum()) ** 2 / smm)
        assert fit.s2[0] * gamma @ fit.cov_factor[0] @ gamma == pytest.approx(expected, rel=1e-10)
    # day-level factor C = 1 + 1/L1 + (Rm - mean)^2 / Smm
    c = 1 + 1 / L1 + (rm[EVENT_START:] - rm_est.mean()) ** 2 / smm
    np.testing.assert_allclose(np.diag(fit.cov_factor[0]), c, rtol=1e-10)


def test_market_adjusted_has_no_estimation_term():
    rng = np.random.default_rng(5)
    rm = rng.normal(0, 0.01, size=(1, T))
    y = rm + rng.normal(0, 0.01, size=(1, T))
    empty = np.empty((1, T, 0))
    est = np.zeros((1, T), bool)
    est[:, :L1] = True
    fit = fit_batch(y, empty, empty, rm, est, EVENT_START)
    diff = (y - rm)[0, :L1]
    assert fit.s2[0] == pytest.approx((diff**2).sum() / L1, rel=1e-12)  # k = 0
    np.testing.assert_allclose(fit.cov_factor[0], np.eye(E))
    np.testing.assert_allclose(fit.expected[0], rm[0])


def test_dimson_prediction_uses_aggregated_beta():
    rng = np.random.default_rng(6)
    n = 300
    rm = rng.normal(0, 0.01, size=n)
    design = build_design(ModelSpec("dimson", benchmark="B", lags=1, leads=1), n, {"B": rm})
    assert design.names == ("alpha", "beta[t-1]", "beta[t]", "beta[t+1]")
    y = 0.3 * np.r_[np.nan, rm[:-1]] + 0.8 * rm + 0.1 * np.r_[rm[1:], np.nan] + rng.normal(0, 0.01, n)
    est = np.zeros((1, n), bool)
    est[0, 1:250] = True
    fit = fit_batch(y[None], design.x[None], design.x_pred[None], np.zeros((1, n)), est, 280)
    alpha, *betas = fit.theta[0]
    np.testing.assert_allclose(fit.expected[0, 280:], alpha + sum(betas) * rm[280:], atol=1e-14)
    assert sum(betas) == pytest.approx(1.2, abs=0.15)


def test_scholes_williams_by_hand():
    rng = np.random.default_rng(7)
    n = 200
    rm = rng.normal(0, 0.01, size=n)
    y = 0.9 * rm + 0.2 * np.r_[np.nan, rm[:-1]] + rng.normal(0, 0.01, size=n)
    y[0] = 0.0
    lag = np.r_[np.nan, rm[:-1]]
    lead = np.r_[rm[1:], np.nan]
    est = np.zeros((1, n), bool)
    est[0, :150] = True
    theta = scholes_williams_theta(y[None], rm[None], lag[None], lead[None], est)[0]

    def slope(a, b):
        keep = np.isfinite(a) & np.isfinite(b)
        return np.polyfit(b[keep], a[keep], 1)[0]

    idx = slice(0, 150)
    b_minus, b_zero, b_plus = slope(y[idx], lag[idx]), slope(y[idx], rm[idx]), slope(y[idx], lead[idx])
    keep = np.isfinite(lag[idx])
    rho = np.corrcoef(rm[idx][keep], lag[idx][keep])[0, 1]
    beta = (b_minus + b_zero + b_plus) / (1 + 2 * rho)
    alpha = y[1:149].mean() - beta * rm[1:149].mean()
    assert theta == pytest.approx([alpha, beta], rel=1e-10)


def test_factor_design_names_and_shape():
    spec = ModelSpec("factor", factors=(FactorSpec("^TOPX", 0), FactorSpec("^GSPC", 1)))
    n = 10
    design = build_design(spec, n, {"^TOPX": np.zeros(n), "^GSPC@1": np.ones(n)})
    assert design.names == ("alpha", "beta[^TOPX]", "beta[^GSPC@1]")
    assert design.x.shape == (n, 3) and design.k == 3


def test_singular_and_degenerate_fits_are_flagged_not_nan_silently():
    rng = np.random.default_rng(8)
    y = rng.normal(size=(2, T))
    y[1] = 0.0  # constant prices -> zero returns
    x = np.ones((2, T, 2))
    x[1, :, 1] = rng.normal(size=T)  # pair 0: constant regressor -> singular
    est = np.zeros((2, T), bool)
    est[:, :L1] = True
    fit = fit_batch(y, x, x, np.zeros_like(y), est, EVENT_START)
    assert fit.status[0] == "singular" and "singular" in fit.message[0]
    assert fit.status[1] == "degenerate" and "zero residual variance" in fit.message[1]
