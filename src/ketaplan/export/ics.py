"""iCalendar (RFC 5545) export of a treatment course, for the clinic's or patient's calendar.

Built with the ``icalendar`` package rather than by hand: RFC 5545 line folding, escaping and
the VTIMEZONE blocks for aware times are easy to get subtly wrong. Series sessions are timed
events in the clinic's zone; the reassessment and proposed boosters are all-day events, the
boosters TENTATIVE because a prescriber has yet to confirm them.

UIDs are derived from the course (protocol, number, start), so exporting the same course twice
gives the same events and a calendar application updates rather than duplicates them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event

from ketaplan.clinical.course import BoosterPlan, CoursePlan


def _uid(*parts: str) -> str:
    return "-".join(["ketaplan", *parts]).replace(":", "").replace("+", "p") + "@ketaplan"


def course_to_ics(
    plan: CoursePlan,
    stamp: datetime,
    boosters: BoosterPlan | None = None,
    title: str | None = None,
    clinic_name: str = "ketaplan",
    uid_key: str | None = None,
) -> bytes:
    """The course as an ``.ics`` document; ``stamp`` (aware) is the DTSTAMP of every event.

    ``uid_key`` is what the event UIDs are derived from (default: the protocol key); a caller
    that must not name the diagnosis passes the course's own key, with a neutral ``title``."""
    name = title or plan.protocol_key.replace("_", " ")
    key = uid_key or plan.protocol_key
    cal = Calendar()
    cal.add("prodid", "-//ketaplan//treatment course//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Ketamine course: {name}")
    total = len(plan.sessions)
    for session in plan.sessions:
        event = Event()
        event.add("uid", _uid(key, str(session.number), session.start.isoformat()))
        event.add("dtstamp", stamp)
        event.add("dtstart", session.start)
        event.add("dtend", session.end)
        event.add("summary", f"Ketamine infusion {session.number}/{total} ({name})")
        event.add(
            "description",
            "Infusion and recovery. Arrange an escort home; no driving until the next day.",
        )
        event.add("location", clinic_name)
        event.add("status", "CONFIRMED")
        cal.add_component(event)
    if boosters is not None:
        day = boosters.reassess_on
        event = Event()
        event.add("uid", _uid(key, "reassessment", day.isoformat()))
        event.add("dtstamp", stamp)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        event.add("summary", f"Reassessment after the series ({name})")
        event.add("status", "TENTATIVE")
        cal.add_component(event)
        for index, recommendation in enumerate(boosters.recommendations, start=1):
            for booster_day in recommendation.dates:
                event = Event()
                event.add(
                    "uid",
                    _uid(key, "booster", str(index), booster_day.isoformat()),
                )
                event.add("dtstamp", stamp)
                event.add("dtstart", booster_day)
                event.add("dtend", booster_day + timedelta(days=1))
                event.add("summary", f"Proposed booster ({recommendation.trigger}, {name})")
                event.add("description", recommendation.reason)
                event.add("status", "TENTATIVE")
                cal.add_component(event)
    cal.add_missing_timezones()
    document: bytes = cal.to_ical()
    return document
