"""CSV text built with pyarrow equals pandas ``to_csv(float_format='%.10g')`` byte for byte."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from eventstudy import report
from eventstudy.csvtext import csv_bytes, format_floats


def _pandas(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode("utf-8")


def _c_format(values) -> list[str]:
    return ["" if np.isnan(v) else "%.10g" % v for v in values]  # noqa: UP031 (C printf is the reference)


EDGE_FLOATS = [
    0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.1 + 0.2, 1e-5, 1e-4, 0.0001234, 9.9999999995,
    9.99999999949, 0.12345678905, 99999.99999, 999999999.95, 9999999999.5, 1e10, 1e16, 123456789012.0,
    1234567890.5, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e100, -1e-100, 0.5, 2.5,
    1e-290, 1e-291, 1e290, 1e291, 4.35, 0.015, 1.0000000005, 1.00000000050001,
]


def test_edge_values_are_formatted_as_c_printf():
    assert format_floats(np.array(EDGE_FLOATS)).to_pylist() == _c_format(EDGE_FLOATS)


def test_a_million_values_across_every_magnitude_match_c_printf():
    rng = np.random.default_rng(2025)
    decimals = rng.integers(0, 13, 200_000)
    values = np.concatenate([
        rng.normal(size=200_000),
        rng.standard_t(3, 200_000) * 10.0 ** rng.integers(-8, 12, 200_000),
        10 ** rng.uniform(-320, 308, 200_000) * rng.choice([-1, 1], 200_000),
        rng.integers(-10**12, 10**12, 100_000).astype(float),
        rng.integers(-4000, 4000, 100_000) / 16,
        np.round(rng.normal(size=200_000) * 10.0**decimals) / 10.0**decimals,  # short decimals, ties
    ])
    got = format_floats(values).to_pylist()
    expected = _c_format(values.tolist())
    wrong = [(v, g, e) for v, g, e in zip(values.tolist(), got, expected) if g != e]
    assert wrong == []


def test_repeated_values_are_formatted_once_each_with_the_same_text():
    rng = np.random.default_rng(7)
    other_nan = np.frombuffer(np.uint64(0x7FF8000000000123).tobytes(), dtype=float)[0]
    pool = np.array([*EDGE_FLOATS, other_nan, *rng.normal(size=40)])
    values = rng.choice(pool, 5_000)  # ~80 distinct values: the gathered path
    assert format_floats(values).to_pylist() == _c_format(values.tolist())
    assert format_floats(np.array([-0.0, 0.0, -0.0])).to_pylist() == ["-0", "0", "-0"]


def test_long_columns_skip_the_hash_only_when_a_sample_has_no_repeat():
    from eventstudy.csvtext import SAMPLE_SIZE, _may_repeat

    rng = np.random.default_rng(11)
    distinct = rng.normal(size=50 * SAMPLE_SIZE)
    few = rng.choice(rng.normal(size=300), 50 * SAMPLE_SIZE)  # degrees of freedom, quantiles
    assert not _may_repeat(distinct.view(np.int64))
    assert _may_repeat(few.view(np.int64))
    assert _may_repeat(distinct[: 2 * SAMPLE_SIZE].view(np.int64))  # short: always hashed
    for values in (distinct, few):
        assert format_floats(values).to_pylist() == _c_format(values.tolist())


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=50))
def test_any_floats_match_c_printf(values):
    assert format_floats(np.array(values, dtype=float)).to_pylist() == _c_format(values)


def test_mixed_table_equals_pandas_to_csv():
    frame = pd.DataFrame({
        "text": ["plain", "with, comma", 'with "quote"', "line\nbreak", "", None, "cr\rhere", "tab\tok"],
        "object": pd.Series(["a", 1, 2.5, None, np.nan, True, "x,y", pd.NA], dtype=object),
        "float": [0.1, -2.5e-7, np.nan, 1e12, 3.0, -0.0, np.inf, 123456.7890123],
        "int": np.arange(8, dtype=np.int64) - 3,
        "nullable_int": pd.array([1, None, 3, 4, None, 6, 7, 8], dtype="Int64"),
        "bool": [True, False] * 4,
        "nullable_bool": pd.array([True, None, False, True, None, False, True, False], dtype="boolean"),
        "float32": np.linspace(-1, 1, 8, dtype=np.float32),
        "nullable_float": pd.array([0.5, None, 1 / 3, 2.0, None, 1e-9, 7.0, 8.0], dtype="Float64"),
        "str": pd.array(["a", "b", None, "d,e", "f", "g", "h", "i"], dtype="str"),
        "date": pd.to_datetime(["2025-04-03", None, "2025-04-10", "2025-04-11", "2024-12-30", "2025-01-06",
                                "2025-11-20", "2025-02-28"]),
        "stamp": pd.to_datetime(["2025-04-03 09:30", None, "2025-04-10 00:00", "2025-04-11 00:00", "2024-12-30 00:00",
                                 "2025-01-06 00:00", "2025-11-20 00:00", "2025-02-28 15:00"]),
    })
    assert csv_bytes(frame) == _pandas(frame)


def test_empty_and_single_column_tables_equal_pandas():
    empty = pd.DataFrame({"a": pd.Series(dtype=float), "b, quoted": pd.Series(dtype=object)})
    assert csv_bytes(empty) == _pandas(empty)
    single = pd.DataFrame({"x": [1.5, 2.0, np.nan]})
    assert csv_bytes(single) == _pandas(single)


@pytest.mark.realdata
def test_every_table_of_a_real_run_equals_pandas_and_parquet_is_unchanged(snapshot_dir, repo_root, tmp_path):
    import dataclasses

    import eventstudy as es

    config = es.load_config(repo_root / "events.yaml")
    keep = ("liberation-day-reciprocal-tariffs", "reciprocal-90day-pause", "round8-deal-15pct-550bn")
    config = dataclasses.replace(config, events=tuple(e for e in config.events if e.id in keep))
    result = es.Study(config, snapshot=snapshot_dir).run(volatility=False)
    joint = result.joint_tables()
    report.write_tables(result, tmp_path, extra=joint)
    for name, frame in {**result.tables(), **joint}.items():
        stable = report._stable(frame)
        assert (tmp_path / "tables" / f"{name}.csv").read_bytes() == _pandas(stable), name
        written = tmp_path / "tables" / f"{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(written), stable.reset_index(drop=True))
        reference = tmp_path / f"{name}.pandas.parquet"  # pandas' writer, floats without dictionary
        plain = [c for c in stable.columns if not pd.api.types.is_float_dtype(stable[c])]
        stable.to_parquet(reference, index=False, use_dictionary=plain)
        assert written.read_bytes() == reference.read_bytes(), name
        encodings = _column_encodings(written)
        assert not any("RLE_DICTIONARY" in encodings[c] for c in stable.columns if c not in plain), name
        if name == "abnormal_returns":  # its labels keep their dictionary
            assert "RLE_DICTIONARY" in encodings["event_id"]


def _column_encodings(path) -> dict[str, set[str]]:
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    found: dict[str, set[str]] = {}
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            column = meta.row_group(g).column(c)
            found.setdefault(column.path_in_schema, set()).update(column.encodings)
    return found


def test_stable_dates_equal_strftime_with_missing_and_time_zones():
    naive = pd.Series(np.array(["2025-01-02", "NaT", "2024-12-31", "2025-01-02"], dtype="datetime64[s]"),
                      index=[3, 1, 4, 1], name="date")
    zoned = pd.Series(pd.to_datetime(["2025-01-02 23:30", None], format="ISO8601").tz_localize("Asia/Tokyo"))
    for dates in (naive, zoned, naive.iloc[:0], naive.iloc[[1]]):
        frame = pd.DataFrame({"date": dates, "x": 1.0})
        pd.testing.assert_series_equal(report._stable(frame)["date"], frame["date"].dt.strftime("%Y-%m-%d"))
