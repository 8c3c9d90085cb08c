"""Assets read from a CSV (``assets_from``) and events taken from another study file (``events_from``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventstudy.errors import ConfigError
from eventstudy.events import DEFAULT_GROUP, load_config

EVENTS = """
events:
  - {id: liberation-day, category: tariffs, announced: '2025-04-02T16:00:00-04:00', sources: [S]}
  - {id: pause, category: tariffs, announced: '2025-04-09T13:18:00-04:00', sources: [S]}
"""
FIRMS = """ticker,name,sector,size_class,exchange
7203.T,Toyota Motor,Autos,Core30,XTKS
8035.T,Tokyo Electron,Chips,Core30,JPX
6146.T,Disco,Chips,Large70,
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)
    return str(caught.value).split("\n")


def one_error(path: Path, **kwargs) -> str:
    lines = errors_of(path, **kwargs)
    assert len(lines) == 1, lines
    return lines[0]


# --- assets_from ------------------------------------------------------------------------------------


def test_each_csv_row_becomes_a_studied_asset_with_its_attributes(tmp_path: Path):
    write(tmp_path, "data/firms.csv", FIRMS)
    study = write(
        tmp_path,
        "study.yaml",
        "assets_from: {path: data/firms.csv, attributes: [sector, size_class]}\n" + EVENTS,
    )
    config = load_config(study)
    assert [a.ticker for a in config.assets] == ["7203.T", "8035.T", "6146.T"]
    toyota = config.asset("7203.T")
    assert (toyota.name, toyota.group, toyota.exchange) == ("Toyota Motor", DEFAULT_GROUP, "XTKS")
    assert dict(toyota.attributes) == {"sector": "Autos", "size_class": "Core30"}
    assert config.asset("8035.T").exchange == "XTKS"  # the JPX alias, resolved
    assert config.asset("6146.T").exchange == "XTKS"  # empty cell: inferred from the ticker


def test_a_path_alone_keeps_every_other_column_as_an_attribute(tmp_path: Path):
    write(tmp_path, "firms.csv", FIRMS)
    config = load_config(write(tmp_path, "s.yaml", "assets_from: firms.csv\n" + EVENTS))
    assert dict(config.asset("6146.T").attributes) == {"sector": "Chips", "size_class": "Large70"}


def test_columns_can_be_renamed(tmp_path: Path):
    write(tmp_path, "jpx.csv", "code,name_en,sector33,segment\n7203.T,TOYOTA,Transport,Prime\n")
    text = (
        "assets_from: {path: jpx.csv, ticker: code, name: name_en, group: segment,"
        " attributes: [sector33]}\n"
    )
    config = load_config(write(tmp_path, "s.yaml", text + EVENTS))
    asset = config.asset("7203.T")
    assert (asset.name, asset.group, dict(asset.attributes)) == (
        "TOYOTA",
        "Prime",
        {"sector33": "Transport"},
    )


def test_listed_assets_win_and_may_add_attributes(tmp_path: Path):
    write(tmp_path, "firms.csv", FIRMS)
    text = """
assets_from: {path: firms.csv, attributes: [sector]}
assets:
  - {ticker: ^TOPX, group: benchmark}
  - {ticker: 8035.T, group: chips, attributes: {sector: Semiconductors, beta: 1.3}}
study: {model: {name: market, benchmark: ^TOPX}, group_by: [group, sector]}
"""
    config = load_config(write(tmp_path, "s.yaml", text + EVENTS))
    assert [a.ticker for a in config.assets] == ["^TOPX", "8035.T", "7203.T", "6146.T"]
    tel = config.asset("8035.T")
    assert tel.group == "chips"  # written in assets:
    assert tel.name == "Tokyo Electron"  # left to default there, so taken from the CSV
    assert dict(tel.attributes) == {"sector": "Semiconductors", "beta": "1.3"}
    assert config.settings.group_by == ("group", "sector")


