"""Tests of the data layer: snapshot reading, the Yahoo wrapper (fake downloaders), the cache.

Everything is offline: Yahoo is replaced by fake downloaders that return frames in the exact
layout of ``yfinance.download`` 1.7 (MultiIndex columns ``(Price, Ticker)``, a failed ticker
as an empty frame or all-NaN columns), and once by the real ``yfinance.download`` with its
per-ticker ``Ticker`` class replaced by a fake reading ``tests/fixtures/yahoo/*.history.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eventstudy import cache as cache_module
from eventstudy import data as data_module
from eventstudy.cache import CacheMiss, PriceCache, default_cache_dir
from eventstudy.data import (
    PriceData,
    SnapshotSource,
    YahooSource,
    YahooUnreachable,
    default_start,
    describe_cached,
    fetch_prices,
    read_snapshot_file,
    resolve_source,
    snapshot_universe,
    with_proxies,
    yahoo_frames_by_symbol,
    yahoo_symbols,
)
from eventstudy.errors import DataError
from eventstudy.events import Asset, Event, PriceSettings, StudyConfig, StudySettings

FIXTURES = Path(__file__).parent / "fixtures" / "yahoo"
REPO = Path(__file__).resolve().parents[1]
HEADER = "date,open,high,low,close,adj_close,volume\n"


# ============================================================================ helpers
def history(symbol: str) -> pd.DataFrame:
    """A ``Ticker.history`` frame (tz-aware exchange-local index) recorded in the fixtures."""
    frame = pd.read_csv(FIXTURES / f"{symbol}.history.csv")
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("Date"), utc=True), name="Date")
    tz = "Asia/Tokyo" if symbol.endswith(".T") else "America/New_York"
    frame.index = frame.index.tz_convert(tz)
    return frame


def synthetic_history(n: int = 5, start: str = "2025-04-01", tz: str = "Asia/Tokyo"):
    index = pd.bdate_range(start, periods=n).tz_localize(tz).rename("Date")
    close = 100.0 + np.arange(n, dtype=float)
    return pd.DataFrame(
        {"Open": close, "High": close + 1, "Low": close - 1, "Close": close, "Volume": 1000.0},
        index=index,
    )


def failed_history() -> pd.DataFrame:
    """What ``Ticker.history`` gives for a failed ticker in 1.7 (``utils.empty_df()``)."""
    empty = pd.DataFrame(
        index=pd.DatetimeIndex([], name="Date"),
        data={c: [] for c in ("Open", "High", "Low", "Close", "Adj Close", "Volume")},
    )
    return empty.astype("float64")


def yf_frame(histories: dict[str, pd.DataFrame | None], ignore_tz: bool = True) -> pd.DataFrame:
    """Assemble per-ticker histories the way ``yfinance.multi.download`` 1.7 does.

    Union of the indices, each ticker reindexed on it (a failed ticker becomes all-NaN),
    ``concat(keys=..., names=['Ticker', 'Price'])``, then ``swaplevel`` for group_by='column'.
    """
    frames = {s.upper(): (h if h is not None else failed_history()) for s, h in histories.items()}
    if ignore_tz:
        frames = {
            s: f.set_axis(f.index.tz_localize(None), axis=0) if f.index.tz is not None else f
            for s, f in frames.items()
        }
    union = None
    for f in frames.values():
        if not f.empty:
            union = f.index if union is None else union.union(f.index)
    union = union if union is not None else pd.DatetimeIndex([])
    frames = {s: f.reindex(union) for s, f in frames.items()}
    data = pd.concat(
        frames.values(), axis=1, sort=True, keys=frames.keys(), names=["Ticker", "Price"]
    )
    data.columns = data.columns.swaplevel(0, 1)
    return data.sort_index(level=0, axis=1)


class FakeDownloader:
    """Records calls; answers each from ``script`` (callables of the symbol list, or exceptions)."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[dict] = []

    def __call__(self, tickers, **kwargs):
        self.calls.append({"tickers": list(tickers), **kwargs})
        step = self.script[min(len(self.calls), len(self.script)) - 1]
        if isinstance(step, BaseException):
            raise step
        return step(list(tickers))

    @property
    def requested(self) -> list[str]:
        return [t for call in self.calls for t in call["tickers"]]


def serve(good: dict[str, pd.DataFrame]):
    """A script step returning ``good`` tickers' histories and failing every other ticker."""
    return lambda tickers: yf_frame({t: good.get(t) for t in tickers})


def never_called(tickers, **kwargs):
    raise AssertionError(f"downloader must not be called (asked for {tickers})")


def make_config(snapshot=None, path=None, events=None, start=None) -> StudyConfig:
    settings = StudySettings(name="t", prices=PriceSettings(snapshot=snapshot, start=start))
    assets = (Asset("^N225", "Nikkei 225", "XTKS", "index"),)
    if events is None:
        announced = pd.Timestamp("2025-04-02 16:00", tz="America/New_York")
        events = (Event("liberation_day", "Tariffs", "tariff_announcement", announced, ("x",)),)
    return StudyConfig(settings, assets, tuple(events), path)


