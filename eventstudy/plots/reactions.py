"""Reactions over one window: total against relative per asset, and the event x asset heat map."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import IdentityTransform

from eventstudy.aggregate import pair_interval
from eventstudy.common import display_window, format_window, stars
from eventstudy.plots._base import (
    REACTION_MARKERS,
    REACTION_NAMES,
    asset_name,
    category_colors,
    category_handles,
    day0_text,
    event_table,
    new_figure,
    not_available_figure,
    percent,
    reference_exchange,
    study_groups,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

REACTION_COLORS = {"total": "#b2182b", "relative": "#2166ac"}


def _rows(result: StudyResult, car: pd.DataFrame, groups: Sequence[str], group_by: str,
          ) -> list[tuple[str, str | None]]:
    """Row order: per group, the group mean (ticker None) then its assets with a CAR; only the
    group means when more than :data:`MAX_SHOWN_ASSETS` assets would be listed."""
    present = set(car["asset"])
    members = {g: [a.ticker for a in result.config.studied_assets
                   if a.attribute(group_by) == g and a.ticker in present] for g in groups}
    listed = sum(len(t) for t in members.values()) <= MAX_SHOWN_ASSETS
    out = []
    for group in groups:
        if members[group]:
            out.append((group, None))
            out += [(group, t) for t in members[group]] if listed else []
    return out


def lists_assets(result: StudyResult, window: tuple[int, int], event_ids: Sequence[str],
                 groups: Sequence[str], group_by: str = "group") -> bool:
    """Whether :func:`total_vs_relative` lists single assets (else group averages only)."""
    car = result.car[(result.car["window"] == format_window(window))
                     & result.car["event_id"].isin(list(event_ids))]
    return any(t is not None for _, t in _rows(result, car, groups, group_by))


def total_vs_relative(
    result: StudyResult,
    caar: pd.DataFrame,
    event_ids: Sequence[str],
    window: tuple[int, int],
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    fig: Figure | None = None,
) -> Figure:
    """Each asset's total and relative CAR over ``window`` for a few events, 95% intervals.

    One panel per event; rows are asset groups (their average first, in bold) and their assets
    (group averages only, past :data:`MAX_SHOWN_ASSETS` assets).
    Circles: total reaction (nothing netted out); diamonds: reaction relative to the asset's
    benchmark. Asset intervals invert the CAR t-test (``tables/car``); group intervals come from
    ``caar`` (:func:`eventstudy.aggregate.caar_table`, portfolio variance).

    Examples
    --------
    >>> fig = total_vs_relative(res, caar, ["liberation-day-reciprocal-tariffs"], (0, 1))  # doctest: +SKIP
    """
    label = format_window(window)
    groups = list(groups) if groups is not None else study_groups(result, group_by)
    car = pair_interval(result.car[(result.car["window"] == label)
                                   & result.car["event_id"].isin(list(event_ids))])
    events = [e for e in event_ids if e in set(car["event_id"])]
    rows = _rows(result, car, groups, group_by)
    fig = new_figure(fig, (2.2 + 3.0 * max(len(events), 1), 1.4 + 0.26 * max(len(rows), 1)))
    title = f"Total and relative CAR{display_window(window)} (%), 95% intervals"
    if not events or not rows:
        return not_available_figure(fig, title, f"no CAR{label} for these events")
    axes = fig.subplots(1, len(events), squeeze=False, sharey=True)[0]
    group_rows = caar[(caar["scope"] == "event") & (caar["window"] == label)
                      & (caar["group_by"] == group_by)]
    y = np.arange(len(rows))
    for ax, event_id in zip(axes, events):
        for offset, reaction in ((-0.17, "total"), (0.17, "relative")):
            values = [_value(car, group_rows, event_id, group, ticker, reaction)
                      for group, ticker in rows]
            mid, low, high = (np.array([v[k] for v in values]) for k in range(3))
            ok = np.isfinite(mid)
            ax.errorbar(percent(mid[ok]), y[ok] + offset,
                        xerr=[percent(mid[ok] - low[ok]), percent(high[ok] - mid[ok])],
                        fmt=REACTION_MARKERS[reaction], ms=4, color=REACTION_COLORS[reaction],
                        mfc=REACTION_COLORS[reaction] if reaction == "total" else "white",
                        elinewidth=0.8, capsize=0, lw=0)
        for k, (_group, ticker) in enumerate(rows):
            if ticker is None and k:
                ax.axhline(k - 0.5, color="#bbbbbb", lw=0.6)
        ax.axvline(0, color="#555555", lw=0.8)
        ax.set_title(f"{event_id}\n({day0_text(result, event_id, reference_exchange(result))})",
                     fontsize=8)
        ax.set_xlabel(f"CAR{display_window(window)} (%)")
        ax.grid(axis="x", alpha=0.3)
    names = [f"{group}: average" if ticker is None else asset_name(result, ticker)
             for group, ticker in rows]
    axes[0].set_yticks(y, names, fontsize=7)
    for tick, (_group, ticker) in zip(axes[0].get_yticklabels(), rows):
        if ticker is None:
            tick.set_fontweight("bold")
    axes[0].invert_yaxis()
    listed = any(ticker is not None for _, ticker in rows)
    axes[0].set_ylabel("asset group and asset" if listed else "asset group (average of its assets)")
    handles = [Line2D([], [], marker=REACTION_MARKERS[r], ls="", color=REACTION_COLORS[r],
                      mfc=REACTION_COLORS[r] if r == "total" else "white",
                      label=REACTION_NAMES[r]) for r in REACTION_NAMES]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8)
    fig.suptitle(title, fontsize=11)
    return fig


def _value(car: pd.DataFrame, group_rows: pd.DataFrame, event_id: str, group: str,
           ticker: str | None, reaction: str) -> tuple[float, float, float]:
    if ticker is None:
        hit = group_rows[(group_rows["scope_id"] == event_id) & (group_rows["group"] == group)
                         & (group_rows["reaction"] == reaction)]
        columns = ["caar", "ci_low", "ci_high"]
    else:
        hit = car[(car["event_id"] == event_id) & (car["asset"] == ticker)
                  & (car["reaction"] == reaction)]
        columns = ["car", "ci_low", "ci_high"]
    if hit.empty:
        return (np.nan, np.nan, np.nan)
    row = hit.iloc[0]
    return tuple(float(row[c]) for c in columns)


#: Most assets a heat-map panel (columns) or the total-vs-relative figure (rows) lists one by one;
#: a study with more gets one column (row) per asset group, the group's average CAR, instead.
MAX_SHOWN_ASSETS = 40
#: Most event rows a heat map shows; beyond it, the key events and the events with the largest
#: mean absolute CAR across the columns, in day-0 order.
MAX_HEATMAP_EVENTS = 60


@dataclass(frozen=True)
class HeatmapPlan:
    """What a heat map shows: its rows (events), its columns per reaction kind and their kind.

    Attributes
    ----------
    unit : str
        ``'asset'`` (one column per asset) or ``'group'`` (one column per asset group: the
        group's average CAR from ``tables/caar``).
    events : DataFrame
        :func:`~eventstudy.plots.event_table` rows shown, in day-0 order.
    columns : dict
        Reaction kind -> column keys (tickers or group values), in display order.
    values, p_values : dict
        Reaction kind -> array (events x columns) of CAR (fractions) and the p-values behind
        the stars (single-asset CAR t-test, or the group average's clustering-robust test).
    n_events : int
        Events with a CAR before the row cap.
    """

    unit: str
    events: pd.DataFrame
    columns: dict[str, list[str]]
    values: dict[str, np.ndarray]
    p_values: dict[str, np.ndarray]
    n_events: int

    @property
    def n_columns(self) -> int:
        """Columns over all panels."""
        return sum(len(c) for c in self.columns.values())

    @property
    def capped(self) -> bool:
        """Whether rows were left out by :data:`MAX_HEATMAP_EVENTS`."""
        return len(self.events) < self.n_events


def heatmap_plan(
    result: StudyResult,
    window: tuple[int, int],
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    caar: pd.DataFrame | None = None,
    key_events: Sequence[str] = (),
) -> HeatmapPlan:
    """Rows, columns and cell values of :func:`car_heatmap` (no drawing).

    Columns are assets ordered by group while every reaction kind has at most
    :data:`MAX_SHOWN_ASSETS` of them; otherwise (and when ``caar`` is given) one column per
    group of ``group_by`` holding the group's average CAR, starred by its clustering-robust
    test. Rows are the events with a CAR, by day 0; past :data:`MAX_HEATMAP_EVENTS`, the
    ``key_events`` and then the events with the largest mean absolute CAR over the columns.

    Examples
    --------
    >>> plan = heatmap_plan(res, (0, 1), caar=caar)  # doctest: +SKIP
    >>> plan.unit, plan.n_columns                     # doctest: +SKIP
    ('asset', 30)
    """
    label = format_window(window)
    rows = result.car[result.car["window"] == label]
    events = event_table(result)
    events = events[events["event_id"].isin(set(rows["event_id"]))].reset_index(drop=True)
    reactions = [r for r in REACTION_NAMES if r in set(rows["reaction"])]
    groups = list(groups) if groups is not None else study_groups(result, group_by)
    by_reaction = {r: rows[rows["reaction"] == r] for r in reactions}
    columns = {r: _heatmap_columns(result, by_reaction[r], groups, group_by) for r in reactions}
    unit = "asset"
    if caar is not None and any(len(c) > MAX_SHOWN_ASSETS for c in columns.values()):
        unit = "group"
        scoped = caar[(caar["scope"] == "event") & (caar["window"] == label)
                      & (caar["group_by"] == group_by)]
        by_reaction = {r: scoped[scoped["reaction"] == r].rename(
            columns={"group": "asset", "scope_id": "event_id", "caar": "car",
                     "p_value": "car_p_value"}) for r in reactions}
        columns = {r: [g for g in groups if g in set(by_reaction[r]["asset"])]
                   for r in reactions}
    values, p_values = {}, {}
    for reaction in reactions:
        sub = by_reaction[reaction].drop_duplicates(["event_id", "asset"])
        index = pd.Index(events["event_id"])
        values[reaction] = _grid(sub, "car", index, columns[reaction])
        p_values[reaction] = _grid(sub, "car_p_value", index, columns[reaction])
    keep = _rows_to_keep(events, values, key_events)
    return HeatmapPlan(unit, events.iloc[keep].reset_index(drop=True), columns,
                       {r: v[keep] for r, v in values.items()},
                       {r: v[keep] for r, v in p_values.items()}, len(events))


def _grid(rows: pd.DataFrame, column: str, index: pd.Index, keys: Sequence[str]) -> np.ndarray:
    """``rows[column]`` as an (events x keys) array, NaN where a cell has no row."""
    frame = rows.set_index(["event_id", "asset"])[column].astype(float).unstack("asset")
    return frame.reindex(index=index, columns=list(keys)).to_numpy(dtype=float)


def _rows_to_keep(events: pd.DataFrame, values: dict[str, np.ndarray],
                  key_events: Sequence[str]) -> np.ndarray:
    """Positions of the rows shown (all, or the capped selection in day-0 order)."""
    n = len(events)
    if n <= MAX_HEATMAP_EVENTS:
        return np.arange(n)
    stacked = np.hstack([v for v in values.values()]) if values else np.full((n, 1), np.nan)
    with np.errstate(invalid="ignore"):
        size = np.nanmean(np.abs(stacked), axis=1) if stacked.size else np.zeros(n)
    size = np.where(np.isfinite(size), size, -1.0)
    key = events["event_id"].isin(list(key_events)).to_numpy()
    order = np.lexsort((np.arange(n), -size, ~key))  # key events first, then the largest
    return np.sort(order[:MAX_HEATMAP_EVENTS])


def heatmap_size(plan: HeatmapPlan) -> tuple[float, float]:
    """Figure size (inches) that gives each cell room for its label."""
    widths = [max(len(c), 1) for c in plan.columns.values()] or [1]
    return (3.4 + 0.42 * sum(widths) + 1.2 * len(widths), 2.4 + 0.22 * max(len(plan.events), 1))


def car_heatmap(
    result: StudyResult,
    window: tuple[int, int],
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    fig: Figure | None = None,
    caar: pd.DataFrame | None = None,
    key_events: Sequence[str] = (),
) -> Figure:
    """Event x asset heat map of CAR over ``window`` (%), one panel per reaction kind.

    Total and relative reactions get separate panels with their own colour scales (centred at
    0, clipped at the 98th percentile of |CAR| so one crash does not wash out the rest). Rows
    are events ordered by day 0, labelled with date and id and coloured by category (legend);
    columns are assets ordered by group. Stars: single-asset CAR t-test (* p<0.10, ** p<0.05,
    *** p<0.01). A study with many assets or events gets group columns or fewer rows (see
    :func:`heatmap_plan`; ``caar`` = :func:`eventstudy.aggregate.caar_table`).

    Examples
    --------
    >>> fig = car_heatmap(res, (0, 1))  # doctest: +SKIP
    """
    label = format_window(window)
    plan = heatmap_plan(result, window, groups, group_by, caar, key_events)
    fig = new_figure(fig, heatmap_size(plan))
    title = f"CAR{display_window(window)} by event and {plan.unit} (%)"
    if not plan.columns or plan.events.empty:
        return not_available_figure(fig, title, f"no CAR{label} rows")
    reactions = list(plan.columns)
    widths = [max(len(c), 1) for c in plan.columns.values()]
    axes = fig.subplots(1, len(reactions), squeeze=False, sharey=True,
                        width_ratios=widths)[0]
    colors = category_colors(result)
    for ax, reaction in zip(axes, reactions):
        keys = plan.columns[reaction]
        values = 100 * plan.values[reaction]
        finite = np.abs(values[np.isfinite(values)])
        limit = max(float(np.ceil(np.percentile(finite, 98))), 1.0) if finite.size else 1.0
        what = "CAR" if plan.unit == "asset" else "average CAR"
        _cells(ax, values, plan.p_values[reaction], limit,
               f"{reaction} {what} (%), clipped at ±{limit:.0f}%")
        names = [asset_name(result, t) for t in keys] if plan.unit == "asset" else keys
        ax.set_xticks(np.arange(len(keys)) + 0.5, names, fontsize=7, rotation=50, ha="right")
        if plan.unit == "asset":
            _group_separators(ax, result, keys, group_by)
            ax.set_xlabel("asset (ordered by group)")
        else:
            ax.set_xlabel(f"{group_by}: average of its assets")
        ax.set_title(REACTION_NAMES[reaction], fontsize=10, pad=18)
        ax.set_ylabel("")
    events = plan.events
    labels = [("" if pd.isna(d) else f"{d:%d %b %y}  ") + e
              for d, e in zip(events["day0"], events["event_id"])]
    axes[0].set_yticks(np.arange(len(labels)) + 0.5, labels, fontsize=6.5, rotation=0)
    for tick, category in zip(axes[0].get_yticklabels(), events["category"]):
        tick.set_color(colors.get(category, "#333333"))
    axes[0].set_ylabel(f"event (day 0 on {reference_exchange(result)}, id)")
    fig.legend(handles=category_handles(colors, events["category"]), loc="outside lower center",
               ncols=min(6, len(colors)), fontsize=7, title="event category (row label colour)",
               title_fontsize=7)
    test = "single-asset t-test" if plan.unit == "asset" else "group average's robust test"
    fig.suptitle(f"{title}; stars: {test} p<0.10/0.05/0.01", fontsize=11)
    return fig


def _cells(ax, values: np.ndarray, p: np.ndarray, limit: float, label: str) -> None:
    """Coloured cells (RdBu, centred at 0, clipped at ``limit``), value and stars in each, and a
    colour bar; row 0 at the top."""
    cmap = mpl.colormaps["RdBu"].with_extremes(bad="#f0f0f0")
    mesh = ax.pcolormesh(np.ma.masked_invalid(values), cmap=cmap, vmin=-limit, vmax=limit,
                         edgecolors="white", linewidth=0.3)
    ax.set_xlim(0, values.shape[1])
    ax.set_ylim(values.shape[0], 0)
    rows, cols = np.nonzero(np.isfinite(values))
    texts = [cell_text(values[i, j], p[i, j]) for i, j in zip(rows, cols)]
    dark = np.abs(values[rows, cols]) > 0.6 * limit
    for labels in text_collections(texts, np.column_stack([cols + 0.5, rows + 0.5]),
                                   np.where(dark, "white", "#222222"), CELL_FONT_SIZE, ax):
        ax.add_collection(labels, autolim=False)
    ax.figure.colorbar(mesh, ax=ax, shrink=0.5, pad=0.02, label=label)


CELL_FONT_SIZE = 5.5
#: Label of the collections that hold a heat map's cell labels (kept out of legends).
CELL_LABELS = "_cell-labels"


def cell_text(value: float, p: float) -> str:
    """A heat-map cell's label: the value with one decimal and its stars.

    Examples
    --------
    >>> cell_text(-5.46, 0.003), cell_text(1.04, float("nan"))
    ('-5.5***', '1.0')
    """
    return f"{value:.1f}{stars(p)}"


def text_collections(texts: Sequence[str], centres: np.ndarray, colors: Sequence[str],
                     size: float, ax) -> list[PathCollection]:
    """Short labels centred at ``centres`` (data coordinates) as glyph paths, one collection
    per distinct label (placed at every cell that shows it).

    A few hundred artists instead of one ``Text`` per label: a heat map of thousands of cells
    draws and saves in a fraction of the time and looks the same (SVG text is drawn as paths
    anyway), and the SVG defines each distinct label once. Each character's outline is made
    once; labels are laid out with the font's advances.
    """
    prop = FontProperties(family=mpl.rcParams["font.family"], size=size)
    glyphs = _glyphs("".join(texts), prop, size)
    digit = TextPath((0, 0), "0", size=size, prop=prop).get_extents()
    middle = (digit.y0 + digit.y1) / 2  # digits centre the label vertically
    places: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        places.setdefault(text, []).append(i)
    centres = np.asarray(centres, dtype=float)
    colors = np.asarray(colors, dtype=object)
    collections = []
    for text, where in places.items():
        x = -sum(glyphs[c][1] for c in text) / 2
        parts = []
        for char in text:
            path, advance = glyphs[char]
            if len(path.vertices):
                parts.append(Path(path.vertices + (x, -middle), path.codes))
            x += advance
        if not parts:
            continue
        collection = PathCollection([Path.make_compound_path(*parts)], sizes=[1.0],
                                    offsets=centres[where], offset_transform=ax.transData,
                                    facecolors=list(colors[where]), edgecolors="none",
                                    linewidths=0)
        collection.set_transform(IdentityTransform())  # glyphs in points, scaled by ``sizes``
        collection.set_label(CELL_LABELS)
        collections.append(collection)
    return collections


def _glyphs(chars: str, prop: FontProperties, size: float) -> dict[str, tuple[Path, float]]:
    """Outline (points, origin at the pen position) and advance of each character."""
    def width(text: str) -> float:
        return TextPath((0, 0), text, size=size, prop=prop).get_extents().width

    pair = width("00")
    return {c: (TextPath((0, 0), c, size=size, prop=prop), width(f"0{c}0") - pair)
            for c in dict.fromkeys(chars)}


def _heatmap_columns(result: StudyResult, rows: pd.DataFrame, groups: Sequence[str],
                     group_by: str) -> list[str]:
    present = set(rows["asset"])
    ordered = []
    for group in groups:
        ordered += [a.ticker for a in result.config.studied_assets
                    if a.attribute(group_by) == group and a.ticker in present]
    return ordered + [t for t in dict.fromkeys(rows["asset"]) if t not in ordered]


def _group_separators(ax, result: StudyResult, tickers: Sequence[str], group_by: str) -> None:
    """Vertical lines between asset groups and the group name above its columns."""
    values = []
    for ticker in tickers:
        try:
            values.append(result.config.asset(ticker).attribute(group_by) or "")
        except KeyError:
            values.append("")
    start = 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            if i < len(values):
                ax.axvline(i, color="#333333", lw=1.0)
            ax.text((start + i) / 2, -0.2, values[start], ha="center", va="bottom", fontsize=7,
                    fontweight="bold", clip_on=False)
            start = i
