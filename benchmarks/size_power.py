"""Size and power of the event-study tests on real Tokyo returns (Brown & Warner 1985 style).

Brown & Warner (1985) protocol. Pseudo events are drawn on real daily returns of the
snapshot's stock universe (``universe/*.T.csv``) from a period without the 2025 tariff
news (returns 2021-06-01 .. 2024-12-30), abnormal returns are estimated with the engine's
public API (:func:`eventstudy.frames.event_panel`, market model against TOPIX ``^TOPX``,
estimation window [-260, -11], i.e. L1 = 250 sessions ending G = 10 sessions before day 0),
known effects are injected, and every test of :mod:`eventstudy.inference` is run per
replication. Rejection rates at 5% (two-sided, and each 2.5% tail) with binomial 95%
intervals go to CSV and Markdown, and a figure shows size and power.

Designs
-------
* ``clustered``: the N stocks of a replication share one pseudo day 0 (drawn uniformly
  from the eligible XTKS sessions), so their abnormal returns are cross-correlated;
* ``non_clustered``: every stock of a replication gets its own uniformly drawn day 0;
* ``single``: one (stock, day 0) pair per replication, for the single-asset tests.

Scenarios (added to the abnormal return *and* the realised return of the pair, which
leaves the estimation-window fit unchanged)
* ``delta=d``: ``d`` added on day 0 only (the CAR[0,+1] therefore carries ``d`` as well);
* ``variance x2 (noise)``: independent N(0, s_i^2) noise added on day 0 and on day +1,
  with s_i^2 the pair's estimated residual variance, so the event-day AR variance is about
  doubled while its mean stays 0 (an event effect that varies across stocks, BMP 1991);
* ``variance x2 (scaled)``: the day-0 and day +1 ARs multiplied by sqrt(2) (same variance
  increase, the shape of the AR distribution unchanged).

A second, synthetic design checks every statistic on a fat-tailed null with no event
effect (``--fat-tailed-reps``): iid Student-t(5) returns, 50 assets x 16 events, a
constant-mean model and the windows [0,0], [0,1], [0,5], [-5,10]; every single-pair
statistic (``ts_t``, ``sq``) is counted over all pairs, every cross-sectional test over the
16 per-event cross-sections of 50 pairs.

Usage: python benchmarks/size_power.py [--snapshot DIR] [--reps 1000] [--seed 2025]
       [--fat-tailed-reps 400] [--out docs/validation] [--workers 2] [--render-only]
"""

from __future__ import annotations

import os

# One BLAS thread per process: the engine works on small matrices, and threaded BLAS on a
# shared 2-core machine is many times slower than a single thread (set before numpy loads).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse
import dataclasses
import multiprocessing
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from eventstudy import inference
from eventstudy.data import SnapshotSource, snapshot_universe
from eventstudy.frames import event_panel
from eventstudy.panel import AbnormalPanel
from eventstudy.returns import session_prices, to_returns
from eventstudy.scopes import Scope

MARKET = "^TOPX"
EXCHANGE = "XTKS"
PRICE_START = "2021-05-31"  # first snapshot row; its return is NaN, so returns start 2021-06-01
PRICE_END = "2024-12-31"  # before the 2025 tariff news
ESTIMATION_WINDOW = (-260, -11)
CAR_WINDOW = (0, 1)
EVENT_WINDOWS = ((0, 0), CAR_WINDOW)
MIN_ESTIMATION_RETURNS = 200
ALPHA = 0.05
DELTAS = (0.0, 0.005, 0.01, 0.02)
VARIANCE_SCENARIOS = ("variance x2 (noise)", "variance x2 (scaled)")
TARGETS = ("day 0", "CAR[0,1]")
CROSS_SECTIONAL_TESTS = inference.TEST_IDS
SINGLE_ASSET_TESTS = inference.SINGLE_ASSET_TEST_IDS
TARGET_TESTS = {  # the tests reported for each target (BHAR: windows; sq: one-day cells)
    "cross": {"day 0": inference.DAILY_TEST_IDS, "CAR[0,1]": inference.TEST_IDS},
    "single": {"day 0": SINGLE_ASSET_TESTS, "CAR[0,1]": ("ts_t",)},
}
CHUNK_REPLICATIONS = 250

# fat-tailed synthetic null
FAT_TAILED_DF = 5
FAT_TAILED_ASSETS = 50
FAT_TAILED_EVENTS = 16
FAT_TAILED_SPACING = 30  # sessions between two events of the same asset
FAT_TAILED_WINDOWS = ((0, 0), (0, 1), (0, 5), (-5, 10))
FAT_TAILED_TARGETS = ("day 0", *(f"[{a},{b}]" for a, b in FAT_TAILED_WINDOWS))


@dataclasses.dataclass(frozen=True)
class Config:
    """One simulation run.

    Attributes
    ----------
    reps : int
        Replications per (design, N) cell.
    seed : int
        Seed of the numpy Generator that draws dates, stocks and noise.
    sizes : tuple of int
        Numbers of stocks N per replication in the cross-sectional designs.
    designs : tuple of str
        Cross-sectional designs (``clustered``, ``non_clustered``).
    single : bool
        Also run the single-asset design (N = 1, own date per replication).
    workers : int
        Worker processes (1 = run in this process).
    """

    reps: int = 1000
    seed: int = 2025
    sizes: tuple[int, ...] = (10, 30, 100)
    designs: tuple[str, ...] = ("clustered", "non_clustered")
    single: bool = True
    workers: int = 2


