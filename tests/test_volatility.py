"""Tests of eventstudy.volatility: hand calculations, library cross-checks, synthetic shifts,
size under the null (independent and clustered pairs) and degenerate inputs."""

from __future__ import annotations

import re
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

STATUSES = {"ok", "failed", "fallback", "insufficient"}


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


@pytest.fixture(scope="module")
def tiny() -> AbnormalPanel:
    ret = normal_returns(7, n_pairs=2, n_est=10, n_event=3)
    return make_panel(ret, n_est=10)


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
    bad = table[table["status"] != "ok"]
    assert bad["estimate"].isna().all() and (bad["message"] != "").all()
    expected = ["variance_ratio", "brown_forsythe", "log_variance_dummy", "realized_vol",
                "realized_vol_before", "realized_vol_after"]
    first_pair = table[(table["asset"] == "A0") & (table["window"] == "[0,2]")]
    assert list(first_pair["measure"]) == expected
    scope = vol.cross_sectional_volatility(tiny, [(0, 2)])
    assert list(scope.columns) == vol.SCOPE_COLUMNS


def test_window_outside_event_period_raises(tiny):
    with pytest.raises(KeyError):
        vol.pair_volatility(tiny, [(0, 5)], garch=False)


# ----------------------------------------------------------------------------- hand calculations


def test_variance_ratio_by_hand(tiny):
    table = vol.pair_volatility(tiny, [(1, 2)], garch=False)
    got = rows(table, "variance_ratio", "[1,2]")
    ret = tiny.ret
    for i in range(2):
        est = ret[i, :10]
        mu = est.mean()
        s2 = ((est - mu) ** 2).sum() / 9
        ar = ret[i, 11:13] - mu
        ratio = (ar**2 / 1.1).sum() / 2 / s2
        p = 2 * min(stats.f.sf(ratio, 2, 9), stats.f.cdf(ratio, 2, 9))
        row = got.iloc[i]
        assert row["estimate"] == pytest.approx(ratio, rel=1e-12)
        assert row["p_value"] == pytest.approx(min(1.0, p), rel=1e-10)
        assert (row["df"], row["n"], row["distribution"]) == ("2,9", 2, "F")


def test_realized_vol_by_hand(tiny):
    table = vol.pair_volatility(tiny, [(0, 2)], garch=False)
    for i in range(2):
        before = tiny.ret[i, :10].std(ddof=1) * np.sqrt(252)
        after = tiny.ret[i, 10:].std(ddof=1) * np.sqrt(252)
        f_ratio = (after / before) ** 2
        p = 2 * min(stats.f.sf(f_ratio, 2, 9), stats.f.cdf(f_ratio, 2, 9))
        pair = table[table["asset"] == f"A{i}"].set_index("measure")
        assert pair.loc["realized_vol", "estimate"] == pytest.approx(after / before - 1)
        assert pair.loc["realized_vol", "statistic"] == pytest.approx(f_ratio)
        assert pair.loc["realized_vol", "p_value"] == pytest.approx(min(1.0, p))
        assert pair.loc["realized_vol", "df"] == "2,9"
        assert pair.loc["realized_vol_before", "estimate"] == pytest.approx(before)
        assert pair.loc["realized_vol_after", "estimate"] == pytest.approx(after)


def test_log_variance_dummy_by_hand_and_against_statsmodels():
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
        event = panel.ar[i, panel.column(1):panel.column(4) + 1]
        y = np.log(np.concatenate([est, event]) ** 2 + floor)
        dummy = np.r_[np.zeros(len(est)), np.ones(len(event))]
        coef = y[len(est):].mean() - y[:len(est)].mean()
        maxlags = int(np.floor(4 * (len(y) / 100) ** (2 / 9)))
        fit = sm.OLS(y, sm.add_constant(dummy)).fit(
            cov_type="HAC", cov_kwds={"maxlags": maxlags, "use_correction": True})
        row = got.iloc[i]
        assert row["estimate"] == pytest.approx(coef, rel=1e-10)
        assert row["estimate"] == pytest.approx(fit.params[1], rel=1e-10)
        assert row["statistic"] == pytest.approx(fit.tvalues[1], rel=1e-8)
        assert row["p_value"] == pytest.approx(fit.pvalues[1], rel=1e-8)
        assert row["distribution"] == "normal"
        assert f"maxlags={maxlags}" in row["message"]


