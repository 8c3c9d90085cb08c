"""Figures: every plot function draws on the Axes/Figure it is given (or a new one), labels its
axes, reads its numbers from the results and the aggregate frames, and degrades to a 'not
available' panel instead of failing (real snapshot, a few events)."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from eventstudy import aggregate, featured, plots, registry

pytestmark = pytest.mark.realdata

PLOT_EVENTS = (
    "liberation-day-reciprocal-tariffs",
    "reciprocal-90day-pause",
    "round1-akazawa-trump-whitehouse",
    "round8-deal-15pct-550bn",
    "chip-tariff-100pct-trump-cook",
    "ishiba-trump-call-apr7",
)
LIBERATION = "liberation-day-reciprocal-tariffs"


def small_result(snapshot, event_ids=PLOT_EVENTS, volatility=False):
    """A real study restricted to ``event_ids``."""
    import eventstudy as es

    config = es.load_config(_repo_events())
    events = tuple(e for e in config.events if e.id in set(event_ids))
    config = dataclasses.replace(config, events=events)
    return es.Study(config, snapshot=snapshot).run(volatility=volatility)


def _repo_events():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "events.yaml"


@pytest.fixture(scope="module")
def result(snapshot_dir):
    return small_result(snapshot_dir)


@pytest.fixture(scope="module")
def tables(result):
    return aggregate.tables(result)


@pytest.fixture(scope="module")
def chosen(result, tables):
    return featured.choose(result, tables["caar"])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _axes_of(out) -> list[Axes]:
    if isinstance(out, Figure):
        return [ax for ax in out.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert isinstance(out, Axes)
    return [out]


def _check_labelled(out) -> None:
    axes = _axes_of(out)
    assert axes
    figure = out if isinstance(out, Figure) else out.figure
    has_suptitle = figure._suptitle is not None and figure._suptitle.get_text()
    for ax in axes:
        assert ax.get_title() or has_suptitle
        assert ax.get_xlabel()
    assert any(ax.get_ylabel() for ax in axes)


def _bands(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def _texts(out) -> list[str]:
    figure = out if isinstance(out, Figure) else out.figure
    return [t.get_text() for ax in figure.axes for t in ax.texts]


AXES_CASES = {
    "market_timeline": lambda r, t, f, ax: plots.market_timeline(r, f.market_assets, f.key_events,
                                                                 ax=ax),
    "path_panel": lambda r, t, f, ax: plots.path_panel(r, t["car_paths"], LIBERATION, "chips",
                                                       "total", ax=ax),
    "level_around_event": lambda r, t, f, ax: plots.level_around_event(r, "NIKKEI_VI", LIBERATION,
                                                                       ax=ax),
}
FIGURE_CASES = {
    "event_paths": lambda r, t, f, fig: plots.event_paths(r, t["car_paths"], LIBERATION, f.groups,
                                                          fig=fig),
    "scope_paths": lambda r, t, f, fig: plots.scope_paths(r, t["car_paths"], "category", f.groups,
                                                          fig=fig),
    "total_vs_relative": lambda r, t, f, fig: plots.total_vs_relative(
        r, t["caar"], f.key_events, (0, 1), f.groups, fig=fig),
    "car_heatmap": lambda r, t, f, fig: plots.car_heatmap(r, (0, 1), f.groups, fig=fig),
    "cross_section_pvalues": lambda r, t, f, fig: plots.cross_section_pvalues(
        r, LIBERATION, (0, 1), f.groups, fig=fig),
}


@pytest.mark.parametrize("name", sorted(AXES_CASES))
def test_axes_functions_draw_on_given_axes_and_on_a_new_figure(result, tables, chosen, name):
    _fig, ax = plt.subplots()
    out = AXES_CASES[name](result, tables, chosen, ax)
    assert out is ax
    _check_labelled(out)
    fresh = AXES_CASES[name](result, tables, chosen, None)
    assert isinstance(fresh, Axes) and fresh is not ax
    assert not any("not available" in t for t in _texts(fresh))


@pytest.mark.parametrize("name", sorted(FIGURE_CASES))
def test_figure_functions_draw_on_given_figure_and_on_a_new_one(result, tables, chosen, name):
    fig = Figure()
    out = FIGURE_CASES[name](result, tables, chosen, fig)
    assert out is fig
    _check_labelled(out)
    assert not any("not available" in t for t in _texts(out))
    fresh = FIGURE_CASES[name](result, tables, chosen, None)
    assert isinstance(fresh, Figure) and fresh is not fig


def test_paths_are_zero_at_day_minus_one_and_sum_ars_after_it(result, tables):
    ax = plots.path_panel(result, tables["car_paths"], LIBERATION, "index", "total")
    nikkei = next(line for line in ax.get_lines() if line.get_label() == "Nikkei 225")
    days, values = nikkei.get_xdata(), nikkei.get_ydata()
    assert values[list(days).index(-1)] == 0
    ar = result.abnormal.query("event_id == @LIBERATION and asset == '^N225' and "
                               "reaction == 'total' and rel_day in [0, 1]")["ar"]
    assert values[list(days).index(1)] == pytest.approx(100 * ar.sum())
    assert len(_bands(ax)) == 1  # one band per chart


def test_event_paths_show_total_and_relative_side_by_side(result, tables, chosen):
    fig = plots.event_paths(result, tables["car_paths"], LIBERATION, chosen.groups)
    titles = [ax.get_title() for ax in _axes_of(fig)]
    assert any(t.startswith("chips: total") for t in titles)
    assert any(t.startswith("chips: relative") for t in titles)
    assert all(len(_bands(ax)) == 1 for ax in _axes_of(fig))
    chips = next(ax for ax in _axes_of(fig) if ax.get_title().startswith("chips: total"))
    thin = [c for c in chips.collections if isinstance(c, LineCollection)]
    paths = tables["car_paths"]
    n_chips = paths[(paths["scope"] == "pair") & (paths["scope_id"] == LIBERATION)
                    & (paths["group"] == "chips") & (paths["reaction"] == "total")]["asset"].nunique()
    assert len(thin) == 1 and len(thin[0].get_segments()) == n_chips  # one line per asset


def test_heatmap_has_a_panel_and_colour_scale_per_reaction(result, chosen):
    fig = plots.car_heatmap(result, (0, 1), chosen.groups)
    panels = _axes_of(fig)
    assert [ax.get_title() for ax in panels] == ["total reaction", "relative reaction"]
    colorbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(colorbars) == 2
    rows = [t.get_text() for t in panels[0].get_yticklabels()]
    assert len(rows) == len(PLOT_EVENTS) and rows[0].endswith(LIBERATION)  # 3 April comes first
    assert fig.legends and "category" in fig.legends[0].get_title().get_text()
    labels = [c for c in panels[0].collections if c.get_label() == plots.reactions.CELL_LABELS]
    plan = plots.heatmap_plan(result, (0, 1), chosen.groups)
    values, p = plan.values["total"], plan.p_values["total"]
    texts = [plots.reactions.cell_text(100 * v, q) for v, q in zip(values.ravel(), p.ravel())
             if np.isfinite(v)]
    assert any(text.endswith("*") for text in texts)
    # one collection per distinct label, placed at each of its cells
    assert len(labels) == len(set(texts))
    assert sum(len(c.get_offsets()) for c in labels) == np.isfinite(values).sum()
    rows, cols = np.nonzero(np.isfinite(values))
    placed = {(float(x), float(y)) for c in labels for x, y in c.get_offsets()}
    assert placed == {(j + 0.5, i + 0.5) for i, j in zip(rows, cols)}


def test_heatmap_cells_read_the_car_table(result, chosen):
    plan = plots.heatmap_plan(result, (0, 1), chosen.groups)
    assert plan.unit == "asset" and not plan.capped
    car = result.car[(result.car["window"] == "[0,1]") & (result.car["reaction"] == "relative")]
    i = list(plan.events["event_id"]).index(LIBERATION)
    j = plan.columns["relative"].index("8035.T")
    row = car[(car["event_id"] == LIBERATION) & (car["asset"] == "8035.T")].iloc[0]
    assert plan.values["relative"][i, j] == row["car"]
    assert plan.p_values["relative"][i, j] == row["car_p_value"]


def test_heatmap_of_many_assets_shows_group_averages(result, tables, chosen, monkeypatch):
    monkeypatch.setattr(plots.reactions, "MAX_SHOWN_ASSETS", 3)
    caar = tables["caar"]
    plan = plots.heatmap_plan(result, (0, 1), chosen.groups, caar=caar)
    assert plan.unit == "group" and plan.columns["total"] == list(chosen.groups)
    i = list(plan.events["event_id"]).index(LIBERATION)
    row = caar[(caar["scope"] == "event") & (caar["scope_id"] == LIBERATION)
               & (caar["window"] == "[0,1]") & (caar["group_by"] == "group")
               & (caar["group"] == "chips") & (caar["reaction"] == "total")].iloc[0]
    j = plan.columns["total"].index("chips")
    assert plan.values["total"][i, j] == row["caar"]
    assert np.isnan(plan.p_values["total"][i, j]) or plan.p_values["total"][i, j] == row["p_value"]
    fig = plots.car_heatmap(result, (0, 1), chosen.groups, caar=caar)
    names = [t.get_text() for t in _axes_of(fig)[0].get_xticklabels()]
    assert names == list(chosen.groups)
    assert plots.lists_assets(result, (0, 1), [LIBERATION], chosen.groups) is False


def test_heatmap_of_many_events_keeps_key_events_then_the_largest(result, chosen, monkeypatch):
    full = plots.heatmap_plan(result, (0, 1), chosen.groups)
    monkeypatch.setattr(plots.reactions, "MAX_HEATMAP_EVENTS", 3)
    key = "round1-akazawa-trump-whitehouse"
    plan = plots.heatmap_plan(result, (0, 1), chosen.groups, key_events=[key])
    assert plan.capped and len(plan.events) == 3 and plan.n_events == len(PLOT_EVENTS)
    kept = list(plan.events["event_id"])
    size = np.nanmean(np.abs(np.hstack(list(full.values.values()))), axis=1)
    others = [e for e in full.events["event_id"] if e != key]
    largest = sorted(others, key=lambda e: -size[list(full.events["event_id"]).index(e)])[:2]
    assert set(kept) == {key, *largest}
    assert kept == [e for e in full.events["event_id"] if e in set(kept)]  # day-0 order


def test_total_vs_relative_draws_both_reactions_with_intervals(result, tables, chosen):
    fig = plots.total_vs_relative(result, tables["caar"], [LIBERATION], (0, 1), chosen.groups)
    ax = _axes_of(fig)[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "chips: average" in labels and "Tokyo Electron" in labels
    car = result.car.query("event_id == @LIBERATION and asset == '8035.T' and window == '[0,1]'")
    drawn = np.concatenate([c.get_offsets()[:, 0] if hasattr(c, "get_offsets") else []
                            for c in ax.collections if hasattr(c, "get_offsets")] or [[]])
    lines = np.concatenate([line.get_xdata() for line in ax.get_lines()])
    values = np.concatenate([drawn, lines])
    for reaction in ("total", "relative"):
        expected = 100 * car.loc[car["reaction"] == reaction, "car"].iloc[0]
        assert np.isclose(values, expected).any(), reaction


def test_test_names_come_from_the_registry(result, chosen):
    fig = plots.cross_section_pvalues(result, LIBERATION, (0, 1), chosen.groups)
    labels = [t.get_text() for t in _axes_of(fig)[0].get_yticklabels()]
    assert labels == [registry.label(t) for t in registry.CROSS_SECTIONAL_TESTS
                      if registry.label(t) in labels]
    assert registry.label("kp_bmp") in labels
    assert any("r̄ = " in ax.get_title() for ax in _axes_of(fig))
    # the assets of one event share its news: tests assuming independence are withheld and
    # left out of the figure, which says so
    assert registry.label("cs_t") not in labels and registry.label("patell") not in labels
    assert "not reported" in fig._suptitle.get_text()


def test_volatility_figure_draws_a_daily_frame_and_says_when_missing(result, chosen):
    pairs = result.abnormal.query("event_id == @LIBERATION")
    daily = pairs.assign(abnormal_volatility=(pairs["ar"] / pairs["ar"].std()) ** 2)
    fig = plots.abnormal_volatility(result, daily, LIBERATION, chosen.groups)
    _check_labelled(fig)
    assert all(ax.get_yscale() == "log" for ax in _axes_of(fig))
    missing = plots.abnormal_volatility(result, None, LIBERATION, chosen.groups)
    assert any("volatility stage was not run" in t for t in _texts(missing))


def test_missing_inputs_give_not_available_panels(result, tables, chosen):
    without = dataclasses.replace(result, closes=result.closes.drop(columns=["NIKKEI_VI"]))
    assert any("not available" in t for t in _texts(
        plots.level_around_event(without, "NIKKEI_VI", LIBERATION)))
    assert any("not available" in t for t in _texts(plots.market_timeline(result, ["NOPE"])))
    assert any("not available" in t for t in _texts(
        plots.cross_section_pvalues(result, LIBERATION, (0, 4))))  # window not computed
    assert any("not available" in t for t in _texts(
        plots.event_paths(result, tables["car_paths"], "not-an-event")))
    assert any("not available" in t for t in _texts(
        plots.total_vs_relative(result, tables["caar"], ["not-an-event"], (0, 1))))
    empty = tables["car_paths"].iloc[:0]
    assert any("not available" in t for t in _texts(plots.scope_paths(result, empty, "tag")))
    with pytest.raises(ValueError):
        plots.scope_paths(result, empty, "nonsense")


def test_category_colours_follow_the_study_file(result):
    colors = plots.category_colors(result)
    first = result.config.events[0].category
    assert colors[first] == plots.category_colors(result)[first]
    assert len(set(colors.values())) == len(colors)


def test_event_table_uses_the_study_exchange(result):
    table = plots.event_table(result)
    assert plots.reference_exchange(result) == "XTKS"
    assert table["day0"].is_monotonic_increasing
    assert pd.Timestamp(table.set_index("event_id").at[LIBERATION, "day0"]) == pd.Timestamp(
        "2025-04-03")


def test_library_import_does_not_select_a_backend():
    import os
    import subprocess
    import sys

    code = ("import matplotlib, eventstudy.plots, eventstudy.page, sys; "
            "sys.exit(matplotlib.rcParams._get_backend_or_none() is not None)")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, "importing eventstudy.plots chose a matplotlib backend"