@dataclasses.dataclass(frozen=True)
class Universe:
    """Returns on the XTKS session grid and where a pseudo event may be placed.

    Attributes
    ----------
    returns : DataFrame
        Simple returns of the stocks (columns) on XTKS sessions (index).
    market : Series
        TOPIX returns on the same sessions.
    eligible : ndarray of bool, shape (sessions, stocks)
        ``eligible[t, i]``: stock i can take session t as day 0 (returns on day 0 and
        day +1, at least ``MIN_ESTIMATION_RETURNS`` estimation returns with TOPIX).
    """

    returns: pd.DataFrame
    market: pd.Series
    eligible: np.ndarray

    @property
    def sessions(self) -> pd.DatetimeIndex:
        return pd.DatetimeIndex(self.returns.index)

    @property
    def stocks(self) -> np.ndarray:
        return np.asarray(self.returns.columns, dtype=object)

    @property
    def event_sessions(self) -> np.ndarray:
        """Row positions of the sessions on which at least one stock is eligible."""
        return np.flatnonzero(self.eligible.any(axis=1))


# ---------------------------------------------------------------------------------- data


def load_universe(snapshot: str | Path, start: str = PRICE_START, end: str = PRICE_END) -> Universe:
    """Read the universe and TOPIX in place and compute returns on the XTKS session grid.

    Parameters
    ----------
    snapshot : str or Path
        Snapshot directory (``<dir>/^TOPX.csv`` and ``<dir>/universe/<code>.T.csv``).
    start, end : str
        Price range; returns start one session after ``start``.

    Returns
    -------
    Universe
    """
    tickers = snapshot_universe(snapshot)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prices = SnapshotSource(snapshot).get([*tickers, MARKET], start, end)
        returns = pd.DataFrame(
            {t: to_returns(session_prices(prices.closes[t], EXCHANGE)) for t in prices.closes}
        )
    market = returns.pop(MARKET)
    returns = returns.loc[:, returns.notna().any()]
    return Universe(returns, market, eligibility(returns, market))


def eligibility(returns: pd.DataFrame, market: pd.Series) -> np.ndarray:
    """Which (session, stock) cells can be day 0 of a pseudo event (see :class:`Universe`)."""
    values = returns.to_numpy(float)
    usable = np.isfinite(values) & np.isfinite(market.to_numpy(float))[:, None]
    n_sessions = len(values)
    first, last = ESTIMATION_WINDOW
    cumulative = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(usable, axis=0)])
    day0 = np.arange(n_sessions)
    lo, hi = day0 + first, day0 + last
    valid_rows = (lo >= 0) & (day0 + CAR_WINDOW[1] < n_sessions)
    counts = np.zeros_like(values)
    rows = np.flatnonzero(valid_rows)
    counts[rows] = cumulative[hi[rows] + 1] - cumulative[lo[rows]]
    event_ok = np.zeros_like(usable)
    event_ok[rows] = usable[rows] & usable[rows + CAR_WINDOW[1]]
    return valid_rows[:, None] & event_ok & (counts >= MIN_ESTIMATION_RETURNS)


# ------------------------------------------------------------------------------- drawing