def test_beaver_u_by_hand():
    n_est, n_event = 40, 3
    ret = normal_returns(11, n_pairs=4, n_est=n_est, n_event=n_event, event_scale=1.3)
    panel = make_panel(ret, n_est=n_est)
    got = vol.cross_sectional_volatility(panel, [(0, 1)]).set_index("measure").loc["beaver_u"]
    ar = panel.ar[:, n_est:n_est + 2]
    u_bar = np.mean(ar**2 / (panel.s2[:, None] * (1 + 1 / n_est)))
    resid = panel.ar[:, :n_est]
    u_est = resid**2 / ((resid**2).sum(axis=1, keepdims=True) / n_est)
    null = np.array([u_est[:, j:j + 2].mean() for j in range(n_est - 1)])
    p = min(1.0, 2 * min(np.mean(null >= u_bar), np.mean(null <= u_bar)))
    naive = stats.chi2(8)
    naive_p = 2 * min(naive.sf(8 * u_bar), naive.cdf(8 * u_bar))
    assert got["estimate"] == pytest.approx(u_bar)
    assert got["p_value"] == pytest.approx(p)
    assert (got["distribution"], got["n"]) == ("empirical", 4)
    assert f"{len(null)} estimation blocks" in got["message"]
    assert float(re.search(r"p = ([0-9.e+-]+)", got["message"]).group(1)) == pytest.approx(
        naive_p, rel=1e-3)


def test_brown_forsythe_equals_scipy_levene():
    ret = normal_returns(5, n_pairs=4, n_est=80, n_event=8, gap=3, event_scale=1.7)
    excluded = np.zeros((4, 80), dtype=bool)
    excluded[2, 30:41] = True
    panel = make_panel(ret, n_est=80, gap=3, excluded=excluded)
    got = rows(vol.pair_volatility(panel, [(0, 7)], garch=False), "brown_forsythe", "[0,7]")
    for i in range(4):
        est = panel.ar[i, panel.is_estimation[i]]
        event = panel.event_ar[i]
        expected = stats.levene(est, event, center="median")
        row = got.iloc[i]
        assert row["statistic"] == pytest.approx(expected.statistic, rel=1e-10)
        assert row["p_value"] == pytest.approx(expected.pvalue, rel=1e-8)
        assert row["df"] == f"1,{len(est) + len(event) - 2}"
        assert row["estimate"] == pytest.approx(event.var(ddof=1) / est.var(ddof=1))


def test_log_f_null_moments_match_simulation():
    rng = np.random.default_rng(0)
    draws = np.log(stats.f(5, 248).rvs(200_000, random_state=rng))
    mean, sd = vol.log_f_null_moments(np.array([5]), np.array([248]))
    assert mean[0] == pytest.approx(draws.mean(), abs=0.01)
    assert sd[0] == pytest.approx(draws.std(), rel=0.01)


# ----------------------------------------------------------------------------- GARCH


