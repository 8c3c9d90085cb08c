"""What the cross-sectional statistics read: per-pair inputs, cross-sections, one scope.

* :class:`PairTable` -- everything that belongs to a pair alone (its abnormal returns,
  variances, ranked estimation residuals), computed once per panel, and
  :class:`PairInputs`, the rows of one scope's pairs;
* :class:`Sections` -- K cross-sections of the event period: each event day (``L2 = 1``) or
  each CAR window, with every pair's AR/CAR, SAR/SCAR and BHAR;
* :class:`ScopeData` -- the pairs of one scope and what depends on which pairs are in it
  (residual correlations, the Corrado-Zivney re-scaled event values).

A cross-section's members are the scope's pairs whose AR on the day (CAR over the window)
is finite; tests on standardised values additionally need a finite, positive
prediction-error variance (``std_members``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np

from eventstudy.inference.kernels import (
    CorrelationStructure,
    SortedRows,
    group_bounds,
    mean_sd,
    member_sums,
    row_means,
)
from eventstudy.panel import AbnormalPanel, factor_diagonal, is_finite_factor


class PairInputs:
    """Per-pair arrays of a scope's pairs, in the scope's order (:meth:`PairTable.take`).

    Columns ``T`` are the panel's event-time grid; ``E`` its event-period days. Each array
    is taken from the panel's :class:`PairTable` when a test first reads it.
    """

    def __init__(self, table: PairTable, rows: np.ndarray) -> None:
        self._table = table
        self._rows = np.asarray(rows)

    def _taken(self, name: str) -> np.ndarray:
        return getattr(self._table, name)[self._rows]

    @cached_property
    def event_ar(self) -> np.ndarray:
        """(N, E) abnormal returns of the event period."""
        return self._taken("event_ar")

    @cached_property
    def variance_factor(self) -> np.ndarray:
        """(N, E) ``C_i,tau``."""
        return self._taken("variance_factor")

    @cached_property
    def scale(self) -> np.ndarray:
        """(N,) ``s_i``, NaN where ``s2 <= 0``."""
        return self._taken("scale")

    @cached_property
    def dof(self) -> np.ndarray:
        """(N,) ``L1 - k``."""
        return self._taken("dof")

    @cached_property
    def n_est_obs(self) -> np.ndarray:
        """(N,) number of estimation residuals."""
        return self._taken("n_est_obs")

    @cached_property
    def est_mask(self) -> np.ndarray:
        """(N, T) bool, finite estimation residual."""
        return self._position >= 0

    @cached_property
    def est_weight(self) -> np.ndarray:
        """(N, T) ``est_mask`` as 0/1 floats."""
        return self.est_mask.astype(float)

    @cached_property
    def est_resid(self) -> np.ndarray:
        """(N, T) estimation residuals, 0 outside ``est_mask``."""
        return np.where(self.est_mask, self._taken("ar"), 0.0)

    @cached_property
    def est_residuals(self) -> np.ndarray:
        """(N, T) estimation residuals, NaN outside ``est_mask``."""
        return np.where(self.est_mask, self.est_resid, np.nan)

    @cached_property
    def est_ar_sorted(self) -> SortedRows:
        """Ranks and sorted positions of the estimation residuals (Corrado)."""
        return SortedRows.from_positions(self._position, None, observed=self.est_weight,  # the same
                                         rank_or_zero=_halved(self._taken("ar_rank2"), 0.0))

    @cached_property
    def est_mean(self) -> np.ndarray:
        """(N,) mean estimation residual (0 without any)."""
        return self._taken("est_mean")

    @cached_property
    def est_sar_sorted(self) -> SortedRows:
        """The estimation SARs ``AR / s_i``, sorted (Corrado-Zivney, GRANK)."""
        # sorted as the residuals (division by s_i > 0 keeps their order), each SAR put at its
        # residual's sorted position; a pair without a positive scale has none (SortedRows.scaled)
        usable = self.scale > 0
        position, observed = self._position, self.est_weight  # the same 0/1 floats
        if not usable.all():
            position = np.where(usable[:, None], position, -1).astype(position.dtype)
            observed = np.where(usable[:, None], observed, 0.0)
        rank = _halved(self._table.sar_rank2_of(self._rows), 0.0)  # 0 where position < 0 too
        # the residuals the r_bar tests read too, sorted, then divided in place (the same
        # quotients as dividing before sorting, without an (N, T) array of them)
        rows = SortedRows.from_positions(position, None, self.est_resid, observed=observed,
                                         rank_or_zero=rank)
        np.divide(rows.values, self.scale[:, None], out=rows.values)
        return rows

    @cached_property
    def _position(self) -> np.ndarray:
        """(N, T) sorted position of each estimation residual, -1 where there is none."""
        return self._taken("position")

    @cached_property
    def ar_below(self) -> np.ndarray:
        """(N, E) estimation residuals ``<`` each event AR."""
        return self._taken("ar_below")

    @cached_property
    def ar_at_most(self) -> np.ndarray:
        """(N, E) estimation residuals ``<=`` each event AR."""
        return self._taken("ar_at_most")


@dataclass(frozen=True)
class PairTable:
    """What every scope reads of a pair, for all pairs of a panel, computed once per pair.

    A pair's estimation residuals are sorted and ranked, and its event-period ARs placed
    among them, once per panel (these are time-series ranks within the pair: the same in
    every scope that holds it); a scope takes its pairs' rows (:meth:`take`). About 4 bytes
    per pair and grid column beside the panel's own abnormal returns: ranks are integers or
    halves and are kept doubled as small integers, sorted positions as small integers. A
    scope's residuals, and its sorted SARs (``SAR = AR / s_i`` with ``s_i > 0``, what the rank
    tests bisect), are read off the panel's abnormal returns at those positions when the scope
    is tested (the same numbers as sorting them again). The SARs rank as the residuals except
    where the division makes ties or a pair has no positive scale: only those pairs' SAR ranks
    are kept (:meth:`sar_rank2_of`).
    """

    ar: np.ndarray  # (N, T) the panel's abnormal returns (the panel's array, not a copy)
    event_ar: np.ndarray  # (N, E)
    variance_factor: np.ndarray  # (N, E)
    scale: np.ndarray  # (N,)
    dof: np.ndarray  # (N,)
    n_est_obs: np.ndarray  # (N,)
    position: np.ndarray  # (N, T) sorted position of each residual, -1 where there is none
    ar_rank2: np.ndarray  # (N, T) twice its average rank, -1 where missing
    sar_rows: np.ndarray  # (D,) the pairs whose SAR ranks differ from ar_rank2, ascending
    sar_rank2: np.ndarray  # (D, T) their SAR ranks, doubled (the others' are ar_rank2)
    ar_below: np.ndarray  # (N, E)
    ar_at_most: np.ndarray  # (N, E)
    est_mean: np.ndarray  # (N,) mean estimation residual, 0 without any

    @classmethod
    def build(cls, panel: AbnormalPanel, rows: slice | None = None) -> PairTable:
        """The pairs ``rows`` of ``panel`` (default all); each pair's values depend on it alone."""
        rows = slice(None) if rows is None else rows
        ar = np.asarray(panel.ar[rows], dtype=float)
        start = int(panel.event_start)
        s2 = np.asarray(panel.s2[rows], dtype=float)
        est_mask = np.asarray(panel.is_estimation[rows], dtype=bool) & np.isfinite(ar)
        scale = np.where(s2 > 0, np.sqrt(s2), np.nan)
        ar_sorted = SortedRows.build(np.where(est_mask, ar, np.nan))
        sar_sorted = ar_sorted.scaled(scale)  # SAR = AR / s_i, sorted as the ARs: its ranks
        event_ar = np.ascontiguousarray(ar[:, start:])  # as a take would give: same sums
        below, at_most = ar_sorted.count_below(event_ar)
        rank_type = np.int16 if 2 * ar.shape[1] < np.iinfo(np.int16).max else np.int32
        n_est_obs = est_mask.sum(axis=1)
        ar_rank2, sar_rank2 = _doubled(ar_sorted.rank, rank_type), _doubled(sar_sorted.rank, rank_type)
        sar_rows = np.flatnonzero((sar_rank2 != ar_rank2).any(axis=1))  # ties the division made,
        # pairs without a positive scale: a few; every other pair's SARs rank as its residuals
        return cls(
            ar=ar,
            event_ar=event_ar,
            variance_factor=np.ascontiguousarray(factor_diagonal(panel.cov_factor[rows])),
            scale=scale,
            dof=np.asarray(panel.n_est[rows] - panel.k[rows], dtype=float),
            n_est_obs=n_est_obs,
            position=ar_sorted.position,
            ar_rank2=ar_rank2,
            sar_rows=sar_rows,
            sar_rank2=sar_rank2[sar_rows],
            ar_below=below,
            ar_at_most=at_most,
            est_mean=row_means(np.where(est_mask, ar, 0.0), n_est_obs),
        )

    @classmethod
    def from_slices(cls, panel: AbnormalPanel, slices: list[slice]) -> PairTable:
        """:meth:`build` of consecutive slices of pairs covering the panel, written into one
        table as each slice is done (the table :meth:`concat` of the parts gives, without
        holding the parts)."""
        if len(slices) < 2:
            return cls.build(panel, slices[0] if slices else None)
        table: dict[str, np.ndarray] = {"ar": np.asarray(panel.ar, dtype=float)}
        exceptions: list[tuple[np.ndarray, np.ndarray]] = []
        for rows in slices:
            part = cls.build(panel, rows)
            exceptions.append((part.sar_rows + rows.start, part.sar_rank2))
            for f in fields(cls):
                if f.name in ("ar", *_SAR_FIELDS):
                    continue
                values = getattr(part, f.name)
                if f.name not in table:
                    table[f.name] = np.empty((panel.n_pairs, *values.shape[1:]), values.dtype)
                table[f.name][rows] = values
        table["sar_rows"] = np.concatenate([rows for rows, _ in exceptions])
        table["sar_rank2"] = np.concatenate([ranks for _, ranks in exceptions])
        return cls(**table)

    @classmethod
    def concat(cls, parts: list[PairTable]) -> PairTable:
        """The tables of consecutive slices of pairs as one."""
        if len(parts) == 1:
            return parts[0]
        starts = np.cumsum([0] + [len(part.scale) for part in parts])[:-1]
        joined = {f.name: np.concatenate([getattr(part, f.name) for part in parts])
                  for f in fields(cls) if f.name != "sar_rows"}
        joined["sar_rows"] = np.concatenate([part.sar_rows + start for part, start in zip(parts, starts)])
        return cls(**joined)

    def sar_rank2_of(self, rows: np.ndarray) -> np.ndarray:
        """(R, T) doubled ranks of the SARs of the pairs ``rows`` (integer index)."""
        ranks = self.ar_rank2[rows]
        found = np.searchsorted(self.sar_rows, rows)
        hit = found < len(self.sar_rows)
        hit[hit] = self.sar_rows[found[hit]] == np.asarray(rows)[hit]
        ranks[hit] = self.sar_rank2[found[hit]]
        return ranks

    def take(self, rows: np.ndarray) -> PairInputs:
        """The scope inputs of the pairs ``rows`` (integer index, in that order)."""
        return PairInputs(self, rows)


