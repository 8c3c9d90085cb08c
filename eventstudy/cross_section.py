"""Cross-sectional regression of CARs on firm characteristics (which firms reacted more, and why).

Every firm of one event shares the event date, so their abnormal returns are cross-correlated
(a sector, the market or the yen moves them together) and ordinary least-squares standard errors
of a regression of CARs on characteristics are wrong, whatever heteroskedasticity correction
they carry. Two sets of standard errors are reported side by side (registry entries
:data:`eventstudy.registry.CROSS_SECTION_ESTIMATES`), the robust one first:

``st``
    The Sefcik-Thompson (1986) portfolio method. With ``X`` the (n, p) design of the firms'
    characteristics, each coefficient ``b_j = w_j' CAR`` is a portfolio of the firms' CARs with
    weights ``w_j`` = row j of ``W = (X'X)^-1 X'``. The same weights applied to the firms'
    estimation-window abnormal returns give each coefficient's time series
    ``g_jt = w_j' AR_t``, which carries the cross-correlation of the firms' returns. With ``T``
    estimation days and an event window of ``L2`` days::

        S_j^2 = (1 / (T - 1)) sum_t (g_jt - mean_t g_jt)^2       (sample variance over days)
        SE_j  = sqrt(L2) * S_j
        t_j   = b_j / SE_j                                      reference t(T - 1)

    the convention of the crude-dependence portfolio test (Brown-Warner; a CAR's portfolio
    variance is ``L2`` times the daily one, days independent; divisor and degrees of freedom
    ``T - 1``). As for that test, the prediction-error component of the CAR is left out.
``hc1``
    Heteroskedasticity-robust OLS (White's estimator with the ``n / (n - p)`` small-sample
    factor, statsmodels ``cov_type='HC1'``). It assumes independent firms: its standard error
    is shown beside Sefcik-Thompson for comparison, and no HC1 t or p-value is reported (a
    t(n - p) test on it rejects 36-53% of true zero coefficients at 5% when firms share the
    event date, ``benchmarks/size_power_cross_section.py``).

Missing estimation days (the rule). The estimation days are the rows of the abnormal-return
frame on which at least one firm has a value. A firm with values on fewer than
``min_coverage`` (default 90%) of these days is left out of the regression altogether, CAR
included, and named in the ``note``. The coefficient series uses the days on which every
remaining firm has a value (the weights must be the same portfolio every day); fewer than
``min_days`` (default 30) such days refuses the regression. Firms without a CAR or without
a characteristic the formula uses are left out (statsmodels' missing='drop'), also counted.

Pre-event exposures (:func:`estimation_betas`): each firm's slopes on the study's benchmark
series (e.g. the home index same day, a foreign index lagged, an exchange rate) from one
multiple regression with intercept over the firm's own estimation sample.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from eventstudy.errors import EventStudyError

log = logging.getLogger("eventstudy")

CROSS_SECTION_COLUMNS = [
    "term", "estimate",
    "std_error_st", "t_st", "p_st", "df_st",
    "std_error_hc1",
    "n", "n_days", "note",
]
"""Columns of :func:`cross_section_regression` (one row per coefficient; Sefcik-Thompson first)."""

DEFAULT_MIN_COVERAGE = 0.9
DEFAULT_MIN_DAYS = 30
MIN_BETA_DAYS = 30


class CrossSectionError(EventStudyError, ValueError):
    """A cross-sectional regression that cannot be run (bad formula, no overlap, singular design)."""


class FormulaError(CrossSectionError):
    """A formula that cannot be read or names an unknown characteristic (wrong for every event)."""


def cross_section_regression(
    cars: pd.Series,
    characteristics: pd.DataFrame,
    estimation_ar: pd.DataFrame,
    formula: str,
    window_length: int,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    min_days: int = DEFAULT_MIN_DAYS,
) -> pd.DataFrame:
    """Regress CARs on characteristics; HC1 and Sefcik-Thompson standard errors side by side.

    Parameters
    ----------
    cars : Series
        CAR per firm (index = firm).
    characteristics : DataFrame
        One row per firm (index = firm); the columns the formula names (strings for
        categorical ones, e.g. sectors; an empty or missing value leaves the firm out).
    estimation_ar : DataFrame
        Estimation-window abnormal returns, one row per day (the same calendar day for every
        firm), one column per firm, NaN where a firm has none.
    formula : str
        A statsmodels (patsy) formula whose left-hand side names the CAR, e.g.
        ``"car ~ C(sector17) + beta_topx"``.
    window_length : int
        ``L2``, the number of days summed in each CAR.
    min_coverage : float
        Least share of the estimation days a firm must have a value on (see module docstring).
    min_days : int
        Least number of days on which every retained firm has a value.

    Returns
    -------
    DataFrame
        :data:`CROSS_SECTION_COLUMNS`, one row per coefficient in the formula's order.

    Raises
    ------
    CrossSectionError
        Unknown formula term or syntax error, no firm with all inputs, fewer firms than
        coefficients, collinear regressors, too few common estimation days.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> firms = [f"f{i}" for i in range(8)]
    >>> ar = pd.DataFrame(rng.normal(0, 0.01, (60, 8)), columns=firms)
    >>> chars = pd.DataFrame({"size": np.arange(8.0)}, index=firms)
    >>> cars = pd.Series(0.002 * np.arange(8.0), index=firms)
    >>> table = cross_section_regression(cars, chars, ar, "car ~ size", window_length=2)
    >>> table[["term", "estimate", "df_st", "n"]].round(4).to_dict("records")[1]
    {'term': 'size', 'estimate': 0.002, 'df_st': 59, 'n': 8}
    """
    import statsmodels.formula.api as smf
    from scipy import stats  # imported here: a run that writes tables only never needs it

    if window_length < 1:
        raise CrossSectionError(f"window_length must be >= 1, got {window_length}")
    outcome = _outcome_name(formula, characteristics)
    firms = _common_firms(cars, characteristics, estimation_ar)
    kept, thin = _covered_firms(estimation_ar[firms], min_coverage)
    data = characteristics.loc[kept].replace("", np.nan).assign(**{outcome: cars.loc[kept]})
    model = _formula_model(smf, formula, data)
    used = list(model.data.row_labels)
    x = np.asarray(model.exog, dtype=float)
    names = list(model.exog_names)
    _check_design(x, names, formula)
    fit = model.fit(cov_type="HC1", use_t=True)
    ar = estimation_ar[used]
    complete = ar.notna().all(axis=1).to_numpy()
    n_days = int(complete.sum())
    if n_days < min_days:
        raise CrossSectionError(
            f"formula {formula!r}: only {n_days} estimation days on which all {len(used)} firms have "
            f"an abnormal return (min_days is {min_days})")
    weights = np.linalg.solve(x.T @ x, x.T)  # (p, n): row j is coefficient j's portfolio
    series = ar.to_numpy()[complete] @ weights.T  # (T, p)
    se_st = np.sqrt(window_length) * series.std(axis=0, ddof=1)
    estimate = weights @ cars.loc[used].to_numpy(dtype=float)
    t_st = estimate / se_st
    df_st = n_days - 1
    note = _note(thin, len(firms) - len(kept), len(kept) - len(used), min_coverage)
    return pd.DataFrame({
        "term": names,
        "estimate": estimate,
        "std_error_hc1": np.asarray(fit.bse, dtype=float),
        "std_error_st": se_st,
        "t_st": t_st,
        "p_st": 2.0 * stats.t.sf(np.abs(t_st), df_st),
        "df_st": df_st,
        "n": len(used),
        "n_days": n_days,
        "note": note,
    })[CROSS_SECTION_COLUMNS]


def _outcome_name(formula: str, characteristics: pd.DataFrame) -> str:
    """The left-hand side of ``formula``: one plain name that is not a characteristic."""
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"formula {formula!r} needs one '~', e.g. 'car ~ C(sector17)'")
    outcome = formula.split("~")[0].strip()
    if not re.fullmatch(r"[A-Za-z_]\w*", outcome):
        raise FormulaError(
            f"formula {formula!r}: the left-hand side must be one name for the CAR, e.g. 'car'")
    if outcome in characteristics.columns:
        raise FormulaError(
            f"formula {formula!r}: the left-hand side {outcome!r} is also a characteristic; name the CAR "
            "differently")
    return outcome


def _common_firms(cars: pd.Series, characteristics: pd.DataFrame, estimation_ar: pd.DataFrame) -> list:
    firms = [f for f in cars.index if f in characteristics.index and f in estimation_ar.columns]
    if not firms:
        raise CrossSectionError(
            "no firm has a CAR, characteristics and estimation-window abnormal returns (the three "
            "inputs share no firm)")
    return firms


def _covered_firms(ar: pd.DataFrame, min_coverage: float) -> tuple[list, list]:
    """Firms with values on at least ``min_coverage`` of the days on which any firm has one."""
    observed = ar.notna()
    days = observed.any(axis=1)
    if not days.any():
        raise CrossSectionError("no estimation-window abnormal returns for any firm")
    coverage = observed[days].mean(axis=0)
    kept = [f for f in ar.columns if coverage[f] >= min_coverage]
    thin = [f for f in ar.columns if coverage[f] < min_coverage]
    if not kept:
        raise CrossSectionError(
            f"no firm has estimation-window abnormal returns on {min_coverage:.0%} of the estimation days")
    return kept, thin


def _formula_model(smf, formula: str, data: pd.DataFrame):
    """``smf.ols(formula, data)`` with the formula's errors as one line."""
    try:
        return smf.ols(formula, data, missing="drop")
    # The formula engine (patsy or formulaic, statsmodels picks) raises its own error types.
    except Exception as exc:  # noqa: BLE001
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        known = ", ".join(map(str, data.columns))
        raise FormulaError(f"formula {formula!r}: {first} (characteristics: {known})") from None


