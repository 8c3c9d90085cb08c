"""Tests of ``eventstudy.inference`` against independent hand calculations (docs/methods.md#single-pair-tests, #cross-sectional-tests).

The reference functions below (``ref_*``) recompute every statistic with plain Python
loops over pairs and days, straight from the formulas of docs/methods.md
documented in ``eventstudy.inference``; they read only the raw panel fields. They are the
plain twin of the vectorised route.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eventstudy.inference import (
    BHAR_TEST,
    DAILY_TEST_IDS,
    SINGLE_ASSET_TEST_IDS,
    TEST_IDS,
    clustering_note,
    daily_tests,
    mean_offdiagonal_correlation,
    single_asset_tests,
    window_tests,
)
from eventstudy.inference.bootstrap import bootstrap_indices
from eventstudy.inference.pvalues import fair_binomial_tails
from eventstudy.panel import AbnormalPanel

TOL = 1e-12
CROSS_COLUMNS = [
    "test",
    "statistic",
    "p_value",
    "distribution",
    "df",
    "n",
    "r_bar",
    "note",
]


# ----------------------------------------------------------------------------------------
# Panels
# ----------------------------------------------------------------------------------------


def constant_mean_panel(returns: np.ndarray, n_est: int) -> AbnormalPanel:
    """Constant-mean model fitted on the first ``n_est`` columns; the rest is the event period.

    Missing returns (NaN) are left out of the fit: ``L1_i`` = the pair's finite estimation
    returns, ``s2 = SSR / (L1_i - 1)``, ``cov_factor = I + 11'/L1_i``.
    """
    returns = np.asarray(returns, dtype=float)
    n_pairs, n_cols = returns.shape
    n_event = n_cols - n_est
    is_est = np.zeros((n_pairs, n_cols), dtype=bool)
    is_est[:, :n_est] = np.isfinite(returns[:, :n_est])
    l1 = is_est.sum(axis=1)
    mu = np.array([returns[i, is_est[i]].mean() for i in range(n_pairs)])
    ar = returns - mu[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):  # L1 = 1 gives s2 = NaN
        s2 = np.array([(ar[i, is_est[i]] ** 2).sum() / (l1[i] - 1) for i in range(n_pairs)])
    cov = np.stack([np.eye(n_event) + np.ones((n_event, n_event)) / l1[i] for i in range(n_pairs)])
    return AbnormalPanel(
        event_ids=np.array([f"ev{i}" for i in range(n_pairs)], dtype=object),  # one pair per event
        assets=np.array([f"asset{i}" for i in range(n_pairs)], dtype=object),
        rel_days=np.arange(n_cols) - n_est,
        # pair i's days never overlap another pair's: the pairs stand apart in time, so every
        # test of the battery is reported (tests that assume independence included)
        dates=(np.arange(n_pairs)[:, None] * (n_cols + 1) + np.arange(n_cols)).astype("datetime64[D]"),
        ret=returns,
        expected=np.broadcast_to(mu[:, None], returns.shape).copy(),
        ar=ar,
        is_estimation=is_est,
        event_start=n_est,
        cov_factor=cov,
        s2=s2,
        n_est=l1,
        k=np.ones(n_pairs, dtype=int),
    )


def small_returns() -> np.ndarray:
    """4 pairs, L1 = 10 estimation days (rel -10..-1), 3 event days (rel 0, 1, 2)."""
    rng = np.random.default_rng(20250402)
    returns = rng.normal(0.0, 0.01, size=(4, 13)).round(4)
    returns[:, 10] += np.array([0.012, 0.004, 0.02, -0.003])  # an event-day reaction
    returns[1, 12] = returns[1, 2]  # a tie within pair 1
    return returns


def small_panel() -> AbnormalPanel:
    return constant_mean_panel(small_returns(), n_est=10)


def small_panel_with_gaps() -> AbnormalPanel:
    """The small panel plus a 5th pair; a missing estimation day and a missing event day."""
    returns = np.vstack([small_returns(), np.random.default_rng(7).normal(0, 0.02, 13).round(4)])
    returns[1, 3] = np.nan  # pair 1 loses an estimation day: L1 = 9
    returns[2, 11] = np.nan  # pair 2 has no AR on day +1
    return constant_mean_panel(returns, n_est=10)


def iid_panel(seed: int, n_pairs: int = 30, n_est: int = 100, n_event: int = 3, shift=0.0):
    rng = np.random.default_rng(seed)
    returns = rng.standard_normal((n_pairs, n_est + n_event))
    returns[:, n_est] += shift
    return constant_mean_panel(returns, n_est)


PANELS = {"complete": small_panel, "gaps": small_panel_with_gaps}


# ----------------------------------------------------------------------------------------
# Independent reference calculations (plain loops)
# ----------------------------------------------------------------------------------------


def n_cols(panel):
    return panel.ar.shape[1]


def mean(values):
    return sum(values) / len(values)


def sample_sd(values):
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def average_rank(values, j):
    """Rank of values[j] among values (1-based, ties averaged)."""
    less = sum(1 for v in values if v < values[j])
    equal = sum(1 for v in values if v == values[j])
    return less + (equal + 1) / 2.0


def members(panel, days):
    """Pairs with a finite AR on every event day in ``days`` (indices into the event period)."""
    es = panel.event_start
    return [i for i in range(panel.n_pairs) if all(np.isfinite(panel.ar[i, es + d]) for d in days)]


def car(panel, i, days):
    return sum(panel.ar[i, panel.event_start + d] for d in days)


def scar(panel, i, days):
    quad = sum(panel.cov_factor[i, a, b] for a in days for b in days)
    return car(panel, i, days) / math.sqrt(panel.s2[i] * quad)


def estimation_columns(panel, i):
    return [t for t in range(n_cols(panel)) if panel.is_estimation[i, t]]


def ref_cs_t(panel, days):
    x = [car(panel, i, days) for i in members(panel, days)]
    return math.sqrt(len(x)) * mean(x) / sample_sd(x)


def ref_patell(panel, days):
    pairs = members(panel, days)
    total = sum(scar(panel, i, days) for i in pairs)
    dof = [panel.n_est[i] - panel.k[i] for i in pairs]
    return total / math.sqrt(sum(d / (d - 2) for d in dof))


def ref_bmp(panel, days):
    z = [scar(panel, i, days) for i in members(panel, days)]
    return math.sqrt(len(z)) * mean(z) / sample_sd(z)


def ref_correlation(panel, i, j):
    common = [
        t for t in range(n_cols(panel)) if panel.is_estimation[i, t] and panel.is_estimation[j, t]
    ]
    x = [panel.ar[i, t] for t in common]
    y = [panel.ar[j, t] for t in common]
    mx, my = mean(x), mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def ref_r_bar(panel, pairs):
    values = [ref_correlation(panel, i, j) for i in pairs for j in pairs if i < j]
    return mean(values)


def ref_kp_bmp(panel, days):
    pairs = members(panel, days)
    r, n = ref_r_bar(panel, pairs), len(pairs)
    return ref_bmp(panel, days) * math.sqrt((1 - r) / (1 + (n - 1) * r))


def ref_kp_patell(panel, days):
    pairs = members(panel, days)
    r, n = ref_r_bar(panel, pairs), len(pairs)
    return ref_patell(panel, days) / math.sqrt(1 + (n - 1) * r)


def ref_aar_sd(panel, pairs):
    """S(AAR): s.d. (divisor L - 1) of the estimation-window portfolio AAR series."""
    series = []
    for t in range(n_cols(panel)):
        values = [panel.ar[i, t] for i in pairs if panel.is_estimation[i, t]]
        if values:
            series.append(mean(values))
    return sample_sd(series), len(series)


def ref_crude_dependence(panel, days):
    pairs = members(panel, days)
    sd, _ = ref_aar_sd(panel, pairs)
    caar = mean([car(panel, i, days) for i in pairs])
    return caar / (math.sqrt(len(days)) * sd)


def ref_lamb(panel, days):
    pairs = members(panel, days)
    sd, _ = ref_aar_sd(panel, pairs)
    total = 0.0
    for d in days:
        aar = mean([panel.ar[i, panel.event_start + d] for i in pairs])
        mean_c = mean([panel.cov_factor[i, d, d] for i in pairs])
        total += aar / (sd * math.sqrt(mean_c))
    return total / math.sqrt(len(days))


def ref_skewness_adjusted_t(x):
    """Hall / LBT, Stata ``skewt`` convention: S = mean / s (N - 1), g = m3 / m2^1.5."""
    n = len(x)
    m = mean(x)
    m2 = sum((v - m) ** 2 for v in x) / n
    m3 = sum((v - m) ** 3 for v in x) / n
    s = m / sample_sd(x)
    g = m3 / m2**1.5
    return math.sqrt(n) * (s + g * s * s / 3 + g / (6 * n))


def ref_bhar(panel, i, days):
    es = panel.event_start
    held = math.prod(1 + panel.ret[i, es + d] for d in days)
    normal = math.prod(1 + panel.expected[i, es + d] for d in days)
    return held - normal


def ref_standardized_bhar(panel, i, days):
    """BHAR / sqrt(Var CAR): the BHAR in units of the pair's prediction-error s.d."""
    quad = sum(panel.cov_factor[i, a, b] for a in days for b in days)
    return ref_bhar(panel, i, days) / math.sqrt(panel.s2[i] * quad)


