"""The report page: figures (PNG + SVG) and a self-contained ``report.html``.

``write_report(result, out)`` writes ``OUT/figures/<name>.png`` and ``.svg`` and
``OUT/report.html``. The page has inline CSS, no scripts and no external resources: images are
referenced by relative path (``figures/<name>.png``), so the folder opens offline.

Byte-stable: the same inputs give byte-identical files. Figures are drawn on
:class:`matplotlib.figure.Figure` objects (no pyplot, no global backend switch) under a fixed
style (:data:`REPORT_RC`, fixed SVG hash salt, fixed DPI) and saved without date or software
metadata; the page contains no timestamps except those in the provenance data.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eventstudy import inference, plots
from eventstudy.abnormal import format_window
from eventstudy.study import StudyResult, stars

DPI = 110
REPORT_RC = {
    "svg.hashsalt": "eventstudy-report",
    "svg.fonttype": "path",
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
}
PNG_METADATA = {"Software": None}
SVG_METADATA = {"Date": None, "Creator": None}

#: Pooled tests shown in the report, in column order.
POOLED_TESTS = ("kp_bmp", "grank", "crude_dependence", "bmp", "patell")
TEST_NAMES = {
    "kp_bmp": "KP-BMP", "grank": "GRANK", "crude_dependence": "crude dep.", "bmp": "BMP",
    "patell": "Patell", "kp_patell": "KP-Patell",
}
KEY_WINDOWS = ((0, 1), (0, 3))
Progress = Callable[[str], None]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()


@dataclass(frozen=True)
class FigureSpec:
    """One report figure: file name, caption, size and how to draw it on a Figure."""

    name: str
    caption: str
    size: tuple[float, float]
    draw: Callable[[Figure], object]


# ----------------------------------------------------------------------------- entry point


def write_report(
    result: StudyResult,
    out: str | Path,
    joint: pd.DataFrame | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write ``OUT/figures/*.png|svg`` and ``OUT/report.html``; return the page's path.

    Parameters
    ----------
    result : StudyResult
    out : path
        Output folder (created if needed; tables are written by :mod:`eventstudy.report`).
    joint : DataFrame, optional
        Joint dummy-variable estimates (``result.joint()``), shown as a table.
    progress : callable, optional
        Called with ``'figure <name>'`` before each figure and ``'report page'`` at the end.

    Examples
    --------
    >>> res = eventstudy.run("events.yaml", snapshot="../shared/prices")  # doctest: +SKIP
    >>> write_report(res, "reports/tariffs-2025", joint=res.joint())      # doctest: +SKIP
    PosixPath('reports/tariffs-2025/report.html')
    """
    step = progress or (lambda stage: None)
    result = plots.own_model_view(result)
    if joint is not None and "reaction" in joint:
        own = {a.ticker: result.config.reaction_of(a) for a in result.config.studied_assets}
        joint = joint[joint["reaction"] == joint["asset"].map(own)]
    out = Path(out)
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in figure_specs(result):
        step(f"figure {spec.name}")
        save_figure(spec, folder)
        written.append(spec)
    step("report page")
    page = out / "report.html"
    _atomic_write(page, render_page(result, written, joint).encode("utf-8"))
    return page


def save_figure(spec: FigureSpec, folder: Path) -> list[Path]:
    """Draw ``spec`` under the report style and save it as PNG and SVG (byte-stable)."""
    with mpl.rc_context(REPORT_RC):
        fig = Figure(figsize=spec.size, layout="constrained", dpi=DPI)
        spec.draw(fig)
        paths = []
        for ext, metadata in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
            path = folder / f"{spec.name}.{ext}"
            handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=f".{ext}")
            os.close(handle)
            try:
                fig.savefig(tmp, format=ext, dpi=DPI, metadata=metadata)
                os.chmod(tmp, _FILE_MODE)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            paths.append(path)
    return paths


# ----------------------------------------------------------------------------- figures


