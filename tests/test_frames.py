"""event_study / event_panel on user frames (no YAML)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import eventstudy as es


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
    assert (res.tests.query("scope_id == 'e' and window == '[0,0]' and test == 'bmp'")["p_value"] < 0.01).all()


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
