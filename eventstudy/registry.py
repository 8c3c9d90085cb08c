"""Every statistic a run reports, in one place: id, readable label, table, and whether its
p-value survives same-date clustering.

Plots, the report and the docs read this registry instead of keeping their own name lists.
A statistic that is not here is not reported. ``robust_to_clustering`` is ``None`` for
single-pair statistics (one asset, one event: clustering across assets does not apply),
``True`` for cross-sectional statistics whose size holds when every pair shares the event
date (measured in ``benchmarks/size_power.py``, see ``docs/validation.md``), ``False`` for
cross-sectional statistics that assume independent pairs (kept in the tables, marked in
their ``note``, never featured as the answer).

Each computing module owns the entries of its section below.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StatisticInfo:
    """What a reported statistic is.

    Attributes
    ----------
    id : str
        The value in the table's ``test`` / ``measure`` / ``kind`` column (for the single-pair
        tests, which have columns of their own, the name of the test).
    label : str
        Short readable name for figures and the report.
    table : str
        Output table: ``'tests'``, ``'car'``, ``'volatility'``, ``'joint'``, ``'cross_section'``
        or ``'volume_tests'``; ``'abnormal_returns, car'`` for the single-pair tests, which are
        columns of those two tables (a day's in ``abnormal_returns``, a window's in ``car``).
    level : str
        ``'pair'`` (one event, one asset) or ``'cross-section'`` (a scope of pairs).
    robust_to_clustering : bool or None
        See the module docstring.
    reference : str
        Null distribution or calibration of the p-value.
    """

    id: str
    label: str
    table: str
    level: str
    robust_to_clustering: bool | None
    reference: str


def _entries(*items: StatisticInfo) -> dict[str, StatisticInfo]:
    return {item.id: item for item in items}


# --- inference: single-pair tests (columns beside the values they test) -------------------
# ts_t: a day's sar, ar_p_value, ar_df (abnormal_returns); a window's car_t, car_p_value, car_df
# (car). sq: a day's ar_sq, ar_sq_p_value; a one-day window's car_sq, car_sq_p_value.
PAIR_TESTS = _entries(
    StatisticInfo("ts_t", "time-series t", "abnormal_returns, car", "pair", None, "t(L1 - k)"),
    StatisticInfo("sq", "sample-quantile (SQ)", "abnormal_returns, car", "pair", None,
                  "empirical, (k+1)/(n+1) among the L1 estimation residuals; one-day cells only"),
)

# --- inference: cross-sectional tests (tests table) ---------------------------------------
CROSS_SECTIONAL_TESTS = _entries(
    StatisticInfo("cs_t", "cross-sectional t", "tests", "cross-section", False, "t(N - 1)"),
    StatisticInfo("patell", "Patell z", "tests", "cross-section", False, "N(0, 1)"),
    StatisticInfo("bmp", "BMP t", "tests", "cross-section", False, "t(N - 1)"),
    StatisticInfo("kp_bmp", "Kolari-Pynnonen BMP", "tests", "cross-section", True, "t(N - 1)"),
    StatisticInfo("kp_patell", "Kolari-Pynnonen Patell", "tests", "cross-section", True, "N(0, 1)"),
    StatisticInfo("crude_dependence", "portfolio t (crude dependence)", "tests", "cross-section", True,
                  "t(L1 - 1) / N(0, 1)"),
    StatisticInfo("lamb", "Lamb portfolio t", "tests", "cross-section", True, "N(0, 1)"),
    StatisticInfo("sign", "sign test", "tests", "cross-section", False, "Binomial(N, 1/2), exact"),
    StatisticInfo("gen_sign", "generalised sign", "tests", "cross-section", False, "N(0, 1)"),
    StatisticInfo("corrado", "Corrado rank", "tests", "cross-section", True, "N(0, 1)"),
    StatisticInfo("corrado_zivney", "Corrado-Zivney rank", "tests", "cross-section", True, "N(0, 1)"),
    StatisticInfo("grank", "generalised rank (GRANK)", "tests", "cross-section", True,
                  "t(L1 - 2); days and windows of at most 6 sessions"),
    StatisticInfo("wilcoxon", "Wilcoxon signed rank", "tests", "cross-section", False, "N(0, 1)"),
    StatisticInfo("bhar_skew_t", "bootstrapped skewness-adjusted t of standardised BHARs", "tests",
                  "cross-section", False,
                  "bootstrap (Lyon-Barber-Tsai) of BHAR / sqrt(Var CAR): 999 resamples of size "
                  "max(3, N // 4), seeded; (k+1)/(n+1)"),
)

# --- volatility (volatility table; eventstudy/volatility) ----------------------------------
# Pair tests are calibrated on the pair's own estimation window (docs/methods.md#calibration); their p-values are
# reported for windows of up to 6 sessions (volatility.base.PAIR_SIZED_DAYS). Cross-sectional
# measures flagged False are withheld in scopes whose pairs share trading days.
_CALIBRATED = ("empirical: larger of the day-permutation (999 random L2-day subsets of W1 + W2) "
               "and the L2-day-block p of W1, each (k+1)/(n+1)")
VOLATILITY_MEASURES = _entries(
    StatisticInfo("variance_ratio", "variance ratio", "volatility", "pair", None, _CALIBRATED),
    StatisticInfo("brown_forsythe", "Brown-Forsythe", "volatility", "pair", None, "F(1, n - 2)"),
    StatisticInfo("garch_cav", "GARCH cumulative abnormal volatility", "volatility", "pair", None,
                  _CALIBRATED),
    StatisticInfo("log_variance_dummy", "log-variance day dummies", "volatility", "pair", None,
                  _CALIBRATED),
    StatisticInfo("realized_vol", "realized volatility change", "volatility", "pair", None,
                  _CALIBRATED),
    StatisticInfo("realized_vol_before", "realized volatility, estimation window", "volatility",
                  "pair", None, "level, no test"),
    StatisticInfo("realized_vol_after", "realized volatility, event window", "volatility", "pair",
                  None, "level, no test"),
    StatisticInfo("level_change", "volatility index level change", "volatility", "pair", None,
                  "level, no test"),
    StatisticInfo("cs_variance_ratio", "mean log variance ratio", "volatility", "cross-section",
                  False, "t(N - 1)"),
    StatisticInfo("cs_standardized_variance_ratio", "standardised log variance ratio",
                  "volatility", "cross-section", False, "t(N - 1)"),
    # beaver_u keeps its size under same-date clustering only for windows of 1-2 days (real
    # Tokyo data, docs/validation.md: 4.6 / 5.0% at [0,0] / [0,1], 9.0 / 8.6% at [0,5] /
    # [-5,10]); longer windows are withheld in clustered scopes
    StatisticInfo("beaver_u", "Beaver U", "volatility", "cross-section", False,
                  "empirical: larger of the date-permutation and the L2-day-block p of the "
                  "scope's W1 dates, each (k+1)/(n+1)"),
)

# --- joint estimation (joint table) -------------------------------------------------------
# One classical dummy-variable regression per (cluster, asset); df = estimation returns - k.
# No HAC on dummies of any length (size measured in benchmarks/size_power_joint.py).
JOINT_ESTIMATES = _entries(
    StatisticInfo("day", "day dummy", "joint", "pair", None, "t(n - k), classical OLS"),
    StatisticInfo("window", "sum of day dummies", "joint", "pair", None,
                  "t(n - k), classical OLS, w'Cov w"),
)

# --- cross-sectional regression of CARs (cross_section table) ----------------------------
# One row per coefficient carries both standard errors, Sefcik-Thompson first; sizes measured in
# benchmarks/size_power_cross_section.py (docs/cross_section.md): a t test on the HC1 standard
# error rejects 36-53% of true zero sector contrasts and beta slopes when firms share the event
# date (so the table carries no HC1 t or p), Sefcik-Thompson 4.5-6.3%.
CROSS_SECTION_ESTIMATES = _entries(
    StatisticInfo("sefcik_thompson", "Sefcik-Thompson portfolio", "cross_section", "cross-section",
                  True, "t(T - 1), T estimation days"),
    StatisticInfo("hc1", "OLS, heteroskedasticity-robust (HC1)", "cross_section", "cross-section",
                  False, "standard error only: assumes independent firms, so no t or p-value "
                  "(not robust to the common event date)"),
)

# --- abnormal volume (volume_tests table) ---------------------------------------------------
# Only the tests that keep their size on real log volume with a shared day 0 (benchmarks/
# size_volume.py, 400 replications of 50 stocks: KP-BMP 2.5-5.5% for windows of 1 to 16
# sessions, GRANK 2.8-5.5% up to 6 sessions; every other test 5-83%, docs/cross_section.md).
VOLUME_TESTS = _entries(
    StatisticInfo("kp_bmp", "Kolari-Pynnonen BMP", "volume_tests", "cross-section", True,
                  "t(N - 1); size measured for days and windows of up to 16 sessions"),
    StatisticInfo("grank", "generalised rank (GRANK)", "volume_tests", "cross-section", True,
                  "t(L1 - 2); days and windows of at most 6 sessions"),
)

STATISTICS: dict[str, StatisticInfo] = {
    **PAIR_TESTS, **CROSS_SECTIONAL_TESTS, **VOLATILITY_MEASURES,
}
"""Tests and volatility measures by id (joint estimates are keyed by ``kind``, see
:data:`JOINT_ESTIMATES`; the standard errors of the ``cross_section`` table and the volume tests
have their own sections, :data:`CROSS_SECTION_ESTIMATES` and :data:`VOLUME_TESTS`)."""


def label(statistic_id: str) -> str:
    """Readable label of a statistic id (the id itself when unknown).

    Examples
    --------
    >>> label("kp_bmp")
    'Kolari-Pynnonen BMP'
    """
    info = STATISTICS.get(statistic_id)
    return info.label if info else statistic_id


def robust_tests() -> list[str]:
    """Ids of the cross-sectional tests whose size holds under same-date clustering."""
    return [k for k, v in CROSS_SECTIONAL_TESTS.items() if v.robust_to_clustering]
