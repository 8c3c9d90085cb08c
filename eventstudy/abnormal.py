"""Abnormal returns for every (event, asset) pair: estimation samples, batched fits, tidy tables.

The flow for one asset: its returns and model design live on its exchange's session grid;
each event maps to a day-0 session on that grid (``calendars``); the pair's event-time grid is
``day0 + rel_days``. The estimation sample is the estimation window minus missing returns and,
when ``exclude_other_events`` is on, minus the exclusion window of every other event that
applies to the asset. Pairs with fewer than ``min_estimation_returns`` returns, a singular
design or zero residual variance are refused with a reason in the models table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from eventstudy.events import Event, StudySettings
from eventstudy.models import BatchFit, Design, fit_batch, scholes_williams_theta, _shift
from eventstudy.panel import AbnormalPanel


@dataclass(frozen=True)
class AssetInput:
    """One asset ready for estimation: returns and model design on its session grid."""

    ticker: str
    exchange: str
    sessions: pd.DatetimeIndex
    returns: np.ndarray
    design: Design


@dataclass
class _PairBlock:
    """Gathered arrays of all events of one asset (rows = events)."""

    asset: AssetInput
    event_ids: list[str]
    y: np.ndarray
    x: np.ndarray
    x_pred: np.ndarray
    offset: np.ndarray
    market: np.ndarray | None
    dates: np.ndarray
    estimation: np.ndarray
    status: np.ndarray
    message: np.ndarray


def grid(settings: StudySettings) -> tuple[np.ndarray, int]:
    """Event-time grid ``rel_days`` (estimation start .. event-period end) and the event start column."""
    est_start = settings.estimation_window[0]
    ev_start, ev_end = settings.event_period
    return np.arange(est_start, ev_end + 1), ev_start - est_start


def estimate(
    assets: Sequence[AssetInput],
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
) -> tuple[AbnormalPanel, pd.DataFrame]:
    """Fit every (event, asset) pair and return the abnormal-return panel and the models table.

    Parameters
    ----------
    assets : sequence of AssetInput
        Studied assets with their designs.
    events : sequence of Event
        Events in file order; an event restricted to some assets applies only to them.
    day0 : mapping
        ``(event_id, exchange) -> session`` (naive date) from :func:`calendars.map_events`.
    settings : StudySettings
        Windows, exclusions and the minimum estimation length.

    Returns
    -------
    panel : AbnormalPanel
        Pairs whose fit succeeded, ordered by event (file order) then asset (file order).
    models : DataFrame
        One row per attempted pair with parameters, standard errors, status and message.
    """
    rel_days, event_start = grid(settings)
    blocks = [_gather(a, events, day0, settings, rel_days, event_start) for a in assets]
    blocks = [b for b in blocks if b.event_ids]
    fits = _fit_blocks(blocks, event_start)
    panel = _assemble_panel(blocks, fits, rel_days, event_start, events, assets)
    models = _models_table(blocks, fits, events, assets)
    return panel, models


def _gather(
    asset: AssetInput,
    events: Sequence[Event],
    day0: Mapping[tuple[str, str], pd.Timestamp],
    settings: StudySettings,
    rel_days: np.ndarray,
    event_start: int,
) -> _PairBlock:
    applicable = [e for e in events if e.applies_to(asset.ticker)]
    n_sessions = len(asset.sessions)
    sessions = [day0.get((e.id, asset.exchange)) for e in applicable]
    position = np.array(
        [asset.sessions.get_loc(s) if s is not None and s in asset.sessions else -1 for s in sessions],
        dtype=int,
    )
    index = position[:, None] + rel_days[None, :]
    inside = (index >= 0) & (index < n_sessions) & (position[:, None] >= 0)
    safe = np.clip(index, 0, max(n_sessions - 1, 0))

    def take(values: np.ndarray) -> np.ndarray:
        picked = values[safe]
        mask = inside if picked.ndim == 2 else inside[:, :, None]
        return np.where(mask, picked, np.nan)

    y = take(asset.returns)
    x, x_pred, offset = take(asset.design.x), take(asset.design.x_pred), take(asset.design.offset)
    market = take(asset.design.market) if asset.design.market is not None else None
    dates = np.where(inside, asset.sessions.values.astype("datetime64[D]")[safe], np.datetime64("NaT"))
    in_window = (rel_days >= settings.estimation_window[0]) & (rel_days <= settings.estimation_window[1])
    observed = np.isfinite(y) & np.isfinite(x).all(axis=2) & np.isfinite(offset)
    if market is not None:
        observed &= np.isfinite(market)
    estimation = in_window[None, :] & observed & inside
    if settings.exclude_other_events:
        estimation &= ~_excluded(position, index, rel_days, n_sessions, settings)
    status, message = _pair_status(position, estimation, y, event_start, settings, asset, sessions)
    return _PairBlock(
        asset, [e.id for e in applicable], y, x, x_pred, offset, market, dates, estimation, status, message
    )


def _excluded(
    position: np.ndarray, index: np.ndarray, rel_days: np.ndarray, n_sessions: int, settings: StudySettings
) -> np.ndarray:
    """Grid cells falling in another event's exclusion window (same asset, same grid)."""
    lo, hi = settings.other_event_exclusion
    cover = np.zeros(n_sessions + 1, dtype=int)
    for p in position[position >= 0]:
        cover[max(p + lo, 0) : max(min(p + hi + 1, n_sessions), 0)] += 1
    inside = (index >= 0) & (index < n_sessions)
    counts = np.where(inside, cover[np.clip(index, 0, n_sessions)], 0)
    own = ((rel_days >= lo) & (rel_days <= hi)).astype(int)[None, :]
    return (counts - np.where(position[:, None] >= 0, own, 0)) > 0


