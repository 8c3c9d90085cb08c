"""Before and after a change, measured back to back: ``eventstudy run`` of a git revision and of
this working tree on the benchmark study, alternately, then their tables compared.

    python benchmarks/before_after.py --base 48f25b5 [--repeat 2] [--snapshot DIR]

The base revision is extracted with ``git archive`` into a temporary folder and run with the same
interpreter (``PYTHONPATH`` puts its ``eventstudy`` first); both run
``eventstudy run --tables-only --no-volatility`` on the 318 x 46 study of ``universe.py`` with
``total_reactions: true``, each in a child process measured by ``measure.py``, alternating so that
a change in the machine's load hits both alike. Prints the median wall s, CPU s and peak RSS per
side, the per-stage CPU seconds, and the table comparison of ``compare_outputs.py`` (CSVs byte for
byte). Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from compare_outputs import compare_folders
from measure import gib, run_measured
from universe import write_universe_study

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SNAPSHOT = REPO.parent / "shared" / "prices"


def extract(revision: str, folder: Path) -> Path:
    """The tree of ``revision`` in ``folder`` (``git archive``); returns the folder."""
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", revision], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def command(study: Path, snapshot: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "eventstudy", "run", str(study), "--snapshot", str(snapshot),
            "--out", str(out), "--tables-only", "--no-volatility", "--verbose"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="git revision of the 'before' run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per side (default 2)")
    parser.add_argument("--snapshot", type=Path, default=DEFAULT_SNAPSHOT)
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="before-after-"))
    try:
        base = extract(args.base, root / "base")
        study = write_universe_study(root / "study", args.snapshot, total_reactions=True)
        sides = {"before": str(base), "after": str(REPO)}
        runs: dict[str, list] = {side: [] for side in sides}
        for k in range(args.repeat):
            for side, path in sides.items():
                env = {"PYTHONPATH": path + os.pathsep + os.environ.get("PYTHONPATH", "")}
                m = run_measured(command(study, args.snapshot, root / f"out-{side}"), cwd=path, env=env)
                if not m.ok:
                    print(f"{side} run {k + 1}: {m.failure()}")
                    return 1
                runs[side].append(m)
                print(f"{side} run {k + 1}: wall {m.wall:.1f} s, CPU {m.cpu:.1f} s, peak RSS {gib(m.peak_rss)} GiB")
        print("\n| side | wall s | CPU s | peak RSS GiB |\n|---|---|---|---|")
        for side, ms in runs.items():
            print(f"| {side} ({args.base if side == 'before' else 'working tree'}) | "
                  f"{statistics.median(m.wall for m in ms):.1f} | {statistics.median(m.cpu for m in ms):.1f} | "
                  f"{gib(statistics.median(m.peak_rss for m in ms))} |")
        stages = list(dict.fromkeys(s.name for ms in runs.values() for m in ms for s in m.stages))
        print("\n| stage (median CPU s / peak RSS GiB) | before | after |\n|---|---|---|")
        for name in stages:
            cells = []
            for ms in runs.values():
                found = [s for m in ms for s in m.stages if s.name == name]
                cells.append(f"{statistics.median(s.cpu for s in found):.2f} / "
                             f"{gib(statistics.median(s.peak_rss for s in found))}" if found else "")
            print(f"| {name} | {' | '.join(cells)} |")
        verdicts = compare_folders(root / "out-before", root / "out-after")
        same = [name for name, verdict in verdicts if verdict == "same"]
        print(f"\ntables: {len(same)} of {len(verdicts)} files byte-identical"
              + "".join(f"\n  {name}: {verdict}" for name, verdict in verdicts if verdict != "same"))
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
