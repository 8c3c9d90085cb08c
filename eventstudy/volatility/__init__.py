"""Volatility shifts around events (docs/methods.md#volatility).

Per (event, asset) pair and event window ``W2 = [a, b]`` (:func:`pair_volatility`):

``variance_ratio``
    ``F = (sum_{W2} AR^2 / C / L2) / s^2`` (prediction-error corrected).
``brown_forsythe``
    Brown-Forsythe (median-centred Levene) test of estimation residuals against the window's
    ARs, ``F(1, n - 2)``; equal to ``scipy.stats.levene(center='median')``.
``garch_cav``
    GARCH(1,1) fitted once per pair on its estimation residuals (:mod:`.garch_fit`), analytic
    forecast ``h``; ``CAV = sum_{W2} AR^2 / (C h) - L2``.
``log_variance_dummy``
    Mean of the day-dummy coefficients of ``ln(AR^2)`` (a log variance ratio), classical
    ``w'Cov w`` standard error -- no HAC (docs/methods.md#no-hac).
``realized_vol`` (+ ``realized_vol_before``, ``realized_vol_after``)
    Annualised realised volatility of raw returns around zero (root mean square,
    docs/methods.md#realized-vol), window against estimation window.

Every test except Brown-Forsythe reports a p-value **calibrated on the pair's own estimation
window** (:mod:`.calibration`): the same statistic over every run of ``L2`` consecutive
estimation days, permutation p ``(k + 1)/(n + 1)``; the normal-theory p-value (F, chi-square,
t), which over-rejects on fat-tailed returns, is only in ``p_value_parametric``.

Across the pairs of a scope (:func:`scoped_volatility`, :func:`cross_sectional_volatility`):
``cs_variance_ratio``, ``cs_standardized_variance_ratio`` (per-pair log variance ratios
centred at their own estimation-window null; cross-sectional t, not robust to same-date
clustering) and ``beaver_u`` (null calibrated on the scope's estimation-window dates; robust
to same-date clustering for windows of up to 2 days). :func:`level_change` reports a volatility index's level change
over each window. :func:`volatility_daily` gives the daily ``AR^2 / h`` path of every pair
from the same GARCH fits.

Conventions pinned here (tests pin each of them)
------------------------------------------------
* Rows with ``status`` other than 'ok' (or 'fallback') carry NaN numbers and a one-line
  reason in ``message``; the functions never raise on degenerate data (zero variance, missing
  ARs, too few days). A window outside the panel's event period is a caller error and raises
  ``KeyError``.
* A pair with any missing AR inside ``W2`` is 'insufficient' for that window.
* Minimum window length: 2 event days for ``brown_forsythe``, 1 for every other measure. A
  calibrated p-value needs at least 20 estimation-window blocks.
* ``n`` is the number of event-window days ``L2`` on pair rows and the number of pairs used on
  cross-sectional rows; ``n_null`` the number of blocks behind a calibrated p-value.
* p-values are two-sided (project convention 9). The Brown-Forsythe ANOVA F is already a
  two-sided test of equal variances, so its p is the upper tail.
* Variances at or below ``ZERO_VARIANCE`` (1e-20) count as zero (constant prices).
* GARCH: a fit that does not converge, or with ``alpha + beta >= 1 - 1e-6``, is 'failed' and
  gives, per window, one 'fallback' ``garch_cav`` row carrying the ``variance_ratio`` numbers
  with the reason in its message; fewer than 30 estimation residuals is 'insufficient'.
"""

from eventstudy.volatility.base import PAIR_COLUMNS, SCOPE_COLUMNS, window_label
from eventstudy.volatility.calibration import permutation_p
from eventstudy.volatility.cross_section import (
    beaver_u,
    cross_sectional_volatility,
    cs_variance_ratio,
    scoped_volatility,
)
from eventstudy.volatility.garch import DAILY_COLUMNS, garch_cav, garch_daily, volatility_daily
from eventstudy.volatility.garch_fit import GarchFits, fit_garch
from eventstudy.volatility.levels import level_change
from eventstudy.volatility.pair import (
    PairInputs,
    brown_forsythe,
    brown_forsythe_statistic,
    log_variance_dummy,
    realized_vol,
    variance_ratio,
)
from eventstudy.volatility.table import pair_volatility

__all__ = [
    "DAILY_COLUMNS", "PAIR_COLUMNS", "SCOPE_COLUMNS", "GarchFits", "PairInputs", "beaver_u",
    "brown_forsythe", "brown_forsythe_statistic", "cross_sectional_volatility",
    "cs_variance_ratio", "fit_garch", "garch_cav", "garch_daily", "level_change",
    "log_variance_dummy", "pair_volatility", "permutation_p", "realized_vol",
    "scoped_volatility", "variance_ratio", "volatility_daily", "window_label",
]
