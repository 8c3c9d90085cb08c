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

A run reports these tests beside the values they test, not in the tests table
(:func:`pair_test_columns`): a day's ``ts_t`` is ``sar, ar_p_value, ar_df`` of the
abnormal-returns table and its ``sq`` is ``ar_sq, ar_sq_p_value``; a window's ``ts_t`` is
``car_t, car_p_value, car_df`` of the CAR table and a one-day window's ``sq`` is ``car_sq,
car_sq_p_value``. ``n`` (L1) is ``n_obs`` of the models table. :func:`single_asset_tests` gives
the same numbers as one long table (test by test, with ``n`` and a ``note`` per row).
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


DAY_TEST_COLUMNS: tuple[str, ...] = ("sar", "ar_p_value", "ar_df", "ar_sq", "ar_sq_p_value")
"""Columns of the abnormal-returns table that hold a day's single-pair tests: ``ts_t`` (statistic
``sar``, ``ar_p_value``, ``ar_df``) and ``sq`` (``ar_sq``, ``ar_sq_p_value``)."""
WINDOW_TEST_COLUMNS: tuple[str, ...] = ("car_t", "car_p_value", "car_df", "car_sq", "car_sq_p_value")
"""Columns of the CAR table that hold a window's single-pair tests: ``ts_t`` (``car_t``,
``car_p_value``, ``car_df``) and, for a one-day window, ``sq`` (``car_sq``, ``car_sq_p_value``;
NaN for longer windows)."""


def pair_test_columns(
    panel: AbnormalPanel, windows: Sequence[tuple[int, int]], alternative: str = "two-sided"
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The single-pair tests as columns beside the values they test (parameters as
    :func:`single_asset_tests`).

    Returns
    -------
    day, window : dict of str to ndarray
        ``day``: the columns :data:`DAY_TEST_COLUMNS`, each of shape (N, E) (pair, event-period
        day), so ``.ravel()`` follows the rows of the abnormal-returns table. ``window``: the
        columns :data:`WINDOW_TEST_COLUMNS`, each (N, W), so ``.T.ravel()`` follows the rows of
        the CAR table (window by window). The numbers are those of :func:`single_asset_tests`:
        statistic, p-value and degrees of freedom of ``ts_t``, statistic and p-value of ``sq``
        (a window's ``sq`` only for one-day windows, NaN elsewhere). Every column is NaN where
        its test cannot be computed (missing abnormal return, no residual degrees of freedom,
        non-positive prediction-error variance, no estimation residuals).

    Examples
    --------
    >>> day, window = pair_test_columns(panel, [(0, 0), (0, 1)])  # doctest: +SKIP
    >>> day["ar_p_value"].shape, window["car_sq"].shape  # doctest: +SKIP
    ((N, E), (N, 2))
    """
    windows = [tuple(int(d) for d in window) for window in windows]
    one_day, (ts_t, ts_p), (sq, sq_p) = _cell_tests(panel, windows, alternative)
    n_days = len(panel.event_rel_days)
    shape = (panel.n_pairs, n_days + len(windows))
    columns = [ts_t.statistic, ts_p, ts_t.df, sq.statistic, sq_p]
    cells = [values.reshape(shape) for values in columns]
    for values in cells[3:]:  # sq: one-day cells only
        values[:, n_days:][:, ~one_day[n_days:]] = np.nan
    day = {name: np.ascontiguousarray(values[:, :n_days])
           for name, values in zip(DAY_TEST_COLUMNS, cells)}
    window = {name: np.ascontiguousarray(values[:, n_days:])
              for name, values in zip(WINDOW_TEST_COLUMNS, cells)}
    return day, window


def _cell_tests(panel: AbnormalPanel, windows: list[tuple[int, int]], alternative: str):
    """``(one_day, (ts_t, p), (sq, p))`` over the cells (every event day, then every window):
    ``one_day`` (C,) says whether a cell is one day; the results are flat (N * C,), pair-major."""
    check_alternative(alternative)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cells = _cells(panel, windows)
        residuals = SortedRows.build(
            np.where(panel.is_estimation & np.isfinite(panel.ar), panel.ar, np.nan)
        )
        one_day = np.array([cell[2] for cell in cells], dtype=bool)
        values = np.stack([cell[0] for cell in cells], axis=1)  # (N, C) AR or CAR
        variance = np.stack([cell[1] for cell in cells], axis=1)
        return one_day, _ts_t(panel, values, variance, alternative), _sq(residuals, values, alternative)


def _columns(panel: AbnormalPanel, windows: Sequence[tuple[int, int]], alternative: str) -> dict:
    """Columns of every pair's rows (``pair`` = row of the panel), ordered by pair."""
    windows = [tuple(int(day) for day in window) for window in windows]
    one_day, ts_t, sq = _cell_tests(panel, windows, alternative)
    n_pairs, n_cells = panel.n_pairs, len(one_day)
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
    for window, (car, var_car) in zip(windows, panel.cars(windows)):
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
