"""The report's figures: which ones a study gets, their captions, and saving them byte-stable.

A figure that cannot be drawn for a study (no volatility stage, no relative reactions, no
volatility-index series, ...) is not drawn: the page states why in one line.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib as mpl
import pandas as pd
from matplotlib.figure import Figure

from eventstudy import aggregate, plots, registry
from eventstudy.common import atomic_save, display_window, format_window
from eventstudy.featured import Featured
from eventstudy.page.markup import esc, slug

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

log = logging.getLogger("eventstudy")

DPI = 200
REPORT_RC = {
    "svg.hashsalt": "eventstudy-report",
    "svg.fonttype": "path",
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
}
#: Most asset groups drawn in a CAR-path or test figure: one row (or line, or panel) each.
MAX_PATH_GROUPS = 4
PNG_OPTIONS = {"metadata": {"Software": None}, "pil_kwargs": {"compress_level": 3}}  # 6: +40% time, -5% size
SVG_OPTIONS = {"metadata": {"Date": None, "Creator": None}}


@dataclass(frozen=True)
class FigureSpec:
    """One report figure: file name, caption, size in inches and how to draw it on a Figure.

    ``skip`` is a reason (one sentence) when the figure cannot be drawn for this study.
    """

    name: str
    title: str
    caption: str
    size: tuple[float, float]
    draw: Callable[[Figure], object] | None = None
    skip: str = ""


def save_figure(spec: FigureSpec, folder: Path) -> list[Path]:
    """Draw ``spec`` under the report style; save PNG (200 dpi) and SVG without metadata.

    Examples
    --------
    >>> save_figure(spec, Path("out/figures"))  # doctest: +SKIP
    [PosixPath('out/figures/heatmap.png'), PosixPath('out/figures/heatmap.svg')]
    """
    with mpl.rc_context(REPORT_RC):
        fig = Figure(figsize=spec.size, layout="constrained", dpi=DPI)
        spec.draw(fig)
        paths = []
        for ext, options in (("png", PNG_OPTIONS), ("svg", SVG_OPTIONS)):
            target = folder / f"{spec.name}.{ext}"
            atomic_save(target, lambda tmp, e=ext, o=options: fig.savefig(
                tmp, format=e, dpi=DPI, **o))
            fig.set_layout_engine("none")  # the layout of the first save is kept for the second
            paths.append(target)
    return paths


def draw_all(specs: list[FigureSpec], folder: Path,
             progress: Callable[[str], None], workers: int = 1) -> list[FigureSpec]:
    """Save every drawable figure; a figure that fails is turned into a skipped one (logged).

    With ``workers`` > 1 (and ``fork`` available) the figures are drawn by that many forked
    processes, which read the study from the parent's memory; each figure's files are the
    same bytes as when drawn in the parent. ``progress`` gets ``'figure <name>'`` before each
    figure is drawn, or (with workers) as each is done, in the order of ``specs``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    todo = [i for i, spec in enumerate(specs) if not spec.skip]
    errors = dict(_draw(specs, todo, folder, progress, workers))
    done = []
    for i, spec in enumerate(specs):
        if errors.get(i):
            log.warning("figure %s could not be drawn: %s", spec.name, errors[i])
            spec = FigureSpec(spec.name, spec.title, spec.caption, spec.size,
                              skip=f"it could not be drawn ({errors[i]})")
        done.append(spec)
    return done


def draw_sections(specs: dict[str, list[FigureSpec]], folder: Path,
                  progress: Callable[[str], None], workers: int | None = None,
                  ) -> dict[str, list[FigureSpec]]:
    """:func:`draw_all` over every page section at once (default workers:
    :func:`figure_workers`), so that parallel drawing spans the sections."""
    flat = [spec for items in specs.values() for spec in items]
    workers = figure_workers(sum(1 for s in flat if not s.skip)) if workers is None else workers
    drawn = iter(draw_all(flat, folder, progress, workers))
    return {section: [next(drawn) for _ in items] for section, items in specs.items()}


#: Environment variable that sets the number of figure-drawing processes (1 = no fork).
WORKERS_VARIABLE = "EVENTSTUDY_FIGURE_WORKERS"
MAX_WORKERS = 2


