"""The evidence tables: every event's reactions, pooled scopes with the robust tests, and the
joint estimation of overlapping key events."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from eventstudy import plots, registry
from eventstudy.common import display_window, format_window
from eventstudy.featured import Featured
from eventstudy.page.markup import (
    NA,
    badge,
    date,
    details,
    esc,
    estimate_cell,
    num,
    p_text,
    table,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

log = logging.getLogger("eventstudy")


def all_events_html(result: StudyResult, featured: Featured, caar: pd.DataFrame) -> str:
    """One table per headline window (the primary one open): every event's reactions."""
    parts = [("<p>Every event, ordered by day 0: the market assets' CAR (total reaction, CAR "
             "t-test) and each group's average (total and relative, "
             f"{esc(registry.label(caar['test'].iloc[0]) if len(caar) else '')}). Stars: "
             "* p&lt;0.10, ** p&lt;0.05, *** p&lt;0.01.</p>")]
    windows = list(featured.headline_windows)
    primary = featured.primary_window
    for window in [primary, *[w for w in windows if w != primary]]:
        body = events_table(result, featured, caar, window)
        title = f"All events: CAR{esc(display_window(window))}"
        parts.append(f"<h3>{title}</h3>{body}" if window == primary else details(title, body))
    return "\n".join(parts)


def events_table(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                 window: tuple[int, int]) -> str:
    label = format_window(window)
    car = result.car[(result.car["window"] == label) & (result.car["reaction"] == "total")]
    car = car.drop_duplicates(["event_id", "asset"]).set_index(["event_id", "asset"])
    scoped = caar[(caar["scope"] == "event") & (caar["window"] == label)
                  & (caar["group_by"] == featured.group_by)]
    columns = [(g, r) for g in featured.groups for r in ("total", "relative")
               if ((scoped["group"] == g) & (scoped["reaction"] == r)).any()]
    scoped = scoped.drop_duplicates(["scope_id", "group", "reaction"]).set_index(
        ["scope_id", "group", "reaction"])
    header = ["event <small>(day 0)</small>"]
    header += [f"{esc(plots.asset_name(result, t))}<br><small>total</small>"
               for t in featured.market_assets]
    header += [f"{esc(g)} average<br><small>{r}</small>" for g, r in columns]
    rows = []
    for event in plots.event_table(result, featured.exchange).itertuples():
        cells = [(f'<a href="#ev-{esc(event.event_id)}">{esc(event.event_id)}</a>'
                 f"<br><small>{date(event.day0)}</small>")]
        for ticker in featured.market_assets:
            key = (event.event_id, ticker)
            cells.append(estimate_cell(car.at[key, "car"], car.at[key, "car_p_value"])
                         if key in car.index else NA)
        for group, reaction in columns:
            key = (event.event_id, group, reaction)
            cells.append(estimate_cell(scoped.at[key, "caar"], scoped.at[key, "p_value"])
                         if key in scoped.index else NA)
        rows.append(cells)
    return table(header, rows, "numbers")


def pooled_html(result: StudyResult, featured: Featured, caar: pd.DataFrame) -> str:
    """Categories and tags: CAAR with interval and every clustering-robust test's p-value."""
    window = featured.primary_window
    label = format_window(window)
    tests = result.tests
    pooled = tests[tests["scope"].isin(["category", "tag"]) & (tests["window"] == label)
                   & (tests["asset"] == "")]
    robust = [t for t in registry.robust_tests() if t in set(pooled["test"])]
    keys = ["scope", "scope_id", "group_by", "group", "reaction"]
    rows_caar = caar[caar["scope"].isin(["category", "tag"]) & (caar["window"] == label)]
    if rows_caar.empty:
        return "<p>No category or tag pools two or more events' pairs in this study.</p>"
    first = pooled.drop_duplicates([*keys, "test"])
    by_scope = {k: (stat, p, r) for k, stat, p, r in zip(
        first[[*keys, "test"]].itertuples(index=False, name=None), first["statistic"],
        first["p_value"], first["r_bar"])}
    colors = plots.category_colors(result)
    header = ["scope <small>group, reaction</small>", "N pairs",
              f"CAAR{esc(display_window(window))}", "r̄"]
    header += [esc(registry.label(t)) for t in robust]
    body = []
    for row in rows_caar.itertuples():
        key = tuple(getattr(row, k) for k in keys)
        scope = (badge(row.scope_id, colors.get(row.scope_id, "#555")) if row.scope == "category"
                 else f"<i>tag</i> {esc(row.scope_id)}")
        r_bar = [by_scope[(*key, t)][2] for t in robust if (*key, t) in by_scope]
        r_bar = next((r for r in r_bar if pd.notna(r)), None)
        cells = [f"{scope}<br><small>{esc(row.group)}, {esc(row.reaction)}</small>", str(int(row.n)),
                 estimate_cell(row.caar, row.p_value, row.ci_low, row.ci_high),
                 num(r_bar) if r_bar is not None else "–"]
        for test in robust:
            if (*key, test) in by_scope:
                statistic, p_value, _ = by_scope[(*key, test)]
                cells.append(f"{num(statistic)}<br><small>{p_text(p_value)}</small>")
            else:
                cells.append(NA)
        body.append(cells)
    intro = ("<p>All (event, asset) pairs of a category or tag, per asset group and reaction kind "
             "(total and relative reactions are never pooled; an asset's pairs that share one day "
             "0 count once). CAAR = mean CAR, with the 95% interval of the portfolio test. The "
             "columns give every test whose size holds when all pairs share the event date "
             "(statistic and two-sided p); the tests that assume independence are in "
             "<code>tables/tests.csv</code> only.</p>")
    return intro + table(header, body, "numbers")


