"""p-values calibrated on each pair's own estimation window (docs/methods.md#calibration, #empirical-p).

A pair's window statistic over ``L2`` event days is compared with two reference sets drawn from
the pair's own data, each giving a two-sided permutation p-value ``min(1, 2 min(k_ge + 1,
k_le + 1) / (n + 1))`` (``k_ge``, ``k_le``: reference values ``>=``, ``<=`` the observed one
among ``n``; never 0):

* **days** -- under H0 and serially independent residuals the ``L1`` estimation days and the
  ``L2`` window days are exchangeable, whatever the tails of their distribution. The window
  statistics here are increasing functions of the window's sum of per-day values given the
  pooled total, so the reference values are the sums over ``B = 999`` random ``L2``-day
  subsets of the pooled ``L1 + L2`` days (exact size for independent days);
* **blocks** -- the same statistic for every run of ``L2`` consecutive estimation days against
  the *other* estimation days (leave-block-out: a block must not enter the variance that
  scales it, as the window does not). Contiguous blocks keep volatility clustering, which
  random days destroy; but from one year of data they are few independent draws, and alone
  they over-reject long windows on fat tails (6.6-7% at ``L2 = 16`` on iid t(5) residuals).

The reported p-value is the larger of the two: a rejection needs both references to call the
window extreme, so the test keeps its size whenever either reference is right (measured in
``docs/validation.md``, Volatility). For a one-day window the blocks are single days, the same
reference as the permutation, and the day p-value alone is reported.

The random subsets come from a generator seeded with :data:`SEED`, ``n = L1 + L2`` and ``L2``,
so a pair's p-value does not depend on the other pairs, windows or runs.
"""

from __future__ import annotations

import functools

import numpy as np

from eventstudy.volatility.base import Measure, flag

PERMUTATIONS = 999
"""Random subsets per pair and window (p-values are multiples of 1/1000)."""
SEED = 20_261_201
MIN_BLOCKS = 20
"""A calibrated p-value needs at least this many estimation-window blocks."""
_CELLS_PER_CHUNK = 4_000_000


