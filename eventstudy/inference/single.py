"""Single-pair (time-series) tests: one asset, one event (docs/methods.md#single-pair-tests).

``ts_t`` (Campbell, Lo & MacKinlay 1997, ch. 4): ``AR / sqrt(s2 C)`` for a day, ``CAR / sqrt(Var CAR)`` (full
prediction-error covariance) for a window; reference t(L1 - k); ``n`` = L1.

``sq`` (Gelbach, Helland & Klick 2013): the AR of a day is
compared with the pair's L1 estimation residuals; the statistic is ``F(AR)``, the share of
residuals ``<= AR``; the p-value is the permutation p-value ``(k + 1)/(n + 1)``
(:func:`~eventstudy.inference.pvalues.empirical_p_value`); ``n`` = L1, distribution
'empirical'. It is reported for one-day cells only (every event day and every one-day
window): an L2-day CAR has only about ``L1 / L2`` independent L2-day blocks in the
estimation window to be compared with, too few to place a 2.5% tail (on iid t(5) returns
the block version rejects 5.8% at L2 = 6 and 7.9% at L2 = 16; docs/validation.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eventstudy.abnormal import format_window
from eventstudy.inference import frames
from eventstudy.inference.kernels import SortedRows
from eventstudy.inference.pvalues import check_alternative, empirical_p_value, parametric_p_value
from eventstudy.inference.result import TestResult
from eventstudy.panel import AbnormalPanel

SINGLE_ASSET_TEST_IDS: tuple[str, ...] = ("ts_t", "sq")


def single_asset_tests(
    panel: AbnormalPanel, windows: Sequence[tuple[int, int]], alternative: str = "two-sided"
) -> pd.DataFrame:
    """Time-series tests of each pair on each event-period day and each window.

    Parameters
    ----------
    panel : AbnormalPanel
        Abnormal returns of N (event, asset) pairs.
    windows : sequence of (int, int)
        CAR windows ``(first, last)``, inclusive.
    alternative : {'two-sided', 'greater', 'less'}
        Alternative hypothesis of the p-values.

    Returns
    -------
    DataFrame
        Columns ``event_id, asset, rel_day, window, test, statistic, p_value, distribution,
        df, n, note``; per pair first the daily rows (``rel_day`` set, ``window == ''``; ``ts_t``
        then ``sq``), then the window rows (``rel_day`` NA; ``sq`` only for one-day windows).

    Examples
    --------
    >>> single_asset_tests(panel, [(0, 1), (0, 5)])  # doctest: +SKIP
    """
    columns = _columns(panel, windows, alternative)
    columns["event_id"] = frames.labels_taken(panel.event_ids, columns["pair"])
    columns["asset"] = frames.labels_taken(panel.assets, columns["pair"])
    return frames.frame(columns, frames.SINGLE_COLUMNS)


def pair_tests(
    panel: AbnormalPanel,
    windows: Sequence[tuple[int, int]],
    groups: np.ndarray | None = None,
    alternative: str = "two-sided",
) -> pd.DataFrame:
    """:func:`single_asset_tests` as rows of the tests table (columns ``TEST_COLUMNS``).

    ``scope='pair'``, ``scope_id`` = the event id, ``group_by=''``, ``group`` = the pair's
    asset group (``groups``, one per pair), ``reaction`` = the pair's reaction kind,
    ``r_bar`` NaN.
    """
    columns = _columns(panel, windows, alternative)
    pair = columns["pair"]
    n_rows = len(pair)
    groups = (
        np.full(panel.n_pairs, "", dtype=object)
        if groups is None
        else np.asarray(groups, dtype=object)
    )
    reactions = (
        np.full(panel.n_pairs, "total", dtype=object)
        if panel.reactions is None
        else np.asarray(panel.reactions, dtype=object)
    )
    columns.update(
        scope=frames.labels_taken(["pair"], np.zeros(n_rows, dtype=np.intp)),
        scope_id=frames.labels_taken(panel.event_ids, pair),
        group_by=frames.labels_taken([""], np.zeros(n_rows, dtype=np.intp)),
        group=frames.labels_taken(groups, pair),
        reaction=frames.labels_taken(reactions, pair),
        asset=frames.labels_taken(panel.assets, pair),
        r_bar=np.full(n_rows, np.nan),
    )
    return frames.frame(columns, frames.TEST_COLUMNS)


def _columns(panel: AbnormalPanel, windows: Sequence[tuple[int, int]], alternative: str) -> dict:
    """Columns of every pair's rows (``pair`` = row of the panel), ordered by pair."""
    check_alternative(alternative)
    windows = [tuple(int(day) for day in window) for window in windows]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cells = _cells(panel, windows)
        residuals = SortedRows.build(
            np.where(panel.is_estimation & np.isfinite(panel.ar), panel.ar, np.nan)
        )
        one_day = np.array([cell[2] for cell in cells])  # (C,) the cell is one day
        values = np.stack([cell[0] for cell in cells], axis=1)  # (N, C) AR or CAR
        variance = np.stack([cell[1] for cell in cells], axis=1)
        ts_t = _ts_t(panel, values, variance, alternative)
        sq = _sq(residuals, values, alternative)
    n_pairs, n_cells = values.shape
    tests = [(0, ts_t), (1, sq)]
    parts = []
    for test_code, (result, p_value) in tests:
        keep = np.ones(n_cells, bool) if test_code == 0 else one_day
        cell = np.flatnonzero(keep)
        parts.append(
            {
                "pair": np.repeat(np.arange(n_pairs), len(cell)),
                "cell": np.tile(cell, n_pairs),
                "test_code": np.full(n_pairs * len(cell), test_code),
                "statistic": result.statistic.reshape(n_pairs, n_cells)[:, cell].ravel(),
                "p_value": p_value.reshape(n_pairs, n_cells)[:, cell].ravel(),
                "df": result.df.reshape(n_pairs, n_cells)[:, cell].ravel(),
                "n": result.n.reshape(n_pairs, n_cells)[:, cell].ravel(),
                "note": result.note.reshape(n_pairs, n_cells)[:, cell].ravel(),
                "distribution": np.full(n_pairs * len(cell), test_code),
            }
        )
    stacked = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    order = np.lexsort((stacked["test_code"], stacked["cell"], stacked["pair"]))
    out = {name: values[order] for name, values in stacked.items()}
    n_days = len(panel.event_rel_days)
    is_window = out["cell"] >= n_days
    rel_day = (
        panel.event_rel_days.astype(np.int64)[np.minimum(out["cell"], n_days - 1)]
        if n_days
        else out["cell"]
    )
    labels = ["", *[format_window(w) for w in windows]]
    return {
        "pair": out["pair"],
        "rel_day": frames.int_or_na(np.where(is_window, 0, rel_day), is_window),
        "window": frames.labels_taken(labels, np.where(is_window, out["cell"] - n_days + 1, 0)),
        "test": frames.labels_taken(SINGLE_ASSET_TEST_IDS, out["test_code"]),
        "statistic": out["statistic"],
        "p_value": out["p_value"],
        "distribution": frames.labels_taken(["t", "empirical"], out["distribution"]),
        "df": out["df"].astype(float),
        "n": out["n"].astype(np.int64),
        "note": frames.encoded(out["note"]),
    }


