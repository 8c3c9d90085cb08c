"""The report's choices from the study file alone: which group stands for the market, and an
honest 'none' when no group does (no prices needed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from eventstudy import featured
from eventstudy.events import load_config

REPO = Path(__file__).resolve().parents[1]


def _tickers(config) -> set[str]:
    return {a.ticker for a in config.studied_assets}


def test_the_group_holding_the_same_exchange_benchmark_is_the_market():
    config = load_config(REPO / "events.yaml")
    group, note = featured.choose_market_group(config, _tickers(config))
    assert group == "index" and "same-exchange benchmark" in note


def test_the_only_group_measured_in_total_is_the_market_when_the_others_are_relative():
    config = load_config(REPO / "tests" / "studies" / "run-us-only.yaml")
    group, note = featured.choose_market_group(config, _tickers(config))
    assert group == "index" and "only ones measured in total" in note  # ^IXIC, constant mean


def test_no_market_group_when_every_asset_is_measured_against_an_unstudied_index():
    config = load_config(REPO / "tests" / "studies" / "run-us-only.yaml")
    chips = dataclasses.replace(config, assets=tuple(a for a in config.assets
                                                     if a.ticker != "^IXIC"))
    group, note = featured.choose_market_group(chips, _tickers(chips))
    assert group is None
    assert note.startswith("no market group: ") and "S&P 500, which is not studied itself" in note


def test_no_market_group_when_several_groups_are_all_measured_in_total():
    config = load_config(REPO / "tests" / "studies" / "run-us-only.yaml")
    total = dataclasses.replace(config, settings=dataclasses.replace(
        config.settings, model=config.asset("^IXIC").model))  # every asset constant mean
    assert {total.reaction_of(a) for a in total.studied_assets} == {"total"}
    group, note = featured.choose_market_group(total, _tickers(total))
    assert group is None and "no single group alone is measured in total" in note


def test_a_market_group_set_in_the_study_file_wins_and_an_unestimated_one_is_none():
    config = load_config(REPO / "events.yaml")
    assert featured.choose_market_group(config, _tickers(config), asked="chips")[0] == "chips"
    group, note = featured.choose_market_group(config, {"^N225"}, asked="chips")
    assert group is None and note.startswith("no market group")
