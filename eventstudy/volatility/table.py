"""The pair table: every volatility measure of every (event, asset) pair and window."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from eventstudy.panel import AbnormalPanel
from eventstudy.volatility.base import (
    LONG_WINDOW_NOTE,
    PAIR_COLUMNS,
    PAIR_SIZED_DAYS,
    Measure,
    reactions,
    window_label,
)
from eventstudy.volatility.garch import garch_cav
from eventstudy.volatility.garch_fit import GarchFits, fit_garch
from eventstudy.volatility.pair import (
    PairInputs,
    brown_forsythe,
    log_variance_dummy,
    realized_vol,
    variance_ratio,
)


def _frame(panel: AbnormalPanel, window: tuple[int, int], measure: Measure,
           order: int, withhold_unsized: bool = True) -> pd.DataFrame:
    reported = np.isin(measure.status, ["ok", "fallback"])
    p_value, message = measure.p_value, measure.message
    if withhold_unsized and window[1] - window[0] + 1 > PAIR_SIZED_DAYS:
        withheld = reported & np.isfinite(np.asarray(p_value, dtype=float))
        p_value = np.where(withheld, np.nan, p_value)
        joined = np.where(message == "", LONG_WINDOW_NOTE,
                          np.char.add(message.astype(str), "; " + LONG_WINDOW_NOTE))
        message = np.where(withheld, joined, message).astype(object)
    distribution = (measure.distribution if measure.row_distribution is None
                    else measure.row_distribution)
    return pd.DataFrame({
        "event_id": panel.event_ids, "asset": panel.assets, "reaction": reactions(panel),
        "window": window_label(window), "measure": measure.name,
        "estimate": measure.estimate, "statistic": measure.statistic,
        "p_value": p_value,
        "distribution": np.where(reported, distribution, ""),
        "df": measure.df, "n": np.asarray(measure.n, dtype=int),
        "n_null": np.asarray(measure.n_null, dtype=int),
        "p_value_parametric": measure.p_parametric,
        "parametric_reference": measure.parametric_reference,
        "status": measure.status, "message": message,
        "_pair": np.arange(panel.n_pairs), "_order": order,
    })


def pair_volatility(panel: AbnormalPanel, windows: Sequence[tuple[int, int]], garch: bool = True,
                    fits: GarchFits | None = None,
                    on_progress: Callable[[int], None] | None = None,
                    inputs: PairInputs | None = None,
                    withhold_unsized: bool = True) -> pd.DataFrame:
    """Volatility-shift measures per (event, asset) pair and window.

    Parameters
    ----------
    panel : AbnormalPanel
    windows : sequence of (a, b)
        Event windows in rel days, inside the panel's event period.
    garch : bool
        Report ``garch_cav`` (GARCH(1,1) fitted once per pair, reused for every window).
    fits : GarchFits, optional
        Fits from :func:`~eventstudy.volatility.garch_fit.fit_garch` to reuse (e.g. shared with
        :func:`~eventstudy.volatility.garch.volatility_daily`); computed here when ``garch``
        is true and none are given.
    on_progress : callable, optional
        Called with the number of GARCH fits completed, batch by batch.
    inputs : PairInputs, optional
        Estimation-window arrays of ``panel`` to reuse.
    withhold_unsized : bool
        Leave out the p-values of windows longer than :data:`PAIR_SIZED_DAYS` sessions
        (default); ``False`` keeps them, for size studies of the measures themselves.

    Returns
    -------
    DataFrame
        Columns ``PAIR_COLUMNS``; one row per (pair, window, measure), ordered by pair, window
        and measure (``variance_ratio, brown_forsythe, garch_cav, log_variance_dummy,
        realized_vol, realized_vol_before, realized_vol_after``). ``p_value`` is calibrated on
        the pair's own estimation window (``distribution == 'empirical'``: a permutation
        p-value from ``n_null`` random subsets of the pooled estimation and window days) except
        for Brown-Forsythe (``F``); for windows longer than :data:`PAIR_SIZED_DAYS` sessions it
        is NaN with the reason in ``message`` (it does not keep its size on real returns).
        ``p_value_parametric`` is the normal-theory p-value against ``parametric_reference``,
        kept for size studies only (the study's volatility table leaves it out: it does not
        keep its size on fat-tailed returns). A failed GARCH fit gives a
        'fallback' ``garch_cav`` row with the ``variance_ratio`` numbers.

    Examples
    --------
    >>> table = pair_volatility(panel, [(0, 0), (0, 4)])  # doctest: +SKIP
    """
    inputs = inputs or PairInputs.of(panel)
    if garch and fits is None:
        fits = fit_garch(panel, on_progress)
    frames = []
    for w_index, window in enumerate(windows):
        ratio = variance_ratio(panel, window, inputs)
        measures = [ratio, brown_forsythe(panel, window, inputs)]
        if garch:
            measures.append(garch_cav(panel, window, fits, ratio, inputs))
        measures += [log_variance_dummy(panel, window, inputs),
                     *realized_vol(panel, window, inputs)]
        for m_index, measure in enumerate(measures):
            frames.append(_frame(panel, window, measure, w_index * 100 + m_index,
                                 withhold_unsized))
    if not frames:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table = table.sort_values(["_pair", "_order"], kind="stable").drop(columns=["_pair", "_order"])
    return table.reset_index(drop=True)[PAIR_COLUMNS]
