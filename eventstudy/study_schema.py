"""What each key of a study file may hold: the key tables, their defaults and the value parsers.

:mod:`eventstudy.study_parser` walks a file with these; the tables are also what
``--explain`` and ``docs/study-file.md`` list. Each value parser checks one field and raises a
one-line :class:`~eventstudy.errors.ConfigError` naming it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from functools import cache, lru_cache

from eventstudy.asset_table import ROLE_COLUMNS
from eventstudy.events import (
    FX_EXCHANGE,
    MODEL_NAMES,
    REACTIONS,
    FactorSpec,
    ModelSpec,
    ReportSettings,
    StudySettings,
)
from eventstudy.study_fields import (
    Problems,
    Where,
    check_keys,
    choice,
    integer,
    list_of,
    mapping_of,
    non_negative,
    show,
    suggestion,
    text,
)

# --- schema ----------------------------------------------------------------------------------------

TOP_KEYS = ("study", "assets", "events", "report", "assets_from", "events_from")
STUDY_KEYS = (
    "name",
    "returns",
    "estimation_window",
    "event_windows",
    "exclude_other_events",
    "exclusion_window",
    "min_estimation_returns",
    "model",
    "prices",
    "volatility",
    "volume",
    "total_reactions",
    "group_by",
)
STUDY_DEFAULTS: Mapping[str, object] = {
    f.name: f.default for f in dataclasses.fields(StudySettings) if f.name != "name"
}
"""Defaults of the ``study`` block, taken from :class:`StudySettings` (one source of truth).
``name`` defaults to the file's stem; ``min_estimation_returns`` to at most half the
estimation window (see :func:`default_min_returns`)."""
PRICES_KEYS = ("snapshot", "start", "end", "proxies")
ASSET_KEYS = ("ticker", "name", "group", "exchange", "model", "attributes", "kind", "yahoo")
ASSET_REQUIRED = ("ticker",)
EVENT_KEYS = ("id", "title", "category", "announced", "sources", "time_precision", "tags", "assets")
EVENT_REQUIRED = ("id", "category", "announced", "sources")
REPORT_KEYS = tuple(f.name for f in dataclasses.fields(ReportSettings))
ASSETS_FROM_KEYS = ("path", "ticker", *ROLE_COLUMNS, "attributes")
FACTOR_KEYS = ("ticker", "lag")
_MODEL_FIELDS = {
    "constant_mean": ((), ()),
    "market_adjusted": (("benchmark",), ("lag",)),
    "market": (("benchmark",), ("lag",)),
    "factor": (("factors",), ()),
    "dimson": (("benchmark",), ("lag", "lags", "leads")),
    "scholes_williams": (("benchmark",), ("lag",)),
}
MODEL_REQUIRED = {name: ("name", *req) for name, (req, _) in _MODEL_FIELDS.items()}
MODEL_KEYS = {
    name: ("name", *req, *optional, "reaction") for name, (req, optional) in _MODEL_FIELDS.items()
}
LAG_VALUES = (0, 1)
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""Event ids and categories: a letter or digit, then letters, digits, '.', '_', '-'."""
MIN_RETURNS_SHARE = 2
"""The default ``min_estimation_returns`` is at most 1/MIN_RETURNS_SHARE of the window."""


