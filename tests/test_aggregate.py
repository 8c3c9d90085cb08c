"""CAR paths, band variances and scope CAAR intervals against hand calculations and the test
battery (synthetic frames with a known injected effect; no snapshot needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eventstudy import aggregate, common, inference
from eventstudy.scopes import Scope

N_ASSETS, N_DAYS = 6, 420
EVENTS = {"first": 300, "second": 360}


@pytest.fixture(scope="module")
def frames():
    """Correlated t(5) returns of six assets and a market; +4% on both event days."""
    rng = np.random.default_rng(11)
    index = pd.bdate_range("2023-01-02", periods=N_DAYS)
    common_shock = rng.standard_t(5, N_DAYS) * 0.008
    returns = pd.DataFrame({f"A{i}": 0.0004 + common_shock + rng.standard_t(5, N_DAYS) * 0.01
                            for i in range(N_ASSETS)}, index=index)
    for day in EVENTS.values():
        returns.iloc[day] += 0.04
    returns.iloc[EVENTS["second"] + 2, 1] = np.nan  # one missing return inside an event period
    events = {name: index[day] for name, day in EVENTS.items()}
    return returns, events


@pytest.fixture(scope="module")
def panel(frames):
    import eventstudy as es

    returns, events = frames
    panel, _ = es.event_panel(returns, events, model="constant_mean", estimation_window=(-250, -11),
                              event_windows=[(-5, 5)])
    return panel


def test_path_anchor_reaches_day_minus_one_when_it_can():
    assert aggregate.path_anchor((-5, 10)) == -1
    assert aggregate.path_anchor((0, 2)) == -1  # the day before the period is on every path
    assert aggregate.path_anchor((-10, -1)) == -1
    assert aggregate.path_anchor((2, 5)) == 1
    assert aggregate.path_anchor((-20, -10)) == -21
    assert list(aggregate.path_days((0, 2))) == [-1, 0, 1, 2]


def test_pair_path_is_zero_at_anchor_and_equals_window_cars(panel):
    car, var = aggregate.pair_path_arrays(panel, anchor=-1)
    days = aggregate.path_days((-5, 5))
    at = {d: i for i, d in enumerate(days)}
    assert np.all(car[:, at[-1]] == 0) and np.all(var[:, at[-1]] == 0)
    for end in (0, 1, 3, 5):
        window_car, window_var = panel.car((0, end))
        np.testing.assert_allclose(car[:, at[end]], window_car, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(var[:, at[end]], window_var, rtol=1e-12)
    # before the anchor the path is minus the ARs up to it: L(-4) = -(AR_-3 + AR_-2 + AR_-1)
    run_up, run_up_var = panel.car((-3, -1))
    np.testing.assert_allclose(car[:, at[-4]], -run_up, rtol=1e-12)
    np.testing.assert_allclose(var[:, at[-4]], run_up_var, rtol=1e-12)


def test_a_missing_ar_blanks_only_the_points_whose_span_covers_it(panel):
    car, _ = aggregate.pair_path_arrays(panel, anchor=-1)
    row = int(np.flatnonzero((panel.event_ids == "second") & (panel.assets == "A1"))[0])
    days = list(aggregate.path_days((-5, 5)))
    assert np.isfinite(car[row, days.index(1)])
    assert np.isnan(car[row, days.index(2)]) and np.isnan(car[row, days.index(5)])


def test_portfolio_variance_matches_a_hand_calculation(panel):
    members = panel.event_ids == "first"
    s2, n_days = aggregate.portfolio_variance(panel, members[None, :])
    resid = panel.estimation_residuals()[members]
    aar = np.array([np.nanmean(col) for col in resid.T if np.isfinite(col).any()])
    assert n_days[0] == len(aar)
    assert s2[0] == pytest.approx(np.var(aar, ddof=1), rel=1e-12)


def test_scope_caar_interval_inverts_the_crude_dependence_test(panel):
    rows = panel.event_ids == "first"
    scope = Scope("event", "first", "all", "all", "total", rows)
    caar = aggregate.scope_caar(panel, [scope], [(0, 0), (0, 2)])
    crude = inference.window_tests(panel.subset(rows), (0, 2)).set_index("test")
    row = caar[caar["window"] == "[0,2]"].iloc[0]
    assert row["caar"] / row["se"] == pytest.approx(crude.at["crude_dependence", "statistic"],
                                                    rel=1e-10)
    assert row["ci_high"] - row["caar"] == pytest.approx(1.959963984540054 * row["se"], rel=1e-12)
    day0 = caar[caar["window"] == "[0,0]"].iloc[0]
    assert day0["ci_low"] < 0.04 < day0["ci_high"]  # the injected +4% is inside the interval
    assert day0["ci_low"] > 0                        # and detected
    assert row["n"] == N_ASSETS and row["test"] == aggregate.featured_test()


def test_scope_caar_copies_the_featured_p_value_from_the_tests_table(panel):
    rows = panel.event_ids == "second"
    scope = Scope("event", "second", "all", "all", "total", rows)
    tests = pd.DataFrame({"scope": ["event"], "scope_id": ["second"], "group_by": ["all"],
                          "group": ["all"], "reaction": ["total"], "asset": [""],
                          "window": ["[0,0]"], "test": [aggregate.featured_test()],
                          "p_value": [0.0123]})
    caar = aggregate.scope_caar(panel, [scope], [(0, 0), (0, 1)], tests)
    assert caar.set_index("window").at["[0,0]", "p_value"] == 0.0123
    assert np.isnan(caar.set_index("window").at["[0,1]", "p_value"])


def test_scope_paths_band_grows_with_distance_from_anchor(panel):
    rows = panel.event_ids == "first"
    scope = Scope("event", "first", "all", "all", "total", rows)
    paths = aggregate.scope_paths(panel, [scope])
    s2, _ = aggregate.portfolio_variance(panel, rows[None, :])
    by_day = paths.set_index("rel_day")
    assert by_day.at[-1, "car"] == 0 and by_day.at[-1, "var_car"] == 0
    assert by_day.at[3, "var_car"] == pytest.approx(4 * s2[0])
    assert by_day.at[-4, "var_car"] == pytest.approx(3 * s2[0])
    car, _ = aggregate.pair_path_arrays(panel, -1)
    assert by_day.at[2, "car"] == pytest.approx(np.mean(car[rows][:, list(aggregate.path_days((-5, 5))).index(2)]))
    half = aggregate.band_half_width(paths)
    assert np.isfinite(half).all() and half[list(by_day.index).index(3)] > 0


def test_pair_paths_table_has_one_row_per_pair_and_day(panel):
    table = aggregate.pair_paths(panel)
    assert list(table.columns) == aggregate.PATH_COLUMNS
    assert len(table) == panel.n_pairs * 12
    assert set(table["scope"]) == {"pair"} and set(table["anchor"]) == {-1}


def test_pair_interval_inverts_the_car_t_test():
    car = pd.DataFrame({"car": [0.05], "var_car": [0.0004], "car_df": [200.0], "car_p_value": [0.0]})
    out = aggregate.pair_interval(car).iloc[0]
    from scipy import stats

    assert out["ci_high"] - 0.05 == pytest.approx(stats.t.ppf(0.975, 200) * 0.02)


def test_common_helpers():
    assert common.format_window((0, 1)) == "[0,1]"
    assert common.parse_window("[-5,10]") == (-5, 10)
    assert common.display_window((-10, -1)) == "[-10,-1]"
    assert common.stars(0.009) == "***" and common.stars(0.07) == "*" and common.stars(np.nan) == ""
    with pytest.raises(ValueError):
        common.parse_window("0,1")


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "page.html"
    common.atomic_write(target, "one")
    common.atomic_write(target, b"two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_readme_own_returns_example_runs_as_written(repo_root):
    import subprocess
    import sys

    text = (repo_root / "README.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    example = next(b for b in blocks if "es.event_study(" in b)
    done = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True,
                          check=True, cwd=repo_root)
    printed = done.stdout
    assert "AAA" in printed and "CCC" in printed
    cars = [float(line.split()[2]) for line in printed.splitlines()[1:]]
    assert all(-0.08 < car < -0.02 for car in cars)  # the injected -5% is recovered


def test_sparse_membership_gives_each_scope_its_own_pairs_and_variance(panel):
    first, second = panel.event_ids == "first", panel.event_ids == "second"
    scopes = [Scope("event", "first", "all", "all", "total", first),
              Scope("event", "second", "all", "all", "total", second),
              Scope("category", "both", "all", "all", "total", first | second)]
    members = aggregate.membership(scopes, panel.n_pairs)
    assert members.shape == (3, panel.n_pairs) and members.nnz == first.sum() * 2 + second.sum() * 2
    assert (members.toarray().astype(bool) == np.array([s.rows for s in scopes])).all()
    for k, scope in enumerate(scopes):  # each scope alone, by the dense hand calculation
        s2, days = aggregate.portfolio_variance(panel, scope.rows[None, :])
        sparse_s2, sparse_days = aggregate.portfolio_variance(panel, members[k])
        assert sparse_days[0] == days[0] and sparse_s2[0] == pytest.approx(s2[0], rel=1e-13)
    caar = aggregate.scope_caar(panel, scopes, [(0, 2)])
    car, _ = panel.car((0, 2))
    assert list(caar["n"]) == [int((s.rows & np.isfinite(car)).sum()) for s in scopes]
    both = scopes[2].rows & np.isfinite(car)
    assert caar["caar"].iloc[2] == pytest.approx(car[both].mean(), rel=1e-13)