def test_garch_forecast_horizon_and_recursion():
    n_est, gap, n_event = 250, 5, 4
    ret = garch_returns(1, 1, n_est + gap + n_event, n_est + gap)
    panel = make_panel(ret, n_est=n_est, gap=gap)
    forecasts = vol.fit_garch_forecasts(panel)
    assert forecasts.status[0] == "ok", forecasts.message[0]
    result = vol._arch_fit(100 * panel.ar[0, :n_est])
    omega, alpha, beta = (result.params[k] for k in ("omega", "alpha[1]", "beta[1]"))
    h = omega + alpha * result.resid[-1] ** 2 + beta * result.conditional_volatility[-1] ** 2
    path = [h]
    for _ in range(gap + n_event - 1):
        path.append(omega + (alpha + beta) * path[-1])
    # rel day 0 is gap + 1 sessions after the last estimation day
    np.testing.assert_allclose(forecasts.h[0], np.array(path[gap:]) / 100**2, rtol=1e-6)
    daily = vol.garch_daily(panel, forecasts)
    assert list(daily["rel_day"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(daily["abnormal_volatility"], panel.event_ar[0] ** 2 / forecasts.h[0])


def test_garch_cav_formula_and_parallel_equals_serial():
    n_est, n_event = 200, 5
    ret = garch_returns(2, 4, n_est + n_event, n_est)
    panel = make_panel(ret, n_est=n_est)
    serial = vol.pair_volatility(panel, [(0, 4)], n_jobs=1)
    parallel = vol.pair_volatility(panel, [(0, 4)], n_jobs=2)
    pd.testing.assert_frame_equal(serial, parallel)
    forecasts = vol.fit_garch_forecasts(panel)
    reused = vol.pair_volatility(panel, [(0, 4)], forecasts=forecasts)
    pd.testing.assert_frame_equal(serial, reused)
    got = rows(serial, "garch_cav", "[0,4]")
    assert len(got) == (forecasts.status == "ok").sum() >= 3
    for i, row in zip(np.flatnonzero(forecasts.status == "ok"), got.itertuples()):
        total = np.sum(panel.event_ar[i] ** 2 / forecasts.h[i])
        assert row.estimate == pytest.approx(total - 5)
        assert row.statistic == pytest.approx(total)
        assert row.p_value == pytest.approx(2 * min(stats.chi2.sf(total, 5), stats.chi2.cdf(total, 5)))
        assert (row.df, row.distribution) == ("5", "chi2")


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
    scope = vol.cross_sectional_volatility(panel, [(0, 9)]).set_index("measure")
    assert scope.loc["cs_variance_ratio", "estimate"] == pytest.approx(np.log(2), abs=0.2)
    assert scope.loc["cs_variance_ratio", "p_value"] < 0.01
    assert scope.loc["cs_standardized_variance_ratio", "statistic"] > 3
    assert scope.loc["beaver_u", "estimate"] == pytest.approx(2.0, abs=0.4)
    assert scope.loc["beaver_u", "p_value"] < 0.05
    # pair_results supplies the same F_i as the panel
    from_pairs = vol.cross_sectional_volatility(panel, [(0, 9)], pair_results=table)
    pd.testing.assert_frame_equal(from_pairs, scope.reset_index()[vol.SCOPE_COLUMNS])


def test_garch_cav_positive_after_variance_doubling():
    n_pairs, n_est, n_event = 12, 250, 10
    ret = garch_returns(9, n_pairs, n_est + n_event, n_est, event_variance=2.0)
    panel = make_panel(ret, n_est=n_est)
    table = vol.pair_volatility(panel, [(0, 9)])
    cav = rows(table, "garch_cav", "[0,9]", status=None)
    fitted = cav[cav["status"] == "ok"]
    assert len(fitted) >= 8
    assert (fitted["estimate"] > 0).mean() >= 0.75
    assert fitted["estimate"].median() > 3


def binomial_band(level: float, trials: int, z: float = 2.576) -> tuple[float, float]:
    half = z * np.sqrt(level * (1 - level) / trials)
    return level - half, level + half


def test_variance_ratio_size_single_pair():
    seeds = range(400)
    rejections = []
    for seed in seeds:
        panel = make_panel(normal_returns(seed, 1, 250, 5), n_est=250)
        rejections.append(vol.variance_ratio(panel, (0, 4)).p_value[0] <= 0.05)
    low, high = binomial_band(0.05, len(seeds))
    assert low <= np.mean(rejections) <= high


def _beaver_rejections(seeds: range, n_pairs: int, rho: float) -> tuple[float, float]:
    empirical, naive = [], []
    for seed in seeds:
        panel = make_panel(normal_returns(seed, n_pairs, 250, 5, rho=rho), n_est=250)
        row = vol.cross_sectional_volatility(panel, [(0, 4)]).set_index("measure").loc["beaver_u"]
        empirical.append(row["p_value"] <= 0.05)
        naive.append(float(re.search(r"p = ([0-9.e+-]+)", row["message"]).group(1)) <= 0.05)
    return float(np.mean(empirical)), float(np.mean(naive))


def test_beaver_u_size_independent_pairs():
    seeds = range(300)
    empirical, naive = _beaver_rejections(seeds, n_pairs=10, rho=0.0)
    low, high = binomial_band(0.05, len(seeds))
    assert low <= empirical <= high
    assert low <= naive <= high


def test_beaver_u_keeps_size_under_same_date_clustering():
    seeds = range(300)
    empirical, naive = _beaver_rejections(seeds, n_pairs=20, rho=0.5)
    low, high = binomial_band(0.05, len(seeds))
    assert low <= empirical <= high
    assert naive > 0.15  # the independence-based chi2 over-rejects


# ----------------------------------------------------------------------------- degenerate inputs


def test_constant_returns_are_insufficient_not_errors():
    ret = np.full((2, 260), 0.001)
    panel = make_panel(ret, n_est=250)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = vol.pair_volatility(panel, [(0, 0), (0, 9)])
        scope = vol.cross_sectional_volatility(panel, [(0, 9)])
    assert set(table["status"]) == {"insufficient"}
    assert table["estimate"].isna().all() and (table["message"] != "").all()
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
    assert pair0["status"].iloc[0] == "ok"


def test_failed_garch_gives_one_fallback_row_per_window(monkeypatch):
    def broken(_):
        raise np.linalg.LinAlgError("singular Hessian")

    monkeypatch.setattr(vol, "_arch_fit", broken)
    panel = make_panel(normal_returns(8, 2, 100, 5), n_est=100)
    table = vol.pair_volatility(panel, [(0, 4)])
    garch = rows(table, "garch_cav", "[0,4]", status=None)
    assert list(garch["status"]) == ["fallback", "fallback"]
    assert garch["message"].str.contains("LinAlgError: singular Hessian").all()
    fallback = garch[garch["status"] == "fallback"].reset_index(drop=True)
    ratio = rows(table, "variance_ratio", "[0,4]").reset_index(drop=True)
    cols = ["estimate", "statistic", "p_value", "distribution", "df", "n"]
    pd.testing.assert_frame_equal(fallback[cols], ratio[cols])
    assert fallback["message"].str.contains("variance_ratio result substituted").all()
    daily = vol.garch_daily(panel)
    assert daily["h_forecast"].isna().all() and set(daily["status"]) == {"failed"}


def test_garch_warnings_are_caught_and_reported(monkeypatch):
    from arch.utility.exceptions import ConvergenceWarning

    real_fit = vol._arch_fit

    def warning_fit(resid):
        warnings.warn("optimizer gave up", ConvergenceWarning, stacklevel=1)
        return real_fit(resid)

    monkeypatch.setattr(vol, "_arch_fit", warning_fit)
    panel = make_panel(garch_returns(3, 1, 105, 100), n_est=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may leak
        table = vol.pair_volatility(panel, [(0, 4)])
    garch = rows(table, "garch_cav", "[0,4]", status=None)
    assert list(garch["status"]) == ["fallback"]
    assert "ConvergenceWarning" in garch["message"].iloc[0]


def test_non_stationary_fit_is_failed(monkeypatch):
    class Result:
        convergence_flag = 0
        params = pd.Series({"omega": 0.01, "alpha[1]": 0.2, "beta[1]": 0.8})

        def forecast(self, **_):
            raise AssertionError("not reached")

    monkeypatch.setattr(vol, "_arch_fit", lambda _: Result())
    with pytest.raises(AssertionError):
        vol.garch_forecast(np.ones(50), 3)

    class Stationary(Result):
        def forecast(self, horizon, **_):
            return type("F", (), {"variance": np.ones((1, horizon))})()

    monkeypatch.setattr(vol, "_arch_fit", lambda _: Stationary())
    with pytest.raises(vol.GarchFitError, match="not stationary"):
        vol.garch_forecast(np.ones(50), 3)


def test_single_pair_scope_is_insufficient_for_cross_sectional_t():
    panel = make_panel(normal_returns(2, 1, 250, 5), n_est=250)
    scope = vol.cross_sectional_volatility(panel, [(0, 4)]).set_index("measure")
    assert scope.loc["cs_variance_ratio", "status"] == "insufficient"
    assert scope.loc["cs_standardized_variance_ratio", "status"] == "insufficient"
    assert scope.loc["beaver_u", "status"] == "ok"  # calibrated on the pair's own history


def test_pair_results_from_a_larger_table_are_restricted_to_the_scope():
    panel = make_panel(normal_returns(6, 9, 250, 5, event_scale=1.4), n_est=250)
    table = vol.pair_volatility(panel, [(0, 4)], garch=False)
    scope = panel.subset(panel.event_ids == "ev1")
    direct = vol.cross_sectional_volatility(scope, [(0, 4)])
    via_table = vol.cross_sectional_volatility(scope, [(0, 4)], pair_results=table)
    pd.testing.assert_frame_equal(direct, via_table)
    assert direct.set_index("measure").loc["cs_variance_ratio", "n"] == 3


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
        scope = vol.cross_sectional_volatility(panel, windows, table)
    for frame in (table, scope):
        assert set(frame["status"]) <= STATUSES
        ok = frame[frame["status"].isin(["ok", "fallback"])]
        assert np.isfinite(ok["estimate"].to_numpy(dtype=float)).all()
        tested = ok[ok["distribution"] != ""]
        assert tested["p_value"].between(0, 1).all()
        assert (frame.loc[~frame["status"].isin(["ok", "fallback"]), "message"] != "").all()


# ----------------------------------------------------------------------------- level change


def test_level_change():
    index = pd.bdate_range("2025-04-01", periods=8)
    levels = pd.Series([20.0, 22.0, 25.0, 40.0, 46.0, 35.0, 30.0, 28.0], index=index)
    day0 = index[3]
    table = vol.level_change(levels, day0, [(0, 0), (0, 2), (0, 9), (-5, -3)])
    assert list(table.columns) == vol.SCOPE_COLUMNS
    ok = table[table["status"] == "ok"].set_index("window")
    assert ok.loc["[0,0]", "estimate"] == pytest.approx(np.log(40 / 25))
    assert ok.loc["[0,2]", "estimate"] == pytest.approx(np.log(35 / 25))
    assert "+10.00 points" in ok.loc["[0,2]", "message"]
    assert ok["statistic"].isna().all() and (ok["distribution"] == "").all()
    assert list(table["status"]) == ["ok", "ok", "insufficient", "insufficient"]
    missing = vol.level_change(levels, pd.Timestamp("2025-03-01"), [(0, 1)])
    assert missing["status"].iloc[0] == "insufficient"


# ----------------------------------------------------------------------------- invariance


@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 1000))
def test_scale_invariance(scale, seed):
    ret = normal_returns(seed, 3, 60, 4, event_scale=1.5)
    windows = [(0, 3)]
    base = vol.pair_volatility(make_panel(ret, 60), windows, garch=False)
    scaled = vol.pair_volatility(make_panel(ret * scale, 60), windows, garch=False)
    for measure in ("variance_ratio", "brown_forsythe", "log_variance_dummy", "realized_vol"):
        np.testing.assert_allclose(rows(scaled, measure, "[0,3]")["statistic"],
                                   rows(base, measure, "[0,3]")["statistic"], rtol=1e-6)
    cs_base = vol.cross_sectional_volatility(make_panel(ret, 60), windows)
    cs_scaled = vol.cross_sectional_volatility(make_panel(ret * scale, 60), windows)
    np.testing.assert_allclose(cs_scaled["statistic"], cs_base["statistic"], rtol=1e-6)
