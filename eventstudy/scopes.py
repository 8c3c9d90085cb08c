"""Cross-sectional scopes: which (event, asset) pairs a cross-sectional statistic pools.

A scope pools the pairs of one event (``kind='event'``) or of every event of a category or
tag (``'category'``, ``'tag'``), restricted to one value of one asset partition
(``group_by='group'`` and ``group='chips'``, or an attribute such as ``group_by='sector33'``)
and to one kind of reaction (``'total'`` or ``'relative'``): a cross-section never averages
total reactions with reactions relative to a market (like with like). ``group_by='all'``
(``group='all'``) pools every studied asset and exists only when all share one reaction kind.

Every cross-sectional table (tests, volatility, portfolio CARs) carries the label columns
:data:`SCOPE_LABELS` in this order.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy.events import REACTIONS, Asset, StudyConfig
from eventstudy.panel import AbnormalPanel

log = logging.getLogger("eventstudy")

SCOPE_KINDS = ("event", "category", "tag")
SCOPE_LABELS = ["scope", "scope_id", "group_by", "group", "reaction"]
"""Label columns of a cross-sectional row; single-pair rows (of the volatility and CAR-path
tables) use ``scope='pair'``, ``scope_id`` = the event id, ``group_by=''``, ``group`` = the
asset's group."""


@dataclass(frozen=True)
class Scope:
    """One cross-section: a boolean mask over a panel's pairs and the labels that name it.

    Attributes
    ----------
    kind : str
        ``'event'``, ``'category'`` or ``'tag'`` (what is pooled across events).
    id : str
        The event id, category or tag.
    group_by : str
        ``'group'``, an asset attribute name, or ``'all'``.
    group : str
        The value of ``group_by`` shared by the scope's assets (``'all'`` for ``group_by='all'``).
    reaction : str
        ``'total'`` or ``'relative'``.
    rows : ndarray of bool, shape (N,)
        The pairs of the panel in this scope.
    """

    kind: str
    id: str
    group_by: str
    group: str
    reaction: str
    rows: np.ndarray = field(repr=False, compare=False)

    def labels(self) -> list[str]:
        """The label values in :data:`SCOPE_LABELS` order."""
        return [self.kind, self.id, self.group_by, self.group, self.reaction]


def build_scopes(
    config: StudyConfig,
    panel: AbnormalPanel,
    day0: Mapping[tuple[str, str], object],
) -> list[Scope]:
    """Every cross-section of a study: per event, then pooled per category and per tag; each
    split by the asset partitions of ``study.group_by`` and by reaction kind.

    A pooled scope keeps one pair per (asset, reaction, day-0 session): two events mapped to the
    same session (e.g. announcements on two evenings before one Tokyo open) would otherwise enter
    the same return twice. ``group_by='all'`` is added only when every pair shares one reaction
    kind and no single group already holds every asset.

    Parameters
    ----------
    config : StudyConfig
        The study (events, asset groups and attributes, ``study.group_by``).
    panel : AbnormalPanel
        The estimated pairs.
    day0 : mapping
        ``(event_id, exchange) -> day-0 session`` from :func:`eventstudy.calendars.map_events`.

    Returns
    -------
    list of Scope
        Scopes with at least one pair, events in file order, then categories, then tags.
    """
    reactions = _reactions(panel)
    partitions = _partitions(config, panel, reactions)
    events = config.events
    pooled = [("category", c, [i for i, e in enumerate(events) if e.category == c])
              for c in dict.fromkeys(e.category for e in events)]
    pooled += [("tag", t, [i for i, e in enumerate(events) if t in e.tags])
               for t in dict.fromkeys(t for e in events for t in e.tags)]
    event_of = _codes(panel.event_ids, {e.id: i for i, e in enumerate(events)})  # -1: no event
    selections = [("event", e.id, event_of == i) for i, e in enumerate(events)]
    if pooled:
        keys = _session_keys(config, panel, reactions, day0)
        selections += [(kind, key, _first_per_session(keys, np.isin(event_of, chosen)))
                       for kind, key, chosen in pooled]
    kinds = {reaction: reactions == reaction for reaction in REACTIONS}
    scopes = []
    for kind, key, chosen in selections:
        picked = {reaction: np.flatnonzero(chosen & kinds[reaction]) for reaction in REACTIONS}
        for group_by, group, members in partitions:
            for reaction in REACTIONS:
                index = picked[reaction][members[picked[reaction]]]
                if len(index):
                    rows = np.zeros(panel.n_pairs, dtype=bool)
                    rows[index] = True
                    scopes.append(Scope(kind, key, group_by, group, reaction, rows))
    return scopes


def _reactions(panel: AbnormalPanel) -> np.ndarray:
    if panel.reactions is None:
        return np.full(panel.n_pairs, "total", dtype=object)
    return np.asarray(panel.reactions, dtype=object)


