"""What every figure shares: colours, labels, event dates, new axes and 'not available' panels."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

#: Colours given to event categories in the order they first appear in the study file
#: (seaborn "colorblind" palette).
CATEGORY_PALETTE = ("#d55e00", "#0173b2", "#029e73", "#cc78bc", "#de8f05", "#56b4e9", "#ca9161",
                    "#fbafe4", "#949494", "#ece133")
#: Colours of asset groups, in the report's group order (kept apart from the category colours).
GROUP_PALETTE = ("#222222", "#8c510a", "#6a3d9a", "#1b9e77", "#e7298a", "#66a61e", "#a6761d")
#: Colour of single assets drawn behind an average.
THIN_COLOR = "#9a9a9a"
REACTION_NAMES = {"total": "total reaction", "relative": "relative reaction"}
REACTION_MARKERS = {"total": "o", "relative": "D"}


def category_colors(result: StudyResult) -> dict[str, str]:
    """Category -> colour, assigned in the order categories first appear among the events.

    Examples
    --------
    >>> category_colors(res)["tariff_announcement"]  # doctest: +SKIP
    '#d55e00'
    """
    categories = dict.fromkeys(e.category for e in result.config.events)
    return {c: CATEGORY_PALETTE[i % len(CATEGORY_PALETTE)] for i, c in enumerate(categories)}


def group_colors(groups: Sequence[str]) -> dict[str, str]:
    """Group -> colour in the given order (the report puts the market group first)."""
    return {g: GROUP_PALETTE[i % len(GROUP_PALETTE)] for i, g in enumerate(groups)}


def study_groups(result: StudyResult, group_by: str = "group") -> list[str]:
    """Values of ``group_by`` among the studied assets, in file order."""
    values = (a.attribute(group_by) for a in result.config.studied_assets)
    return [v for v in dict.fromkeys(values) if v is not None]


def asset_name(result: StudyResult, ticker: str) -> str:
    """Display name of a ticker from the study file (the ticker itself when unknown)."""
    try:
        return result.config.asset(ticker).name
    except KeyError:
        return ticker


def reaction_label(result: StudyResult, ticker: str, reaction: str) -> str:
    """'total' or 'relative to <benchmark names>' for one asset's pairs of ``reaction``."""
    if reaction == "total":
        return "total"
    try:
        spec = result.config.model_for(result.config.asset(ticker))
    except KeyError:
        return "relative"
    names = ", ".join(asset_name(result, t) for t in spec.tickers())
    return f"relative to {names}" if names else "relative"


def reference_exchange(result: StudyResult) -> str | None:
    """The exchange whose day-0 sessions label events: that of the most studied assets."""
    exchanges = pd.Series([a.exchange for a in result.config.studied_assets])
    return str(exchanges.value_counts().index[0]) if len(exchanges) else None


def event_table(result: StudyResult, exchange: str | None = None) -> pd.DataFrame:
    """Events with category, tags and day 0 on ``exchange``, ordered by day 0 (then file order).

    Columns ``event_id, title, category, tags, announced, day0, partial``; ``day0`` is NaT when
    the event has no session on that exchange.

    Examples
    --------
    >>> event_table(res, "XTKS").head()  # doctest: +SKIP
    """
    exchange = exchange or reference_exchange(result)
    sessions = result.event_sessions[result.event_sessions["exchange"] == exchange]
    day0 = sessions.drop_duplicates("event_id").set_index("event_id")
    frame = pd.DataFrame({
        "event_id": [e.id for e in result.config.events],
        "title": [e.title for e in result.config.events],
        "category": [e.category for e in result.config.events],
        "tags": [", ".join(e.tags) for e in result.config.events],
        "announced": [e.announced for e in result.config.events],
    })
    frame["day0"] = pd.to_datetime(frame["event_id"].map(day0["session"]))
    frame["partial"] = frame["event_id"].map(day0["partial"]).fillna(False).astype(bool)
    order = np.argsort(frame["day0"].to_numpy(), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def day0_text(result: StudyResult, event_id: str, exchange: str | None) -> str:
    """``'day 0 = 2025-04-03 XTKS'`` (or ``'no day 0 on XTKS'``)."""
    rows = result.event_sessions
    hit = rows[(rows["event_id"] == event_id) & (rows["exchange"] == exchange)]
    if hit.empty or pd.isna(hit["session"].iloc[0]):
        return f"no day 0 on {exchange}"
    return f"day 0 = {pd.Timestamp(hit['session'].iloc[0]):%Y-%m-%d} {exchange}"


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax`` itself, or the Axes of a new pyplot figure (shown by notebooks)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def new_figure(fig: Figure | None, figsize: tuple[float, float]) -> Figure:
    """``fig`` itself, or a new pyplot figure (shown by notebooks)."""
    if fig is not None:
        return fig
    import matplotlib.pyplot as plt

    return plt.figure(figsize=figsize, layout="constrained")


def not_available(ax: Axes, title: str, reason: str) -> Axes:
    """Mark an Axes as 'not available' (missing data) instead of failing."""
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, f"not available:\n{reason}", ha="center", va="center",
            transform=ax.transAxes, color="#777777", wrap=True)
    ax.set_xlabel("not available")
    ax.set_ylabel("not available")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def not_available_figure(fig: Figure, title: str, reason: str) -> Figure:
    """A figure with one 'not available' panel."""
    not_available(fig.add_subplot(), title, reason)
    return fig


def date_axis(ax: Axes) -> None:
    """Concise date ticks."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def category_handles(colors: dict[str, str], categories: Iterable[str]) -> list[Line2D]:
    """Legend entries for the given categories."""
    return [Line2D([], [], marker="s", linestyle="", color=colors.get(c, THIN_COLOR),
                   label=c.replace("_", " ")) for c in dict.fromkeys(categories)]


def day_axis(ax: Axes, anchor: int) -> None:
    """Zero lines and a day-0 marker for event-time axes; integer ticks."""
    ax.axhline(0, color="#999999", lw=0.6)
    ax.axvline(0, color="#999999", lw=0.6, ls=":")
    ax.axvline(anchor, color="#cccccc", lw=0.6, ls="--")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def percent(values) -> np.ndarray:
    """Fractions to percent."""
    return 100 * np.asarray(values, dtype=float)
