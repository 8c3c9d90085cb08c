"""Columns placed on their exchange's sessions from one array equal ``session_prices`` per series."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eventstudy import calendars, returns


def test_session_grid_places_every_column_as_session_prices_does():
    sessions = calendars.get_sessions("XTKS", "2024-01-04", "2024-12-27")
    rng = np.random.default_rng(4)
    saturday = pd.Timestamp("2024-06-08")
    dates = sessions.append(pd.DatetimeIndex([saturday])).sort_values()
    table = pd.DataFrame(100 * np.exp(rng.normal(0, 0.01, (len(dates), 4)).cumsum(axis=0)),
                         index=dates, columns=["A", "B", "C", "D"])
    table.iloc[:30, 1] = np.nan  # late start, gap, early end
    table.iloc[60:64, 1] = np.nan
    table.iloc[-15:, 1] = np.nan
    table.loc[saturday, "C"] = 123.0  # a price on a non-session: dropped
    table["D"] = np.nan  # no price at all: the pandas path
    grid = returns.SessionGrid(table)
    for ticker in table.columns:
        expected = returns.session_prices(table[ticker], "XTKS")
        for got, want in ((grid.place(ticker, "XTKS"), expected),
                          (grid.place(ticker, "XTKS", np.log1p), returns.session_prices(
                              np.log1p(table[ticker]), "XTKS"))):
            pd.testing.assert_index_equal(got.index, want.index, check_names=False)
            np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())
    assert saturday not in grid.place("C", "XTKS").index
    assert not returns.SessionGrid(table.astype(object)).fast  # other tables: per series