def _check_design(x: np.ndarray, names: Sequence[str], formula: str) -> None:
    n, p = x.shape
    if n <= p:
        raise CrossSectionError(
            f"formula {formula!r}: {n} firms with every input for {p} coefficients (need more firms than "
            "coefficients)")
    rank = np.linalg.matrix_rank(x)
    if rank < p:
        raise CrossSectionError(
            f"formula {formula!r}: the {p} regressors ({', '.join(names)}) are collinear on these {n} "
            f"firms (rank {rank}); drop a term")


def _note(thin: list, no_inputs: int, dropped: int, min_coverage: float) -> str:
    parts = []
    if thin:
        parts.append(f"{len(thin)} firm(s) left out, estimation returns on < {min_coverage:.0%} of the days: "
                     + ", ".join(map(str, thin)))
    if dropped:
        parts.append(f"{dropped} firm(s) left out for a missing CAR or characteristic")
    return "; ".join(parts)


def estimation_betas(
    stock_returns: pd.DataFrame,
    regressors: pd.DataFrame,
    min_days: int = MIN_BETA_DAYS,
) -> pd.DataFrame:
    """Each firm's slopes on the regressors over its estimation sample (one OLS with intercept).

    Parameters
    ----------
    stock_returns : DataFrame
        Returns on the firm's estimation days (rows = days, columns = firms), NaN elsewhere.
    regressors : DataFrame
        Regressor returns on the same days (rows aligned with ``stock_returns``), one column
        per exposure; the output column is ``beta_<column>``.
    min_days : int
        Firms with fewer days on which the firm and every regressor have a return get NaN.

    Returns
    -------
    DataFrame
        One row per firm, columns ``beta_<regressor>``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> market = pd.DataFrame({"topx": rng.normal(0, 0.01, 200)})
    >>> stock = pd.DataFrame({"a": 1.5 * market["topx"] + rng.normal(0, 1e-4, 200)})
    >>> float(estimation_betas(stock, market).loc["a", "beta_topx"].round(2))
    1.5
    """
    factors = regressors.reindex(stock_returns.index).to_numpy(dtype=float)
    design = np.column_stack([np.ones(len(factors)), factors])
    usable_days = np.isfinite(factors).all(axis=1)
    out = np.full((stock_returns.shape[1], factors.shape[1]), np.nan)
    for j, firm in enumerate(stock_returns.columns):
        y = stock_returns[firm].to_numpy(dtype=float)
        rows = usable_days & np.isfinite(y)
        if rows.sum() < max(min_days, design.shape[1] + 1):
            continue
        theta, *_ = np.linalg.lstsq(design[rows], y[rows], rcond=None)
        out[j] = theta[1:]
    columns = [f"beta_{c}" for c in regressors.columns]
    return pd.DataFrame(out, index=stock_returns.columns, columns=columns)


