"""Size of every reported volatility statistic, before and after the calibrated p-values.

Two nulls (no event effect), each ``--reps`` replications from one seeded numpy Generator:

* ``synthetic t(5)``: per replication 50 assets with iid Student-t(5) daily returns (s.d. 1%)
  and 16 events that every asset shares, 20 sessions apart; constant-mean model, estimation
  window [-260, -11], other events' windows excluded from the estimation samples. Assets are
  independent, so the per-event cross-sections (50 pairs) are *not* clustered.
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

from eventstudy import volatility  # noqa: E402
from eventstudy.data import SnapshotSource, snapshot_universe  # noqa: E402
from eventstudy.frames import event_panel  # noqa: E402
from eventstudy.panel import AbnormalPanel  # noqa: E402
from eventstudy.registry import VOLATILITY_MEASURES  # noqa: E402
from eventstudy.returns import session_prices, to_returns  # noqa: E402

WINDOWS = ((0, 0), (0, 1), (0, 5), (-5, 10))
ESTIMATION_WINDOW = (-260, -11)
ALPHA = 0.05
SYNTHETIC_ASSETS, SYNTHETIC_EVENTS, SYNTHETIC_SPACING, SYNTHETIC_DOF = 50, 16, 20, 5.0
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