def figure_workers(n_figures: int) -> int:
    """Processes to draw ``n_figures`` with (``$EVENTSTUDY_FIGURE_WORKERS`` when set).

    Two (:data:`MAX_WORKERS`) when this process may use two CPUs and the machine's one-minute
    load average leaves one of them idle; otherwise 1 (a busy machine gains nothing from a
    second process and pays for its start). Always 1 without ``fork``.

    Examples
    --------
    >>> figure_workers(0)
    1
    """
    if n_figures < 2 or "fork" not in mp.get_all_start_methods():
        return 1
    asked = os.environ.get(WORKERS_VARIABLE, "").strip()
    if asked.isdigit() and int(asked) >= 1:
        return min(int(asked), n_figures)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    idle = cpus - os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if idle < 1.0:
        return 1
    return max(1, min(cpus, MAX_WORKERS, n_figures))


_PENDING: list[tuple[FigureSpec, Path]] = []  # read by forked workers (the specs hold lambdas)


def _draw(specs: list[FigureSpec], todo: list[int], folder: Path,
          progress: Callable[[str], None], workers: int):
    """``(index, error text or '')`` for each figure of ``todo``, in order."""
    if workers <= 1 or len(todo) < 2:
        for i in todo:
            progress(f"figure {specs[i].name}")
            yield i, _save_or_error(specs[i], folder)
        return
    progress(f"figures: {len(todo)} drawn by {workers} processes")
    _PENDING[:] = [(specs[i], folder) for i in todo]
    try:
        with mp.get_context("fork").Pool(workers) as pool:
            for k, error in enumerate(pool.imap(_draw_pending, range(len(todo)))):
                progress(f"figure {specs[todo[k]].name}")
                yield todo[k], error
    finally:
        _PENDING.clear()


def _draw_pending(k: int) -> str:
    spec, folder = _PENDING[k]
    return _save_or_error(spec, folder)


def _save_or_error(spec: FigureSpec, folder: Path) -> str:
    try:
        save_figure(spec, folder)
    except Exception as error:  # noqa: BLE001 (a figure must never stop the report)
        return f"{type(error).__name__}: {error}"
    return ""


def figures_html(specs: list[FigureSpec], start: int = 1) -> str:
    """``<figure>`` blocks with relative links, and one line per figure left out."""
    parts = []
    number = start
    for spec in specs:
        if spec.skip:
            parts.append(f'<p class="skipped" id="fig-{spec.name}">Not shown: {esc(spec.title)}'
                         f" — {esc(spec.skip)}.</p>")
            continue
        parts.append(
            f'<figure id="fig-{spec.name}"><a href="figures/{spec.name}.svg">'
            f'<img src="figures/{spec.name}.png" alt="{esc(spec.title)}" loading="lazy"></a>'
            f"<figcaption><b>Figure {number}. {esc(spec.title)}.</b> {esc(spec.caption)} "
            f'(<a href="figures/{spec.name}.svg">SVG</a>)</figcaption></figure>')
        number += 1
    return "\n".join(parts)


# ----------------------------------------------------------------------------- the list


def figure_specs(result: StudyResult, featured: Featured, paths: pd.DataFrame,
                 caar: pd.DataFrame) -> dict[str, list[FigureSpec]]:
    """The study's figures, by page section (``'findings'``, ``'evidence'`` and, for a study
    whose assets carry attributes, ``'sectors'``).

    Examples
    --------
    >>> specs = figure_specs(res, featured, tables["car_paths"], tables["caar"])  # doctest: +SKIP
    """
    findings = [_timeline(result, featured)]
    findings += [_event_paths(result, featured, paths, e, first=i == 0, caar=caar)
                 for i, e in enumerate(featured.key_events)]
    findings.append(_total_vs_relative(result, featured, caar))
    evidence = [_heatmap(result, featured, caar)]
    evidence += [_scope_paths(result, featured, paths, kind, caar) for kind in ("category", "tag")]
    first = featured.key_events[0]
    evidence.append(_tests(result, featured, first, caar))
    evidence.append(_volatility(result, featured, first))
    evidence += _level_series(result, featured, first)
    specs = {"findings": findings, "evidence": evidence}
    from eventstudy.page import sectors  # imports this module

    if sectors.has_section(result):
        specs["sectors"] = sectors.sector_figures(result, featured, caar)
    return specs


