"""The effective settings of a study file, every default filled in (``events check --explain``).

The text is YAML: its ``study``, ``report`` and ``assets`` blocks, pasted into a study file
with the original events, give the same study. Comments mark each value the file leaves to
default and summarise the assets and events.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from eventstudy.events import ModelSpec, StudyConfig
from eventstudy.study_parser import ParsedStudy, read_study
from eventstudy.study_schema import REPORT_KEYS, STUDY_KEYS

MAX_LISTED_ASSETS = 40
"""Longer asset lists are summarised after this many entries."""

_DEFAULT_NOTES = {
    "study.name": "default: the file name",
    "study.min_estimation_returns": "default: 120, at most half the estimation window",
    "study.exclusion_window": "default: null = the span of event_windows",
}


def explain_study(path: str | Path, *, assets_from: str | Path | None = None) -> str:
    """Read a study file and describe its effective settings (see :func:`explain`).

    Examples
    --------
    >>> print(explain_study("events.yaml"))  # doctest: +SKIP
    # Effective settings of events.yaml ...
    """
    return explain(read_study(path, assets_from=assets_from))


def explain(parsed: ParsedStudy) -> str:
    """YAML text of the effective ``study``, ``report`` and ``assets``, with counts of events."""
    config = parsed.config
    lines = [
        f"# Effective settings of {_shown_path(config)}: every default filled in.",
        '# "# default" marks a value the file does not write (docs/study-file.md lists them).',
        "study:" + ("  # default: the whole block" if "study" in parsed.defaulted else ""),
    ]
    for key in STUDY_KEYS:
        value = _study_value(config, key)
        lines.append(_line(f"  {key}: {_flow(value)}", _note(parsed, f"study.{key}")))
    lines.append(
        "report:" + ("  # default: chosen by the report" if "report" in parsed.defaulted else "")
    )
    for key in REPORT_KEYS:
        value = getattr(config.report, key)
        note = "default: chosen by the report" if f"report.{key}" in parsed.defaulted else ""
        lines.append(_line(f"  {key}: {_flow(_plain(value))}", note))
    lines += _asset_lines(parsed)
    lines += _event_lines(parsed)
    return "\n".join(lines) + "\n"


def _shown_path(config: StudyConfig) -> str:
    if config.path is None:
        return "the study file"
    try:
        return str(config.path.relative_to(Path.cwd()))
    except ValueError:
        return str(config.path)


def _note(parsed: ParsedStudy, key: str) -> str:
    if key not in parsed.defaulted:
        return ""
    return _DEFAULT_NOTES.get(key, "default")


def _line(text: str, note: str) -> str:
    return f"{text}  # {note}" if note else text


def _study_value(config: StudyConfig, key: str) -> object:
    settings = config.settings
    if key == "model":
        return model_mapping(settings.model)
    if key == "prices":
        prices = settings.prices
        return {
            "snapshot": None if prices.snapshot is None else str(prices.snapshot),
            "start": None if prices.start is None else f"{prices.start:%Y-%m-%d}",
            "end": None if prices.end is None else f"{prices.end:%Y-%m-%d}",
            "proxies": dict(prices.proxies),
        }
    return _plain(getattr(settings, key))


def model_mapping(model: ModelSpec) -> dict:
    """A model as written in a study file, with only the keys its kind takes.

    Examples
    --------
    >>> model_mapping(ModelSpec("market", benchmark="^TOPX"))
    {'name': 'market', 'benchmark': '^TOPX', 'lag': 0}
    """
    written: dict = {"name": model.name}
    if model.name == "factor":
        written["factors"] = [{"ticker": f.ticker, "lag": f.lag} for f in model.factors]
    elif model.benchmark is not None:
        written.update(benchmark=model.benchmark, lag=model.lag)
    if model.name == "dimson":
        written.update(lags=model.lags, leads=model.leads)
    if model.reaction is not None:
        written["reaction"] = model.reaction
    return written


def _asset_lines(parsed: ParsedStudy) -> list[str]:
    config = parsed.config
    studied = config.studied_assets
    groups = Counter(asset.group for asset in studied)
    benchmarks = len(config.assets) - len(studied)
    origins = Counter(origin for a in config.assets for origin in parsed.asset_origin[a.ticker])
    lines = [
        (
            f"# {len(config.assets)} assets: {len(studied)} studied "
            f"({', '.join(f'{group} {n}' for group, n in groups.items())}), "
            f"{benchmarks} benchmark{'s' if benchmarks != 1 else ''} (regressors only)"
        ),
        "# listed in: " + ", ".join(f"{origin} {n}" for origin, n in origins.items()),
        "assets:",
    ]
    for asset in config.assets[:MAX_LISTED_ASSETS]:
        entry = {
            "ticker": asset.ticker,
            "name": asset.name,
            "group": asset.group,
            "exchange": asset.exchange,
            "kind": asset.kind,
            "yahoo": asset.yahoo_symbol,
        }
        if asset.model is not None:
            entry["model"] = model_mapping(asset.model)
        if asset.attributes:
            entry["attributes"] = dict(asset.attributes)
        notes = []
        if not asset.is_benchmark:
            model = config.model_for(asset)
            notes.append(f"{model.label()}, {config.reaction_of(asset)} reaction")
        defaulted = parsed.asset_defaults.get(asset.ticker, ())
        if defaulted:
            shown = ["exchange from the ticker" if key == "exchange" else key for key in defaulted]
            notes.append("default: " + ", ".join(shown))
        lines.append(_line(f"  - {_flow(entry)}", "; ".join(notes)))
    hidden = len(config.assets) - MAX_LISTED_ASSETS
    if hidden > 0:
        lines.append(f"  # ... and {hidden} more assets")
    return lines


def _event_lines(parsed: ParsedStudy) -> list[str]:
    events = parsed.config.events
    categories = Counter(event.category for event in events)
    tags = Counter(tag for event in events for tag in event.tags)
    untitled = sum("title" in parsed.event_defaults.get(e.id, ()) for e in events)
    restricted = sum(event.assets is not None for event in events)
    origins = Counter(parsed.event_origin.get(event.id, "") for event in events)
    first, last = min(e.announced for e in events), max(e.announced for e in events)
    lines = [
        f"# {len(events)} events from {first:%Y-%m-%d} to {last:%Y-%m-%d}"
        + (f"; {restricted} restricted to listed assets" if restricted else ""),
        "#   categories: " + ", ".join(f"{name} {n}" for name, n in categories.most_common()),
        "#   tags: " + (", ".join(f"{name} {n}" for name, n in tags.most_common()) or "none"),
        "#   from: " + ", ".join(f"{origin} {n}" for origin, n in origins.items()),
    ]
    if untitled:
        lines.append(f"#   {untitled} without a title (default: the id)")
    lines.append("#   each event's day 0 per exchange: eventstudy events check FILE")
    return lines


def _plain(value: object) -> object:
    """Tuples as lists (for YAML), recursively."""
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


def _flow(value: object) -> str:
    """One value as single-line (flow-style) YAML."""
    dumped = yaml.safe_dump(
        [value], default_flow_style=True, sort_keys=False, allow_unicode=True, width=1_000_000
    )
    return dumped.strip()[1:-1]
