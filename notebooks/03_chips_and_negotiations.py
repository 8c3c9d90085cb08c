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
# # 03 — Chip stocks around negotiation rounds and chip-policy news
#
# Chip-stock abnormal returns come from a market model against same-day TOPIX returns, so they
# are reactions **relative to the Japanese market** (the index rows are total reactions).
# Questions: did US–Japan negotiation rounds or chip-specific tariff news move Japanese chip
# stocks beyond what the market did, and do the answers survive tests that allow for the
# correlation of same-date abnormal returns?

# %%
import os
from pathlib import Path

import numpy as np
import pandas as pd

import eventstudy as es
from eventstudy import inference, plots


def find_events_file(name: str = "events.yaml") -> Path:
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


SNAPSHOT = os.environ.get("EVENTSTUDY_SNAPSHOT")
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
res = es.run(find_events_file(), snapshot=SNAPSHOT, volatility=False)
chips = plots.chip_tickers(res)
events = plots.event_table(res)
print(len(chips), "chip stocks:", ", ".join(plots.asset_name(res, t) for t in chips))

# %% [markdown]
# ## Chip CAAR per event, chip stocks only
# CAAR = mean over the chip stocks of CAR[0,+1] (METHODS convention 4). `kp_bmp` is the BMP
# test deflated by the Kolari–Pynnönen factor with r̄ from the stocks' estimation residuals;
# `grank` is the generalised rank test. Both are two-sided.

# %%
def chip_tests(event_id: str, window=(0, 1)) -> dict:
    panel = res.panel
    rows = (panel.event_ids == event_id) & np.isin(panel.assets, chips) & (panel.reactions == "relative")
    sub = panel.subset(rows)
    car, _ = sub.car(window)
    tests = inference.window_tests(sub, window).set_index("test")
    return {"event_id": event_id, "caar_pct": 100 * np.nanmean(car), "n": int(rows.sum()),
            "r_bar": tests.at["kp_bmp", "r_bar"], "kp_bmp_p": tests.at["kp_bmp", "p_value"],
            "grank_p": tests.at["grank", "p_value"], "bmp_p": tests.at["bmp", "p_value"]}


focus = events[events["category"].isin(["negotiation_round", "chip_policy", "deal"])]
chip_table = pd.DataFrame([chip_tests(e) for e in focus["event_id"]])
chip_table.insert(1, "category", focus["category"].to_numpy())
chip_table.insert(2, "day0", focus["day0"].dt.date.to_numpy())
chip_table.round(4)

# %% [markdown]
# Read `bmp_p` against `kp_bmp_p`: with r̄ around 0.2–0.3 among chip stocks, the adjustment
# multiplies BMP by roughly √((1 − r̄)/(1 + (N − 1) r̄)) ≈ 0.5, which turns many nominally
# significant results into noise.

# %% [markdown]
# ## Heat map: every event × asset
# CAR[0,+1] in %, stars from the single-asset t-test. Large isolated cells on dates with
# company news (e.g. earnings) are firm-specific, not tariff reactions.

# %%
ax = plots.car_heatmap(res)

# %% [markdown]
# ## Pooled tests by category and tag
# All (event, asset) pairs of a category or tag pooled, indices and chips together.
# Statistic and two-sided p for the clustering-robust tests (KP-BMP, GRANK, crude dependence)
# and for the independence-based BMP and Patell (descriptive only).

# %%
pooled = res.tests.query(
    "scope in ['category', 'tag'] and window == '[0,1]' and "
    "test in ['kp_bmp', 'grank', 'crude_dependence', 'bmp', 'patell']"
)
pooled.pivot_table(index=["scope", "scope_id", "group", "reaction"], columns="test", values="p_value").round(4)

# %% [markdown]
# ## Mean CAR paths by category
# Equal weight per event; the band is a 95% t-interval from the spread of the event-mean CARs
# across the events of a category (each event counts once because same-date pairs are
# correlated).

# %%
fig = plots.car_paths(res, by="category")

# %%
ax = plots.chips_vs_topix(res)
