"""Exchange-aware event timing: which session of each exchange is day 0 of an announcement.

The rule (docs/conventions.md, "Day 0"): day 0 on an
exchange is the first session whose close is strictly later than the announcement.

* announcement before that session's open -> the session is fully post-announcement;
* announcement inside ``[open, close)`` of that session -> it is day 0 and marked *partial*
  (the Tokyo lunch break counts as inside the session);
* announcement at or after a close, or on a non-trading day -> the next session.

Session times come from ``exchange_calendars`` (``XTKS``, ``XNYS``, ...), which knows that the
Tokyo close moved from 15:00 to 15:30 JST on 5 Nov 2024. Calendars are built once per
process, starting at :data:`CALENDAR_START`.

The pseudo-exchange ``FX`` stands for Yahoo FX rates such as ``JPY=X``. It has no
``exchange_calendars`` calendar: its sessions are all weekdays (Mon-Fri), and a session's
open and close are both 00:00 UTC of the bar date, because Yahoo's daily ``JPY=X`` bar is a
quote taken near the start of the bar date, not an end-of-day rate (in Yahoo's daily bars the
'close' equals the 'open' on most days, and the value dated D matches other feeds' rates of the
evening before D). An FX session is therefore never partial.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterable, Iterator

import exchange_calendars as xcals
import pandas as pd

from eventstudy.errors import ConfigError, EventStudyError
from eventstudy.events import FX_EXCHANGE, Event, StudyConfig

CALENDAR_START = pd.Timestamp("2000-01-01")
DEFAULT_EXCHANGE = "XNYS"

RULE_BEFORE_OPEN = "before open: first session closing after the announcement"
RULE_PARTIAL = "inside session (partial)"
RULE_NEXT_SESSION = "after close or non-trading day: next session"
RULE_FX = "FX: first weekday whose 00:00 UTC quote follows the announcement"

MAP_COLUMNS = ("event_id", "exchange", "session", "partial", "announced", "announced_local", "rule")
SESSION_TABLE_COLUMNS = (
    "id",
    "category",
    "announced",
    "tokyo_session",
    "tokyo_partial",
    "new_york_session",
    "new_york_partial",
)


_CALENDARS: dict[str, tuple[pd.Timestamp, xcals.ExchangeCalendar]] = {}


def _calendar(exchange: str, earliest: pd.Timestamp | None = None) -> xcals.ExchangeCalendar:
    """The ``exchange_calendars`` calendar of an exchange, built once per process (slow).

    It starts at :data:`CALENDAR_START`; when ``earliest`` (a naive date) lies before that, it is
    rebuilt from the start of ``earliest``'s year, or from the first date the calendar knows
    (e.g. 1997 for XTKS), so studies of older events get their sessions.
    """
    if exchange == FX_EXCHANGE:
        raise ValueError(f"{FX_EXCHANGE} has no exchange_calendars calendar")
    built = _CALENDARS.get(exchange)
    if built is None:
        built = CALENDAR_START, _build_calendar(exchange, CALENDAR_START)
        _CALENDARS[exchange] = built
    start, calendar = built
    if earliest is None or earliest >= start:
        return calendar
    wanted = pd.Timestamp(year=earliest.year, month=1, day=1)
    bound = calendar.bound_min()
    if bound is not None:
        wanted = max(wanted, pd.Timestamp(bound))
    if wanted < start:
        calendar = _build_calendar(exchange, wanted)
        _CALENDARS[exchange] = wanted, calendar
    return calendar


def _build_calendar(exchange: str, start: pd.Timestamp) -> xcals.ExchangeCalendar:
    with warnings.catch_warnings(), _holiday_rules_from(start):
        # exchange_calendars 4.13 reads tz-aware Series.values, deprecated in pandas 3.1.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        try:
            return xcals.get_calendar(exchange, start=start)
        except xcals.errors.InvalidCalendarName:
            raise ValueError(f"unknown exchange {exchange!r}") from None


_HOLIDAY_RANGE_LOCK = threading.Lock()


@contextlib.contextmanager
def _holiday_rules_from(start: pd.Timestamp) -> Iterator[None]:
    """Evaluate pandas holiday rules from a year before ``start`` to two years after today
    while a calendar is built, instead of pandas' default 1970-2200.

    ``exchange_calendars`` builds its session offset from a pandas holiday calendar without
    dates, so pandas evaluates every rule over 231 years (0.1-0.2 CPU s per exchange, most of
    a calendar's build). A calendar spans ``start`` to a year after today, so the narrower
    range yields the same sessions (``tests/test_calendars.py`` compares them with a default
    build). The class defaults are restored on exit; the lock keeps two builds from
    interleaving. Another thread that evaluates a pandas holiday calendar without dates during
    a build (once per exchange and process, about 0.05 s) would see the narrower range too.
    """
    from pandas.tseries.holiday import AbstractHolidayCalendar as rules

    first = pd.Timestamp(year=start.year - 1, month=1, day=1)
    last = pd.Timestamp(year=pd.Timestamp.now().year + 3, month=1, day=1)
    with _HOLIDAY_RANGE_LOCK:
        saved = rules.start_date, rules.end_date
        rules.start_date, rules.end_date = first, last
        try:
            yield
        finally:
            rules.start_date, rules.end_date = saved


def timezone(exchange: str) -> str:
    """The time zone of an exchange's sessions (``UTC`` for ``FX``).

    Examples
    --------
    >>> timezone("XTKS"), timezone("FX")
    ('Asia/Tokyo', 'UTC')
    """
    return "UTC" if exchange == FX_EXCHANGE else str(_calendar(exchange).tz)


def _as_date(value: object) -> pd.Timestamp:
    """A naive calendar date (midnight) from a date-like value."""
    day = pd.Timestamp(value)
    if day.tz is not None:
        raise ValueError(f"expected a naive date, got the tz-aware timestamp {day}")
    return day.normalize()


def _as_utc(announced: object) -> pd.Timestamp:
    moment = pd.Timestamp(announced)
    if moment.tz is None:
        raise ValueError(f"announcement time {moment} has no time zone")
    return moment.tz_convert("UTC")


def _as_sessions(sessions: Iterable) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(sessions).as_unit("ns")


def get_sessions(exchange: str, start: object, end: object) -> pd.DatetimeIndex:
    """Sessions of an exchange in ``[start, end]`` (both inclusive).

    Dates outside the calendar's bounds (the first date ``exchange_calendars`` knows for the
    exchange, e.g. 1997-01-01 for XTKS, to about a year after today) have no known sessions
    and are left out. ``FX`` sessions are all weekdays.

    Parameters
    ----------
    exchange : str
        ``XTKS``, ``XNYS`` (or any ``exchange_calendars`` name), or ``FX``.
    start, end : date-like
        Naive dates.

    Returns
    -------
    DatetimeIndex
        Naive, normalized session dates.

    Examples
    --------
    >>> [d.strftime("%m-%d") for d in get_sessions("XTKS", "2025-07-18", "2025-07-22")]
    ['07-18', '07-22']
    """
    start, end = _as_date(start), _as_date(end)
    if exchange == FX_EXCHANGE:
        return _as_sessions(pd.bdate_range(start, end))
    calendar = _calendar(exchange, earliest=start)
    start = max(start, calendar.first_session)
    end = min(end, calendar.last_session)
    if start > end:
        return _as_sessions([])
    return _as_sessions(calendar.sessions_in_range(start, end))


def _session_times(exchange: str, sessions: Iterable, which: str) -> pd.Series:
    """UTC open or close (``which``) of each session; non-sessions are an error."""
    index = _as_sessions(sessions)
    if exchange == FX_EXCHANGE:
        weekend = index[index.day_of_week >= 5]
        _require_no_extra(weekend, exchange)
        return pd.Series(index.tz_localize("UTC"), index=index, name=which)
    earliest = index.min() if len(index) else None
    times = getattr(_calendar(exchange, earliest), f"{which}s")
    _require_no_extra(index.difference(times.index), exchange)
    return times.reindex(index).rename(which)


def _require_no_extra(non_sessions: pd.DatetimeIndex, exchange: str) -> None:
    if len(non_sessions):
        shown = ", ".join(f"{day:%Y-%m-%d}" for day in non_sessions[:5])
        more = f" and {len(non_sessions) - 5} more" if len(non_sessions) > 5 else ""
        raise ValueError(f"not {exchange} sessions: {shown}{more}")


def session_closes(exchange: str, sessions: Iterable) -> pd.Series:
    """UTC close time of each session (``FX``: 00:00 UTC of the bar date).

    Examples
    --------
    >>> session_closes("XTKS", ["2024-11-01", "2024-11-05"]).dt.strftime("%H:%M").tolist()
    ['06:00', '06:30']
    """
    return _session_times(exchange, sessions, "close")


def session_opens(exchange: str, sessions: Iterable) -> pd.Series:
    """UTC open time of each session (``FX``: 00:00 UTC of the bar date, the same as the close).

    Examples
    --------
    >>> session_opens("XNYS", ["2025-04-09"]).iloc[0]
    Timestamp('2025-04-09 13:30:00+0000', tz='UTC')
    """
    return _session_times(exchange, sessions, "open")


def event_session(announced: pd.Timestamp, exchange: str) -> tuple[pd.Timestamp, bool]:
    """Day 0 of an announcement on an exchange, and whether that session is partial.

    Parameters
    ----------
    announced : Timestamp
        Tz-aware announcement time.
    exchange : str
        ``XTKS``, ``XNYS`` (or any ``exchange_calendars`` name), or ``FX``.

    Returns
    -------
    session : Timestamp
        Naive session date: the first session whose close is strictly later than ``announced``.
    partial : bool
        True when ``announced`` lies in ``[open, close)`` of that session.

    Raises
    ------
    EventStudyError
        When the announcement lies outside the calendar's bounds.

    Examples
    --------
    >>> event_session(pd.Timestamp("2025-04-09T13:18-04:00"), "XNYS")
    (Timestamp('2025-04-09 00:00:00'), True)
    >>> event_session(pd.Timestamp("2025-04-09T13:18-04:00"), "XTKS")
    (Timestamp('2025-04-10 00:00:00'), False)
    """
    moment = _as_utc(announced)
    if exchange == FX_EXCHANGE:
        return _fx_session(moment), False
    calendar = _calendar(exchange, earliest=_utc_date(moment) - pd.Timedelta(days=10))
    position = calendar.closes.searchsorted(moment, side="right")
    if position == 0 or position == len(calendar.closes):
        limit = (f"before its first known session {calendar.first_session:%Y-%m-%d}" if position == 0
                 else f"after its last known session {calendar.last_session:%Y-%m-%d}")
        raise EventStudyError(
            f"announcement {moment:%Y-%m-%d %H:%M} UTC is outside the {exchange} calendar "
            f"({limit}, as exchange_calendars knows it)"
        )
    session = calendar.closes.index[position]
    return session, bool(calendar.opens.iloc[position] <= moment)


def _utc_date(moment: pd.Timestamp) -> pd.Timestamp:
    return moment.tz_convert("UTC").tz_localize(None).normalize()


def _fx_session(moment: pd.Timestamp) -> pd.Timestamp:
    """First weekday whose 00:00 UTC is strictly after ``moment`` (a UTC timestamp)."""
    next_midnight = moment.tz_localize(None).normalize() + pd.Timedelta(days=1)
    return pd.offsets.BDay().rollforward(next_midnight)


def _rule(moment: pd.Timestamp, session: pd.Timestamp, partial: bool, exchange: str) -> str:
    """Short text naming the case of the mapping rule that decided day 0."""
    if exchange == FX_EXCHANGE:
        return RULE_FX
    if partial:
        return RULE_PARTIAL
    local_date = moment.tz_convert(timezone(exchange)).tz_localize(None).normalize()
    return RULE_BEFORE_OPEN if local_date == session else RULE_NEXT_SESSION


def default_exchanges(config: StudyConfig) -> list[str]:
    """Exchanges of the studied assets (file order) plus ``XNYS``.

    Examples
    --------
    >>> default_exchanges(load_config("events.yaml"))  # doctest: +SKIP
    ['XTKS', 'XNYS']
    """
    exchanges = [asset.exchange for asset in config.studied_assets] + [DEFAULT_EXCHANGE]
    return list(dict.fromkeys(exchanges))


def event_exchanges(config: StudyConfig, event: Event) -> list[str]:
    """Exchanges on which ``event`` needs a day 0: those of the studied assets it applies to and
    of their models' regressors (file order).

    An exchange no such asset trades on is never a reason to refuse the event (a 1998 event on
    Tokyo assets does not need the New York calendar).

    Examples
    --------
    >>> event_exchanges(config, config.events[0])  # doctest: +SKIP
    ['XTKS']
    """
    exchanges: dict[str, None] = {}
    for asset in config.studied_assets:
        if not event.applies_to(asset.ticker):
            continue
        exchanges[asset.exchange] = None
        for ticker in config.model_for(asset).tickers():
            exchanges[config.asset(ticker).exchange] = None
    return list(exchanges)


def _informative_exchanges(config: StudyConfig) -> list[str]:
    """Exchanges mapped for every event when their calendar covers it, needed or not: New York
    (shown beside Tokyo in reports) and those of volatility indices (level changes per event)."""
    indices = [a.exchange for a in config.assets if a.kind == "volatility_index"]
    return list(dict.fromkeys([DEFAULT_EXCHANGE, *indices]))


def _refusal(config: StudyConfig, event: Event, error: EventStudyError) -> ConfigError:
    """The calendar error of ``event`` as a one-line refusal naming the file, event and field."""
    where = str(config.path) if config.path is not None else "study"
    return ConfigError(f"{where}: event {event.id!r}: field 'announced': {error}")


def _mapping_row(event: Event, exchange: str) -> dict[str, object]:
    moment = _as_utc(event.announced)
    session, partial = event_session(moment, exchange)
    local = moment.tz_convert(timezone(exchange))
    return {
        "event_id": event.id,
        "exchange": exchange,
        "session": session,
        "partial": partial,
        "announced": moment,
        "announced_local": f"{local:%Y-%m-%d %H:%M %Z}",
        "rule": _rule(moment, session, partial, exchange),
    }


def map_events(config: StudyConfig, exchanges: Iterable[str] | None = None) -> pd.DataFrame:
    """Day 0 of every event on every exchange it needs, with the rule that decided it.

    Parameters
    ----------
    config : StudyConfig
    exchanges : iterable of str, optional
        Map every event on exactly these exchanges. Default: per event, the exchanges of
        :func:`event_exchanges` (refused when a calendar does not cover the announcement),
        plus ``XNYS`` and volatility-index exchanges where their calendar covers it.

    Returns
    -------
    DataFrame
        One row per (event, exchange), events in file order, with columns ``event_id,
        exchange, session`` (naive date), ``partial`` (bool), ``announced`` (UTC),
        ``announced_local`` (text in the exchange's time zone) and ``rule``.

    Raises
    ------
    ConfigError
        An announcement outside a needed exchange's calendar, naming the file, the event and
        the field ``announced``.

    Examples
    --------
    >>> table = map_events(load_config("events.yaml"), ["XTKS"])  # doctest: +SKIP
    >>> table.loc[table.event_id == "reciprocal-90day-pause", "announced_local"].item()  # doctest: +SKIP
    '2025-04-10 02:18 JST'
    """
    forced = None if exchanges is None else list(dict.fromkeys(exchanges))
    order = forced or list(
        dict.fromkeys([*default_exchanges(config), *_all_model_exchanges(config),
                       *_informative_exchanges(config)])
    )
    rows = []
    for event in config.events:
        needed = set(forced or event_exchanges(config, event))
        optional = set() if forced else set(_informative_exchanges(config)) - needed
        for exchange in order:
            if exchange in needed:
                rows.append(_needed_row(config, event, exchange))
            elif exchange in optional:
                rows.extend(_optional_rows(event, exchange))
    table = pd.DataFrame(rows, columns=list(MAP_COLUMNS))
    table["session"] = pd.to_datetime(table["session"]).astype("datetime64[ns]")
    table["partial"] = table["partial"].astype(bool)
    table["announced"] = pd.to_datetime(table["announced"], utc=True).astype("datetime64[ns, UTC]")
    return table


def _all_model_exchanges(config: StudyConfig) -> list[str]:
    return [config.asset(t).exchange for a in config.studied_assets
            for t in config.model_for(a).tickers()]


def _needed_row(config: StudyConfig, event: Event, exchange: str) -> dict[str, object]:
    try:
        return _mapping_row(event, exchange)
    except EventStudyError as error:
        raise _refusal(config, event, error) from None


def _optional_rows(event: Event, exchange: str) -> list[dict[str, object]]:
    try:
        return [_mapping_row(event, exchange)]
    except EventStudyError:
        return []


def session_table(config: StudyConfig) -> pd.DataFrame:
    """Tokyo and New York day 0 of every event, as printed by ``eventstudy events check``.

    Returns
    -------
    DataFrame
        One row per event (file order) with columns ``id, category, announced`` (ISO 8601 with
        the file's offset), ``tokyo_session, tokyo_partial, new_york_session,
        new_york_partial`` (sessions as ``YYYY-MM-DD`` text).

    Examples
    --------
    >>> table = session_table(load_config("events.yaml"))  # doctest: +SKIP
    >>> table.set_index("id").loc["liberation-day-reciprocal-tariffs"].tolist()[1:]  # doctest: +SKIP
    ['tariff_announcement', '2025-04-02T16:00:00-04:00', '2025-04-03', False, '2025-04-03', False]
    """
    rows = []
    for event in config.events:
        needed = event_exchanges(config, event)
        tokyo, tokyo_partial = _session_cells(config, event, "XTKS", needed)
        new_york, new_york_partial = _session_cells(config, event, "XNYS", needed)
        rows.append(
            {
                "id": event.id,
                "category": event.category,
                "announced": event.announced.isoformat(),
                "tokyo_session": tokyo,
                "tokyo_partial": tokyo_partial,
                "new_york_session": new_york,
                "new_york_partial": new_york_partial,
            }
        )
    return pd.DataFrame(rows, columns=list(SESSION_TABLE_COLUMNS))


def _session_cells(
    config: StudyConfig, event: Event, exchange: str, needed: list[str]
) -> tuple[str, bool | None]:
    """Day 0 as text and its partial flag; blank when the calendar does not cover an exchange
    the event does not need (refused when it needs it)."""
    try:
        session, partial = event_session(event.announced, exchange)
    except EventStudyError as error:
        if exchange in needed:
            raise _refusal(config, event, error) from None
        return "", None
    return f"{session:%Y-%m-%d}", partial
