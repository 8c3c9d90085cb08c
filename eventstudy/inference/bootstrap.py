"""Bootstrapped skewness-adjusted t of Lyon, Barber & Tsai (1999) for BHARs.

The tests table applies it to each window's standardised BHARs, ``BHAR_i / sqrt(Var CAR_i)``
(test ``bhar_skew_t``): on raw BHARs, whose scale differs from stock to stock, the
cross-section is a mixture with very heavy tails and the test rejected 7-8% of true nulls
at N = 10-30 on real Tokyo returns (docs/validation.md); in units of each pair's own
prediction-error s.d. it keeps its size.

Convention (one for the whole package, the one of Stata ``skewt`` and of LBT's text):

* ``S = mean(x) / s`` with ``s`` the sample s.d. (divisor ``N - 1``);
* ``g = m3 / m2^(3/2)``, the moment coefficient of skewness (``m_r`` central moments with
  divisor N; ``scipy.stats.skew(x, bias=True)``);
* ``t_sa = sqrt(N) (S + g S^2 / 3 + g / (6 N))`` (Hall 1992).

The p-value is LBT's bootstrap: :data:`RESAMPLES` resamples of size ``n_b`` (see
:func:`resample_size`) are drawn with replacement from the N values; on each,
``t_b = sqrt(n_b) (S_b + g_b S_b^2 / 3 + g_b / (6 n_b))`` with ``S_b = (mean_b - mean) / s_b``
(re-centred at the sample mean, so the resamples obey the null) and ``g_b``, ``s_b`` of the
resample; resamples without dispersion are left out. The p-value is the percentile one,
``(k + 1)/(n + 1)`` with ``k`` the resamples at least as extreme in the chosen tail
(two-sided: twice the smaller tail, at most 1). The resample indices come from
``numpy.random.default_rng([SEED, N, n_b])`` and are applied to the values in ascending
order, so a result depends only on the values: never on their order, on other
cross-sections or on the run.
"""

from __future__ import annotations

import numpy as np

from eventstudy.inference.kernels import is_constant
from eventstudy.inference.pvalues import empirical_p_value
from eventstudy.inference.result import TestResult

RESAMPLES = 999
SEED = 19990201  # Lyon, Barber & Tsai, Journal of Finance 54(1), February 1999
MIN_PAIRS = 3
_CELLS = 4_000_000  # cells of one block of resample counts
_MEMO_CELLS = 20_000_000  # resample counts kept for reuse within a run (small samples)


