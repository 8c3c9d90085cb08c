"""Size of the abnormal-volume tests on real Tokyo volumes (pseudo events, no effect injected).

Log volume ``log(1 + V)`` of the snapshot's stock universe (read in place, 2021-06 .. 2024-12,
before the 2025 tariff news) goes through the engine exactly as :mod:`eventstudy.volume` does
(constant-mean model over [-260, -11]). Each replication draws one pseudo day 0 shared by N
random stocks (clustered design) and records, at 5% two-sided:

* single-pair: the parametric ``ts_t`` (CAV / sqrt(Var CAV), t(L1 - 1)) and the
  sample-quantile ``sq`` p-value of every pair;
* cross-sectional: every test of :mod:`eventstudy.inference` on the N pairs.

Usage: python benchmarks/size_volume.py [--snapshot DIR] [--reps 300] [--n 50] [--seed 5]
       [--windows 0,0 0,1 " -1,1" 0,5]  (first,last; a negative one quoted with a leading space)
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eventstudy import inference
from eventstudy.frames import event_panel
from eventstudy.returns import session_prices
from eventstudy.volume import log_volume

START, END = "2021-06-01", "2024-12-30"
ESTIMATION = (-260, -11)
WINDOWS = ((0, 0), (0, 1), (0, 5))


def load_log_volumes(snapshot: Path) -> pd.DataFrame:
    """Log volume of every universe stock on the XTKS session grid (NaN where missing)."""
    columns = {}
    for path in sorted((snapshot / "universe").glob("*.T.csv")):
        frame = pd.read_csv(path, usecols=["date", "volume"], parse_dates=["date"], index_col="date")
        volume = frame["volume"].loc[START:END].rename(path.name[:-4])
        columns[volume.name] = log_volume(session_prices(volume, "XTKS"))
    return pd.DataFrame(columns)


def run(log_volumes: pd.DataFrame, reps: int, n_assets: int, seed: int,
        windows: tuple[tuple[int, int], ...] = WINDOWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sessions = log_volumes.index
    candidates = np.arange(-ESTIMATION[0], len(sessions) - max(w[1] for w in windows) - 1)
    rows = []
    for rep in range(reps):
        day0 = sessions[rng.choice(candidates)]
        chosen = rng.choice(log_volumes.columns, n_assets, replace=False)
        panel, _ = event_panel(log_volumes[chosen], {f"r{rep}": day0}, model="constant_mean",
                               estimation_window=ESTIMATION, event_windows=windows,
                               min_estimation_returns=200)
        single = inference.single_asset_tests(panel, windows)
        single = single[single["window"] != ""]
        for (window, test), part in single.groupby(["window", "test"]):
            rows.append({"level": "pair", "window": window, "test": test,
                         "rejected": int((part["p_value"] < 0.05).sum()), "tried": int(part["p_value"].notna().sum())})
        for window in windows:
            table = inference.window_tests(panel, window, assume_independent=True)
            for test, p in zip(table["test"], table["p_value"]):
                rows.append({"level": "cross-section", "window": f"[{window[0]},{window[1]}]", "test": test,
                             "rejected": int(p < 0.05), "tried": int(np.isfinite(p))})
    raw = pd.DataFrame(rows)
    summary = raw.groupby(["level", "test", "window"], sort=False)[["rejected", "tried"]].sum()
    summary["rate"] = summary["rejected"] / summary["tried"]
    return summary.reset_index()


def _window(text: str) -> tuple[int, int]:
    first, last = (int(part) for part in text.split(","))
    return first, last


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", default=os.environ.get("EVENTSTUDY_SNAPSHOT",
                                                             str(REPO.parent / "shared" / "prices")))
    parser.add_argument("--reps", type=int, default=300)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--windows", nargs="+", type=_window, default=list(WINDOWS),
                        help='event windows as first,last; quote a negative one with a leading '
                        'space (" -5,10") so that it is not read as an option')
    args = parser.parse_args(argv)
    wall, cpu = time.perf_counter(), time.process_time()
    log_volumes = load_log_volumes(Path(args.snapshot))
    summary = run(log_volumes, args.reps, args.n, args.seed, tuple(args.windows))
    wide = summary.pivot_table(index=["level", "test"], columns="window", values="rate", sort=False)
    half = 1.96 * np.sqrt(0.05 * 0.95 / args.reps)
    print(f"{args.reps} clustered replications of N = {args.n} stocks; rejection at 5% (two-sided); "
          f"cross-sectional binomial band [{0.05 - half:.1%}, {0.05 + half:.1%}]")
    print(wide.to_string(float_format=lambda v: f"{v:.1%}"))
    print(f"\nwall {time.perf_counter() - wall:.1f} s, CPU {time.process_time() - cpu:.1f} s")


if __name__ == "__main__":
    main()
