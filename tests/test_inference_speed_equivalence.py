"""The fast paths of ``inference`` equal the plain computations they replace.

* window sums of the SQ reference sets: bit for bit numpy's ``sliding_window_view(...).sum``;
* SQ counts by sorting + bisection: equal to direct comparison (ties, NaN, infinities);
* ``single_asset_tests`` SQ rows: equal to a brute-force loop over pairs, days and windows;
* p-values evaluating only the chosen tail / distribution: equal to the full formula;
* string columns built by ``take``: the dtype the frame infers from object arrays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special
from test_inference import constant_mean_panel

from eventstudy import inference

WINDOWS = [(0, 0), (0, 1), (1, 2), (0, 2)]


def _tied_panel(seed: int = 3, n_pairs: int = 12, n_est: int = 40, n_event: int = 3):
    """Returns on a coarse grid (many ties), missing estimation and event days."""
    rng = np.random.default_rng(seed)
    returns = np.round(rng.normal(0.0, 0.01, (n_pairs, n_est + n_event)), 3)
    returns[rng.random(returns.shape) < 0.08] = np.nan
    returns[0, n_est] = returns[0, 5]  # an event AR tied with an estimation residual
    returns[1, :n_est - 2] = np.nan  # two estimation returns only
    returns[2, n_est:] = np.nan  # no event returns
    return constant_mean_panel(returns, n_est)


@pytest.mark.parametrize("seed", [0, 1])
def test_window_sums_bit_equal_numpy_sum(seed):
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((37, 300)) * 10.0 ** rng.integers(-8, 3, (37, 1))
    values[rng.random(values.shape) < 0.05] = np.nan
    values[5, 150:] = np.nan  # NaN padding of a short row
    for length in [*range(1, 41), 127, 128, 129, 136, 200, 257, 300]:
        expected = np.lib.stride_tricks.sliding_window_view(values, length, axis=1).sum(axis=2)
        got = inference._window_sums(values, length)
        assert np.array_equal(got, expected, equal_nan=True), length


def test_sorted_counts_equal_direct_counts():
    rng = np.random.default_rng(11)
    reference = np.round(rng.standard_normal((50, 90)), 1)
    reference[rng.random(reference.shape) < 0.2] = np.nan
    reference[3] = np.nan  # an empty reference set
    reference = np.sort(np.where(np.isnan(reference), np.inf, reference), axis=1)
    reference[np.isinf(reference)] = np.nan  # left-aligned, NaN-padded like the residuals
    values = np.round(rng.standard_normal((50, 7)), 1)  # ties with the reference
    values[rng.random(values.shape) < 0.1] = np.nan
    values[4, 0], values[4, 1] = np.inf, -np.inf
    shuffled = rng.permuted(reference, axis=1)  # order must not matter
    got = inference._sorted_reference_counts(shuffled, values)
    expected = inference._direct_reference_counts(reference[:, None, :], values)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype
        np.testing.assert_array_equal(g, e)


def _brute_force_sq(panel, window=None):
    """(k_le, k_ge, n) per pair for each event day (window None) or the window's CAR."""
    out = []
    for i in range(panel.n_pairs):
        keep = panel.is_estimation[i] & np.isfinite(panel.ar[i])
        resid = panel.ar[i][keep]
        if window is None:
            values, reference = panel.event_ar[i], resid
        else:
            length = int(panel.window_selector(window).sum())
            values = [panel.car(window)[0][i]]
            reference = np.array(
                [np.sum(resid[j : j + length]) for j in range(len(resid) - length + 1)]
            )
        for value in values:
            out.append(((reference <= value).sum(), (reference >= value).sum(), len(reference)))
    return np.array(out, dtype=float)


@pytest.mark.parametrize("alternative", inference.ALTERNATIVES)
def test_sq_rows_equal_brute_force(alternative):
    panel = _tied_panel()
    table = inference.single_asset_tests(panel, WINDOWS, alternative)
    sq = table[table["test"] == "sq"]
    for window in [None, *WINDOWS]:
        label = "" if window is None else f"[{window[0]},{window[1]}]"
        rows = sq[sq["window"] == label]
        counts = _brute_force_sq(panel, window)
        le, ge, n = counts.T
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
    got = inference._p_value(statistic, distribution, df, alternative)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        inference._p_value(statistic, "t", df, alternative),
        inference._p_value(statistic, np.full(400, "t", dtype=object), df, alternative),
    )


def test_single_asset_string_columns_have_inferred_dtype():
    panel = _tied_panel()
    table = inference.single_asset_tests(panel, WINDOWS)
    inferred = pd.DataFrame({"x": np.array(["a", "b"], dtype=object)})["x"].dtype
    for column in ["event_id", "asset", "window", "test", "distribution", "note"]:
        assert table[column].dtype == inferred, column
    expected_assets = np.repeat(panel.assets, len(table) // panel.n_pairs)
    assert table["asset"].tolist() == expected_assets.tolist()
    assert table["test"].tolist()[:2] == ["ts_t", "sq"]
    assert set(table["distribution"]) == {"t", "empirical"}


def test_single_asset_empty_panel_unchanged():
    panel = _tied_panel()
    empty = panel.subset(np.zeros(panel.n_pairs, dtype=bool))
    table = inference.single_asset_tests(empty, WINDOWS)
    assert len(table) == 0
    assert list(table.columns) == inference._SINGLE_COLUMNS
