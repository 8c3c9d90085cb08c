"""Abnormal trading volume: hand calculations, market-volume model, skipped series, bad input, real data."""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pandas as pd
import pytest

from eventstudy import calendars, returns, volume
from eventstudy.common import format_window
from eventstudy.errors import ConfigError, DataError
from eventstudy.events import Asset, Event, ModelSpec, StudyConfig, StudySettings, load_config
from eventstudy.volume import VOLUME_COLUMNS, abnormal_volume, log_volume

SESSIONS = calendars.get_sessions("XTKS", "2024-01-04", "2025-06-30")
EVENT_DAY = 300
WINDOWS = ((0, 0), (0, 1))


def test_docstring_examples_run():
    assert doctest.testmod(volume).failed == 0


def _config(tickers) -> StudyConfig:
    assets = [Asset("IDX", "Index", "XTKS", "index", model=ModelSpec("constant_mean")),
              Asset("MKT", "Market volume", "XTKS", "benchmark")]
    assets += [Asset(t, t, "XTKS", "stocks", attributes={"sector": "a" if i % 2 else "b"})
               for i, t in enumerate(tickers)]
    event = Event("e0", "event", "other",
                  pd.Timestamp(SESSIONS[EVENT_DAY]).tz_localize("Asia/Tokyo") + pd.Timedelta(hours=8),
                  ("synthetic",))
    settings = StudySettings(name="vol", estimation_window=(-120, -11), event_windows=WINDOWS,
                             min_estimation_returns=100, volatility=False, group_by=("group", "sector"))
    return StudyConfig(settings, tuple(assets), (event,))


def _day0(config):
    return {(config.events[0].id, "XTKS"): SESSIONS[EVENT_DAY]}


def _volumes(tickers, seed=1):
    rng = np.random.default_rng(seed)
    data = {t: np.round(np.exp(rng.normal(12, 0.4, len(SESSIONS)))) for t in tickers}
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(SESSIONS, name="date"))
    frame.iloc[EVENT_DAY, 0] *= 5  # the first stock trades 5x its usual volume on day 0
    return frame


def test_abnormal_log_volume_matches_a_hand_calculation():
    tickers = ["A", "B", "C"]
    vols = _volumes(tickers).assign(IDX=np.nan)  # the index has no volume: skipped with a note
    result = abnormal_volume(vols, _config(tickers), _day0(_config(tickers)))
    assert result.skipped == {"IDX": "no volume data (all missing)"}
    table = result.volume.set_index(["asset", "window"])
    assert list(result.volume.columns) == VOLUME_COLUMNS
    v = np.log1p(vols["A"].to_numpy())
    estimation = v[EVENT_DAY - 120:EVENT_DAY - 10]  # [-120, -11]: 110 sessions
    mean = estimation.mean()
    s2 = ((estimation - mean) ** 2).sum() / (110 - 1)
    for window, days in (("[0,0]", 1), ("[0,1]", 2)):
        cav = (v[EVENT_DAY:EVENT_DAY + days] - mean).sum()
        var = s2 * (days + days**2 / 110)  # gamma'(I + 11'/L1)gamma for the constant-mean model
        row = table.loc[("A", window)]
        assert row["abnormal_log_volume"] == pytest.approx(cav, rel=1e-10)
        assert row["mean_abnormal_log_volume"] == pytest.approx(cav / days, rel=1e-10)
        assert row["volume_ratio"] == pytest.approx(np.exp(cav / days), rel=1e-10)
        assert row["scav"] == pytest.approx(cav / np.sqrt(var), rel=1e-10)
        assert row["n"] == 110 and row["status"] == "ok"
    assert table.loc[("A", "[0,0]"), "abnormal_log_volume"] == pytest.approx(np.log(5), abs=0.8)


