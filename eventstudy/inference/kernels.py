"""Array kernels shared by the statistics: moments, ranks, sorted rows, correlations.

Everything works on rows (one row per pair or per cross-section) and is vectorised over
rows; NaN marks a missing cell.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

# A value set counts as constant when its spread is below this share of its magnitude.
RELATIVE_TOLERANCE = 1e-12


def chunks(n_items: int, cells_per_item: int, budget: int = 2_000_000) -> list[slice]:
    """Slices over ``n_items`` so that one slice holds about ``budget`` array cells."""
    step = max(1, budget // max(cells_per_item, 1))
    return [slice(start, start + step) for start in range(0, n_items, step)]


MIN_PAIRS = 2
"""Pairs of the smallest slice when the panel has more: numpy multiplies a one-column matrix
with a matrix-vector product, whose last bit can differ from the matrix product the same
column gets in a wider slice."""


def pair_slices(n_pairs: int, size: int) -> list[slice]:
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


# ----------------------------------------------------------------------------- moments


def mean_sd(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row means and sample s.d. (divisor n - 1) of ``x`` over the cells ``m``."""
    n = m.sum(axis=1)
    mean = np.where(m, x, 0.0).sum(axis=1) / n
    deviation = np.where(m, x - mean[:, None], 0.0)
    return mean, np.sqrt((deviation**2).sum(axis=1) / (n - 1))