def _timeline(result: StudyResult, featured: Featured) -> FigureSpec:
    tickers = featured.market_assets or tuple(plots.default_market_tickers(result))
    title = "Market levels and event days"
    caption = ("Closing levels of " + ", ".join(plots.asset_name(result, t) for t in tickers)
               + " rebased to 100 at the first session shown; vertical lines mark each event's "
               "day 0, coloured by category; numbers mark the key events.")
    if not tickers:
        return FigureSpec("market_levels", title, caption, (11, 4.8),
                          skip="the study has no total-reaction price series or benchmark to "
                               "draw")
    return FigureSpec("market_levels", title, caption, (11, 4.8),
                      lambda fig: plots.market_timeline(result, tickers, featured.key_events,
                                                        ax=fig.add_subplot()))


def shown_groups(featured: Featured, caar: pd.DataFrame, kind: str = "event",
                 scope_id: str | None = None) -> tuple[tuple[str, ...], str]:
    """The groups a CAR-path or test figure draws, and a caption sentence when some are left out.

    All of ``featured.groups`` while there are at most :data:`MAX_PATH_GROUPS`; otherwise the
    market group, then the groups with the largest absolute average total reaction (relative,
    for a group without one) over the primary window, in the scopes of ``kind`` (only
    ``scope_id``, when given). The rest are in the tables and the rankings.

    Examples
    --------
    >>> shown_groups(featured, tables["caar"], "event", "liberation-day-reciprocal-tariffs")  # doctest: +SKIP
    (('index', 'chips'), '')
    """
    groups = featured.groups
    if len(groups) <= MAX_PATH_GROUPS:
        return groups, ""
    rows = caar[(caar["scope"] == kind) & (caar["group_by"] == featured.group_by)
                & (caar["window"] == format_window(featured.primary_window))
                & caar["group"].isin(groups) & caar["caar"].notna()]
    if scope_id is not None:
        rows = rows[rows["scope_id"] == scope_id]
    rows = rows.assign(size=rows["caar"].abs(), relative=rows["reaction"] != "total")
    # a group's total reaction ranks it when it has one
    first = rows.sort_values("relative", kind="stable").drop_duplicates(["scope_id", "group"])
    size = first.groupby("group", sort=False)["size"].mean()
    ranked = [g for g in size.sort_values(ascending=False, kind="stable").index
              if g != featured.market_group]
    lead = [featured.market_group] if featured.market_group in groups else []
    chosen = lead + ranked[:MAX_PATH_GROUPS - len(lead)]
    shown = tuple(g for g in groups if g in chosen)
    if not shown:
        return groups[:MAX_PATH_GROUPS], ""
    what = "the market group and " if lead else ""
    kind = "groups" if featured.group_by == "group" else f"{featured.group_by} groups"
    note = (f"It shows {len(shown)} of the {len(groups)} {kind}: {what}those "
            f"with the largest absolute average CAR{display_window(featured.primary_window)} "
            "(every group is in tables/caar).")
    return shown, note


def _event_paths(result: StudyResult, featured: Featured, paths: pd.DataFrame,
                 event_id: str, first: bool = True, caar: pd.DataFrame | None = None,
                 ) -> FigureSpec:
    groups, note = shown_groups(featured, caar, "event", event_id) if caar is not None \
        else (featured.groups, "")
    rows = paths[(paths["scope"] == "event") & (paths["scope_id"] == event_id)
                 & (paths["group_by"] == featured.group_by) & paths["group"].isin(groups)]
    n_rows = max(rows["group"].nunique(), 1)
    n_cols = max(rows["reaction"].nunique(), 1)
    title = f"CAR paths around {event_id}"
    caption = (f"Cumulative abnormal return from day {featured.anchor} (0 there) to each session, "
               "one row per asset group; left: total reaction, right: reaction relative to the "
               "assets' benchmark. Bold: the group average with its 95% band (portfolio "
               "variance of the group's estimation residuals, which keeps their correlation); "
               "dashed or thin: each asset.") if first else \
        "The same layout as the first CAR-path figure, for this event."
    caption = f"{caption} {note}".strip()
    spec = FigureSpec(f"paths_{slug(event_id)}", title, caption,
                      (5.2 * n_cols, 3.3 * n_rows + 0.6))
    if rows.empty:
        return _skip(spec, "no (event, asset) pair of this event was estimated")
    return _with_draw(spec, lambda fig: plots.event_paths(result, paths, event_id, groups,
                                                          featured.group_by, fig=fig))