def ref_bhar_test(panel, days, alternative="two-sided"):
    """Bootstrapped skewness-adjusted t of the standardised BHARs (LBT), resample by resample."""
    x = sorted(ref_standardized_bhar(panel, i, days) for i in members(panel, days))
    t = ref_skewness_adjusted_t(x)
    centre = mean(x)
    draws = []
    for positions in bootstrap_indices(len(x)):
        sample = [x[j] for j in positions]
        size = len(sample)
        m = mean(sample)
        m2 = sum((v - m) ** 2 for v in sample) / size
        if m2 == 0:
            continue
        m3 = sum((v - m) ** 3 for v in sample) / size
        s = (m - centre) / sample_sd(sample)
        g = m3 / m2**1.5
        draws.append(math.sqrt(size) * (s + g * s * s / 3 + g / (6 * size)))
    k_le = sum(1 for v in draws if v <= t)
    k_ge = sum(1 for v in draws if v >= t)
    n = len(draws)
    p = {
        "two-sided": min(1.0, 2 * min(k_le + 1, k_ge + 1) / (n + 1)),
        "greater": (k_ge + 1) / (n + 1),
        "less": (k_le + 1) / (n + 1),
    }[alternative]
    return t, p


def ref_sign(panel, days):
    x = [car(panel, i, days) for i in members(panel, days)]
    x = [v for v in x if v != 0]
    w = sum(1 for v in x if v > 0)
    return (w - 0.5 * len(x)) / math.sqrt(0.25 * len(x))


def ref_gen_sign(panel, days):
    pairs = members(panel, days)
    positive = total = 0
    for i in pairs:
        for t in estimation_columns(panel, i):
            total += 1
            positive += panel.ar[i, t] > 0
    p = positive / total
    w = sum(1 for i in pairs if car(panel, i, days) > 0)
    n = len(pairs)
    return (w - n * p) / math.sqrt(n * p * (1 - p))


def ref_wilcoxon(panel, days):
    x = [car(panel, i, days) for i in members(panel, days)]
    x = [v for v in x if v != 0]
    n = len(x)
    magnitudes = [abs(v) for v in x]
    w_plus = sum(average_rank(magnitudes, j) for j in range(n) if x[j] > 0)
    return (w_plus - n * (n + 1) / 4) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24)


def ranked_cells(panel, i, days):
    """Rank-test cells of pair i for one day or window: its estimation days plus the
    window's days (T_i = L1 + L2, docs/methods.md#corrado)."""
    return estimation_columns(panel, i) + [panel.event_start + d for d in days]


