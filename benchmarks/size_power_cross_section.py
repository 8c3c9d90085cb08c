"""Size of the cross-sectional regression's standard errors: HC1 OLS vs Sefcik-Thompson.

Every firm of one event shares the event date. This script measures, under the null of no
event effect, how often each standard error rejects a zero coefficient at 5% (two-sided):

* ``synthetic``: N firms in 4 sectors; abnormal returns = a sector-wide shock shared by the
  sector's firms + an idiosyncratic shock, both Student t(5) (fat tails); 250 estimation days
  and an event window of L2 days drawn from the same process. Formula
  ``car ~ C(sector) + size`` with ``size`` a random firm characteristic.
* ``real``: pseudo events on real Tokyo returns (the snapshot's universe, 2021-06 .. 2024-12,
  no 2025 tariff news): one random day 0 per replication shared by every eligible stock,
  market model against TOPIX over [-260, -11], CARs over [0, L2 - 1]; formula
  ``car ~ C(sector17)`` with the JPX TOPIX-17 sectors of ``studies/tokyo-sectors.csv``,
  plus ``beta`` (the market-model slope, a pre-event characteristic).

Reported: rejection rate over every (replication, coefficient) of each term family with a
binomial 95% interval for the nominal 5% (computed over replications).

Usage: python benchmarks/size_power_cross_section.py [--design synthetic|real|both]
       [--reps 2000] [--real-reps 400] [--snapshot DIR] [--seed 13]
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
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from eventstudy.cross_section import cross_section_regression

ESTIMATION = (-260, -11)
WINDOWS = (1, 2, 6)


def synthetic_replication(rng: np.random.Generator, window: int, n_firms: int = 60,
                          n_days: int = 250, sector_scale: float = 0.008,
                          idiosyncratic_scale: float = 0.01) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """CARs, characteristics and estimation ARs of one null replication (see module docstring)."""
    firms = [f"F{i:03d}" for i in range(n_firms)]
    sector = np.arange(n_firms) % 4
    total = n_days + window
    t5 = np.sqrt(5 / 3)  # sd of t(5)
    common = rng.standard_t(5, (total, 4)) * sector_scale / t5
    own = rng.standard_t(5, (total, n_firms)) * idiosyncratic_scale / t5
    ar = common[:, sector] + own
    cars = pd.Series(ar[n_days:].sum(axis=0), index=firms)
    chars = pd.DataFrame({"sector": sector.astype(str), "size": rng.normal(0, 1, n_firms)}, index=firms)
    return cars, chars, pd.DataFrame(ar[:n_days], columns=firms)


def real_replication(returns: np.ndarray, market: np.ndarray, day0: int, window: int,
                     stocks: np.ndarray, sectors: pd.Series) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """Market-model CARs and estimation residuals of every stock with complete data around ``day0``."""
    first, last = day0 + ESTIMATION[0], day0 + ESTIMATION[1]
    y_est, x_m = returns[first:last + 1], market[first:last + 1]
    y_event, m_event = returns[day0:day0 + window], market[day0:day0 + window]
    complete = (np.isfinite(y_est).all(axis=0) & np.isfinite(y_event).all(axis=0)
                & sectors.reindex(stocks).notna().to_numpy())
    y_est, y_event, names = y_est[:, complete], y_event[:, complete], stocks[complete]
    x = np.column_stack([np.ones(len(x_m)), x_m])
    theta = np.linalg.lstsq(x, y_est, rcond=None)[0]  # (2, N)
    residuals = y_est - x @ theta
    cars = (y_event - np.column_stack([np.ones(window), m_event]) @ theta).sum(axis=0)
    chars = pd.DataFrame({"sector17": sectors.reindex(names).to_numpy(), "beta": theta[1]}, index=names)
    return pd.Series(cars, index=names), chars, pd.DataFrame(residuals, columns=names)


def with_hc1_p(table: pd.DataFrame) -> pd.DataFrame:
    """One regression's rows with the t(n - p) p-value of the HC1 standard error, which the
    package does not report (it is what this benchmark shows to be unsized)."""
    dof = table["n"] - len(table)
    return table.assign(p_hc1=2 * stats.t.sf(np.abs(table["estimate"] / table["std_error_hc1"]), dof))


def rejection_rows(tables: list[pd.DataFrame], design: str, window: int) -> list[dict]:
    """Rejection rates at 5% per term family (sector contrasts, other terms) and standard error."""
    rows = []
    stacked = pd.concat([with_hc1_p(t) for t in tables], keys=range(len(tables)), names=["rep", "row"])
    stacked["family"] = np.where(stacked["term"].str.startswith("C("), "sector contrasts", stacked["term"])
    for family, part in stacked.groupby("family", sort=False):
        if family == "Intercept":
            continue
        for label, column in (("HC1 OLS", "p_hc1"), ("Sefcik-Thompson", "p_st")):
            rate = float((part[column] < 0.05).mean())
            rows.append({"design": design, "L2": window, "term": family, "standard error": label,
                         "rejection rate": rate, "coefficients": len(part), "replications": len(tables)})
    return rows


def run_synthetic(reps: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for window in WINDOWS:
        tables = [cross_section_regression(*synthetic_replication(rng, window), "car ~ C(sector) + size", window)
                  for _ in range(reps)]
        rows += rejection_rows(tables, "synthetic", window)
    return rows


def run_real(reps: int, seed: int, snapshot: str) -> list[dict]:
    from size_power import load_universe

    universe = load_universe(snapshot)
    attributes = pd.read_csv(REPO / "studies" / "tokyo-sectors.csv", dtype=str, keep_default_na=False)
    sectors = attributes.set_index("ticker")["sector17"]
    returns = universe.returns.to_numpy(float)
    market = universe.market.to_numpy(float)
    stocks = universe.stocks
    rng = np.random.default_rng(seed)
    known = np.concatenate([[0], np.cumsum(np.isfinite(market))])
    starts = np.arange(-ESTIMATION[0], len(returns) - max(WINDOWS))
    span = starts + max(WINDOWS) - (starts + ESTIMATION[0])
    candidates = starts[known[starts + max(WINDOWS)] - known[starts + ESTIMATION[0]] == span]
    rows = []
    for window in WINDOWS:
        days = rng.choice(candidates, reps, replace=True)
        tables = [cross_section_regression(*real_replication(returns, market, day0, window, stocks, sectors),
                                           "car ~ C(sector17) + beta", window) for day0 in days]
        rows += rejection_rows(tables, "real (Tokyo universe)", window)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--design", choices=("synthetic", "real", "both"), default="both")
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--real-reps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--snapshot", default=os.environ.get("EVENTSTUDY_SNAPSHOT",
                                                             str(REPO.parent / "shared" / "prices")))
    args = parser.parse_args(argv)
    wall, cpu = time.perf_counter(), time.process_time()
    rows = []
    if args.design in ("synthetic", "both"):
        rows += run_synthetic(args.reps, args.seed)
    if args.design in ("real", "both"):
        rows += run_real(args.real_reps, args.seed, args.snapshot)
    table = pd.DataFrame(rows)
    for (design, reps), part in table.groupby(["design", "replications"], sort=False):
        half = 1.96 * np.sqrt(0.05 * 0.95 / reps)
        print(f"\n{design}: {reps} replications per window; nominal 5%, binomial band "
              f"[{0.05 - half:.1%}, {0.05 + half:.1%}] (per replication; contrasts within one are dependent)")
        wide = part.pivot_table(index=["term", "L2"], columns="standard error", values="rejection rate",
                                sort=False)
        print(wide.to_string(float_format=lambda v: f"{v:.1%}"))
    print(f"\nwall {time.perf_counter() - wall:.1f} s, CPU {time.process_time() - cpu:.1f} s")


if __name__ == "__main__":
    main()
