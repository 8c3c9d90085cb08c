"""``inference.scoped_tests``: every scope's rows are those of its pairs alone.

The reference runs each scope on its own ``panel.subset(rows)`` through the one-scope
entry points ``daily_tests`` and ``window_tests``; a scope's statistics depend neither on
the pairs of other scopes nor on the other windows requested (docs/methods.md#corrado).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from eventstudy import inference, registry
from eventstudy.events import load_config
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import SCOPE_LABELS, Scope
from eventstudy.study import Study

WINDOWS = [(0, 0), (0, 1), (-1, 1), (0, 3), (-5, 9)]


def _subset_route(panel, scopes, windows, alternative="two-sided", independent=None) -> pd.DataFrame:
    """The reference: every scope on its own ``panel.subset(rows)``, one window at a time."""
    frames = []
    for scope in scopes:
        sub = panel.subset(scope.rows)
        daily = inference.daily_tests(sub, alternative, assume_independent=independent)
        daily["window"] = ""
        parts = [daily]
        for window in windows:
            part = inference.window_tests(sub, window, alternative, assume_independent=independent)
            part["rel_day"] = pd.NA
            part["window"] = f"[{window[0]},{window[1]}]"
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out["rel_day"] = out["rel_day"].astype("Int64")
        for position, (name, value) in enumerate(zip(SCOPE_LABELS, scope.labels())):
            out.insert(position, name, value)
        out.insert(len(SCOPE_LABELS), "asset", "")
        frames.append(out)
    return pd.concat(frames, ignore_index=True)[inference.TEST_COLUMNS]


def _assert_same(panel, scopes, windows, alternative="two-sided", independent=True) -> pd.DataFrame:
    expected = _subset_route(panel, scopes, windows, alternative, independent)
    got = inference.scoped_tests(panel, scopes, windows, alternative, assume_independent=independent)
    pd.testing.assert_frame_equal(got, expected, rtol=1e-10)
    return got


def _synthetic_panel(seed: int) -> AbnormalPanel:
    """5 events x 12 assets with missing days, a correlated factor, ties and odd pairs."""
    rng = np.random.default_rng(seed)
    n_events, n_assets = 5, 12
    rel_days = np.arange(-50, 10)
    start, n_est_cols = 45, 40  # estimation columns 0..39, gap 40..44, event -5..9
    n, t, e = n_events * n_assets, len(rel_days), len(rel_days) - start
    event_ids = np.repeat([f"e{i}" for i in range(n_events)], n_assets).astype(object)
    assets = np.tile([f"a{j}" for j in range(n_assets)], n_events).astype(object)
    factor = rng.normal(0, 0.01, (n_events, t))
    ar = 0.6 * np.repeat(factor, n_assets, axis=0) + rng.normal(0, 0.015, (n, t))
    ar[:, start:] += rng.normal(0.002, 0.01, (n, 1))
    ar[rng.random((n, t)) < 0.06] = np.nan  # scattered missing days, event period included
    ar[3, start:] = np.nan  # a pair without any event-period AR
    ar[7, start + 2] = np.nan
    ar[10] = np.round(ar[10], 3)  # ties within a pair
    ar[11, start:] = ar[11, :e]  # event ARs equal to estimation residuals
    ar[20, : n_est_cols - 5] = np.nan  # few estimation residuals
    # exact zeros: event values tie with estimation values (Corrado-Zivney, GRANK ranks)
    ar[12, [2, 9, 17]] = 0.0
    ar[12, [start + 5, start + 6]] = 0.0  # rel_days 0 and 1
    ar[13, start + 5] = 0.0
    is_estimation = np.zeros((n, t), dtype=bool)
    is_estimation[:, :n_est_cols] = True
    is_estimation[rng.random((n, t)) < 0.05] = False  # excluded days
    is_estimation &= np.isfinite(ar)
    n_est = is_estimation.sum(axis=1)
    s2 = np.array([np.nanvar(ar[i, is_estimation[i]], ddof=2) for i in range(n)])
    s2[15] = 0.0  # degenerate pair: no residual scale
    z = rng.normal(0, 1, (n, e))
    cov_factor = np.eye(e)[None] + 0.004 + 0.003 * z[:, :, None] * z[:, None, :]
    dates = np.full((n, t), np.datetime64("NaT"), dtype="datetime64[D]")
    expected = rng.normal(0, 0.002, (n, t))
    return AbnormalPanel(
        event_ids=event_ids,
        assets=assets,
        rel_days=rel_days,
        dates=dates,
        ret=np.where(np.isfinite(ar), ar + expected, np.nan),
        expected=np.where(np.isfinite(ar), expected, np.nan),
        ar=ar,
        is_estimation=is_estimation,
        event_start=start,
        cov_factor=cov_factor,
        s2=s2,
        n_est=n_est,
        k=np.full(n, 2),
    )


def _scope(kind: str, key: str, rows: np.ndarray) -> Scope:
    return Scope(kind, key, "group", "g", "relative", np.asarray(rows, dtype=bool))


def _synthetic_scopes(panel: AbnormalPanel) -> list[Scope]:
    ids = panel.event_ids
    scopes = [_scope("event", event_id, ids == event_id) for event_id in dict.fromkeys(ids)]
    one = np.zeros(panel.n_pairs, dtype=bool)
    one[4] = True
    two = np.zeros(panel.n_pairs, dtype=bool)
    two[[5, 30]] = True
    scopes += [
        _scope("category", "first-two", np.isin(ids, ["e0", "e1"])),
        _scope("tag", "last-three", np.isin(ids, ["e2", "e3", "e4"])),
        _scope("tag", "everything", np.ones(panel.n_pairs, dtype=bool)),
        _scope("tag", "one-pair", one),
        _scope("tag", "two-pairs", two),
        _scope("tag", "nothing-useful", np.isin(np.arange(panel.n_pairs), [3, 15])),
    ]
    return scopes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scoped_tests_equal_the_subset_route_on_a_synthetic_panel(seed):
    panel = _synthetic_panel(seed)
    got = _assert_same(panel, _synthetic_scopes(panel), WINDOWS)
    # the panel exercises what it should: unequal member sets, failures, a one-pair scope
    computed = got["note"] == got["test"].map(inference.clustering_note)
    assert (~computed).any() and computed.any()
    assert got.loc[got["scope_id"] == "one-pair", "n"].max() <= 1
    assert got["n"].nunique() > 5


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_scoped_tests_follow_the_alternative(alternative):
    panel = _synthetic_panel(3)
    _assert_same(panel, _synthetic_scopes(panel)[:6], [(0, 1)], alternative)


def test_scoped_tests_without_windows_or_scopes():
    panel = _synthetic_panel(4)
    _assert_same(panel, _synthetic_scopes(panel)[:2], [])
    empty = inference.scoped_tests(panel, [], WINDOWS)
    assert len(empty) == 0 and list(empty.columns) == inference.TEST_COLUMNS


def test_a_windows_statistics_do_not_depend_on_the_other_windows():
    """Amendment 13: Corrado and Corrado-Zivney rank over W1 plus *that* window."""
    panel = _synthetic_panel(5)
    scopes = _synthetic_scopes(panel)[:3]
    alone = inference.scoped_tests(panel, scopes, [(0, 1)])
    more = inference.scoped_tests(panel, scopes, [(-5, 9), (0, 1), (2, 3)])
    key = [*SCOPE_LABELS, "rel_day", "window", "test"]
    merged = alone.merge(more, on=key, suffixes=("", "_more"), validate="one_to_one")
    assert len(merged) == len(alone)
    for column in ("statistic", "p_value", "r_bar"):
        np.testing.assert_allclose(merged[column], merged[f"{column}_more"], rtol=1e-12, atol=0)
    assert (merged["note"] == merged["note_more"]).all()
    corrado = merged[
        merged["test"].isin(["corrado", "corrado_zivney"]) & (merged["window"] == "[0,1]")
    ]
    assert corrado["statistic"].notna().all()


def test_every_cross_sectional_note_says_whether_it_survives_clustering():
    panel = _synthetic_panel(6)
    table = inference.scoped_tests(panel, _synthetic_scopes(panel), [(0, 1)],
                                   assume_independent=True)
    for test_id, rows in table.groupby("test"):
        text = inference.clustering_note(test_id)
        assert rows["note"].str.endswith(text).all(), test_id
    assert set(table["test"]) == set(inference.TEST_IDS)


@pytest.mark.realdata
def test_scoped_tests_equal_the_subset_route_on_a_real_study(snapshot_dir, repo_root):
    config = load_config(repo_root / "events.yaml")
    config = dataclasses.replace(config, events=config.events[:5])
    study = Study(config, snapshot=snapshot_dir)
    result = study.run(volatility=False)
    panel = result.panel
    windows = config.settings.event_windows
    scopes = result.scopes()
    one = np.zeros(panel.n_pairs, dtype=bool)
    one[0] = True
    _assert_same(panel, [*scopes, _scope("tag", "one-pair", one)], windows, independent=None)
    # the study's own table holds exactly these rows after the single-pair ones
    cross = result.tests[result.tests["scope"] != "pair"].reset_index(drop=True)
    pd.testing.assert_frame_equal(cross, _subset_route(panel, scopes, windows), rtol=1e-10)
    # every per-event scope with several pairs shares its sessions: no test assuming
    # independence is reported there (pooled scopes depend on their events' dates)
    unsized = cross["test"].map(lambda t: not registry.CROSS_SECTIONAL_TESTS[t].robust_to_clustering)
    unsized &= cross.groupby(["scope", "scope_id", "group", "reaction"])["n"].transform("max") > 1
    unsized &= cross["scope"] == "event"
    assert cross.loc[unsized, "p_value"].isna().all()
    assert cross.loc[unsized, "note"].eq(inference.UNSIZED_NOTE).all()
    assert cross.loc[~unsized & (cross["test"] == "kp_bmp"), "p_value"].notna().any()


def _dated(panel: AbnormalPanel, first_days: np.ndarray, own_events: bool = True) -> AbnormalPanel:
    """``panel`` with consecutive calendar dates per pair, pair i starting at ``first_days[i]``;
    with ``own_events`` every pair is its own event (pairs of one event share its news)."""
    t = len(panel.rel_days)
    days = np.asarray(first_days)[:, None] + np.arange(t)[None, :]
    ids = (np.array([f"x{i}" for i in range(panel.n_pairs)], dtype=object) if own_events
           else panel.event_ids)
    return dataclasses.replace(panel, dates=days.astype("datetime64[D]"), event_ids=ids)


def test_tests_assuming_independence_are_reported_only_where_event_periods_do_not_overlap():
    panel = _synthetic_panel(8)
    n, t = panel.n_pairs, len(panel.rel_days)
    apart = _dated(panel, np.arange(n) * (t + 1))  # no two pairs share a day
    together = _dated(panel, np.zeros(n, dtype=int))  # every pair on the same dates
    scopes = _synthetic_scopes(panel)
    free = inference.scoped_tests(apart, scopes, [(0, 1)])
    forced = inference.scoped_tests(panel, scopes, [(0, 1)], assume_independent=True)
    pd.testing.assert_frame_equal(free, forced, rtol=1e-12)  # apart: everything reported
    shared = inference.scoped_tests(together, scopes, [(0, 1)])
    unsized = ~shared["test"].map(lambda t: registry.CROSS_SECTIONAL_TESTS[t].robust_to_clustering)
    multi = shared["scope_id"] != "one-pair"  # one pair: nothing to overlap with
    hidden = shared[unsized & multi]
    assert hidden["statistic"].isna().all() and hidden["p_value"].isna().all()
    assert hidden["note"].eq(inference.UNSIZED_NOTE).all()
    kept = shared[~(unsized & multi)].reset_index(drop=True)
    same = forced[~(unsized & multi)].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, same, rtol=1e-12)  # the robust tests do not change
    # unknown dates (NaT) cannot be shown to stand apart
    unknown = inference.scoped_tests(panel, scopes, [(0, 1)])
    assert unknown.loc[(unsized & multi).to_numpy(), "p_value"].isna().all()


def test_overlapping_periods_by_hand():
    assert not inference.overlapping_periods(np.array([0.0]), np.array([9.0]))
    assert not inference.overlapping_periods(np.array([30.0, 0.0]), np.array([40.0, 29.0]))
    assert inference.overlapping_periods(np.array([30.0, 0.0]), np.array([40.0, 30.0]))
    assert inference.overlapping_periods(np.array([0.0, 50.0, 5.0]), np.array([60.0, 55.0, 6.0]))
    assert inference.overlapping_periods(np.array([0.0, np.nan]), np.array([1.0, np.nan]))


def test_a_chosen_subset_of_tests_gives_the_same_rows_as_the_full_battery():
    panel = _dated(_synthetic_panel(9), np.arange(60) * 61)
    scopes = _synthetic_scopes(panel)
    full = inference.scoped_tests(panel, scopes, [(0, 1), (-2, 3)])
    for chosen in (["kp_bmp", "grank"], ["bhar_skew_t"], ["corrado", "cs_t", "bhar_skew_t"]):
        part = inference.scoped_tests(panel, scopes, [(0, 1), (-2, 3)], tests=chosen)
        expected = full[full["test"].isin(chosen)].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, expected)
    with pytest.raises(ValueError, match="unknown test id"):
        inference.scoped_tests(panel, scopes, [(0, 1)], tests=["kp_bmp", "t_test"])
    only_bhar = inference.scoped_tests(panel, scopes, [], tests=["bhar_skew_t"])
    assert only_bhar.empty and list(only_bhar.columns) == inference.TEST_COLUMNS


def test_whether_a_test_is_withheld_depends_on_its_own_days_only():
    """Pairs 5 calendar days apart: no day and no window of up to 5 sessions is shared, so the
    tests that assume independence are reported there, whatever other windows are asked for;
    a 15-session window overlaps and is withheld."""
    panel = _synthetic_panel(10)
    panel = _dated(panel, np.arange(panel.n_pairs) * 5)
    scopes = _synthetic_scopes(panel)
    alone = inference.scoped_tests(panel, scopes, [(0, 0)])
    both = inference.scoped_tests(panel, scopes, [(0, 0), (-5, 9)])
    pd.testing.assert_frame_equal(both[both["window"] != "[-5,9]"].reset_index(drop=True), alone)
    many = both["scope_id"].isin(["e0", "everything"])
    cs_t = both[many & (both["test"] == "cs_t")]
    assert cs_t.loc[cs_t["window"] == "[0,0]", "p_value"].notna().all()
    assert cs_t.loc[cs_t["rel_day"].notna(), "p_value"].notna().all()  # no day is shared
    withheld = cs_t[cs_t["window"] == "[-5,9]"]
    assert withheld["p_value"].isna().all() and withheld["note"].eq(inference.UNSIZED_NOTE).all()
    # the same dates, but the pairs of an event share its news: withheld on every day
    shared = inference.scoped_tests(_dated(_synthetic_panel(10), np.arange(60) * 5, False),
                                    scopes, [(0, 0)])
    cs_t = shared[shared["scope_id"].isin(["e0", "everything"]) & (shared["test"] == "cs_t")]
    assert cs_t["p_value"].isna().all()


def test_tests_withheld_everywhere_give_the_rows_of_computing_and_masking_them():
    """Where a scope's pairs share an event, the tests assuming independence are not computed;
    their rows are those of computing them (``assume_independent=True``) and withholding them:
    the same ``n`` and distribution, no statistic, p-value, df or r_bar, the withheld note."""
    panel = _synthetic_panel(11)
    scopes = _synthetic_scopes(panel)
    windows = [(0, 1), (-5, 9)]
    got = inference.scoped_tests(panel, scopes, windows)  # NaT dates: clustered everywhere
    computed = inference.scoped_tests(panel, scopes, windows, assume_independent=True)
    unsized = ~computed["test"].map(lambda t: registry.CROSS_SECTIONAL_TESTS[t].robust_to_clustering)
    masked = unsized & (computed["scope_id"] != "one-pair")  # one pair: nothing to share
    expected = computed.copy()
    for column in ("statistic", "p_value", "df", "r_bar"):
        expected.loc[masked, column] = np.nan
    expected.loc[masked, "note"] = inference.UNSIZED_NOTE
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert computed.loc[masked, "statistic"].notna().any()  # there was something to withhold
    assert set(computed.loc[masked, "test"]) == {t for t in inference.TEST_IDS
                                                 if not registry.CROSS_SECTIONAL_TESTS[t].robust_to_clustering}


def test_pooled_scopes_get_the_rows_of_testing_each_scope_on_its_own():
    """Overlapping scopes share work (each pair ranked once per panel; Corrado's exact rank
    sums added up from each pair's own terms): every scope's rows are, bit for bit, those of
    a call with that scope alone."""
    panel = _dated(_synthetic_panel(12), np.arange(60) * 61)  # every test reported
    scopes = _synthetic_scopes(panel)
    windows = [(0, 0), (0, 1), (-5, 9)]
    together = inference.scoped_tests(panel, scopes, windows)
    alone = pd.concat([inference.scoped_tests(panel, [scope], windows) for scope in scopes],
                      ignore_index=True)
    pd.testing.assert_frame_equal(together, alone, check_exact=True)
    assert together.loc[together["test"] == "corrado", "statistic"].notna().sum() > 50


@pytest.mark.parametrize(("seed", "cells"), [(3, None), (4, None), (5, 700)])
def test_corrado_sums_of_all_scopes_at_once_equal_each_scope_ranked_on_its_own(seed, cells, monkeypatch):
    """The pooled route (each pair's centred ranks formed once, summed per scope) gives the
    reference sums of :func:`corrado_rank_sums` on each scope's own pairs, exactly: ties,
    missing estimation days, pairs missing some event days (members of some days only);
    whole or in blocks of pairs (``cells``)."""
    from eventstudy.inference import ranks, scoped
    from eventstudy.inference.statistics import corrado_rank_sums

    if cells is not None:
        monkeypatch.setattr(ranks, "PAIR_CELLS", cells)  # blocks of 11 pairs

    panel = _synthetic_panel(seed)
    scopes = _synthetic_scopes(panel)
    windows = [(0, 0), (0, 1), (-1, 1), (-5, 9)]
    battery = scoped._Battery.prepare(panel, windows, days=True, returns="simple",
                                      alternative="two-sided")
    members = [np.flatnonzero(scope.rows) for scope in scopes]
    assert not battery.days.members.all(axis=0).all()  # some pairs miss some event days
    pooled = scoped._CorradoSums.build(battery, members)
    for position, rows in enumerate(members):
        rows = rows[::-1] if position % 2 else rows  # the sums do not depend on the order
        known = pooled.scope_sums(position)
        for sections in (battery.days, battery.windows):
            expected = corrado_rank_sums(battery.pairs.take(rows), sections.take(rows))
            got = known[("corrado", sections.is_window)]
            np.testing.assert_array_equal(got.estimation, expected.estimation)
            np.testing.assert_array_equal(got.event, expected.event)
            assert got.counts is None  # left to the test (the members' counts)


def test_a_scope_frees_its_large_inputs_after_the_last_test_that_reads_them(monkeypatch):
    """Same rows as keeping every input; by the rank tests the correlations and 0/1 weights
    are gone, and every name the release table lists is an input a scope computes."""
    from eventstudy.inference import scoped
    from eventstudy.inference.sections import PairInputs, ScopeData

    for name in scoped._LARGE_INPUTS:
        assert isinstance(getattr(PairInputs, name, None) or getattr(ScopeData, name, None),
                          property | type(PairInputs.est_resid)), name
    panel = _synthetic_panel(6)
    scopes = _synthetic_scopes(panel)
    freed = inference.scoped_tests(panel, scopes, WINDOWS, assume_independent=True)
    held = {"corrado_zivney": [], "grank": []}

    def watched(test_id):
        run = scoped.BATTERY[test_id]

        def test(scope, cs):
            held[test_id].append({*scope.__dict__, *scope.pairs.__dict__} & scoped._LARGE_INPUTS)
            return run(scope, cs)
        return test

    for test_id in held:
        monkeypatch.setitem(scoped.BATTERY, test_id, watched(test_id))
    inference.scoped_tests(panel, scopes, WINDOWS, assume_independent=True)
    # the sorted SARs are made before Corrado-Zivney runs, and the residuals they are made of dropped
    assert held["corrado_zivney"] and all(
        {"est_sar_sorted"} <= h <= {"est_sar_sorted", "_corrado_zivney"} for h in held["corrado_zivney"])
    assert held["grank"] and all(h <= {"est_sar_sorted"} for h in held["grank"])
    monkeypatch.setattr(ScopeData, "release", lambda self, names: None)
    kept = inference.scoped_tests(panel, scopes, WINDOWS, assume_independent=True)
    pd.testing.assert_frame_equal(freed, kept, rtol=0, atol=0)
