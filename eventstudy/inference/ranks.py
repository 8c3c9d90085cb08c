"""Rank sums of the rank tests, per cross-section (Corrado, Corrado-Zivney, GRANK).

Corrado and Corrado-Zivney rank each pair's values over its estimation window plus the
days of *that* cross-section (``T_i = L1_i + L2``): a window's statistic never depends on
which other days or windows are tested. GRANK ranks the estimation SARs plus one value per
pair. Instead of sorting every (pair, cross-section) set, each pair's estimation values are
sorted once (:class:`~eventstudy.inference.kernels.SortedRows`); an added value's rank is
its position among them (bisection) plus its rank among the added values, and each
estimation value's rank rises by one for every added value below it (one half for a tie).
Ranks are integers or halves, so the sums are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eventstudy.inference.kernels import SortedRows, added_value_shifts, chunks, member_sums


@dataclass(frozen=True)
class RankSums:
    """Sums over a cross-section's pairs of ``w_i (rank_it - c_i)``, per column.

    Attributes
    ----------
    estimation : ndarray, shape (K, T)
        Sums over the pairs with an estimation value on grid column t.
    counts : ndarray, shape (K, T), or None
        Number of those pairs per column (None: left to the test, which knows the members;
        :func:`scope_rank_sums`).
    event : ndarray, shape (K, E)
        Sums over all members on each event-period day of the cross-section (0 elsewhere).
    """

    estimation: np.ndarray
    counts: np.ndarray | None
    event: np.ndarray


def window_rank_sums(
    est_sorted: SortedRows,
    event_values: np.ndarray,
    below: np.ndarray,
    at_most: np.ndarray,
    members: np.ndarray,
    selector: np.ndarray,
    weights: np.ndarray,
    centres: np.ndarray,
    bounds: np.ndarray,
    memo: dict | None = None,
) -> RankSums:
    """Weighted, centred rank sums when each cross-section adds its own days' values.

    For cross-section k and pair i the ranked set is the pair's estimation values plus
    ``event_values[i, d]`` for the days d of ``selector[k]``; ``rank_it`` is the average
    rank of a value in that set, and the sums are of ``w_ki (rank_it - c_ki)``.

    Parameters
    ----------
    est_sorted : SortedRows
        The pairs' estimation values, sorted.
    event_values : ndarray, shape (R, E)
        The values added on each event-period day.
    below, at_most : ndarray of int, shape (R, E)
        Estimation values ``<`` / ``<=`` each event value (``est_sorted.count_below``).
    members : ndarray of bool, shape (K, R)
        Pairs of each cross-section (their event values on its days must be finite).
    selector : ndarray of bool, shape (K, E)
        Days of each cross-section.
    weights, centres : ndarray, shape (K, R)
        ``w_ki`` and ``c_ki``; ``w_ki`` is constant within each group of ``bounds``.
    bounds : ndarray of int
        Consecutive groups of pairs (:func:`~eventstudy.inference.kernels.group_bounds`).
    memo : dict, optional
        Shift sums by (day, member set), shared by calls with the same ``est_sorted``,
        ``below``, ``at_most`` and ``bounds`` (e.g. a scope's days and its windows, which
        mostly hold the same pairs on a day). The sums are exact, so a kept one is the same.

    Returns
    -------
    RankSums
    """
    weighted = np.where(members, weights, 0.0)
    est_rank, est_weight = est_sorted.rank_or_zero, est_sorted.observed
    estimation = member_weighted(weighted, est_rank) - member_weighted(
        weighted * centres, est_weight
    )
    counts = member_sums(members, est_weight)
    group_weight = weights[:, bounds[:-1]]  # (K, G)
    shifts = _day_shifts(est_sorted.position, below, at_most, members, selector, bounds, memo)
    lengths = selector.sum(axis=1)
    if len(shifts):
        # each day's term of each section (one einsum over all of them: a (k, t) cell is summed
        # over the groups as in a call per day; one group: its one product), then each
        # section's sums plus its days' terms in day order (zeros after the last), added up
        # one row after the other: the additions of a day-by-day loop
        k, day = np.nonzero(selector)
        stacked = np.stack([shifts[d, s] for d, s in zip(day.tolist(), k.tolist())])
        if len(bounds) == 2:
            added = group_weight[k] * stacked[:, 0]
        else:
            added = np.einsum("kg,kgt->kt", group_weight[k], stacked)
        terms = np.zeros((len(selector), 1 + int(lengths.max()), estimation.shape[1]))
        terms[:, 0] = estimation
        step = np.arange(len(k)) - np.searchsorted(k, k)  # the day's place in its section
        terms[k, 1 + step] = added
        estimation = np.add.reduce(terms, axis=1)
    event = np.zeros(selector.shape)
    base = below + 0.5 * (at_most - below) + 1.0  # a day's rank among the estimation values
    single = np.flatnonzero(lengths == 1)
    if len(single):  # one day: no other added value to rank against (rank + 0.0, the same)
        day = selector[single].argmax(axis=1)
        deviation = np.where(members[single], base[:, day].T - centres[single], 0.0)
        # one dot product per cross-section, as weighted[k] @ deviation (R, 1) computes it
        event[single, day] = np.matmul(weighted[single, None, :], deviation[:, :, None])[:, 0, 0]
    for k in np.flatnonzero(lengths > 1):
        days = np.flatnonzero(selector[k])
        values = event_values[:, days]  # (R, L2)
        within = (values[:, None, :] < values[:, :, None]).sum(axis=2) + 0.5 * (
            (values[:, None, :] == values[:, :, None]).sum(axis=2) - 1
        )
        rank = below[:, days] + 0.5 * (at_most[:, days] - below[:, days]) + 1.0 + within
        deviation = np.where(members[k][:, None], rank - centres[k][:, None], 0.0)
        event[k, days] = weighted[k] @ deviation
    return RankSums(estimation=estimation, counts=counts, event=event)


def _day_shifts(
    position: np.ndarray,
    below: np.ndarray,
    at_most: np.ndarray,
    members: np.ndarray,
    selector: np.ndarray,
    bounds: np.ndarray,
    memo: dict | None,
) -> dict:
    """:func:`added_value_shifts` of each (day, cross-section holding it), ``{(day, k): (G, T)}``,
    all formed in one call; kept in ``memo`` by (day, member set)."""
    memo = {} if memo is None else memo
    packed = np.packbits(members, axis=1)
    keys = {(day, k): (day, packed[k].tobytes()) for day, k in zip(*np.nonzero(selector.T))}
    missing = list(dict.fromkeys(key for key in keys.values() if key not in memo))
    if missing:
        first = {}
        for (day, k), key in keys.items():
            first.setdefault(key, k)
        days = np.array([key[0] for key in missing])
        sections = np.array([first[key] for key in missing])
        found = added_value_shifts(
            position, below[:, days].T, at_most[:, days].T, members[sections], bounds
        )
        memo.update(zip(missing, found))
    return {(int(day), int(k)): memo[key] for (day, k), key in keys.items()}


def member_weighted(weights: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``weights @ matrix``, over the distinct weight rows only."""
    if len(weights) < 2:
        return weights @ matrix
    first, inverse = _distinct_float_rows(weights)
    return (weights[first] @ matrix)[inverse]