def resample_size(n: int) -> int:
    """Resample size ``n_b`` for a sample of ``n`` values: ``max(3, n // 4)`` (LBT's n/4)."""
    return max(MIN_PAIRS, n // 4)


def skewness_adjusted_t(x: np.ndarray) -> float:
    """Hall / LBT skewness-adjusted t of one sample (Stata ``skewt`` convention).

    Examples
    --------
    >>> round(skewness_adjusted_t(np.array([1.0, 2.0, 6.0])), 6)
    2.46303
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    deviation = x - x.mean()
    m2, m3 = (deviation**2).mean(), (deviation**3).mean()
    ratio = x.mean() / x.std(ddof=1)
    skewness = m3 / m2**1.5
    return float(np.sqrt(n) * (ratio + skewness * ratio**2 / 3.0 + skewness / (6.0 * n)))


def bootstrap_indices(n: int) -> np.ndarray:
    """The resample positions used for samples of ``n`` values, shape (RESAMPLES, n_b)."""
    size = resample_size(n)
    return np.random.default_rng([SEED, n, size]).integers(0, n, (RESAMPLES, size))


def skew_t_test(
    x: np.ndarray, m: np.ndarray, alternative: str, memo: dict | None = None
) -> TestResult:
    """Bootstrapped skewness-adjusted t in each row of ``x`` over its members ``m``.

    Parameters
    ----------
    x : ndarray, shape (K, N)
        Values (e.g. BHARs) of K cross-sections.
    m : ndarray of bool, shape (K, N)
        Members of each cross-section.
    alternative : {'two-sided', 'greater', 'less'}
    memo : dict, optional
        Resample counts by sample size, shared by the calls of one run.

    Returns
    -------
    TestResult
        ``statistic`` = ``t_sa``, ``p_value`` from the bootstrap, distribution 'bootstrap'.
    """
    memo = {} if memo is None else memo
    n = m.sum(axis=1)
    result = TestResult.start(n, "bootstrap")
    result.fail(n < MIN_PAIRS, f"fewer than {MIN_PAIRS} pairs")
    result.fail(is_constant(x, m), "zero cross-sectional dispersion")
    statistic = np.full(len(n), np.nan)
    p_value = np.full(len(n), np.nan)
    usable = result.note == ""
    for size in np.unique(n[usable]):
        rows = np.flatnonzero(usable & (n == size))
        values = np.sort(np.where(m[rows], x[rows], np.inf), axis=1)[:, :size]
        statistic[rows], p_value[rows] = _bootstrap(values, int(size), alternative, memo)
    result.p_value = p_value
    return result.finish(statistic)


def _bootstrap(
    values: np.ndarray, n: int, alternative: str, memo: dict
) -> tuple[np.ndarray, np.ndarray]:
    """``t_sa`` and its bootstrap p-value for K samples of n sorted values, shape (K, n)."""
    centred = values - values.mean(axis=1, keepdims=True)
    m2 = (centred**2).mean(axis=1)
    m3 = (centred**3).mean(axis=1)
    ratio = values.mean(axis=1) / np.sqrt(m2 * n / (n - 1.0))
    skewness = m3 / m2**1.5
    statistic = np.sqrt(n) * (ratio + skewness * ratio**2 / 3.0 + skewness / (6.0 * n))
    size = resample_size(n)
    powers = np.concatenate([centred, centred**2, centred**3], axis=0).T  # (n, 3K)
    sums = np.concatenate([counts @ powers for counts in _resample_counts(n, memo)], axis=0)
    k = len(values)
    mean_b = sums[:, :k] / size
    m2_b = sums[:, k : 2 * k] / size - mean_b**2
    m3_b = sums[:, 2 * k :] / size - 3.0 * mean_b * sums[:, k : 2 * k] / size + 2.0 * mean_b**3
    valid = m2_b > 1e-12 * m2[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_b = mean_b / np.sqrt(m2_b * size / (size - 1.0))
        skew_b = m3_b / m2_b**1.5
        t_b = np.sqrt(size) * (ratio_b + skew_b * ratio_b**2 / 3.0 + skew_b / (6.0 * size))
    n_valid = valid.sum(axis=0)
    at_most = (valid & (t_b <= statistic[None, :])).sum(axis=0)
    at_least = (valid & (t_b >= statistic[None, :])).sum(axis=0)
    p_value = empirical_p_value(at_most, at_least, n_valid, alternative)
    return statistic, np.where(n_valid > 0, p_value, np.nan)


def _resample_counts(n: int, memo: dict) -> list[np.ndarray]:
    """How often each of the n positions is drawn in each resample, in row blocks.

    Kept in ``memo`` (one run's) for sample sizes small enough: most scopes of a study have
    one of a few sizes.
    """
    if n in memo:
        return memo[n]
    indices = bootstrap_indices(n)
    step = max(1, _CELLS // n)
    blocks = []
    for start in range(0, RESAMPLES, step):
        part = indices[start : start + step]
        flat = (part + n * np.arange(len(part))[:, None]).ravel()
        counts = np.bincount(flat, minlength=n * len(part)).reshape(len(part), n)
        blocks.append(counts.astype(float))
    if n * RESAMPLES <= _MEMO_CELLS:
        memo[n] = blocks
    return blocks