def ref_corrado(panel, days):
    pairs = members(panel, days)
    deviation = {}  # (i, t) -> K_it - (T_i + 1)/2
    for i in pairs:
        cells = ranked_cells(panel, i, days)
        values = [panel.ar[i, t] for t in cells]
        for j, t in enumerate(cells):
            deviation[i, t] = average_rank(values, j) - (len(cells) + 1) / 2
    squares = []
    for t in range(n_cols(panel)):
        column = [deviation[i, t] for i in pairs if (i, t) in deviation]
        if column:
            squares.append(mean(column) ** 2)
    s_k = math.sqrt(sum(squares) / len(squares))
    window = [deviation[i, panel.event_start + d] for i in pairs for d in days]
    return math.sqrt(len(days)) * mean(window) / s_k


def ref_corrado_zivney(panel, days, daily):
    es = panel.event_start
    sar = {}
    for i in range(panel.n_pairs):
        for t in estimation_columns(panel, i):
            sar[i, t] = panel.ar[i, t] / math.sqrt(panel.s2[i])
    for t in range(es, n_cols(panel)):  # event-day cross-sectional re-scaling, all pairs
        column = [i for i in range(panel.n_pairs) if np.isfinite(panel.ar[i, t])]
        values = [panel.ar[i, t] / math.sqrt(panel.s2[i]) for i in column]
        sd = sample_sd(values)
        for i, value in zip(column, values):
            sar[i, t] = value / sd
    pairs = members(panel, days)
    u = {}
    for i in pairs:
        cells = ranked_cells(panel, i, days)
        values = [sar[i, t] for t in cells]
        for j, t in enumerate(cells):
            u[i, t] = average_rank(values, j) / (len(cells) + 1) - 0.5
    if daily:
        (d,) = days
        squares = []
        for t in range(n_cols(panel)):
            column = [u[i, t] for i in pairs if (i, t) in u]
            if column:
                squares.append((sum(column) / math.sqrt(len(column))) ** 2)
        s_u = math.sqrt(sum(squares) / len(squares))
        return sum(u[i, es + d] for i in pairs) / math.sqrt(len(pairs)) / s_u
    squares = []
    for t in range(n_cols(panel)):
        column = [u[i, t] for i in pairs if (i, t) in u]
        if column:
            squares.append(mean(column) ** 2)
    s_u = math.sqrt(sum(squares) / len(squares))
    window = [u[i, es + d] for i in pairs for d in days]
    return math.sqrt(len(days)) * mean(window) / s_u


def ref_grank(panel, days):
    pairs = members(panel, days)
    n = len(pairs)
    w = [scar(panel, i, days) for i in pairs]
    r = ref_r_bar(panel, pairs)
    kp = math.sqrt(1 - r)  # sqrt(1 - r_bar) only: S_U already carries the cross-correlation
    sd = sample_sd(w)
    u_est = {}  # (i, t) -> U_it on estimation days
    u_zero = []
    for i, w_i in zip(pairs, w):
        cells = estimation_columns(panel, i)
        values = [panel.ar[i, t] / math.sqrt(panel.s2[i]) for t in cells] + [w_i * kp / sd]
        size = len(values)  # L1_i + 1 (Stata estudy: U = rank / (L1 + 1) - 1/2)
        for j, t in enumerate(cells):
            u_est[i, t] = average_rank(values, j) / size - 0.5
        u_zero.append(average_rank(values, size - 1) / size - 0.5)
    total, n_days = 0.0, 0
    for t in range(n_cols(panel)):
        column = [u_est[i, t] for i in pairs if (i, t) in u_est]
        if column:
            n_days += 1
            total += len(column) / n * mean(column) ** 2
    total += mean(u_zero) ** 2  # the CAR day, N_0 = N
    z = mean(u_zero) / math.sqrt(total / n_days)
    return z * math.sqrt((n_days - 2) / (n_days - 1 - z * z)), n_days - 2


REFERENCES = {
    "cs_t": ref_cs_t,
    "patell": ref_patell,
    "bmp": ref_bmp,
    "kp_bmp": ref_kp_bmp,
    "kp_patell": ref_kp_patell,
    "crude_dependence": ref_crude_dependence,
    "lamb": ref_lamb,
    "sign": ref_sign,
    "gen_sign": ref_gen_sign,
    "corrado": ref_corrado,
    "corrado_zivney": None,  # day and window forms differ, see ref_corrado_zivney
    "grank": lambda panel, days: ref_grank(panel, days)[0],
    "wilcoxon": ref_wilcoxon,
    BHAR_TEST: lambda panel, days: ref_bhar_test(panel, days)[0],
}


def reference(test_id, panel, days, daily):
    if test_id == "corrado_zivney":
        return ref_corrado_zivney(panel, days, daily)
    return REFERENCES[test_id](panel, days)


def is_computed(table):
    """Rows whose statistic was computed: their note is only the clustering note."""
    return table["note"] == table["test"].map(clustering_note)


def row(frame, test_id, rel_day=None):
    selected = frame[frame["test"] == test_id]
    if rel_day is not None:
        selected = selected[selected["rel_day"] == rel_day]
    assert len(selected) == 1
    return selected.iloc[0]


# ----------------------------------------------------------------------------------------
# Hand calculations, every test, day and window
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("panel_name", sorted(PANELS))
@pytest.mark.parametrize("test_id", DAILY_TEST_IDS)
def test_daily_statistics_match_hand_calculation(panel_name, test_id):
    panel = PANELS[panel_name]()
    table = daily_tests(panel)
    for d, rel_day in enumerate(panel.event_rel_days):
        got = row(table, test_id, rel_day)
        assert got["note"] == clustering_note(test_id)
        assert got["n"] == len(members(panel, [d]))
        np.testing.assert_allclose(
            got["statistic"], reference(test_id, panel, [d], daily=True), rtol=TOL, atol=TOL
        )


