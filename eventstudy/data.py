"""Price sources: a snapshot directory of CSV files, or Yahoo Finance with an on-disk cache.

Every source answers one question, ``get(tickers, start, end) -> PriceData``: a
panel of adjusted closes (one column per ticker, naive local trading dates), the
tickers it could not supply with a one-line reason each, and a provenance table.
A ticker that cannot be supplied never raises; a file that is present but wrong
(malformed CSV, checksum mismatch) does, with a :class:`~eventstudy.errors.DataError`
naming the file, and so does Yahoo Finance being unreachable (:class:`YahooUnreachable`).

Which Yahoo symbol a ticker is downloaded under is the study's own declaration
(``Asset.yahoo_symbol``: the ticker itself, another symbol for the same series, or None when
Yahoo does not carry it). A study may also name *proxies* (``study.prices.proxies``): a
different series used in a ticker's place only when the ticker itself cannot be supplied;
every substitution is recorded in ``PriceData.provenance['proxy']`` and ``PriceData.notes``.

Where prices come from (:func:`resolve_source`): command-line flag >
``$EVENTSTUDY_SNAPSHOT`` > ``study.prices.snapshot`` in ``events.yaml`` >
Yahoo Finance through the cache (:mod:`eventstudy.cache`).
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol, Self, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from .cache import CachedPrices, CacheMiss, PriceCache, default_cache_dir, utc_now_iso
from .errors import DataError
from .events import StudyConfig

__all__ = [
    "PriceData",
    "PriceSource",
    "SnapshotSource",
    "YahooSource",
    "YahooUnreachable",
    "default_cache_dir",
    "describe_cached",
    "fetch_prices",
    "resolve_source",
    "snapshot_universe",
]

DateLike = date | str | pd.Timestamp | None
PricesLike = TypeVar("PricesLike", pd.Series, pd.DataFrame)

PROVENANCE_COLUMNS = (
    "ticker",
    "source",
    "location",
    "alias",
    "proxy",
    "first",
    "last",
    "rows",
    "sha256",
    "retrieved_at",
)
SNAPSHOT_HEADER = ("date", "open", "high", "low", "close", "adj_close", "volume")
DEFAULT_LOOKBACK_YEARS = 3
YAHOO_HISTORY_START = pd.Timestamp("1980-01-01")

# ============================================================================ results
@dataclass(frozen=True)
class PriceData:
    """Adjusted closes (and volumes) of the supplied tickers, what is missing and where each came from.

    Attributes
    ----------
    closes : DataFrame
        Index ``date`` (naive local trading dates, ascending, unique); one float column of
        adjusted closes per *supplied* ticker, in request order; NaN where a ticker has no
        row on a date another ticker has.
    missing : Mapping[str, str]
        Ticker -> one-line reason it could not be supplied (empty when all were found).
    provenance : DataFrame
        One row per supplied ticker: ``ticker, source ('snapshot'|'yahoo'|'cache'),
        location, alias`` (Yahoo symbol of the same series, when it differs from the ticker),
        ``proxy`` (Yahoo symbol of the *different* series used in its place, see
        ``study.prices.proxies``; '' when none), ``first, last, rows, sha256, retrieved_at``.
    notes : Mapping[str, str]
        Ticker -> remarks that did not prevent supplying it (alias or proxy used, corrupt
        cache entry replaced, cache written only partly, ...).
    volumes : DataFrame
        Daily traded volume, same index and columns as ``closes``; NaN where the source has
        none (indices and close-only series in a snapshot). Filled with NaN when not given.

    Examples
    --------
    >>> data = SnapshotSource("prices").get(["^N225", "^FOO"], "2025-04-01")
    ... # doctest: +SKIP
    >>> data.closes["^N225"].pct_change().loc["2025-04-07"]  # doctest: +SKIP
    -0.0782...
    >>> dict(data.missing)  # doctest: +SKIP
    {'^FOO': "no file '^FOO.csv' in snapshot prices (nor in its universe/)"}
    """

    closes: pd.DataFrame
    missing: Mapping[str, str]
    provenance: pd.DataFrame
    notes: Mapping[str, str] = field(default_factory=dict)
    volumes: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        volumes = self.volumes
        if volumes is None:
            volumes = pd.DataFrame(np.nan, index=self.closes.index, columns=self.closes.columns)
        else:
            volumes = volumes.reindex(index=self.closes.index, columns=self.closes.columns)
        object.__setattr__(self, "volumes", volumes.astype("float64"))


class PriceSource(Protocol):
    """Anything that can supply adjusted closes for tickers over a date range."""

    def get(
        self, tickers: Sequence[str], start: DateLike = None, end: DateLike = None
    ) -> PriceData: ...


class _Collector:
    """Accumulates per-ticker results of one ``get`` call and builds the :class:`PriceData`."""

    def __init__(self) -> None:
        self.series: dict[str, pd.Series] = {}
        self.volumes: dict[str, pd.Series] = {}
        self.provenance: list[dict] = []
        self.missing: dict[str, str] = {}
        self.notes: dict[str, str] = {}

    def supply(
        self, ticker: str, closes: pd.Series, volumes: pd.Series | None, **provenance: object
    ) -> None:
        self.series[ticker] = closes.rename(ticker)
        if volumes is not None:
            self.volumes[ticker] = volumes.reindex(closes.index).rename(ticker)
        row = {"ticker": ticker, "proxy": "", **provenance, "rows": len(closes)}
        row["first"], row["last"] = closes.index.min(), closes.index.max()
        self.provenance.append(row)

    def note(self, ticker: str, text: str) -> None:
        self.notes[ticker] = f"{self.notes[ticker]}; {text}" if ticker in self.notes else text

    def build(self, order: Sequence[str]) -> PriceData:
        supplied = [t for t in order if t in self.series]
        series = [self.series[t] for t in supplied]
        rows = _union_rows(series)
        if rows is not None:  # every series dated, ascending, unique: one array filled in place
            dates, positions = rows
            closes = pd.DataFrame(_filled(series, positions, len(dates)),
                                  index=pd.DatetimeIndex(dates, name="date"), columns=supplied)
            vols = [self.volumes.get(t) for t in supplied]
            volumes = pd.DataFrame(_filled(vols, positions, len(dates)), index=closes.index,
                                   columns=closes.columns)
            provenance = pd.DataFrame(self.provenance, columns=list(PROVENANCE_COLUMNS))
            return self._result(order, supplied, closes, volumes, provenance)
        if supplied:
            closes = pd.concat(series, axis=1, sort=True)
        else:
            closes = pd.DataFrame(index=pd.DatetimeIndex([], dtype="datetime64[ns]"))
        closes.index = pd.DatetimeIndex(closes.index, freq=None, name="date")
        closes.columns.name = None
        volumes = pd.DataFrame(
            {t: self.volumes.get(t, pd.Series(dtype="float64")) for t in supplied},
            index=closes.index,
            columns=closes.columns,
            dtype="float64",
        )
        return self._result(order, supplied, closes, volumes,
                            pd.DataFrame(self.provenance, columns=list(PROVENANCE_COLUMNS)))

    def _result(self, order, supplied, closes, volumes, provenance) -> PriceData:
        position = {t: i for i, t in enumerate(supplied)}
        provenance = provenance.sort_values("ticker", key=lambda s: s.map(position))
        missing = {t: self.missing[t] for t in order if t in self.missing}
        return PriceData(
            closes, missing, provenance.reset_index(drop=True), dict(self.notes), volumes
        )


def _union_rows(series: list[pd.Series]) -> tuple[np.ndarray, list[np.ndarray]] | None:
    """The sorted union of the series' dates (``datetime64[ns]``) and each series' rows in it;
    None unless every series is float64 on an ascending, unique, naive ``DatetimeIndex``."""
    if not series:
        return None
    for one in series:
        index = one.index
        if not (isinstance(index, pd.DatetimeIndex) and index.tz is None and one.dtype == np.float64
                and index.dtype == "datetime64[ns]" and index.is_monotonic_increasing
                and index.is_unique):
            return None
    dates = np.unique(np.concatenate([one.index.values for one in series]))
    return dates, [np.searchsorted(dates, one.index.values) for one in series]


def _filled(series: list[pd.Series | None], positions: list[np.ndarray], n_rows: int) -> np.ndarray:
    """A (rows, series) float array with each series' values at its rows, NaN elsewhere."""
    out = np.full((len(series), n_rows), np.nan)
    for row, one, where in zip(out, series, positions):
        if one is not None:
            row[where] = one.to_numpy(dtype="float64")
    return out.T


