"""Levels in calendar time: market prices over the study with event days, and a level series
(e.g. an implied-volatility index) around one event."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
from matplotlib.axes import Axes

from eventstudy.plots._base import (
    GROUP_PALETTE,
    asset_name,
    category_colors,
    category_handles,
    date_axis,
    event_table,
    new_axes,
    not_available,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

MARGIN_SESSIONS = 20


def default_market_tickers(result: StudyResult, limit: int = 3) -> list[str]:
    """Studied price assets whose own model gives a total reaction (at most ``limit``); for a
    study without any, the benchmarks of its models, most used first (e.g. the index every
    stock is measured against).

    Examples
    --------
    >>> default_market_tickers(res)  # doctest: +SKIP
    ['^N225', '^TOPX']
    """
    config = result.config
    tickers = [a.ticker for a in config.studied_assets
               if a.kind == "price" and config.reaction_of(a) == "total"]
    if tickers:
        return tickers[:limit]
    used = Counter(t for a in config.studied_assets for t in config.model_for(a).tickers())
    return [t for t, _ in used.most_common() if t in result.closes][:limit]


def market_timeline(
    result: StudyResult,
    tickers: Sequence[str] | None = None,
    key_events: Sequence[str] = (),
    exchange: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Price levels over the study span, rebased to 100, with a line at every event's day 0.

    The span runs from :data:`MARGIN_SESSIONS` sessions before the first event to as many
    after the last. Event lines are coloured by category; key events are numbered on the
    first series and named in the legend.

    Parameters
    ----------
    result : StudyResult
    tickers : sequence of str, optional
        Series to draw (default :func:`default_market_tickers`).
    key_events : sequence of str
        Events to number.
    exchange : str, optional
        Exchange whose day 0 places the event lines (default: that of the first series).
    ax : Axes, optional

    Examples
    --------
    >>> ax = market_timeline(res, ["^N225", "^TOPX"])  # doctest: +SKIP
    """
    ax = new_axes(ax, (11, 4.6))
    tickers = list(tickers) if tickers is not None else default_market_tickers(result)
    title = "Market levels (first session shown = 100) and event days"
    present = [t for t in tickers if t in result.closes and result.closes[t].notna().any()]
    if not present:
        return not_available(ax, title, "no prices for " + (", ".join(tickers) or "any market series"))
    if exchange is None:
        try:
            exchange = result.config.asset(present[0]).exchange
        except KeyError:
            exchange = None
    events = event_table(result, exchange).dropna(subset=["day0"])
    if events.empty:
        return not_available(ax, title, f"no event has a day 0 on {exchange}")
    levels = {}
    for i, ticker in enumerate(present):
        series = _span(result.closes[ticker].dropna(), events["day0"])
        if len(series) < 2:
            continue
        levels[ticker] = 100 * series / series.iloc[0]
        ax.plot(levels[ticker].index, levels[ticker].to_numpy(), lw=1.3,
                color=GROUP_PALETTE[i % len(GROUP_PALETTE)], label=asset_name(result, ticker))
    if not levels:
        return not_available(ax, title, "no prices around the events")
    anchor = next(iter(levels.values()))
    colors = category_colors(result)
    for row in events.itertuples():
        ax.axvline(row.day0, color=colors.get(row.category), lw=0.8, alpha=0.45, zorder=0)
    numbered = _number_key_events(ax, events, anchor, key_events)
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("level (first session shown = 100)")
    ax.set_xlabel(f"session ({exchange})" if exchange else "session")
    date_axis(ax)
    series_legend = ax.legend(loc="upper left", fontsize=7, title="series", title_fontsize=7)
    ax.add_artist(series_legend)
    handles = category_handles(colors, events["category"])
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7,
              ncols=min(6, len(handles)), title="event category (line = day 0)", title_fontsize=7)
    if numbered:
        text = "\n".join(f"{n}: {event_id}" for n, event_id in numbered)
        ax.text(1.01, 1.0, text, transform=ax.transAxes, fontsize=7, va="top", ha="left")
    ax.grid(axis="y", alpha=0.3)
    return ax


def _span(series: pd.Series, day0: pd.Series) -> pd.Series:
    first = int(series.index.searchsorted(day0.min()))
    last = int(series.index.searchsorted(day0.max()))
    return series.iloc[max(first - MARGIN_SESSIONS, 0): last + MARGIN_SESSIONS + 1]


def _number_key_events(ax: Axes, events: pd.DataFrame, anchor: pd.Series,
                       key_events: Sequence[str]) -> list[tuple[int, str]]:
    """Number key events at the top of the axes (staggered), with a thicker day-0 line."""
    from matplotlib.transforms import blended_transform_factory

    numbered = []
    rows = events.drop_duplicates("event_id").set_index("event_id")
    top = blended_transform_factory(ax.transData, ax.transAxes)
    for n, event_id in enumerate((e for e in key_events if e in rows.index), start=1):
        day0 = rows.at[event_id, "day0"]
        if not anchor.index[0] <= day0 <= anchor.index[-1]:
            continue
        ax.axvline(day0, color="#333333", lw=1.0, ls="--", zorder=1)
        ax.text(day0, 0.97 if n % 2 else 0.90, str(n), transform=top, ha="center", va="top",
                fontsize=8, fontweight="bold",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "#333333", "lw": 0.6})
        numbered.append((n, event_id))
    return numbered


def level_around_event(
    result: StudyResult,
    ticker: str,
    event_id: str,
    sessions: tuple[int, int] = (-20, 40),
    ax: Axes | None = None,
) -> Axes:
    """A level series (e.g. an implied-volatility index) around one event, other events marked.

    Examples
    --------
    >>> ax = level_around_event(res, "NIKKEI_VI", "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    """
    ax = new_axes(ax, (8, 4.2))
    name = asset_name(result, ticker)
    title = f"{name} around {event_id}"
    if ticker not in result.closes or result.closes[ticker].dropna().empty:
        return not_available(ax, title, f"no prices for {ticker}")
    try:
        exchange = result.config.asset(ticker).exchange
    except KeyError:
        exchange = None
    events = event_table(result, exchange)
    day0 = events.set_index("event_id")["day0"].get(event_id, pd.NaT)
    if pd.isna(day0):
        return not_available(ax, title, f"the event has no day 0 on {exchange}")
    level = result.closes[ticker].dropna()
    pos = int(level.index.searchsorted(day0))
    span = level.iloc[max(pos + sessions[0], 0): pos + sessions[1] + 1]
    if len(span) < 2:
        return not_available(ax, title, f"no {name} levels around day 0")
    ax.plot(span.index, span.to_numpy(), color="#222222", lw=1.5, label=name)
    colors = category_colors(result)
    inside = events[events["day0"].between(span.index[0], span.index[-1])]
    for row in inside.itertuples():
        own = row.event_id == event_id
        ax.axvline(row.day0, color=colors.get(row.category), lw=2 if own else 0.9,
                   alpha=0.9 if own else 0.5)
    peak = span.idxmax()
    ax.annotate(f"peak {span.max():.1f} ({peak:%d %b %Y})", (peak, span.max()), xytext=(8, -4),
                textcoords="offset points", fontsize=8)
    ax.set_title(f"{title}\n(day 0 = {day0:%Y-%m-%d}; lines: event days, thick: this event)",
                 fontsize=10)
    ax.set_ylabel(f"{name} (level)")
    ax.set_xlabel(f"session ({exchange})" if exchange else "session")
    date_axis(ax)
    ax.legend(handles=[*ax.get_legend_handles_labels()[0],
                       *category_handles(colors, inside["category"])], fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    return ax
