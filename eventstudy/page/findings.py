"""The findings: for each key event, the market's and each group's reaction in numbers and
words, total and relative side by side, generated from the results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from eventstudy import plots, registry
from eventstudy.common import display_window, format_window
from eventstudy.featured import Featured
from eventstudy.page.markup import (
    NA,
    badge,
    esc,
    estimate_cell,
    finite,
    p_text,
    slug,
    table,
)

if TYPE_CHECKING:
    from eventstudy.study import StudyResult

SIGNIFICANCE = 0.05
#: Most groups described one sentence each; a study with more gets its lowest and highest.
MAX_SENTENCE_GROUPS = 4
FLAT = 0.0005  # |CAR| below 0.05%: "barely moved"


def findings_html(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                  figures: str) -> str:
    """The findings section body: how to read it, one block per key event, then figures."""
    test = caar["test"].iloc[0] if len(caar) else ""
    # the missing market group gets a paragraph of its own
    shown_notes = [n for n in featured.notes if not n.startswith("no market group")]
    intro = (
        f"<p>Each block gives one key event's reaction over the headline windows "
        f"({', '.join(display_window(w) for w in featured.headline_windows)} sessions around "
        "day 0). <b>Total</b> reactions net out nothing but each asset's normal mean return; "
        "<b>relative</b> reactions net out the asset's benchmark (e.g. its home market), so a "
        "relative reaction near zero means the asset moved as its benchmark implies. Cells: "
        "abnormal return in % with its 95% interval and two-sided p-value. Single assets: CAR "
        f"t-test. Group averages: {esc(registry.label(test))}, which keeps its size when every "
        "asset shares the event date.</p>"
        f'<p class="note">{esc("; ".join(shown_notes))}.</p>'
        + no_market_html(featured)
    )
    blocks = [event_block(result, featured, caar, event_id, i)
              for i, event_id in enumerate(featured.key_events, start=1)]
    return intro + "\n".join(blocks) + figures + scopes_glance(result, featured, caar)


def no_market_html(featured: Featured) -> str:
    """A plain paragraph when the study has no market group ('' otherwise)."""
    if featured.market_group is not None:
        return ""
    why = next((n.split(": ", 1)[1] for n in featured.notes if n.startswith("no market group")),
               "no group of studied assets stands for the market")
    return (f'<p class="note"><b>No market group.</b> This study has no group that stands for '
            f"the market: {esc(why)}.</p>")


def event_block(result: StudyResult, featured: Featured, caar: pd.DataFrame, event_id: str,
                number: int) -> str:
    """One key event: heading, sentences and the total/relative table."""
    event = next(e for e in result.config.events if e.id == event_id)
    colors = plots.category_colors(result)
    day0 = plots.event_table(result, featured.exchange).set_index("event_id")["day0"].get(event_id)
    when = f"day 0 = {day0:%a %d %b %Y} on {featured.exchange}" if pd.notna(day0) else \
        f"no day 0 on {featured.exchange}"
    head = (f'<h3 id="key-{slug(event_id)}">{number}. {esc(event.title)}<br>'
            f'<small><a href="#ev-{esc(event_id)}">{esc(event_id)}</a> · {esc(when)} · '
            f"{badge(event.category, colors.get(event.category, '#555'))}</small></h3>")
    words = sentences(result, featured, caar, event_id)
    return (f'<div class="finding">{head}<p>{words}</p>'
            f"{reaction_table(result, featured, caar, event_id)}</div>")


def reaction_table(result: StudyResult, featured: Featured, caar: pd.DataFrame,
                   event_id: str) -> str:
    """Rows: market assets, then each group's average; columns: total and relative per window
    (the primary window first, so a phone shows it without scrolling)."""
    primary = featured.primary_window
    windows = [primary, *[w for w in featured.headline_windows if w != primary]]
    header = ["asset or group"]
    for window in windows:
        header += [f"total CAR{esc(display_window(window))}",
                   f"relative CAR{esc(display_window(window))}"]
    rows = []
    for ticker in featured.market_assets:
        cells = [(f"{esc(plots.asset_name(result, ticker))} <small>({esc(featured.market_group)})"
                 "</small>")]
        for window in windows:
            for reaction in ("total", "relative"):
                cells.append(_pair_cell(result, event_id, ticker, reaction, window))
        rows.append(cells)
    for group in featured.groups:
        counts = _group_counts(caar, featured, event_id, group, primary)
        if not counts:
            continue
        sizes = " / ".join(f"{n} {r}" for r, n in counts.items()) if len(set(counts.values())) > 1 \
            else str(next(iter(counts.values())))
        cells = [f"<b>{esc(group)}</b> <small>average of {esc(sizes)}</small>"]
        for window in windows:
            for reaction in ("total", "relative"):
                row = _group_row(caar, featured, event_id, group, reaction, window)
                cells.append(NA if row is None else estimate_cell(
                    row["caar"], row["p_value"], row["ci_low"], row["ci_high"]))
        rows.append(cells)
    return table(header, rows, "numbers")


def sentences(result: StudyResult, featured: Featured, caar: pd.DataFrame, event_id: str) -> str:
    """The event's reaction in words (HTML-escaped), from the primary window's numbers."""
    window = featured.primary_window
    span = display_window(window)
    parts = []
    market = []
    for ticker in featured.market_assets:
        row = _pair_row(result, event_id, ticker, "total", window)
        if row is not None and finite(row["car"]):
            market.append(f"{plots.asset_name(result, ticker)} {_move(row['car'])} "
                          f"({p_text(row['car_p_value'])})")
    if market:
        parts.append(f"Over {span}, the market's total reaction: " + _join(market) + ".")
    if len(featured.groups) > MAX_SENTENCE_GROUPS:  # too many for a sentence each: the ends
        from eventstudy.page.sectors import partition_sentence

        text = partition_sentence(caar, event_id, window, featured.group_by,
                                  _benchmark_names(result, featured), lead=True)
        parts += [text] if text else []
    else:
        for group in featured.groups:
            text = _group_sentence(result, featured, caar, event_id, group, window)
            if text:
                parts.append(text)
    if not parts:
        return esc(f"No reaction over {span} could be estimated for this event.")
    return esc(" ".join(parts))


def _group_sentence(result: StudyResult, featured: Featured, caar: pd.DataFrame, event_id: str,
                    group: str, window: tuple[int, int]) -> str:
    total = _group_row(caar, featured, event_id, group, "total", window)
    relative = _group_row(caar, featured, event_id, group, "relative", window)
    total = total if total is not None and finite(total["caar"]) else None
    relative = relative if relative is not None and finite(relative["caar"]) else None
    if total is None and relative is None:
        return ""
    bench = _benchmark_names(result, featured, group)
    who = f"The {group} group"
    clauses = []
    if total is not None:
        clauses.append(f"{_move(total['caar'])} on average in total ({_assets(total['n'])}, "
                       f"{p_text(total['p_value'])})")
    if relative is not None:
        clauses.append(f"{_move(relative['caar'])} relative to {bench} "
                       f"({_assets(relative['n'])}, {p_text(relative['p_value'])})")
    text = f"{who} " + " and ".join(clauses)
    return text + _reading(total, relative, bench) + "."


def _reading(total, relative, bench: str) -> str:
    """A clause that says what the pair of numbers means."""
    if total is None or relative is None:
        return ""
    total_sig = finite(total["p_value"]) and total["p_value"] < SIGNIFICANCE
    relative_sig = finite(relative["p_value"]) and relative["p_value"] < SIGNIFICANCE
    if relative_sig:
        direction = "worse" if relative["caar"] < 0 else "better"
        return f": they did {direction} than {bench} implies, a reaction of their own"
    if total_sig:
        return f": the move is in line with what {bench} implies, not a reaction of their own"
    return ": neither is distinguishable from zero at the 5% level"


def _assets(n: float) -> str:
    return f"{int(n)} asset" + ("" if int(n) == 1 else "s")


def _move(value: float) -> str:
    if abs(value) < FLAT:
        return "barely moved (" + f"{100 * value:+.2f}%".replace("-", "−") + ")"
    verb = "fell" if value < 0 else "rose"
    return f"{verb} {abs(100 * value):.1f}%"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _benchmark_names(result: StudyResult, featured: Featured, group: str | None = None) -> str:
    """The benchmark of the relative reactions of ``group`` (of every group: None)."""
    config = result.config
    names = {
        ", ".join(plots.asset_name(result, t) for t in config.model_for(a).tickers())
        for a in config.studied_assets
        if (group is None or a.attribute(featured.group_by) == group)
        and config.reaction_of(a) == "relative"
    }
    names.discard("")
    return names.pop() if len(names) == 1 else "their benchmarks"


def _pair_row(result: StudyResult, event_id: str, ticker: str, reaction: str,
              window: tuple[int, int]):
    key = (event_id, ticker, reaction, format_window(window))
    return rows_by(result.car, ("event_id", "asset", "reaction", "window")).get(key)


class _FirstRows:
    """``get(key)``: the first row of a frame with that key (a Series), or None."""

    def __init__(self, frame: pd.DataFrame, keys: tuple[str, ...]) -> None:
        self.frame = frame
        values = frame[list(keys)].itertuples(index=False, name=None)
        self.positions: dict[tuple, int] = {}
        for position, key in enumerate(values):
            self.positions.setdefault(key, position)

    def get(self, key: tuple):
        position = self.positions.get(key)
        return None if position is None else self.frame.iloc[position]


_INDEXED: list[tuple[pd.DataFrame, tuple[str, ...], _FirstRows]] = []


def forget_indexes() -> None:
    """Drop the indexes :func:`rows_by` keeps (and the frames they hold)."""
    _INDEXED.clear()


def rows_by(frame: pd.DataFrame, keys: tuple[str, ...]) -> _FirstRows:
    """The first row of ``frame`` for each value of ``keys`` (``.get(key)``), indexed once per
    frame: the page looks up hundreds of cells in tables of tens of thousands of rows.

    Examples
    --------
    >>> rows_by(caar, ("scope", "scope_id")).get(("event", "liberation-day"))  # doctest: +SKIP
    """
    for cached, cached_keys, index in _INDEXED:
        if cached is frame and cached_keys == keys:
            return index
    index = _FirstRows(frame, keys)
    _INDEXED[:] = [*_INDEXED[-3:], (frame, keys, index)]  # the page's few frames only
    return index


def _pair_cell(result: StudyResult, event_id: str, ticker: str, reaction: str,
               window: tuple[int, int]) -> str:
    from eventstudy.aggregate import pair_interval

    row = _pair_row(result, event_id, ticker, reaction, window)
    if row is None:
        return NA
    row = pair_interval(row.to_frame().T).iloc[0]
    return estimate_cell(float(row["car"]), float(row["car_p_value"]), float(row["ci_low"]),
                         float(row["ci_high"]))


def _group_row(caar: pd.DataFrame, featured: Featured, event_id: str, group: str,
               reaction: str, window: tuple[int, int]):
    key = ("event", event_id, featured.group_by, group, reaction, format_window(window))
    return rows_by(caar, ("scope", "scope_id", "group_by", "group", "reaction", "window")).get(key)


def _group_counts(caar: pd.DataFrame, featured: Featured, event_id: str, group: str,
                  window: tuple[int, int]) -> dict[str, int]:
    """Assets behind each reaction kind's average (kinds without pairs left out)."""
    counts = {}
    for reaction in ("total", "relative"):
        row = _group_row(caar, featured, event_id, group, reaction, window)
        if row is not None and int(row["n"]):
            counts[reaction] = int(row["n"])
    return counts


