"""Figures from a :class:`~eventstudy.study.StudyResult` (seaborn on matplotlib).

Every function takes ``ax=None`` (or ``fig=None`` for multi-panel figures), draws on it (or on a
new figure when none is given) and returns the Axes (or Figure). Nothing here calls
``plt.show()`` or picks a backend: notebooks display the returned figure, the report
(:mod:`eventstudy.report_html`) saves it.

Conventions shared by every figure:

* events are coloured by category with :data:`CATEGORY_COLORS`;
* returns are in percent; CARs sum simple abnormal returns (METHODS convention 1);
* index rows (Nikkei 225, TOPIX) use the constant-mean model and are *total* reactions; chip
  stocks and the semiconductor index use the market model against TOPIX and are *relative*
  reactions (DESIGN trap 2). Labels say which is which.

Examples
--------
>>> import eventstudy as es
>>> from eventstudy import plots
>>> res = es.run("events.yaml", snapshot="../shared/prices")  # doctest: +SKIP
>>> ax = plots.car_heatmap(res)                                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from eventstudy.abnormal import format_window
from eventstudy.study import StudyResult, stars

#: One colour per event category, used by every figure (seaborn "colorblind" palette).
CATEGORY_COLORS: dict[str, str] = {
    "tariff_announcement": "#d55e00",
    "chip_policy": "#cc78bc",
    "negotiation_round": "#0173b2",
    "deal": "#029e73",
    "leader_meeting": "#de8f05",
    "other": "#949494",
}
#: Colour of a category missing from :data:`CATEGORY_COLORS`.
FALLBACK_COLOR = "#555555"

#: Key events of 2025 compared in :func:`chips_vs_topix`.
KEY_EVENTS: tuple[str, ...] = (
    "liberation-day-reciprocal-tariffs",
    "reciprocal-90day-pause",
    "round8-deal-15pct-550bn",
    "chip-tariff-100pct-trump-cook",
)

#: Cross-sectional tests shown by :func:`test_comparison`, in display order (top to bottom).
CROSS_SECTIONAL_TESTS: tuple[str, ...] = (
    "patell", "kp_patell", "bmp", "kp_bmp", "cs_t", "crude_dependence", "lamb", "skew_t",
    "grank", "corrado", "corrado_zivney", "sign", "gen_sign", "wilcoxon",
)
#: Tests robust to cross-correlation of same-date abnormal returns (METHODS 3.4-3.5, 3.11).
CLUSTER_ROBUST_TESTS: frozenset[str] = frozenset({"kp_bmp", "kp_patell", "crude_dependence", "grank"})

VOLATILITY_INDEX = "NIKKEI_VI"
VOLATILITY_FLOOR = 1e-2
TOKYO = "XTKS"
#: Line colours for assets and asset groups (kept apart from the category colours).
LINE_COLORS = ("#222222", "#6a3d9a", "#1b9e77", "#777777", "#e7298a", "#66a61e")
#: Colour of the chip-stock average.
CHIP_COLOR = "#8c510a"


# ----------------------------------------------------------------------------- helpers


def category_color(category: str) -> str:
    """Colour of an event category (:data:`CATEGORY_COLORS`, grey for unknown ones).

    Examples
    --------
    >>> category_color("deal")
    '#029e73'
    """
    return CATEGORY_COLORS.get(category, FALLBACK_COLOR)


def event_table(result: StudyResult, exchange: str = TOKYO) -> pd.DataFrame:
    """Events with category, tags and day 0 on ``exchange``, ordered by day 0.

    Columns ``event_id, title, category, tags, day0, partial``; ``day0`` is NaT when the event
    has no session on that exchange.

    Examples
    --------
    >>> event_table(res).head()  # doctest: +SKIP
    """
    sessions = result.event_sessions[result.event_sessions["exchange"] == exchange]
    day0 = sessions.set_index("event_id")
    rows = [
        {
            "event_id": e.id, "title": e.title, "category": e.category, "tags": ", ".join(e.tags),
            "announced": e.announced,
            "day0": day0["session"].get(e.id, pd.NaT),
            "partial": bool(day0["partial"].get(e.id, False)),
        }
        for e in result.config.events
    ]
    frame = pd.DataFrame(rows)
    frame["day0"] = pd.to_datetime(frame["day0"])
    order = np.argsort(frame["day0"].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def asset_name(result: StudyResult, ticker: str) -> str:
    """Display name of a ticker from the study config (the ticker itself when unknown)."""
    try:
        return result.config.asset(ticker).name
    except KeyError:
        return ticker


def reaction_label(result: StudyResult, ticker: str) -> str:
    """'total' for constant-mean assets, 'relative to <benchmark>' otherwise."""
    spec = result.config.model_for(result.config.asset(ticker))
    if spec.name == "constant_mean":
        return "total"
    benchmarks = [spec.benchmark] if spec.benchmark else [f.ticker for f in spec.factors]
    return "relative to " + ", ".join(asset_name(result, b) for b in benchmarks)


def asset_groups(result: StudyResult) -> dict[str, list[str]]:
    """Studied assets grouped by (asset group, reaction type), labelled for legends.

    Indices with a constant-mean model measure the total reaction; assets with a market or
    factor model measure the reaction relative to their benchmark, so the two never share a
    group. Only assets with estimated pairs are included.

    Examples
    --------
    >>> asset_groups(res)  # doctest: +SKIP
    {'Nikkei 225, TOPIX (total)': ['^N225', '^TOPX'], ...}
    """
    estimated = set(result.car["asset"])
    keyed: dict[tuple[str, str], list[str]] = {}
    for asset in result.config.studied_assets:
        if asset.ticker in estimated:
            keyed.setdefault((asset.group, reaction_label(result, asset.ticker)), []).append(asset.ticker)
    out = {}
    for (group, reaction), tickers in keyed.items():
        if len(tickers) <= 3:
            name = ", ".join(asset_name(result, t) for t in tickers)
        else:
            name = f"{group}: mean of {len(tickers)}"
        out[f"{name} ({reaction})"] = tickers
    return out


def chip_tickers(result: StudyResult, group: str = "chips") -> list[str]:
    """Tickers of the studied assets in ``group`` (default the chip stocks)."""
    return [a.ticker for a in result.config.studied_assets if a.group == group]


def own_model_view(result: StudyResult) -> StudyResult:
    """``result`` restricted to each asset's own model (drops the constant-mean twins that carry
    the total reactions of relatively measured assets), so one (event, asset) is one row."""
    if result.panel.reactions is None:
        return result
    own = {a.ticker: result.config.reaction_of(a) for a in result.config.studied_assets}

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["reaction"] == frame["asset"].map(own)].reset_index(drop=True)

    rows = np.array([r == own.get(a) for a, r in zip(result.panel.assets, result.panel.reactions)], bool)
    if rows.all():
        return result
    inputs = tuple(i for i in result.inputs if i.reaction == own.get(i.ticker))
    return dataclasses.replace(result, panel=result.panel.subset(rows), car=keep(result.car),
                              abnormal=keep(result.abnormal), inputs=inputs)


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def _not_available(ax: Axes, title: str, reason: str) -> Axes:
    """Mark an Axes as 'not available' (missing data) instead of failing."""
    ax.set_title(title)
    ax.text(0.5, 0.5, f"not available:\n{reason}", ha="center", va="center",
            transform=ax.transAxes, color="#777777")
    ax.set_xlabel("not available")
    ax.set_ylabel("not available")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _category_handles(categories: Iterable[str]) -> list[Line2D]:
    return [
        Line2D([], [], marker="o", linestyle="", color=category_color(c), label=c.replace("_", " "))
        for c in dict.fromkeys(categories)
    ]


def _event(result: StudyResult, event_id: str):
    for event in result.config.events:
        if event.id == event_id:
            return event
    raise KeyError(f"unknown event {event_id!r}")


def _day0(result: StudyResult, event_id: str, exchange: str = TOKYO) -> pd.Timestamp | None:
    rows = result.event_sessions
    hit = rows[(rows["event_id"] == event_id) & (rows["exchange"] == exchange)]
    return pd.Timestamp(hit["session"].iloc[0]) if len(hit) else None


def _t_crit(df: np.ndarray | float, level: float = 0.95) -> np.ndarray:
    return stats.t.ppf(0.5 + level / 2, np.asarray(df, dtype=float))


# ----------------------------------------------------------------------------- index levels


def index_levels(
    result: StudyResult,
    tickers: Sequence[str] = ("^N225", "^TOPX"),
    year: int = 2025,
    ax: Axes | None = None,
) -> Axes:
    """Index levels in ``year``, rebased to 100 at the first session, with event markers.

    Each event is a vertical line and a dot on the first index at its Tokyo day 0, coloured by
    category (:data:`CATEGORY_COLORS`).

    Parameters
    ----------
    result : StudyResult
    tickers : sequence of str
        Price series to draw (must be in ``result.closes``).
    year : int
        Calendar year shown.
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = index_levels(res)  # doctest: +SKIP
    """
    ax = _new_axes(ax, (11, 4.8))
    title = f"Nikkei 225 and TOPIX in {year} (rebased: first session = 100) with event days"
    present = [t for t in tickers if t in result.closes and result.closes[t].notna().any()]
    if not present:
        return _not_available(ax, title, f"no prices for {', '.join(tickers)}")
    levels = {}
    for i, ticker in enumerate(present):
        series = result.closes[ticker].dropna()
        series = series[series.index.year == year]
        if series.empty:
            continue
        levels[ticker] = 100 * series / series.iloc[0]
        ax.plot(levels[ticker].index, levels[ticker].to_numpy(), color=LINE_COLORS[i], lw=1.4,
                label=asset_name(result, ticker))
    if not levels:
        return _not_available(ax, title, f"no {year} prices")
    anchor = levels[next(iter(levels))]
    events = event_table(result)
    events = events[events["day0"].dt.year == year]
    for row in events.itertuples():
        color = category_color(row.category)
        ax.axvline(row.day0, color=color, lw=0.8, alpha=0.35, zorder=0)
        value = anchor.asof(row.day0) if row.day0 >= anchor.index[0] else np.nan
        ax.plot([row.day0], [value], marker="o", ms=6, color=color, mec="white", mew=0.6, zorder=3)
    _annotate_key_events(ax, events, anchor)
    ax.set_title(title)
    ax.set_ylabel("index level (first session = 100)")
    ax.set_xlabel(f"Tokyo session ({year})")
    _date_axis(ax)
    first = ax.legend(loc="upper left", fontsize=8, title="index")
    ax.add_artist(first)
    ax.legend(handles=_category_handles(events["category"]), loc="lower right", fontsize=8,
              title="event category (dot = Tokyo day 0)", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    return ax


def _annotate_key_events(ax: Axes, events: pd.DataFrame, anchor: pd.Series) -> None:
    labels = {
        "liberation-day-reciprocal-tariffs": "Liberation Day",
        "reciprocal-90day-pause": "90-day pause",
        "round8-deal-15pct-550bn": "US-Japan deal",
        "chip-tariff-100pct-trump-cook": "100% chip tariff",
    }
    offsets = {
        "liberation-day-reciprocal-tariffs": (-30, -24),
        "reciprocal-90day-pause": (-34, 16),
        "round8-deal-15pct-550bn": (-40, 22),
        "chip-tariff-100pct-trump-cook": (30, -30),
    }
    for row in events[events["event_id"].isin(list(labels))].itertuples():
        value = anchor.asof(row.day0)
        if not np.isfinite(value):
            continue
        ax.annotate(labels[row.event_id], (row.day0, value), xytext=offsets[row.event_id],
                    textcoords="offset points", ha="center", fontsize=8,
                    arrowprops={"arrowstyle": "-", "color": "#777777", "lw": 0.6})


# ----------------------------------------------------------------------------- CAR paths


def _car_path_frame(result: StudyResult, window: tuple[int, int]) -> pd.DataFrame:
    """CAR from ``window[0]`` to each day, per (event, asset): rows pairs, columns rel days.

    A missing AR makes the rest of that path missing (missing stays missing).
    """
    lo, hi = window
    rows = result.abnormal[(result.abnormal["rel_day"] >= lo) & (result.abnormal["rel_day"] <= hi)]
    wide = rows.pivot_table(index=["event_id", "asset"], columns="rel_day", values="ar",
                            dropna=False, aggfunc="first")
    wide = wide.reindex(columns=range(lo, hi + 1))
    return pd.DataFrame(np.cumsum(wide.to_numpy(), axis=1), index=wide.index, columns=wide.columns)


def _mean_band(values: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, int]:
    """Column means and a t-interval from the cross-sectional s.d.; NaN band when n < 2."""
    values = values[np.isfinite(values).all(axis=1)]
    n = len(values)
    mean = values.mean(axis=0) if n else np.full(values.shape[1], np.nan)
    if n < 2:
        return mean, np.full_like(mean, np.nan), n
    half = _t_crit(n - 1, level) * values.std(axis=0, ddof=1) / np.sqrt(n)
    return mean, half, n


def car_paths(
    result: StudyResult,
    by: str = "category",
    window: tuple[int, int] = (-5, 10),
    band: str = "events",
    groups: dict[str, list[str]] | None = None,
    fig: Figure | None = None,
) -> Figure:
    """Mean CAR path from day ``window[0]`` with 95% bands, one panel per category (or tag).

    The line is the mean CAR over pairs (equal weight per event: every event has the same
    assets), i.e. the cumulative AAR from ``window[0]``, one line per asset group
    (:func:`asset_groups`: total reactions of the indices, relative reactions of the chips).

    Parameters
    ----------
    result : StudyResult
    by : {'category', 'tag'}
        What one panel pools.
    window : (int, int)
        Relative days; the path starts at ``window[0]``.
    band : {'events', 'pairs'}
        ``'events'`` (default): 95% t-interval from the s.d. across events of the event-mean
        CAR (same-date pairs are correlated, so each event counts once). ``'pairs'``: from the
        cross-sectional s.d. of the CARs of all (event, asset) pairs (too narrow when the
        pairs are correlated; descriptive).
    groups : dict, optional
        Legend label -> tickers (default :func:`asset_groups`).
    fig : Figure, optional

    Returns
    -------
    Figure

    Examples
    --------
    >>> fig = car_paths(res, by="category")  # doctest: +SKIP
    """
    result = own_model_view(result)
    if band not in ("events", "pairs"):
        raise ValueError("band must be 'events' or 'pairs'")
    paths = _car_path_frame(result, window)
    groups = groups or asset_groups(result)
    scopes = _scope_members(result, by)
    n_cols = min(3, max(len(scopes), 1))
    n_rows = max(1, int(np.ceil(len(scopes) / n_cols)))
    fig = _new_figure(fig, (4.6 * n_cols, 3.4 * n_rows + 0.8))
    axes = fig.subplots(n_rows, n_cols, sharex=True, squeeze=False).ravel()
    days = np.arange(window[0], window[1] + 1)
    chips = set(chip_tickers(result))
    for ax, (scope_id, event_ids) in zip(axes, scopes.items()):
        _draw_scope_paths(ax, paths, groups, event_ids, days, band, chips)
        color = category_color(scope_id) if by == "category" else "#333333"
        ax.set_title(f"{scope_id.replace('_', ' ')} ({len(event_ids)} events)", color=color,
                     fontsize=10)
        ax.axhline(0, color="#999999", lw=0.6)
        ax.axvline(0, color="#999999", lw=0.6, ls=":")
        ax.grid(alpha=0.3)
    for ax in axes[len(scopes):]:
        ax.set_visible(False)
    for ax in axes[: len(scopes)]:
        ax.set_xlabel("session relative to day 0")
        ax.set_ylabel(f"CAR from day {window[0]} (%)")
        ax.tick_params(labelbottom=True, labelleft=True)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize=8)
    what = "event-mean CARs across events" if band == "events" else "CARs across (event, asset) pairs"
    fig.suptitle(f"Mean CAR path by {by}, day {window[0]} to +{window[1]} (%); "
                 f"shaded: 95% t-interval from the s.d. of {what}", fontsize=11)
    return fig


def _scope_members(result: StudyResult, by: str) -> dict[str, list[str]]:
    if by not in ("category", "tag"):
        raise ValueError("by must be 'category' or 'tag'")
    estimated = set(result.car["event_id"])
    members: dict[str, list[str]] = {}
    for event in result.config.events:
        if event.id not in estimated:
            continue
        keys = [event.category] if by == "category" else list(event.tags)
        for key in keys:
            members.setdefault(key, []).append(event.id)
    return members


def _draw_scope_paths(ax: Axes, paths: pd.DataFrame, groups: dict[str, list[str]],
                      event_ids: list[str], days: np.ndarray, band: str, chips: set[str]) -> None:
    events = paths.index.get_level_values("event_id")
    assets = paths.index.get_level_values("asset")
    for i, (label, tickers) in enumerate(groups.items()):
        rows = paths[events.isin(event_ids) & assets.isin(tickers)]
        if rows.empty:
            continue
        values = 100 * rows.to_numpy()
        if band == "events":
            values = rows.groupby(level="event_id").mean().to_numpy() * 100
        mean, half, _ = _mean_band(values)
        color = CHIP_COLOR if set(tickers) <= chips else LINE_COLORS[i % len(LINE_COLORS)]
        ax.plot(days, mean, color=color, lw=1.6, label=label)
        ax.fill_between(days, mean - half, mean + half, color=color, alpha=0.15, lw=0)


def _path_variance(panel, row: int, days: np.ndarray) -> np.ndarray:
    """Prediction-error variance of the CAR path of one pair, full covariance (METHODS 3)."""
    inside = np.isin(panel.event_rel_days, days)
    cov = panel.s2[row] * panel.cov_factor[row][np.ix_(inside, inside)]
    return np.diagonal(np.cumsum(np.cumsum(cov, axis=0), axis=1)).copy()


def _portfolio_path_variance(panel, rows: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Variance of an equal-weighted portfolio's CAR path (crude-dependence style).

    ``s2_p`` is the variance of the equal-weighted mean of the estimation residuals (so the
    cross-correlation of the stocks is kept), scaled by the mean prediction-error factor.
    """
    resid = panel.estimation_residuals()[rows]
    common = np.isfinite(resid).all(axis=0)
    portfolio = resid[:, common].mean(axis=0)
    dof = max(len(portfolio) - int(np.max(panel.k[rows])), 1)
    s2 = float(np.sum((portfolio - portfolio.mean()) ** 2) / dof)
    inside = np.isin(panel.event_rel_days, days)
    factor = panel.cov_factor[rows].mean(axis=0)[np.ix_(inside, inside)]
    return s2 * np.diagonal(np.cumsum(np.cumsum(factor, axis=0), axis=1)).copy()