def _distinct_float_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = np.ascontiguousarray(rows)
    if len(rows) == 0 or (rows.view(np.uint8) == rows[:1].view(np.uint8)).all():  # bitwise equal
        return np.zeros(min(len(rows), 1), dtype=np.intp), np.zeros(len(rows), dtype=np.intp)
    seen: dict[bytes, int] = {}
    inverse = np.array(
        [seen.setdefault(row.tobytes(), len(seen)) for row in rows],
        dtype=np.intp,
    )
    return np.unique(inverse, return_index=True)[1], inverse


def one_value_rank_sums(
    est_sorted: SortedRows,
    added: np.ndarray,
    members: np.ndarray,
    weights: np.ndarray,
    bounds: np.ndarray,
    needed: np.ndarray | None = None,
    memo: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GRANK: weighted rank sums when each pair adds one value per cross-section.

    Parameters
    ----------
    est_sorted : SortedRows
        The pairs' estimation values, sorted.
    added : ndarray, shape (K, R)
        The value each pair adds in each cross-section (NaN for non-members).
    members : ndarray of bool, shape (K, R)
    weights : ndarray, shape (K, R)
        Constant within each group of ``bounds``.
    bounds : ndarray of int
        Consecutive groups of pairs.
    needed : ndarray of bool, shape (K,), optional
        Cross-sections whose sums are used (default all); the rank shifts of the others are
        not computed and their ``estimation`` is meaningless.
    memo : dict, optional
        Exact rank-shift sums by (added values, members), shared by calls with the same
        ``est_sorted`` and ``bounds`` (a one-day window adds the values of its day).

    Returns
    -------
    estimation : ndarray, shape (K, T)
        ``sum_i w_i rank_it`` over the estimation cells of column t.
    added_rank_sum : ndarray, shape (K,)
        ``sum_i w_i rank_i0`` of the added values.
    counts : ndarray, shape (K, T)
        Members with an estimation value on column t.
    """
    weighted = np.where(members, weights, 0.0)
    est_rank, est_weight = est_sorted.rank_or_zero, est_sorted.observed
    value = np.where(members, added, np.nan)
    below, at_most = est_sorted.count_below(value.T)  # (R, K)
    below, at_most = below.T, at_most.T
    needed = np.ones(len(members), dtype=bool) if needed is None else np.asarray(needed, bool)
    memo = {} if memo is None else memo
    keys = [
        (row.tobytes(), bits.tobytes()) for row, bits in zip(value, np.packbits(members, axis=1))
    ]
    todo = [k for k in np.flatnonzero(needed) if keys[k] not in memo]
    if todo:
        found = added_value_shifts(
            est_sorted.position, below[todo], at_most[todo], members[todo], bounds
        )
        memo.update(zip([keys[k] for k in todo], found))
    shifts = np.zeros((len(members), len(bounds) - 1, est_sorted.position.shape[1]))
    for k in np.flatnonzero(needed):
        shifts[k] = memo[keys[k]]
    estimation = member_weighted(weighted, est_rank) + np.einsum(
        "kg,kgt->kt", weights[:, bounds[:-1]], shifts
    )
    added_rank = 1.0 + below + 0.5 * (at_most - below)
    added_rank_sum = np.where(members, weighted * added_rank, 0.0).sum(axis=1)
    return estimation, added_rank_sum, member_sums(members, est_weight)


class ScopeMembers:
    """The pairs of S scopes as a sum operator: each scope's sum of per-pair rows.

    Pairs held by the same scopes form a part; a scope's sum is the sum of its parts' sums
    (fewer additions than one per (scope, pair)), and the parts' sums can be gathered over
    consecutive blocks of pairs. Integer rows only: the sums are exact, so the order of the
    additions does not matter.
    """

    def __init__(self, members: Sequence[np.ndarray], n_pairs: int) -> None:
        from scipy import sparse

        sizes = np.array([len(rows) for rows in members], dtype=np.int64)
        pairs = (np.concatenate([np.asarray(rows, dtype=np.int64) for rows in members])
                 if len(members) else np.zeros(0, dtype=np.int64))
        owner = np.repeat(np.arange(len(members)), sizes)
        by_pair = sparse.csr_matrix((np.ones(len(pairs), dtype=np.int32), (pairs, owner)),
                                    shape=(n_pairs, len(members)))
        by_pair.sum_duplicates()
        by_pair.sort_indices()
        keys = [by_pair.indices[a:b].tobytes() for a, b in zip(by_pair.indptr[:-1], by_pair.indptr[1:])]
        part_of: dict[bytes, int] = {}
        part = np.array([part_of.setdefault(key, len(part_of)) for key in keys], dtype=np.int64)
        held = np.flatnonzero(np.diff(by_pair.indptr) > 0)  # pairs in some scope
        self.n_scopes, self.n_parts = len(members), len(part_of)
        self.by_pair = by_pair  # (N, S)
        self.parts = sparse.csc_matrix(  # (P, N): columns sliced by blocks of pairs
            (np.ones(len(held), dtype=np.int32), (part[held], held)), shape=(self.n_parts, n_pairs)
        )
        first = np.unique(part, return_index=True)[1]  # a pair of each part
        self.contains = by_pair[first].T.tocsr()  # (S, P)

    def part_sums(self, rows: np.ndarray, block: slice) -> np.ndarray:
        """(P, C) sums over each part's pairs among ``block`` of ``rows`` (those pairs' rows)."""
        return self.parts[:, block] @ rows

    def scope_sums(self, part_rows: np.ndarray) -> np.ndarray:
        """(S, C) sums of each scope's parts' rows (P, C)."""
        return self.contains @ part_rows

    def pair_sums(self, pairs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(S, C) sums over each scope's pairs among ``pairs`` of their ``rows``."""
        return self.by_pair[pairs].T @ rows


