"""The benchmark study: every stock of the snapshot universe x every event of ``events.yaml``.

:func:`write_universe_study` writes a study file (and its ``assets_from`` CSV) into a folder of
the caller's choosing, never into the repository: the events come from the repository's
``events.yaml`` (``events_from``), the assets are the snapshot's ``universe/*.csv`` stocks (group
``stocks``), and every stock follows ``events.yaml``'s market model against ``^TOPX`` with its
windows, exclusions and minimum estimation length. Volatility is off; ``total_reactions`` is
chosen by the caller (the default ``true`` adds a constant-mean twin of every stock).

Examples
--------
>>> path = write_universe_study(Path("/tmp/bench"), Path("../shared/prices"))  # doctest: +SKIP
>>> load_config(path).settings.model.benchmark                                  # doctest: +SKIP
'^TOPX'
"""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

from eventstudy.data import snapshot_universe
from eventstudy.events import StudyConfig, load_config

REPO = Path(__file__).resolve().parents[1]
EVENTS_FILE = REPO / "events.yaml"
MARKET = "^TOPX"
COPIED_SETTINGS = ("returns", "estimation_window", "event_windows", "exclude_other_events",
                   "exclusion_window", "min_estimation_returns")


def study_settings(name: str, *, total_reactions: bool, events_file: Path = EVENTS_FILE) -> dict:
    """The ``study`` block: ``events_file``'s windows, market model vs ^TOPX, no volatility."""
    source = yaml.safe_load(events_file.read_text(encoding="utf-8")).get("study", {})
    settings = {"name": name, **{key: source[key] for key in COPIED_SETTINGS if key in source}}
    settings.update(model={"name": "market", "benchmark": MARKET, "lag": 0},
                    total_reactions=total_reactions, volatility=False)
    return settings


def write_assets_csv(path: Path, tickers: list[str], group: str = "stocks") -> Path:
    """An ``assets_from`` CSV with columns ``ticker,group``."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["ticker", "group"])
        writer.writerows([ticker, group] for ticker in tickers)
    return path


def write_universe_study(folder: Path, snapshot: Path, *, total_reactions: bool = True,
                         events_file: Path = EVENTS_FILE) -> Path:
    """Write ``universe-<total|relative>.yaml`` and ``universe.csv`` into ``folder``; return the YAML path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_assets_csv(folder / "universe.csv", snapshot_universe(snapshot))
    suffix = "total" if total_reactions else "relative"
    study = {
        "study": study_settings(f"bench-universe-{suffix}", total_reactions=total_reactions,
                                events_file=events_file),
        "events_from": str(events_file.resolve()),
        "assets_from": {"path": "universe.csv", "ticker": "ticker", "group": "group"},
        "assets": [{"ticker": MARKET, "name": "TOPIX", "group": "benchmark"}],
    }
    path = folder / f"universe-{suffix}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return path


def universe_config(snapshot: Path, folder: Path, *, total_reactions: bool = True) -> StudyConfig:
    """The benchmark study as a :class:`StudyConfig` (its files are written into ``folder``)."""
    return load_config(write_universe_study(folder, snapshot, total_reactions=total_reactions))


def write_inline_study(folder: Path, snapshot: Path, events_file: Path = EVENTS_FILE) -> Path:
    """The same-pairs benchmark study (``total_reactions: false``) as one self-contained file.

    Events and assets are written inline, and only keys that the study-file format has had since
    the first release are used (no ``events_from``, ``assets_from`` or ``total_reactions``), so
    that an old revision of ``eventstudy`` runs exactly the pairs of today's
    ``universe-relative.yaml``: every snapshot stock against ``^TOPX`` x every event.
    """
    folder.mkdir(parents=True, exist_ok=True)
    source = yaml.safe_load(events_file.read_text(encoding="utf-8"))
    settings = {key: value for key, value in study_settings(
        "bench-universe-inline", total_reactions=False, events_file=events_file).items()
        if key != "total_reactions"}
    assets = [{"ticker": MARKET, "name": "TOPIX", "group": "benchmark"}]
    assets += [{"ticker": t, "name": t, "group": "stocks"} for t in snapshot_universe(snapshot)]
    path = folder / "universe-inline.yaml"
    study = {"study": settings, "events": source["events"], "assets": assets}
    path.write_text(yaml.safe_dump(study, sort_keys=False, default_flow_style=None), encoding="utf-8")
    return path
