"""Reading a study file's YAML and checking its fields one at a time, collecting every problem.

A study file is validated in one pass: each field that fails adds one line to a
:class:`Problems` collection (file, event or asset, field, what is wrong) and parsing goes on,
so the user sees every missing, unknown or wrong key of the file in one
:class:`StudyFileError` instead of one per rerun. The single-field checks below raise a
:class:`~eventstudy.errors.ConfigError` for their own field; :meth:`Problems.take` records it.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TypeVar

import pandas as pd
import yaml

from eventstudy.errors import ConfigError

T = TypeVar("T")
MAX_SHOWN = 10
"""At most this many problem lines are printed; the rest are counted in a last line."""


class StudyFileError(ConfigError):
    """Every problem of one study file: ``str()`` has one line per problem.

    ``problems`` keeps all lines; the message shows the first :data:`MAX_SHOWN` and then
    ``... and N more problems``. A file with one problem gives exactly one line.

    Examples
    --------
    >>> print(StudyFileError(["a.yaml: field 'x': missing", "a.yaml: field 'y': missing"]))
    a.yaml: field 'x': missing
    a.yaml: field 'y': missing
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        shown = list(self.problems[:MAX_SHOWN])
        hidden = len(self.problems) - len(shown)
        if hidden:
            shown.append(f"... and {hidden} more problem{'s' if hidden > 1 else ''}")
        super().__init__("\n".join(shown))


@dataclass(frozen=True)
class Where:
    """Where a problem sits: a file, inside it an event/asset/row (``subject``), then a field.

    ``noun`` names the field kind in messages (``field`` in a study file, ``column`` in a CSV).
    """

    file: str
    subject: str | None = None
    noun: str = "field"

    def at(self, subject: str) -> Where:
        return replace(self, subject=subject)

    def error(self, field_name: str | None, problem: str) -> ConfigError:
        """The one-line error ``file: subject: field 'name': problem``."""
        parts = [self.file]
        if self.subject:
            parts.append(self.subject)
        if field_name:
            parts.append(f"{self.noun} '{field_name}'")
        parts.append(problem)
        return ConfigError(" ".join(": ".join(parts).split()))


