"""Orchestration: ``Study(config).run()`` -> :class:`StudyResult` (immutable, tidy tables).

One direction: config -> prices -> event sessions -> returns and designs -> abnormal returns ->
tests -> volatility. No file is written here (see :mod:`eventstudy.report`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import abnormal, calendars, inference, returns
from eventstudy.abnormal import AssetInput, format_window
from eventstudy.events import Asset, StudyConfig, load_config
from eventstudy.models import build_design
from eventstudy.panel import AbnormalPanel

log = logging.getLogger("eventstudy")

TEST_COLUMNS = [
    "scope", "scope_id", "asset", "rel_day", "window", "test", "statistic", "p_value",
    "distribution", "df", "n", "r_bar", "note",
]


@dataclass(frozen=True)
class StudyResult:
    """Everything a study produced, as tidy DataFrames.

    Attributes
    ----------
    abnormal : DataFrame
        ``event_id, asset, rel_day, date, ret, expected, ar, sar, var_ar`` over the event period.
    car : DataFrame
        ``event_id, asset, window, car, scar, var_car, bhar, t, p_value, df`` per event window.
    tests : DataFrame
        ``scope`` (event | category | tag), ``scope_id``, ``asset`` ('' for cross-sectional tests),
        ``rel_day`` (daily tests) or ``window`` (window tests, text ``[a,b]``), ``test``,
        ``statistic``, ``p_value``, ``distribution``, ``df``, ``n``, ``r_bar``, ``note``.
    models : DataFrame
        One row per attempted (event, asset) pair: parameters, standard errors, ``sigma``, ``r2``,
        ``n_obs``, ``status`` and ``message`` (why a pair was refused).
    event_sessions : DataFrame
        Day-0 mapping per (event, exchange) with the rule that decided it.
    volatility : DataFrame or None
        Volatility-shift measures (None when the stage was skipped).
    skipped : dict
        Tickers that could not be used, with the reason.
    provenance : DataFrame
        Where every price series came from (file checksums or download times).
    panel : AbnormalPanel
        The array view used by every statistic.
    """

    config: StudyConfig
    abnormal: pd.DataFrame
    car: pd.DataFrame
    tests: pd.DataFrame
    models: pd.DataFrame
    event_sessions: pd.DataFrame
    volatility: pd.DataFrame | None
    skipped: dict[str, str]
    provenance: pd.DataFrame
    panel: AbnormalPanel = field(repr=False)
    closes: pd.DataFrame = field(repr=False)
    inputs: tuple[AssetInput, ...] = field(repr=False, default=())

    def joint(self, event_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Joint day-dummy estimates of clusters of overlapping events (the ``joint`` table).

        One classical dummy-variable regression per (cluster, asset); see
        :mod:`eventstudy.joint` for the model, the clusters and the estimation samples.

        Parameters
        ----------
        event_ids : iterable of str, optional
            Events to estimate (default: every event of the study). Every other applicable
            event still removes its exclusion window from the estimation samples.

        Examples
        --------
        >>> res.joint(["liberation-day-reciprocal-tariffs", "reciprocal-90day-pause"])  # doctest: +SKIP
        """
        return self.joint_tables(event_ids)["joint"]

    def joint_tables(self, event_ids: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
        """``{"joint": rows, "joint_clusters": clusters}``: the joint estimates and, per
        (cluster, asset), the cluster's events and estimation span (see :meth:`joint`).

        Examples
        --------
        >>> report.write_tables(res, "reports/tariffs-2025", extra=res.joint_tables())  # doctest: +SKIP
        """
        from eventstudy import joint

        ids = None if event_ids is None else list(event_ids)
        day0 = {(r.event_id, r.exchange): r.session for r in self.event_sessions.itertuples()}
        with single_blas_thread():
            tables = joint.joint_tables(self.inputs, self.config.events, day0, self.config.settings, ids)
        return {"joint": tables.rows, "joint_clusters": tables.clusters}

    def summary(self, window: tuple[int, int] = (0, 1)) -> pd.DataFrame:
        """CAR over ``window`` per (event, asset) with t, p-value and significance stars.

        Examples
        --------
        >>> res = eventstudy.run("events.yaml")  # doctest: +SKIP
        >>> res.summary((0, 3)).head()            # doctest: +SKIP
        """
        rows = self.car[self.car["window"] == format_window(window)].copy()
        rows["stars"] = rows["p_value"].map(stars)
        return rows[["event_id", "asset", "window", "car", "t", "p_value", "stars", "bhar"]].reset_index(drop=True)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The output tables by name (as written to ``OUT/tables``)."""
        out = {
            "abnormal_returns": self.abnormal,
            "car": self.car,
            "tests": self.tests,
            "models": self.models,
            "event_sessions": self.event_sessions,
        }
        if self.volatility is not None:
            out["volatility"] = self.volatility
        return out

    def __repr__(self) -> str:
        ok = int((self.models["status"] == "ok").sum())
        return (
            f"StudyResult({self.config.settings.name!r}: {len(self.config.events)} events, "
            f"{ok}/{len(self.models)} (event, asset) pairs estimated, {len(self.tests)} test rows, "
            f"skipped={sorted(self.skipped)})"
        )


class _SessionPrices:
    """Each ticker's closes on its exchange's session grid, built once per run (a benchmark such
    as ^TOPX is shared by every asset)."""

    def __init__(self, closes: pd.DataFrame, config: StudyConfig) -> None:
        self._closes = closes
        self._config = config
        self._built: dict[str, pd.Series] = {}
        self._grids: dict[str, pd.DatetimeIndex | None] = {}

    def __getitem__(self, ticker: str) -> pd.Series:
        if ticker not in self._built:
            exchange = self._config.asset(ticker).exchange
            self._built[ticker] = returns.session_prices(self._closes[ticker], exchange, self._grid(exchange))
        return self._built[ticker]

    def _grid(self, exchange: str) -> pd.DatetimeIndex | None:
        if exchange not in self._grids:
            dates = self._closes.index
            self._grids[exchange] = calendars.get_sessions(exchange, dates[0], dates[-1]) if len(dates) else None
        return self._grids[exchange]


def single_blas_thread():
    """Context limiting BLAS to one thread.

    The matrices here are small (threads only add overhead), and a fixed reduction order
    makes results byte-identical whatever ``OPENBLAS_NUM_THREADS`` the machine has.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def stars(p: float) -> str:
    """Significance stars: *** p<0.01, ** p<0.05, * p<0.10."""
    if not np.isfinite(p):
        return ""
    return "***" if p < 0.01 else "**" if p < 0.05 else "*" if p < 0.10 else ""


class Study:
    """An event study defined by a :class:`StudyConfig` (or the path of an ``events.yaml``).

    Parameters
    ----------
    config : StudyConfig or path
        The study definition.
    prices : PriceData, optional
        Prices already loaded (skips the price source).
    snapshot : path, optional
        Read prices from this snapshot folder (overrides env and config, like ``--snapshot``).

    Examples
    --------
    >>> import eventstudy as es
    >>> res = es.Study("events.yaml", snapshot="../shared/prices").run()  # doctest: +SKIP
    >>> res.car.query("window == '[0,1]'")                                # doctest: +SKIP
    """

    def __init__(self, config: StudyConfig | str | Path, prices=None, snapshot: str | Path | None = None):
        self.config = config if isinstance(config, StudyConfig) else load_config(config)
        self._prices = prices
        self._snapshot = snapshot

    def load_prices(self, counter=None):
        """Prices for every ticker the study needs (cached on the Study object).

        ``counter(label, total)``, optional, returns a progress counter for download batches.
        """
        if self._prices is None:
            from eventstudy import data

            self._prices = data.fetch_prices(self.config, snapshot=self._snapshot, progress=counter)
        return self._prices

    def run(
        self,
        volatility: bool | None = None,
        n_jobs: int = 1,
        progress: Callable[[str], None] | None = None,
    ) -> StudyResult:
        """Run every stage and return a :class:`StudyResult`.

        Parameters
        ----------
        volatility : bool, optional
            Run the volatility stage (default: the study setting ``volatility``).
        n_jobs : int
            Worker processes for GARCH fits.
        progress : callable, optional
            Called with a short stage name as each stage starts; if it also has a method
            ``counter(label, total)`` (see :class:`eventstudy.progress.Reporter`), downloads and
            GARCH fits report their progress through it.
        """
        with single_blas_thread():
            return self._run(volatility, n_jobs, progress)

    def _run(self, volatility: bool | None, n_jobs: int, progress) -> StudyResult:
        step = progress or (lambda stage: None)
        counter = getattr(progress, "counter", None)
        settings = self.config.settings
        step("prices")
        prices = self.load_prices(counter)
        step("event sessions")
        skipped = dict(prices.missing)
        assets, skipped = self._usable_assets(prices, skipped)
        exchanges = sorted({a.exchange for a in self.config.assets} | {"XNYS"})
        sessions = calendars.map_events(self.config, exchanges)
        day0 = {(r.event_id, r.exchange): r.session for r in sessions.itertuples()}
        step("abnormal returns")
        inputs = self.asset_inputs(prices.closes, assets)
        panel, models = abnormal.estimate(inputs, self.config.events, day0, settings)
        _log_refusals(models)
        step("tests")
        tests = self._tests(panel)
        vol = None
        if settings.volatility if volatility is None else volatility:
            step("volatility")
            fits = counter("GARCH fits", panel.n_pairs) if counter else None
            vol = self._volatility(panel, prices.closes, day0, n_jobs, fits)
        return StudyResult(
            config=self.config,
            abnormal=abnormal.abnormal_table(panel),
            car=abnormal.car_table(panel, settings.event_windows, settings.returns),
            tests=tests,
            models=models,
            event_sessions=sessions,
            volatility=vol,
            skipped=skipped,
            provenance=prices.provenance,
            panel=panel,
            closes=prices.closes,
            inputs=tuple(inputs),
        )

    # -- stages -------------------------------------------------------------------------------

    def _usable_assets(self, prices, skipped: dict[str, str]) -> tuple[list[Asset], dict[str, str]]:
        usable = []
        for asset in self.config.studied_assets:
            if asset.ticker in prices.missing:
                continue
            needs = [t for t in self.config.model_for(asset).tickers() if t in prices.missing]
            if needs:
                skipped[asset.ticker] = f"left out: its model needs {', '.join(needs)}, which could not be supplied"
                log.warning("skipping %s: %s", asset.ticker, skipped[asset.ticker])
                continue
            usable.append(asset)
        for ticker, reason in prices.missing.items():
            log.warning("price series %s unavailable: %s", ticker, reason)
        return usable, skipped

    def asset_inputs(self, closes: pd.DataFrame, assets: Iterable[Asset] | None = None) -> list[AssetInput]:
        """Returns and model designs of ``assets`` (default: every studied asset) on their grids."""
        session_prices = _SessionPrices(closes, self.config)
        chosen = self.config.studied_assets if assets is None else assets
        return [self._asset_input(a, session_prices) for a in chosen]

    def _asset_input(self, asset: Asset, session_prices: _SessionPrices) -> AssetInput:
        kind = self.config.settings.returns
        prices = session_prices[asset.ticker]
        asset_returns = returns.to_returns(prices, kind)
        spec = self.config.model_for(asset)
        regressors = {}
        for ticker, lag in _regressor_keys(spec):
            bench = self.config.asset(ticker)
            bench_prices = session_prices[ticker]
            key = f"{ticker}@1" if lag else ticker
            regressors[key] = returns.aligned_returns(
                bench_prices, bench.exchange, prices.index, asset.exchange, lag, kind
            ).to_numpy()
        design = build_design(spec, len(prices), regressors)
        return AssetInput(asset.ticker, asset.exchange, prices.index, asset_returns.to_numpy(), design,
                          reaction=self.config.reaction_of(asset, spec))

    def _tests(self, panel: AbnormalPanel) -> pd.DataFrame:
        return all_tests(panel, list(self._scopes(panel)), self.config.settings.event_windows)

    def _scopes(self, panel: AbnormalPanel) -> Iterable[tuple[str, str, np.ndarray]]:
        """Rows of each test scope: every event, then pooled categories and tags.

        A pooled scope keeps one pair per (asset, day-0 session): two events mapped to the same
        session (e.g. 10 Feb and 7 Aug 2025) would otherwise enter the same return twice.
        """
        events = self.config.events
        for event in events:
            rows = panel.event_ids == event.id
            if rows.any():
                yield "event", event.id, rows
        pooled = [("category", c, [e.id for e in events if e.category == c])
                  for c in dict.fromkeys(e.category for e in events)]
        pooled += [("tag", t, [e.id for e in events if t in e.tags])
                   for t in dict.fromkeys(t for e in events for t in e.tags)]
        for scope, scope_id, ids in pooled:
            rows = _first_per_session(panel, np.isin(panel.event_ids, ids))
            if rows.any():
                yield scope, scope_id, rows

    def _volatility(self, panel: AbnormalPanel, closes: pd.DataFrame, day0, n_jobs: int,
                    on_progress=None) -> pd.DataFrame:
        from eventstudy import volatility

        windows = self.config.settings.event_windows
        pair_rows = volatility.pair_volatility(panel, windows, garch=True, n_jobs=n_jobs,
                                               on_progress=on_progress)
        pair_rows.insert(0, "scope", "pair")
        frames = [pair_rows]
        for scope, scope_id, rows in self._scopes(panel):
            subset_rows = pair_rows[pair_rows["event_id"].isin(set(panel.event_ids[rows]))]
            cs = volatility.cross_sectional_volatility(panel.subset(rows), windows, subset_rows)
            cs.insert(0, "scope", scope)
            cs.insert(1, "event_id", scope_id)
            cs.insert(2, "asset", "")
            frames.append(cs)
        frames.extend(self._index_levels(closes, day0, windows))
        return pd.concat([f for f in frames if len(f)], ignore_index=True)

    def _index_levels(self, closes: pd.DataFrame, day0, windows) -> list[pd.DataFrame]:
        """Level changes of volatility indices (Nikkei VI) around each event."""
        from eventstudy import volatility

        frames = []
        for asset in self.config.assets:
            if asset.ticker not in VOLATILITY_INDICES or asset.ticker not in closes:
                continue
            levels = returns.session_prices(closes[asset.ticker], asset.exchange)
            for event in self.config.events:
                session = day0.get((event.id, asset.exchange))
                if session is None or session not in levels.index:
                    continue
                rows = volatility.level_change(levels, session, windows)
                rows.insert(0, "scope", "pair")
                rows.insert(1, "event_id", event.id)
                rows.insert(2, "asset", asset.ticker)
                frames.append(rows)
        return frames


VOLATILITY_INDICES = ("NIKKEI_VI", "^VIX")


def all_tests(
    panel: AbnormalPanel, scopes: list[tuple[str, str, np.ndarray]], windows: Iterable[tuple[int, int]]
) -> pd.DataFrame:
    """The tests table: single-asset tests of every pair, then the cross-sectional tests per scope.

    One pass over every scope: per-pair inputs (ranks, CARs) are computed once, not per scope.
    """
    windows = list(windows)
    frames = []
    if panel.n_pairs:
        single = inference.single_asset_tests(panel, windows).rename(columns={"event_id": "scope_id"})
        single.insert(0, "scope", "event")
        single["r_bar"] = np.nan
        frames.append(single)
    scoped = inference.scoped_tests(panel, scopes, windows)
    frames += [scoped] if len(scoped) else []
    if not frames:
        return pd.DataFrame(columns=TEST_COLUMNS)
    return pd.concat(frames, ignore_index=True)[TEST_COLUMNS]


def scope_tests(
    panel: AbnormalPanel, scope: str, scope_id: str, windows: Iterable[tuple[int, int]]
) -> pd.DataFrame:
    """Daily and window cross-sectional tests for one group of pairs, with scope columns."""
    daily = inference.daily_tests(panel)
    daily["window"] = ""
    frames = [daily]
    for window in windows:
        rows = inference.window_tests(panel, window)
        rows["rel_day"] = pd.NA
        rows["window"] = format_window(window)
        frames.append(rows)
    out = pd.concat(frames, ignore_index=True)
    out["rel_day"] = out["rel_day"].astype("Int64")
    out.insert(0, "scope", scope)
    out.insert(1, "scope_id", scope_id)
    out.insert(2, "asset", "")
    return out


def _first_per_session(panel: AbnormalPanel, rows: np.ndarray) -> np.ndarray:
    """``rows`` without pairs whose (asset, day-0 session) already appeared (panel order)."""
    if not rows.any():
        return rows
    day0 = panel.dates[:, panel.column(0)].astype("datetime64[D]").astype(str)
    keys = pd.Series(panel.assets.astype(str)) + "|" + pd.Series(day0)
    duplicate = keys.where(rows).duplicated(keep="first").to_numpy() & rows
    if duplicate.any():
        log.info("pooled scope: %d pairs share (asset, day 0) with another event and are counted once",
                 int(duplicate.sum()))
    return rows & ~duplicate


def _regressor_keys(spec) -> list[tuple[str, int]]:
    if spec.name == "factor":
        return [(f.ticker, f.lag) for f in spec.factors]
    if spec.benchmark:
        return [(spec.benchmark, spec.lag)]
    return []


def _log_refusals(models: pd.DataFrame) -> None:
    for row in models[models["status"] != "ok"].itertuples():
        log.info("not estimated: %s / %s: %s", row.event_id, row.asset, row.message)


def run(config: StudyConfig | str | Path, snapshot: str | Path | None = None, **kwargs) -> StudyResult:
    """Run the study in ``config`` (a path to ``events.yaml`` or a StudyConfig).

    Examples
    --------
    >>> import eventstudy as es
    >>> res = es.run("events.yaml", snapshot="../shared/prices")  # doctest: +SKIP
    >>> res.summary()                                              # doctest: +SKIP
    """
    return Study(config, snapshot=snapshot).run(**kwargs)
