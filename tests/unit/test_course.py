"""Course scheduling against a clinic calendar, rescheduling, boosters, and the .ics export."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ketaplan.clinical.calendar import ClinicCalendar, violations
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar
from ketaplan.clinical.course import (
    ScoreRecord,
    Spacing,
    course_plan_from_dict,
    plan_boosters,
    reschedule,
    schedule_series,
)
from ketaplan.errors import CatalogError, InputError

START = date(2026, 12, 7)  # a Monday


def test_a_depression_series_is_six_sessions_within_three_weeks(catalog: Catalog) -> None:
    protocol = catalog.protocol("depression")
    plan = schedule_series(protocol, START, load_calendar())
    days = [s.start.date() for s in plan.sessions]
    assert len(days) == 6
    assert days[0] == START
    assert (days[-1] - days[0]).days + 1 <= 21
    assert plan.completes_within_window
    assert all(s.start.tzinfo is not None for s in plan.sessions)


def test_the_series_skips_holidays_and_closed_days(catalog: Catalog) -> None:
    plan = schedule_series(catalog.protocol("depression"), date(2026, 12, 21), load_calendar())
    days = [s.start.date() for s in plan.sessions]
    assert date(2026, 12, 25) not in days
    assert date(2027, 1, 1) not in days
    assert all(d.weekday() < 5 for d in days)


def test_a_missed_session_moves_the_rest_and_keeps_the_earlier_ones(catalog: Catalog) -> None:
    protocol = catalog.protocol("depression")
    calendar = load_calendar()
    plan = schedule_series(protocol, START, calendar)
    moved = reschedule(plan, protocol, calendar, 3)
    assert moved.sessions[:2] == plan.sessions[:2]
    assert [m.number for m in moved.missed] == [3]
    assert moved.missed[0].status == "missed"
    assert moved.sessions[2].start > plan.sessions[2].start
    assert len(moved.sessions) == 6
    assert moved.completes_within_window


def test_a_course_that_cannot_complete_in_its_window_says_why(catalog: Catalog) -> None:
    protocol = catalog.protocol("depression")
    calendar = load_calendar()
    plan = schedule_series(protocol, START, calendar)
    moved = reschedule(plan, protocol, calendar, 5, "cancelled", from_date=date(2026, 12, 24))
    assert not moved.completes_within_window
    assert "cannot complete within 21 days" in moved.problems[0]
    assert moved.missed[0].status == "cancelled"
    assert (
        violations(
            [s.start for s in moved.sessions],
            calendar,
            moved.spacing.length_min,
            moved.spacing.min_hours_between,
            moved.spacing.max_per_week,
        )
        == []
    )


def test_rescheduling_a_session_that_does_not_exist_is_an_input_error(catalog: Catalog) -> None:
    protocol = catalog.protocol("depression")
    calendar = load_calendar()
    plan = schedule_series(protocol, START, calendar)
    with pytest.raises(InputError, match="no session 7"):
        reschedule(plan, protocol, calendar, 7)


def test_a_clinic_calendar_file_in_json_replaces_open_days(
    tmp_path: Path, catalog: Catalog
) -> None:
    path = tmp_path / "calendar.json"
    path.write_text(
        '{"calendar": {"open_weekdays": ["tue", "thu", "sat"], "session_times": ["10:00"]}}'
    )
    calendar = load_calendar(path)
    plan = schedule_series(catalog.protocol("depression"), START, calendar)
    assert {s.start.strftime("%a") for s in plan.sessions} <= {"Tue", "Thu", "Sat"}
    assert all(s.start.time() == time(10) for s in plan.sessions)


def test_a_calendar_with_a_bad_weekday_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "calendar.toml"
    path.write_text('[calendar]\nopen_weekdays = ["monday", "funday"]\n')
    with pytest.raises(
        CatalogError, match=r"calendar.toml: calendar.open_weekdays: expected weekdays"
    ):
        load_calendar(path)


def test_mood_boosters_come_after_reassessment_within_three_to_six_weeks(catalog: Catalog) -> None:
    protocol = catalog.protocol("depression")
    boosters = plan_boosters(protocol, date(2026, 12, 21), load_calendar())
    assert boosters.reassess_on == date(2027, 1, 18)
    (maintenance,) = boosters.recommendations
    assert maintenance.trigger == "maintenance"
    assert maintenance.window == (date(2027, 1, 11), date(2027, 2, 1))
    assert maintenance.dates == (date(2027, 1, 19),)  # 18 January is a clinic holiday
    assert "3-6 weeks" in maintenance.reason


def test_pain_boosters_are_a_pair_on_consecutive_open_days(catalog: Catalog) -> None:
    protocol = catalog.protocol("fibromyalgia")
    boosters = plan_boosters(protocol, date(2026, 12, 21), load_calendar())
    (maintenance,) = boosters.recommendations
    first, second = maintenance.dates
    assert second - first == timedelta(days=1)
    assert "2 infusions on consecutive days" in maintenance.reason


def test_a_relapse_after_the_series_recommends_a_booster_with_its_reason(catalog: Catalog) -> None:
    protocol = catalog.protocol("depression")
    boosters = plan_boosters(
        protocol,
        date(2026, 12, 21),
        load_calendar(),
        {"phq9": 4},
        [ScoreRecord(date(2027, 1, 5), "phq9", 6), ScoreRecord(date(2027, 1, 12), "phq9", 12)],
    )
    relapse = boosters.recommendations[0]
    assert relapse.trigger == "relapse"
    assert relapse.dates == (date(2027, 1, 13),)
    assert "phq9 4 at the end of the series -> 12: relapse, out of remission" in relapse.reason
    assert boosters.recommendations[1].trigger == "maintenance"


def test_the_ics_export_has_one_timed_event_per_session_and_tentative_boosters(
    catalog: Catalog,
) -> None:
    from icalendar import Calendar

    from ketaplan.export.ics import course_to_ics
    from ketaplan.services.course_calendar import draft_heading

    protocol = catalog.protocol("depression")
    calendar = load_calendar()
    plan = schedule_series(protocol, START, calendar)
    boosters = plan_boosters(protocol, plan.series_end, calendar)
    stamp = datetime(2026, 11, 24, tzinfo=UTC)
    heading = draft_heading(catalog, calendar.time_zone)
    document = course_to_ics(
        plan, heading=heading, course_key="course1", stamp=stamp, boosters=boosters
    )
    assert document == course_to_ics(
        plan, heading=heading, course_key="course1", stamp=stamp, boosters=boosters
    )  # stable UIDs
    assert b"Depression" not in document  # no diagnosis in the calendar
    parsed = Calendar.from_ical(document)
    events = parsed.walk("VEVENT")
    timed = [e for e in events if e.get("status") == "CONFIRMED"]
    assert len(timed) == 6
    assert timed[0].decoded("dtstart") == plan.sessions[0].start
    assert {str(e.get("status")) for e in events} == {"CONFIRMED", "TENTATIVE"}
    assert parsed.walk("VTIMEZONE")


# ------------------------------------------------------------------ property ----------

PROTOCOLS = ["depression", "crps", "neuropathic_pain", "fibromyalgia", "chronic_pain"]


@st.composite
def calendars(draw: st.DrawFn) -> ClinicCalendar:
    days = draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))
    opening = draw(st.integers(6, 10))
    closing = draw(st.integers(opening + 5, 21))
    times = draw(st.sets(st.integers(opening, closing - 1), min_size=1, max_size=3))
    holidays = draw(st.sets(st.integers(0, 60), max_size=8))
    return ClinicCalendar(
        time_zone=draw(st.sampled_from(["America/Los_Angeles", "Europe/Berlin", "UTC"])),
        open_weekdays=frozenset(days),
        open_time=time(opening),
        close_time=time(closing),
        session_times=tuple(time(h) for h in sorted(times)),
        holidays=frozenset(START + timedelta(days=d) for d in holidays),
        min_hours_between=draw(st.sampled_from([0, 12, 20, 24, 48])),
        max_per_week=draw(st.integers(1, 6)),
    )


@settings(max_examples=80, deadline=None)
@given(
    calendars(),
    st.sampled_from(PROTOCOLS),
    st.integers(0, 40),
    st.lists(st.tuples(st.integers(1, 10), st.integers(0, 5)), max_size=3),
)
def test_a_rescheduled_course_never_breaks_a_calendar_constraint(
    catalog: Catalog,
    calendar: ClinicCalendar,
    condition: str,
    start_offset: int,
    changes: list[tuple[int, int]],
) -> None:
    protocol = catalog.protocol(condition)
    try:
        plan = schedule_series(protocol, START + timedelta(days=start_offset), calendar)
        for number, delay in changes:
            number = min(number, len(plan.sessions))
            missed_day = plan.sessions[number - 1].start.astimezone(calendar.zone).date()
            plan = reschedule(
                plan, protocol, calendar, number, from_date=missed_day + timedelta(days=delay)
            )
    except InputError as error:  # a calendar that offers no slot at all says so
        full = error.code == "input.calendar_full"
        if not full:
            raise
        event("calendar offers no slot")
        return
    event("scheduled")
    spacing = Spacing.of(protocol, calendar)
    starts = [s.start for s in plan.sessions]
    assert len(starts) == protocol.series.sessions
    assert [s.number for s in plan.sessions] == list(range(1, protocol.series.sessions + 1))
    assert (
        violations(
            starts, calendar, spacing.length_min, spacing.min_hours_between, spacing.max_per_week
        )
        == []
    )
    last = plan.sessions[-1].start.astimezone(calendar.zone).date()
    assert plan.completes_within_window == (last <= plan.window_last_day)
    assert plan.completes_within_window or plan.problems


def test_hours_between_infusions_are_real_hours_across_a_daylight_saving_change() -> None:
    calendar = ClinicCalendar(
        time_zone="America/Los_Angeles",
        open_weekdays=frozenset(range(7)),
        open_time=time(8),
        close_time=time(17),
        session_times=(time(9),),
        holidays=frozenset(),
        min_hours_between=24,
        max_per_week=7,
    )
    saturday = calendar.appointment(date(2027, 3, 13), time(9))
    sunday = calendar.appointment(date(2027, 3, 14), time(9))  # clocks went forward at 02:00
    assert violations([saturday, sunday], calendar, 60, 24, 7) == [
        f"{saturday.isoformat()} and {sunday.isoformat()} are 23 h apart, less than 24 h"
    ]


def test_follow_up_without_an_end_of_series_score_is_reported_not_ignored(catalog: Catalog) -> None:
    boosters = plan_boosters(
        catalog.protocol("depression"),
        date(2026, 12, 21),
        load_calendar(),
        {},
        [ScoreRecord(date(2027, 1, 12), "gad7", 14)],
    )
    (check,) = boosters.relapses
    assert not check.relapsed
    assert "no gad7 score from the end of the series" in check.reason


def test_a_stored_course_reads_back_as_the_same_plan_and_reschedules_alike(
    catalog: Catalog,
) -> None:
    depression = catalog.protocol("depression")
    calendar = load_calendar()
    plan = reschedule(
        schedule_series(depression, date(2026, 12, 7), calendar), depression, calendar, 2
    )
    stored = course_plan_from_dict(plan.to_dict())
    assert stored == plan
    assert reschedule(stored, depression, calendar, 4) == reschedule(plan, depression, calendar, 4)


def test_a_damaged_stored_course_is_an_input_error_not_a_crash() -> None:
    with pytest.raises(InputError, match="stored course schedule") as refused:
        course_plan_from_dict({"protocol": "depression", "sessions": "?"})
    assert refused.value.code == "input.damaged_schedule"
