"""Exchange-aware event timing: the 46 reference events, hand cases and the rule as a property."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventstudy import calendars
from eventstudy.calendars import (
    MAP_COLUMNS,
    SESSION_TABLE_COLUMNS,
    event_session,
    get_sessions,
    map_events,
    session_closes,
    session_opens,
    session_table,
)
from eventstudy.errors import ConfigError, EventStudyError
from eventstudy.events import StudyConfig, load_config

FIXTURE = Path(__file__).parent / "fixtures" / "events" / "minimal.yaml"


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# --- the 46 reference events -------------------------------------------------------------------


def test_tokyo_day0_matches_reference_for_all_events(reference_events: list[dict]):
    assert len(reference_events) == 46
    wrong = []
    for event in reference_events:
        session, _ = event_session(pd.Timestamp(event["announced"]), "XTKS")
        if f"{session:%Y-%m-%d}" != event["first_tokyo_session"]:
            wrong.append((event["id"], f"{session:%Y-%m-%d}", event["first_tokyo_session"]))
    assert wrong == []


def test_new_york_day0_matches_reference_where_unambiguous(reference_events: list[dict]):
    checked, wrong = 0, []
    for event in reference_events:
        if event["us_timing"].startswith("ambiguous"):
            continue
        checked += 1
        session, _ = event_session(pd.Timestamp(event["announced"]), "XNYS")
        if f"{session:%Y-%m-%d}" != event["first_us_session"]:
            wrong.append((event["id"], f"{session:%Y-%m-%d}", event["first_us_session"]))
    assert checked == 37
    assert wrong == []


def test_partial_flags_match_reference_timing(reference_events: list[dict]):
    for event in reference_events:
        announced = pd.Timestamp(event["announced"])
        if event["tokyo_timing"] in ("intraday", "pre-open"):
            expected = event["tokyo_timing"] == "intraday"
            assert event_session(announced, "XTKS")[1] is expected, event["id"]
        if event["us_timing"].startswith(("yes", "first US session")):
            expected = event["us_timing"].startswith("yes")
            assert event_session(announced, "XNYS")[1] is expected, event["id"]


def test_session_table_of_the_study_matches_reference(
    study: StudyConfig, reference_events: list[dict]
):
    table = session_table(study)
    assert tuple(table.columns) == SESSION_TABLE_COLUMNS
    assert table["id"].tolist() == [e["id"] for e in reference_events]
    assert table["tokyo_session"].tolist() == [e["first_tokyo_session"] for e in reference_events]
    liberation = table.set_index("id").loc["liberation-day-reciprocal-tariffs"]
    assert liberation.to_dict() == {
        "category": "tariff_announcement",
        "announced": "2025-04-02T16:00:00-04:00",
        "tokyo_session": "2025-04-03",
        "tokyo_partial": False,
        "new_york_session": "2025-04-03",
        "new_york_partial": False,
    }


# --- hand cases --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("announced", "exchange", "session", "partial"),
    [
        # Liberation Day, 16:00 EDT = 05:00 JST: before both opens on 3 April.
        ("2025-04-02T16:00:00-04:00", "XTKS", "2025-04-03", False),
        ("2025-04-02T16:00:00-04:00", "XNYS", "2025-04-03", False),
        # 90-day pause, 13:18 EDT: inside the New York session; Tokyo has closed.
        ("2025-04-09T13:18:00-04:00", "XNYS", "2025-04-09", True),
        ("2025-04-09T13:18:00-04:00", "XTKS", "2025-04-10", False),
        # The Tokyo close (15:30 JST since 5 Nov 2024) is excluded, the open included.
        ("2025-04-08T15:29:00+09:00", "XTKS", "2025-04-08", True),
        ("2025-04-08T15:30:00+09:00", "XTKS", "2025-04-09", False),
        ("2025-04-08T09:00:00+09:00", "XTKS", "2025-04-08", True),
        ("2025-04-08T08:59:00+09:00", "XTKS", "2025-04-08", False),
        # The lunch break (11:30-12:30 JST) counts as inside the session.
        ("2025-04-08T12:00:00+09:00", "XTKS", "2025-04-08", True),
        # Friday evening -> Monday, on both exchanges.
        ("2025-06-13T19:00:00+09:00", "XTKS", "2025-06-16", False),
        ("2025-06-13T17:00:00-04:00", "XNYS", "2025-06-16", False),
        # TSE holiday (Marine Day, Mon 21 Jul 2025) -> next session.
        ("2025-07-21T10:00:00+09:00", "XTKS", "2025-07-22", False),
        # Before 5 Nov 2024 Tokyo closed at 15:00: 15:10 JST is after the close ...
        ("2024-11-01T15:10:00+09:00", "XTKS", "2024-11-05", False),
        # ... afterwards it is inside the session.
        ("2024-11-05T15:10:00+09:00", "XTKS", "2024-11-05", True),
        # NYSE closed on 9 Jan 2025 (national day of mourning for President Carter).
        ("2025-01-09T10:00:00-05:00", "XNYS", "2025-01-10", False),
        ("2025-01-08T17:00:00-05:00", "XNYS", "2025-01-10", False),
        # NYSE early close (13:00 EDT) on 3 Jul 2025: 14:00 is after it.
        ("2025-07-03T14:00:00-04:00", "XNYS", "2025-07-07", False),
        # Offsets other than the exchange's own: 21:00 UTC = 06:00 JST next day.
        ("2025-04-07T21:00:00+00:00", "XTKS", "2025-04-08", False),
    ],
)
def test_event_session_hand_cases(announced: str, exchange: str, session: str, partial: bool):
    assert event_session(pd.Timestamp(announced), exchange) == (day(session), partial)


@pytest.mark.parametrize(
    ("announced", "session"),
    [
        ("2025-04-02T20:00:00+00:00", "2025-04-03"),  # evening UTC -> next bar date
        ("2025-04-03T00:00:00+00:00", "2025-04-04"),  # exactly at the 00:00 quote -> next one
        ("2025-04-02T23:59:00+00:00", "2025-04-03"),
        ("2025-06-13T21:00:00+00:00", "2025-06-16"),  # Friday evening -> Monday
        ("2025-07-21T10:00:00+09:00", "2025-07-22"),  # no Tokyo holidays in FX
        ("2025-12-24T20:00:00+00:00", "2025-12-25"),  # no holidays at all: weekdays only
    ],
)
def test_fx_sessions_are_weekday_midnight_quotes(announced: str, session: str):
    assert event_session(pd.Timestamp(announced), "FX") == (day(session), False)


def test_naive_announcement_is_refused():
    with pytest.raises(ValueError, match="no time zone"):
        event_session(pd.Timestamp("2025-04-02 16:00"), "XTKS")


def test_announcement_outside_the_calendar_is_an_event_study_error():
    with pytest.raises(EventStudyError, match="outside the XTKS calendar"):
        event_session(pd.Timestamp("1996-06-01T12:00:00+09:00"), "XTKS")
    with pytest.raises(EventStudyError, match="outside the XNYS calendar"):
        event_session(pd.Timestamp("2099-06-01T12:00:00-04:00"), "XNYS")


def test_unknown_exchange_is_a_value_error():
    with pytest.raises(ValueError, match="unknown exchange 'TSE'"):
        event_session(pd.Timestamp("2025-04-02T16:00:00-04:00"), "TSE")


# --- sessions, opens, closes -------------------------------------------------------------------


def test_get_sessions_skips_holidays():
    tokyo = get_sessions("XTKS", "2025-07-17", "2025-07-23")
    assert [f"{d:%m-%d}" for d in tokyo] == ["07-17", "07-18", "07-22", "07-23"]
    new_york = get_sessions("XNYS", "2025-01-08", "2025-01-10")
    assert list(new_york) == [day("2025-01-08"), day("2025-01-10")]
    assert tokyo.tz is None and (tokyo == tokyo.normalize()).all()


def test_get_sessions_fx_are_all_weekdays():
    fx = get_sessions("FX", "2025-12-24", "2025-12-30")
    assert [f"{d:%m-%d}" for d in fx] == ["12-24", "12-25", "12-26", "12-29", "12-30"]


def test_get_sessions_outside_bounds_and_empty_ranges():
    early = get_sessions("XTKS", "1990-01-01", "2000-01-10")
    assert early[0] == day("1997-01-06")  # the first session exchange_calendars knows for XTKS
    assert get_sessions("XNYS", "1998-03-02", "1998-03-04").tolist() == [
        day("1998-03-02"), day("1998-03-03"), day("1998-03-04")
    ]
    assert len(get_sessions("XTKS", "2025-07-21", "2025-07-21")) == 0
    assert len(get_sessions("XTKS", "1980-01-01", "1985-01-01")) == 0


def test_session_closes_follow_the_tokyo_close_change():
    closes = session_closes("XTKS", pd.DatetimeIndex(["2024-11-01", "2024-11-05"]))
    assert list(closes) == [
        pd.Timestamp("2024-11-01 06:00", tz="UTC"),
        pd.Timestamp("2024-11-05 06:30", tz="UTC"),
    ]
    assert list(closes.index) == [day("2024-11-01"), day("2024-11-05")]


def test_session_opens_and_closes_in_utc():
    sessions = get_sessions("XNYS", "2025-03-07", "2025-03-10")  # US DST starts 9 Mar 2025
    opens = session_opens("XNYS", sessions)
    assert [f"{t:%H:%M}" for t in opens] == ["14:30", "13:30"]
    assert str(opens.dt.tz) == "UTC"
    assert session_opens("XTKS", ["2025-04-03"]).iloc[0] == pd.Timestamp(
        "2025-04-03 00:00", tz="UTC"
    )


def test_fx_open_equals_close_at_midnight_utc():
    sessions = get_sessions("FX", "2025-04-03", "2025-04-04")
    expected = [pd.Timestamp("2025-04-03", tz="UTC"), pd.Timestamp("2025-04-04", tz="UTC")]
    assert list(session_closes("FX", sessions)) == expected
    assert list(session_opens("FX", sessions)) == expected


def test_non_sessions_are_refused():
    with pytest.raises(ValueError, match="not XTKS sessions: 2025-07-21"):
        session_closes("XTKS", ["2025-07-18", "2025-07-21"])
    with pytest.raises(ValueError, match="not FX sessions: 2025-04-05"):
        session_opens("FX", ["2025-04-05"])


# --- map_events --------------------------------------------------------------------------------


def test_map_events_default_exchanges_and_columns(study: StudyConfig):
    table = map_events(study)
    assert tuple(table.columns) == MAP_COLUMNS
    assert len(table) == 2 * len(study.events)
    assert table["exchange"].unique().tolist() == ["XTKS", "XNYS"]
    assert table["event_id"].iloc[0] == table["event_id"].iloc[1] == study.events[0].id
    assert str(table["announced"].dt.tz) == "UTC"
    assert table["session"].dt.tz is None
    assert table["partial"].dtype == bool


def test_map_events_rules_and_local_times(study: StudyConfig):
    table = map_events(study, ["XTKS", "XNYS", "FX"]).set_index(["event_id", "exchange"])
    liberation = table.loc[("liberation-day-reciprocal-tariffs", "XTKS")]
    assert liberation["announced_local"] == "2025-04-03 05:00 JST"
    assert liberation["rule"] == calendars.RULE_BEFORE_OPEN
    assert liberation["announced"] == pd.Timestamp("2025-04-02 20:00", tz="UTC")
    pause = table.loc[("reciprocal-90day-pause", "XNYS")]
    assert (pause["session"], pause["partial"]) == (day("2025-04-09"), True)
    assert pause["announced_local"] == "2025-04-09 13:18 EDT"
    assert pause["rule"] == calendars.RULE_PARTIAL
    call = table.loc[("ishiba-trump-call-apr7", "XTKS")]
    assert (call["session"], call["rule"]) == (day("2025-04-08"), calendars.RULE_NEXT_SESSION)
    election = table.loc[("upper-house-election", "XTKS")]
    assert (election["session"], election["rule"]) == (
        day("2025-07-22"),
        calendars.RULE_NEXT_SESSION,
    )
    fx = table.loc[("liberation-day-reciprocal-tariffs", "FX")]
    assert (fx["session"], fx["partial"], fx["rule"]) == (
        day("2025-04-03"),
        False,
        calendars.RULE_FX,
    )
    assert fx["announced_local"] == "2025-04-02 20:00 UTC"


def test_map_events_fixture_includes_studied_exchanges_only():
    config = load_config(FIXTURE)  # ^SOX (XNYS) and JPY=X (FX) are benchmarks only
    assert calendars.default_exchanges(config) == ["XTKS", "XNYS"]
    assert map_events(config, ["FX", "FX"])["exchange"].tolist() == ["FX", "FX"]


# --- the rule as a property ----------------------------------------------------------------------

MOMENTS = st.datetimes(
    min_value=pd.Timestamp("2016-01-01").to_pydatetime(),
    max_value=pd.Timestamp("2026-06-30").to_pydatetime(),
)


@settings(max_examples=300, deadline=None)
@given(moment=MOMENTS, exchange=st.sampled_from(["XTKS", "XNYS"]))
def test_day0_is_the_first_session_closing_after_the_announcement(moment, exchange: str):
    announced = pd.Timestamp(moment, tz="UTC")
    session, partial = event_session(announced, exchange)
    window = get_sessions(exchange, session - pd.Timedelta(days=20), session)
    closes = session_closes(exchange, window)
    assert closes.index[-1] == session
    assert closes.iloc[-1] > announced >= closes.iloc[-2]
    assert partial == (session_opens(exchange, [session]).iloc[0] <= announced)


# --- which exchanges an event needs, and refusals naming the file and event ----------------------

OLD_STUDY = """
study: {{name: old, returns: simple, estimation_window: [-120, -11], event_windows: [[0, 1]],
        exclude_other_events: true, min_estimation_returns: 60, model: {{name: constant_mean}}}}
