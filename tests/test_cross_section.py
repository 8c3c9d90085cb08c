"""Cross-sectional regression of CARs: HC1 and Sefcik-Thompson standard errors, betas, study wiring."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import eventstudy as es
from eventstudy import calendars, cross_section, returns
from eventstudy.cross_section import (
    CROSS_SECTION_COLUMNS,
    CrossSectionError,
    FormulaError,
    cross_section_regression,
    estimation_betas,
    study_characteristics,
)
from eventstudy.data import PriceData
from eventstudy.events import Asset, Event, ModelSpec, StudyConfig, StudySettings


def _firms(n: int) -> list[str]:
    return [f"F{i:02d}" for i in range(n)]


def test_docstring_examples_run():
    assert doctest.testmod(cross_section).failed == 0


# ---------------------------------------------------------------- hand calculation

def _small_panel():
    """6 firms, 20 estimation days, a dummy and a continuous characteristic."""
    rng = np.random.default_rng(7)
    firms = _firms(6)
    chars = pd.DataFrame({"sector": ["a", "a", "b", "b", "b", "a"],
                          "size": [1.0, 2.5, 0.5, 3.0, 1.5, 2.0]}, index=firms)
    ar = pd.DataFrame(rng.normal(0, 0.01, (20, 6)) + rng.normal(0, 0.005, (20, 1)), columns=firms)
    cars = pd.Series([0.01, -0.02, 0.03, 0.00, 0.015, -0.005], index=firms)
    return cars, chars, ar


def test_sefcik_thompson_and_hc1_match_a_hand_calculation():
    cars, chars, ar = _small_panel()
    table = cross_section_regression(cars, chars, ar, "car ~ C(sector) + size", window_length=3, min_days=20)
    x = np.column_stack([np.ones(6), (chars["sector"] == "b").astype(float), chars["size"]])
    y = cars.to_numpy()
    # the coefficients: OLS of the CARs on the characteristics
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    # Sefcik-Thompson: the same regression on each of the 20 days of abnormal returns
    gammas = np.array([np.linalg.lstsq(x, ar.iloc[t].to_numpy(), rcond=None)[0] for t in range(20)])
    variance = ((gammas - gammas.mean(axis=0)) ** 2).sum(axis=0) / (20 - 1)
    se_st = np.sqrt(3 * variance)
    # HC1: (X'X)^-1 X' diag(e^2) X (X'X)^-1 * n / (n - p)
    e = y - x @ beta
    bread = np.linalg.inv(x.T @ x)
    se_hc1 = np.sqrt(np.diag(bread @ (x.T * e**2) @ x @ bread) * 6 / (6 - 3))

    assert list(table.columns) == CROSS_SECTION_COLUMNS
    assert table["term"].tolist() == ["Intercept", "C(sector)[T.b]", "size"]
    np.testing.assert_allclose(table["estimate"], beta, rtol=1e-10)
    np.testing.assert_allclose(table["std_error_st"], se_st, rtol=1e-10)
    np.testing.assert_allclose(table["t_st"], beta / se_st, rtol=1e-10)
    np.testing.assert_allclose(table["p_st"], 2 * stats.t.sf(np.abs(beta / se_st), 19), rtol=1e-10)
    np.testing.assert_allclose(table["std_error_hc1"], se_hc1, rtol=1e-10)
    assert (table["df_st"] == 19).all()
    assert not {"t_hc1", "p_hc1"} & set(table.columns)  # HC1 keeps no size here: s.e. only
    assert (table["n"] == 6).all() and (table["n_days"] == 20).all() and (table["note"] == "").all()


def test_missing_estimation_days_follow_the_documented_rule():
    cars, chars, ar = _small_panel()
    extra = _firms(8)[6:]
    chars = pd.concat([chars, pd.DataFrame({"sector": ["a", "b"], "size": [1.0, 2.0]}, index=extra)])
    cars = pd.concat([cars, pd.Series([0.0, 0.01], index=extra)])
    rng = np.random.default_rng(3)
    ar = ar.assign(**{f: rng.normal(0, 0.01, 20) for f in extra})
    ar.loc[[2, 9, 15], "F06"] = np.nan  # 17/20 = 85% < 90%: F06 left out entirely
    ar.loc[4, "F07"] = np.nan  # 19/20 = 95%: F07 kept, day 4 dropped from the coefficient series
    table = cross_section_regression(cars, chars, ar, "car ~ C(sector) + size", window_length=3, min_days=10)
    assert (table["n"] == 7).all() and (table["n_days"] == 19).all()
    assert "F06" in table["note"].iloc[0] and "F07" not in table["note"].iloc[0]
    kept = [f for f in cars.index if f != "F06"]
    by_hand = cross_section_regression(cars[kept], chars.loc[kept], ar[kept].drop(index=4),
                                       "car ~ C(sector) + size", window_length=3, min_days=10)
    np.testing.assert_allclose(table["std_error_st"], by_hand["std_error_st"], rtol=1e-12)
    np.testing.assert_allclose(table["estimate"], by_hand["estimate"], rtol=1e-12)


# ---------------------------------------------------------------- known effects recovered

def test_known_sector_effects_and_slope_are_recovered():
    rng = np.random.default_rng(11)
    n = 150
    firms = _firms(n)
    sector = np.array(["banks", "chips", "foods"])[np.arange(n) % 3]
    exposure = rng.normal(1.0, 0.4, n)
    effect = {"banks": -0.04, "chips": -0.07, "foods": 0.0}
    cars = pd.Series([effect[s] for s in sector] + 0.03 * exposure + rng.normal(0, 0.004, n), index=firms)
    chars = pd.DataFrame({"sector": sector, "exposure": exposure}, index=firms)
    ar = pd.DataFrame(rng.normal(0, 0.01, (250, n)), columns=firms)
    table = cross_section_regression(cars, chars, ar, "car ~ C(sector, Treatment('foods')) + exposure",
                                     window_length=2).set_index("term")
    estimate = table["estimate"]
    assert estimate["C(sector, Treatment('foods'))[T.banks]"] == pytest.approx(-0.04, abs=0.003)
    assert estimate["C(sector, Treatment('foods'))[T.chips]"] == pytest.approx(-0.07, abs=0.003)
    assert estimate["exposure"] == pytest.approx(0.03, abs=0.003)
    assert estimate["Intercept"] == pytest.approx(0.0, abs=0.004)
    assert table.loc["exposure", "p_st"] < 1e-6
    assert table.loc["exposure", "std_error_hc1"] < table.loc["exposure", "std_error_st"]


# ---------------------------------------------------------------- size under cross-correlation

def _size_replication(rng, n_firms=60, n_days=250, window=2):
    """Null data: sector-wide and market-wide shocks make the firms' ARs cross-correlated."""
    firms = _firms(n_firms)
    sector = np.arange(n_firms) % 4
    total_days = n_days + window
    common = rng.standard_t(5, (total_days, 4)) * 0.008 / np.sqrt(5 / 3)
    idiosyncratic = rng.standard_t(5, (total_days, n_firms)) * 0.01 / np.sqrt(5 / 3)
    ar = common[:, sector] + idiosyncratic
    cars = pd.Series(ar[n_days:].sum(axis=0), index=firms)
    chars = pd.DataFrame({"sector": sector.astype(str), "size": rng.normal(0, 1, n_firms)}, index=firms)
    return cars, chars, pd.DataFrame(ar[:n_days], columns=firms)


