"""Joint day-dummy estimation: statsmodels dummy regressions, the two-step route, clusters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from eventstudy.abnormal import AssetInput, estimate
from eventstudy.events import Event, FactorSpec, ModelSpec, StudySettings
from eventstudy.joint import CLUSTER_COLUMNS, JOINT_COLUMNS, clusters, joint_tables
from eventstudy.models import build_design
from eventstudy.registry import JOINT_ESTIMATES

SESSIONS = pd.bdate_range("2020-01-01", periods=700)
SETTINGS = StudySettings(
    name="synthetic",
    estimation_window=(-150, -11),
    event_windows=((0, 0), (0, 1), (-1, 1), (0, 3), (-2, 6)),
    exclude_other_events=True,
    exclusion_window=(0, 1),
    min_estimation_returns=100,
    model=ModelSpec("market", benchmark="M"),
)
# e200 alone; e400/e403/e405 overlap e400's period [-2, 6]; e409 overlaps e405 but not e400
# (chaining bounded); e300 lies inside the estimation window of the e400 cluster.
POSITIONS = {"e200": 200, "e300": 300, "e400": 400, "e403": 403, "e405": 405, "e409": 409, "e600": 600}


def _event(event_id: str, pos: int, assets=None) -> Event:
    stamp = pd.Timestamp(SESSIONS[pos]).tz_localize("UTC")
    return Event(event_id, event_id, "other", stamp, ("synthetic",), assets=assets)


def _events(positions=POSITIONS) -> list[Event]:
    return [_event(e, p) for e, p in positions.items()]


def _day0(events, sessions=SESSIONS, exchange="X"):
    return {(e.id, exchange): pd.Timestamp(e.announced.tz_convert(None).normalize()) for e in events}


def _market(seed=0):
    return np.random.default_rng(seed).normal(0, 0.01, len(SESSIONS))


def _asset(ticker, seed, spec=SETTINGS.model, shocks=(), missing=(), reaction="total", df=5):
    """Fat-tailed returns (Student t) on SESSIONS with a market factor M and a second factor F."""
    rng = np.random.default_rng(seed)
    market, factor = _market(), np.random.default_rng(99).normal(0, 0.005, len(SESSIONS))
    ret = 0.0003 + 1.2 * market + 0.5 * factor + 0.01 * rng.standard_t(df, len(SESSIONS))
    for pos, size in shocks:
        ret[pos] += size
    ret[list(missing)] = np.nan
    design = build_design(spec, len(SESSIONS), {"M": market, "F": factor})
    return AssetInput(ticker, "X", SESSIONS, ret, design, reaction=reaction)


# ---------------------------------------------------------------- statsmodels reference


def _reference(asset: AssetInput, cluster_events, all_positions, settings) -> dict:
    """The dummy regression written out with statsmodels: sample, dummies, classical OLS."""
    n = len(asset.sessions)
    y = asset.returns - asset.design.offset
    x = asset.design.x
    valid = np.isfinite(y) & np.isfinite(x).all(axis=1)
    first = min(all_positions[e] for e in cluster_events)
    lo, hi = settings.event_period
    own = np.zeros(n, bool)
    for e in cluster_events:
        own[all_positions[e] + lo : all_positions[e] + hi + 1] = True
    sample = np.zeros(n, bool)
    sample[first + settings.estimation_window[0] : first + settings.estimation_window[1] + 1] = True
    if settings.exclude_other_events:
        xlo, xhi = settings.other_event_exclusion
        for e, p in all_positions.items():
            if e not in cluster_events:
                sample[max(p + xlo, 0) : p + xhi + 1] = False
    sample &= valid & ~own
    dummy_days = np.flatnonzero(own & valid)
    rows = np.flatnonzero(sample | (own & valid))
    dummies = (rows[:, None] == dummy_days[None, :]).astype(float)
    fit = sm.OLS(y[rows], np.column_stack([x[rows], dummies])).fit()
    k = x.shape[1]
    return {"fit": fit, "k": k, "days": dummy_days, "first": first, "sample": np.flatnonzero(sample)}


def _reference_rows(asset, cluster_events, all_positions, settings) -> pd.DataFrame:
    ref = _reference(asset, cluster_events, all_positions, settings)
    fit, k, days = ref["fit"], ref["k"], ref["days"]
    gamma, cov = fit.params[k:], np.asarray(fit.cov_params())[k:, k:]
    column = {d: j for j, d in enumerate(days)}
    lo, hi = settings.event_period
    rows = []
    for e in cluster_events:
        pos = all_positions[e]
        for rel in range(lo, hi + 1):
            if pos + rel in column:
                j = column[pos + rel]
                est, se = gamma[j], np.sqrt(cov[j, j])
                rows.append((e, "day", rel, "", est, se, est / se, fit.pvalues[k + j]))
        for w in settings.event_windows:
            span = range(pos + w[0], pos + w[1] + 1)
            if all(s in column for s in span):
                weights = np.zeros(len(days))
                weights[[column[s] for s in span]] = 1
                est, se = weights @ gamma, np.sqrt(weights @ cov @ weights)
                t = fit.t_test(np.concatenate([np.zeros(k), weights]))
                rows.append((e, "window", np.nan, f"[{w[0]},{w[1]}]", est, se, float(t.tvalue.item()),
                             float(t.pvalue)))
    out = pd.DataFrame(rows, columns=["event_id", "kind", "rel_day", "window", "estimate", "std_error",
                                      "t", "p_value"])
    out["df"] = fit.df_resid
    out["n_obs"] = int(fit.nobs)
    return out


def _compare(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    ok = ours[ours["status"] == "ok"].copy()
    ok["rel_day"] = ok["rel_day"].astype(float)
    keys = ["event_id", "kind", "rel_day", "window"]
    merged = ref.merge(ok, on=keys, how="outer", suffixes=("_ref", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][keys + ["_merge"]]
    for column in ("estimate", "std_error", "t", "p_value", "df", "n_obs"):
        np.testing.assert_allclose(merged[column].to_numpy(float), merged[f"{column}_ref"].to_numpy(float),
                                   rtol=1e-10, atol=1e-14, err_msg=column)


@pytest.mark.parametrize("spec", [
    ModelSpec("market", benchmark="M"),
    ModelSpec("constant_mean"),
    ModelSpec("market_adjusted", benchmark="M"),
    ModelSpec("factor", factors=(FactorSpec("M"), FactorSpec("F"))),
    ModelSpec("dimson", benchmark="M", lags=1, leads=1),
], ids=lambda s: s.name)
def test_every_row_equals_the_statsmodels_dummy_regression(spec):
    settings = dataclasses.replace(SETTINGS, model=spec)
    events = _events()
    assets = [_asset("A", 1, spec, shocks=[(403, 0.06)], missing=[231, 404, 410]),
              _asset("B", 2, spec, missing=range(250, 262))]
    tables = joint_tables(assets, events, _day0(events), settings)
    rows, table = tables.rows, tables.clusters
    assert list(rows.columns) == JOINT_COLUMNS and list(table.columns) == CLUSTER_COLUMNS
    for cluster in table.itertuples():
        asset = next(a for a in assets if a.ticker == cluster.asset)
        members = cluster.events.split("+")
        ours = rows[(rows["cluster"] == cluster.cluster) & (rows["asset"] == cluster.asset)]
        _compare(ours, _reference_rows(asset, members, POSITIONS, settings))
        ref = _reference(asset, members, POSITIONS, settings)
        assert cluster.n_estimation == len(ref["sample"]) and cluster.df == ref["fit"].df_resid
        assert cluster.estimation_start == SESSIONS[ref["sample"][0]]
        assert cluster.estimation_end == SESSIONS[ref["sample"][-1]]


def test_missing_sessions_are_reported_not_estimated():
    events = _events()
    asset = _asset("A", 3, missing=[404])
    rows = joint_tables([asset], events, _day0(events), SETTINGS).rows
    day = rows.query("event_id == 'e403' and kind == 'day' and rel_day == 1").iloc[0]
    assert day["status"] == "missing" and np.isnan(day["estimate"]) and "no return" in day["message"]
    window = rows.query("event_id == 'e403' and window == '[0,3]'").iloc[0]
    assert window["status"] == "missing" and np.isnan(window["estimate"])
    assert rows.query("event_id == 'e403' and window == '[0,0]'")["status"].iloc[0] == "ok"


# ---------------------------------------------------------------- the two-step route


def test_a_single_event_cluster_reproduces_the_two_step_estimates():
    """Same estimation sample (other events' exclusion windows removed) -> identical ARs."""
    events = _events()
    asset = _asset("A", 4, shocks=[(200, 0.05), (300, 0.2)])
    panel, _ = estimate([asset], events, _day0(events), SETTINGS)
    rows = joint_tables([asset], events, _day0(events), SETTINGS).rows
    for event_id in ("e200", "e300", "e600"):
        row = list(panel.event_ids).index(event_id)
        days = rows.query("event_id == @event_id and kind == 'day'").set_index("rel_day")
        np.testing.assert_allclose(days["estimate"].to_numpy(float), panel.event_ar[row], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(days["std_error"].to_numpy(float) ** 2,
                                   panel.s2[row] * np.diagonal(panel.cov_factor[row]), rtol=1e-10)
        for window in SETTINGS.event_windows:
            car, var = panel.car(window)
            got = rows[(rows["event_id"] == event_id) & (rows["window"] == f"[{window[0]},{window[1]}]")]
            assert got["estimate"].iloc[0] == pytest.approx(car[row], rel=1e-10, abs=1e-15)
            assert got["std_error"].iloc[0] ** 2 == pytest.approx(var[row], rel=1e-10)


# ---------------------------------------------------------------- known effects


def test_overlapping_events_share_the_abnormal_return_of_a_shared_session():
    events = [_event("shock", 400), _event("pause", 402)]
    asset = _asset("A", 5, shocks=[(400, -0.08), (402, 0.10)], df=30)
    rows = joint_tables([asset], events, _day0(events), SETTINGS).rows
    assert set(rows["cluster"]) == {"c01"}
    day = rows[rows["kind"] == "day"]
    shock_plus2 = day.query("event_id == 'shock' and rel_day == 2")["estimate"].iloc[0]
    pause_0 = day.query("event_id == 'pause' and rel_day == 0")["estimate"].iloc[0]
    assert shock_plus2 == pause_0 and pause_0 == pytest.approx(0.10, abs=0.035)
    shock_0 = day.query("event_id == 'shock' and rel_day == 0").iloc[0]
    assert shock_0["estimate"] == pytest.approx(-0.08, abs=0.035) and shock_0["p_value"] < 0.01
    # window CAR = sum of the day dummies it covers
    window = rows.query("event_id == 'pause' and window == '[0,1]'")["estimate"].iloc[0]
    assert window == pytest.approx(day.query("event_id == 'pause' and rel_day in (0, 1)")["estimate"].sum(),
                                   abs=1e-15)


def test_only_day_and_window_rows_with_classical_errors():
    events = _events()
    rows = joint_tables([_asset("A", 6)], events, _day0(events), SETTINGS).rows
    assert set(rows["kind"]) == set(JOINT_ESTIMATES) == {"day", "window"}
    assert set(rows["cov_type"]) == {"nonrobust"}
    per_event = rows.groupby(["event_id", "kind"]).size().unstack()
    assert (per_event["day"] == 9).all() and (per_event["window"] == len(SETTINGS.event_windows)).all()


def test_other_events_inside_the_estimation_window_are_excluded():
    """A crash on another event's day 0 inside the estimation window changes nothing."""
    events = _events()
    calm = _asset("A", 7)
    crash = _asset("A", 7, shocks=[(300, -0.5), (301, 0.3)])
    first = joint_tables([calm], events, _day0(events), SETTINGS).rows
    second = joint_tables([crash], events, _day0(events), SETTINGS).rows
    cluster = first.query("event_id == 'e400'")["cluster"].iloc[0]
    a, b = (t[(t["cluster"] == cluster) & (t["event_id"] != "e300")] for t in (first, second))
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    # without the exclusion the crash enters the estimation sample
    settings = dataclasses.replace(SETTINGS, exclude_other_events=False)
    third = joint_tables([crash], events, _day0(events), settings).rows
    third = third[(third["cluster"] == cluster)]
    assert not np.allclose(third["std_error"].to_numpy(float), a["std_error"].to_numpy(float), equal_nan=True)


# ---------------------------------------------------------------- clusters


def test_clusters_are_bounded_by_the_first_events_period():
    assert clusters({"a": 100, "b": 103, "c": 200}, SETTINGS) == [["a", "b"], ["c"]]
    # a chain every 5 sessions: each cluster keeps the events overlapping its first one
    chain = {f"e{i}": 100 + 5 * i for i in range(7)}
    assert clusters(chain, SETTINGS) == [["e0", "e1"], ["e2", "e3"], ["e4", "e5"], ["e6"]]
    wide = dataclasses.replace(SETTINGS, event_windows=((0, 1), (-5, 10)))
    assert clusters(chain, wide) == [["e0", "e1", "e2", "e3"], ["e4", "e5", "e6"]]


def test_cluster_ids_are_short_ordered_and_the_span_is_stated():
    events = _events()
    tables = joint_tables([_asset("A", 8), _asset("B", 9)], events, _day0(events), SETTINGS)
    table = tables.clusters
    expected = ["e200", "e300", "e400+e403+e405", "e409", "e600"]
    assert list(table.drop_duplicates("cluster")["events"]) == expected
    assert list(table.drop_duplicates("cluster")["cluster"]) == ["c01", "c02", "c03", "c04", "c05"]
    assert set(tables.rows["cluster"]) == set(table["cluster"])
    # every event's estimation sample ends within (b - a) + 11 sessions of its own day 0
    lo, hi = SETTINGS.event_period
    rows = tables.rows.merge(table[["cluster", "asset", "estimation_end"]], on=["cluster", "asset"])
    for row in rows[rows["kind"] == "day"].drop_duplicates(["event_id", "asset"]).itertuples():
        gap = POSITIONS[row.event_id] - SESSIONS.get_loc(row.estimation_end)
        assert 11 <= gap <= (hi - lo) + 11
    c03 = table[table["cluster"] == "c03"].iloc[0]
    assert c03["first_day0"] == SESSIONS[400] and c03["last_day0"] == SESSIONS[405]
    assert c03["n_events"] == 3 and c03["estimation_end"] == SESSIONS[400 - 11]


def test_event_selection_and_assets_the_event_does_not_apply_to():
    events = _events() + [_event("only-b", 500, assets=("B",))]
    assets = [_asset("A", 10), _asset("B", 11)]
    rows = joint_tables(assets, events, _day0(events), SETTINGS, ["e400", "e409", "only-b"]).rows
    assert set(rows["event_id"]) == {"e400", "e409", "only-b"}
    assert set(rows.loc[rows["event_id"] == "only-b", "asset"]) == {"B"}
    # e400 and e409 do not overlap: two clusters
    assert rows.groupby("event_id")["cluster"].nunique().max() == 1 and rows["cluster"].nunique() == 3
    with pytest.raises(ValueError, match="unknown event id"):
        joint_tables(assets, events, _day0(events), SETTINGS, ["e400", "nope"])


def test_the_same_ticker_with_two_reactions_gets_two_sets_of_rows():
    events = _events()
    relative = _asset("A", 12, reaction="relative")
    total = _asset("A", 12, ModelSpec("constant_mean"), reaction="total")
    tables = joint_tables([relative, total], events, _day0(events), SETTINGS)
    rows = tables.rows.query("event_id == 'e200' and kind == 'day' and rel_day == 0")
    assert list(rows["reaction"]) == ["relative", "total"]
    assert rows["estimate"].iloc[0] != rows["estimate"].iloc[1]
    assert set(tables.clusters["reaction"]) == {"relative", "total"}


def test_assets_on_another_calendar_keep_their_own_sessions():
    events = _events()
    holidays = [401, 402]  # two sessions missing on the second exchange
    sessions_b = SESSIONS.delete(holidays)
    a = _asset("A", 13)
    b_full = _asset("B", 14)
    keep = np.setdiff1d(np.arange(len(SESSIONS)), holidays)
    design = dataclasses.replace(b_full.design, x=b_full.design.x[keep], x_pred=b_full.design.x_pred[keep],
                                 offset=b_full.design.offset[keep])
    b = AssetInput("B", "Y", sessions_b, b_full.returns[keep], design)
    day0 = {**_day0(events), **_day0(events, exchange="Y")}
    day0[("e403", "Y")] = SESSIONS[403]
    rows = joint_tables([a, b], events, day0, SETTINGS).rows
    b_rows = rows[rows["asset"] == "B"]
    assert b_rows.query("event_id == 'e403' and rel_day == 0")["date"].iloc[0] == SESSIONS[403]
    assert b_rows.query("event_id == 'e403' and rel_day == -1")["date"].iloc[0] == SESSIONS[400]
    positions_b = {e: sessions_b.get_loc(pd.Timestamp(d)) for (e, x), d in day0.items() if x == "Y"}
    for cluster in rows.loc[rows["asset"] == "B", "cluster"].unique():
        members = list(b_rows[b_rows["cluster"] == cluster]["event_id"].unique())
        _compare(b_rows[b_rows["cluster"] == cluster], _reference_rows(b, members, positions_b, SETTINGS))


# ---------------------------------------------------------------- refusals


def test_scholes_williams_is_refused_with_a_reason():
    events = _events()
    spec = ModelSpec("scholes_williams", benchmark="M")
    design = build_design(spec, len(SESSIONS), {"M": _market()})
    asset = AssetInput("SW", "X", SESSIONS, _asset("SW", 15).returns, design)
    tables = joint_tables([asset, _asset("A", 16)], events, _day0(events), SETTINGS)
    refused = tables.rows[tables.rows["asset"] == "SW"]
    assert len(refused) == len(POSITIONS) and set(refused["status"]) == {"refused"}
    assert refused["message"].str.contains("Scholes–Williams").all()
    assert refused["estimate"].isna().all() and refused["rel_day"].isna().all()
    assert (tables.rows.loc[tables.rows["asset"] == "A", "status"] == "ok").all()


def test_too_short_an_estimation_sample_is_refused():
    events = [_event("early", 100), _event("late", 400)]
    rows = joint_tables([_asset("A", 17)], events, _day0(events), SETTINGS).rows
    early = rows[rows["event_id"] == "early"]
    assert len(early) == 1 and early["status"].iloc[0] == "insufficient"
    assert "only 90 estimation returns" in early["message"].iloc[0]
    assert (rows.loc[rows["event_id"] == "late", "status"] == "ok").all()


def test_constant_returns_are_refused_not_silent_nan():
    events = [_event("e", 400)]
    asset = _asset("A", 18, ModelSpec("constant_mean"))
    flat = dataclasses.replace(asset, returns=np.full(len(SESSIONS), 0.001))
    rows = joint_tables([flat], events, _day0(events), dataclasses.replace(SETTINGS, model=ModelSpec("constant_mean"))).rows
    assert rows["status"].tolist() == ["degenerate"] and "zero residual variance" in rows["message"].iloc[0]


# ---------------------------------------------------------------- the default study


@pytest.mark.realdata
def test_every_event_of_the_default_study_is_estimated_near_its_own_window(snapshot_dir, repo_root):
    """With [-5, 10] windows the 2025 events no longer chain into one cluster fitted on 2024."""
    import eventstudy as es
    from eventstudy.events import load_config

    config = load_config(repo_root / "events.yaml")
    indices = tuple(a for a in config.assets if a.ticker in ("^N225", "^TOPX"))
    config = dataclasses.replace(config, assets=indices)
    result = es.Study(config, snapshot=snapshot_dir).run(volatility=False)
    tables = result.joint_tables()
    rows, table = tables["joint"], tables["joint_clusters"]
    lo, hi = config.settings.event_period
    assert table["cluster"].str.fullmatch(r"c\d\d").all() and rows["cluster"].str.len().max() == 3
    assert table["events"].str.split("+").map(len).sum() == 2 * len(config.events)
    sessions = result.event_sessions.set_index(["event_id", "exchange"])["session"]
    grid = pd.DatetimeIndex(result.inputs[0].sessions)
    spans = rows.drop_duplicates(["cluster", "event_id", "asset"]).merge(
        table[["cluster", "asset", "first_day0", "estimation_end", "n_estimation"]], on=["cluster", "asset"])
    # each event's day 0 lies within one event period of its cluster's first day 0, and the
    # estimation sample ends at the latest 11 sessions before that first day 0 (earlier only when
    # other events' reaction days are excluded there)
    for row in spans.itertuples():
        day0 = grid.get_loc(sessions[(row.event_id, "XTKS")])
        first = grid.get_loc(row.first_day0)
        assert 0 <= day0 - first <= hi - lo
        assert first - grid.get_loc(row.estimation_end) >= -config.settings.estimation_window[1]
    assert (table["estimation_end"] == [grid[grid.get_loc(d) - 11] for d in table["first_day0"]]).mean() > 0.5
    november = spans[spans["event_id"] == "chip-tariff-delay-report"]
    assert (november["estimation_end"] > pd.Timestamp("2025-10-01")).all()
    assert (spans["n_estimation"] >= config.settings.min_estimation_returns).all()


def test_two_sided_t_p_value_is_scipys_bit_for_bit():
    from scipy import stats

    from eventstudy.models import two_sided_t_p_value

    rng = np.random.default_rng(5)
    t = np.concatenate([rng.standard_t(3, 2000) * 3, [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, 40.0]])
    df = np.concatenate([rng.integers(1, 400, 2000).astype(float), [5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0]])
    want = 2.0 * stats.t.sf(np.abs(t), df)
    np.testing.assert_array_equal(two_sided_t_p_value(t, df), want)
    bad_df = np.array([0.0, -3.0, np.nan, np.inf])
    np.testing.assert_array_equal(two_sided_t_p_value(np.full(4, 1.5), bad_df),
                                  2.0 * stats.t.sf(np.full(4, 1.5), bad_df))


def test_the_joint_rows_one_cluster_at_a_time_are_the_table_at_once():
    """JointParts gives joint_tables' rows cluster by cluster, in order, and the same clusters
    table; with models of different forms, a refused model, two reactions and missing days."""
    from eventstudy.joint import JointParts

    events = _events()
    spec = ModelSpec("scholes_williams", benchmark="M")
    refused = AssetInput("SW", "X", SESSIONS, _asset("SW", 15).returns,
                         build_design(spec, len(SESSIONS), {"M": _market()}))
    inputs = [_asset("A", 12, reaction="relative"), _asset("A", 12, ModelSpec("constant_mean")),
              refused, _asset("B", 3, missing=[401, 402, 598])]
    whole = joint_tables(inputs, events, _day0(events), SETTINGS)
    parts = JointParts(inputs, events, _day0(events), SETTINGS)
    pieces = list(parts.rows())
    assert [list(p["cluster"].unique()) for p in pieces] == [[c] for c in whole.rows["cluster"].unique()]
    joined = pd.concat(pieces, ignore_index=True)
    pd.testing.assert_frame_equal(joined, whole.rows, check_exact=True)
    pd.testing.assert_frame_equal(parts.clusters(), whole.clusters, check_exact=True)
    chosen = JointParts(inputs, events, _day0(events), SETTINGS, ["e600"])
    pd.testing.assert_frame_equal(
        pd.concat(list(chosen.rows()), ignore_index=True),
        joint_tables(inputs, events, _day0(events), SETTINGS, ["e600"]).rows, check_exact=True)
    with pytest.raises(ValueError, match="unknown event id"):
        JointParts(inputs, events, _day0(events), SETTINGS, ["nope"])
    nothing = JointParts([], events, _day0(events), SETTINGS)
    assert [list(p.columns) for p in nothing.rows()] == [JOINT_COLUMNS]
    assert list(nothing.clusters().columns) == CLUSTER_COLUMNS
