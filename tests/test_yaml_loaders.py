"""Study files are parsed by libyaml, and a refused text again by PyYAML for its messages:
both loaders must read every study file the same, marks (lines) included."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from eventstudy import study_fields
from eventstudy.errors import ConfigError
from eventstudy.study_fields import LineDict

REPO = Path(__file__).resolve().parent.parent
STUDY_FILES = sorted(
    path for path in [REPO / "events.yaml", *REPO.glob("studies/*.yaml"), *REPO.glob("tests/**/*.yaml")]
)


def _same(a: object, b: object) -> bool:
    """Equal values, and equal start lines for every mapping."""
    if type(a) is not type(b):
        return False
    if isinstance(a, LineDict):
        return a.line == b.line and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_the_fast_loader_is_libyaml_where_pyyaml_has_it():
    assert issubclass(study_fields._FastStrictLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert len(STUDY_FILES) > 40


@pytest.mark.parametrize("path", STUDY_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_both_loaders_read_every_study_file_the_same(path: Path):
    text = path.read_text(encoding="utf-8")
    try:
        slow = yaml.load(text, Loader=study_fields._StrictLoader)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            yaml.load(text, Loader=study_fields._FastStrictLoader)
        return
    fast = yaml.load(text, Loader=study_fields._FastStrictLoader)
    assert _same(fast, slow)


class _Where:
    def error(self, field, message):
        return ConfigError(f"study.yaml: {message}")


@pytest.mark.parametrize("text, expected", [
    ("study:\n\tname: a\n", ("line 2, column 1: invalid YAML: while scanning for the next token, "
                            "found character '\\t' that cannot start any token")),
    ("study: *x\n", "line 1, column 8: invalid YAML: found undefined alias 'x'"),
    ("study:\n  name: a\n  name: b\n", "line 3, column 3: invalid YAML: duplicate key 'name'"),
    ("study:\n  d: 2025-02-30\n", ("line 2, column 6: invalid YAML: invalid value '2025-02-30': "
                                  "day is out of range for month")),
    ("a: " + "[" * 2000 + "]" * 2000 + "\n", "invalid YAML: nesting too deep"),
])
def test_refused_texts_keep_pyyamls_messages(text: str, expected: str):
    with pytest.raises(ConfigError) as caught:
        study_fields.read_yaml(text, _Where(), "study, events")
    assert str(caught.value) == f"study.yaml: {expected}"


FEATURES = (
    "\ufeff# comment\r\n"
    "defaults: &defaults {returns: simple, estimation_window: [-260, -11]}\r\n"
    "study:\r\n"
    "  <<: *defaults\r\n"
    "  name: \"日本 'chips'\"\r\n"
    "  event_windows: [[0, 0], [-1, 1]]\r\n"
    "  note: |\r\n"
    "    two\r\n"
    "    lines\r\n"
    "  'quoted key': ~\r\n"
    "events:\r\n"
    "- {id: a, announced: 2025-04-02T16:00:00-04:00, sources: [x]}\r\n"
    "- id: b\r\n"
    "  announced: '2025-04-09 13:18:00-04:00'\r\n"
    "  weight: 1.5e-3\r\n"
    "  count: 0x1F\r\n"
    "  flag: yes\r\n"
)


def test_both_loaders_read_anchors_merges_crlf_bom_and_unicode_the_same():
    slow = yaml.load(FEATURES, Loader=study_fields._StrictLoader)
    fast = yaml.load(FEATURES, Loader=study_fields._FastStrictLoader)
    assert _same(fast, slow)
    assert fast["study"]["returns"] == "simple" and fast["study"].line == 4
    assert fast["events"][1].line == 13


def test_a_stream_of_two_documents_is_refused_with_pyyamls_message():
    with pytest.raises(ConfigError, match=r"line 2, column 1: invalid YAML: expected a single document"):
        study_fields.read_yaml("a: 1\n---\nb: 2\n", _Where(), "study, events")
