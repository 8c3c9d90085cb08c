"""Work in batches of (event, asset) pairs, so that memory is bounded by a batch, not by the study.

Every statistic of a pair, and every cross-sectional statistic of a scope, depends only on the
pairs it reads. The stages therefore run on sub-panels of at most :data:`PAIRS_PER_BATCH`
pairs (a scope larger than that is one batch of its own: its statistics need all its pairs at
once) and their rows are concatenated in the order one call over the whole panel gives. The
results are the same numbers, row for row; only the working arrays (sorted estimation
residuals, cross-sections, correlation structures) are built for one batch at a time.

Each unit of work is a plain function of (batch, panel) -> table, so that a distributed engine
could map it later; nothing here schedules anything.

Examples
--------
>>> [(s.start, s.stop) for s in pair_slices(6, size=2)]
[(0, 2), (2, 4), (4, 6)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from eventstudy import inference
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import Scope

PAIRS_PER_BATCH = 4096
"""Pairs per batch: about 30 KB of working arrays per pair in the tests (~120 MB a batch)."""
MIN_PAIRS = 2
"""Pairs of the smallest batch when the panel has more: numpy multiplies a one-column matrix
with a matrix-vector product, whose last bit can differ from the matrix product the same
column gets in a wider batch."""


def pair_slices(n_pairs: int, size: int = PAIRS_PER_BATCH) -> list[slice]:
    """Consecutive slices of about ``size`` pairs covering ``range(n_pairs)``, none of one pair
    when there are more (see :data:`MIN_PAIRS`).

    Examples
    --------
    >>> [(s.start, s.stop) for s in pair_slices(7, size=3)]
    [(0, 3), (3, 7)]
    """
    size = max(int(size), MIN_PAIRS)
    slices = [slice(start, min(start + size, n_pairs)) for start in range(0, n_pairs, size)]
    if len(slices) > 1 and slices[-1].stop - slices[-1].start < MIN_PAIRS:
        slices[-2:] = [slice(slices[-2].start, n_pairs)]
    return slices


def scope_batches(scopes: Sequence[Scope], size: int = PAIRS_PER_BATCH) -> list[tuple[np.ndarray, list[int]]]:
    """Consecutive scopes grouped so that each group's pairs number at most ``size``.

    Returns ``(rows, members)`` per batch: the sorted panel rows of the union of the scopes'
    pairs and the positions of the scopes in ``scopes``. A scope with more than ``size`` pairs
    is a batch of its own.

    Examples
    --------
    >>> rows = [np.array([1, 1, 0, 0], bool), np.array([0, 0, 1, 0], bool), np.array([1, 1, 1, 1], bool)]
    >>> [(r.tolist(), m) for r, m in scope_batches([Scope("event", "e", "group", "g", "total", x) for x in rows], 3)]
    [([0, 1, 2], [0, 1]), ([0, 1, 2, 3], [2])]
    """
    batches: list[tuple[np.ndarray, list[int]]] = []
    union: np.ndarray | None = None
    members: list[int] = []
    for position, scope in enumerate(scopes):
        rows = np.asarray(scope.rows, dtype=bool)
        joined = rows if union is None else union | rows
        if members and int(joined.sum()) > size:
            batches.append((np.flatnonzero(union), members))
            joined, members = rows, []
        union = joined
        members.append(position)
    if members:
        batches.append((np.flatnonzero(union), members))
    return batches


def pair_test_columns(panel: AbnormalPanel, windows: Sequence[tuple[int, int]],
                      size: int = PAIRS_PER_BATCH) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`eventstudy.inference.pair_test_columns`, ``size`` pairs at a time (the same
    numbers: each pair's tests read only that pair's abnormal returns)."""
    parts = [inference.pair_test_columns(panel.subset(np.arange(part.start, part.stop)), windows)
             for part in pair_slices(panel.n_pairs, size)]
    if len(parts) <= 1:
        return parts[0] if parts else inference.pair_test_columns(panel, windows)
    return tuple({name: np.concatenate([part[i][name] for part in parts]) for name in parts[0][i]}
                 for i in range(2))


def scoped_tests(panel: AbnormalPanel, scopes: Sequence[Scope], windows: Sequence[tuple[int, int]],
                 size: int = PAIRS_PER_BATCH, **options) -> pd.DataFrame:
    """:func:`eventstudy.inference.scoped_tests` on the pairs of a few scopes at a time.

    ``options`` are passed on (``alternative``, ``returns``, ...). The rows are those of one
    call over the whole panel, in the same order. A batch's pairs are ordered as the battery
    orders a scope's pairs (by number of estimation residuals, then panel order), so a batch of
    one scope is tested without a copy of its working arrays.
    """
    frames = []
    n_est_obs = (np.asarray(panel.is_estimation, dtype=bool) & np.isfinite(panel.ar)).sum(axis=1)
    for rows, members in scope_batches(scopes, size):
        if len(rows) < MIN_PAIRS <= panel.n_pairs:  # a companion outside the batch's scopes
            rows = np.union1d(rows, np.setdiff1d(np.arange(MIN_PAIRS + 1), rows)[: MIN_PAIRS - len(rows)])
        rows = rows[np.argsort(n_est_obs[rows], kind="stable")]  # the order the battery uses
        local = [replace(scopes[i], rows=np.asarray(scopes[i].rows, dtype=bool)[rows]) for i in members]
        frames.append(inference.scoped_tests(panel.subset(rows), local, windows, **options))
    if not frames:
        return inference.scoped_tests(panel, [], windows, **options)
    return _concat(frames)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
