"""On-disk price cache: one Parquet file per ticker plus a ``manifest.json``.

Layout of a cache directory::

    <cache>/manifest.json       {"version": 1, "entries": {ticker: entry, ...}}
    <cache>/manifest.lock       lock file (``fcntl.flock``) serialising writers
    <cache>/prices/<ticker>.<sha256[:16]>.parquet

An entry records ``file``, ``source``, ``alias``, ``downloaded_at`` (ISO UTC),
``first``/``last``/``rows`` of the stored rows, ``covered_start``/``covered_end``
(the date range that was *requested* and is therefore known to be complete, even
where the market had no session) and ``sha256`` of the Parquet file.

Guarantees
----------
* A Parquet file is written to a temporary file in the same directory, fsynced and
  moved with :func:`os.replace` to a name carrying its sha256 prefix, so readers only
  ever see complete files and the previous version stays valid until the manifest
  (itself replaced atomically) points at the new one; the old file is deleted last.
* The move and the manifest update happen together under an exclusive lock, with a
  read-modify-write of the manifest, so concurrent processes never lose each other's
  entries. A crash at any point leaves the previous file and manifest usable.
* A file whose sha256 differs from its entry is treated as absent and reported;
  it is never used. Temporary files left by a killed writer are never entries.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST_NAME = "manifest.json"
LOCK_NAME = "manifest.lock"
PRICES_DIR = "prices"
TEMP_PREFIX = ".tmp-"
MANIFEST_VERSION = 1
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close", "volume")


def default_cache_dir() -> Path:
    """The cache directory: ``$EVENTSTUDY_CACHE`` if set and non-empty, else ``~/.cache/eventstudy``.

    Examples
    --------
    >>> default_cache_dir().name in ("eventstudy", os.environ.get("EVENTSTUDY_CACHE", ""))
    True
    """
    env = os.environ.get("EVENTSTUDY_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "eventstudy"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def utc_now_iso() -> str:
    """Current time as ISO 8601 UTC with seconds, e.g. ``2025-04-07T06:30:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CachedPrices:
    """A verified cache entry and its rows (``date`` index, :data:`PRICE_COLUMNS`)."""

    ticker: str
    entry: dict
    path: Path
    frame: pd.DataFrame

    def covers(self, start: pd.Timestamp, end: pd.Timestamp) -> bool:
        """True when the requested ``[start, end]`` lies inside the range known to be complete."""
        covered_start = pd.Timestamp(self.entry["covered_start"])
        covered_end = pd.Timestamp(self.entry["covered_end"])
        return covered_start <= start and end <= covered_end


class CacheMiss(Exception):
    """Nothing usable is cached for a ticker; ``str(error)`` says why (one line)."""


