"""Batched stages give the rows of one pass over the whole study, bit for bit (eventstudy.batches,
abnormal.estimate in event batches, tables written in pieces)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from test_abnormal import SETTINGS, _asset, _day0, _event
from test_inference_scopes import WINDOWS, _synthetic_panel, _synthetic_scopes

from eventstudy import batches, inference, report
from eventstudy.abnormal import estimate, event_batches
from eventstudy.csvtext import csv_bytes, csv_chunks
from eventstudy.events import StudySettings


def _assert_frames_identical(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Equal values (NaN where NaN), dtypes and index: the same table, not a close one."""
    pd.testing.assert_frame_equal(got, want, check_exact=True)


@pytest.mark.parametrize("size", [1, 7, 25, 1000])
def test_scoped_tests_in_batches_equal_one_call(size):
    panel = _synthetic_panel(3)
    scopes = _synthetic_scopes(panel)
    want = inference.scoped_tests(panel, scopes, WINDOWS)
    _assert_frames_identical(batches.scoped_tests(panel, scopes, WINDOWS, size=size), want)


def test_scoped_tests_prepare_each_pair_once_whatever_the_scopes_holding_it(monkeypatch):
    """Overlapping scopes (events, a category, a tag of every pair) sort each pair once."""
    from eventstudy.inference import sections

    panel = _synthetic_panel(4)
    scopes = _synthetic_scopes(panel)
    assert sum(int(np.sum(scope.rows)) for scope in scopes) > 2 * panel.n_pairs
    built = []
    original = sections.PairTable.build.__func__
    monkeypatch.setattr(sections.PairTable, "build", classmethod(
        lambda cls, p, rows=None: built.append(range(p.n_pairs)[rows or slice(None)])
        or original(cls, p, rows)))
    batches.scoped_tests(panel, scopes, WINDOWS, size=25)
    assert sorted(i for part in built for i in part) == list(range(panel.n_pairs))


@pytest.mark.parametrize(("exclude", "n_assets"), [(False, 5), (True, 5), (True, 1)])
def test_estimation_in_event_batches_equals_one_batch(exclude, n_assets):
    rng = np.random.default_rng(21)
    events = [_event(f"e{i}", 200 + 37 * i) for i in range(7)]
    assets = [_asset(f"A{i}", rng, shocks=[(200, 0.04)]) for i in range(n_assets)]
    settings = StudySettings(**{**SETTINGS.__dict__, "exclude_other_events": exclude})
    whole, whole_models = estimate(assets, events, _day0(events), settings, pairs_per_batch=10_000)
    parts, part_models = estimate(assets, events, _day0(events), settings, pairs_per_batch=n_assets)
    assert len(event_batches(len(events), len(assets), n_assets)) == 7  # one event per batch
    assert whole.n_pairs == parts.n_pairs == 7 * n_assets
    for name in ("event_ids", "assets", "dates", "ret", "expected", "ar", "is_estimation",
                 "cov_factor", "s2", "n_est", "k", "reactions"):
        np.testing.assert_array_equal(getattr(parts, name), getattr(whole, name), err_msg=name)
    _assert_frames_identical(part_models, whole_models)
    if exclude:  # the other events' exclusion windows still apply inside a batch of one event
        assert (whole.n_est < 140).any()


