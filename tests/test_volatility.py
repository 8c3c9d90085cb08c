"""Tests of eventstudy.volatility: hand calculations, library cross-checks (statsmodels, scipy,
arch), synthetic shifts, size under fat-tailed nulls (independent and clustered pairs),
degenerate inputs and the study stage."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eventstudy import volatility as vol
from eventstudy.panel import AbnormalPanel
from eventstudy.volatility import calibration
from eventstudy.volatility import garch_fit as garch_module

STATUSES = {"ok", "failed", "fallback", "insufficient", "not_reported"}


def make_panel(ret: np.ndarray, n_est: int, gap: int = 0,
               excluded: np.ndarray | None = None) -> AbnormalPanel:
    """Constant-mean (k = 1) panel from returns of shape (N, n_est + gap + E).

    ``excluded`` (N, n_est) marks estimation days dropped from the sample.
    """
    ret = np.asarray(ret, dtype=float)
    n_pairs, n_cols = ret.shape
    n_event = n_cols - n_est - gap
    est = np.zeros((n_pairs, n_cols), dtype=bool)
    est[:, :n_est] = True if excluded is None else ~excluded
    with np.errstate(all="ignore"):
        mu = np.nanmean(np.where(est, ret, np.nan), axis=1)
    ar = ret - mu[:, None]
    ar[:, :n_est][~est[:, :n_est]] = np.nan
    ar[:, n_est:n_est + gap] = np.nan
    l1 = est.sum(axis=1)
    s2 = np.nansum(np.where(est, ar, np.nan) ** 2, axis=1) / (l1 - 1)
    cov = np.eye(n_event)[None] + 1.0 / l1[:, None, None]
    dates = np.datetime64("2024-01-01") + np.arange(n_cols)
    return AbnormalPanel(
        event_ids=np.array([f"ev{i % 3}" for i in range(n_pairs)], dtype=object),
        assets=np.array([f"A{i}" for i in range(n_pairs)], dtype=object),
        rel_days=np.arange(-(n_est + gap), n_event),
        dates=np.broadcast_to(dates, (n_pairs, n_cols)).copy(),
        ret=ret, expected=np.broadcast_to(mu[:, None], ret.shape).copy(), ar=ar,
        is_estimation=est, event_start=n_est + gap, cov_factor=cov, s2=s2, n_est=l1,
        k=np.ones(n_pairs, dtype=int))


def normal_returns(seed: int, n_pairs: int, n_est: int, n_event: int, gap: int = 0,
                   event_scale: float = 1.0, rho: float = 0.0, sd: float = 0.01) -> np.ndarray:
    """iid normal returns, optional common factor (correlation rho), event-period sd multiplier."""
    rng = np.random.default_rng(seed)
    n_cols = n_est + gap + n_event
    common = rng.standard_normal(n_cols)
    own = rng.standard_normal((n_pairs, n_cols))
    ret = sd * (np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own)
    ret[:, n_est + gap:] *= event_scale
    return ret


def student_returns(seed: int, n_pairs: int, n_cols: int, dof: float = 4.0,
                    rho: float = 0.0) -> np.ndarray:
    """iid Student-t returns (unit-variance scaled to 1%), optional common t factor."""
    rng = np.random.default_rng(seed)
    scale = 0.01 / np.sqrt(dof / (dof - 2.0))
    common = rng.standard_t(dof, n_cols)
    own = rng.standard_t(dof, (n_pairs, n_cols))
    return scale * (np.sqrt(rho) * common + np.sqrt(1.0 - rho) * own)


def garch_returns(seed: int, n_pairs: int, n_cols: int, event_start: int,
                  event_variance: float = 1.0) -> np.ndarray:
    """GARCH(1,1) returns (omega, alpha, beta) = (1e-5, 0.08, 0.88) at daily scale, the event
    period's innovations multiplied by sqrt(event_variance)."""
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 1e-5, 0.08, 0.88
    h = np.full(n_pairs, omega / (1 - alpha - beta))
    ret = np.empty((n_pairs, n_cols))
    for t in range(n_cols):
        eps = np.sqrt(h) * rng.standard_normal(n_pairs)
        ret[:, t] = eps * (np.sqrt(event_variance) if t >= event_start else 1.0)
        h = omega + alpha * eps**2 + beta * h
    return ret


def rows(table: pd.DataFrame, measure: str, window: str, status: str | None = "ok"):
    pick = (table["measure"] == measure) & (table["window"] == window)
    if status is not None:
        pick &= table["status"] == status
    return table[pick]


def two_sided_permutation(observed: float, null: np.ndarray) -> float:
    """The plain twin of a permutation p-value."""
    k = min(np.sum(null >= observed), np.sum(null <= observed))
    return min(1.0, 2.0 * (k + 1) / (len(null) + 1))


def calibrated_by_hand(reference: np.ndarray, window: np.ndarray, block_stat,
                       observed_block: float) -> tuple[float, int]:
    """The plain twin of the calibrated p-value of one pair: the larger of the day-permutation
    p (the library's random subsets of the pooled days, summed in a loop) and the block p
    (``block_stat(block values, other values)`` for every run of L2 estimation days)."""
    l2 = len(window)
    pooled = np.concatenate([reference, window])
    picks = calibration.subsets(len(pooled), l2)
    sums = np.array([sum(pooled[j] for j in row) for row in picks])
    days = two_sided_permutation(window.sum(), sums)
    blocks = np.array([block_stat(reference[j:j + l2], np.r_[reference[:j], reference[j + l2:]])
                       for j in range(len(reference) - l2 + 1)])
    return max(days, two_sided_permutation(observed_block, blocks)), len(blocks)


def ratio_of_means(block: np.ndarray, rest: np.ndarray) -> float:
    return block.mean() / rest.mean()


def binomial_band(level: float, trials: int, z: float = 2.576) -> tuple[float, float]:
    half = z * np.sqrt(level * (1 - level) / trials)
    return level - half, level + half


@pytest.fixture(scope="module")
def tiny() -> AbnormalPanel:
    ret = normal_returns(7, n_pairs=2, n_est=40, n_event=3)
    return make_panel(ret, n_est=40)


# ----------------------------------------------------------------------------- contract