# ----------------------------------------------------------------------------- joint


def joint_html(result: StudyResult, featured: Featured, joint: pd.DataFrame | None) -> str:
    """Joint estimation of each featured set of overlapping events, and the run-wide summary."""
    parts = [("<p>When the event periods of two events share sessions, their abnormal returns "
              "are estimated in one regression per asset with a dummy for every event-period "
              "session (classical OLS standard errors); a window's CAR is the sum of its day "
              "dummies. Each session's abnormal return is then counted once.</p>")]
    if not featured.joint_sets:
        parts.append("<p>No two key events share a session of their event periods.</p>")
    for events in featured.joint_sets:
        parts.append(_joint_set(result, featured, events))
    if joint is not None and len(joint):
        parts.append("<h3>All events</h3>" + joint_summary(result, joint))
    return "\n".join(parts)


def _joint_set(result: StudyResult, featured: Featured, events: Sequence[str]) -> str:
    title = "Estimated together: " + ", ".join(esc(e) for e in events)
    assets = joint_assets(result, featured)
    try:  # one regression per (cluster, asset): estimate the assets shown only
        shown = dataclasses.replace(result, inputs=tuple(
            i for i in result.inputs if i.ticker in set(assets)))
        frame = shown.joint(list(events))
    except Exception as error:  # noqa: BLE001 (the page must never stop on one table)
        log.warning("joint estimation of %s failed: %s", ", ".join(events), error)
        return f"<h3>{title}</h3><p>Not estimated: {esc(type(error).__name__)}: {esc(error)}.</p>"
    frame = frame[frame["asset"].isin(assets)]
    return (f"<h3>{title}</h3>" + _joint_windows(result, featured, frame, events, assets)
            + details("Day dummies (each session's abnormal return)",
                      _joint_days(result, frame, events, assets)))


def joint_assets(result: StudyResult, featured: Featured, limit: int = 3) -> list[str]:
    """The assets whose joint estimates the page shows: the market assets, else the first
    ``limit`` estimated assets."""
    if featured.market_assets:
        return list(featured.market_assets)
    return list(dict.fromkeys(i.ticker for i in result.inputs))[:limit]


def _joint_windows(result: StudyResult, featured: Featured, frame: pd.DataFrame,
                   events: Sequence[str], assets: Sequence[str]) -> str:
    windows = [format_window(w) for w in featured.headline_windows]
    rows = frame[(frame["kind"] == "window") & frame["window"].isin(windows)]
    # one row per (event, asset, window): an asset's own model (its total-reaction twin follows)
    rows = rows.drop_duplicates(["event_id", "asset", "window"]).set_index(
        ["event_id", "asset", "window"])
    header = ["event", "asset"] + [f"CAR{esc(display_window(w))}" for w in featured.headline_windows]
    body = []
    for event_id in events:
        for ticker in assets:
            cells = [esc(event_id), esc(plots.asset_name(result, ticker))]
            for window in windows:
                key = (event_id, ticker, window)
                if key in rows.index and rows.at[key, "status"] == "ok":
                    cells.append(estimate_cell(rows.at[key, "estimate"], rows.at[key, "p_value"]))
                elif key in rows.index:
                    cells.append(esc(rows.at[key, "message"]) or NA)
                else:
                    cells.append(NA)
            body.append(cells)
    return table(header, body, "numbers")


def _joint_days(result: StudyResult, frame: pd.DataFrame, events: Sequence[str],
                assets: Sequence[str]) -> str:
    days = frame[(frame["kind"] == "day") & frame["date"].notna()]
    if days.empty:
        return "<p>No day dummies.</p>"
    offsets = days.pivot_table(index="date", columns="event_id", values="rel_day", aggfunc="first")
    values = days.drop_duplicates(["date", "asset"]).set_index(["date", "asset"])
    header = ["session", "day relative to " + " / ".join(esc(e) for e in events)]
    header += [esc(plots.asset_name(result, t)) for t in assets]
    body = []
    for session in sorted(offsets.index):
        rel = [offsets.at[session, e] if e in offsets.columns else None for e in events]
        cells = [date(session), " / ".join("·" if pd.isna(r) else f"{int(r):+d}" for r in rel)]
        for ticker in assets:
            key = (session, ticker)
            cells.append(estimate_cell(values.at[key, "estimate"], values.at[key, "p_value"])
                         if key in values.index else NA)
        body.append(cells)
    return table(header, body, "numbers")


def joint_summary(result: StudyResult, joint: pd.DataFrame) -> str:
    """Clusters of the run-wide joint estimation by short id (their own, or C1, C2, ...)."""
    sessions = plots.event_table(result).set_index("event_id")["day0"]
    body = []
    for i, (cluster, rows) in enumerate(joint.groupby("cluster", sort=False), start=1):
        ids = list(dict.fromkeys(rows["event_id"]))
        days = sessions.reindex(ids).dropna()
        span = f"{date(days.min())} to {date(days.max())}" if len(days) else "–"
        status = ", ".join(f"{k}: {v}" for k, v in rows["status"].value_counts().items())
        listing = details(f"{len(ids)} events", "<br>".join(esc(e) for e in ids))
        name = str(cluster) if len(str(cluster)) <= 8 else f"C{i}"  # long ids: list of events
        body.append([esc(name), listing, span, esc(status)])
    return ("<p>The run also estimates every cluster of events with overlapping event periods "
            "(all rows in <code>tables/joint.csv</code>, where <code>cluster</code> lists the "
            "cluster's event ids).</p>"
            + table(["cluster", "events", "day 0 span", "rows by status"], body))
