"""End-to-end study: real-market facts, invariances, API == CLI."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import eventstudy as es
from eventstudy import calendars
from eventstudy.data import PriceData
from eventstudy.errors import DataError, EstimationError
from eventstudy.events import Asset, Event, ModelSpec, StudyConfig, StudySettings, load_config
from eventstudy.runner import summary_lines
from eventstudy.study import left_out

LIBERATION = "liberation-day-reciprocal-tariffs"
PAUSE = "reciprocal-90day-pause"


@pytest.fixture(scope="module")
def real_result(snapshot_dir, repo_root):
    config = load_config(repo_root / "events.yaml")
    keep = {LIBERATION, PAUSE, "round1-akazawa-trump-whitehouse", "ishiba-trump-call-apr7"}
    config = dataclasses.replace(config, events=tuple(e for e in config.events if e.id in keep))
    return es.Study(config, snapshot=snapshot_dir).run(volatility=False)


def test_nikkei_moves_recorded_by_the_market(real_result):
    ab = real_result.abnormal
    nikkei = ab[(ab["asset"] == "^N225") & (ab["event_id"] == LIBERATION)].set_index("date")
    assert nikkei.loc[pd.Timestamp("2025-04-07"), "ret"] == pytest.approx(-0.0783, abs=5e-5)
    assert nikkei.loc[pd.Timestamp("2025-04-10"), "ret"] == pytest.approx(0.0913, abs=5e-5)
    assert nikkei.loc[pd.Timestamp("2025-04-03"), "rel_day"] == 0
    assert nikkei.loc[pd.Timestamp("2025-04-10"), "rel_day"] == 5


def test_nikkei_car_after_liberation_day_is_significantly_negative(real_result):
    car = real_result.car.set_index(["event_id", "asset", "window"])
    row = car.loc[(LIBERATION, "^N225", "[0,3]")]
    models = real_result.models.set_index(["event_id", "asset"])
    assert models.loc[(LIBERATION, "^N225"), "model"] == "constant_mean"
    assert row["car"] < -0.05
    assert row["car_t"] < -1.96 and row["car_p_value"] < 0.05


def test_tables_have_documented_columns(real_result):
    assert list(real_result.abnormal.columns) == [
        "event_id", "asset", "reaction", "rel_day", "date", "ret", "expected", "ar", "sar", "var_ar",
        "ar_p_value", "ar_df", "ar_sq", "ar_sq_p_value"]
    assert list(real_result.car.columns) == [
        "event_id", "asset", "reaction", "window", "car", "scar", "var_car", "car_t", "car_p_value", "car_df",
        "bhar", "car_sq", "car_sq_p_value"]
    assert {"scope", "scope_id", "rel_day", "window", "test", "statistic", "p_value", "distribution", "df",
            "n"} <= set(real_result.tests)
    assert {"event_id", "asset", "model", "alpha", "beta", "params", "std_errors", "sigma", "r2", "n_obs",
            "status", "message"} <= set(real_result.models)
    assert set(real_result.tests["scope"]) <= {"event", "category", "tag"}  # no single-pair rows
    assert set(real_result.tests["asset"]) == {""}
    tests = set(real_result.tests["test"])
    assert not {"ts_t", "sq"} & tests
    assert {"cs_t", "patell", "bmp", "kp_bmp", "kp_patell", "crude_dependence", "lamb",
            "bhar_skew_t", "sign", "gen_sign", "corrado", "corrado_zivney", "grank", "wilcoxon"} <= tests
    assert "skew_t" not in tests


def test_joint_estimation_measures_liberation_day_and_pause_together(real_result):
    tables = real_result.joint_tables([LIBERATION, PAUSE])
    joint, clusters = tables["joint"], tables["joint_clusters"]
    nikkei = joint[(joint["asset"] == "^N225") & (joint["kind"] == "day")]
    assert set(nikkei["cluster"]) == {"c01"}
    lib_plus5 = nikkei.query(f"event_id == '{LIBERATION}' and rel_day == 5")["estimate"].iloc[0]
    pause_0 = nikkei.query(f"event_id == '{PAUSE}' and rel_day == 0")["estimate"].iloc[0]
    assert lib_plus5 == pause_0 and pause_0 > 0.08
    assert nikkei.query(f"event_id == '{PAUSE}' and rel_day == 0")["date"].iloc[0] == pd.Timestamp("2025-04-10")
    span = clusters.set_index("asset").loc["^N225"]
    assert span["events"] == f"{LIBERATION}+{PAUSE}"
    assert span["first_day0"] == pd.Timestamp("2025-04-03") and span["last_day0"] == pd.Timestamp("2025-04-10")
    assert span["estimation_end"] < pd.Timestamp("2025-03-19") and span["n_estimation"] >= 240


# ---------------------------------------------------------------- synthetic invariances

SESSIONS = calendars.get_sessions("XTKS", "2023-01-04", "2025-06-30")


def _synthetic_config(tickers: list[str], n_events: int = 2) -> StudyConfig:
    assets = [Asset("MKT", "Market", "XTKS", "benchmark")]
    assets += [Asset(t, t, "XTKS", "stocks") for t in tickers]
    events = tuple(
        Event(f"e{i}", f"event {i}", "other",
              pd.Timestamp(SESSIONS[500 + 40 * i]).tz_localize("Asia/Tokyo") + pd.Timedelta(hours=20),
              ("synthetic",), tags=("t",))
        for i in range(n_events)
    )
    settings = StudySettings(
        name="synthetic", event_windows=((0, 0), (0, 1), (-1, 2)), min_estimation_returns=100,
        model=ModelSpec("market", benchmark="MKT"), volatility=False,
    )
    return StudyConfig(settings, tuple(assets), events)


def _synthetic_prices(tickers: list[str], seed: int, scale: dict[str, float] | None = None) -> PriceData:
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.01, len(SESSIONS))
    data = {"MKT": 100 * np.cumprod(1 + market)}
    for t in tickers:
        stock_rng = np.random.default_rng([seed, sum(map(ord, t))])
        ret = 1.1 * market + stock_rng.normal(0, 0.015, len(SESSIONS))
        data[t] = 50 * np.cumprod(1 + ret) * (scale or {}).get(t, 1.0)
    closes = pd.DataFrame(data, index=pd.DatetimeIndex(SESSIONS, name="date"))
    provenance = pd.DataFrame({"ticker": list(closes.columns), "source": "synthetic"})
    return PriceData(closes, {}, provenance)


def _run(tickers, prices):
    return es.Study(_synthetic_config(tickers), prices=prices).run(volatility=False)


@hsettings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), factor=st.floats(0.01, 1000))
def test_rescaling_prices_leaves_results_unchanged(seed, factor):
    tickers = ["A", "B", "C", "D"]
    base = _run(tickers, _synthetic_prices(tickers, seed))
    scaled = _run(tickers, _synthetic_prices(tickers, seed, {t: factor for t in tickers}))
    pd.testing.assert_frame_equal(base.car, scaled.car, rtol=1e-9)
    pd.testing.assert_frame_equal(base.tests, scaled.tests, rtol=1e-9)


@hsettings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), order=st.permutations(["A", "B", "C", "D"]))
def test_reordering_assets_leaves_results_unchanged(seed, order):
    base = _run(["A", "B", "C", "D"], _synthetic_prices(["A", "B", "C", "D"], seed))
    shuffled = _run(list(order), _synthetic_prices(list(order), seed))
    key = ["event_id", "asset", "window"]
    pd.testing.assert_frame_equal(
        base.car.sort_values(key).reset_index(drop=True), shuffled.car.sort_values(key).reset_index(drop=True)
    )
    cross = ["scope", "scope_id", "rel_day", "window", "test"]
    a = base.tests[base.tests["asset"] == ""].sort_values(cross).reset_index(drop=True)
    b = shuffled.tests[shuffled.tests["asset"] == ""].sort_values(cross).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, rtol=1e-10)


def test_adding_an_unrelated_asset_leaves_per_pair_results_unchanged():
    base = _run(["A", "B", "C"], _synthetic_prices(["A", "B", "C"], 7))
    more = _run(["A", "B", "C", "Z"], _synthetic_prices(["A", "B", "C", "Z"], 7))
    kept = more.car[more.car["asset"] != "Z"].reset_index(drop=True)
    pd.testing.assert_frame_equal(base.car.reset_index(drop=True), kept)
    daily = more.abnormal[more.abnormal["asset"] != "Z"].reset_index(drop=True)
    pd.testing.assert_frame_equal(base.abnormal.reset_index(drop=True), daily)


def test_missing_benchmark_leaves_out_its_dependents_and_nothing_left_is_an_error():
    tickers = ["A", "B"]
    prices = _synthetic_prices(tickers, 3)
    prices = PriceData(prices.closes.drop(columns="MKT"), {"MKT": "no file 'MKT.csv'"}, prices.provenance)
    with pytest.raises(DataError) as refused:
        _run(tickers, prices)
    message = str(refused.value)
    assert message.startswith("study 'synthetic': nothing to estimate: none of the 2 studied assets")
    assert "A: left out: its model needs MKT" in message and "\n" not in message
    config = _synthetic_config(tickers)
    assert left_out(config, "MKT") == "leaves out 2 assets whose model needs it (A, B)"
    assert left_out(config, "A") == "leaves out A"


def test_some_pairs_left_is_a_normal_run_that_lists_what_was_refused():
    tickers = ["A", "B", "C"]
    prices = _synthetic_prices(tickers, 4)
    prices = PriceData(prices.closes.drop(columns="C"), {"C": "no file 'C.csv'"}, prices.provenance)
    result = _run(tickers, prices)
    assert result.missing == {"C": "no file 'C.csv'"} and set(result.car["asset"]) == {"A", "B"}
    lines = summary_lines(result, 0.5)
    assert "  no prices for C: no file 'C.csv'; leaves out C" in lines


def test_prices_that_start_after_the_events_are_one_clear_error():
    tickers = ["A", "B"]
    prices = _synthetic_prices(tickers, 2)
    late = PriceData(prices.closes.loc[SESSIONS[560]:], {}, prices.provenance)
    with pytest.raises(EstimationError) as refused:
        _run(tickers, late)
    message = str(refused.value)
    assert "nothing estimable: none of the 4 (event, asset) pairs could be estimated" in message
    assert "4 no_data, e.g. e0 / A: no price data for A around the event" in message
    assert f"prices loaded for {SESSIONS[560]:%Y-%m-%d} .. {SESSIONS[-1]:%Y-%m-%d}" in message


def test_pooled_scopes_count_a_shared_day0_session_once():
    tickers = ["A", "B", "C"]
    config = _synthetic_config(tickers, n_events=2)
    twin = dataclasses.replace(config.events[0], id="twin")
    config = dataclasses.replace(config, events=(*config.events, twin))
    result = es.Study(config, prices=_synthetic_prices(tickers, 5)).run(volatility=False)
    pooled = result.tests.query("scope == 'tag' and test == 'bmp' and window == '[0,1]'")
    assert pooled["n"].iloc[0] == 2 * len(tickers)  # 3 events, but e0 and twin share day 0
    per_event = result.tests.query("scope == 'event' and scope_id == 'twin' and test == 'bmp' and window == '[0,1]'")
    assert per_event["n"].iloc[0] == len(tickers)


def test_constant_prices_are_reported_in_the_models_table_not_silent_nan():
    tickers = ["A", "B", "FLAT"]
    prices = _synthetic_prices(tickers, 9)
    closes = prices.closes.copy()
    closes["FLAT"] = 100.0
    result = _run(tickers, PriceData(closes, {}, prices.provenance))
    flat = result.models[result.models["asset"] == "FLAT"]
    assert (flat["status"] == "degenerate").all()
    assert flat["message"].str.contains("zero residual variance").all()
    assert "FLAT" not in set(result.car["asset"])


def test_results_do_not_depend_on_the_callers_blas_threading(snapshot_dir, repo_root):
    from threadpoolctl import threadpool_limits

    config = load_config(repo_root / "events.yaml")
    config = dataclasses.replace(config, events=tuple(e for e in config.events if e.id in (LIBERATION, PAUSE)))
    with threadpool_limits(limits=2, user_api="blas"):
        two = es.Study(config, snapshot=snapshot_dir).run()
    one = es.Study(config, snapshot=snapshot_dir).run()
    pd.testing.assert_frame_equal(one.volatility, two.volatility, check_exact=True)
    pd.testing.assert_frame_equal(one.tests, two.tests, check_exact=True)


def test_a_declared_proxy_stands_in_for_a_missing_benchmark_and_the_run_says_so(tmp_path):
    tickers = ["A", "B"]
    prices = _synthetic_prices(tickers, 6)
    for ticker, name in (("A", "A"), ("B", "B"), ("MKT", "ETF")):  # no MKT.csv: only its proxy
        frame = pd.DataFrame({"open": "", "high": "", "low": "", "close": prices.closes[ticker],
                              "adj_close": prices.closes[ticker], "volume": ""})
        frame.to_csv(tmp_path / f"{name}.csv", index_label="date", date_format="%Y-%m-%d")
    config = _synthetic_config(tickers)
    proxied = dataclasses.replace(config, settings=dataclasses.replace(
        config.settings, prices=dataclasses.replace(config.settings.prices, proxies={"MKT": "ETF"},
                                                    start=SESSIONS[0])))
    result = es.Study(proxied, snapshot=tmp_path).run(volatility=False)
    direct = _run(tickers, prices)
    pd.testing.assert_frame_equal(result.car, direct.car, rtol=1e-9)
    row = result.provenance.set_index("ticker").loc["MKT"]
    assert row["proxy"] == "ETF" and row["location"].endswith("ETF.csv")
    assert "  proxy: MKT is the series ETF (a different series, as study.prices.proxies asks)" in (
        summary_lines(result, 0.1))
    with pytest.raises(DataError, match="A: left out: its model needs MKT"):
        es.Study(dataclasses.replace(proxied, settings=config.settings), snapshot=tmp_path).run(
            volatility=False)


def test_summary_defaults_to_a_window_of_the_study_and_refuses_others():
    tickers = ["A", "B"]
    config = _synthetic_config(tickers)
    other = dataclasses.replace(config, settings=dataclasses.replace(
        config.settings, event_windows=((-1, 2), (0, 0))))
    result = es.Study(other, prices=_synthetic_prices(tickers, 8)).run(volatility=False)
    summary = result.summary()
    assert set(summary["window"]) == {"[-1,2]"}
    assert len(summary) == 8  # 2 events x 2 assets x (relative, total reaction)
    assert set(summary["reaction"]) == {"relative", "total"}
    with pytest.raises(ValueError, match=r"window \[0,1\] is not an event window of the study"):
        result.summary((0, 1))
    plain = _run(tickers, _synthetic_prices(tickers, 8))
    assert set(plain.summary()["window"]) == {"[0,1]"}


def test_refusal_lines_name_the_reaction_only_when_a_pair_and_its_twin_are_both_refused(caplog):
    import logging

    from eventstudy.study import _log_refusals

    models = pd.DataFrame({
        "event_id": ["e1", "e1", "e2"], "asset": ["A", "A", "B"],
        "reaction": ["relative", "total", "relative"], "status": ["insufficient", "insufficient", "ok"],
        "message": ["only 52 estimation returns", "only 52 estimation returns", ""],
    })
    with caplog.at_level(logging.INFO, logger="eventstudy"):
        _log_refusals(models)
        _log_refusals(models[models["reaction"] == "relative"])
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "not estimated: e1 / A (relative): only 52 estimation returns",
        "not estimated: e1 / A (total): only 52 estimation returns",
        "not estimated: e1 / A: only 52 estimation returns",
    ]
