"""Result frames: the column lists of the test tables and how arrays become frames.

Frames are built from whole columns (no per-row Python); string columns are built once
from their distinct values and gathered with ``take`` (:func:`labels_taken`), so they get
the dtype pandas infers for strings. Numbers are not rounded here: the report writes
tables with ``%.10g``, which makes files byte-stable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eventstudy.scopes import SCOPE_LABELS

RESULT_COLUMNS = ["statistic", "p_value", "distribution", "df", "n", "r_bar", "note"]
DAILY_COLUMNS = ["rel_day", "test", *RESULT_COLUMNS]
WINDOW_COLUMNS = ["test", *RESULT_COLUMNS]
SINGLE_COLUMNS = ["event_id", "asset", "rel_day", "window", "test"] + [
    name for name in RESULT_COLUMNS if name != "r_bar"
]
_TAKE_FROM = 2_000  # rows from which string columns are gathered with take
TEST_COLUMNS = [*SCOPE_LABELS, "asset", "rel_day", "window", "test", *RESULT_COLUMNS]
"""Columns of the study's tests table (cross-sectional rows; ``asset`` is ``''``)."""


def labels_taken(
    labels: Sequence[str] | np.ndarray, codes: np.ndarray
) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """``labels[codes]`` as the column :class:`~pandas.DataFrame` would make of it.

    The distinct labels go through the frame's own type inference once (so the column dtype
    is what an object array of the same strings gives, e.g. ``str`` under pandas 3) and are
    then gathered with ``take``, much faster than converting one string per row.

    Examples
    --------
    >>> list(labels_taken(["a", "b"], np.array([1, 1, 0])))
    ['b', 'b', 'a']
    """
    labels = np.asarray(labels, dtype=object)
    codes = np.asarray(codes, dtype=np.intp)
    if len(labels) == 0 or len(codes) < _TAKE_FROM:
        return labels[codes]  # small columns: the frame infers the same dtype
    return pd.Series(labels).array.take(codes)


def encoded(values: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """A string column from an object array with few distinct values (via :func:`labels_taken`)."""
    values = np.asarray(values, dtype=object)
    if len(values) == 0:
        return values
    codes, distinct = pd.factorize(values)  # hashing: no sort of every string
    if (codes >= 0).all() and all(type(label) is str for label in distinct):
        return labels_taken(np.asarray(distinct, dtype=object), codes)
    distinct, codes = np.unique(values.astype(str), return_inverse=True)  # None, numbers: as str
    return labels_taken(distinct, codes)


def int_or_na(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
    """A nullable ``Int64`` column: ``values`` where not ``missing``."""
    return pd.arrays.IntegerArray(
        np.asarray(values, dtype=np.int64), np.asarray(missing, dtype=bool)
    )


def frame(columns: dict[str, object], order: Sequence[str]) -> pd.DataFrame:
    """A frame of the columns ``order`` (empty columns when there are no rows)."""
    return pd.DataFrame({name: columns[name] for name in order})


def empty(order: Sequence[str]) -> pd.DataFrame:
    """A frame with the columns ``order`` and no rows."""
    return pd.DataFrame({name: [] for name in order})
