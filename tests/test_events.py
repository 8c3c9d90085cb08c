"""Study-file parsing: the real file, defaults, new keys, one malformation at a time, all problems
of a file in one error, fuzzing. (``assets_from``/``events_from``: test_study_sources.py.)"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventstudy.errors import ConfigError
from eventstudy.events import (
    DEFAULT_GROUP,
    FactorSpec,
    ModelSpec,
    ReportSettings,
    StudyConfig,
    StudySettings,
    infer_exchange,
    load_config,
    parse_config,
)
from eventstudy.study_fields import MAX_SHOWN, StudyFileError
from eventstudy.study_schema import STUDY_DEFAULTS

FIXTURE = Path(__file__).parent / "fixtures" / "events" / "minimal.yaml"
FILE_NAME = "broken-study.yaml"
MINIMAL_TEXT = FIXTURE.read_text(encoding="utf-8")


def minimal() -> dict:
    """The valid fixture as plain Python data, ready to be broken."""
    return yaml.safe_load(MINIMAL_TEXT)


def dump(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def config_error(text: str) -> str:
    """Parse ``text`` expecting a one-problem ConfigError; return its one-line message."""
    lines = config_errors(text)
    assert len(lines) == 1, lines
    return lines[0]


def config_errors(text: str, file_name: str = FILE_NAME) -> list[str]:
    """Parse ``text`` expecting a ConfigError; its lines, each checked to name the file."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, file_name)
    lines = str(caught.value).split("\n")
    assert "\r" not in str(caught.value)
    for line in lines[:MAX_SHOWN]:
        assert line.startswith(f"{file_name}: "), line
    return lines


# --- the real study file ----------------------------------------------------------------------


def test_real_file_has_the_46_reference_events(study: StudyConfig, reference_events: list[dict]):
    assert len(study.events) == 46
    assert [e.id for e in study.events] == [e["id"] for e in reference_events]


def test_real_file_keeps_reference_facts(study: StudyConfig, reference_events: list[dict]):
    for event, reference in zip(study.events, reference_events, strict=True):
        assert event.title == reference["title"]
        assert event.category == reference["category"]
        assert event.announced == pd.Timestamp(reference["announced"])
        assert event.announced.isoformat() == reference["announced"]
        assert event.time_precision == reference["time_precision"].strip()
        assert event.sources == tuple(s.strip() for s in reference["sources"])


def test_real_file_study_settings(study: StudyConfig):
    settings = study.settings
    assert settings.name == "tariffs-2025"
    assert settings.returns == "simple"
    assert settings.estimation_window == (-260, -11)
    assert settings.event_windows == ((0, 0), (0, 1), (-1, 1), (0, 3), (0, 5), (-5, 10))
    assert settings.exclude_other_events and settings.other_event_exclusion == (0, 1)
    assert settings.min_estimation_returns == 120
    assert settings.model == ModelSpec("market", benchmark="^TOPX", lag=0)
    assert settings.volatility is True


def test_real_file_models_never_measure_an_index_against_itself(study: StudyConfig):
    labels = {a.ticker: study.model_for(a).label() for a in study.studied_assets}
    assert labels["^N225"] == labels["^TOPX"] == "constant_mean"
    assert labels["NIKKEI_SEMI"] == labels["8035.T"] == "market(^TOPX)"
    for asset in study.studied_assets:
        assert asset.ticker not in study.model_for(asset).tickers()


def test_real_file_assets_and_exchanges(study: StudyConfig):
    chips = [a.ticker for a in study.assets if a.group == "chips"]
    assert len(chips) == 13 and "285A.T" in chips
    exchanges = {a.ticker: a.exchange for a in study.assets}
    assert exchanges["NIKKEI_VI"] == exchanges["^N225"] == exchanges["6526.T"] == "XTKS"
    assert exchanges["^GSPC"] == exchanges["^SOX"] == "XNYS"
    assert exchanges["JPY=X"] == "FX"
    benchmarks = {a.ticker for a in study.assets if a.is_benchmark}
    assert benchmarks == {"^GSPC", "^SOX", "JPY=X", "NIKKEI_VI"}


def test_real_file_tags(study: StudyConfig):
    tags = {e.id: set(e.tags) for e in study.events}
    allowed = {"escalation", "de-escalation", "chips", "japan", "implementation", "us-court"}
    assert set().union(*tags.values()) == allowed
    assert not any({"escalation", "de-escalation"} <= t for t in tags.values())
    assert {"implementation"} < tags["steel-alu-25pct-in-force"]
    assert {"de-escalation", "japan"} <= tags["round8-deal-15pct-550bn"]
    assert {"escalation", "chips"} <= tags["chip-tariff-100pct-trump-cook"]
    assert "us-court" in tags["cit-ieepa-ruling"]


# --- the minimal fixture and the parser's conversions ---------------------------------------


def test_minimal_fixture_parses(tmp_path: Path):
    config = load_config(FIXTURE)
    assert config.path == FIXTURE.resolve()
    assert config.settings.prices.snapshot == FIXTURE.parent / "prices"
    assert config.settings.prices.start == pd.Timestamp("2024-01-01")
    assert config.settings.exclusion_window is None
    assert config.settings.other_event_exclusion == (-1, 1)
    advantest = config.asset("6857.T")
    assert advantest.model.factors == (FactorSpec("^TOPX", 0), FactorSpec("^SOX", 1))
    pause = config.events[1]
    assert pause.applies_to("8035.T") and not pause.applies_to("^N225")
    assert config.events[0].applies_to("^N225")
    assert config.all_tickers() == ("^N225", "^TOPX", "8035.T", "6857.T", "^SOX", "JPY=X")


