"""Orchestration: ``Study(config).run()`` -> :class:`StudyResult` (immutable, tidy tables).

One direction: config -> prices -> event sessions -> returns and designs -> abnormal returns ->
tests -> volatility -> abnormal volume. No file is written here (see :mod:`eventstudy.report`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eventstudy import abnormal, calendars, inference, returns
from eventstudy.abnormal import AssetInput, format_window
from eventstudy.errors import DataError, EstimationError
from eventstudy.events import Asset, ModelSpec, StudyConfig, load_config
from eventstudy.models import build_design
from eventstudy.panel import AbnormalPanel
from eventstudy.scopes import SCOPE_LABELS, Scope, build_scopes

if TYPE_CHECKING:
    from eventstudy.joint import JointParts

log = logging.getLogger("eventstudy")

TEST_COLUMNS = inference.TEST_COLUMNS
VOLATILITY_COLUMNS = [
    *SCOPE_LABELS, "asset", "window", "measure", "estimate", "statistic", "p_value",
    "distribution", "df", "n", "n_null", "status", "message",
]
"""Columns of the volatility table; the normal-theory ``p_value_parametric`` of the volatility
functions is left out (it does not keep its size on fat-tailed returns)."""


@dataclass(frozen=True)
class StudyResult:
    """Everything a study produced, as tidy DataFrames.

    Attributes
    ----------
    abnormal : DataFrame
        ``event_id, asset, reaction, rel_day, date, ret, expected, ar, sar, var_ar, ar_p_value,
        ar_df, ar_sq, ar_sq_p_value`` over the event period: the day's single-pair tests beside
        its abnormal return (``sar`` ~ t(``ar_df``) is the time-series t ``ts_t``; ``ar_sq`` the
        sample-quantile test ``sq``; see :func:`pair_tables`).
    car : DataFrame
        ``event_id, asset, reaction, window, car, scar, var_car, car_t, car_p_value, car_df, bhar,
        car_sq, car_sq_p_value`` per event window (``car_t``/``car_p_value``: the CAR's
        time-series test ``ts_t``; ``car_sq``: ``sq`` of a one-day window, NaN for longer ones;
        ``bhar`` is tested cross-sectionally, test ``bhar_skew_t`` in ``tests``).
    tests : DataFrame
        The cross-sectional tests: the scope labels ``scope`` (event | category | tag),
        ``scope_id``, ``group_by``, ``group``, ``reaction``; ``asset`` (always ''), ``rel_day``
        (daily tests) or ``window`` (window tests, text ``[a,b]``), ``test``, ``statistic``,
        ``p_value``, ``distribution``, ``df``, ``n``, ``r_bar``, ``note``.
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
    tested_scopes : tuple of Scope or None
        The cross-sections the run tested (read through :meth:`scopes`).
    skipped : dict
        Tickers that could not be used, with the reason.
    provenance : DataFrame
        Where every price series came from (file checksums or download times); ``proxy``
        names the different series used in a ticker's place (``study.prices.proxies``).
    missing : dict
        Price series that could not be supplied, with the reason (see :func:`left_out`).
    panel : AbnormalPanel
        The array view used by every statistic.
    volume : DataFrame or None
        Abnormal log volume per (event, asset) pair and window (columns
        :data:`eventstudy.volume.VOLUME_COLUMNS`; descriptive, no per-pair p-value); None when
        the stage was not run or no studied series has volume.
    volume_tests : DataFrame or None
        The cross-sectional tests of abnormal volume that keep their size on volume
        (:data:`eventstudy.volume.VOLUME_TESTS`) per scope, in the columns of ``tests``.
    volume_skipped : dict
        Studied series left out of the volume stage, with the reason (e.g. an index without
        volume).
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
    missing: dict[str, str] = field(default_factory=dict)
    volume: pd.DataFrame | None = None
    volume_tests: pd.DataFrame | None = None
    volume_skipped: dict[str, str] = field(default_factory=dict)
    volatility_daily: pd.DataFrame | None = field(repr=False, default=None)
    tested_scopes: tuple[Scope, ...] | None = field(repr=False, default=None)

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
        day0 = self._day0_sessions()
        with single_blas_thread():
            tables = joint.joint_tables(self.inputs, self.config.events, day0, self.config.settings, ids)
        return {"joint": tables.rows, "joint_clusters": tables.clusters}

    def joint_parts(self, event_ids: Iterable[str] | None = None) -> JointParts:
        """:meth:`joint_tables` one cluster at a time (:class:`eventstudy.joint.JointParts`):
        for writing a large study's ``joint`` rows as they are done, without holding them all.

        Examples
        --------
        >>> parts = res.joint_parts()                                          # doctest: +SKIP
        >>> report.write_table_parts("joint", parts.rows(), "reports/big")     # doctest: +SKIP
        """
        from eventstudy import joint

        ids = None if event_ids is None else list(event_ids)
        day0 = self._day0_sessions()
        return joint.JointParts(self.inputs, self.config.events, day0, self.config.settings, ids)

    def _day0_sessions(self) -> dict[tuple[str, str], pd.Timestamp]:
        """``(event_id, exchange) -> day-0 session`` of the run."""
        return {(r.event_id, r.exchange): r.session for r in self.event_sessions.itertuples()}

    def scopes(self) -> list[Scope]:
        """The cross-sections tested in ``tests`` (see :func:`eventstudy.scopes.build_scopes`):
        those the run built, or built again for a result made without them."""
        if self.tested_scopes is not None:
            return list(self.tested_scopes)
        day0 = self._day0_sessions()
        return build_scopes(self.config, self.panel, day0)

    def summary(self, window: tuple[int, int] | None = None) -> pd.DataFrame:
        """CAR over ``window`` per (event, asset) with its time-series t-test and stars.

        Columns ``event_id, asset, reaction, window, car, car_t, car_p_value, stars, bhar``;
        ``stars`` belong to ``car_p_value`` (the BHAR has no per-pair test).

        ``window`` must be one of the study's event windows; default ``(0, 1)`` when the study
        has it, else its first window (a run-up study has no window containing day 0).

        Examples
        --------
        >>> res = eventstudy.run("events.yaml")  # doctest: +SKIP
        >>> res.summary((0, 3)).head()            # doctest: +SKIP
        """
        windows = [tuple(w) for w in self.config.settings.event_windows]
        if window is None:
            window = (0, 1) if (0, 1) in windows else windows[0]
        if tuple(window) not in windows:
            shown = ", ".join(format_window(w) for w in windows)
            raise ValueError(f"window {format_window(window)} is not an event window of the study ({shown})")
        rows = self.car[self.car["window"] == format_window(window)].copy()
        rows["stars"] = rows["car_p_value"].map(stars)
        columns = ["event_id", "asset", "reaction", "window", "car", "car_t", "car_p_value", "stars", "bhar"]
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
        if self.volume is not None:
            out["volume"] = self.volume
        if self.volume_tests is not None:
            out["volume_tests"] = self.volume_tests
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

    def cross_section(
        self,
        formula: str,
        window: tuple[int, int],
        event_id: str | None = None,
        reaction: str = "relative",
    ) -> pd.DataFrame:
        """Cross-sectional regression of the CARs of an event (or each event) on characteristics.

        Heteroskedasticity-robust OLS (HC1) and the Sefcik-Thompson portfolio standard errors
        side by side (see :mod:`eventstudy.cross_section`); characteristics are the assets'
        attributes and their pre-event betas (:func:`eventstudy.cross_section.study_characteristics`).

        Examples
        --------
        >>> event = "liberation-day-reciprocal-tariffs"  # doctest: +SKIP
        >>> res.cross_section("car ~ C(sector17) + beta_topx", (0, 1), event_id=event)  # doctest: +SKIP
        """
        from eventstudy.cross_section import study_cross_section

        return study_cross_section(self, formula, window, event_id, reaction)