class PriceCache:
    """The price cache in one directory (created on first write).

    Parameters
    ----------
    directory : str or Path, optional
        Cache directory; defaults to :func:`default_cache_dir`.

    Examples
    --------
    >>> import tempfile
    >>> cache = PriceCache(tempfile.mkdtemp())
    >>> rows = pd.DataFrame({"adj_close": [100.0, 101.5]},
    ...                     index=pd.DatetimeIndex(["2025-04-03", "2025-04-04"], name="date"))
    >>> _ = cache.store("8035.T", rows, covered_start="2025-04-01", covered_end="2025-04-04")
    >>> cache.load("8035.T").frame["adj_close"].tolist()
    [100.0, 101.5]
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_cache_dir()

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST_NAME

    # ----------------------------------------------------------------- reading
    def entries(self) -> dict[str, dict]:
        """All manifest entries (empty when there is no cache or the manifest is unreadable)."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            manifest = json.loads(text)
            return dict(manifest["entries"])
        except (ValueError, KeyError, TypeError) as error:
            warnings.warn(
                f"price cache manifest {self.manifest_path} is unreadable ({error}); "
                "ignoring the cache",
                stacklevel=2,
            )
            return {}

    def load(self, ticker: str) -> CachedPrices:
        """Read and verify the cached rows of ``ticker``.

        Raises
        ------
        CacheMiss
            When nothing is cached, the file is gone, or its sha256 does not match the manifest.
        """
        entry = self.entries().get(ticker)
        if entry is None:
            raise CacheMiss(f"'{ticker}' is not in the price cache {self.directory}")
        path = self.directory / entry["file"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CacheMiss(f"cached file {path} of '{ticker}' is missing") from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CacheMiss(
                f"cached file {path} of '{ticker}' does not match its sha256 in "
                f"{self.manifest_path} (corrupt or partly written); not used"
            )
        return CachedPrices(ticker, entry, path, _frame_from_parquet(data))

    def describe(self, ticker: str) -> str:
        """One-paragraph summary of what is cached for ``ticker`` (or why nothing usable is)."""
        entry = self.entries().get(ticker)
        if entry is None:
            return f"'{ticker}': nothing cached in {self.directory}"
        try:
            self.load(ticker)
            status = "verified"
        except CacheMiss as error:
            status = f"NOT USABLE: {error}"
        alias = f" as '{entry['alias']}'" if entry.get("alias") else ""
        return (
            f"'{ticker}': {entry['rows']} rows {entry['first']} .. {entry['last']} "
            f"(complete for {entry['covered_start']} .. {entry['covered_end']}), "
            f"source {entry['source']}{alias}, downloaded {entry['downloaded_at']}, "
            f"file {self.directory / entry['file']}, sha256 {entry['sha256']} [{status}]"
        )

    # ----------------------------------------------------------------- writing
    def store(
        self,
        ticker: str,
        frame: pd.DataFrame,
        *,
        covered_start: str | pd.Timestamp,
        covered_end: str | pd.Timestamp,
        source: str = "yahoo",
        alias: str = "",
    ) -> dict:
        """Atomically write the rows of ``ticker`` and record them in the manifest.

        ``frame`` has a ``date`` DatetimeIndex and at least ``adj_close``; other
        :data:`PRICE_COLUMNS` are kept when present. Returns the new manifest entry.
        """
        prices_dir = self.directory / PRICES_DIR
        prices_dir.mkdir(parents=True, exist_ok=True)
        temp = _write_temp_parquet(_table_from_frame(frame), prices_dir)
        moved = False
        try:
            digest = sha256_file(temp)
            final = prices_dir / f"{_file_stem(ticker)}.{digest[:16]}.parquet"
            entry = _entry(ticker, frame, final.relative_to(self.directory), digest, source, alias)
            entry["covered_start"] = _iso_date(covered_start)
            entry["covered_end"] = _iso_date(covered_end)
            with self._locked():
                previous = self.entries().get(ticker)
                os.replace(temp, final)
                moved = True
                _fsync_dir(prices_dir)
                self._update_manifest(ticker, entry)
                self._remove_replaced(previous, entry)
        finally:
            if not moved:
                temp.unlink(missing_ok=True)
        return entry

    def _remove_replaced(self, previous: dict | None, entry: dict) -> None:
        """Delete the file of a superseded entry (after the manifest no longer names it)."""
        if previous is not None and previous.get("file") != entry["file"]:
            (self.directory / previous["file"]).unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / LOCK_NAME, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _update_manifest(self, ticker: str, entry: dict) -> None:
        """Read-modify-write of the manifest; the caller holds the lock."""
        entries = self.entries()
        entries[ticker] = entry
        manifest = {"version": MANIFEST_VERSION, "entries": dict(sorted(entries.items()))}
        payload = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
        _atomic_write_bytes(self.manifest_path, payload)


# --------------------------------------------------------------------- helpers
def _file_stem(ticker: str) -> str:
    """A file-system-safe, reversible file name for a ticker ('^N225' stays '^N225')."""
    return quote(ticker, safe="^=.-_")


def _iso_date(value: str | pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _table_from_frame(frame: pd.DataFrame) -> pa.Table:
    columns = [c for c in PRICE_COLUMNS if c in frame.columns]
    data = frame[columns].astype("float64")
    data.index = pd.DatetimeIndex(data.index).astype("datetime64[ns]").rename("date")
    return pa.Table.from_pandas(data.reset_index(), preserve_index=False)


def _frame_from_parquet(data: bytes) -> pd.DataFrame:
    table = pq.read_table(pa.BufferReader(data))
    frame = table.to_pandas()
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame.set_index("date")


def _write_temp_parquet(table: pa.Table, directory: Path) -> Path:
    """Write ``table`` to a fsynced temporary file in ``directory``; remove it on failure."""
    handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".parquet", dir=directory)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            pq.write_table(table, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    handle, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _entry(
    ticker: str, frame: pd.DataFrame, file: Path, digest: str, source: str, alias: str
) -> dict:
    dates = pd.DatetimeIndex(frame.index)
    return {
        "ticker": ticker,
        "file": file.as_posix(),
        "source": source,
        "alias": alias,
        "downloaded_at": utc_now_iso(),
        "first": dates.min().strftime("%Y-%m-%d") if len(dates) else "",
        "last": dates.max().strftime("%Y-%m-%d") if len(dates) else "",
        "rows": len(frame),
        "sha256": digest,
    }
