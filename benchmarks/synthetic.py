"""Synthetic studies for the scaling benchmark: N stocks x E events on a real Tokyo calendar.

:func:`write_snapshot` writes a price snapshot folder (the format of a real snapshot, see
``eventstudy.data.SnapshotSource``): ``MARKET.csv`` and ``universe/S0001.T.csv`` ... on the last
``n_sessions`` XTKS sessions up to :data:`LAST_SESSION`, plus ``assets.csv`` (an ``assets_from``
table). Daily log returns follow a one-factor model with fat tails::

    m_t   = 0.0003 + 0.011 * u_t,              u_t ~ t(5) scaled to unit variance
    r_it  = 0.0002 + beta_i * m_t + s_i * e_it, e_it ~ t(4) scaled to unit variance

with ``beta_i ~ U(0.4, 1.6)`` and ``s_i ~ U(1%, 3%)``; prices are ``1000 * exp(cumsum(r))``.

:func:`write_study` writes a study file with ``n_events`` events whose day 0s are spread evenly
over the sample, from the first session whose estimation window fits to the last whose event
period fits (announced 08:00 Tokyo time, before the open, so day 0 is that session). Windows,
exclusions and the minimum estimation length are those of ``events.yaml``; every stock follows a
market model against ``MARKET``; ``total_reactions`` is off so that the run estimates exactly
N x E pairs; volatility is off. Events cycle through six categories and carry two of six tags,
so pooled scopes exist as in ``events.yaml``.

Everything goes into the folder the caller names (a temporary folder), never the repository.

Examples
--------
>>> snapshot = write_snapshot(Path("/tmp/syn"), n_stocks=300)          # doctest: +SKIP
>>> study = write_study(Path("/tmp/syn/e46.yaml"), snapshot, n_events=46)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from universe import study_settings, write_assets_csv

from eventstudy.calendars import get_sessions

LAST_SESSION = "2025-12-30"
N_SESSIONS = 1500
MARKET = "MARKET"
CATEGORIES = ("tariffs", "chips", "negotiation", "meeting", "deal", "other")
TAGS = ("japan", "escalation", "de-escalation", "chips", "implementation", "court")
HEADER = "date,open,high,low,close,adj_close,volume\n"


def sessions(n_sessions: int = N_SESSIONS) -> pd.DatetimeIndex:
    """The last ``n_sessions`` XTKS sessions up to :data:`LAST_SESSION`."""
    days = get_sessions("XTKS", pd.Timestamp(LAST_SESSION) - pd.DateOffset(years=12), LAST_SESSION)
    if len(days) < n_sessions:
        raise ValueError(f"only {len(days)} XTKS sessions available, {n_sessions} asked")
    return days[-n_sessions:]


def simulate_log_returns(n_stocks: int, n_sessions: int, rng: np.random.Generator):
    """``(market (T,), stocks (T, N))`` daily log returns of the one-factor model above."""
    market = 0.0003 + 0.011 * rng.standard_t(5, n_sessions) / np.sqrt(5 / 3)
    beta = rng.uniform(0.4, 1.6, n_stocks)
    scale = rng.uniform(0.01, 0.03, n_stocks)
    noise = rng.standard_t(4, (n_sessions, n_stocks)) / np.sqrt(2.0)
    return market, 0.0002 + market[:, None] * beta + noise * scale


def _write_prices(path: Path, dates: np.ndarray, log_returns: np.ndarray) -> None:
    prices = 1000.0 * np.exp(np.cumsum(log_returns))
    text = np.char.mod("%.6f", prices)
    lines = [f"{d},,,,{p},{p},\n" for d, p in zip(dates, text)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")


def stock_tickers(n_stocks: int) -> list[str]:
    return [f"S{i:04d}.T" for i in range(1, n_stocks + 1)]


def write_snapshot(folder: Path, n_stocks: int, *, n_sessions: int = N_SESSIONS, seed: int = 12) -> Path:
    """Write the snapshot folder (prices and ``assets.csv``) for ``n_stocks``; return it."""
    (folder / "universe").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    dates = sessions(n_sessions).strftime("%Y-%m-%d").to_numpy()
    market, stocks = simulate_log_returns(n_stocks, n_sessions, rng)
    _write_prices(folder / f"{MARKET}.csv", dates, market)
    tickers = stock_tickers(n_stocks)
    for i, ticker in enumerate(tickers):
        _write_prices(folder / "universe" / f"{ticker}.csv", dates, stocks[:, i])
    write_assets_csv(folder / "assets.csv", tickers)
    return folder


def day0_positions(n_events: int, n_sessions: int = N_SESSIONS, *, before: int = 280,
                   after: int = 12) -> np.ndarray:
    """Day-0 session positions spread evenly from ``before`` to ``n_sessions - after``."""
    return np.unique(np.linspace(before, n_sessions - after, n_events).round().astype(int))


def synthetic_events(n_events: int, n_sessions: int = N_SESSIONS) -> list[dict]:
    """Event entries of a study file (announced 08:00 JST on each day-0 session)."""
    days = sessions(n_sessions)
    positions = day0_positions(n_events, n_sessions)
    if len(positions) < n_events:
        raise ValueError(f"{n_events} events do not fit on {n_sessions} sessions")
    events = []
    for j, position in enumerate(positions):
        events.append({
            "id": f"e{j + 1:03d}",
            "category": CATEGORIES[j % len(CATEGORIES)],
            "announced": f"{days[position]:%Y-%m-%d}T08:00:00+09:00",
            "sources": ["synthetic benchmark event"],
            "tags": [TAGS[j % len(TAGS)], TAGS[(j + 2) % len(TAGS)]],
        })
    return events


def write_study(path: Path, snapshot: Path, n_events: int, *, n_sessions: int = N_SESSIONS) -> Path:
    """Write the study file of ``snapshot``'s stocks x ``n_events`` synthetic events to ``path``."""
    settings = study_settings(path.stem, total_reactions=False)
    settings["model"] = {"name": "market", "benchmark": MARKET, "lag": 0}
    study = {
        "study": settings,
        "assets_from": {"path": str((snapshot / "assets.csv").resolve()), "ticker": "ticker",
                        "group": "group"},
        "assets": [{"ticker": MARKET, "name": "synthetic market", "group": "benchmark",
                    "exchange": "XTKS"}],
        "events": synthetic_events(n_events, n_sessions),
    }
    path.write_text(yaml.safe_dump(study, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return path