def test_market_volume_model_matches_a_hand_regression():
    tickers = ["A", "B"]
    rng = np.random.default_rng(4)
    market = np.exp(rng.normal(15, 0.3, len(SESSIONS)))
    vols = _volumes(tickers)
    vols["A"] = np.round(np.exp(0.5 + 0.8 * np.log1p(market) + rng.normal(0, 0.1, len(SESSIONS))))
    vols["MKT"] = np.round(market)
    config = _config(tickers)
    result = abnormal_volume(vols, config, _day0(config), benchmark="MKT")
    v, m = np.log1p(vols["A"].to_numpy()), np.log1p(vols["MKT"].to_numpy())
    est = slice(EVENT_DAY - 120, EVENT_DAY - 10)
    slope, intercept = np.polyfit(m[est], v[est], 1)
    expected = v[EVENT_DAY] - intercept - slope * m[EVENT_DAY]
    row = result.volume.set_index(["asset", "window"]).loc[("A", "[0,0]")]
    assert row["abnormal_log_volume"] == pytest.approx(expected, rel=1e-8)
    assert set(result.models["model"]) == {"market(MKT)"}
    assert set(result.tests["reaction"]) == {"relative"}


def test_only_the_tests_that_keep_their_size_on_volume_are_reported_per_scope():
    tickers = [f"S{i}" for i in range(8)]
    config = _config(tickers)
    result = abnormal_volume(_volumes(tickers), config, _day0(config))
    tests = result.tests
    assert set(tests["scope"]) == {"event", "category"} and set(tests["test"]) == {"kp_bmp", "grank"}
    assert set(tests["group_by"]) == {"group", "sector"}
    assert set(tests["window"]) == {"", "[0,0]", "[0,1]"}
    # the same numbers as the engine's tests on the log-volume panel of the scope
    from eventstudy import inference
    group = result.panel.event_ids == "e0"
    direct = inference.window_tests(result.panel.subset(group), (0, 1)).set_index("test")
    row = tests[(tests["scope"] == "event") & (tests["group_by"] == "group") & (tests["window"] == "[0,1]")]
    row = row.set_index("test")
    assert row.loc["kp_bmp", "statistic"] == pytest.approx(direct.loc["kp_bmp", "statistic"], rel=1e-10)
    assert row.loc["grank", "p_value"] == pytest.approx(direct.loc["grank", "p_value"], rel=1e-10)


def test_refused_pairs_and_missing_days_are_reported_not_silent():
    tickers = ["A", "B", "C"]
    vols = _volumes(tickers)
    vols.iloc[: EVENT_DAY - 40, 1] = np.nan  # B: 30 estimation days (-40 .. -11) < 100
    vols.iloc[EVENT_DAY + 1, 2] = np.nan  # C: no volume on day +1
    config = _config(tickers)
    table = abnormal_volume(vols, config, _day0(config)).volume.set_index(["asset", "window"])
    assert table.loc[("B", "[0,0]"), "status"] == "insufficient"
    assert "only 30 estimation returns" in table.loc[("B", "[0,0]"), "message"]
    assert table.loc[("C", "[0,0]"), "status"] == "ok"
    assert table.loc[("C", "[0,1]"), "status"] == "no_data"
    assert np.isnan(table.loc[("C", "[0,1]"), "abnormal_log_volume"])


def test_without_the_panel_the_tables_are_the_same():
    """``keep_panel=False`` (the study run) leaves the log volumes out of the panel the tests
    read: the same volume table and tests, to the bit, on data with gaps and refused pairs."""
    tickers = [f"S{i}" for i in range(6)]
    vols = _volumes(tickers, seed=3)
    vols.iloc[: EVENT_DAY - 40, 1] = np.nan  # S1 refused: too few estimation days
    vols.iloc[EVENT_DAY + 1, 2] = np.nan  # S2: no volume on day +1
    vols.iloc[EVENT_DAY - 60 : EVENT_DAY - 50, 3] = np.nan  # S3: a gap in its estimation window
    config = _config(tickers)
    inputs, skipped = volume.volume_inputs(vols, config)
    kept = volume.measure_volume(inputs, config, _day0(config), skipped=skipped)
    lean = volume.measure_volume(inputs, config, _day0(config), skipped=skipped, keep_panel=False)
    assert lean.panel is None and kept.panel is not None
    pd.testing.assert_frame_equal(lean.volume, kept.volume, check_exact=True)
    pd.testing.assert_frame_equal(lean.tests, kept.tests, check_exact=True)
    pd.testing.assert_frame_equal(lean.models, kept.models, check_exact=True)
    assert (kept.volume["status"] != "ok").any()