def test_relative_snapshot_resolves_against_the_file_folder(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "study.yaml"
    path.write_text(MINIMAL_TEXT, encoding="utf-8")
    assert load_config(path).settings.prices.snapshot == tmp_path / "sub" / "prices"


def test_unquoted_timestamp_with_offset_is_accepted():
    text = MINIMAL_TEXT.replace("'2025-04-02T16:00:00-04:00'", "2025-04-02T16:00:00-04:00")
    announced = parse_config(text, FILE_NAME).events[0].announced
    assert announced == pd.Timestamp("2025-04-02T20:00:00Z")
    assert announced.utcoffset() == pd.Timedelta(hours=-4)


def test_sources_are_stripped():
    document = minimal()
    document["events"][0]["sources"] = ["  WSJ <https://example.org>  \n "]
    assert parse_config(dump(document), FILE_NAME).events[0].sources == (
        "WSJ <https://example.org>",
    )


@pytest.mark.parametrize(
    ("ticker", "exchange"),
    [
        ("8035.T", "XTKS"),
        ("285A.T", "XTKS"),
        ("^N225", "XTKS"),
        ("^TOPX", "XTKS"),
        ("JPY=X", "FX"),
        ("EURUSD=X", "FX"),
        ("^GSPC", "XNYS"),
        ("NVDA", "XNYS"),
        ("T", "XNYS"),
        ("NIKKEI_SEMI", "XNYS"),  # not a Yahoo symbol: the study file must say exchange: XTKS
        ("BP.L", "XLON"),
        ("SAP.DE", "XETR"),
        ("0700.HK", "XHKG"),
        ("^FTSE", "XLON"),
        ("^HSI", "XHKG"),
    ],
)
def test_infer_exchange(ticker: str, exchange: str):
    assert infer_exchange(ticker) == exchange


def test_explicit_exchange_overrides_inference():
    document = minimal()
    document["assets"][2]["exchange"] = "XNYS"
    assert parse_config(dump(document), FILE_NAME).asset("8035.T").exchange == "XNYS"


# --- malformations: one problem each ------------------------------------------------------------


def edit(change: Callable[[dict], None]) -> str:
    """The fixture with one change applied, as YAML text."""
    document = minimal()
    change(document)
    return dump(document)


def replace_text(old: str, new: str) -> str:
    assert old in MINIMAL_TEXT
    return MINIMAL_TEXT.replace(old, new, 1)


def set_in(path: tuple, value: object) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def delete_in(path: tuple) -> Callable[[dict], None]:
    def change(document: dict) -> None:
        target = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def _duplicate_event(document: dict) -> None:
    document["events"].append(copy.deepcopy(document["events"][0]))


def _only_benchmarks(document: dict) -> None:
    document["assets"] = [
        {"ticker": "^TOPX", "group": "benchmark"},
        {"ticker": "^SOX", "group": "benchmark"},
    ]
    del document["events"][1]["assets"]


def _duplicate_asset(document: dict) -> None:
    document["assets"].append({"ticker": "8035.T", "name": "again", "group": "chips"})


# (case id, broken text, fragments the one-line message must contain)
MALFORMATIONS = [
    (
        "yaml-syntax",
        replace_text("returns: simple", "returns: [simple"),
        ["line 5", "invalid YAML"],
    ),
    (
        "yaml-duplicate-key",
        replace_text("  returns: simple", "  returns: simple\n  returns: log"),
        ["line 5", "duplicate key 'returns'"],
    ),
    (
        "yaml-bad-scalar",
        replace_text("start: 2024-01-01", "start: 2024-02-30"),
        ["line 10", "day is out of range"],
    ),
    ("empty-file", "", ["file is empty"]),
    ("comment-only-file", "# nothing here\n", ["file is empty"]),
    ("top-level-list", "- study\n- assets\n", ["top level must be a mapping", "list"]),
    ("missing-top-key", edit(delete_in(("events",))), ["field 'events'", "missing"]),
    ("unknown-top-key", edit(set_in(("extras",), 1)), ["field 'extras'", "unknown key"]),
    (
        "unknown-study-key",
        edit(set_in(("study", "retruns"), "log")),
        ["field 'study.retruns'", "did you mean 'returns'"],
    ),
    (
        "missing-category",
        edit(delete_in(("events", 1, "category"))),
        ["event 'pause'", "field 'category'", "missing (required)"],
    ),
    (
        "unknown-event-key",
        edit(set_in(("events", 0, "annouced"), "x")),
        ["event 'liberation-day'", "field 'annouced'", "did you mean 'announced'"],
    ),
    (
        "unknown-asset-key",
        edit(set_in(("assets", 2, "sector"), "chips")),
        ["asset '8035.T'", "field 'sector'", "unknown key"],
    ),
    (
        "unknown-model-key",
        edit(set_in(("study", "model", "beta"), 1)),
        ["field 'study.model.beta'", "unknown key"],
    ),
    (
        "unknown-factor-key",
        edit(set_in(("assets", 3, "model", "factors", 0, "weight"), 1)),
        ["asset '6857.T'", "field 'model.factors[0].weight'"],
    ),
    (
        "missing-sources",
        edit(delete_in(("events", 1, "sources"))),
        ["event 'pause'", "field 'sources'", "missing (required)"],
    ),
    (
        "missing-announced",
        edit(delete_in(("events", 0, "announced"))),
        ["event 'liberation-day'", "field 'announced'", "missing (required)"],
    ),
    (
        "asset-without-ticker",
        edit(delete_in(("assets", 2, "ticker"))),
        ["assets[2] (line", "field 'ticker'", "missing (required)"],
    ),
    (
        "event-without-id",
        edit(delete_in(("events", 1, "id"))),
        ["events[1] (line", "field 'id'", "missing"],
    ),
    ("invalid-id", edit(set_in(("events", 1, "id"), "has space")), ["events[1]", "field 'id'"]),
    (
        "duplicate-id",
        edit(_duplicate_event),
        ["event 'liberation-day'", "field 'id'", "duplicate id"],
    ),
    ("duplicate-ticker", edit(_duplicate_asset), ["asset '8035.T'", "field 'ticker'", "duplicate"]),
    (
        "bad-category",
        edit(set_in(("events", 0, "category"), "tariff news")),
        ["event 'liberation-day'", "field 'category'", "must start with a letter or digit"],
    ),
    (
        "naive-timestamp",
        edit(set_in(("events", 0, "announced"), "2025-04-02 16:00")),
        [
            "event 'liberation-day'",
            "field 'announced'",
            "naive timestamp '2025-04-02 16:00' has no UTC offset",
        ],
    ),
    (
        "naive-yaml-timestamp",
        replace_text("'2025-04-02T16:00:00-04:00'", "2025-04-02 16:00:00"),
        ["event 'liberation-day'", "field 'announced'", "naive timestamp"],
    ),
    (
        "date-only-announced",
        replace_text("'2025-04-02T16:00:00-04:00'", "2025-04-02"),
        ["event 'liberation-day'", "field 'announced'", "no time of day"],
    ),
    (
        "unparsable-timestamp",
        edit(set_in(("events", 0, "announced"), "April 2, 4pm ET")),
        ["event 'liberation-day'", "field 'announced'", "unparsable timestamp"],
    ),
    (
        "numeric-announced",
        edit(set_in(("events", 0, "announced"), 20250402)),
        ["event 'liberation-day'", "field 'announced'", "got integer"],
    ),
    (
        "empty-sources",
        edit(set_in(("events", 1, "sources"), [])),
        ["event 'pause'", "field 'sources'", "must not be empty"],
    ),
    (
        "sources-not-a-list",
        edit(set_in(("events", 1, "sources"), "Reuters")),
        ["event 'pause'", "field 'sources'", "expected a list"],
    ),
    (
        "blank-source",
        edit(set_in(("events", 1, "sources"), ["Reuters", "  "])),
        ["event 'pause'", "field 'sources[1]'", "must not be empty"],
    ),
    (
        "tags-not-a-list",
        edit(set_in(("events", 0, "tags"), "escalation")),
        ["event 'liberation-day'", "field 'tags'", "expected a list"],
    ),
    (
        "window-start-after-end",
        edit(set_in(("study", "event_windows", 1), [2, 1])),
        ["field 'study.event_windows[1]'", "start 2 is after end 1"],
    ),
    (
        "window-not-a-pair",
        edit(set_in(("study", "event_windows", 0), [0, 1, 2])),
        ["field 'study.event_windows[0]'", "expected [start, end]"],
    ),
    (
        "estimation-overlaps-events",
        edit(set_in(("study", "estimation_window"), [-120, -1])),
        ["field 'study.estimation_window'", "not before the earliest event-window start -1"],
    ),
    (
        "min-returns-zero",
        edit(set_in(("study", "min_estimation_returns"), 0)),
        ["field 'study.min_estimation_returns'"],
    ),
    (
        "min-returns-above-window",
        edit(set_in(("study", "min_estimation_returns"), 500)),
        ["field 'study.min_estimation_returns'", "110 sessions"],
    ),
    (
        "bad-returns-kind",
        edit(set_in(("study", "returns"), "arithmetic")),
        ["field 'study.returns'", "'arithmetic' is not one of simple, log"],
    ),
    (
        "not-a-boolean",
        edit(set_in(("study", "exclude_other_events"), "sometimes")),
        ["field 'study.exclude_other_events'", "expected true or false"],
    ),
    (
        "unknown-ticker-in-event",
        edit(set_in(("events", 1, "assets"), ["8035.T", "9999.T"])),
        ["event 'pause'", "field 'assets[1]'", "unknown ticker '9999.T'"],
    ),
    (
        "benchmark-in-event",
        edit(set_in(("events", 1, "assets"), ["^SOX"])),
        ["event 'pause'", "field 'assets[0]'", "not studied"],
    ),
    (
        "unknown-model-name",
        edit(set_in(("study", "model"), {"name": "capm", "benchmark": "^TOPX"})),
        ["field 'study.model.name'", "'capm' is not one of"],
    ),
    (
        "unknown-benchmark",
        edit(set_in(("study", "model", "benchmark"), "^TOPIX")),
        ["field 'study.model.benchmark'", "unknown ticker '^TOPIX'"],
    ),
    (
        "unknown-factor",
        edit(set_in(("assets", 3, "model", "factors", 1, "ticker"), "^NDX")),
        ["asset '6857.T'", "field 'model.factors[1].ticker'", "unknown ticker '^NDX'"],
    ),
    (
        "missing-benchmark",
        edit(delete_in(("study", "model", "benchmark"))),
        ["field 'study.model.benchmark'", "missing"],
    ),
    (
        "own-benchmark-via-default",
        edit(delete_in(("assets", 1, "model"))),
        ["asset '^TOPX'", "field 'model'", "own benchmark"],
    ),
    (
        "own-benchmark-via-own-model",
        edit(set_in(("assets", 2, "model"), {"name": "market_adjusted", "benchmark": "8035.T"})),
        ["asset '8035.T'", "field 'model'", "own benchmark"],
    ),
    (
        "own-factor",
        edit(set_in(("assets", 3, "model", "factors", 1, "ticker"), "6857.T")),
        ["asset '6857.T'", "field 'model'", "own benchmark/factor"],
    ),
    (
        "non-integer-lag",
        edit(set_in(("study", "model", "lag"), 0.5)),
        ["field 'study.model.lag'", "expected an integer, got float"],
    ),
    (
        "lag-out-of-range",
        edit(set_in(("study", "model", "lag"), 2)),
        ["field 'study.model.lag'", "2 is not 0"],
    ),
    (
        "string-lag",
        edit(set_in(("assets", 3, "model", "factors", 1, "lag"), "1")),
        ["asset '6857.T'", "field 'model.factors[1].lag'", "expected an integer, got string"],
    ),
    (
        "unknown-exchange",
        edit(set_in(("assets", 2, "exchange"), "TSE")),
        [
            "asset '8035.T'",
            "field 'exchange'",
            "unknown exchange 'TSE'",
            "exchange_calendars.get_calendar_names()",
        ],
    ),
    (
        "benchmark-with-model",
        edit(set_in(("assets", 4, "model"), {"name": "constant_mean"})),
        ["asset '^SOX'", "field 'model'", "not studied"],
    ),
    ("no-studied-asset", edit(_only_benchmarks), ["field 'assets'", "no studied asset"]),
    (
        "prices-start-after-end",
        edit(set_in(("study", "prices", "end"), "2023-01-01")),
        ["field 'study.prices'", "after end"],
    ),
    (
        "event-not-a-mapping",
        edit(set_in(("events", 1), "pause")),
        ["events[1]", "expected a mapping, got string"],
    ),
]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [pytest.param(text, fragments, id=case) for case, text, fragments in MALFORMATIONS],
)
def test_malformed_file_raises_one_line_config_error(text: str, fragments: list[str]):
    """One problem in a file gives exactly one line (no follow-on problems)."""
    message = config_error(text)
    for fragment in fragments:
        assert fragment in message, message


