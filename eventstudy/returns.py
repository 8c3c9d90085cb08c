"""Returns on each asset's own exchange calendar, and cross-exchange alignment of regressors.

Conventions (docs/conventions.md, "Returns"):

* A return is computed between two *consecutive sessions of the asset's exchange*. Prices are
  first placed on the exchange's session grid, so a missing price makes both returns that touch
  it missing: a return never silently spans a gap, and missing returns are never filled.
* A regressor from another exchange is aligned by *price level*, through both calendars: for
  each asset session we pick one benchmark session (``lag=0``: the latest benchmark session
  dated on or before the asset session's date; ``lag=1``: the latest benchmark session whose
  close is at or before the asset session's open), take its close, and the regressor return
  is the change of that aligned level between two consecutive asset sessions. A holiday on
  either exchange therefore neither repeats nor drops the other's returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy import calendars


def session_prices(closes: pd.Series, exchange: str, grid: pd.DatetimeIndex | None = None) -> pd.Series:
    """Place a close series on its exchange's session grid (NaN where a session has no price).

    Rows dated on non-sessions of the exchange are dropped. ``grid``, optional, is the
    exchange's sessions over a range covering the data (saves a calendar look-up per series).

    Examples
    --------
    >>> prices = session_prices(closes["^N225"].dropna(), "XTKS")  # doctest: +SKIP
    """
    observed = closes.dropna()
    if observed.empty:
        return observed.astype(float)
    first, last = observed.index[0], observed.index[-1]
    if grid is not None and len(grid) and grid[0] <= first and grid[-1] >= last:
        sessions = grid[grid.searchsorted(first) : grid.searchsorted(last, side="right")]
    else:
        sessions = calendars.get_sessions(exchange, first, last)
    return observed.reindex(sessions).astype(float)


class SessionGrid:
    """The columns of a table, each placed on its exchange's session grid as
    :func:`session_prices` places one series (the same sessions and numbers), from one array of
    the table and one row map per exchange (the per-series pandas steps cost more than the
    arithmetic).

    Examples
    --------
    >>> SessionGrid(closes).place("^N225", "XTKS")  # doctest: +SKIP
    """

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self.fast = (table.columns.is_unique and table.index.is_unique and len(table.index) > 0
                     and isinstance(table.index, pd.DatetimeIndex)
                     and all(dtype == np.float64 for dtype in table.dtypes))
        self.values = table.to_numpy() if self.fast else None
        self._column = {ticker: j for j, ticker in enumerate(table.columns)}
        self._grids: dict[str, tuple[pd.DatetimeIndex, np.ndarray]] = {}

    def column(self, ticker: str) -> np.ndarray | None:
        """The column's values (None when the table is not read as one array or lacks it)."""
        return self.values[:, self._column[ticker]] if self.fast and ticker in self._column else None

    def place(self, ticker: str, exchange: str, transform=None) -> pd.Series:
        """``session_prices(transform(table[ticker]), exchange)``; ``transform`` (elementwise,
        NaN to NaN, e.g. ``np.log1p``) is applied to the placed values."""
        values = self.column(ticker)
        observed = np.flatnonzero(~np.isnan(values)) if values is not None else np.zeros(0, int)
        if len(observed):
            grid, rows = self._grid(exchange)
            dates = self.table.index
            first, last = dates[observed[0]], dates[observed[-1]]
            if len(grid) and grid[0] <= first and grid[-1] >= last:
                start, stop = grid.searchsorted(first), grid.searchsorted(last, side="right")
                taken = rows[start:stop]
                placed = values[taken]
                placed[taken < 0] = np.nan
                if transform is not None:
                    placed = transform(placed)
                return pd.Series(placed, index=grid[start:stop], name=ticker)
        series = self.table[ticker]
        return session_prices(series if transform is None else transform(series), exchange)

    def _grid(self, exchange: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """The exchange's sessions over the table's dates and the table row of each (-1: none)."""
        if exchange not in self._grids:
            dates = self.table.index
            grid = calendars.get_sessions(exchange, dates.min(), dates.max())
            self._grids[exchange] = grid, dates.get_indexer(grid)
        return self._grids[exchange]


def to_returns(prices: pd.Series, kind: str = "simple") -> pd.Series:
    """Simple (``P_t/P_{t-1} - 1``) or log returns between consecutive grid rows, NaN-preserving."""
    values = prices.to_numpy(dtype=float)
    out = np.full(values.shape, np.nan)
    if kind == "simple":
        out[1:] = values[1:] / values[:-1] - 1.0
    elif kind == "log":
        out[1:] = np.log(values[1:] / values[:-1])
    else:
        raise ValueError(f"unknown return kind {kind!r}")
    return pd.Series(out, index=prices.index, name=prices.name)


def aligned_levels(
    bench_prices: pd.Series,
    bench_exchange: str,
    asset_sessions: pd.DatetimeIndex,
    asset_exchange: str,
    lag: int,
) -> pd.Series:
    """Benchmark close assigned to each asset session (see module docstring for the rule).

    ``bench_prices`` must already be on the benchmark's session grid (:func:`session_prices`).
    """
    if bench_prices.empty or len(asset_sessions) == 0:
        return pd.Series(np.nan, index=asset_sessions)
    if lag == 0:
        keys = bench_prices.index.values
        targets = asset_sessions.values
    elif lag == 1:
        keys = _utc_naive(calendars.session_closes(bench_exchange, bench_prices.index))
        targets = _utc_naive(calendars.session_opens(asset_exchange, asset_sessions))
    else:
        raise ValueError(f"lag must be 0 or 1, got {lag}")
    position = np.searchsorted(keys, targets, side="right") - 1
    levels = np.where(position >= 0, bench_prices.to_numpy()[np.clip(position, 0, None)], np.nan)
    # A benchmark session that is too stale (beyond the benchmark's data) stays missing.
    levels[targets > keys[-1] + np.timedelta64(7, "D")] = np.nan
    return pd.Series(levels, index=asset_sessions)


def _utc_naive(times: pd.Series) -> np.ndarray:
    """UTC instants as naive ``datetime64`` for searchsorted."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()


def aligned_returns(
    bench_prices: pd.Series,
    bench_exchange: str,
    asset_sessions: pd.DatetimeIndex,
    asset_exchange: str,
    lag: int,
    kind: str = "simple",
) -> pd.Series:
    """Benchmark returns on the asset's session grid, aligned by level through both calendars.

    Examples
    --------
    >>> spx = session_prices(closes["^GSPC"], "XNYS")  # doctest: +SKIP
    >>> us_lagged = aligned_returns(spx, "XNYS", tokyo_sessions, "XTKS", lag=1)  # doctest: +SKIP
    """
    levels = aligned_levels(bench_prices, bench_exchange, asset_sessions, asset_exchange, lag)
    return to_returns(levels, kind)
