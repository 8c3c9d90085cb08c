"""Size of the joint estimates (day-dummy t and window-sum t) under a true null.

Rejection rates at 5% (two-sided, and each 2.5% tail) of the ``joint`` table's ``day`` and
``window`` rows, computed with the product's own :func:`eventstudy.joint.joint_tables`, on

* ``synthetic t(5)``: iid Student-t(5) returns (scaled to a 1.5% daily s.d.), constant-mean
  model, nothing happens on any event day;
* ``Tokyo returns``: real daily returns of the snapshot's stock universe
  (``universe/<code>.T.csv``, read in place) from 2021-06-01 to 2024-12-30 (no 2025 session,
  so no tariff news), market model against TOPIX ``^TOPX``, pseudo events.

Each replication draws 50 assets and places 16 events with gaps between consecutive day 0s
drawn (shuffled) from 1, 4, 12 and 30 sessions, so that [0,1], [0,5] and [-5,10] windows of
neighbouring events overlap and the joint clusters hold 1 to 4 events. Windows [0,0], [0,1],
[0,5], [-5,10]; estimation window [-260, -11]; other events' [0, 1] days excluded from the
estimation samples (the defaults of ``events.yaml``). A replication's rate is the share of its
rows that reject; the reported rate is the mean over replications, with the binomial band for
the number of replications (0.05 +- 1.96 sqrt(0.05 0.95 / S), Brown & Warner style) and the
standard error of the mean of the replication rates beside it.

Usage: python benchmarks/size_power_joint.py [--snapshot DIR] [--reps 1000] [--seed 2026]
       [--out docs/validation]
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eventstudy.abnormal import AssetInput, format_window
from eventstudy.data import SnapshotSource, snapshot_universe
from eventstudy.events import Event, ModelSpec, StudySettings
from eventstudy.joint import joint_tables
from eventstudy.models import build_design
from eventstudy.returns import session_prices, to_returns

ALPHA = 0.05
N_ASSETS = 50
N_EVENTS = 16
GAPS = (1, 4, 12, 30)
WINDOWS = ((0, 0), (0, 1), (0, 5), (-5, 10))
MARKET = "^TOPX"
PRICE_START, PRICE_END = "2021-05-31", "2024-12-31"


def settings(model: ModelSpec) -> StudySettings:
    return StudySettings(
        name="size-power-joint", estimation_window=(-260, -11), event_windows=WINDOWS,
        exclude_other_events=True, exclusion_window=(0, 1), min_estimation_returns=120, model=model,
    )


def event_positions(rng: np.random.Generator, first: int) -> np.ndarray:
    """16 day-0 positions: gaps 1, 4, 12, 30 (each about four times), shuffled."""
    gaps = np.resize(np.array(GAPS), N_EVENTS - 1)
    return first + np.concatenate([[0], np.cumsum(rng.permutation(gaps))])


def span() -> int:
    return int(np.resize(np.array(GAPS), N_EVENTS - 1).sum())


def run_replication(inputs: list[AssetInput], sessions: pd.DatetimeIndex, positions: np.ndarray,
                    study: StudySettings) -> pd.DataFrame:
    """Joint estimates of one replication: (statistic, rejections, lower, upper, tests)."""
    events = [Event(f"e{j:02d}", "pseudo event", "pseudo", pd.Timestamp(sessions[p]).tz_localize("UTC"), ())
              for j, p in enumerate(positions)]
    exchange = inputs[0].exchange
    day0 = {(e.id, exchange): sessions[p] for e, p in zip(events, positions)}
    rows = joint_tables(inputs, events, day0, study).rows
    rows = rows[rows["status"] == "ok"]
    label = np.where(rows["kind"] == "day", "day dummy", "window " + rows["window"].astype(str))
    reject = rows["p_value"].to_numpy() < ALPHA
    t = rows["t"].to_numpy()
    frame = pd.DataFrame({"statistic": label, "reject": reject, "lower": reject & (t < 0),
                          "upper": reject & (t > 0)})
    out = frame.groupby("statistic").agg(rejects=("reject", "sum"), lower=("lower", "sum"),
                                         upper=("upper", "sum"), tests=("reject", "size"))
    return out.reset_index()


# ---------------------------------------------------------------------------- the two nulls


def synthetic_replications(reps: int, rng: np.random.Generator):
    study = settings(ModelSpec("constant_mean"))
    n_sessions = 260 + span() + 20
    sessions = pd.bdate_range("2015-01-05", periods=n_sessions)
    design = build_design(study.model, n_sessions, {})
    for _ in range(reps):
        draws = rng.standard_t(5, size=(N_ASSETS, n_sessions)) * 0.015 / np.sqrt(5 / 3) + 0.0003
        inputs = [AssetInput(f"S{i:02d}", "X", sessions, draws[i], design) for i in range(N_ASSETS)]
        yield inputs, sessions, event_positions(rng, 262), study


def load_tokyo(snapshot: Path) -> tuple[pd.DataFrame, pd.Series]:
    """Universe and TOPIX returns on the XTKS session grid, 2021-06-01 .. 2024-12-30."""
    tickers = snapshot_universe(snapshot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prices = SnapshotSource(snapshot).get([*tickers, MARKET], PRICE_START, PRICE_END)
        returns = pd.DataFrame({t: to_returns(session_prices(prices.closes[t], "XTKS")) for t in prices.closes})
    market = returns.pop(MARKET)
    return returns.loc[:, returns.notna().sum() >= 400], market


def tokyo_replications(reps: int, rng: np.random.Generator, returns: pd.DataFrame, market: pd.Series):
    study = settings(ModelSpec("market", benchmark=MARKET))
    sessions = pd.DatetimeIndex(returns.index)
    n_sessions = len(sessions)
    design = build_design(study.model, n_sessions, {MARKET: market.to_numpy()})
    values = returns.to_numpy()
    latest_first = n_sessions - span() - 11
    for _ in range(reps):
        first = int(rng.integers(261, latest_first))
        chosen = rng.choice(values.shape[1], N_ASSETS, replace=False)
        inputs = [AssetInput(str(returns.columns[c]), "XTKS", sessions, values[:, c], design) for c in chosen]
        yield inputs, sessions, event_positions(rng, first), study


# ---------------------------------------------------------------------------- summary


def simulate(name: str, replications) -> pd.DataFrame:
    frames = []
    for r, (inputs, sessions, positions, study) in enumerate(replications):
        one = run_replication(inputs, sessions, positions, study)
        one["replication"] = r
        frames.append(one)
    records = pd.concat(frames, ignore_index=True)
    records["data"] = name
    return records


def summarise(records: pd.DataFrame) -> pd.DataFrame:
    records = records.assign(rate=records["rejects"] / records["tests"])
    grouped = records.groupby(["data", "statistic"], sort=False)
    table = grouped.agg(reps=("replication", "nunique"), tests=("tests", "sum"), rate=("rate", "mean"),
                        rate_sd=("rate", "std"), lower=("lower", "sum"), upper=("upper", "sum")).reset_index()
    table["lower_tail"] = table.pop("lower") / table["tests"]
    table["upper_tail"] = table.pop("upper") / table["tests"]
    table["se"] = table.pop("rate_sd") / np.sqrt(table["reps"])
    half = 1.96 * np.sqrt(ALPHA * (1 - ALPHA) / table["reps"])
    table["band_low"], table["band_high"] = ALPHA - half, ALPHA + half
    table["inside_band"] = (table["rate"] >= table["band_low"]) & (table["rate"] <= table["band_high"])
    order = ["day dummy", *(f"window {format_window(w)}" for w in WINDOWS)]
    table["statistic"] = pd.Categorical(table["statistic"], order, ordered=True)
    return table.sort_values(["data", "statistic"]).reset_index(drop=True)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| data | statistic | rejects at 5% | lower / upper tail | s.e. | band | tests |",
             "|---|---|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(
            f"| {row.data} | {row.statistic} | {100 * row.rate:.1f}% | {100 * row.lower_tail:.1f}% / "
            f"{100 * row.upper_tail:.1f}% | {100 * row.se:.2f}% | [{100 * row.band_low:.2f}%, "
            f"{100 * row.band_high:.2f}%] | {row.tests:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("EVENTSTUDY_SNAPSHOT") or str(REPO.parent / "shared" / "prices")
    parser.add_argument("--snapshot", default=default)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", default=str(REPO / "docs" / "validation"))
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    records = [simulate("synthetic t(5)", synthetic_replications(args.reps, rng))]
    print(f"synthetic null: {time.perf_counter() - started:.0f} s", flush=True)
    snapshot = Path(args.snapshot)
    if (snapshot / "universe").is_dir():
        returns, market = load_tokyo(snapshot)
        records.append(simulate("Tokyo returns", tokyo_replications(args.reps, rng, returns, market)))
        print(f"with Tokyo returns: {time.perf_counter() - started:.0f} s", flush=True)
    else:
        print(f"no universe in {snapshot}: real-data null skipped")
    table = summarise(pd.concat(records, ignore_index=True))
    print(markdown(table))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    columns = ["data", "statistic", "reps", "tests", "rate", "lower_tail", "upper_tail", "se", "band_low",
               "band_high", "inside_band"]
    table[columns].to_csv(out / "size_power_joint.csv", index=False, float_format="%.6g", lineterminator="\n")
    print(f"wrote {out / 'size_power_joint.csv'}")
    if not table["inside_band"].all():
        print("OUTSIDE THE BAND: " + ", ".join(f"{r.data} {r.statistic}" for r in table[~table["inside_band"]].itertuples()))


if __name__ == "__main__":
    main()