@pytest.mark.parametrize("panel_name", sorted(PANELS))
@pytest.mark.parametrize("window", [(0, 2), (1, 2), (0, 1), (2, 2)])
@pytest.mark.parametrize("test_id", TEST_IDS)
def test_window_statistics_match_hand_calculation(panel_name, window, test_id):
    panel = PANELS[panel_name]()
    days = list(range(window[0], window[1] + 1))  # rel_day == event-period index here
    got = row(window_tests(panel, window), test_id)
    assert got["note"] == clustering_note(test_id)
    assert got["n"] == len(members(panel, days))
    np.testing.assert_allclose(
        got["statistic"], reference(test_id, panel, days, daily=False), rtol=TOL, atol=TOL
    )


@pytest.mark.parametrize("panel_name", sorted(PANELS))
def test_r_bar_is_reported_for_kolari_pynnonen_and_grank_only(panel_name):
    panel = PANELS[panel_name]()
    table = window_tests(panel, (0, 2))
    expected = ref_r_bar(panel, members(panel, [0, 1, 2]))
    for test_id in TEST_IDS:
        got = row(table, test_id)["r_bar"]
        if test_id in ("kp_bmp", "kp_patell", "grank"):
            np.testing.assert_allclose(got, expected, rtol=TOL, atol=TOL)
        else:
            assert np.isnan(got)


def test_distributions_degrees_of_freedom_and_p_values():
    panel = small_panel_with_gaps()
    table = daily_tests(panel)
    n_day1 = len(members(panel, [1]))
    expected = {
        "cs_t": ("t", n_day1 - 1),
        "bmp": ("t", n_day1 - 1),
        "kp_bmp": ("t", n_day1 - 1),
        "crude_dependence": ("t", 10 - 1),  # L = 10 estimation columns with an AAR
        "grank": ("t", ref_grank(panel, [1])[1]),  # T - 2 = L1 - 2 = 8
        "sign": ("binomial", np.nan),
    }
    for test_id in DAILY_TEST_IDS:
        got = row(table, test_id, 1)
        distribution, df = expected.get(test_id, ("normal", np.nan))
        assert got["distribution"] == distribution
        np.testing.assert_equal(got["df"], float(df))
        if distribution == "t":
            p = 2 * stats.t.sf(abs(got["statistic"]), df)
        elif distribution == "binomial":
            n = got["n"]
            p = stats.binomtest(round(got["statistic"] * math.sqrt(n) / 2 + n / 2), n).pvalue
        else:
            p = 2 * stats.norm.sf(abs(got["statistic"]))
        np.testing.assert_allclose(got["p_value"], p, rtol=1e-10)
    assert ref_grank(panel, [1])[1] == 8
    windows = window_tests(panel, (0, 2))
    assert row(windows, "crude_dependence")["distribution"] == "normal"
    assert np.isnan(row(windows, "crude_dependence")["df"])


def test_frames_have_the_contract_columns_and_order():
    panel = small_panel()
    table = daily_tests(panel)
    assert list(table.columns) == ["rel_day", *CROSS_COLUMNS]
    assert list(table["test"][: len(DAILY_TEST_IDS)]) == list(DAILY_TEST_IDS)
    assert list(table["rel_day"]) == list(np.repeat(panel.event_rel_days, len(DAILY_TEST_IDS)))
    assert TEST_IDS == (*DAILY_TEST_IDS, BHAR_TEST)
    windows = window_tests(panel, (0, 1))
    assert list(windows.columns) == CROSS_COLUMNS
    assert list(windows["test"]) == list(TEST_IDS)
    assert windows["n"].dtype == np.int64


def test_patell_window_uses_scar_not_csar():
    """Pinned convention 5: the window Patell sums SCAR_i, not CSAR_i = sum SAR / sqrt(L2)."""
    panel = small_panel()
    got = row(window_tests(panel, (0, 2)), "patell")["statistic"]
    pairs = members(panel, [0, 1, 2])
    csar = [sum(panel.sar[i, d] for d in range(3)) / math.sqrt(3) for i in pairs]
    csar_version = sum(csar) / math.sqrt(sum(9 / 7 for _ in pairs))
    np.testing.assert_allclose(got, ref_patell(panel, [0, 1, 2]), rtol=TOL)
    assert abs(got - csar_version) > 1e-3 * abs(got)


@pytest.mark.parametrize("panel_name", sorted(PANELS))
def test_window_of_one_day_equals_the_daily_test(panel_name):
    """Except Corrado-Zivney when N_t varies: its day form scales by N_t^-1/2, Cowan's by 1/N_t."""
    panel = PANELS[panel_name]()
    daily = daily_tests(panel)
    for rel_day in panel.event_rel_days:
        windows = window_tests(panel, (int(rel_day), int(rel_day)))
        for test_id in DAILY_TEST_IDS:
            a, b = row(daily, test_id, rel_day), row(windows, test_id)
            assert a["n"] == b["n"]
            if test_id == "corrado_zivney" and panel_name == "gaps":
                assert abs(a["statistic"] - b["statistic"]) > 1e-6
            else:
                np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-12)


# ----------------------------------------------------------------------------------------
# Closed forms and invariances
# ----------------------------------------------------------------------------------------


def correlated_residuals_with_gaps(seed: int = 3, n_rows: int = 40, n_cols: int = 60):
    """Rows in a few shared missing-data patterns, some with their own, one constant."""
    rng = np.random.default_rng(seed)
    residuals = 0.6 * rng.standard_normal(n_cols) + rng.standard_normal((n_rows, n_cols))
    for i in range(n_rows):
        kind = i % 5
        if kind == 1:
            residuals[i, :7] = np.nan
        elif kind == 2:
            residuals[i, 20:25] = np.nan
        elif kind == 3:
            residuals[i, rng.choice(n_cols, 4, replace=False)] = np.nan
    residuals[4, :-1] = np.nan  # one observation: no correlation defined
    residuals[9] = 2.5  # constant row: no correlation defined
    return residuals


def pandas_r_bar(residuals):
    corr = pd.DataFrame(residuals.T).corr().to_numpy()
    return np.nanmean(corr[~np.eye(len(corr), dtype=bool)])


