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
# are reactions **relative to the Japanese market**; a constant-mean twin of every chip stock
# gives its **total** reaction. Both are shown side by side.
# Questions: did US–Japan negotiation rounds or chip-specific tariff news move Japanese chip
# stocks beyond what the market did, and do the answers survive tests that allow for the
# correlation of same-date abnormal returns?

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
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
res = es.run(find_events_file(), snapshot=SNAPSHOT, volatility=False)
chips = [a.ticker for a in res.config.studied_assets if a.group == "chips"]
events = plots.event_table(res)
caar = aggregate.caar_table(res)
print(len(chips), "chip stocks:", ", ".join(plots.asset_name(res, t) for t in chips))

# %% [markdown]
# ## Chip CAAR per event, total and relative
# `aggregate.caar_table` has one row per scope (event, category or tag × asset group ×
# reaction) and window: CAAR = mean CAR of the group's pairs (not the sum of daily means),
# a 95% interval from the portfolio of the stocks' estimation residuals (keeps their
# correlation) and that portfolio test's two-sided p-value. The Kolari–Pynnönen BMP p-value is
# read from `res.tests` beside it.

# %%
focus = events[events["category"].isin(["negotiation_round", "chip_policy", "deal"])]
chip_rows = caar.query("scope == 'event' and group == 'chips' and window == '[0,1]'")
chip_rows = chip_rows[chip_rows["scope_id"].isin(focus["event_id"])]
kp = res.tests.query("scope == 'event' and group == 'chips' and window == '[0,1]' "
                     "and test == 'kp_bmp'").set_index(["scope_id", "reaction"])["p_value"]
chip_table = chip_rows.assign(caar_pct=100 * chip_rows["caar"],
                              kp_bmp_p=[kp.get((e, r)) for e, r in
                                        zip(chip_rows["scope_id"], chip_rows["reaction"])])
chip_table.pivot_table(index="scope_id", columns="reaction",
                       values=["caar_pct", "p_value", "kp_bmp_p"]).round(4)

# %% [markdown]
# Read the two columns together: a large total move with a small relative one is the market
# moving the chips; a relative move is the chips reacting beyond β × TOPIX.

# %% [markdown]
# ## Heat map: every event × asset
# CAR[0,+1] in %, stars from the single-asset t-test. Large isolated cells on dates with
# company news (e.g. earnings) are firm-specific, not tariff reactions.

# %%
fig = plots.car_heatmap(res, (0, 1))

# %% [markdown]
# ## Pooled tests by category and tag
# All (event, asset) pairs of a category or tag pooled per asset group and reaction kind.
# Two-sided p for the clustering-robust tests (KP-BMP, GRANK, crude dependence) and for the
# independence-based BMP and Patell (descriptive only).

# %%
pooled = res.tests.query(
    "scope in ['category', 'tag'] and window == '[0,1]' and "
    "test in ['kp_bmp', 'grank', 'crude_dependence', 'bmp', 'patell']"
)
pooled.pivot_table(index=["scope", "scope_id", "group", "reaction"], columns="test", values="p_value").round(4)

# %% [markdown]
# ## Mean CAR paths by category
# Mean path over the pairs of each category, 0 at day −1; the band (95%, portfolio variance)
# belongs to the first line, the index group's total reaction.

# %%
paths = aggregate.car_paths_table(res)
fig = plots.scope_paths(res, paths, "category")

# %%
deals = focus["event_id"].tolist()[-3:]
fig = plots.total_vs_relative(res, caar, deals, (0, 1))