def _pair_status(
    position: np.ndarray,
    estimation: np.ndarray,
    y: np.ndarray,
    event_start: int,
    settings: StudySettings,
    asset: AssetInput,
    sessions: list,
) -> tuple[np.ndarray, np.ndarray]:
    n = len(position)
    status = np.full(n, "ok", dtype=object)
    message = np.full(n, "", dtype=object)
    n_est = estimation.sum(axis=1)
    event_obs = np.isfinite(y[:, event_start:]).sum(axis=1)
    minimum = settings.min_estimation_returns
    for i in range(n):
        if position[i] < 0:
            when = "no session mapped" if sessions[i] is None else f"day 0 {sessions[i]:%Y-%m-%d}"
            status[i], message[i] = "no_data", f"no price data for {asset.ticker} around the event ({when})"
        elif event_obs[i] == 0:
            status[i], message[i] = "no_data", f"no returns for {asset.ticker} in the event period"
        elif n_est[i] < minimum:
            status[i] = "insufficient"
            message[i] = (
                f"only {n_est[i]} estimation returns for {asset.ticker} "
                f"(min_estimation_returns is {minimum})"
            )
    return status, message


def _fit_blocks(blocks: list[_PairBlock], event_start: int) -> list[BatchFit]:
    """Fit all blocks; blocks whose designs share a shape are solved in one batched call."""
    groups: dict[tuple, list[int]] = {}
    for i, b in enumerate(blocks):
        groups.setdefault((b.asset.design.spec.name, b.asset.design.k), []).append(i)
    fits: list[BatchFit | None] = [None] * len(blocks)
    for (name, _), members in groups.items():
        stacked = [blocks[i] for i in members]
        y = np.concatenate([b.y for b in stacked])
        x = np.concatenate([b.x for b in stacked])
        x_pred = np.concatenate([b.x_pred for b in stacked])
        offset = np.concatenate([b.offset for b in stacked])
        estimation = np.concatenate([b.estimation for b in stacked])
        theta = None
        if name == "scholes_williams":
            market = np.concatenate([b.market for b in stacked])
            theta = scholes_williams_theta(
                y, market, _shift_rows(market, -1), _shift_rows(market, 1), estimation
            )
        fit = fit_batch(y, x, x_pred, offset, estimation, event_start, theta=theta)
        bounds = np.cumsum([0] + [len(b.event_ids) for b in stacked])
        for j, i in enumerate(members):
            fits[i] = _slice_fit(fit, bounds[j], bounds[j + 1])
    return fits  # type: ignore[return-value]


