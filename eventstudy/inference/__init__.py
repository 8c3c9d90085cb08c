"""Test statistics of the event study (conventions: docs/conventions.md; sizes: docs/validation.md).

Entry points (all read an :class:`~eventstudy.panel.AbnormalPanel`):

* :func:`scoped_tests` -- the cross-sectional tests of every scope (a
  :class:`~eventstudy.scopes.Scope`: one event, category or tag within one asset group and
  one reaction kind) on every event-period day and every window: the tests table;
* :func:`daily_tests`, :func:`window_tests` -- the same route for one scope holding every
  pair of the panel;
* :func:`single_asset_tests` (and :func:`pair_test_columns`, the same numbers as columns of the
  abnormal-returns and CAR tables) -- the time-series tests of :data:`SINGLE_ASSET_TEST_IDS`
  for every pair, day and window;
* :func:`mean_offdiagonal_correlation` -- the Kolari-Pynnonen ``r_bar`` of residual rows.

Every row reports ``statistic, p_value, distribution, df, n`` (cross-sectional rows also
``r_bar``) and a ``note``: a statistic that cannot be computed (too few pairs, zero
dispersion, ``1 + (N-1) r_bar <= 0`` ...) is NaN with the reason in ``note``, so a NaN
never goes unexplained; a cross-sectional ``note`` also says whether the test is robust to
same-date clustering (:func:`clustering_note`, from :mod:`eventstudy.registry`).

Layout: :mod:`~eventstudy.inference.statistics` (the cross-sectional tests, one function
each, formula and convention in its docstring), :mod:`~eventstudy.inference.bootstrap`
(the bootstrapped skewness-adjusted t of BHARs), :mod:`~eventstudy.inference.single`
(single-pair tests), :mod:`~eventstudy.inference.ranks` and
:mod:`~eventstudy.inference.kernels` (rank, bisection and correlation kernels),
:mod:`~eventstudy.inference.sections` (what the statistics read),
:mod:`~eventstudy.inference.scoped` (the route), :mod:`~eventstudy.inference.frames` and
:mod:`~eventstudy.inference.pvalues`.

Small matrix products dominate; multi-threaded BLAS on a busy machine can be many times
slower than one thread for these sizes (:func:`eventstudy.study.single_blas_thread`).
"""

from eventstudy.inference.frames import TEST_COLUMNS
from eventstudy.inference.kernels import mean_offdiagonal_correlation
from eventstudy.inference.pvalues import ALTERNATIVES
from eventstudy.inference.scoped import (
    BHAR_TEST,
    DAILY_TEST_IDS,
    TEST_IDS,
    UNSIZED_NOTE,
    clustering_note,
    daily_tests,
    overlapping_periods,
    scoped_tests,
    window_tests,
)
from eventstudy.inference.single import (
    DAY_TEST_COLUMNS,
    SINGLE_ASSET_TEST_IDS,
    WINDOW_TEST_COLUMNS,
    pair_test_columns,
    single_asset_tests,
)

__all__ = [
    "ALTERNATIVES",
    "BHAR_TEST",
    "DAILY_TEST_IDS",
    "DAY_TEST_COLUMNS",
    "SINGLE_ASSET_TEST_IDS",
    "TEST_COLUMNS",
    "TEST_IDS",
    "UNSIZED_NOTE",
    "WINDOW_TEST_COLUMNS",
    "clustering_note",
    "daily_tests",
    "mean_offdiagonal_correlation",
    "overlapping_periods",
    "pair_test_columns",
    "scoped_tests",
    "single_asset_tests",
    "window_tests",
]