class _SessionPrices:
    """Each ticker's closes on its exchange's session grid, built once per run (a benchmark such
    as ^TOPX is shared by every asset)."""

    def __init__(self, closes: pd.DataFrame, config: StudyConfig) -> None:
        self._closes = returns.SessionGrid(closes)
        self._config = config
        self._built: dict[str, pd.Series] = {}

    def __getitem__(self, ticker: str) -> pd.Series:
        if ticker not in self._built:
            self._built[ticker] = self._closes.place(ticker, self._config.asset(ticker).exchange)
        return self._built[ticker]


def total_reaction_input(asset: AssetInput) -> AssetInput:
    """The constant-mean twin of an asset whose own model measures a relative reaction.

    Its abnormal returns are the asset's total reaction (nothing netted out), reported beside the
    relative ones with ``reaction='total'`` (DESIGN: report total and relative reactions and say
    which is which).
    """
    design = build_design(ModelSpec("constant_mean"), len(asset.sessions), {})
    return AssetInput(asset.ticker, asset.exchange, asset.sessions, asset.returns, design, reaction="total")


_BLAS_LOCK = threading.Lock()
_BLAS_LIMIT: dict = {"depth": 0, "limiter": None}  # contexts open, and the limiter they share


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Context limiting BLAS to one thread.

    The matrices here are small (threads only add overhead), and a fixed reduction order
    makes results byte-identical whatever ``OPENBLAS_NUM_THREADS`` the machine has. Contexts
    nest: the first one opened sets the limit and the last one closed restores the machine's
    (``threadpoolctl`` scans the loaded libraries each time it sets one, ~2 ms).

    Examples
    --------
    >>> with single_blas_thread(), single_blas_thread():
    ...     pass
    """
    with _BLAS_LOCK:
        if _BLAS_LIMIT["depth"] == 0:
            from threadpoolctl import threadpool_limits

            _BLAS_LIMIT["limiter"] = threadpool_limits(limits=1, user_api="blas")
        _BLAS_LIMIT["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_LIMIT["depth"] -= 1
            if _BLAS_LIMIT["depth"] == 0:
                limiter, _BLAS_LIMIT["limiter"] = _BLAS_LIMIT["limiter"], None
                limiter.restore_original_limits()


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
    >>> res = es.Study("events.yaml", snapshot="prices").run()  # doctest: +SKIP
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
        progress: Callable[[str], None] | None = None,
        volume: bool | None = None,
        expected: str = "all",
        ret: str = "all",
    ) -> StudyResult:
        """Run every stage and return a :class:`StudyResult`.

        Parameters
        ----------
        volatility : bool, optional
            Run the volatility stage (default: the study setting ``volatility``).
        volume : bool, optional
            Measure abnormal volume of the studied series whose prices come with volume
            (default: the study setting ``volume``).
        progress : callable, optional
            Called with a short stage name as each stage starts; if it also has a method
            ``counter(label, total)`` (see :class:`eventstudy.progress.Reporter`), downloads and
            GARCH fits report their progress through it.
        expected : {'all', 'event'}
            Keep the panel's normal returns over the whole grid (default) or over the event
            period only (see :func:`eventstudy.abnormal.estimate`; every table is the same):
            ``eventstudy run`` keeps the event period, which is all it reads.
        ret : {'all', 'event'}
            The same for the realised returns (``panel.ret``). ``'event'`` is refused when the
            volatility stage runs (it reads the estimation window); the cross-section's pre-event
            betas (:meth:`StudyResult.cross_section`) need ``'all'`` too. ``eventstudy run`` keeps
            the event period when it computes neither.
        """
        with single_blas_thread():
            return self._run(volatility, progress, volume, expected, ret)

    def _run(self, volatility: bool | None, progress, volume: bool | None = None,
             expected: str = "all", ret: str = "all") -> StudyResult:
        step = progress or (lambda stage: None)
        counter = getattr(progress, "counter", None)
        settings = self.config.settings
        abnormal.check_kept_periods(expected=expected, ret=ret)  # before any download
        run_volatility = settings.volatility if volatility is None else volatility
        if ret == "event" and run_volatility:
            raise ValueError("ret='event' leaves out the estimation-window returns the volatility "
                             "stage reads: pass volatility=False or ret='all'")
        step("event sessions")
        sessions = calendars.map_events(self.config)  # refuses an unmappable event before any download
        day0 = {(r.event_id, r.exchange): r.session for r in sessions.itertuples()}
        step("prices")
        prices = self.load_prices(counter)
        skipped = dict(prices.missing)
        assets, skipped = self._usable_assets(prices, skipped)
        if not assets:
            raise DataError(_no_studied_prices(self.config, skipped))
        step("abnormal returns")
        inputs = self.asset_inputs(prices.closes, assets)
        panel, models = abnormal.estimate(inputs, self.config.events, day0, settings,
                                          expected=expected, ret=ret)
        _log_refusals(models)
        if panel.n_pairs == 0:
            raise EstimationError(_nothing_estimated(self.config, models, prices.closes, skipped))
        step("tests")
        scopes = self.scopes(panel, day0)
        tests = all_tests(panel, scopes, settings.event_windows, settings.returns)
        vol = daily = None
        if run_volatility:
            step("volatility")
            fits = counter("GARCH fits", panel.n_pairs) if counter else None
            vol, daily = self._volatility(panel, scopes, prices.closes, day0, fits)
        volume_result, volume_skipped = None, {}
        if settings.volume if volume is None else volume:
            step("abnormal volume")
            volume_result, volume_skipped = self._volume(prices.volumes, assets, day0)
        step("single-pair tests")
        abnormal_rows, car_rows = pair_tables(panel, settings.event_windows, settings.returns)
        return StudyResult(
            config=self.config,
            abnormal=abnormal_rows,
            car=car_rows,
            tests=tests,
            models=models,
            event_sessions=sessions,
            volatility=vol,
            skipped=skipped,
            provenance=prices.provenance,
            panel=panel,
            closes=prices.closes,
            inputs=tuple(inputs),
            missing=dict(prices.missing),
            volume=None if volume_result is None else volume_result.volume,
            volume_tests=None if volume_result is None else volume_result.tests,
            volume_skipped=volume_skipped,
            volatility_daily=daily,
            tested_scopes=tuple(scopes),
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
                log.info("skipping %s: %s", asset.ticker, skipped[asset.ticker])
                continue
            usable.append(asset)
        for ticker, reason in prices.missing.items():  # the run summary or the refusal says it too
            log.info("price series %s unavailable: %s", ticker, reason)
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

    def _volume(self, volumes: pd.DataFrame, assets: Sequence[Asset], day0):
        """Abnormal volume of the usable studied assets (a :class:`~eventstudy.volume.VolumeResult`,
        or None when none has volume) and the series skipped for want of volume."""
        from eventstudy import volume

        usable = {a.ticker for a in assets}
        inputs, skipped = volume.volume_inputs(volumes, self.config)
        inputs = [i for i in inputs if i.ticker in usable]
        skipped = {t: reason for t, reason in skipped.items() if t in usable}
        if not inputs:
            log.info("abnormal volume: no studied series has volume data")
            return None, skipped
        return volume.measure_volume(inputs, self.config, day0, skipped=skipped, keep_panel=False), skipped

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
    returns: str = "simple",
) -> pd.DataFrame:
    """The tests table: the cross-sectional tests of every scope on every day and window.

    A pair's own (single-pair) tests are not rows here: they sit beside the values they test,
    in the abnormal-returns and CAR tables (:func:`pair_tables`).

    Parameters
    ----------
    panel : AbnormalPanel
        The estimated pairs.
    scopes : sequence of Scope
        Cross-sections to test (:func:`eventstudy.scopes.build_scopes`).
    windows : iterable of (int, int)
        CAR windows.
    returns : {'simple', 'log'}
        Kind of the panel's returns (BHARs compound simple returns).

    Returns
    -------
    DataFrame
        Columns :data:`TEST_COLUMNS`.

    Examples
    --------
    >>> all_tests(panel, build_scopes(config, panel, day0), [(0, 1)])  # doctest: +SKIP
    """
    from eventstudy import batches

    if not scopes:
        return pd.DataFrame(columns=TEST_COLUMNS)
    tests = batches.scoped_tests(panel, scopes, list(windows), returns=returns)
    return tests if list(tests.columns) == TEST_COLUMNS else tests[TEST_COLUMNS]


def pair_tables(panel: AbnormalPanel, windows: Iterable[tuple[int, int]],
                returns: str = "simple") -> tuple[pd.DataFrame, pd.DataFrame]:
    """The abnormal-returns and CAR tables, each pair's single-pair tests beside the values.

    The abnormal-returns table (:func:`eventstudy.abnormal.abnormal_table`) holds a day's
    time-series t ``ts_t`` (``sar``, with ``ar_p_value`` and ``ar_df``) and its sample-quantile
    test ``sq`` (``ar_sq``, ``ar_sq_p_value``); the CAR table (:func:`eventstudy.abnormal.car_table`)
    a window's ``ts_t`` (``car_t, car_p_value, car_df``) and a one-day window's ``sq`` (``car_sq``,
    ``car_sq_p_value``; NaN for longer windows). The test columns come from
    :func:`eventstudy.inference.pair_test_columns`, so a statistic that cannot be computed (e.g.
    a pair without residual scale) is NaN with NaN p-value, never an infinite t with p = 0.

    Examples
    --------
    >>> abnormal_rows, car_rows = pair_tables(panel, [(0, 0), (0, 1)])  # doctest: +SKIP
    >>> list(car_rows.columns[-2:])  # doctest: +SKIP
    ['car_sq', 'car_sq_p_value']
    """
    from eventstudy import batches

    windows = list(windows)
    day, window = batches.pair_test_columns(panel, windows)
    daily = abnormal.abnormal_table(panel)
    for name, values in day.items():
        daily[name] = values.ravel()
    car = abnormal.car_table(panel, windows, returns)
    if len(car):
        for name, values in window.items():
            car[name] = values.T.ravel()
    return daily, car


def _pair_labels(rows: pd.DataFrame, panel: AbnormalPanel, groups: np.ndarray,
                 reactions: np.ndarray) -> pd.DataFrame:
    """Single-pair rows keyed by ``event_id, asset, reaction``, with the scope label columns in
    front (``scope='pair'``, ``scope_id`` = event id, ``group`` and ``reaction`` of the pair)."""
    pairs = pd.MultiIndex.from_arrays([panel.event_ids, panel.assets, reactions])
    keys = pd.MultiIndex.from_arrays([rows["event_id"], rows["asset"], rows["reaction"]])
    index = pairs.get_indexer(keys)
    out = rows.drop(columns=["event_id", "reaction"])
    front = {"scope": "pair", "scope_id": rows["event_id"].to_numpy(), "group_by": "",
             "group": groups[index] if len(index) else np.empty(0, object),
             "reaction": reactions[index] if len(index) else np.empty(0, object)}
    for position_, (name, value) in enumerate(front.items()):
        out.insert(position_, name, value)
    return out


def _regressor_keys(spec) -> list[tuple[str, int]]:
    if spec.name == "factor":
        return [(f.ticker, f.lag) for f in spec.factors]
    if spec.benchmark:
        return [(spec.benchmark, spec.lag)]
    return []


def left_out(config: StudyConfig, ticker: str) -> str:
    """What the study loses without prices for ``ticker``, as a short phrase.

    Examples
    --------
    >>> left_out(config, "^TOPX")  # doctest: +SKIP
    'leaves out ^TOPX and 13 assets whose model needs it (8035.T, 6857.T, 6146.T, ...)'
    """
    try:
        asset = config.asset(ticker)
    except KeyError:
        return "leaves out nothing (not part of the study)"
    dependents = [a.ticker for a in config.studied_assets
                  if a.ticker != ticker and ticker in config.model_for(a).tickers()]
    parts = []
    if not asset.is_benchmark:
        parts.append(ticker)
    elif asset.kind == "volatility_index":
        parts.append(f"the level changes of {ticker}")
    if dependents:
        noun = "asset whose model needs" if len(dependents) == 1 else "assets whose model needs"
        parts.append(f"{len(dependents)} {noun} it ({_first(dependents, 3)})")
    if not parts:
        return "leaves out nothing (no model uses it)"
    return "leaves out " + " and ".join(parts)


def _first(items: list[str], n: int) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... {len(items) - n} more" if len(items) > n else "")


def _study_name(config: StudyConfig) -> str:
    return str(config.path) if config.path is not None else f"study {config.settings.name!r}"


def _no_studied_prices(config: StudyConfig, skipped: dict[str, str]) -> str:
    """One line: no studied asset can be estimated, and why (first reasons)."""
    studied = [a.ticker for a in config.studied_assets]
    reasons = [f"{t}: {skipped[t]}" for t in studied if t in skipped][:3]
    more = len(studied) - len(reasons)
    tail = f" (and {more} more)" if more > 0 else ""
    return (f"{_study_name(config)}: nothing to estimate: none of the {len(studied)} studied "
            f"assets has usable prices - {'; '.join(reasons)}{tail}")


def _nothing_estimated(
    config: StudyConfig, models: pd.DataFrame, closes: pd.DataFrame, skipped: dict[str, str]
) -> str:
    """One line: not a single (event, asset) pair was estimated, with the first reason per status."""
    where = _study_name(config)
    if models.empty:
        return (f"{where}: nothing to estimate: no event applies to an asset with prices "
                f"(assets without prices: {_first(sorted(skipped), 5)})")
    models = models.drop_duplicates(["event_id", "asset"])  # a total-reaction twin is the same pair
    parts = []
    for status, rows in models.groupby("status", sort=False):
        first = rows.iloc[0]
        parts.append(f"{len(rows)} {status}, e.g. {first.event_id} / {first.asset}: {first.message}")
    span = (f"; prices loaded for {closes.index.min():%Y-%m-%d} .. {closes.index.max():%Y-%m-%d}"
            if len(closes.index) else "")
    return (f"{where}: nothing estimable: none of the {len(models)} (event, asset) pairs could be "
            f"estimated - {'; '.join(parts)}{span}")


def _log_refusals(models: pd.DataFrame) -> None:
    """One line per refused pair; the reaction is named when the study has both (an asset's
    relative pair and its total twin are refused separately)."""
    refused = models[models["status"] != "ok"]
    both = "reaction" in refused and refused["reaction"].nunique() > 1
    for row in refused.itertuples():
        pair = f"{row.event_id} / {row.asset}" + (f" ({row.reaction})" if both else "")
        log.info("not estimated: %s: %s", pair, row.message)


def run(config: StudyConfig | str | Path, snapshot: str | Path | None = None, **kwargs) -> StudyResult:
    """Run the study in ``config`` (a path to ``events.yaml`` or a StudyConfig).

    Examples
    --------
    >>> import eventstudy as es
    >>> res = es.run("events.yaml", snapshot="prices")  # doctest: +SKIP
    >>> res.summary()                                              # doctest: +SKIP
    """
    return Study(config, snapshot=snapshot).run(**kwargs)
