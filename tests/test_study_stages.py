"""The abnormal-volume stage of ``Study.run`` and the ``cross_section`` table, through a study."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import eventstudy as es
from eventstudy import aggregate, calendars, registry
from eventstudy.cross_section import (
    CrossSectionError,
    FormulaError,
    cross_section_regression,
    cross_section_table,
    default_formula,
    report_cross_section,
    study_characteristics,
)
from eventstudy.data import PriceData
from eventstudy.events import Asset, Event, ModelSpec, ReportSettings, StudyConfig, StudySettings
from eventstudy.featured import choose

SESSIONS = calendars.get_sessions("XTKS", "2023-06-01", "2025-06-30")
EVENT_DAYS = (420, 470)
SECTORS = ("banks", "chips", "foods")
EFFECT = {"banks": -0.04, "chips": 0.03, "foods": 0.0}


def _event(i: int, day: int) -> Event:
    announced = pd.Timestamp(SESSIONS[day]).tz_localize("Asia/Tokyo") + pd.Timedelta(hours=8)
    return Event(f"e{i}", f"event {i}", "other", announced, ("synthetic",))


def _study(volume_setting: bool = True, n_stocks: int = 18, seed: int = 7):
    """Tokyo stocks in three sectors against a home index without volume; each stock trades 4x its
    usual volume on the first event's day 0 and drops by a known sector effect there."""
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.01, len(SESSIONS))
    closes = {"IDX": 100 * np.cumprod(1 + market)}
    volumes = {"IDX": np.full(len(SESSIONS), np.nan)}
    assets = [Asset("IDX", "Home index", "XTKS", "benchmark")]
    for i in range(n_stocks):
        ticker, sector = f"S{i:02d}", SECTORS[i % 3]
        ret = (0.7 + 0.05 * i) * market + rng.normal(0, 0.008, len(SESSIONS))
        ret[EVENT_DAYS[0]] += EFFECT[sector]
        closes[ticker] = 50 * np.cumprod(1 + ret)
        volume = np.round(np.exp(rng.normal(11, 0.3, len(SESSIONS))))
        volume[EVENT_DAYS[0]] *= 4
        volumes[ticker] = volume
        assets.append(Asset(ticker, ticker, "XTKS", "stocks",
                            attributes={"sector": sector, "size": "large" if i < 9 else "small"}))
    index = pd.DatetimeIndex(SESSIONS, name="date")
    prices = PriceData(closes=pd.DataFrame(closes, index=index), missing={},
                       provenance=pd.DataFrame({"ticker": list(closes)}),
                       volumes=pd.DataFrame(volumes, index=index))
    settings = StudySettings(name="stages", estimation_window=(-200, -11), event_windows=((0, 0), (0, 1)),
                             min_estimation_returns=150, model=ModelSpec("market", benchmark="IDX"),
                             volatility=False, volume=volume_setting, group_by=("sector", "size"))
    config = StudyConfig(settings, tuple(assets), tuple(_event(i, d) for i, d in enumerate(EVENT_DAYS)))
    return config, prices


@pytest.fixture(scope="module")
def study_run():
    config, prices = _study()
    return es.Study(config, prices=prices).run(), prices


# ---------------------------------------------------------------- abnormal volume


def test_volume_stage_matches_a_hand_calculation(study_run):
    result, prices = study_run
    assert result.volume is not None and result.volume_tests is not None
    assert result.volume_skipped == {}  # the index is a benchmark, not studied
    row_of = result.volume.set_index(["event_id", "asset", "window"])
    v = np.log1p(prices.volumes["S04"].to_numpy())
    day0 = EVENT_DAYS[0]
    # estimation sample [-200, -11]; the other event (day0 + 50) is outside it, so no exclusion
    estimation = v[day0 - 200:day0 - 10]
    mean = estimation.mean()
    s2 = ((estimation - mean) ** 2).sum() / (len(estimation) - 1)
    for window, days in (("[0,0]", 1), ("[0,1]", 2)):
        cav = (v[day0:day0 + days] - mean).sum()
        var = s2 * (days + days**2 / len(estimation))
        row = row_of.loc[("e0", "S04", window)]
        assert row["abnormal_log_volume"] == pytest.approx(cav, rel=1e-10)
        assert row["volume_ratio"] == pytest.approx(np.exp(cav / days), rel=1e-10)
        assert row["scav"] == pytest.approx(cav / np.sqrt(var), rel=1e-10)
        assert row["n"] == len(estimation)
    # the injected 4x volume on day 0: about log 4 above normal for every stock
    day0_rows = result.volume[(result.volume["event_id"] == "e0") & (result.volume["window"] == "[0,0]")]
    assert day0_rows["abnormal_log_volume"].median() == pytest.approx(np.log(4), abs=0.15)


def test_volume_tests_are_the_size_keeping_ones_and_find_the_injected_surge(study_run):
    result, _ = study_run
    tests = result.volume_tests
    assert set(tests["test"]) == set(registry.VOLUME_TESTS) == {"kp_bmp", "grank"}
    assert "pair" not in set(tests["scope"]) and set(tests["group_by"]) >= {"sector", "size"}
    every = tests[(tests["scope"] == "event") & (tests["group_by"] == "all") & (tests["window"] == "[0,0]")]
    p = every.set_index(["scope_id", "test"])["p_value"]
    assert p[("e0", "kp_bmp")] < 0.01 and p[("e0", "grank")] < 0.01
    assert p[("e1", "kp_bmp")] > 0.01  # nothing injected on the second event
    assert {"volume", "volume_tests"} <= set(result.tables())


