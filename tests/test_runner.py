"""`eventstudy run` writes the same numbers as the Python API, byte-stable across runs."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import eventstudy as es
from eventstudy.cli import main

KEEP = ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause", "round8-deal-15pct-550bn")


@pytest.fixture(scope="module")
def small_study(tmp_path_factory, repo_root):
    document = yaml.safe_load((repo_root / "events.yaml").read_text(encoding="utf-8"))
    document["events"] = [e for e in document["events"] if e["id"] in KEEP]
    path = tmp_path_factory.mktemp("study") / "events.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_cli_tables_equal_api_results_and_are_byte_stable(small_study, snapshot_dir, tmp_path, capsys):
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        code = main(["run", str(small_study), "--snapshot", str(snapshot_dir), "--out", str(out),
                     "--tables-only", "--no-volatility"])
        assert code == 0
    printed = capsys.readouterr().out
    assert "3 events" in printed and "wrote" in printed
    for name in ("car", "tests", "models", "abnormal_returns", "event_sessions", "joint", "joint_clusters"):
        assert (outs[0] / "tables" / f"{name}.csv").read_bytes() == (outs[1] / "tables" / f"{name}.csv").read_bytes()
        assert (outs[0] / "tables" / f"{name}.parquet").exists()
    api = es.Study(small_study, snapshot=snapshot_dir).run(volatility=False)
    cli_car = pd.read_csv(outs[0] / "tables" / "car.csv")
    pd.testing.assert_series_equal(cli_car["car"], api.car["car"].reset_index(drop=True), rtol=1e-9,
                                   check_names=False)
    cli_tests = pd.read_parquet(outs[0] / "tables" / "tests.parquet")
    assert len(cli_tests) == len(api.tests)
    assert (outs[0] / "run.json").exists()


def test_missing_snapshot_is_one_line_exit_2(small_study, tmp_path, capsys):
    code = main(["run", str(small_study), "--snapshot", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"),
                 "--tables-only"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nowhere" in err
