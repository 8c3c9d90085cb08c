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
# # 01 — Quickstart: from `events.yaml` to abnormal returns
#
# This notebook runs the whole study once and shows where every number lives.
#
# * **Prices** come from the snapshot folder in `EVENTSTUDY_SNAPSHOT` when that variable is set
#   (the tests set it); otherwise from Yahoo Finance through the on-disk cache.
# * **Day 0** on the Tokyo exchange is the first session whose close is later than the
#   announcement (a US announcement at 16:00 ET on 2 April is 05:00 JST on 3 April, so day 0 in
#   Tokyo is 3 April).
# * **Abnormal return (AR)** = simple return − model-implied normal return. The Nikkei 225 and
#   TOPIX use a *constant-mean* model, so their ARs are the **total** market reaction. Chip stocks
#   (and the Nikkei Semiconductor index) use a *market model against TOPIX*, so their ARs are
#   reactions **relative** to the Japanese market; each of them is also estimated with a
#   constant-mean model, so every table has a `reaction` column (`total` or `relative`).
# * **CAR[a,b]** sums the ARs over Tokyo sessions a..b relative to day 0.

# %%
import os
from pathlib import Path

import pandas as pd

import eventstudy as es
from eventstudy import plots


def find_events_file(name: str = "events.yaml") -> Path:
    """events.yaml of the repository (the notebook may run from notebooks/ or the repo root)."""
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(name)


SNAPSHOT = os.environ.get("EVENTSTUDY_SNAPSHOT")  # None -> Yahoo Finance (with cache)
EVENTS = find_events_file()
pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)
print("events file:", EVENTS, "| prices:", SNAPSHOT or "Yahoo Finance")

# %% [markdown]
# ## Load the study definition
# `load_config` validates the YAML: events (id, category, tags, announcement time with its UTC
# offset, sources), assets and their models, windows.

# %%
config = es.load_config(EVENTS)
print(len(config.events), "events;", len(config.studied_assets), "studied assets")
pd.Series({e.id: e.category for e in config.events}).value_counts()

# %% [markdown]
# ## Run
# `volatility=False` skips the GARCH stage (see notebook 04) to keep this fast.

# %%
res = es.run(EVENTS, snapshot=SNAPSHOT, volatility=False)
print(res)

# %% [markdown]
# ## Day 0 of Liberation Day on each exchange
# `event_sessions` keeps the announcement time, the local time on each exchange, the session
# it was mapped to and the rule that decided it.

# %%
res.event_sessions.query("event_id == 'liberation-day-reciprocal-tariffs'")

# %% [markdown]
# ## CARs with stars
# `summary((0, 1))` gives CAR[0,+1] per (event, asset) with the single-asset t-test
# (full prediction-error covariance, t(L1 − k), two-sided p) and stars
# (* p<0.10, ** p<0.05, *** p<0.01). `car` is a fraction: −0.055 means −5.5%.

# %%
summary = res.summary((0, 1))
summary.query("event_id == 'liberation-day-reciprocal-tariffs'").round(4)

# %% [markdown]
# The Nikkei 225 row is a total reaction: it fell 2.8% on 3 April and 2.8% on 4 April, so
# CAR[0,+1] ≈ −5.5%. Each chip stock has two rows: `total` (its whole move) and `relative`
# (net of β × TOPIX). A relative CAR near zero means the stock moved like β × TOPIX, not that it
# did not move.

# %% [markdown]
# ## Cross-sectional tests for one event
# Every test row carries statistic, p-value, reference distribution, degrees of freedom and N.
# Same-date abnormal returns are correlated (`r_bar`), so prefer the Kolari–Pynnönen-adjusted
# BMP (`kp_bmp`), GRANK and the crude-dependence test over plain BMP/Patell.

# %%
tests = res.tests.query(
    "scope == 'event' and scope_id == 'liberation-day-reciprocal-tariffs' and asset == '' "
    "and window == '[0,1]'"
)
tests[["test", "statistic", "p_value", "distribution", "df", "n", "r_bar"]].round(4)

# %% [markdown]
# ## One figure
# Every plot function takes `ax=None` (or `fig=None`) and returns the Axes (or Figure); the
# figure shows below the cell.

# %%
ax = plots.market_timeline(res, ["^N225", "^TOPX"])

# %% [markdown]
# ## The whole report in one call
# `eventstudy run events.yaml` writes the tables and this report; from Python,
# `page.write_report(res, folder)` writes the figures and `report.html` into `folder`.

# %%
import tempfile

from eventstudy import page

folder = Path(tempfile.mkdtemp())
print(page.write_report(res, folder).name, sorted(p.name for p in (folder / "figures").glob("*.png"))[:3])
