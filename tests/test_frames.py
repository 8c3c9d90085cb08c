"""event_study / event_panel on user frames (no YAML)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventstudy as es
from eventstudy.errors import ConfigError
from eventstudy.frames import FrameInputError


def _frames(seed=0, n=400, shock=0.03):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2020-01-01", periods=n)
    market = pd.Series(rng.normal(0, 0.01, n), idx)
    returns = pd.DataFrame({c: 0.9 * market + rng.normal(0, 0.01, n) for c in "ABCDEF"})
    returns.iloc[300] += shock
    return returns, market, idx


def test_market_model_abnormal_return_matches_hand_calculation():
    returns, market, idx = _frames()
    res = es.event_study(returns, {"e": idx[300]}, market=market, estimation_window=(-250, -11))
    est = slice(300 - 250, 300 - 10)
    beta, alpha = np.polyfit(market.iloc[est], returns["A"].iloc[est], 1)
    expected_ar = returns["A"].iloc[300] - alpha - beta * market.iloc[300]
    got = res.abnormal.query("asset == 'A' and rel_day == 0")["ar"].iloc[0]
    assert got == pytest.approx(expected_ar, rel=1e-10)
    assert (res.tests.query("scope_id == 'e' and window == '[0,0]' and test == 'kp_bmp'")["p_value"] < 0.01).all()


def test_per_asset_event_dates_and_date_between_sessions():
    returns, market, idx = _frames()
    events = pd.DataFrame({"event_id": ["x", "x"], "asset": ["A", "B"],
                           "date": [idx[300], idx[320] - pd.Timedelta(days=0)]})
    panel, _models = es.event_panel(returns[["A", "B"]], events, market=market)
    assert set(panel.event_ids) == {"x|A", "x|B"}
    saturday = pd.Timestamp("2021-02-13")  # not a session: day 0 is the next session
    panel, _ = es.event_panel(returns, {"sat": saturday}, market=market)
    assert pd.Timestamp(panel.dates[0, panel.column(0)]) == pd.Timestamp("2021-02-15")


def test_market_model_without_market_is_a_clear_error():
    returns, _, idx = _frames()
    with pytest.raises(ValueError, match="needs market returns"):
        es.event_panel(returns, {"e": idx[300]}, market=None)


# ------------------------------------------------------------------ inputs checked at the door
def _car(result, window="[0,1]"):
    return result.car.query(f"window == '{window}'").set_index(["event_id", "asset"])["car"]


def test_unsorted_dates_are_sorted_and_give_the_same_numbers():
    returns, market, idx = _frames()
    base = es.event_study(returns, {"e": idx[300]}, market=market)
    order = np.random.default_rng(1).permutation(len(idx))
    shuffled = es.event_study(returns.iloc[order], {"e": idx[300]}, market=market.iloc[order])
    pd.testing.assert_series_equal(_car(base), _car(shuffled))
    pd.testing.assert_frame_equal(base.tests, shuffled.tests)


def test_a_duplicated_date_is_refused_naming_it():
    returns, market, idx = _frames()
    doubled = pd.concat([returns.iloc[:200], returns.iloc[199:]])
    with pytest.raises(FrameInputError, match=rf"^returns: date {idx[199]:%Y-%m-%d} occurs more than once"):
        es.event_study(doubled, {"e": idx[300]}, market=market)
    with pytest.raises(FrameInputError, match="^market: date"):
        es.event_study(returns, {"e": idx[300]}, market=pd.concat([market, market.iloc[:1]]))


def test_string_dates_are_parsed():
    returns, market, idx = _frames()
    base = es.event_study(returns, {"e": idx[300]}, market=market)
    as_text = returns.set_axis(idx.strftime("%Y-%m-%d"))
    parsed = es.event_study(as_text, {"e": f"{idx[300]:%Y-%m-%d}"},
                            market=market.set_axis(idx.strftime("%Y-%m-%d")))
    pd.testing.assert_series_equal(_car(base), _car(parsed))
    with pytest.raises(FrameInputError, match="^returns: index value 'not a date' is not a date"):
        es.event_study(as_text.rename(index={as_text.index[5]: "not a date"}), {"e": idx[300]},
                       market=market)


def test_a_tz_aware_index_becomes_local_dates():
    returns, market, idx = _frames()
    base = es.event_study(returns, {"e": idx[300]}, market=market)
    closes_utc = (idx + pd.Timedelta(hours=15)).tz_localize("Asia/Tokyo").tz_convert("UTC")
    aware = es.event_study(returns.set_axis(closes_utc), {"e": idx[300]},
                           market=market.set_axis(closes_utc), exchange="XTKS")
    pd.testing.assert_series_equal(_car(base), _car(aware))
    own_zone = es.event_study(returns.set_axis(idx.tz_localize("Asia/Tokyo")), {"e": idx[300]},
                              market=market.set_axis(idx.tz_localize("Asia/Tokyo")))
    pd.testing.assert_series_equal(_car(base), _car(own_zone))


def test_a_tz_aware_event_time_maps_by_the_session_close_rule():
    returns, market, _ = _frames(n=400)
    sessions = pd.bdate_range("2024-08-01", periods=400)
    returns, market = returns.set_axis(sessions), market.set_axis(sessions)
    after_close = pd.Timestamp("2025-04-02T16:00:00-04:00")  # 05:00 JST on 3 April
    panel, _ = es.event_panel(returns, {"e": after_close}, market=market, exchange="XNYS")
    assert pd.Timestamp(panel.dates[0, panel.column(0)]) == pd.Timestamp("2025-04-03")
    panel, _ = es.event_panel(returns, {"e": after_close}, market=market, exchange="XTKS")
    assert pd.Timestamp(panel.dates[0, panel.column(0)]) == pd.Timestamp("2025-04-03")
    during = pd.Timestamp("2025-04-09T13:18:00-04:00")  # inside the New York session
    panel, _ = es.event_panel(returns, {"e": during}, market=market, exchange="XNYS")
    assert pd.Timestamp(panel.dates[0, panel.column(0)]) == pd.Timestamp("2025-04-09")
    midnight = pd.Timestamp("2025-04-07", tz="Asia/Tokyo")  # a date, whatever its zone
    panel, _ = es.event_panel(returns, {"e": midnight}, market=market)
    assert pd.Timestamp(panel.dates[0, panel.column(0)]) == pd.Timestamp("2025-04-07")
    with pytest.raises(FrameInputError, match=r"^events: event 'e': the time .* needs exchange="):
        es.event_panel(returns, {"e": after_close}, market=market)
    with pytest.raises(FrameInputError, match="^exchange: unknown exchange 'TSE'"):
        es.event_panel(returns, {"e": after_close}, market=market, exchange="TSE")


def test_an_integer_index_is_refused_not_read_as_1970():
    returns, market, _ = _frames()
    with pytest.raises(FrameInputError, match=r"^returns: the index must hold dates, not int64"):
        es.event_study(returns.reset_index(drop=True), {"e": "2021-03-01"}, market=market)


def test_a_series_is_one_asset():
    returns, market, idx = _frames()
    frame = es.event_study(returns[["A"]], {"e": idx[300]}, market=market)
    series = es.event_study(returns["A"], {"e": idx[300]}, market=market)
    pd.testing.assert_series_equal(_car(frame), _car(series))
    unnamed = es.event_study(returns["A"].rename(None), {"e": idx[300]}, market=market)
    assert unnamed.car["asset"].unique().tolist() == ["asset"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"event_windows": [(-20, 1)]},
     "^estimation_window: ends at -11, not before the earliest event-window start -20"),
    ({"event_windows": [(2, 1)]}, r"^event_windows\[0\]: start 2 is after end 1"),
    ({"event_windows": [(0, 1), (0, 1)]}, r"^event_windows\[1\]: duplicate window \[0, 1\]"),
    ({"event_windows": []}, "^event_windows: expected a non-empty list"),
    ({"estimation_window": (-100, -11), "min_estimation_returns": 120},
     "^min_estimation_returns: 120 must be an integer > 0 and at most the 90 sessions"),
    ({"estimation_window": (-100.5, -11)}, "^estimation_window: expected whole numbers"),
    ({"model": "factor"}, "^model: 'factor' is not one of constant_mean"),
])
def test_window_and_model_rules_are_those_of_the_study_file(kwargs, message):
    returns, market, idx = _frames()
    with pytest.raises(FrameInputError, match=message) as refused:
        es.event_study(returns, {"e": idx[300]}, market=market, **kwargs)
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, ConfigError)


@pytest.mark.parametrize(("events", "message"), [
    (pd.DataFrame({"event_id": ["x"], "date": ["2021-03-01"]}), "^events: the frame lacks the column"),
    (pd.DataFrame({"event_id": ["x"], "asset": ["Z"], "date": ["2021-03-01"]}),
     "^events: event 'x': asset 'Z' is not a column of returns"),
    (pd.DataFrame({"event_id": ["x", "x"], "asset": ["A", "A"], "date": ["2021-03-01"] * 2}),
     "^events: event 'x' lists asset 'A' twice"),
    ({"x": "someday"}, "^events: event 'x': 'someday' is not a date"),
    ({"x": None}, "^events: event 'x': no date given"),
    ({}, "^events: no event given"),
    (["2021-03-01"], r"^events: expected \{event_id: date\}"),
])
def test_bad_events_are_refused_naming_the_event(events, message):
    returns, market, _ = _frames()
    with pytest.raises(FrameInputError, match=message):
        es.event_panel(returns, events, market=market)


def test_non_numbers_and_unaligned_markets_are_refused():
    returns, market, idx = _frames()
    text = returns.astype(object)
    text.iloc[3, 1] = "n/a"
    with pytest.raises(FrameInputError, match=r"^returns: column 'B' holds a non-number \('n/a'\)"):
        es.event_panel(text, {"e": idx[300]}, market=market)
    elsewhere = market.set_axis(market.index + pd.DateOffset(years=30))
    with pytest.raises(FrameInputError, match="^market: no market return on any date of returns"):
        es.event_panel(returns, {"e": idx[300]}, market=elsewhere)
    with pytest.raises(FrameInputError, match="^returns: expected a DataFrame"):
        es.event_panel(returns.to_numpy(), {"e": idx[300]}, market=market)


def test_run_up_windows_without_day_0_run_through_tests():
    returns, market, idx = _frames(shock=0.0)
    returns.iloc[295] += 0.05  # a run-up five sessions before day 0
    res = es.event_study(returns, {"e": idx[300]}, market=market, event_windows=[(-10, -1), (-5, -1)])
    assert set(res.car["window"]) == {"[-10,-1]", "[-5,-1]"}
    assert set(res.abnormal["rel_day"]) == set(range(-10, 0))
    bmp = res.tests.query("scope == 'event' and window == '[-5,-1]' and test == 'kp_bmp'")
    assert bmp["p_value"].iloc[0] < 0.01
    # every pair shares day 0: a test that assumes independent pairs is not reported
    plain = res.tests.query("scope == 'event' and window == '[-5,-1]' and test == 'bmp'")
    assert plain["p_value"].isna().all() and plain["note"].str.startswith("not reported").all()


@pytest.mark.parametrize("model", ["dimson", "scholes_williams", "market_adjusted", "constant_mean"])
def test_every_single_benchmark_model_runs_on_frames(model):
    returns, market, idx = _frames()
    res = es.event_study(returns, {"e": idx[300]}, market=market, model=model)
    assert (res.models["status"] == "ok").all() and len(res.car) == 2 * returns.shape[1]
    assert (res.car.query("window == '[0,0]'")["car"] > 0.01).all()  # the injected 3% shock