@pytest.mark.parametrize("max_groups, extra_rows, block_cells", [
    (48, 8, 2_000_000), (1, 10**9, 2_000_000), (0, 10**9, 50), (0, 2, 2_000_000), (1, 9, 2_000_000),
])
def test_mean_offdiagonal_correlation_matches_pandas_pairwise_complete(
    monkeypatch, max_groups, extra_rows, block_cells
):
    """Pattern groups and directly correlated rows (forced here) give pandas' pairwise r_bar."""
    from eventstudy.inference.kernels import CorrelationStructure

    monkeypatch.setattr(CorrelationStructure, "_MAX_GROUPS", max_groups)
    monkeypatch.setattr(CorrelationStructure, "_EXTRA_GROUP_ROWS", extra_rows)
    monkeypatch.setattr(CorrelationStructure, "_BLOCK_CELLS", block_cells)
    residuals = correlated_residuals_with_gaps()
    got = run_without_warnings(mean_offdiagonal_correlation, residuals)
    np.testing.assert_allclose(got, pandas_r_bar(residuals), rtol=1e-12)
    np.testing.assert_allclose(
        mean_offdiagonal_correlation(residuals[:, :30]), pandas_r_bar(residuals[:, :30]), rtol=1e-12
    )
    assert np.isnan(mean_offdiagonal_correlation(residuals[:1]))
    assert np.isnan(mean_offdiagonal_correlation(np.zeros((0, 5))))


def many_pattern_residuals(n_patterns: int = 110, rows_per_pattern=(1, 9), n_cols: int = 40):
    """Rows in many missing-data patterns (as when a scope pools many events), some shared by
    one row only, the others by nine."""
    rng = np.random.default_rng(21)
    blocks = []
    for p in range(n_patterns):
        rows = rows_per_pattern[p % len(rows_per_pattern)]
        block = 0.5 * rng.standard_normal(n_cols) + rng.standard_normal((rows, n_cols))
        block[:, rng.choice(n_cols, 1 + p % 6, replace=False)] = np.nan
        blocks.append(block)
    return np.vstack(blocks)


def test_many_patterns_grouped_beyond_the_largest_give_pandas_r_bar(monkeypatch):
    """More common patterns than _MAX_GROUPS: the large ones beyond it are grouped too (not
    correlated row by row with every row), with the same mean correlation."""
    from eventstudy.inference.kernels import CorrelationStructure

    residuals = many_pattern_residuals()
    structure = CorrelationStructure.build(residuals)
    sizes = np.bincount(structure.group[structure.group >= 0])
    assert len(sizes) > CorrelationStructure._MAX_GROUPS  # the extra groups exist
    assert (sizes[CorrelationStructure._MAX_GROUPS:] >= CorrelationStructure._EXTRA_GROUP_ROWS).all()
    assert len(structure.direct) < 60  # only one-row patterns and small ones are direct
    np.testing.assert_allclose(mean_offdiagonal_correlation(residuals), pandas_r_bar(residuals),
                               rtol=1e-12)
    monkeypatch.setattr(CorrelationStructure, "_GROUP_LIMIT", 50)  # capped: the rest direct
    capped = CorrelationStructure.build(residuals)
    assert capped.common.shape[0] == 50
    np.testing.assert_allclose(mean_offdiagonal_correlation(residuals), pandas_r_bar(residuals),
                               rtol=1e-12)


def test_r_bar_of_each_cross_section_uses_its_own_pairs():
    residuals = correlated_residuals_with_gaps(seed=8, n_rows=12, n_cols=30)
    returns = np.hstack([residuals, np.random.default_rng(9).normal(0, 1, (12, 3))])
    returns[[0, 5, 6], 30] = np.nan  # day 0 lacks three pairs
    panel = constant_mean_panel(np.where(np.isfinite(returns), returns, np.nan), n_est=30)
    usable = [i for i in range(12) if np.isfinite(panel.s2[i]) and panel.s2[i] > 0]
    table = daily_tests(panel)
    for d in range(3):
        pairs = [i for i in members(panel, [d]) if i in usable]
        expected = pandas_r_bar(np.where(panel.is_estimation, panel.ar, np.nan)[pairs])
        np.testing.assert_allclose(row(table, "kp_bmp", d)["r_bar"], expected, rtol=1e-12)


def orthogonal_panel() -> AbnormalPanel:
    """Three pairs whose estimation residuals are exactly uncorrelated (Hadamard rows)."""
    hadamard = np.array([[1.0]])
    for _ in range(3):
        hadamard = np.block([[hadamard, hadamard], [hadamard, -hadamard]])
    residuals = 0.01 * hadamard[1:4]  # zero-mean, mutually orthogonal rows, L1 = 8
    event = np.array([[0.02, -0.01], [0.005, 0.003], [0.015, 0.01]])
    return constant_mean_panel(np.hstack([residuals + 0.001, event]), n_est=8)


def test_kolari_pynnonen_with_zero_correlation_equals_bmp_and_patell():
    panel = orthogonal_panel()
    for table in (daily_tests(panel), window_tests(panel, (0, 1))):
        assert np.allclose(table.loc[table["test"] == "kp_bmp", "r_bar"], 0.0, atol=1e-15)
        for kp, plain in (("kp_bmp", "bmp"), ("kp_patell", "patell")):
            np.testing.assert_allclose(
                table.loc[table["test"] == kp, "statistic"].to_numpy(),
                table.loc[table["test"] == plain, "statistic"].to_numpy(),
                rtol=1e-13,
            )


def test_wilcoxon_matches_scipy_normal_approximation():
    rng = np.random.default_rng(11)
    panel = constant_mean_panel(rng.normal(0.001, 0.01, size=(25, 41)), n_est=40)
    x = panel.event_ar[:, 0]
    for alternative in ("two-sided", "greater", "less"):
        got = row(daily_tests(panel, alternative), "wilcoxon", 0)
        expected = stats.wilcoxon(x, correction=False, method="approx", alternative=alternative)
        np.testing.assert_allclose(got["p_value"], expected.pvalue, rtol=1e-10)
        np.testing.assert_allclose(abs(got["statistic"]), abs(expected.zstatistic), rtol=1e-10)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_test_has_the_exact_binomial_p_value(alternative):
    panel = iid_panel(8, n_pairs=50, shift=0.3)
    table = window_tests(panel, (0, 1), alternative)
    x = np.array([car(panel, i, [0, 1]) for i in range(50)])
    n, w = len(x), int((x > 0).sum())
    z = (w - stats.binom.mean(n, 0.5)) / stats.binom.std(n, 0.5)
    np.testing.assert_allclose(row(table, "sign")["statistic"], z, rtol=1e-13)
    expected = stats.binomtest(w, n, 0.5, alternative=alternative).pvalue
    np.testing.assert_allclose(row(table, "sign")["p_value"], expected, rtol=1e-12)
    assert row(table, "sign")["distribution"] == "binomial"


