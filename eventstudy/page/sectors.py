"""The report section for studies whose assets carry attributes (sectors, size classes, ...).

Which groups moved most around each key event (ranked CAARs with 95% intervals), what the
numbers say after the first key event (sentences generated from the ``caar`` table), the
cross-sectional regression of the key events' CARs on the characteristics (Sefcik-Thompson
standard errors first, heteroskedasticity-robust OLS beside them, labelled as not robust to the
shared event date), and abnormal trading volume around the key events.

Nothing here names a group: every group, sector or theme comes from the study's attributes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eventstudy import plots, registry
from eventstudy.common import display_window, format_window, stars
from eventstudy.featured import Featured
from eventstudy.page.figures import FigureSpec
from eventstudy.page.markup import (
    NA,
    details,
    esc,
    estimate_cell,
    finite,
    interval,
    p_text,
    slug,
    table,
)
from eventstudy.plots.sectors import VOLUME_TEST, ranked_groups, volume_scope

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

SIGNIFICANCE = 0.05
EXTREMES = 3
"""Groups named at each end of a ranking in the sentences."""
LISTED = 6
"""A partition with at most this many groups is listed in full in the sentences."""


def ranking_partition(result: StudyResult, featured: Featured) -> str:
    """The partition ranked in the section: the first attribute of ``study.group_by`` (the
    report's own partition when ``group_by`` names no attribute)."""
    attributes = [g for g in result.config.settings.group_by if g not in ("group", "all")]
    return attributes[0] if attributes else featured.group_by


def partitions(result: StudyResult) -> list[str]:
    """The partitions of ``study.group_by`` described in words (``'all'`` left out)."""
    return [g for g in result.config.settings.group_by if g != "all"]


# ----------------------------------------------------------------------------- figures


def sector_figures(result: StudyResult, featured: Featured, caar: pd.DataFrame) -> list[FigureSpec]:
    """One ranking figure per key event, then the abnormal-volume figure.

    Examples
    --------
    >>> sector_figures(res, featured, tables["caar"])  # doctest: +SKIP
    """
    partition = ranking_partition(result, featured)
    window = featured.primary_window
    specs = []
    for event_id in featured.key_events:
        n = max(len(ranked_groups(caar, event_id, window, partition, r)) for r in ("total", "relative"))
        n_panels = sum(1 for r in ("total", "relative")
                       if len(ranked_groups(caar, event_id, window, partition, r)))
        spec = FigureSpec(
            f"ranking_{slug(partition)}_{slug(event_id)}",
            f"{partition} groups ranked by CAAR{display_window(window)} around {event_id}",
            (f"Equal-weighted mean CAR of each {partition} group, highest first, total reaction "
             "left and reaction relative to the model's benchmark right, with 95% intervals from "
             "the portfolio variance of the group's estimation residuals (crude dependence, "
             "which keeps its size when every asset shares the event date). Solid bars: "
             f"p < {SIGNIFICANCE:g}; pale bars: not significant."),
            (5.2 * max(n_panels, 1) + 1.5, 1.4 + 0.26 * max(n, 1)))
        if n == 0:
            specs.append(_skipped(spec, f"no {partition} group of this event was estimated"))
            continue
        specs.append(_drawn(spec, lambda fig, e=event_id: plots.group_ranking(
            result, caar, e, window, partition, fig=fig)))
    specs.append(_volume_figure(result, featured))
    return specs


def _volume_figure(result: StudyResult, featured: Featured) -> FigureSpec:
    spec = FigureSpec(
        "abnormal_volume", "Abnormal trading volume around the key events",
        ("Each asset's trading volume over each event window as a multiple of its normal volume "
         "(exp of the mean abnormal log volume, log(1 + shares traded) against the pair's "
         "estimation-window mean); boxes: quartiles and median, whiskers: 5th-95th percentile. "
         f"Above each box: the p-value of the {registry.label(VOLUME_TEST)} test across the "
         "assets, which keeps its size on log volume when the assets share the event date."),
        (3.2 * max(len(featured.key_events), 1) + 1.0, 4.2))
    if result.volume is None or result.volume.empty:
        reason = ("the abnormal-volume stage was not run" if not result.volume_skipped
                  else "no studied series has volume")
        return _skipped(spec, reason)
    return _drawn(spec, lambda fig: plots.volume_around_events(
        result, result.volume, result.volume_tests, featured.key_events, fig=fig))


def _skipped(spec: FigureSpec, reason: str) -> FigureSpec:
    return dataclasses.replace(spec, draw=None, skip=reason)


def _drawn(spec: FigureSpec, draw) -> FigureSpec:
    return dataclasses.replace(spec, draw=draw)


# ----------------------------------------------------------------------------- section


def sectors_html(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                 cross_section: pd.DataFrame | None, figures: str, volume_figure: str) -> str:
    """The section body: reading note, first key event in words, rankings, regression, volume.

    Examples
    --------
    >>> sectors_html(res, featured, tables["caar"], tables["cross_section"], "", "")  # doctest: +SKIP
    """
    partition = ranking_partition(result, featured)
    window = featured.primary_window
    intro = (f"<p>Equal-weighted averages of the assets of each group of each partition "
             f"({esc(', '.join(partitions(result)))}), over {esc(display_window(window))} "
             "sessions around day 0, total and relative reactions apart. Intervals and p-values "
             f"come from the {esc(registry.label(_caar_test(caar)))} test, which keeps its size "
             "when every asset shares the event date.</p>")
    first = featured.key_events[0] if featured.key_events else None
    words = ""
    if first is not None:
        title = _event_title(result, first)
        words = (f"<h3>What the data say after {esc(title)}</h3>"
                 + "".join(f"<p>{esc(s)}</p>" for s in first_event_sentences(
                     result, featured, caar, cross_section, first) if s)
                 + details(f"Every {esc(partition)} group around {esc(first)}",
                           group_table(caar, first, window, partition)))
    return (intro + words + f"<h3>Ranked by {esc(partition)}</h3>" + figures
            + "<h3>Cross-sectional regression of CARs</h3>"
            + regression_html(result, featured, cross_section)
            + "<h3>Abnormal trading volume</h3>" + volume_html(result, featured) + volume_figure)


def first_event_sentences(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                          cross_section: pd.DataFrame | None, event_id: str) -> list[str]:
    """Plain-text sentences on one event: every partition's extremes, the regression, volume."""
    window = featured.primary_window
    bench = _benchmark_names(result)
    out = []
    for i, partition in enumerate(partitions(result)):
        out.append(partition_sentence(caar, event_id, window, partition, bench, lead=i == 0))
    out.append(_regression_sentence(result, cross_section, event_id))
    out.append(_volume_sentence(result, event_id, featured.primary_window))
    return [s for s in out if s]


def partition_sentence(caar: pd.DataFrame, event_id: str, window: tuple[int, int],
                       partition: str, bench: str, lead: bool) -> str:
    """One event's groups of ``partition`` in words: how many fell, the lowest and highest in
    total and relative to ``bench``, and how many relative averages differ from zero.

    Examples
    --------
    >>> partition_sentence(caar, event_id, (0, 1), "sector17", "TOPIX", lead=True)  # doctest: +SKIP
    """
    total = ranked_groups(caar, event_id, window, partition, "total")
    relative = ranked_groups(caar, event_id, window, partition, "relative")
    if total.empty and relative.empty:
        return ""
    span = display_window(window)
    parts = []
    if len(total):
        fell = int((total["caar"] < 0).sum())
        kind = "groups" if partition == "group" else f"{partition} groups"
        head = (f"Over {span}, {fell} of {len(total)} {kind} fell in total"
                if lead else f"By {partition} ({_groups(len(total))}), in total")
        parts.append(head + ": " + _ends(total) + ".")
    if len(relative):
        tested = relative["p_value"].notna()
        significant = int((relative["p_value"] < SIGNIFICANCE).sum())
        untested = int((~tested).sum())
        parts.append(f"Relative to {bench}: " + _ends(relative) + f"; {significant} of "
                     f"{int(tested.sum())} differ from zero at the 5% level"
                     + (f" ({untested} without a valid p-value)" if untested else "") + ".")
    return " ".join(parts)


def _groups(n: int) -> str:
    return f"{n} group" + ("" if n == 1 else "s")


def _ends(ranked: pd.DataFrame) -> str:
    """The whole ranking (a short one) or its lowest and highest groups, with numbers."""
    if len(ranked) <= LISTED:
        return "; ".join(_stated(row) for _, row in ranked.iloc[::-1].iterrows())
    low = ranked.iloc[::-1].head(EXTREMES)
    high = ranked.head(EXTREMES)
    return ("lowest " + "; ".join(_stated(row) for _, row in low.iterrows())
            + " — highest " + "; ".join(_stated(row) for _, row in high.iterrows()))


def _stated(row: pd.Series) -> str:
    """``'BANKS −6.1% [−8.0, −4.2], p < 0.0001, 14 assets'`` (plain text)."""
    value = _signed(100 * row["caar"]) + "%"
    return (f"{row['group']} {value} {interval(row['ci_low'], row['ci_high'])}, "
            f"{p_text(row['p_value'])}, {int(row['n'])} assets")


def _regression_sentence(result: StudyResult, cross_section: pd.DataFrame | None,
                         event_id: str) -> str:
    """The regression in words: how many coefficients Sefcik-Thompson finds different from zero
    (the largest by |t| named), how many HC1 would, and the base groups of the contrasts."""
    if cross_section is None or cross_section.empty:
        return ""
    rows = cross_section[(cross_section["event_id"] == event_id) & (cross_section["term"] != "")]
    if rows.empty:
        return ""
    sentences = []
    for reaction, part in rows.groupby("reaction", sort=False):
        terms = part[part["term"] != "Intercept"]
        st = terms[terms["p_st"] < SIGNIFICANCE]
        largest = st.reindex(st["t_st"].abs().sort_values(ascending=False).index).head(EXTREMES)
        named = "; ".join(f"{pretty_term(r.term)} {_signed(100 * r.estimate, 2)} pp "
                          f"({p_text(r.p_st)})" for r in largest.itertuples())
        ratio = (terms["std_error_st"] / terms["std_error_hc1"]).replace([np.inf, -np.inf], np.nan)
        ratio = float(ratio.median()) if ratio.notna().any() else float("nan")
        sentences.append(
            f"Regressing the {reaction} CARs of {int(part['n'].iloc[0])} firms on "
            f"{part['formula'].iloc[0].split('~', 1)[1].strip()}: {len(st)} of {len(terms)} "
            "coefficients differ from zero at the 5% level with Sefcik–Thompson standard errors"
            + (f", the largest {named}" if named else "")
            + (f"; these standard errors are a median {ratio:.1f} times the "
               "heteroskedasticity-robust OLS ones, which ignore the shared event date"
               if np.isfinite(ratio) and ratio > 1 else "") + ".")
    bases = base_levels(result, rows["term"])
    if bases:
        sentences.append("Group coefficients are differences from "
                         + ", ".join(f"{name} = {level}" for name, level in bases.items()) + ".")
    if _same_contrasts(rows):
        sentences.append("With every pre-event beta in the formula the group coefficients are the "
                         "same for total and relative CARs (the two differ by a linear function "
                         "of the betas); only the beta coefficients change.")
    return " ".join(sentences)


def base_levels(result: StudyResult, terms) -> dict[str, str]:
    """For each ``C(name)`` term of a regression, the level without a dummy (the base group).

    Examples
    --------
    >>> base_levels(res, ["Intercept", "C(size_class)[T.Large70]"])  # doctest: +SKIP
    {'size_class': 'Core30'}
    """
    shown: dict[str, set[str]] = {}
    for term in terms:
        match = TERM.fullmatch(str(term))
        if match:
            shown.setdefault(match["name"], set()).add(match["level"])
    bases = {}
    for name, levels in shown.items():
        values = {a.attribute(name) for a in result.config.studied_assets} - {None, ""}
        missing = sorted(values - levels)
        if missing:
            bases[name] = missing[0]  # the formula's base: the first level in sorted order
    return bases


def _same_contrasts(rows: pd.DataFrame) -> bool:
    """Whether the non-beta coefficients agree between the reactions (to 1e-9)."""
    if rows["reaction"].nunique() != 2:
        return False
    kept = rows[~rows["term"].str.startswith("beta_")]
    wide = kept.pivot_table(index="term", columns="reaction", values="estimate", aggfunc="first")
    return len(wide) > 1 and bool(np.allclose(wide.iloc[:, 0], wide.iloc[:, 1], rtol=0, atol=1e-9))


def _signed(value: float, digits: int = 1) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def _volume_sentence(result: StudyResult, event_id: str, window: tuple[int, int]) -> str:
    volume = result.volume
    if volume is None or volume.empty:
        return ""
    scope = volume_scope(result.volume_tests, event_id)
    parts = []
    for shown in dict.fromkeys([(0, 0), window]):
        label = format_window(shown)
        rows = volume[(volume["event_id"] == event_id) & (volume["window"] == label)
                      & (volume["status"] == "ok")]
        if rows.empty:
            continue
        ratio = float(rows["volume_ratio"].median())
        above = float((rows["volume_ratio"] > 1).mean())
        tests = [f"{registry.label(t)} {p_text(_p(scope, t, label))}" for t in registry.VOLUME_TESTS
                 if finite(_p(scope, t, label))]
        parts.append(f"over {display_window(shown)} the median asset traded {ratio:.2f} times its "
                     f"normal volume ({above:.0%} above normal"
                     + (f"; {', '.join(tests)}" if tests else "") + ")")
    return ("Trading volume: " + "; ".join(parts) + ".") if parts else ""


def _p(scope: pd.DataFrame, test: str, window: str) -> float:
    if scope.empty:
        return float("nan")
    hit = scope[(scope["test"] == test) & (scope["window"] == window)]
    return float(hit["p_value"].iloc[0]) if len(hit) else float("nan")


# ----------------------------------------------------------------------------- tables


def group_table(caar: pd.DataFrame, event_id: str, window: tuple[int, int], partition: str) -> str:
    """Every group of ``partition`` for one event: CAAR, 95% interval and p-value per reaction."""
    total = ranked_groups(caar, event_id, window, partition, "total").set_index("group")
    relative = ranked_groups(caar, event_id, window, partition, "relative").set_index("group")
    order = list(total.index) + [g for g in relative.index if g not in total.index]
    header = [esc(partition), "assets", f"total CAAR{esc(display_window(window))}",
              f"relative CAAR{esc(display_window(window))}"]
    body = []
    for group in order:
        n = total["n"].get(group, relative["n"].get(group, 0))
        cells = [esc(group), str(int(n))]
        for frame in (total, relative):
            if group in frame.index:
                row = frame.loc[group]
                cells.append(estimate_cell(row["caar"], row["p_value"], row["ci_low"], row["ci_high"]))
            else:
                cells.append(NA)
        body.append(cells)
    return table(header, body, "numbers")


def regression_html(result: StudyResult, featured: Featured, cross_section: pd.DataFrame | None) -> str:
    """The regression of each key event's CARs: the first event's table open, the others folded."""
    if cross_section is None or cross_section.empty:
        return "<p>No cross-sectional regression was run for this study.</p>"
    formula = str(cross_section["formula"].iloc[0])
    window = str(cross_section["window"].iloc[0])
    st, hc1 = registry.CROSS_SECTION_ESTIMATES["sefcik_thompson"], registry.CROSS_SECTION_ESTIMATES["hc1"]
    intro = (f"<p>Each key event's CARs over {esc(window)} regressed across firms on "
             f"<code>{esc(formula)}</code> (statsmodels formula; <code>C(x)</code>: one dummy per "
             "group against the first, <code>beta_*</code>: the firm's pre-event exposure to a "
             "benchmark series over its estimation window). Coefficients in percentage points of "
             f"CAR. <b>{esc(st.label)}</b> standard errors ({esc(st.reference)}) come from the same "
             "regression run on every estimation-window day, so they carry the correlation of "
             "firms that share the event date. "
             f"<b>{esc(hc1.label)}</b> standard errors are shown beside them for comparison only, "
             "without a p-value: with a pseudo event date shared by some 300 Tokyo stocks a t "
             "test on them rejected a true zero sector contrast 36–41% of the time at the 5% "
             "level (size study in <code>docs/cross_section.md</code>).</p>")
    parts = [intro]
    for i, event_id in enumerate(featured.key_events):
        rows = cross_section[cross_section["event_id"] == event_id]
        if rows.empty:
            continue
        body = _regression_table(rows)
        title = f"{esc(event_id)}: {esc(_event_title(result, event_id))}"
        parts.append(f"<h4>{title}</h4>{body}" if i == 0 else details(title, body))
    return "\n".join(parts)


def _regression_table(rows: pd.DataFrame) -> str:
    reactions = list(dict.fromkeys(rows["reaction"]))
    refused = rows[rows["term"] == ""]
    notes = [f"{r.reaction}: {r.note}" for r in refused.itertuples() if r.note]
    rows = rows[rows["term"] != ""]
    if rows.empty:
        return "<p>Not estimated: " + esc("; ".join(notes)) + ".</p>"
    header = ["term"]
    for reaction in reactions:
        header += [f"{esc(reaction)}: estimate", "Sefcik–Thompson s.e., p",
                   "HC1 s.e. <small>(ignores the shared date)</small>"]
    by_term = {r: part.set_index("term") for r, part in rows.groupby("reaction", sort=False)}
    body = []
    for term in dict.fromkeys(rows["term"]):
        cells = [esc(pretty_term(term))]
        for reaction in reactions:
            part = by_term.get(reaction)
            if part is None or term not in part.index:
                cells += [NA, NA, NA]
                continue
            row = part.loc[term]
            cells.append(_pp(row["estimate"], row["p_st"]))
            cells.append(_se_cell(row["std_error_st"], row["p_st"]))
            cells.append(_se_cell(row["std_error_hc1"], None))
        body.append(cells)
    facts = []
    for reaction, part in rows.groupby("reaction", sort=False):
        first = part.iloc[0]
        facts.append(f"{reaction}: {int(first['n'])} firms, {int(first['n_days'])} estimation days"
                     + (f"; {first['note']}" if isinstance(first["note"], str) and first["note"] else ""))
    caption = esc(" · ".join(facts + notes))
    return table(header, body, "numbers", caption=caption)


TERM = re.compile(r"C\((?P<name>.+?)(?:,.*)?\)\[T\.(?P<level>.*)\]")
"""A formula's dummy term, ``C(name)[T.level]`` or ``C(name, Treatment(...))[T.level]``."""


def pretty_term(term: str) -> str:
    """``C(sector17)[T.BANKS]`` -> ``sector17 = BANKS``; other terms unchanged.

    Examples
    --------
    >>> pretty_term("C(size_class)[T.Core30]"), pretty_term("beta_topx")
    ('size_class = Core30', 'beta_topx')
    """
    match = TERM.fullmatch(term)
    return f"{match['name']} = {match['level']}" if match else term


def _pp(value: float, p: float) -> str:
    if not finite(value):
        return NA
    cls = "neg" if value < 0 else "pos"
    return (f'<span class="{cls}">{100 * value:+.2f}</span>'.replace("-", "−")
            + f"<sup>{stars(p)}</sup>")


def _se_cell(se: float, p: float | None) -> str:
    """A standard error in percentage points, with its p-value below when there is one."""
    if not finite(se):
        return NA
    if p is None:
        return f"{100 * se:.2f}"
    return f"{100 * se:.2f}<br><small>{esc(p_text(p))}</small>"


def volume_html(result: StudyResult, featured: Featured) -> str:
    """Per key event: the median asset's volume multiple and the volume tests, in words."""
    if result.volume is None or result.volume.empty:
        reason = ("no studied series has volume" if result.volume_skipped
                  else "the abnormal-volume stage was not run")
        return f"<p>No abnormal volume: {esc(reason)}.</p>"
    tests = " and ".join(registry.label(t) for t in registry.VOLUME_TESTS)
    intro = ("<p>Abnormal log volume, log(1 + shares traded) against each pair's "
             "estimation-window mean, summed over each window; the table "
             "<code>tables/volume.csv</code> has every pair (descriptive: no single-stock test "
             f"keeps its size on volume). Tests across assets: {esc(tests)}, the two that keep "
             "their size on log volume when the assets share the event date "
             "(<code>tables/volume_tests.csv</code>).</p>")
    items = []
    for event_id in featured.key_events:
        sentence = _volume_sentence(result, event_id, featured.primary_window)
        if sentence:
            items.append(f"<li><b>{esc(event_id)}</b>: {esc(sentence)}</li>")
    skipped = _skipped_note(result.volume_skipped)
    return intro + (f"<ul>{''.join(items)}</ul>" if items else "") + skipped


def _skipped_note(skipped: dict[str, str]) -> str:
    if not skipped:
        return ""
    listed = ", ".join(sorted(skipped)[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
    return f'<p class="note">Skipped for want of volume data: {esc(listed)}.</p>'


# ----------------------------------------------------------------------------- helpers


def _caar_test(caar: pd.DataFrame) -> str:
    return str(caar["test"].iloc[0]) if len(caar) else ""


def _event_title(result: StudyResult, event_id: str) -> str:
    return next((e.title for e in result.config.events if e.id == event_id), event_id)


def _benchmark_names(result: StudyResult) -> str:
    config = result.config
    names = {", ".join(plots.asset_name(result, t) for t in config.model_for(a).tickers())
             for a in config.studied_assets if config.reaction_of(a) == "relative"}
    names.discard("")
    return names.pop() if len(names) == 1 else "their benchmarks"


def has_section(result: StudyResult) -> bool:
    """Whether the study gets this section (some studied asset carries an attribute)."""
    from eventstudy.cross_section import has_attributes

    return has_attributes(result.config)