def test_sefcik_thompson_keeps_its_size_where_ols_over_rejects():
    # Smoke version of benchmarks/size_power_cross_section.py (which runs 2,000 replications).
    rng = np.random.default_rng(2024)
    reps, rejected_st, rejected_hc1 = 150, 0, 0
    for _ in range(reps):
        cars, chars, ar = _size_replication(rng)
        table = cross_section_regression(cars, chars, ar, "car ~ C(sector)", window_length=2)
        sector_terms = table[table["term"].str.startswith("C(sector)")]
        rejected_st += int((sector_terms["p_st"] < 0.05).sum())
        p_hc1 = 2 * stats.t.sf(np.abs(sector_terms["estimate"] / sector_terms["std_error_hc1"]),
                               table["n"].iloc[0] - len(table))
        rejected_hc1 += int((p_hc1 < 0.05).sum())
    tests = 3 * reps  # three sector contrasts per replication
    assert 0.02 <= rejected_st / tests <= 0.085
    assert rejected_hc1 / tests > 0.25


# ---------------------------------------------------------------- betas

def test_estimation_betas_recover_known_exposures():
    rng = np.random.default_rng(5)
    days = pd.RangeIndex(250)
    factors = pd.DataFrame({"mkt": rng.normal(0, 0.01, 250), "fx": rng.normal(0, 0.006, 250)}, index=days)
    stocks = pd.DataFrame({
        "A": 0.001 + 1.2 * factors["mkt"] - 0.5 * factors["fx"] + rng.normal(0, 0.002, 250),
        "B": 0.8 * factors["mkt"] + 0.3 * factors["fx"] + rng.normal(0, 0.002, 250),
        "C": np.where(np.arange(250) < 20, 0.01, np.nan),  # too few days: NaN, not a guess
    }, index=days)
    stocks.loc[100:140, "A"] = np.nan  # outside its estimation sample
    betas = estimation_betas(stocks, factors)
    assert list(betas.columns) == ["beta_mkt", "beta_fx"]
    assert betas.loc["A", "beta_mkt"] == pytest.approx(1.2, abs=0.03)
    assert betas.loc["A", "beta_fx"] == pytest.approx(-0.5, abs=0.05)
    assert betas.loc["B", "beta_fx"] == pytest.approx(0.3, abs=0.05)
    assert betas.loc["C"].isna().all()