def _volume_table_per_window(panel, models, windows):
    """The ``volume`` table built one frame per window (the reference for ``volume_table``)."""
    frames = []
    for window in windows:
        cav, var_cav = panel.car(window)
        mean = cav / (window[1] - window[0] + 1)
        frames.append(pd.DataFrame({
            "event_id": panel.event_ids, "asset": panel.assets, "window": format_window(window),
            "abnormal_log_volume": cav, "mean_abnormal_log_volume": mean, "volume_ratio": np.exp(mean),
            "scav": cav / np.sqrt(var_cav), "n": panel.n_est,
            "status": np.where(np.isfinite(cav), "ok", "no_data"),
            "message": np.where(np.isfinite(cav), "", "volume missing on a day of the window"),
        }))
    refused = models[models["status"] != "ok"]
    for window in windows:
        frames.append(pd.DataFrame({
            "event_id": refused["event_id"], "asset": refused["asset"], "window": format_window(window),
            "abnormal_log_volume": np.nan, "mean_abnormal_log_volume": np.nan, "volume_ratio": np.nan,
            "scav": np.nan, "n": refused["n_obs"], "status": refused["status"], "message": refused["message"],
        }))
    return pd.concat([f for f in frames if len(f)], ignore_index=True)[VOLUME_COLUMNS]


def test_volume_table_equals_one_frame_per_window():
    tickers = [f"S{i}" for i in range(5)]
    vols = _volumes(tickers, seed=5)
    vols.iloc[: EVENT_DAY - 40, 1] = np.nan  # S1 refused
    vols.iloc[EVENT_DAY + 1, 2] = np.nan  # S2: no volume on day +1
    vols.iloc[EVENT_DAY - 60 : EVENT_DAY - 50, 3] = np.nan  # S3: a gap in its estimation window
    config = _config(tickers)
    result = abnormal_volume(vols, config, _day0(config))
    windows = [(0, 0), (0, 1), (1, 1)]
    table = volume.volume_table(result.panel, result.models, windows)
    pd.testing.assert_frame_equal(table, _volume_table_per_window(result.panel, result.models, windows),
                                  check_exact=True)
    assert set(table["status"]) == {"ok", "no_data", "insufficient"}
    assert volume.volume_table(result.panel, result.models, []).columns.tolist() == VOLUME_COLUMNS


def test_bad_volume_input_is_refused_in_one_line():
    config = _config(["A"])
    with pytest.raises(DataError, match="no studied asset has volume data") as info:
        abnormal_volume(pd.DataFrame(index=SESSIONS), config, _day0(config))
    assert "\n" not in str(info.value)
    negative = _volumes(["A"])
    negative.iloc[10, 0] = -5
    with pytest.raises(DataError, match="volume of A: negative value"):
        abnormal_volume(negative, config, _day0(config))
    with pytest.raises(DataError, match="volume benchmark 'MKT': no volume data"):
        abnormal_volume(_volumes(["A"]), config, _day0(config), benchmark="MKT")
    with pytest.raises(ConfigError, match="volume benchmark 'B' is not an asset of study 'vol'"):
        abnormal_volume(_volumes(["A", "B"]), config, _day0(config), benchmark="B")
    assert log_volume(pd.Series([0.0])).iloc[0] == 0.0