def car_path_event(
    result: StudyResult,
    event_id: str,
    assets: Sequence[str] | None = None,
    window: tuple[int, int] = (-5, 10),
    ax: Axes | None = None,
) -> Axes:
    """CAR path of one event with 95% bands from the prediction-error variances.

    Default: one line per asset that is not a chip stock (indices: total reaction;
    semiconductor index: relative to TOPIX) and the equal-weighted chip-stock average, whose
    band uses the variance of the portfolio's estimation residuals (keeps their correlation).
    With ``assets`` given: one line per asset.

    Parameters
    ----------
    result : StudyResult
    event_id : str
    assets : sequence of str, optional
    window : (int, int)
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = car_path_event(res, "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    """
    result = own_model_view(result)
    ax = _new_axes(ax, (8, 4.6))
    event = _event(result, event_id)
    day0 = _day0(result, event_id)
    when = f"day 0 = {day0:%Y-%m-%d} Tokyo" if day0 is not None else "no Tokyo day 0"
    title = f"CAR path: {event_id} ({when})"
    panel = result.panel
    days = np.arange(window[0], window[1] + 1)
    chips = chip_tickers(result)
    singles = list(assets) if assets is not None else [
        t for t in dict.fromkeys(panel.assets) if t not in chips]
    mine = np.flatnonzero(panel.event_ids == event_id)
    if len(mine) == 0:
        return _not_available(ax, title, "no estimated (event, asset) pair")
    lines = 0
    for ticker in singles:
        hit = mine[panel.assets[mine] == ticker]
        if len(hit):
            car = np.cumsum(panel.event_ar[hit[0]][np.isin(panel.event_rel_days, days)])
            label = f"{asset_name(result, ticker)} ({reaction_label(result, ticker)})"
            _band_line(ax, days, car, _path_variance(panel, hit[0], days), panel.dof[hit[0]],
                       LINE_COLORS[lines % len(LINE_COLORS)], label)
            lines += 1
    chip_rows = mine[np.isin(panel.assets[mine], chips)]
    if assets is None and len(chip_rows):
        car = np.cumsum(panel.event_ar[chip_rows][:, np.isin(panel.event_rel_days, days)].mean(axis=0))
        label = f"chip stocks, mean of {len(chip_rows)} ({reaction_label(result, chips[0])})"
        _band_line(ax, days, car, _portfolio_path_variance(panel, chip_rows, days),
                   int(np.min(panel.dof[chip_rows])), CHIP_COLOR, label)
    ax.axhline(0, color="#999999", lw=0.6)
    ax.axvline(0, color="#999999", lw=0.6, ls=":")
    ax.set_title(title + f"\n[{event.category.replace('_', ' ')}] shaded: 95% prediction-error band",
                 fontsize=10)
    ax.set_xlabel("Tokyo session relative to day 0")
    ax.set_ylabel(f"CAR from day {window[0]} (%)")
    ax.legend(fontsize=8, loc="best")
    ax.grid(alpha=0.3)
    return ax