def test_csv_pieces_join_to_the_whole_table():
    frame = pd.DataFrame({
        "x": [0.1, np.nan, 1e-7, 12345.678901234, -2.5],
        "s": ["a", "b,c", None, 'q"q', "a"],
        "d": pd.to_datetime(["2025-04-07", None, "2025-04-08", "2025-04-09", "2025-04-10"]),
        "o": np.array(["e1", "e1", None, "e2", "e1"], dtype=object),
    })
    whole = csv_bytes(frame)
    assert whole == frame.to_csv(index=False, float_format="%.10g", lineterminator="\n").encode()
    for rows in (1, 2, 4, 5, 100):
        pieces = list(csv_chunks(frame, rows=rows))
        assert len(pieces) == 1 + -(-len(frame) // rows)  # the header, then the pieces
        assert b"".join(pieces) == whole


def test_csv_pieces_are_views_that_outlive_the_generator_and_write_the_same_file(tmp_path):
    """The pieces are views of Arrow buffers, not copies: each keeps its buffer alive after the
    generator has moved on, and the atomic write of the pieces gives the bytes of one piece."""
    frame = pd.DataFrame({
        "x": [0.1, np.nan, -0.0, 1e300, 2.5e-9, np.nan, 7.0],
        "s": ["a", None, 'q"q', "b,c", "a", "a", None],
        "n": pd.array([1, None, 3, 4, None, 6, 7], dtype="Int64"),
    })
    whole = csv_bytes(frame)
    pieces = list(csv_chunks(frame, rows=3))
    assert all(isinstance(piece, memoryview) for piece in pieces[1:])
    assert b"".join(bytes(piece) for piece in pieces) == whole
    path = tmp_path / "t.csv"
    report._atomic_write_chunks(path, csv_chunks(frame, rows=2))
    assert path.read_bytes() == whole == frame.to_csv(
        index=False, float_format="%.10g", lineterminator="\n").encode()
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


@pytest.mark.parametrize("size", [1, 7, 1000])
def test_pair_test_columns_in_batches_with_kept_cars_equal_one_call(size):
    """The CARs kept with a panel and handed to its parts are the parts' own, bit for bit."""
    fresh = _synthetic_panel(3)
    want = inference.pair_test_columns(fresh, WINDOWS)
    panel = _synthetic_panel(3)
    got = batches.pair_test_columns(panel, WINDOWS, size=size)
    for part_got, part_want in zip(got, want):
        for name in part_want:
            np.testing.assert_array_equal(part_got[name], part_want[name], err_msg=name)
    rows = np.arange(panel.n_pairs)[::3]
    for window in WINDOWS:
        kept = panel.subset(rows).car(window)
        for value, own in zip(kept, _synthetic_panel(3).subset(rows).car(window)):
            assert value.tobytes() == own.tobytes() and not value.flags.writeable


def test_a_table_written_in_pieces_is_the_table_written_at_once(tmp_path):
    """CSV and Parquet bytes of write_table_parts equal write_table's, across Parquet row-group
    boundaries (pieces of uneven sizes, an empty one, dates, strings, nullable integers)."""
    n = report.PARQUET_ROW_GROUP + 70_001
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({
        "s": np.array(["a", "b,c", "q"], dtype=object)[rng.integers(0, 3, n)],
        "x": rng.normal(size=n),
        "d": pd.Timestamp("2025-04-07") + pd.to_timedelta(rng.integers(0, 9, n), unit="D"),
        "k": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 50, n)), dtype="Int64"),
    })
    frame.loc[5, "x"] = np.nan
    cuts = [0, 3, 3, 500_000, report.PARQUET_ROW_GROUP + 1, n]
    pieces = [frame.iloc[a:b].reset_index(drop=True) for a, b in itertools.pairwise(cuts)]
    report.write_table("t", frame, tmp_path / "whole")
    report.write_table_parts("t", iter(pieces), tmp_path / "parts")
    for suffix in ("csv", "parquet"):
        want = (tmp_path / "whole" / "tables" / f"t.{suffix}").read_bytes()
        assert (tmp_path / "parts" / "tables" / f"t.{suffix}").read_bytes() == want, suffix
    # both are pyarrow's one-call write of the whole table, one chunk per column
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, whole in (("t", frame), ("e", frame.iloc[:0])):
        table = pa.Table.from_pandas(report._stable(whole), preserve_index=False).combine_chunks()
        pq.write_table(table, tmp_path / f"{name}-reference.parquet", compression="snappy",
                       use_dictionary=report.dictionary_columns(table))
        if name == "e":
            report.write_table("e", whole, tmp_path / "whole")
        assert (tmp_path / f"{name}-reference.parquet").read_bytes() == \
            (tmp_path / "whole" / "tables" / f"{name}.parquet").read_bytes(), name
    empty = frame.iloc[:0]
    report.write_table("e", empty, tmp_path / "whole")
    report.write_table_parts("e", [empty], tmp_path / "parts")
    for suffix in ("csv", "parquet"):
        assert ((tmp_path / "parts" / "tables" / f"e.{suffix}").read_bytes()
                == (tmp_path / "whole" / "tables" / f"e.{suffix}").read_bytes()), suffix


def test_a_table_in_pieces_that_fails_leaves_no_file(tmp_path):
    """A piece with other columns (or no piece) is an error and no half-written file is left."""
    good = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="a piece of the table has columns"):
        report.write_table_parts("t", [good, pd.DataFrame({"y": ["a"]})], tmp_path)
    with pytest.raises(ValueError, match="no piece of the table"):
        report.write_table_parts("u", [], tmp_path)
    assert list((tmp_path / "tables").iterdir()) == []


