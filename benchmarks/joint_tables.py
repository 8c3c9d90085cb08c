"""Joint estimation and table writing: before (a git revision) and after (this tree), one run.

Every stock of the snapshot universe x every event of events.yaml, market model against
``^TOPX`` (the study of ``benchmarks/universe.py``). Times, with CPU seconds beside wall seconds:

* joint estimation: ``eventstudy.joint`` of the revision given by ``--before`` (default: the
  commit before the numpy rewrite; read with ``git show``, nothing is checked out) against
  :meth:`StudyResult.joint_tables` of this tree;
* writing every table (CSV + Parquet): the revision's ``eventstudy.report.write_tables`` with
  its joint table against this tree's writer with this tree's joint tables;

and prints the sizes of ``joint.csv`` and the ratios before / after.

Usage: OPENBLAS_NUM_THREADS=1 python benchmarks/joint_tables.py [--snapshot DIR] [--before REV]
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from universe import universe_config

from eventstudy import calendars, report
from eventstudy.data import SnapshotSource
from eventstudy.study import Study

BEFORE = "7fa6dda"  # last commit with the statsmodels joint estimation and the pandas writer


def module_at(revision: str, path: str, name: str, folder: Path) -> types.ModuleType:
    """Import ``path`` as it was at ``revision`` (``git show`` into ``folder``) as module ``name``."""
    source = subprocess.run(["git", "-C", str(REPO), "show", f"{revision}:{path}"], check=True,
                            capture_output=True, text=True).stdout
    copy = folder / f"{name}.py"
    copy.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, copy)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def timed(function, *args, **kwargs):
    """``(result, wall seconds, CPU seconds)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def exclusion_masks(result) -> dict:
    """Per ticker, the sessions inside any applicable event's exclusion window (old interface)."""
    settings, day0 = result.config.settings, _day0(result)
    lo, hi = settings.other_event_exclusion
    masks = {}
    for asset in result.inputs:
        mask = np.zeros(len(asset.sessions), bool)
        for event in result.config.events:
            session = day0.get((event.id, asset.exchange))
            if event.applies_to(asset.ticker) and session is not None and session in asset.sessions:
                pos = asset.sessions.get_loc(session)
                mask[max(pos + lo, 0) : max(pos + hi + 1, 0)] = True
        masks[asset.ticker] = mask
    return masks


def _day0(result) -> dict:
    return {(r.event_id, r.exchange): r.session for r in result.event_sessions.itertuples()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("EVENTSTUDY_SNAPSHOT") or str(REPO.parent / "shared" / "prices")
    parser.add_argument("--snapshot", default=default)
    parser.add_argument("--before", default=BEFORE, help="git revision of the 'before' code")
    args = parser.parse_args()
    snapshot = Path(args.snapshot)

    with tempfile.TemporaryDirectory() as study_dir:
        config = universe_config(snapshot, Path(study_dir))
    prices = SnapshotSource(snapshot).get(config.all_tickers(), "2021-01-01", "2026-06-30")
    calendars.map_events(config, ["XTKS", "XNYS"])
    result = Study(config, prices=prices).run(volatility=False)
    ids = [e.id for e in config.events]

    with tempfile.TemporaryDirectory() as sources:
        old_joint = module_at(args.before, "eventstudy/joint.py", "_joint_before", Path(sources))
        old_report = module_at(args.before, "eventstudy/report.py", "_report_before", Path(sources))
    masks = exclusion_masks(result)
    joint_before, wall_jb, cpu_jb = timed(old_joint.joint_table, result.inputs, _day0(result), ids,
                                          config.settings, masks)
    joint_after, wall_ja, cpu_ja = timed(result.joint_tables)

    with tempfile.TemporaryDirectory() as before_dir, tempfile.TemporaryDirectory() as after_dir:
        _, wall_wb, cpu_wb = timed(old_report.write_tables, result, before_dir, extra={"joint": joint_before})
        _, wall_wa, cpu_wa = timed(report.write_tables, result, after_dir, extra=joint_after)
        size_before = (Path(before_dir) / "tables" / "joint.csv").stat().st_size
        size_after = (Path(after_dir) / "tables" / "joint.csv").stat().st_size
        total_before = sum(p.stat().st_size for p in (Path(before_dir) / "tables").iterdir())
        total_after = sum(p.stat().st_size for p in (Path(after_dir) / "tables").iterdir())

    n_pairs = int((result.models["status"] == "ok").sum())
    print(f"{len(config.studied_assets)} stocks x {len(config.events)} events ({n_pairs} pairs), "
          f"before = {args.before}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"joint rows: before {len(joint_before):,} (clusters: {joint_before['cluster'].nunique()}, "
          f"longest id {joint_before['cluster'].str.len().max():,} characters), after "
          f"{len(joint_after['joint']):,} (clusters: {joint_after['joint']['cluster'].nunique()})")
    print("| stage | before wall / CPU s | after wall / CPU s | CPU ratio |")
    print("|---|---|---|---|")
    for label, wb, cb, wa, ca in (("joint estimation", wall_jb, cpu_jb, wall_ja, cpu_ja),
                                  ("writing all tables", wall_wb, cpu_wb, wall_wa, cpu_wa)):
        print(f"| {label} | {wb:.2f} / {cb:.2f} | {wa:.2f} / {ca:.2f} | {cb / ca:.0f}x |")
    print(f"joint.csv: {size_before / 1e6:.0f} MB -> {size_after / 1e6:.0f} MB; all tables (CSV + Parquet): "
          f"{total_before / 1e6:.0f} MB -> {total_after / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