assets:
  - {{ticker: ^N225, name: Nikkei 225, group: index}}
  - {{ticker: ^SOX, name: PHLX Semiconductor, group: us}}
events:
  - {{id: tokyo-only, title: T, category: other, announced: '{tokyo}', sources: [S], assets: [^N225]}}
  - {{id: both, title: B, category: other, announced: '2025-04-02T16:00:00-04:00', sources: [S]}}
"""


def _old_study(tokyo: str, tmp_path: Path) -> StudyConfig:
    from eventstudy.events import parse_config

    return parse_config(OLD_STUDY.format(tokyo=tokyo), tmp_path / "old.yaml")


def test_an_event_maps_only_the_exchanges_its_assets_need(tmp_path):
    config = _old_study("1998-03-02T10:00:00-05:00", tmp_path)
    assert calendars.event_exchanges(config, config.events[0]) == ["XTKS"]
    assert calendars.event_exchanges(config, config.events[1]) == ["XTKS", "XNYS"]
    table = map_events(config).set_index(["event_id", "exchange"])
    assert table.loc[("tokyo-only", "XTKS"), "session"] == day("1998-03-03")  # 00:00 JST, before the open
    # New York is informative only, mapped because its calendar covers 1998:
    assert table.loc[("tokyo-only", "XNYS"), "session"] == day("1998-03-02")


def test_announcement_outside_a_needed_calendar_names_file_event_and_field(tmp_path):
    config = _old_study("1996-03-02T16:00:00-05:00", tmp_path)
    with pytest.raises(ConfigError) as refused:
        map_events(config)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / 'old.yaml'}: event 'tokyo-only': field 'announced':")
    assert "outside the XTKS calendar (before its first known session 1997-01-06" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="event 'tokyo-only': field 'announced'"):
        session_table(config)


def test_an_exchange_the_event_does_not_need_is_left_blank_not_refused(tmp_path):
    config = _old_study("2025-04-07T10:00:00+09:00", tmp_path)
    future = dataclasses.replace(
        config.events[0], id="future", announced=pd.Timestamp("2031-01-06T10:00:00+09:00")
    )
    tokyo_only = dataclasses.replace(
        config, events=(config.events[0],), assets=(config.assets[0],)
    )
    assert map_events(tokyo_only)["exchange"].tolist() == ["XTKS", "XNYS"]
    with pytest.raises(ConfigError, match="event 'future': field 'announced'"):
        map_events(dataclasses.replace(tokyo_only, events=(future,)))
    us_only = dataclasses.replace(
        config, events=(dataclasses.replace(config.events[1], announced=pd.Timestamp(
            "1996-06-03T16:00:00-04:00")),), assets=(config.assets[1],)
    )
    assert map_events(us_only)["exchange"].tolist() == ["XNYS"]
    row = session_table(us_only).iloc[0]
    assert (row["tokyo_session"], row["tokyo_partial"]) == ("", None)
    assert row["new_york_session"] == "1996-06-04"


@pytest.mark.parametrize("exchange, start", [("XTKS", "2000-01-01"), ("XNYS", "2000-01-01"),
                                             ("XLON", "2019-01-01"), ("XTKS", "1997-01-01")])
def test_calendars_built_with_narrowed_holiday_rules_equal_a_default_build(exchange: str, start: str):
    """The narrowed holiday range speeds the build only: every session, open and close is the
    same as exchange_calendars' own build, and pandas' defaults are back afterwards."""
    import exchange_calendars as xcals
    from pandas.tseries.holiday import AbstractHolidayCalendar

    defaults = AbstractHolidayCalendar.start_date, AbstractHolidayCalendar.end_date
    built = calendars._build_calendar(exchange, pd.Timestamp(start))
    assert (AbstractHolidayCalendar.start_date, AbstractHolidayCalendar.end_date) == defaults
    reference = xcals.get_calendar(exchange, start=start, end=built.last_session)
    assert built.sessions.equals(reference.sessions)
    assert built.opens.equals(reference.opens)
    assert built.closes.equals(reference.closes)
    assert len(built.sessions) > 200 * (built.last_session.year - built.first_session.year)


def test_holiday_defaults_come_back_when_a_build_fails():
    from pandas.tseries.holiday import AbstractHolidayCalendar

    defaults = AbstractHolidayCalendar.start_date, AbstractHolidayCalendar.end_date
    with pytest.raises(ValueError, match="unknown exchange 'NOPE'"):
        calendars._build_calendar("NOPE", pd.Timestamp("2020-01-01"))
    assert (AbstractHolidayCalendar.start_date, AbstractHolidayCalendar.end_date) == defaults
