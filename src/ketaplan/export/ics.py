"""iCalendar (RFC 5545) export of a treatment course, for the clinic's or patient's calendar.

Built with the ``icalendar`` package rather than by hand: RFC 5545 line folding, escaping and
VTIMEZONE blocks are easy to get subtly wrong. What this module decides:

- Times are written in the clinic's IANA zone with ``TZID`` and a ``VTIMEZONE`` for it that
  covers the course's dates (a stored schedule holds fixed UTC offsets such as ``-08:00``,
  which are converted back to the zone first; written as they were, they came out as
  ``TZID=UTC-08:00`` with no definition, which calendar applications read as floating or UTC
  times).
- A session's UID names the clinic, the course and the session number
  (``clinic3-course17-session2@ketaplan``): unique across patients, and the same when the
  course is exported again or the session moves, so a calendar application updates the
  appointment instead of duplicating it. ``SEQUENCE`` is the course's reschedule count, so the
  moved appointment wins over the copy the calendar already has.
- The summary is the clinic's neutral title (clinic setting ``calendar_title``), never the
  protocol: the protocol names the diagnosis, and a phone's calendar is read by whoever holds
  the phone. The location is the clinic's name and address.

Series sessions are timed events; the reassessment and proposed boosters (the command line's
what-if only) are all-day events, TENTATIVE because a prescriber has yet to confirm them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from ketaplan.clinical.course import BoosterPlan, CoursePlan

PRODID = "-//ketaplan//treatment course//EN"
DESCRIPTION = "Infusion and recovery. Arrange an escort home; no driving until the next day."


@dataclass(frozen=True, slots=True)
class CalendarHeading:
    """Who the events come from and what they are called (the clinic's settings)."""

    clinic_key: str
    """Unique per clinic in the UIDs: ``clinic3``, or ``draft`` for a course never saved."""
    clinic_name: str
    address: str
    title: str
    time_zone: str

    @property
    def location(self) -> str:
        return ", ".join(part for part in (self.clinic_name, self.address) if part)


def _uid(heading: CalendarHeading, course_key: str, *parts: str) -> str:
    return "-".join((heading.clinic_key, course_key, *parts)) + "@ketaplan"


def _event(
    uid: str,
    stamp: datetime,
    summary: str,
    start: datetime | date,
    end: datetime | date,
    *,
    status: str,
    sequence: int,
) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("sequence", sequence)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("status", status)
    return event


def course_to_ics(
    plan: CoursePlan,
    *,
    heading: CalendarHeading,
    course_key: str,
    stamp: datetime,
    sequence: int = 0,
    boosters: BoosterPlan | None = None,
) -> bytes:
    """The course as an ``.ics`` document.

    ``course_key`` is unique within the clinic (``course17``); ``stamp`` (aware) is the
    DTSTAMP of every event; ``sequence`` the number of times the course was rescheduled.
    """
    zone = ZoneInfo(heading.time_zone)
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{heading.clinic_name}: {heading.title}")
    cal.add("x-wr-timezone", heading.time_zone)
    total = len(plan.sessions)
    days: list[date] = []
    for session in plan.sessions:
        start, end = session.start.astimezone(zone), session.end.astimezone(zone)
        days.append(start.date())
        event = _event(
            _uid(heading, course_key, f"session{session.number}"),
            stamp,
            f"{heading.title} ({session.number} of {total})",
            start,
            end,
            status="CONFIRMED",
            sequence=sequence,
        )
        event.add("description", DESCRIPTION)
        event.add("location", heading.location)
        cal.add_component(event)
    if boosters is not None:
        day = boosters.reassess_on
        days.append(day)
        cal.add_component(
            _event(
                _uid(heading, course_key, "reassessment"),
                stamp,
                f"{heading.title}: reassessment",
                day,
                day + timedelta(days=1),
                status="TENTATIVE",
                sequence=sequence,
            )
        )
        for index, recommendation in enumerate(boosters.recommendations, start=1):
            for booster_day in recommendation.dates:
                days.append(booster_day)
                event = _event(
                    _uid(heading, course_key, f"booster{index}", booster_day.strftime("%Y%m%d")),
                    stamp,
                    f"{heading.title}: proposed booster (to be confirmed)",
                    booster_day,
                    booster_day + timedelta(days=1),
                    status="TENTATIVE",
                    sequence=sequence,
                )
                event.add("location", heading.location)
                cal.add_component(event)
    if days:
        # The zone's rules from a year before the first event to a year after the last: enough
        # for any reader, and unlike icalendar's default range (1970-2038) never too short.
        first, last = min(days), max(days)
        cal.add_missing_timezones(
            first_date=date(first.year - 1, 1, 1), last_date=date(last.year + 2, 1, 1)
        )
    document: bytes = cal.to_ical()
    return document