def _shift_rows(values: np.ndarray, step: int) -> np.ndarray:
    return np.stack([_shift(row, step) for row in values]) if len(values) else values


def _slice_fit(fit: BatchFit, lo: int, hi: int) -> BatchFit:
    return BatchFit(
        fit.theta[lo:hi], fit.xtx_inv[lo:hi], fit.s2[lo:hi], fit.n_est[lo:hi], fit.k,
        fit.residual[lo:hi], fit.expected[lo:hi], fit.cov_factor[lo:hi], fit.r2[lo:hi],
        fit.status[lo:hi], fit.message[lo:hi],
    )


def _final_status(block: _PairBlock, fit: BatchFit) -> tuple[np.ndarray, np.ndarray]:
    status = block.status.copy()
    message = block.message.copy()
    failed = (status == "ok") & (fit.status != "ok")
    status[failed] = fit.status[failed]
    message[failed] = fit.message[failed]
    return status, message


def _order(blocks: list[_PairBlock], events: Sequence[Event], assets: Sequence[AssetInput]):
    event_rank = {e.id: i for i, e in enumerate(events)}
    asset_rank = {a.ticker: i for i, a in enumerate(assets)}
    rows = [(bi, r) for bi, b in enumerate(blocks) for r in range(len(b.event_ids))]
    rows.sort(key=lambda t: (event_rank[blocks[t[0]].event_ids[t[1]]], asset_rank[blocks[t[0]].asset.ticker]))
    return rows


def _assemble_panel(blocks, fits, rel_days, event_start, events, assets) -> AbnormalPanel:
    chosen = []
    for bi, r in _order(blocks, events, assets):
        status, _ = _final_status(blocks[bi], fits[bi])
        if status[r] == "ok":
            chosen.append((bi, r))
    n_event = len(rel_days) - event_start

    def collect(get, shape, dtype=float):
        if not chosen:
            return np.empty((0, *shape), dtype=dtype)
        return np.stack([get(blocks[bi], fits[bi], r) for bi, r in chosen])

    y = collect(lambda b, f, r: b.y[r], (len(rel_days),))
    expected = collect(lambda b, f, r: f.expected[r], (len(rel_days),))
    estimation = collect(lambda b, f, r: b.estimation[r], (len(rel_days),), bool)
    residual = collect(lambda b, f, r: f.residual[r], (len(rel_days),))
    ar = np.where(estimation, residual, np.nan)
    ar[:, event_start:] = (y - expected)[:, event_start:]
    return AbnormalPanel(
        event_ids=np.array([blocks[bi].event_ids[r] for bi, r in chosen], dtype=object),
        assets=np.array([blocks[bi].asset.ticker for bi, r in chosen], dtype=object),
        rel_days=rel_days,
        dates=collect(lambda b, f, r: b.dates[r], (len(rel_days),), "datetime64[D]"),
        ret=y,
        expected=expected,
        ar=ar,
        is_estimation=estimation,
        event_start=event_start,
        cov_factor=collect(lambda b, f, r: f.cov_factor[r], (n_event, n_event)),
        s2=collect(lambda b, f, r: f.s2[r], ()),
        n_est=collect(lambda b, f, r: f.n_est[r], (), int),
        k=np.array([fits[bi].k for bi, r in chosen], dtype=int),
    )


