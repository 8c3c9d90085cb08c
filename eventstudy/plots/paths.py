"""CAR paths in event time, read from ``tables/car_paths`` (:mod:`eventstudy.aggregate`).

A path is 0 at its anchor (day -1 by default) and adds each day's abnormal return after it.
Every chart carries one 95% band: that of its average line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from eventstudy.aggregate import band_half_width
from eventstudy.plots._base import (
    GROUP_PALETTE,
    REACTION_NAMES,
    THIN_COLOR,
    asset_name,
    day0_text,
    day_axis,
    group_colors,
    new_axes,
    new_figure,
    not_available,
    not_available_figure,
    percent,
    reference_exchange,
    study_groups,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

MAX_NAMED_LINES = 4


def _scope_rows(paths: pd.DataFrame, kind: str, scope_id: str, group_by: str, group: str,
                reaction: str) -> pd.DataFrame:
    rows = paths[(paths["scope"] == kind) & (paths["scope_id"] == scope_id)
                 & (paths["group_by"] == group_by) & (paths["group"] == group)
                 & (paths["reaction"] == reaction)]
    return rows.sort_values("rel_day", kind="stable")


def _band(ax: Axes, rows: pd.DataFrame, color: str, label: str) -> None:
    days = rows["rel_day"].to_numpy()
    car = percent(rows["car"])
    half = percent(band_half_width(rows))
    ax.fill_between(days, car - half, car + half, color=color, alpha=0.15, lw=0)
    ax.plot(days, car, color=color, lw=2.0, marker="o", ms=2.5, label=label)


def path_panel(
    result: StudyResult,
    paths: pd.DataFrame,
    event_id: str,
    group: str,
    reaction: str,
    group_by: str = "group",
    color: str = GROUP_PALETTE[0],
    ax: Axes | None = None,
) -> Axes:
    """One group's average CAR path around one event with its band, and each asset thin.

    Parameters
    ----------
    result : StudyResult
        For names only.
    paths : DataFrame
        :func:`eventstudy.aggregate.car_paths_table` rows.
    event_id, group, reaction : str
        Which scope to draw (``scope='event'``).
    group_by : str
        The asset partition ``group`` belongs to.
    color : str
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = path_panel(res, paths, "liberation-day-reciprocal-tariffs", "chips", "total")  # doctest: +SKIP
    """
    ax = new_axes(ax, (6, 4))
    mean = _scope_rows(paths, "event", event_id, group_by, group, reaction)
    title = f"{group}: {REACTION_NAMES.get(reaction, reaction)}"
    if mean.empty or not np.isfinite(mean["car"].to_numpy(dtype=float)).any():
        return not_available(ax, title, "no estimated pair")
    members = {a.ticker for a in result.config.studied_assets if a.attribute(group_by) == group}
    pairs = paths[(paths["scope"] == "pair") & (paths["scope_id"] == event_id)
                  & (paths["reaction"] == reaction) & paths["asset"].isin(members)]
    tickers = list(dict.fromkeys(pairs["asset"]))
    named = len(tickers) <= MAX_NAMED_LINES
    grid = pairs.drop_duplicates(["asset", "rel_day"]).pivot(
        index="asset", columns="rel_day", values="car").reindex(tickers)
    days = grid.columns.to_numpy(dtype=float)
    if named:
        for i, ticker in enumerate(tickers):
            ax.plot(days, percent(grid.loc[ticker]), ls="--", lw=1.0, alpha=0.9,
                    color=GROUP_PALETTE[(i + 2) % len(GROUP_PALETTE)],
                    label=asset_name(result, ticker))
    elif tickers:  # one collection: hundreds of assets draw as fast as a few
        ax.add_collection(LineCollection(
            [np.column_stack([days, percent(row)]) for row in grid.to_numpy(dtype=float)],
            colors=THIN_COLOR, linewidths=0.6, alpha=0.6))
    n = int(mean["n"].max())
    what = "mean" if n > 1 else "CAR"
    _band(ax, mean, color, f"{what} of {n} (band: 95%)" if n > 1 else "CAR (band: 95%)")
    if not named:
        ax.plot([], [], color=THIN_COLOR, lw=0.6, label=f"each of {len(tickers)} assets")
    day_axis(ax, int(mean["anchor"].iloc[0]))
    ax.set_title(f"{title} (N = {n})", fontsize=10)
    ax.set_xlabel("session relative to day 0")
    ax.set_ylabel(f"CAR from day {int(mean['anchor'].iloc[0])} (%)")
    ax.legend(fontsize=7, loc="best")
    return ax


def event_paths(
    result: StudyResult,
    paths: pd.DataFrame,
    event_id: str,
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    fig: Figure | None = None,
) -> Figure:
    """CAR paths around one event: one row per asset group, total and relative side by side.

    Each panel is one :func:`path_panel`; panels of a row share their y axis so the total and
    the relative reaction of a group compare at a glance.

    Examples
    --------
    >>> fig = event_paths(res, aggregate.car_paths_table(res), "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    """
    groups = list(groups) if groups is not None else study_groups(result, group_by)
    paths = paths[paths["scope_id"] == event_id]  # this event's rows: every panel reads them
    rows = paths[(paths["scope"] == "event") & (paths["group_by"] == group_by)]
    present = [g for g in groups if g in set(rows["group"])]
    reactions = [r for r in REACTION_NAMES if r in set(rows["reaction"])]
    fig = new_figure(fig, (5.2 * max(len(reactions), 1), 3.3 * max(len(present), 1) + 0.6))
    title = f"CAR paths: {event_id} ({day0_text(result, event_id, reference_exchange(result))})"
    if not present or not reactions:
        return not_available_figure(fig, title, "no estimated pair for this event")
    axes = fig.subplots(len(present), len(reactions), squeeze=False, sharex=True, sharey="row")
    colors = group_colors(groups)
    for i, group in enumerate(present):
        for j, reaction in enumerate(reactions):
            ax = axes[i, j]
            if rows[(rows["group"] == group) & (rows["reaction"] == reaction)].empty:
                ax.set_axis_off()
                ax.text(0.5, 0.5, f"{group}: no {REACTION_NAMES[reaction]}s in this study",
                        ha="center", va="center", transform=ax.transAxes, color="#777777")
                continue
            path_panel(result, paths, event_id, group, reaction, group_by, colors[group], ax=ax)
            ax.tick_params(labelleft=True)
    fig.suptitle(title, fontsize=11)
    return fig


def scope_paths(
    result: StudyResult,
    paths: pd.DataFrame,
    kind: str = "category",
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    fig: Figure | None = None,
) -> Figure:
    """Average CAR path of every category (or tag): one panel each, one line per group and
    reaction kind; the band is that of the first line (the market group's total reaction).

    Examples
    --------
    >>> fig = scope_paths(res, aggregate.car_paths_table(res), "category")  # doctest: +SKIP
    """
    if kind not in ("category", "tag"):
        raise ValueError("kind must be 'category' or 'tag'")
    rows = paths[(paths["scope"] == kind) & (paths["group_by"] == group_by)]
    paths = rows  # every panel reads these rows only
    scope_ids = list(dict.fromkeys(rows["scope_id"]))
    n_cols = min(3, max(len(scope_ids), 1))
    n_rows = max(1, int(np.ceil(len(scope_ids) / n_cols)))
    fig = new_figure(fig, (4.6 * n_cols, 3.2 * n_rows + 1.0))
    title = f"Average CAR path by {kind}"
    if not scope_ids:
        return not_available_figure(fig, title, f"no {kind} scope was estimated")
    groups = list(groups) if groups is not None else study_groups(result, group_by)
    colors = group_colors(groups)
    lines = [(g, r) for g in groups for r in REACTION_NAMES
             if ((rows["group"] == g) & (rows["reaction"] == r)).any()]
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex=True).ravel()
    for ax, scope_id in zip(axes, scope_ids):
        banded = False
        for group, reaction in lines:
            sub = _scope_rows(paths, kind, scope_id, group_by, group, reaction)
            if sub.empty:
                continue
            label = f"{group}, {reaction}"
            if not banded:
                _band(ax, sub, colors[group], label + " (band: 95%)")
                banded = True
            else:
                ax.plot(sub["rel_day"], percent(sub["car"]), color=colors[group], lw=1.4,
                        ls="-" if reaction == "total" else "--", label=label)
        n_events = len({e.id for e in result.config.events
                        if (e.category == scope_id if kind == "category" else scope_id in e.tags)})
        ax.set_title(f"{scope_id.replace('_', ' ')} ({n_events} events)", fontsize=10)
        day_axis(ax, int(rows["anchor"].iloc[0]))
        ax.set_xlabel("session relative to day 0")
        ax.set_ylabel(f"CAR from day {int(rows['anchor'].iloc[0])} (%)")
        ax.tick_params(labelbottom=True)
    for ax in axes[len(scope_ids):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8)
    fig.suptitle(f"{title}: mean over each scope's (event, asset) pairs; solid: total, "
                 "dashed: relative reaction", fontsize=11)
    return fig
