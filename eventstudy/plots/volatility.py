"""Abnormal volatility ``AR^2 / h`` around one event (GARCH(1,1) variance forecast ``h``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eventstudy.plots._base import (
    REACTION_NAMES,
    day0_text,
    group_colors,
    new_figure,
    not_available_figure,
    reference_exchange,
    study_groups,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

FLOOR = 1e-2


def abnormal_volatility(
    result: StudyResult,
    daily: pd.DataFrame | None,
    event_id: str,
    groups: Sequence[str] | None = None,
    group_by: str = "group",
    fig: Figure | None = None,
) -> Figure:
    """Daily ``AR^2 / h`` of every asset (thin) and each group's median (bold), log scale.

    One panel per reaction kind. Under "no volatility shift" the ratio has mean 1 (dashed).

    Parameters
    ----------
    result : StudyResult
        For names and groups only.
    daily : DataFrame or None
        Rows ``event_id, asset, reaction, rel_day, abnormal_volatility`` from
        :func:`eventstudy.aggregate.garch_daily_paths` (None: the volatility stage did not run).
    event_id : str
    groups : sequence of str, optional
    group_by : str
    fig : Figure, optional

    Examples
    --------
    >>> fig = abnormal_volatility(res, aggregate.garch_daily_paths(res, [event]), event)  # doctest: +SKIP
    """
    title = (f"Abnormal volatility AR²/ĥ (GARCH(1,1) forecast ĥ): {event_id} "
             f"({day0_text(result, event_id, reference_exchange(result))})")
    rows = None if daily is None else daily[daily["event_id"] == event_id]
    reactions = [] if rows is None else [r for r in REACTION_NAMES if r in set(rows["reaction"])]
    fig = new_figure(fig, (5.0 * max(len(reactions), 1) + 0.8, 4.4))
    if rows is None:
        return not_available_figure(fig, title, "the volatility stage was not run")
    values = rows["abnormal_volatility"].to_numpy(dtype=float)
    if not reactions or not np.isfinite(values).any():
        return not_available_figure(fig, title, "GARCH fits failed for every pair of this event")
    groups = list(groups) if groups is not None else study_groups(result, group_by)
    colors = group_colors(groups)
    group_of = {a.ticker: a.attribute(group_by) for a in result.config.studied_assets}
    axes = fig.subplots(1, len(reactions), squeeze=False, sharey=True)[0]
    for ax, reaction in zip(axes, reactions):
        wide = rows[rows["reaction"] == reaction].pivot_table(
            index="rel_day", columns="asset", values="abnormal_volatility", aggfunc="first",
            dropna=False)
        wide = wide.where(wide > 0)
        for group in groups:
            members = [t for t in wide.columns if group_of.get(t) == group]
            if not members:
                continue
            for ticker in members:
                ax.plot(wide.index, wide[ticker], color=colors[group], lw=0.5, alpha=0.35)
            ax.plot(wide.index, wide[members].median(axis=1), color=colors[group], lw=2.0,
                    marker="o", ms=3, label=f"{group}: median of {len(members)}")
        ax.set_yscale("log")
        ax.set_ylim(bottom=FLOOR)
        ax.axhline(1, color="#555555", lw=0.8, ls="--", label="1 = as forecast")
        ax.axvline(0, color="#999999", lw=0.6, ls=":")
        ax.set_title(f"{REACTION_NAMES[reaction]} (thin: each asset)", fontsize=9)
        ax.set_xlabel("session relative to day 0")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel(f"AR² / ĥ (log scale, below {FLOOR:g} cut off)")
    fig.suptitle(title, fontsize=10)
    return fig
