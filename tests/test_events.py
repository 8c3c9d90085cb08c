"""events.yaml parsing and validation: the real study file, one malformation at a time, fuzzing."""

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
from eventstudy.study_fields import MAX_SHOWN
from eventstudy.events import (
    FactorSpec,
    ModelSpec,
    StudyConfig,
    infer_exchange,
    load_config,
    parse_config,
)

FIXTURE = Path(__file__).parent / "fixtures" / "events" / "minimal.yaml"
FILE_NAME = "broken-study.yaml"
MINIMAL_TEXT = FIXTURE.read_text(encoding="utf-8")


def minimal() -> dict:
    """The valid fixture as plain Python data, ready to be broken."""
    return yaml.safe_load(MINIMAL_TEXT)


def dump(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def config_error(text: str) -> str:
    """Parse ``text`` expecting a ConfigError; return its message after the common checks."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, FILE_NAME)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{FILE_NAME}: ")
    return message


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
        ("NIKKEI_SEMI", "XTKS"),
        ("NIKKEI_VI", "XTKS"),
        ("JPY=X", "FX"),
        ("EURUSD=X", "FX"),
        ("^GSPC", "XNYS"),
        ("NVDA", "XNYS"),
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
        "missing-study-key",
        edit(delete_in(("study", "min_estimation_returns"))),
        ["field 'study.min_estimation_returns'", "missing"],
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
        "missing-event-key",
        edit(delete_in(("events", 1, "title"))),
        ["event 'pause'", "field 'title'", "missing"],
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
        edit(set_in(("events", 0, "category"), "tariffs")),
        ["event 'liberation-day'", "field 'category'", "'tariffs' is not one of"],
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
        ["asset '8035.T'", "field 'exchange'", "unknown exchange 'TSE'"],
    ),
    (
        "benchmark-with-model",
        edit(set_in(("assets", 4, "model"), {"name": "constant_mean"})),
        ["asset '^SOX'", "field 'model'", "not studied"],
    ),
    (
        "no-studied-asset",
        edit(set_in(("assets",), [{"ticker": "^SOX", "name": "S", "group": "benchmark"}])),
        ["field 'assets'", "no studied asset"],
    ),
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


@pytest.mark.parametrize("category", ["tariff_announcement", "tariffs", "rate-decision", "Q1.earnings"])
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