def test_output_contract(tiny):
    table = vol.pair_volatility(tiny, [(0, 0), (0, 2)], garch=False)
    assert list(table.columns) == vol.PAIR_COLUMNS
    assert set(table["status"]) <= STATUSES
    assert set(table["window"]) == {"[0,0]", "[0,2]"}
    ok = table[table["status"] == "ok"]
    assert ok["estimate"].notna().all()
    tested = ok[ok["distribution"] != ""]
    assert tested["statistic"].notna().all() and tested["p_value"].between(0, 1).all()
    calibrated = tested[tested["distribution"] == "empirical"]
    assert set(calibrated["measure"]) == {"variance_ratio", "log_variance_dummy", "realized_vol"}
    assert set(calibrated["n_null"]) == {40 - 3 + 1, 40}  # blocks of 3 days and of 1 day
    assert calibrated["p_value_parametric"].between(0, 1).all()
    assert calibrated["parametric_reference"].str.match(r"^(F|t|chi2)\(").all()
    bad = table[table["status"] != "ok"]
    assert bad["estimate"].isna().all() and (bad["message"] != "").all()
    expected = ["variance_ratio", "brown_forsythe", "log_variance_dummy", "realized_vol",
                "realized_vol_before", "realized_vol_after"]
    first_pair = table[(table["asset"] == "A0") & (table["window"] == "[0,2]")]
    assert list(first_pair["measure"]) == expected
    scope = vol.cross_sectional_volatility(tiny, [(0, 2)], assume_independent=True)
    assert list(scope.columns) == vol.SCOPE_COLUMNS


def test_window_outside_event_period_raises(tiny):
    with pytest.raises(KeyError):
        vol.pair_volatility(tiny, [(0, 5)], garch=False)


def test_every_reported_measure_is_in_the_registry(tiny):
    from eventstudy.registry import VOLATILITY_MEASURES

    table = vol.pair_volatility(tiny, [(0, 2)])
    scope = vol.cross_sectional_volatility(tiny, [(0, 2)], assume_independent=True)
    levels = vol.level_change(pd.Series([1.0, 2.0, 3.0], index=pd.bdate_range("2025-01-06", periods=3)),
                              pd.Timestamp("2025-01-07"), [(0, 0)])
    reported = set(table["measure"]) | set(scope["measure"]) | set(levels["measure"])
    assert reported == set(VOLATILITY_MEASURES)


# ----------------------------------------------------------------------------- calibration


def test_block_means_and_permutation_p_by_hand():
    packed = np.array([[1.0, 2.0, 4.0, 8.0, np.nan], [3.0, np.nan, 5.0, 7.0, 9.0]])
    means = calibration.block_means(packed, np.array([4, 5]), 2)
    np.testing.assert_allclose(means, [[1.5, 3.0, 6.0, np.nan], [np.nan, np.nan, 6.0, 8.0]])
    block, rest = calibration.block_and_rest_means(packed[:1], np.array([4]), 2)
    np.testing.assert_allclose(block, means[:1])
    np.testing.assert_allclose(rest, [[6.0, 4.5, 1.5, np.nan]])
    null = np.tile(np.arange(1.0, 40.0), (3, 1))
    p = vol.permutation_p(np.array([0.0, 20.0, 39.0]), null)
    np.testing.assert_allclose(p, [2 * 1 / 40, 1.0, 2 * 2 / 40])


def test_random_subsets_are_distinct_days_and_reproducible():
    picks = calibration.subsets(30, 4)
    assert picks.shape == (calibration.PERMUTATIONS, 4)
    assert all(len(set(row)) == 4 for row in picks) and picks.max() < 30
    np.testing.assert_array_equal(picks, calibration.subsets(30, 4))
    counts = np.bincount(picks.ravel(), minlength=30)  # every day equally likely
    assert stats.chisquare(counts).pvalue > 0.001


def test_calibrated_p_values_are_never_zero():
    ret = normal_returns(1, 3, 120, 4)
    ret[:, 120:] *= 20.0  # far beyond anything in the estimation window
    table = vol.pair_volatility(make_panel(ret, 120), [(0, 3)], garch=False)
    calibrated = table[table["distribution"] == "empirical"]
    assert len(calibrated) == 9
    # the binding reference is the block one (fewer values than the 999 day subsets)
    np.testing.assert_allclose(calibrated["p_value"], 2.0 / (calibrated["n_null"] + 1.0))
    assert (calibrated["p_value"] > 0).all()


# ----------------------------------------------------------------------------- hand calculations


def test_variance_ratio_by_hand(tiny):
    table = vol.pair_volatility(tiny, [(1, 2)], garch=False)
    got = rows(table, "variance_ratio", "[1,2]")
    for i in range(2):
        est = tiny.ret[i, :40]
        mu = est.mean()
        resid = est - mu
        s2 = (resid**2).sum() / 39
        ar = tiny.ret[i, 41:43] - mu
        ratio = (ar**2 / (1 + 1 / 40)).sum() / 2 / s2
        parametric = 2 * min(stats.f.sf(ratio, 2, 39), stats.f.cdf(ratio, 2, 39))
        p, n_blocks = calibrated_by_hand(resid**2 * 40 / 39, ar**2 / (1 + 1 / 40),
                                         ratio_of_means, ratio)
        row = got.iloc[i]
        assert row["estimate"] == pytest.approx(ratio, rel=1e-12)
        assert row["p_value"] == pytest.approx(p, rel=1e-12)
        assert row["p_value_parametric"] == pytest.approx(min(1.0, parametric), rel=1e-10)
        assert (row["n_null"], row["n"], row["distribution"]) == (n_blocks, 2, "empirical")
        assert row["parametric_reference"] == "F(2,39)"


def test_one_day_windows_use_the_day_permutation_alone(tiny):
    got = rows(vol.pair_volatility(tiny, [(2, 2)], garch=False), "variance_ratio", "[2,2]")
    for i in range(2):
        resid = tiny.ret[i, :40] - tiny.ret[i, :40].mean()
        ar2 = (tiny.ret[i, 42] - tiny.ret[i, :40].mean()) ** 2 / (1 + 1 / 40)
        pooled = np.r_[resid**2 * 40 / 39, ar2]
        sums = pooled[calibration.subsets(41, 1)[:, 0]]
        assert got.iloc[i]["p_value"] == pytest.approx(two_sided_permutation(ar2, sums))


