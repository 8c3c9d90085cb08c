"""The kernels of ``inference`` equal the plain computations they replace.

* counts by sorting + bisection (``SortedRows.count_below``): equal to direct comparison
  (ties, NaN, infinities);
* rank shifts of added values (``added_value_shifts``): equal to ranking every set again;
* ``single_asset_tests`` SQ rows: equal to a brute-force loop over pairs and days;
* p-values evaluating only the chosen tail / distribution: equal to the full formula;
* string columns built by ``take``: the dtype the frame infers from object arrays.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import special
from test_inference import constant_mean_panel

from eventstudy import inference
from eventstudy.inference import frames
from eventstudy.inference.kernels import SortedRows, added_value_shifts, average_ranks
from eventstudy.inference.pvalues import parametric_p_value

WINDOWS = [(0, 0), (0, 1), (1, 2), (0, 2), (2, 2)]


def _tied_panel(seed: int = 3, n_pairs: int = 12, n_est: int = 40, n_event: int = 3):
    """Returns on a coarse grid (many ties), missing estimation and event days."""
    rng = np.random.default_rng(seed)
    returns = np.round(rng.normal(0.0, 0.01, (n_pairs, n_est + n_event)), 3)
    returns[rng.random(returns.shape) < 0.08] = np.nan
    returns[0, n_est] = returns[0, 5]  # an event AR tied with an estimation residual
    returns[1, : n_est - 2] = np.nan  # two estimation returns only
    returns[2, n_est:] = np.nan  # no event returns
    return constant_mean_panel(returns, n_est)


def _direct_counts(reference: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = values[:, :, None]
    return (reference[:, None, :] < v).sum(axis=2), (reference[:, None, :] <= v).sum(axis=2)


def test_sorted_counts_equal_direct_counts():
    rng = np.random.default_rng(11)
    reference = np.round(rng.standard_normal((50, 90)), 1)
    reference[rng.random(reference.shape) < 0.2] = np.nan
    reference[3] = np.nan  # an empty reference set
    reference[7, 4], reference[7, 5] = np.inf, -np.inf
    values = np.round(rng.standard_normal((50, 7)), 1)  # ties with the reference
    values[rng.random(values.shape) < 0.1] = np.nan
    values[4, 0], values[4, 1] = np.inf, -np.inf
    values[7, 0], values[7, 1] = np.inf, -np.inf
    below, at_most = SortedRows.build(reference).count_below(values)
    expected_below, expected_at_most = _direct_counts(reference, values)
    np.testing.assert_array_equal(below, expected_below)
    np.testing.assert_array_equal(at_most, expected_at_most)


@pytest.mark.parametrize(("shared", "cells"), [(True, None), (False, None), (True, 90), (False, 90)])
def test_added_value_shifts_equal_ranking_again(shared, cells, monkeypatch):
    """Estimation ranks after adding one value per pair = old rank + shift, for every cell;
    whole or in blocks of pairs and cross-sections (``cells``: 3 pairs, one across the groups)."""
    from eventstudy.inference import kernels

    if cells is not None:
        monkeypatch.setattr(kernels, "SHIFT_CELLS", cells)
    rng = np.random.default_rng(4)
    values = np.round(rng.standard_normal((9, 30)), 1)
    values[rng.random(values.shape) < 0.1] = np.nan
    rows = SortedRows.build(values)
    n_sections = 1 if shared else 4
    added = np.round(rng.standard_normal((n_sections, 9)), 1)
    added[0, 2] = values[2, 3]  # a tie
    members = rng.random((n_sections, 9)) < 0.8
    bounds = np.array([0, 4, 9])  # two groups of pairs
    below, at_most = rows.count_below(added.T)
    if shared:
        got = added_value_shifts(rows.position, below[:, 0], at_most[:, 0], members, bounds)
    else:
        got = added_value_shifts(rows.position, below.T, at_most.T, members, bounds)
    for k in range(n_sections):
        combined = np.hstack([values, added[k][:, None]])
        shift = average_ranks(combined)[:, :-1] - average_ranks(values)
        for g, (a, b) in enumerate(itertools.pairwise(bounds)):
            expected = np.nansum((members[k][:, None] * shift)[a:b], axis=0)
            np.testing.assert_array_equal(got[k, g], expected)


def _brute_force_sq(panel):
    """(k_le, k_ge, n) per pair for each event day."""
    out = []
    for i in range(panel.n_pairs):
        keep = panel.is_estimation[i] & np.isfinite(panel.ar[i])
        resid = panel.ar[i][keep]
        for value in panel.event_ar[i]:
            out.append(((resid <= value).sum(), (resid >= value).sum(), len(resid)))
    return np.array(out, dtype=float)


@pytest.mark.parametrize("alternative", inference.ALTERNATIVES)
def test_sq_rows_equal_brute_force(alternative):
    panel = _tied_panel()
    table = inference.single_asset_tests(panel, WINDOWS, alternative)
    sq = table[table["test"] == "sq"]
    assert set(sq["window"]) == {"", "[0,0]", "[2,2]"}  # one-day cells only
    rows = sq[sq["window"] == ""]
    le, ge, n = _brute_force_sq(panel).T
    ok = rows["note"].to_numpy() == ""
    assert (rows["n"].to_numpy() == n).all()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = le / n
    np.testing.assert_array_equal(rows["statistic"].to_numpy()[ok], share[ok])
    lower, upper = (le + 1) / (n + 1), (ge + 1) / (n + 1)
    p = {
        "two-sided": np.minimum(1.0, 2.0 * np.minimum(lower, upper)),
        "greater": upper,
        "less": lower,
    }[alternative]
    np.testing.assert_array_equal(rows["p_value"].to_numpy()[ok], p[ok])
    assert np.isnan(rows["p_value"].to_numpy()[~ok]).all()
    for window, day in (("[0,0]", 0), ("[2,2]", 2)):
        one_day = sq[sq["window"] == window].reset_index(drop=True)
        same_day = rows[rows["rel_day"] == day].reset_index(drop=True)
        pd.testing.assert_series_equal(one_day["p_value"], same_day["p_value"])


@pytest.mark.parametrize("alternative", inference.ALTERNATIVES)
def test_p_value_equals_full_formula(alternative):
    rng = np.random.default_rng(5)
    statistic = rng.standard_normal(400) * 3
    statistic[::17] = np.nan
    statistic[::23] = np.inf
    distribution = np.where(rng.random(400) < 0.5, "t", "normal").astype(object)
    df = rng.integers(1, 300, 400).astype(float)
    is_t = distribution == "t"

    def cdf(x):
        return np.where(is_t, special.stdtr(np.where(is_t, df, 1.0), x), special.ndtr(x))

    p = {
        "two-sided": 2.0 * cdf(-np.abs(statistic)),
        "greater": cdf(-statistic),
        "less": cdf(statistic),
    }[alternative]
    expected = np.where(np.isfinite(statistic), np.minimum(p, 1.0), np.nan)
    np.testing.assert_array_equal(
        parametric_p_value(statistic, distribution, df, alternative), expected
    )
    np.testing.assert_array_equal(
        parametric_p_value(statistic, "t", df, alternative),
        parametric_p_value(statistic, np.full(400, "t", dtype=object), df, alternative),
    )


def test_single_asset_string_columns_have_inferred_dtype():
    panel = _tied_panel()
    table = inference.single_asset_tests(panel, WINDOWS)
    inferred = pd.DataFrame({"x": np.array(["a", "b"], dtype=object)})["x"].dtype
    for column in ["event_id", "asset", "window", "test", "distribution", "note"]:
        assert table[column].dtype == inferred, column
    per_pair = 3 * 2 + len(WINDOWS) + 2  # days x (ts_t, sq) + windows x ts_t + two one-day sq
    assert len(table) == panel.n_pairs * per_pair
    assert table["asset"].tolist() == np.repeat(panel.assets, per_pair).tolist()
    assert table["test"].tolist()[:2] == ["ts_t", "sq"]
    assert set(table["distribution"]) == {"t", "empirical"}


def test_single_asset_empty_panel():
    panel = _tied_panel()
    empty = panel.subset(np.zeros(panel.n_pairs, dtype=bool))
    table = inference.single_asset_tests(empty, WINDOWS)
    assert len(table) == 0
    assert list(table.columns) == frames.SINGLE_COLUMNS


def test_pair_table_rows_equal_sorting_the_scope_again():
    """A scope's inputs taken from the panel's compact per-pair table (ranks doubled as
    integers, sorted SARs rebuilt from positions) are those of sorting its pairs afresh."""
    from test_inference_scopes import _synthetic_panel

    from eventstudy.inference.sections import PairTable

    panel = _synthetic_panel(2)
    table = PairTable.concat([PairTable.build(panel, slice(0, 31)),
                              PairTable.build(panel, slice(31, panel.n_pairs))])
    rows = np.array([40, 3, 15, 10, 11, 12, 59, 0, 20])  # no data, s2 = 0, ties, few residuals
    taken = table.take(rows)
    sub = panel.subset(rows)
    est = sub.is_estimation & np.isfinite(sub.ar)
    residuals = np.where(est, sub.ar, np.nan)
    scale = np.where(sub.s2 > 0, np.sqrt(sub.s2), np.nan)
    for got, values in ((taken.est_ar_sorted, residuals),
                        (taken.est_sar_sorted, residuals / scale[:, None])):
        want = SortedRows.build(values)
        assert got.rank is None  # only the zero-filled ranks the rank sums read are kept
        np.testing.assert_array_equal(got.rank_or_zero, want.rank_or_zero)
        np.testing.assert_array_equal(got.observed, want.observed)
        np.testing.assert_array_equal(got.position, want.position)
        np.testing.assert_array_equal(got.size, want.size)
    sar = taken.est_sar_sorted
    want = SortedRows.build(residuals / scale[:, None])
    np.testing.assert_array_equal(sar.values[:, : want.values.shape[1]], want.values)
    queries = np.where(np.isfinite(sub.ar), sub.ar / scale[:, None], np.nan)
    for got, expected in zip(sar.count_below(queries), want.count_below(queries)):
        np.testing.assert_array_equal(got, expected)
    below, at_most = SortedRows.build(residuals).count_below(sub.ar[:, sub.event_start:])
    np.testing.assert_array_equal(taken.ar_below, below)
    np.testing.assert_array_equal(taken.ar_at_most, at_most)
    np.testing.assert_array_equal(taken.est_residuals, residuals)
    observed = SortedRows.build(residuals).observed  # shared with est_weight, not copied
    np.testing.assert_array_equal(taken.est_ar_sorted.observed, observed)
    assert taken.est_ar_sorted.observed is taken.est_weight
    part = taken.est_sar_sorted.take(np.array([2, 0]))
    np.testing.assert_array_equal(part.rank_or_zero, taken.est_sar_sorted.rank_or_zero[[2, 0]])
    with pytest.raises(ValueError, match="either with NaN"):
        SortedRows.from_positions(part.position, None)


def test_scaled_rows_equal_sorting_the_scaled_values_again():
    """Dividing rows by a positive scale keeps their order; ties it creates (neighbours that
    differ in the last bits), an infinite scale (all zeros) and a NaN scale (row missing) give
    the ranks and sorted values of sorting the divided values afresh."""
    rng = np.random.default_rng(5)
    values = rng.normal(0, 0.01, (6, 30))
    values[rng.random(values.shape) < 0.1] = np.nan
    values[1, 5] = np.nextafter(values[1, 4], np.inf)  # distinct, equal once divided below
    values[2, :4] = values[2, 10]  # ties before and after
    scale = np.array([0.02, 1.0e306, 0.5, np.inf, np.nan, 1.0])  # 1e306: subnormal quotients
    original = SortedRows.build(values)
    with np.errstate(invalid="ignore"):
        want = SortedRows.build(values / scale[:, None], like=original)
        got = original.scaled(scale)
    assert len(set(got.values[1, : got.size[1]])) < got.size[1]  # a tie the division created
    for name in ("size", "position", "rank"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    np.testing.assert_array_equal(got.values[:, : want.values.shape[1]], want.values)
    queries = rng.normal(0, 1, (6, 4))
    for a, b in zip(got.count_below(queries), want.count_below(queries)):
        np.testing.assert_array_equal(a, b)


def test_scope_correlations_from_the_pair_table_equal_building_them_from_residuals():
    """A scope's correlation structure from the table's zero-filled residuals and kept row
    means is, bit for bit, the one built from its NaN-marked residuals (and so its r_bar)."""
    from test_inference_scopes import _synthetic_panel

    from eventstudy.inference.kernels import CorrelationStructure
    from eventstudy.inference.sections import PairTable, ScopeData

    panel = _synthetic_panel(2)
    table = PairTable.concat([PairTable.build(panel, slice(0, 23)),
                              PairTable.build(panel, slice(23, panel.n_pairs))])
    rows = np.array([40, 3, 15, 10, 11, 12, 59, 0, 20, 33, 7])
    scope = ScopeData.build(table.take(rows))
    sub = panel.subset(rows)
    residuals = np.where(sub.is_estimation & np.isfinite(sub.ar), sub.ar, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        want = CorrelationStructure.build(residuals)
        got = scope.correlation
        for name in ("centred", "mask", "group", "common", "weight", "sums", "valid", "direct"):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
        members = np.ones((1, len(rows)), dtype=bool)
        assert got.pair_sums(members) == want.pair_sums(members)


def test_pair_table_written_slice_by_slice_equals_the_parts_concatenated():
    """Slices written into one table as they are built give the table of concatenating the
    parts, and both are the table of building every pair at once (here a slice whose pairs
    have fewer residuals comes first); the table reads the panel's abnormal returns in place."""
    from dataclasses import fields

    from test_inference_scopes import _synthetic_panel

    from eventstudy.inference.sections import PairTable

    panel = _synthetic_panel(2)
    residuals = (panel.is_estimation & np.isfinite(panel.ar)).sum(axis=1)
    panel = panel.subset(np.argsort(residuals, kind="stable"))  # fewest residuals first
    slices = [slice(0, 1), slice(1, 30), slice(30, panel.n_pairs)]
    with np.errstate(invalid="ignore", divide="ignore"):
        parts = [PairTable.build(panel, rows) for rows in slices]
        written = PairTable.from_slices(panel, slices)
        joined = PairTable.concat(parts)
        whole = PairTable.build(panel)
    assert written.ar is panel.ar and np.shares_memory(whole.ar, panel.ar)
    for f in fields(PairTable):
        np.testing.assert_array_equal(getattr(written, f.name), getattr(joined, f.name))
        got, want = getattr(written, f.name), getattr(whole, f.name)
        np.testing.assert_array_equal(got[:, : want.shape[1]] if got.ndim == 2 else got, want)