def _total_vs_relative(result: StudyResult, featured: Featured, caar: pd.DataFrame) -> FigureSpec:
    window = featured.primary_window
    title = f"Total and relative reactions over {display_window(window)}"
    caption = ("Each asset's CAR around the key events as a total reaction (circles, nothing "
               "netted out) and relative to its benchmark (diamonds), with 95% intervals from the "
               "CAR t-test; group averages first, with intervals from the portfolio variance.")
    listed = plots.lists_assets(result, window, featured.key_events, featured.groups,
                                featured.group_by)
    rows = 1 + len(featured.groups) + (len(result.config.studied_assets) if listed else 0)
    if not listed:
        title = f"Total and relative group reactions over {display_window(window)}"
        caption = ("Each group's average CAR around the key events as a total reaction (circles, "
                   "nothing netted out) and relative to the benchmark (diamonds), with 95% "
                   "intervals from the portfolio variance; more than "
                   f"{plots.MAX_SHOWN_ASSETS} assets are too many to list (each asset's CAR "
                   "is in tables/car).")
    spec = FigureSpec("total_vs_relative", title, caption,
                      (2.4 + 3.0 * len(featured.key_events), 1.6 + 0.26 * rows))
    if "relative" not in set(result.car["reaction"]):
        return _skip(spec, "no asset in this study has a relative reaction (every model is "
                           "a total-reaction model)")
    return _with_draw(spec, lambda fig: plots.total_vs_relative(
        result, caar, featured.key_events, window, featured.groups, featured.group_by, fig=fig))


def _heatmap(result: StudyResult, featured: Featured, caar: pd.DataFrame) -> FigureSpec:
    window = featured.primary_window
    title = f"CAR{display_window(window)} of every event and asset"
    if result.car.empty:
        return FigureSpec("heatmap", title, "", (6, 4), skip="no CAR was estimated")
    plan = plots.heatmap_plan(result, window, featured.groups, featured.group_by, caar,
                              featured.key_events)
    if plan.unit == "asset":
        columns = "columns: assets by group"
        starred = "stars from the single-asset CAR t-test"
    else:
        title = f"CAR{display_window(window)} of every event and {featured.group_by}"
        columns = (f"columns: the average CAR of each {featured.group_by} (more than "
                   f"{plots.MAX_SHOWN_ASSETS} assets per reaction kind are too many to show "
                   "one by one; each asset's CAR is in tables/car)")
        starred = f"stars from the {registry.label(aggregate.featured_test())} test"
    rows = "rows: events by day 0 (label colour = category)"
    if plan.capped:
        rows = (f"rows: {len(plan.events)} of the {plan.n_events} events (at most "
                f"{plots.MAX_HEATMAP_EVENTS}: the key events and those with the largest mean "
                "absolute CAR across the columns), by day 0 (label colour = category)")
    caption = (f"{rows[0].upper()}{rows[1:]}; {columns}. Total and relative reactions in separate "
               f"panels with their own colour scales; {starred} (* p<0.10, ** p<0.05, "
               "*** p<0.01).")
    spec = FigureSpec("heatmap", title, caption, plots.heatmap_size(plan))
    return _with_draw(spec, lambda fig: plots.car_heatmap(
        result, window, featured.groups, featured.group_by, fig=fig, caar=caar,
        key_events=featured.key_events))