def _partitions(config: StudyConfig, panel: AbnormalPanel, reactions: np.ndarray) -> list[tuple[str, str, np.ndarray]]:
    """``(group_by, group, pair mask)`` for every value of every partition in ``study.group_by``."""
    assets = {a.ticker: a for a in config.assets}
    partitions = []
    codes, tickers = pd.factorize(np.asarray(panel.assets, dtype=object))
    for group_by in config.settings.group_by:
        values = np.array([_value(assets.get(t), group_by) for t in tickers], dtype=object)[codes]
        for value in dict.fromkeys(v for v in values if v is not None):
            partitions.append((group_by, value, values == value))
    one_kind = len(set(reactions)) <= 1
    if one_kind and not any(mask.all() for _, _, mask in partitions):
        partitions.append(("all", "all", np.ones(panel.n_pairs, dtype=bool)))
    return partitions


def _value(asset: Asset | None, group_by: str) -> str | None:
    value = None if asset is None else asset.attribute(group_by)
    return None if value is None or value == "" else str(value)


def _codes(labels: np.ndarray, positions: Mapping[object, int]) -> np.ndarray:
    """``positions[label]`` of every label (-1 for a label not in ``positions``)."""
    codes, distinct = pd.factorize(np.asarray(labels, dtype=object))
    lookup = np.array([positions.get(label, -1) for label in distinct] + [-1], dtype=np.int64)
    return lookup[codes]


def _session_keys(
    config: StudyConfig,
    panel: AbnormalPanel,
    reactions: np.ndarray,
    day0: Mapping[tuple[str, str], object],
) -> np.ndarray:
    """One integer per pair, equal for two pairs when they share asset, reaction and day-0
    session (the session's text, as the keys compare; a pair without one has ``'None'``)."""
    exchange = {a.ticker: a.exchange for a in config.assets}
    asset_codes, assets = pd.factorize(np.asarray(panel.assets, dtype=object))
    reaction_codes, kinds = pd.factorize(np.asarray(reactions, dtype=object))
    exchanges = np.array([exchange.get(t) for t in assets], dtype=object)[asset_codes]
    combo_codes, combos = pd.MultiIndex.from_arrays(
        [np.asarray(panel.event_ids, dtype=object), exchanges]).factorize()
    sessions = np.array([str(day0.get(combo)) for combo in combos], dtype=object)  # one per (event, exchange)
    session_codes, distinct = pd.factorize(sessions)
    session_codes = session_codes[combo_codes] if len(combo_codes) else combo_codes
    return (asset_codes.astype(np.int64) * max(len(kinds), 1) + reaction_codes) * max(len(distinct), 1) \
        + session_codes


def _first_per_session(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``rows`` without pairs whose (asset, reaction, day-0 session), ``keys`` of
    :func:`_session_keys`, already appeared (panel order)."""
    if not rows.any():
        return rows
    chosen = np.flatnonzero(rows)
    first = np.unique(keys[chosen], return_index=True)[1]
    out = np.zeros_like(rows)
    out[chosen[first]] = True
    dropped = int(rows.sum() - out.sum())
    if dropped:
        log.info("pooled scope: %d pairs share (asset, day 0) with another event and are counted once", dropped)
    return out


def calendar_span(days: np.ndarray, selector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and last calendar day of each pair's ``selector`` sessions (NaN when one of
    them is unknown).

    Parameters
    ----------
    days : ndarray, shape (N, E)
        Calendar days of the event-period sessions (:meth:`AbnormalPanel.event_calendar_days`).
    selector : ndarray of bool, shape (E,)
        The sessions of one day or window.
    """
    chosen = days[:, np.asarray(selector, dtype=bool)]
    known = np.isfinite(chosen).all(axis=1)
    if chosen.shape[1] == 0:
        return np.full(len(days), np.nan), np.full(len(days), np.nan)
    return (np.where(known, chosen.min(axis=1, initial=np.inf), np.nan),
            np.where(known, chosen.max(axis=1, initial=-np.inf), np.nan))


def shares_an_event(event_ids: np.ndarray) -> bool:
    """Whether two pairs belong to the same event: they react to the same news, whatever
    their sessions (e.g. New York on day 0 and Tokyo the next morning), so they are not
    independent.

    Examples
    --------
    >>> shares_an_event(np.array(["a", "b", "a"], dtype=object))
    True
    """
    ids = np.asarray(event_ids, dtype=object).tolist()
    return len(set(ids)) < len(ids)


def overlapping_periods(first: np.ndarray, last: np.ndarray) -> bool:
    """Whether any two of the intervals ``[first_i, last_i]`` (calendar days) overlap (or
    whether some interval is unknown, NaN).

    Pairs whose event periods share a trading day are cross-sectionally dependent (same-date
    clustering); a test that assumes independent pairs is not reported for them.

    Examples
    --------
    >>> overlapping_periods(np.array([0, 20]), np.array([15, 35]))
    False
    >>> overlapping_periods(np.array([0, 10]), np.array([15, 35]))
    True
    """
    if len(first) < 2:
        return False
    if not (np.isfinite(first).all() and np.isfinite(last).all()):
        return True  # a pair without known dates cannot be shown to stand apart
    order = np.argsort(first, kind="stable")
    ends = np.maximum.accumulate(np.asarray(last)[order])
    return bool((np.asarray(first)[order][1:] <= ends[:-1]).any())
