"""The report page: figures (PNG at 200 dpi and SVG) and one self-contained ``report.html``.

``write_report(result, out)`` writes ``OUT/figures/<name>.png|svg`` and ``OUT/report.html``.
The page opens with the findings (generated from the results), then the evidence, the joint
estimation, the events, the methods, the limitations and the data provenance. It has inline
CSS, no scripts, no external resources and only relative links, so the folder opens offline
and can be moved; it reads on a phone (viewport meta, tables scroll inside their box).

Byte-stable: the same inputs give byte-identical files (fixed style, SVG hash salt and DPI,
no date or software metadata, no timestamps except those of the provenance data).

Examples
--------
>>> from eventstudy import page
>>> page.write_report(res, "reports/my-study")  # doctest: +SKIP
PosixPath('reports/my-study/report.html')
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from eventstudy import aggregate
from eventstudy.common import atomic_write
from eventstudy.featured import Featured, choose
from eventstudy.page import sectors
from eventstudy.page.about import events_html, limitations_html, methods_html, provenance_html
from eventstudy.page.evidence import all_events_html, joint_html, pooled_html
from eventstudy.page.figures import FigureSpec, draw_sections, figure_specs, figures_html
from eventstudy.page.findings import MAX_SENTENCE_GROUPS, findings_html, forget_indexes
from eventstudy.page.markup import CSS, esc

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

Progress = Callable[[str], None]

__all__ = ["render_page", "write_report"]


def write_report(
    result: StudyResult,
    out: str | Path,
    joint: pd.DataFrame | None = None,
    progress: Progress | None = None,
    tables: dict[str, pd.DataFrame] | None = None,
    featured: Featured | None = None,
) -> Path:
    """Write ``OUT/figures/*`` and ``OUT/report.html``; return the page's path.

    Parameters
    ----------
    result : StudyResult
    out : path
        Output folder (created if needed; the tables are written by :mod:`eventstudy.report`).
    joint : DataFrame, optional
        The run-wide joint estimates (``result.joint()``), summarised on the page.
    progress : callable, optional
        Called with ``'figure <name>'`` before each figure and ``'report page'`` at the end.
    tables : dict, optional
        :func:`eventstudy.aggregate.tables` of ``result`` when already computed.
    featured : Featured, optional
        :func:`eventstudy.featured.choose` of ``result`` when already made.

    Examples
    --------
    >>> write_report(res, "reports/tariffs-2025", joint=res.joint())  # doctest: +SKIP
    PosixPath('reports/tariffs-2025/report.html')
    """
    step = progress or (lambda stage: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = tables if tables is not None else aggregate.tables(result)
    featured = featured if featured is not None else choose(result, tables["caar"])
    specs = figure_specs(result, featured, tables["car_paths"], tables["caar"])
    drawn = draw_sections(specs, out / "figures", step)
    cross_section = tables.get("cross_section")
    if cross_section is None and sectors.has_section(result):
        from eventstudy.cross_section import report_cross_section

        cross_section = report_cross_section(result, featured)
    step("report page")
    text = render_page(result, featured, tables["caar"], drawn, joint, cross_section)
    forget_indexes()
    return atomic_write(out / "report.html", text)


def render_page(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                figures: dict[str, list[FigureSpec]], joint: pd.DataFrame | None,
                cross_section: pd.DataFrame | None = None) -> str:
    """The complete HTML page as a string (no I/O).

    ``cross_section`` is the ``cross_section`` table shown in the section on groups (studies
    whose assets carry attributes, when ``figures`` has a ``'sectors'`` list).

    Examples
    --------
    >>> html = render_page(res, featured, caar, {"findings": [], "evidence": []}, None)  # doctest: +SKIP
    """
    findings_figures = figures.get("findings", [])
    evidence_figures = figures.get("evidence", [])
    shown = sum(1 for f in findings_figures if not f.skip)
    sections = [
        ("findings", "Findings", findings_html(result, featured, caar,
                                                figures_html(findings_figures))),
    ]
    if "sectors" in figures:
        sections.append(("sectors", "Who moved most: groups, characteristics and volume",
                         _sectors_body(result, featured, caar, cross_section, figures["sectors"],
                                       start=shown + 1)))
        shown += sum(1 for f in figures["sectors"] if not f.skip)
    sections += [
        ("evidence", "Evidence", figures_html(evidence_figures, start=shown + 1)
         + all_events_html(result, featured, caar)
         + "<h3>Pooled by category and tag</h3>" + pooled_html(result, featured, caar)),
        ("joint", "Joint estimation of overlapping events", joint_html(result, featured, joint)),
        ("events", "Events and day 0", events_html(result, featured)),
        ("methods", "Methods", methods_html(result, featured)),
        ("limitations", "Limitations", limitations_html(result, featured)),
        ("provenance", "Data provenance and versions", provenance_html(result)),
    ]
    report = result.config.report
    name = result.config.settings.name
    title = report.title or f"Event study: {name}"
    nav = "".join(f'<a href="#{key}">{esc(heading)}</a>' for key, heading, _ in sections)
    body = "\n".join(f'<section id="{key}">\n<h2>{esc(heading)}</h2>\n{content}\n</section>'
                     for key, heading, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<header><h1>{esc(title)}</h1>\n"
        f'<p class="question">{esc(_question(result, featured))}</p>\n'
        f'<p class="lead">{esc(_overview(result))}</p>\n<nav>{nav}</nav></header>\n'
        f"{body}\n</body>\n</html>\n"
    )


def _sectors_body(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                  cross_section: pd.DataFrame | None, specs: list[FigureSpec], start: int) -> str:
    rankings = [s for s in specs if s.name != "abnormal_volume"]
    volume = [s for s in specs if s.name == "abnormal_volume"]
    shown = sum(1 for f in rankings if not f.skip)
    return sectors.sectors_html(result, featured, caar, cross_section,
                                figures_html(rankings, start=start),
                                figures_html(volume, start=start + shown))


def _question(result: StudyResult, featured: Featured) -> str:
    asked = result.config.report.question
    if asked:
        return asked
    groups = " and ".join(featured.groups) if len(featured.groups) <= 2 else \
        ", ".join(featured.groups[:-1]) + " and " + featured.groups[-1]
    categories = sorted({e.category.replace("_", " ") for e in result.config.events})
    what = f"the assets of the groups {groups}" if featured.groups else "the studied assets"
    if len(featured.groups) > MAX_SENTENCE_GROUPS:
        what = f"the {len(result.config.studied_assets)} studied assets, by {featured.group_by}"
    return (f"How did {len(result.config.events)} announcements ({', '.join(categories)}) move "
            f"{what}, in total and relative to their markets?")


def _overview(result: StudyResult) -> str:
    models = result.models
    ok = int((models["status"] == "ok").sum())
    studied = result.config.studied_assets
    exchanges = sorted({a.exchange for a in studied})
    return (f"{len(result.config.events)} events, {len(studied)} studied assets on "
            f"{', '.join(exchanges)}; {ok} of {len(models)} (event, asset, reaction) pairs "
            f"estimated. Study: {result.config.settings.name}.")
