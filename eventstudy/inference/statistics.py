"""The cross-sectional tests one small function each (docs/methods.md#cross-sectional-tests).

Every function takes a :class:`~eventstudy.inference.sections.ScopeData` (the scope's
pairs) and :class:`~eventstudy.inference.sections.Sections` (K days or windows) and returns
a :class:`~eventstudy.inference.result.TestResult` over the K cross-sections. ``x_i`` below
is the pair's AR on the day or its CAR over the window; ``z_i`` its SAR or SCAR (full
prediction-error covariance); N the number of pairs used (``n``).

Conventions shared by all of them
---------------------------------
* **Same pairs everywhere.** What a test derives from the estimation window (``r_bar``, the
  portfolio series ``AAR_t``, ``p_hat``, the rank dispersions) is computed over the pairs
  of that cross-section.
* **Event time is the common calendar.** "The same day" for two pairs means the same
  event-time column of the panel; ``r_bar`` uses pairwise-complete columns.
* **A day is a one-day window**: the window statistic of ``[d, d]`` equals the day
  statistic of d (crude dependence changes only its reference distribution; Corrado-Zivney
  when the number of pairs differs across days, see :func:`corrado_zivney`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from eventstudy.inference.kernels import (
    average_ranks,
    distinct_rows,
    group_bounds,
    is_constant,
    mean_sd,
    member_sums,
    r_bar_from_sums,
)
from eventstudy.inference.pvalues import fair_binomial_tails
from eventstudy.inference.ranks import RankSums, one_value_rank_sums, window_rank_sums
from eventstudy.inference.result import TestResult
from eventstudy.inference.sections import PairInputs, ScopeData, Sections

# 1 + (N - 1) r_bar at or below this is treated as zero (Kolari-Pynnonen factor undefined).
KP_FLOOR = 1e-10
# GRANK is reported for windows of at most this many sessions (see grank()).
GRANK_MAX_WINDOW = 6


def cs_t(scope: ScopeData, cs: Sections) -> TestResult:
    """Cross-sectional t (estudy2 ``t_test``).

    ``t = sqrt(N) mean(x) / s(x)``, ``s`` with divisor ``N - 1``; reference t(N - 1).
    """
    return _t_of_mean(cs.values, cs.members)


def patell(scope: ScopeData, cs: Sections) -> TestResult:
    """Patell (1976) z (estudy2, eventstudy2; SCAR for windows).

    ``z = sum_i z_i / sqrt(sum_i (L1_i - k_i)/(L1_i - k_i - 2))`` with ``z_i`` the SAR of a day
    or the SCAR of a window (not the ``CSAR_i`` of the section 3.2 table); reference N(0,1).
    """
    z, m = cs.standardized, cs.std_members
    dof = scope.pairs.dof
    n = m.sum(axis=1)
    result = TestResult.start(n, "normal")
    result.fail(n < 1, "no pairs with a standardised abnormal return")
    result.fail(
        (m & ~(dof > 2)[None, :]).any(axis=1),
        "residual degrees of freedom L1 - k <= 2 for some pair",
    )
    variance = np.where(dof > 2, dof / (dof - 2), 0.0)
    return result.finish(np.where(m, z, 0.0).sum(axis=1) / np.sqrt(m.astype(float) @ variance))


def bmp(scope: ScopeData, cs: Sections) -> TestResult:
    """Boehmer-Musumeci-Poulsen (1991) t (Boehmer, Musumeci & Poulsen 1991).

    ``t = sqrt(N) mean(z) / s(z)`` (``s`` with ``N - 1``), SCAR for a window (Stata estudy);
    reference t(N - 1) (estudy2).
    """
    return _t_of_mean(cs.standardized, cs.std_members)


def kp_bmp(scope: ScopeData, cs: Sections) -> TestResult:
    """Kolari-Pynnonen (2010) adjusted BMP (Kolari & Pynnonen 2010).

    ``t_KP = t_BMP sqrt((1 - r_bar) / (1 + (N - 1) r_bar))``, ``r_bar`` the mean off-diagonal
    correlation of the cross-section's estimation residuals (pairwise complete, by event-time
    column); reference t(N - 1).
    """
    result = bmp(scope, cs)
    r_bar = cross_section_r_bar(scope, cs.std_members)
    factor = _kp_factor(result, r_bar, result.n)
    result.r_bar = r_bar
    return result.finish(result.statistic * np.sqrt((1.0 - r_bar) * factor))


def kp_patell(scope: ScopeData, cs: Sections) -> TestResult:
    """Kolari-Pynnonen adjusted Patell (Kolari & Pynnonen 2010).

    ``z_KP = z_Patell / sqrt(1 + (N - 1) r_bar)`` (Stata estudy ``ADJPatell``; eventstudy2
    multiplies by the BMP factor instead); reference N(0,1).
    """
    result = patell(scope, cs)
    r_bar = cross_section_r_bar(scope, cs.std_members)
    factor = _kp_factor(result, r_bar, result.n)
    result.r_bar = r_bar
    return result.finish(result.statistic * np.sqrt(factor))


def crude_dependence(scope: ScopeData, cs: Sections) -> TestResult:
    """Crude dependence adjustment, Brown & Warner 1980/1985 (estudy2).

    ``AAR_t`` = mean estimation residual of the cross-section's pairs on estimation column t;
    ``S^2 = sum_t (AAR_t - mean)^2 / (L - 1)`` over the L columns with an ``AAR_t``. Day:
    ``AAR_tau / S`` ~ t(L - 1); window: ``CAAR / (sqrt(L2) S)`` ~ N(0,1) (estudy2).
    """
    m = cs.members
    n = m.sum(axis=1)
    result = TestResult.start(n, "normal" if cs.is_window else "t")
    sd, n_cols = _portfolio_sd(scope, m)
    mean, _ = mean_sd(cs.values, m)
    _fail_portfolio(result, n, n_cols, sd)
    if not cs.is_window:
        result.df = (n_cols - 1).astype(float)
    return result.finish(mean / (np.sqrt(cs.length) * sd))


def lamb(scope: ScopeData, cs: Sections) -> TestResult:
    """Lamb (1995) (estudy2 ``lamb``, ``car_lamb``).

    Day: ``AAR_tau / (S(AAR) sqrt(mean_i C_i,tau))`` with ``S(AAR)`` of the crude-dependence
    test and ``mean_i C_i,tau`` the cross-section's mean prediction-error factor (Lamb's
    ``1 + 1/L1 + (R_m - Rbar_m)^2/S_mm`` for a common index and dates); window: the sum of the
    daily statistics (each over the window's pairs) ``/ sqrt(L2)``; reference N(0,1).
    """
    pairs = scope.pairs
    m = cs.members
    n = m.sum(axis=1)
    result = TestResult.start(n, "normal")
    sd, n_cols = _portfolio_sd(scope, m)
    aar = member_sums(m, np.where(np.isfinite(pairs.event_ar), pairs.event_ar, 0.0)) / n[:, None]
    factor = np.where(np.isfinite(pairs.variance_factor), pairs.variance_factor, 0.0)
    mean_factor = member_sums(m, factor) / n[:, None]
    daily = aar / (sd[:, None] * np.sqrt(mean_factor))
    _fail_portfolio(result, n, n_cols, sd)
    return result.finish(np.where(cs.selector, daily, 0.0).sum(axis=1) / np.sqrt(cs.length))


def sign(scope: ScopeData, cs: Sections) -> TestResult:
    """Sign test with an exact binomial p-value.

    ``w`` = number of positive ``x_i`` among the N nonzero ones (zeros dropped); the statistic
    is ``z = (w - N/2) / sqrt(N/4)``, the p-value is that of Binomial(N, 1/2) (two-sided:
    twice the smaller tail, at most 1). The normal approximation rejects more than its
    level on the binomial lattice (6.5% at N = 50, docs/validation.md).
    """
    x = cs.values
    nonzero = nonzero_members(cs)
    n = nonzero.sum(axis=1)
    positive = (nonzero & (x > 0)).sum(axis=1)
    result = TestResult.start(n, "binomial")
    result.fail(n < 1, "no nonzero abnormal returns")
    at_most, at_least = fair_binomial_tails(positive, n)
    result.p_value = {
        "greater": at_least,
        "less": at_most,
        "two-sided": np.minimum(1.0, 2.0 * np.minimum(at_most, at_least)),
    }[scope.alternative]
    return result.finish((positive - 0.5 * n) / np.sqrt(0.25 * n))


def gen_sign(scope: ScopeData, cs: Sections) -> TestResult:
    """Generalised sign test, Cowan (1992).

    ``p_hat`` = pooled share of strictly positive estimation residuals of the
    cross-section's pairs; ``w`` = number of strictly positive ``x_i`` among all N pairs (a
    zero counts as not positive, as in ``p_hat``); ``z = (w - N p_hat) / sqrt(N p_hat (1 -
    p_hat))``; reference N(0,1).
    """
    pairs = scope.pairs
    x, m = cs.values, cs.members
    n = m.sum(axis=1)
    result = TestResult.start(n, "normal")
    weights = m.astype(float)
    positive_est = weights @ (pairs.est_mask & (pairs.est_resid > 0)).sum(axis=1).astype(float)
    all_est = weights @ pairs.est_weight.sum(axis=1)
    p_hat = positive_est / all_est
    positive = (m & (x > 0)).sum(axis=1)
    result.fail(n < 1, "no pairs with data")
    result.fail(~(all_est > 0), "no estimation residuals")
    result.fail((p_hat <= 0) | (p_hat >= 1), "estimation share of positive residuals is 0 or 1")
    return result.finish((positive - n * p_hat) / np.sqrt(n * p_hat * (1.0 - p_hat)))


def corrado(scope: ScopeData, cs: Sections) -> TestResult:
    """Corrado (1989) rank test, Cowan (1992) window form (estudy2, eventstudy2).

    Each pair's ARs are ranked over its estimation days plus the L2 days of *this* day or
    window (``T_i = L1_i + L2`` values, average ranks for ties); ``Kbar_i = (T_i + 1)/2``;
    ``d_t = mean_i (K_it - Kbar_i)`` over the pairs with data on column t;
    ``S_K = sqrt(sum_t d_t^2 / T)`` over the T columns (the estimation columns with data
    and the L2 days). ``Z = sqrt(L2) (mean of K_it - Kbar_i over the N pairs and L2 days) /
    S_K`` (a day is a one-day window); reference N(0,1).
    """
    m = cs.members
    n = m.sum(axis=1)
    result = TestResult.start(n, "normal")
    length = cs.length.astype(float)
    sums = scope.rank_sums.get(("corrado", cs.is_window))
    if sums is None:
        sums = corrado_rank_sums(scope.pairs, cs, scope.shift_memo.setdefault("corrado", {}))
    counts = sums.counts if sums.counts is not None else scope.estimation_counts(m)
    has = counts > 0
    est_mean = np.where(has, sums.estimation / np.where(has, counts, 1.0), 0.0)
    event_mean = sums.event / n[:, None]
    n_cols = has.sum(axis=1) + cs.length
    s_k = np.sqrt(
        ((est_mean**2).sum(axis=1) + (np.where(cs.selector, event_mean, 0.0) ** 2).sum(axis=1))
        / n_cols
    )
    window_mean = sums.event.sum(axis=1) / (n * length)
    result.fail(n < 1, "no pairs with data")
    result.fail(~(s_k > 0), "zero rank dispersion")
    return result.finish(np.sqrt(length) * window_mean / s_k)


def corrado_rank_sums(pairs: PairInputs, cs: Sections, memo: dict | None = None) -> RankSums:
    """The rank sums of :func:`corrado` over the members of ``cs`` among ``pairs``.

    Every weight is 1 and every rank and centre an integer or a half, so the sums are exact:
    the sums of a set of pairs are the sums of its parts' sums, in any order (a pooled
    scope's from its parts, :func:`eventstudy.inference.scoped.scoped_tests`).
    """
    length = cs.length.astype(float)
    centres = (pairs.n_est_obs[None, :] + length[:, None] + 1.0) / 2.0
    return window_rank_sums(
        pairs.est_ar_sorted,
        pairs.event_ar,
        pairs.ar_below,
        pairs.ar_at_most,
        cs.members,
        cs.selector,
        np.ones(cs.members.shape),
        centres,
        group_bounds(np.zeros(cs.members.shape[1])),  # unit weights: one group
        memo,
    )


def corrado_zivney(scope: ScopeData, cs: Sections) -> TestResult:
    """Corrado-Zivney (1992) rank test (eventstudy2 ``Zivney``).

    ``SAR = AR / s_i``; on each event-period day the SARs are divided again by their
    cross-sectional s.d. over the scope's pairs (divisor ``N_tau - 1``). ``U_it =
    rank_i(SAR_it) / (T_i + 1)`` within the pair over its estimation days plus the L2 days of
    *this* day or window (``T_i = L1_i + L2``).

    Day: ``Z = N^-1/2 sum_i (U_i0 - 1/2) / S_U``, ``S_U = sqrt((1/T) sum_t [N_t^-1/2 sum_i
    (U_it - 1/2)]^2)`` over the T columns (estimation columns with data and the day).
    Window (Cowan aggregation, eventstudy2 ``Zivney_Cowan``): ``Z = sqrt(L2) (Ubar_W - 1/2) /
    sqrt((1/T) sum_t (Ubar_t - 1/2)^2)``, ``Ubar`` means over the cross-section's pairs
    (equal to the day form when every column has the same pairs). Reference N(0,1).
    """
    pairs = scope.pairs
    complete = _complete_on_days(cs.selector, np.isfinite(scope.cz_event))
    m = cs.members & complete
    n = m.sum(axis=1)
    result = TestResult.start(n, "normal")
    length = cs.length.astype(float)
    size = pairs.n_est_obs[None, :] + length[:, None] + 1.0
    sums = window_rank_sums(
        pairs.est_sar_sorted,
        scope.cz_event,
        scope.cz_below,
        scope.cz_at_most,
        m,
        cs.selector,
        1.0 / size,
        size / 2.0,
        scope.bounds,
        scope.shift_memo.setdefault("corrado_zivney", {}),
    )
    has = sums.counts > 0
    n_cols = has.sum(axis=1) + cs.length
    safe_counts = np.where(has, sums.counts, 1.0)
    if cs.is_window:
        est = np.where(has, sums.estimation / safe_counts, 0.0)
        event = sums.event / n[:, None]
        s_u = np.sqrt(
            ((est**2).sum(axis=1) + (np.where(cs.selector, event, 0.0) ** 2).sum(axis=1)) / n_cols
        )
        statistic = np.sqrt(length) * (sums.event.sum(axis=1) / (n * length)) / s_u
    else:
        est = np.where(has, sums.estimation / np.sqrt(safe_counts), 0.0)
        event = sums.event.sum(axis=1) / np.sqrt(n)
        s_u = np.sqrt(((est**2).sum(axis=1) + event**2) / n_cols)
        statistic = event / s_u
    result.fail(n < 2, "fewer than 2 pairs (cross-sectional re-scaling undefined)")
    result.fail(~(s_u > 0), "zero rank dispersion")
    return result.finish(statistic)


def grank(scope: ScopeData, cs: Sections) -> TestResult:
    """Generalised rank test GRANK, Kolari & Pynnonen (2011).

    1. ``SAR_it = AR_it / s_i`` on the pair's estimation days.
    2. ``GSAR_i0 = z_i sqrt(1 - r_bar) / s_N(z)`` with ``s_N`` the cross-sectional s.d.
       (divisor ``N - 1``): re-standardised and scaled by ``sqrt(1 - r_bar)`` only
       (``S_U`` below already carries the cross-correlation; docs/validation.md).
    3. Stata-estudy convention: ranks within pair over its ``n_i = L1_i + 1``
       values (estimation SARs and ``GSAR_i0``), ``U_it = rank / n_i - 1/2``.
    4. ``Ubar_t = mean_i U_it`` over pairs with data on t; ``S_U = sqrt((1/T) sum_t (N_t/N)
       Ubar_t^2)``, the sum over the estimation columns *and* the CAR day, ``T`` = number of
       estimation columns with data (= L1 without missing days).
    5. ``Z = Ubar_0 / S_U``, ``t = Z sqrt((T - 2) / (T - 1 - Z^2))`` ~ t(T - 2).

    Reported for days and windows of at most :data:`GRANK_MAX_WINDOW` sessions: the ranks
    compare the window's standardised CAR with *daily* SARs, and a long window's CAR is
    closer to normal than fat-tailed daily returns, so its rank is too often extreme (on
    iid t(5) returns GRANK rejected 5.9% at 6 sessions and 7.1% at 16; docs/validation.md).
    """
    pairs = scope.pairs
    w, m = cs.standardized, cs.std_members
    n = m.sum(axis=1)
    result = TestResult.start(n, "t")
    r_bar = cross_section_r_bar(scope, m)
    _kp_factor(result, r_bar, n)  # records why r_bar is unusable, where it is
    result.r_bar = r_bar
    _, sd = mean_sd(w, m)
    result.fail(
        cs.length > GRANK_MAX_WINDOW,
        f"window longer than {GRANK_MAX_WINDOW} sessions: GRANK ranks its CAR among daily "
        "SARs (oversized on fat-tailed returns)",
    )
    result.fail(n < 2, "fewer than 2 pairs")
    result.fail(is_constant(w, m), "zero cross-sectional dispersion")
    result.fail(
        (m & (pairs.n_est_obs == 0)[None, :]).any(axis=1), "a pair has no estimation residuals"
    )
    gsar = w * np.sqrt(1.0 - r_bar)[:, None] / sd[:, None]
    inverse_size = 1.0 / (pairs.n_est_obs + 1.0)
    weights = np.broadcast_to(inverse_size, m.shape).copy()
    rank_sums, zero_rank_sum, counts = one_value_rank_sums(
        pairs.est_sar_sorted, gsar, m, weights, scope.bounds,
        needed=result.note == "",  # a section with a reason already has no statistic
        memo=scope.shift_memo.setdefault("grank", {}),
    )
    u_sums = rank_sums - 0.5 * counts
    u_zero = zero_rank_sum - 0.5 * n
    n_cols = (counts > 0).sum(axis=1)
    weighted = np.where(counts > 0, u_sums**2 / np.where(counts > 0, counts, 1.0), 0.0)
    s_u = np.sqrt((weighted.sum(axis=1) / n + (u_zero / n) ** 2) / n_cols)
    z = (u_zero / n) / s_u
    result.fail(~(s_u > 0), "zero rank dispersion")
    result.fail(n_cols <= 2, "fewer than 3 estimation days")
    result.fail(~(n_cols - 1 - z**2 > 0), "T - 1 - Z^2 <= 0")
    result.df = (n_cols - 2).astype(float)
    return result.finish(z * np.sqrt((n_cols - 2) / (n_cols - 1 - z**2)))


def wilcoxon(scope: ScopeData, cs: Sections) -> TestResult:
    """Wilcoxon signed-rank test (Stata estudy, on ``CAR_i`` for windows).

    On the N nonzero ``x_i`` (zeros dropped, scipy ``zero_method='wilcox'``): ``W+`` = sum of
    the average ranks of ``|x_i|`` over positive ``x_i``; ``z = (W+ - N(N+1)/4) /
    sqrt(N(N+1)(2N+1)/24)``, no tie or continuity correction; reference N(0,1).
    """
    x = cs.values
    nonzero = nonzero_members(cs)
    n = nonzero.sum(axis=1).astype(float)
    result = TestResult.start(n, "normal")
    ranks = average_ranks(np.where(nonzero, np.abs(x), np.nan))
    w_plus = np.where(nonzero & (x > 0), ranks, 0.0).sum(axis=1)
    mean = n * (n + 1.0) / 4.0
    sd = np.sqrt(n * (n + 1.0) * (2.0 * n + 1.0) / 24.0)
    result.fail(n < 1, "no nonzero abnormal returns")
    return result.finish((w_plus - mean) / sd)


# ------------------------------------------------------------------------------ helpers


def _complete_on_days(selector: np.ndarray, finite: np.ndarray) -> np.ndarray:
    """(K, R): pair r has a finite value on every day of section k (``selector`` (K, E),
    ``finite`` (R, E)); the missing days are counted with a 0/1 product (exact)."""
    missing = ~finite
    if not missing.any():
        return np.ones((len(selector), len(finite)), dtype=bool)
    return (selector.astype(float) @ missing.T.astype(float)) == 0


def nonzero_members(cs: Sections) -> np.ndarray:
    """Members with a nonzero ``x_i`` (the sample of the sign and Wilcoxon tests)."""
    return cs.members & (cs.values != 0)


SAMPLES: dict[str, tuple[str, Callable[[Sections], np.ndarray]]] = {
    "cs_t": ("t", lambda cs: cs.members),
    "patell": ("normal", lambda cs: cs.std_members),
    "bmp": ("t", lambda cs: cs.std_members),
    "sign": ("binomial", nonzero_members),
    "gen_sign": ("normal", lambda cs: cs.members),
    "wilcoxon": ("normal", nonzero_members),
}
"""Reference distribution and sample (members used, ``n``) of each test that assumes
independent pairs: all a row of such a test shows where it is withheld (:func:`withheld`)."""


def withheld(test_id: str, cs: Sections) -> TestResult:
    """The result of a test that is not reported in any of the K cross-sections: its ``n`` and
    distribution, no statistic (the same row as computing it and then masking it)."""
    distribution, sample = SAMPLES[test_id]
    return TestResult.start(sample(cs).sum(axis=1), distribution)


def _t_of_mean(x: np.ndarray, m: np.ndarray) -> TestResult:
    """``sqrt(N) mean(x) / s(x)`` over the members of each cross-section, t(N - 1)."""
    n = m.sum(axis=1)
    result = TestResult.start(n, "t")
    mean, sd = mean_sd(x, m)
    result.fail(n < 2, "fewer than 2 pairs")
    result.fail(is_constant(x, m), "zero cross-sectional dispersion")
    result.df = (n - 1).astype(float)
    return result.finish(np.sqrt(n) * mean / sd)


def cross_section_r_bar(scope: ScopeData, m: np.ndarray) -> np.ndarray:
    """``r_bar`` of each cross-section: mean defined off-diagonal correlation among ``m``."""
    key = np.ascontiguousarray(m).tobytes() + repr(m.shape).encode()
    if key not in scope.r_bar_memo:  # kp_bmp, kp_patell and grank share member sets
        if m.shape[0] == 0:
            scope.r_bar_memo[key] = np.zeros(0)
        else:
            first, inverse = distinct_rows(m)
            total, count = scope.correlation.pair_sums(m[first])
            scope.r_bar_memo[key] = r_bar_from_sums(total, count)[inverse]
    return scope.r_bar_memo[key]


def _kp_factor(result: TestResult, r_bar: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``1 / (1 + (N - 1) r_bar)``, recording why it is undefined where it is.

    ``1 + (N - 1) r_bar`` below :data:`KP_FLOOR` counts as non-positive: it is zero up to
    rounding (e.g. two perfectly anti-correlated series) and would blow the statistic up.
    """
    denominator = 1.0 + (n - 1) * r_bar
    result.fail(n < 2, "fewer than 2 pairs")
    result.fail(~np.isfinite(r_bar), "r_bar undefined (no pair of estimation residual series)")
    result.fail(~(denominator > KP_FLOOR), "1 + (N - 1) r_bar <= 0")
    return np.where(denominator > KP_FLOOR, 1.0 / denominator, np.nan)


def _portfolio_sd(scope: ScopeData, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """S.d. (divisor L - 1) of the estimation-window AAR series of each cross-section.

    Returns ``(sd, L)`` with L the number of estimation columns where at least one of the
    cross-section's pairs has an estimation residual.
    """
    pairs = scope.pairs
    count = scope.estimation_counts(m)
    has = count > 0
    aar = np.where(has, member_sums(m, pairs.est_resid) / np.where(has, count, 1.0), 0.0)
    n_cols = has.sum(axis=1)
    mean = aar.sum(axis=1) / n_cols
    deviation = np.where(has, aar - mean[:, None], 0.0)
    return np.sqrt((deviation**2).sum(axis=1) / (n_cols - 1)), n_cols


def _fail_portfolio(result: TestResult, n: np.ndarray, n_cols: np.ndarray, sd: np.ndarray) -> None:
    result.fail(n < 1, "no pairs with data")
    result.fail(n_cols < 2, "fewer than 2 estimation days with an AAR")
    result.fail(~(sd > 0), "zero variance of the estimation-window AAR series")