def test_ranks_and_order_where_the_truncated_keys_misorder_neighbours():
    """Values that differ only in the key bits the sort drops (neighbours one ulp apart, in
    descending column order), zeros of both signs, infinities and NaN: the sorted values,
    the permutation and the average ranks are those of a stable argsort and scipy's ranks."""
    from scipy import stats

    from eventstudy.inference.kernels import ranks_and_order

    rng = np.random.default_rng(11)
    values = rng.normal(0, 1, (5, 40))
    for row in range(4):  # each pair: the larger value first, one ulp above
        values[row, 2 * row] = np.nextafter(values[row, 2 * row + 1], np.inf)
    values[1, 7], values[1, 8] = -0.0, 0.0
    values[2, :3] = [np.inf, -np.inf, np.nan]
    values[3, 10:14] = values[3, 20]
    values[4, ::3] = np.nan
    rank, order, ordered = ranks_and_order(values)
    want_order = np.argsort(values, axis=1, kind="stable")
    np.testing.assert_array_equal(ordered, np.take_along_axis(values, want_order, axis=1))
    np.testing.assert_array_equal(np.take_along_axis(values, order, axis=1), ordered)
    want_rank = stats.rankdata(values, axis=1, nan_policy="omit")
    np.testing.assert_array_equal(rank, want_rank)


