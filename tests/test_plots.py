"""Figures: every plot function draws on Agg, returns its Axes/Figure with a title and labelled
axes, and degrades to a 'not available' panel when data are missing (real snapshot, few events)."""

from __future__ import annotations

import dataclasses

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from eventstudy import plots

pytestmark = pytest.mark.realdata

#: A few events across four categories, including the four key events of chips_vs_topix.
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
    """A real study restricted to ``event_ids`` (shared with test_report)."""
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
        assert ax.get_ylabel()


CASES = {
    "index_levels": lambda r, ax: plots.index_levels(r, ax=ax),
    "car_path_event": lambda r, ax: plots.car_path_event(r, LIBERATION, ax=ax),
    "car_path_event_assets": lambda r, ax: plots.car_path_event(r, LIBERATION, assets=["^N225", "8035.T"], ax=ax),
    "car_heatmap": lambda r, ax: plots.car_heatmap(r, ax=ax),
    "chips_vs_topix": lambda r, ax: plots.chips_vs_topix(r, ax=ax),
    "volatility_paths": lambda r, ax: plots.volatility_paths(r, LIBERATION, ax=ax),
    "vi_around_event": lambda r, ax: plots.vi_around_event(r, ax=ax),
    "test_comparison": lambda r, ax: plots.test_comparison(r, LIBERATION, ax=ax),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_axes_functions_draw_on_given_axes_and_new_figure(result, name):
    _fig, ax = plt.subplots()
    out = CASES[name](result, ax)
    assert out is ax
    _check_labelled(out)
    fresh = CASES[name](result, None)
    assert isinstance(fresh, Axes) and fresh is not ax
    _check_labelled(fresh)
    assert "not available" not in fresh.get_xlabel()


@pytest.mark.parametrize("by", ["category", "tag"])
def test_car_paths_one_panel_per_scope(result, by):
    fig = plots.car_paths(result, by=by)
    assert isinstance(fig, Figure)
    _check_labelled(fig)
    scopes = {e.category for e in result.config.events} if by == "category" else {
        t for e in result.config.events for t in e.tags}
    titles = [ax.get_title() for ax in _axes_of(fig)]
    assert len(titles) == len(scopes)
    assert fig.get_suptitle().startswith(f"Mean CAR path by {by}")


def test_car_paths_draws_on_given_figure_and_pairs_band(result):
    fig = Figure()
    out = plots.car_paths(result, band="pairs", fig=fig)
    assert out is fig
    assert "pairs" in fig.get_suptitle()
    with pytest.raises(ValueError):
        plots.car_paths(result, band="nonsense")


def test_heatmap_rows_are_events_by_date_with_stars(result):
    ax = plots.car_heatmap(result)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert len(labels) == len(PLOT_EVENTS)
    assert labels[0].endswith("liberation-day-reciprocal-tariffs")  # 3 April is the first day 0
    cells = [t.get_text() for t in ax.texts]
    assert any(text.endswith("*") for text in cells)


def test_car_path_event_starts_at_first_ar(result):
    ax = plots.car_path_event(result, LIBERATION, assets=["^N225"])
    line = ax.get_lines()[0]
    first = result.abnormal.query("event_id == @LIBERATION and asset == '^N225' and rel_day == -5")
    assert line.get_ydata()[0] == pytest.approx(100 * first["ar"].iloc[0])


def test_test_comparison_shows_r_bar(result):
    ax = plots.test_comparison(result, LIBERATION)
    assert "r̄ = " in ax.get_title()


def test_category_colours_are_consistent(result):
    for event in result.config.events:
        assert plots.category_color(event.category) == plots.CATEGORY_COLORS[event.category]
    assert plots.category_color("unknown") == plots.FALLBACK_COLOR


def test_missing_volatility_index_gives_not_available_axes(result):
    closes = result.closes.drop(columns=["NIKKEI_VI"])
    without = dataclasses.replace(result, closes=closes)
    ax = plots.vi_around_event(without)
    assert ax.get_title()
    assert any("not available" in t.get_text() for t in ax.texts)


def test_unknown_or_missing_inputs_do_not_crash(result):
    ax = plots.test_comparison(result, LIBERATION, window=(0, 4))  # window not computed
    assert any("not available" in t.get_text() for t in ax.texts)
    ax = plots.index_levels(result, tickers=("NOPE",))
    assert any("not available" in t.get_text() for t in ax.texts)
    ax = plots.chips_vs_topix(result, event_ids=["not-an-event"])
    assert any("not available" in t.get_text() for t in ax.texts)


def test_library_import_does_not_select_a_backend():
    import os
    import subprocess
    import sys

    code = ("import matplotlib, eventstudy.plots, sys; "
            "sys.exit(matplotlib.rcParams._get_backend_or_none() is not None)")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, "importing eventstudy.plots chose a matplotlib backend"


def test_asset_groups_separate_total_and_relative(result):
    groups = plots.asset_groups(result)
    total = [k for k in groups if k.endswith("(total)")]
    assert total and set(groups[total[0]]) == {"^N225", "^TOPX"}
    chips = [k for k, v in groups.items() if "8035.T" in v]
    assert len(chips) == 1 and "relative to TOPIX" in chips[0]
