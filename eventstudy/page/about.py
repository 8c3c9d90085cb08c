"""The study's own account of itself: events, methods, limitations and data provenance, all
generated from the configuration and the results."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eventstudy import plots, registry
from eventstudy.common import display_window, package_versions
from eventstudy.featured import Featured, overlapping_pairs
from eventstudy.page.markup import (
    NA,
    badge,
    date,
    details,
    esc,
    num,
    source_link,
    table,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

NUMBER = re.compile(r"\d+(?:\.\d+)?")
SHORT_SAMPLE = 0.8  # an asset is "short" below this share of the median estimation sample


# ----------------------------------------------------------------------------- events


def study_exchanges(result: StudyResult) -> list[str]:
    """Exchanges of the studied assets, most used first."""
    counts = pd.Series([a.exchange for a in result.config.studied_assets]).value_counts()
    return [str(e) for e in counts.index]


def events_html(result: StudyResult, featured: Featured) -> str:
    """Every event with its day 0 on each exchange of the study and its sources."""
    exchanges = study_exchanges(result)
    sessions = result.event_sessions.drop_duplicates(["event_id", "exchange"]).set_index(
        ["event_id", "exchange"])
    by_id = {e.id: e for e in result.config.events}
    colors = plots.category_colors(result)
    rows = []
    for i, row in enumerate(plots.event_table(result, featured.exchange).itertuples(), start=1):
        event = by_id[row.event_id]
        key = " <span class=\"flag\">key</span>" if event.id in featured.key_events else ""
        rows.append([
            str(i),
            (f'<b id="ev-{esc(event.id)}">{esc(event.id)}</b>{key}<br><small>{esc(event.title)}'
            "</small>"),
            badge(event.category, colors.get(event.category, "#555")) + "<br><small>"
            + esc(", ".join(event.tags)) + "</small>",
            esc(f"{event.announced:%Y-%m-%d %H:%M %Z}".strip()) + "<br><small>"
            + esc(event.time_precision or "precision not stated") + "</small>",
            *[_session_cell(sessions, event.id, x) for x in exchanges],
            "<br>".join(source_link(s) for s in event.sources) or NA,
        ])
    header = ["#", "event", "category / tags", "announced", *[f"day 0 ({esc(x)})" for x in exchanges],
              "sources"]
    note = ("<p>Day 0 on an exchange is the first session whose close is later than the "
            "announcement; a session that contains the announcement is day 0 and is flagged "
            '<span class="flag">partial</span>. The rule that decided each mapping is in '
            "<code>tables/event_sessions.csv</code>.</p>")
    return note + table(header, rows, "events")


def _session_cell(sessions: pd.DataFrame, event_id: str, exchange: str) -> str:
    if (event_id, exchange) not in sessions.index:
        return NA
    row = sessions.loc[(event_id, exchange)]
    flag = ' <span class="flag">partial</span>' if bool(row["partial"]) else ""
    return f"{date(row['session'])}{flag}<br><small>{esc(row['announced_local'])}</small>"


# ----------------------------------------------------------------------------- methods


def methods_html(result: StudyResult, featured: Featured) -> str:
    """How this run computed what the page shows."""
    settings = result.config.settings
    est = settings.estimation_window
    windows = ", ".join(display_window(w) for w in settings.event_windows)
    if settings.exclude_other_events:
        lo, hi = settings.other_event_exclusion
        exclusion = (f"sessions [{lo}, {hi}] around every other event of the file are left out "
                     "of it")
    else:
        exclusion = "other events are not left out of it"
    items = [
        (f"<b>Returns.</b> {esc(settings.returns)} returns of adjusted closes, each asset on its own "
        "exchange's session calendar; a return spanning a missing session is not used."),
        ("<b>Day 0.</b> The first session of the asset's exchange whose close is later than the "
        "announcement (a session containing it is day 0, flagged partial)."),
        (f"<b>Estimation window.</b> Sessions [{est[0]}, {est[1]}] relative to day 0; "
        f"{esc(exclusion)}. A pair with fewer than {settings.min_estimation_returns} estimation "
        "returns is not estimated (see Limitations)."),
        ("<b>Abnormal returns.</b> AR = return − the model's normal return. The residual variance "
        "is s² = SSR / (L1 − k) (k = number of mean parameters) and every AR and CAR carries the "
        "full prediction-error covariance s²[I + X*(X'X)⁻¹X*'] of its estimation."),
        (f"<b>Event windows.</b> {esc(windows)} (sessions relative to day 0, both ends included); "
        "CAR sums the window's ARs; CAAR is the mean CAR over a group's pairs."),
        ("<b>Single assets.</b> CAR t-test: CAR / √Var(CAR), t(L1 − k), two-sided; the 95% "
        "interval inverts it."),
        ("<b>Group averages.</b> The portfolio (crude-dependence) test: the group's equal-weighted "
        "portfolio of estimation residuals gives S², the CAAR's standard error is √(L2)·S and "
        "its reference N(0, 1); same-date correlation between the assets enters through the "
        "portfolio. The 95% interval CAAR ± 1.96·√(L2)·S inverts it."),
        (f"<b>CAR paths.</b> 0 at day {featured.anchor}, then the running sum of ARs (before the "
        "anchor, minus the ARs up to it). Bands: 95%, from the prediction-error variance "
        "(single assets) or |d − anchor|·S² (group averages)."),
        "<b>Total and relative reactions.</b> A model that nets out a same-exchange, same-day "
        "series (e.g. a market model on the home index) measures the reaction <i>relative</i> to "
        "that market; a constant-mean model measures the <i>total</i> reaction."
        + (" Every relatively measured asset is also estimated with a constant-mean model, so "
           "both are shown." if settings.total_reactions else "")
        + " Cross-sections never pool total with relative reactions.",
        "<b>What the report features.</b> " + esc("; ".join(featured.notes)) + ".",
    ]
    return ("<ol>" + "".join(f"<li>{i}</li>" for i in items) + "</ol>"
            + "<h3>Model per asset</h3>" + models_table(result)
            + "<h3>Reported statistics</h3>" + statistics_table(result))


def models_table(result: StudyResult) -> str:
    ok = result.models[result.models["status"] == "ok"]
    summary = ok.groupby(["asset", "reaction"], sort=False).agg(
        model=("model", "first"), pairs=("event_id", "size"), sigma=("sigma", "median"),
        r2=("r2", "median"), n_obs=("n_obs", "median"))
    rows = []
    for asset in result.config.studied_assets:
        for reaction in ("total", "relative"):
            if (asset.ticker, reaction) not in summary.index:
                continue
            row = summary.loc[(asset.ticker, reaction)]
            rows.append([esc(asset.ticker), esc(asset.name), esc(asset.group), esc(row["model"]),
                         esc(plots.reaction_label(result, asset.ticker, reaction)),
                         str(int(row["pairs"])), num(100 * row["sigma"]) + "%", num(row["r2"]),
                         str(int(row["n_obs"]))])
    header = ["ticker", "name", "group", "model", "reaction", "pairs", "median σ (daily)",
              "median R²", "median L1"]
    return table(header, rows)


def statistics_table(result: StudyResult) -> str:
    """Every statistic the run reports, from the registry, with its reference and robustness."""
    tables_present = {"tests", "abnormal_returns", "car"} | (
        {"volatility"} if result.volatility is not None else set())
    rows = []
    for info in registry.STATISTICS.values():
        if not set(info.table.split(", ")) & tables_present:
            continue
        robust = {None: "one pair", True: "yes",
                  False: "no: reported only where the pairs are independent"}[
            info.robust_to_clustering]
        rows.append([esc(info.label), f"<code>{esc(info.id)}</code>", esc(info.table),
                     esc(info.level), esc(info.reference), esc(robust)])
    header = ["statistic", "id", "table", "level", "reference", "robust to same-date correlation"]
    return ("<p>Columns <code>test</code> / <code>measure</code> of the tables use these ids. "
            "Only the robust ones are featured on this page; a test that assumes independent "
            "pairs is reported (p-value present) only for a day or window whose pairs belong to "
            "different events and share no session, and is NaN with the reason in "
            "<code>note</code> elsewhere (<code>docs/methods.md</code>, section 9).</p>"
            + table(header, rows))


# ----------------------------------------------------------------------------- limitations


def limitations_html(result: StudyResult, featured: Featured) -> str:
    """What the reader should keep in mind, generated from this study."""
    items = [_timing(result), _partial(result, featured), _overlaps(result),
             _relative_caveat(result), _multiple_testing(result, featured), _short_histories(result)]
    parts = ['<ul class="limits">' + "".join(f"<li>{i}</li>" for i in items if i) + "</ul>"]
    parts.append('<h3 id="refused">Pairs not estimated and series left out</h3>' + refused_html(result))
    return "\n".join(parts)


def _timing(result: StudyResult) -> str:
    events = result.config.events
    approximate = [e for e in events
                   if not (e.time_precision or "").strip().lower().startswith("exact")]
    if not approximate:
        return ("<b>Announcement times</b>: every event states an exact time, so day 0 follows "
                "from the exchange calendars alone.")
    listing = details(f"{len(approximate)} events",
                      "<br>".join(f"{esc(e.id)}: <small>{esc(e.time_precision or 'not stated')}"
                                  "</small>" for e in approximate))
    return (f"<b>Approximate announcement times</b>: {len(approximate)} of {len(events)} events "
            "do not state an exact time (<code>time_precision</code>). If the true time fell on "
            "the other side of an exchange's close, the reaction belongs one session earlier or "
            "later: windows that start at day 0 and span two or more sessions absorb that, day-0 "
            "windows do not. " + listing)


def _partial(result: StudyResult, featured: Featured) -> str:
    partial = result.event_sessions[result.event_sessions["partial"].astype(bool)]
    partial = partial[partial["exchange"].isin(study_exchanges(result))]
    if partial.empty:
        return ""
    return (f"<b>Announcements during trading</b>: {partial['event_id'].nunique()} events fell "
            "inside a session of a studied exchange (day 0 flagged partial): that session mixes "
            "pre- and post-announcement trading.")


def _overlaps(result: StudyResult) -> str:
    pairs = overlapping_pairs(result)
    settings = result.config.settings
    lo, hi = settings.event_period
    if not pairs:
        return (f"<b>Overlapping events</b>: no two events share a session of their event periods "
                f"([{lo}, {hi}]).")
    involved = len({e for p in pairs for e in p})
    exclusion = (f"Each estimation window leaves out sessions [{settings.other_event_exclusion[0]}, "
                 f"{settings.other_event_exclusion[1]}] around the other events."
                 if settings.exclude_other_events else
                 "Estimation windows do not leave out other events.")
    return (f"<b>Overlapping events</b>: {len(pairs)} pairs of events ({involved} events) share "
            f"sessions of their event periods [{lo}, {hi}], so a window of one can contain "
            "another's reaction; the <a href=\"#joint\">joint estimation</a> counts each session "
            f"once. {exclusion}")


def _relative_caveat(result: StudyResult) -> str:
    if "relative" not in set(result.car["reaction"]):
        return ""
    return ("<b>Relative reactions</b> net out β × the benchmark's same-day return. When the event "
            "moved the benchmark itself (market-wide news usually does), the relative reaction is "
            "not the asset's whole response: read it beside the total reaction.")


def _multiple_testing(result: StudyResult, featured: Featured) -> str:
    p_tests = int(result.tests["p_value"].notna().sum())
    p_pairs = sum(int(table[column].notna().sum()) for table, columns in (
        (result.abnormal, ("ar_p_value", "ar_sq_p_value")),
        (result.car, ("car_p_value", "car_sq_p_value"))) for column in columns)
    total = p_tests + p_pairs
    featured_count = (len(featured.key_events) * len(featured.groups) * 2
                      * len(featured.headline_windows) + len(featured.key_events)
                      * len(featured.market_assets) * len(featured.headline_windows))
    threshold = 0.05 / max(featured_count, 1)
    return (f"<b>Many tests</b>: the tables hold {total:,} p-values ({p_pairs:,} single-asset "
            f"tests of abnormal returns and CARs, {p_tests:,} cross-sectional tests). At the 5% level about {0.05 * total:,.0f} "
            "of them would be 'significant' with no effect at all. The findings feature at most "
            f"{featured_count} comparisons chosen before looking at p-values (key events, groups, "
            f"headline windows); a Bonferroni bound for them is p &lt; {threshold:.4f}. Treat "
            "everything else as exploratory.")


def _short_histories(result: StudyResult) -> str:
    ok = result.models[result.models["status"] == "ok"]
    if ok.empty:
        return ""
    est = result.config.settings.estimation_window
    length = est[1] - est[0] + 1
    typical = float(ok["n_obs"].median())
    fewest = ok.groupby("asset")["n_obs"].min()
    short = fewest[fewest < SHORT_SAMPLE * typical].sort_values()
    text = (f"<b>Estimation samples</b> hold a median of {typical:.0f} returns out of the "
            f"window's {length} sessions (missing prices and other events' windows are left out).")
    if short.empty:
        return text
    names = ", ".join(f"{esc(plots.asset_name(result, t))} ({int(n)})" for t, n in short.items())
    return (text + f" Assets with notably fewer (fewest per asset): {names}; their normal "
            "returns and variances are less precise.")


def refused_html(result: StudyResult) -> str:
    """Refused pairs grouped per asset (name, count, one summarised reason), skipped series."""
    parts = []
    left_out = {**getattr(result, "missing", {}), **result.skipped}
    if left_out:
        rows = [[f"{esc(plots.asset_name(result, t))} <small>({esc(t)})</small>", esc(r)]
                for t, r in sorted(left_out.items())]
        parts.append("<p>Series that could not be used (and everything that depends on them):"
                     "</p>" + table(["series", "reason"], rows))
    refused = result.models[result.models["status"] != "ok"]
    if refused.empty:
        parts.append("<p>Every (event, asset) pair was estimated.</p>")
        return "\n".join(parts)
    first_date = _first_dates(result)
    rows = []
    for (ticker, status), group in refused.groupby(["asset", "status"], sort=False):
        events = list(dict.fromkeys(group["event_id"]))
        reason = summarize_messages(list(group["message"].astype(str)))
        since = first_date.get(ticker)
        if since:
            reason += f" (prices from {since})"
        rows.append([f"{esc(plots.asset_name(result, ticker))} <small>({esc(ticker)})</small>",
                     esc(status), str(len(group)),
                     details(f"{len(events)} events", "<br>".join(esc(e) for e in events)),
                     esc(reason)])
    parts.append(f"<p>{len(refused)} (event, asset, reaction) pairs were not estimated, "
                 "grouped here per asset (every row in <code>tables/models.csv</code>):</p>"
                 + table(["asset", "status", "pairs", "events", "reason"], rows))
    return "\n".join(parts)


def summarize_messages(messages: Sequence[str]) -> str:
    """One reason for many messages that differ only in their numbers (numbers become ranges).

    Examples
    --------
    >>> summarize_messages(["only 13 returns (min 120)", "only 22 returns (min 120)"])
    'only 13–22 returns (min 120)'
    >>> summarize_messages(["no prices", "singular design"])
    'no prices; singular design'
    """
    unique = list(dict.fromkeys(messages))
    templates = {NUMBER.sub("#", m) for m in unique}
    if len(templates) > 1:
        return "; ".join(unique[:3]) + ("; …" if len(unique) > 3 else "")
    numbers = np.array([[float(x) for x in NUMBER.findall(m)] for m in unique])
    text = unique[0]
    if numbers.size == 0:
        return text
    pieces = NUMBER.split(text)
    out = pieces[0]
    for i, piece in enumerate(pieces[1:]):
        low, high = numbers[:, i].min(), numbers[:, i].max()
        out += _number(low) if low == high else f"{_number(low)}–{_number(high)}"
        out += piece
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _first_dates(result: StudyResult) -> dict[str, str]:
    prov = result.provenance
    if prov is None or prov.empty or "first" not in prov:
        return {}
    return {str(r.ticker): date(r.first) for r in prov.itertuples()}


# ----------------------------------------------------------------------------- provenance


def provenance_html(result: StudyResult) -> str:
    """Where every price series came from (file names only, never local paths) and versions."""
    rows = []
    for r in result.provenance.itertuples():
        digest = str(getattr(r, "sha256", "") or "")
        location = str(getattr(r, "location", "") or "")
        rows.append([
            esc(r.ticker), esc(getattr(r, "source", "")),
            f"<code>{esc(Path(location).name)}</code>" if location else NA,
            date(getattr(r, "first", None)), date(getattr(r, "last", None)),
            esc(getattr(r, "rows", "")),
            f'<code title="{esc(digest)}">{esc(digest[:12])}…</code>' if digest else NA,
            esc(getattr(r, "retrieved_at", "") or "–"),
        ])
    header = ["series", "source", "file", "first", "last", "rows", "sha256", "downloaded at"]
    versions = [[esc(k), esc(v)] for k, v in package_versions().items()]
    return ("<p>Every price series with its source (snapshot file name and SHA-256, or the Yahoo "
            "Finance download time), as in <code>run.json</code>.</p>" + table(header, rows)
            + "<h3>Package versions</h3>" + table(["package", "version"], versions))