def beta_name(ticker: str) -> str:
    """A formula-safe name for a ticker's exposure: lower case, non-word runs as ``_``.

    Examples
    --------
    >>> beta_name("^TOPX"), beta_name("JPY=X")
    ('topx', 'jpy_x')
    """
    return re.sub(r"\W+", "_", ticker).strip("_").lower()


# --- assembling the inputs from a study's result --------------------------------------------

STUDY_COLUMNS = ["event_id", "reaction", "window", "formula", *CROSS_SECTION_COLUMNS]
"""Columns of :func:`study_cross_section` (the ``cross_section`` table)."""


def study_cross_section(
    result,
    formula: str,
    window: tuple[int, int],
    event_id: str | None = None,
    reaction: str = "relative",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    min_days: int = DEFAULT_MIN_DAYS,
) -> pd.DataFrame:
    """:func:`cross_section_regression` for one event (or each event) of a study's result.

    The firms are the pairs of the event with the given reaction kind; CARs over ``window``
    and estimation-window abnormal returns come from the result's panel; characteristics are
    :func:`study_characteristics`.

    Parameters
    ----------
    result : StudyResult
        A finished study.
    formula : str
        statsmodels formula with the CAR on the left, e.g. ``"car ~ C(sector17) + beta_topx"``.
    window : (int, int)
        CAR window (within the study's event period).
    event_id : str, optional
        One event; None runs every event of the study in file order (an event whose regression
        cannot be run gets one row with the reason in ``note``; a bad formula still raises).
    reaction : {'relative', 'total'}
        Which pairs: reactions relative to the model's benchmark, or total reactions.

    Returns
    -------
    DataFrame
        :data:`STUDY_COLUMNS`.

    Examples
    --------
    >>> event = "liberation-day-reciprocal-tariffs"  # doctest: +SKIP
    >>> study_cross_section(res, "car ~ C(size_class) + beta_topx", (0, 1), event_id=event)  # doctest: +SKIP
    """
    from eventstudy.events import REACTIONS

    if reaction not in REACTIONS:
        raise CrossSectionError(f"reaction must be one of {', '.join(REACTIONS)}, got {reaction!r}")
    known = [e.id for e in result.config.events]
    if event_id is not None and event_id not in known:
        raise CrossSectionError(f"unknown event_id {event_id!r} (not an event of study "
                                f"{result.config.settings.name!r})")
    try:
        result.panel.window_selector(window)
    except KeyError as exc:
        raise CrossSectionError(str(exc).strip("'\"")) from None
    events = [event_id] if event_id is not None else known
    return _regressions(result, formula, window, events, reaction, min_coverage, min_days,
                        strict=event_id is not None)