def _models_table(blocks, fits, events, assets) -> pd.DataFrame:
    records = []
    for bi, r in _order(blocks, events, assets):
        block, fit = blocks[bi], fits[bi]
        status, message = _final_status(block, fit)
        design = block.asset.design
        params = dict(zip(design.names, fit.theta[r].tolist()))
        std_errors = dict(zip(design.names, fit.std_errors[r].tolist()))
        ok = status[r] == "ok"
        if design.spec.name == "scholes_williams":
            std_errors = {name: None for name in design.names}
            if ok:
                message[r] = "prediction-error covariance uses the market-model form (approximation)"
        records.append(
            {
                "event_id": block.event_ids[r],
                "asset": block.asset.ticker,
                "model": design.spec.label(),
                "alpha": params.get("alpha", np.nan) if ok else np.nan,
                "beta": _beta(design, params) if ok else np.nan,
                "params": json.dumps(_clean(params) if ok else {}, sort_keys=False),
                "std_errors": json.dumps(_clean(std_errors) if ok else {}, sort_keys=False),
                "sigma": float(np.sqrt(fit.s2[r])) if ok else np.nan,
                "r2": float(fit.r2[r]) if ok else np.nan,
                "n_obs": int(block.estimation[r].sum()),
                "k": design.k,
                "status": status[r],
                "message": message[r],
            }
        )
    return pd.DataFrame.from_records(
        records,
        columns=["event_id", "asset", "model", "alpha", "beta", "params", "std_errors", "sigma",
                 "r2", "n_obs", "k", "status", "message"],
    )


def _beta(design: Design, params: dict) -> float:
    name = design.spec.name
    if name == "market_adjusted":
        return 1.0
    if name in ("market", "scholes_williams"):
        return params["beta"]
    if name == "dimson":
        return float(sum(v for k, v in params.items() if k.startswith("beta")))
    return np.nan


def _clean(values: dict) -> dict:
    return {k: (None if v is None or not np.isfinite(v) else float(v)) for k, v in values.items()}


def abnormal_table(panel: AbnormalPanel) -> pd.DataFrame:
    """Tidy daily rows over the event period: event_id, asset, rel_day, date, ret, expected, ar, sar, var_ar."""
    n, e = panel.n_pairs, len(panel.event_rel_days)
    sl = slice(panel.event_start, None)
    return pd.DataFrame(
        {
            "event_id": np.repeat(panel.event_ids, e),
            "asset": np.repeat(panel.assets, e),
            "rel_day": np.tile(panel.event_rel_days, n),
            "date": pd.to_datetime(panel.dates[:, sl].ravel()),
            "ret": panel.ret[:, sl].ravel(),
            "expected": panel.expected[:, sl].ravel(),
            "ar": panel.event_ar.ravel(),
            "sar": panel.sar.ravel(),
            "var_ar": panel.var_ar.ravel(),
        }
    )


def car_table(panel: AbnormalPanel, windows: Sequence[tuple[int, int]], returns: str = "simple") -> pd.DataFrame:
    """Tidy CAR rows: event_id, asset, window, car, scar, var_car, bhar, t, p_value, df.

    ``t`` is the single-asset time-series statistic ``CAR / sqrt(Var CAR)`` (= SCAR) with the
    full prediction-error covariance, referred to t(L1 - k), two-sided (METHODS 2.1).
    BHAR compounds simple returns (log returns are converted first).
    """
    frames = []
    dof = panel.dof.astype(float)
    for window in windows:
        car, var_car = panel.car(window)
        scar = car / np.sqrt(var_car)
        frames.append(
            pd.DataFrame(
                {
                    "event_id": panel.event_ids,
                    "asset": panel.assets,
                    "window": format_window(window),
                    "car": car,
                    "scar": scar,
                    "var_car": var_car,
                    "bhar": _bhar(panel, window, returns),
                    "t": scar,
                    "p_value": 2.0 * stats.t.sf(np.abs(scar), dof),
                    "df": dof,
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _bhar(panel: AbnormalPanel, window: tuple[int, int], returns: str) -> np.ndarray:
    if returns == "simple":
        return panel.bhar(window)
    inside = panel.window_selector(window).astype(bool)
    ret = np.expm1(panel.ret[:, panel.event_start:][:, inside])
    exp = np.expm1(panel.expected[:, panel.event_start:][:, inside])
    return np.prod(1 + ret, axis=1) - np.prod(1 + exp, axis=1)


def format_window(window: tuple[int, int]) -> str:
    """Text form of a window used in every table: ``[a,b]``."""
    return f"[{window[0]},{window[1]}]"
