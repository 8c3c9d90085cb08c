"""Parse and validate ``events.yaml`` into immutable study objects.

The types below are the public contract used by every later stage; the parser
(``load_config``) is the only place that reads the YAML file.
"""

from __future__ import annotations

import difflib
import re
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from eventstudy.errors import ConfigError

CATEGORIES = (
    "tariff_announcement",
    "negotiation_round",
    "deal",
    "chip_policy",
    "leader_meeting",
    "other",
)
MODEL_NAMES = (
    "constant_mean",
    "market_adjusted",
    "market",
    "factor",
    "dimson",
    "scholes_williams",
)
RETURN_KINDS = ("simple", "log")
BENCHMARK_GROUP = "benchmark"
REACTIONS = ("total", "relative")
"""A pair's abnormal return is a *total* reaction (constant-mean model, or a benchmark outside
the asset's own market) or a *relative* one (net of a same-exchange, same-day benchmark such as
the home index). Cross-sections never pool the two (see :meth:`StudyConfig.reaction_of`)."""
ASSET_KINDS = ("price", "volatility_index")
"""``price``: returns are studied; ``volatility_index``: a level series (e.g. an implied-volatility
index) whose level change around each event is reported by the volatility stage."""


@dataclass(frozen=True)
class FactorSpec:
    """One regressor of a factor model: a ticker and its lag (0 = same date, 1 = latest closed session)."""

    ticker: str
    lag: int = 0


@dataclass(frozen=True)
class ModelSpec:
    """A normal-return model as written in ``events.yaml``.

    ``name`` is one of :data:`MODEL_NAMES`. ``benchmark``/``lag`` are used by
    ``market_adjusted``, ``market``, ``dimson`` and ``scholes_williams``;
    ``factors`` by ``factor``; ``lags``/``leads`` by ``dimson``.
    """

    name: str
    benchmark: str | None = None
    lag: int = 0
    factors: tuple[FactorSpec, ...] = ()
    lags: int = 1
    leads: int = 1
    reaction: str | None = None  # 'total' | 'relative'; None: decided by StudyConfig.reaction_of

    def tickers(self) -> tuple[str, ...]:
        """Every ticker the model needs besides the asset itself."""
        if self.name == "factor":
            return tuple(f.ticker for f in self.factors)
        return (self.benchmark,) if self.benchmark else ()

    def label(self) -> str:
        """Short human-readable label, e.g. ``market(^TOPX)`` or ``factor(^TOPX, ^GSPC[-1])``."""
        if self.name == "constant_mean":
            return "constant_mean"
        if self.name == "factor":
            parts = [f.ticker + (f"[-{f.lag}]" if f.lag else "") for f in self.factors]
            return f"factor({', '.join(parts)})"
        lag = f"[-{self.lag}]" if self.lag else ""
        return f"{self.name}({self.benchmark}{lag})"