def figure_specs(result: StudyResult) -> list[FigureSpec]:
    """The report's figures for ``result`` (event figures only for events in the study).

    Examples
    --------
    >>> [s.name for s in figure_specs(res)][:2]  # doctest: +SKIP
    ['index_levels', 'car_paths_category']
    """
    ids = {e.id for e in result.config.events}
    n_events = len(ids)
    n_assets = len(result.config.studied_assets)
    specs = [
        FigureSpec("index_levels", "Nikkei 225 and TOPIX in 2025, rebased to 100 at the first "
                   "session; dots mark each event's Tokyo day 0, coloured by category.",
                   (11, 4.8), lambda fig: plots.index_levels(result, ax=fig.add_subplot())),
        FigureSpec("car_paths_category", "Mean CAR path from day −5 to +10 by event category. "
                   "Indices: total reaction (constant mean); chips and the semiconductor index: "
                   "relative to TOPIX (market model). Shaded: 95% t-interval from the s.d. of the "
                   "event-mean CARs across the events of the category.",
                   (13, 7.6), lambda fig: plots.car_paths(result, by="category", fig=fig)),
        FigureSpec("car_paths_tag", "The same by tag (an event can carry several tags).",
                   (13, 7.6), lambda fig: plots.car_paths(result, by="tag", fig=fig)),
        FigureSpec("car_heatmap", "CAR[0,+1] in % for every event and asset, ordered by Tokyo "
                   "day 0; stars from the single-asset t-test (full prediction-error covariance).",
                   (2.4 + 0.72 * n_assets, 1.8 + 0.27 * n_events),
                   lambda fig: plots.car_heatmap(result, ax=fig.add_subplot())),
    ]
    key = [e for e in plots.KEY_EVENTS if e in ids]
    if key:
        specs.append(FigureSpec(
            "chips_vs_topix", "CAR[0,+1] of each chip stock (relative to TOPIX) and of TOPIX "
            "(total) around the key events; bars: 95% intervals from the prediction-error variance.",
            (9, 1.6 + 0.12 * (n_assets - 1) * len(key)),
            lambda fig: plots.chips_vs_topix(result, key, ax=fig.add_subplot())))
    for event_id in key[:2] or [min(ids)]:
        specs += _event_specs(result, event_id)
    if "liberation-day-reciprocal-tariffs" in ids:
        specs.append(FigureSpec(
            "vi_liberation_day", "Nikkei Volatility Index level around Liberation Day and the "
            "90-day pause (vertical lines: events).", (8, 4.2),
            lambda fig: plots.vi_around_event(result, ax=fig.add_subplot())))
    return specs