PAIR_CELLS = 8_000_000
"""Cells of the (pairs, grid columns) arrays :func:`scope_rank_sums` forms at once."""


def scope_rank_sums(
    position: np.ndarray,
    rank2: np.ndarray,
    n_obs: np.ndarray,
    event_values: np.ndarray,
    below: np.ndarray,
    at_most: np.ndarray,
    members: np.ndarray,
    selector: np.ndarray,
    scopes: ScopeMembers,
) -> tuple[np.ndarray, np.ndarray]:
    """Corrado's centred rank sums of many scopes at once, from each pair's own terms.

    The sums are those of :func:`window_rank_sums` with unit weights and centres ``c_ki =
    (n_i + L2_k + 1) / 2``: every term is a pair's own (its time-series ranks with the
    cross-section's days added), an integer or a half, whatever scope holds the pair. The
    terms are kept doubled as integers, and a cross-section's terms are its days' rank shifts
    plus a part common to all: each day's shifts are summed per scope once and the
    cross-sections add up their days' sums (exact, so in any order and in blocks of about
    :data:`PAIR_CELLS` cells). A pair that is not a member of every cross-section (a missing
    event-day value) is added per cross-section.

    Parameters
    ----------
    position : ndarray of int, shape (N, T)
        Sorted position of each estimation value within its pair, -1 where missing.
    rank2 : ndarray of int, shape (N, T)
        Twice its average rank (anything where missing).
    n_obs : ndarray of int, shape (N,)
        Number of estimation values of each pair.
    event_values : ndarray, shape (N, E)
        The values added on each event-period day.
    below, at_most : ndarray of int, shape (N, E)
        Estimation values ``<`` / ``<=`` each event value.
    members : ndarray of bool, shape (K, N)
        Pairs of each cross-section (their event values on its days must be finite).
    selector : ndarray of bool, shape (K, E)
        Days of each cross-section.
    scopes : ScopeMembers
        The pairs of each of S scopes.

    Returns
    -------
    estimation2 : ndarray of int, shape (S, K, T)
        Twice :attr:`RankSums.estimation` of each scope's cross-sections.
    event : ndarray, shape (S, K, E)
        :attr:`RankSums.event` of each scope.
    """
    n_sections, n_days = selector.shape
    n_pairs, n_cols = position.shape
    dtype = np.int32 if 4 * (n_pairs + 1) * (n_cols + n_days + 2) < np.iinfo(np.int32).max else np.int64
    n_obs = np.asarray(n_obs, dtype=dtype)
    lengths = selector.sum(axis=1)
    days_of = [np.flatnonzero(row).tolist() for row in selector]
    every = members.all(axis=0) if n_sections else np.ones(n_pairs, dtype=bool)
    used = np.flatnonzero(selector.any(axis=0)).tolist()
    estimation2 = np.zeros((scopes.n_scopes, n_sections, n_cols), dtype=dtype)
    parts = {name: np.zeros((scopes.n_parts, n_cols), dtype=dtype)
             for name in ["common", "observed", *used]}
    event_parts = np.zeros((scopes.n_parts, int(lengths.sum())), dtype=dtype)
    for block in chunks(n_pairs, n_cols, PAIR_CELLS):
        block = slice(block.start, min(block.stop, n_pairs))
        cells = np.asarray(position[block])
        observed = cells >= 0
        full = every[block]
        some = np.flatnonzero(~full & members[:, block].any(axis=0))  # in some sections only
        # the common part, 2 (rank_it - (n_i + 1) / 2) per observed cell, and each day's shifts
        terms = {"common": np.where(observed, rank2[block], 0).astype(dtype)
                 - observed * (n_obs[block] + 1)[:, None],
                 "observed": observed.astype(dtype)}
        low = np.asarray(below[block], dtype=cells.dtype)
        high = np.asarray(at_most[block], dtype=cells.dtype)
        kept = {}
        for name in parts:
            values = terms.pop(name) if name in terms else _doubled_shift(
                cells, low[:, name], high[:, name], dtype)
            kept[name] = values[some]
            values[~full] = 0
            parts[name] += scopes.part_sums(values, block)
        if len(some):
            for k in range(n_sections):
                added = kept["common"] - lengths[k] * kept["observed"]
                for day in days_of[k]:
                    added += kept[day]
                added[~members[k, block.start + some]] = 0
                estimation2[:, k] += scopes.pair_sums(block.start + some, added)
        event_parts += scopes.part_sums(
            _event_terms(event_values[block], low, high, n_obs[block], members[:, block],
                         days_of, dtype), block)
    summed = {name: scopes.scope_sums(values) for name, values in parts.items()}
    for k in range(n_sections):
        out = estimation2[:, k]
        out += summed["common"]
        out -= lengths[k] * summed["observed"]
        for day in days_of[k]:
            out += summed[day]
    flat = scopes.scope_sums(event_parts) * 0.5
    event = np.zeros((scopes.n_scopes, n_sections, n_days))
    start = 0
    for k in range(n_sections):
        event[:, k, days_of[k]] = flat[:, start : start + lengths[k]]
        start += lengths[k]
    return estimation2, event


