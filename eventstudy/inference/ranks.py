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

from dataclasses import dataclass

import numpy as np

from eventstudy.inference.kernels import SortedRows, added_value_shifts, member_sums


@dataclass(frozen=True)
class RankSums:
    """Sums over a cross-section's pairs of ``w_i (rank_it - c_i)``, per column.

    Attributes
    ----------
    estimation : ndarray, shape (K, T)
        Sums over the pairs with an estimation value on grid column t.
    counts : ndarray, shape (K, T)
        Number of those pairs per column.
    event : ndarray, shape (K, E)
        Sums over all members on each event-period day of the cross-section (0 elsewhere).
    """

    estimation: np.ndarray
    counts: np.ndarray
    event: np.ndarray

    @classmethod
    def total(cls, parts: list[RankSums]) -> RankSums:
        """The sums over the union of disjoint sets of pairs (exact when the parts are)."""
        return cls(*(np.sum([getattr(p, name) for p in parts], axis=0)
                     for name in ("estimation", "counts", "event")))


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
    for day in range(selector.shape[1]):
        sections = np.flatnonzero(selector[:, day])
        if len(sections) == 0:
            continue
        shifts = _day_shifts(
            est_sorted.position, below[:, day], at_most[:, day], members[sections], bounds,
            memo, day,
        )
        estimation[sections] += np.einsum("kg,kgt->kt", group_weight[sections], shifts)
    event = np.zeros(selector.shape)
    for k in range(selector.shape[0]):
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
    bounds: np.ndarray,
    memo: dict | None,
    day: int,
) -> np.ndarray:
    """:func:`added_value_shifts` of one day's added values, kept in ``memo`` by member set."""
    if memo is None:
        return added_value_shifts(position, below, at_most, members, bounds)
    keys = [(day, row.tobytes()) for row in np.packbits(members, axis=1)]
    missing = [k for k, key in enumerate(keys) if key not in memo]
    if missing:
        shifts = added_value_shifts(position, below, at_most, members[missing], bounds)
        memo.update(zip([keys[k] for k in missing], shifts))
    return np.stack([memo[key] for key in keys])


def member_weighted(weights: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``weights @ matrix``, over the distinct weight rows only."""
    if len(weights) < 2:
        return weights @ matrix
    first, inverse = _distinct_float_rows(weights)
    return (weights[first] @ matrix)[inverse]


def _distinct_float_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    seen: dict[bytes, int] = {}
    inverse = np.array(
        [seen.setdefault(row.tobytes(), len(seen)) for row in np.ascontiguousarray(rows)],
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
