"""Level changes of volatility indices (assets of ``kind: volatility_index``, e.g. an implied
volatility index) around an event: a level, not a return, so no model and no test."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from eventstudy.volatility.base import SCOPE_COLUMNS
from eventstudy.volatility.cross_section import scope_row


def level_change(levels: pd.Series, day0: pd.Timestamp,
                 windows: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """Change of an index level over each window, from the session before the window starts.

    Days count the series' own sessions: day 0 is ``day0`` (which must be in the index). For a
    window ``[a, b]`` the change runs from the close of day ``a - 1`` (the last level before the
    window) to the close of day ``b``: ``[0, 1]`` from day -1, ``[-1, 1]`` from day -2,
    ``[-5, 10]`` from day -6. ``estimate`` = ``ln(level_b / level_{a-1})``; the change in points
    is in the message; no test (statistic and p NaN, distribution ''). Columns
    ``SCOPE_COLUMNS``; ``n`` = the window's sessions (``b - a + 1``). A missing day 0, a window
    that starts or ends outside the series, or a non-positive level gives an 'insufficient'
    row.

    Examples
    --------
    >>> levels = pd.Series([20.0, 25.0, 40.0], index=pd.bdate_range("2025-04-02", periods=3))
    >>> row = level_change(levels, levels.index[2], [(0, 0)]).iloc[0]
    >>> round(float(row["estimate"]), 6), row["message"]
    (0.470004, '+15.00 points (25.00 on 2025-04-03 -> 40.00 on 2025-04-04)')
    """
    series = levels.dropna().sort_index()
    series = series[~series.index.duplicated(keep="last")]
    position = series.index.get_indexer([pd.Timestamp(day0)])[0]
    rows = []
    for window in windows:
        first, last = int(window[0]), int(window[1])
        start, end = position + first - 1, position + last
        if position < 0:
            reason = f"day 0 {pd.Timestamp(day0).date()} is not in the level series"
        elif start < 0:
            reason = f"level series starts after day {first - 1}, the day before the window"
        elif end >= len(series):
            reason = f"level series ends before day {last}"
        elif not (series.iloc[start] > 0 and series.iloc[end] > 0):
            reason = "non-positive level"
        else:
            base, final = float(series.iloc[start]), float(series.iloc[end])
            message = (f"{final - base:+.2f} points ({base:.2f} on "
                       f"{series.index[start].date()} -> {final:.2f} on "
                       f"{series.index[end].date()})")
            rows.append(scope_row(window, "level_change", math.log(final / base),
                                  n=last - first + 1, message=message))
            continue
        rows.append(scope_row(window, "level_change", status="insufficient", message=reason))
    return pd.DataFrame(rows, columns=SCOPE_COLUMNS)