def _event_terms(
    values: np.ndarray, below: np.ndarray, at_most: np.ndarray, n_obs: np.ndarray,
    members: np.ndarray, days_of: list[list[int]], dtype: type,
) -> np.ndarray:
    """(R, sum of L2): twice the centred rank of each section's days' values (0 for a
    non-member), sections one after the other."""
    columns = [np.zeros((len(values), 0), dtype=dtype)]
    for k, days in enumerate(days_of):
        chosen = values[:, days]
        within2 = 2 * (chosen[:, None, :] < chosen[:, :, None]).sum(axis=2) + (
            (chosen[:, None, :] == chosen[:, :, None]).sum(axis=2) - 1
        )
        rank2 = below[:, days].astype(dtype) + at_most[:, days] + 2 + within2
        centre2 = n_obs + len(days) + 1
        columns.append(np.where(members[k][:, None], rank2 - centre2[:, None], 0).astype(dtype))
    return np.concatenate(columns, axis=1)


def _doubled_shift(position: np.ndarray, below: np.ndarray, at_most: np.ndarray, dtype: type) -> np.ndarray:
    """Twice the rank shift of each cell when one value is added to its pair (2 above it, 1
    tied with it, 0 below it or missing; as :func:`~eventstudy.inference.kernels.added_value_shifts`)."""
    # [p >= at_most] + [p >= below]: 2 above, 1 tied (below <= p < at_most), 0 below
    shift = np.greater_equal(position, at_most[:, None]).astype(dtype)
    shift += position >= below[:, None]
    return shift