# ---------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("formula, match", [
    ("car ~ C(sector) + leverage", "leverage"),
    ("car ~ C(sector) +", "formula"),
    ("C(sector) + size", "one '~'"),
    ("np.log(car) ~ size", "left-hand side"),
    ("size ~ C(sector)", "also a characteristic"),
])
def test_bad_formulas_are_refused_in_one_line(formula, match):
    cars, chars, ar = _small_panel()
    with pytest.raises(FormulaError, match=match) as info:
        cross_section_regression(cars, chars, ar, formula, window_length=1, min_days=10)
    assert "\n" not in str(info.value)


def test_no_overlap_and_degenerate_designs_are_refused():
    cars, chars, ar = _small_panel()
    with pytest.raises(CrossSectionError, match="share no firm"):
        cross_section_regression(cars.rename(lambda f: f + "x"), chars, ar, "car ~ size", 1, min_days=10)
    with pytest.raises(CrossSectionError, match="collinear"):
        cross_section_regression(cars, chars.assign(double=2 * chars["size"]), ar, "car ~ size + double", 1,
                                 min_days=10)
    with pytest.raises(CrossSectionError, match="more firms than coefficients"):
        cross_section_regression(cars.iloc[:3], chars, ar, "car ~ C(sector) + size", 1, min_days=10)
    with pytest.raises(CrossSectionError, match="estimation days"):
        cross_section_regression(cars, chars, ar, "car ~ size", 1, min_days=25)


# ---------------------------------------------------------------- through a study

SESSIONS = calendars.get_sessions("XTKS", "2023-01-04", "2025-06-30")
US_SESSIONS = calendars.get_sessions("XNYS", "2023-01-03", "2025-06-30")
SECTOR_EFFECT = {"banks": -0.05, "chips": 0.04, "foods": 0.0}