def _event_specs(result: StudyResult, event_id: str) -> list[FigureSpec]:
    slug = _slug(event_id)
    return [
        FigureSpec(f"car_path_{slug}", f"CAR path around {event_id}: indices, the semiconductor "
                   "index and the chip-stock average with 95% prediction-error bands (the chip band "
                   "uses the variance of the equal-weighted residual portfolio, which keeps the "
                   "stocks' correlation).", (8, 4.6),
                   lambda fig: plots.car_path_event(result, event_id, ax=fig.add_subplot())),
        FigureSpec(f"tests_{slug}", f"Cross-sectional tests of CAR[0,+1] for {event_id}: "
                   "two-sided p-values; arrows show the Kolari–Pynnönen adjustment for the "
                   "cross-correlation r̄.", (8, 5.2),
                   lambda fig: plots.test_comparison(result, event_id, ax=fig.add_subplot())),
        FigureSpec(f"volatility_{slug}", f"Abnormal volatility AR²/ĥ around {event_id} "
                   "(GARCH(1,1) variance forecast from the estimation window; 1 = as forecast).",
                   (8, 4.6),
                   lambda fig: plots.volatility_paths(result, event_id, ax=fig.add_subplot())),
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


# ----------------------------------------------------------------------------- page


def render_page(result: StudyResult, figures: Sequence[FigureSpec], joint: pd.DataFrame | None) -> str:
    """The complete HTML page (a string; no I/O)."""
    name = result.config.settings.name
    sections = [
        ("results", "Key results: CAR[0,+1] and CAR[0,+3]", key_results_section(result)),
        ("figures", "Figures", figures_section(figures)),
        ("pooled", "Pooled tests by category and tag", pooled_section(result)),
        ("joint", "Joint estimation of overlapping events", joint_section(result, joint)),
        ("events", "Events and day 0", events_section(result)),
        ("methods", "Methods and conventions", methods_section(result)),
        ("skipped", "Skipped tickers and refused pairs", skipped_section(result)),
        ("provenance", "Data provenance and versions", provenance_section(result)),
    ]
    nav = " · ".join(f'<a href="#{key}">{html.escape(title)}</a>' for key, title, _ in sections)
    body = "\n".join(f'<section id="{key}">\n<h2>{html.escape(title)}</h2>\n{content}\n</section>'
                     for key, title, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>Event study report: {html.escape(name)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<header><h1>Event study: {html.escape(name)}</h1>\n"
        f"<p class=\"lead\">{_overview(result)}</p>\n<nav>{nav}</nav></header>\n"
        f"{body}\n</body>\n</html>\n"
    )


def _overview(result: StudyResult) -> str:
    models = result.models
    ok = int((models["status"] == "ok").sum())
    studied = result.config.studied_assets
    return html.escape(
        f"{len(result.config.events)} events, {len(studied)} studied assets "
        f"({ok} of {len(models)} (event, asset) pairs estimated). How the 2025 US tariff "
        "announcements and the US–Japan negotiation rounds moved the Nikkei 225, TOPIX and "
        "Japanese chip stocks. Index rows are total reactions (constant-mean model); chip stocks "
        "and the Nikkei Semiconductor index are reactions relative to TOPIX (market model)."
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "") -> str:
    """An HTML table; cells are already-escaped HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<div class=\"scroll\"><table{attr}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"


def _pct(value: float, p: float | None = None, digits: int = 2) -> str:
    """Signed percent with stars and the p-value below (escaped HTML)."""
    if value is None or not np.isfinite(value):
        return '<span class="na">–</span>'
    cls = "neg" if value < 0 else "pos"
    text = f'<span class="{cls}">{100 * value:+.{digits}f}%</span>'
    if p is not None:
        text += f"<sup>{stars(p)}</sup><br><small>{_p(p)}</small>"
    return text


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "p n/a"
    return "p&lt;0.0001" if p < 1e-4 else f"p={p:.4f}"


def _num(value: float, digits: int = 2) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _date(value) -> str:
    return "–" if pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d")


# ----------------------------------------------------------------------------- events


def events_section(result: StudyResult) -> str:
    """Event list with the day-0 mapping on Tokyo and New York and the sources as links."""
    tokyo = plots.event_table(result, "XTKS")
    sessions = result.event_sessions.set_index(["event_id", "exchange"])
    by_id = {e.id: e for e in result.config.events}
    rows = []
    for i, row in enumerate(tokyo.itertuples(), start=1):
        event = by_id[row.event_id]
        rows.append([
            str(i),
            (f'<b id="ev-{html.escape(event.id)}">{html.escape(event.id)}</b><br>'
            f"<small>{html.escape(event.title)}</small>"),
            _category_badge(event.category) + "<br><small>" + html.escape(", ".join(event.tags)) + "</small>",
            html.escape(_announced(result, event.id)) + "<br><small>" + html.escape(event.time_precision or "") + "</small>",
            _session_cell(sessions, event.id, "XTKS"),
            _session_cell(sessions, event.id, "XNYS"),
            "<br>".join(_source_link(s) for s in event.sources),
        ])
    note = ("<p>Day 0 on an exchange is the first session whose close is later than the "
            "announcement; a session that contains the announcement is day 0 and is flagged "
            "<span class=\"flag\">partial</span> (METHODS convention 11). Rows are ordered by "
            "Tokyo day 0; the rule that decided each mapping is in <code>tables/event_sessions.csv</code>.</p>")
    header = ["#", "event", "category / tags", "announced (local)", "Tokyo day 0 (XTKS)",
              "New York day 0 (XNYS)", "sources"]
    return note + _table(header, rows, "events")


def _announced(result: StudyResult, event_id: str) -> str:
    rows = result.event_sessions[result.event_sessions["event_id"] == event_id]
    local = rows[rows["exchange"] == "XNYS"]["announced_local"]
    return str(local.iloc[0]) if len(local) else str(rows["announced_local"].iloc[0]) if len(rows) else ""


def _session_cell(sessions: pd.DataFrame, event_id: str, exchange: str) -> str:
    if (event_id, exchange) not in sessions.index:
        return '<span class="na">–</span>'
    row = sessions.loc[(event_id, exchange)]
    flag = ' <span class="flag">partial</span>' if bool(row["partial"]) else ""
    return (f"{_date(row['session'])}{flag}<br><small>{html.escape(str(row['announced_local']))}"
            "</small>")


def _category_badge(category: str) -> str:
    color = plots.category_color(category)
    return (f'<span class="badge" style="background:{color}">'
            f"{html.escape(category.replace('_', ' '))}</span>")


SOURCE_PATTERN = re.compile(r"^(?P<text>.*?)\s*<(?P<url>https?://[^>\s]+)>\s*$")


def _source_link(source: str) -> str:
    """``'Text <https://...>'`` -> a link; anything else is shown as text."""
    match = SOURCE_PATTERN.match(source.strip())
    if not match:
        return html.escape(source)
    text = match["text"].strip(" :-") or match["url"]
    return f'<a href="{html.escape(match["url"], quote=True)}">{html.escape(text)}</a>'


# ----------------------------------------------------------------------------- key results


def key_results_section(result: StudyResult) -> str:
    """CAR tables for the indices and the chip-stock average, one per key window."""
    parts = [
        ("<p>Cells: CAR in % with stars (* p&lt;0.10, ** p&lt;0.05, *** p&lt;0.01) and the "
        "two-sided p-value. Index columns: single-asset t-test of the CAR with the full "
        "prediction-error covariance, t(L1 − k). Chip column: CAAR = mean CAR of the chip stocks "
        "(relative to TOPIX) with the Kolari–Pynnönen-adjusted BMP test (r̄ from the stocks' "
        "estimation residuals) and the GRANK p-value.</p>")
    ]
    for window in KEY_WINDOWS:
        if format_window(window) in set(result.car["window"]):
            parts.append(f"<h3>CAR{html.escape(format_window(window))}</h3>")
            parts.append(key_results_table(result, window))
    return "\n".join(parts)


def key_results_table(result: StudyResult, window: tuple[int, int]) -> str:
    """One row per event: index CARs and the chip CAAR with tests."""
    label = format_window(window)
    car = result.car[result.car["window"] == label].set_index(["event_id", "asset"])
    chips = plots.chip_tickers(result)
    indices = [a.ticker for a in result.config.studied_assets if a.ticker not in chips]
    chip_tests = chip_average_tests(result, window)
    header = ["event (Tokyo day 0)"] + [
        html.escape(f"{plots.asset_name(result, t)} ({plots.reaction_label(result, t)})") for t in indices
    ] + ["chip stocks: CAAR, KP-BMP", "GRANK p", "N chips"]
    rows = []
    for event in plots.event_table(result).itertuples():
        cells = [(f'<a href="#ev-{html.escape(event.event_id)}">{html.escape(event.event_id)}</a>'
                 f"<br><small>{_date(event.day0)} · {html.escape(event.category.replace('_', ' '))}</small>")]
        for ticker in indices:
            key = (event.event_id, ticker)
            cells.append(_pct(car.at[key, "car"], car.at[key, "car_p_value"]) if key in car.index else
                         '<span class="na">–</span>')
        tests = chip_tests.get(event.event_id)
        if tests is None:
            cells += ['<span class="na">–</span>'] * 3
        else:
            cells += [_pct(tests["caar"], tests["kp_bmp"]), _p(tests["grank"]), str(tests["n"])]
        rows.append(cells)
    return _table(header, rows, "results")


def chip_average_tests(result: StudyResult, window: tuple[int, int]) -> dict[str, dict]:
    """Per event: chip CAAR and the KP-BMP and GRANK p-values on the chip stocks only."""
    panel = result.panel
    chips = np.isin(panel.assets, plots.chip_tickers(result))
    out = {}
    for event_id in dict.fromkeys(panel.event_ids[chips]):
        rows = chips & (panel.event_ids == event_id)
        if rows.sum() < 2:
            continue
        sub = panel.subset(rows)
        tests = inference.window_tests(sub, window).set_index("test")["p_value"]
        car, _ = sub.car(window)
        out[event_id] = {"caar": float(np.nanmean(car)) if np.isfinite(car).any() else np.nan,
                         "kp_bmp": float(tests.get("kp_bmp", np.nan)),
                         "grank": float(tests.get("grank", np.nan)), "n": int(rows.sum())}
    return out


# ----------------------------------------------------------------------------- pooled tests


def pooled_section(result: StudyResult) -> str:
    """Pooled tests per category and tag for the key windows."""
    parts = [
        ("<p>All (event, asset) pairs of a category or tag pooled (indices and chip stocks "
        "together). CAAR = mean CAR over the pairs (METHODS convention 4). KP-BMP, GRANK and the "
        "crude-dependence test allow for the cross-correlation of same-date abnormal returns "
        "(r̄ shown); BMP and Patell assume independence and are shown for comparison only.</p>")
    ]
    for window in KEY_WINDOWS:
        parts.append(f"<h3>CAR{html.escape(format_window(window))}</h3>")
        parts.append(pooled_table(result, window))
    return "\n".join(parts)


def pooled_table(result: StudyResult, window: tuple[int, int]) -> str:
    label = format_window(window)
    tests = result.tests[result.tests["scope"].isin(["category", "tag"]) & (result.tests["window"] == label)]
    car = result.car[result.car["window"] == label]
    members = _scope_events(result)
    header = ["scope", "assets", "events", "N pairs", "CAAR", "r̄"] + [TEST_NAMES[t] for t in POOLED_TESTS]
    rows = []
    group_of = {a.ticker: a.group for a in result.config.assets}
    keys = ["scope", "scope_id", "group_by", "group", "reaction"]
    for (scope, scope_id, group_by, group_name, reaction), group in tests.groupby(keys, sort=False):
        by_test = group.set_index("test")
        ids = members.get((scope, scope_id), [])
        in_group = car["asset"].map(group_of) == group_name if group_by == "group" else True
        caar = car[car["event_id"].isin(ids) & in_group]["car"].mean()
        r_bar = by_test["r_bar"].dropna()
        badge = _category_badge(scope_id) if scope == "category" else f"<i>tag</i> {html.escape(scope_id)}"
        cells = [badge, html.escape(f"{group_name} ({reaction})"), str(len(ids)), str(int(by_test["n"].max())),
                 _pct(caar),
                 _num(r_bar.iloc[0]) if len(r_bar) else "–"]
        for test in POOLED_TESTS:
            if test in by_test.index:
                stat, p = by_test.at[test, "statistic"], by_test.at[test, "p_value"]
                cells.append(f"{_num(stat)}<sup>{stars(p)}</sup><br><small>{_p(p)}</small>")
            else:
                cells.append('<span class="na">–</span>')
        rows.append(cells)
    return _table(header, rows, "pooled")


def _scope_events(result: StudyResult) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for event in result.config.events:
        out.setdefault(("category", event.category), []).append(event.id)
        for tag in event.tags:
            out.setdefault(("tag", tag), []).append(event.id)
    return out


# ----------------------------------------------------------------------------- joint


JOINT_PAIR = ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause")
JOINT_WINDOWS = ("[0,0]", "[0,1]", "[0,3]")


def joint_section(result: StudyResult, joint: pd.DataFrame | None) -> str:
    """Joint dummy regressions: Liberation Day + pause estimated together, and a summary of ``joint``."""
    intro = (
        "<p>Events whose event periods overlap are estimated in one OLS per asset with a dummy "
        "for every event-period session (single-day dummies: classical standard errors) and, per "
        "window, a block dummy per event with Newey–West HAC standard errors; CAR = window length "
        "× block coefficient. 10 April (the pause's day 0) is day +5 of Liberation Day, so the "
        "two events are estimated together here.</p>"
        "<p class=\"warn\">Caution: Newey–West standard errors of a block dummy spanning one or "
        "two days are badly oversized (tiny). Rows flagged <span class=\"flag\">≤2 days</span> "
        "should be judged by the day dummies (classical SEs) below, not by their own t or p.</p>"
    )
    parts = [intro]
    ids = {e.id for e in result.config.events}
    if all(e in ids for e in JOINT_PAIR):
        pair = result.joint(list(JOINT_PAIR))
        parts.append("<h3>Liberation Day and the 90-day pause: window CARs</h3>")
        parts.append(_joint_windows(result, pair))
        parts.append("<h3>Day dummies (abnormal return of each session, classical SEs)</h3>")
        parts.append(_joint_days(result, pair))
    if joint is not None and not joint.empty:
        parts.append("<h3>Joint estimation of all events in the file</h3>" + _joint_summary(joint))
    elif len(parts) == 1:
        parts.append("<p>No joint estimation was run.</p>")
    return "\n".join(parts)


def _joint_windows(result: StudyResult, joint: pd.DataFrame) -> str:
    chips = set(plots.chip_tickers(result))
    rows = joint[(joint["kind"] == "window") & ~joint["asset"].isin(chips)
                 & joint["window"].isin(JOINT_WINDOWS)]
    header = ["event", "asset", "window", "CAR", "std. error", "t", "p", "SE type", "note"]
    body = []
    for row in rows.sort_values(["event_id", "asset", "window"], kind="stable").itertuples():
        lo, hi = (int(x) for x in row.window.strip("[]").split(","))
        flag = '<span class="flag">≤2 days</span>' if hi - lo + 1 <= 2 else ""
        body.append([
            html.escape(row.event_id), html.escape(plots.asset_name(result, row.asset)),
            html.escape(row.window), _pct(row.estimate), _num(100 * row.std_error) + "%",
            _num(row.t), _p(row.p_value), html.escape(str(row.cov_type)),
            flag if row.status == "ok" else html.escape(f"{row.status}: {row.message}"),
        ])
    return _table(header, body, "joint")


def _joint_days(result: StudyResult, joint: pd.DataFrame) -> str:
    first = JOINT_PAIR[0]
    rows = joint[(joint["kind"] == "day") & (joint["event_id"] == first)
                 & joint["rel_day"].between(0, 6)]
    assets = [t for t in ("^N225", "^TOPX", "NIKKEI_SEMI") if t in set(rows["asset"])]
    header = ["session", "day (Liberation Day / pause)"] + [
        html.escape(plots.asset_name(result, t)) for t in assets]
    body = []
    for rel_day, group in rows.groupby("rel_day", sort=True):
        by_asset = group.set_index("asset")
        cells = [_date(group["date"].iloc[0]), f"{int(rel_day):+d} / {int(rel_day) - 5:+d}"]
        cells += [_pct(by_asset.at[t, "estimate"], by_asset.at[t, "p_value"]) if t in by_asset.index
                  else "–" for t in assets]
        body.append(cells)
    return _table(header, body, "joint")


def _joint_summary(joint: pd.DataFrame) -> str:
    clusters = joint.groupby("cluster", sort=False)["event_id"].nunique()
    counts = joint.groupby(["kind", "status"]).size().reset_index(name="rows")
    rows = [[html.escape(r.kind), html.escape(r.status), str(r.rows)] for r in counts.itertuples()]
    messages = sorted(set(joint.loc[joint["status"] != "ok", "message"].astype(str)))
    text = (f"<p>{len(clusters)} cluster(s) of overlapping events (largest: {int(clusters.max())} "
            "events), all rows in <code>tables/joint.csv</code>.</p>")
    if messages:
        text += ("<p class=\"warn\">Not estimated: " + "; ".join(html.escape(m) for m in messages)
                 + ".</p>")
    return text + _table(["kind", "status", "rows"], rows, "versions")


# ----------------------------------------------------------------------------- figures


def figures_section(figures: Sequence[FigureSpec]) -> str:
    parts = []
    for i, spec in enumerate(figures, start=1):
        parts.append(
            f'<figure id="fig-{spec.name}"><a href="figures/{spec.name}.svg">'
            f'<img src="figures/{spec.name}.png" alt="{html.escape(spec.caption, quote=True)}" '
            f'loading="lazy"></a><figcaption><b>Figure {i}.</b> {html.escape(spec.caption)} '
            f'(<a href="figures/{spec.name}.svg">SVG</a>)</figcaption></figure>'
        )
    return "\n".join(parts)


# ----------------------------------------------------------------------------- methods


def methods_section(result: StudyResult) -> str:
    """The conventions of METHODS.md as used in this run, and the model of each asset group."""
    settings = result.config.settings
    est = settings.estimation_window
    excl = getattr(settings, "other_event_exclusion", None)
    models = _models_table(result)
    items = [
        (f"<b>Returns.</b> {html.escape(settings.returns)} returns <code>r_t = P_t/P_(t−1) − 1</code> on "
        "adjusted closes, each asset on its own exchange calendar. AR and CAR sum ARs; BHAR compounds."),
        ("<b>Residual variance.</b> <code>s² = Σ ε̂² / (L1 − k)</code>, k = number of mean parameters "
        "(1 constant mean, 2 market model)."),
        ("<b>Prediction error.</b> Full Campbell–Lo–MacKinlay covariance "
        "<code>V = s² [I + X*(X'X)⁻¹X*']</code>; <code>SAR = AR/√V[τ,τ]</code>, "
        "<code>SCAR = CAR/√(γ'Vγ)</code>."),
        ("<b>Aggregation.</b> <code>AAR_τ = mean_i AR_iτ</code>; <code>CAAR = mean_i CAR_i</code> "
        "(not the sum of daily AARs)."),
        "<b>Patell.</b> <code>z = Σ SAR / √(Σ (L1 − k)/(L1 − k − 2))</code> (window: SCAR), N(0,1).",
        "<b>BMP.</b> <code>t = √N · mean(SAR) / sd(SAR)</code> (sd with N − 1), t(N − 1).",
        ("<b>Kolari–Pynnönen.</b> r̄ = mean off-diagonal correlation of estimation-window residuals; "
        "BMP × <code>√((1 − r̄)/(1 + (N − 1) r̄))</code>; Patell ÷ <code>√(1 + (N − 1) r̄)</code>."),
        ("<b>Crude dependence.</b> AAR (CAAR) divided by the s.d. of the equal-weighted portfolio "
        "AAR over the estimation window (× √L2 for a window); cross-correlation enters through the portfolio."),
        ("<b>GRANK.</b> Kolari–Pynnönen (2011), Stata-estudy convention: ranks over all L1 + 1 "
        "generalised SARs, T = L1, reference t(L1 − 2)."),
        ("<b>p-values</b> are two-sided; every test row carries statistic, p-value, reference "
        "distribution, degrees of freedom and N."),
        ("<b>Day 0</b> on an exchange is the first session whose close is later than the announcement; "
        "a session containing the announcement is day 0 and flagged partial. A US announcement after "
        "the New York close is day 0 in Tokyo on the next Tokyo session (e.g. 16:00 ET 2 April = "
        "05:00 JST 3 April)."),
        f"<b>Estimation window</b> sessions [{est[0]}, {est[1]}] relative to day 0 "
        f"(at least {settings.min_estimation_returns} returns, else the pair is refused); "
        + (f"the reaction days {list(excl)} of every other event in the file are excluded from it."
           if settings.exclude_other_events and excl is not None else
           "other events' windows are excluded." if settings.exclude_other_events else
           "other events are not excluded."),
        ("<b>Dummy regressions</b> (joint estimation): classical OLS standard errors for single-day "
        "dummies, Newey–West HAC only for dummies spanning a window."),
        "<b>Event windows</b>: " + ", ".join(html.escape(format_window(w)) for w in settings.event_windows) + ".",
    ]
    why = (
        "<p><b>Why the indices use a constant-mean model.</b> A market model of the Nikkei 225 "
        "on TOPIX (or of any index on itself) would net out the very market-wide shock under "
        "study. The constant-mean model measures the <i>total</i> reaction of the indices. Chip "
        "stocks and the Nikkei Semiconductor index use the market model against same-day TOPIX "
        "returns (same exchange): their abnormal returns are reactions <i>relative</i> to the "
        "Japanese market. Lagged US series are not used as regressors by default because the "
        "events moved them too (bad controls).</p>"
    )
    return ("<ol class=\"methods\">" + "".join(f"<li>{i}</li>" for i in items) + "</ol>" + why
            + "<h3>Model per asset</h3>" + models)


def _models_table(result: StudyResult) -> str:
    ok = result.models[result.models["status"] == "ok"]
    summary = ok.groupby("asset", sort=False).agg(model=("model", "first"), pairs=("event_id", "size"),
                                                  sigma=("sigma", "median"), r2=("r2", "median"))
    rows = []
    for asset in result.config.studied_assets:
        if asset.ticker not in summary.index:
            continue
        row = summary.loc[asset.ticker]
        rows.append([html.escape(asset.ticker), html.escape(asset.name), html.escape(asset.group),
                     html.escape(row["model"]), html.escape(plots.reaction_label(result, asset.ticker)),
                     str(int(row["pairs"])), _num(100 * row["sigma"]) + "%", _num(row["r2"])])
    header = ["ticker", "name", "group", "model", "reaction", "pairs", "median σ (daily)", "median R²"]
    return _table(header, rows, "models")


# ----------------------------------------------------------------------------- skipped / provenance


def skipped_section(result: StudyResult) -> str:
    parts = []
    if result.skipped:
        rows = [[html.escape(t), html.escape(r)] for t, r in sorted(result.skipped.items())]
        parts.append("<h3>Skipped tickers</h3>" + _table(["ticker", "reason"], rows))
    else:
        parts.append("<p>No ticker was skipped.</p>")
    refused = result.models[result.models["status"] != "ok"]
    if len(refused):
        rows = [[html.escape(r.event_id), html.escape(r.asset), html.escape(r.status), html.escape(r.message)]
                for r in refused.itertuples()]
        parts.append(f"<h3>Refused (event, asset) pairs: {len(refused)}</h3>"
                     + _table(["event", "asset", "status", "reason"], rows, "refused"))
    else:
        parts.append("<p>Every (event, asset) pair was estimated.</p>")
    return "\n".join(parts)


def provenance_section(result: StudyResult) -> str:
    from eventstudy.runner import package_versions

    prov = result.provenance
    rows = []
    for r in prov.itertuples():
        digest = str(r.sha256 or "")
        rows.append([
            html.escape(r.ticker), html.escape(str(r.source)), f"<code>{html.escape(str(r.location))}</code>",
            _date(r.first), _date(r.last), str(r.rows),
            f'<code title="{html.escape(digest, quote=True)}">{html.escape(digest[:16])}…</code>' if digest else "–",
            html.escape(str(r.retrieved_at or "–")),
        ])
    header = ["ticker", "source", "location", "first", "last", "rows", "sha256 (hover: full)", "downloaded at"]
    versions = [[html.escape(k), html.escape(v)] for k, v in package_versions().items()]
    return ("<p>Where every price series came from (snapshot files with their SHA-256, or Yahoo "
            "download times), as in <code>run.json</code>.</p>" + _table(header, rows, "provenance")
            + "<h3>Package versions</h3>" + _table(["package", "version"], versions, "versions"))


# ----------------------------------------------------------------------------- io


def _atomic_write(path: Path, data: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:14px;color:#222;
max-width:1280px;margin:0 auto;padding:0 24px 48px;line-height:1.45}
header{border-bottom:2px solid #333;margin-bottom:12px}
h1{font-size:26px;margin:18px 0 6px}h2{font-size:20px;border-bottom:1px solid #ccc;padding-bottom:4px;
margin-top:36px}h3{font-size:16px;margin:20px 0 6px}
.lead{color:#444;max-width:980px}nav{margin:8px 0 12px;font-size:13px}
a{color:#0b5cad;text-decoration:none}a:hover{text-decoration:underline}
.scroll{overflow-x:auto;margin:6px 0 14px}
table{border-collapse:collapse;font-size:12.5px;width:100%}
th,td{border:1px solid #ddd;padding:4px 7px;vertical-align:top;text-align:left}
thead th{background:#f1f3f5;position:sticky;top:0}table.results th{max-width:170px}
tbody tr:nth-child(even){background:#fafbfc}
table.results td,table.pooled td,table.joint td{text-align:right;white-space:nowrap}
table.results td:first-child,table.pooled td:first-child,table.joint td:nth-child(-n+3){text-align:left;
white-space:normal}
table.events td:nth-child(2){min-width:260px}table.events td:nth-child(5),
table.events td:nth-child(6){white-space:nowrap}table.events td:last-child{font-size:12px;min-width:220px}
table.versions,table.models{width:auto}
small{color:#666}sup{color:#b00;font-weight:bold}
.neg{color:#b2182b}.pos{color:#2166ac}.na{color:#aaa}
.badge{color:#fff;border-radius:3px;padding:1px 6px;font-size:11.5px;white-space:nowrap}
.flag{background:#fff3cd;border:1px solid #e0c060;border-radius:3px;padding:0 4px;font-size:11px}
.warn{background:#fff8e1;border-left:4px solid #e0a800;padding:6px 10px}
figure{margin:18px 0 28px}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:13px;color:#333;max-width:980px}
ol.methods li{margin-bottom:4px}code{font-size:12px;background:#f4f4f4;padding:0 3px}
"""
