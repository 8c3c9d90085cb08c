# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 — Liberation Day (3 April) and the 90-day pause (10 April)
#
# * **Liberation Day**: announced 2 April 2025, 16:00 EDT, after the New York close
#   → 05:00 JST on 3 April, **Tokyo day 0 = 3 April**.
# * **90-day pause**: announced 9 April, about 13:18 EDT, during the New York session
#   (New York day 0 = 9 April, partial) → 02:18 JST on 10 April, **Tokyo day 0 = 10 April**.
#
# 10 April is day +5 of Liberation Day, so CAR windows of the two events overlap. We show
# (1) the two-step CARs, (2) the chip stocks against TOPIX, and (3) the joint estimation with
# one dummy per session, which attributes each session's abnormal return once.

# %%
import os
from pathlib import Path

import pandas as pd

import eventstudy as es
from eventstudy import aggregate, plots


def find_events_file(name: str = "events.yaml") -> Path:
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


SNAPSHOT = os.environ.get("EVENTSTUDY_SNAPSHOT")
LIBERATION, PAUSE = "liberation-day-reciprocal-tariffs", "reciprocal-90day-pause"
pd.set_option("display.width", 160)
res = es.run(find_events_file(), snapshot=SNAPSHOT, volatility=False)

# %% [markdown]
# ## Day-0 mapping

# %%
res.event_sessions.query("event_id in [@LIBERATION, @PAUSE]")[
    ["event_id", "exchange", "session", "partial", "announced_local", "rule"]
]

# %% [markdown]
# ## Daily abnormal returns of the indices, 1–14 April
# Constant-mean model: AR = return − mean estimation-window return (total reaction).
# `ret` and `ar` are fractions (0.091 = 9.1%).

# %%
daily = res.abnormal.query("event_id == @LIBERATION and asset in ['^N225', '^TOPX']")
daily.pivot_table(index="date", columns="asset", values=["ret", "ar"]).round(4)

# %% [markdown]
# ## CAR[0,+1] and CAR[0,+3] of the indices and the chip stocks
# `total` rows net out nothing but the mean return; `relative` rows net out β × TOPIX.

# %%
cars = res.car.query("event_id in [@LIBERATION, @PAUSE] and window in ['[0,1]', '[0,3]']")
table = cars.pivot_table(index=["asset", "reaction"], columns=["event_id", "window"], values="car")
(100 * table).round(2)

# %% [markdown]
# Note that CAR[0,+3] of a two-step estimate of the pause still contains 11–15 April, and
# CAR[0,+5] of Liberation Day already contains the 9% rally of 10 April: overlapping windows
# double count. The joint estimation below separates the sessions.

# %% [markdown]
# ## CAR paths, 0 at day −1
# `aggregate.car_paths_table` holds every pair's path and every group's average path with the
# variance of its 95% band (the plots only draw it). One row of panels per asset group; total
# reaction on the left, relative on the right.

# %%
paths = aggregate.car_paths_table(res)
fig = plots.event_paths(res, paths, LIBERATION)

# %%
fig = plots.event_paths(res, paths, PAUSE)

# %% [markdown]
# ## Total against relative, per chip stock
# Circles: total CAR[0,+1]; diamonds: relative to TOPIX; 95% intervals. Group averages come
# from `aggregate.caar_table` (portfolio-variance interval, robust to same-date correlation).

# %%
caar = aggregate.caar_table(res)
fig = plots.total_vs_relative(res, caar, [LIBERATION, PAUSE], (0, 1))

# %% [markdown]
# ## Joint estimation: one regression per asset, one dummy per session
# `res.joint([...])` estimates both events together over the estimation sample of the first
# one (`res.joint_tables()` also states each cluster's estimation span). Day dummies
# (`kind == 'day'`) are the abnormal returns of single sessions with classical OLS standard
# errors; window rows (`kind == 'window'`) are the sums of the day dummies over the window with
# variance `w'Cov(γ)w` from the same classical covariance. No HAC: a dummy fits its own days,
# so a HAC standard error of a dummy collapses.

# %%
joint = res.joint([LIBERATION, PAUSE])
days = joint.query("kind == 'day' and event_id == @LIBERATION and asset in ['^N225', '^TOPX']"
                   " and 0 <= rel_day <= 6")
days.pivot_table(index=["date", "rel_day"], columns="asset", values=["estimate", "p_value"]).round(4)

# %%
joint.query("kind == 'window' and asset in ['^N225', '^TOPX'] and window in ['[0,3]', '[0,5]']")[
    ["event_id", "asset", "window", "estimate", "std_error", "t", "p_value"]
].round(4)

# %% [markdown]
# ## How the clustering adjustment changes the conclusion
# On one event date every asset shares the shock, so their abnormal returns are correlated
# (r̄ in the panel titles). Tests that treat the N assets as independent draws (open markers)
# give far smaller p-values than the tests that allow for the correlation (filled markers).

# %%
fig = plots.cross_section_pvalues(res, LIBERATION, (0, 1))

# %%
fig = plots.cross_section_pvalues(res, PAUSE, (0, 1))
