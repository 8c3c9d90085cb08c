"""Smoke test of the size/power simulation (benchmarks/size_power.py) on the real snapshot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def size_power():
    path = REPO / "benchmarks" / "size_power.py"
    spec = importlib.util.spec_from_file_location("size_power", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["size_power"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def universe(size_power, snapshot_dir: Path):
    return size_power.load_universe(snapshot_dir)


@pytest.fixture(scope="module")
def tiny_run(size_power, universe):
    """20 replications of N = 10 per design, plus 20 single-asset ones, with a 5% effect."""
    size_power_deltas = size_power.DELTAS
    size_power.DELTAS = (0.0, 0.05)
    try:
        config = size_power.Config(reps=20, seed=11, sizes=(10,), workers=1)
        records = size_power.simulate(universe, config)
        table = size_power.summarise(records)
    finally:
        size_power.DELTAS = size_power_deltas
    return config, records, table


def test_universe_excludes_2025_and_has_eligible_sessions(universe):
    assert universe.sessions.max() < np.datetime64("2025-01-01")
    assert universe.returns.shape[1] > 300
    assert len(universe.event_sessions) > 500
    assert universe.eligible.shape == universe.returns.shape


def test_summary_schema(tiny_run, size_power):
    config, records, table = tiny_run
    expected = {
        "design", "n_assets", "scenario", "delta", "target", "test", "reps", "valid",
        "undefined", "rejection", "ci_low", "ci_high", "lower_tail", "upper_tail",
        "band_low", "band_high", "size_ok", "mean_statistic", "sd_statistic",
    }
    assert expected <= set(table.columns)
    assert set(table["design"]) == {"clustered", "non_clustered", "single"}
    cross = table[table["design"] != "single"]
    assert set(cross["test"]) == set(size_power.CROSS_SECTIONAL_TESTS)
    assert set(table.loc[table["design"] == "single", "test"]) == set(size_power.SINGLE_ASSET_TESTS)
    assert set(table["target"]) == set(size_power.TARGETS)
    assert (table["reps"] == config.reps).all()
    assert table["rejection"].between(0, 1).all()
    assert np.allclose(table["rejection"], table["lower_tail"] + table["upper_tail"])
    assert (table["ci_low"] <= table["rejection"]).all() and (table["rejection"] <= table["ci_high"]).all()
    assert len(records) == len(table) * config.reps


def test_injected_effect_is_detected(tiny_run):
    _, _, table = tiny_run
    cross = table[(table["design"] != "single") & (table["target"] == "day 0")]
    null = cross[cross["delta"] == 0.0].groupby("test")["rejection"].mean()
    effect = cross[cross["delta"] == 0.05].groupby("test")["rejection"].mean()
    assert effect.mean() > 0.8
    assert effect.mean() > null.mean() + 0.6
    for test in ("bmp", "kp_bmp", "crude_dependence", "corrado"):
        assert effect[test] >= 0.9


def test_deterministic(size_power, universe):
    config = size_power.Config(reps=3, seed=5, sizes=(10,), designs=("clustered",),
                               single=False, workers=1)
    first = size_power.simulate(universe, config)
    second = size_power.simulate(universe, config)
    assert first.equals(second)


def test_fat_tailed_null_counts_every_statistic(size_power):
    """Two replications of the synthetic design: every statistic, target and level is there."""
    records = size_power.simulate_fat_tailed(2, seed=3, workers=1)
    table = size_power.summarise_fat_tailed(records)
    pairs = table[table["level"] == "pair"]
    cross = table[table["level"] == "cross-section"]
    assert set(pairs["test"]) == set(size_power.SINGLE_ASSET_TESTS)
    assert set(pairs.loc[pairs["test"] == "sq", "target"]) == {"day 0", "[0,0]"}  # one-day cells
    assert (pairs["trials"] == 2 * 50 * 16).all()
    assert set(cross["test"]) == set(size_power.CROSS_SECTIONAL_TESTS)
    assert set(cross.loc[cross["test"] == "bhar_skew_t", "target"]) == set(size_power.FAT_TAILED_TARGETS[1:])
    assert (cross["trials"] == 2 * 16).all()
    assert table["rejection"].between(0, 1).all() and (table["deff"] >= 1).all()
    again = size_power.simulate_fat_tailed(2, seed=3, workers=1)
    assert records.equals(again)


def test_fat_tailed_panel_is_a_null_with_fat_tails(size_power):
    panel = size_power.fat_tailed_panel(1)
    assert panel.n_pairs == 50 * 16
    residuals = panel.ar[panel.is_estimation]
    kurtosis = np.mean(residuals**4) / np.mean(residuals**2) ** 2
    assert 4.0 < kurtosis < 15.0  # t(5): 9 in theory; a normal sample gives 3
    assert abs(np.nanmean(panel.event_ar)) < 0.001