def default_min_returns(estimation_window: tuple[int, int]) -> int:
    """120 returns, or half the estimation window when that is shorter than 240 sessions.

    Examples
    --------
    >>> default_min_returns((-260, -11)), default_min_returns((-120, -11))
    (120, 55)
    """
    length = estimation_window[1] - estimation_window[0] + 1
    return max(1, min(int(STUDY_DEFAULTS["min_estimation_returns"]), length // MIN_RETURNS_SHARE))


# --- exchanges -------------------------------------------------------------------------------------


def resolve_exchange(value: object, where: Where, field_name: str = "exchange") -> str:
    """The canonical ``exchange_calendars`` name of an exchange code or alias, or ``FX``.

    Examples
    --------
    >>> resolve_exchange("NYSE", Where("s.yaml")), resolve_exchange("jpx", Where("s.yaml"))
    ('XNYS', 'XTKS')
    """
    name = text(value, where, field_name)
    canonical = _canonical_exchange(name.upper())
    if canonical is None:
        names = _exchange_names()
        raise where.error(
            field_name,
            f"unknown exchange {show(name)} (use an exchange_calendars code or alias such as "
            f"XTKS, XNYS, JPX or NYSE, or {FX_EXCHANGE} for Yahoo FX rates; list them with "
            f'python -c "import exchange_calendars; print(exchange_calendars.get_calendar_names())")'
            f"{suggestion(name.upper(), names)}",
        )
    return canonical


@cache
def _canonical_exchange(name: str) -> str | None:
    if name == FX_EXCHANGE:
        return FX_EXCHANGE
    if name not in _exchange_names():
        return None
    import exchange_calendars

    return exchange_calendars.resolve_alias(name)


@lru_cache(maxsize=1)
def _exchange_names() -> tuple[str, ...]:
    import exchange_calendars  # slow import, only needed when a file names an exchange

    return tuple(exchange_calendars.get_calendar_names(include_aliases=True))


# --- value parsers (each raises a ConfigError for its field) -------------------------------------


def parse_model(value: object, where: Where, field_name: str) -> ModelSpec:
    """One model spec (a mapping, or just its name); tickers are checked against the assets."""
    if isinstance(value, str):
        value = {"name": value}
    model = mapping_of(value, where, field_name)
    if "name" not in model:
        raise where.error(f"{field_name}.name", "missing (required)")
    name = choice(model["name"], MODEL_NAMES, where, f"{field_name}.name")
    problems = Problems()
    prefix = f"{field_name}."
    check_keys(model, MODEL_KEYS[name], MODEL_REQUIRED[name], where, problems, prefix=prefix)
    spec = problems.take(
        lambda: ModelSpec(
            name=name,
            benchmark=None
            if model.get("benchmark") is None
            else text(model["benchmark"], where, f"{prefix}benchmark"),
            lag=parse_lag(model.get("lag", 0), where, f"{prefix}lag"),
            factors=parse_factors(model["factors"], where, f"{prefix}factors")
            if "factors" in model
            else (),
            lags=non_negative(model.get("lags", 1), where, f"{prefix}lags"),
            leads=non_negative(model.get("leads", 1), where, f"{prefix}leads"),
            reaction=choice(model["reaction"], REACTIONS, where, f"{prefix}reaction")
            if "reaction" in model
            else None,
        )
    )
    problems.raise_if_any()
    return spec


def parse_lag(value: object, where: Where, field_name: str) -> int:
    lag = integer(value, where, field_name)
    if lag not in LAG_VALUES:
        raise where.error(field_name, f"{lag} is not 0 (same date) or 1 (latest closed session)")
    return lag


def parse_factors(value: object, where: Where, field_name: str) -> tuple[FactorSpec, ...]:
    factors: list[FactorSpec] = []
    for i, item in enumerate(list_of(value, where, field_name)):
        item_field = f"{field_name}[{i}]"
        factor = mapping_of(item, where, item_field)
        problems = Problems()
        check_keys(factor, FACTOR_KEYS, ("ticker",), where, problems, prefix=f"{item_field}.")
        problems.raise_if_any()
        spec = FactorSpec(
            ticker=text(factor["ticker"], where, f"{item_field}.ticker"),
            lag=parse_lag(factor.get("lag", 0), where, f"{item_field}.lag"),
        )
        if spec in factors:
            raise where.error(item_field, f"duplicate factor {spec.ticker} with lag {spec.lag}")
        factors.append(spec)
    return tuple(factors)


def parse_attributes(value: object, where: Where) -> dict[str, str]:
    """``{name: value}``; values are text (numbers are written as text), names identifiers."""
    mapping = mapping_of(value, where, "attributes")
    problems = Problems()
    attributes: dict[str, str] = {}
    for key, item in mapping.items():
        field_name = f"attributes.{key}"
        name = problems.take(lambda key=key: text(key, where, "attributes"))
        if name == "group":
            problems.add(where.error(field_name, "'group' is an asset field, not an attribute"))
            continue
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            problems.add(where.error(field_name, f"expected text or a number, got {show(item)}"))
        elif name is not None:
            value_text = problems.take(
                lambda item=item, field_name=field_name: text(str(item), where, field_name)
            )
            if value_text is not None:
                attributes[name] = value_text
    problems.raise_if_any()
    return attributes


def parse_yahoo(value: object, where: Where) -> str | None:
    """A Yahoo Finance symbol, or None (written ``null``) when Yahoo does not carry the series."""
    if value is None:
        return None
    if isinstance(value, str) and not value.strip():
        raise where.error("yahoo", "must not be empty (write null when Yahoo lacks the series)")
    return text(value, where, "yahoo")
