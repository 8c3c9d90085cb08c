"""Every study file of the corpus in tests/studies parses, or is refused, as its first line says."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from eventstudy.data import SnapshotSource
from eventstudy.errors import ConfigError
from eventstudy.events import load_config

STUDIES = Path(__file__).parent / "studies"
EXPECT = re.compile(r"# expect: (ok|error: (.+))")
FILES = sorted(STUDIES.glob("*.yaml"))
PARSE_FILES = [path for path in FILES if path.name.startswith("parse-")]


def expectation(path: Path) -> str | None:
    """None when the file must be valid, else the fragment its error must contain."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = EXPECT.fullmatch(first.strip())
    assert match, f"{path.name}: first line must be '# expect: ok' or '# expect: error: ...'"
    return match.group(2)


@pytest.mark.parametrize("path", FILES, ids=[path.name for path in FILES])
def test_study_file_parses_as_expected(path: Path):
    fragment = expectation(path)
    if fragment is None:
        load_config(path)
        return
    try:
        load_config(path)
    except ConfigError as error:
        message = str(error)
        assert fragment in message, message
        for line in message.split("\n"):
            assert line.startswith((str(path.parent), "... and ")), line
        return
    assert not path.name.startswith("parse-"), f"{path.name} parsed, expected: {fragment}"


def test_the_corpus_is_varied():
    expected = [expectation(path) for path in PARSE_FILES]
    valid = expected.count(None)
    assert len(PARSE_FILES) >= 20
    assert valid >= 10 and len(PARSE_FILES) - valid >= 10


def test_a_file_with_several_problems_lists_them_all():
    with pytest.raises(ConfigError) as caught:
        load_config(STUDIES / "parse-bad-many-problems.yaml")
    fields = [
        re.search(r"field '([^']+)'", line).group(1) for line in str(caught.value).split("\n")
    ]
    assert fields == ["study.returns", "study.event_windows[0]", "kind", "announced", "sources"]


@pytest.mark.realdata
@pytest.mark.parametrize(
    "path",
    [p for p in PARSE_FILES if expectation(p) is None],
    ids=[p.name for p in PARSE_FILES if expectation(p) is None],
)
def test_valid_files_use_snapshot_tickers_and_recent_events(path: Path, snapshot_dir: Path):
    config = load_config(path)
    source = SnapshotSource(snapshot_dir)
    missing = [a.ticker for a in config.assets if source.path_of(a.ticker) is None]
    assert not missing, f"{path.name}: not in the snapshot: {missing}"
    for event in config.events:
        assert (
            pd.Timestamp("2024-01-01", tz="UTC")
            <= event.announced
            < pd.Timestamp("2026-01-01", tz="UTC")
        ), event.id