def _band_line(ax: Axes, days: np.ndarray, car: np.ndarray, var: np.ndarray, dof: float,
               color: str, label: str) -> None:
    half = _t_crit(dof) * np.sqrt(var)
    ax.plot(days, 100 * car, color=color, lw=1.6, label=label)
    ax.fill_between(days, 100 * (car - half), 100 * (car + half), color=color, alpha=0.12, lw=0)


# ----------------------------------------------------------------------------- heat map


def car_heatmap(
    result: StudyResult,
    window: tuple[int, int] = (0, 1),
    assets: Sequence[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Event x asset heat map of CAR over ``window`` (%) with significance stars.

    Stars (* p<0.10, ** p<0.05, *** p<0.01) come from the single-asset t-test of the CAR (full
    prediction-error covariance, t(L1 - k)) in ``result.car``. Rows are events ordered by
    Tokyo day 0 and labelled with date and id; the colour scale is centred at 0 and clipped at
    the 98th percentile of |CAR| so one crash does not wash out the rest.

    Examples
    --------
    >>> ax = car_heatmap(res, window=(0, 1))  # doctest: +SKIP
    """
    result = own_model_view(result)
    label = format_window(window)
    rows = result.car[result.car["window"] == label]
    events = event_table(result)
    events = events[events["event_id"].isin(set(rows["event_id"]))]
    columns = list(assets) if assets is not None else [
        a.ticker for a in result.config.studied_assets if a.ticker in set(rows["asset"])]
    ax = _new_axes(ax, (2.2 + 0.72 * max(len(columns), 1), 1.6 + 0.26 * max(len(events), 1)))
    title = f"CAR{label} by event and asset (%); stars: single-asset t-test p<0.10/0.05/0.01"
    if rows.empty or not columns:
        return _not_available(ax, title, f"no CAR{label} rows")
    car = rows.pivot_table(index="event_id", columns="asset", values="car", aggfunc="first")
    p = rows.pivot_table(index="event_id", columns="asset", values="car_p_value", aggfunc="first")
    car = 100 * car.reindex(index=events["event_id"], columns=columns)
    p = p.reindex(index=events["event_id"], columns=columns)
    notes = np.vectorize(lambda v, q: "" if not np.isfinite(v) else f"{v:.1f}{stars(q)}",
                         otypes=[object])(car.to_numpy(), p.to_numpy())
    finite = np.abs(car.to_numpy()[np.isfinite(car.to_numpy())])
    limit = max(float(np.ceil(np.percentile(finite, 98))), 1.0) if finite.size else 1.0
    sns.heatmap(car, ax=ax, cmap="RdBu", center=0, vmin=-limit, vmax=limit, annot=notes, fmt="",
                annot_kws={"fontsize": 6}, linewidths=0.3, linecolor="white",
                cbar_kws={"label": f"CAR{label} (%), colours clipped at ±{limit:.0f}%",
                          "shrink": 0.6})
    ylabels = [f"{d:%d %b}  {e}" for d, e in zip(events["day0"], events["event_id"])]
    ax.set_yticks(np.arange(len(ylabels)) + 0.5, ylabels, fontsize=7, rotation=0)
    for tick, category in zip(ax.get_yticklabels(), events["category"]):
        tick.set_color(category_color(category))
    names = [f"{asset_name(result, t)}" for t in columns]
    ax.set_xticks(np.arange(len(names)) + 0.5, names, fontsize=7, rotation=45, ha="right")
    ax.set_xlabel("asset (indices: total reaction; chips, semiconductor index: relative to TOPIX)")
    ax.set_ylabel("event (Tokyo day 0, id; label colour = category)")
    ax.set_title(title, fontsize=10)
    return ax


# ----------------------------------------------------------------------------- chips vs TOPIX


def chips_vs_topix(
    result: StudyResult,
    event_ids: Sequence[str] = KEY_EVENTS,
    window: tuple[int, int] = (0, 1),
    benchmark: str = "^TOPX",
    ax: Axes | None = None,
) -> Axes:
    """CAR of each chip stock against TOPIX's CAR for a few key events, 95% intervals.

    Horizontal bars, one row per asset (TOPIX first), one bar per event. Intervals are
    ``CAR ± t_{0.975}(L1 - k) sqrt(var_car)`` (full prediction-error covariance). TOPIX is a
    total reaction (constant mean); chip CARs are relative to TOPIX (market model), so a chip
    bar near 0 means the stock moved as its beta times TOPIX.

    Examples
    --------
    >>> ax = chips_vs_topix(res)  # doctest: +SKIP
    """
    result = own_model_view(result)
    label = format_window(window)
    rows = result.car[(result.car["window"] == label) & result.car["event_id"].isin(list(event_ids))]
    others = [t for t in chip_tickers(result, "index") if t != benchmark and t != "^N225"]
    order = [t for t in [benchmark, *others, *chip_tickers(result)] if t in set(rows["asset"])]
    events = [e for e in event_ids if e in set(rows["event_id"])]
    ax = _new_axes(ax, (9, 1.6 + 0.12 * max(len(order), 1) * max(len(events), 1)))
    title = f"Chip stocks vs TOPIX: CAR{label} (%) around key events, 95% intervals"
    if not events or not order:
        return _not_available(ax, title, "none of the key events was estimated")
    palette = sns.color_palette("dark", len(events))
    height = 0.8 / len(events)
    for j, event_id in enumerate(events):
        sub = rows[rows["event_id"] == event_id].set_index("asset").reindex(order)
        half = _t_crit(sub["car_df"].to_numpy()) * np.sqrt(sub["var_car"].to_numpy())
        y = np.arange(len(order)) - 0.4 + height * (j + 0.5)
        day0 = _day0(result, event_id)
        ax.barh(y, 100 * sub["car"].to_numpy(), height=height * 0.92, color=palette[j],
                xerr=100 * half, error_kw={"elinewidth": 0.7, "ecolor": "#444444", "capsize": 1.5},
                label=f"{event_id} ({day0:%d %b})" if day0 is not None else event_id)
    names = [f"{asset_name(result, t)} ({reaction_label(result, t)})" if i < 1 + len(others)
             else asset_name(result, t) for i, t in enumerate(order)]
    ax.set_yticks(np.arange(len(order)), names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#555555", lw=0.8)
    ax.axhline(0.5 + len(others), color="#999999", lw=0.6, ls="--")
    ax.set_xlabel(f"CAR{label} (%): TOPIX total; chips relative to TOPIX (market model)")
    ax.set_ylabel("asset")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2,
              title="event (Tokyo day 0)", title_fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return ax


# ----------------------------------------------------------------------------- volatility


def volatility_paths(
    result: StudyResult,
    event_id: str,
    window: tuple[int, int] = (-5, 10),
    daily: pd.DataFrame | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Abnormal volatility ``AR²/ĥ`` around one event (GARCH(1,1) forecast ``ĥ``).

    Thin lines: each asset; bold lines: the median of the chip stocks and each non-chip asset.
    Under H0 ``AR²/ĥ`` has mean 1 (dashed line); the y axis is logarithmic.

    Parameters
    ----------
    result : StudyResult
    event_id : str
    window : (int, int)
    daily : DataFrame, optional
        Precomputed :func:`eventstudy.volatility.garch_daily` rows (fitted here otherwise, only
        for the pairs of ``event_id``).
    ax : Axes, optional

    Examples
    --------
    >>> ax = volatility_paths(res, "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    """
    result = own_model_view(result)
    ax = _new_axes(ax, (8, 4.6))
    title = f"Abnormal volatility AR²/ĥ (GARCH(1,1) forecast ĥ): {event_id}"
    if daily is None:
        from eventstudy import volatility

        rows = result.panel.event_ids == event_id
        if not rows.any():
            return _not_available(ax, title, "no estimated (event, asset) pair")
        daily = volatility.garch_daily(result.panel.subset(rows))
    daily = daily[(daily["event_id"] == event_id) & daily["rel_day"].between(*window)]
    wide = daily.pivot_table(index="rel_day", columns="asset", values="abnormal_volatility",
                             aggfunc="first", dropna=False)
    wide = wide.where(wide > 0)
    if wide.empty or not np.isfinite(wide.to_numpy()).any():
        return _not_available(ax, title, "GARCH fits failed for every asset")
    chips = [t for t in chip_tickers(result) if t in wide]
    for ticker in chips:
        ax.plot(wide.index, wide[ticker], color=CHIP_COLOR, lw=0.5, alpha=0.35)
    if chips:
        ax.plot(wide.index, wide[chips].median(axis=1), color=CHIP_COLOR, lw=2.2,
                label=f"chip stocks, median of {len(chips)} (thin: each)")
    studied = [a.ticker for a in result.config.studied_assets]
    others = [t for t in studied if t in wide and t not in chips]
    for i, ticker in enumerate(others):
        ax.plot(wide.index, wide[ticker], color=LINE_COLORS[i % len(LINE_COLORS)], lw=1.5,
                marker="o", ms=3, label=asset_name(result, ticker))
    ax.set_yscale("log")
    ax.set_ylim(bottom=VOLATILITY_FLOOR)
    ax.axhline(1, color="#555555", lw=0.8, ls="--", label="1 = volatility as forecast")
    ax.axvline(0, color="#999999", lw=0.6, ls=":")
    day0 = _day0(result, event_id)
    when = f"day 0 = {day0:%Y-%m-%d} Tokyo; " if day0 is not None else ""
    ax.set_title(f"{title}\n({when}values below {VOLATILITY_FLOOR:g} cut off)", fontsize=10)
    ax.set_xlabel("Tokyo session relative to day 0")
    ax.set_ylabel("AR² / ĥ (ratio, log scale)")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3, which="both")
    return ax


def vi_around_event(
    result: StudyResult,
    event_id: str = "liberation-day-reciprocal-tariffs",
    sessions: tuple[int, int] = (-20, 40),
    ticker: str = VOLATILITY_INDEX,
    ax: Axes | None = None,
) -> Axes:
    """Nikkei Volatility Index level around an event, with the other events in the span.

    Examples
    --------
    >>> ax = vi_around_event(res, "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    """
    ax = _new_axes(ax, (8, 4.2))
    day0 = _day0(result, event_id)
    title = f"Nikkei Volatility Index around {event_id}"
    if ticker not in result.closes or result.closes[ticker].dropna().empty:
        return _not_available(ax, title, f"{ticker} prices missing")
    if day0 is None:
        return _not_available(ax, title, "event has no Tokyo day 0")
    level = result.closes[ticker].dropna()
    pos = int(level.index.searchsorted(day0))
    span = level.iloc[max(pos + sessions[0], 0): pos + sessions[1] + 1]
    ax.plot(span.index, span.to_numpy(), color="#222222", lw=1.5, label=asset_name(result, ticker))
    events = event_table(result)
    inside = events[events["day0"].between(span.index[0], span.index[-1])]
    for row in inside.itertuples():
        ax.axvline(row.day0, color=category_color(row.category), lw=2 if row.event_id == event_id else 0.9,
                   alpha=0.9 if row.event_id == event_id else 0.5)
    peak = span.idxmax()
    ax.annotate(f"peak {span.max():.1f} ({peak:%d %b})", (peak, span.max()), xytext=(8, -4),
                textcoords="offset points", fontsize=8)
    ax.set_title(f"{title}\n(day 0 = {day0:%Y-%m-%d}; vertical lines: events, coloured by category)",
                 fontsize=10)
    ax.set_ylabel("Nikkei VI (index points)")
    ax.set_xlabel("Tokyo session")
    _date_axis(ax)
    ax.legend(handles=[*ax.get_legend_handles_labels()[0], *_category_handles(inside["category"])],
              fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    return ax


# ----------------------------------------------------------------------------- test comparison


def test_comparison(
    result: StudyResult,
    event_id: str,
    window: tuple[int, int] = (0, 1),
    tests: Sequence[str] = CROSS_SECTIONAL_TESTS,
    ax: Axes | None = None,
) -> Axes:
    """Two-sided p-values of the cross-sectional tests of one event's CAR (log scale).

    Arrows go from each test without clustering adjustment to its Kolari-Pynnönen version
    (Patell -> KP-Patell, BMP -> KP-BMP): same-date abnormal returns are correlated
    (``r̄`` in the title), which the unadjusted tests ignore. Filled markers: tests robust to
    cross-correlation (KP-BMP, KP-Patell, crude dependence, GRANK).

    Examples
    --------
    >>> ax = test_comparison(res, "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    """
    ax = _new_axes(ax, (8, 5.2))
    label = format_window(window)
    frame = result.tests
    rows = frame[(frame["scope"] == "event") & (frame["scope_id"] == event_id)
                 & (frame["asset"] == "") & (frame["window"] == label)]
    if len(rows):  # the largest cross-section of the event (one group, one reaction kind)
        largest = rows.loc[rows["n"].idxmax(), ["group_by", "group", "reaction"]]
        rows = rows[(rows[["group_by", "group", "reaction"]] == largest).all(axis=1)]
    rows = rows.set_index("test").reindex([t for t in tests if t in set(rows["test"])])
    title = f"Cross-sectional tests of CAR{label}: {event_id}"
    if rows.empty or not np.isfinite(rows["p_value"].to_numpy(dtype=float)).any():
        return _not_available(ax, title, "no cross-sectional test rows")
    floor = 1e-12
    p = rows["p_value"].to_numpy(dtype=float).clip(floor, 1)
    y = np.arange(len(rows))
    robust = np.array([t in CLUSTER_ROBUST_TESTS for t in rows.index])
    ax.scatter(p[robust], y[robust], color="#0173b2", s=40, zorder=3, label="robust to cross-correlation")
    ax.scatter(p[~robust], y[~robust], facecolor="white", edgecolor="#444444", s=40, zorder=3,
               label="assumes independent abnormal returns")
    index = {t: i for i, t in enumerate(rows.index)}
    for plain, adjusted in (("patell", "kp_patell"), ("bmp", "kp_bmp")):
        if plain in index and adjusted in index and np.isfinite(p[[index[plain], index[adjusted]]]).all():
            ax.annotate("", (p[index[adjusted]], index[adjusted]), (p[index[plain]], index[plain]),
                        arrowprops={"arrowstyle": "->", "color": "#777777", "lw": 0.8})
    for i, (stat, q) in enumerate(zip(rows["statistic"], p)):
        if np.isfinite(q):
            ax.annotate(f"{stat:.2f}", (q, i), xytext=(0, 6), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="#444444")
    for level, style in ((0.01, ":"), (0.05, "--"), (0.10, "-.")):
        ax.axvline(level, color="#999999", lw=0.8, ls=style)
    ax.set_xscale("log")
    ax.set_xlim(min(np.nanmin(p) / 3, 1e-3), 1.5)
    ax.set_yticks(y, [t.replace("_", " ") for t in rows.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"two-sided p-value (log scale, p < {floor:g} drawn at {floor:g}; "
                  "lines at 0.01, 0.05, 0.10; label: statistic)")
    ax.set_ylabel("test")
    r_bar = rows["r_bar"].dropna()
    r_text = f"r̄ = {r_bar.iloc[0]:.2f}" if len(r_bar) else "r̄ n/a"
    n = int(rows["n"].max())
    scope = f"{rows['group'].iloc[0]}, {rows['reaction'].iloc[0]} reactions"
    ax.set_title(f"{title}\n{r_text}, N = {n} assets ({scope})", fontsize=10)
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(axis="x", alpha=0.3, which="major")
    return ax
