"""``inference.scoped_tests`` equals the per-scope subset route of ``study.scope_tests``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from eventstudy import inference
from eventstudy.events import load_config
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import SCOPE_LABELS
from eventstudy.study import Study, scope_tests

WINDOWS = [(0, 0), (0, 1), (-1, 1), (0, 3), (-5, 9)]


def _subset_route(panel, scopes, windows, alternative="two-sided") -> pd.DataFrame:
    """The reference: every scope on its own ``panel.subset(rows)``."""
    frames = []
    for scope, scope_id, rows in scopes:
        sub = panel.subset(rows)
        if alternative == "two-sided":
            frames.append(scope_tests(sub, scope, scope_id, windows))
            continue
        daily = inference.daily_tests(sub, alternative)
        daily["window"] = ""
        parts = [daily]
        for window in windows:
            part = inference.window_tests(sub, window, alternative)
            part["rel_day"] = pd.NA
            part["window"] = f"[{window[0]},{window[1]}]"
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        out["rel_day"] = out["rel_day"].astype("Int64")
        out.insert(0, "scope", scope)
        out.insert(1, "scope_id", scope_id)
        out.insert(2, "asset", "")
        frames.append(out)
    return pd.concat(frames, ignore_index=True)


def _assert_same(panel, scopes, windows, alternative="two-sided") -> pd.DataFrame:
    expected = _subset_route(panel, scopes, windows, alternative)
    got = inference.scoped_tests(panel, scopes, windows, alternative)
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
    return AbnormalPanel(
        event_ids=event_ids,
        assets=assets,
        rel_days=rel_days,
        dates=dates,
        ret=ar.copy(),
        expected=np.zeros((n, t)),
        ar=ar,
        is_estimation=is_estimation,
        event_start=start,
        cov_factor=cov_factor,
        s2=s2,
        n_est=n_est,
        k=np.full(n, 2),
    )


def _synthetic_scopes(panel: AbnormalPanel) -> list[tuple[str, str, np.ndarray]]:
    ids = panel.event_ids
    scopes = [("event", event_id, ids == event_id) for event_id in dict.fromkeys(ids)]
    one = np.zeros(panel.n_pairs, dtype=bool)
    one[4] = True
    two = np.zeros(panel.n_pairs, dtype=bool)
    two[[5, 30]] = True
    scopes += [
        ("category", "first-two", np.isin(ids, ["e0", "e1"])),
        ("tag", "last-three", np.isin(ids, ["e2", "e3", "e4"])),
        ("tag", "everything", np.ones(panel.n_pairs, dtype=bool)),
        ("tag", "one-pair", one),
        ("tag", "two-pairs", two),
        ("tag", "nothing-useful", np.isin(np.arange(panel.n_pairs), [3, 15])),
    ]
    return scopes


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scoped_tests_equal_the_subset_route_on_a_synthetic_panel(seed):
    panel = _synthetic_panel(seed)
    got = _assert_same(panel, _synthetic_scopes(panel), WINDOWS)
    # the panel exercises what it should: unequal member sets, notes, a one-pair scope
    assert (got["note"] != "").any() and (got["note"] == "").any()
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
    assert len(empty) == 0 and "r_bar" in empty.columns


@pytest.mark.realdata
def test_scoped_tests_equal_the_subset_route_on_a_real_study(snapshot_dir, repo_root):
    config = load_config(repo_root / "events.yaml")
    config = dataclasses.replace(config, events=config.events[:5])
    study = Study(config, snapshot=snapshot_dir)
    result = study.run(volatility=False)
    panel = result.panel
    windows = config.settings.event_windows
    study_scopes = result.scopes()
    scopes = [(str(i), "", s.rows) for i, s in enumerate(study_scopes)]
    one = np.zeros(panel.n_pairs, dtype=bool)
    one[0] = True
    scopes.append(("tag", "one-pair", one))
    _assert_same(panel, scopes, windows)
    # the study's own table holds exactly these rows after the single-asset ones
    cross = result.tests[result.tests["asset"] == ""].reset_index(drop=True)
    expected = _subset_route(panel, scopes[:-1], windows)
    labels = np.array([s.labels() for s in study_scopes], dtype=object)[expected["scope"].astype(int)]
    expected = expected.drop(columns=["scope", "scope_id"])
    for position, name in enumerate(SCOPE_LABELS):
        expected.insert(position, name, labels[:, position])
    pd.testing.assert_frame_equal(cross, expected[cross.columns], rtol=1e-10)