@dataclass(frozen=True)
class PriceSettings:
    """Optional ``study.prices`` block: where prices come from and which dates to load."""

    snapshot: Path | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    proxies: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Ticker -> Yahoo symbol of a *different* series used in its place only when the study asks
    (e.g. an ETF for an index Yahoo lacks); stated in the output and the provenance."""


@dataclass(frozen=True)
class ReportSettings:
    """Optional ``report`` block: what the report features. ``None`` = choose automatically."""

    title: str | None = None
    question: str | None = None
    key_events: tuple[str, ...] | None = None
    headline_windows: tuple[tuple[int, int], ...] | None = None
    market_group: str | None = None
    joint: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class StudySettings:
    """The ``study`` block. Windows are in sessions relative to day 0, inclusive at both ends."""

    name: str
    returns: str = "simple"
    estimation_window: tuple[int, int] = (-260, -11)
    event_windows: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (-1, 1), (0, 5))
    exclude_other_events: bool = True
    exclusion_window: tuple[int, int] | None = None  # None: the span of event_windows
    min_estimation_returns: int = 120
    model: ModelSpec = ModelSpec("constant_mean")
    prices: PriceSettings = PriceSettings()
    volatility: bool = True
    total_reactions: bool = True
    """Also estimate a constant-mean (total) reaction for every asset whose model gives a relative one."""
    group_by: tuple[str, ...] = ("group",)
    """Asset partitions that define cross-sectional scopes: ``group`` and/or attribute names."""

    @property
    def event_period(self) -> tuple[int, int]:
        """The span covering every event window: ``(min start, max end)``."""
        return (min(w[0] for w in self.event_windows), max(w[1] for w in self.event_windows))

    @property
    def other_event_exclusion(self) -> tuple[int, int]:
        """Window around *other* events removed from an estimation sample."""
        return self.exclusion_window or self.event_period


@dataclass(frozen=True)
class Asset:
    """An asset to study (or, in group ``benchmark``, only to use as a regressor)."""

    ticker: str
    name: str
    exchange: str
    group: str
    model: ModelSpec | None = None
    attributes: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Free-form characteristics (e.g. ``sector33``, ``size_class``) from the file or ``assets_from``."""
    kind: str = "price"
    yahoo: str | None = ""
    """Yahoo Finance symbol: ``''`` = the ticker itself, ``None`` = not available on Yahoo."""

    @property
    def is_benchmark(self) -> bool:
        return self.group == BENCHMARK_GROUP

    @property
    def yahoo_symbol(self) -> str | None:
        """The symbol to download from Yahoo Finance, or None when Yahoo does not carry the series."""
        return self.ticker if self.yahoo == "" else self.yahoo

    def attribute(self, name: str) -> str | None:
        """``group`` or an attribute value (None when the asset does not carry it)."""
        if name == "group":
            return self.group
        return self.attributes.get(name)


@dataclass(frozen=True)
class Event:
    """One announcement. ``announced`` is a tz-aware timestamp."""

    id: str
    title: str
    category: str
    announced: pd.Timestamp
    sources: tuple[str, ...]
    time_precision: str | None = None
    tags: tuple[str, ...] = ()
    assets: tuple[str, ...] | None = None  # None: every studied asset

    def applies_to(self, ticker: str) -> bool:
        return self.assets is None or ticker in self.assets


@dataclass(frozen=True)
class StudyConfig:
    """Everything in one ``events.yaml``."""

    settings: StudySettings
    assets: tuple[Asset, ...]
    events: tuple[Event, ...]
    path: Path | None = None
    report: ReportSettings = ReportSettings()

    @property
    def studied_assets(self) -> tuple[Asset, ...]:
        return tuple(a for a in self.assets if not a.is_benchmark)

    def asset(self, ticker: str) -> Asset:
        for a in self.assets:
            if a.ticker == ticker:
                return a
        raise KeyError(ticker)

    def model_for(self, asset: Asset) -> ModelSpec:
        return asset.model or self.settings.model

    def reaction_of(self, asset: Asset, model: ModelSpec | None = None) -> str:
        """``'relative'`` when the model nets out a same-exchange, same-day series, else ``'total'``.

        A constant-mean model, or one whose regressors all trade elsewhere or enter lagged (an
        outside benchmark), measures the asset's total reaction; a market model against the
        home index measures the reaction relative to that market. ``model.reaction`` overrides.

        Examples
        --------
        >>> config.reaction_of(config.asset("8035.T"))  # doctest: +SKIP
        'relative'
        """
        spec = model or self.model_for(asset)
        if spec.reaction is not None:
            return spec.reaction
        if spec.name == "factor":
            keys = [(f.ticker, f.lag) for f in spec.factors]
        else:
            keys = [(spec.benchmark, spec.lag)] if spec.benchmark else []
        for ticker, lag in keys:
            if lag == 0 and self.asset(ticker).exchange == asset.exchange:
                return "relative"
        return "total"

    def all_tickers(self) -> tuple[str, ...]:
        """Assets plus every benchmark/factor ticker any model refers to, in file order, unique."""
        seen: dict[str, None] = {}
        for a in self.assets:
            seen[a.ticker] = None
        for a in self.studied_assets:
            for t in self.model_for(a).tickers():
                seen[t] = None
        return tuple(seen)


