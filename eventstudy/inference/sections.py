"""What the cross-sectional statistics read: per-pair inputs, cross-sections, one scope.

* :class:`PairInputs` -- everything that belongs to a pair alone (its abnormal returns,
  variances, sorted estimation residuals), computed once per panel;
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

import numpy as np

from eventstudy.inference.kernels import (
    CorrelationStructure,
    SortedRows,
    group_bounds,
    is_every_row,
    mean_sd,
)
from eventstudy.panel import AbnormalPanel


@dataclass(frozen=True)
class PairInputs:
    """Per-pair arrays of a panel: the same in every scope that holds the pair.

    Columns ``T`` are the panel's event-time grid; ``E`` its event-period days.
    """

    event_ar: np.ndarray  # (N, E) abnormal returns of the event period
    variance_factor: np.ndarray  # (N, E) C_i,tau
    cov_factor: np.ndarray  # (N, E, E)
    s2: np.ndarray  # (N,)
    scale: np.ndarray  # (N,) s_i, NaN where s2 <= 0
    dof: np.ndarray  # (N,) L1 - k
    est_mask: np.ndarray  # (N, T) bool, finite estimation residual
    est_weight: np.ndarray  # (N, T) est_mask as 0/1 floats
    est_resid: np.ndarray  # (N, T) estimation residuals, 0 outside est_mask
    est_residuals: np.ndarray  # (N, T) estimation residuals, NaN outside est_mask
    est_sar: np.ndarray  # (N, T) AR / s_i on estimation cells, NaN elsewhere
    n_est_obs: np.ndarray  # (N,) number of estimation residuals
    est_ar_sorted: SortedRows  # estimation residuals (Corrado)
    est_sar_sorted: SortedRows  # estimation SARs (Corrado-Zivney, GRANK)
    ar_below: np.ndarray  # (N, E) estimation residuals < each event AR
    ar_at_most: np.ndarray  # (N, E) estimation residuals <= each event AR

    @classmethod
    def build(cls, panel: AbnormalPanel) -> PairInputs:
        ar = np.asarray(panel.ar, dtype=float)
        start = int(panel.event_start)
        s2 = np.asarray(panel.s2, dtype=float)
        est_mask = np.asarray(panel.is_estimation, dtype=bool) & np.isfinite(ar)
        scale = np.where(s2 > 0, np.sqrt(s2), np.nan)
        est_residuals = np.where(est_mask, ar, np.nan)
        est_sar = np.where(est_mask, ar / scale[:, None], np.nan)
        est_ar_sorted = SortedRows.build(est_residuals)
        event_ar = np.ascontiguousarray(ar[:, start:])  # as a take would give: same sums
        below, at_most = est_ar_sorted.count_below(event_ar)
        return cls(
            event_ar=event_ar,
            variance_factor=np.ascontiguousarray(np.diagonal(panel.cov_factor, axis1=1, axis2=2)),
            cov_factor=np.asarray(panel.cov_factor, dtype=float),
            s2=s2,
            scale=scale,
            dof=np.asarray(panel.n_est - panel.k, dtype=float),
            est_mask=est_mask,
            est_weight=est_mask.astype(float),
            est_resid=np.where(est_mask, ar, 0.0),
            est_residuals=est_residuals,
            est_sar=est_sar,
            n_est_obs=est_mask.sum(axis=1),
            est_ar_sorted=est_ar_sorted,
            est_sar_sorted=SortedRows.build(est_sar, like=est_ar_sorted),
            ar_below=below,
            ar_at_most=at_most,
        )

    def take(self, rows: np.ndarray) -> PairInputs:
        """The pairs ``rows`` (integer index); ``self`` when ``rows`` are all pairs in order."""
        if is_every_row(rows, len(self.s2)):
            return self
        taken = {}
        for name in (f.name for f in fields(self)):
            value = getattr(self, name)
            taken[name] = value.take(rows) if isinstance(value, SortedRows) else value[rows]
        return PairInputs(**taken)


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
        pairs: PairInputs,
        selector: np.ndarray,
        is_window: bool,
        bhar: np.ndarray | None = None,
    ) -> Sections:
        """Cross-sections of ``selector`` from the event-period ARs, ``F_i`` and ``s2_i``."""
        gamma = selector.astype(float)
        finite = np.isfinite(pairs.event_ar)
        missing_days = gamma @ (~finite).T.astype(float)
        values = gamma @ np.where(finite, pairs.event_ar, 0.0).T
        values = np.where(missing_days == 0, values, np.nan)
        quad = ((pairs.cov_factor @ gamma.T) * gamma.T[None, :, :]).sum(axis=1).T
        scale = np.sqrt(pairs.s2[None, :] * quad)
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
    correlation : CorrelationStructure
        Their estimation-residual correlations (``r_bar`` of any subset).
    cz_event : ndarray, shape (R, E)
        Corrado-Zivney event-day values: ``SAR_i,tau = AR / s_i`` divided by the s.d.
        (divisor ``N_tau - 1``) of the scope's SARs on that day (NaN with fewer than 2).
    cz_below, cz_at_most : ndarray of int, shape (R, E)
        Numbers of the pair's estimation SARs ``<`` / ``<=`` each ``cz_event`` value.
    bounds : ndarray of int
        Runs of pairs with the same number of estimation residuals (rank-sum groups;
        :func:`scope_order` puts each number's pairs together).
    alternative : str
        Alternative hypothesis, for the tests whose p-value is not parametric.
    """

    pairs: PairInputs
    correlation: CorrelationStructure
    cz_event: np.ndarray
    cz_below: np.ndarray
    cz_at_most: np.ndarray
    bounds: np.ndarray
    alternative: str = "two-sided"
    r_bar_memo: dict = field(default_factory=dict)

    @classmethod
    def build(cls, pairs: PairInputs, alternative: str = "two-sided") -> ScopeData:
        sar = pairs.event_ar / pairs.scale[:, None]
        has = np.isfinite(sar)
        _, sd = mean_sd(sar.T, has.T)
        sd = np.where(has.sum(axis=0) >= 2, sd, np.nan)
        cz_event = sar / sd[None, :]
        below, at_most = pairs.est_sar_sorted.count_below(cz_event)
        return cls(
            pairs=pairs,
            correlation=CorrelationStructure.build(pairs.est_residuals),
            cz_event=cz_event,
            cz_below=below,
            cz_at_most=at_most,
            bounds=group_bounds(pairs.n_est_obs),
            alternative=alternative,
        )


def scope_order(n_est_obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` ordered by the pairs' number of estimation residuals (stable).

    Statistics do not depend on the order of a scope's pairs; grouping equal numbers makes
    the rank sums run over a few blocks of pairs instead of many.
    """
    return rows[np.argsort(n_est_obs[rows], kind="stable")]