def test_override_path_replaces_the_file_path(tmp_path: Path, monkeypatch):
    write(tmp_path, "firms.csv", FIRMS)
    write(tmp_path, "other/few.csv", "ticker,sector\n7203.T,Autos\n")
    study = write(tmp_path, "s.yaml", "assets_from: {path: firms.csv}\n" + EVENTS)
    monkeypatch.chdir(tmp_path / "other")
    config = load_config(study, assets_from="few.csv")
    assert [a.ticker for a in config.assets] == ["7203.T"]


def test_override_path_alone_needs_no_block(tmp_path: Path):
    csv_path = write(tmp_path, "firms.csv", FIRMS)
    study = write(tmp_path, "s.yaml", EVENTS)
    assert len(load_config(study, assets_from=csv_path).assets) == 3


@pytest.mark.parametrize(
    ("csv_text", "block", "fragments"),
    [
        (FIRMS, "{path: nothere.csv}", ["nothere.csv: file not found (assets_from.path)"]),
        ("", "{path: firms.csv}", ["firms.csv: file is empty"]),
        ("ticker,sector\n", "{path: firms.csv}", ["firms.csv: has no data rows"]),
        (
            FIRMS,
            "{path: firms.csv, attributes: [sektor]}",
            ["firms.csv: column 'sektor': not in the header", "did you mean 'sector'"],
        ),
        (
            FIRMS,
            "{path: firms.csv, ticker: code}",
            ["firms.csv: column 'code': not in the header (assets_from.ticker"],
        ),
        (
            "ticker,sector\n7203.T,Autos\n7203.T,Cars\n",
            "{path: firms.csv}",
            [
                "firms.csv: line 3 (ticker '7203.T'): column 'ticker': duplicate ticker (first on line 2)"
            ],
        ),
        (
            "ticker,sector\n7203.T,Autos\n ,Cars\n",
            "{path: firms.csv}",
            ["firms.csv: line 3: column 'ticker': empty ticker"],
        ),
        (
            "ticker,sector\n7203.T,Autos,extra\n",
            "{path: firms.csv}",
            ["firms.csv: line 2: has 3 cells, the header has 2"],
        ),
        (
            "ticker,exchange\n7203.T,TSE\n",
            "{path: firms.csv}",
            ["firms.csv: line 2 (ticker '7203.T'): column 'exchange': unknown exchange 'TSE'"],
        ),
        (
            "ticker,sector,sector\n7203.T,a,b\n",
            "{path: firms.csv}",
            ["firms.csv: column 'sector': appears twice in the header"],
        ),
        (FIRMS, "{path: firms.csv, colums: [a]}", ["s.yaml: field 'assets_from.colums'"]),
        (FIRMS, "{ticker: code}", ["s.yaml: field 'assets_from.path': missing (required)"]),
        (FIRMS, "{path: firms.csv, attributes: [group]}", ["'group' is an asset field"]),
    ],
)
def test_bad_asset_tables_name_the_csv_line_and_column(
    tmp_path: Path, csv_text: str, block: str, fragments: list[str]
):
    write(tmp_path, "firms.csv", csv_text)
    message = one_error(write(tmp_path, "s.yaml", f"assets_from: {block}\n" + EVENTS))
    for fragment in fragments:
        assert fragment in message, message
    assert message.startswith(str(tmp_path)), message


def test_a_bad_csv_row_drops_only_that_asset_from_references(tmp_path: Path):
    """An event naming the broken row's ticker gets no second line."""
    write(tmp_path, "firms.csv", "ticker,exchange\n7203.T,TSE\n8035.T,\n")
    text = EVENTS.replace("sources: [S]}", "sources: [S], assets: [7203.T]}", 1)
    lines = errors_of(write(tmp_path, "s.yaml", "assets_from: firms.csv\n" + text))
    assert len(lines) == 1 and "unknown exchange 'TSE'" in lines[0]


def test_group_by_names_a_csv_attribute(tmp_path: Path):
    write(tmp_path, "firms.csv", FIRMS)
    text = "study: {group_by: [size_class]}\nassets_from: firms.csv\n" + EVENTS
    assert load_config(write(tmp_path, "s.yaml", text)).settings.group_by == ("size_class",)
    text = "study: {group_by: [size_clas]}\nassets_from: firms.csv\n" + EVENTS
    message = one_error(write(tmp_path, "s.yaml", text))
    assert "field 'study.group_by[0]'" in message and "did you mean 'size_class'" in message


