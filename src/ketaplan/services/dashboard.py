"""The clinic's day at a glance: today's chairs, series to reassess, PHQ-9 item 9 flags.

One read, audited with the patients it showed (``dashboard.read``). Everything shown is a
record's own data (a course's schedule, a stored score's flags); the only rule here is which
records are "today" and "recent", in the clinic's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.services.actors import Actor
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import (
    InfusionSession,
    Patient,
    PatientVersion,
    QuestionnaireResponse,
    TreatmentCourse,
)

FLAG_WINDOW = timedelta(days=14)
REASSESS_WINDOW = timedelta(days=42)
"""Series that ended within six weeks: the reassessment and maintenance-booster window (3-6
weeks after the series, seed 001)."""


@dataclass(frozen=True, slots=True)
class ChairBooking:
    patient_id: int
    patient_name: str
    course_id: int
    protocol_key: str
    number: int
    start: datetime
    session_id: int | None


@dataclass(frozen=True, slots=True)
class SeriesEnded:
    patient_id: int
    patient_name: str
    course_id: int
    protocol_key: str
    last_day: date


@dataclass(frozen=True, slots=True)
class ItemNineFlag:
    patient_id: int
    patient_name: str
    response_id: int
    total: int
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class Dashboard:
    day: date
    chairs: tuple[ChairBooking, ...]
    series_ended: tuple[SeriesEnded, ...]
    flags: tuple[ItemNineFlag, ...]


def clinic_dashboard(uow: UnitOfWork, *, actor: Actor, zone: ZoneInfo) -> Dashboard:
    """Today in the clinic's zone; shown patients are recorded in the audit event."""
    with uow.reading():
        now = uow.clock()
        today = now.astimezone(zone).date()
        # A Result has keys() (its column names): dict(result) would take it for a mapping and
        # fail, hence iter(), which dict() reads as (id, name) pairs.
        names: dict[int, str] = dict(
            iter(
                uow.session.execute(
                    select(Patient.id, PatientVersion.full_name)
                    .join(
                        PatientVersion,
                        (PatientVersion.patient_id == Patient.id)
                        & (PatientVersion.version == Patient.version),
                    )
                    .where(Patient.clinic_id == actor.clinic_id)
                )
            )
        )
        courses = list(
            uow.session.scalars(
                select(TreatmentCourse).where(TreatmentCourse.patient_id.in_(list(names)))
            )
        )
        opened = {
            (s.course_id, s.number): s.id
            for s in uow.session.scalars(
                select(InfusionSession).where(
                    InfusionSession.course_id.in_([c.id for c in courses])
                )
            )
        }
        chairs: list[ChairBooking] = []
        ended: list[SeriesEnded] = []
        for course in courses:
            days = list(course.schedule["sessions"])
            for booked in days:
                start = datetime.fromisoformat(booked["start"])
                if start.astimezone(zone).date() == today:
                    chairs.append(
                        ChairBooking(
                            course.patient_id,
                            names[course.patient_id],
                            course.id,
                            course.protocol_key,
                            booked["number"],
                            start,
                            opened.get((course.id, booked["number"])),
                        )
                    )
            if days:
                last = date.fromisoformat(days[-1]["date"])
                if today - REASSESS_WINDOW <= last < today:
                    ended.append(
                        SeriesEnded(
                            course.patient_id,
                            names[course.patient_id],
                            course.id,
                            course.protocol_key,
                            last,
                        )
                    )
        flags = [
            ItemNineFlag(r.patient_id, names[r.patient_id], r.id, r.total, r.answered_at)
            for r in uow.session.scalars(
                select(QuestionnaireResponse)
                .where(
                    QuestionnaireResponse.patient_id.in_(list(names)),
                    QuestionnaireResponse.scale == "phq9",
                    QuestionnaireResponse.answered_at >= now - FLAG_WINDOW,
                )
                .order_by(QuestionnaireResponse.answered_at.desc())
            )
            if "phq9.item9_positive" in r.flags
        ]
        shown = sorted(
            {c.patient_id for c in chairs}
            | {e.patient_id for e in ended}
            | {f.patient_id for f in flags}
        )
        uow.audit(
            actor, "dashboard.read", "clinic", actor.clinic_id, details={"patient_ids": shown}
        )
        uow.commit()
        return Dashboard(
            today,
            tuple(sorted(chairs, key=lambda c: c.start)),
            tuple(sorted(ended, key=lambda e: e.last_day)),
            tuple(flags),
        )