def pooled(reference: np.ndarray, length: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Each pair's estimation values followed by its window values, shape (N, M + L2).

    Parameters
    ----------
    reference : ndarray, shape (N, M)
        Estimation-day values in sample order, left-aligned (the first ``length`` are real).
    length : ndarray of int, shape (N,)
    window : ndarray, shape (N, L2)

    Examples
    --------
    >>> pooled(np.array([[1.0, 2.0, np.nan]]), np.array([2]), np.array([[9.0]]))
    array([[ 1.,  2.,  9., nan]])
    """
    n_rows, width = reference.shape
    l2 = window.shape[1]
    out = np.full((n_rows, width + l2), np.nan)
    out[:, :width] = np.where(np.arange(width)[None, :] < np.asarray(length)[:, None],
                              reference, np.nan)
    columns = np.asarray(length)[:, None] + np.arange(l2)[None, :]
    np.put_along_axis(out, columns, window, axis=1)
    return out


@functools.lru_cache(maxsize=256)
def subsets(size: int, l2: int) -> np.ndarray:
    """The ``PERMUTATIONS`` random ``l2``-subsets of ``range(size)`` (rows), reproducibly
    (drawn once per ``(size, l2)`` and process; the array is read-only).

    Examples
    --------
    >>> picks = subsets(10, 3)
    >>> picks.shape, bool((np.sort(picks, axis=1)[:, 1:] > np.sort(picks, axis=1)[:, :-1]).all())
    ((999, 3), True)
    """
    rng = np.random.default_rng([SEED, size, l2])
    picks = np.empty((PERMUTATIONS, l2), dtype=np.intp)
    for k, top in enumerate(range(size - l2, size)):  # Floyd's sampling without replacement
        draw = rng.integers(0, top + 1, PERMUTATIONS)
        taken = (picks[:, :k] == draw[:, None]).any(axis=1)
        picks[:, k] = np.where(taken, top, draw)
    picks.flags.writeable = False
    return picks


def subset_sums(values: np.ndarray, size: np.ndarray, l2: int) -> np.ndarray:
    """Sums of each row's ``values`` over its random ``l2``-subsets, shape (N, B).

    Parameters
    ----------
    values : ndarray, shape (N, W)
        Pooled values (:func:`pooled`); the first ``size`` of each row are used.
    size : ndarray of int, shape (N,)
        ``L1 + L2`` of each row.
    l2 : int
    """
    sums = np.full((len(values), PERMUTATIONS), np.nan)
    chunk = max(1, _CELLS_PER_CHUNK // (PERMUTATIONS * l2))
    for n in np.unique(size):
        if n <= l2:
            continue
        picks = subsets(int(n), l2)
        rows = np.flatnonzero(size == n)
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            sums[part] = values[part][:, picks].sum(axis=2)
    return sums


def block_means(packed: np.ndarray, length: np.ndarray, l2: int) -> np.ndarray:
    """Mean of every run of ``l2`` consecutive sample values of each pair.

    Parameters
    ----------
    packed : ndarray, shape (N, M)
        Values in sample order, left-aligned (``M`` >= every length; the padding is ignored).
    length : ndarray of int, shape (N,)
        Number of real values of each pair.
    l2 : int
        Block length.

    Returns
    -------
    ndarray, shape (N, max(M - l2 + 1, 1))
        Block ``j`` covers sample days ``j .. j + l2 - 1``; NaN where the block does not lie
        inside the pair's sample or contains a non-finite value.

    Examples
    --------
    >>> block_means(np.array([[1.0, 2.0, 3.0, np.nan]]), np.array([3]), 2)
    array([[1.5, 2.5, nan]])
    """
    n_rows, width = packed.shape
    n_blocks = width - l2 + 1
    if n_blocks < 1:
        return np.full((n_rows, 1), np.nan)
    finite = np.isfinite(packed)
    sums = np.zeros((n_rows, width + 1))
    sums[:, 1:] = np.cumsum(np.where(finite, packed, 0.0), axis=1)
    bad = np.zeros((n_rows, width + 1))
    bad[:, 1:] = np.cumsum(~finite, axis=1)
    total = sums[:, l2:] - sums[:, :-l2]
    holes = bad[:, l2:] - bad[:, :-l2]
    inside = np.arange(n_blocks)[None, :] + l2 <= np.asarray(length)[:, None]
    return np.where(inside & (holes == 0), total / l2, np.nan)


def block_and_rest_means(packed: np.ndarray, length: np.ndarray,
                         l2: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of every block of ``l2`` sample days and mean of the *other* sample days.

    Returns
    -------
    block, rest : ndarray, shape (N, B)
        NaN where the block does not exist (see :func:`block_means`).

    Examples
    --------
    >>> block, rest = block_and_rest_means(np.array([[1.0, 3.0, 5.0, 7.0]]), np.array([4]), 2)
    >>> block, rest
    (array([[2., 4., 6.]]), array([[6., 4., 2.]]))
    """
    block = block_means(packed, length, l2)
    total = np.nansum(np.where(np.isfinite(packed), packed, 0.0), axis=1)[:, None]
    count = (np.asarray(length) - l2).astype(float)[:, None]
    with np.errstate(all="ignore"):
        rest = np.where(count > 0, (total - block * l2) / count, np.nan)
    return block, rest


def permutation_p(observed: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Two-sided permutation p-value of each row's observed value against its null values.

    ``min(1, 2 min(k_ge + 1, k_le + 1) / (n + 1))`` with ``n`` the number of finite null
    values; NaN where the observed value is not finite or there is no null value.

    Examples
    --------
    >>> null = np.arange(1.0, 40.0)[None, :]          # 39 values: 1, 2, ..., 39
    >>> permutation_p(np.array([100.0]), null)        # beyond all: 2 * 1 / 40
    array([0.05])
    """
    observed = np.asarray(observed, dtype=float)[:, None]
    valid = np.isfinite(null)
    n_null = valid.sum(axis=1)
    with np.errstate(invalid="ignore"):
        k_ge = (valid & (null >= observed)).sum(axis=1)
        k_le = (valid & (null <= observed)).sum(axis=1)
    p = np.minimum(1.0, 2.0 * (np.minimum(k_ge, k_le) + 1.0) / (n_null + 1.0))
    return np.where(np.isfinite(observed[:, 0]) & (n_null > 0), p, np.nan)


def window_sum_null(reference: np.ndarray, length: np.ndarray,
                    window: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The permutation null of a window sum: observed sums, subset sums and pooled totals.

    Returns
    -------
    observed : ndarray, shape (N,)
        ``sum`` of the window values.
    null : ndarray, shape (N, B)
        Sums over the random subsets of the pooled days.
    total : ndarray, shape (N,)
        Sum over all pooled days (a statistic ``f(window sum, total)`` has the null
        ``f(null, total)``).
    """
    values = pooled(reference, length, window)
    size = np.asarray(length) + window.shape[1]
    total = np.nansum(values, axis=1)
    null = subset_sums(np.where(np.isfinite(values), values, 0.0), size, window.shape[1])
    return window.sum(axis=1), null, total


def calibrate(measure: Measure, days: tuple[np.ndarray, np.ndarray],
              blocks: tuple[np.ndarray, np.ndarray]) -> Measure:
    """Set ``measure.p_value`` to the larger of the day-permutation and block p-values.

    Parameters
    ----------
    measure : Measure
    days, blocks : (observed, null)
        Observed values (N,) and reference values (N, B) of each reference set (the observed
        values may differ in scale, e.g. a sum against subset sums, a ratio against block
        ratios). ``n_null`` is set to the number of blocks; a pair with fewer than
        :data:`MIN_BLOCKS` blocks is 'insufficient'.
    """
    n_blocks = np.isfinite(blocks[1]).sum(axis=1)
    flag(measure.status, measure.message, n_blocks < MIN_BLOCKS,
         np.array([f"{n} estimation-window blocks; the calibrated p-value needs {MIN_BLOCKS}"
                   for n in n_blocks], dtype=object))
    p_days = permutation_p(*days)
    one_day = np.asarray(measure.n) == 1  # one-day blocks are days: the same reference twice
    measure.p_value = np.where(one_day, p_days, np.maximum(p_days, permutation_p(*blocks)))
    measure.n_null = n_blocks
    return measure
