"""The second study's attribute table (studies/tokyo-sectors.csv) and study file."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

COLUMNS = ["ticker", "name_en", "name_ja", "sector33_code", "sector33", "sector17_code", "sector17",
           "market_segment", "size_class"]
SIZE_CLASSES = {"Core30", "Large70", "Mid400", "Small 1", "Small 2", ""}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def table(repo_root) -> list[dict[str, str]]:
    return _rows(repo_root / "studies" / "tokyo-sectors.csv")


def test_attribute_table_is_well_formed(repo_root, table):
    raw = (repo_root / "studies" / "tokyo-sectors.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r\n" not in raw
    assert list(table[0]) == COLUMNS
    tickers = [row["ticker"] for row in table]
    assert tickers == sorted(tickers) and len(set(tickers)) == len(tickers) == 319
    assert all(t.endswith(".T") and len(t) == 6 for t in tickers)
    assert {row["size_class"] for row in table} <= SIZE_CLASSES
    assert {row["market_segment"] for row in table} <= {"Prime", "Standard", "Growth"}
    # one English name per sector code, as JPX publishes them
    for code, name in (("sector33_code", "sector33"), ("sector17_code", "sector17")):
        names = {}
        for row in table:
            names.setdefault(row[code], set()).add(row[name])
        assert all(len(v) == 1 for v in names.values())
    assert len({row["sector17"] for row in table}) == 17


@pytest.mark.realdata
def test_attribute_table_matches_the_jpx_classification(repo_root, table):
    sectors = repo_root.parent / "shared" / "sectors" / "SECTORS.csv"
    if not sectors.exists():
        pytest.skip(f"JPX classification not found at {sectors}")
    reference = {row["code"]: row for row in _rows(sectors)}
    assert [row["ticker"] for row in table] == list(reference)
    for row in table:
        source = reference[row["ticker"]]
        assert {c: row[c] for c in COLUMNS[1:]} == {c: source[c] for c in COLUMNS[1:]}, row["ticker"]


@pytest.mark.realdata
def test_attribute_table_covers_the_price_universe(repo_root, snapshot_dir, table):
    universe = {p.name[: -len(".csv")] for p in (snapshot_dir / "universe").glob("*.T.csv")}
    tickers = {row["ticker"] for row in table}
    assert universe <= tickers and tickers - universe == {"285A.T"}
    assert (snapshot_dir / "285A.T.csv").exists()


def test_study_file_points_at_the_table_and_its_columns(repo_root, table):
    # The study-file keys assets_from / events_from are parsed by eventstudy.events; this only
    # checks that the file's references resolve (the table's columns, the events file).
    folder = repo_root / "studies"
    document = yaml.safe_load((folder / "tokyo-sectors.yaml").read_text(encoding="utf-8"))
    source = document["assets_from"]
    assert (folder / source["path"]).exists() and (folder / document["events_from"]).exists()
    used = [source["ticker"], source["name"], source["group"], *source["attributes"]]
    assert set(used) <= set(table[0])
    listed = {a["ticker"]: a for a in document["assets"]}
    written = {key for a in listed.values() for key in a.get("attributes", {})}
    assert set(document["study"]["group_by"]) <= set(source["attributes"]) | written
    benchmarks = {t for t, a in listed.items() if a.get("group") == "benchmark"}
    assert benchmarks == {"^TOPX", "^GSPC", "JPY=X"}


def test_the_theme_is_the_chips_group_of_the_first_study(repo_root, table):
    # The semiconductor theme is the study's own choice: exactly the chips of events.yaml, each a
    # row of the CSV (it adds an attribute and changes nothing JPX gives).
    folder = repo_root / "studies"
    document = yaml.safe_load((folder / "tokyo-sectors.yaml").read_text(encoding="utf-8"))
    themed = {a["ticker"] for a in document["assets"] if a.get("attributes", {}).get("theme")}
    first = yaml.safe_load((repo_root / "events.yaml").read_text(encoding="utf-8"))
    assert themed == {a["ticker"] for a in first["assets"] if a.get("group") == "chips"}
    assert themed <= {row["ticker"] for row in table}
    for asset in document["assets"]:
        if asset["ticker"] in themed:
            assert set(asset) == {"ticker", "attributes"}