def write_csv(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(HEADER + textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


# =========================================================================== snapshot
@pytest.mark.realdata
def test_snapshot_nikkei_close_and_liberation_day_drop(snapshot_dir):
    data = SnapshotSource(snapshot_dir).get(["^N225"], "2025-03-01", "2025-04-30")
    closes = data.closes["^N225"]
    assert closes.loc["2025-04-07"] == 31136.580078125
    change = closes.loc["2025-04-07"] / closes.loc["2025-04-04"] - 1
    assert change == pytest.approx(-0.0783, abs=5e-5)
    assert closes.index.name == "date" and closes.index.is_monotonic_increasing
    assert closes.index.is_unique and closes.index.tz is None
    assert closes.index.min() >= pd.Timestamp("2025-03-01")
    assert closes.index.max() <= pd.Timestamp("2025-04-30")
    assert data.missing == {}


@pytest.mark.realdata
def test_snapshot_universe_ticker_and_unknown_ticker(snapshot_dir):
    data = SnapshotSource(snapshot_dir).get(["7203.T", "^FOO", "^N225"], "2025-01-01", "2025-06-30")
    assert list(data.closes.columns) == ["7203.T", "^N225"]
    assert data.closes["7203.T"].notna().sum() > 100
    assert set(data.missing) == {"^FOO"}
    assert "'^FOO.csv'" in data.missing["^FOO"] and str(snapshot_dir) in data.missing["^FOO"]
    assert data.provenance["location"].iloc[0].endswith("universe/7203.T.csv")


@pytest.mark.realdata
def test_snapshot_provenance_sha256_matches_manifests(snapshot_dir):
    data = SnapshotSource(snapshot_dir).get(["^N225", "^TOPX", "7203.T"])
    manifest = json.loads((snapshot_dir / "manifest.json").read_text())
    expected = {s["ticker"]: s["sha256"] for s in manifest["series"]}
    with open(snapshot_dir / "universe" / "INDEX.csv", newline="") as handle:
        expected.update({row["code"]: row["sha256"] for row in csv.DictReader(handle)})
    provenance = data.provenance.set_index("ticker")
    for ticker in ("^N225", "^TOPX", "7203.T"):
        assert provenance.loc[ticker, "sha256"] == expected[ticker]
        assert provenance.loc[ticker, "source"] == "snapshot"
        assert provenance.loc[ticker, "retrieved_at"] == ""
    assert provenance.loc["^N225", "first"] == pd.Timestamp("2021-05-28")
    assert provenance.loc["^N225", "rows"] == 1223


@pytest.mark.realdata
def test_snapshot_universe_lists_318_stocks(snapshot_dir):
    tickers = snapshot_universe(snapshot_dir)
    assert len(tickers) == 318
    assert tickers == sorted(tickers) and "INDEX" not in tickers and "7203.T" in tickers


@pytest.mark.realdata
def test_snapshot_ticker_without_rows_in_range_is_missing(snapshot_dir):
    data = SnapshotSource(snapshot_dir).get(["URTH", "^N225"], "2026-01-05", "2026-01-30")
    assert "URTH" in data.missing and "2025-11-14" in data.missing["URTH"]
    assert list(data.closes.columns) == ["^N225"]


def test_snapshot_reads_only_and_joins_dates(tmp_path):
    write_csv(tmp_path, "A.csv", "2025-04-03,,,,1,10.5,\n2025-04-04,,,,1,11,\n")
    write_csv(tmp_path, "B.csv", "2025-04-04,,,,1,20,\n2025-04-07,,,,1,21,\n")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    data = SnapshotSource(tmp_path).get(["B", "A"])
    assert list(data.closes.columns) == ["B", "A"]
    assert data.closes.index.dtype == "datetime64[ns]"
    assert np.isnan(data.closes.loc["2025-04-03", "B"]) and data.closes.loc["2025-04-07", "B"] == 21
    assert data.closes["A"].dtype == "float64"
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before



def test_snapshot_join_equals_pandas_outer_join_of_the_files(tmp_path):
    """Series of different spans, gaps and volumes join exactly as ``pd.concat`` joins them."""
    write_csv(tmp_path, "A.csv", "2025-04-01,,,,1,10.5,100\n2025-04-03,,,,1,11,\n2025-04-08,,,,1,12,300\n")
    write_csv(tmp_path, "B.csv", "2025-04-02,,,,1,20,\n2025-04-03,,,,1,21,\n")
    write_csv(tmp_path, "C.csv", "2025-03-28,,,,1,30,7\n2025-04-08,,,,1,31,8\n2025-04-09,,,,1,32,9\n")
    data = SnapshotSource(tmp_path).get(["C", "A", "B"], "2025-04-01", "2025-04-08")
    frames = {t: read_snapshot_file(tmp_path / f"{t}.csv")[0].loc["2025-04-01":"2025-04-08"] for t in "CAB"}
    closes = pd.concat([f["adj_close"].rename(t) for t, f in frames.items()], axis=1, sort=True)
    volumes = pd.concat([f["volume"].rename(t) for t, f in frames.items()], axis=1, sort=True)
    pd.testing.assert_frame_equal(data.closes, closes, check_exact=True, check_freq=False)
    pd.testing.assert_frame_equal(data.volumes, volumes, check_exact=True, check_freq=False)
    assert data.closes.loc["2025-04-02", "B"] == 20 and np.isnan(data.closes.loc["2025-04-02", "A"])

MALFORMED = {
    "unsorted": ("2025-04-04,,,,1,10,\n2025-04-03,,,,1,11,\n", "not ascending"),
    "duplicate": ("2025-04-03,,,,1,10,\n2025-04-03,,,,1,11,\n", "duplicate date 2025-04-03"),
    "non_numeric": ("2025-04-03,,,,1,10,\n2025-04-04,,,,1,abc,\n", "abc"),
    "negative": ("2025-04-03,,,,1,10,\n2025-04-04,,,,1,-3,\n", "non-positive"),
    "zero": ("2025-04-03,,,,1,0,\n", "non-positive"),
    "empty_value": ("2025-04-03,,,,1,10,\n2025-04-04,,,,1,,\n", "empty adj_close on line 3"),
    "bad_date": ("04/03/2025,,,,1,10,\n", "date"),
    "no_rows": ("", "no data rows"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_snapshot_file_raises_one_line_error_naming_it(tmp_path, case):
    body, needle = MALFORMED[case]
    path = write_csv(tmp_path, "BAD.csv", body)
    with pytest.raises(DataError) as raised:
        SnapshotSource(tmp_path).get(["BAD"])
    message = str(raised.value)
    assert str(path) in message and needle in message
    assert "\n" not in message


def test_snapshot_missing_adj_close_column(tmp_path):
    path = tmp_path / "BAD.csv"
    path.write_text("date,open,high,low,close,volume\n2025-04-03,1,1,1,1,1\n")
    with pytest.raises(DataError, match=r"BAD\.csv: header .* lacks adj_close"):
        SnapshotSource(tmp_path).get(["BAD"])


def test_snapshot_sha256_mismatch_with_manifest(tmp_path):
    path = write_csv(tmp_path, "A.csv", "2025-04-03,,,,1,10,\n")
    manifest = {"series": [{"ticker": "A", "file": "A.csv", "sha256": "0" * 64}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DataError, match=r"A\.csv: sha256 .* does not match"):
        SnapshotSource(tmp_path).get(["A"])
    manifest["series"][0]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert SnapshotSource(tmp_path).get(["A"]).missing == {}


def test_snapshot_directory_must_exist(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        SnapshotSource(tmp_path / "nowhere")


# ============================================================================== yahoo
def test_yfinance_layout_is_split_per_ticker_with_local_dates():
    frame = yf_frame({"8035.T": history("8035.T"), "BAD": None})
    assert frame.columns.names == ["Price", "Ticker"]
    prices = yahoo_frames_by_symbol(frame, ["8035.T", "BAD"])
    assert list(prices) == ["8035.T"]
    assert prices["8035.T"].loc["2025-04-07", "adj_close"] == 16733.8515625
    # tz-aware (ignore_tz=False) input keeps the exchange-local date
    aware = yf_frame({"^GSPC": history("^GSPC")}, ignore_tz=False)
    assert aware.index.tz is not None
    dates = yahoo_frames_by_symbol(aware, ["^GSPC"])["^GSPC"].index
    assert dates.tz is None and dates[0] == pd.Timestamp("2025-04-01")
    # group_by='ticker' layout and flat single-ticker columns
    by_ticker = frame.swaplevel(0, 1, axis=1)
    assert list(yahoo_frames_by_symbol(by_ticker, ["8035.T", "BAD"])) == ["8035.T"]
    flat = frame.xs("8035.T", axis=1, level="Ticker")
    assert list(yahoo_frames_by_symbol(flat, ["8035.T"])) == ["8035.T"]
    assert yahoo_frames_by_symbol(pd.DataFrame(), ["X"]) == {}


def test_real_yfinance_download_shape_with_fake_ticker(tmp_path, monkeypatch):
    """Run yfinance 1.7's own ``download`` with its per-ticker fetch faked (no network)."""
    import yfinance
    import yfinance.multi

    class FakeHistory:
        _last_error = None

    class FakeTicker:
        def __init__(self, symbol):
            self.symbol = symbol
            self._price_history = FakeHistory()

        def history(self, **kwargs):
            path = FIXTURES / f"{self.symbol}.history.csv"
            if not path.exists():
                self._price_history._last_error = "possibly delisted; no price data found"
                return yfinance.utils.empty_df()
            return history(self.symbol)

    monkeypatch.setattr(yfinance.multi, "Ticker", FakeTicker)
    source = YahooSource(cache_dir=tmp_path, retries=1, backoff=0, downloader=yfinance.download)
    data = source.get(["8035.T", "^GSPC", "ZZZZ.T"], "2025-04-01", "2025-04-10")
    assert list(data.closes.columns) == ["8035.T", "^GSPC"]
    assert data.closes.loc["2025-04-07", "8035.T"] == 16733.8515625
    assert data.closes.loc["2025-04-07", "^GSPC"] == pytest.approx(5062.25)
    reason = data.missing["ZZZZ.T"]
    assert "no rows for 'ZZZZ.T'" in reason and "possibly delisted; no price data found" in reason


def test_batches_split_the_tickers(tmp_path):
    symbols = [f"{code}.T" for code in (1001, 1002, 1003, 1004, 1005)]
    fake = FakeDownloader(serve({s: synthetic_history() for s in symbols}))
    data = YahooSource(cache_dir=tmp_path, batch_size=2, backoff=0, downloader=fake).get(
        symbols, "2025-04-01", "2025-04-07"
    )
    assert [len(call["tickers"]) for call in fake.calls] == [2, 2, 1]
    assert sorted(fake.requested) == symbols
    assert list(data.closes.columns) == symbols and data.missing == {}
    call = fake.calls[0]
    assert call["auto_adjust"] is True and call["group_by"] == "column"
    assert call["progress"] is False and call["actions"] is False
    assert (call["start"], call["end"]) == ("2025-04-01", "2025-04-08")  # end is exclusive


def test_retry_after_exception_then_success(tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(data_module.time, "sleep", sleeps.append)
    fake = FakeDownloader(ConnectionError("reset by peer"), serve({"8035.T": history("8035.T")}))
    source = YahooSource(cache_dir=tmp_path, retries=3, backoff=0.5, downloader=fake)
    data = source.get(["8035.T"], "2025-04-01", "2025-04-10")
    assert len(fake.calls) == 2 and sleeps == [0.5]
    assert data.missing == {} and data.closes.loc["2025-04-07", "8035.T"] == 16733.8515625
    assert data.provenance.loc[0, "source"] == "yahoo"


def test_persistent_exception_reports_missing_with_backoff(tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(data_module.time, "sleep", sleeps.append)
    fake = FakeDownloader(ValueError("Expecting value: line 1 column 1 (char 0)"))
    data = YahooSource(cache_dir=tmp_path, retries=3, backoff=1.0, downloader=fake).get(
        ["8035.T"], "2025-04-01", "2025-04-10"
    )
    assert sleeps == [1.0, 2.0, 4.0] and len(fake.calls) == 4
    assert data.closes.empty and list(data.closes.columns) == []
    reason = data.missing["8035.T"]
    assert "failed after 4 attempts" in reason and "ValueError: Expecting value" in reason


def test_persistent_connection_error_stops_after_a_second_attempt(tmp_path, monkeypatch):
    sleeps = []
    monkeypatch.setattr(data_module.time, "sleep", sleeps.append)
    fake = FakeDownloader(ConnectionError("no route to host"))
    source = YahooSource(cache_dir=tmp_path, retries=3, backoff=1.0, downloader=fake)
    with pytest.raises(YahooUnreachable) as raised:
        source.get(["8035.T", "6857.T"], "2025-04-01", "2025-04-10")
    assert sleeps == [1.0] and len(fake.calls) == 2
    message = str(raised.value)
    assert "Yahoo Finance cannot be reached (ConnectionError: no route to host)" in message
    assert "--snapshot DIR" in message and "\n" not in message


def test_empty_frame_is_missing_with_clear_reason(tmp_path):
    fake = FakeDownloader(lambda tickers: pd.DataFrame())
    data = YahooSource(cache_dir=tmp_path, retries=2, backoff=0, downloader=fake).get(
        ["^TOPX"], "2025-04-01", "2025-04-10"
    )
    assert len(fake.calls) == 3  # empty results are retried too
    assert "Yahoo Finance returned no rows for '^TOPX'" in data.missing["^TOPX"]
    assert "possibly delisted or no Yahoo ticker" in data.missing["^TOPX"]
    assert data.provenance.empty and data.provenance.columns[0] == "ticker"


def test_all_nan_column_makes_only_that_ticker_missing(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T"), "6857.T": synthetic_history(8)}))
    data = YahooSource(cache_dir=tmp_path, retries=1, backoff=0, downloader=fake).get(
        ["8035.T", "GONE.T", "6857.T"], "2025-04-01", "2025-04-10"
    )
    assert set(data.missing) == {"GONE.T"} and "'GONE.T'" in data.missing["GONE.T"]
    assert list(data.closes.columns) == ["8035.T", "6857.T"]
    assert fake.calls[1]["tickers"] == ["GONE.T"]  # only the failed ticker is retried


def test_tickers_without_yahoo_symbol_are_never_requested(tmp_path):
    fake = FakeDownloader(serve({"^N225": history("8035.T")}))
    source = YahooSource(cache_dir=tmp_path, backoff=0, downloader=fake, symbols={"VI": None})
    data = source.get(["VI", "^N225"], "2025-04-01", "2025-04-10")
    assert "VI" not in fake.requested
    assert "'VI' is not on Yahoo Finance" in data.missing["VI"]
    assert "--snapshot DIR" in data.missing["VI"]
    only_vi = YahooSource(cache_dir=tmp_path, downloader=never_called, symbols={"VI": None})
    assert "VI" in only_vi.get(["VI"]).missing


def test_alias_is_requested_and_recorded(tmp_path):
    fake = FakeDownloader(serve({"^TPX": synthetic_history()}))
    source = YahooSource(cache_dir=tmp_path, backoff=0, downloader=fake, symbols={"TPX": "^TPX"})
    data = source.get(["TPX"], "2025-04-01", "2025-04-07")
    assert fake.requested == ["^TPX"] and list(data.closes.columns) == ["TPX"]
    assert data.provenance.loc[0, "alias"] == "^TPX" and "'^TPX'" in data.notes["TPX"]
    cached = YahooSource(cache_dir=tmp_path, offline=True, symbols={"TPX": "^TPX"}).get(
        ["TPX"], "2025-04-01", "2025-04-07"
    )
    assert cached.provenance.loc[0, "alias"] == "^TPX"


# ============================================================================== cache
def test_cache_round_trip(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T")}))
    first = YahooSource(cache_dir=tmp_path, downloader=fake).get(
        ["8035.T"], "2025-04-01", "2025-04-10"
    )
    second = YahooSource(cache_dir=tmp_path, downloader=never_called).get(
        ["8035.T"], "2025-04-02", "2025-04-09"
    )
    pd.testing.assert_series_equal(
        second.closes["8035.T"], first.closes["8035.T"].loc["2025-04-02":"2025-04-09"]
    )
    row = second.provenance.iloc[0]
    assert row["source"] == "cache" and row["sha256"] == first.provenance.loc[0, "sha256"]
    assert hashlib.sha256(Path(row["location"]).read_bytes()).hexdigest() == row["sha256"]
    assert row["retrieved_at"].endswith("Z") and row["first"] == pd.Timestamp("2025-04-02")
    text = describe_cached("8035.T", tmp_path)
    assert (
        "8 rows 2025-04-01 .. 2025-04-10" in text and row["sha256"] in text and "verified" in text
    )


def test_partly_cached_ticker_is_downloaded_again_over_the_union(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T")}))
    source = YahooSource(cache_dir=tmp_path, downloader=fake)
    source.get(["8035.T"], "2025-04-03", "2025-04-08")
    data = source.get(["8035.T"], "2025-04-01", "2025-04-10")
    assert (fake.calls[1]["start"], fake.calls[1]["end"]) == ("2025-04-01", "2025-04-11")
    assert data.provenance.loc[0, "source"] == "yahoo" and data.provenance.loc[0, "rows"] == 8
    assert len(list((tmp_path / "prices").glob("*.parquet"))) == 1  # the old file was replaced


def test_offline_reads_cache_only(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T")}))
    YahooSource(cache_dir=tmp_path, downloader=fake).get(["8035.T"], "2025-04-01", "2025-04-10")
    offline = YahooSource(cache_dir=tmp_path, offline=True, downloader=never_called)
    data = offline.get(["8035.T", "6857.T"], "2025-03-01", "2025-04-10")
    assert list(data.closes.columns) == ["8035.T"]
    assert "offline mode" in data.missing["6857.T"]
    assert "complete only for 2025-04-01 .. 2025-04-10" in data.notes["8035.T"]


def test_corrupted_parquet_is_detected_and_not_used(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T")}))
    YahooSource(cache_dir=tmp_path, downloader=fake).get(["8035.T"], "2025-04-01", "2025-04-10")
    parquet = next((tmp_path / "prices").glob("*.parquet"))
    parquet.write_bytes(parquet.read_bytes()[:-20])  # truncated file
    with pytest.raises(CacheMiss, match="does not match its sha256"):
        PriceCache(tmp_path).load("8035.T")
    assert "NOT USABLE" in describe_cached("8035.T", tmp_path)
    offline = YahooSource(cache_dir=tmp_path, offline=True).get(
        ["8035.T"], "2025-04-01", "2025-04-10"
    )
    assert "8035.T" in offline.missing and "sha256" in offline.notes["8035.T"]
    online = YahooSource(cache_dir=tmp_path, downloader=fake).get(
        ["8035.T"], "2025-04-01", "2025-04-10"
    )
    assert online.provenance.loc[0, "source"] == "yahoo" and len(fake.calls) == 2
    assert "sha256" in online.notes["8035.T"]
    PriceCache(tmp_path).load("8035.T")  # repaired


def _store(cache: PriceCache, ticker: str, values: list[float]):
    index = pd.DatetimeIndex(pd.bdate_range("2025-04-01", periods=len(values)), name="date")
    frame = pd.DataFrame({"adj_close": values}, index=index)
    return cache.store(ticker, frame, covered_start=index[0], covered_end=index[-1])


def _snapshot_state(directory: Path) -> tuple[bytes, dict[str, bytes]]:
    files = {p.name: p.read_bytes() for p in (directory / "prices").iterdir() if p.is_file()}
    return (directory / "manifest.json").read_bytes(), files


def test_failed_write_leaves_previous_file_and_manifest(tmp_path, monkeypatch):
    cache = PriceCache(tmp_path)
    _store(cache, "8035.T", [1.0, 2.0])
    before = _snapshot_state(tmp_path)

    def broken_replace(src, dst):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cache_module.os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated"):
        _store(cache, "8035.T", [3.0, 4.0, 5.0])
    monkeypatch.undo()
    assert _snapshot_state(tmp_path) == before  # no temp file left, nothing changed
    assert cache.load("8035.T").frame["adj_close"].tolist() == [1.0, 2.0]


def test_failed_parquet_write_inside_yahoo_source_is_a_note(tmp_path, monkeypatch):
    def broken_write(table, where, **kwargs):
        where.write(b"PAR1 half")
        raise OSError("killed (simulated)")

    monkeypatch.setattr(cache_module.pq, "write_table", broken_write)
    fake = FakeDownloader(serve({"8035.T": history("8035.T")}))
    data = YahooSource(cache_dir=tmp_path, downloader=fake).get(
        ["8035.T"], "2025-04-01", "2025-04-10"
    )
    assert data.missing == {} and "could not write the price cache" in data.notes["8035.T"]
    assert list((tmp_path / "prices").iterdir()) == [] and PriceCache(tmp_path).entries() == {}


KILLED_WRITER = """
import os, sys
import pandas as pd
from eventstudy import cache as cache_module
cache = cache_module.PriceCache(sys.argv[1])
index = pd.DatetimeIndex(pd.bdate_range("2025-04-01", periods=3), name="date")
frame = pd.DataFrame({"adj_close": [7.0, 8.0, 9.0]}, index=index)
cache_module.os.fsync = lambda fd: os._exit(9)   # the process dies in the middle of the write
cache.store("8035.T", frame, covered_start=index[0], covered_end=index[-1])
"""


def test_killed_writer_leaves_previous_entry_usable(tmp_path):
    cache = PriceCache(tmp_path)
    _store(cache, "8035.T", [1.0, 2.0])
    manifest_before = (tmp_path / "manifest.json").read_bytes()
    child = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)], check=False, cwd=REPO
    )
    assert child.returncode == 9
    assert (tmp_path / "manifest.json").read_bytes() == manifest_before
    assert cache.load("8035.T").frame["adj_close"].tolist() == [1.0, 2.0]
    assert list(cache.entries()) == ["8035.T"]  # the orphaned temp file is not an entry
    assert any(p.name.startswith(".tmp-") for p in (tmp_path / "prices").iterdir())
    _store(cache, "8035.T", [5.0])  # and the cache still accepts writes
    assert cache.load("8035.T").frame["adj_close"].tolist() == [5.0]


CONCURRENT_WRITER = """
import sys, time
from pathlib import Path
import pandas as pd
from eventstudy.cache import PriceCache
directory, prefix = sys.argv[1], sys.argv[2]
go = Path(directory) / "go"
while not go.exists():
    time.sleep(0.005)
cache = PriceCache(directory)
for i in range(20):
    index = pd.DatetimeIndex(pd.bdate_range("2025-04-01", periods=50 + i), name="date")
    frame = pd.DataFrame({"adj_close": range(1, 51 + i)}, index=index, dtype=float)
    cache.store(f"{prefix}{i}", frame, covered_start=index[0], covered_end=index[-1])
"""


def test_concurrent_processes_keep_every_entry(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_WRITER, str(cache_dir), prefix], cwd=REPO
        )
        for prefix in ("A", "B")
    ]
    (cache_dir / "go").touch()
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    cache = PriceCache(cache_dir)
    expected = {f"{prefix}{i}" for prefix in "AB" for i in range(20)}
    assert set(cache.entries()) == expected
    for ticker in expected:
        assert len(cache.load(ticker).frame) == 50 + int(ticker[1:])
    assert not [p for p in (cache_dir / "prices").iterdir() if p.name.startswith(".tmp-")]


def test_describe_cached_when_nothing_is_cached(tmp_path):
    assert (
        describe_cached("^N225", tmp_path / "empty")
        == f"'^N225': nothing cached in {tmp_path / 'empty'}"
    )


def test_default_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.setenv("EVENTSTUDY_CACHE", "")
    assert default_cache_dir() == Path.home() / ".cache" / "eventstudy"


def test_unreadable_cache_manifest_is_ignored_with_warning(tmp_path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.warns(UserWarning, match="unreadable"):
        assert PriceCache(tmp_path).entries() == {}


# ============================================================== precedence and fetching
def test_resolve_source_precedence(tmp_path, monkeypatch):
    cli, env, configured = (tmp_path / name for name in ("cli", "env", "configured"))
    for directory in (cli, env, configured):
        directory.mkdir()
    config = make_config(snapshot=configured)
    monkeypatch.setenv("EVENTSTUDY_SNAPSHOT", str(env))
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    assert resolve_source(cli, config).directory == cli
    assert resolve_source(None, config).directory == env
    monkeypatch.setenv("EVENTSTUDY_SNAPSHOT", "")
    assert resolve_source(None, config).directory == configured
    relative = make_config(snapshot=Path("configured"), path=tmp_path / "events.yaml")
    assert resolve_source(None, relative).directory == configured
    monkeypatch.delenv("EVENTSTUDY_SNAPSHOT")
    yahoo = resolve_source(None, make_config(), offline=True)
    assert isinstance(yahoo, YahooSource) and yahoo.offline
    assert yahoo.cache.directory == tmp_path / "cache"
    assert resolve_source(None, None, cache_dir=tmp_path / "c").cache.directory == tmp_path / "c"
    with pytest.raises(DataError, match="from EVENTSTUDY_SNAPSHOT"):
        monkeypatch.setenv("EVENTSTUDY_SNAPSHOT", str(tmp_path / "absent"))
        resolve_source(None, config)


def test_default_start_is_three_years_before_first_event():
    assert default_start(make_config()) == pd.Timestamp("2022-04-02")
    tokyo = Event("e", "t", "other", pd.Timestamp("2025-04-03 05:00", tz="Asia/Tokyo"), ("x",))
    assert default_start(make_config(events=(tokyo,))) == pd.Timestamp("2022-04-03")


@pytest.mark.realdata
def test_fetch_prices_from_snapshot(snapshot_dir, monkeypatch):
    monkeypatch.delenv("EVENTSTUDY_SNAPSHOT", raising=False)
    data = fetch_prices(make_config(), snapshot=snapshot_dir)
    assert isinstance(data, PriceData) and list(data.closes.columns) == ["^N225"]
    assert data.closes.index.min() >= pd.Timestamp("2022-04-02")
    assert data.closes.index.min() < pd.Timestamp("2022-04-10")
    start = make_config(start=pd.Timestamp("2025-01-06"))
    assert fetch_prices(start, snapshot=snapshot_dir).closes.index.min() == pd.Timestamp(
        "2025-01-06"
    )


# ========================================================== Yahoo Finance unreachable
def _unreachable_yfinance(monkeypatch, tmp_path, error: Exception):
    """The real ``yfinance.download`` whose HTTP session fails as it does offline (no network)."""
    import curl_cffi.requests
    import yfinance

    requests = []

    def failing_request(session, method, url, *args, **kwargs):
        requests.append(url)
        raise error

    monkeypatch.setattr(curl_cffi.requests.Session, "request", failing_request)
    yfinance.set_tz_cache_location(str(tmp_path / "yfinance-cache"))
    return requests


def _dns_error() -> Exception:
    from curl_cffi.requests.exceptions import DNSError

    return DNSError(
        "Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
        "See https://curl.se/libcurl/c/libcurl-errors.html first for more details."
    )


def test_offline_yahoo_is_one_line_with_the_remedy_and_no_yfinance_noise(
    tmp_path, monkeypatch, caplog, capsys
):
    import logging

    requests = _unreachable_yfinance(monkeypatch, tmp_path, _dns_error())
    monkeypatch.setattr(data_module.time, "sleep", lambda seconds: None)
    caplog.set_level(logging.WARNING)
    source = YahooSource(cache_dir=tmp_path / "cache", retries=3)
    with pytest.raises(YahooUnreachable) as raised:
        source.get(["^N225", "8035.T"], "2025-04-01", "2025-04-10")
    assert requests, "the fake session was not used"
    message = str(raised.value)
    assert message.startswith(
        "Yahoo Finance cannot be reached (curl: (6) Could not resolve host: query2"
    )
    assert "--snapshot DIR" in message and "retry" in message and "\n" not in message
    assert isinstance(raised.value, DataError)
    assert not [r for r in caplog.records if r.name.startswith("yfinance")]
    captured = capsys.readouterr()
    assert captured.out == "" and "delisted" not in captured.err and "yfinance" not in captured.err


def test_yfinance_messages_are_kept_under_verbose(tmp_path, monkeypatch, caplog):
    import logging

    _unreachable_yfinance(monkeypatch, tmp_path, _dns_error())
    caplog.set_level(logging.INFO)  # what `eventstudy --verbose` sets up
    with pytest.raises(YahooUnreachable):
        YahooSource(cache_dir=tmp_path / "cache", retries=0).get(["^N225"], "2025-04-01")
    said = [r.getMessage() for r in caplog.records if r.name.startswith("yfinance")]
    assert any("Could not resolve host" in line for line in said)


def test_connection_refused_and_timeouts_count_as_unreachable(tmp_path, monkeypatch):
    from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
    from curl_cffi.requests.exceptions import Timeout

    for error, cause in [
        (CurlConnectionError("Failed to perform, curl: (7) Failed to connect to "
                             "query2.finance.yahoo.com port 443 after 2 ms: Couldn't connect "
                             "to server."), "curl: (7) Failed to connect"),
        (Timeout("Failed to perform, curl: (28) Connection timed out after 10001 milliseconds."),
         "curl: (28) Connection timed out"),
    ]:
        _unreachable_yfinance(monkeypatch, tmp_path, error)
        with pytest.raises(YahooUnreachable, match=re.escape(cause)):
            YahooSource(cache_dir=tmp_path / "cache", retries=0).get(["^N225"], "2025-04-01")


def test_cached_tickers_need_no_network_and_unknown_symbols_are_not_unreachable(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T")}))
    YahooSource(cache_dir=tmp_path, downloader=fake).get(["8035.T"], "2025-04-01", "2025-04-10")
    offline = FakeDownloader(ConnectionError("curl: (6) Could not resolve host: x"))
    data = YahooSource(cache_dir=tmp_path, downloader=offline).get(
        ["8035.T"], "2025-04-02", "2025-04-09"
    )
    assert offline.calls == [] and data.missing == {}
    # A symbol Yahoo does not know is missing with its reason, not "unreachable":
    unknown = FakeDownloader(lambda tickers: yf_frame({t: None for t in tickers}))
    data = YahooSource(cache_dir=tmp_path, retries=1, backoff=0, downloader=unknown).get(
        ["NOPE.T"], "2025-04-01", "2025-04-10"
    )
    assert "no rows for 'NOPE.T'" in data.missing["NOPE.T"]


# ============================================================================ volumes
@pytest.mark.realdata
def test_snapshot_volumes_and_indices_without_volume(snapshot_dir):
    data = SnapshotSource(snapshot_dir).get(["^N225", "^TOPX"], "2025-04-01", "2025-04-10")
    assert data.volumes.loc["2025-04-07", "^N225"] == 266_700_000  # prices/README.md example
    assert data.volumes["^TOPX"].isna().all()  # the snapshot has no TOPIX volume
    assert data.volumes.index.equals(data.closes.index)
    assert list(data.volumes.columns) == list(data.closes.columns)


def test_snapshot_volume_empty_cells_missing_column_and_negative(tmp_path):
    write_csv(tmp_path, "A.csv", "2025-04-03,,,,1,10,500\n2025-04-04,,,,1,11,\n")
    (tmp_path / "B.csv").write_text("date,adj_close\n2025-04-04,7\n")
    data = SnapshotSource(tmp_path).get(["A", "B"])
    assert data.volumes.loc["2025-04-03", "A"] == 500 and np.isnan(data.volumes.loc["2025-04-04", "A"])
    assert data.volumes["B"].isna().all() and data.closes.loc["2025-04-04", "B"] == 7
    write_csv(tmp_path, "C.csv", "2025-04-03,,,,1,10,-5\n")
    with pytest.raises(DataError, match=r"C\.csv: negative volume -5 on 2025-04-03 \(line 2\)"):
        SnapshotSource(tmp_path).get(["C"])


def test_yahoo_volumes_are_downloaded_cached_and_read_back(tmp_path):
    volumes = synthetic_history(6).assign(Volume=[10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    fake = FakeDownloader(serve({"1001.T": volumes, "^IDX": synthetic_history(6)}))
    live = YahooSource(cache_dir=tmp_path, downloader=fake).get(
        ["1001.T", "^IDX"], "2025-04-01", "2025-04-08"
    )
    assert live.volumes["1001.T"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0, 60.0]
    cached = YahooSource(cache_dir=tmp_path, downloader=never_called).get(
        ["1001.T"], "2025-04-02", "2025-04-07"
    )
    assert cached.provenance.loc[0, "source"] == "cache"
    assert cached.volumes["1001.T"].tolist() == [20.0, 30.0, 40.0, 50.0]


def test_price_data_without_volumes_gets_an_aligned_nan_frame():
    closes = pd.DataFrame({"A": [1.0, 2.0]}, index=pd.DatetimeIndex(["2025-04-03", "2025-04-04"]))
    data = PriceData(closes, {}, pd.DataFrame())
    assert data.volumes.shape == (2, 1) and data.volumes.isna().all().all()


# ====================================================== Yahoo symbols and proxies
def _proxy_config(proxies=None, yahoo=""):
    settings = StudySettings(
        name="t", prices=PriceSettings(start=pd.Timestamp("2025-04-01"), proxies=proxies or {})
    )
    assets = (
        Asset("8035.T", "Tokyo Electron", "XTKS", "chips"),
        Asset("^TOPX", "TOPIX", "XTKS", "benchmark", yahoo=yahoo),
    )
    announced = pd.Timestamp("2025-04-02 16:00", tz="America/New_York")
    events = (Event("e", "Tariffs", "other", announced, ("x",)),)
    return StudyConfig(settings, assets, events)


def test_the_study_declares_each_assets_yahoo_symbol(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSTUDY_SNAPSHOT", raising=False)
    assert yahoo_symbols(_proxy_config()) == {}
    assert yahoo_symbols(_proxy_config(yahoo=None)) == {"^TOPX": None}
    assert yahoo_symbols(_proxy_config(yahoo="^TPX")) == {"^TOPX": "^TPX"}
    source = resolve_source(None, _proxy_config(yahoo=None), cache_dir=tmp_path)
    assert source.symbol("^TOPX") is None and source.symbol("8035.T") == "8035.T"


def test_a_proxy_replaces_a_missing_series_only_when_the_study_asks(tmp_path, monkeypatch):
    monkeypatch.delenv("EVENTSTUDY_SNAPSHOT", raising=False)
    monkeypatch.setenv("EVENTSTUDY_CACHE", str(tmp_path / "cache"))
    good = {"8035.T": history("8035.T"), "1306.T": synthetic_history(8)}
    fake = FakeDownloader(serve(good))
    monkeypatch.setattr(data_module, "_yfinance_download", lambda: fake)
    monkeypatch.setattr(data_module.time, "sleep", lambda seconds: None)
    config = _proxy_config(proxies={"^TOPX": "1306.T"})
    data = fetch_prices(config)
    assert "^TOPX" not in data.missing and "1306.T" not in data.closes.columns
    pd.testing.assert_series_equal(
        data.closes["^TOPX"].dropna(),
        yahoo_frames_by_symbol(yf_frame({"1306.T": good["1306.T"]}), ["1306.T"])["1306.T"][
            "adj_close"
        ].rename("^TOPX"),
        check_freq=False,
    )
    row = data.provenance.set_index("ticker").loc["^TOPX"]
    assert row["proxy"] == "1306.T" and row["source"] == "yahoo"
    assert data.provenance.set_index("ticker").loc["8035.T", "proxy"] == ""
    note = data.notes["^TOPX"]
    assert "no rows for '^TOPX'" in note and "replaced by the proxy '1306.T'" in note
    without = fetch_prices(_proxy_config())  # no proxy declared: ^TOPX stays missing
    assert "^TOPX" in without.missing and "^TOPX" not in without.closes.columns


def test_a_proxy_is_not_used_when_the_series_itself_arrives_and_a_failed_proxy_says_so(tmp_path):
    fake = FakeDownloader(serve({"8035.T": history("8035.T"), "^TOPX": synthetic_history(8)}))
    source = YahooSource(cache_dir=tmp_path, retries=0, downloader=fake)
    data = source.get(["8035.T", "^TOPX"], "2025-04-01", "2025-04-10")
    assert with_proxies(source, data, {"^TOPX": "1306.T"}) is data
    assert "1306.T" not in fake.requested
    lacking = FakeDownloader(serve({"8035.T": history("8035.T")}))
    source = YahooSource(cache_dir=tmp_path / "other", retries=0, downloader=lacking)
    data = source.get(["8035.T", "^TOPX"], "2025-04-01", "2025-04-10")
    both = with_proxies(source, data, {"^TOPX": "1306.T"}, "2025-04-01", "2025-04-10")
    assert "its proxy '1306.T' failed too" in both.missing["^TOPX"]
    assert list(both.closes.columns) == ["8035.T"]


def test_default_start_covers_a_long_estimation_window():
    config = make_config()
    long = dataclasses.replace(
        config, settings=dataclasses.replace(config.settings, estimation_window=(-1000, -11))
    )
    start = default_start(long)
    first_event = pd.Timestamp("2025-04-02")
    assert start < first_event - pd.DateOffset(years=3)
    assert len(pd.bdate_range(start, first_event)) > 1001
