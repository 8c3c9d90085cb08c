"""The core work of an event study done without ``eventstudy``: two reference implementations.

For every (event, stock) pair: fit the market model ``R = a + b * M`` by OLS on the estimation
window (``[-260, -11]`` sessions around day 0, without missing returns and without the sessions
in any *other* event's exclusion window), then over the event period the abnormal returns
``AR = R - a - b * M`` and their prediction-error variances ``s^2 (1 + x' (X'X)^-1 x)``, and for
each event window the CAR, its variance ``s^2 (L + 1'X_w (X'X)^-1 X_w'1)`` (L sessions), its t
and two-sided Student-t p-value with ``n - 2`` degrees of freedom. This is what
``eventstudy run`` does for its abnormal-return and CAR tables, without its cross-sectional
tests, joint estimation or report.

* ``statsmodels``: a plain loop, one ``sm.OLS(...).fit()`` and ``get_prediction`` per pair, as a
  user would write it; ``--sample K`` times K pairs spread evenly over all pairs (a fixed
  choice), and the caller extrapolates linearly to every pair.
* ``numpy``: the floor, every pair at once: one batched 2x2 normal-equations solve, ARs,
  variances, CARs and p-values as array operations.

Both read plain price CSVs with pandas (no ``eventstudy`` import, so the process is as lean as
the method), write ``car.csv`` and ``abnormal_returns.csv`` into ``out``, and print one JSON line
with their stage times (wall and CPU seconds) and pair counts. The job (prices, day 0s, windows) is
a JSON file written by ``benchmarks/bench.py`` (:func:`write_job`).

Usage: python benchmarks/core_work.py {statsmodels,numpy} JOB.json [--sample K]
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


@dataclass
class Job:
    """Inputs of the core work: return matrix, market, pair positions and windows."""

    tickers: list[str]
    event_ids: list[str]
    dates: pd.DatetimeIndex
    returns: np.ndarray  # (S, N) simple returns on the market's sessions
    market: np.ndarray  # (S,)
    day0: np.ndarray  # (E,) positions on the session grid (-1: not a session)
    estimation_window: tuple[int, int]
    event_windows: list[tuple[int, int]]
    exclusion_window: tuple[int, int]
    min_estimation_returns: int

    @property
    def rel_days(self) -> np.ndarray:
        """Event-time grid: estimation start .. end of the event period."""
        return np.arange(self.estimation_window[0], max(hi for _, hi in self.event_windows) + 1)

    @property
    def event_period(self) -> tuple[int, int]:
        return min(lo for lo, _ in self.event_windows), max(hi for _, hi in self.event_windows)


def write_job(path: Path, *, market_file: Path, stock_files: dict[str, Path], day0: dict[str, str],
              settings) -> Path:
    """Write the JSON job file read by this script (``settings``: a ``StudySettings``)."""
    job = {
        "market_file": str(market_file),
        "stock_files": {ticker: str(file) for ticker, file in stock_files.items()},
        "day0": day0,
        "estimation_window": list(settings.estimation_window),
        "event_windows": [list(w) for w in settings.event_windows],
        "exclusion_window": list(settings.other_event_exclusion),
        "min_estimation_returns": settings.min_estimation_returns,
    }
    path.write_text(json.dumps(job), encoding="utf-8")
    return path


def load_job(path: Path) -> Job:
    """Read the prices with pandas and put them on the market's session grid."""
    job = json.loads(Path(path).read_text(encoding="utf-8"))
    market = pd.read_csv(job["market_file"], usecols=["date", "adj_close"], index_col="date",
                         parse_dates=["date"])["adj_close"]
    closes = {ticker: pd.read_csv(file, usecols=["date", "adj_close"], index_col="date",
                                  parse_dates=["date"])["adj_close"]
              for ticker, file in job["stock_files"].items()}
    frame = pd.DataFrame(closes).reindex(market.index)
    returns = frame.pct_change(fill_method=None).to_numpy()
    dates = market.index
    wanted = pd.DatetimeIndex(list(job["day0"].values()))
    positions = dates.get_indexer(wanted)
    return Job(list(closes), list(job["day0"]), dates, returns,
               market.pct_change(fill_method=None).to_numpy(), positions,
               tuple(job["estimation_window"]), [tuple(w) for w in job["event_windows"]],
               tuple(job["exclusion_window"]), int(job["min_estimation_returns"]))


def exclusion_cover(job: Job) -> np.ndarray:
    """Per session, how many events' exclusion windows cover it (every event applies to all)."""
    cover = np.zeros(len(job.dates), int)
    lo, hi = job.exclusion_window
    for position in job.day0[job.day0 >= 0]:
        cover[max(position + lo, 0) : max(position + hi + 1, 0)] += 1
    return cover