@pytest.fixture(scope="module")
def sector_study():
    """24 Tokyo stocks in three sectors with a known event-day sector effect and known betas on a
    home index (same day) and a New York index (lagged one New York session)."""
    rng = np.random.default_rng(99)
    tickers = [f"S{i:02d}" for i in range(24)]
    sectors = ["banks", "chips", "foods"]
    market = rng.normal(0, 0.01, len(SESSIONS))
    us_levels = pd.Series(100 * np.cumprod(1 + rng.normal(0, 0.01, len(US_SESSIONS))), index=US_SESSIONS)
    us_lagged = returns.aligned_returns(us_levels, "XNYS", SESSIONS, "XTKS", lag=1).fillna(0).to_numpy()
    event_day = 500
    assets = [Asset("MKT", "Home index", "XTKS", "benchmark"), Asset("USX", "US index", "XNYS", "benchmark")]
    data = {"MKT": 100 * np.cumprod(1 + market)}
    truth = {}
    for i, ticker in enumerate(tickers):
        sector = sectors[i % 3]
        beta, us_beta = 0.6 + 0.05 * i, 0.4 - 0.02 * i
        ret = beta * market + us_beta * us_lagged + rng.normal(0, 0.001, len(SESSIONS))
        ret[event_day] += SECTOR_EFFECT[sector]
        data[ticker] = 50 * np.cumprod(1 + ret)
        truth[ticker] = (beta, us_beta)
        assets.append(Asset(ticker, ticker, "XTKS", sector, attributes={"sector": sector, "size": "big"
                                                                        if i < 12 else ""}))
    closes = pd.DataFrame(data, index=pd.DatetimeIndex(SESSIONS, name="date"))
    closes = closes.join(us_levels.rename("USX"), how="outer")
    event = Event("e0", "event", "other",
                  pd.Timestamp(SESSIONS[event_day]).tz_localize("Asia/Tokyo") + pd.Timedelta(hours=8),
                  ("synthetic",))
    settings = StudySettings(name="sectors", event_windows=((0, 0), (0, 1)), min_estimation_returns=100,
                             model=ModelSpec("market", benchmark="MKT"), volatility=False,
                             group_by=("sector",))
    config = StudyConfig(settings, tuple(assets), (event,))
    prices = PriceData(closes=closes, missing={}, provenance=pd.DataFrame({"ticker": list(closes.columns)}))
    return es.Study(config, prices=prices).run(volatility=False), truth


def test_study_characteristics_hold_attributes_and_lagged_betas(sector_study):
    result, truth = sector_study
    chars = study_characteristics(result, "e0")
    assert list(chars.columns) == ["group", "sector", "size", "beta_mkt", "beta_usx"]
    assert chars.loc["S00", "sector"] == "banks" and pd.isna(chars.loc["S20", "size"])
    for ticker, (beta, us_beta) in truth.items():
        assert chars.loc[ticker, "beta_mkt"] == pytest.approx(beta, abs=0.02)
        assert chars.loc[ticker, "beta_usx"] == pytest.approx(us_beta, abs=0.02)


def test_study_result_cross_section_recovers_the_sector_effect(sector_study):
    result, _ = sector_study
    table = result.cross_section("car ~ C(sector, Treatment('foods'))", (0, 0), event_id="e0")
    assert table[["event_id", "reaction", "window"]].drop_duplicates().values.tolist() == [["e0", "relative",
                                                                                            "[0,0]"]]
    estimate = table.set_index("term")["estimate"]
    assert estimate["C(sector, Treatment('foods'))[T.banks]"] == pytest.approx(-0.05, abs=0.006)
    assert estimate["C(sector, Treatment('foods'))[T.chips]"] == pytest.approx(0.04, abs=0.006)
    assert (table["n"] == 24).all() and (table["df_st"] == table["n_days"] - 1).all()
    sized = result.cross_section("car ~ C(size)", (0, 1))  # every event; firms without a size drop out
    assert sized["n"].tolist() == [12]
    assert sized["note"].iloc[0] == "12 firm(s) left out for a missing CAR or characteristic"


def test_study_result_cross_section_refuses_bad_requests_clearly(sector_study):
    result, _ = sector_study
    with pytest.raises(CrossSectionError, match="unknown event_id 'nope'"):
        result.cross_section("car ~ C(sector)", (0, 1), event_id="nope")
    with pytest.raises(CrossSectionError, match="outside the event period"):
        result.cross_section("car ~ C(sector)", (0, 9))
    with pytest.raises(FormulaError, match="leverage"):
        result.cross_section("car ~ leverage", (0, 1))