def _scope_paths(result: StudyResult, featured: Featured, paths: pd.DataFrame,
                 kind: str, caar: pd.DataFrame | None = None) -> FigureSpec:
    groups, note = shown_groups(featured, caar, kind) if caar is not None \
        else (featured.groups, "")
    rows = paths[(paths["scope"] == kind) & (paths["group_by"] == featured.group_by)]
    n = rows["scope_id"].nunique()
    n_cols = min(3, max(n, 1))
    n_rows = max(1, -(-n // n_cols))
    title = f"Average CAR paths by {kind}"
    caption = (f"Mean CAR path over the (event, asset) pairs of each {kind}, per asset group "
               "and reaction kind (an asset's pairs on one day 0 count once); the band (95%, "
               "portfolio variance) belongs to the first line (the market group's total "
               f"reaction, when the study has a market group). {note}").strip()
    spec = FigureSpec(f"paths_by_{kind}", title, caption, (4.6 * n_cols, 3.2 * n_rows + 1.0))
    if rows.empty:
        return _skip(spec, f"the study has no {kind} with estimated pairs")
    return _with_draw(spec, lambda fig: plots.scope_paths(result, paths, kind, groups,
                                                          featured.group_by, fig=fig))


def _tests(result: StudyResult, featured: Featured, event_id: str,
           caar: pd.DataFrame | None = None) -> FigureSpec:
    window = featured.primary_window
    groups, note = shown_groups(featured, caar, "event", event_id) if caar is not None \
        else (featured.groups, "")
    tests = result.tests
    rows = tests[(tests["scope"] == "event") & (tests["scope_id"] == event_id)
                 & (tests["asset"] == "") & (tests["n"] >= 2)
                 & (tests["group_by"] == featured.group_by) & tests["group"].isin(groups)]
    n_panels = max(len(rows[["group", "reaction"]].drop_duplicates()), 1)
    robust = ", ".join(registry.label(t) for t in registry.robust_tests())
    title = f"All cross-sectional tests of CAR{display_window(window)} for {event_id}"
    caption = ("Two-sided p-values (log scale) per asset group and reaction kind. Filled: tests "
               f"whose size holds when every asset shares the event date ({robust}); open: tests "
               "that assume independent abnormal returns, shown for comparison only; a test "
               f"without a valid p-value for a group is left out of its panel. {note}").strip()
    spec = FigureSpec(f"tests_{slug(event_id)}", title, caption,
                      (1.8 + 3.0 * n_panels, 1.6 + 0.3 * len(registry.CROSS_SECTIONAL_TESTS)))
    if rows.empty:
        return _skip(spec, "no group of this event has two or more assets to test across")
    return _with_draw(spec, lambda fig: plots.cross_section_pvalues(
        result, event_id, window, groups, featured.group_by, fig=fig))


def _volatility(result: StudyResult, featured: Featured, event_id: str) -> FigureSpec:
    title = f"Abnormal volatility around {event_id}"
    caption = ("Squared abnormal return over its GARCH(1,1) variance forecast from the estimation "
               "window (1 = as forecast), each asset thin and each group's median bold.")
    spec = FigureSpec(f"volatility_{slug(event_id)}", title, caption, (11, 4.4))
    if result.volatility is None:
        return _skip(spec, "the volatility stage was not run for this study")

    def draw(fig: Figure) -> None:
        daily = aggregate.garch_daily_paths(result, [event_id])
        plots.abnormal_volatility(result, daily, event_id, featured.groups, featured.group_by,
                                  fig=fig)

    return _with_draw(spec, draw)


def _level_series(result: StudyResult, featured: Featured, event_id: str) -> list[FigureSpec]:
    tickers = level_tickers(result)
    specs = []
    for ticker in tickers:
        name = plots.asset_name(result, ticker)
        spec = FigureSpec(f"level_{slug(ticker)}", f"{name} around {event_id}",
                          f"Level of {name} from 20 sessions before to 40 after the first key "
                          "event's day 0; vertical lines mark the events in that span.", (8, 4.2))
        if ticker not in result.closes or result.closes[ticker].dropna().empty:
            specs.append(_skip(spec, f"no prices for {ticker}"))
            continue
        specs.append(_with_draw(spec, lambda fig, t=ticker: plots.level_around_event(
            result, t, event_id, ax=fig.add_subplot())))
    return specs


def level_tickers(result: StudyResult) -> list[str]:
    """Series read as levels: assets of kind ``volatility_index`` and any series with level-change
    rows in the volatility table."""
    tickers = [a.ticker for a in result.config.assets if a.kind == "volatility_index"]
    vol = result.volatility
    if vol is not None and "measure" in vol:
        tickers += list(vol.loc[vol["measure"] == "level_change", "asset"])
    return list(dict.fromkeys(t for t in tickers if t))


def _skip(spec: FigureSpec, reason: str) -> FigureSpec:
    return FigureSpec(spec.name, spec.title, spec.caption, spec.size, skip=reason)


def _with_draw(spec: FigureSpec, draw: Callable[[Figure], object]) -> FigureSpec:
    return FigureSpec(spec.name, spec.title, spec.caption, spec.size, draw)
