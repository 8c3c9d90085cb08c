"""abnormal.estimate on synthetic data with known injected effects (joint estimation: test_joint.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eventstudy.abnormal import AssetInput, abnormal_table, bhar, car_table, estimate
from eventstudy.events import Event, FactorSpec, ModelSpec, StudySettings
from eventstudy.models import build_design

SESSIONS = pd.bdate_range("2020-01-01", periods=600)
SETTINGS = StudySettings(
    name="synthetic",
    estimation_window=(-150, -11),
    event_windows=((0, 0), (0, 1), (-1, 1), (0, 3)),
    exclude_other_events=False,
    min_estimation_returns=100,
    model=ModelSpec("market", benchmark="M"),
)


def _event(event_id: str, pos: int) -> Event:
    stamp = pd.Timestamp(SESSIONS[pos]).tz_localize("UTC")
    return Event(event_id, event_id, "other", stamp, ("synthetic",))


def _asset(ticker: str, rng, beta=1.0, sigma=0.01, spec=SETTINGS.model, shocks=()):
    market = rng.normal(0, 0.01, len(SESSIONS))
    ret = 0.0002 + beta * market + rng.normal(0, sigma, len(SESSIONS))
    for pos, size in shocks:
        ret[pos] += size
    design = build_design(spec, len(SESSIONS), {"M": market})
    return AssetInput(ticker, "X", SESSIONS, ret, design)


def _day0(events, tickers=("X",)):
    return {(e.id, "X"): pd.Timestamp(e.announced.tz_convert(None).normalize()) for e in events}


def test_injected_abnormal_return_is_recovered():
    rng = np.random.default_rng(10)
    events = [_event("e1", 300), _event("e2", 450)]
    assets = [_asset(f"A{i}", rng, shocks=[(300, 0.05), (451, -0.03)]) for i in range(20)]
    panel, models = estimate(assets, events, _day0(events), SETTINGS)
    assert (models["status"] == "ok").all() and panel.n_pairs == 40
    day0 = panel.column(0)
    e1 = panel.event_ids == "e1"
    assert np.mean(panel.ar[e1, day0]) == pytest.approx(0.05, abs=0.006)
    car = car_table(panel, SETTINGS.event_windows)
    e2_car = car.query("event_id == 'e2' and window == '[0,1]'")["car"]
    assert e2_car.mean() == pytest.approx(-0.03, abs=0.008)
    assert (car.query("event_id == 'e1' and window == '[0,0]'")["car_p_value"] < 0.01).mean() > 0.9


def test_pairs_are_ordered_by_event_then_asset_and_tables_are_tidy():
    rng = np.random.default_rng(11)
    events = [_event("b", 400), _event("a", 300)]
    assets = [_asset("Z", rng), _asset("Y", rng)]
    panel, _models = estimate(assets, events, _day0(events), SETTINGS)
    assert list(panel.event_ids) == ["b", "b", "a", "a"]
    assert list(panel.assets) == ["Z", "Y", "Z", "Y"]
    table = abnormal_table(panel)
    assert list(table.columns) == ["event_id", "asset", "reaction", "rel_day", "date", "ret", "expected", "ar",
                                   "sar", "var_ar"]
    assert len(table) == 4 * len(panel.event_rel_days)
    row = table.query("event_id == 'a' and asset == 'Y' and rel_day == 0").iloc[0]
    assert row["date"] == SESSIONS[300]
    assert row["ar"] == pytest.approx(row["ret"] - row["expected"])


def test_other_events_are_excluded_from_the_estimation_sample():
    rng = np.random.default_rng(12)
    events = [_event("late", 400), _event("early", 350)]
    settings = StudySettings(**{**SETTINGS.__dict__, "exclude_other_events": True, "exclusion_window": (0, 1)})
    panel, models = estimate([_asset("A", rng)], events, _day0(events), settings)
    late = list(panel.event_ids).index("late")
    # 'early' day 0 is rel day -50 of 'late': days -50 and -49 must be out of its sample
    assert not panel.is_estimation[late, panel.column(-50)]
    assert not panel.is_estimation[late, panel.column(-49)]
    assert panel.is_estimation[late, panel.column(-51)]
    assert models.query("event_id == 'late'")["n_obs"].iloc[0] == 140 - 2


def test_too_short_estimation_window_is_refused_with_reason():
    rng = np.random.default_rng(13)
    events = [_event("early", 60), _event("fine", 400)]
    panel, models = estimate([_asset("A", rng)], events, _day0(events), SETTINGS)
    row = models.query("event_id == 'early'").iloc[0]
    assert row["status"] == "insufficient"
    assert "min_estimation_returns is 100" in row["message"] and "A" in row["message"]
    assert list(panel.event_ids) == ["fine"]


def test_missing_prices_stay_missing_and_event_outside_data_is_reported():
    rng = np.random.default_rng(14)
    asset = _asset("A", rng)
    returns = asset.returns.copy()
    returns[401] = np.nan
    asset = AssetInput("A", "X", SESSIONS, returns, asset.design)
    events = [_event("gap", 400)]
    outside = Event("gone", "gone", "other", pd.Timestamp("2030-01-01", tz="UTC"), ("x",))
    day0 = {**_day0(events), ("gone", "X"): pd.Timestamp("2030-01-01")}
    panel, models = estimate([asset], [*events, outside], day0, SETTINGS)
    assert models.query("event_id == 'gone'")["status"].iloc[0] == "no_data"
    assert np.isnan(panel.ar[0, panel.column(1)])
    assert np.isnan(panel.expected[0, panel.column(1)])  # not a silent 0
    car = car_table(panel, SETTINGS.event_windows).set_index("window")["car"]
    assert np.isfinite(car["[0,0]"]) and np.isnan(car["[0,1]"])


def test_all_models_run_and_constant_mean_matches_hand_calculation():
    rng = np.random.default_rng(15)
    events = [_event("e", 400)]
    asset = _asset("A", rng, spec=ModelSpec("constant_mean"))
    panel, models = estimate([asset], events, _day0(events), SETTINGS)
    est = asset.returns[400 - 150 : 400 - 10]
    mu = est.mean()
    assert panel.ar[0, panel.column(0)] == pytest.approx(asset.returns[400] - mu, rel=1e-12)
    assert models["k"].iloc[0] == 1
    for spec in (
        ModelSpec("market_adjusted", benchmark="M"),
        ModelSpec("dimson", benchmark="M", lags=1, leads=1),
        ModelSpec("scholes_williams", benchmark="M"),
    ):
        _, models = estimate([_asset("A", rng, spec=spec)], events, _day0(events), SETTINGS)
        assert models["status"].iloc[0] == "ok", spec


def test_session_dates_index_as_the_array_they_stand_for():
    from eventstudy.panel import SessionDates

    rng = np.random.default_rng(1)
    sessions = np.unique(rng.integers(19000, 20000, 500)).astype("datetime64[D]")
    n, n_days = 40, 20
    lo = rng.integers(0, 200, n)
    hi = np.minimum(lo + rng.integers(0, 300, n), len(sessions))
    first = lo + rng.integers(-30, 300, n)
    dates = SessionDates(sessions, first, lo, hi, n_days)
    want = np.full((n, n_days), np.datetime64("NaT"), "datetime64[D]")
    for i in range(n):
        for t in range(n_days):
            if lo[i] <= first[i] + t < hi[i]:
                want[i, t] = sessions[first[i] + t]
    keys = [slice(None), (slice(None), slice(5, None)), 3, (3, slice(2, 7)), (slice(2, 9), 4),
            np.array([1, 4, 2]), np.arange(n) % 2 == 0, (np.array([1, 2]), np.array([3, 4])), (7, 8),
            (slice(None), -1), (np.array([3, 1]), slice(None, None, 2)), (..., 3)]
    for key in keys:
        got = np.asarray(dates[key])
        assert got.shape == want[key].shape, key
        assert np.array_equal(got.view("i8"), np.asarray(want[key]).view("i8")), key
    assert np.array_equal(dates.ravel().view("i8"), want.ravel().view("i8"))


def test_estimated_panel_dates_are_each_pairs_sessions():
    rng = np.random.default_rng(12)
    events = [_event("e1", 300), _event("e2", 140)]
    assets = [_asset("A", rng), _asset("B", rng)]
    panel, _ = estimate(assets, events, _day0(events), SETTINGS)
    dates = np.asarray(panel.dates)
    for row, event in enumerate(panel.event_ids):
        day0 = {"e1": 300, "e2": 140}[event]
        grid = day0 + panel.rel_days
        inside = (grid >= 0) & (grid < len(SESSIONS))
        assert (dates[row, inside] == SESSIONS.values[grid[inside]].astype("datetime64[D]")).all()
        assert np.isnat(dates[row, ~inside]).all()
    assert np.isnat(dates).any()  # e2's grid starts before the first session


def test_window_cover_counts_the_windows_over_each_session_as_a_loop_does():
    from eventstudy.abnormal import window_cover

    rng = np.random.default_rng(11)
    for _ in range(500):
        n = int(rng.integers(0, 40))
        positions = rng.integers(0, max(n, 1), int(rng.integers(0, 8))) if n else np.zeros(0, np.int64)
        lo = int(rng.integers(-6, 4))
        hi = lo + int(rng.integers(-1, 6))  # an empty window (hi < lo) covers nothing
        expected = np.zeros(n, int)
        for p in positions:
            expected[max(p + lo, 0) : max(min(p + hi + 1, n), 0)] += 1
        np.testing.assert_array_equal(window_cover(positions.astype(np.int64), n, lo, hi), expected)


def test_without_series_the_panel_keeps_every_other_array_to_the_bit():
    """``keep_series=False``: ``ret`` and ``expected`` are read-only all-NaN views, the rest is
    the panel of a full estimate (refused pairs, missing returns, several batches)."""
    rng = np.random.default_rng(21)
    events = [_event("e1", 300), _event("e2", 450), _event("e3", 160)]
    assets = [_asset(f"A{i}", rng, shocks=[(300, 0.04)]) for i in range(6)]
    gappy = assets[2].returns.copy()
    gappy[[200, 301, 455]] = np.nan  # a gap in an estimation window and on event-period days
    assets[2] = AssetInput("A2", "X", SESSIONS, gappy, assets[2].design)
    late = assets[4].returns.copy()
    late[:120] = np.nan  # A4 starts late: too few estimation returns for e3 (refused)
    assets[4] = AssetInput("A4", "X", SESSIONS, late, assets[4].design)
    full, full_models = estimate(assets, events, _day0(events), SETTINGS, pairs_per_batch=6)
    lean, lean_models = estimate(assets, events, _day0(events), SETTINGS, pairs_per_batch=6,
                                 keep_series=False)
    assert (full_models["status"] != "ok").any() and full.n_pairs == lean.n_pairs > 0
    pd.testing.assert_frame_equal(lean_models, full_models, check_exact=True)
    for name in ("event_ids", "assets", "reactions", "ar", "is_estimation", "cov_factor", "s2", "n_est", "k"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name), strict=True)
    np.testing.assert_array_equal(np.asarray(lean.dates), np.asarray(full.dates))
    for name in ("ret", "expected"):
        values = getattr(lean, name)
        assert values.shape == getattr(full, name).shape and np.isnan(values).all()
        assert not values.flags.writeable


def test_the_panel_computes_its_covariance_factors_with_the_bits_of_each_batch_fit():
    """The panel keeps X* and (X'X)^-1 per pair, zero-padded where models have fewer parameters
    (market k=2, constant mean k=1, market-adjusted k=0, a 3-factor model k=4), and every read
    (whole, rows, one pair, cells, diagonal, CARs) gives the bits of the batch fit's explicit
    ``I + X*(X'X)^-1 X*'``."""
    from eventstudy.models import fit_batch
    from eventstudy.panel import PredictionCovariance, prediction_covariance

    rng = np.random.default_rng(8)
    events = [_event("e1", 300), _event("e2", 420)]
    factor_spec = ModelSpec("factor", factors=(FactorSpec("M", 0), FactorSpec("F1", 0), FactorSpec("F2", 0)))
    specs = [SETTINGS.model, ModelSpec("constant_mean"), ModelSpec("market_adjusted", benchmark="M"), factor_spec]
    assets = []
    for i, spec in enumerate(specs * 2):
        market, f1, f2 = rng.normal(0, 0.01, (3, len(SESSIONS)))
        ret = 0.0002 + market + 0.3 * f1 + rng.normal(0, 0.01, len(SESSIONS))
        design = build_design(spec, len(SESSIONS), {"M": market, "F1": f1, "F2": f2})
        assets.append(AssetInput(f"A{i}", "X", SESSIONS, ret, design))
    panel, models = estimate(assets, events, _day0(events), SETTINGS, pairs_per_batch=3)
    assert (models["status"] == "ok").all() and panel.n_pairs == 16
    factors = panel.cov_factor
    assert isinstance(factors, PredictionCovariance) and factors.x_pred.shape[2] == 4
    assert sorted(set(panel.k.tolist())) == [0, 1, 2, 4]
    start, n_event = panel.event_start, len(panel.event_rel_days)
    explicit = np.empty((panel.n_pairs, n_event, n_event))
    for i in range(panel.n_pairs):  # the fit of each pair alone, from its own design
        asset = assets[int(panel.assets[i][1:])]
        cells = list(SESSIONS).index(np.asarray(panel.dates)[i, start]) - start + np.arange(len(panel.rel_days))
        design = asset.design
        fit = fit_batch(asset.returns[cells][None], design.x[cells][None], design.x_pred[cells][None],
                        design.offset[cells][None], panel.is_estimation[i][None], start)
        explicit[i] = fit.cov_factor[0]
    np.testing.assert_array_equal(np.asarray(factors), explicit, strict=True)
    assert np.asarray(factors).tobytes() == explicit.tobytes()
    np.testing.assert_array_equal(factors[[3, 1]], explicit[[3, 1]])
    assert isinstance(factors[2:5], PredictionCovariance) and factors[2:5].shape == (3, n_event, n_event)
    np.testing.assert_array_equal(factors[panel.k == 4], explicit[panel.k == 4])
    np.testing.assert_array_equal(factors[5], explicit[5])
    assert factors[5, 2, 3] == explicit[5, 2, 3] and factors[-1, 0, 0] == explicit[-1, 0, 0]
    np.testing.assert_array_equal(factors[:, 1], explicit[:, 1])
    np.testing.assert_array_equal(factors[..., 0], explicit[..., 0])
    assert factors.diagonal().tobytes() == np.diagonal(explicit, axis1=1, axis2=2).copy().tobytes()
    assert panel.variance_factor.tobytes() == np.diagonal(explicit, axis1=1, axis2=2).copy().tobytes()
    for window in SETTINGS.event_windows:
        gamma = panel.window_selector(window)
        _car, variance = panel.car(window)
        assert variance.tobytes() == (panel.s2 * np.einsum("e,nef,f->n", gamma, explicit, gamma)).tobytes()
    padded = PredictionCovariance(np.concatenate([factors.x_pred, np.zeros((16, n_event, 2))], axis=2),
                                  np.pad(factors.xtx_inv, ((0, 0), (0, 2), (0, 2))))
    assert np.asarray(padded).tobytes() == explicit.tobytes()
    assert prediction_covariance(factors.x_pred[:0], factors.xtx_inv[:0]).shape == (0, n_event, n_event)
    with pytest.raises(ValueError, match="does not match"):
        PredictionCovariance(factors.x_pred, factors.xtx_inv[:, :2, :2])


def test_normal_returns_kept_over_the_event_period_only_give_the_same_panel_values():
    """estimate(expected='event') keeps the event period of the normal returns (NaN before it),
    the same values as the whole grid, and every other array unchanged; a subset keeps the form."""
    from eventstudy.panel import EventPeriodValues

    rng = np.random.default_rng(4)
    events = [_event("e1", 300), _event("e2", 330)]
    assets = [_asset("A", rng), _asset("B", rng, beta=0.5)]
    whole, models = estimate(assets, events, _day0(events), SETTINGS)
    lean, lean_models = estimate(assets, events, _day0(events), SETTINGS, expected="event")
    start = whole.event_start
    assert isinstance(lean.expected, EventPeriodValues) and lean.expected.shape == whole.expected.shape
    np.testing.assert_array_equal(lean.expected[:, start:], whole.expected[:, start:])
    np.testing.assert_array_equal(lean.expected[:, start + 2 : start + 5], whole.expected[:, start + 2 : start + 5])
    assert np.isnan(np.asarray(lean.expected)[:, :start]).all()
    assert len(lean.expected) == lean.n_pairs and lean.expected.ravel().shape == (whole.expected.size,)
    np.testing.assert_array_equal(lean.expected[:, [start, start - 1]], np.asarray(lean.expected)[:, [start, start - 1]])
    for name in ("ret", "ar", "is_estimation", "cov_factor", "s2"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(whole, name))
    pd.testing.assert_frame_equal(lean_models, models)
    for window in ((0, 1), (-1, 3)):
        np.testing.assert_array_equal(bhar(lean, window), bhar(whole, window))
    pd.testing.assert_frame_equal(abnormal_table(lean), abnormal_table(whole))
    part = lean.subset(np.array([1, 0]))
    assert isinstance(part.expected, EventPeriodValues)
    np.testing.assert_array_equal(part.expected[:, start:], whole.expected[[1, 0], start:])
    np.testing.assert_array_equal(lean.expected[1, start:], whole.expected[1, start:])
    with pytest.raises(ValueError, match="expected must be 'all' or 'event'"):
        estimate(assets, events, _day0(events), SETTINGS, expected="estimation")


def test_returns_kept_over_the_event_period_only_give_the_same_tables():
    """estimate(ret='event', expected='event'): both series read NaN before the event period
    and the same values in it; the AR table, BHARs (log returns too) and CAR table are the same."""
    from eventstudy.panel import EventPeriodValues

    rng = np.random.default_rng(6)
    events = [_event("e1", 300), _event("e2", 305)]
    assets = [_asset("A", rng), _asset("B", rng, beta=1.4)]
    whole, models = estimate(assets, events, _day0(events), SETTINGS)
    lean, lean_models = estimate(assets, events, _day0(events), SETTINGS, expected="event", ret="event")
    start = whole.event_start
    assert isinstance(lean.ret, EventPeriodValues) and lean.ret.shape == whole.ret.shape
    np.testing.assert_array_equal(lean.ret[:, start:], whole.ret[:, start:])
    assert np.isnan(np.asarray(lean.ret)[:, :start]).all()
    np.testing.assert_array_equal(lean.ar, whole.ar)
    pd.testing.assert_frame_equal(lean_models, models)
    pd.testing.assert_frame_equal(abnormal_table(lean), abnormal_table(whole))
    for returns in ("simple", "log"):
        pd.testing.assert_frame_equal(car_table(lean, SETTINGS.event_windows, returns),
                                      car_table(whole, SETTINGS.event_windows, returns))
    only_ret, _ = estimate(assets, events, _day0(events), SETTINGS, ret="event")
    assert isinstance(only_ret.ret, EventPeriodValues) and not isinstance(only_ret.expected, EventPeriodValues)
    np.testing.assert_array_equal(only_ret.expected, whole.expected)
    with pytest.raises(ValueError, match="ret must be 'all' or 'event'"):
        estimate(assets, events, _day0(events), SETTINGS, ret="estimation")


def test_models_predicting_from_their_own_regressors_share_one_layout():
    """A market model predicts from x itself: its layout's x_pred is x (one array, read only),
    while a Dimson model's prediction rows differ and get their own; the Dimson pair's normal
    return still uses the summed betas on the same-day market (its own prediction rows)."""
    from eventstudy.abnormal import design_layouts

    rng = np.random.default_rng(13)
    events = [_event("e", 400)]
    dimson = ModelSpec("dimson", benchmark="M", lags=1, leads=1)
    assets = [_asset("A", rng), _asset("B", rng), _asset("D", rng, spec=dimson)]
    layouts = {layout.name: layout for layout in design_layouts(assets, events, _day0(events), SETTINGS)}
    assert layouts["market"].x_pred is layouts["market"].x
    assert layouts["dimson"].x_pred is not layouts["dimson"].x
    assert not np.array_equal(layouts["dimson"].x_pred, layouts["dimson"].x, equal_nan=True)
    panel, models = estimate(assets, events, _day0(events), SETTINGS)
    d = list(panel.assets).index("D")
    theta = list(json.loads(models.set_index("asset").loc["D", "params"]).values())
    normal = theta[0] + sum(theta[1:]) * assets[2].design.x_pred[400, 1]  # alpha + (sum of betas) R_m,0
    assert panel.ar[d, panel.column(0)] == pytest.approx(assets[2].returns[400] - normal, rel=1e-10)