# --- events_from ------------------------------------------------------------------------------------

ASSETS = "assets: [{ticker: ^N225}, {ticker: 8035.T}]\n"
MORE_EVENTS = """
events:
  - {id: deal, category: deal, announced: '2025-07-22T19:00:00-04:00', sources: [S]}
"""


def test_events_from_come_before_the_files_own_events(tmp_path: Path):
    write(tmp_path, "base/events.yaml", "study: {name: base}\n" + ASSETS + EVENTS)
    text = "events_from: base/events.yaml\n" + ASSETS + MORE_EVENTS
    config = load_config(write(tmp_path, "sectors.yaml", text))
    assert [e.id for e in config.events] == ["liberation-day", "pause", "deal"]
    assert config.settings.name == "sectors"


def test_events_from_alone_is_enough(tmp_path: Path):
    write(tmp_path, "events.yaml", ASSETS + EVENTS)
    config = load_config(write(tmp_path, "s.yaml", "events_from: events.yaml\n" + ASSETS))
    assert len(config.events) == 2


def test_events_from_follows_a_chain_relative_to_each_file(tmp_path: Path):
    write(tmp_path, "a/first.yaml", ASSETS + EVENTS)
    write(tmp_path, "a/b/second.yaml", "events_from: ../first.yaml\n" + MORE_EVENTS)
    config = load_config(write(tmp_path, "s.yaml", "events_from: a/b/second.yaml\n" + ASSETS))
    assert [e.id for e in config.events] == ["liberation-day", "pause", "deal"]


def test_duplicate_ids_across_files_are_refused(tmp_path: Path):
    write(tmp_path, "events.yaml", ASSETS + EVENTS)
    text = "events_from: events.yaml\n" + ASSETS + EVENTS.replace("liberation-day", "other", 1)
    message = one_error(write(tmp_path, "s.yaml", text))
    assert "event 'pause': field 'id': duplicate id (events[1] (line 6)" in message
    assert f"first used by events[1] (line 5) of {tmp_path / 'events.yaml'}" in message


def test_problems_in_the_other_file_name_that_file(tmp_path: Path):
    other = write(tmp_path, "events.yaml", EVENTS.replace("'2025-04-02T16:00:00-04:00'", "today"))
    message = one_error(write(tmp_path, "s.yaml", "events_from: events.yaml\n" + ASSETS))
    assert message.startswith(f"{other}: event 'liberation-day': field 'announced'")


def test_event_assets_from_the_other_file_are_checked_against_this_study(tmp_path: Path):
    text = EVENTS.replace("sources: [S]}", "sources: [S], assets: [6857.T]}", 1)
    other = write(tmp_path, "events.yaml", text)
    message = one_error(write(tmp_path, "s.yaml", "events_from: events.yaml\n" + ASSETS))
    assert message.startswith(f"{other}: event 'liberation-day': field 'assets[0]'")
    assert "unknown ticker '6857.T'" in message


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({}, "field 'events_from': file not found: "),
        ({"events.yaml": "events_from: s.yaml\n"}, "takes its events from itself"),
        ({"events.yaml": "study: {name: x}\n"}, "events.yaml: field 'events': missing"),
        ({"events.yaml": "events: [\n"}, "events.yaml: line 2, column 1: invalid YAML"),
    ],
)
def test_unusable_events_from_files(tmp_path: Path, files: dict[str, str], fragment: str):
    for name, text in files.items():
        write(tmp_path, name, text)
    message = one_error(write(tmp_path, "s.yaml", "events_from: events.yaml\n" + ASSETS))
    assert fragment in message, message


def test_real_study_can_lend_its_events(tmp_path: Path, repo_root: Path):
    path = repo_root / "events.yaml"
    text = f"events_from: {path}\nassets: [{{ticker: ^TOPX}}]\n"
    config = load_config(write(tmp_path, "topix-only.yaml", text))
    assert len(config.events) == 46
    assert config.events[0].id == load_config(path).events[0].id