def draw_pairs(
    universe: Universe, design: str, n_assets: int, reps: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Draw the (replication, stock, day 0) pairs of one design.

    ``clustered``: one session per replication, uniform over sessions with at least
    ``n_assets`` eligible stocks, then ``n_assets`` distinct eligible stocks. Otherwise
    each of the ``n_assets`` slots draws its own session uniformly over all eligible
    sessions and a stock eligible on it that the replication does not hold yet.

    Returns
    -------
    DataFrame
        Columns ``rep, asset, date``, ``n_assets`` rows per replication.
    """
    eligible = universe.eligible
    stocks, sessions = universe.stocks, universe.sessions
    rows: list[tuple[int, str, pd.Timestamp]] = []
    if design == "clustered":
        candidates = np.flatnonzero(eligible.sum(axis=1) >= n_assets)
        for rep in range(reps):
            day0 = rng.choice(candidates)
            chosen = rng.choice(np.flatnonzero(eligible[day0]), n_assets, replace=False)
            rows += [(rep, stocks[i], sessions[day0]) for i in chosen]
    else:
        candidates = universe.event_sessions
        for rep in range(reps):
            held: set[int] = set()
            for _ in range(n_assets):
                day0 = rng.choice(candidates)
                pool = np.setdiff1d(np.flatnonzero(eligible[day0]), list(held))
                stock = int(rng.choice(pool))
                held.add(stock)
                rows.append((rep, stocks[stock], sessions[day0]))
    return pd.DataFrame(rows, columns=["rep", "asset", "date"])


# ---------------------------------------------------------------------------- estimation


def estimate(universe: Universe, pairs: pd.DataFrame) -> tuple[AbnormalPanel, np.ndarray]:
    """One :func:`event_panel` call for all pairs; the panel row of every drawn pair.

    Pairs are estimated once per distinct (day 0, stock): the event id is the day-0 date
    and each event applies to the stocks drawn on it, so replications that share a pair
    share its row (the tests of each replication run on its own copy of the rows).

    Returns
    -------
    panel : AbnormalPanel
    rows : ndarray of int
        Panel row of each row of ``pairs``.
    """
    keys = pairs["date"].dt.strftime("%Y-%m-%d")
    events = pd.DataFrame({"event_id": keys, "asset": pairs["asset"], "date": pairs["date"]})
    events = events.drop_duplicates(["event_id", "asset"])
    panel, models = event_panel(
        universe.returns, events, universe.market, "market", ESTIMATION_WINDOW, EVENT_WINDOWS,
        MIN_ESTIMATION_RETURNS,
    )
    index = pd.Series(np.arange(panel.n_pairs), index=pd.MultiIndex.from_arrays(
        [panel.event_ids.astype(str), panel.assets.astype(str)]))
    wanted = pd.MultiIndex.from_arrays([keys.to_numpy(str), pairs["asset"].to_numpy(str)])
    rows = index.reindex(wanted).to_numpy()
    if np.isnan(rows).any():
        failed = models.loc[models["status"] != "ok", ["event_id", "asset", "message"]]
        raise RuntimeError(f"pairs not estimated:\n{failed.head()}")
    return panel, rows.astype(int)


def inject(
    panel: AbnormalPanel, delta: float, noise: np.ndarray | None = None
) -> AbnormalPanel:
    """Add ``delta`` to day 0 and ``noise`` (shape (N, event days)) to the event period.

    The addition goes to the realised return and the abnormal return alike; the fit,
    ``s2`` and the prediction-error factors are unchanged (the event period is outside
    the estimation window).
    """
    shift = np.zeros((panel.n_pairs, len(panel.event_rel_days)))
    shift[:, panel.column(0) - panel.event_start] += delta
    if noise is not None:
        shift += noise
    ar, ret = panel.ar.copy(), panel.ret.copy()
    ar[:, panel.event_start :] += shift
    ret[:, panel.event_start :] += shift
    return dataclasses.replace(panel, ar=ar, ret=ret)


def scenarios() -> list[tuple[str, float, str]]:
    """``(label, delta, variance shock '' | 'noise' | 'scaled')`` of every scenario, in order."""
    deltas = [(f"delta={d:.1%}", d, "") for d in DELTAS]
    return deltas + [(VARIANCE_SCENARIOS[0], 0.0, "noise"), (VARIANCE_SCENARIOS[1], 0.0, "scaled")]


def _shocked_days(panel: AbnormalPanel) -> np.ndarray:
    """1.0 on day 0 and day +1 of the event period, 0.0 elsewhere."""
    days = panel.event_rel_days
    return ((days >= CAR_WINDOW[0]) & (days <= CAR_WINDOW[1])).astype(float)


def variance_noise(panel: AbnormalPanel, rng: np.random.Generator) -> np.ndarray:
    """N(0, s_i^2) noise on day 0 and day +1 (zero on other event-period days)."""
    draws = rng.standard_normal((panel.n_pairs, len(panel.event_rel_days)))
    return draws * np.sqrt(panel.s2)[:, None] * _shocked_days(panel)[None, :]


def variance_scaling(panel: AbnormalPanel) -> np.ndarray:
    """``(sqrt(2) - 1) AR`` on day 0 and day +1: adding it multiplies those ARs by sqrt(2)."""
    return (np.sqrt(2.0) - 1.0) * panel.event_ar * _shocked_days(panel)[None, :]


def shock(panel: AbnormalPanel, kind: str, noise: np.ndarray) -> np.ndarray | None:
    """The event-period addition of a variance scenario (None without a variance shock)."""
    return {"": None, "noise": noise, "scaled": variance_scaling(panel)}[kind]


# ------------------------------------------------------------------------- replications


def cross_sectional_statistics(panel: AbnormalPanel) -> np.ndarray:
    """Statistic and two-sided p-value of every test for day 0 and CAR[0,1].

    All pairs of ``panel`` form one cross-section (one scope of the one route).

    Returns
    -------
    ndarray, shape (targets, tests, 2)
        ``[..., 0]`` statistic, ``[..., 1]`` p-value, tests in :data:`TEST_IDS` order (NaN
        where a test is not reported for the target, e.g. the BHAR test on day 0).
    """
    scope = Scope("event", "sample", "all", "all", "total", np.ones(panel.n_pairs, dtype=bool))
    table = inference.scoped_tests(panel, [scope], [CAR_WINDOW], assume_independent=True)
    day0 = table[table["rel_day"].eq(0).fillna(False).to_numpy(bool)].set_index("test")
    window = table[table["window"] == f"[{CAR_WINDOW[0]},{CAR_WINDOW[1]}]"].set_index("test")
    tests = list(CROSS_SECTIONAL_TESTS)
    return np.stack([frame.reindex(tests)[["statistic", "p_value"]].to_numpy(float) for frame in (day0, window)])


def run_cross_sectional_chunk(task: tuple) -> tuple[tuple, np.ndarray]:
    """Estimate one chunk of replications and run every scenario on each replication.

    Parameters
    ----------
    task : tuple
        ``(key, pairs, seed)``: a cell key, the drawn pairs of the chunk, and the seed of
        the variance-shock noise.

    Returns
    -------
    key, ndarray of shape (reps, scenarios, targets, tests, 2)
    """
    key, pairs, seed = task
    rng = np.random.default_rng(seed)
    panel, rows = estimate(UNIVERSE, pairs)
    reps = pairs["rep"].to_numpy()
    out = []
    for rep in np.unique(reps):
        sample = panel.subset(rows[reps == rep])
        noise = variance_noise(sample, rng)
        out.append([
            cross_sectional_statistics(inject(sample, delta, shock(sample, kind, noise)))
            for _, delta, kind in scenarios()
        ])
    return key, np.asarray(out)


def run_single_asset(task: tuple) -> tuple[tuple, np.ndarray]:
    """Single-asset tests (``ts_t``, ``sq``) on one pair per replication, every scenario.

    Returns
    -------
    key, ndarray of shape (reps, scenarios, targets, tests, 2)
    """
    key, pairs, seed = task
    rng = np.random.default_rng(seed)
    panel, rows = estimate(UNIVERSE, pairs)
    sample = panel.subset(rows)
    noise = variance_noise(sample, rng)
    out = []
    for _, delta, kind in scenarios():
        table = inference.single_asset_tests(inject(sample, delta, shock(sample, kind, noise)), [CAR_WINDOW])
        day0 = table[table["rel_day"].eq(0).fillna(False).to_numpy(bool)]
        window = table[table["window"] == f"[{CAR_WINDOW[0]},{CAR_WINDOW[1]}]"]
        targets = [
            np.stack([_test_values(frame, test, len(sample.assets)) for test in SINGLE_ASSET_TESTS], axis=1)
            for frame in (day0, window)
        ]
        out.append(np.stack(targets, axis=1))  # (reps, targets, tests, 2)
    return key, np.stack(out, axis=1)


def _test_values(frame: pd.DataFrame, test: str, n_rows: int) -> np.ndarray:
    """(statistic, p-value) rows of ``test`` in ``frame``; NaN rows when it is not reported."""
    rows = frame.loc[frame["test"] == test, ["statistic", "p_value"]].to_numpy(float)
    return rows if len(rows) else np.full((n_rows, 2), np.nan)


UNIVERSE: Universe  # set in the parent before the workers fork


def build_tasks(universe: Universe, config: Config) -> list[tuple[str, tuple]]:
    """All work items ``(runner, task)``, drawn in a fixed order from one seeded Generator."""
    root = np.random.default_rng(config.seed)
    noise_seeds = np.random.SeedSequence(config.seed).spawn(1 + len(config.designs) * len(config.sizes))
    tasks: list[tuple[str, tuple]] = []
    seed_index = 0
    for design in config.designs:
        for n_assets in config.sizes:
            pairs = draw_pairs(universe, design, n_assets, config.reps, root)
            chunk_rng = np.random.default_rng(noise_seeds[seed_index])
            seed_index += 1
            for start in range(0, config.reps, CHUNK_REPLICATIONS):
                chunk = pairs[(pairs["rep"] >= start) & (pairs["rep"] < start + CHUNK_REPLICATIONS)]
                seed = int(chunk_rng.integers(2**63))
                tasks.append(("cross", ((design, n_assets, start), chunk, seed)))
    if config.single:
        pairs = draw_pairs(universe, "non_clustered", 1, config.reps, root)
        seed = int(np.random.default_rng(noise_seeds[seed_index]).integers(2**63))
        tasks.append(("single", (("single", 1, 0), pairs, seed)))
    # largest cells first so the pool stays busy to the end
    return sorted(tasks, key=lambda item: -len(item[1][1]))


def _dispatch(item: tuple[str, tuple]) -> tuple[tuple, np.ndarray]:
    runner, task = item
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return (run_cross_sectional_chunk if runner == "cross" else run_single_asset)(task)


def simulate(universe: Universe, config: Config) -> pd.DataFrame:
    """Run the whole simulation and return one row per replication, scenario, target, test.

    Parameters
    ----------
    universe : Universe
        Returns, TOPIX and eligibility (:func:`load_universe`).
    config : Config
        Replications, seed, designs, sizes, workers.

    Returns
    -------
    DataFrame
        Columns ``design, n_assets, rep, scenario, delta, target, test, statistic,
        p_value``. Deterministic for a given ``config`` (independent of ``workers``).
    """
    global UNIVERSE
    UNIVERSE = universe
    tasks = build_tasks(universe, config)
    if config.workers > 1:
        with multiprocessing.get_context("fork").Pool(config.workers) as pool:
            results = pool.map(_dispatch, tasks, chunksize=1)
    else:
        results = [_dispatch(task) for task in tasks]
    frames = [_long_frame(key, values) for key, values in results]
    frame = pd.concat(frames, ignore_index=True)
    return frame.sort_values(["design", "n_assets", "rep", "scenario", "target", "test"],
                             kind="stable").reset_index(drop=True)


def _long_frame(key: tuple, values: np.ndarray) -> pd.DataFrame:
    """Flatten a (reps, scenarios, targets, tests, 2) block to tidy rows."""
    design, n_assets, first_rep = key
    tests = SINGLE_ASSET_TESTS if design == "single" else CROSS_SECTIONAL_TESTS
    reported = TARGET_TESTS["single" if design == "single" else "cross"]
    labels = scenarios()
    reps, n_scen, n_targets, n_tests, _ = values.shape
    grid = np.indices((reps, n_scen, n_targets, n_tests)).reshape(4, -1)
    keep = np.array([tests[j] in reported[TARGETS[t]] for t, j in zip(grid[2], grid[3])], dtype=bool)
    grid = grid[:, keep]
    return pd.DataFrame({
        "design": design,
        "n_assets": n_assets,
        "rep": first_rep + grid[0],
        "scenario": np.array([s[0] for s in labels], dtype=object)[grid[1]],
        "delta": np.array([s[1] for s in labels])[grid[1]],
        "target": np.array(TARGETS, dtype=object)[grid[2]],
        "test": np.array(tests, dtype=object)[grid[3]],
        "statistic": values[..., 0].ravel()[keep],
        "p_value": values[..., 1].ravel()[keep],
    })


# ------------------------------------------------------------------- fat-tailed null


def fat_tailed_panel(seed: int) -> AbnormalPanel:
    """50 assets x 16 events of iid Student-t(5) returns (s.d. 1%), constant-mean model.

    Every asset shares the 16 day-0 sessions, :data:`FAT_TAILED_SPACING` sessions apart; the
    estimation window is :data:`ESTIMATION_WINDOW` (all 250 returns available).
    """
    rng = np.random.default_rng(seed)
    first = -ESTIMATION_WINDOW[0]
    n_sessions = first + (FAT_TAILED_EVENTS - 1) * FAT_TAILED_SPACING + max(b for _, b in FAT_TAILED_WINDOWS) + 1
    sessions = pd.bdate_range("2001-01-01", periods=n_sessions)
    scale = 0.01 / np.sqrt(FAT_TAILED_DF / (FAT_TAILED_DF - 2.0))
    returns = pd.DataFrame(scale * rng.standard_t(FAT_TAILED_DF, (n_sessions, FAT_TAILED_ASSETS)),
                           index=sessions, columns=[f"a{i:02d}" for i in range(FAT_TAILED_ASSETS)])
    events = {f"e{k:02d}": sessions[first + k * FAT_TAILED_SPACING] for k in range(FAT_TAILED_EVENTS)}
    panel, _ = event_panel(returns, events, None, "constant_mean", ESTIMATION_WINDOW, FAT_TAILED_WINDOWS,
                           MIN_ESTIMATION_RETURNS)
    return panel


def run_fat_tailed(task: tuple) -> pd.DataFrame:
    """Every statistic of one fat-tailed replication: single-pair and per-event cross-sections.

    Returns
    -------
    DataFrame
        ``rep, level ('pair' | 'cross-section'), target, test, statistic, p_value``, one row per
        pair (or per-event cross-section), target and test.
    """
    rep, seed = task
    panel = fat_tailed_panel(seed)
    single = inference.single_asset_tests(panel, FAT_TAILED_WINDOWS)
    scopes = [Scope("event", e, "all", "all", "total", panel.event_ids == e) for e in dict.fromkeys(panel.event_ids)]
    cross = inference.scoped_tests(panel, scopes, FAT_TAILED_WINDOWS, assume_independent=True)
    frames = []
    for level, table in (("pair", single), ("cross-section", cross)):
        target = np.where(table["window"].to_numpy(object) == "", "day 0", table["window"].to_numpy(object))
        day0 = table["rel_day"].eq(0).fillna(False).to_numpy(bool)
        keep = day0 | (table["window"] != "").to_numpy(bool)
        # clusters of dependent trials: a pair's asset (its 16 events share estimation data),
        # all cross-sections of a replication (the same 50 assets)
        cluster = table["asset"].to_numpy(object) if level == "pair" else np.full(len(table), "all", object)
        frames.append(pd.DataFrame({
            "rep": rep, "level": level, "cluster": cluster[keep], "target": target[keep],
            "test": table["test"].to_numpy(object)[keep], "statistic": table["statistic"].to_numpy(float)[keep],
            "p_value": table["p_value"].to_numpy(float)[keep],
        }))
    return pd.concat(frames, ignore_index=True)


def simulate_fat_tailed(reps: int, seed: int, workers: int) -> pd.DataFrame:
    """All fat-tailed replications (seeds from one SeedSequence; independent of ``workers``)."""
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence([seed, 5]).spawn(reps)]
    tasks = list(enumerate(seeds))
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            frames = pool.map(run_fat_tailed, tasks, chunksize=1)
    else:
        frames = [run_fat_tailed(task) for task in tasks]
    return pd.concat(frames, ignore_index=True)


def summarise_fat_tailed(records: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Rejection rate per (level, target, test) over all pairs / cross-sections.

    ``trials`` counts defined p-values. Trials are not independent: the 16 pairs of one
    asset share overlapping estimation windows, the 16 cross-sections of a replication the
    same assets. ``ci_low``/``ci_high`` is the 95% interval of the rate with the binomial
    variance widened by the design effect ``deff`` (variance from cluster totals -- per
    (replication, asset) for pairs, per replication for cross-sections -- over the binomial
    variance; at least 1). ``size_ok``: the rate is inside the acceptance band of the
    real-data design (binomial band for S = 1000, [3.65%, 6.35%]); ``differs``: the interval
    excludes 5% (a measurable deviation, even when it is inside the band).
    """
    frame = records.copy()
    centre = np.where(frame["test"] == "sq", 0.5, 0.0)
    valid = frame["p_value"].notna()
    frame["reject"] = valid & (frame["p_value"] < alpha)
    frame["lower"] = frame["reject"] & (frame["statistic"] < centre)
    frame["upper"] = frame["reject"] & (frame["statistic"] > centre)
    frame["valid"] = valid
    keys = ["level", "target", "test"]
    table = frame.groupby(keys, sort=False).agg(
        trials=("valid", "sum"), rejections=("reject", "sum"), lower=("lower", "sum"), upper=("upper", "sum"),
        sd_statistic=("statistic", "std")).reset_index()
    table = table[table["trials"] > 0].reset_index(drop=True)  # not reported (e.g. GRANK, 16 days)
    trials = np.maximum(table["trials"].to_numpy(float), 1)
    table["rejection"] = table["rejections"] / trials
    table["lower_tail"] = table["lower"] / trials
    table["upper_tail"] = table["upper"] / trials
    table["deff"] = _design_effect(frame, keys, table)
    rate = table["rejection"].to_numpy(float)
    half = 1.96 * np.sqrt(rate * (1 - rate) / trials * table["deff"].to_numpy(float))
    table["ci_low"], table["ci_high"] = rate - half, rate + half
    low, high = acceptance_band(alpha, 1000)
    table["band_low"], table["band_high"] = low, high
    table["size_ok"] = (table["rejection"] >= low) & (table["rejection"] <= high)
    table["differs"] = (table["ci_low"] > alpha) | (table["ci_high"] < alpha)
    order = {t: i for i, t in enumerate(FAT_TAILED_TARGETS)}
    tests = [*SINGLE_ASSET_TESTS, *CROSS_SECTIONAL_TESTS]
    table = table.assign(_t=table["target"].map(order), _s=table["test"].map(tests.index))
    table = table.sort_values(["level", "_s", "_t"], ascending=[False, True, True]).drop(columns=["_t", "_s"])
    return table[[*keys, "trials", "rejection", "ci_low", "ci_high", "lower_tail", "upper_tail", "deff",
                  "band_low", "band_high", "size_ok", "differs", "sd_statistic"]].reset_index(drop=True)


def _design_effect(frame: pd.DataFrame, keys: list[str], table: pd.DataFrame) -> np.ndarray:
    """Cluster-robust over binomial variance of each rejection rate (at least 1)."""
    valid = frame[frame["valid"]]
    clusters = valid.groupby([*keys, "rep", "cluster"], sort=False).agg(
        n=("reject", "size"), y=("reject", "sum")).reset_index()
    merged = clusters.merge(table[[*keys, "rejection", "trials"]], on=keys)
    merged["square"] = (merged["y"] - merged["rejection"] * merged["n"]) ** 2
    grouped = merged.groupby(keys, sort=False).agg(square=("square", "sum"), count=("n", "size"))
    grouped = grouped.reindex(pd.MultiIndex.from_frame(table[keys]))
    count = grouped["count"].to_numpy(float)
    trials = table["trials"].to_numpy(float)
    rate = table["rejection"].to_numpy(float)
    robust = count / np.maximum(count - 1, 1) * grouped["square"].to_numpy(float) / trials**2
    binomial = rate * (1 - rate) / trials
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(binomial > 0, robust / binomial, 1.0)
    return np.maximum(ratio, 1.0)


def fat_tailed_markdown(table: pd.DataFrame, reps: int, seed: int) -> str:
    """The fat-tailed section of ``size_power.md``."""
    lines = [
        "## Fat-tailed synthetic null (iid t(5), 50 assets x 16 events, constant mean)", "",
        (f"{reps} replications, seed {seed}; two-sided tests at {ALPHA:.0%}; rejection rates in %. "
         "Single-pair statistics are counted over every pair (800 per replication), "
         "cross-sectional tests over the 16 per-event cross-sections of 50 pairs. **Bold**: "
         "outside the acceptance band [3.65%, 6.35%] (binomial, 1,000 trials); `*`: inside it "
         "but measurably different from 5% (the 95% interval, widened for dependent trials, "
         "excludes 5%; see `fat_tailed_null.csv`)."),
        "",
        "| level | test | " + " | ".join(FAT_TAILED_TARGETS) + " | trials per cell |",
        "|---|---|" + "---:|" * len(FAT_TAILED_TARGETS) + "---:|",
    ]
    for (level, test), rows in table.groupby(["level", "test"], sort=False):
        rows = rows.set_index("target")
        cells = []
        for target in FAT_TAILED_TARGETS:
            if target not in rows.index:
                cells.append("")
                continue
            row = rows.loc[target]
            cells.append(_percent(row["rejection"], not row["size_ok"]) + ("*" if row["differs"] else ""))
        lines.append(f"| {level} | {test} | " + " | ".join(cells) + f" | {int(rows['trials'].iloc[0])} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ summary


def wilson_interval(successes: np.ndarray, trials: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score 95% interval of a binomial proportion."""
    trials = np.maximum(np.asarray(trials, float), 1.0)
    p = np.asarray(successes, float) / trials
    centre = (p + z**2 / (2 * trials)) / (1 + z**2 / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / (1 + z**2 / trials)
    return centre - half, centre + half


def acceptance_band(rate: float, reps: int, z: float = 1.96) -> tuple[float, float]:
    """Binomial acceptance band ``rate +- z sqrt(rate (1 - rate) / S)`` for S replications."""
    half = z * np.sqrt(rate * (1 - rate) / reps)
    return rate - half, rate + half


def summarise(records: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Rejection rates per (design, N, scenario, target, test).

    Two-sided rejection: ``p < alpha``; lower (upper) tail: a two-sided rejection with a
    statistic below (above) its null centre (0; 0.5 for ``sq``, whose statistic is the
    empirical CDF value), i.e. a one-sided test at ``alpha / 2``. Replications where a
    test is undefined (NaN p-value) are left out of its denominator and counted in
    ``undefined``.
    """
    frame = records.copy()
    centre = np.where(frame["test"] == "sq", 0.5, 0.0)
    valid = frame["p_value"].notna()
    reject = valid & (frame["p_value"] < alpha)
    frame["valid"] = valid
    frame["reject"] = reject
    frame["lower"] = reject & (frame["statistic"] < centre)
    frame["upper"] = reject & (frame["statistic"] > centre)
    keys = ["design", "n_assets", "scenario", "delta", "target", "test"]
    grouped = frame.groupby(keys, sort=False)
    table = grouped.agg(
        reps=("rep", "size"), valid=("valid", "sum"), rejections=("reject", "sum"),
        lower_rejections=("lower", "sum"), upper_rejections=("upper", "sum"),
        mean_statistic=("statistic", "mean"), sd_statistic=("statistic", "std"),
    ).reset_index()
    table["undefined"] = table["reps"] - table["valid"]
    trials = table["valid"].to_numpy(float)
    for name, column in (("rejection", "rejections"), ("lower_tail", "lower_rejections"),
                         ("upper_tail", "upper_rejections")):
        table[name] = table[column] / np.maximum(trials, 1)
    table["ci_low"], table["ci_high"] = wilson_interval(table["rejections"], trials)
    band = np.array([acceptance_band(alpha, int(s)) for s in np.maximum(trials, 1)])
    table["band_low"], table["band_high"] = band[:, 0], band[:, 1]
    null = table["scenario"] == scenarios()[0][0]
    table["size_ok"] = pd.array(
        np.where(null, (table["rejection"] >= table["band_low"]) & (table["rejection"] <= table["band_high"]), pd.NA),
        dtype="boolean",
    )
    columns = [*keys, "reps", "valid", "undefined", "rejection", "ci_low", "ci_high", "lower_tail",
               "upper_tail", "band_low", "band_high", "size_ok", "mean_statistic", "sd_statistic"]
    return table[columns]


# ------------------------------------------------------------------------------ reports

DESIGN_LABELS = {"clustered": "clustered", "non_clustered": "non-clustered", "single": "single asset"}


def _percent(rate: float, flag: bool = False) -> str:
    text = f"{100 * rate:.1f}"
    return f"**{text}**" if flag else text


def _out_of_band(row: pd.Series) -> bool:
    return not (row["band_low"] <= row["rejection"] <= row["band_high"])


def _pivot_markdown(table: pd.DataFrame, columns: list[tuple[str, int]], flag: bool) -> str:
    """Markdown table: tests as rows, (design, N) as columns, two-sided rejection in %."""
    tests = list(dict.fromkeys(table["test"]))
    header = "| test | " + " | ".join(f"{DESIGN_LABELS[d]} N={n}" for d, n in columns) + " |"
    lines = [header, "|---|" + "---:|" * len(columns)]
    for test in tests:
        cells = []
        for design, n_assets in columns:
            row = table[(table["test"] == test) & (table["design"] == design) & (table["n_assets"] == n_assets)]
            cells.append("" if row.empty else _percent(row.iloc[0]["rejection"], flag and _out_of_band(row.iloc[0])))
        lines.append(f"| {test} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _tails_markdown(table: pd.DataFrame, columns: list[tuple[str, int]]) -> str:
    """Markdown table of lower / upper 2.5% tail rejections in %."""
    header = "| test | " + " | ".join(f"{DESIGN_LABELS[d]} N={n} lower / upper" for d, n in columns) + " |"
    lines = [header, "|---|" + "---:|" * len(columns)]
    for test in dict.fromkeys(table["test"]):
        cells = []
        for design, n_assets in columns:
            row = table[(table["test"] == test) & (table["design"] == design) & (table["n_assets"] == n_assets)]
            if row.empty:
                cells.append("")
                continue
            row = row.iloc[0]
            cells.append(f"{100 * row['lower_tail']:.1f} / {100 * row['upper_tail']:.1f}")
        lines.append(f"| {test} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _power_markdown(table: pd.DataFrame, design: str, n_assets: int, target: str) -> str:
    """Markdown table of rejection rates by injected delta for one design, N and target."""
    part = table[(table["design"] == design) & (table["n_assets"] == n_assets)
                 & (table["target"] == target) & ~table["scenario"].isin(VARIANCE_SCENARIOS)]
    deltas = sorted(part["delta"].unique())
    lines = ["| test | " + " | ".join(f"delta={d:.1%}" for d in deltas) + " |",
             "|---|" + "---:|" * len(deltas)]
    for test in dict.fromkeys(part["test"]):
        rows = part[part["test"] == test].set_index("delta")["rejection"]
        lines.append(f"| {test} | " + " | ".join(_percent(rows[d]) for d in deltas) + " |")
    return "\n".join(lines)


def markdown_report(table: pd.DataFrame, config: Config) -> str:
    """The generated Markdown tables (``size_power.md``)."""
    reps = config.reps
    low, high = acceptance_band(ALPHA, reps)
    cross = table[table["design"] != "single"]
    columns = [(d, n) for d in config.designs for n in config.sizes]
    parts = [
        "# Size and power on real Tokyo returns (generated by `benchmarks/size_power.py`)",
        "",
        (
            f"{reps} replications per cell, seed {config.seed}; market model vs TOPIX, "
            f"estimation window {list(ESTIMATION_WINDOW)}, returns 2021-06..2024-12; two-sided "
            f"tests at {ALPHA:.0%}. Rejection rates in %. **Bold**: outside the acceptance band "
            f"[{100 * low:.2f}%, {100 * high:.2f}%] (binomial, {reps} replications). See `docs/validation.md` for "
            "the protocol and the reading."
        ),
    ]
    null = cross["scenario"] == scenarios()[0][0]
    for target in TARGETS:
        parts += ["", f"## Size (delta = 0), {target}", "",
                  _pivot_markdown(cross[null & (cross["target"] == target)], columns, True)]
    for target in TARGETS:
        parts += ["", f"## Lower / upper 2.5% tails under the null, {target} (each should be 2.5)", "",
                  _tails_markdown(cross[null & (cross["target"] == target)], columns)]
    for label in VARIANCE_SCENARIOS:
        for target in TARGETS:
            part = cross[(cross["scenario"] == label) & (cross["target"] == target)]
            parts += ["", f"## Event-day {label}, delta = 0, {target}", "", _pivot_markdown(part, columns, True)]
    for design in config.designs:
        for n_assets in config.sizes:
            for target in TARGETS:
                parts += ["", f"## Power, {DESIGN_LABELS[design]}, N = {n_assets}, {target}", "",
                          _power_markdown(cross, design, n_assets, target)]
    single = table[table["design"] == "single"]
    if not single.empty:
        for target in TARGETS:
            part = single[single["target"] == target]
            lines = ["| test | " + " | ".join(s[0] for s in scenarios()) + " |",
                     "|---|" + "---:|" * len(scenarios())]
            for test in dict.fromkeys(part["test"]):
                rows = part[part["test"] == test].set_index("scenario")
                cells = [_percent(rows.loc[s[0], "rejection"],
                                  s[0] == scenarios()[0][0] and _out_of_band(rows.loc[s[0]]))
                         for s in scenarios()]
                lines.append(f"| {test} | " + " | ".join(cells) + " |")
            parts += ["", f"## Single-asset tests (N = 1, own date), {target}", "", "\n".join(lines)]
    return "\n".join(parts) + "\n"


def plot(table: pd.DataFrame, config: Config, path: Path, n_assets: int = 30) -> None:
    """Size per test (clustered vs non-clustered, all N) and power curves by delta (N = ``n_assets``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cross = table[table["design"] != "single"]
    tests = list(CROSS_SECTIONAL_TESTS)
    low, high = acceptance_band(ALPHA, config.reps)
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    colours = {"clustered": "tab:red", "non_clustered": "tab:blue"}
    markers = dict(zip(config.sizes, "os^D"))
    null = cross[cross["scenario"] == scenarios()[0][0]]
    for ax, target in zip(axes[0], TARGETS):
        ax.axhspan(100 * low, 100 * high, color="0.85", label="acceptance band")
        ax.axhline(100 * ALPHA, color="0.4", lw=0.8)
        for d_index, design in enumerate(config.designs):
            for s_index, size in enumerate(config.sizes):
                part = null[(null["design"] == design) & (null["n_assets"] == size) & (null["target"] == target)]
                part = part.set_index("test").reindex(tests)  # NaN: not reported for the target
                x = np.arange(len(tests)) + (d_index - 0.5) * 0.36 + (s_index - 1) * 0.1
                ax.errorbar(x, 100 * part["rejection"],
                            yerr=[100 * (part["rejection"] - part["ci_low"]), 100 * (part["ci_high"] - part["rejection"])],
                            fmt=markers[size], ms=4, lw=0.8, color=colours[design],
                            label=f"{DESIGN_LABELS[design]}, N={size}")
        ax.set_xticks(np.arange(len(tests)), tests, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("rejection rate under H0 (%)")
        ax.set_title(f"Size, {target} (two-sided 5%, 95% CI)")
        ax.set_ylim(0, 25)
    axes[0][0].legend(fontsize=7, ncol=2, loc="upper left")
    palette = plt.get_cmap("tab20")
    for ax, design in zip(axes[1], config.designs):
        part = cross[(cross["design"] == design) & (cross["n_assets"] == n_assets)
                     & (cross["target"] == TARGETS[0]) & ~cross["scenario"].isin(VARIANCE_SCENARIOS)]
        for index, test in enumerate(tests):
            rows = part[part["test"] == test].sort_values("delta")
            if rows.empty:  # not reported for day 0 (the BHAR test)
                continue
            sized = bool(rows["size_ok"].iloc[0])
            ax.plot(100 * rows["delta"], 100 * rows["rejection"], marker="o", ms=3,
                    lw=1.3 if sized else 0.8, ls="-" if sized else ":",
                    color=palette(index % 20), label=test if sized else f"{test} (mis-sized)")
        ax.axhline(100 * ALPHA, color="0.4", lw=0.8)
        ax.set_xlabel("injected abnormal return on day 0 (%)")
        ax.set_ylabel("rejection rate (%)")
        ax.set_title(f"Power, day 0, {DESIGN_LABELS[design]}, N={n_assets} (dotted: size outside band)")
        ax.legend(fontsize=6.5, ncol=2, loc="lower right")
        ax.set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_table(table: pd.DataFrame, out: Path) -> None:
    """``size_power.csv`` (rates rounded to 4 decimals) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rounded = table.copy()
    numeric = rounded.select_dtypes("float").columns.difference(["delta"])
    rounded[numeric] = rounded[numeric].round(4)
    rounded.to_csv(out / "size_power.csv", index=False, lineterminator="\n")


def write_reports(table: pd.DataFrame, config: Config, out: Path, fat_tailed: pd.DataFrame | None = None,
                  fat_tailed_reps: int = 0) -> None:
    """``size_power.md`` (with the fat-tailed section when given) and ``size_power.png`` in ``out``."""
    text = markdown_report(table, config)
    if fat_tailed is not None:
        text += "\n" + fat_tailed_markdown(fat_tailed, fat_tailed_reps, config.seed)
    (out / "size_power.md").write_text(text)
    plot(table, config, out / "size_power.png")


def write_fat_tailed_table(table: pd.DataFrame, out: Path) -> None:
    """``fat_tailed_null.csv`` (rates rounded to 4 decimals) in ``out``."""
    rounded = table.copy()
    numeric = rounded.select_dtypes("float").columns
    rounded[numeric] = rounded[numeric].round(4)
    rounded.to_csv(out / "fat_tailed_null.csv", index=False, lineterminator="\n")


def _print_timing(universe: Universe, config: Config, seconds: dict[str, float]) -> None:
    cells = len(config.designs) * len(config.sizes) * config.reps
    per_rep = seconds["simulation"] / max(cells, 1)
    per_call = per_rep * config.workers / len(scenarios())
    first, last = universe.sessions[universe.event_sessions[[0, -1]]]
    print(f"universe: {universe.returns.shape[1]} stocks, {len(universe.event_sessions)} eligible "
          f"day-0 sessions ({first:%Y-%m-%d} .. {last:%Y-%m-%d})")
    print(f"loading: {seconds['loading']:.1f} s; simulation: {seconds['simulation']:.1f} s on "
          f"{config.workers} worker(s) for {cells} cross-sectional replications x "
          f"{len(scenarios())} scenarios (+ {config.reps if config.single else 0} single-asset)")
    print(f"  {1000 * per_rep:.1f} ms wall per replication; {1000 * per_call:.1f} CPU-ms per "
          "replication and scenario (daily_tests + window_tests on one N-pair panel)")


def main(argv: list[str] | None = None) -> None:
    """Command line: run the simulation, print timings, write the outputs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("EVENTSTUDY_SNAPSHOT") or str(REPO.parent / "shared" / "prices")
    parser.add_argument("--snapshot", default=default)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--out", default=str(REPO / "docs" / "validation"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fat-tailed-reps", type=int, default=400,
                        help="replications of the fat-tailed synthetic null (0: skip)")
    parser.add_argument("--render-only", action="store_true",
                        help="redraw size_power.md/.png from the existing CSV files")
    args = parser.parse_args(argv)
    config = Config(reps=args.reps, seed=args.seed, workers=args.workers)
    out = Path(args.out)
    fat_path = out / "fat_tailed_null.csv"
    if args.render_only:
        fat = pd.read_csv(fat_path) if fat_path.exists() else None
        fat = fat[fat["trials"] > 0] if fat is not None else None
        write_reports(pd.read_csv(out / "size_power.csv"), config, out, fat, args.fat_tailed_reps)
        return

    started = time.perf_counter()
    fat = None
    if args.fat_tailed_reps:
        cpu = time.process_time()
        fat = summarise_fat_tailed(simulate_fat_tailed(args.fat_tailed_reps, args.seed, args.workers))
        print(f"fat-tailed null: {args.fat_tailed_reps} replications in {time.perf_counter() - started:.1f} s "
              f"wall ({time.process_time() - cpu:.1f} CPU s in the parent)")
        out.mkdir(parents=True, exist_ok=True)
        write_fat_tailed_table(fat, out)
    loading = time.perf_counter()
    universe = load_universe(args.snapshot)
    loaded = time.perf_counter()
    records = simulate(universe, config)
    seconds = {"loading": loaded - loading, "simulation": time.perf_counter() - loaded}
    _print_timing(universe, config, seconds)
    table = summarise(records)
    write_table(table, out)
    write_reports(table, config, out, fat, args.fat_tailed_reps)
    print(f"total: {time.perf_counter() - started:.1f} s; outputs in {out}")


if __name__ == "__main__":
    main()
