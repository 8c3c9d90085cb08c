"""Size of every reported volatility statistic, before and after the calibrated p-values.

Two nulls (no event effect), each ``--reps`` replications from one seeded numpy Generator:

* ``synthetic t(5)``: per replication 50 assets with iid Student-t(5) daily returns (s.d. 1%)
  and 16 events that every asset shares, 280 sessions apart (no estimation window holds another
  event); constant-mean model, estimation window [-260, -11]. Assets and events are
  independent, so all 800 pairs are independent and the per-event cross-sections (50 pairs)
  are *not* clustered.
* ``real Tokyo, clustered``: per replication one pseudo day 0 drawn among the XTKS sessions of
  2022-06 .. 2024-12 (no 2025 data: no tariff news) and 30 stocks of the snapshot universe
  (``universe/*.T.csv``, read in place) eligible on it; market model against TOPIX
  (``^TOPX``), estimation window [-260, -11]. All pairs share day 0: the cross-section is
  clustered.

Windows [0,0], [0,1], [0,5], [-5,10]. Per-pair statistics: the rejection rate at 5% over every
(pair, replication); cross-sectional statistics: over every scope (the 16 events of a
synthetic replication, the one cross-section of a real replication). "before" runs the
volatility module of commit ``--before-ref`` (loaded from git) on the same panels; its
``garch_cav`` row is the chi2(L2) reference on the same fits (the old p-value; the old arch
fits are too slow for these replication counts). "after" is this tree: ``p_value`` and, for
comparison, ``p_value_parametric``.

Usage: python benchmarks/size_power_volatility.py [--snapshot DIR] [--reps 500] [--seed 2026]
       [--workers 2] [--out docs/validation] [--before-ref 8534746]
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import dataclasses
import importlib.util
import multiprocessing
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eventstudy import volatility
from eventstudy.data import SnapshotSource, snapshot_universe
from eventstudy.frames import event_panel
from eventstudy.panel import AbnormalPanel
from eventstudy.registry import VOLATILITY_MEASURES
from eventstudy.returns import session_prices, to_returns

WINDOWS = ((0, 0), (0, 1), (0, 5), (-5, 10))
ESTIMATION_WINDOW = (-260, -11)
ALPHA = 0.05
SYNTHETIC_ASSETS, SYNTHETIC_EVENTS, SYNTHETIC_SPACING, SYNTHETIC_DOF = 50, 16, 280, 5.0
REAL_ASSETS = 30
MARKET, EXCHANGE = "^TOPX", "XTKS"
PRICE_START, PRICE_END = "2021-05-31", "2024-12-31"
MIN_ESTIMATION_RETURNS = 200
CHUNK = 25
"""Replications per work item."""
TESTED = [m for m, info in VOLATILITY_MEASURES.items() if "no test" not in info.reference]


# ---------------------------------------------------------------------------------- data


@dataclasses.dataclass(frozen=True)
class Universe:
    """Real returns on the XTKS grid and the (session, stock) cells that may be day 0."""

    returns: pd.DataFrame
    market: pd.Series
    eligible: np.ndarray


def load_universe(snapshot: Path) -> Universe:
    """Stocks of ``<snapshot>/universe`` and TOPIX, simple returns on XTKS sessions."""
    tickers = snapshot_universe(snapshot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prices = SnapshotSource(snapshot).get([*tickers, MARKET], PRICE_START, PRICE_END)
        returns = pd.DataFrame(
            {t: to_returns(session_prices(prices.closes[t], EXCHANGE)) for t in prices.closes})
    market = returns.pop(MARKET)
    returns = returns.loc[:, returns.notna().any()]
    values = returns.to_numpy(float)
    usable = np.isfinite(values) & np.isfinite(market.to_numpy(float))[:, None]
    cumulative = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(usable, axis=0)])
    day0 = np.arange(len(values))
    first, last = ESTIMATION_WINDOW
    lo, hi = day0 + first, day0 + last
    start, end = min(w[0] for w in WINDOWS), max(w[1] for w in WINDOWS)
    rows = np.flatnonzero((lo >= 0) & (day0 + end < len(values)) & (day0 + start > hi))
    eligible = np.zeros_like(usable)
    counts = cumulative[hi[rows] + 1] - cumulative[lo[rows]]
    window_ok = np.ones((len(rows), values.shape[1]), dtype=bool)
    for offset in range(start, end + 1):
        window_ok &= usable[rows + offset]
    eligible[rows] = window_ok & (counts >= MIN_ESTIMATION_RETURNS)
    return Universe(returns, market, eligible)


# ---------------------------------------------------------------------------------- panels


def synthetic_panel(rng: np.random.Generator) -> tuple[AbnormalPanel, list[np.ndarray]]:
    """One synthetic replication: the panel and its scopes (one per event)."""
    first = -ESTIMATION_WINDOW[0] + 5
    n_sessions = first + SYNTHETIC_SPACING * SYNTHETIC_EVENTS + 20
    sessions = pd.bdate_range("2010-01-04", periods=n_sessions)
    scale = 0.01 / np.sqrt(SYNTHETIC_DOF / (SYNTHETIC_DOF - 2.0))
    draws = scale * rng.standard_t(SYNTHETIC_DOF, (n_sessions, SYNTHETIC_ASSETS))
    returns = pd.DataFrame(draws, index=sessions, columns=[f"S{i}" for i in range(SYNTHETIC_ASSETS)])
    events = {f"e{k:02d}": sessions[first + SYNTHETIC_SPACING * k] for k in range(SYNTHETIC_EVENTS)}
    panel, _ = event_panel(returns, events, None, "constant_mean", ESTIMATION_WINDOW, WINDOWS,
                           MIN_ESTIMATION_RETURNS, exclude_other_events=True)
    return panel, [panel.event_ids == e for e in events]


def real_panels(universe: Universe, rng: np.random.Generator,
                reps: int) -> list[tuple[AbnormalPanel, list[np.ndarray]]]:
    """``reps`` clustered real replications, estimated in one call (one scope each)."""
    sessions = universe.returns.index
    stocks = np.asarray(universe.returns.columns)
    candidates = np.flatnonzero(universe.eligible.sum(axis=1) >= REAL_ASSETS)
    draws = []
    for rep in range(reps):
        day0 = rng.choice(candidates)
        chosen = rng.choice(np.flatnonzero(universe.eligible[day0]), REAL_ASSETS, replace=False)
        draws += [(f"r{rep:04d}", stocks[i], sessions[day0]) for i in chosen]
    events = pd.DataFrame(draws, columns=["event_id", "asset", "date"])
    panel, _ = event_panel(universe.returns, events, universe.market, "market", ESTIMATION_WINDOW,
                           WINDOWS, MIN_ESTIMATION_RETURNS)
    out = []
    for rep in range(reps):
        rows = panel.event_ids == f"r{rep:04d}"
        sample = panel.subset(rows)
        out.append((sample, [np.ones(sample.n_pairs, dtype=bool)]))
    return out


# ---------------------------------------------------------------------------------- before


def load_before(ref: str) -> types.ModuleType:
    """The volatility module of commit ``ref`` (read with ``git show``, never written)."""
    source = subprocess.run(["git", "show", f"{ref}:eventstudy/volatility.py"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("volatility_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    exec(compile(source, f"{ref}:eventstudy/volatility.py", "exec"), module.__dict__)  # noqa: S102
    return module


# ---------------------------------------------------------------------------------- one replication


def _rejections(table: pd.DataFrame, column: str, version: str, level: str) -> list[tuple]:
    """``(version, level, statistic, window, column, rejections, tests)`` of 'ok' rows."""
    tested = table[(table["status"] == "ok") & table["measure"].isin(TESTED)]
    tested = tested[np.isfinite(tested[column].to_numpy(float))]
    counts = tested.assign(reject=tested[column].to_numpy(float) <= ALPHA).groupby(
        ["measure", "window"])["reject"].agg(["sum", "count"])
    return [(version, level, measure, window, column, int(row["sum"]), int(row["count"]))
            for (measure, window), row in counts.iterrows()]


def replication(panel: AbnormalPanel, scopes: list[np.ndarray],
                before: types.ModuleType | None) -> list[tuple]:
    """Rejection counts of every statistic of one replication, after (and before)."""
    inputs = volatility.PairInputs.of(panel)
    fits = volatility.fit_garch(panel)
    pairs = volatility.pair_volatility(panel, WINDOWS, fits=fits, inputs=inputs,
                                       withhold_unsized=False)
    cross = pd.concat(volatility.scoped_volatility(panel, WINDOWS, scopes, inputs,
                                                   assume_independent=True),
                      ignore_index=True)
    rows = []
    for column in ("p_value", "p_value_parametric"):
        rows += _rejections(pairs, column, "after", "pair")
        rows += _rejections(cross, column, "after", "cross-section")
    if before is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            old_pairs = before.pair_volatility(panel, WINDOWS, garch=False)
            old_cross = pd.concat([before.cross_sectional_volatility(panel.subset(mask), WINDOWS)
                                   for mask in scopes], ignore_index=True)
        chi2 = pairs[pairs["measure"] == "garch_cav"].assign(p_value=lambda f: f["p_value_parametric"])
        rows += _rejections(pd.concat([old_pairs, chi2], ignore_index=True), "p_value", "before",
                            "pair")
        rows += _rejections(old_cross, "p_value", "before", "cross-section")
    return rows


# ---------------------------------------------------------------------------------- driver


@dataclasses.dataclass(frozen=True)
class Task:
    null: str
    first: int
    reps: int
    seed: int


_STATE: dict = {}


def _run_task(task: Task) -> list[tuple]:
    before = _STATE.get("before")
    rng = np.random.default_rng(task.seed)
    if task.null == "synthetic t(5)":
        panels = [synthetic_panel(rng) for _ in range(task.reps)]
    else:
        panels = real_panels(_STATE["universe"], rng, task.reps)
    out = []
    for offset, (panel, scopes) in enumerate(panels):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            out += [(task.null, task.first + offset, *row)
                    for row in replication(panel, scopes, before)]
    return out


def simulate(reps: int, seed: int, workers: int, universe: Universe | None,
             before: types.ModuleType | None) -> pd.DataFrame:
    """Counts per (null, replication, version, level, statistic, window, p column)."""
    _STATE.update(universe=universe, before=before)
    nulls = ["synthetic t(5)"] + (["real Tokyo, clustered"] if universe is not None else [])
    seeds = np.random.SeedSequence(seed).spawn(len(nulls) * (reps // CHUNK + 1))
    tasks = [Task(null, first, min(CHUNK, reps - first), int(seeds.pop().generate_state(1)[0]))
             for null in nulls for first in range(0, reps, CHUNK)]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = pool.map(_run_task, tasks, chunksize=1)
    else:
        parts = [_run_task(task) for task in tasks]
    columns = ["null", "rep", "version", "level", "statistic", "window", "p_column",
               "rejections", "tests"]
    return pd.DataFrame([row for part in parts for row in part], columns=columns)


def summarise(counts: pd.DataFrame) -> pd.DataFrame:
    """Rejection rate per cell with a 95% interval from the spread across replications.

    Pairs of one replication share data (same dates, overlapping estimation windows), so the
    interval is ``rate +- 1.96 sd(per-replication rates) / sqrt(replications)``, not binomial.
    """
    keys = ["null", "level", "statistic", "window", "version", "p_column"]
    per_rep = counts.groupby([*keys, "rep"])[["rejections", "tests"]].sum().reset_index()
    per_rep["rate"] = per_rep["rejections"] / per_rep["tests"]
    grouped = per_rep.groupby(keys)
    out = grouped[["rejections", "tests"]].sum()
    out["rate"] = out["rejections"] / out["tests"]
    out["replications"] = grouped["rate"].count()
    half = 1.96 * grouped["rate"].std(ddof=1) / np.sqrt(out["replications"])
    out["ci_low"], out["ci_high"] = out["rate"] - half, out["rate"] + half
    out["within_band"] = out["rate"].between(*BAND)
    return out.reset_index()


BAND = (0.05 - 1.96 * np.sqrt(0.05 * 0.95 / 1000), 0.05 + 1.96 * np.sqrt(0.05 * 0.95 / 1000))
"""[3.65%, 6.35%]: the 95% binomial band of 1,000 independent tests (the band of
docs/validation.md)."""


def render(summary: pd.DataFrame) -> str:
    """Markdown table: statistic x window, before / after (p_value) / after parametric."""
    lines = []
    windows = [volatility.window_label(w) for w in WINDOWS]
    for null in summary["null"].unique():
        part = summary[summary["null"] == null]
        lines += [(f"**{null}** (rejection rate at 5%, in %; before / after / after's "
                   "parametric column; **bold** outside [3.65, 6.35])"), "",
                  "| statistic | level | " + " | ".join(windows) + " |",
                  "|---|---|" + "---:|" * len(windows)]
        for (statistic, level), cells in part.groupby(["statistic", "level"], sort=False):
            row = []
            for window in windows:
                at = cells[cells["window"] == window].set_index(["version", "p_column"])["rate"]
                values = [at.get(("before", "p_value")), at.get(("after", "p_value")),
                          at.get(("after", "p_value_parametric"))]
                row.append(" / ".join(_cell(v) for v in values))
            lines.append(f"| {statistic} | {level} | " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(rate: float | None) -> str:
    if rate is None or not np.isfinite(rate):
        return "–"
    text = f"{100 * rate:.1f}"
    return text if BAND[0] <= rate <= BAND[1] else f"**{text}**"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snapshot", default=str(REPO.parent / "shared" / "prices"))
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "docs" / "validation"))
    parser.add_argument("--before-ref", default="8534746")
    parser.add_argument("--no-real", action="store_true", help="synthetic null only")
    args = parser.parse_args(argv)
    started, cpu = time.perf_counter(), time.process_time()
    universe = None if args.no_real else load_universe(Path(args.snapshot))
    before = load_before(args.before_ref) if args.before_ref else None
    counts = simulate(args.reps, args.seed, args.workers, universe, before)
    summary = summarise(counts)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "size_power_volatility.csv", index=False, float_format="%.6g")
    print(render(summary))
    children = os.times()
    print(f"{args.reps} replications per null in {time.perf_counter() - started:.0f} s wall, "
          f"{time.process_time() - cpu + children.children_user:.0f} s CPU "
          f"({args.workers} workers); wrote {out / 'size_power_volatility.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