def _ranked_again(est, event_values, members, selector, weights, centres):
    """:func:`window_rank_sums` by ranking every (pair, cross-section) set with scipy."""
    from scipy.stats import rankdata

    n_sections, n_cols = len(selector), est.shape[1]
    estimation, counts = np.zeros((n_sections, n_cols)), np.zeros((n_sections, n_cols))
    event = np.zeros(selector.shape)
    for k in range(n_sections):
        days = np.flatnonzero(selector[k])
        for i in np.flatnonzero(members[k]):
            cells = np.flatnonzero(np.isfinite(est[i]))
            ranks = rankdata(np.concatenate([est[i, cells], event_values[i, days]]))
            estimation[k, cells] += weights[k, i] * (ranks[: len(cells)] - centres[k, i])
            counts[k, cells] += 1
            event[k, days] += weights[k, i] * (ranks[len(cells):] - centres[k, i])
    return estimation, counts, event


@pytest.mark.parametrize("grouped", [True, False])
def test_window_rank_sums_equal_ranking_every_set_again(grouped):
    """Ties between estimation and event values, missing estimation cells, pairs that miss
    some cross-sections, one-day and overlapping multi-day sections; weights constant per
    group of pairs (several groups, or one)."""
    from eventstudy.inference.kernels import group_bounds
    from eventstudy.inference.ranks import window_rank_sums

    rng = np.random.default_rng(21 + grouped)
    n_pairs, n_cols, n_days = 14, 30, 5
    est = np.round(rng.normal(0, 1, (n_pairs, n_cols)), 1)
    est[rng.random(est.shape) < 0.15] = np.nan
    event_values = np.round(rng.normal(0, 1, (n_pairs, n_days)), 1)
    event_values[2, 1] = event_values[2, 3]  # tied event values within a window
    event_values[rng.random(event_values.shape) < 0.1] = np.nan
    size = np.isfinite(est).sum(axis=1)
    order = np.argsort(size, kind="stable")
    est, event_values, size = est[order], event_values[order], size[order]
    selector = np.array([np.eye(n_days, dtype=bool)[d] for d in range(n_days)]
                        + [[1, 1, 0, 0, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=bool)
    members = ~(selector[:, None, :] & ~np.isfinite(event_values)[None]).any(axis=2)
    members[:, 5] = False  # a pair in no section
    lengths = selector.sum(axis=1)
    total = size[None, :] + lengths[:, None] + 1.0
    bounds = group_bounds(size) if grouped else group_bounds(np.zeros(n_pairs))
    weights = 1.0 / total if grouped else np.ones(total.shape)
    centres = total / 2.0
    sorted_rows = SortedRows.build(est)
    below, at_most = sorted_rows.count_below(event_values)
    got = window_rank_sums(sorted_rows, event_values, below, at_most, members, selector,
                           weights, centres, bounds, memo={})
    estimation, counts, event = _ranked_again(est, event_values, members, selector, weights, centres)
    np.testing.assert_allclose(got.estimation, estimation, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(got.counts, counts)
    np.testing.assert_allclose(got.event, event, rtol=1e-12, atol=1e-12)


def test_the_pair_table_keeps_only_the_sar_ranks_that_differ_from_the_residual_ranks():
    """SAR ranks equal the residual ranks except where dividing by s_i ties two residuals or a
    pair has no positive scale; only those pairs are kept, and every pair's SAR ranks read back
    (built at once, in slices, or joined) are those of ranking its SARs afresh."""
    from test_inference_scopes import _synthetic_panel

    from eventstudy.inference.sections import PairTable, _doubled

    panel = _synthetic_panel(4)
    est = panel.is_estimation & np.isfinite(panel.ar)
    ar = panel.ar.copy()
    row = int(np.flatnonzero(est.sum(axis=1) > 10)[0])
    cells = np.flatnonzero(est[row])[:2]
    ar[row, cells] = [0.010000000000000004, 0.010000000000000005]  # distinct; one SAR after / 10
    panel = dataclasses.replace(panel, ar=ar, s2=np.where(np.arange(panel.n_pairs) == row, 100.0, panel.s2))
    scale = np.where(panel.s2 > 0, np.sqrt(panel.s2), np.nan)
    residuals = np.where(est, panel.ar, np.nan)
    want = _doubled(SortedRows.build(residuals / scale[:, None]).rank, np.int16)
    every = np.arange(panel.n_pairs)
    for table in (PairTable.build(panel),
                  PairTable.from_slices(panel, [slice(0, 20), slice(20, 41), slice(41, panel.n_pairs)]),
                  PairTable.concat([PairTable.build(panel, slice(0, 33)),
                                    PairTable.build(panel, slice(33, panel.n_pairs))])):
        np.testing.assert_array_equal(table.sar_rank2_of(every), want)
        np.testing.assert_array_equal(table.sar_rank2_of(every[::-3]), want[::-3])
        differ = np.flatnonzero((want != table.ar_rank2).any(axis=1))
        np.testing.assert_array_equal(table.sar_rows, differ)
        assert row in differ and 15 in differ  # the tie the division made; s2 = 0
        assert len(differ) < panel.n_pairs // 4


def test_count_true_is_exact_past_the_uint16_block():
    from eventstudy.inference.kernels import count_true

    flags = np.ones((70_000, 3), dtype=bool)  # one uint16 block would wrap at 65,536
    flags[::7, 1] = False
    assert count_true(flags, axis=0).tolist() == [70_000, 60_000, 70_000]
    rng = np.random.default_rng(3)
    cube = rng.random((4, 300, 9)) < 0.4
    for axis in range(3):
        got = count_true(cube, axis=axis)
        assert got.dtype == np.int64
        assert np.array_equal(got, cube.sum(axis=axis, dtype=np.int64))


def test_put_rows_matches_put_along_axis_on_views_and_copies(monkeypatch):
    from eventstudy.inference import kernels
    from eventstudy.inference.kernels import put_rows

    monkeypatch.setattr(kernels, "_SCATTER_CELLS", 24)  # blocks of 3 rows of 8 columns

    rng = np.random.default_rng(4)
    columns = np.argsort(rng.random((50, 8)), axis=1)
    values = rng.normal(size=(50, 8))
    expected = np.zeros((50, 8))
    np.put_along_axis(expected, columns, values, axis=1)
    whole = np.zeros((60, 8))
    put_rows(whole[5:55], columns, values)  # a view of consecutive rows
    assert np.array_equal(whole[5:55], expected) and not whole[:5].any() and not whole[55:].any()
    strided = np.zeros((8, 50)).T  # not C-contiguous: numpy's own path
    put_rows(strided, columns, values)
    assert np.array_equal(strided, expected)