_SAR_FIELDS = ("sar_rows", "sar_rank2")
"""The per-pair table's fields that list the exceptions only (not one row per pair)."""


def _doubled(rank: np.ndarray, dtype: type) -> np.ndarray:
    """Average ranks (integers or halves, NaN where missing) as ``2 rank`` integers, -1 missing."""
    doubled = np.multiply(rank, 2.0)
    doubled[np.isnan(doubled)] = -1.0
    return doubled.astype(dtype)


def _halved(doubled: np.ndarray, missing: float = np.nan) -> np.ndarray:
    """The ranks :func:`_doubled` stored (exact), ``missing`` where there is none."""
    rank = doubled.astype(float)
    rank *= 0.5
    rank[doubled < 0] = missing
    return rank


def _quadratic_forms(cov_factor, selector: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """``gamma_k' F_i gamma_k`` for each selector row k and pair i, shape (K, N).

    When every selector is one day and the factors are finite, that is the day's diagonal entry
    of ``F_i`` itself (the matrix product only adds exact zeros to it), so the factors' diagonals
    are read instead of the matrices: the same bits, without building them.
    """
    one_day = selector.sum(axis=1) == 1
    if one_day.all() and is_finite_factor(cov_factor):
        return factor_diagonal(cov_factor)[:, selector.argmax(axis=1)].T
    cov_factor = np.asarray(cov_factor, dtype=float)
    return ((cov_factor @ gamma.T) * gamma.T[None, :, :]).sum(axis=1).T


@dataclass(frozen=True)
class Sections:
    """K cross-sections of the event period, over every pair of a panel (or scope).

    ``selector[k]`` marks the event-period days of cross-section k; ``values`` holds each
    pair's AR (a day) or CAR (a window), ``standardized`` the SAR or SCAR (full
    prediction-error covariance), ``bhar`` the buy-and-hold abnormal return divided by the
    same standard deviation (windows; ``BHAR_i / sqrt(Var CAR_i)``, the BHAR in units of
    the pair's own prediction-error volatility).
    """

    selector: np.ndarray  # (K, E) bool
    length: np.ndarray  # (K,) L2
    values: np.ndarray  # (K, N)
    standardized: np.ndarray  # (K, N)
    members: np.ndarray  # (K, N) finite values
    std_members: np.ndarray  # (K, N) finite standardized values
    is_window: bool
    bhar: np.ndarray | None = None  # (K, N) standardised BHARs, windows only

    @classmethod
    def build(
        cls,
        panel: AbnormalPanel,
        rows: slice,
        selector: np.ndarray,
        is_window: bool,
        bhar: np.ndarray | None = None,
    ) -> Sections:
        """Cross-sections of ``selector`` for the pairs ``rows`` of ``panel``, from their
        event-period ARs, ``F_i`` and ``s2_i`` (``bhar``: (K, N) BHARs of those pairs)."""
        gamma = selector.astype(float)
        event_ar = np.ascontiguousarray(np.asarray(panel.ar[rows], dtype=float)[:, panel.event_start:])
        finite = np.isfinite(event_ar)
        missing_days = gamma @ (~finite).T.astype(float)
        values = gamma @ np.where(finite, event_ar, 0.0).T
        values = np.where(missing_days == 0, values, np.nan)
        quad = _quadratic_forms(panel.cov_factor[rows], selector, gamma)
        scale = np.sqrt(np.asarray(panel.s2[rows], dtype=float)[None, :] * quad)
        standardized = values / scale
        return cls(
            selector=selector,
            length=selector.sum(axis=1),
            values=values,
            standardized=standardized,
            members=np.isfinite(values),
            std_members=np.isfinite(standardized),
            is_window=is_window,
            bhar=None if bhar is None else bhar / scale,
        )

    @property
    def count(self) -> int:
        return self.selector.shape[0]

    @classmethod
    def concat(cls, parts: list[Sections]) -> Sections:
        """The cross-sections of consecutive slices of pairs as one (pairs in slice order)."""
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        joined = {
            name: np.concatenate([getattr(part, name) for part in parts], axis=1)
            for name in ("values", "standardized", "members", "std_members")
        }
        bhar = None if first.bhar is None else np.concatenate([p.bhar for p in parts], axis=1)
        return cls(selector=first.selector, length=first.length, is_window=first.is_window,
                   bhar=bhar, **joined)

    def take(self, rows: np.ndarray) -> Sections:
        """The same cross-sections restricted to the pairs ``rows`` (integer index).

        Always a copy, even of every pair: the statistics' sums run over the taken layout.
        """
        return Sections(
            selector=self.selector,
            length=self.length,
            values=self.values[:, rows],
            standardized=self.standardized[:, rows],
            members=self.members[:, rows],
            std_members=self.std_members[:, rows],
            is_window=self.is_window,
            bhar=None if self.bhar is None else self.bhar[:, rows],
        )


@dataclass
class ScopeData:
    """The pairs of one scope and the inputs that depend on the scope's membership.

    Attributes
    ----------
    pairs : PairInputs
        The scope's pairs.
    bounds : ndarray of int
        Runs of pairs with the same number of estimation residuals (rank-sum groups;
        :func:`scope_order` puts each number's pairs together).
    alternative : str
        Alternative hypothesis, for the tests whose p-value is not parametric.
    shift_memo : dict
        Rank shift sums a rank test keeps for the scope's days and windows
        (:func:`~eventstudy.inference.ranks.window_rank_sums`), by test.
    rank_sums : dict
        Rank sums known before the tests run, by (test, is_window) (e.g. Corrado's, added
        up from the parts of a pooled scope).

    The scope-dependent inputs below are computed when a test first reads them.
    """

    pairs: PairInputs
    bounds: np.ndarray
    alternative: str = "two-sided"
    r_bar_memo: dict = field(default_factory=dict)
    shift_memo: dict = field(default_factory=dict)
    rank_sums: dict = field(default_factory=dict)
    counts_memo: dict = field(default_factory=dict)

    @classmethod
    def build(cls, pairs: PairInputs, alternative: str = "two-sided") -> ScopeData:
        return cls(pairs=pairs, bounds=group_bounds(pairs.n_est_obs), alternative=alternative)

    def estimation_counts(self, members: np.ndarray) -> np.ndarray:
        """(K, T) number of ``members`` (K, R) with an estimation residual on each grid column
        (exact; kept by member set, several tests read the same)."""
        key = np.ascontiguousarray(members).tobytes() + repr(members.shape).encode()
        counts = self.counts_memo.get(key)
        if counts is None:
            counts = self.counts_memo[key] = member_sums(members, self.pairs.est_weight)
        return counts

    def prepare(self, names) -> None:
        """Compute the scope's inputs ``names`` (attributes of :class:`PairInputs` or of the
        scope) now, if not yet computed."""
        for name in names:
            getattr(self.pairs if hasattr(PairInputs, name) else self, name)

    def prepared(self) -> frozenset[str]:
        """Names of the scope's inputs computed and held."""
        return frozenset(self.pairs.__dict__) | frozenset(self.__dict__)

    def release(self, names: frozenset[str]) -> None:
        """Drop the scope's computed inputs ``names`` (attributes of :class:`PairInputs` or of
        the scope) to free their memory; one read again is computed again, the same."""
        for owner in (self.pairs.__dict__, self.__dict__):
            for name in names & owner.keys():
                del owner[name]

    @cached_property
    def correlation(self) -> CorrelationStructure:
        """The scope's estimation-residual correlations (``r_bar`` of any subset)."""
        pairs = self.pairs
        return CorrelationStructure.from_filled(pairs.est_resid, pairs.est_mask, pairs.est_mean,
                                                mask=pairs.est_weight)

    @cached_property
    def _corrado_zivney(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pairs = self.pairs
        sar = pairs.event_ar / pairs.scale[:, None]
        has = np.isfinite(sar)
        _, sd = mean_sd(sar.T, has.T)
        sd = np.where(has.sum(axis=0) >= 2, sd, np.nan)
        cz_event = sar / sd[None, :]
        below, at_most = pairs.est_sar_sorted.count_below(cz_event)
        return cz_event, below, at_most

    @property
    def cz_event(self) -> np.ndarray:
        """(R, E) Corrado-Zivney event-day values: ``SAR_i,tau = AR / s_i`` divided by the s.d.
        (divisor ``N_tau - 1``) of the scope's SARs on that day (NaN with fewer than 2)."""
        return self._corrado_zivney[0]

    @property
    def cz_below(self) -> np.ndarray:
        """(R, E) numbers of the pair's estimation SARs ``<`` each ``cz_event`` value."""
        return self._corrado_zivney[1]

    @property
    def cz_at_most(self) -> np.ndarray:
        """(R, E) numbers of the pair's estimation SARs ``<=`` each ``cz_event`` value."""
        return self._corrado_zivney[2]


def scope_order(n_est_obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` ordered by the pairs' number of estimation residuals (stable).

    Statistics do not depend on the order of a scope's pairs; grouping equal numbers makes
    the rank sums run over a few blocks of pairs instead of many.
    """
    return rows[np.argsort(n_est_obs[rows], kind="stable")]
