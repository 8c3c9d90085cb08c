"""The sector study end to end, offline on the snapshot: the real study file with 30 of its stocks
(``--assets-from`` style override) and 3 events, to tables and a report with the section on
groups, characteristics and volume."""

from __future__ import annotations

import csv
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from test_report import check_page

import eventstudy as es
from eventstudy import aggregate, registry
from eventstudy.events import load_config
from eventstudy.featured import choose
from eventstudy.page import figures, sectors
from eventstudy.runner import summary_lines, write_outputs

pytestmark = pytest.mark.realdata

EVENTS = ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause", "round8-deal-15pct-550bn")


@pytest.fixture(scope="module")
def reduced(repo_root, snapshot_dir, tmp_path_factory):
    """The study's 13 theme stocks and the 17 banks of the TOPIX-17 sector (30 rows of the CSV,
    one bank without 2025 prices), read through the real study file, run and written with the
    report."""
    folder = tmp_path_factory.mktemp("sectors")
    source = repo_root / "studies" / "tokyo-sectors.csv"
    with source.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    full = load_config(repo_root / "studies" / "tokyo-sectors.yaml")
    themed = {a.ticker for a in full.studied_assets if a.attributes.get("theme")}
    chosen = [r for r in rows if r["ticker"] in themed or r["sector17"] == "BANKS"]
    firms = folder / "firms.csv"
    with firms.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    config = load_config(repo_root / "studies" / "tokyo-sectors.yaml", assets_from=firms)
    config = dataclasses.replace(config, events=tuple(e for e in config.events if e.id in EVENTS))
    result = es.Study(config, snapshot=snapshot_dir).run()
    out = folder / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "DPI", 60)
        written, page = write_outputs(result, out)
    return result, out, written, page, len(chosen)


def test_the_reduced_study_reads_30_stocks_and_3_events(reduced):
    result, _, _, _, n = reduced
    assert n == 30 and len(result.config.studied_assets) == 30 and len(result.config.events) == 3
    assert result.config.settings.group_by == ("sector17", "sector33", "size_class", "theme")


def test_tables_include_volume_and_the_cross_section_of_the_key_events(reduced):
    result, out, _, _, _ = reduced
    tables = out / "tables"
    for name in ("volume", "volume_tests", "cross_section", "caar", "tests"):
        assert (tables / f"{name}.csv").is_file() and (tables / f"{name}.parquet").is_file()
    volume = pd.read_parquet(tables / "volume.parquet")
    estimated = result.models[result.models["status"] == "ok"].drop_duplicates(["event_id", "asset"])
    assert len(volume[volume["status"] == "ok"].drop_duplicates(["event_id", "asset"])) >= len(estimated) - 3
    assert set(pd.read_parquet(tables / "volume_tests.parquet")["test"]) == set(registry.VOLUME_TESTS)
    cross = pd.read_parquet(tables / "cross_section.parquet")
    featured = choose(result, pd.read_parquet(tables / "caar.parquet"))
    assert list(dict.fromkeys(cross["event_id"])) == list(featured.key_events)
    assert set(cross["formula"]) == {result.config.report.cross_section}
    assert set(cross["window"]) == {"[0,1]"} and set(cross["reaction"]) == {"total", "relative"}
    assert cross.columns.get_loc("std_error_st") < cross.columns.get_loc("std_error_hc1")
    fitted = cross[cross["term"] != ""]
    assert len(fitted) and (fitted["df_st"] == fitted["n_days"] - 1).all()


def test_the_report_has_the_section_with_rankings_regression_and_volume(reduced):
    result, out, _, page, _ = reduced
    assert page == out / "report.html"
    parser, text = check_page(out)
    assert parser.sections[:2] == ["findings", "sectors"]
    featured = choose(result, pd.read_parquet(out / "tables" / "caar.parquet"))
    for event_id in featured.key_events:
        assert f"figures/ranking_sector17_{event_id.replace('-', '_')}.png" in parser.images
    assert "figures/abnormal_volume.png" in parser.images
    assert "Sefcik–Thompson" in text and "ignores the shared date" in text and "without a p-value" in text


def test_the_first_key_event_is_described_from_the_numbers(reduced):
    result, out, _, _, _ = reduced
    caar = pd.read_parquet(out / "tables" / "caar.parquet")
    featured = choose(result, caar)
    first = featured.key_events[0]
    cross = pd.read_parquet(out / "tables" / "cross_section.parquet")
    words = " ".join(sectors.first_event_sentences(result, featured, caar, cross, first))
    rows = caar[(caar["scope"] == "event") & (caar["scope_id"] == first) & (caar["window"] == "[0,1]")
                & (caar["group_by"] == "sector17") & (caar["reaction"] == "total")]
    lowest = rows.loc[rows["caar"].idxmin()]
    stated = f"{lowest['group']} {100 * lowest['caar']:+.1f}%".replace("-", "−")
    assert stated in words
    theme = caar[(caar["scope"] == "event") & (caar["scope_id"] == first) & (caar["window"] == "[0,1]")
                 & (caar["group_by"] == "theme") & (caar["reaction"] == "relative")].iloc[0]
    assert f"{theme['group']} {100 * theme['caar']:+.1f}%".replace("-", "−") in words
    significant = cross[(cross["event_id"] == first) & (cross["reaction"] == "total")
                        & (cross["term"] != "Intercept") & (cross["term"] != "")]
    n_st = int((significant["p_st"] < 0.05).sum())
    assert f"{n_st} of {len(significant)} coefficients differ from zero" in words
    assert re.search(r"median asset traded \d+\.\d\d times its normal volume", words)


def test_the_run_summary_states_the_volume_stage(reduced):
    result, _, _, _, _ = reduced
    lines = summary_lines(result, 1.0)
    assert any(re.fullmatch(r"  abnormal volume: \d+ \(event, asset\) pairs of \d+ assets "
                            r"\(tables/volume\.csv\)", line) for line in lines)


def test_a_study_without_attributes_gets_no_such_section(reduced, tmp_path):
    result, _, _, _, _ = reduced
    bare = [dataclasses.replace(a, attributes={}) for a in result.config.assets]
    config = dataclasses.replace(result.config, assets=tuple(bare), settings=dataclasses.replace(
        result.config.settings, group_by=("group",)))
    plain = dataclasses.replace(result, config=config)
    assert not sectors.has_section(plain)
    specs = figures.figure_specs(plain, choose(plain, aggregate.caar_table(plain)),
                                 aggregate.car_paths_table(plain), aggregate.caar_table(plain))
    assert set(specs) == {"findings", "evidence"}
    from eventstudy.runner import _cross_section_tables

    assert _cross_section_tables(plain, aggregate.caar_table(plain), lambda stage: None) == {}
    assert np.isfinite(plain.volume["abnormal_log_volume"]).any()  # volume does not need attributes