def _regressions(result, formula: str, window: tuple[int, int], events: Sequence[str], reaction: str,
                 min_coverage: float, min_days: int, strict: bool) -> pd.DataFrame:
    """One regression per event, labelled; a refused one is a row with the reason in ``note``
    (unless ``strict``). A bad formula always raises."""
    from eventstudy.abnormal import format_window

    frames = []
    for event in events:
        try:
            table = _event_regression(result, formula, window, event, reaction, min_coverage, min_days)
        except FormulaError:
            raise
        except CrossSectionError as exc:
            if strict:
                raise
            table = pd.DataFrame([{"term": "", "note": str(exc)}], columns=CROSS_SECTION_COLUMNS)
        table.insert(0, "event_id", event)
        table.insert(1, "reaction", reaction)
        table.insert(2, "window", format_window(window))
        table.insert(3, "formula", formula)
        frames.append(table)
    return pd.concat(frames, ignore_index=True)[STUDY_COLUMNS]


def cross_section_table(
    result,
    event_ids: Sequence[str],
    window: tuple[int, int],
    formula: str | None = None,
) -> pd.DataFrame:
    """The ``cross_section`` table: one regression per event and reaction kind of the study.

    Every event of ``event_ids`` (in that order) is regressed for each reaction kind the study
    measured (total first, then relative) with :func:`study_cross_section`'s inputs; an event
    whose regression cannot be run gets one row with the reason in ``note``.

    Parameters
    ----------
    result : StudyResult
        A finished study.
    event_ids : sequence of str
        The events (e.g. the report's key events).
    window : (int, int)
        CAR window.
    formula : str, optional
        statsmodels formula; default :func:`default_formula`.

    Returns
    -------
    DataFrame
        :data:`STUDY_COLUMNS`.

    Raises
    ------
    FormulaError
        The formula cannot be read or names an unknown characteristic.

    Examples
    --------
    >>> cross_section_table(res, ["liberation-day-reciprocal-tariffs"], (0, 1))  # doctest: +SKIP
    """
    from eventstudy.events import REACTIONS

    formula = formula or default_formula(result)
    measured = set(_pair_reactions(result.panel))
    frames = [_regressions(result, formula, window, list(event_ids), reaction,
                           DEFAULT_MIN_COVERAGE, DEFAULT_MIN_DAYS, strict=False)
              for reaction in REACTIONS if reaction in measured]
    if not frames or not len(event_ids):
        return pd.DataFrame(columns=STUDY_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def has_attributes(config) -> bool:
    """Whether any studied asset of the study carries an attribute (sector, size, ...)."""
    return any(asset.attributes for asset in config.studied_assets)


def report_cross_section(result, featured) -> pd.DataFrame:
    """The ``cross_section`` table of a run: :func:`cross_section_table` of the report's key
    events over its primary window, with the study file's ``report.cross_section`` formula (or
    :func:`default_formula`).

    Raises
    ------
    FormulaError
        One line naming the study file and ``report.cross_section`` when that formula cannot
        be used.

    Examples
    --------
    >>> report_cross_section(res, featured.choose(res, tables["caar"]))  # doctest: +SKIP
    """
    config = result.config
    formula = config.report.cross_section
    try:
        return cross_section_table(result, featured.key_events, featured.primary_window, formula)
    except FormulaError as error:
        if formula is None:
            raise
        where = config.path if config.path is not None else f"study {config.settings.name!r}"
        raise FormulaError(f"{where}: report.cross_section: {error}") from None


def default_formula(result) -> str:
    """The report's default formula: ``car ~`` one ``C(name)`` per partition of ``study.group_by``
    that splits the studied assets, leaving out a partition that nests in or contains one
    already chosen (its dummies would be collinear), then every pre-event beta.

    Examples
    --------
    >>> default_formula(res)  # doctest: +SKIP
    'car ~ C(sector17) + C(size_class) + beta_topx + beta_gspc + beta_jpy_x'
    """
    config = result.config
    chosen: list[str] = []
    for name in config.settings.group_by:
        values = _partition(config, name)
        if name == "all" or values.nunique() < 2:
            continue
        if not any(_nested(values, _partition(config, other)) for other in chosen):
            chosen.append(name)
    terms = [f"C({_formula_name(name)})" for name in chosen]
    terms += [f"beta_{beta_name(t)}" for t in _exposure_tickers(config, result.closes)]
    return "car ~ " + (" + ".join(terms) if terms else "1")


def _partition(config, name: str) -> pd.Series:
    values = pd.Series([a.attribute(name) for a in config.studied_assets], dtype=object)
    return values.where(values != "")


def _nested(first: pd.Series, second: pd.Series) -> bool:
    """Whether, on the assets carrying both, either partition is a function of the other."""
    both = pd.DataFrame({"a": first, "b": second}).dropna()
    if both.empty:
        return False
    return bool((both.groupby("a")["b"].nunique() <= 1).all()
                or (both.groupby("b")["a"].nunique() <= 1).all())


def _formula_name(name: str) -> str:
    """``name``, quoted for the formula language when it is not an identifier."""
    return name if name.isidentifier() else f"Q({name!r})"


def _pair_reactions(panel) -> np.ndarray:
    return panel.reactions if panel.reactions is not None else np.full(panel.n_pairs, "total")


def _event_regression(result, formula, window, event_id, reaction, min_coverage, min_days) -> pd.DataFrame:
    rows = _event_rows(result.panel, event_id, reaction)
    panel = result.panel.subset(rows)
    cars = pd.Series(panel.car(window)[0], index=panel.assets)
    estimation_ar = _by_date(panel, panel.estimation_residuals())
    characteristics = study_characteristics(result, event_id, reaction)
    return cross_section_regression(cars, characteristics, estimation_ar, formula,
                                    window[1] - window[0] + 1, min_coverage, min_days)


def _event_rows(panel, event_id: str, reaction: str) -> np.ndarray:
    rows = (panel.event_ids == event_id) & (_pair_reactions(panel) == reaction)
    if not rows.any():
        raise CrossSectionError(f"event {event_id!r}: no estimated pair with reaction {reaction!r}")
    return rows


def _by_date(panel, values: np.ndarray) -> pd.DataFrame:
    """Finite cells of ``values`` (pairs x grid) as a date x asset frame (NaN where absent)."""
    columns = {}
    for i, asset in enumerate(panel.assets):
        keep = np.isfinite(values[i])
        columns[asset] = pd.Series(values[i][keep], index=pd.DatetimeIndex(panel.dates[i][keep]))
    return pd.DataFrame(columns).sort_index()


def study_characteristics(result, event_id: str, reaction: str = "relative") -> pd.DataFrame:
    """The characteristics a cross-sectional formula can use, one row per firm of an event.

    Columns: ``group`` and every asset attribute of the study file (empty values as NaN), and
    ``beta_<name>`` (:func:`beta_name`) for every series the study lists as a benchmark or uses
    in a model: the firm's slopes in one regression of its returns on all of them, with
    intercept, over its estimation sample of this event (:func:`estimation_betas`). A series
    from the firm's own exchange enters same-day; any other enters lagged (the latest session
    of its market closed when the firm's session opens: e.g. the previous New York close for a
    Tokyo stock; a Yahoo FX quote, stamped 00:00 UTC, is the one of the Tokyo open), aligned
    with :func:`eventstudy.returns.aligned_returns`.

    Examples
    --------
    >>> study_characteristics(res, "liberation-day-reciprocal-tariffs").columns.tolist()  # doctest: +SKIP
    ['group', 'sector33', 'sector17', 'size_class', 'market_segment', 'beta_topx', 'beta_gspc', 'beta_jpy_x']
    """
    panel = result.panel.subset(_event_rows(result.panel, event_id, reaction))
    config = result.config
    attributes = pd.DataFrame(
        [{"group": config.asset(a).group, **config.asset(a).attributes} for a in panel.assets],
        index=pd.Index(panel.assets, name="asset"),
    ).replace("", np.nan)
    betas = _study_betas(result, panel)
    return attributes.join(betas) if len(betas.columns) else attributes


def _study_betas(result, panel) -> pd.DataFrame:
    """``beta_<name>`` per firm of ``panel``, computed per exchange of the firms."""
    from eventstudy import calendars, returns

    config = result.config
    tickers = _exposure_tickers(config, result.closes)
    if not tickers:
        return pd.DataFrame(index=panel.assets)
    exchange_of = {a: config.asset(a).exchange for a in panel.assets}
    stock_returns = _by_date(panel, np.where(panel.is_estimation, panel.ret, np.nan))
    frames = []
    for exchange in dict.fromkeys(exchange_of.values()):
        firms = [a for a in panel.assets if exchange_of[a] == exchange]
        days = stock_returns.index
        grid = calendars.get_sessions(exchange, days[0] - pd.Timedelta(days=10), days[-1])
        regressors = {}
        for ticker in tickers:
            bench = config.asset(ticker)
            prices = returns.session_prices(result.closes[ticker], bench.exchange)
            lag = 0 if bench.exchange == exchange else 1
            aligned = returns.aligned_returns(prices, bench.exchange, grid, exchange, lag,
                                              config.settings.returns)
            regressors[beta_name(ticker)] = aligned.reindex(days)
        frames.append(estimation_betas(stock_returns[firms], pd.DataFrame(regressors, index=days)))
    return pd.concat(frames).reindex(panel.assets)


def _exposure_tickers(config, closes: pd.DataFrame) -> list[str]:
    """Benchmark-group price series and every model regressor, in file order, that have prices."""
    wanted = [a.ticker for a in config.assets if a.is_benchmark and a.kind == "price"]
    for asset in config.studied_assets:
        wanted += list(config.model_for(asset).tickers())
    chosen = []
    for ticker in dict.fromkeys(wanted):
        if ticker in closes.columns and closes[ticker].notna().any():
            chosen.append(ticker)
        else:
            log.info("cross_section: no prices for %s, no beta_%s", ticker, beta_name(ticker))
    return chosen
