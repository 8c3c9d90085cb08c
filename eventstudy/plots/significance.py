"""How the cross-sectional tests judge one event: p-values side by side, by group and reaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from eventstudy import registry
from eventstudy.common import display_window, format_window
from eventstudy.plots._base import (
    REACTION_NAMES,
    day0_text,
    new_figure,
    not_available_figure,
    reference_exchange,
    study_groups,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

P_FLOOR = 1e-12
ROBUST_COLOR = "#0173b2"


def cross_section_pvalues(
    result: StudyResult,
    event_id: str,
    window: tuple[int, int],
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    fig: Figure | None = None,
) -> Figure:
    """Two-sided p-values of every cross-sectional test of one event's CAR, one panel per
    group and reaction kind with at least two assets.

    Tests and their names come from :mod:`eventstudy.registry`; filled markers are tests whose
    size holds when every asset shares the event date, open markers tests that assume
    independent abnormal returns (only where the table reports them). A test withheld in every
    panel (NaN p-value, e.g. one that assumes independence among assets of one event) is left
    out and named in the subtitle. The x axis is logarithmic.

    Examples
    --------
    >>> fig = cross_section_pvalues(res, "liberation-day-reciprocal-tariffs", (0, 1))  # doctest: +SKIP
    """
    label = format_window(window)
    tests = result.tests
    rows = tests[(tests["scope"] == "event") & (tests["scope_id"] == event_id)
                 & (tests["asset"] == "") & (tests["window"] == label)
                 & (tests["group_by"] == group_by) & (tests["n"] >= 2)]
    groups = list(groups) if groups is not None else study_groups(result, group_by)
    panels = [(g, r) for g in groups for r in REACTION_NAMES
              if ((rows["group"] == g) & (rows["reaction"] == r)).any()]
    present = [t for t in registry.CROSS_SECTIONAL_TESTS if t in set(rows["test"])]
    reported = set(rows.loc[rows["p_value"].notna(), "test"])
    order = [t for t in present if t in reported]
    withheld = [t for t in present if t not in reported]
    fig = new_figure(fig, (1.6 + 3.0 * max(len(panels), 1), 1.4 + 0.3 * max(len(order), 1)))
    title = (f"Cross-sectional tests of CAR{display_window(window)}: {event_id} "
             f"({day0_text(result, event_id, reference_exchange(result))})")
    if not panels or not order:
        return not_available_figure(fig, title, "no cross-section with at least two assets")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    robust = np.array([bool(registry.CROSS_SECTIONAL_TESTS[t].robust_to_clustering) for t in order])
    y = np.arange(len(order))
    for ax, (group, reaction) in zip(axes, panels):
        sub = rows[(rows["group"] == group) & (rows["reaction"] == reaction)]
        sub = sub.drop_duplicates("test").set_index("test").reindex(order)
        p = sub["p_value"].to_numpy(dtype=float).clip(P_FLOOR, 1)
        ok = np.isfinite(p)
        ax.scatter(p[ok & robust], y[ok & robust], color=ROBUST_COLOR, s=30, zorder=3,
                   label="robust to same-date correlation")
        ax.scatter(p[ok & ~robust], y[ok & ~robust], facecolor="white", edgecolor="#444444",
                   s=30, zorder=3, label="assumes independence")
        for level, style in ((0.01, ":"), (0.05, "--"), (0.10, "-.")):
            ax.axvline(level, color="#999999", lw=0.8, ls=style)
        ax.set_xscale("log")
        ax.set_xlim(min(np.nanmin(p) / 3 if ok.any() else 1e-3, 1e-3), 1.5)
        r_bar = sub["r_bar"].dropna()
        r_text = f", r̄ = {r_bar.iloc[0]:.2f}" if len(r_bar) else ""
        ax.set_title(f"{group}, {reaction}\nN = {int(sub['n'].max())}{r_text}", fontsize=9)
        ax.set_xlabel("two-sided p-value (log)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [registry.label(t) for t in order], fontsize=8)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("test")
    handles, labels = [], []
    for ax in axes:  # one entry per marker kind drawn in any panel
        for handle, text in zip(*ax.get_legend_handles_labels()):
            if text not in labels:
                handles.append(handle)
                labels.append(text)
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    note = (f"\nnot reported (assume independent assets, which share this event): "
            f"{len(withheld)} tests" if withheld else "")
    fig.suptitle(title + f"\nlines at p = 0.01, 0.05, 0.10; p < {P_FLOOR:g} drawn at {P_FLOOR:g}"
                 + note, fontsize=10)
    return fig

