"""Joint estimation of events whose windows overlap (METHODS 2.3 and 6).

One statsmodels OLS per asset over the estimation sample of the cluster's first event and the
event periods of all its events:

``R_t = x_t'theta + sum_d gamma_d D_dt + e_t``,  ``D_dt = 1{t = d}`` for every event-period session d.

``gamma_d`` is the abnormal return of session d, shared by every event whose event period
contains d (e.g. 10 April 2025 is day +5 of Liberation Day and day 0 of the 90-day pause).
Day dummies take classical OLS standard errors (pinned convention 10: HAC is badly oversized
for single-day dummies, Ford, Jackson & Skinner 2010). Window CARs are reported two ways:

* ``kind = "window"``: ``CAR = sum of the day dummies`` over the window with variance
  ``w' Cov(gamma) w`` from the same classical covariance (Salinger 1992, Karafiath 1988);
* ``kind = "window_hac"`` (windows of at least :data:`HAC_MIN_DAYS` sessions only): one regression
  per window with a block dummy per event — the average daily AR over the window — and Newey–West
  HAC standard errors (``maxlags = floor(4 (T/100)^(2/9))``); CAR = ``L2 * coefficient``. Shorter
  blocks are not reported with HAC: like a day dummy, a 1–2 day block fits its days almost
  exactly and the HAC "meat" collapses (t-statistics of 30 on real data).

Events that share a day 0 share their dummies and are reported with identical rows. With a single event (or windows that do not overlap and share one
estimation sample) the day-dummy ARs equal the two-step ARs exactly (Karafiath 1988).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy.abnormal import AssetInput, format_window
from eventstudy.events import StudySettings

HAC_MIN_DAYS = 5

JOINT_COLUMNS = [
    "cluster", "event_id", "asset", "kind", "rel_day", "window", "date", "estimate", "std_error",
    "t", "p_value", "df", "cov_type", "n_obs", "status", "message",
]


def clusters(day0_positions: dict[str, int], settings: StudySettings) -> list[list[str]]:
    """Group events whose event periods overlap on one session grid (connected components)."""
    lo, hi = settings.event_period
    ordered = sorted(day0_positions.items(), key=lambda kv: kv[1])
    groups: list[list[str]] = []
    last_end = None
    for event_id, pos in ordered:
        if last_end is not None and pos + lo <= last_end:
            groups[-1].append(event_id)
        else:
            groups.append([event_id])
        last_end = max(last_end or pos + hi, pos + hi)
    return groups


def joint_estimate(
    asset: AssetInput,
    day0_positions: dict[str, int],
    settings: StudySettings,
    excluded: np.ndarray | None = None,
    cluster_name: str = "",
) -> pd.DataFrame:
    """Day-dummy ARs (classical SE) and window CARs (HAC) for the events of one cluster.

    Parameters
    ----------
    asset : AssetInput
        Returns and model design on the asset's session grid.
    day0_positions : dict
        ``event_id -> position of day 0`` on ``asset.sessions`` for the cluster's events.
    settings : StudySettings
        Estimation window (relative to the cluster's first event), event period and windows.
    excluded : ndarray of bool, optional
        Sessions removed from the estimation sample (other events' exclusion windows).

    Returns
    -------
    DataFrame
        Columns :data:`JOINT_COLUMNS`; ``kind`` is ``day`` (AR per event day) or ``window``.
    """
    import statsmodels.api as sm

    if asset.design.spec.name == "scholes_williams":
        return _refused(asset, day0_positions, cluster_name, "joint estimation is not defined for Scholes–Williams")
    sample, event_days = _sample(asset, day0_positions, settings, excluded)
    y = asset.returns - asset.design.offset
    base = asset.design.x
    keep = sample & np.isfinite(y) & np.isfinite(base).all(axis=1)
    if (keep & ~event_days).sum() < settings.min_estimation_returns:
        n = int((keep & ~event_days).sum())
        return _refused(
            asset, day0_positions, cluster_name,
            f"only {n} estimation returns (min_estimation_returns is {settings.min_estimation_returns})",
        )
    day_rows = np.flatnonzero(keep & event_days)
    dummies = (np.arange(len(y))[:, None] == day_rows[None, :]).astype(float)
    design = np.column_stack([base, dummies])[keep]
    fit = sm.OLS(y[keep], design).fit()
    k = base.shape[1]
    gamma = dict(zip(day_rows.tolist(), fit.params[k:]))
    gamma_se = dict(zip(day_rows.tolist(), fit.bse[k:]))
    rows = []
    for event_id, pos in day0_positions.items():
        for rel in range(settings.event_period[0], settings.event_period[1] + 1):
            rows.append(_day_row(asset, cluster_name, event_id, pos, rel, gamma, gamma_se, fit))
    rows.extend(_window_sums(asset, cluster_name, day0_positions, settings, day_rows, fit, k))
    rows.extend(_window_rows(asset, y, base, keep, day0_positions, settings, cluster_name))
    return pd.DataFrame(rows, columns=JOINT_COLUMNS)


def _window_sums(asset, cluster_name, day0_positions, settings, day_rows, fit, k):
    """CAR = sum of day dummies over the window, variance w'Cov(gamma)w (classical OLS)."""
    cov = np.asarray(fit.cov_params())[k:, k:]
    gamma = np.asarray(fit.params)[k:]
    column = {row: j for j, row in enumerate(day_rows.tolist())}
    rows = []
    for event_id, pos in day0_positions.items():
        for window in settings.event_windows:
            sessions = range(pos + window[0], pos + window[1] + 1)
            label = format_window(window)
            if not all(s in column for s in sessions):
                rows.append([cluster_name, event_id, asset.ticker, "window", pd.NA, label, pd.NaT, np.nan,
                             np.nan, np.nan, np.nan, fit.df_resid, "nonrobust", int(fit.nobs), "missing",
                             "a return inside the window is missing"])
                continue
            w = np.zeros(len(gamma))
            w[[column[s] for s in sessions]] = 1.0
            car, se = float(w @ gamma), float(np.sqrt(w @ cov @ w))
            t = car / se
            rows.append([cluster_name, event_id, asset.ticker, "window", pd.NA, label, pd.NaT, car, se, t,
                         2 * stats.t.sf(abs(t), fit.df_resid), fit.df_resid, "nonrobust", int(fit.nobs), "ok", ""])
    return rows


def _sample(asset, day0_positions, settings, excluded):
    n = len(asset.sessions)
    first = min(day0_positions.values())
    sample = np.zeros(n, bool)
    lo, hi = first + settings.estimation_window[0], first + settings.estimation_window[1]
    sample[max(lo, 0) : max(min(hi + 1, n), 0)] = True
    if excluded is not None:
        sample &= ~excluded
    event_days = np.zeros(n, bool)
    for pos in day0_positions.values():
        a, b = pos + settings.event_period[0], pos + settings.event_period[1]
        event_days[max(a, 0) : max(min(b + 1, n), 0)] = True
    return sample | event_days, event_days


def _day_row(asset, cluster_name, event_id, pos, rel, gamma, gamma_se, fit):
    row = pos + rel
    inside = 0 <= row < len(asset.sessions)
    date = asset.sessions[row] if inside else pd.NaT
    if row not in gamma:
        return [cluster_name, event_id, asset.ticker, "day", rel, "", date, np.nan, np.nan, np.nan,
                np.nan, fit.df_resid, "nonrobust", int(fit.nobs), "missing", "no return on this session"]
    est, se = gamma[row], gamma_se[row]
    t = est / se
    p = 2 * stats.t.sf(abs(t), fit.df_resid)
    return [cluster_name, event_id, asset.ticker, "day", rel, "", date, est, se, t, p, fit.df_resid,
            "nonrobust", int(fit.nobs), "ok", ""]


def _window_rows(asset, y, base, keep, day0_positions, settings, cluster_name):
    """Per window of >= HAC_MIN_DAYS sessions: block dummies per distinct day 0, HAC standard errors.

    Event-period days outside every block are dropped, so they neither count as normal days
    nor as effects. Overlapping blocks of two events split the shared days between them.
    """
    n = len(y)
    event_days = np.zeros(n, bool)
    for pos in day0_positions.values():
        a, b = pos + settings.event_period[0], pos + settings.event_period[1]
        event_days[max(a, 0) : max(min(b + 1, n), 0)] = True
    distinct = sorted(set(day0_positions.values()))
    rows = []
    for window in settings.event_windows:
        if window[1] - window[0] + 1 < HAC_MIN_DAYS:
            continue
        blocks = []
        for pos in distinct:
            block = np.zeros(n)
            block[max(pos + window[0], 0) : max(min(pos + window[1] + 1, n), 0)] = 1.0
            blocks.append(block)
        covered = np.column_stack(blocks).sum(axis=1) > 0
        use = keep & (~event_days | covered)
        rows.extend(_block_regression(asset, y, base, use, blocks, distinct, day0_positions, window, cluster_name))
    return rows


def _block_regression(asset, y, base, use, blocks, distinct, day0_positions, window, cluster_name):
    import statsmodels.api as sm

    design = np.column_stack([base, *blocks])[use]
    label = format_window(window)
    if np.linalg.matrix_rank(design) < design.shape[1]:
        reason = "window dummies are collinear"
        return [[cluster_name, e, asset.ticker, "window_hac", pd.NA, label, pd.NaT, np.nan, np.nan, np.nan,
                 np.nan, np.nan, "HAC", int(use.sum()), "singular", reason] for e in day0_positions]
    maxlags = math.floor(4 * (use.sum() / 100) ** (2 / 9))
    fit = sm.OLS(y[use], design).fit(cov_type="HAC", cov_kwds={"maxlags": maxlags, "use_correction": True})
    k = base.shape[1]
    length = window[1] - window[0] + 1
    rows = []
    for event_id, pos in day0_positions.items():
        j = distinct.index(pos)
        coef, se = fit.params[k + j], fit.bse[k + j]
        t = coef / se
        shared = [e for e, p in day0_positions.items() if p == pos and e != event_id]
        note = f"same day 0 as {', '.join(shared)}: one shared block" if shared else ""
        rows.append([cluster_name, event_id, asset.ticker, "window_hac", pd.NA, label, pd.NaT,
                     length * coef, length * se, t, 2 * stats.norm.sf(abs(t)), np.nan,
                     f"HAC(maxlags={maxlags})", int(fit.nobs), "ok", note])
    return rows


def _refused(asset, day0_positions, cluster_name, reason):
    rows = [[cluster_name, e, asset.ticker, "day", pd.NA, "", pd.NaT, np.nan, np.nan, np.nan, np.nan,
             np.nan, "", 0, "refused", reason] for e in day0_positions]
    return pd.DataFrame(rows, columns=JOINT_COLUMNS)


def joint_table(
    inputs: Sequence[AssetInput],
    day0: dict[tuple[str, str], pd.Timestamp],
    event_ids: Sequence[str],
    settings: StudySettings,
    excluded_by_asset: dict[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Joint estimates for every asset and every cluster of overlapping events among ``event_ids``."""
    frames = []
    for asset in inputs:
        positions = {}
        for event_id in event_ids:
            session = day0.get((event_id, asset.exchange))
            if session is not None and session in asset.sessions:
                positions[event_id] = asset.sessions.get_loc(session)
        for group in clusters(positions, settings):
            name = "+".join(group)
            excluded = None if excluded_by_asset is None else excluded_by_asset.get(asset.ticker)
            rows = joint_estimate(asset, {e: positions[e] for e in group}, settings, excluded, name)
            rows.insert(JOINT_COLUMNS.index("asset") + 1, "reaction", asset.reaction)
            frames.append(rows)
    if not frames:
        return pd.DataFrame(columns=JOINT_COLUMNS[:3] + ["reaction"] + JOINT_COLUMNS[3:])
    out = pd.concat(frames, ignore_index=True)
    out["rel_day"] = out["rel_day"].astype("Int64")
    return out