def test_realized_vol_by_hand(tiny):
    table = vol.pair_volatility(tiny, [(0, 2)], garch=False)
    for i in range(2):
        before, after = tiny.ret[i, :40], tiny.ret[i, 40:]
        ratio = np.mean(after**2) / np.mean(before**2)
        p, _ = calibrated_by_hand(before**2, after**2, ratio_of_means, ratio)
        pair = table[table["asset"] == f"A{i}"].set_index("measure")
        assert pair.loc["realized_vol", "estimate"] == pytest.approx(np.sqrt(ratio) - 1)
        assert pair.loc["realized_vol", "statistic"] == pytest.approx(ratio)
        assert pair.loc["realized_vol", "p_value"] == pytest.approx(p)
        parametric = 2 * min(stats.f.sf(ratio, 3, 40), stats.f.cdf(ratio, 3, 40))
        assert pair.loc["realized_vol", "p_value_parametric"] == pytest.approx(min(1, parametric))
        assert pair.loc["realized_vol_before", "estimate"] == pytest.approx(
            np.sqrt(252 * np.mean(before**2)))
        assert pair.loc["realized_vol_after", "estimate"] == pytest.approx(
            np.sqrt(252 * np.mean(after**2)))


def test_two_crash_days_are_a_rise_in_realized_volatility():
    ret = normal_returns(3, 1, 250, 2)  # 1% daily volatility before the event
    ret[0, 250:] = -0.028  # two -2.8% days: the s.d. around the window mean is zero
    row = vol.pair_volatility(make_panel(ret, 250), [(0, 1)], garch=False).set_index("measure")
    assert row.loc["realized_vol", "estimate"] == pytest.approx(
        0.028 / np.sqrt(np.mean(ret[0, :250] ** 2)) - 1, rel=1e-9)
    assert row.loc["realized_vol", "estimate"] > 1.5
    assert row.loc["realized_vol_after", "estimate"] == pytest.approx(0.028 * np.sqrt(252))


def test_log_variance_day_dummies_against_statsmodels():
    ret = normal_returns(3, n_pairs=3, n_est=60, n_event=6, gap=4, event_scale=1.5)
    excluded = np.zeros((3, 60), dtype=bool)
    excluded[1, 20:25] = True  # another event's window dropped from pair 1's sample
    panel = make_panel(ret, n_est=60, gap=4, excluded=excluded)
    table = vol.pair_volatility(panel, [(1, 4)], garch=False)
    got = rows(table, "log_variance_dummy", "[1,4]")
    assert len(got) == 3
    for i in range(3):
        floor = 1e-12 * panel.s2[i]
        est = panel.ar[i, panel.is_estimation[i]]
        l1 = len(est)
        event = panel.ar[i, panel.column(1):panel.column(4) + 1]
        factor = panel.variance_factor[i, panel.column(1) - panel.event_start:
                                       panel.column(4) - panel.event_start + 1]
        y = np.log(np.concatenate([est**2 * l1 / (l1 - 1), event**2 / factor]) + floor)
        dummies = np.zeros((len(y), 4))
        dummies[l1:, :] = np.eye(4)
        fit = sm.OLS(y, sm.add_constant(dummies)).fit()
        weights = np.r_[0.0, np.full(4, 0.25)]
        estimate = weights @ fit.params
        se = np.sqrt(weights @ fit.cov_params() @ weights)
        p, n_blocks = calibrated_by_hand(y[:l1], y[l1:], lambda b, r: b.mean() - r.mean(),
                                         estimate)
        row = got.iloc[i]
        assert row["estimate"] == pytest.approx(estimate, rel=1e-10)
        assert row["statistic"] == pytest.approx(estimate / se, rel=1e-8)
        assert row["p_value_parametric"] == pytest.approx(
            2 * stats.t.sf(abs(estimate / se), fit.df_resid), rel=1e-8)
        assert row["parametric_reference"] == f"t({int(fit.df_resid)})"
        assert row["p_value"] == pytest.approx(p, rel=1e-12)
        assert row["distribution"] == "empirical" and row["n_null"] == n_blocks == l1 - 3


def test_beaver_u_by_hand():
    n_est, n_event = 40, 3
    ret = normal_returns(11, n_pairs=4, n_est=n_est, n_event=n_event, event_scale=1.3)
    panel = make_panel(ret, n_est=n_est)
    got = vol.cross_sectional_volatility(panel, [(0, 1)], assume_independent=True).set_index("measure").loc["beaver_u"]
    ar = panel.ar[:, n_est:n_est + 2]
    u_bar = np.mean(ar**2 / (panel.s2[:, None] * (1 + 1 / n_est)))
    resid2 = panel.ar[:, :n_est] ** 2
    null = []
    for j in range(n_est - 1):
        other = np.delete(resid2, [j, j + 1], axis=1).mean(axis=1)  # leave the block out
        null.append(np.mean(resid2[:, j:j + 2] / other[:, None]))
    null = np.array(null)
    pooled = np.concatenate([resid2 * n_est / (n_est - 1), ar**2 / (1 + 1 / n_est)], axis=1)
    dates = []
    for row in calibration.subsets(n_est + 2, 2):
        other = np.delete(pooled, row, axis=1).mean(axis=1)
        dates.append(np.mean(pooled[:, row] / other[:, None]))
    naive = stats.chi2(8)
    assert got["estimate"] == pytest.approx(u_bar)
    assert got["p_value"] == pytest.approx(max(two_sided_permutation(u_bar, null),
                                               two_sided_permutation(u_bar, np.array(dates))))
    assert (got["distribution"], got["n"], got["n_null"]) == ("empirical", 4, n_est - 1)
    assert got["p_value_parametric"] == pytest.approx(
        2 * min(naive.sf(8 * u_bar), naive.cdf(8 * u_bar)), rel=1e-10)
    assert "robust to same-date clustering" in got["message"]