def is_constant(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Rows whose values over ``m`` are all equal (spread below a relative tolerance)."""
    high = np.where(m, x, -np.inf).max(axis=1, initial=-np.inf)
    low = np.where(m, x, np.inf).min(axis=1, initial=np.inf)
    spread = high - low
    size = np.maximum(np.abs(high), np.abs(low))
    return m.any(axis=1) & (spread <= RELATIVE_TOLERANCE * size)


def distinct_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, inverse)`` of the rows of a boolean matrix.

    ``first`` indexes the first occurrence of each distinct row (in order of appearance),
    ``inverse[k]`` is the number of the distinct row equal to row k.
    """
    if len(m) == 0 or (m == m[0]).all():  # one member set (the common case): no hashing
        return np.zeros(min(len(m), 1), dtype=np.intp), np.zeros(len(m), dtype=np.intp)
    seen: dict[bytes, int] = {}
    packed = np.packbits(m, axis=1)
    inverse = np.array([seen.setdefault(row.tobytes(), len(seen)) for row in packed], dtype=np.intp)
    return np.unique(inverse, return_index=True)[1], inverse


def is_every_row(rows: np.ndarray, n_rows: int) -> bool:
    """True when the integer index ``rows`` is ``0, 1, ..., n_rows - 1`` (a take would copy all).

    Examples
    --------
    >>> is_every_row(np.arange(3), 3), is_every_row(np.array([0, 2, 1]), 3)
    (True, False)
    """
    rows = np.asarray(rows)
    return len(rows) == n_rows and bool((rows == np.arange(n_rows)).all())


def member_sums(m: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``m.astype(float) @ matrix``: per cross-section sums of the member pairs' rows.

    The product runs over the distinct member sets only (most days and windows of a scope
    hold the same pairs).
    """
    if len(m) < 2:
        return m.astype(float) @ matrix
    first, inverse = distinct_rows(m)
    return (m[first].astype(float) @ matrix)[inverse]


# ------------------------------------------------------------------------------- ranks


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks (1-based, ties averaged) along the last axis; NaN cells stay NaN.

    Examples
    --------
    >>> average_ranks(np.array([[3.0, 1.0, 3.0, np.nan]]))
    array([[2.5, 1. , 2.5, nan]])
    """
    return ranks_and_order(values)[0]


def ranks_and_order(
    values: np.ndarray, order: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(ranks, order, ordered)``: average ranks, the sorting permutation, sorted values.

    Sorting is along the last axis, NaN last. ``order``, optional, is a permutation that
    probably sorts the rows (e.g. that of the same values before a positive rescaling):
    rows it leaves unsorted are sorted again. Ties are rare, so the tie-averaging pass runs
    only on rows that have one (without ties the average rank is the position + 1).
    """
    shape = values.shape
    size = shape[-1]
    flat = np.asarray(values, dtype=float).reshape(int(np.prod(shape[:-1])), size)
    if order is None:
        order, ordered = _sorted(flat)
    else:
        order = np.array(order, dtype=np.intp).reshape(flat.shape)
        ordered = np.take_along_axis(flat, order, axis=1)
        missing = np.isnan(ordered)
        unsorted = (ordered[:, 1:] < ordered[:, :-1]).any(axis=1) | (
            missing[:, :-1] & ~missing[:, 1:]
        ).any(axis=1)
        if unsorted.any():
            order[unsorted], ordered[unsorted] = _sorted(flat[unsorted])
    average = np.broadcast_to(np.arange(1.0, size + 1.0), flat.shape).copy()
    tied = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if tied.any():
        average[tied] = _tied_average_ranks(ordered[tied])
    average[np.isnan(ordered)] = np.nan
    ranks = np.empty(flat.shape)
    put_rows(ranks, order, average)
    return ranks.reshape(shape), order.reshape(shape), ordered.reshape(shape)


def put_rows(target: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
    """``target[i, columns[i, j]] = values[i, j]`` for a 2-d ``target``: what
    ``np.put_along_axis(target, columns, values, axis=1)`` does, through one flat index (about
    four times faster), :data:`_SCATTER_CELLS` cells at a time. A column named twice in a row
    gets one of its values, as there.

    Examples
    --------
    >>> target = np.zeros((2, 3))
    >>> put_rows(target, np.array([[2, 0], [1, 1]]), np.array([[5.0, 6.0], [7.0, 8.0]]))
    >>> target
    array([[6., 0., 5.],
           [0., 8., 0.]])
    """
    if not target.flags.c_contiguous:
        np.put_along_axis(target, np.asarray(columns, dtype=np.intp), values, axis=1)
        return
    values = np.broadcast_to(values, columns.shape)
    n_rows, width = target.shape
    block = max(1, _SCATTER_CELLS // max(columns.shape[1], 1))  # the flat index: 8 MB at most
    for start in range(0, n_rows, block):
        rows = slice(start, start + block)
        flat = np.array(columns[rows], dtype=np.intp)
        flat += (np.arange(start, start + len(flat), dtype=np.intp) * width)[:, None]
        target.reshape(-1)[flat.ravel()] = values[rows].ravel()


def sort_order(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, axis=1)`` up to the order within ties (NaN last), faster.

    Sorts integer keys -- the float's order-preserving bit pattern with its lowest bits
    replaced by the column index -- and reads the permutation off the low bits. Rows where
    values differing only in those dropped bits came out of order are argsorted instead.
    """
    return _sorted(values)[0]


def _sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, ordered)``: :func:`sort_order` and the values it puts in order."""
    values = np.ascontiguousarray(values, dtype=float)
    size = values.shape[1]
    if size < 2:
        return np.zeros(values.shape, dtype=np.intp), values.copy()
    bits = np.uint64((size - 1).bit_length())
    # negative: all bits flipped; otherwise the sign bit set (all ones or the sign bit, XOR)
    key = (values.view(np.int64) >> 63).view(np.uint64)
    key |= np.uint64(1 << 63)
    key ^= values.view(np.uint64)
    key[np.isnan(values)] = np.uint64(0xFFFFFFFFFFFFFFFF)
    key >>= bits
    key <<= bits
    key |= np.arange(size, dtype=np.uint64)
    key.sort(axis=1)
    order = (key & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.intp)
    ordered = np.take_along_axis(values, order, axis=1)
    unsorted = (ordered[:, 1:] < ordered[:, :-1]).any(axis=1)
    if unsorted.any():
        order[unsorted] = np.argsort(values[unsorted], axis=1)
        ordered[unsorted] = np.take_along_axis(values[unsorted], order[unsorted], axis=1)
    return order, ordered


def _tied_average_ranks(ordered: np.ndarray) -> np.ndarray:
    """1-based average ranks of the rows of ``ordered`` (each sorted, NaN last)."""
    size = ordered.shape[-1]
    position = np.broadcast_to(np.arange(size), ordered.shape)
    first = np.ones(ordered.shape, dtype=bool)
    first[..., 1:] = ordered[..., 1:] != ordered[..., :-1]  # NaN != NaN: own group
    last = np.ones(ordered.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    start = np.maximum.accumulate(np.where(first, position, 0), axis=-1)
    end = np.flip(np.minimum.accumulate(np.flip(np.where(last, position, size), -1), -1), -1)
    return (start + end) / 2.0 + 1.0


_SCATTER_CELLS = 1 << 20
"""Cells per block of :meth:`SortedRows.from_positions` (its index arrays: 8 MB)."""


@dataclass(frozen=True)
class SortedRows:
    """Each row's non-NaN values in ascending order, for counting by bisection.

    A rank test adds a few values (a window's abnormal returns) to a pair's estimation
    values; :meth:`count_below` gives where each added value falls, :func:`added_value_shifts`
    how much every estimation value's rank moves.

    Attributes
    ----------
    values : ndarray, shape (N, W)
        Ascending, NaN-padded; W a power of two above every row size.
    size : ndarray, shape (N,)
        Number of non-NaN values of the row.
    position : ndarray of int, shape (N, T)
        Position of each cell in its sorted row (0-based), -1 where NaN.
    rank : ndarray, shape (N, T), or None
        Average ranks within the row (as :func:`average_ranks`); None for rows made
        :meth:`from_positions` with :attr:`rank_or_zero` only (what the rank sums read).
    order : ndarray of int, shape (N, T), or None
        The sorting permutation of each row (NaN cells last); None when not kept.
    """

    values: np.ndarray | None
    size: np.ndarray
    position: np.ndarray
    rank: np.ndarray | None
    order: np.ndarray | None

    @classmethod
    def build(cls, values: np.ndarray, like: SortedRows | None = None) -> SortedRows:
        """Sort the rows of ``values``; ``like``: rows probably sorted the same way.

        ``like`` (e.g. the same values before a positive rescaling) saves the sort of the
        rows it orders correctly; the result is the same either way.
        """
        n_rows, n_cols = values.shape
        rank, order, ordered = ranks_and_order(values, None if like is None else like.order)
        missing = np.isnan(values)
        size = (~missing).sum(axis=1).astype(np.int64)
        width = 1 << int(size.max(initial=0)).bit_length()  # > every size
        padded = np.full((n_rows, width), np.nan)
        kept = min(width, n_cols)
        padded[:, :kept] = ordered[:, :kept]
        dtype = np.int16 if n_cols < np.iinfo(np.int16).max else np.int32
        position = np.empty(values.shape, dtype=dtype)
        cells = np.broadcast_to(np.arange(n_cols, dtype=dtype), values.shape)
        put_rows(position, order, cells)
        position[missing] = -1
        return cls(values=padded, size=size, position=position, rank=rank, order=order)

    @classmethod
    def from_positions(
        cls, position: np.ndarray, rank: np.ndarray | None, values: np.ndarray | None = None,
        observed: np.ndarray | None = None, rank_or_zero: np.ndarray | None = None,
    ) -> SortedRows:
        """Rows known by their cells' sorted positions and ranks (as :meth:`build` found them).

        ``values`` (N, T), optional, are the cells themselves: they are put in sorted order
        (the same padded rows :meth:`build` makes; a cell without a position is left out,
        whatever it holds) for :meth:`count_below`; without them
        only ``position`` and ``rank`` can be read. ``observed``, optional: :attr:`observed`
        already made by the caller (``(position >= 0)`` as floats), kept instead of a copy.
        ``rank_or_zero`` instead of ``rank`` (None): the ranks with 0 where missing, the only
        form the rank sums read (one (N, T) array instead of two).
        """
        if (rank is None) == (rank_or_zero is None):
            raise ValueError("give the ranks either with NaN (rank) or with 0 (rank_or_zero)")
        size = (position >= 0).sum(axis=1).astype(np.int64)
        padded = None
        if values is not None:  # cells without a position go to the last column, NaN padding
            width = 1 << int(size.max(initial=0)).bit_length()  # > every size
            padded = np.full((len(size), width), np.nan)
            block = max(1, _SCATTER_CELLS // max(position.shape[1], 1))
            for start in range(0, len(size), block):  # a block of rows at a time: small indices
                rows = slice(start, start + block)
                column = np.where(position[rows] >= 0, position[rows], width - 1).astype(np.intp)
                put_rows(padded[rows], column, values[rows])
            padded[:, width - 1] = np.nan  # whatever those cells held
        rows = cls(values=padded, size=size, position=position, rank=rank, order=None)
        for name, given in (("observed", observed), ("rank_or_zero", rank_or_zero)):
            if given is not None:
                rows.__dict__[name] = given  # the cached_property's own slot
        return rows

    @cached_property
    def rank_or_zero(self) -> np.ndarray:
        """``rank`` with 0 where the cell is missing (for sums of ranks)."""
        return np.where(np.isfinite(self.rank), self.rank, 0.0)

    @cached_property
    def observed(self) -> np.ndarray:
        """1.0 where the cell has a value, 0.0 where it is missing."""
        return (self.position >= 0).astype(float)

    def scaled(self, scale: np.ndarray) -> SortedRows:
        """The rows of ``values / scale`` (one positive scale per row; a NaN scale makes the row
        missing), as :meth:`build` with ``like=self`` would give them, without sorting again.

        Division by a positive number keeps the order, so only the ranks of rows where it
        creates ties (values that differed in their last bits) are averaged again.
        """
        usable = scale > 0
        divisor = np.where(usable, scale, np.nan)[:, None]
        size = np.where(usable, self.size, 0)
        width = 1 << int(size.max(initial=0)).bit_length()  # > every size
        values = np.ascontiguousarray(self.values[:, :width] / divisor)
        position = np.where(usable[:, None], self.position, -1).astype(self.position.dtype)
        rank = np.where(usable[:, None], self.rank, np.nan)
        before = self.values[:, 1:width] == self.values[:, : width - 1]
        new_ties = np.flatnonzero(((values[:, 1:] == values[:, :-1]) & ~before).any(axis=1))
        if len(new_ties):
            ordered = values[new_ties]
            average = _tied_average_ranks(ordered)
            average[np.isnan(ordered)] = np.nan
            kept = min(width, self.order.shape[1])  # sorted cells beyond a row's width: NaN
            rows = rank[new_ties]
            np.put_along_axis(rows, self.order[new_ties, :kept], average[:, :kept], axis=1)
            rank[new_ties] = rows
        return SortedRows(values=values, size=size, position=position, rank=rank,
                          order=self.order)

    def take(self, rows: np.ndarray) -> SortedRows:
        """The rows ``rows`` (integer index); ``self`` when ``rows`` are all rows in order."""
        if is_every_row(rows, len(self.size)):
            return self
        taken = SortedRows(
            None if self.values is None else self.values[rows],
            self.size[rows],
            self.position[rows],
            None if self.rank is None else self.rank[rows],
            None if self.order is None else self.order[rows],
        )
        if self.rank is None:
            taken.__dict__["rank_or_zero"] = self.rank_or_zero[rows]
        return taken

    def count_below(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numbers of values of each row below and at most ``queries`` (N, K).

        Both are 0 for a NaN query (it compares False with everything).
        """
        rows = np.broadcast_to(np.arange(len(self.size))[:, None], queries.shape)
        at_most = self._bisect(rows, queries, inclusive=True)
        # "below" differs only where the row holds the query value itself: bisect those again
        width = self.values.shape[1]
        largest = self.values.ravel()[rows * width + np.maximum(at_most - 1, 0)]
        tied = (at_most > 0) & (largest == queries)
        below = at_most.copy()
        if tied.any():
            below[tied] = self._bisect(rows[tied], queries[tied], inclusive=False)
        return below, at_most

    def _bisect(self, rows: np.ndarray, queries: np.ndarray, inclusive: bool) -> np.ndarray:
        """Branch-free bisection: the NaN padding compares False, so no row bounds needed."""
        width = self.values.shape[1]
        flat = self.values.ravel()
        cursor = rows * width - 1  # flat index of the last value counted so far
        step = width >> 1
        while step:
            value = flat[cursor + step]
            cursor += step * ((value <= queries) if inclusive else (value < queries))
            step >>= 1
        return cursor - rows * width + 1


def added_value_shifts(
    position: np.ndarray,
    below: np.ndarray,
    at_most: np.ndarray,
    members: np.ndarray,
    bounds: np.ndarray,
) -> np.ndarray:
    """Column sums of the rank shift one added value causes in each pair's row.

    Adding a value ``v_i`` to pair i's values moves the rank of every value above ``v_i`` up
    by one and of every value equal to it up by one half. With ``below_i`` / ``at_most_i``
    the numbers of the pair's values ``<`` / ``<=`` ``v_i``, a cell at sorted position ``p``
    is above ``v_i`` iff ``p >= at_most_i`` and equal iff ``below_i <= p < at_most_i``.
    Shifts are halves and the sums are formed in float32, exact below 2^23.

    Parameters
    ----------
    position : ndarray of int, shape (R, T)
        Sorted positions of the cells (:attr:`SortedRows.position`), -1 where missing.
    below, at_most : ndarray of int, shape (R,) or (K, R)
        Counts of the added value of each pair: one for every cross-section, or one per
        cross-section.
    members : ndarray of bool, shape (K, R)
        Pairs of each cross-section.
    bounds : ndarray of int, shape (G + 1,)
        Row offsets of G consecutive groups of pairs (sums are kept per group).

    Returns
    -------
    ndarray, shape (K, G, T)
        ``sum over the members i of group g of shift_k[i, t]``.
    """
    n_sections, n_groups = members.shape[0], len(bounds) - 1
    n_rows, n_cols = position.shape
    out = np.zeros((n_sections, n_groups, n_cols))
    if n_sections == 0 or n_rows == 0:
        return out
    rows_per_block = max(1, SHIFT_CELLS // max(n_cols, 1))
    for start in range(0, n_rows, rows_per_block):  # blocks of pairs: the sums are exact
        stop = min(start + rows_per_block, n_rows)
        groups = [(g, max(bounds[g], start), min(bounds[g + 1], stop)) for g in range(n_groups)
                  if bounds[g] < stop and bounds[g + 1] > start]
        cells = position[start:stop]
        if below.ndim == 1:  # one added value per pair, shared by every cross-section
            above = _shift_matrix(cells, below[start:stop], at_most[start:stop])
            weights = members[:, start:stop].astype(np.float32)
            for g, a, b in groups:
                out[:, g] += weights[:, a - start : b - start] @ above[a - start : b - start]
            continue
        step = max(1, SHIFT_CELLS // max((stop - start) * n_cols, 1))  # cross-sections per block
        for first in range(0, n_sections, step):
            block = slice(first, first + step)
            for g, a, b in groups:
                rows = slice(a, b)
                out[block, g] += 0.5 * _doubled_shift_counts(
                    position[rows], below[block, rows], at_most[block, rows], members[block, rows]
                )
    return out


def _doubled_shift_counts(
    cells: np.ndarray, below: np.ndarray, at_most: np.ndarray, members: np.ndarray
) -> np.ndarray:
    """Twice the column sums of the members' rank shifts, one added value per pair and
    cross-section: ``sum_i [p_it >= at_most_ki] + [p_it >= below_ki]`` (a cell above the added
    value counts 2, a tied one 1), shape (K, T), counted as integers.

    Non-members never count (their bounds are past every position), nor do missing cells
    (position -1). Without ties (``below == at_most`` for every member) one comparison does.
    """
    never = np.iinfo(cells.dtype).max
    high = np.where(members, at_most, never).astype(cells.dtype)
    counts = count_true(np.greater_equal(cells, high[..., None]), axis=1)
    counts *= 2
    tied = members & (at_most > below)
    if tied.any():
        k, i = np.nonzero(tied)
        low = below[k, i].astype(cells.dtype)[:, None]
        between = (cells[i] >= low) & (cells[i] < high[k, i][:, None])
        np.add.at(counts, k, between.astype(np.int64))
    return counts


def count_true(flags: np.ndarray, axis: int) -> np.ndarray:
    """``flags.sum(axis=axis)`` of a bool array as int64, summed as uint16 over blocks of at most
    65,535 entries (exact: no block can overflow) -- about twice as fast as summing bools into
    int64 directly, which casts every entry.

    Examples
    --------
    >>> count_true(np.array([[True, False], [True, True]]), axis=0)
    array([2, 1])
    """
    flags = np.moveaxis(flags.view(np.uint8), axis, 0)
    counts = np.zeros(flags.shape[1:], dtype=np.int64)
    for start in range(0, flags.shape[0], _UINT16_TERMS):
        counts += flags[start : start + _UINT16_TERMS].sum(axis=0, dtype=np.uint16)
    return counts


_UINT16_TERMS = np.iinfo(np.uint16).max


SHIFT_CELLS = 4_000_000
"""Cells of the shift block :func:`added_value_shifts` forms at once ((pairs, columns) float32,
16 MB, or (cross-sections, pairs, columns) bool, 4 MB); a larger set is shifted in blocks."""


def _shift_matrix(position: np.ndarray, below: np.ndarray, at_most: np.ndarray) -> np.ndarray:
    """Per cell of the (R, T) ``position``: 1 above the pair's added value, 1/2 equal to it, 0
    below or missing (float32)."""
    above = np.greater_equal(position, at_most.astype(position.dtype)[:, None]).astype(np.float32)
    tied = np.flatnonzero(at_most > below)
    if len(tied):
        cells = position[tied]
        above[tied] += 0.5 * ((cells >= below[tied, None]) & (cells < at_most[tied, None]))
    return above


def group_bounds(keys: np.ndarray) -> np.ndarray:
    """Offsets of the runs of equal values in ``keys`` (sorted): ``[0, ..., len(keys)]``."""
    keys = np.asarray(keys)
    if len(keys) == 0:
        return np.zeros(1, dtype=np.intp)
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate([[0], change, [len(keys)]]).astype(np.intp)


# ------------------------------------------------------------------------ correlations


def mean_offdiagonal_correlation(residuals: np.ndarray) -> float:
    """Kolari-Pynnonen ``r_bar``: mean off-diagonal Pearson correlation of residual rows.

    Each correlation uses the pairwise-complete columns of the two rows (columns where
    both are finite) with means over those columns; pairs with fewer than two common
    columns or a constant row on them are left out of the mean (Kolari & Pynnonen 2010; Stata estudy).

    Parameters
    ----------
    residuals : ndarray, shape (N, T)
        Estimation residuals, NaN where missing.

    Returns
    -------
    float
        ``r_bar``; NaN when no pair of rows has a defined correlation.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 4.0], [3.0, 2.0, 1.0]])
    >>> round(mean_offdiagonal_correlation(x), 6)
    -0.333333
    """
    residuals = np.asarray(residuals, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        structure = CorrelationStructure.build(residuals)
        total, count = structure.pair_sums(np.ones((1, residuals.shape[0]), dtype=bool))
    return float(total[0] / count[0]) if count[0] else float("nan")


def row_means(filled: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Means of the rows of ``filled`` (0 where missing) over their ``count`` values (0 for none).

    Examples
    --------
    >>> row_means(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0]]), np.array([2, 0]))
    array([1.5, 0. ])
    """
    return filled.sum(axis=1) / np.maximum(count, 1)


def r_bar_from_sums(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean correlation from summed correlations and their number (NaN for none)."""
    return np.where(count > 0, total / np.where(count > 0, count, 1.0), np.nan)


@dataclass(frozen=True)
class CorrelationStructure:
    """Sums of pairwise-complete Pearson correlations without the N x N matrix.

    ``corr_ij`` uses the columns where rows i and j are both finite, with means over those
    columns; a pair counts only with at least two common columns and both rows
    non-constant on them. Rows sharing one missing-data pattern ("groups") are handled
    together: for i in group A and j in group B the common columns are the intersection
    M_AB of the two patterns, so ``sum_{i in A, j in B} corr_ij`` is the inner product of
    two weighted row sums over M_AB -- O(N T) per pattern pair instead of O(N^2 T). Rows
    whose pattern is rare are correlated with every row directly, in blocks of rows.
    """

    centred: np.ndarray  # (N, T) row minus its mean, 0 where missing
    mask: np.ndarray  # (N, T) 0/1 floats
    group: np.ndarray  # (N,) group index, -1 for rows handled directly
    common: np.ndarray  # (p, p) number of columns of M_AB
    weight: np.ndarray  # (N, p) 1/sqrt(sum of squared deviations over M_{g(i)B}), 0 if invalid
    sums: np.ndarray  # (N, p) sum of centred values over M_{g(i)B}
    valid: np.ndarray  # (N, p) row usable against group B
    direct: np.ndarray  # (n_d,) indices of rows handled directly

    #: The largest patterns (with two rows or more) are always grouped, up to this many.
    _MAX_GROUPS = 48
    #: Beyond those, a pattern is grouped when it has at least this many rows: a directly
    #: handled row costs a pass over all N rows, an extra group one pass per cross-section,
    #: so without it a scope with many common patterns (many events pooled) costs O(N^2 T).
    _EXTRA_GROUP_ROWS = 8
    #: Most groups in all (the working arrays hold G x G x T cells per cross-section).
    _GROUP_LIMIT = 160
    _BLOCK_CELLS = 2_000_000

    @classmethod
    def build(cls, residuals: np.ndarray) -> CorrelationStructure:
        finite = np.isfinite(residuals)
        filled = np.where(finite, residuals, 0.0)
        return cls.from_filled(filled, finite, row_means(filled, finite.sum(axis=1)))

    @classmethod
    def from_filled(
        cls, filled: np.ndarray, finite: np.ndarray, row_mean: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> CorrelationStructure:
        """:meth:`build` from the residuals with 0 where missing, where they are finite, and
        the rows' means (:func:`row_means`; a pair's, so it can be kept per pair); ``mask``:
        ``finite`` as 0/1 floats where the caller has them already (then shared, not copied)."""
        centred = filled - row_mean[:, None]
        centred[~finite] = 0.0
        mask = finite.astype(float) if mask is None else mask
        if len(finite) and (finite == finite[0]).all():  # one missing-data pattern
            patterns, inverse = finite[:1], np.zeros(len(finite), dtype=int)
            sizes = np.array([len(finite)])
        else:
            packed = np.ascontiguousarray(np.packbits(finite, axis=1))
            keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
            _, first, inverse, sizes = np.unique(
                keys, return_index=True, return_inverse=True, return_counts=True
            )
            patterns, inverse = finite[first], inverse.ravel()
        chosen = cls._grouped_patterns(sizes)
        lookup = np.full(len(patterns), -1)
        lookup[chosen] = np.arange(len(chosen))
        group = lookup[inverse] if len(inverse) else np.zeros(0, dtype=int)
        chosen_patterns = patterns[chosen].astype(float).reshape(len(chosen), mask.shape[1])
        common = chosen_patterns @ chosen_patterns.T
        sums = centred @ chosen_patterns.T
        squares = (centred**2) @ chosen_patterns.T
        n_common = common[np.maximum(group, 0)] if len(chosen) else np.zeros((len(group), 0))
        deviation = squares - sums**2 / np.maximum(n_common, 1.0)
        valid = (
            (group >= 0)[:, None]
            & (n_common >= 2)
            & (deviation > RELATIVE_TOLERANCE * np.maximum(squares, np.finfo(float).tiny))
        )
        weight = np.where(valid, 1.0 / np.sqrt(np.where(valid, deviation, 1.0)), 0.0)
        return cls(
            centred=centred,
            mask=mask,
            group=group,
            common=common,
            weight=weight,
            sums=np.where(valid, sums, 0.0),
            valid=valid,
            direct=np.flatnonzero(group < 0),
        )

    @classmethod
    def _grouped_patterns(cls, sizes: np.ndarray) -> list[int]:
        """Patterns handled as groups, largest first: the :attr:`_MAX_GROUPS` largest of two
        rows or more, then those of at least :attr:`_EXTRA_GROUP_ROWS` rows, at most
        :attr:`_GROUP_LIMIT` in all."""
        order = np.argsort(-sizes, kind="stable")
        chosen = [g for g in order[: cls._MAX_GROUPS] if sizes[g] >= 2]
        extra = [g for g in order[cls._MAX_GROUPS:] if sizes[g] >= cls._EXTRA_GROUP_ROWS]
        return chosen + extra[: max(cls._GROUP_LIMIT - len(chosen), 0)]

    def pair_sums(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sum and number of defined correlations over unordered pairs within each row of m."""
        total, count = self._grouped_sums(m)
        direct_total, direct_count = self._direct_sums(m)
        return total + direct_total, count + direct_count

    def _grouped_sums(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_groups = self.common.shape[0]
        n_sections = m.shape[0]
        total, count = np.zeros(n_sections), np.zeros(n_sections)
        if n_groups == 0:
            return total, count
        n_cols = self.centred.shape[1]
        chunk = max(1, self._BLOCK_CELLS // (n_groups * n_groups * max(n_cols, 1)))
        usable = self.common >= 2
        upper = np.triu(np.ones((n_groups, n_groups), dtype=bool), k=1) & usable
        diagonal = np.diag(usable)
        for start in range(0, n_sections, chunk):
            part = m[start : start + chunk].astype(float)
            size = part.shape[0]
            # u[k, A, B] = sum_{i in A} m_ki w_i^B x_i (a T-vector, zero off A's pattern)
            u = np.zeros((size, n_groups, n_groups, n_cols))
            v = np.zeros((size, n_groups, n_groups))
            c = np.zeros((size, n_groups, n_groups))
            for a in range(n_groups):
                rows = np.flatnonzero(self.group == a)
                coef = part[:, rows, None] * self.weight[None, rows, :]  # (k, i, B)
                flat = coef.transpose(0, 2, 1).reshape(size * n_groups, len(rows))
                u[:, a] = (flat @ self.centred[rows]).reshape(size, n_groups, n_cols)
                v[:, a] = (coef * self.sums[None, rows, :]).sum(axis=1)
                c[:, a] = part[:, rows] @ self.valid[rows].astype(float)
            inner = np.einsum("kabt,kbat->kab", u, u)
            term = inner - v * v.transpose(0, 2, 1) / np.maximum(self.common, 1.0)[None]
            pairs = c * c.transpose(0, 2, 1)
            same = np.diagonal(term, axis1=1, axis2=2)
            same_count = np.diagonal(c, axis1=1, axis2=2)
            total[start : start + size] = (term * upper).sum(axis=(1, 2)) + (
                0.5 * (same - same_count) * diagonal
            ).sum(axis=1)
            count[start : start + size] = (pairs * upper).sum(axis=(1, 2)) + (
                0.5 * same_count * (same_count - 1.0) * diagonal
            ).sum(axis=1)
        return total, count

    def _direct_sums(self, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pairs with at least one directly handled row, each unordered pair once."""
        n_sections = m.shape[0]
        total, count = np.zeros(n_sections), np.zeros(n_sections)
        if len(self.direct) == 0:
            return total, count
        n_rows = self.centred.shape[0]
        column_weight = np.ones(n_rows)
        column_weight[self.direct] = 0.5  # direct-direct pairs are met twice
        weights = m.astype(float) * column_weight[None, :]
        block = max(1, self._BLOCK_CELLS // max(n_rows, 1))
        x, mask = self.centred, self.mask
        for start in range(0, len(self.direct), block):
            rows = self.direct[start : start + block]
            corr, valid = _pairwise_block(x[rows], mask[rows], x, mask)
            valid[np.arange(len(rows)), rows] = False
            row_weight = m[:, rows].astype(float)
            total += (row_weight * (np.where(valid, corr, 0.0) @ weights.T).T).sum(axis=1)
            count += (row_weight * (valid.astype(float) @ weights.T).T).sum(axis=1)
        return total, count


def _pairwise_block(
    x_rows: np.ndarray, mask_rows: np.ndarray, x_all: np.ndarray, mask_all: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise-complete correlations of some rows with all rows (centred, zero-filled)."""
    common = mask_rows @ mask_all.T
    sum_i = x_rows @ mask_all.T
    sum_j = mask_rows @ x_all.T
    squares_i = (x_rows**2) @ mask_all.T
    squares_j = mask_rows @ (x_all**2).T
    safe = np.maximum(common, 1.0)
    cov = x_rows @ x_all.T - sum_i * sum_j / safe
    var_i = squares_i - sum_i**2 / safe
    var_j = squares_j - sum_j**2 / safe
    tiny = np.finfo(float).tiny
    valid = (
        (common >= 2)
        & (var_i > RELATIVE_TOLERANCE * np.maximum(squares_i, tiny))
        & (var_j > RELATIVE_TOLERANCE * np.maximum(squares_j, tiny))
    )
    corr = np.where(valid, cov / np.sqrt(np.where(valid, var_i * var_j, 1.0)), 0.0)
    return corr, valid
