"""Which groups of assets moved most (ranked CAARs with intervals) and abnormal trading volume.

Both read finished tables: the ``caar`` table (:func:`eventstudy.aggregate.caar_table`, the
portfolio interval that inverts the crude-dependence test) and the ``volume`` /
``volume_tests`` tables of the abnormal-volume stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from eventstudy import registry
from eventstudy.common import display_window, format_window
from eventstudy.plots._base import (
    REACTION_NAMES,
    day0_text,
    new_figure,
    not_available,
    not_available_figure,
    percent,
    reference_exchange,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

SIGNIFICANCE = 0.05
FALL, RISE = "#b2182b", "#2166ac"
#: Test of abnormal volume printed above each box (the first of the registry's volume tests).
VOLUME_TEST = next(iter(registry.VOLUME_TESTS))
MULTIPLE = FuncFormatter(lambda value, _: f"{value:g}×")


def ranked_groups(caar: pd.DataFrame, event_id: str, window: tuple[int, int], group_by: str,
                  reaction: str) -> pd.DataFrame:
    """``caar`` rows of one event, window, partition and reaction, highest CAAR first.

    Examples
    --------
    >>> ranked_groups(caar, "liberation-day-reciprocal-tariffs", (0, 1), "sector17", "total")  # doctest: +SKIP
    """
    rows = caar[(caar["scope"] == "event") & (caar["scope_id"] == event_id)
                & (caar["window"] == format_window(window)) & (caar["group_by"] == group_by)
                & (caar["reaction"] == reaction) & caar["caar"].notna()]
    return rows.sort_values("caar", ascending=False, kind="stable").reset_index(drop=True)


def group_ranking(
    result: StudyResult,
    caar: pd.DataFrame,
    event_id: str,
    window: tuple[int, int],
    group_by: str,
    fig: Figure | None = None,
) -> Figure:
    """Horizontal bars of each group's CAAR, ranked, with 95% intervals; one panel per reaction.

    Solid bars: p < 0.05 in the ``caar`` table's test (crude dependence, robust to the shared
    event date); pale bars: not significant. Red falls, blue rises.

    Parameters
    ----------
    result : StudyResult
        For the event's day 0.
    caar : DataFrame
        :func:`eventstudy.aggregate.caar_table`.
    event_id : str
    window : (int, int)
    group_by : str
        The partition ranked (e.g. a sector attribute).
    fig : Figure, optional

    Examples
    --------
    >>> fig = group_ranking(res, tables["caar"], event_id, (0, 1), "sector17")  # doctest: +SKIP
    """
    ranked = {r: ranked_groups(caar, event_id, window, group_by, r) for r in REACTION_NAMES}
    reactions = [r for r, rows in ranked.items() if len(rows)]
    n_rows = max((len(rows) for rows in ranked.values()), default=1)
    fig = new_figure(fig, (5.2 * max(len(reactions), 1) + 1.5, 1.4 + 0.26 * n_rows))
    title = (f"CAAR{display_window(window)} by {group_by}: {event_id} "
             f"({day0_text(result, event_id, reference_exchange(result))})")
    if not reactions:
        return not_available_figure(fig, title, f"no {group_by} group of this event was estimated")
    axes = fig.subplots(1, len(reactions), squeeze=False)[0]
    for ax, reaction in zip(axes, reactions):
        _ranking_panel(ax, ranked[reaction], REACTION_NAMES[reaction])
    test = registry.label(str(caar["test"].iloc[0])) if len(caar) else ""
    fig.suptitle(f"{title}\nbars: mean CAR in %, lines: 95% interval; solid: p < {SIGNIFICANCE:g} "
                 f"({test})", fontsize=9)
    return fig


def _ranking_panel(ax, rows: pd.DataFrame, name: str) -> None:
    rows = rows.iloc[::-1]  # the highest at the top
    y = np.arange(len(rows))
    value = percent(rows["caar"])
    significant = rows["p_value"].to_numpy(dtype=float) < SIGNIFICANCE
    colors = np.where(value < 0, FALL, RISE)
    for i in range(len(rows)):
        ax.barh(y[i], value[i], color=colors[i], alpha=0.9 if significant[i] else 0.3, height=0.7)
    low, high = percent(rows["ci_low"]), percent(rows["ci_high"])
    ax.hlines(y, low, high, color="#333333", lw=1.0)
    ax.axvline(0, color="#777777", lw=0.7)
    ax.set_yticks(y, [f"{g} ({n})" for g, n in zip(rows["group"], rows["n"].astype(int))],
                  fontsize=7)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("CAAR, % (number of assets in brackets)")
    ax.set_title(name, fontsize=9)
    ax.grid(alpha=0.3, axis="x")


def volume_around_events(
    result: StudyResult,
    volume: pd.DataFrame | None,
    volume_tests: pd.DataFrame | None,
    event_ids: Sequence[str],
    fig: Figure | None = None,
) -> Figure:
    """Abnormal volume of every asset around each event: one panel per event, one box per window.

    Boxes: the assets' volume over the window as a multiple of normal (geometric mean, the
    ``volume_ratio`` column; log scale; whiskers 5-95%). Above each box: the two-sided p-value
    of the Kolari-Pynnonen BMP test of all assets (or of the largest group when the study has
    no all-asset scope), which keeps its size on log volume.

    Examples
    --------
    >>> fig = volume_around_events(res, res.volume, res.volume_tests, featured.key_events)  # doctest: +SKIP
    """
    event_ids = list(event_ids)
    fig = new_figure(fig, (3.2 * max(len(event_ids), 1) + 1.0, 4.2))
    title = "Abnormal trading volume around the key events"
    if volume is None or volume.empty:
        return not_available_figure(fig, title, "no abnormal volume was measured")
    windows = list(dict.fromkeys(volume["window"]))
    axes = fig.subplots(1, max(len(event_ids), 1), squeeze=False, sharey=True)[0]
    for ax, event_id in zip(axes, event_ids):
        rows = volume[(volume["event_id"] == event_id) & (volume["status"] == "ok")]
        if rows.empty:
            not_available(ax, event_id, "no volume measured for this event")
            continue
        data = [rows.loc[rows["window"] == w, "volume_ratio"].dropna().to_numpy() for w in windows]
        ax.boxplot(data, whis=(5, 95), showfliers=False, widths=0.6,
                   medianprops={"color": "#b35806", "lw": 1.6})
        ax.set_xticks(np.arange(1, len(windows) + 1), windows, rotation=45, fontsize=7)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(MULTIPLE)
        ax.yaxis.set_minor_formatter(MULTIPLE)
        ax.axhline(1, color="#555555", lw=0.8, ls="--")
        for x, window in enumerate(windows, start=1):
            ax.annotate(_p_label(volume_tests, event_id, window), (x, 1.0),
                        xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=6,
                        color="#333333")
        ax.set_title(f"{event_id}\n({day0_text(result, event_id, reference_exchange(result))})",
                     fontsize=8, pad=14)
        ax.grid(alpha=0.3, axis="y", which="both")
    axes[0].set_ylabel("volume over the window / normal (log scale)")
    fig.suptitle(f"{title}: p-values of {registry.label(VOLUME_TEST)} above each box", fontsize=9)
    return fig


def volume_scope(tests: pd.DataFrame | None, event_id: str) -> pd.DataFrame:
    """The volume test rows of ``event_id`` for the widest scope: all assets, else the largest
    group (window rows only)."""
    if tests is None or tests.empty:
        return pd.DataFrame()
    rows = tests[(tests["scope"] == "event") & (tests["scope_id"] == event_id) & (tests["window"] != "")]
    if rows.empty:
        return rows
    widest = rows[rows["group_by"] == "all"]
    if widest.empty:
        largest = rows.sort_values("n", ascending=False, kind="stable").iloc[0]
        widest = rows[(rows["group_by"] == largest["group_by"]) & (rows["group"] == largest["group"])]
    return widest


def _p_label(tests: pd.DataFrame | None, event_id: str, window: str) -> str:
    rows = volume_scope(tests, event_id)
    if rows.empty:
        return ""
    hit = rows[(rows["test"] == VOLUME_TEST) & (rows["window"] == window)]
    if hit.empty or not np.isfinite(float(hit["p_value"].iloc[0])):
        return "p n/a"
    p = float(hit["p_value"].iloc[0])
    return "p<.001" if p < 0.001 else f"p={p:.3f}"