def _unique(tickers: Iterable[str]) -> list[str]:
    if isinstance(tickers, str):
        tickers = [tickers]
    return list(dict.fromkeys(tickers))


def _timestamp(value: DateLike, default: pd.Timestamp) -> pd.Timestamp:
    if value is None:
        return default
    stamp = pd.Timestamp(value)
    if stamp.tz is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def _today() -> pd.Timestamp:
    return pd.Timestamp.today().normalize()


def _trim(values: PricesLike, start: pd.Timestamp, end: pd.Timestamp) -> PricesLike:
    return values.loc[(values.index >= start) & (values.index <= end)]


def _span(closes: pd.Series | pd.DataFrame) -> str:
    return f"{closes.index.min():%Y-%m-%d} .. {closes.index.max():%Y-%m-%d}"


# =========================================================================== snapshot
class SnapshotSource:
    """Prices from a snapshot directory: ``<dir>/<ticker>.csv``, else ``<dir>/universe/<ticker>.csv``.

    Files use the snapshot format ``date,open,high,low,close,adj_close,volume``; only
    ``date`` and ``adj_close`` are read. Each file is checked (header, ascending unique
    dates, positive finite prices, sha256 against ``manifest.json`` or
    ``universe/INDEX.csv`` when the file is listed there). The directory is never written.

    Parameters
    ----------
    directory : str or Path
        The snapshot directory.
    origin : str, optional
        Where the path came from (for error messages), e.g. ``"EVENTSTUDY_SNAPSHOT"``.

    Examples
    --------
    >>> source = SnapshotSource("prices")  # doctest: +SKIP
    >>> source.get(["^N225"], "2025-04-04", "2025-04-07").closes  # doctest: +SKIP
                       ^N225
    date
    2025-04-04  33780.578125
    2025-04-07  31136.580078
    """

    def __init__(self, directory: str | Path, *, origin: str = "") -> None:
        self.directory = Path(directory).expanduser()
        if not self.directory.is_dir():
            where = f" (from {origin})" if origin else ""
            raise DataError(f"price snapshot directory {self.directory}{where} does not exist")
        self._expected: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"SnapshotSource({str(self.directory)!r})"

    def get(
        self, tickers: Sequence[str], start: DateLike = None, end: DateLike = None
    ) -> PriceData:
        """Adjusted closes of ``tickers`` between ``start`` and ``end`` (inclusive; None = all)."""
        order = _unique(tickers)
        first = _timestamp(start, pd.Timestamp.min)
        last = _timestamp(end, pd.Timestamp.max)
        result = _Collector()
        for ticker in order:
            self._get_one(ticker, first, last, result)
        return result.build(order)

    def path_of(self, ticker: str) -> Path | None:
        """The file holding ``ticker``, or None when the snapshot has none."""
        for candidate in (
            self.directory / f"{ticker}.csv",
            self.directory / "universe" / f"{ticker}.csv",
        ):
            if candidate.is_file():
                return candidate
        return None

    def _get_one(
        self, ticker: str, start: pd.Timestamp, end: pd.Timestamp, result: _Collector
    ) -> None:
        path = self.path_of(ticker)
        if path is None:
            result.missing[ticker] = (
                f"no file '{ticker}.csv' in snapshot {self.directory} (nor in its universe/)"
            )
            return
        dates, closes, volumes, digest = _read_snapshot_arrays(path, self._expected_sha256(path))
        inside = (dates >= start.to_datetime64()) & (dates <= end.to_datetime64())
        if not inside.any():
            result.missing[ticker] = (
                f"snapshot file {path} has no rows in the requested range "
                f"(it covers {pd.Timestamp(dates[0]):%Y-%m-%d} .. {pd.Timestamp(dates[-1]):%Y-%m-%d})"
            )
            return
        index = pd.DatetimeIndex(dates[inside], name="date")
        result.supply(
            ticker,
            pd.Series(closes[inside], index=index, name="adj_close"),
            pd.Series(volumes[inside], index=index, name="volume"),
            source="snapshot",
            location=str(path),
            alias="",
            sha256=digest,
            retrieved_at="",
        )

    def _expected_sha256(self, path: Path) -> str | None:
        if self._expected is None:
            self._expected = _snapshot_checksums(self.directory)
        return self._expected.get(path.relative_to(self.directory).as_posix())


