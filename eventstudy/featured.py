"""What a report features: key events, headline windows, the market group, joint sets.

The optional ``report`` block of a study file (:class:`~eventstudy.events.ReportSettings`)
states these choices; every field left out (``None``) is chosen from the results:

* **market group**: the group of the assets that other assets' models use as a same-exchange
  benchmark (the home index); without such benchmarks, the only group whose assets are all
  measured in total (nothing netted out) while the other groups' assets are measured relative
  to a benchmark. Otherwise the study has **no market group** (say, every stock is measured
  against an index that is not studied itself, or several groups are all measured in total),
  and the report says so instead of promoting an arbitrary group.
* **headline windows**: the first two event windows that contain day 0 (the first two windows
  when none does), the longer first: a one-day window misses a reaction that an approximate
  announcement time pushes to day +1. Sentences and the heat map use the first headline window
  (the *primary* window).
* **key events**: the (up to) :data:`MAX_KEY_EVENTS` events with the largest absolute average
  total reaction of the market group over the primary window; without a market group, of the
  average total reaction of every estimated studied asset (relative, when no asset has a total
  reaction).
* **joint sets**: key events whose event periods share a session, estimated together.

Examples
--------
>>> featured = choose(res, aggregate.caar_table(res))  # doctest: +SKIP
>>> featured.key_events                                  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eventstudy.aggregate import path_anchor
from eventstudy.common import display_window, format_window
from eventstudy.events import StudyConfig

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

MAX_KEY_EVENTS = 4
HEADLINE_WINDOWS = 2


@dataclass(frozen=True)
class Featured:
    """The report's choices for one study (see the module docstring).

    Attributes
    ----------
    group_by : str
        The asset partition whose values are the report's groups (``'group'`` by default).
    groups : tuple of str
        Values of ``group_by`` among the estimated assets, market group first.
    market_group : str or None
    market_assets : tuple of str
        Estimated studied tickers of the market group whose own model gives a total reaction.
    headline_windows : tuple of (int, int)
    key_events : tuple of str
    joint_sets : tuple of tuple of str
    exchange : str or None
        Exchange whose day-0 sessions label events (that of the market assets).
    anchor : int
        Day where CAR paths are 0.
    notes : tuple of str
        One sentence per choice saying how it was made.
    """

    group_by: str
    groups: tuple[str, ...]
    market_group: str | None
    market_assets: tuple[str, ...]
    headline_windows: tuple[tuple[int, int], ...]
    key_events: tuple[str, ...]
    joint_sets: tuple[tuple[str, ...], ...]
    exchange: str | None
    anchor: int
    notes: tuple[str, ...]

    @property
    def primary_window(self) -> tuple[int, int]:
        """The headline window used in sentences and the heat map (the first one)."""
        return self.headline_windows[0]


def choose(result: StudyResult, caar: pd.DataFrame) -> Featured:
    """The report's choices for ``result`` (``caar`` = :func:`eventstudy.aggregate.caar_table`).

    Examples
    --------
    >>> choose(res, aggregate.caar_table(res)).market_group  # doctest: +SKIP
    'index'
    """
    config = result.config
    asked = config.report
    notes = []
    group_by = "group" if "group" in config.settings.group_by else config.settings.group_by[0]
    estimated = set(result.models.loc[result.models["status"] == "ok", "asset"])
    market, note = choose_market_group(config, estimated, group_by, asked.market_group)
    notes.append(note)
    groups = _groups(config, estimated, group_by, market)
    market_assets = tuple(
        a.ticker for a in config.studied_assets
        if a.ticker in estimated and a.attribute(group_by) == market and a.kind == "price"
        and config.reaction_of(a) == "total")
    windows, note = choose_headline_windows(config, asked.headline_windows)
    notes.append(note)
    keys, note = choose_key_events(config, caar, group_by, market, windows[0], asked.key_events,
                                   car=result.car)
    notes.append(note)
    exchange = _reference_exchange(config, market_assets, estimated)
    joint_sets, note = choose_joint_sets(result, keys, asked.joint)
    notes.append(note)
    anchor = path_anchor(config.settings.event_period)
    return Featured(group_by, groups, market, market_assets, windows, keys, joint_sets, exchange,
                    anchor, tuple(n for n in notes if n))


def choose_market_group(config: StudyConfig, estimated: set[str], group_by: str = "group",
                        asked: str | None = None) -> tuple[str | None, str]:
    """The market group (None: the study has none) and a sentence saying why.

    In order: the group set in the study file; the group holding the same-exchange benchmark
    of other studied assets' models; the only group whose estimated price assets are all
    measured in total while another group's are measured relative to a benchmark. Otherwise
    None, with a sentence that says so (see the module docstring).

    Examples
    --------
    >>> choose_market_group(config, {"^N225", "^TOPX", "8035.T"})  # doctest: +SKIP
    ('index', "market group: index (it holds the same-exchange benchmark of other assets' models)")
    """
    studied = [a for a in config.studied_assets if a.ticker in estimated and a.kind == "price"]
    values = [a.attribute(group_by) for a in studied]
    if asked is not None:
        if asked in values:
            return asked, f"market group: {asked} (set in the study file)"
        return None, f"no market group: {asked!r} from the study file has no estimated asset"
    if not studied:
        return None, "no market group: no estimated price asset"
    by_ticker = {a.ticker: a for a in studied}
    benchmark_groups = Counter(
        by_ticker[t].attribute(group_by)
        for a in studied for t in config.model_for(a).tickers()
        if t in by_ticker and config.asset(t).exchange == a.exchange)
    benchmark_groups.pop(None, None)
    if benchmark_groups:
        group = benchmark_groups.most_common(1)[0][0]
        return group, (f"market group: {group} (it holds the same-exchange benchmark of other "
                       "assets' models)")
    kinds: dict[str, set[str]] = {}
    for asset, value in zip(studied, values):
        if value is not None:
            kinds.setdefault(value, set()).add(config.reaction_of(asset))
    only_total = [g for g, seen in kinds.items() if seen == {"total"}]
    if len(only_total) == 1 and any("relative" in seen for seen in kinds.values()):
        group = only_total[0]
        return group, (f"market group: {group} (its assets are the only ones measured in total; "
                       "the other groups' assets are measured relative to a benchmark)")
    return None, "no market group: " + _no_market_reason(config, studied, kinds)


def _no_market_reason(config: StudyConfig, studied: Sequence, kinds: dict[str, set[str]]) -> str:
    """Why no group of ``studied`` stands for the market (one clause)."""
    outside = [config.asset(t).name for t in dict.fromkeys(
        t for a in studied if config.reaction_of(a) == "relative"
        for t in config.model_for(a).tickers()) if t not in {s.ticker for s in studied}]
    if outside:
        names = ", ".join(outside[:3]) + (" and others" if len(outside) > 3 else "")
        which = "is not studied itself" if len(outside) == 1 else "are not studied themselves"
        return (f"the assets are measured against {names}, which {which}, so findings give "
                "each group's reaction and no market row")
    if len(kinds) <= 1:
        return "the study has a single group, so findings give its reaction and no market row"
    return ("no group holds another group's benchmark and no single group alone is measured in "
            "total, so findings give each group's reaction and no market row")


def choose_headline_windows(config: StudyConfig, asked: Sequence[tuple[int, int]] | None = None,
                            ) -> tuple[tuple[tuple[int, int], ...], str]:
    """Headline windows and a sentence saying why.

    Examples
    --------
    >>> choose_headline_windows(config)[0]  # doctest: +SKIP
    ((0, 1), (0, 0))
    """
    computed = [tuple(w) for w in config.settings.event_windows]
    if asked:
        chosen = tuple(tuple(w) for w in asked if tuple(w) in computed)
        if chosen:
            return chosen, "headline windows: " + ", ".join(map(display_window, chosen)) + \
                " (set in the study file)"
    spanning = [w for w in computed if w[0] <= 0 <= w[1]]
    first = (spanning or computed)[:HEADLINE_WINDOWS]
    chosen = tuple(sorted(first, key=lambda w: w[0] - w[1]))  # the longer first (stable)
    why = "the first event windows that contain day 0, the longer first" if spanning else \
        "the first event windows (none contains day 0), the longer first"
    return chosen, "headline windows: " + ", ".join(map(display_window, chosen)) + f" ({why})"


def choose_key_events(config: StudyConfig, caar: pd.DataFrame, group_by: str, market: str | None,
                      window: tuple[int, int], asked: Sequence[str] | None = None,
                      car: pd.DataFrame | None = None) -> tuple[tuple[str, ...], str]:
    """Key events and a sentence saying why.

    Without a market group (or its rows), events are ranked by the average over ``car`` (the
    ``tables/car`` rows) of every estimated asset's total reaction (relative, when the study
    has no total reaction).

    Examples
    --------
    >>> choose_key_events(config, caar, "group", "index", (0, 1))[0]  # doctest: +SKIP
    """
    ids = [e.id for e in config.events]
    if asked:
        chosen = tuple(e for e in asked if e in ids)
        if chosen:
            return chosen, "key events: set in the study file"
    label = format_window(window)
    rows = caar[(caar["scope"] == "event") & (caar["window"] == label)]
    market_rows = rows[(rows["group_by"] == group_by) & (rows["group"] == market)
                       & (rows["reaction"] == "total")]
    if market is not None and market_rows["caar"].notna().any():
        size = market_rows.set_index("scope_id")["caar"]
        what = f"average total reaction of the {market} group"
    elif car is not None and not car.empty:
        size, what = _all_assets_average(car, label)
    else:
        rows = rows[rows["group_by"] == group_by]
        rows = rows.sort_values("n", ascending=False, kind="stable").drop_duplicates("scope_id")
        size = rows.set_index("scope_id")["caar"]
        what = "average reaction of each event's largest group"
    size = size.abs().dropna()
    ranked = set(size.sort_values(ascending=False, kind="stable").index[:MAX_KEY_EVENTS])
    chosen = tuple(e.id for e in sorted(config.events, key=lambda e: e.announced)
                   if e.id in ranked) or tuple(ids[:1])
    return chosen, (f"key events: the {len(chosen)} with the largest absolute {what} over "
                    f"{display_window(window)}, in time order")


def _all_assets_average(car: pd.DataFrame, window: str) -> tuple[pd.Series, str]:
    """Each event's mean CAR over ``window`` across the studied assets, total reactions when
    there are any, and what it is in words."""
    rows = car[(car["window"] == window) & car["car"].notna()]
    reaction = "total" if (rows["reaction"] == "total").any() else "relative"
    rows = rows[rows["reaction"] == reaction]
    return (rows.groupby("event_id", sort=False)["car"].mean(),
            f"average {reaction} reaction of all estimated assets")


def choose_joint_sets(result: StudyResult, key_events: Sequence[str],
                      asked: Sequence[Sequence[str]] | None = None,
                      ) -> tuple[tuple[tuple[str, ...], ...], str]:
    """Sets of events to estimate jointly and a sentence saying why.

    Examples
    --------
    >>> choose_joint_sets(res, ["liberation-day-reciprocal-tariffs", "reciprocal-90day-pause"])  # doctest: +SKIP
    """
    ids = {e.id for e in result.config.events}
    if asked:
        sets = tuple(tuple(e for e in s if e in ids) for s in asked)
        sets = tuple(s for s in sets if len(s) >= 2)
        if sets:
            return sets, "joint estimation: the event sets named in the study file"
    overlaps = overlapping_pairs(result)
    keys = list(key_events)
    linked = [(a, b) for a, b in overlaps if a in keys and b in keys]
    sets = tuple(tuple(s) for s in _components(keys, linked) if len(s) >= 2)
    if not sets:
        return (), "joint estimation: no two key events share a session of their event periods"
    return sets, "joint estimation: key events whose event periods share sessions"


def overlapping_pairs(result: StudyResult) -> list[tuple[str, str]]:
    """Event pairs whose event periods share at least one session for some estimated asset.

    Examples
    --------
    >>> ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause") in overlapping_pairs(res)  # doctest: +SKIP
    True
    """
    panel = result.panel
    if panel.n_pairs == 0:
        return []
    dates = panel.dates[:, panel.event_start:]
    order = {e.id: i for i, e in enumerate(result.config.events)}
    found: set[tuple[str, str]] = set()
    for asset in dict.fromkeys(panel.assets):
        rows = np.flatnonzero(panel.assets == asset)
        spans = {}
        for row in rows:
            valid = dates[row][~np.isnat(dates[row])]
            spans.setdefault(panel.event_ids[row], set()).update(valid.tolist())
        events = sorted(spans, key=lambda e: order.get(e, 0))
        for i, first in enumerate(events):
            for second in events[i + 1:]:
                if spans[first] & spans[second]:
                    found.add((first, second))
    return sorted(found, key=lambda p: (order.get(p[0], 0), order.get(p[1], 0)))


def _components(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Connected components of a small undirected graph, nodes in the given order."""
    parent = {n: n for n in nodes}

    def root(node: str) -> str:
        while parent[node] != node:
            node = parent[node]
        return node

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for node in nodes:
        groups.setdefault(root(node), []).append(node)
    return list(groups.values())


def _groups(config: StudyConfig, estimated: set[str], group_by: str, market: str | None,
            ) -> tuple[str, ...]:
    values = [a.attribute(group_by) for a in config.studied_assets if a.ticker in estimated]
    ordered = [v for v in dict.fromkeys(values) if v is not None]
    if market in ordered:
        ordered.remove(market)
        ordered.insert(0, market)
    return tuple(ordered)


def _reference_exchange(config: StudyConfig, market_assets: Sequence[str], estimated: set[str],
                        ) -> str | None:
    if market_assets:
        return config.asset(market_assets[0]).exchange
    exchanges = Counter(a.exchange for a in config.studied_assets if a.ticker in estimated)
    return exchanges.most_common(1)[0][0] if exchanges else None