def test_volume_stage_follows_the_study_setting_and_the_run_argument():
    config, prices = _study(volume_setting=False, n_stocks=6)
    off = es.Study(config, prices=prices).run()
    assert off.volume is None and off.volume_tests is None and "volume" not in off.tables()
    on = es.Study(config, prices=prices).run(volume=True)
    assert on.volume is not None
    on_config = dataclasses.replace(config, settings=dataclasses.replace(config.settings, volume=True))
    assert es.Study(on_config, prices=prices).run(volume=False).volume is None


def test_series_without_volume_are_skipped_with_a_note():
    config, prices = _study(n_stocks=6)
    volumes = prices.volumes.copy()
    volumes["S01"] = np.nan
    gap = dataclasses.replace(prices, volumes=volumes)
    result = es.Study(config, prices=gap).run()
    assert result.volume_skipped == {"S01": "no volume data (all missing)"}
    assert "S01" not in set(result.volume["asset"]) and "S02" in set(result.volume["asset"])
    none = dataclasses.replace(prices, volumes=None)  # e.g. a price source without volume
    result = es.Study(config, prices=none).run()
    assert result.volume is None and set(result.volume_skipped) == {f"S{i:02d}" for i in range(6)}
    from eventstudy.runner import volume_lines

    assert volume_lines(result)[0] == "  abnormal volume: not measured, no studied series has volume"


# ---------------------------------------------------------------- cross-section table


def test_cross_section_table_equals_the_regression_on_the_same_inputs(study_run):
    result, _ = study_run
    formula = "car ~ C(sector) + beta_idx"
    table = cross_section_table(result, ["e0"], (0, 1), formula)
    assert list(dict.fromkeys(table["reaction"])) == ["total", "relative"]
    for reaction in ("total", "relative"):
        rows = (result.panel.event_ids == "e0") & (result.panel.reactions == reaction)
        panel = result.panel.subset(rows)
        car = result.car[(result.car["event_id"] == "e0") & (result.car["reaction"] == reaction)
                         & (result.car["window"] == "[0,1]")].set_index("asset")["car"]
        residuals = panel.estimation_residuals()
        estimation_ar = pd.DataFrame({
            asset: pd.Series(residuals[i][np.isfinite(residuals[i])],
                             index=pd.DatetimeIndex(panel.dates[i][np.isfinite(residuals[i])]))
            for i, asset in enumerate(panel.assets)})
        direct = cross_section_regression(car, study_characteristics(result, "e0", reaction),
                                          estimation_ar, formula, window_length=2)
        mine = table[table["reaction"] == reaction].reset_index(drop=True)
        assert mine["term"].tolist() == direct["term"].tolist()
        for column in ("estimate", "std_error_st", "p_st", "std_error_hc1"):
            np.testing.assert_allclose(mine[column], direct[column], rtol=1e-12, atol=1e-15)
    against_banks = table[(table["reaction"] == "relative")].set_index("term")["estimate"]
    assert against_banks["C(sector)[T.chips]"] == pytest.approx(0.07, abs=0.012)  # 0.03 - (-0.04)
    assert against_banks["C(sector)[T.foods]"] == pytest.approx(0.04, abs=0.012)


def test_default_formula_uses_group_by_partitions_that_are_not_nested(study_run):
    result, _ = study_run
    assert default_formula(result) == "car ~ C(sector) + C(size) + beta_idx"
    nested = dataclasses.replace(result.config.settings, group_by=("sector", "group", "size"))
    # 'group' ('stocks' for all) does not split the firms; 'sector' within 'size' is not nested
    assert default_formula(dataclasses.replace(result, config=dataclasses.replace(
        result.config, settings=nested))) == "car ~ C(sector) + C(size) + beta_idx"
    coarse = [dataclasses.replace(a, attributes={**a.attributes, "coarse": "cyclical" if
                                                 a.attributes.get("sector") != "foods" else "defensive"})
              if a.attributes else a for a in result.config.assets]
    config = dataclasses.replace(result.config, assets=tuple(coarse), settings=dataclasses.replace(
        result.config.settings, group_by=("sector", "coarse", "size")))
    assert default_formula(dataclasses.replace(result, config=config)) == \
        "car ~ C(sector) + C(size) + beta_idx"  # 'coarse' is a function of 'sector': left out


def test_a_bad_report_formula_is_one_line_naming_the_field(study_run):
    result, _ = study_run
    bad = dataclasses.replace(result.config, report=ReportSettings(cross_section="car ~ leverage"))
    bad_result = dataclasses.replace(result, config=bad)
    featured = choose(bad_result, aggregate.caar_table(bad_result))
    with pytest.raises(FormulaError, match=r"report\.cross_section: formula 'car ~ leverage'") as caught:
        report_cross_section(bad_result, featured)
    assert len(str(caught.value).splitlines()) == 1
    assert issubclass(FormulaError, CrossSectionError)