def _snapshot_checksums(directory: Path) -> dict[str, str]:
    """Relative file path -> sha256 recorded in ``manifest.json`` and ``universe/INDEX.csv``."""
    expected: dict[str, str] = {}
    manifest = directory / "manifest.json"
    if manifest.is_file():
        try:
            for series in json.loads(manifest.read_text(encoding="utf-8"))["series"]:
                expected[series["file"]] = series["sha256"]
        except (ValueError, KeyError, TypeError) as error:
            raise DataError(f"snapshot manifest {manifest} is malformed: {error!r}") from None
    index = directory / "universe" / "INDEX.csv"
    if index.is_file():
        with open(index, newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row.get("code") and row.get("sha256"):
                    expected[f"universe/{row['code']}.csv"] = row["sha256"]
    return expected


def read_snapshot_file(
    path: str | Path, expected_sha256: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Read and validate one snapshot CSV; return its adjusted closes and volumes, and its sha256.

    The frame has a ``date`` index and the float columns ``adj_close`` and ``volume`` (NaN
    where the file has no volume: empty cells, or no ``volume`` column at all).

    Raises
    ------
    DataError
        One line naming the file and the problem (checksum, header, unparsable value,
        empty value, unsorted or duplicate dates, non-positive price, no rows).

    Examples
    --------
    >>> prices, sha = read_snapshot_file("prices/^N225.csv")  # doctest: +SKIP
    >>> prices.loc["2025-04-07", "adj_close"]  # doctest: +SKIP
    31136.580078125
    """
    dates, values, volumes, digest = _read_snapshot_arrays(Path(path), expected_sha256)
    index = pd.DatetimeIndex(dates, name="date")
    frame = pd.DataFrame({"adj_close": values, "volume": volumes}, index=index, dtype="float64")
    return frame, digest


def _read_snapshot_arrays(
    path: Path, expected_sha256: str | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """:func:`read_snapshot_file` as arrays: dates (``datetime64[ns]``), adjusted closes,
    volumes and the file's sha256."""
    payload = path.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    if expected_sha256 is not None and digest != expected_sha256:
        _fail(path, f"sha256 {digest} does not match the snapshot manifest ({expected_sha256})")
    has_volume = _check_header(path, payload)
    dates, values, volumes = _parse_snapshot_csv(path, payload, has_volume)
    _check_rows(path, dates, values, volumes)
    return (dates.astype("datetime64[ns]"), values.astype("float64", copy=False),
            volumes.astype("float64", copy=False), digest)


def _fail(path: Path, problem: str) -> None:
    raise DataError(f"snapshot file {path}: {problem}")


def _check_header(path: Path, payload: bytes) -> bool:
    """Require ``date`` and ``adj_close``; return whether the file has a ``volume`` column."""
    header_line = payload.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    header = [name.strip() for name in header_line.split(",")]
    absent = [name for name in ("date", "adj_close") if name not in header]
    if absent:
        _fail(
            path,
            f"header {header_line!r} lacks {', '.join(absent)} "
            f"(expected {','.join(SNAPSHOT_HEADER)})",
        )
    return "volume" in header


def _parse_snapshot_csv(
    path: Path, payload: bytes, has_volume: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    columns = ["date", "adj_close"] + (["volume"] if has_volume else [])
    options = pacsv.ConvertOptions(
        include_columns=columns,
        column_types={"date": pa.date32(), "adj_close": pa.float64(), "volume": pa.float64()},
    )
    try:
        table = pacsv.read_csv(io.BytesIO(payload), convert_options=options,  # small files:
                               read_options=pacsv.ReadOptions(use_threads=False))  # no thread pool
    except pa.ArrowInvalid as error:
        _fail(path, " ".join(str(error).split()))
    for name in ("date", "adj_close"):
        column = table.column(name)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            _fail(path, f"empty {name} on line {row + 2}")
    dates = table.column("date").to_numpy().astype("datetime64[D]")
    volumes = (
        table.column("volume").to_numpy(zero_copy_only=False).astype("float64")
        if has_volume
        else np.full(len(dates), np.nan)
    )
    return dates, table.column("adj_close").to_numpy(), volumes


def _check_rows(path: Path, dates: np.ndarray, values: np.ndarray, volumes: np.ndarray) -> None:
    if len(dates) == 0:
        _fail(path, "no data rows")
    steps = np.diff(dates.astype("int64"))
    if (steps == 0).any():
        row = int(np.flatnonzero(steps == 0)[0]) + 1
        _fail(path, f"duplicate date {dates[row]} (line {row + 2})")
    if (steps < 0).any():
        row = int(np.flatnonzero(steps < 0)[0]) + 1
        _fail(path, f"dates not ascending: {dates[row]} follows {dates[row - 1]} (line {row + 2})")
    bad = ~(np.isfinite(values) & (values > 0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        _fail(
            path,
            f"non-positive or non-finite adj_close {values[row]} on {dates[row]} (line {row + 2})",
        )
    negative = volumes < 0
    if negative.any():
        row = int(np.flatnonzero(negative)[0])
        _fail(path, f"negative volume {volumes[row]:g} on {dates[row]} (line {row + 2})")


def snapshot_universe(directory: str | Path) -> list[str]:
    """Tickers of the stock universe in ``<directory>/universe/*.csv``, sorted.

    Examples
    --------
    >>> tickers = snapshot_universe("prices")  # doctest: +SKIP
    >>> len(tickers), tickers[0]  # doctest: +SKIP
    (318, '1605.T')
    """
    folder = Path(directory).expanduser() / "universe"
    if not folder.is_dir():
        raise DataError(f"snapshot {directory} has no universe/ folder")
    return sorted(p.stem for p in folder.glob("*.csv") if p.name != "INDEX.csv")


# ============================================================================== yahoo
Downloader = Callable[..., pd.DataFrame]


class YahooSource:
    """Prices from Yahoo Finance (``yfinance.download``) through an on-disk cache.

    Tickers whose cached range covers the request are read from the cache (after a
    sha256 check). The others are downloaded in batches of ``batch_size``; a batch is
    retried with exponential backoff (``backoff * 2**k`` seconds) after an exception
    *or* when yfinance returns no rows for some of its tickers (yfinance logs failures
    and returns an empty or all-NaN frame instead of raising). Tickers still without
    rows are reported in ``PriceData.missing``. When every symbol of a batch fails with a
    connection error (DNS, refused or timed-out connection, as yfinance logs them), the
    download stops at once with :class:`YahooUnreachable`. yfinance's own log lines are
    collected, not printed, unless the ``eventstudy`` logger is at INFO (``--verbose``).

    A partly covered ticker is downloaded again over the union of the cached and the
    requested range and replaces the cached file: Yahoo's auto-adjusted history is
    rescaled after every dividend or split, so stitching an old and a new download
    would put a jump at the seam.

    Parameters
    ----------
    cache_dir : str or Path, optional
        Cache directory (default :func:`default_cache_dir`).
    offline : bool
        Read the cache only; uncached tickers go to ``missing``; a partly covered ticker is
        supplied with what is cached and a note.
    batch_size : int
        Tickers per ``yfinance.download`` call.
    retries : int
        Further attempts after the first one, per batch.
    backoff : float
        Seconds before the first retry; doubled at each further retry.
    downloader : callable, optional
        Replacement for ``yfinance.download`` (same keyword arguments); tests inject fakes.
    symbols : Mapping, optional
        Ticker -> Yahoo symbol, or None when Yahoo does not carry the series (such tickers
        are reported missing without a network call). Tickers not listed are downloaded
        under their own name. :func:`resolve_source` fills it from ``Asset.yahoo_symbol``.

    Examples
    --------
    >>> source = YahooSource(offline=True)  # doctest: +SKIP
    >>> source.get(["8035.T", "^N225"], "2024-01-01", "2025-06-30").missing  # doctest: +SKIP
    {}
    """

    def __init__(
        self,
        cache_dir: str | Path | None = None,
        offline: bool = False,
        batch_size: int = 20,
        retries: int = 3,
        backoff: float = 1.0,
        downloader: Downloader | None = None,
        *,
        symbols: Mapping[str, str | None] | None = None,
    ) -> None:
        if batch_size < 1 or retries < 0 or backoff < 0:
            raise ValueError("batch_size must be >= 1, retries and backoff >= 0")
        self.cache = PriceCache(cache_dir)
        self.offline = offline
        self.batch_size = batch_size
        self.retries = retries
        self.backoff = backoff
        self.downloader = downloader
        self.symbols = dict(symbols or {})
        self.on_download: Callable[[int], None] | None = None  # called with each batch's size

    def __repr__(self) -> str:
        return f"YahooSource(cache_dir={str(self.cache.directory)!r}, offline={self.offline})"

    def get(
        self, tickers: Sequence[str], start: DateLike = None, end: DateLike = None
    ) -> PriceData:
        """Adjusted closes of ``tickers`` between ``start`` and ``end`` (inclusive).

        ``start`` defaults to 1980-01-01 (full history), ``end`` to today.
        """
        order = _unique(tickers)
        first = _timestamp(start, YAHOO_HISTORY_START)
        last = _timestamp(end, _today())
        result = _Collector()
        plan: dict[str, tuple[pd.Timestamp, pd.Timestamp]] = {}
        for ticker in order:
            download_range = self._from_cache(ticker, first, last, result)
            if download_range is not None:
                plan[ticker] = download_range
        self._download_all(plan, first, last, result)
        return result.build(order)

    def symbol(self, ticker: str) -> str | None:
        """Yahoo symbol of ``ticker`` (None when Yahoo has none)."""
        return self.symbols.get(ticker, ticker)

    # -------------------------------------------------------------------- cache side
    def _from_cache(
        self, ticker: str, start: pd.Timestamp, end: pd.Timestamp, result: _Collector
    ) -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """Supply ``ticker`` from the cache if possible; else return the range to download."""
        symbol = self.symbol(ticker)
        if symbol is None:
            result.missing[ticker] = (
                f"'{ticker}' is not on Yahoo Finance (the study declares no Yahoo symbol for "
                "it); supply it from a snapshot directory (--snapshot DIR)"
            )
            return None
        cached = self._load_cached(ticker, symbol, result)
        required_end = min(end, _last_complete_day())
        if cached is not None and (cached.covers(start, required_end) or self.offline):
            self._supply_cached(ticker, cached, start, end, result)
            return None
        if self.offline:
            result.missing[ticker] = (
                f"'{ticker}' is not in the price cache {self.cache.directory} (offline mode)"
            )
            return None
        if cached is None:
            return start, end
        covered = (
            pd.Timestamp(cached.entry["covered_start"]),
            pd.Timestamp(cached.entry["covered_end"]),
        )
        return min(start, covered[0]), max(end, covered[1])

    def _load_cached(self, ticker: str, symbol: str, result: _Collector) -> CachedPrices | None:
        try:
            cached = self.cache.load(ticker)
        except CacheMiss as miss:
            if ticker in self.cache.entries():  # present but unusable: report it
                result.note(ticker, str(miss))
            return None
        if cached.entry.get("alias", "") != _alias(ticker, symbol):
            result.note(ticker, f"cached entry used alias '{cached.entry.get('alias')}'; ignored")
            return None
        return cached

    def _supply_cached(
        self,
        ticker: str,
        cached: CachedPrices,
        start: pd.Timestamp,
        end: pd.Timestamp,
        result: _Collector,
    ) -> None:
        prices = _trim(cached.frame[cached.frame["adj_close"].notna()], start, end)
        closes = prices["adj_close"]
        entry = cached.entry
        if not cached.covers(start, min(end, _last_complete_day())):
            result.note(
                ticker,
                f"offline: the cache is complete only for "
                f"{entry['covered_start']} .. {entry['covered_end']}",
            )
        if closes.empty:
            result.missing[ticker] = (
                f"the price cache has no rows for '{ticker}' in the requested range "
                f"(cached {entry['first']} .. {entry['last']})"
            )
            return
        result.supply(
            ticker,
            closes,
            prices.get("volume"),
            source="cache",
            location=str(cached.path),
            alias=entry.get("alias", ""),
            sha256=entry["sha256"],
            retrieved_at=entry["downloaded_at"],
        )

    # ----------------------------------------------------------------- network side
    def _download_all(
        self,
        plan: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]],
        start: pd.Timestamp,
        end: pd.Timestamp,
        result: _Collector,
    ) -> None:
        by_range: dict[tuple[pd.Timestamp, pd.Timestamp], list[str]] = {}
        for ticker, download_range in plan.items():
            by_range.setdefault(download_range, []).append(ticker)
        for (first, last), tickers in by_range.items():
            for i in range(0, len(tickers), self.batch_size):
                batch = tickers[i : i + self.batch_size]
                self._download_batch(batch, first, last, start, end, result)
                if self.on_download is not None:
                    self.on_download(len(batch))

    def _download_batch(
        self,
        tickers: list[str],
        first: pd.Timestamp,
        last: pd.Timestamp,
        start: pd.Timestamp,
        end: pd.Timestamp,
        result: _Collector,
    ) -> None:
        symbols = {ticker: self.symbol(ticker) for ticker in tickers}
        found, failures = self._download_with_retries(sorted(set(symbols.values())), first, last)
        for ticker, symbol in symbols.items():
            if symbol not in found:
                result.missing[ticker] = failures[symbol].reason(ticker, symbol, first, last)
                continue
            self._accept_download(
                ticker, symbol, found[symbol], (first, last), (start, end), result
            )

    def _accept_download(
        self,
        ticker: str,
        symbol: str,
        frame: pd.DataFrame,
        covered: tuple[pd.Timestamp, pd.Timestamp],
        wanted: tuple[pd.Timestamp, pd.Timestamp],
        result: _Collector,
    ) -> None:
        alias = _alias(ticker, symbol)
        if alias:
            result.note(ticker, f"downloaded from Yahoo Finance as '{alias}'")
        covered_end = min(covered[1], _last_complete_day())
        try:
            entry = self.cache.store(
                ticker,
                frame,
                covered_start=covered[0],
                covered_end=covered_end,
                source="yahoo",
                alias=alias,
            )
        except OSError as error:
            result.note(ticker, f"could not write the price cache: {error}")
            entry = {"sha256": "", "downloaded_at": utc_now_iso()}
        prices = _trim(frame, *wanted)
        closes = prices["adj_close"]
        if closes.empty:
            result.missing[ticker] = (
                f"Yahoo Finance has no rows for '{ticker}' in the requested range "
                f"(it returned {_span(frame['adj_close'])})"
            )
            return
        result.supply(
            ticker,
            closes,
            prices.get("volume"),
            source="yahoo",
            location="Yahoo Finance",
            alias=alias,
            sha256=entry["sha256"],
            retrieved_at=entry["downloaded_at"],
        )

    def _download_with_retries(
        self, symbols: list[str], first: pd.Timestamp, last: pd.Timestamp
    ) -> tuple[dict[str, pd.DataFrame], dict[str, _Failure]]:
        """Download ``symbols``; retry those without rows. Returns (found, failure per symbol)."""
        found: dict[str, pd.DataFrame] = {}
        failures: dict[str, _Failure] = {}
        pending = list(symbols)
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                time.sleep(self.backoff * 2 ** (attempt - 2))
            with _YfinanceLog() as log:
                try:
                    frame = self._call_downloader(pending, first, last)
                except Exception as error:  # noqa: BLE001 - yfinance and its HTTP stack raise many types
                    detail = f"{type(error).__name__}: {error}"
                    failures.update({s: _Failure(True, detail, attempt) for s in pending})
                    _stop_if_unreachable(found, [detail, *log.messages], attempt, self.retries)
                    continue
            found.update(yahoo_frames_by_symbol(frame, pending))
            pending = [s for s in pending if s not in found]
            logged = log.errors_by_symbol()
            failures.update({s: _Failure(False, logged.get(s, ""), attempt) for s in pending})
            if not pending:
                break
            if len(pending) == len(symbols):
                _stop_if_unreachable(found, log.messages, attempt, self.retries)
        return found, {s: failures[s] for s in pending}

    def _call_downloader(
        self, symbols: list[str], first: pd.Timestamp, last: pd.Timestamp
    ) -> pd.DataFrame:
        downloader = self.downloader or _yfinance_download()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
            frame = downloader(
                symbols,
                start=first.strftime("%Y-%m-%d"),
                end=(last + pd.Timedelta(days=1)).strftime("%Y-%m-%d"),  # yfinance: end exclusive
                auto_adjust=True,
                actions=False,
                progress=False,
                group_by="column",
                threads=True,
                ignore_tz=True,
            )
        return frame


def _yfinance_download() -> Downloader:
    import yfinance  # imported lazily: only needed when something is really downloaded

    return yfinance.download


def _alias(ticker: str, symbol: str) -> str:
    return "" if symbol == ticker else symbol


def _last_complete_day() -> pd.Timestamp:
    """Yesterday (UTC): later bars may still change, so a cache is never complete past it."""
    return pd.Timestamp.now(tz="UTC").normalize().tz_localize(None) - pd.Timedelta(days=1)


@dataclass(frozen=True)
class _Failure:
    """Outcome of the last attempt for a symbol that never returned rows."""

    raised: bool
    detail: str
    attempts: int

    def reason(self, ticker: str, symbol: str, first: pd.Timestamp, last: pd.Timestamp) -> str:
        name = f"'{ticker}'" if symbol == ticker else f"'{ticker}' (Yahoo '{symbol}')"
        span = f"{first:%Y-%m-%d} .. {last:%Y-%m-%d}"
        tries = f"{self.attempts} attempt{'s' if self.attempts > 1 else ''}"
        if self.raised:
            return (
                f"Yahoo Finance download of {name} for {span} failed after {tries}: {self.detail}"
            )
        said = f"; yfinance: {self.detail}" if self.detail else ""
        return (
            f"Yahoo Finance returned no rows for {name} for {span} after {tries} "
            f"(possibly delisted or no Yahoo ticker{said})"
        )


class YahooUnreachable(DataError):
    """Yahoo Finance cannot be reached (no network, DNS failure, connection refused or timed out)."""


#: What yfinance's HTTP stack (curl_cffi, requests/urllib3) says when the network is down.
CONNECTION_FAILURE = re.compile(
    r"could not resolve host|name or service not known|temporary failure in name resolution"
    r"|nodename nor servname|getaddrinfo failed|failed to resolve|nameresolutionerror"
    r"|dnserror|could not connect|failed to connect|connection refused|network is unreachable"
    r"|no route to host|connection timed out|timed out|connecttimeout|max retries exceeded"
    r"|failed to establish a new connection|curl: \((5|6|7|28|35|56)\)",
    re.IGNORECASE,
)


def _stop_if_unreachable(
    found: Mapping[str, pd.DataFrame], messages: Sequence[str], attempt: int, retries: int
) -> None:
    """Raise :class:`YahooUnreachable` when nothing arrived and the failures are connection
    errors, after a second attempt (one blip is retried) or when no retry is left."""
    if found or (attempt < 2 and attempt <= retries):
        return
    causes = [m for m in messages if CONNECTION_FAILURE.search(m)]
    if not causes:
        return
    cause = next((m for m in causes if "curl: (" in m), causes[0])  # the most precise one
    raise YahooUnreachable(
        f"Yahoo Finance cannot be reached ({_short_cause(cause)}): read prices from a local "
        "snapshot with --snapshot DIR (or $EVENTSTUDY_SNAPSHOT), or retry when the network is back"
    )


def _short_cause(message: str) -> str:
    """The informative part of a connection error, e.g. 'curl: (6) Could not resolve host: X'."""
    curl = re.search(r"curl: \(\d+\)[^.\n']*", message)
    text = curl.group(0) if curl else " ".join(message.split())
    return text if len(text) <= 120 else text[:117] + "..."


class _YfinanceLog(logging.Handler):
    """Collects what yfinance logs instead of raising (e.g. ``['SYM']: message``).

    While active, yfinance's records do not reach the application's handlers (no "possibly
    delisted" noise on the terminal) unless the ``eventstudy`` logger is enabled for INFO
    (``eventstudy --verbose``); the failures reach the user through ``PriceData.missing``.
    """

    _LINE = re.compile(r"^(\[.*?\]):\s*(.*)$", re.DOTALL)

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger("yfinance")
        self._propagate = self.logger.propagate

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> Self:
        self.logger.addHandler(self)
        self._propagate = self.logger.propagate
        if not logging.getLogger("eventstudy").isEnabledFor(logging.INFO):
            self.logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.propagate = self._propagate

    def errors_by_symbol(self) -> dict[str, str]:
        errors: dict[str, str] = {}
        for message in self.messages:
            match = self._LINE.match(message.strip())
            if not match:
                continue
            try:
                symbols = ast.literal_eval(match.group(1))
            except (ValueError, SyntaxError):
                continue
            for symbol in symbols:
                errors[str(symbol).upper()] = " ".join(match.group(2).split())
        return errors


def yahoo_frames_by_symbol(
    frame: pd.DataFrame | None, symbols: Sequence[str]
) -> dict[str, pd.DataFrame]:
    """Split a ``yfinance.download`` result into one price frame per symbol that has rows.

    Accepts the 1.x layouts: MultiIndex columns ``(Price, Ticker)`` (``group_by='column'``)
    or ``(Ticker, Price)`` (``group_by='ticker'``), and flat columns for a single symbol.
    yfinance upper-cases symbols; they are matched case-insensitively. A symbol whose
    ``Close`` is all NaN (how yfinance reports a failed ticker in a batch) is left out.
    Each frame has a naive ``date`` index of local trading dates and snapshot-format
    columns (``adj_close`` = the auto-adjusted ``Close``).
    """
    if frame is None or frame.empty:
        return {}
    found: dict[str, pd.DataFrame] = {}
    for symbol in symbols:
        fields = _fields_of(frame, symbol, single=len(symbols) == 1)
        prices = _normalise_fields(fields) if fields is not None else None
        if prices is not None and not prices.empty:
            found[symbol] = prices
    return found


def _fields_of(frame: pd.DataFrame, symbol: str, single: bool) -> pd.DataFrame | None:
    if not isinstance(frame.columns, pd.MultiIndex):
        return frame if single else None
    for level in range(frame.columns.nlevels):
        labels = {str(v).upper(): v for v in frame.columns.get_level_values(level)}
        if symbol.upper() in labels:
            return frame.xs(labels[symbol.upper()], axis=1, level=level)
    return None


def _normalise_fields(fields: pd.DataFrame) -> pd.DataFrame | None:
    columns = {str(c).strip().lower().replace(" ", "_"): c for c in fields.columns}
    if "close" not in columns:
        return None
    prices = pd.DataFrame(index=_naive_dates(fields.index))
    for name in ("open", "high", "low", "close", "volume"):
        if name in columns:
            prices[name] = pd.to_numeric(fields[columns[name]], errors="coerce").to_numpy()
    adjusted = fields[columns["adj_close"]] if "adj_close" in columns else None
    if adjusted is None or adjusted.isna().all():
        prices["adj_close"] = prices["close"]
    else:
        prices["adj_close"] = pd.to_numeric(adjusted, errors="coerce").to_numpy()
    prices = prices[prices["adj_close"].notna()]
    return prices[~prices.index.duplicated(keep="last")].sort_index()


def _naive_dates(index: pd.Index) -> pd.DatetimeIndex:
    """Local trading dates: drop the time zone (keeping local wall time), then the time."""
    dates = pd.DatetimeIndex(index)
    if dates.tz is not None:
        dates = dates.tz_localize(None)
    return dates.normalize().astype("datetime64[ns]").rename("date")


# ======================================================================= orchestration
def resolve_source(
    cli_snapshot: str | Path | None,
    config: StudyConfig | None,
    cache_dir: str | Path | None = None,
    offline: bool = False,
) -> PriceSource:
    """Choose where prices come from.

    Precedence: ``cli_snapshot`` (command-line flag) > ``$EVENTSTUDY_SNAPSHOT`` (when
    non-empty) > ``config.settings.prices.snapshot`` (relative paths are resolved against
    the directory of ``events.yaml``) > :class:`YahooSource` with the cache.

    Examples
    --------
    >>> resolve_source("prices", None)  # doctest: +SKIP
    SnapshotSource('prices')
    """
    if cli_snapshot not in (None, ""):
        return SnapshotSource(cli_snapshot, origin="the command line")
    env = os.environ.get("EVENTSTUDY_SNAPSHOT", "").strip()
    if env:
        return SnapshotSource(env, origin="EVENTSTUDY_SNAPSHOT")
    configured = config.settings.prices.snapshot if config is not None else None
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute() and config.path is not None:
            path = Path(config.path).parent / path
        return SnapshotSource(
            path, origin=f"study.prices.snapshot in {config.path or 'the config'}"
        )
    return YahooSource(cache_dir=cache_dir, offline=offline, symbols=yahoo_symbols(config))


def yahoo_symbols(config: StudyConfig | None) -> dict[str, str | None]:
    """Ticker -> Yahoo symbol for every asset whose symbol differs from its ticker (None: not
    on Yahoo), from the study's ``Asset.yahoo_symbol``.

    Examples
    --------
    >>> yahoo_symbols(load_config("events.yaml"))  # doctest: +SKIP
    {'NIKKEI_SEMI': None, 'NIKKEI_VI': None}
    """
    if config is None:
        return {}
    return {a.ticker: a.yahoo_symbol for a in config.assets if a.yahoo_symbol != a.ticker}


def default_start(config: StudyConfig) -> pd.Timestamp:
    """Three calendar years before the first event's (local) announcement date (or before today),
    earlier when the estimation window is longer than that.

    The estimation window's sessions are converted to calendar days at 240 sessions a year
    (fewer than any exchange has), plus a month, so the first pair's window always fits.
    """
    if config.events:
        first = min(pd.Timestamp(e.announced) for e in config.events)
        anchor = _timestamp(first, _today())  # the local date of the announcement
    else:
        anchor = _today()
    sessions = 1 - config.settings.estimation_window[0]  # one more price than returns
    window_days = pd.Timedelta(days=int(np.ceil(sessions * 366 / 240)) + 31)
    return min(anchor - pd.DateOffset(years=DEFAULT_LOOKBACK_YEARS), anchor - window_days)


def fetch_prices(
    config: StudyConfig,
    snapshot: str | Path | None = None,
    cache_dir: str | Path | None = None,
    offline: bool = False,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> PriceData:
    """Prices of every ticker the study needs (``config.all_tickers()``).

    ``progress(label, total)``, when given, returns a counter advanced per Yahoo download batch.

    The range is ``study.prices.start`` (default: :func:`default_start`, three years before
    the first event, so every estimation window fits) to ``study.prices.end`` (default today).

    Examples
    --------
    >>> from eventstudy.events import load_config  # doctest: +SKIP
    >>> data = fetch_prices(load_config("events.yaml"), snapshot="prices")  # doctest: +SKIP
    >>> data.missing  # doctest: +SKIP
    {}
    """
    source = resolve_source(snapshot, config, cache_dir=cache_dir, offline=offline)
    settings = config.settings.prices
    start = settings.start if settings.start is not None else default_start(config)
    end = settings.end if settings.end is not None else _today()
    tickers = config.all_tickers()
    if progress is not None and isinstance(source, YahooSource):
        source.on_download = progress("download batches (tickers)", len(tickers))
    data = source.get(tickers, start, end)
    return with_proxies(source, data, settings.proxies, start, end)


def with_proxies(
    source: PriceSource,
    data: PriceData,
    proxies: Mapping[str, str],
    start: DateLike = None,
    end: DateLike = None,
) -> PriceData:
    """``data`` with each missing ticker that has a proxy replaced by the proxy's series.

    A proxy is a *different* series (e.g. an ETF for an index Yahoo lacks) that the study names
    in ``study.prices.proxies``; it is used only when the ticker itself could not be supplied,
    under the ticker's name, with ``provenance['proxy']`` and a note saying so. When the proxy
    cannot be supplied either, the ticker stays missing with both reasons.

    Examples
    --------
    >>> data = with_proxies(source, data, {"^TOPX": "1306.T"}, "2024-01-01")  # doctest: +SKIP
    >>> data.provenance.set_index("ticker").loc["^TOPX", "proxy"]  # doctest: +SKIP
    '1306.T'
    """
    wanted = {ticker: proxies[ticker] for ticker in data.missing if ticker in proxies}
    if not wanted:
        return data
    substitutes = source.get(list(dict.fromkeys(wanted.values())), start, end)
    missing, notes = dict(data.missing), dict(data.notes)
    closes, volumes = [data.closes], [data.volumes]
    provenance = [data.provenance]
    for ticker, proxy in wanted.items():
        reason = missing.pop(ticker)
        if proxy in substitutes.missing:
            missing[ticker] = f"{reason}; its proxy '{proxy}' failed too: {substitutes.missing[proxy]}"
            continue
        closes.append(substitutes.closes[[proxy]].set_axis([ticker], axis=1))
        volumes.append(substitutes.volumes[[proxy]].set_axis([ticker], axis=1))
        row = substitutes.provenance[substitutes.provenance["ticker"] == proxy].copy()
        row["ticker"], row["proxy"] = ticker, proxy
        provenance.append(row)
        notes[ticker] = (
            f"{reason}; replaced by the proxy '{proxy}' (a different series), "
            "as study.prices.proxies asks"
        )
    order = [t for t in (*data.closes.columns, *wanted) if t not in missing]
    merged = pd.concat(closes, axis=1, sort=True).reindex(columns=order)
    merged.index = pd.DatetimeIndex(merged.index, name="date")
    table = pd.concat([p for p in provenance if len(p)] or provenance[:1], ignore_index=True)
    position = {t: i for i, t in enumerate(order)}
    table = table.sort_values("ticker", key=lambda s: s.map(position)).reset_index(drop=True)
    return PriceData(
        merged, missing, table, notes, pd.concat(volumes, axis=1, sort=True)
    )


def describe_cached(ticker: str, cache_dir: str | Path | None = None) -> str:
    """What the cache holds for ``ticker``: range, rows, source, download time, sha256.

    Examples
    --------
    >>> print(describe_cached("^N225"))  # doctest: +SKIP
    '^N225': 1223 rows 2021-05-28 .. 2026-05-29 (complete for ...), source yahoo, ...
    """
    return PriceCache(cache_dir).describe(ticker)