def test_fair_binomial_tails_are_scipy_binom_bit_for_bit():
    rng = np.random.default_rng(5)
    n = np.concatenate([np.arange(0, 40), rng.integers(0, 15_000, 400)])
    k = np.clip(n // 2 + rng.integers(-80, 80, n.size), -1, n + 1)  # the tails' bulk, both edges
    k[:5] = [0, 0, 3, 1, 2]  # n = 0..4: k = n, k > n and both tails' edges
    k[-3:] = [0, n[-2], n[-1] - 1]
    lower, upper = fair_binomial_tails(k, n)
    np.testing.assert_array_equal(lower, stats.binom.cdf(k, n, 0.5))
    np.testing.assert_array_equal(upper, stats.binom.sf(k - 1, n, 0.5))
    assert fair_binomial_tails(np.array([1]), np.array([3]))[0][0] == 0.5  # 1/8 + 3/8


def test_sign_test_keeps_its_level_on_the_binomial_lattice():
    """N = 50: the normal approximation rejects P(|W - 25| >= 7) = 6.5%; exact p <= 3.3%."""
    p_values = np.array(
        [
            row(window_tests(iid_panel(s, n_pairs=50, n_est=30), (0, 0)), "sign")["p_value"]
            for s in range(3)
        ]
    )
    lattice = 2 * stats.binom.cdf(np.arange(26), 50, 0.5)
    assert np.isin(np.round(p_values, 12), np.round(np.minimum(lattice, 1.0), 12)).all()
    assert 2 * stats.binom.cdf(18, 50, 0.5) > 0.05 > 2 * stats.binom.cdf(17, 50, 0.5)


def test_grank_is_not_reported_for_windows_longer_than_six_sessions():
    panel = iid_panel(9, n_pairs=20, n_event=10)
    six = row(window_tests(panel, (0, 5)), "grank")
    seven = row(window_tests(panel, (0, 6)), "grank")
    assert np.isfinite(six["statistic"])
    assert np.isnan(seven["statistic"]) and "longer than 6 sessions" in seven["note"]


def test_skewness_adjusted_t_is_the_stata_skewt_convention():
    """S = mean / s with the sample s.d.; g = the moment skewness m3 / m2^1.5 (bias=True)."""
    panel = small_panel()
    x = np.array([ref_standardized_bhar(panel, i, [0, 1]) for i in range(panel.n_pairs)])
    gamma = stats.skew(x, bias=True)
    s = x.mean() / x.std(ddof=1)
    expected = math.sqrt(len(x)) * (s + gamma * s**2 / 3 + gamma / (6 * len(x)))
    got = row(window_tests(panel, (0, 1)), BHAR_TEST)["statistic"]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # a hand calculation: x = (1, 2, 6); mean 3, s = sqrt(7), m2 = 14/3, m3 = 6
    ratio, g = 3 / math.sqrt(7), 6 / (14 / 3) ** 1.5
    hand = math.sqrt(3) * (ratio + g * ratio**2 / 3 + g / 18)
    from eventstudy.inference.bootstrap import skewness_adjusted_t

    np.testing.assert_allclose(skewness_adjusted_t(np.array([1.0, 2.0, 6.0])), hand, rtol=1e-14)
    np.testing.assert_allclose(hand, 2.4630305, rtol=1e-7)


@pytest.mark.parametrize("panel_name", sorted(PANELS))
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("window", [(0, 1), (0, 2)])
def test_bhar_bootstrap_p_value_matches_the_resample_loop(panel_name, alternative, window):
    panel = PANELS[panel_name]()
    days = list(range(window[0], window[1] + 1))
    got = row(window_tests(panel, window, alternative), BHAR_TEST)
    t, p = ref_bhar_test(panel, days, alternative)
    np.testing.assert_allclose(got["statistic"], t, rtol=TOL)
    assert got["p_value"] == p
    assert got["distribution"] == "bootstrap" and np.isnan(got["df"])


def test_bhar_bootstrap_does_not_depend_on_the_order_of_pairs_or_other_windows():
    panel = iid_panel(3, n_pairs=40)
    alone = row(window_tests(panel, (0, 1)), BHAR_TEST)
    permuted = row(
        window_tests(panel.subset(np.random.default_rng(1).permutation(40)), (0, 1)), BHAR_TEST
    )
    assert alone["statistic"] == pytest.approx(permuted["statistic"], rel=1e-12)
    assert alone["p_value"] == permuted["p_value"]
    assert 0 < alone["p_value"] <= 1


def test_bhar_bootstrap_detects_a_shift_and_keeps_size_on_skewed_samples():
    """LBT's bootstrap on lognormal samples (skewed, as BHARs are): size near 5%, power."""
    from eventstudy.inference.bootstrap import skew_t_test

    rng = np.random.default_rng(12)
    draws = np.exp(rng.normal(0, 0.8, (600, 40))) - math.exp(0.32)  # mean 0
    members_ = np.ones(draws.shape, dtype=bool)
    null = skew_t_test(draws, members_, "two-sided").p_value
    shifted = skew_t_test(draws + 0.6, members_, "two-sided").p_value
    assert 0.02 <= (null < 0.05).mean() <= 0.08
    assert (shifted < 0.05).mean() > 0.8


def test_one_sided_p_values():
    panel = small_panel_with_gaps()
    two = window_tests(panel, (0, 2))
    greater = window_tests(panel, (0, 2), alternative="greater")
    less = window_tests(panel, (0, 2), alternative="less")
    parametric = (~two["test"].isin([BHAR_TEST, "sign"])).to_numpy()  # discrete: ties in both tails
    np.testing.assert_allclose((greater["p_value"] + less["p_value"])[parametric], 1.0, rtol=1e-12)
    np.testing.assert_allclose(
        two["p_value"], np.minimum(1, 2 * np.minimum(greater["p_value"], less["p_value"]))
    )
    with pytest.raises(ValueError, match="alternative"):
        daily_tests(panel, alternative="both")


def scaled(panel: AbnormalPanel, c: float) -> AbnormalPanel:
    from dataclasses import replace

    return replace(panel, ar=panel.ar * c, s2=panel.s2 * c * c, ret=panel.ret * c)


def test_scaling_returns_and_volatility_leaves_every_statistic_unchanged():
    panel = small_panel_with_gaps()
    for c in (0.01, 37.0):
        for a, b in (
            (daily_tests(panel), daily_tests(scaled(panel, c))),
            (window_tests(panel, (0, 2)), window_tests(scaled(panel, c), (0, 2))),
        ):
            ar_tests = (a["test"] != BHAR_TEST).to_numpy()  # BHARs compound: not scale-free
            np.testing.assert_allclose(
                a["statistic"][ar_tests], b["statistic"][ar_tests], rtol=1e-9
            )
            np.testing.assert_array_equal(a["n"], b["n"])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), order_seed=st.integers(0, 10_000))