class Problems:
    """The problems found so far in one study file (and the files it reads)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, error: ConfigError) -> None:
        if isinstance(error, StudyFileError):
            self.lines.extend(error.problems)
        else:
            self.lines.append(str(error))

    def take(self, parse: Callable[[], T]) -> T | None:
        """``parse()``, or None after recording its ConfigError."""
        try:
            return parse()
        except ConfigError as error:
            self.add(error)
            return None

    def mark(self) -> int:
        """A position to ask :meth:`since` whether anything was added after it."""
        return len(self.lines)

    def since(self, mark: int) -> bool:
        return len(self.lines) > mark

    def raise_if_any(self) -> None:
        if self.lines:
            raise StudyFileError(self.lines)


# --- rendering user values ---------------------------------------------------------------------

_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60


def show(value: object) -> str:
    """A short one-line rendering of a user value for messages."""
    return _REPR.repr(value)


def kind(value: object) -> str:
    """The YAML-level kind of a value, for 'expected X, got Y' messages."""
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer"}
    for python_type, name in names.items():
        if isinstance(value, python_type):
            return name
    return "empty value" if value is None else type(value).__name__


def line_of(value: object) -> str:
    """`` (line n)`` for a mapping read from YAML, else ''."""
    line = getattr(value, "line", None)
    return f" (line {line})" if line else ""


def suggestion(word: object, choices: Iterable[str]) -> str:
    """``; did you mean 'x'?`` for the closest choice, or ''."""
    hint = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"; did you mean '{hint[0]}'?" if hint else ""


# --- YAML ----------------------------------------------------------------------------------------


class LineDict(dict):
    """A YAML mapping that remembers the (1-based) line it starts on."""

    line: int = 0


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, records mapping lines and reports bad scalars with a line."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in mapping
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "found an unhashable key", key_node.start_mark
            ) from None
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {show(key)}", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _with_mark(construct):
    """Wrap a scalar constructor so a ValueError becomes a YAML error that carries the line."""

    def construct_scalar(loader: _StrictLoader, node: yaml.ScalarNode) -> object:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid value {show(node.value)}: {exc}", node.start_mark
            ) from None

    return construct_scalar


class _FastStrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """:class:`_StrictLoader` on libyaml's parser where PyYAML was built with it (its wheels
    are): the same documents, parsed in C (0.15 of the 0.17 s a study of 46 events with their
    sources took in pure Python)."""


for _loader in (_StrictLoader, _FastStrictLoader):
    _loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    for _tag, _construct in (
        ("tag:yaml.org,2002:int", yaml.SafeLoader.construct_yaml_int),
        ("tag:yaml.org,2002:float", yaml.SafeLoader.construct_yaml_float),
        ("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_timestamp),
    ):
        _loader.add_constructor(_tag, _with_mark(_construct))


def _load_yaml(text: str) -> object:
    """The document of ``text``, parsed by libyaml; a text it refuses is parsed again by PyYAML,
    whose messages name what they found (libyaml's: "found character that cannot start any
    token", PyYAML's: "found character '\\t' that cannot start any token")."""
    try:
        return yaml.load(text, Loader=_FastStrictLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_StrictLoader)


def read_yaml(text: str, where: Where, expected: str) -> LineDict:
    """Parse YAML text into its top-level mapping; every failure is one ConfigError line.

    ``expected`` names the top-level keys in the messages about an empty or non-mapping file.
    """
    try:
        document = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise where.error(None, _describe_yaml_error(exc)) from None
    except RecursionError:
        raise where.error(None, "invalid YAML: nesting too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise where.error(None, f"invalid YAML: {exc}") from None
    if document is None:
        raise where.error(None, f"file is empty (expected the keys {expected})")
    if not isinstance(document, dict):
        raise where.error(
            None, f"top level must be a mapping with keys {expected}, not a {kind(document)}"
        )
    return document


def _describe_yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {problem}" if context else problem
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: invalid YAML: {detail}"
    return f"invalid YAML: {detail}"


# --- single-field checks (each raises a ConfigError for its field) -----------------------------


def check_keys(
    mapping: dict,
    allowed: Sequence[str],
    required: Sequence[str],
    where: Where,
    problems: Problems,
    prefix: str = "",
) -> bool:
    """Record every unknown key (with a did-you-mean hint) and every missing required key.

    Returns True when the mapping has neither.
    """
    mark = problems.mark()
    for key in mapping:
        if key not in allowed:
            problems.add(
                where.error(
                    f"{prefix}{key}",
                    f"unknown key (allowed: {', '.join(allowed)}){suggestion(key, allowed)}",
                )
            )
    for key in required:
        if key not in mapping:
            problems.add(where.error(f"{prefix}{key}", f"missing (required){line_of(mapping)}"))
    return not problems.since(mark)


def without_nulls(mapping: dict, optional: Iterable[str]) -> dict:
    """The mapping without its ``optional`` keys written as null (``key: null`` = the default)."""
    optional = set(optional)
    kept = LineDict((k, v) for k, v in mapping.items() if v is not None or k not in optional)
    kept.line = getattr(mapping, "line", 0)
    return kept


def mapping_of(value: object, where: Where, field_name: str | None) -> dict:
    if not isinstance(value, dict):
        raise where.error(field_name, f"expected a mapping, got {kind(value)} {show(value)}")
    return value


def list_of(value: object, where: Where, field_name: str, *, allow_empty: bool = False) -> list:
    if not isinstance(value, list):
        raise where.error(field_name, f"expected a list, got {kind(value)} {show(value)}")
    if not value and not allow_empty:
        raise where.error(field_name, "must not be empty")
    return value


def text(value: object, where: Where, field_name: str) -> str:
    """A non-empty string, stripped of surrounding whitespace."""
    if not isinstance(value, str):
        raise where.error(field_name, f"expected a string, got {kind(value)} {show(value)}")
    if not value.strip():
        raise where.error(field_name, "must not be empty")
    return value.strip()


def integer(value: object, where: Where, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(field_name, f"expected an integer, got {kind(value)} {show(value)}")
    return value


def non_negative(value: object, where: Where, field_name: str) -> int:
    number = integer(value, where, field_name)
    if number < 0:
        raise where.error(field_name, f"{number} must be >= 0")
    return number


def boolean(value: object, where: Where, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise where.error(field_name, f"expected true or false, got {kind(value)} {show(value)}")
    return value


def choice(value: object, choices: Sequence[str], where: Where, field_name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise where.error(
            field_name,
            f"{show(value)} is not one of {', '.join(choices)}{suggestion(value, choices)}",
        )
    return value


def identifier(value: object, pattern, where: Where, field_name: str, example: str) -> str:
    """A string matching ``pattern`` (letters, digits, '.', '_', '-'; first a letter or digit)."""
    name = text(value, where, field_name)
    if not pattern.fullmatch(name):
        raise where.error(
            field_name,
            f"{show(name)} must start with a letter or digit and contain only letters, digits, "
            f"'.', '_' and '-' (e.g. {example})",
        )
    return name


def strings(
    value: object, where: Where, field_name: str, *, allow_empty: bool = False
) -> tuple[str, ...]:
    """A list of distinct non-empty strings, each stripped of surrounding whitespace."""
    items = list_of(value, where, field_name, allow_empty=allow_empty)
    found = tuple(text(item, where, f"{field_name}[{i}]") for i, item in enumerate(items))
    for i, entry in enumerate(found):
        if entry in found[:i]:
            raise where.error(f"{field_name}[{i}]", f"duplicate entry {show(entry)}")
    return found


def window(value: object, where: Where, field_name: str) -> tuple[int, int]:
    """A ``[start, end]`` pair of session offsets with start <= end."""
    if not isinstance(value, list) or len(value) != 2:
        raise where.error(field_name, f"expected [start, end], got {show(value)}")
    start = integer(value[0], where, f"{field_name}[0]")
    end = integer(value[1], where, f"{field_name}[1]")
    if start > end:
        raise where.error(field_name, f"start {start} is after end {end}")
    return (start, end)


def windows(value: object, where: Where, field_name: str) -> tuple[tuple[int, int], ...]:
    """A non-empty list of distinct windows."""
    items = list_of(value, where, field_name)
    found = tuple(window(item, where, f"{field_name}[{i}]") for i, item in enumerate(items))
    for i, entry in enumerate(found):
        if entry in found[:i]:
            raise where.error(f"{field_name}[{i}]", f"duplicate window {list(entry)}")
    return found


def calendar_date(value: object, where: Where, field_name: str) -> pd.Timestamp:
    """A date written ``YYYY-MM-DD`` (quoted or not)."""
    if isinstance(value, datetime):
        raise where.error(field_name, f"expected a date (YYYY-MM-DD), got the timestamp {value}")
    if isinstance(value, date):
        return pd.Timestamp(value)
    if isinstance(value, str):
        try:
            return pd.Timestamp(date.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise where.error(field_name, f"expected a date (YYYY-MM-DD), got {show(value)}")


def timestamp_with_offset(value: object, where: Where, field_name: str) -> pd.Timestamp:
    """An ISO 8601 timestamp with UTC offset (string, or a datetime PyYAML already parsed)."""
    example = "e.g. '2025-04-02T16:00:00-04:00'"
    if isinstance(value, datetime):
        moment, shown = value, value.isoformat(sep=" ")
    elif isinstance(value, date):
        raise where.error(field_name, f"date {value} has no time of day and UTC offset ({example})")
    elif isinstance(value, str):
        shown = value.strip()
        try:
            moment = datetime.fromisoformat(shown)
        except ValueError:
            raise where.error(
                field_name,
                f"unparsable timestamp {show(shown)} (expected ISO 8601 with offset, {example})",
            ) from None
    else:
        raise where.error(
            field_name, f"expected an ISO 8601 timestamp string ({example}), got {kind(value)}"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        if len(shown) == len("2025-04-02"):
            raise where.error(
                field_name, f"date {shown} has no time of day and UTC offset ({example})"
            )
        raise where.error(field_name, f"naive timestamp {show(shown)} has no UTC offset")
    return pd.Timestamp(moment)
