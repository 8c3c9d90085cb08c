"""Work in batches of (event, asset) pairs, so that memory is bounded by a batch, not by the study.

Every statistic of a pair, and every cross-sectional statistic of a scope, depends only on the
pairs it reads. The single-pair tests therefore run on sub-panels of at most
:data:`PAIRS_PER_BATCH` pairs and their rows are concatenated in the order one call over the
whole panel gives; the cross-sectional tests prepare each pair's inputs (sorted estimation
residuals, ranks, cross-sections) in slices of that many pairs into a compact per-pair
table, from which each scope takes its pairs. The results are the same numbers, row for row.

Each unit of work is a plain function of (batch, panel) -> table, so that a distributed engine
could map it later; nothing here schedules anything.

Examples
--------
>>> [(s.start, s.stop) for s in pair_slices(6, size=2)]
[(0, 2), (2, 4), (4, 6)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eventstudy import inference
from eventstudy.inference.kernels import pair_slices
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import Scope

PAIRS_PER_BATCH = 4096
"""Pairs per batch: about 30 KB of working arrays per pair in the single-pair tests (~120 MB a
batch); the cross-sectional tests prepare their per-pair inputs this many pairs at a time."""


def pair_test_columns(panel: AbnormalPanel, windows: Sequence[tuple[int, int]],
                      size: int = PAIRS_PER_BATCH) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """:func:`eventstudy.inference.pair_test_columns`, ``size`` pairs at a time (the same
    numbers: each pair's tests read only that pair's abnormal returns)."""
    windows = list(windows)
    panel.cars(windows)  # each window's CARs once for the panel; the parts take their rows
    slices = list(pair_slices(panel.n_pairs, size))
    if len(slices) <= 1:
        return inference.pair_test_columns(panel, windows)
    out: tuple[dict[str, np.ndarray], dict[str, np.ndarray]] = ({}, {})
    for part in slices:  # each part's columns written into arrays allocated once
        columns = inference.pair_test_columns(panel.subset(np.arange(part.start, part.stop)), windows)
        for whole, piece in zip(out, columns):
            for name, values in piece.items():
                if name not in whole:
                    whole[name] = np.empty((panel.n_pairs, *values.shape[1:]), values.dtype)
                whole[name][part] = values
    return out


def scoped_tests(panel: AbnormalPanel, scopes: Sequence[Scope], windows: Sequence[tuple[int, int]],
                 size: int = PAIRS_PER_BATCH, **options) -> pd.DataFrame:
    """:func:`eventstudy.inference.scoped_tests` with the per-pair inputs prepared ``size`` pairs
    at a time.

    ``options`` are passed on (``alternative``, ``returns``, ...). Each pair is sorted and
    ranked once, whatever the number of scopes holding it; what the scopes keep of it is a
    compact table (:class:`~eventstudy.inference.sections.PairTable`, about 22 bytes per pair
    and grid column), and each scope's working arrays are built for that scope alone. The
    rows are those of one call over the whole panel.
    """
    return inference.scoped_tests(panel, scopes, windows, pairs_per_slice=size, **options)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