def _cells(
    panel: AbnormalPanel, windows: list[tuple[int, int]]
) -> list[tuple[np.ndarray, np.ndarray, bool]]:
    """``(value, variance, is one day)`` per cell: every event day, then every window."""
    event_ar = np.asarray(panel.event_ar, dtype=float)
    variance = panel.s2[:, None] * panel.variance_factor
    cells = [(event_ar[:, d], variance[:, d], True) for d in range(event_ar.shape[1])]
    for window in windows:
        car, var_car = panel.car(window)
        cells.append((car, var_car, int(panel.window_selector(window).sum()) == 1))
    return cells


def _ts_t(panel: AbnormalPanel, values: np.ndarray, variance: np.ndarray, alternative: str):
    """ts_t over the (N, C) cells: ``value / sqrt(variance)`` ~ t(L1 - k)."""
    shape = values.shape
    dof = np.broadcast_to(np.asarray(panel.n_est - panel.k, dtype=float)[:, None], shape)
    n_est = np.broadcast_to(np.asarray(panel.n_est, dtype=np.int64)[:, None], shape)
    result = TestResult.start(n_est.ravel(), "t")
    result.df = dof.ravel().copy()
    result.fail(~np.isfinite(values).ravel(), "abnormal return missing")
    result.fail(~(dof > 0).ravel(), "no residual degrees of freedom (L1 - k <= 0)")
    result.fail(~(variance > 0).ravel(), "non-positive prediction-error variance")
    result.finish((values / np.sqrt(variance)).ravel())
    return result, parametric_p_value(result.statistic, "t", result.df, alternative)


def _sq(residuals: SortedRows, values: np.ndarray, alternative: str):
    """sq over the (N, C) cells against each pair's estimation residuals."""
    shape = values.shape
    below, at_most = residuals.count_below(values)
    size = np.broadcast_to(residuals.size[:, None], shape)
    at_least = np.where(np.isnan(values), 0, size - below)
    result = TestResult.start(size.ravel(), "empirical")
    result.fail(~np.isfinite(values).ravel(), "abnormal return missing")
    result.fail((size < 1).ravel(), "no estimation residuals to compare with")
    result.finish((at_most / size).ravel())
    p_value = empirical_p_value(at_most, at_least, size, alternative).ravel()
    return result, np.where(result.note == "", p_value, np.nan)
