"""Figures from a :class:`~eventstudy.study.StudyResult` and the frames of
:mod:`eventstudy.aggregate` (matplotlib and seaborn).

Plot functions draw; they never estimate. CAR paths, their bands, group averages and their
intervals come from :mod:`eventstudy.aggregate` (``tables/car_paths`` and ``tables/caar``),
test p-values from ``result.tests``, test names from :mod:`eventstudy.registry`. Every
function takes ``ax=None`` (or ``fig=None`` for multi-panel figures), draws on it (or on a new
pyplot figure, which notebooks display) and returns it. Nothing here picks a backend or calls
``plt.show()``; the report (:mod:`eventstudy.page`) draws on plain ``Figure`` objects.

Conventions shared by every figure: returns in percent; CARs sum simple abnormal returns;
*total* reactions (nothing netted out) and *relative* reactions (net of a same-exchange
benchmark) are drawn apart and labelled; event categories keep one colour per study.

Examples
--------
>>> import eventstudy as es
>>> from eventstudy import aggregate, plots
>>> res = es.run("events.yaml")                                       # doctest: +SKIP
>>> paths = aggregate.car_paths_table(res)                            # doctest: +SKIP
>>> fig = plots.event_paths(res, paths, res.config.events[0].id)      # doctest: +SKIP
"""

from eventstudy.plots._base import (
    asset_name,
    category_colors,
    event_table,
    reaction_label,
    reference_exchange,
    study_groups,
)
from eventstudy.plots.paths import event_paths, path_panel, scope_paths
from eventstudy.plots.reactions import (
    MAX_HEATMAP_EVENTS,
    MAX_SHOWN_ASSETS,
    HeatmapPlan,
    car_heatmap,
    heatmap_plan,
    heatmap_size,
    lists_assets,
    total_vs_relative,
)
from eventstudy.plots.sectors import group_ranking, volume_around_events
from eventstudy.plots.significance import cross_section_pvalues
from eventstudy.plots.timeline import default_market_tickers, level_around_event, market_timeline
from eventstudy.plots.volatility import abnormal_volatility

__all__ = [
    "MAX_HEATMAP_EVENTS",
    "MAX_SHOWN_ASSETS",
    "HeatmapPlan",
    "abnormal_volatility",
    "asset_name",
    "car_heatmap",
    "category_colors",
    "cross_section_pvalues",
    "default_market_tickers",
    "event_paths",
    "event_table",
    "group_ranking",
    "heatmap_plan",
    "heatmap_size",
    "level_around_event",
    "lists_assets",
    "market_timeline",
    "path_panel",
    "reaction_label",
    "reference_exchange",
    "scope_paths",
    "study_groups",
    "total_vs_relative",
    "volume_around_events",
]
