"""The study-file parser: YAML sections -> :class:`~eventstudy.events.StudyConfig`.

Every optional key takes its default (the key tables and value parsers are in
:mod:`eventstudy.study_schema`); the parser records which values were defaulted so
``eventstudy events check --explain`` can show them. Problems are collected over the whole file
(and the CSV or study file it reads) and raised together as one
:class:`~eventstudy.study_fields.StudyFileError`, one line per problem. Cross-references
(benchmarks, event assets, ``group_by``, the ``report`` block) are checked against the parts
that parsed, so one broken asset does not cascade into more lines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eventstudy.asset_table import ROLE_COLUMNS, AssetRow, AssetTableSpec, read_asset_table
from eventstudy.events import (
    ASSET_KINDS,
    BENCHMARK_GROUP,
    DEFAULT_GROUP,
    RETURN_KINDS,
    Asset,
    Event,
    ModelSpec,
    PriceSettings,
    ReportSettings,
    StudyConfig,
    StudySettings,
    infer_exchange,
)
from eventstudy.study_fields import (
    LineDict,
    Problems,
    Where,
    boolean,
    calendar_date,
    check_keys,
    choice,
    identifier,
    integer,
    line_of,
    list_of,
    mapping_of,
    read_yaml,
    strings,
    suggestion,
    text,
    timestamp_with_offset,
    window,
    windows,
    without_nulls,
)
from eventstudy.study_schema import (
    ASSET_KEYS,
    ASSET_REQUIRED,
    ASSETS_FROM_KEYS,
    EVENT_KEYS,
    EVENT_REQUIRED,
    IDENTIFIER,
    PRICES_KEYS,
    REPORT_KEYS,
    STUDY_DEFAULTS,
    STUDY_KEYS,
    TOP_KEYS,
    default_min_returns,
    parse_attributes,
    parse_model,
    parse_yahoo,
    resolve_exchange,
)


@dataclass(frozen=True)
class ParsedStudy:
    """A parsed study file and what the parser filled in for it (for ``--explain``)."""

    config: StudyConfig
    defaulted: frozenset[str]
    """Keys of the ``study``/``report`` blocks not written in the file (``'study.returns'``)."""
    asset_defaults: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Ticker -> asset fields filled by default (``name``, ``group``, ``exchange``)."""
    event_defaults: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Event id -> event fields filled by default (``title``)."""
    asset_origin: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Ticker -> the files that list it (the study file and/or the ``assets_from`` CSV)."""
    event_origin: Mapping[str, str] = field(default_factory=dict)
    """Event id -> the study file it comes from (this one, or an ``events_from`` file)."""


