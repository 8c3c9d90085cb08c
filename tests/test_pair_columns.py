"""The single-pair tests sit beside the values they test, and no number of them is lost.

A run used to write every pair's ``ts_t`` and ``sq`` as rows of the tests table (``scope='pair'``).
Those rows now live as columns: a day's ``ts_t`` is ``sar, ar_p_value, ar_df`` and its ``sq`` is
``ar_sq, ar_sq_p_value`` of the abnormal-returns table; a window's ``ts_t`` is ``car_t,
car_p_value, car_df`` and a one-day window's ``sq`` is ``car_sq, car_sq_p_value`` of the CAR
table. The long table of :func:`eventstudy.inference.single_asset_tests` (the old rows without
their labels) is matched here, number for number, against those columns, on panels with
missing days, ties, a pair without event returns, a pair without residual scale and a pair
with almost no estimation residuals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_inference import constant_mean_panel
from test_inference_scopes import _synthetic_panel

from eventstudy import batches, inference
from eventstudy.abnormal import format_window
from eventstudy.study import pair_tables

WINDOWS = [(0, 0), (0, 1), (1, 2), (0, 2), (2, 2), (-5, 9)]


def _tied_panel():
    rng = np.random.default_rng(3)
    returns = np.round(rng.normal(0.0, 0.01, (12, 43)), 3)
    returns[rng.random(returns.shape) < 0.08] = np.nan
    returns[1, :38] = np.nan  # at most two estimation returns
    returns[2, 40:] = np.nan  # no event returns
    returns[4, :39] = np.nan  # at most one estimation return: no residual degrees of freedom
    return constant_mean_panel(returns, 40)


def _panels():
    """The synthetic panel's pair 15 has s2 = 0 (AR / sqrt(0) is infinite: the tables say NaN,
    as the old rows did)."""
    tied = _tied_panel()
    return [(_synthetic_panel(5), WINDOWS),
            (tied, [w for w in WINDOWS if tied.event_rel_days.min() <= w[0]
                    and w[1] <= tied.event_rel_days.max()])]


def _same(got: pd.Series, want: pd.Series) -> None:
    """Equal numbers, NaN exactly where the old row had none."""
    got, want = got.to_numpy(dtype=float), want.to_numpy(dtype=float)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[~np.isnan(want)], want[~np.isnan(want)])


@pytest.mark.filterwarnings("ignore:divide by zero")  # the pair without residual scale
@pytest.mark.parametrize("which", [0, 1])
def test_every_number_of_the_old_pair_rows_is_in_the_new_columns(which):
    panel, windows = _panels()[which]
    old = inference.single_asset_tests(panel, windows)
    daily, car = pair_tables(panel, windows)
    assert (old["note"] != "").any() and (old["note"] == "").any()  # failures and numbers alike
    key = ["event_id", "asset"]
    days = daily.set_index([*key, "rel_day"])
    for test, columns in [("ts_t", ("sar", "ar_p_value", "ar_df")),
                          ("sq", ("ar_sq", "ar_sq_p_value", None))]:
        rows = old[(old["test"] == test) & (old["window"] == "")]
        assert len(rows) == len(daily)  # every event-period day of every pair
        found = days.loc[list(zip(rows["event_id"], rows["asset"], rows["rel_day"].astype(int)))]
        _same(found[columns[0]], rows["statistic"])
        _same(found[columns[1]], rows["p_value"])
        if columns[2]:
            _same(found[columns[2]], rows["df"])
    cars = car.set_index([*key, "window"])
    ts = old[(old["test"] == "ts_t") & (old["window"] != "")]
    assert len(ts) == len(car)
    found = cars.loc[list(zip(ts["event_id"], ts["asset"], ts["window"]))]
    _same(found["car_t"], ts["statistic"])
    _same(found["car_p_value"], ts["p_value"])
    _same(found["car_df"], ts["df"])
    sq = old[(old["test"] == "sq") & (old["window"] != "")]
    one_day = {format_window(w) for w in windows if w[0] == w[1]}
    assert set(sq["window"]) == one_day
    found = cars.loc[list(zip(sq["event_id"], sq["asset"], sq["window"]))]
    _same(found["car_sq"], sq["statistic"])
    _same(found["car_sq_p_value"], sq["p_value"])
    longer = ~car["window"].isin(one_day)
    assert car.loc[longer, ["car_sq", "car_sq_p_value"]].isna().all().all()
    # n of every old row is the pair's number of estimation residuals (models' n_obs)
    n_est = dict(zip(zip(panel.event_ids, panel.assets), panel.n_est))
    assert old["n"].tolist() == [n_est[k] for k in zip(old["event_id"], old["asset"])]


def test_a_large_abnormal_return_gets_a_small_p_value_from_both_tests():
    """Known injected effect: an event-day AR of 8 residual standard deviations."""
    rng = np.random.default_rng(8)
    returns = rng.normal(0.0, 0.01, (3, 203))
    returns[1, 200] = returns[1, :200].mean() + 0.08
    daily, car = pair_tables(constant_mean_panel(returns, 200), [(0, 0), (0, 2)])
    day0 = daily[(daily["asset"] == "asset1") & (daily["rel_day"] == 0)].iloc[0]
    assert day0["sar"] > 6 and day0["ar_p_value"] < 1e-6 and day0["ar_df"] == 199
    assert day0["ar_sq"] == 1.0 and day0["ar_sq_p_value"] == pytest.approx(2 / 201)  # 2(0+1)/(L1+1)
    one_day = car[(car["asset"] == "asset1") & (car["window"] == "[0,0]")].iloc[0]
    assert one_day["car_sq"] == 1.0 and one_day["car_sq_p_value"] == day0["ar_sq_p_value"]
    assert car.loc[car["window"] == "[0,2]", "car_sq"].isna().all()


@pytest.mark.parametrize("size", [1, 11, 1000])
def test_pair_test_columns_in_batches_equal_one_call(size):
    panel = _synthetic_panel(5)
    want_day, want_window = inference.pair_test_columns(panel, WINDOWS)
    got_day, got_window = batches.pair_test_columns(panel, WINDOWS, size=size)
    for want, got in [(want_day, got_day), (want_window, got_window)]:
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