# ---------------------------------------------------------------------------
# Parsing and validation of events.yaml
# ---------------------------------------------------------------------------

TOKYO_INDEX_TICKERS = ("^N225", "^TOPX", "NIKKEI_SEMI", "NIKKEI_VI")
FX_EXCHANGE = "FX"

TOP_KEYS = ("study", "assets", "events")
STUDY_REQUIRED = (
    "name",
    "returns",
    "estimation_window",
    "event_windows",
    "exclude_other_events",
    "min_estimation_returns",
    "model",
)
STUDY_KEYS = STUDY_REQUIRED + ("exclusion_window", "prices", "volatility")
PRICES_KEYS = ("snapshot", "start", "end")
ASSET_REQUIRED = ("ticker", "name", "group")
ASSET_KEYS = ASSET_REQUIRED + ("exchange", "model")
EVENT_REQUIRED = ("id", "title", "category", "announced", "sources")
EVENT_KEYS = EVENT_REQUIRED + ("time_precision", "tags", "assets")
FACTOR_KEYS = ("ticker", "lag")
MODEL_KEYS = {
    "constant_mean": ("name",),
    "market_adjusted": ("name", "benchmark", "lag"),
    "market": ("name", "benchmark", "lag"),
    "factor": ("name", "factors"),
    "dimson": ("name", "benchmark", "lag", "lags", "leads"),
    "scholes_williams": ("name", "benchmark", "lag"),
}
MODEL_REQUIRED = {
    "constant_mean": ("name",),
    "market_adjusted": ("name", "benchmark"),
    "market": ("name", "benchmark"),
    "factor": ("name", "factors"),
    "dimson": ("name", "benchmark"),
    "scholes_williams": ("name", "benchmark"),
}
LAG_VALUES = (0, 1)
EVENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def infer_exchange(ticker: str) -> str:
    """Exchange of a ticker when ``events.yaml`` does not give one.

    Tokyo listings (suffix ``.T``) and the Tokyo indices in :data:`TOKYO_INDEX_TICKERS`
    trade on ``XTKS``; Yahoo FX rates (suffix ``=X``) on ``FX``; everything else on ``XNYS``.

    Examples
    --------
    >>> infer_exchange("8035.T"), infer_exchange("JPY=X"), infer_exchange("^SOX")
    ('XTKS', 'FX', 'XNYS')
    """
    if ticker.endswith(".T") or ticker in TOKYO_INDEX_TICKERS:
        return "XTKS"
    if ticker.endswith("=X"):
        return FX_EXCHANGE
    return "XNYS"


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or Path
        The ``events.yaml`` file. A relative ``study.prices.snapshot`` is resolved
        against the folder of this file.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        For every problem (missing file, YAML syntax, unknown or missing keys, invalid
        values); the message is one line naming the file, the event or asset, and the field.

    Examples
    --------
    >>> config = load_config("events.yaml")  # doctest: +SKIP
    >>> len(config.events), config.settings.model.label()  # doctest: +SKIP
    (46, 'market(^TOPX)')
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Where(str(path)).error(None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Where(str(path)).error(None, f"cannot read file: {exc}") from None
    return parse_config(text, path)


def parse_config(text: str, path: str | Path = "events.yaml") -> StudyConfig:
    """Validate the text of a study file; ``path`` names it in messages and anchors relative paths.

    Examples
    --------
    >>> text = '''
    ... study: {name: demo, returns: simple, estimation_window: [-120, -11],
    ...         event_windows: [[0, 1]], exclude_other_events: true,
    ...         min_estimation_returns: 60, model: {name: constant_mean}}
    ... assets: [{ticker: ^N225, name: Nikkei 225, group: index}]
    ... events:
    ... - {id: e1, title: T, category: other, announced: '2025-04-02T16:00:00-04:00', sources: [S]}
    ... '''
    >>> parse_config(text).events[0].announced.isoformat()
    '2025-04-02T16:00:00-04:00'
    """
    path = Path(path)
    where = _Where(str(path))
    document = _read_yaml(text, where)
    _check_keys(document, TOP_KEYS, TOP_KEYS, where)
    assets = _parse_assets(document["assets"], where)
    settings = _parse_study(document["study"], where, base_dir=path.resolve().parent)
    _check_model_tickers(settings.model, assets, where, field="study.model")
    _check_asset_models(assets, settings.model, where)
    events = _parse_events(document["events"], assets, where)
    return StudyConfig(settings=settings, assets=assets, events=events, path=path.resolve())


# --- error locations --------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """Where a problem sits: the file and, inside it, the event/asset (``subject``)."""

    file: str
    subject: str | None = None

    def at(self, subject: str) -> _Where:
        return _Where(self.file, subject)

    def error(self, field_name: str | None, problem: str) -> ConfigError:
        parts = [self.file]
        if self.subject:
            parts.append(self.subject)
        if field_name:
            parts.append(f"field '{field_name}'")
        parts.append(problem)
        return ConfigError(" ".join(": ".join(parts).split()))


_REPR = reprlib.Repr()
_REPR.maxstring = 60
_REPR.maxother = 60


def _show(value: object) -> str:
    """A short one-line rendering of a user value for messages."""
    return _REPR.repr(value)


def _kind(value: object) -> str:
    """The YAML-level kind of a value, for 'expected X, got Y' messages."""
    names = {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer"}
    for python_type, name in names.items():
        if isinstance(value, python_type):
            return name
    return "empty value" if value is None else type(value).__name__


def _line_of(value: object) -> str:
    line = getattr(value, "line", None)
    return f" (line {line})" if line else ""


# --- YAML -------------------------------------------------------------------


class _LineDict(dict):
    """A YAML mapping that remembers the (1-based) line it starts on."""

    line: int = 0


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys, records mapping lines and reports bad scalars with a line."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    mapping = _LineDict()
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
                None, None, f"duplicate key {_show(key)}", key_node.start_mark
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
                None, None, f"invalid value {_show(node.value)}: {exc}", node.start_mark
            ) from None

    return construct_scalar


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
for _tag, _construct in (
    ("tag:yaml.org,2002:int", yaml.SafeLoader.construct_yaml_int),
    ("tag:yaml.org,2002:float", yaml.SafeLoader.construct_yaml_float),
    ("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_timestamp),
):
    _StrictLoader.add_constructor(_tag, _with_mark(_construct))


def _read_yaml(text: str, where: _Where) -> _LineDict:
    """Parse YAML text into the top-level mapping; every failure becomes a one-line ConfigError."""
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise where.error(None, _describe_yaml_error(exc)) from None
    except RecursionError:
        raise where.error(None, "invalid YAML: nesting too deep") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise where.error(None, f"invalid YAML: {exc}") from None
    if document is None:
        raise where.error(None, "file is empty (expected the keys study, assets, events)")
    if not isinstance(document, dict):
        raise where.error(
            None,
            f"top level must be a mapping with keys study, assets, events, not a {_kind(document)}",
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


# --- generic field checks ------------------------------------------------------


def _check_keys(
    mapping: dict,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    where: _Where,
    prefix: str = "",
) -> None:
    """Reject unknown keys (with a did-you-mean hint) and missing required keys."""
    for key in mapping:
        if key not in allowed:
            hint = difflib.get_close_matches(str(key), allowed, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            raise where.error(
                f"{prefix}{key}",
                f"unknown key (allowed: {', '.join(allowed)}){suggestion}",
            )
    for key in required:
        if key not in mapping:
            raise where.error(f"{prefix}{key}", f"missing (required){_line_of(mapping)}")


def _mapping(value: object, where: _Where, field_name: str | None) -> dict:
    if not isinstance(value, dict):
        raise where.error(field_name, f"expected a mapping, got {_kind(value)} {_show(value)}")
    return value


def _list(value: object, where: _Where, field_name: str, *, allow_empty: bool = False) -> list:
    if not isinstance(value, list):
        raise where.error(field_name, f"expected a list, got {_kind(value)} {_show(value)}")
    if not value and not allow_empty:
        raise where.error(field_name, "must not be empty")
    return value


def _text(value: object, where: _Where, field_name: str) -> str:
    if not isinstance(value, str):
        raise where.error(field_name, f"expected a string, got {_kind(value)} {_show(value)}")
    if not value.strip():
        raise where.error(field_name, "must not be empty")
    return value.strip()


def _integer(value: object, where: _Where, field_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise where.error(field_name, f"expected an integer, got {_kind(value)} {_show(value)}")
    return value


def _boolean(value: object, where: _Where, field_name: str) -> bool:
    if not isinstance(value, bool):
        raise where.error(field_name, f"expected true or false, got {_kind(value)} {_show(value)}")
    return value


def _choice(value: object, choices: tuple[str, ...], where: _Where, field_name: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise where.error(field_name, f"{_show(value)} is not one of {', '.join(choices)}")
    return value


def _window(value: object, where: _Where, field_name: str) -> tuple[int, int]:
    """A ``[start, end]`` pair of session offsets with start <= end."""
    if not isinstance(value, list) or len(value) != 2:
        raise where.error(field_name, f"expected [start, end], got {_show(value)}")
    start = _integer(value[0], where, f"{field_name}[0]")
    end = _integer(value[1], where, f"{field_name}[1]")
    if start > end:
        raise where.error(field_name, f"start {start} is after end {end}")
    return (start, end)


def _date(value: object, where: _Where, field_name: str) -> pd.Timestamp:
    if isinstance(value, datetime):
        raise where.error(field_name, f"expected a date (YYYY-MM-DD), got the timestamp {value}")
    if isinstance(value, date):
        return pd.Timestamp(value)
    if isinstance(value, str):
        try:
            return pd.Timestamp(date.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise where.error(field_name, f"expected a date (YYYY-MM-DD), got {_show(value)}")


# --- study -------------------------------------------------------------------


def _parse_study(value: object, where: _Where, base_dir: Path) -> StudySettings:
    study = _mapping(value, where, "study")
    _check_keys(study, STUDY_KEYS, STUDY_REQUIRED, where, prefix="study.")
    estimation_window = _window(study["estimation_window"], where, "study.estimation_window")
    event_windows = _event_windows(study["event_windows"], where)
    earliest_start = min(start for start, _ in event_windows)
    if estimation_window[1] >= earliest_start:
        raise where.error(
            "study.estimation_window",
            f"ends at {estimation_window[1]}, not before the earliest event-window start "
            f"{earliest_start} (study.event_windows)",
        )
    min_returns = _integer(study["min_estimation_returns"], where, "study.min_estimation_returns")
    length = estimation_window[1] - estimation_window[0] + 1
    if not 0 < min_returns <= length:
        raise where.error(
            "study.min_estimation_returns",
            f"{min_returns} must be > 0 and at most the {length} sessions of the estimation window",
        )
    exclusion = study.get("exclusion_window")
    return StudySettings(
        name=_text(study["name"], where, "study.name"),
        returns=_choice(study["returns"], RETURN_KINDS, where, "study.returns"),
        estimation_window=estimation_window,
        event_windows=event_windows,
        exclude_other_events=_boolean(
            study["exclude_other_events"], where, "study.exclude_other_events"
        ),
        exclusion_window=None
        if exclusion is None
        else _window(exclusion, where, "study.exclusion_window"),
        min_estimation_returns=min_returns,
        model=_parse_model(study["model"], where, "study.model"),
        prices=_parse_prices(study.get("prices"), where, base_dir),
        volatility=_boolean(study.get("volatility", True), where, "study.volatility"),
    )


def _event_windows(value: object, where: _Where) -> tuple[tuple[int, int], ...]:
    items = _list(value, where, "study.event_windows")
    windows = tuple(
        _window(item, where, f"study.event_windows[{i}]") for i, item in enumerate(items)
    )
    for i, window in enumerate(windows):
        if window in windows[:i]:
            raise where.error(f"study.event_windows[{i}]", f"duplicate window {list(window)}")
    return windows


def _parse_prices(value: object, where: _Where, base_dir: Path) -> PriceSettings:
    if value is None:
        return PriceSettings()
    prices = _mapping(value, where, "study.prices")
    _check_keys(prices, PRICES_KEYS, (), where, prefix="study.prices.")
    snapshot = None
    if "snapshot" in prices:
        snapshot = base_dir / Path(_text(prices["snapshot"], where, "study.prices.snapshot"))
    start = _date(prices["start"], where, "study.prices.start") if "start" in prices else None
    end = _date(prices["end"], where, "study.prices.end") if "end" in prices else None
    if start is not None and end is not None and start > end:
        raise where.error("study.prices", f"start {start.date()} is after end {end.date()}")
    return PriceSettings(snapshot=snapshot, start=start, end=end)


# --- models --------------------------------------------------------------------


def _parse_model(value: object, where: _Where, field_name: str) -> ModelSpec:
    """One model spec; tickers are checked later against the asset list."""
    model = _mapping(value, where, field_name)
    if "name" not in model:
        raise where.error(f"{field_name}.name", "missing (required)")
    name = _choice(model["name"], MODEL_NAMES, where, f"{field_name}.name")
    _check_keys(model, MODEL_KEYS[name], MODEL_REQUIRED[name], where, prefix=f"{field_name}.")
    benchmark = model.get("benchmark")
    factors = model.get("factors")
    return ModelSpec(
        name=name,
        benchmark=None if benchmark is None else _text(benchmark, where, f"{field_name}.benchmark"),
        lag=_lag(model.get("lag", 0), where, f"{field_name}.lag"),
        factors=() if factors is None else _parse_factors(factors, where, f"{field_name}.factors"),
        lags=_non_negative(model.get("lags", 1), where, f"{field_name}.lags"),
        leads=_non_negative(model.get("leads", 1), where, f"{field_name}.leads"),
    )


def _lag(value: object, where: _Where, field_name: str) -> int:
    lag = _integer(value, where, field_name)
    if lag not in LAG_VALUES:
        raise where.error(field_name, f"{lag} is not 0 (same date) or 1 (latest closed session)")
    return lag


def _non_negative(value: object, where: _Where, field_name: str) -> int:
    number = _integer(value, where, field_name)
    if number < 0:
        raise where.error(field_name, f"{number} must be >= 0")
    return number


def _parse_factors(value: object, where: _Where, field_name: str) -> tuple[FactorSpec, ...]:
    factors = []
    for i, item in enumerate(_list(value, where, field_name)):
        item_field = f"{field_name}[{i}]"
        factor = _mapping(item, where, item_field)
        _check_keys(factor, FACTOR_KEYS, ("ticker",), where, prefix=f"{item_field}.")
        spec = FactorSpec(
            ticker=_text(factor["ticker"], where, f"{item_field}.ticker"),
            lag=_lag(factor.get("lag", 0), where, f"{item_field}.lag"),
        )
        if spec in factors:
            raise where.error(item_field, f"duplicate factor {spec.ticker} with lag {spec.lag}")
        factors.append(spec)
    return tuple(factors)


def _check_model_tickers(
    model: ModelSpec, assets: tuple[Asset, ...], where: _Where, field: str
) -> None:
    """Every benchmark/factor ticker must be one of the assets."""
    known = {asset.ticker for asset in assets}
    if model.name == "factor":
        for i, factor in enumerate(model.factors):
            if factor.ticker not in known:
                raise where.error(
                    f"{field}.factors[{i}].ticker",
                    f"unknown ticker {factor.ticker!r} (add it to assets, e.g. in group '{BENCHMARK_GROUP}')",
                )
    elif model.benchmark is not None and model.benchmark not in known:
        raise where.error(
            f"{field}.benchmark",
            f"unknown ticker {model.benchmark!r} (add it to assets, e.g. in group '{BENCHMARK_GROUP}')",
        )


def _check_asset_models(assets: tuple[Asset, ...], default: ModelSpec, where: _Where) -> None:
    """Own models refer to known tickers; no studied asset is its own benchmark (DESIGN trap 2)."""
    for asset in assets:
        asset_where = where.at(f"asset {asset.ticker!r}")
        if asset.is_benchmark:
            if asset.model is not None:
                raise asset_where.error(
                    "model", f"group '{BENCHMARK_GROUP}' assets are not studied and take no model"
                )
            continue
        if asset.model is not None:
            _check_model_tickers(asset.model, assets, asset_where, field="model")
        model = asset.model or default
        if asset.ticker in model.tickers():
            source = "its model" if asset.model else f"the default study.model {default.label()}"
            raise asset_where.error(
                "model",
                f"{source} uses the asset as its own benchmark/factor, which nets out the "
                "shock under study; give it its own model (e.g. constant_mean)",
            )


# --- assets --------------------------------------------------------------------


def _parse_assets(value: object, where: _Where) -> tuple[Asset, ...]:
    items = _list(value, where, "assets")
    assets: list[Asset] = []
    for i, item in enumerate(items):
        asset = _parse_asset(item, i, where)
        if any(a.ticker == asset.ticker for a in assets):
            raise where.at(f"asset {asset.ticker!r}").error(
                "ticker", f"duplicate ticker (assets[{i}]{_line_of(item)})"
            )
        assets.append(asset)
    if all(asset.is_benchmark for asset in assets):
        raise where.error(
            "assets", f"no studied asset (every asset is in group '{BENCHMARK_GROUP}')"
        )
    return tuple(assets)


def _parse_asset(value: object, index: int, where: _Where) -> Asset:
    item_where = where.at(f"assets[{index}]{_line_of(value)}")
    asset = _mapping(value, item_where, None)
    ticker = asset.get("ticker")
    if isinstance(ticker, str) and ticker.strip():
        item_where = where.at(f"asset {ticker.strip()!r}")
    _check_keys(asset, ASSET_KEYS, ASSET_REQUIRED, item_where)
    ticker = _text(asset["ticker"], item_where, "ticker")
    exchange = infer_exchange(ticker)
    if "exchange" in asset:
        exchange = _exchange(asset["exchange"], item_where)
    return Asset(
        ticker=ticker,
        name=_text(asset["name"], item_where, "name"),
        exchange=exchange,
        group=_text(asset["group"], item_where, "group"),
        model=_parse_model(asset["model"], item_where, "model") if "model" in asset else None,
    )


def _exchange(value: object, where: _Where) -> str:
    exchange = _text(value, where, "exchange")
    if exchange not in _known_exchanges():
        raise where.error(
            "exchange",
            f"unknown exchange {exchange!r} (use an exchange_calendars name such as XTKS or "
            f"XNYS, or {FX_EXCHANGE})",
        )
    return exchange


@lru_cache(maxsize=1)
def _known_exchanges() -> frozenset[str]:
    import exchange_calendars  # slow import, only needed when a file names an exchange

    return frozenset(exchange_calendars.get_calendar_names(include_aliases=False)) | {FX_EXCHANGE}


# --- events --------------------------------------------------------------------


def _parse_events(value: object, assets: tuple[Asset, ...], where: _Where) -> tuple[Event, ...]:
    items = _list(value, where, "events")
    studied = {asset.ticker for asset in assets if not asset.is_benchmark}
    known = {asset.ticker for asset in assets}
    events: list[Event] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        event = _parse_event(item, i, studied, known, where)
        if event.id in first_seen:
            raise where.at(f"event {event.id!r}").error(
                "id",
                f"duplicate id (events[{i}]{_line_of(item)}; first used by events[{first_seen[event.id]}])",
            )
        first_seen[event.id] = i
        events.append(event)
    return tuple(events)


def _parse_event(
    value: object, index: int, studied: set[str], known: set[str], where: _Where
) -> Event:
    item_where = where.at(f"events[{index}]{_line_of(value)}")
    event = _mapping(value, item_where, None)
    raw_id = event.get("id")
    if isinstance(raw_id, str) and EVENT_ID_PATTERN.fullmatch(raw_id):
        item_where = where.at(f"event {raw_id!r}")
    _check_keys(event, EVENT_KEYS, EVENT_REQUIRED, item_where)
    return Event(
        id=_event_id(event["id"], item_where),
        title=_text(event["title"], item_where, "title"),
        category=_choice(event["category"], CATEGORIES, item_where, "category"),
        announced=_announced(event["announced"], item_where),
        sources=_strings(event["sources"], item_where, "sources"),
        time_precision=_text(event["time_precision"], item_where, "time_precision")
        if "time_precision" in event
        else None,
        tags=_strings(event["tags"], item_where, "tags") if "tags" in event else (),
        assets=_event_assets(event["assets"], studied, known, item_where)
        if "assets" in event
        else None,
    )


def _event_id(value: object, where: _Where) -> str:
    event_id = _text(value, where, "id")
    if not EVENT_ID_PATTERN.fullmatch(event_id):
        raise where.error(
            "id",
            f"{_show(event_id)} must start with a letter or digit and contain only letters, "
            "digits, '.', '_' and '-'",
        )
    return event_id


def _announced(value: object, where: _Where) -> pd.Timestamp:
    """An ISO 8601 timestamp with UTC offset (string, or a datetime PyYAML already parsed)."""
    example = "e.g. '2025-04-02T16:00:00-04:00'"
    if isinstance(value, datetime):
        moment, shown = value, value.isoformat(sep=" ")
    elif isinstance(value, date):
        raise where.error(
            "announced", f"date {value} has no time of day and UTC offset ({example})"
        )
    elif isinstance(value, str):
        shown = value.strip()
        try:
            moment = datetime.fromisoformat(shown)
        except ValueError:
            raise where.error(
                "announced",
                f"unparsable timestamp {_show(shown)} (expected ISO 8601 with offset, {example})",
            ) from None
    else:
        raise where.error(
            "announced", f"expected an ISO 8601 timestamp string ({example}), got {_kind(value)}"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise where.error("announced", f"naive timestamp {_show(shown)} has no UTC offset")
    return pd.Timestamp(moment)


def _strings(value: object, where: _Where, field_name: str) -> tuple[str, ...]:
    """A non-empty list of non-empty strings, each stripped of surrounding whitespace."""
    items = _list(value, where, field_name)
    strings = tuple(_text(item, where, f"{field_name}[{i}]") for i, item in enumerate(items))
    for i, text in enumerate(strings):
        if text in strings[:i]:
            raise where.error(f"{field_name}[{i}]", f"duplicate entry {_show(text)}")
    return strings


def _event_assets(
    value: object, studied: set[str], known: set[str], where: _Where
) -> tuple[str, ...]:
    tickers = _strings(value, where, "assets")
    for i, ticker in enumerate(tickers):
        if ticker in known and ticker not in studied:
            raise where.error(
                f"assets[{i}]", f"{ticker!r} is in group '{BENCHMARK_GROUP}' and is not studied"
            )
        if ticker not in studied:
            raise where.error(f"assets[{i}]", f"unknown ticker {ticker!r} (not in assets)")
    return tickers
