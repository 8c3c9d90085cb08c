"""Scopes of a study: the same pairs as a plain pandas reference, duplicates counted once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from eventstudy.events import Asset, Event, ModelSpec, StudyConfig, StudySettings
from eventstudy.scopes import build_scopes


def _reference(config, panel, day0):
    """The scopes as the pandas implementation built them, pair masks by event-id comparison and
    ``DataFrame.duplicated`` over (asset, reaction, session text)."""
    reactions = np.asarray(panel.reactions, dtype=object)
    assets = {a.ticker: a for a in config.assets}
    partitions = []
    for group_by in config.settings.group_by:
        values = np.array([assets[t].attribute(group_by) for t in panel.assets], dtype=object)
        partitions += [(group_by, v, values == v) for v in dict.fromkeys(values) if v]
    events = config.events
    pooled = [("category", c, [e.id for e in events if e.category == c])
              for c in dict.fromkeys(e.category for e in events)]
    pooled += [("tag", t, [e.id for e in events if t in e.tags])
               for t in dict.fromkeys(t for e in events for t in e.tags)]
    selections = [("event", e.id, panel.event_ids == e.id) for e in events]
    for kind, key, ids in pooled:
        rows = np.isin(panel.event_ids, ids)
        chosen = np.flatnonzero(rows)
        sessions = [str(day0.get((e, assets[a].exchange))) for e, a in
                    zip(panel.event_ids[chosen], panel.assets[chosen])]
        keys = pd.DataFrame({"asset": panel.assets[chosen], "reaction": reactions[chosen],
                             "session": sessions})
        rows = rows.copy()
        rows[chosen[keys.duplicated(keep="first").to_numpy()]] = False
        selections.append((kind, key, rows))
    return [(kind, key, group_by, group, reaction, chosen & members & (reactions == reaction))
            for kind, key, chosen in selections for group_by, group, members in partitions
            for reaction in ("total", "relative") if (chosen & members & (reactions == reaction)).any()]


def test_scopes_equal_the_pandas_reference_with_shared_sessions_and_missing_day0():
    rng = np.random.default_rng(3)
    moment = pd.Timestamp("2025-03-03 20:00", tz="Asia/Tokyo")
    events = tuple(Event(f"e{i}", f"event {i}", ("tariff", "rate")[i % 2], moment + pd.Timedelta(days=i // 3),
                         ("source",), tags=(("a",), ("a", "b"), ())[i % 3]) for i in range(9))
    assets = tuple(Asset(f"S{i}", f"S{i}", ("XTKS", "XNYS")[i % 2], ("chips", "banks", "foods")[i % 3],
                         attributes={"size": ("large", "small")[i % 2]}) for i in range(7))
    settings = StudySettings(name="scopes", model=ModelSpec("constant_mean"), group_by=("group", "size"))
    config = StudyConfig(settings, assets, events)
    # several events share a day 0 (three per day), one (event, exchange) has none
    day0 = {(e.id, x): pd.Timestamp("2025-03-04") + pd.Timedelta(days=i // 3)
            for i, e in enumerate(events) for x in ("XTKS", "XNYS")}
    del day0[("e4", "XNYS")]
    pairs = [(e.id, a.ticker) for e in events for a in assets if rng.random() < 0.8]
    event_ids = np.array([p[0] for p in pairs], dtype=object)
    tickers = np.array([p[1] for p in pairs], dtype=object)
    reactions = rng.choice(np.array(["total", "relative"], dtype=object), len(pairs))
    panel = SimpleNamespace(event_ids=event_ids, assets=tickers, reactions=reactions, n_pairs=len(pairs))
    got = [(s.kind, s.id, s.group_by, s.group, s.reaction, s.rows) for s in build_scopes(config, panel, day0)]
    expected = _reference(config, panel, day0)
    assert [g[:5] for g in got] == [e[:5] for e in expected]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g[5], e[5])
    assert {g[0] for g in got} == {"event", "category", "tag"}
    tagged = sum(int(g[5].sum()) for g in got if g[:3] == ("tag", "a", "group"))
    assert 0 < tagged < int(np.isin(event_ids, ["e0", "e1", "e3", "e4", "e6", "e7"]).sum())  # duplicates dropped
