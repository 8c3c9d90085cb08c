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
# # 04 — Volatility around the events
#
# Three views:
#
# 1. **GARCH abnormal volatility**: a GARCH(1,1) is fitted to each pair's estimation-window
#    residuals and forecasts the variance ĥ of every event-window day; AR²/ĥ has mean 1 under
#    "no volatility shift". CAV = Σ AR²/(C ĥ) − L2 over a window; its p-value is calibrated on
#    the pair's own estimation window (`p_value`), for windows of up to 6 sessions (longer
#    windows do not keep their size on real returns; their rows say so in `message`).
# 2. **Beaver U** per event: the mean squared standardised AR of the event's pairs, calibrated
#    on their own estimation-window dates (kept under same-date clustering for 1–2-day windows;
#    the cross-sectional variance-ratio t tests assume independent pairs and are withheld for
#    pairs that share a date).
# 3. **The Nikkei Volatility Index** level itself (an implied-volatility index, so a level
#    change rather than a return).

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
pd.set_option("display.max_columns", 20)
res = es.run(find_events_file(), snapshot=SNAPSHOT, volatility=True)
vol = res.volatility
vol["measure"].value_counts()

# %% [markdown]
# ## GARCH CAV over [0,+5] around Liberation Day
# `estimate` = CAV = Σ AR²/(C ĥ) − 6 (0 under H0), `statistic` = Σ AR²/(C ĥ); `p_value` is
# calibrated on the pair's own estimation window.

# %%
vol.query("scope == 'pair' and scope_id == @LIBERATION and window == '[0,5]' "
          "and measure == 'garch_cav'")[["asset", "estimate", "statistic", "p_value",
                                        "status"]].round(4)

# %% [markdown]
# Daily AR²/ĥ of every pair of the event (thin) and each group's median (bold).

# %%
daily = aggregate.garch_daily_paths(res, [LIBERATION])
fig = plots.abnormal_volatility(res, daily, LIBERATION)

# %% [markdown]
# ## Cross-sectional volatility tests by category, [0,+5]
# `cs_variance_ratio`: mean over pairs of ln(event-window variance / estimation-window
# variance) minus its null mean; negative values mean calmer than the estimation window.
# Caveat: estimation windows of events after April contain the April turmoil (only the
# [0,+1] reaction days of other events are excluded), which inflates the reference variance.

# %%
vol.query("scope == 'category' and window == '[0,5]'")[
    ["scope_id", "group", "reaction", "measure", "estimate", "statistic", "p_value", "n"]
].round(4)

# %% [markdown]
# ## Nikkei VI around the April shock
# `level_change` rows (assets of `kind: volatility_index`): the change of the VI level from the
# session before each window starts to its end (log change in `estimate`, points in `message`).

# %%
vol.query("asset == 'NIKKEI_VI' and scope_id in [@LIBERATION, @PAUSE]")[
    ["scope_id", "window", "estimate", "message"]
]

# %%
ax = plots.level_around_event(res, "NIKKEI_VI", LIBERATION)