def test_cars_read_the_covariance_factors_in_blocks_with_the_bits_of_one_pass():
    """More pairs than one block of covariance factors (stored or computed): each window's CAR
    variance is the bits of one einsum over the whole array, and all windows share one pass."""
    from eventstudy.panel import (
        COVARIANCE_BLOCK,
        AbnormalPanel,
        PredictionCovariance,
        prediction_covariance,
    )

    rng = np.random.default_rng(5)
    n, t, start = 2 * COVARIANCE_BLOCK + 37, 30, 20
    x_pred = np.stack([np.ones((n, t - start)), rng.normal(0, 0.01, (n, t - start))], axis=2)
    xtx_inv = np.einsum("nij,nkj->nik", *(2 * [rng.normal(0, 1.0, (n, 2, 2))]))
    explicit = prediction_covariance(x_pred, xtx_inv)
    ar = rng.normal(0, 0.01, (n, t))
    ar[rng.random((n, t)) < 0.02] = np.nan
    windows = [(0, 0), (1, 4), (0, 9)]
    computed = PredictionCovariance(x_pred, xtx_inv)
    for factors in (explicit, computed):
        panel = AbnormalPanel(
            event_ids=np.repeat(["e"], n).astype(object), assets=np.arange(n).astype(str).astype(object),
            rel_days=np.arange(-start, t - start), dates=np.full((n, t), np.datetime64("NaT"), "datetime64[D]"),
            ret=ar, expected=np.zeros_like(ar), ar=ar, is_estimation=np.zeros((n, t), bool), event_start=start,
            cov_factor=factors, s2=rng.uniform(1e-5, 1e-4, n), n_est=np.full(n, 100), k=np.full(n, 2))
        got = panel.cars(windows)
        for window, (car, variance) in zip(windows, got):
            gamma = panel.window_selector(window)
            assert variance.tobytes() == (panel.s2 * np.einsum("e,nef,f->n", gamma, explicit, gamma)).tobytes()
            np.testing.assert_array_equal(car, panel.event_ar[:, gamma.astype(bool)].sum(axis=1))
            assert panel.car(window)[1] is variance and not variance.flags.writeable


def test_single_day_cross_sections_read_the_factor_diagonals_with_the_bits_of_the_matrix_product():
    """For one-day selectors gamma' F gamma is read from F's diagonal: the bits of the matrix
    product, stored or computed factors; a factor with an infinite entry takes the product."""
    from eventstudy.inference.sections import _quadratic_forms
    from eventstudy.panel import PredictionCovariance, prediction_covariance

    rng = np.random.default_rng(9)
    n, e = 300, 12
    x_pred = np.stack([np.ones((n, e)), rng.normal(0, 0.02, (n, e)), rng.normal(0, 0.01, (n, e))], axis=2)
    xtx_inv = np.einsum("nij,nkj->nik", *(2 * [rng.normal(0, 3.0, (n, 3, 3))]))
    explicit = prediction_covariance(x_pred, xtx_inv)
    days = np.eye(e, dtype=bool)[[0, 4, 11, 4]]
    window = np.zeros((1, e), bool)
    window[0, 2:6] = True

    def product(factors, selector):
        gamma = selector.astype(float)
        return ((factors @ gamma.T) * gamma.T[None, :, :]).sum(axis=1).T

    for factors in (explicit, PredictionCovariance(x_pred, xtx_inv)):
        for selector in (days, window):
            got = _quadratic_forms(factors, selector, selector.astype(float))
            assert got.tobytes() == product(explicit, selector).tobytes()
    broken = explicit.copy()
    broken[7, 3, 0] = np.inf  # every day of pair 7 reads it (times 0) through the product: NaN
    with np.errstate(invalid="ignore", over="ignore"):  # as the tests run it
        got = _quadratic_forms(broken, days, days.astype(float))
        np.testing.assert_array_equal(got, product(broken, days))
        huge = PredictionCovariance(np.where(np.arange(3) == 1, 1e200, x_pred), xtx_inv)
        np.testing.assert_array_equal(_quadratic_forms(huge, days, days.astype(float)),
                                      product(np.asarray(huge), days))
    assert np.isnan(got[:, 7]).all() and np.isfinite(np.delete(got, 7, axis=1)).all()
