"""Shared pieces of the volatility measures: table columns, status handling, window arrays and
each pair's estimation sample in sample order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventstudy.panel import AbnormalPanel

PAIR_COLUMNS = [
    "event_id", "asset", "reaction", "window", "measure", "estimate", "statistic", "p_value",
    "distribution", "df", "n", "n_null", "p_value_parametric", "parametric_reference",
    "status", "message",
]
"""Columns of :func:`eventstudy.volatility.pair_volatility`."""
SCOPE_COLUMNS = PAIR_COLUMNS[3:]
"""Columns of the cross-sectional and level rows (the caller adds scope labels and asset)."""

TRADING_DAYS_PER_YEAR = 252
ZERO_VARIANCE = 1e-20
"""Variances at or below this (a daily s.d. of 1e-10) count as zero: constant prices, or
constant returns whose residuals are rounding noise."""
EMPIRICAL = "empirical"
"""``distribution`` of a p-value calibrated on the pair's own estimation window."""
PAIR_SIZED_DAYS = 6
"""Per-pair volatility p-values are reported for windows of at most this many sessions. On real
Tokyo returns they reject 3.6-6.1% of true nulls at 5% for windows of 1, 2 and 6 sessions but
6.7-11.7% for 16 sessions (volatility regimes one estimation year cannot calibrate;
``benchmarks/size_power_volatility.py``)."""
LONG_WINDOW_NOTE = (
    f"p-value not reported: windows longer than {PAIR_SIZED_DAYS} sessions reject 6.7-11.7% of "
    "true nulls at 5% on real returns"
)
UNSIZED_SCOPE_NOTE = (
    "not reported: the pairs of this scope share trading days and the test does not keep its "
    "size under same-date clustering"
)
"""``message`` of a cross-sectional volatility row withheld for a clustered scope."""


def window_label(window: tuple[int, int]) -> str:
    """Text label of a window, ``'[a,b]'``.

    Examples
    --------
    >>> window_label((-5, 10))
    '[-5,10]'
    """
    return f"[{int(window[0])},{int(window[1])}]"


def reactions(panel: AbnormalPanel) -> np.ndarray:
    """Each pair's reaction kind ('total' when the panel does not say)."""
    if panel.reactions is None:
        return np.full(panel.n_pairs, "total", dtype=object)
    return np.asarray(panel.reactions, dtype=object)


