"""p-values: parametric (N(0,1), Student t) and empirical ``(k + 1)/(n + 1)``.

Every p-value of :mod:`eventstudy.inference` follows ``alternative``:
``'two-sided'`` ``2 P(X >= |x|)``, ``'greater'`` ``P(X >= x)``, ``'less'`` ``P(X <= x)``.
An empirical p-value counts the reference values at least as extreme as the observed one
and is never 0. The sign test's exact tails are those of Binomial(n, 1/2)
(:func:`fair_binomial_tails`).
"""

from __future__ import annotations

import numpy as np
from scipy import special

try:  # the kernels behind scipy.stats.binom.cdf/sf, without importing scipy.stats (0.4 s)
    from scipy.special._ufuncs import _binom_cdf, _binom_sf
except ImportError:  # pragma: no cover - a SciPy that moved them: same numbers, slower start
    _binom_cdf = _binom_sf = None

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")


def check_alternative(alternative: str) -> None:
    """Raise ``ValueError`` unless ``alternative`` is one of :data:`ALTERNATIVES`."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")


def parametric_p_value(
    statistic: np.ndarray, distribution: str | np.ndarray, df: np.ndarray, alternative: str
) -> np.ndarray:
    """p-value of ``statistic`` under N(0,1) (``distribution`` 'normal') or t(df) ('t').

    Parameters
    ----------
    statistic : ndarray
        Test statistics; NaN gives NaN.
    distribution : str or ndarray of str
        ``'t'`` or anything else (standard normal), one per statistic or one for all.
    df : ndarray
        Degrees of freedom of the t rows.
    alternative : {'two-sided', 'greater', 'less'}

    Returns
    -------
    ndarray
        p-values, at most 1.

    Examples
    --------
    >>> p = parametric_p_value(np.array([1.959964]), "normal", np.array([np.nan]), "two-sided")
    >>> round(float(p[0]), 6)
    0.05
    """
    statistic = np.asarray(statistic, dtype=float)
    is_t = np.broadcast_to(np.asarray(distribution) == "t", statistic.shape)
    df = np.broadcast_to(np.asarray(df, dtype=float), statistic.shape)

    def cdf(x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape)
        out[is_t] = special.stdtr(df[is_t], x[is_t])
        out[~is_t] = special.ndtr(x[~is_t])
        return out

    if alternative == "two-sided":
        p = 2.0 * cdf(-np.abs(statistic))
    else:  # only the chosen tail is evaluated
        p = cdf(-statistic if alternative == "greater" else statistic)
    return np.where(np.isfinite(statistic), np.minimum(p, 1.0), np.nan)


def empirical_p_value(
    n_at_most: np.ndarray, n_at_least: np.ndarray, size: np.ndarray, alternative: str
) -> np.ndarray:
    """Permutation p-value from counts of reference values, ``(k + 1)/(n + 1)``.

    ``n_at_most`` (``n_at_least``) reference values are ``<=`` (``>=``) the observed value
    among ``size``: 'less' ``(k_le + 1)/(n + 1)``, 'greater' ``(k_ge + 1)/(n + 1)``,
    two-sided ``min(1, 2 min(k_le + 1, k_ge + 1)/(n + 1))``. Exact under exchangeability of
    the observed value with the reference values; never 0.

    Examples
    --------
    >>> empirical_p_value(np.array([0.0]), np.array([20.0]), np.array([20.0]), "two-sided")
    array([0.0952381])
    """
    lower = (np.asarray(n_at_most, dtype=float) + 1.0) / (np.asarray(size, dtype=float) + 1.0)
    upper = (np.asarray(n_at_least, dtype=float) + 1.0) / (np.asarray(size, dtype=float) + 1.0)
    if alternative == "greater":
        return upper
    if alternative == "less":
        return lower
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper))


def fair_binomial_tails(k: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``P(X <= k)`` and ``P(X >= k)`` for X ~ Binomial(n, 1/2), elementwise.

    The same numbers, bit for bit, as ``scipy.stats.binom.cdf(k, n, 0.5)`` and
    ``scipy.stats.binom.sf(k - 1, n, 0.5)``: the same SciPy kernels, called on the pairs with
    ``0 <= k < n`` (resp. ``0 <= k - 1 < n``), with the trivial tails (0 or 1) filled outside.

    Parameters
    ----------
    k : ndarray of int
        Observed counts.
    n : ndarray of int
        Numbers of trials (``>= 0``).

    Returns
    -------
    (ndarray, ndarray)
        The lower tail ``P(X <= k)`` and the upper tail ``P(X >= k)``.

    Examples
    --------
    >>> lower, upper = fair_binomial_tails(np.array([0, 2]), np.array([2, 2]))
    >>> lower.tolist(), upper.tolist()
    ([0.25, 1.0], [1.0, 0.25])
    """
    k = np.asarray(k)
    n = np.asarray(n)
    if _binom_cdf is None:  # pragma: no cover
        from scipy import stats

        return stats.binom.cdf(k, n, 0.5), stats.binom.sf(k - 1, n, 0.5)
    k, n = np.broadcast_arrays(k.astype(float), n.astype(float))
    lower = np.where(k >= n, 1.0, 0.0)
    inside = (k >= 0) & (k < n)
    if inside.any():
        lower[inside] = np.clip(_binom_cdf(k[inside], n[inside], 0.5), 0, 1)
    below = k - 1.0
    upper = np.where(below < 0, 1.0, 0.0)
    inside = (below >= 0) & (below < n)
    if inside.any():
        upper[inside] = np.clip(_binom_sf(below[inside], n[inside], 0.5), 0, 1)
    return lower, upper
