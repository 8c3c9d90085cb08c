"""The report page: figures on disk, every reference resolves, every table renders, byte-stable."""

from __future__ import annotations

import dataclasses
import hashlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from eventstudy import report_html

pytestmark = pytest.mark.realdata

REPORT_EVENTS = (
    "liberation-day-reciprocal-tariffs",
    "reciprocal-90day-pause",
    "round8-deal-15pct-550bn",
    "chip-tariff-100pct-trump-cook",
)


class PageParser(HTMLParser):
    """Collects tables (rows per table), image sources, links and forbidden tags."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._open: list[dict] = []
        self.images: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.external_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table":
            self._open.append({"class": attrs.get("class", ""), "rows": 0, "cells": 0})
        elif tag == "tr" and self._open:
            self._open[-1]["rows"] += 1
        elif tag in ("td", "th") and self._open:
            self._open[-1]["cells"] += 1
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        elif tag in ("script", "link", "iframe"):
            self.external_tags.append(tag)

    def handle_endtag(self, tag):
        if tag == "table":
            self.tables.append(self._open.pop())


@pytest.fixture(scope="module")
def result(snapshot_dir):
    import eventstudy as es

    config = es.load_config(Path(__file__).resolve().parents[1] / "events.yaml")
    events = tuple(e for e in config.events if e.id in REPORT_EVENTS)
    return es.Study(dataclasses.replace(config, events=events), snapshot=snapshot_dir).run(volatility=False)


@pytest.fixture(scope="module")
def joint(result):
    return result.joint()


@pytest.fixture(scope="module")
def written(result, joint, tmp_path_factory):
    """The report written twice into separate folders, with the progress stages of the first run."""
    stages: list[str] = []
    first = tmp_path_factory.mktemp("report_a")
    second = tmp_path_factory.mktemp("report_b")
    report_html.write_report(result, first, joint=joint, progress=stages.append)
    report_html.write_report(result, second, joint=joint)
    return first, second, stages


@pytest.fixture(scope="module")
def page(written):
    parser = PageParser()
    parser.feed((written[0] / "report.html").read_text(encoding="utf-8"))
    return parser


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_runs_are_byte_identical(written):
    first, second, _ = written
    a, b = _digests(first), _digests(second)
    assert a == b
    assert any(name.endswith(".png") for name in a) and any(name.endswith(".svg") for name in a)
    assert "report.html" in a


def test_every_referenced_file_exists(written, page):
    folder = written[0]
    assert page.images
    for src in page.images:
        assert not src.startswith(("http:", "https:", "data:", "/")), src
        assert (folder / src).is_file(), src
    local = [h for h in page.links if not h.startswith(("http://", "https://", "#"))]
    for href in local:
        assert (folder / href).is_file(), href
    anchors = [h[1:] for h in page.links if h.startswith("#")]
    assert anchors and all(a in page.ids for a in anchors)


def test_every_figure_on_disk_is_shown(written, page):
    pngs = {f"figures/{p.name}" for p in (written[0] / "figures").glob("*.png")}
    assert pngs == set(page.images)
    assert {"figures/index_levels.png", "figures/car_heatmap.png", "figures/chips_vs_topix.png",
            "figures/vi_liberation_day.png"} <= pngs


def test_page_is_self_contained(written, page):
    text = (written[0] / "report.html").read_text(encoding="utf-8")
    assert page.external_tags == []
    assert "<style>" in text and "cdn" not in text.lower()


def test_every_table_renders_with_rows(result, page):
    by_class: dict[str, list[dict]] = {}
    for table in page.tables:
        assert table["rows"] >= 2, table  # header + at least one row
        by_class.setdefault(table["class"], []).append(table)
    n_events = len(result.config.events)
    assert [t["rows"] for t in by_class["results"]] == [n_events + 1, n_events + 1]
    assert by_class["events"][0]["rows"] == n_events + 1
    pooled = result.tests[result.tests["scope"].isin(["category", "tag"])]
    n_scopes = len(pooled.groupby(["scope", "scope_id", "group_by", "group", "reaction"]))
    assert n_scopes > len({e.category for e in result.config.events})
    assert [t["rows"] for t in by_class["pooled"]] == [n_scopes + 1, n_scopes + 1]
    assert by_class["provenance"][0]["rows"] == len(result.provenance) + 1
    assert "joint" in by_class and "models" in by_class and "versions" in by_class


def test_progress_is_called_per_figure(written):
    stages = written[2]
    figures = [s for s in stages if s.startswith("figure ")]
    assert len(figures) == len(list((written[0] / "figures").glob("*.png")))
    assert stages[-1] == "report page"


def test_sources_become_links_and_methods_are_stated(written):
    text = (written[0] / "report.html").read_text(encoding="utf-8")
    assert '<a href="https://' in text
    for phrase in ("L1 − k", "CAAR = mean_i CAR_i", "two-sided", "constant-mean", "GRANK",
                   "Kolari–Pynnönen", "first session whose close is later"):
        assert phrase in text, phrase


def test_source_link_parsing():
    link = report_html._source_link("Reuters: headline <https://example.com/a?b=1&c=2>")
    assert link == '<a href="https://example.com/a?b=1&amp;c=2">Reuters: headline</a>'
    assert report_html._source_link("no url <here>") == "no url &lt;here&gt;"