def pairs(job: Job) -> tuple[np.ndarray, np.ndarray]:
    """``(event index, stock index)`` of every pair whose event-time grid fits the sample."""
    rel = job.rel_days
    fits = (job.day0 + rel[0] >= 0) & (job.day0 + rel[-1] < len(job.dates)) & (job.day0 >= 0)
    events = np.flatnonzero(fits)
    return np.repeat(events, len(job.tickers)), np.tile(np.arange(len(job.tickers)), len(events))


def _masks(job: Job) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rel = job.rel_days
    lo, hi = job.estimation_window
    in_estimation = (rel >= lo) & (rel <= hi)
    xlo, xhi = job.exclusion_window
    own = ((rel >= xlo) & (rel <= xhi)).astype(int)
    event_cols = rel >= job.event_period[0]
    return in_estimation, own, event_cols


# ------------------------------------------------------------------------------------ statsmodels


def statsmodels_loop(job: Job, sample: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """One statsmodels OLS per pair; returns (car rows, abnormal rows, pairs fitted)."""
    import statsmodels.api as sm

    rel = job.rel_days
    in_estimation, own, event_cols = _masks(job)
    cover = exclusion_cover(job)
    event_rel = rel[event_cols]
    window_rows = [((event_rel >= lo) & (event_rel <= hi), f"[{lo},{hi}]") for lo, hi in job.event_windows]
    car_rows, ar_rows, fitted = [], [], 0
    pair_events, pair_stocks = pairs(job)
    if sample is not None and sample < len(pair_events):
        chosen = np.unique(np.linspace(0, len(pair_events) - 1, sample).round().astype(int))
        pair_events, pair_stocks = pair_events[chosen], pair_stocks[chosen]
    for e, i in zip(pair_events, pair_stocks):
        index = job.day0[e] + rel
        y = job.returns[index, i]
        x = sm.add_constant(job.market[index], has_constant="add")
        valid = np.isfinite(y) & np.isfinite(x).all(axis=1)
        estimation = valid & in_estimation & (cover[index] - own <= 0)
        if estimation.sum() < job.min_estimation_returns:
            continue
        fit = sm.OLS(y[estimation], x[estimation]).fit()
        x_event = np.where(np.isfinite(x[event_cols]), x[event_cols], 0.0)
        prediction = fit.get_prediction(x_event)
        ar = y[event_cols] - prediction.predicted_mean
        ar_variance = fit.scale + prediction.var_pred_mean
        covariance = fit.scale * (np.eye(len(ar)) + x_event @ fit.normalized_cov_params @ x_event.T)
        car = np.array([ar[w].sum() for w, _ in window_rows])
        variance = np.array([covariance[np.ix_(w, w)].sum() for w, _ in window_rows])
        t = car / np.sqrt(variance)
        p = 2 * stats.t.sf(np.abs(t), fit.df_resid)
        event, stock = job.event_ids[e], job.tickers[i]
        car_rows.extend((event, stock, label, c, v, tt, pp, fit.df_resid)
                        for (_, label), c, v, tt, pp in zip(window_rows, car, variance, t, p))
        ar_rows.extend((event, stock, d, a, v) for d, a, v in zip(event_rel, ar, ar_variance))
        fitted += 1
    return _frames(car_rows, ar_rows) + (fitted,)


def _frames(car_rows, ar_rows) -> tuple[pd.DataFrame, pd.DataFrame]:
    car = pd.DataFrame(car_rows, columns=["event_id", "asset", "window", "car", "var_car", "t",
                                          "p_value", "df"])
    ar = pd.DataFrame(ar_rows, columns=["event_id", "asset", "rel_day", "ar", "var_ar"])
    return car, ar


# ------------------------------------------------------------------------------------------ numpy


def numpy_floor(job: Job) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Every pair at once: one batched normal-equations solve; returns (car, abnormal, pairs)."""
    rel = job.rel_days
    in_estimation, own, event_cols = _masks(job)
    cover = exclusion_cover(job)
    pair_events, pair_stocks = pairs(job)
    index = job.day0[pair_events][:, None] + rel[None, :]  # (P, T)
    y = job.returns[index, pair_stocks[:, None]]
    m = job.market[index]
    valid = np.isfinite(y) & np.isfinite(m)
    weight = (valid & in_estimation & (cover[index] - own <= 0)).astype(float)
    y0, m0 = np.where(valid, y, 0.0) * weight, np.where(valid, m, 0.0) * weight
    n = weight.sum(axis=1)
    xtx = np.stack([np.stack([n, m0.sum(1)], -1), np.stack([m0.sum(1), (m0 * m0).sum(1)], -1)], -2)
    xty = np.stack([y0.sum(1), (m0 * y0).sum(1)], -1)
    keep = n >= job.min_estimation_returns
    xtx, xty, n, y, m, valid, weight = (a[keep] for a in (xtx, xty, n, y, m, valid, weight))
    y0, m0 = y0[keep], m0[keep]
    pair_events, pair_stocks = pair_events[keep], pair_stocks[keep]
    theta = np.linalg.solve(xtx, xty[..., None])[..., 0]  # (P, 2)
    inverse = np.linalg.inv(xtx)
    residual = (y0 - theta[:, :1] - theta[:, 1:] * m0) * weight
    df = n - 2
    s2 = (residual * residual).sum(1) / df
    y_event = y[:, event_cols]
    m_event = np.where(valid[:, event_cols], m[:, event_cols], 0.0)
    ar = y_event - theta[:, :1] - theta[:, 1:] * m_event
    quad = inverse[:, 0, 0, None] + 2 * inverse[:, 0, 1, None] * m_event + inverse[:, 1, 1, None] * m_event**2
    ar_variance = s2[:, None] * (1 + quad)
    event_rel = rel[event_cols]
    columns = []
    for lo, hi in job.event_windows:
        w = (event_rel >= lo) & (event_rel <= hi)
        length, m_sum = w.sum(), m_event[:, w].sum(1)
        car = ar[:, w].sum(1)
        variance = s2 * (length + inverse[:, 0, 0] * length**2 + 2 * inverse[:, 0, 1] * length * m_sum
                         + inverse[:, 1, 1] * m_sum**2)
        t = car / np.sqrt(variance)
        columns.append((f"[{lo},{hi}]", car, variance, t, 2 * stats.t.sf(np.abs(t), df)))
    events = np.asarray(job.event_ids)[pair_events]
    stocks = np.asarray(job.tickers)[pair_stocks]
    k, h = len(columns), len(event_rel)
    car = pd.DataFrame({
        "event_id": np.repeat(events, k), "asset": np.repeat(stocks, k),
        "window": np.tile([c[0] for c in columns], len(events)),
        "car": np.column_stack([c[1] for c in columns]).ravel(),
        "var_car": np.column_stack([c[2] for c in columns]).ravel(),
        "t": np.column_stack([c[3] for c in columns]).ravel(),
        "p_value": np.column_stack([c[4] for c in columns]).ravel(),
        "df": np.repeat(df, k),
    })
    abnormal = pd.DataFrame({"event_id": np.repeat(events, h), "asset": np.repeat(stocks, h),
                             "rel_day": np.tile(event_rel, len(events)), "ar": ar.ravel(),
                             "var_ar": ar_variance.ravel()})
    return car, abnormal, int(keep.sum())


# ------------------------------------------------------------------------------------------- main


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> dict[str, float]:
    wall, cpu = _clock()
    return {"wall": wall - start[0], "cpu": cpu - start[1]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=["statsmodels", "numpy"])
    parser.add_argument("job", type=Path, help="job file written by benchmarks/bench.py")
    parser.add_argument("--sample", type=int, help="statsmodels: time K pairs spread evenly over all pairs")
    parser.add_argument("--out", type=Path, help="folder for car.csv and abnormal_returns.csv")
    args = parser.parse_args(argv)
    report: dict = {"method": args.method}
    started = _clock()
    job = load_job(args.job)
    report["load"] = _since(started)
    if args.method == "statsmodels":
        import statsmodels.api  # noqa: F401 - imported before the clock: a fixed cost, not per pair
    started = _clock()
    if args.method == "numpy":
        car, abnormal, fitted = numpy_floor(job)
    else:
        car, abnormal, fitted = statsmodels_loop(job, args.sample)
    report["compute"] = _since(started)
    report["pairs_fitted"] = fitted
    report["pairs_all"] = len(pairs(job)[0])
    sampled = args.method == "statsmodels" and args.sample and args.sample < report["pairs_all"]
    report["pairs_timed"] = args.sample if sampled else report["pairs_all"]
    if args.out:
        started = _clock()
        args.out.mkdir(parents=True, exist_ok=True)
        car.to_csv(args.out / "car.csv", index=False)
        abnormal.to_csv(args.out / "abnormal_returns.csv", index=False)
        report["write"] = _since(started)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
