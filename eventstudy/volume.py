"""Abnormal trading volume around events, measured with the same engine as abnormal returns.

For each (event, asset) pair the series studied is the log volume ``v_t = log(1 + V_t)`` on
the asset's exchange sessions (``V_t`` shares traded; the 1 keeps days without trades finite).
Its "normal" level is

* the pair's estimation-window mean (``constant_mean``, the default): abnormal log volume
  ``AV_t = v_t - mean_{W1}(v)``; or
* a market-volume model when a volume benchmark is named: ``v_t = a + b v_mt + e_t`` over the
  estimation window, ``AV_t = v_t - a - b v_mt`` (``v_mt`` the benchmark's log volume of the
  same session, or of the latest session closed at the asset's open for another exchange).

The log-volume series enter :func:`eventstudy.abnormal.estimate` as :class:`AssetInput`
"returns", so everything the engine does for returns applies unchanged: estimation windows
and exclusions, the prediction-error variance ``s^2 [I + X*(X'X)^-1 X*']`` (docs/methods.md#prediction-error), the
cumulative abnormal log volume over a window (``CAV``, the CAR of log volume), and the
cross-sectional tests of :func:`eventstudy.study.all_tests` per scope.

Which tests keep their size. Log volume is persistent and drifts (a busy month stays busy), so
on real Tokyo volumes (``benchmarks/size_volume.py``: pseudo events 2021-2024, one day 0 shared
by 50 stocks, 400 replications, 5% two-sided) the single-pair tests over-reject: the parametric
``CAV / sqrt(Var CAV)`` 7% / 15% / 31% / 44% for [0,0] / [0,1] / [0,5] / [-5,10], the
one-day sample-quantile test 7%; so do most cross-sectional tests that
hold for returns (crude dependence 6% / 14% / 31% / 48%, Corrado 5% / 13% / 27% / 40%). Two keep
it: Kolari-Pynnonen BMP (2.5-5.5% for windows of 1 to 16 sessions) and GRANK (2.8-5.5%; reported
for days and windows of at most 6 sessions, as for returns); a market-volume model does not
repair the others. Hence the ``volume`` table is descriptive (no p-value per pair; ``scav`` is
the standardised CAV, a size measure comparable across stocks, not a test), and the volume
tests are :data:`VOLUME_TESTS` per scope (registry entries
:data:`eventstudy.registry.VOLUME_TESTS`).

Assets without volume (indices, rates) are skipped with a note in ``skipped``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eventstudy import abnormal, registry, returns
from eventstudy.abnormal import AssetInput, format_window
from eventstudy.errors import ConfigError, DataError
from eventstudy.events import ModelSpec, StudyConfig
from eventstudy.models import build_design
from eventstudy.panel import AbnormalPanel

log = logging.getLogger("eventstudy")

VOLUME_COLUMNS = [
    "event_id", "asset", "window", "abnormal_log_volume", "mean_abnormal_log_volume",
    "volume_ratio", "scav", "n", "status", "message",
]
"""Columns of the ``volume`` table (one row per pair and window)."""

VOLUME_TESTS = tuple(registry.VOLUME_TESTS)
"""Cross-sectional tests reported for abnormal volume: the ones whose size holds on real log
volume under same-date clustering (module docstring)."""


@dataclass(frozen=True)
class VolumeResult:
    """Abnormal volume of a study.

    Attributes
    ----------
    volume : DataFrame
        :data:`VOLUME_COLUMNS`: per pair and window the cumulative abnormal log volume
        (``abnormal_log_volume``, CAV), its mean per day, ``volume_ratio`` = exp(mean) (volume
        as a multiple of normal, geometric mean over the window), ``scav`` = CAV / sqrt(Var CAV)
        with the full prediction-error covariance (descriptive, see the module docstring),
        ``n`` estimation days, ``status`` and ``message`` (why a pair has no value).
    tests : DataFrame
        The cross-sectional tests :data:`VOLUME_TESTS` per scope, daily and per window (the
        columns of ``StudyResult.tests``).
    models : DataFrame
        The engine's models table of the log-volume fits.
    panel : AbnormalPanel or None
        Abnormal log volumes (``ret`` holds log volume, ``ar`` abnormal log volume); None when
        :func:`measure_volume` was asked not to keep it.
    skipped : dict
        Assets left out, with the reason (no volume data).
    """

    volume: pd.DataFrame
    tests: pd.DataFrame
    models: pd.DataFrame
    panel: AbnormalPanel | None = field(repr=False)
    skipped: dict[str, str] = field(default_factory=dict)


def log_volume(volume: pd.Series) -> pd.Series:
    """``log(1 + V)`` of a volume series (NaN stays NaN); negative volume is refused.

    Examples
    --------
    >>> log_volume(pd.Series([0.0, 9.0, np.nan])).round(4).tolist()
    [0.0, 2.3026, nan]
    """
    values = volume.astype(float)
    if (values < 0).any():
        first = values.index[values.to_numpy() < 0][0]
        raise DataError(f"volume of {volume.name or 'a series'}: negative value on {first}")
    return np.log1p(values)


def volume_inputs(
    volumes: pd.DataFrame,
    config: StudyConfig,
    benchmark: str | None = None,
) -> tuple[list[AssetInput], dict[str, str]]:
    """Log-volume :class:`AssetInput` of every studied price asset that has volume.

    Parameters
    ----------
    volumes : DataFrame
        Daily volume, index = exchange-local dates, one column per ticker (NaN = unknown).
    config : StudyConfig
        The study (assets, exchanges).
    benchmark : str, optional
        An asset of the study (its exchange aligns the sessions) and a column of ``volumes``,
        whose log volume is the market-volume regressor.

    Returns
    -------
    inputs : list of AssetInput
        One per asset with volume, design ``constant_mean`` or ``market(benchmark)``.
    skipped : dict
        ``ticker -> reason`` for assets without volume.
    """
    market = _benchmark_levels(volumes, config, benchmark) if benchmark else None
    inputs, skipped = [], {}
    table = _LogVolumes(volumes)
    for asset in config.studied_assets:
        if asset.kind != "price":
            continue
        reason = table.no_volume(asset.ticker)
        if reason:
            skipped[asset.ticker] = reason
            log.debug("abnormal volume: skipping %s: %s", asset.ticker, reason)
            continue
        levels = table.levels(asset.ticker, asset.exchange)
        if market is None:
            design = build_design(ModelSpec("constant_mean"), len(levels), {})
            reaction = "total"
        else:
            bench_levels, bench_exchange = market
            lag = 0 if bench_exchange == asset.exchange else 1
            aligned = returns.aligned_levels(bench_levels, bench_exchange, levels.index, asset.exchange, lag)
            design = build_design(ModelSpec("market", benchmark=benchmark), len(levels),
                                  {benchmark: aligned.to_numpy(float)})
            reaction = "relative"
        inputs.append(AssetInput(asset.ticker, asset.exchange, levels.index, levels.to_numpy(float),
                                 design, reaction=reaction))
    for reason, tickers in _by_reason(skipped).items():  # one line per reason, however many series
        shown = ", ".join(tickers[:SKIPPED_SHOWN]) + (f" and {len(tickers) - SKIPPED_SHOWN} more"
                                                       if len(tickers) > SKIPPED_SHOWN else "")
        log.info("abnormal volume: skipping %d series (%s): %s", len(tickers), reason, shown)
    return inputs, skipped


SKIPPED_SHOWN = 5
"""Tickers named in the log line of the series skipped for one reason (the rest are counted)."""


def _by_reason(skipped: Mapping[str, str]) -> dict[str, list[str]]:
    """The tickers of ``skipped`` grouped by reason, in first-seen order.

    Examples
    --------
    >>> _by_reason({"A": "no volume", "B": "zero volume", "C": "no volume"})
    {'no volume': ['A', 'C'], 'zero volume': ['B']}
    """
    grouped: dict[str, list[str]] = {}
    for ticker, reason in skipped.items():
        grouped.setdefault(reason, []).append(ticker)
    return grouped


def _no_volume(volumes: pd.DataFrame, ticker: str) -> str:
    """Why ``ticker`` has no usable volume ('' when it has)."""
    if ticker not in volumes.columns:
        return _volume_problem(None)
    return _volume_problem(volumes[ticker].to_numpy(dtype=float))


def _volume_problem(values: np.ndarray | None) -> str:
    """Why a volume series (None: absent) is unusable ('' when it is usable)."""
    if values is None:
        return "no volume data"
    if np.isnan(values).all():
        return "no volume data (all missing)"
    if not (values > 0).any():  # (NaN compares False)
        return "no volume data (all zero)"
    return ""


class _LogVolumes:
    """Each ticker's log volume on its exchange's session grid: :func:`log_volume` placed by
    :func:`eventstudy.returns.session_prices`, from one array of the volume table
    (:class:`eventstudy.returns.SessionGrid`)."""

    def __init__(self, volumes: pd.DataFrame) -> None:
        self._volumes = volumes
        self._grid = returns.SessionGrid(volumes)

    def no_volume(self, ticker: str) -> str:
        """Why ``ticker`` has no usable volume ('' when it has), as :func:`_no_volume`."""
        if not self._grid.fast:
            return _no_volume(self._volumes, ticker)
        return _volume_problem(self._grid.column(ticker))

    def levels(self, ticker: str, exchange: str) -> pd.Series:
        """``session_prices(log_volume(volumes[ticker]), exchange)``."""
        values = self._grid.column(ticker)
        if values is None or (values < 0).any():  # (log_volume names the negative value)
            return returns.session_prices(log_volume(self._volumes[ticker]), exchange)
        return self._grid.place(ticker, exchange, np.log1p)


def _benchmark_levels(volumes: pd.DataFrame, config: StudyConfig, benchmark: str) -> tuple[pd.Series, str]:
    try:
        exchange = config.asset(benchmark).exchange
    except KeyError:
        raise ConfigError(f"volume benchmark {benchmark!r} is not an asset of study {config.settings.name!r} "
                          "(add it to assets, e.g. in group 'benchmark')") from None
    reason = _no_volume(volumes, benchmark)
    if reason:
        raise DataError(f"volume benchmark {benchmark!r}: {reason}")
    return returns.session_prices(log_volume(volumes[benchmark]), exchange), exchange


def abnormal_volume(
    volumes: pd.DataFrame,
    config: StudyConfig,
    day0: Mapping[tuple[str, str], pd.Timestamp],
    benchmark: str | None = None,
    windows: Sequence[tuple[int, int]] | None = None,
) -> VolumeResult:
    """Abnormal log volume of every (event, asset) pair, per window, with the test battery.

    Parameters
    ----------
    volumes : DataFrame
        Daily volume, index = exchange-local dates, one column per ticker (e.g.
        ``PriceData.volumes``); columns the study does not study are ignored.
    config : StudyConfig
        The study: events, assets, windows, estimation settings, ``study.group_by``.
    day0 : mapping
        ``(event_id, exchange) -> day-0 session``, e.g.
        ``{(r.event_id, r.exchange): r.session for r in res.event_sessions.itertuples()}``.
    benchmark : str, optional
        Ticker of the market-volume regressor: an asset of the study (e.g. in group
        ``benchmark``) with a column in ``volumes``; None = estimation-window mean of each pair.
    windows : sequence of (int, int), optional
        Windows of the ``volume`` table and tests (default: the study's event windows).

    Returns
    -------
    VolumeResult

    Raises
    ------
    DataError
        No studied asset has volume, or the benchmark has none.
    ConfigError
        The benchmark is not an asset of the study.

    Examples
    --------
    >>> day0 = {(r.event_id, r.exchange): r.session for r in res.event_sessions.itertuples()}  # doctest: +SKIP
    >>> abnormal_volume(prices.volumes, res.config, day0).volume.head()                   # doctest: +SKIP
    """
    inputs, skipped = volume_inputs(volumes, config, benchmark)
    if not inputs:
        raise DataError(f"study {config.settings.name!r}: no studied asset has volume data "
                        f"({len(skipped)} skipped, e.g. {next(iter(skipped), '-')})")
    return measure_volume(inputs, config, day0, windows, skipped)


def measure_volume(
    inputs: Sequence[AssetInput],
    config: StudyConfig,
    day0: Mapping[tuple[str, str], pd.Timestamp],
    windows: Sequence[tuple[int, int]] | None = None,
    skipped: Mapping[str, str] | None = None,
    keep_panel: bool = True,
) -> VolumeResult:
    """Abnormal log volume and its tests from log-volume inputs (:func:`volume_inputs`).

    The engine's pairs, the ``volume`` table, and :data:`VOLUME_TESTS` of every scope of
    :func:`eventstudy.scopes.build_scopes` (the other tests are not computed). Without
    ``keep_panel`` the result has no panel, and the panel the tests read leaves out the log
    volumes and their normal levels (``ret``, ``expected``: neither the table nor these tests
    read them), which saves their memory while the tests run; the tables are the same.

    Examples
    --------
    >>> inputs, skipped = volume_inputs(prices.volumes, config)       # doctest: +SKIP
    >>> measure_volume(inputs, config, day0, skipped=skipped).tests  # doctest: +SKIP
    """
    from eventstudy import batches
    from eventstudy.scopes import build_scopes
    from eventstudy.study import TEST_COLUMNS

    settings = config.settings
    windows = list(windows) if windows is not None else list(settings.event_windows)
    panel, models = abnormal.estimate(list(inputs), config.events, day0, settings, keep_series=keep_panel)
    scopes = build_scopes(config, panel, day0)
    if scopes and panel.n_pairs:
        tests = batches.scoped_tests(panel, scopes, windows, tests=VOLUME_TESTS)[TEST_COLUMNS]
    else:
        tests = pd.DataFrame(columns=TEST_COLUMNS)
    return VolumeResult(volume_table(panel, models, windows), tests, models, panel if keep_panel else None,
                        dict(skipped or {}))


def volume_table(
    panel: AbnormalPanel,
    models: pd.DataFrame,
    windows: Sequence[tuple[int, int]],
) -> pd.DataFrame:
    """The ``volume`` table (:data:`VOLUME_COLUMNS`) from a log-volume panel and its models table:
    every window's estimated pairs (panel order), then every window's refused pairs."""
    parts = [_estimated_rows(panel, windows), _refused_rows(models[models["status"] != "ok"], windows)]
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame(columns=VOLUME_COLUMNS)
    return pd.concat(parts, ignore_index=True)[VOLUME_COLUMNS]


def _estimated_rows(panel: AbnormalPanel, windows: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """The rows of the estimated pairs, window after window, built as one frame (each window's
    numbers computed on its own arrays, as one frame per window would)."""
    cav, mean, ratio, scav = [], [], [], []
    for window, (window_cav, var_cav) in zip(windows, panel.cars(windows)):
        window_mean = window_cav / (window[1] - window[0] + 1)
        cav.append(window_cav)
        mean.append(window_mean)
        ratio.append(np.exp(window_mean))
        scav.append(window_cav / np.sqrt(var_cav))
    if not windows:
        return pd.DataFrame(columns=VOLUME_COLUMNS)
    cav = np.concatenate(cav)
    finite = np.isfinite(cav)
    return pd.DataFrame({
        "event_id": np.tile(panel.event_ids, len(windows)),
        "asset": np.tile(panel.assets, len(windows)),
        "window": np.repeat(np.array([format_window(w) for w in windows], dtype=object), panel.n_pairs),
        "abnormal_log_volume": cav,
        "mean_abnormal_log_volume": np.concatenate(mean),
        "volume_ratio": np.concatenate(ratio),
        "scav": np.concatenate(scav),
        "n": np.tile(panel.n_est, len(windows)),
        "status": np.where(finite, "ok", "no_data"),
        "message": np.where(finite, "", "volume missing on a day of the window"),
    })


def _refused_rows(refused: pd.DataFrame, windows: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """The rows of the refused pairs (``refused``: their rows of the models table), window after
    window, with the reason."""
    def repeated(column: str) -> np.ndarray:
        return np.tile(refused[column].to_numpy(), len(windows))

    return pd.DataFrame({
        "event_id": repeated("event_id"), "asset": repeated("asset"),
        "window": np.repeat(np.array([format_window(w) for w in windows], dtype=object), len(refused)),
        "abnormal_log_volume": np.nan, "mean_abnormal_log_volume": np.nan, "volume_ratio": np.nan,
        "scav": np.nan, "n": repeated("n_obs"), "status": repeated("status"), "message": repeated("message"),
    })
