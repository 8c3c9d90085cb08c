"""Engine benchmark: every stock of the snapshot universe x every event of events.yaml.

Market model against ^TOPX, full cross-sectional test battery per event, category and tag.
Prints wall time and peak memory of the batched engine, and the time of the same estimation
work done pair by pair with statsmodels (OLS fit + prediction variances + CAR), as a ratio.

Usage: python benchmarks/engine.py [--snapshot DIR] [--loop-sample N]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from eventstudy import abnormal, calendars
from eventstudy.data import SnapshotSource, snapshot_universe
from eventstudy.events import Asset, ModelSpec, load_config
from eventstudy.study import Study


def universe_config(snapshot: Path):
    config = load_config(REPO / "events.yaml")
    stocks = [Asset(t, t, "XTKS", "stocks") for t in snapshot_universe(snapshot)]
    topix = Asset("^TOPX", "TOPIX", "XTKS", "benchmark")
    settings = dataclasses.replace(config.settings, model=ModelSpec("market", benchmark="^TOPX"))
    return dataclasses.replace(config, settings=settings, assets=(topix, *stocks))


def statsmodels_loop(study_inputs, config, day0, n_pairs_max: int) -> tuple[float, int]:
    """Same estimation work, one statsmodels OLS per (event, asset) pair."""
    import statsmodels.api as sm

    settings = config.settings
    rel_days, event_start = abnormal.grid(settings)
    windows = settings.event_windows
    done = 0
    started = time.perf_counter()
    for asset in study_inputs:
        for event in config.events:
            session = day0.get((event.id, asset.exchange))
            if session is None or session not in asset.sessions:
                continue
            pos = asset.sessions.get_loc(session)
            idx = pos + rel_days
            if idx[0] < 0 or idx[-1] >= len(asset.sessions):
                continue
            y, x = asset.returns[idx], asset.design.x[idx]
            est = np.zeros(len(idx), bool)
            est[: settings.estimation_window[1] - settings.estimation_window[0] + 1] = True
            est &= np.isfinite(y) & np.isfinite(x).all(axis=1)
            if est.sum() < settings.min_estimation_returns:
                continue
            fit = sm.OLS(y[est], x[est]).fit()
            x_event = x[event_start:]
            pred = fit.get_prediction(np.nan_to_num(x_event))
            ar = y[event_start:] - pred.predicted_mean
            cov = fit.scale * (np.eye(len(ar)) + x_event @ fit.normalized_cov_params @ x_event.T)
            for lo, hi in windows:
                sel = (rel_days[event_start:] >= lo) & (rel_days[event_start:] <= hi)
                _ = ar[sel].sum(), cov[np.ix_(sel, sel)].sum()
            done += 1
            if done >= n_pairs_max:
                return time.perf_counter() - started, done
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("EVENTSTUDY_SNAPSHOT") or str(REPO.parent / "shared" / "prices")
    parser.add_argument("--snapshot", default=default)
    parser.add_argument("--loop-sample", type=int, default=2000,
                        help="pairs timed in the statsmodels loop (extrapolated to all pairs)")
    parser.add_argument("--repeat", type=int, default=2, help="engine runs; the fastest is reported")
    args = parser.parse_args()
    snapshot = Path(args.snapshot)

    config = universe_config(snapshot)
    t0 = time.perf_counter()
    prices = SnapshotSource(snapshot).get(config.all_tickers(), "2021-01-01", "2026-06-30")
    calendars.map_events(config, ["XTKS", "XNYS"])  # warm the calendar cache
    load_seconds = time.perf_counter() - t0

    study = Study(config, prices=prices)
    timings = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = study.run(volatility=False)
        timings.append(time.perf_counter() - t0)
    engine_seconds = min(timings)
    tracemalloc.start()  # separate run: tracing slows numpy allocations
    Study(config, prices=prices).run(volatility=False)
    _, peak_traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    n_pairs = int((result.models["status"] == "ok").sum())
    day0 = {(r.event_id, r.exchange): r.session for r in result.event_sessions.itertuples()}
    t0 = time.perf_counter()
    inputs = study.asset_inputs(prices.closes)
    prep_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    abnormal.estimate(inputs, config.events, day0, config.settings)
    batched_seconds = time.perf_counter() - t0
    loop_seconds, loop_pairs = statsmodels_loop(inputs, config, day0, args.loop_sample)
    loop_all = loop_seconds / max(loop_pairs, 1) * n_pairs

    print(f"assets: {len(config.studied_assets)} stocks, events: {len(config.events)}, "
          f"pairs estimated: {n_pairs} of {len(result.models)}")
    print(f"test rows: {len(result.tests)}  car rows: {len(result.car)}")
    print(f"price loading (318 CSV files + calendars): {load_seconds:.2f} s")
    print(f"engine wall time (returns, fits, ARs, CARs, full test battery): {engine_seconds:.2f} s "
          f"(best of {len(timings)}: {', '.join(f'{t:.2f}' for t in timings)})")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  of which returns/designs: {prep_seconds:.2f} s, batched estimation + ARs: {batched_seconds:.2f} s")
    print(f"peak traced memory during the engine: {peak_traced / 2**20:.0f} MiB; "
          f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"statsmodels loop: {loop_pairs} pairs in {loop_seconds:.2f} s -> {loop_all:.1f} s for all {n_pairs} pairs")
    print(f"speed-up of the batched estimation over the statsmodels loop: {loop_all / batched_seconds:.0f}x")
    print(f"speed-up of the whole engine over the loop's estimation alone: {loop_all / engine_seconds:.1f}x")


if __name__ == "__main__":
    main()