def test_volume_inputs_equal_the_per_series_session_placement():
    """The one-array path gives every series the sessions and numbers of ``session_prices`` of
    ``log_volume``: gaps, leading and trailing NaN, a weekend row, zero volume, no volume."""
    tickers = ["A", "B", "C", "D", "E"]
    weekend = pd.Timestamp("2024-06-08")  # a Saturday: dropped from the session grid
    vols = _volumes(tickers).reindex(SESSIONS.append(pd.DatetimeIndex([weekend])).sort_values())
    vols.loc[weekend] = 7.0
    vols.iloc[:25, 1] = np.nan  # B starts late and ends early, with a gap
    vols.iloc[-40:, 1] = np.nan
    vols.iloc[100:103, 1] = np.nan
    vols.iloc[5:9, 2] = 0.0
    vols["D"] = np.nan
    vols["E"] = 0.0
    config = _config(tickers)
    inputs, skipped = volume.volume_inputs(vols, config)
    assert skipped == {"IDX": "no volume data", "D": "no volume data (all missing)",
                       "E": "no volume data (all zero)"}
    assert [i.ticker for i in inputs] == ["A", "B", "C"]
    for got in inputs:
        expected = returns.session_prices(log_volume(vols[got.ticker]), "XTKS")
        pd.testing.assert_index_equal(got.sessions, expected.index, check_names=False)
        np.testing.assert_array_equal(got.returns, expected.to_numpy())
    assert weekend not in inputs[0].sessions and np.isnan(inputs[1].returns[100 - 25])


# ---------------------------------------------------------------- real data (read in place)

def _snapshot_volumes(snapshot_dir, tickers) -> pd.DataFrame:
    columns = {}
    for ticker in tickers:
        path = snapshot_dir / f"{ticker}.csv"
        if not path.exists():
            path = snapshot_dir / "universe" / f"{ticker}.csv"
        frame = pd.read_csv(path, usecols=["date", "volume"], parse_dates=["date"], index_col="date")
        columns[ticker] = frame["volume"]
    return pd.DataFrame(columns)


@pytest.mark.realdata
def test_chip_volume_surged_after_liberation_day(snapshot_dir, repo_root):
    liberation = "liberation-day-reciprocal-tariffs"
    config = load_config(repo_root / "events.yaml")
    config = dataclasses.replace(config, events=tuple(e for e in config.events if e.id == liberation))
    sessions = calendars.map_events(config, ["XTKS"])
    day0 = {(r.event_id, r.exchange): r.session for r in sessions.itertuples()}
    tickers = [a.ticker for a in config.studied_assets]
    result = abnormal_volume(_snapshot_volumes(snapshot_dir, tickers), config, day0)
    assert result.skipped["^TOPX"].startswith("no volume data")
    table = result.volume[result.volume["window"] == "[0,5]"].set_index("asset")
    chips = [a.ticker for a in config.studied_assets if a.group == "chips"]
    ok = table.loc[table.index.isin(chips) & (table["status"] == "ok")]
    assert len(ok) >= 10
    # Tokyo Electron, 3-10 April 2025 (day 0 = 3 April): by hand from the snapshot file, the mean
    # log(1+V) over those six sessions minus its mean over the pair's estimation sample.
    raw = np.log1p(_snapshot_volumes(snapshot_dir, ["8035.T"])["8035.T"])
    event_days = raw.loc["2025-04-03":"2025-04-10"]
    assert len(event_days) == 6
    row = int(np.flatnonzero(result.panel.assets == "8035.T")[0])
    estimation_days = pd.DatetimeIndex(result.panel.dates[row][result.panel.is_estimation[row]])
    by_hand = event_days.mean() - raw.loc[estimation_days].mean()
    assert ok.loc["8035.T", "mean_abnormal_log_volume"] == pytest.approx(by_hand, rel=1e-9)
    assert by_hand > 0.3
    assert (ok["mean_abnormal_log_volume"] > 0).mean() >= 0.8


def test_series_without_volume_are_logged_in_one_line_per_reason(caplog):
    """Many series without volume (a price-only snapshot) make one INFO line per reason that
    counts them and names a few, not one line per series."""
    tickers = [f"S{i}" for i in range(12)]
    vols = _volumes(["S0"])
    vols["S1"] = 0.0
    config = _config(tickers)
    with caplog.at_level("INFO", logger="eventstudy"):
        _inputs, skipped = volume.volume_inputs(vols, config)
    lines = [r.getMessage() for r in caplog.records if r.levelname == "INFO"]
    assert len(skipped) == 12 and lines == [
        "abnormal volume: skipping 11 series (no volume data): IDX, S2, S3, S4, S5 and 6 more",
        "abnormal volume: skipping 1 series (no volume data (all zero)): S1",
    ]
