"""Orchestration: ``Study(config).run()`` -> :class:`StudyResult` (immutable, tidy tables).

One direction: config -> prices -> event sessions -> returns and designs -> abnormal returns ->
tests -> volatility. No file is written here (see :mod:`eventstudy.report`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from eventstudy import abnormal, calendars, inference, returns
from eventstudy.abnormal import AssetInput, format_window
from eventstudy.events import Asset, ModelSpec, StudyConfig, load_config
from eventstudy.models import build_design
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import SCOPE_LABELS, Scope, build_scopes

log = logging.getLogger("eventstudy")

TEST_COLUMNS = [
    *SCOPE_LABELS, "asset", "rel_day", "window", "test", "statistic", "p_value",
    "distribution", "df", "n", "r_bar", "note",
]
VOLATILITY_COLUMNS = [
    *SCOPE_LABELS, "asset", "window", "measure", "estimate", "statistic", "p_value",
    "distribution", "df", "n", "n_null", "p_value_parametric", "parametric_reference",
    "status", "message",
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
    volatility_daily : DataFrame or None
        Daily abnormal volatility ``AR^2 / h`` of every pair over the event period, from the
        same GARCH(1,1) fits as ``garch_cav`` (:func:`eventstudy.volatility.volatility_daily`:
        ``event_id, asset, reaction, rel_day, date, ar, h, ar2_over_h, status``); None when the
        volatility stage was skipped.
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
    volatility_daily: pd.DataFrame | None = field(repr=False, default=None)

    def joint(self, event_ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Joint dummy-variable estimates for clusters of overlapping events (see :mod:`eventstudy.joint`).

        Examples
        --------
        >>> res.joint(["liberation-day-reciprocal-tariffs", "reciprocal-90day-pause"])  # doctest: +SKIP
        """
        from eventstudy import joint

        ids = list(event_ids) if event_ids is not None else [e.id for e in self.config.events]
        day0 = {(r.event_id, r.exchange): r.session for r in self.event_sessions.itertuples()}
        excluded = {a.ticker: _exclusion_mask(a, self.config, day0) for a in self.inputs}
        with single_blas_thread():
            return joint.joint_table(self.inputs, day0, ids, self.config.settings, excluded)

    def scopes(self) -> list[Scope]:
        """The cross-sections tested in ``tests`` (see :func:`eventstudy.scopes.build_scopes`)."""
        day0 = {(r.event_id, r.exchange): r.session for r in self.event_sessions.itertuples()}
        return build_scopes(self.config, self.panel, day0)

    def summary(self, window: tuple[int, int] = (0, 1)) -> pd.DataFrame:
        """CAR over ``window`` per (event, asset) with t, p-value and significance stars.

        Examples
        --------
        >>> res = eventstudy.run("events.yaml")  # doctest: +SKIP
        >>> res.summary((0, 3)).head()            # doctest: +SKIP
        """
        rows = self.car[self.car["window"] == format_window(window)].copy()
        rows["stars"] = rows["p_value"].map(stars)
        columns = ["event_id", "asset", "reaction", "window", "car", "t", "p_value", "stars", "bhar"]
        return rows[columns].reset_index(drop=True)

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
        if self.volatility_daily is not None:
            out["volatility_daily"] = self.volatility_daily
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