def test_cs_variance_ratio_by_hand():
    n_est = 60
    panel = make_panel(normal_returns(12, 5, n_est, 3, event_scale=1.2), n_est=n_est)
    got = vol.cross_sectional_volatility(panel, [(0, 2)], assume_independent=True).set_index("measure")
    centred, standardised = [], []
    picks = calibration.subsets(n_est + 3, 3)
    for i in range(5):
        ratio = np.sum(panel.ar[i, n_est:] ** 2 / (1 + 1 / n_est)) / 3 / panel.s2[i]
        pooled = np.r_[panel.ar[i, :n_est] ** 2 * n_est / (n_est - 1),
                       panel.ar[i, n_est:] ** 2 / (1 + 1 / n_est)]
        log_null = np.log([pooled[row].mean() / np.delete(pooled, row).mean() for row in picks])
        centred.append(np.log(ratio) - log_null.mean())
        standardised.append(centred[-1] / log_null.std(ddof=1))
    for measure, values in (("cs_variance_ratio", centred),
                            ("cs_standardized_variance_ratio", standardised)):
        test = stats.ttest_1samp(values, 0.0)
        row = got.loc[measure]
        assert row["estimate"] == pytest.approx(np.mean(values))
        assert row["statistic"] == pytest.approx(test.statistic)
        assert row["p_value"] == pytest.approx(test.pvalue)
        assert "not robust to same-date clustering" in row["message"]


def test_brown_forsythe_equals_scipy_levene():
    ret = normal_returns(5, n_pairs=4, n_est=80, n_event=8, gap=3, event_scale=1.7)
    excluded = np.zeros((4, 80), dtype=bool)
    excluded[2, 30:41] = True
    panel = make_panel(ret, n_est=80, gap=3, excluded=excluded)
    got = rows(vol.pair_volatility(panel, [(0, 7)], garch=False, withhold_unsized=False), "brown_forsythe", "[0,7]")
    for i in range(4):
        est = panel.ar[i, panel.is_estimation[i]]
        event = panel.event_ar[i]
        expected = stats.levene(est, event, center="median")
        row = got.iloc[i]
        assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-10)
        assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-8)
        assert row["df"] == f"1,{len(est) + len(event) - 2}"
        assert row["estimate"] == pytest.approx(event.var(ddof=1) / est.var(ddof=1))


# ----------------------------------------------------------------------------- GARCH


def test_linear_recursion_and_likelihood_derivatives_against_loops():
    rng = np.random.default_rng(0)
    n, width = 4, 35
    drive = rng.standard_normal((n, width))
    beta = np.array([0.0, 0.3, 0.9, 0.999])
    expected = drive.copy()
    for t in range(1, width):
        expected[:, t] += beta * expected[:, t - 1]
    np.testing.assert_allclose(garch_module.linear_recursion(drive, beta), expected, atol=1e-12)

    z2 = rng.standard_t(5, (n, width)) ** 2
    valid = np.ones((n, width), dtype=bool)
    valid[3, 30:] = False
    z2[3, 30:] = 0.0
    backcast = garch_module._backcast(z2, valid.sum(axis=1))
    theta = np.column_stack([[0.1, 0.2, 0.05, 0.3], [0.05, 0.1, 0.2, 0.0], [0.8, 0.6, 0.7, 0.5]])

    def loglik(th):
        out = np.zeros(n)
        for i in range(n):
            e_prev = h_prev = backcast[i]
            for t in range(width):
                h = th[i, 0] + th[i, 1] * e_prev + th[i, 2] * h_prev
                out[i] -= 0.5 * (np.log(h) + z2[i, t] / h) if valid[i, t] else 0.0
                e_prev, h_prev = z2[i, t], h
        return out

    result = garch_module._garch_pass(z2, valid, backcast, theta, derivatives=True)
    np.testing.assert_allclose(result.loglik, loglik(theta), rtol=1e-12)
    step = 1e-6
    for j in range(3):
        shift = np.zeros(3)
        shift[j] = step
        numeric = (loglik(theta + shift) - loglik(theta - shift)) / (2 * step)
        np.testing.assert_allclose(result.grad[:, j], numeric, rtol=1e-6, atol=1e-6)
        up = garch_module._garch_pass(z2, valid, backcast, theta + shift, True).grad
        down = garch_module._garch_pass(z2, valid, backcast, theta - shift, True).grad
        np.testing.assert_allclose(result.hess[:, :, j], (up - down) / (2 * step), rtol=1e-5,
                                   atol=1e-5)


def test_newton_step_survives_a_singular_information_matrix():
    grad = np.array([[1.0, -2.0, 0.5], [0.3, 0.2, 0.1]])
    collinear = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])  # rank one
    current = garch_module._Pass(np.zeros(2), np.ones((2, 5)), grad,
                                 hess=np.stack([collinear, np.zeros((3, 3))]),
                                 info=np.stack([collinear, np.zeros((3, 3))]))
    theta = np.array([[0.5, 0.1, 0.5], [0.5, 0.1, 0.5]])
    step, gain = garch_module._newton_step(theta, current, np.array([1e-8, 0.0, 0.0]),
                                           np.array([10.0, 1.0, 1.0]))
    assert np.isfinite(step).all() and np.isfinite(gain).all()


def _arch_fit(resid: np.ndarray):
    from arch import arch_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arch_model(100 * resid, mean="Zero", vol="GARCH", p=1, q=1).fit(disp="off")


def test_garch_fits_reach_at_least_archs_likelihood_and_forecasts():
    n_est, gap, n_event, n_pairs = 250, 5, 4, 12
    panel = make_panel(garch_returns(1, n_pairs, n_est + gap + n_event, n_est + gap),
                       n_est=n_est, gap=gap)
    fits = vol.fit_garch(panel)
    compared = 0
    for i in np.flatnonzero(fits.status == "ok"):
        result = _arch_fit(panel.ar[i, :n_est])
        params = result.params.to_numpy()
        if result.convergence_flag or params[1] + params[2] >= 1 - 1e-6:
            continue
        compared += 1
        arch_loglik = result.loglikelihood + n_est * np.log(100.0)  # back to return units
        assert fits.loglik[i] >= arch_loglik - 1e-6
        forecast = result.forecast(horizon=gap + n_event, method="analytic", reindex=False)
        np.testing.assert_allclose(fits.event_variance(panel)[i],
                                   np.asarray(forecast.variance)[-1, gap:] / 100**2, rtol=2e-3)
    assert compared >= 8


