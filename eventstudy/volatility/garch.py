"""GARCH(1,1) abnormal volatility (docs/methods.md#garch-cav) from the fits of
:mod:`~eventstudy.volatility.garch_fit`: cumulative abnormal volatility per window with
calibrated p-values, and the daily ``AR^2 / h`` path of every pair -- one fit per pair, reused
for every window and for the daily table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy.panel import AbnormalPanel
from eventstudy.volatility.base import (
    EMPIRICAL,
    Measure,
    flag,
    pair_status,
    reactions,
    references,
    two_sided,
    window_arrays,
)
from eventstudy.volatility.calibration import block_and_rest_means, calibrate, window_sum_null
from eventstudy.volatility.garch_fit import GarchFits, fit_garch
from eventstudy.volatility.pair import PairInputs

# ----------------------------------------------------------------------------- CAV


def garch_cav(panel: AbnormalPanel, window: tuple[int, int], fits: GarchFits, ratio: Measure,
              inputs: PairInputs) -> Measure:
    """Cumulative abnormal volatility from the GARCH forecast (docs/methods.md#garch-cav).

    ``S = sum_{W2} AR^2 / (C h)`` (prediction-error corrected, like the variance ratio);
    ``estimate`` = ``CAV = S - L2``; ``statistic`` = ``S``. ``p_value``: the larger of two
    p-values calibrated on the pair's own data (:mod:`~eventstudy.volatility.calibration`):

    * days: ``S`` among the sums of ``L2`` random days of the pooled standardised squares,
      ``AR^2 / (C h)`` on window days and ``e_t^2 L1 / (L1 - k) / h_{t|t-k}`` on estimation
      days, ``h_{t|t-k}`` forecast ``k`` days ahead (``k`` = horizon of the window's middle day,
      :func:`_standardised_sample`);
    * blocks: for every run of ``L2`` estimation days ``j..j+L2-1``, the same sum with the
      variances forecast from day ``j - d`` at the window's horizons ``d..d+L2-1``
      (:func:`_block_sums`), relative to the mean one-step standardised square of the other
      estimation days; ``S`` relative to that mean over all estimation days.

    ``p_value_parametric``: ``S ~ chi2(L2)`` (normal innovations, no parameter uncertainty).
    A pair whose fit failed gets a 'fallback' row carrying the ``variance_ratio`` result and
    the failure's reason in its message.
    """
    ar, factor, inside = window_arrays(panel, window)
    h = fits.event_variance(panel)[:, inside]
    l2 = ar.shape[1]
    status, message = fits.status.copy(), fits.message.copy()
    window_status, window_message = pair_status(panel, window, 1, "garch_cav")
    flag(status, message, window_status != "ok", window_message, window_status)
    first = int(np.argmax(inside)) + panel.event_start
    horizon = first - fits.last_column
    scaled = inputs.scaled_resid2(panel)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows of failed fits
        standardised = ar**2 / (factor * h)
        total = standardised.sum(axis=1)
        parametric = two_sided(stats.chi2.sf(total, l2), stats.chi2.cdf(total, l2))
        reference, length = _standardised_sample(fits, scaled, inputs.length,
                                                 horizon + (l2 - 1) // 2)
        _, day_null, _ = window_sum_null(reference, length, standardised)
        _, rest = block_and_rest_means(scaled / fits.h_sample, inputs.length, l2)
        level = np.nanmean(np.where(np.isfinite(fits.h_sample), scaled / fits.h_sample, np.nan),
                           axis=1)
        block_null = _block_sums(fits, scaled, inputs.length, horizon, l2) / rest
    n = np.full(panel.n_pairs, l2)
    main = Measure("garch_cav", total - l2, total, np.full(panel.n_pairs, np.nan), EMPIRICAL,
                   np.full(panel.n_pairs, "", object), n, status, message,
                   p_parametric=parametric, parametric_reference=references("chi2", n))
    main = calibrate(main, (total, day_null), (total / level, block_null)).masked()
    return _with_fallback(main, ratio, fits)


def _block_sums(fits: GarchFits, values: np.ndarray, length: np.ndarray, horizon: np.ndarray,
                l2: int) -> np.ndarray:
    """``sum values / h`` over every run of ``l2`` estimation days, forecast like the window.

    A window whose first day is at forecast horizon ``d`` is matched by blocks of sample days
    ``j .. j + l2 - 1`` whose variances are forecast from day ``j - d`` at the same horizons
    ``d .. d + l2 - 1`` (from that day's one-step variance ``h_{j-d+1}``); blocks need
    ``j >= d``. Shape (N, M - l2 + 1), NaN where the block does not exist.
    """
    n_pairs, width = values.shape
    n_blocks = max(width - l2 + 1, 1)
    starts = np.arange(n_blocks)[None, :]
    after_origin = starts - horizon[:, None] + 1  # sample index of h_{j-d+1}
    exists = (after_origin >= 1) & (starts + l2 <= length[:, None])
    one_step = np.take_along_axis(fits.h_sample, np.clip(after_origin, 0, width - 1), axis=1)
    phi = fits.persistence[:, None]
    level = fits.omega[:, None] / (1.0 - phi)
    total = np.zeros((n_pairs, n_blocks))
    for day in range(l2):
        steps = (horizon[:, None] + day - 1).astype(float)
        days = values[:, day:day + n_blocks]
        total[:, :days.shape[1]] += days / (level + phi**steps * (one_step - level))
    return np.where(exists, total, np.nan)


def _standardised_sample(fits: GarchFits, values: np.ndarray, length: np.ndarray,
                         horizon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimation-day values divided by their ``k``-step-ahead variance forecast.

    Day ``t`` is scaled by ``h_{t|t-k} = s2 + phi^(k-1) (h_{t-k+1} - s2)`` (forecast from day
    ``t - k`` as the window's days are forecast from the last estimation day, ``k`` = the
    horizon of the window's middle day); the first ``k - 1`` days have no such forecast and
    are dropped. Returns the values in sample order and their number per pair.
    """
    width = values.shape[1]
    k = np.maximum(np.asarray(horizon, dtype=int), 1)[:, None]
    days = np.arange(width)[None, :]
    origin = days - k + 1  # sample index of h_{t-k+1}
    phi = fits.persistence[:, None]
    level = fits.omega[:, None] / (1.0 - phi)
    one_step = np.take_along_axis(fits.h_sample, np.clip(origin, 0, width - 1), axis=1)
    h = level + phi ** (k - 1.0) * (one_step - level)
    scaled = np.where(origin >= 0, values / h, np.nan)
    # drop the first k - 1 days of each pair: shift left
    shifted = np.take_along_axis(scaled, np.clip(days + k - 1, 0, width - 1), axis=1)
    kept = np.maximum(np.asarray(length) - (k[:, 0] - 1), 0)
    return np.where(days < kept[:, None], shifted, np.nan), kept


def _with_fallback(main: Measure, ratio: Measure, fits: GarchFits) -> Measure:
    """Rows whose fit failed carry the variance-ratio result as status 'fallback'."""
    keep = np.flatnonzero((fits.status == "failed") & (ratio.status == "ok"))
    for name in ("estimate", "statistic", "p_value", "p_parametric", "df", "n", "n_null",
                 "parametric_reference"):
        values = np.array(getattr(main, name), dtype=object if name in (
            "df", "parametric_reference") else None)
        values[keep] = np.asarray(getattr(ratio, name))[keep]
        setattr(main, name, values)
    main.status[keep] = "fallback"
    main.message[keep] = [f"{fits.message[i]}; variance_ratio result substituted" for i in keep]
    main.row_distribution = np.full(len(main.status), main.distribution, dtype=object)
    main.row_distribution[keep] = ratio.distribution
    return main


# ----------------------------------------------------------------------------- daily path


DAILY_COLUMNS = ["event_id", "asset", "reaction", "rel_day", "date", "ar", "h", "ar2_over_h",
                 "status"]
"""Columns of :func:`volatility_daily`."""


def volatility_daily(panel: AbnormalPanel, fits: GarchFits) -> pd.DataFrame:
    """Daily abnormal volatility ``AR^2 / h`` of every pair over the event period.

    ``h`` is the GARCH(1,1) variance forecast from the pair's estimation window (the same fit
    as ``garch_cav``); under H0 ``AR^2 / h`` has mean about 1. Pairs whose fit did not succeed
    keep their ARs with NaN ``h`` and their GARCH status.

    Returns
    -------
    DataFrame
        Columns :data:`DAILY_COLUMNS`, one row per (pair, event-period day), pairs in panel
        order.

    Examples
    --------
    >>> daily = volatility_daily(panel, fit_garch(panel))  # doctest: +SKIP
    """
    n_event = len(panel.event_rel_days)
    h = fits.event_variance(panel)
    with np.errstate(all="ignore"):
        ratio = panel.event_ar**2 / h
    return pd.DataFrame({
        "event_id": np.repeat(panel.event_ids, n_event),
        "asset": np.repeat(panel.assets, n_event),
        "reaction": np.repeat(reactions(panel), n_event),
        "rel_day": np.tile(panel.event_rel_days, panel.n_pairs),
        "date": pd.to_datetime(panel.dates[:, panel.event_start:].ravel()),
        "ar": panel.event_ar.ravel(),
        "h": h.ravel(),
        "ar2_over_h": ratio.ravel(),
        "status": np.repeat(fits.status, n_event),
    }, columns=DAILY_COLUMNS)


def garch_daily(panel: AbnormalPanel, fits: GarchFits | None = None) -> pd.DataFrame:
    """:func:`volatility_daily` with the column names ``plots.volatility_paths`` reads
    (``h_forecast``, ``abnormal_volatility``); fits the pairs when ``fits`` is not given."""
    daily = volatility_daily(panel, fits if fits is not None else fit_garch(panel))
    return daily.rename(columns={"h": "h_forecast", "ar2_over_h": "abnormal_volatility"})
