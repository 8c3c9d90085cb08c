"""A study file (``events.yaml``) as immutable study objects, and the functions that read it.

The types below are the public contract used by every later stage; ``load_config`` and
``parse_config`` are the only entry points that read a study file (the schema and the parser
live in :mod:`eventstudy.study_parser`; the key reference is ``docs/study-file.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

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
"""Assets in this group are loaded as regressors only, never studied."""
DEFAULT_GROUP = "assets"
"""The group of an asset whose study file gives none."""
FX_EXCHANGE = "FX"
"""Pseudo-exchange of Yahoo FX rates (``JPY=X``): every weekday is a session."""
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
    cross_section: str | None = None
    """Formula of the report's cross-sectional regression (``None``: built from ``group_by``)."""


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
    volume: bool = True
    """Measure abnormal trading volume for the assets whose prices come with volume."""
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
        """The asset of ``ticker`` (the first one, should the file name it twice); a dict
        look-up, so a study of thousands of assets is not searched once per asset."""
        try:
            return self._assets_by_ticker[ticker]
        except KeyError:
            raise KeyError(ticker) from None

    @cached_property
    def _assets_by_ticker(self) -> dict[str, Asset]:
        by_ticker: dict[str, Asset] = {}
        for a in self.assets:
            by_ticker.setdefault(a.ticker, a)
        return by_ticker

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
# Exchanges of tickers and reading a study file
# ---------------------------------------------------------------------------

SUFFIX_EXCHANGES = {
    ".T": "XTKS",
    ".L": "XLON",
    ".DE": "XETR",
    ".F": "XFRA",
    ".PA": "XPAR",
    ".AS": "XAMS",
    ".MI": "XMIL",
    ".MC": "XMAD",
    ".SW": "XSWX",
    ".HK": "XHKG",
    ".KS": "XKRX",
    ".AX": "XASX",
    ".TO": "XTSE",
    ".SI": "XSES",
    ".TW": "XTAI",
    ".BO": "XBOM",
    ".SS": "XSHG",
}
"""Yahoo Finance ticker suffix -> ``exchange_calendars`` code of the listing exchange."""
INDEX_EXCHANGES = {
    "^N225": "XTKS",
    "^TOPX": "XTKS",
    "^FTSE": "XLON",
    "^GDAXI": "XETR",
    "^FCHI": "XPAR",
    "^AEX": "XAMS",
    "^SSMI": "XSWX",
    "^HSI": "XHKG",
    "^KS11": "XKRX",
    "^AXJO": "XASX",
    "^GSPTSE": "XTSE",
    "^STI": "XSES",
    "^TWII": "XTAI",
    "^BSESN": "XBOM",
}
"""Well-known Yahoo Finance index symbols that do not trade in New York."""


def infer_exchange(ticker: str) -> str:
    """Exchange of a ticker when the study file does not give one.

    Yahoo FX rates (suffix ``=X``) trade on ``FX``; a Yahoo listing suffix (``.T`` Tokyo,
    ``.L`` London, ... :data:`SUFFIX_EXCHANGES`) or a well-known index symbol
    (:data:`INDEX_EXCHANGES`) names its exchange; everything else is taken to trade on
    ``XNYS``. Series with other names (e.g. an index Yahoo does not carry) need an explicit
    ``exchange:`` in the study file.

    Examples
    --------
    >>> infer_exchange("8035.T"), infer_exchange("JPY=X"), infer_exchange("^SOX")
    ('XTKS', 'FX', 'XNYS')
    """
    if ticker.endswith("=X"):
        return FX_EXCHANGE
    if ticker in INDEX_EXCHANGES:
        return INDEX_EXCHANGES[ticker]
    for suffix, exchange in SUFFIX_EXCHANGES.items():
        if ticker.endswith(suffix) and len(ticker) > len(suffix):
            return exchange
    return "XNYS"


def load_config(path: str | Path, *, assets_from: str | Path | None = None) -> StudyConfig:
    """Read and validate a study file.

    Parameters
    ----------
    path : str or Path
        The study file (e.g. ``events.yaml``). Relative paths inside it (``study.prices.snapshot``,
        ``assets_from``, ``events_from``) are resolved against the folder of this file.
    assets_from : str or Path, optional
        A CSV of assets to use instead of the file's ``assets_from.path`` (relative to the
        working directory), e.g. given on the command line.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        For every problem (missing file, YAML syntax, unknown or missing keys, invalid values).
        All problems of the file are reported together, one line each, naming the file, the
        event or asset, and the field (:class:`~eventstudy.study_fields.StudyFileError`).

    Examples
    --------
    >>> config = load_config("events.yaml")  # doctest: +SKIP
    >>> len(config.events), config.settings.model.label()  # doctest: +SKIP
    (46, 'market(^TOPX)')
    """
    from eventstudy.study_parser import read_study

    return read_study(path, assets_from=assets_from).config


def parse_config(
    text: str, path: str | Path = "events.yaml", *, assets_from: str | Path | None = None
) -> StudyConfig:
    """Validate the text of a study file; ``path`` names it in messages and anchors relative paths.

    Every optional key takes its default (``docs/study-file.md``): a study needs only its assets
    and events.

    Examples
    --------
    >>> text = '''
    ... assets: [{ticker: ^N225, name: Nikkei 225, group: index}]
    ... events:
    ... - {id: e1, category: tariffs, announced: '2025-04-02T16:00:00-04:00', sources: [S]}
    ... '''
    >>> config = parse_config(text, "demo.yaml")
    >>> config.settings.name, config.settings.estimation_window, config.events[0].title
    ('demo', (-260, -11), 'e1')
    """
    from eventstudy.study_parser import parse_study_text

    return parse_study_text(text, path, assets_from=assets_from).config