def test_garch_forecast_is_the_recursion_from_the_last_estimation_day():
    n_est, gap, n_event = 250, 5, 4
    panel = make_panel(garch_returns(4, 1, n_est + gap + n_event, n_est + gap), n_est=n_est,
                       gap=gap)
    fits = vol.fit_garch(panel)
    assert fits.status[0] == "ok", fits.message[0]
    omega, alpha, beta = fits.omega[0], fits.alpha[0], fits.beta[0]
    e = panel.ar[0, :n_est]
    h = np.empty(n_est)
    weights = 0.94 ** np.arange(75)
    backcast = np.sum(weights * e[:75] ** 2) / weights.sum()
    prev_e2, prev_h = backcast, backcast
    for t in range(n_est):
        h[t] = omega + alpha * prev_e2 + beta * prev_h
        prev_e2, prev_h = e[t] ** 2, h[t]
    np.testing.assert_allclose(fits.h_sample[0], h, rtol=1e-10)
    path = [omega + alpha * e[-1] ** 2 + beta * h[-1]]
    for _ in range(gap + n_event - 1):
        path.append(omega + (alpha + beta) * path[-1])
    # rel day 0 is gap + 1 sessions after the last estimation day
    np.testing.assert_allclose(fits.event_variance(panel)[0], path[gap:], rtol=1e-10)
    daily = vol.volatility_daily(panel, fits)
    assert list(daily.columns) == vol.DAILY_COLUMNS
    assert list(daily["rel_day"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(daily["h"], path[gap:], rtol=1e-10)
    np.testing.assert_allclose(daily["ar2_over_h"], panel.event_ar[0] ** 2 / daily["h"])
    assert (daily["date"] == pd.to_datetime(panel.dates[0, n_est + gap:])).all()


def test_garch_cav_formula_and_calibrated_null_by_hand():
    n_est, n_event, l2 = 200, 5, 3
    panel = make_panel(garch_returns(2, 4, n_est + n_event, n_est), n_est=n_est)
    fits = vol.fit_garch(panel)
    table = vol.pair_volatility(panel, [(1, 3)], fits=fits)
    got = rows(table, "garch_cav", "[1,3]")
    ok = np.flatnonzero(fits.status == "ok")
    assert len(got) == len(ok) >= 3
    for i, row in zip(ok, got.itertuples()):
        h = fits.event_variance(panel)[i, 1:4]
        total = np.sum(panel.event_ar[i, 1:4] ** 2 / ((1 + 1 / n_est) * h))
        assert row.estimate == pytest.approx(total - l2)
        assert row.statistic == pytest.approx(total)
        assert row.p_value_parametric == pytest.approx(
            2 * min(stats.chi2.sf(total, l2), stats.chi2.cdf(total, l2)))
        assert row.parametric_reference == "chi2(3)"
        # window day 1 is at horizon d = 2 after the last estimation day (column n_est - 1);
        # the day reference standardises estimation days k = 3 (middle horizon) days ahead
        d, k, phi = 2, 3, fits.alpha[i] + fits.beta[i]
        level = fits.omega[i] / (1 - phi)
        scaled = panel.ar[i, :n_est] ** 2 * n_est / (n_est - 1)
        h_in = fits.h_sample[i]
        days = [scaled[t] / (level + phi ** (k - 1) * (h_in[t - k + 1] - level))
                for t in range(k - 1, n_est)]
        window = panel.event_ar[i, 1:4] ** 2 / ((1 + 1 / n_est) * h)
        pooled = np.r_[days, window]
        sums = np.array([pooled[row].sum() for row in calibration.subsets(len(pooled), l2)])
        one_step = scaled / h_in
        blocks = []
        for j in range(d, n_est - l2 + 1):
            path = [level + phi ** (d + m - 1) * (h_in[j - d + 1] - level) for m in range(l2)]
            block = sum(scaled[j + m] / path[m] for m in range(l2))
            blocks.append(block / np.delete(one_step, range(j, j + l2)).mean())
        expected = max(two_sided_permutation(total, sums),
                       two_sided_permutation(total / one_step.mean(), np.array(blocks)))
        assert row.n_null == len(blocks)
        assert row.p_value == pytest.approx(expected, rel=1e-10)


def test_failed_garch_gives_one_fallback_row_per_window(monkeypatch):
    monkeypatch.setattr(garch_module, "GARCH_MAX_ITERATIONS", 0)
    panel = make_panel(normal_returns(8, 2, 100, 5), n_est=100)
    table = vol.pair_volatility(panel, [(0, 4), (0, 1)])
    garch = table[table["measure"] == "garch_cav"]
    assert list(garch["status"]) == ["fallback"] * 4
    assert garch["message"].str.contains("did not converge in 0 iterations").all()
    fallback = rows(table, "garch_cav", "[0,4]", "fallback").reset_index(drop=True)
    ratio = rows(table, "variance_ratio", "[0,4]").reset_index(drop=True)
    cols = ["estimate", "statistic", "p_value", "distribution", "df", "n", "n_null",
            "p_value_parametric", "parametric_reference"]
    pd.testing.assert_frame_equal(fallback[cols], ratio[cols])
    assert fallback["message"].str.contains("variance_ratio result substituted").all()
    daily = vol.volatility_daily(panel, vol.fit_garch(panel))
    assert daily["h"].isna().all() and set(daily["status"]) == {"failed"}
    assert daily["ar"].notna().all()


def test_non_stationary_data_are_refused():
    rng = np.random.default_rng(5)
    trend = np.exp(np.linspace(0, 3, 255))  # volatility grows 20-fold: alpha + beta -> 1
    panel = make_panel(0.001 * trend * rng.standard_normal(255)[None, :], n_est=250)
    fits = vol.fit_garch(panel)
    assert fits.status[0] == "failed"
    assert "not stationary" in fits.message[0] or "did not converge" in fits.message[0]


def test_garch_cav_positive_after_variance_doubling():
    n_pairs, n_est, n_event = 12, 250, 10
    ret = garch_returns(9, n_pairs, n_est + n_event, n_est, event_variance=2.0)
    panel = make_panel(ret, n_est=n_est)
    table = vol.pair_volatility(panel, [(0, 9)])
    fitted = rows(table, "garch_cav", "[0,9]")
    assert len(fitted) >= 8
    assert (fitted["estimate"] > 0).mean() >= 0.75
    assert fitted["estimate"].median() > 3


# ----------------------------------------------------------------------------- synthetic shifts


def test_variance_doubling_is_found():
    n_pairs, n_est, n_event = 30, 250, 10
    ret = normal_returns(42, n_pairs, n_est, n_event, event_scale=np.sqrt(2))
    panel = make_panel(ret, n_est=n_est)
    table = vol.pair_volatility(panel, [(0, 9)], garch=False)
    ratio = rows(table, "variance_ratio", "[0,9]")
    assert len(ratio) == n_pairs
    assert np.exp(np.log(ratio["estimate"]).mean()) > 1.5
    dummy = rows(table, "log_variance_dummy", "[0,9]")
    assert dummy["estimate"].mean() == pytest.approx(np.log(2), abs=0.25)
    assert (dummy["estimate"] > 0).mean() > 0.7
    realized = rows(table, "realized_vol", "[0,9]")
    assert realized["estimate"].median() == pytest.approx(np.sqrt(2) - 1, abs=0.15)
    scope = vol.cross_sectional_volatility(panel, [(0, 9)], assume_independent=True).set_index("measure")
    assert scope.loc["cs_variance_ratio", "estimate"] == pytest.approx(np.log(2), abs=0.2)
    assert scope.loc["cs_variance_ratio", "p_value"] < 0.01
    assert scope.loc["cs_standardized_variance_ratio", "statistic"] > 3
    assert scope.loc["beaver_u", "estimate"] == pytest.approx(2.0, abs=0.4)
    assert scope.loc["beaver_u", "p_value"] < 0.05


# ----------------------------------------------------------------------------- size


def _pair_rejections(panel: AbnormalPanel, window: tuple[int, int], garch: bool = False):
    table = vol.pair_volatility(panel, [window], garch=garch, withhold_unsized=False)
    tested = table[table["status"] == "ok"]
    return (tested.groupby("measure")[["p_value", "p_value_parametric"]]
            .agg(lambda p: float(np.mean(p <= 0.05))))


def test_calibrated_pair_tests_keep_their_size_on_fat_tails():
    n_pairs, n_est = 800, 250
    panel = make_panel(student_returns(1, n_pairs, n_est + 10, dof=5.0), n_est=n_est)
    rates = _pair_rejections(panel, (0, 9))
    high = binomial_band(0.05, n_pairs)[1]
    for measure in ("variance_ratio", "log_variance_dummy", "realized_vol", "brown_forsythe"):
        # the calibrated union is mildly conservative on independent days (docs/validation.md)
        assert 0.025 <= rates.loc[measure, "p_value"] <= high, (measure, rates)
    # what the normal-theory references do on the same data (the reason for docs/methods.md#calibration)
    assert rates.loc["variance_ratio", "p_value_parametric"] > high
    assert rates.loc["realized_vol", "p_value_parametric"] > high


def test_garch_cav_keeps_its_size_on_fat_tails():
    n_pairs, n_est = 400, 250
    panel = make_panel(student_returns(2, n_pairs, n_est + 16, dof=4.0), n_est=n_est)
    rates = _pair_rejections(panel, (0, 15), garch=True)
    high = binomial_band(0.05, n_pairs)[1]
    assert 0.025 <= rates.loc["garch_cav", "p_value"] <= high, rates
    assert rates.loc["garch_cav", "p_value_parametric"] > high


def _scope_rejections(seed: int, n_scopes: int, n_pairs: int, rho: float, dof: float = 4.0):
    """Rejection rates of the cross-sectional tests over ``n_scopes`` scopes (one panel)."""
    n_est, n_event = 250, 5
    ret = np.vstack([student_returns(seed * 1000 + s, n_pairs, n_est + n_event, dof, rho)
                     for s in range(n_scopes)])
    panel = make_panel(ret, n_est=n_est)
    masks = [np.arange(n_scopes * n_pairs) // n_pairs == s for s in range(n_scopes)]
    frames = vol.scoped_volatility(panel, [(0, 4)], masks, assume_independent=True)
    table = pd.concat(frames, ignore_index=True)
    return table.groupby("measure")["p_value"].agg(lambda p: float(np.mean(p <= 0.05))), table


def test_cross_sectional_tests_keep_their_size_for_independent_fat_tailed_pairs():
    rates, _ = _scope_rejections(3, n_scopes=300, n_pairs=20, rho=0.0)
    low, high = binomial_band(0.05, 300)
    for measure in ("cs_variance_ratio", "cs_standardized_variance_ratio", "beaver_u"):
        assert low <= rates[measure] <= high, (measure, rates)


def test_beaver_u_keeps_size_under_same_date_clustering():
    rates, table = _scope_rejections(4, n_scopes=300, n_pairs=20, rho=0.5, dof=30.0)
    low, high = binomial_band(0.05, 300)
    assert low <= rates["beaver_u"] <= high
    beaver = table[table["measure"] == "beaver_u"]
    assert np.mean(beaver["p_value_parametric"] <= 0.05) > 0.15  # independence over-rejects
    assert rates["cs_variance_ratio"] > high  # the t tests are not robust, as labelled
    # measured on real returns: beaver_u is sized under clustering up to 2-day windows only
    assert beaver["message"].str.contains("not robust to same-date clustering for windows "
                                          "longer than 2 days").all()


# ----------------------------------------------------------------------------- degenerate inputs


def test_constant_returns_are_insufficient_not_errors():
    ret = np.full((2, 260), 0.001)
    panel = make_panel(ret, n_est=250)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = vol.pair_volatility(panel, [(0, 0), (0, 9)])
        scope = vol.cross_sectional_volatility(panel, [(0, 9)], assume_independent=True)
    tested = table[~table["measure"].str.startswith("realized_vol")]
    assert set(tested["status"]) == {"insufficient"}
    assert tested["estimate"].isna().all() and (tested["message"] != "").all()
    assert set(scope["status"]) == {"insufficient"}
    assert scope["estimate"].isna().all()


def test_missing_ar_and_short_estimation_window():
    ret = normal_returns(4, 2, 20, 5)
    panel = make_panel(ret, n_est=20)
    ar = panel.ar.copy()
    ar[1, 22] = np.nan  # rel day 2 missing for pair 1
    panel = AbnormalPanel(**{**panel.__dict__, "ar": ar})
    table = vol.pair_volatility(panel, [(0, 4)])
    garch = rows(table, "garch_cav", "[0,4]", status=None)
    assert list(garch["status"]) == ["insufficient", "insufficient"]
    assert "GARCH needs 30" in garch["message"].iloc[0]
    pair1 = table[(table["asset"] == "A1") & (table["measure"] == "variance_ratio")]
    assert pair1["status"].iloc[0] == "insufficient"
    assert "1 of 5 abnormal returns missing" in pair1["message"].iloc[0]
    pair0 = table[(table["asset"] == "A0") & (table["measure"] == "variance_ratio")]
    assert pair0["status"].iloc[0] == "insufficient"  # 16 blocks of 5 days: too few to calibrate
    assert "16 estimation-window blocks" in pair0["message"].iloc[0]


def test_single_pair_scope_is_insufficient_for_cross_sectional_t():
    panel = make_panel(normal_returns(2, 1, 250, 5), n_est=250)
    scope = vol.cross_sectional_volatility(panel, [(0, 4)], assume_independent=True).set_index("measure")
    assert scope.loc["cs_variance_ratio", "status"] == "insufficient"
    assert scope.loc["cs_standardized_variance_ratio", "status"] == "insufficient"
    assert scope.loc["beaver_u", "status"] == "ok"  # calibrated on the pair's own history


def test_scoped_rows_equal_the_rows_of_the_subset_panel():
    panel = make_panel(normal_returns(6, 9, 250, 5, event_scale=1.4), n_est=250)
    scopes = [panel.event_ids == "ev1", panel.event_ids != "ev2"]
    for independent in (None, True):
        frames = vol.scoped_volatility(panel, [(0, 4), (0, 1)], scopes,
                                       assume_independent=independent)
        for mask, frame in zip(scopes, frames):
            direct = vol.cross_sectional_volatility(panel.subset(mask), [(0, 4), (0, 1)],
                                                    assume_independent=independent)
            pd.testing.assert_frame_equal(frame, direct)
        assert frames[0].set_index("measure").loc["cs_variance_ratio", "n"].iloc[0] == 3


def _dated(panel, first_days):
    days = np.asarray(first_days)[:, None] + np.arange(len(panel.rel_days))[None, :]
    ids = np.array([f"x{i}" for i in range(panel.n_pairs)], dtype=object)  # one pair per event
    return AbnormalPanel(**{**panel.__dict__, "dates": days.astype("datetime64[D]"),
                            "event_ids": ids})


def test_measures_that_lose_their_size_under_clustering_are_withheld_in_clustered_scopes():
    panel = make_panel(normal_returns(6, 9, 250, 5, event_scale=1.4), n_est=250)
    windows = [(0, 4), (0, 1)]
    apart = _dated(panel, np.arange(panel.n_pairs) * 400)  # event periods never overlap
    together = _dated(panel, np.zeros(panel.n_pairs, dtype=int))  # one shared date
    forced = vol.cross_sectional_volatility(panel, windows, assume_independent=True)
    pd.testing.assert_frame_equal(vol.cross_sectional_volatility(apart, windows), forced)
    shared = vol.cross_sectional_volatility(together, windows).set_index(["measure", "window"])
    forced = forced.set_index(["measure", "window"])
    for measure in ("cs_variance_ratio", "cs_standardized_variance_ratio"):
        for window in ("[0,4]", "[0,1]"):
            row = shared.loc[(measure, window)]
            assert row["status"] == "not_reported" and np.isnan(row["p_value"])
            assert row["message"] == vol.base.UNSIZED_SCOPE_NOTE
    assert shared.loc[("beaver_u", "[0,4]"), "status"] == "not_reported"  # 5 days: unsized
    pd.testing.assert_series_equal(shared.loc[("beaver_u", "[0,1]")],  # 2 days: sized
                                   forced.loc[("beaver_u", "[0,1]")])


def test_pair_p_values_of_long_windows_are_withheld():
    panel = make_panel(normal_returns(7, 4, 250, 8), n_est=250)
    kept = vol.pair_volatility(panel, [(0, 5), (0, 6)], garch=False, withhold_unsized=False)
    run = vol.pair_volatility(panel, [(0, 5), (0, 6)], garch=False)
    short, long = run["window"] == "[0,5]", run["window"] == "[0,6]"
    pd.testing.assert_frame_equal(run[short], kept[short])  # 6 sessions: reported
    tested = long & kept["p_value"].notna()  # 4 pairs x 4 tests; realized_vol_before/after: none
    assert tested.sum() == 4 * 4 and run.loc[long, "p_value"].isna().all()
    assert run.loc[tested, "message"].str.contains("windows longer than 6 sessions").all()
    np.testing.assert_array_equal(run.loc[long, "statistic"], kept.loc[long, "statistic"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n_missing=st.integers(0, 6), constant=st.booleans(),
       n_est=st.sampled_from([3, 12, 40]))
def test_degenerate_inputs_never_raise_or_report_nan_as_ok(seed, n_missing, constant, n_est):
    rng = np.random.default_rng(seed)
    ret = normal_returns(seed, 3, n_est, 4, gap=1)
    if constant:
        ret[0] = 0.0
    panel = make_panel(ret, n_est=n_est, gap=1)
    ar = panel.ar.copy()
    cells = rng.integers(0, ar.size, n_missing)
    ar.flat[cells] = np.nan
    panel = AbnormalPanel(**{**panel.__dict__, "ar": ar})
    windows = [(0, 0), (0, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = vol.pair_volatility(panel, windows, garch=n_est >= 40)
        scope = vol.cross_sectional_volatility(panel, windows)
        vol.volatility_daily(panel, vol.fit_garch(panel))
    for frame in (table, scope):
        assert set(frame["status"]) <= STATUSES
        ok = frame[frame["status"].isin(["ok", "fallback"])]
        assert np.isfinite(ok["estimate"].to_numpy(dtype=float)).all()
        tested = ok[ok["distribution"] != ""]
        assert tested["p_value"].between(0, 1).all()
        assert (frame.loc[~frame["status"].isin(["ok", "fallback"]), "message"] != "").all()


# ----------------------------------------------------------------------------- level change


def test_level_change_runs_from_the_day_before_the_window():
    index = pd.bdate_range("2025-04-01", periods=8)
    levels = pd.Series([20.0, 22.0, 25.0, 40.0, 46.0, 35.0, 30.0, 28.0], index=index)
    day0 = index[3]
    table = vol.level_change(levels, day0, [(0, 0), (0, 2), (-1, 1), (-2, 4), (0, 9), (-4, 0)])
    assert list(table.columns) == vol.SCOPE_COLUMNS
    ok = table[table["status"] == "ok"].set_index("window")
    assert ok.loc["[0,0]", "estimate"] == pytest.approx(np.log(40 / 25))  # from day -1
    assert ok.loc["[0,2]", "estimate"] == pytest.approx(np.log(35 / 25))
    assert ok.loc["[-1,1]", "estimate"] == pytest.approx(np.log(46 / 22))  # from day -2
    assert ok.loc["[-2,4]", "estimate"] == pytest.approx(np.log(28 / 20))  # from day -3
    assert "+10.00 points" in ok.loc["[0,2]", "message"]
    assert list(ok["n"]) == [1, 3, 3, 7]
    assert ok["statistic"].isna().all() and (ok["distribution"] == "").all()
    assert list(table["status"]) == ["ok"] * 4 + ["insufficient"] * 2
    assert "starts after day -5" in table["message"].iloc[5]
    missing = vol.level_change(levels, pd.Timestamp("2025-03-01"), [(0, 1)])
    assert missing["status"].iloc[0] == "insufficient"


# ----------------------------------------------------------------------------- invariance


@settings(max_examples=10, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 1000))
def test_scale_invariance(scale, seed):
    ret = normal_returns(seed, 3, 60, 4, event_scale=1.5)
    windows = [(0, 3)]
    base = vol.pair_volatility(make_panel(ret, 60), windows)
    scaled = vol.pair_volatility(make_panel(ret * scale, 60), windows)
    for measure in ("variance_ratio", "brown_forsythe", "log_variance_dummy", "realized_vol",
                    "garch_cav"):
        a, b = rows(scaled, measure, "[0,3]", None), rows(base, measure, "[0,3]", None)
        if measure == "garch_cav":
            # A 60-day fit can sit on the convergence boundary, where rounding of the rescaled
            # residuals decides between the GARCH fit and the constant-variance fallback; the
            # pairs that land on the same side must agree, and most pairs must.
            # The likelihood of a 60-day fit is also flat near its optimum: the Newton steps of
            # the rescaled data stop a hair apart (measured up to 0.3% in the statistic).
            same = (a["status"].to_numpy() == b["status"].to_numpy())
            assert same.sum() >= 2
            a, b = a[same], b[same]
            np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-2)
            np.testing.assert_allclose(a["p_value"], b["p_value"], atol=0.02)
            continue
        np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-6)
        np.testing.assert_allclose(a["p_value"], b["p_value"], rtol=1e-6)
    cs_base = vol.cross_sectional_volatility(make_panel(ret, 60), windows)
    cs_scaled = vol.cross_sectional_volatility(make_panel(ret * scale, 60), windows)
    np.testing.assert_allclose(cs_scaled["statistic"], cs_base["statistic"], rtol=1e-6)


# ----------------------------------------------------------------------------- study stage


def test_study_stage_reports_levels_of_volatility_indices_and_daily_paths():
    import eventstudy as es
    from eventstudy import calendars
    from eventstudy.data import PriceData
    from eventstudy.events import Asset, Event, ModelSpec, StudyConfig, StudySettings

    sessions = calendars.get_sessions("XTKS", "2023-01-04", "2024-12-30")
    rng = np.random.default_rng(3)
    closes = pd.DataFrame({
        "MKT": 100 * np.cumprod(1 + rng.normal(0, 0.01, len(sessions))),
        "A": 50 * np.cumprod(1 + rng.normal(0, 0.015, len(sessions))),
        "B": 70 * np.cumprod(1 + rng.normal(0, 0.015, len(sessions))),
        "VOLX": 20 + np.abs(np.cumsum(rng.normal(0, 0.5, len(sessions)))),
    }, index=pd.DatetimeIndex(sessions, name="date"))
    assets = (Asset("MKT", "Market", "XTKS", "benchmark"),
              Asset("VOLX", "A volatility index", "XTKS", "benchmark", kind="volatility_index"),
              Asset("A", "A", "XTKS", "stocks"), Asset("B", "B", "XTKS", "stocks"))
    day0 = sessions[400]
    events = (Event("e0", "event", "other",
                    pd.Timestamp(day0).tz_localize("Asia/Tokyo") - pd.Timedelta(hours=2),
                    ("synthetic",)),)
    settings_ = StudySettings(name="vol", event_windows=((0, 0), (-1, 2)),
                              min_estimation_returns=100,
                              model=ModelSpec("market", benchmark="MKT"))
    config = StudyConfig(settings_, assets, events)
    provenance = pd.DataFrame({"ticker": list(closes.columns), "source": "synthetic"})
    result = es.Study(config, prices=PriceData(closes, {}, provenance)).run(volatility=True)
    table = result.volatility
    from eventstudy.study import VOLATILITY_COLUMNS

    assert list(table.columns) == VOLATILITY_COLUMNS
    levels = table[table["measure"] == "level_change"].set_index("window")
    assert set(levels["asset"]) == {"VOLX"}
    position = closes.index.get_loc(day0)
    volx = closes["VOLX"]
    assert levels.loc["[-1,2]", "estimate"] == pytest.approx(
        np.log(volx.iloc[position + 2] / volx.iloc[position - 2]))
    assert "VOLX" not in set(table.loc[table["measure"] != "level_change", "asset"])
    daily = result.volatility_daily
    assert list(daily.columns) == vol.DAILY_COLUMNS
    assert len(daily) == result.panel.n_pairs * len(result.panel.event_rel_days)
    assert set(daily["reaction"]) == set(result.panel.reactions)
    assert result.tables()["volatility_daily"] is daily
    cav = table[(table["measure"] == "garch_cav") & (table["status"] == "ok")]
    merged = cav.merge(daily, left_on=["scope_id", "asset", "reaction"],
                       right_on=["event_id", "asset", "reaction"])
    assert len(merged)  # the same fits feed both tables
    cross = table[table["scope"] != "pair"]
    assert cross["message"].str.contains("same-date clustering").all()