def total_reaction_input(asset: AssetInput) -> AssetInput:
    """The constant-mean twin of an asset whose own model measures a relative reaction.

    Its abnormal returns are the asset's total reaction (nothing netted out), reported beside the
    relative ones with ``reaction='total'`` (DESIGN: report total and relative reactions and say
    which is which).
    """
    design = build_design(ModelSpec("constant_mean"), len(asset.sessions), {})
    return AssetInput(asset.ticker, asset.exchange, asset.sessions, asset.returns, design, reaction="total")


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
            Accepted for compatibility and unused: the GARCH fits of every pair are batched in
            numpy in this process.
        progress : callable, optional
            Called with a short stage name as each stage starts; if it also has a method
            ``counter(label, total)`` (see :class:`eventstudy.progress.Reporter`), downloads and
            GARCH fits report their progress through it.
        """
        with single_blas_thread():
            return self._run(volatility, progress)

    def _run(self, volatility: bool | None, progress) -> StudyResult:
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
        scopes = self.scopes(panel, day0)
        tests = all_tests(panel, scopes, settings.event_windows, self._groups(panel))
        vol = daily = None
        if settings.volatility if volatility is None else volatility:
            step("volatility")
            fits = counter("GARCH fits", panel.n_pairs) if counter else None
            vol, daily = self._volatility(panel, scopes, prices.closes, day0, fits)
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
            volatility_daily=daily,
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
        inputs = []
        for asset in chosen:
            own = self._asset_input(asset, session_prices)
            inputs.append(own)
            if self.config.settings.total_reactions and own.reaction == "relative":
                inputs.append(total_reaction_input(own))
        return inputs

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

    def scopes(self, panel: AbnormalPanel, day0) -> list[Scope]:
        """The study's cross-sections of ``panel`` (see :func:`eventstudy.scopes.build_scopes`)."""
        return build_scopes(self.config, panel, day0)

    def _groups(self, panel: AbnormalPanel) -> np.ndarray:
        """Each pair's asset group."""
        group = {a.ticker: a.group for a in self.config.assets}
        return np.array([group.get(t, "") for t in panel.assets], dtype=object)

    def _volatility(self, panel: AbnormalPanel, scopes: list[Scope], closes: pd.DataFrame, day0,
                    on_progress=None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The volatility table (pairs, then scopes, then volatility-index levels) and the daily
        ``AR^2 / h`` table, from one GARCH fit per pair."""
        from eventstudy import volatility

        windows = self.config.settings.event_windows
        inputs = volatility.PairInputs.of(panel)
        fits = volatility.fit_garch(panel, on_progress)
        pair_rows = volatility.pair_volatility(panel, windows, fits=fits, inputs=inputs)
        reactions = panel.reactions if panel.reactions is not None else np.full(panel.n_pairs, "total")
        frames = [_pair_labels(pair_rows, panel, self._groups(panel), reactions)]
        scoped = volatility.scoped_volatility(panel, windows, [s.rows for s in scopes], inputs)
        for scope, cs in zip(scopes, scoped):
            for position, (name, value) in enumerate(zip(SCOPE_LABELS, scope.labels())):
                cs.insert(position, name, value)
            cs.insert(len(SCOPE_LABELS), "asset", "")
            frames.append(cs)
        frames.extend(self._index_levels(closes, day0, windows))
        frames = [f for f in frames if len(f)]
        table = pd.concat(frames, ignore_index=True)[VOLATILITY_COLUMNS] if frames else \
            pd.DataFrame(columns=VOLATILITY_COLUMNS)
        return table, volatility.volatility_daily(panel, fits)

    def _index_levels(self, closes: pd.DataFrame, day0, windows) -> list[pd.DataFrame]:
        """Level changes of the study's volatility indices (assets of ``kind: volatility_index``)
        around each event that applies to them."""
        from eventstudy import volatility

        frames = []
        for asset in self.config.assets:
            if asset.kind != "volatility_index" or asset.ticker not in closes:
                continue
            levels = returns.session_prices(closes[asset.ticker], asset.exchange)
            for event in self.config.events:
                session = day0.get((event.id, asset.exchange))
                if session is None or session not in levels.index:
                    continue
                rows = volatility.level_change(levels, session, windows)
                for position, (name, value) in enumerate(
                        zip(SCOPE_LABELS, ["pair", event.id, "", asset.group, "total"])):
                    rows.insert(position, name, value)
                rows.insert(len(SCOPE_LABELS), "asset", asset.ticker)
                frames.append(rows)
        return frames


def all_tests(
    panel: AbnormalPanel,
    scopes: Sequence[Scope],
    windows: Iterable[tuple[int, int]],
    groups: np.ndarray | None = None,
) -> pd.DataFrame:
    """The tests table: single-pair tests of every pair, then the cross-sectional tests per scope.

    Parameters
    ----------
    panel : AbnormalPanel
        The estimated pairs.
    scopes : sequence of Scope
        Cross-sections to test (:func:`eventstudy.scopes.build_scopes`).
    windows : iterable of (int, int)
        CAR windows.
    groups : ndarray, optional
        Each pair's asset group (the ``group`` label of single-pair rows).

    Returns
    -------
    DataFrame
        Columns :data:`TEST_COLUMNS`.
    """
    windows = list(windows)
    frames = []
    if panel.n_pairs:
        single = inference.single_asset_tests(panel, windows)
        pair = single.pop("event_id").to_numpy()
        reactions = panel.reactions if panel.reactions is not None else np.full(panel.n_pairs, "total")
        single = _pair_labels(single.assign(event_id=pair), panel,
                              groups if groups is not None else np.full(panel.n_pairs, ""), reactions)
        single["r_bar"] = np.nan
        frames.append(single)
    scoped = inference.scoped_tests(panel, [(str(i), "", s.rows) for i, s in enumerate(scopes)], windows)
    if len(scoped):
        index = scoped.pop("scope").astype(int).to_numpy()
        scoped = scoped.drop(columns="scope_id")
        labels = np.array([s.labels() for s in scopes], dtype=object)[index]
        for position, name in enumerate(SCOPE_LABELS):
            scoped.insert(position, name, labels[:, position])
        frames.append(scoped)
    if not frames:
        return pd.DataFrame(columns=TEST_COLUMNS)
    return pd.concat(frames, ignore_index=True)[TEST_COLUMNS]


def _pair_labels(rows: pd.DataFrame, panel: AbnormalPanel, groups: np.ndarray,
                 reactions: np.ndarray) -> pd.DataFrame:
    """Single-pair rows keyed by ``event_id, asset``, with the scope label columns in front
    (``scope='pair'``, ``scope_id`` = event id, ``group`` and ``reaction`` of the pair)."""
    position = {key: i for i, key in enumerate(zip(panel.event_ids, panel.assets, reactions))}
    rows = rows.copy()
    if "reaction" not in rows:
        lookup = {(e, a): r for e, a, r in zip(panel.event_ids, panel.assets, reactions)}
        rows["reaction"] = [lookup[(e, a)] for e, a in zip(rows["event_id"], rows["asset"])]
    index = np.array([position[key] for key in zip(rows["event_id"], rows["asset"], rows["reaction"])], int)
    out = rows.drop(columns=["event_id", "reaction"])
    front = {"scope": "pair", "scope_id": rows["event_id"].to_numpy(), "group_by": "",
             "group": groups[index] if len(index) else np.empty(0, object),
             "reaction": reactions[index] if len(index) else np.empty(0, object)}
    for position_, (name, value) in enumerate(front.items()):
        out.insert(position_, name, value)
    return out


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


def _exclusion_mask(asset: AssetInput, config: StudyConfig, day0) -> np.ndarray | None:
    """Sessions of ``asset`` inside any applicable event's exclusion window (None if switched off)."""
    settings = config.settings
    if not settings.exclude_other_events:
        return None
    lo, hi = settings.other_event_exclusion
    mask = np.zeros(len(asset.sessions), bool)
    for event in config.events:
        session = day0.get((event.id, asset.exchange))
        if event.applies_to(asset.ticker) and session is not None and session in asset.sessions:
            pos = asset.sessions.get_loc(session)
            mask[max(pos + lo, 0) : max(pos + hi + 1, 0)] = True
    return mask


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
