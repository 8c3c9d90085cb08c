"""``benchmarks/bench.py --rounds``: the targets use, per run, a real round of median CPU."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(REPO / "benchmarks"))  # bench.py imports its sibling modules
    try:
        spec = importlib.util.spec_from_file_location("bench", REPO / "benchmarks" / "bench.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def _run(bench, cpu: float, status: str = "ok"):
    return bench.Measurement(command=["x"], status=status, returncode=0, wall=cpu, cpu=cpu,
                             peak_rss=0, peak_tree_rss=0)


def test_each_role_takes_its_own_median_round(bench):
    rounds = [
        {"baseline": _run(bench, 57.9), "same": _run(bench, 7.6), "no_volume": _run(bench, 5.7)},
        {"baseline": _run(bench, 54.3), "same": _run(bench, 7.4), "no_volume": _run(bench, 5.8)},
        {"baseline": _run(bench, 59.2), "same": _run(bench, 10.1), "no_volume": _run(bench, 7.6)},
    ]
    medians = bench.median_rounds(rounds)
    assert {role: m.cpu for role, m in medians.items()} == {
        "baseline": 57.9, "same": 7.6, "no_volume": 5.8}
    assert medians["same"] is rounds[0]["same"]  # a measured run, not a made-up one


def test_failed_runs_are_left_out_and_even_counts_take_the_lower_middle(bench):
    rounds = [
        {"baseline": _run(bench, 50.0), "same": _run(bench, 9.0)},
        {"baseline": _run(bench, 60.0), "same": _run(bench, 1.0, status="timeout")},
        {"baseline": _run(bench, 55.0, status="killed"), "same": _run(bench, 8.0)},
    ]
    medians = bench.median_rounds(rounds)
    assert medians["baseline"].cpu == 50.0 and medians["same"].cpu == 8.0
    assert "no_volume" not in medians
