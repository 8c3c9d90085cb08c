"""Parse and validate ``events.yaml`` into immutable study objects.

The types below are the public contract used by every later stage; the parser
(``load_config``) is the only place that reads the YAML file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

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

    @property
    def is_benchmark(self) -> bool:
        return self.group == BENCHMARK_GROUP


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

    def all_tickers(self) -> tuple[str, ...]:
        """Assets plus every benchmark/factor ticker any model refers to, in file order, unique."""
        seen: dict[str, None] = {}
        for a in self.assets:
            seen[a.ticker] = None
        for a in self.studied_assets:
            for t in self.model_for(a).tickers():
                seen[t] = None
        return tuple(seen)