def read_study(path: str | Path, *, assets_from: str | Path | None = None) -> ParsedStudy:
    """Read and parse a study file (see :func:`eventstudy.events.load_config`).

    Examples
    --------
    >>> parsed = read_study("events.yaml")  # doctest: +SKIP
    >>> sorted(parsed.defaulted)[:2]  # doctest: +SKIP
    ['report', 'report.question']
    """
    path = Path(path)
    where = Where(str(path))
    try:
        text_ = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise where.error(None, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise where.error(None, f"cannot read file: {exc}") from None
    return parse_study_text(text_, path, assets_from=assets_from)


def parse_study_text(
    text_: str, path: str | Path, *, assets_from: str | Path | None = None
) -> ParsedStudy:
    """Parse the text of a study file named ``path`` (see :func:`eventstudy.events.parse_config`)."""
    path = Path(path)
    where = Where(str(path))
    document = read_yaml(text_, where, "study, assets, events")
    return _StudyParser(path, where, assets_from).parse(document)


# --- the parser ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Placed:
    """A parsed event, the file it is in and its place there (for duplicate-id messages)."""

    event: Event
    where: Where
    place: str


class _StudyParser:
    """One pass over one study file; ``problems`` collects every line."""

    def __init__(self, path: Path, where: Where, assets_from: str | Path | None) -> None:
        self.path = path
        self.where = where
        self.base_dir = path.resolve().parent
        self.assets_from_override = assets_from
        self.problems = Problems()
        self.defaulted: set[str] = set()
        self.asset_defaults: dict[str, tuple[str, ...]] = {}
        self.event_defaults: dict[str, tuple[str, ...]] = {}
        self.asset_origin: dict[str, tuple[str, ...]] = {}
        self.event_origin: dict[str, str] = {}
        self.unresolved_tickers: set[str] = set()  # tickers of assets that failed to parse
        self.unresolved_events: set[str] = set()  # ids of events that failed to parse
        self.unnamed_failures = {"asset": False, "event": False}  # a failed item without ticker/id
        self.event_windows: tuple[tuple[int, int], ...] | None = None

    # -- top level --

    def parse(self, document: LineDict) -> ParsedStudy:
        problems = self.problems
        has_table = "assets_from" in document or self.assets_from_override is not None
        required = tuple(
            key
            for key, alternative in (("assets", has_table), ("events", "events_from" in document))
            if not alternative
        )
        check_keys(document, TOP_KEYS, required, self.where, problems)
        settings = self._study(document)
        assets = self._assets(document)
        if settings is not None and assets is not None:
            self._check_models(settings.model, assets)
        if assets is not None:
            self._check_study_references(settings, assets)
        events = self._events(document, assets)
        report = self._report(document, events, assets or ())
        problems.raise_if_any()
        assert settings is not None and assets is not None  # no problem: every part parsed
        config = StudyConfig(
            settings=settings,
            assets=assets,
            events=events,
            path=self.path.resolve(),
            report=report,
        )
        return ParsedStudy(
            config=config,
            defaulted=frozenset(self.defaulted),
            asset_defaults=self.asset_defaults,
            event_defaults=self.event_defaults,
            asset_origin=self.asset_origin,
            event_origin=self.event_origin,
        )

    def _unresolved(self, item: str, name: object) -> None:
        """Remember an asset/event that failed, so references to it add no second problem."""
        if isinstance(name, str) and name.strip():
            target = self.unresolved_tickers if item == "asset" else self.unresolved_events
            target.add(name.strip())
        else:
            self.unnamed_failures[item] = True

    def _unknown(self, item: str, name: str, known) -> bool:
        """True when ``name`` is certainly not an asset ticker / event id of the study."""
        if name in known or self.unnamed_failures[item]:
            return False
        return name not in (self.unresolved_tickers if item == "asset" else self.unresolved_events)

    @property
    def _assets_complete(self) -> bool:
        """Every asset of the file parsed (so a group or attribute missing is really missing)."""
        return not (self.unresolved_tickers or self.unnamed_failures["asset"])

    def _optional(self, block: dict, key: str, prefix: str, parse, default):
        """``parse(block[key])`` when written, else ``default`` (recorded as defaulted)."""
        if key not in block:
            self.defaulted.add(f"{prefix}{key}")
            return default
        return self.problems.take(lambda: parse(block[key]))

    # -- study --

    def _study(self, document: LineDict) -> StudySettings | None:
        where, problems = self.where, self.problems
        mark = problems.mark()
        if document.get("study") is None:
            self.defaulted.add("study")
            study: dict = {}
        else:
            study = problems.take(lambda: mapping_of(document["study"], where, "study"))
            if study is None:
                return None
            study = without_nulls(study, STUDY_KEYS)
        check_keys(study, STUDY_KEYS, (), where, problems, prefix="study.")

        def get(key: str, parse, default=None):
            default = STUDY_DEFAULTS.get(key) if default is None else default
            return self._optional(study, key, "study.", parse, default)

        values = {  # parsed in file-schema order, so problems are listed in that order
            "name": get("name", lambda v: text(v, where, "study.name"), self.path.stem),
            "returns": get("returns", lambda v: choice(v, RETURN_KINDS, where, "study.returns")),
            "estimation_window": get(
                "estimation_window", lambda v: window(v, where, "study.estimation_window")
            ),
            "event_windows": get(
                "event_windows", lambda v: windows(v, where, "study.event_windows")
            ),
        }
        estimation, event_windows = values["estimation_window"], values["event_windows"]
        self.event_windows = event_windows
        if estimation is not None and event_windows is not None:
            problems.take(lambda: self._check_estimation_window(estimation, event_windows))
        values["exclude_other_events"] = get(
            "exclude_other_events", lambda v: boolean(v, where, "study.exclude_other_events")
        )
        values["exclusion_window"] = get(
            "exclusion_window", lambda v: window(v, where, "study.exclusion_window")
        )
        if estimation is not None:
            values["min_estimation_returns"] = get(
                "min_estimation_returns",
                lambda v: self._min_returns(v, estimation),
                default_min_returns(estimation),
            )
        values["model"] = get("model", lambda v: parse_model(v, where, "study.model"))
        values["prices"] = get("prices", self._prices)
        values["volatility"] = get("volatility", lambda v: boolean(v, where, "study.volatility"))
        values["volume"] = get("volume", lambda v: boolean(v, where, "study.volume"))
        values["total_reactions"] = get(
            "total_reactions", lambda v: boolean(v, where, "study.total_reactions")
        )
        values["group_by"] = get("group_by", self._group_by)
        if problems.since(mark):
            return None
        return StudySettings(**values)

    def _check_estimation_window(
        self, estimation: tuple[int, int], event_windows: tuple[tuple[int, int], ...]
    ) -> None:
        earliest = min(start for start, _ in event_windows)
        if estimation[1] >= earliest:
            written = "" if "study.estimation_window" not in self.defaulted else " (default)"
            raise self.where.error(
                "study.estimation_window",
                f"ends at {estimation[1]}{written}, not before the earliest event-window start "
                f"{earliest} (study.event_windows); set an estimation_window that ends earlier",
            )

    def _min_returns(self, value: object, estimation: tuple[int, int]) -> int:
        field_name = "study.min_estimation_returns"
        number = integer(value, self.where, field_name)
        length = estimation[1] - estimation[0] + 1
        if not 0 < number <= length:
            raise self.where.error(
                field_name,
                f"{number} must be > 0 and at most the {length} sessions of the estimation window",
            )
        return number

    def _prices(self, value: object) -> PriceSettings:
        where, problems = self.where, self.problems
        prices = without_nulls(mapping_of(value, where, "study.prices"), PRICES_KEYS)
        mark = problems.mark()
        check_keys(prices, PRICES_KEYS, (), where, problems, prefix="study.prices.")
        snapshot = start = end = None
        proxies: dict[str, str] = {}
        if "snapshot" in prices:
            snapshot = problems.take(
                lambda: self.base_dir / text(prices["snapshot"], where, "study.prices.snapshot")
            )
        if "start" in prices:
            start = problems.take(
                lambda: calendar_date(prices["start"], where, "study.prices.start")
            )
        if "end" in prices:
            end = problems.take(lambda: calendar_date(prices["end"], where, "study.prices.end"))
        if "proxies" in prices:
            proxies = problems.take(lambda: self._proxies(prices["proxies"])) or {}
        if start is not None and end is not None and start > end:
            problems.add(
                where.error("study.prices", f"start {start.date()} is after end {end.date()}")
            )
        if problems.since(mark):
            return PriceSettings()  # the problems end the parse; the value is never used
        return PriceSettings(snapshot=snapshot, start=start, end=end, proxies=proxies)

    def _proxies(self, value: object) -> dict[str, str]:
        where = self.where
        mapping = mapping_of(value, where, "study.prices.proxies")
        proxies = {}
        for ticker, symbol in mapping.items():
            field_name = f"study.prices.proxies.{ticker}"
            key = text(ticker, where, "study.prices.proxies")
            proxies[key] = text(symbol, where, field_name)
        return proxies

    def _group_by(self, value: object) -> tuple[str, ...]:
        field_name = "study.group_by"
        items = [value] if isinstance(value, str) else value
        return strings(items, self.where, field_name)

    # -- models --

    def _check_models(self, default: ModelSpec, assets: tuple[Asset, ...]) -> None:
        """Benchmarks/factors are assets; benchmarks take no model; no asset is its own benchmark."""
        problems = self.problems
        problems.take(lambda: self._check_model_tickers(default, assets, self.where, "study.model"))
        for asset in assets:
            where = self.where.at(f"asset {asset.ticker!r}")
            if asset.is_benchmark:
                if asset.model is not None:
                    problems.add(
                        where.error(
                            "model",
                            f"group '{BENCHMARK_GROUP}' assets are not studied and take no model",
                        )
                    )
                continue
            if asset.model is not None:
                problems.take(
                    lambda asset=asset, where=where: self._check_model_tickers(
                        asset.model, assets, where, "model"
                    )
                )
            model = asset.model or default
            if asset.ticker in model.tickers():
                source = (
                    "its model" if asset.model else f"the default study.model {default.label()}"
                )
                problems.add(
                    where.error(
                        "model",
                        f"{source} uses the asset as its own benchmark/factor, which nets out the "
                        "shock under study; give it its own model (e.g. constant_mean)",
                    )
                )

    def _check_model_tickers(
        self, model: ModelSpec, assets: tuple[Asset, ...], where: Where, field_name: str
    ) -> None:
        if model.name == "factor":
            named = [
                (f"{field_name}.factors[{i}].ticker", f.ticker) for i, f in enumerate(model.factors)
            ]
        else:
            named = [(f"{field_name}.benchmark", model.benchmark)] if model.benchmark else []
        known = [asset.ticker for asset in assets]
        for name, ticker in named:
            if self._unknown("asset", ticker, known):
                raise where.error(
                    name,
                    f"unknown ticker {ticker!r} (add it to assets, e.g. in group "
                    f"'{BENCHMARK_GROUP}'){suggestion(ticker, known)}",
                )

    # -- assets --

    def _assets(self, document: LineDict) -> tuple[Asset, ...] | None:
        """Every asset that parsed; None when the list (or the CSV) cannot be read at all.

        Assets with a problem are left out (their tickers are remembered so that references to
        them raise no second problem).
        """
        problems = self.problems
        mark = problems.mark()
        listed: list[Asset] = []
        table_spec = self._asset_table_spec(document)
        if problems.since(mark):
            return None
        if "assets" in document:
            items = problems.take(
                lambda: list_of(
                    document["assets"], self.where, "assets", allow_empty=table_spec is not None
                )
            )
            if items is None:
                return None
            for i, item in enumerate(items):
                asset = self._asset(item, i)
                if asset is None:
                    continue
                if any(a.ticker == asset.ticker for a in listed):
                    problems.add(
                        self.where.at(f"asset {asset.ticker!r}").error(
                            "ticker", f"duplicate ticker (assets[{i}]{line_of(item)})"
                        )
                    )
                    continue
                listed.append(asset)
                self.asset_origin[asset.ticker] = (str(self.path),)
        if table_spec is not None:
            listed = self._merge_table(listed, table_spec)
            if listed is None:
                return None
        if problems.since(mark):
            return tuple(listed)
        if "assets" not in document and table_spec is None:
            return None  # reported as a missing key
        if not listed:
            problems.add(self.where.error("assets", "no assets (the list is empty)"))
            return None
        if all(asset.is_benchmark for asset in listed):
            problems.add(
                self.where.error(
                    "assets", f"no studied asset (every asset is in group '{BENCHMARK_GROUP}')"
                )
            )
        return tuple(listed)

    def _asset(self, value: object, index: int) -> Asset | None:
        where, problems = self.where.at(f"assets[{index}]{line_of(value)}"), self.problems
        asset = problems.take(lambda: mapping_of(value, where, None))
        if asset is None:
            self._unresolved("asset", None)
            return None
        asset = without_nulls(asset, [key for key in ASSET_KEYS if key not in ("ticker", "yahoo")])
        raw_ticker = asset.get("ticker")
        if isinstance(raw_ticker, str) and raw_ticker.strip():
            where = self.where.at(f"asset {raw_ticker.strip()!r}")
        mark = problems.mark()
        check_keys(asset, ASSET_KEYS, ASSET_REQUIRED, where, problems)
        ticker = (
            problems.take(lambda: text(asset["ticker"], where, "ticker"))
            if "ticker" in asset
            else None
        )
        defaults = [key for key in ("name", "group", "exchange") if key not in asset]

        def get(key: str, parse, default=None):
            return _written(problems, asset, key, parse, default)

        built = {
            "name": get("name", lambda v: text(v, where, "name"), ticker),
            "group": get("group", lambda v: text(v, where, "group"), DEFAULT_GROUP),
            "exchange": get("exchange", lambda v: resolve_exchange(v, where)),
            "model": get("model", lambda v: parse_model(v, where, "model")),
            "attributes": get("attributes", lambda v: parse_attributes(v, where), {}),
            "kind": get("kind", lambda v: choice(v, ASSET_KINDS, where, "kind"), "price"),
            "yahoo": get("yahoo", lambda v: parse_yahoo(v, where), ""),
        }
        if problems.since(mark) or ticker is None:
            self._unresolved("asset", raw_ticker)
            return None
        if built["exchange"] is None:
            built["exchange"] = infer_exchange(ticker)
        self.asset_defaults[ticker] = tuple(defaults)
        return Asset(ticker=ticker, **built)

    def _asset_table_spec(self, document: LineDict) -> AssetTableSpec | None:
        """The ``assets_from`` block (or the override path) as a table spec; None if absent."""
        override = self.assets_from_override
        if "assets_from" not in document and override is None:
            return None
        value = document.get("assets_from")
        if isinstance(value, str) or value is None:
            block: dict = {} if value is None else {"path": value}
        else:
            block = self.problems.take(lambda: mapping_of(value, self.where, "assets_from"))
            if block is None:
                return None
        where, problems = self.where, self.problems
        mark = problems.mark()
        required = () if override is not None else ("path",)
        check_keys(block, ASSETS_FROM_KEYS, required, where, problems, prefix="assets_from.")
        path, shown = Path(), ""
        if override is not None:
            path, shown = Path(override), str(override)
        elif "path" in block:
            written = problems.take(lambda: text(block["path"], where, "assets_from.path"))
            path, shown = self.base_dir / str(written), str(self.path.parent / str(written))
        columns = {
            key: problems.take(lambda key=key: text(block[key], where, f"assets_from.{key}"))
            for key in ("ticker", *ROLE_COLUMNS)
            if key in block
        }
        attributes = None
        if "attributes" in block:
            attributes = problems.take(
                lambda: strings(block["attributes"], where, "assets_from.attributes")
            )
        if problems.since(mark):
            return None
        return AssetTableSpec(
            path=path,
            shown=shown,
            ticker=columns.pop("ticker", "ticker"),
            columns=tuple(columns.items()),
            attributes=attributes,
        )

    def _merge_table(self, listed: list[Asset], spec: AssetTableSpec) -> list[Asset] | None:
        """Listed assets, then the CSV rows not listed (None: the CSV cannot be read).

        A listed asset keeps what it writes.

        For a ticker in both, the fields the ``assets:`` entry leaves to default come from
        the CSV row, and its attributes are added to (and override) the row's.
        """
        position = {asset.ticker: i for i, asset in enumerate(listed)}
        merged = list(listed)
        mark = self.problems.mark()
        rows = read_asset_table(spec, self.problems)
        if not rows and self.problems.since(mark):
            return None
        for row in rows:
            built = self._table_asset(row, spec.shown)
            if built is None:
                continue
            asset, row_defaults = built
            if row.ticker not in position:
                merged.append(asset)
                self.asset_defaults[row.ticker] = row_defaults
                self.asset_origin[row.ticker] = (spec.shown,)
                continue
            listed_asset = merged[position[row.ticker]]
            listed_defaults = self.asset_defaults[row.ticker]
            fill = {key: getattr(asset, key) for key in listed_defaults if key not in row_defaults}
            merged[position[row.ticker]] = dataclasses.replace(
                listed_asset, attributes={**asset.attributes, **listed_asset.attributes}, **fill
            )
            self.asset_defaults[row.ticker] = tuple(k for k in listed_defaults if k not in fill)
            self.asset_origin[row.ticker] = (str(self.path), spec.shown)
        return merged

    def _table_asset(self, row: AssetRow, shown: str) -> tuple[Asset, tuple[str, ...]] | None:
        """The asset of one CSV row and the fields it leaves to default."""
        exchange = None
        if "exchange" in row.fields:
            exchange = self.problems.take(
                lambda: resolve_exchange(row.fields["exchange"], row.where(shown), "exchange")
            )
            if exchange is None:
                self.unresolved_tickers.add(row.ticker)
                return None
        asset = Asset(
            ticker=row.ticker,
            name=row.fields.get("name", row.ticker),
            exchange=exchange or infer_exchange(row.ticker),
            group=row.fields.get("group", DEFAULT_GROUP),
            attributes=dict(row.attributes),
        )
        return asset, tuple(key for key in ("name", "group", "exchange") if key not in row.fields)

    def _check_study_references(
        self, settings: StudySettings | None, assets: tuple[Asset, ...]
    ) -> None:
        """``group_by`` names are carried by a studied asset; proxies name a study ticker."""
        where, problems = self.where, self.problems
        if settings is None:
            return
        studied = [a for a in assets if not a.is_benchmark]
        for i, name in enumerate(settings.group_by):
            if name == "group" or not self._assets_complete or not studied:
                continue
            if not any(asset.attribute(name) is not None for asset in studied):
                carried = sorted({key for asset in studied for key in asset.attributes})
                problems.add(
                    where.error(
                        f"study.group_by[{i}]",
                        f"no studied asset carries the attribute {name!r} "
                        f"(group or one of: {', '.join(carried) or 'no attributes given'})"
                        f"{suggestion(name, ['group', *carried])}",
                    )
                )
        tickers = [asset.ticker for asset in assets]
        for ticker in settings.prices.proxies:
            if self._unknown("asset", ticker, tickers):
                problems.add(
                    where.error(
                        f"study.prices.proxies.{ticker}",
                        f"unknown ticker {ticker!r} (not in assets){suggestion(ticker, tickers)}",
                    )
                )

    # -- events --

    def _events(self, document: LineDict, assets: tuple[Asset, ...] | None) -> tuple[Event, ...]:
        problems = self.problems
        collected: list[_Placed] = []
        if "events_from" in document:
            collected += self._events_from(
                document["events_from"], assets, self.where, self.path, {self.path.resolve()}
            )
        if "events" in document:
            collected += self._event_list(
                document["events"], assets, self.where, allow_empty="events_from" in document
            )
        first_seen: dict[str, str] = {}
        events: list[Event] = []
        for placed in collected:
            event_id = placed.event.id
            if event_id in first_seen:
                problems.add(
                    placed.where.at(f"event {event_id!r}").error(
                        "id", f"duplicate id ({placed.place}; first used by {first_seen[event_id]})"
                    )
                )
                continue
            first_seen[event_id] = placed.place
            events.append(placed.event)
        if not events and not problems.lines:
            problems.add(self.where.error("events", "no events (the list is empty)"))
        return tuple(events)

    def _event_list(
        self, value: object, assets: tuple[Asset, ...] | None, where: Where, *, allow_empty: bool
    ) -> list[_Placed]:
        """Events of one ``events:`` list, each with the file and item it comes from."""
        items = self.problems.take(lambda: list_of(value, where, "events", allow_empty=allow_empty))
        parsed = []
        for i, item in enumerate(items or ()):
            event = self._event(item, i, assets, where)
            if event is not None:
                place = f"events[{i}]{line_of(item)}"
                if where.file != self.where.file:
                    place += f" of {where.file}"
                parsed.append(_Placed(event, where, place))
                self.event_origin.setdefault(event.id, where.file)
        return parsed

    def _events_from(
        self,
        value: object,
        assets: tuple[Asset, ...] | None,
        where: Where,
        path: Path,
        visited: set[Path],
    ) -> list[_Placed]:
        """Events of another study file (after those it takes from further files), validated here.

        ``where``/``path`` are the file that names ``events_from``; relative paths are taken
        from its folder. Only ``events`` and ``events_from`` of the other file are read.
        """
        problems = self.problems
        written = problems.take(lambda: text(value, where, "events_from"))
        if written is None:
            return []
        other = (path.resolve().parent / written).resolve()
        shown = path.parent / written
        if other in visited:
            problems.add(where.error("events_from", f"{shown} takes its events from itself"))
            return []
        try:
            other_text = other.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.add(where.error("events_from", f"file not found: {shown}"))
            return []
        except (OSError, UnicodeDecodeError) as exc:
            problems.add(where.error("events_from", f"cannot read {shown}: {exc}"))
            return []
        other_where = Where(str(shown))
        document = problems.take(lambda: read_yaml(other_text, other_where, "events"))
        if document is None:
            return []
        if "events" not in document and "events_from" not in document:
            problems.add(
                other_where.error("events", "missing (events_from reads this file's events)")
            )
            return []
        collected = []
        if "events_from" in document:
            collected += self._events_from(
                document["events_from"], assets, other_where, shown, visited | {other}
            )
        if "events" in document:
            collected += self._event_list(
                document["events"], assets, other_where, allow_empty="events_from" in document
            )
        return collected

    def _event(
        self, value: object, index: int, assets: tuple[Asset, ...] | None, file_where: Where
    ) -> Event | None:
        where, problems = file_where.at(f"events[{index}]{line_of(value)}"), self.problems
        event = problems.take(lambda: mapping_of(value, where, None))
        if event is None:
            self._unresolved("event", None)
            return None
        event = without_nulls(event, [key for key in EVENT_KEYS if key not in EVENT_REQUIRED])
        raw_id = event.get("id")
        if isinstance(raw_id, str) and IDENTIFIER.fullmatch(raw_id.strip()):
            where = file_where.at(f"event {raw_id.strip()!r}")
        mark = problems.mark()
        check_keys(event, EVENT_KEYS, EVENT_REQUIRED, where, problems)

        def get(key: str, parse, default=None):
            return _written(problems, event, key, parse, default)

        event_id = get("id", lambda v: identifier(v, IDENTIFIER, where, "id", "liberation-day"))
        built = {
            "title": get("title", lambda v: text(v, where, "title"), event_id),
            "category": get(
                "category",
                lambda v: identifier(v, IDENTIFIER, where, "category", "tariff_announcement"),
            ),
            "announced": get("announced", lambda v: timestamp_with_offset(v, where, "announced")),
            "sources": get("sources", lambda v: strings(v, where, "sources")),
            "time_precision": get("time_precision", lambda v: text(v, where, "time_precision")),
            "tags": get("tags", lambda v: strings(v, where, "tags", allow_empty=True), ()),
            "assets": get("assets", lambda v: self._event_assets(v, assets, where)),
        }
        if problems.since(mark) or event_id is None:
            self._unresolved("event", raw_id)
            return None
        self.event_defaults[event_id] = () if "title" in event else ("title",)
        return Event(id=event_id, **built)

    def _event_assets(
        self, value: object, assets: tuple[Asset, ...] | None, where: Where
    ) -> tuple[str, ...]:
        tickers = strings(value, where, "assets")
        if assets is None:  # the asset list has a problem of its own
            return tickers
        studied = [asset.ticker for asset in assets if not asset.is_benchmark]
        known = {asset.ticker for asset in assets}
        for i, ticker in enumerate(tickers):
            if ticker in known and ticker not in studied:
                raise where.error(
                    f"assets[{i}]", f"{ticker!r} is in group '{BENCHMARK_GROUP}' and is not studied"
                )
            if self._unknown("asset", ticker, known):
                raise where.error(
                    f"assets[{i}]",
                    f"unknown ticker {ticker!r} (not in assets){suggestion(ticker, studied)}",
                )
        return tickers

    # -- report --

    def _report(
        self, document: LineDict, events: tuple[Event, ...], assets: tuple[Asset, ...]
    ) -> ReportSettings:
        where, problems = self.where, self.problems
        if document.get("report") is None:
            self.defaulted.update({"report", *(f"report.{key}" for key in REPORT_KEYS)})
            return ReportSettings()
        report = problems.take(lambda: mapping_of(document["report"], where, "report"))
        if report is None:
            return ReportSettings()
        report = without_nulls(report, REPORT_KEYS)
        check_keys(report, REPORT_KEYS, (), where, problems, prefix="report.")
        ids = [event.id for event in events]
        groups = sorted({asset.group for asset in assets if not asset.is_benchmark})

        def get(key: str, parse):
            return self._optional(report, key, "report.", parse, None)

        values = {
            "title": get("title", lambda v: text(v, where, "report.title")),
            "question": get("question", lambda v: text(v, where, "report.question")),
            "key_events": get("key_events", lambda v: self._event_ids(v, ids, "report.key_events")),
            "headline_windows": get("headline_windows", self._headline_windows),
            "market_group": get("market_group", lambda v: self._market_group(v, groups)),
            "joint": get("joint", lambda v: self._joint(v, ids)),
            "cross_section": get("cross_section", lambda v: text(v, where, "report.cross_section")),
        }
        return ReportSettings(**values)

    def _event_ids(
        self, value: object, ids: list[str], field_name: str, *, allow_empty: bool = True
    ) -> tuple[str, ...]:
        chosen = strings(value, self.where, field_name, allow_empty=allow_empty)
        for i, event_id in enumerate(chosen):
            if self._unknown("event", event_id, ids):
                raise self.where.error(
                    f"{field_name}[{i}]",
                    f"unknown event id {event_id!r}{suggestion(event_id, ids)}",
                )
        return chosen

    def _headline_windows(self, value: object) -> tuple[tuple[int, int], ...]:
        chosen = windows(value, self.where, "report.headline_windows")
        if self.event_windows is not None:
            for i, item in enumerate(chosen):
                if item not in self.event_windows:
                    listed = ", ".join(str(list(w)) for w in self.event_windows)
                    raise self.where.error(
                        f"report.headline_windows[{i}]",
                        f"{list(item)} is not one of study.event_windows ({listed})",
                    )
        return chosen

    def _market_group(self, value: object, groups: list[str]) -> str:
        group = text(value, self.where, "report.market_group")
        if groups and self._assets_complete and group not in groups:
            raise self.where.error(
                "report.market_group",
                f"no studied asset is in group {group!r} (groups: {', '.join(groups)})"
                f"{suggestion(group, groups)}",
            )
        return group

    def _joint(self, value: object, ids: list[str]) -> tuple[tuple[str, ...], ...]:
        clusters = list_of(value, self.where, "report.joint")
        joint = []
        for i, cluster in enumerate(clusters):
            field_name = f"report.joint[{i}]"
            members = self._event_ids(cluster, ids, field_name, allow_empty=False)
            if len(members) < 2:
                raise self.where.error(field_name, "a joint estimation needs at least two events")
            joint.append(members)
        return tuple(joint)


def _written(problems: Problems, mapping: dict, key: str, parse, default=None):
    """``parse(mapping[key])`` when the key is written (None after a problem), else ``default``."""
    return problems.take(lambda: parse(mapping[key])) if key in mapping else default