def two_sided(sf: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Two-sided p-value ``min(1, 2 min(sf, cdf))``."""
    return np.minimum(1.0, 2.0 * np.minimum(sf, cdf))


def ok_status(n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """All-'ok' status and empty messages for ``n_rows`` rows."""
    return np.full(n_rows, "ok", dtype=object), np.full(n_rows, "", dtype=object)


def flag(status: np.ndarray, message: np.ndarray, where: np.ndarray, text: np.ndarray | str,
         label: np.ndarray | str = "insufficient") -> None:
    """Mark rows ``where`` (still 'ok') with ``label`` and ``text``; the first reason wins."""
    hit = np.asarray(where, dtype=bool) & (status == "ok")
    status[hit] = np.broadcast_to(np.asarray(label, dtype=object), status.shape)[hit]
    message[hit] = np.broadcast_to(np.asarray(text, dtype=object), status.shape)[hit]


@dataclass
class Measure:
    """One measure for all N pairs in one window (vectorised).

    ``p_value`` is the reported p-value (calibrated on the estimation window where
    ``distribution == 'empirical'``, with ``n_null`` blocks); ``p_parametric`` is the
    normal-theory p-value against ``parametric_reference`` (NaN / '' when there is none).
    """

    name: str
    estimate: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    distribution: str
    df: np.ndarray
    n: np.ndarray
    status: np.ndarray
    message: np.ndarray
    n_null: np.ndarray | None = None
    p_parametric: np.ndarray | None = None
    parametric_reference: np.ndarray | None = None
    row_distribution: np.ndarray | None = None
    """Per-row reference distribution where it differs by row (GARCH fallbacks)."""

    def masked(self) -> Measure:
        """NaN numbers and empty labels on rows whose status is not 'ok'.

        Safety net: an 'ok' row whose estimate (or, for a test, statistic or p-value) is not
        finite becomes 'failed', so a NaN is never reported as a result.
        """
        n_rows = len(self.status)
        if self.n_null is None:
            self.n_null = np.zeros(n_rows, dtype=int)
        if self.p_parametric is None:
            self.p_parametric = np.full(n_rows, np.nan)
        if self.parametric_reference is None:
            self.parametric_reference = np.full(n_rows, "", dtype=object)
        numbers = [self.estimate] + ([self.statistic, self.p_value] if self.distribution else [])
        finite = np.logical_and.reduce([np.isfinite(np.asarray(x, float)) for x in numbers])
        flag(self.status, self.message, ~finite, "result is not finite (degenerate data)", "failed")
        bad = self.status != "ok"
        for name in ("estimate", "statistic", "p_value", "p_parametric"):
            values = np.asarray(getattr(self, name), dtype=float).copy()
            values[bad] = np.nan
            setattr(self, name, values)
        self.df = np.where(bad, "", self.df).astype(object)
        self.parametric_reference = np.where(bad, "", self.parametric_reference).astype(object)
        self.n_null = np.where(bad, 0, self.n_null).astype(int)
        return self


def window_arrays(panel: AbnormalPanel, window: tuple[int, int]):
    """Event-window ARs and variance factors ``C``, shape (N, L2), and the column mask."""
    inside = panel.window_selector(window).astype(bool)
    return panel.event_ar[:, inside], panel.variance_factor[:, inside], inside


def pair_status(panel: AbnormalPanel, window: tuple[int, int], min_days: int, measure: str):
    """Status/message per pair for measures built on ARs and ``s^2``."""
    ar, factor, _ = window_arrays(panel, window)
    status, message = ok_status(panel.n_pairs)
    l2 = ar.shape[1]
    s2 = np.asarray(panel.s2, dtype=float)
    flag(status, message, ~np.isfinite(s2) | (s2 <= ZERO_VARIANCE),
         "residual variance s^2 is zero or missing (constant returns?)")
    flag(status, message, panel.dof <= 0, "no residual degrees of freedom (L1 - k <= 0)")
    missing = (~np.isfinite(ar) | ~np.isfinite(factor)).sum(axis=1)
    text = np.array([f"{m} of {l2} abnormal returns missing in window" for m in missing], object)
    flag(status, message, missing > 0, text)
    if l2 < min_days:
        flag(status, message, np.ones(panel.n_pairs, bool),
             f"window has {l2} event day(s); {measure} needs at least {min_days}")
    return status, message


def f_df(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``'a,b'`` degrees-of-freedom labels."""
    return np.array([f"{int(x)},{int(y)}" for x, y in zip(a, b)], dtype=object)


def references(name: str, *dfs: np.ndarray) -> np.ndarray:
    """Labels such as ``'F(5,248)'`` or ``'chi2(6)'``, one per row."""
    columns = [np.asarray(d).astype(int).astype(str) for d in dfs]
    inner = columns[0].astype(object)
    for column in columns[1:]:
        inner = inner + "," + column.astype(object)
    return (f"{name}(" + inner + ")").astype(object)


@dataclass(frozen=True)
class EstimationSample:
    """Each pair's estimation days in sample order (excluded and missing days dropped).

    The calibrated p-values compare a window's statistic with the same statistic over every
    run of ``L2`` consecutive days of this sample (a run may straddle a day excluded from the
    sample, as for the SQ test).

    Attributes
    ----------
    columns : ndarray of int, shape (N, M)
        Grid column of the j-th sample day of each pair (left-aligned; padding repeats 0).
    length : ndarray of int, shape (N,)
        ``L1``: number of sample days of each pair.
    """

    columns: np.ndarray
    length: np.ndarray

    @classmethod
    def of(cls, panel: AbnormalPanel) -> EstimationSample:
        keep = np.asarray(panel.is_estimation, dtype=bool) & np.isfinite(panel.ar)
        order = np.argsort(~keep, axis=1, kind="stable")
        length = keep.sum(axis=1)
        width = max(int(length.max(initial=0)), 1)
        return cls(order[:, :width], length)

    @property
    def valid(self) -> np.ndarray:
        """(N, M) mask of real sample days (False on padding)."""
        return np.arange(self.columns.shape[1])[None, :] < self.length[:, None]

    def pack(self, values: np.ndarray) -> np.ndarray:
        """``values`` (N, T) on the grid -> (N, M) in sample order, NaN on padding."""
        packed = np.take_along_axis(np.asarray(values, dtype=float), self.columns, axis=1)
        return np.where(self.valid, packed, np.nan)

    def last_column(self) -> np.ndarray:
        """Grid column of each pair's last sample day (-1 when the sample is empty)."""
        index = np.maximum(self.length - 1, 0)[:, None]
        last = np.take_along_axis(self.columns, index, axis=1)[:, 0]
        return np.where(self.length > 0, last, -1)