def scopes_glance(result: StudyResult, featured: Featured, caar: pd.DataFrame) -> str:
    """Every category and tag: each group's average total and relative reaction (primary window)."""
    window = format_window(featured.primary_window)
    rows = caar[caar["scope"].isin(["category", "tag"]) & (caar["window"] == window)
                & (caar["group_by"] == featured.group_by)]
    if rows.empty:
        return ""
    columns = [(g, r) for g in featured.groups for r in ("total", "relative")
               if ((rows["group"] == g) & (rows["reaction"] == r)).any()]
    header = ["category or tag", "events"] + [f"{esc(g)}<br><small>{r}</small>" for g, r in columns]
    counts = _event_counts(result)
    body = []
    for (scope, scope_id), sub in rows.groupby(["scope", "scope_id"], sort=False):
        keyed = sub.set_index(["group", "reaction"])
        label = (badge(scope_id, plots.category_colors(result).get(scope_id, "#555"))
                 if scope == "category" else f"<i>tag</i> {esc(scope_id)}")
        cells = [label, str(counts.get((scope, scope_id), 0))]
        for key in columns:
            if key in keyed.index:
                row = keyed.loc[key]
                cells.append(estimate_cell(row["caar"], row["p_value"]))
            else:
                cells.append(NA)
        body.append(cells)
    return (f"<h3>Every category and tag at a glance: average CAR"
            f"{esc(display_window(featured.primary_window))}</h3>"
            "<p>Averages over all (event, asset) pairs of a category or tag in each group (an "
            "asset's pairs sharing one day 0 count once); p-values as above. Many scopes are "
            "tested here: read isolated stars with the multiple-testing note in "
            '<a href="#limitations">Limitations</a> in mind.</p>'
            + table(header, body, "numbers"))


def _event_counts(result: StudyResult) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for event in result.config.events:
        counts[("category", event.category)] = counts.get(("category", event.category), 0) + 1
        for tag in event.tags:
            counts[("tag", tag)] = counts.get(("tag", tag), 0) + 1
    return counts