def test_malformations_are_distinct_and_many():
    assert len({text for _, text, _ in MALFORMATIONS}) == len(MALFORMATIONS) >= 18


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"nothere\.yaml: file not found$"):
        load_config(tmp_path / "nothere.yaml")


def test_undecodable_file_is_a_config_error(tmp_path: Path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("study: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="latin1.yaml: cannot read file"):
        load_config(path)


@pytest.mark.parametrize(
    "category", ["tariff_announcement", "tariffs", "rate-decision", "Q1.earnings"]
)
def test_category_is_free_form(category: str):
    text = edit(set_in(("events", 0, "category"), category))
    assert parse_config(text, FILE_NAME).events[0].category == category


# --- fuzzing: nothing but ConfigError ever escapes ----------------------------------------------


def parses_or_config_error(text: str) -> None:
    """Either the text parses or every line of the error names the file."""
    try:
        parse_config(text, FILE_NAME)
    except ConfigError as error:
        lines = str(error).split("\n")
        assert 1 <= len(lines) <= MAX_SHOWN + 1
        for line in lines[:MAX_SHOWN]:
            assert line.startswith(f"{FILE_NAME}: "), line
        assert len(lines) <= MAX_SHOWN or lines[-1].startswith("... and ")


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
YAML_CHARS = st.sampled_from(
    list(":-[]{},#&*!|>'\"%@`?\n\t ") + ["- ", ": ", "\n  ", "0", "a", "x: y"]
)


@FUZZ
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str):
    parses_or_config_error(text)


@FUZZ
@given(
    start=st.integers(0, len(MINIMAL_TEXT)),
    length=st.integers(0, 40),
    insert=st.lists(YAML_CHARS, max_size=8).map("".join),
)
def test_fuzz_mutated_study_text(start: int, length: int, insert: str):
    parses_or_config_error(MINIMAL_TEXT[:start] + insert + MINIMAL_TEXT[start + length :])


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    """Every (key/index) path inside a YAML document."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, prefix + (index,))
    return found


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.dates(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
MINIMAL_PATHS = _paths(minimal())


@FUZZ
@given(path=st.sampled_from(MINIMAL_PATHS), junk=JUNK)
def test_fuzz_junk_values_anywhere(path: tuple, junk: object):
    parses_or_config_error(edit(set_in(path, junk)))


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"name": "constant_mean"}, ModelSpec("constant_mean")),
        (
            {"name": "market_adjusted", "benchmark": "^SOX", "lag": 1},
            ModelSpec("market_adjusted", "^SOX", 1),
        ),
        ({"name": "market", "benchmark": "^TOPX"}, ModelSpec("market", "^TOPX", 0)),
        (
            {"name": "factor", "factors": [{"ticker": "^TOPX"}, {"ticker": "JPY=X", "lag": 1}]},
            ModelSpec("factor", factors=(FactorSpec("^TOPX"), FactorSpec("JPY=X", 1))),
        ),
        (
            {"name": "dimson", "benchmark": "^SOX", "lags": 2, "leads": 0, "lag": 1},
            ModelSpec("dimson", "^SOX", 1, lags=2, leads=0),
        ),
        (
            {"name": "scholes_williams", "benchmark": "^TOPX"},
            ModelSpec("scholes_williams", "^TOPX"),
        ),
    ],
)
def test_every_model_kind_parses(model: dict, expected: ModelSpec):
    assert (
        parse_config(edit(set_in(("study", "model"), model)), FILE_NAME).settings.model == expected
    )


# --- defaults: a newcomer's minimal study ----------------------------------------------------------

NEWCOMER = """
assets:
  - {ticker: ^N225}
  - {ticker: 8035.T, name: Tokyo Electron}
events:
  - id: liberation-day
    category: tariffs
    announced: '2025-04-02T16:00:00-04:00'
    sources: [WSJ]
"""


def test_assets_and_events_alone_make_a_study():
    config = parse_config(NEWCOMER, "studies/my-first-study.yaml")
    defaults = StudySettings(name="my-first-study")
    assert config.settings == defaults
    assert config.settings.name == "my-first-study"  # the file's stem
    assert config.settings.returns == "simple"
    assert config.settings.estimation_window == (-260, -11)
    assert config.settings.event_windows == ((0, 0), (0, 1), (-1, 1), (0, 5))
    assert config.settings.exclude_other_events is True
    assert config.settings.min_estimation_returns == 120
    assert config.settings.model == ModelSpec("constant_mean")
    assert config.report == ReportSettings()
    nikkei, tel = config.assets
    assert (nikkei.name, nikkei.group, nikkei.exchange) == ("^N225", DEFAULT_GROUP, "XTKS")
    assert (tel.name, tel.group) == ("Tokyo Electron", DEFAULT_GROUP)
    event = config.events[0]
    assert (event.title, event.category, event.tags, event.assets) == (
        "liberation-day",
        "tariffs",
        (),
        None,
    )


def test_default_event_windows_equal_the_settings_defaults():
    assert STUDY_DEFAULTS["event_windows"] == StudySettings(name="x").event_windows
    assert set(STUDY_DEFAULTS) == {f for f in StudySettings.__dataclass_fields__ if f != "name"}


def test_empty_study_block_takes_every_default():
    config = parse_config("study:\n" + NEWCOMER, "x.yaml")
    assert config.settings == StudySettings(name="x")


def test_written_values_override_defaults():
    text = "study: {name: mine, returns: log, event_windows: [[0, 2]]}\n" + NEWCOMER
    settings = parse_config(text, FILE_NAME).settings
    assert (settings.name, settings.returns, settings.event_windows) == ("mine", "log", ((0, 2),))
    assert settings.estimation_window == (-260, -11)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ([-260, -11], 120),
        ([-500, -11], 120),
        ([-250, -11], 120),
        ([-120, -11], 55),
        ([-30, -11], 10),
    ],
)
def test_default_min_estimation_returns_fits_a_short_window(window: list[int], expected: int):
    text = f"study: {{estimation_window: {window}}}\n" + NEWCOMER
    assert parse_config(text, FILE_NAME).settings.min_estimation_returns == expected


def test_run_up_windows_against_the_default_estimation_window_say_it_was_defaulted():
    text = "study: {event_windows: [[-20, -1]]}\n" + NEWCOMER
    message = config_error(text)
    assert "field 'study.estimation_window'" in message
    assert "ends at -11 (default)" in message
    assert "earliest event-window start -20" in message


def test_run_up_windows_with_an_earlier_estimation_window_parse():
    text = "study: {event_windows: [[-10, -1], [-5, -1]], estimation_window: [-270, -21]}\n"
    settings = parse_config(text + NEWCOMER, FILE_NAME).settings
    assert settings.event_windows == ((-10, -1), (-5, -1))


def test_model_may_be_written_as_its_name():
    text = "study: {model: constant_mean}\n" + NEWCOMER
    assert parse_config(text, FILE_NAME).settings.model == ModelSpec("constant_mean")


# --- formerly refused valid studies ----------------------------------------------------------------


def test_empty_tags_are_accepted():
    text = edit(set_in(("events", 0, "tags"), []))
    assert parse_config(text, FILE_NAME).events[0].tags == ()


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("XTKS", "XTKS"),
        ("XNYS", "XNYS"),
        ("XNAS", "XNYS"),
        ("NYSE", "XNYS"),
        ("NASDAQ", "XNYS"),
        ("JPX", "XTKS"),
        ("xtks", "XTKS"),
        ("LSE", "XLON"),
        ("XLON", "XLON"),
        ("FX", "FX"),
    ],
)
def test_exchange_aliases_resolve_to_the_canonical_calendar(written: str, canonical: str):
    text = edit(set_in(("assets", 2, "exchange"), written))
    assert parse_config(text, FILE_NAME).asset("8035.T").exchange == canonical


def test_unknown_exchange_suggests_a_close_name():
    message = config_error(edit(set_in(("assets", 2, "exchange"), "XNYX")))
    assert "unknown exchange 'XNYX'" in message and "did you mean 'XNYS'?" in message


# --- all problems of a file in one error -----------------------------------------------------------

MANY_PROBLEMS = """
study:
  retruns: simple
  estimation_window: [-10, -20]
  model: {name: market}
assets:
  - {ticker: ^N225, nmae: Nikkei}
  - {ticker: 8035.T, exchange: TSE}
  - {name: no ticker}
events:
  - {id: e1, category: tariffs, announced: '2025-04-02', sources: [S]}
  - {id: e2, category: bad category, announced: '2025-04-09T13:18:00-04:00', sources: []}
  - {title: no id, category: x, announced: '2025-04-09T13:18:00-04:00', sources: [S]}
"""


def test_every_problem_of_a_file_is_one_line_of_one_error():
    lines = config_errors(MANY_PROBLEMS, "many.yaml")
    assert lines == [
        (
            "many.yaml: field 'study.retruns': unknown key (allowed: name, returns, estimation_window, "
            "event_windows, exclude_other_events, exclusion_window, min_estimation_returns, model, "
            "prices, volatility, volume, total_reactions, group_by); did you mean 'returns'?"
        ),
        "many.yaml: field 'study.estimation_window': start -10 is after end -20",
        "many.yaml: field 'study.model.benchmark': missing (required) (line 5)",
        (
            "many.yaml: asset '^N225': field 'nmae': unknown key (allowed: ticker, name, group, "
            "exchange, model, attributes, kind, yahoo); did you mean 'name'?"
        ),
        lines[4],
        "many.yaml: assets[2] (line 9): field 'ticker': missing (required) (line 9)",
        (
            "many.yaml: event 'e1': field 'announced': date 2025-04-02 has no time of day and UTC "
            "offset (e.g. '2025-04-02T16:00:00-04:00')"
        ),
        lines[7],
        "many.yaml: event 'e2': field 'sources': must not be empty",
        "many.yaml: events[2] (line 13): field 'id': missing (required) (line 13)",
    ]
    assert lines[4].startswith(
        "many.yaml: asset '8035.T': field 'exchange': unknown exchange 'TSE'"
    )
    assert lines[7].startswith("many.yaml: event 'e2': field 'category': 'bad category' must start")


def test_the_error_keeps_every_problem_and_prints_the_first_ten():
    assets = "\n".join(f"  - {{ticker: T{i}.T, colour: red}}" for i in range(14))
    text = (
        f"assets:\n{assets}\n"
        + NEWCOMER.split("events:")[0].replace("assets:", "")
        + ("events:" + NEWCOMER.split("events:")[1])
    )
    with pytest.raises(StudyFileError) as caught:
        parse_config(text, FILE_NAME)
    assert len(caught.value.problems) == 14
    lines = str(caught.value).split("\n")
    assert len(lines) == MAX_SHOWN + 1
    assert lines[-1] == "... and 4 more problems"
    assert all("field 'colour': unknown key" in line for line in lines[:-1])
    assert [line.split("'")[1] for line in lines[:3]] == ["T0.T", "T1.T", "T2.T"]


def test_a_broken_asset_adds_no_follow_on_problems():
    """A benchmark with a bad field is not also reported as an unknown ticker elsewhere."""
    lines = config_errors(edit(set_in(("assets", 1, "kind"), "index")))
    assert len(lines) == 1 and "asset '^TOPX': field 'kind'" in lines[0]
    lines = config_errors(edit(set_in(("assets", 2), "8035.T")))
    assert len(lines) == 1 and "assets[2]: expected a mapping" in lines[0]


# --- new keys ----------------------------------------------------------------------------------------


def test_attributes_kind_and_yahoo_are_parsed():
    document = minimal()
    document["assets"][2].update(
        attributes={"sector33": "Electric Appliances", "size_class": 1, "beta": 1.25},
        yahoo="8035.T",
    )
    document["assets"].append(
        {
            "ticker": "NIKKEI_VI",
            "exchange": "XTKS",
            "group": "benchmark",
            "kind": "volatility_index",
            "yahoo": None,
        }
    )
    config = parse_config(dump(document), FILE_NAME)
    tel = config.asset("8035.T")
    assert dict(tel.attributes) == {
        "sector33": "Electric Appliances",
        "size_class": "1",
        "beta": "1.25",
    }
    assert tel.attribute("sector33") == "Electric Appliances" and tel.attribute("group") == "chips"
    assert tel.kind == "price" and tel.yahoo_symbol == "8035.T"
    vix = config.asset("NIKKEI_VI")
    assert (vix.kind, vix.yahoo, vix.yahoo_symbol, vix.exchange) == (
        "volatility_index",
        None,
        None,
        "XTKS",
    )
    assert config.asset("^N225").yahoo_symbol == "^N225"


def test_model_reaction_overrides_the_inferred_reaction():
    document = minimal()
    document["assets"][2]["model"] = {"name": "market", "benchmark": "^TOPX", "reaction": "total"}
    config = parse_config(dump(document), FILE_NAME)
    assert config.reaction_of(config.asset("8035.T")) == "total"
    assert config.reaction_of(config.asset("6857.T")) == "relative"
    assert config.reaction_of(config.asset("^N225")) == "total"


def test_total_reactions_group_by_and_proxies_are_parsed():
    document = minimal()
    document["assets"][2]["attributes"] = {"sector17": "ELECTRIC"}
    document["study"].update(total_reactions=False, group_by=["group", "sector17"])
    document["study"]["prices"]["proxies"] = {"^TOPX": "1306.T"}
    settings = parse_config(dump(document), FILE_NAME).settings
    assert settings.total_reactions is False
    assert settings.group_by == ("group", "sector17")
    assert dict(settings.prices.proxies) == {"^TOPX": "1306.T"}


def test_report_block_is_parsed():
    document = minimal()
    document["report"] = {
        "title": "Tariffs",
        "question": "Did chips fall?",
        "key_events": ["pause", "liberation-day"],
        "headline_windows": [[0, 1]],
        "market_group": "index",
        "joint": [["liberation-day", "pause"]],
        "cross_section": "car ~ C(group) + beta_topx",
    }
    report = parse_config(dump(document), FILE_NAME).report
    assert report == ReportSettings(
        title="Tariffs",
        question="Did chips fall?",
        key_events=("pause", "liberation-day"),
        headline_windows=((0, 1),),
        market_group="index",
        joint=(("liberation-day", "pause"),),
        cross_section="car ~ C(group) + beta_topx",
    )


@pytest.mark.parametrize(("value", "expected"), [(None, True), (False, False), (True, True)])
def test_study_volume_switch_is_parsed(value, expected):
    document = minimal()
    if value is not None:
        document.setdefault("study", {})["volume"] = value
    assert parse_config(dump(document), FILE_NAME).settings.volume is expected


def test_bad_volume_switch_and_report_formula_are_one_line_each():
    document = minimal()
    document.setdefault("study", {})["volume"] = "sometimes"
    document["report"] = {"cross_section": ["car ~ x"]}
    lines = config_errors(dump(document), FILE_NAME)
    assert len(lines) == 2
    assert "field 'study.volume'" in lines[0] and "'sometimes'" in lines[0]
    assert "field 'report.cross_section'" in lines[1]


def with_report(**report: object) -> str:
    document = minimal()
    document["report"] = report
    return dump(document)


NEW_KEY_PROBLEMS = [
    (
        "attribute-bool",
        edit(set_in(("assets", 2, "attributes"), {"listed": True})),
        ["asset '8035.T'", "field 'attributes.listed'", "expected text or a number"],
    ),
    (
        "attribute-named-group",
        edit(set_in(("assets", 2, "attributes"), {"group": "x"})),
        ["asset '8035.T'", "field 'attributes.group'", "asset field, not an attribute"],
    ),
    (
        "attributes-not-a-mapping",
        edit(set_in(("assets", 2, "attributes"), ["a", "b"])),
        ["asset '8035.T'", "field 'attributes'", "expected a mapping"],
    ),
    (
        "bad-kind",
        edit(set_in(("assets", 2, "kind"), "stock")),
        ["asset '8035.T'", "field 'kind'", "'stock' is not one of price, volatility_index"],
    ),
    (
        "empty-yahoo",
        edit(set_in(("assets", 2, "yahoo"), " ")),
        ["asset '8035.T'", "field 'yahoo'", "write null"],
    ),
    (
        "bad-reaction",
        edit(set_in(("study", "model", "reaction"), "abnormal")),
        ["field 'study.model.reaction'", "'abnormal' is not one of total, relative"],
    ),
    (
        "total-reactions-not-boolean",
        edit(set_in(("study", "total_reactions"), "yes")),
        ["field 'study.total_reactions'", "expected true or false"],
    ),
    (
        "group-by-unknown-attribute",
        edit(set_in(("study", "group_by"), ["group", "sector33"])),
        ["field 'study.group_by[1]'", "no studied asset carries the attribute 'sector33'"],
    ),
    (
        "group-by-empty",
        edit(set_in(("study", "group_by"), [])),
        ["field 'study.group_by'", "must not be empty"],
    ),
    (
        "proxy-unknown-ticker",
        edit(set_in(("study", "prices", "proxies"), {"^TOPIX": "1306.T"})),
        ["field 'study.prices.proxies.^TOPIX'", "unknown ticker '^TOPIX'", "did you mean '^TOPX'"],
    ),
    (
        "proxy-empty-symbol",
        edit(set_in(("study", "prices", "proxies"), {"^TOPX": ""})),
        ["field 'study.prices.proxies.^TOPX'", "must not be empty"],
    ),
    (
        "report-unknown-key",
        with_report(key_event=["pause"]),
        ["field 'report.key_event'", "did you mean 'key_events'"],
    ),
    (
        "report-unknown-event",
        with_report(key_events=["liberation-day", "paus"]),
        ["field 'report.key_events[1]'", "unknown event id 'paus'", "did you mean 'pause'"],
    ),
    (
        "report-window-not-studied",
        with_report(headline_windows=[[0, 3]]),
        ["field 'report.headline_windows[0]'", "[0, 3] is not one of study.event_windows"],
    ),
    (
        "report-unknown-market-group",
        with_report(market_group="indices"),
        ["field 'report.market_group'", "no studied asset is in group 'indices'", "'index'"],
    ),
    (
        "report-benchmark-market-group",
        with_report(market_group="benchmark"),
        ["field 'report.market_group'", "no studied asset is in group 'benchmark'"],
    ),
    (
        "report-joint-single-event",
        with_report(joint=[["pause"]]),
        ["field 'report.joint[0]'", "at least two events"],
    ),
    (
        "report-joint-unknown-event",
        with_report(joint=[["pause", "liberation"]]),
        ["field 'report.joint[0][1]'", "unknown event id 'liberation'"],
    ),
    (
        "report-joint-not-nested",
        with_report(joint=["pause", "liberation-day"]),
        ["field 'report.joint[0]'", "expected a list"],
    ),
    (
        "report-not-a-mapping",
        with_report().replace("report: {}", "report: [pause]"),
        ["field 'report'", "expected a mapping"],
    ),
]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [pytest.param(text, fragments, id=case) for case, text, fragments in NEW_KEY_PROBLEMS],
)
def test_new_key_problems_are_one_line(text: str, fragments: list[str]):
    message = config_error(text)
    for fragment in fragments:
        assert fragment in message, message


def test_group_by_accepts_an_attribute_carried_by_some_assets():
    document = minimal()
    document["assets"][3]["attributes"] = {"size_class": "Core30"}
    document["study"]["group_by"] = ["size_class"]
    assert parse_config(dump(document), FILE_NAME).settings.group_by == ("size_class",)


def test_the_real_file_declares_its_report_and_series_yahoo_lacks(study: StudyConfig):
    ids = {e.id for e in study.events}
    report = study.report
    assert report.key_events == ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause")
    assert set(report.key_events) <= ids
    assert report.headline_windows == ((0, 1), (0, 3))
    assert report.market_group == "index"
    assert report.joint == (report.key_events,)
    semi, vi = study.asset("NIKKEI_SEMI"), study.asset("NIKKEI_VI")
    assert semi.yahoo_symbol is None and vi.yahoo_symbol is None
    assert (semi.kind, vi.kind) == ("price", "volatility_index")


def test_the_real_file_points_users_at_no_workshop_file(repo_root: Path):
    text = (repo_root / "events.yaml").read_text(encoding="utf-8")
    for word in ("../shared", "METHODS", "DESIGN"):
        assert word not in text


def test_nothing_users_read_points_at_the_workshop(repo_root: Path):
    """README, docs, notebooks, studies and the package cite only the repository or public
    sources: users have no ../shared, METHODS.md or DESIGN.md."""
    files = [repo_root / "README.md", repo_root / "events.yaml"]
    for folder, pattern in (("docs", "*.md"), ("notebooks", "*.py"), ("notebooks", "*.ipynb"),
                            ("studies", "*"), ("eventstudy", "*.py")):
        files += sorted((repo_root / folder).rglob(pattern))
    offending = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for word in ("../shared", "METHODS", "DESIGN.md", "amendment"):
            if word in text:
                offending.append(f"{path.relative_to(repo_root)}: {word}")
    assert not offending, offending


def test_optional_keys_written_as_null_take_their_defaults():
    text = """
study: {name: null, exclusion_window: null, model: null, prices: {snapshot: null, start: null}}
report: {title: null, key_events: null}
assets:
  - {ticker: ^N225, name: null, group: null, exchange: null, yahoo: null}
events:
  - {id: e1, title: null, tags: null, assets: null, category: x,
     announced: '2025-04-02T16:00:00-04:00', sources: [S]}
"""
    config = parse_config(text, "nulls.yaml")
    assert config.settings == StudySettings(name="nulls")
    assert config.report == ReportSettings()
    nikkei = config.asset("^N225")
    assert (nikkei.name, nikkei.group, nikkei.exchange, nikkei.yahoo_symbol) == (
        "^N225",
        DEFAULT_GROUP,
        "XTKS",
        None,  # yahoo: null means "not on Yahoo", not the default
    )
    assert config.events[0].title == "e1" and config.events[0].assets is None
    lines = config_errors(
        text.replace("id: e1", "id: null").replace("sources: [S]", "sources: null")
    )
    assert [line.split(": ")[2] for line in lines] == ["field 'id'", "field 'sources'"]


def test_a_broken_asset_hides_no_group_from_the_report_check():
    document = minimal()
    document["assets"][0]["kind"] = "level"  # ^N225 fails, and only it is in group 'index'
    document["assets"][1]["group"] = "market"
    document["report"] = {"market_group": "index"}
    lines = config_errors(dump(document))
    assert len(lines) == 1 and "asset '^N225': field 'kind'" in lines[0]


def test_an_asset_is_found_by_ticker_in_a_large_study():
    """``StudyConfig.asset`` is a dict look-up (the first asset of a ticker named twice, as the
    scan it replaces returned); an unknown ticker is a KeyError naming it."""
    from eventstudy.events import Asset, StudyConfig, StudySettings

    assets = tuple(Asset(f"S{i}.T", f"stock {i}", "XTKS", "stocks") for i in range(3000))
    twin = Asset("S7.T", "a second S7.T", "XTKS", "other")
    config = StudyConfig(StudySettings(name="big"), (*assets, twin), ())
    assert config.asset("S2999.T") is assets[2999] and config.asset("S7.T") is assets[7]
    with pytest.raises(KeyError, match="NOPE"):
        config.asset("NOPE")