def test_reordering_pairs_changes_nothing(seed, order_seed):
    rng = np.random.default_rng(seed)
    returns = rng.normal(0, 0.01, size=(7, 24)) + 0.005 * rng.standard_normal(24)
    returns[rng.integers(7), rng.integers(20)] = np.nan
    returns[rng.integers(7), 20 + rng.integers(4)] = np.nan
    panel = constant_mean_panel(returns, n_est=20)
    permuted = panel.subset(np.random.default_rng(order_seed).permutation(7))
    for a, b in (
        (daily_tests(panel), daily_tests(permuted)),
        (window_tests(panel, (0, 3)), window_tests(permuted, (0, 3))),
    ):
        np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(a["r_bar"], b["r_bar"], rtol=1e-9, atol=1e-12)
        np.testing.assert_array_equal(a["n"], b["n"])
        assert list(a["note"]) == list(b["note"])


def test_a_pair_without_event_data_is_dropped_and_changes_nothing_else():
    panel = small_panel_with_gaps()
    returns = np.vstack([panel.ret, np.random.default_rng(5).normal(0, 0.01, 13)])
    returns[-1, 10:] = np.nan
    extended = constant_mean_panel(returns, n_est=10)
    for a, b in (
        (daily_tests(panel), daily_tests(extended)),
        (window_tests(panel, (0, 2)), window_tests(extended, (0, 2))),
    ):
        np.testing.assert_allclose(a["statistic"], b["statistic"], rtol=1e-12)
        np.testing.assert_array_equal(a["n"], b["n"])


# ----------------------------------------------------------------------------------------
# Size and power on synthetic panels
# ----------------------------------------------------------------------------------------

SIZE_TESTS = ("bmp", "patell", "cs_t", "corrado", "grank")


def rejection_rates(seeds, shift=0.0):
    rejections = {test_id: 0 for test_id in SIZE_TESTS}
    for seed in seeds:
        table = window_tests(iid_panel(seed, shift=shift), (0, 0))
        for test_id in SIZE_TESTS:
            rejections[test_id] += row(table, test_id)["p_value"] < 0.05
    return {test_id: count / len(seeds) for test_id, count in rejections.items()}


def test_size_under_the_null_is_within_the_binomial_band():
    replications = 400
    rates = rejection_rates(range(replications))
    half_width = 2.576 * math.sqrt(0.05 * 0.95 / replications)  # 99% band
    for test_id, rate in rates.items():
        assert abs(rate - 0.05) <= half_width, (test_id, rate)


def test_power_against_a_day_zero_shift():
    rates = rejection_rates(range(1000, 1100), shift=1.5)
    for test_id, rate in rates.items():
        assert rate > 0.8, (test_id, rate)


# ----------------------------------------------------------------------------------------
# Degenerate input
# ----------------------------------------------------------------------------------------


def run_without_warnings(function, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return function(*args)


def assert_nan_iff_note(table):
    failed = ~is_computed(table)
    assert (table["statistic"].isna() == failed).all()
    assert (table["p_value"].isna() == failed).all()
    assert all(
        note.endswith(clustering_note(test)) for note, test in zip(table["note"], table["test"])
    )


def test_single_pair_leaves_dispersion_tests_undefined():
    panel = small_panel().subset(np.array([0]))
    for table in (
        run_without_warnings(daily_tests, panel),
        run_without_warnings(window_tests, panel, (0, 2)),
    ):
        assert_nan_iff_note(table)
        undefined = {"cs_t", "bmp", "kp_bmp", "kp_patell", BHAR_TEST, "corrado_zivney", "grank"}
        for test_id in set(table["test"]):
            failed = ~is_computed(table[table["test"] == test_id])
            assert failed.all() == (test_id in undefined), test_id
        assert (table["n"] <= 1).all()


def test_all_zero_abnormal_returns():
    panel = constant_mean_panel(np.zeros((4, 13)), n_est=10)
    for table in (
        run_without_warnings(daily_tests, panel),
        run_without_warnings(window_tests, panel, (0, 2)),
    ):
        assert_nan_iff_note(table)
        assert (~is_computed(table)).all()


def test_empty_panel():
    panel = small_panel().subset(np.array([], dtype=int))
    daily = run_without_warnings(daily_tests, panel)
    assert len(daily) == 3 * len(DAILY_TEST_IDS) and (daily["n"] == 0).all()
    assert_nan_iff_note(daily)
    assert (~is_computed(daily)).all()
    assert len(run_without_warnings(single_asset_tests, panel, [(0, 1)])) == 0


def test_missing_pairs_and_empty_cross_sections():
    returns = small_returns()
    returns[:, 11] = np.nan  # nobody has day +1
    returns[0, 10] = np.nan
    panel = constant_mean_panel(returns, n_est=10)
    daily = run_without_warnings(daily_tests, panel)
    assert_nan_iff_note(daily)
    assert (daily.loc[daily["rel_day"] == 1, "n"] == 0).all()
    assert (~is_computed(daily.loc[daily["rel_day"] == 1])).all()
    assert (daily.loc[daily["rel_day"] == 0, "n"] == 3).all()
    window = run_without_warnings(window_tests, panel, (0, 2))
    assert_nan_iff_note(window)
    assert (~is_computed(window)).all()


def test_kolari_pynnonen_undefined_when_one_plus_n_minus_one_r_bar_is_not_positive():
    base = np.array([0.01, -0.02, 0.015, -0.005, 0.0, 0.02, -0.01, 0.005, -0.015, 0.01])
    returns = np.vstack([base, -base])  # r_bar = -1, 1 + (N - 1) r_bar = 0
    returns = np.hstack([returns, np.array([[0.01, 0.02], [0.03, -0.01]])])
    table = run_without_warnings(window_tests, constant_mean_panel(returns, 10), (0, 1))
    for test_id in ("kp_bmp", "kp_patell", "grank"):
        got = row(table, test_id)
        assert np.isnan(got["statistic"]) and "r_bar" in got["note"]
        np.testing.assert_allclose(got["r_bar"], -1.0)
    assert row(table, "bmp")["note"] == clustering_note("bmp")


# ----------------------------------------------------------------------------------------
# Single-asset tests
# ----------------------------------------------------------------------------------------


def ref_sq(reference_values, x, alternative="two-sided"):
    n = len(reference_values)
    k_le = sum(1 for v in reference_values if v <= x)
    k_ge = sum(1 for v in reference_values if v >= x)
    p = {  # permutation p-values (k + 1) / (n + 1)
        "two-sided": min(1.0, 2 * min(k_le + 1, k_ge + 1) / (n + 1)),
        "greater": (k_ge + 1) / (n + 1),
        "less": (k_le + 1) / (n + 1),
    }[alternative]
    return k_le / n, p, n


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_single_asset_tests_match_hand_calculation(alternative):
    panel = small_panel_with_gaps()
    windows = [(0, 1), (1, 1), (0, 2)]
    table = single_asset_tests(panel, windows, alternative)
    contract = "event_id asset rel_day window test statistic p_value distribution df n note"
    assert list(table.columns) == contract.split()
    assert str(table["rel_day"].dtype) == "Int64"
    assert set(table["test"]) == set(SINGLE_ASSET_TEST_IDS)
    windows_with_sq = [(a, b) for a, b in windows if a == b]
    assert len(table) == panel.n_pairs * (3 * 2 + len(windows) + len(windows_with_sq))
    es = panel.event_start
    position = 0
    for i in range(panel.n_pairs):
        dof = panel.n_est[i] - panel.k[i]
        residuals = [panel.ar[i, t] for t in estimation_columns(panel, i)]
        cells = [(d, [d], "") for d in range(3)]
        cells += [(None, list(range(a, b + 1)), f"[{a},{b}]") for a, b in windows]
        for rel_day, days, label in cells:
            ts_row = table.iloc[position]
            position += 1
            sq_row = None
            if len(days) == 1:  # sq only for one-day cells
                sq_row = table.iloc[position]
                position += 1
                assert sq_row["test"] == "sq" and sq_row["window"] == label
            assert ts_row["asset"] == panel.assets[i]
            assert ts_row["window"] == label and ts_row["test"] == "ts_t"
            if rel_day is None:
                assert pd.isna(ts_row["rel_day"])
            else:
                assert ts_row["rel_day"] == rel_day
            if not all(np.isfinite(panel.ar[i, es + d]) for d in days):
                assert np.isnan(ts_row["statistic"]) and ts_row["note"] != ""
                assert sq_row is None or (np.isnan(sq_row["statistic"]) and sq_row["note"] != "")
                continue
            t_value = scar(panel, i, days)
            if alternative == "two-sided":
                p = 2 * stats.t.sf(abs(t_value), dof)
            elif alternative == "greater":
                p = stats.t.sf(t_value, dof)
            else:
                p = stats.t.cdf(t_value, dof)
            np.testing.assert_allclose(ts_row["statistic"], t_value, rtol=TOL)
            np.testing.assert_allclose(ts_row["p_value"], p, rtol=1e-10)
            assert ts_row["distribution"] == "t" and ts_row["df"] == dof
            assert ts_row["n"] == panel.n_est[i] and ts_row["note"] == ""
            if sq_row is None:
                continue
            statistic, p, n = ref_sq(residuals, car(panel, i, days), alternative)
            np.testing.assert_allclose(sq_row["statistic"], statistic, rtol=TOL)
            np.testing.assert_allclose(sq_row["p_value"], p, rtol=TOL)
            assert sq_row["n"] == n and sq_row["distribution"] == "empirical"
            assert np.isnan(sq_row["df"]) and sq_row["note"] == ""


def test_sq_quantile_p_values_at_the_extremes():
    returns = np.hstack([np.arange(1.0, 21.0)[None, :] / 100, [[1.0, -1.0, 0.105]]])
    table = single_asset_tests(constant_mean_panel(returns, n_est=20), [])
    sq = table[table["test"] == "sq"]
    # AR far above every residual: F(AR) = 1, p = 2 (0 + 1) / (20 + 1), the smallest attainable
    np.testing.assert_allclose(sq["statistic"].iloc[0], 1.0)
    np.testing.assert_allclose(sq["p_value"].iloc[0], 2 / 21)
    # AR far below: F(AR) = 0, same p
    np.testing.assert_allclose(sq["p_value"].iloc[1], 2 / 21)
    # AR = 0.105 - 0.105 = 0, the median of 20 symmetric residuals: F = 0.5, p = 1
    np.testing.assert_allclose(sq["statistic"].iloc[2], 0.5)
    np.testing.assert_allclose(sq["p_value"].iloc[2], 1.0)
