"""Courses: the series scheduled by the domain against the clinic calendar, rescheduled when a
session is missed or cancelled (boosters after it: :mod:`ketaplan.services.boosters`).

A course's schedule is the domain's :class:`~ketaplan.clinical.course.CoursePlan` as JSON. A
reschedule replaces it (the missed or cancelled appointment stays in it, under ``missed``) and
bumps the course's ``version``: the caller names the version it saw, and if someone else
rescheduled in the meantime the change is refused with a 409, as for a patient update. The audit
event lists the sessions that moved, from when to when. The schedule's sessions are also kept as
``course_booking`` rows and its last day as a column, rewritten with it, for the reads that
look for a day's bookings across the clinic (the dashboard, the chair board), each in a chair
(:mod:`ketaplan.services.chairs`): the scheduler places appointments only where a chair is
free, and every change to the bookings is a ``booking_event`` with who made it and why.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from typing import Any, Literal, TypeAlias, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, delete, func, select, update

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.course import (
    Appointment,
    CoursePlan,
    course_plan_from_dict,
    reschedule,
    schedule_series,
)
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import ConflictError, InputError
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.chairs import (
    ChairMap,
    assign_chairs,
    booking_warnings,
    chair_taken,
    check_chair,
    check_opening,
    no_chair_free,
    record_booking_event,
    require_confirmation,
)
from ketaplan.services.clinic_policy import clinic_chairs, clinic_policy
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.orders import newest_active_order, require_active
from ketaplan.services.patients import find_in_clinic, find_patient
from ketaplan.services.plans import find_plan
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts, sees_clinical_facts
from ketaplan.store.models import Clinic, CourseBooking, TreatmentCourse

MAX_LISTED = 100


@dataclass(frozen=True, slots=True)
class CourseRecord:
    course_id: int
    patient_id: int
    protocol_key: str
    plan_id: int | None
    first_day: date
    schedule: CoursePlan
    """The domain's schedule; each entry point serialises it once, at its edge."""
    version: int = 1


@dataclass(frozen=True, slots=True)
class BookedCourse:
    """A course as the front desk sees it: when the patient comes, not what for (the
    protocol is the diagnosis; see :mod:`ketaplan.services.visibility`)."""

    course_id: int
    patient_id: int
    first_day: date
    version: int
    sessions: tuple[Appointment, ...]
    missed: tuple[Appointment, ...]

    def schedule_dict(self) -> dict[str, object]:
        """The bookings as JSON: the appointments of :meth:`CoursePlan.to_dict`, no more."""
        return {
            "sessions": [s.to_dict() for s in self.sessions],
            "missed": [s.to_dict() for s in self.missed],
        }


CourseView: TypeAlias = CourseRecord | BookedCourse
"""A course as one role sees it: the record for clinical staff, the booking otherwise."""


def course_view(record: CourseRecord, actor: Actor) -> CourseView:
    """``record`` as the actor's role may see it."""
    if sees_clinical_facts(actor):
        return record
    return BookedCourse(
        record.course_id,
        record.patient_id,
        record.first_day,
        record.version,
        record.schedule.sessions,
        record.schedule.missed,
    )


def _record(row: TreatmentCourse) -> CourseRecord:
    return CourseRecord(
        row.id,
        row.patient_id,
        row.protocol_key,
        row.plan_id,
        row.first_day,
        course_plan_from_dict(row.schedule),
        row.version,
    )


def _store_bookings(
    uow: UnitOfWork,
    course: TreatmentCourse,
    actor: Actor,
    schedule: CoursePlan,
    chairs: dict[int, int],
) -> None:
    """The schedule's sessions as ``course_booking`` rows in their chairs, replacing the
    course's old series rows (its boosters stay)."""
    replaced = uow.db.scalars(
        delete(CourseBooking)
        .where(CourseBooking.course_id == course.id, CourseBooking.booster.is_(None))
        .returning(CourseBooking.id)
    )
    uow.wrote(CourseBooking, *replaced)
    uow.db.add_all(
        CourseBooking(
            clinic_id=actor.clinic_id,
            patient_id=course.patient_id,
            course_id=course.id,
            number=booked.number,
            start_at=booked.start,
            end_at=booked.end,
            chair=chairs.get(booked.number),
        )
        for booked in schedule.sessions
    )


def clinic_zone(uow: UnitOfWork, actor: Actor) -> ZoneInfo:
    """The actor's clinic's time zone (days and times on forms are the clinic's)."""
    return ZoneInfo(uow.db.get_one(Clinic, actor.clinic_id).time_zone)


def chair_map(
    uow: UnitOfWork, actor: Actor, policy: ClinicPolicy, *, ignore_course: int | None = None
) -> ChairMap:
    """The clinic's chairs in force, with the bookings holding them (read as asked)."""
    return ChairMap(
        uow,
        actor.clinic_id,
        clinic_chairs(uow, actor, policy.catalog),
        clinic_zone(uow, actor),
        ignore_course=ignore_course,
    )


def _first_at(calendar: ClinicCalendar, start_time: time) -> ClinicCalendar:
    """The calendar with ``start_time`` tried first each day: the series keeps the chosen
    time where it can and takes the clinic's other times where it cannot."""
    others = tuple(t for t in calendar.session_times if t != start_time)
    return replace(calendar, session_times=(start_time, *others))


def schedule_course(
    uow: UnitOfWork,
    patient_id: int,
    *,
    condition: str | None = None,
    first_day: date,
    actor: Actor,
    policy: ClinicPolicy,
    plan_id: int | None = None,
    start_time: time | None = None,
    chair: int | None = None,
    confirm: bool = False,
) -> CourseRecord:
    """Schedule the protocol's series from ``first_day`` and save it for the patient.

    A course needs an active order signed by a prescriber for the patient and protocol:
    ``plan_id`` names it (``condition`` left out: the order's), or, left out, the patient's
    newest active order for ``condition`` is used. A proposed, cancelled or superseded order
    is refused, and so is scheduling with none (a contraindicated plan, unsigned, can never
    be scheduled).

    With ``start_time`` the first session is exactly then on ``first_day``, in ``chair`` when
    one is named: a closed day, a time outside opening hours, an unknown or taken chair are
    refused. Without it the first open appointment with a chair free is taken. Every session
    is placed where a chair is free and gets one (``chair`` where it is free). A course that
    starts in the past or overlaps another active course of the patient needs ``confirm``."""
    if condition is None and plan_id is None:
        raise InputError(
            "name the signed order to book (or the condition)",
            code="input.missing",
            fields={"field": "plan_id"},
        )
    doing = "scheduling a course"
    with uow:
        find_patient(uow, patient_id, actor)
        plan = None if plan_id is None else find_plan(uow, plan_id, actor)
        protocol = policy.catalog.protocol(
            condition if condition is not None else plan.condition if plan else ""
        )
        calendar = clinic_policy(uow, actor, policy).calendar
        chairs = chair_map(uow, actor, policy)
        check_chair(chair, chairs.chairs)
        if start_time is not None:
            first = calendar.appointment(first_day, start_time)
            length_min = protocol.infusion_min + protocol.recovery_min
            check_opening(calendar, first, length_min, field_name="first_day")
            end = first + timedelta(minutes=length_min)
            free = chairs.free_chairs(first, end)
            if chair is not None and chair not in free:
                raise chair_taken(chair, first, end, free, chairs.zone)
            if not free:
                raise no_chair_free(first, end, chairs.zone)
            calendar = _first_at(calendar, start_time)
        schedule = schedule_series(protocol, first_day, calendar, chairs.chair_free)
        if plan is not None:
            if plan.patient_id != patient_id or plan.condition != protocol.key:
                what = f"a {protocol.key} plan" if sees_clinical_facts(actor) else "an order"
                raise InputError(  # the front desk is not told another order's protocol
                    f"plan {plan_id} is not {what} of patient {patient_id}",
                    code="input.wrong_plan",
                    fields={"plan_id": plan_id},
                )
            require_active(uow, plan, doing)
        else:
            plan_id = newest_active_order(uow, patient_id, protocol.key, doing).id
        require_confirmation(
            booking_warnings(
                uow,
                patient_id=patient_id,
                first=schedule.sessions[0].start,
                last_day=schedule.series_end,
                now=uow.clock(),
                zone=chairs.zone,
            ),
            confirm,
        )
        row = TreatmentCourse(
            patient_id=patient_id,
            plan_id=plan_id,
            protocol_key=protocol.key,
            first_day=first_day,
            last_day=schedule.series_end,
            schedule=schedule.to_dict(),
            version=1,
            created_at=uow.clock(),
            created_by=actor.user_id,
        )
        uow.db.add(row)
        uow.db.flush()
        seated = assign_chairs(chairs, schedule.sessions, chair)
        _store_bookings(uow, row, actor, schedule, seated)
        for booked in schedule.sessions:
            record_booking_event(
                uow,
                actor,
                patient_id=patient_id,
                course_id=row.id,
                kind="booked",
                number=booked.number,
                to_start=booked.start,
                chair=seated[booked.number],
            )
        uow.audit(
            actor,
            AuditAction.COURSE_CREATE,
            "course",
            row.id,
            patient_id=patient_id,
            details={
                "protocol": protocol.key,
                "first_day": first_day.isoformat(),
                "sessions": len(schedule.sessions),
                "completes_within_window": schedule.completes_within_window,
                "plan_id": plan_id,
                "chairs": [seated[s.number] for s in schedule.sessions],
            },
        )
        uow.commit()
        return _record(row)


def find_course(uow: UnitOfWork, course_id: int, actor: Actor) -> TreatmentCourse:
    """A course of a patient in the actor's clinic."""
    return find_in_clinic(uow, TreatmentCourse, course_id, actor, "course")


def _read_course(uow: UnitOfWork, course_id: int, actor: Actor) -> CourseRecord:
    with uow.reading():
        row = find_course(uow, course_id, actor)
        uow.audit(actor, AuditAction.COURSE_READ, "course", course_id, patient_id=row.patient_id)
        uow.commit()
        return _record(row)


def get_course(uow: UnitOfWork, course_id: int, *, actor: Actor) -> CourseRecord:
    """A course and its current schedule, protocol included (clinical staff only); audited."""
    require_clinical_facts(actor, "a course's protocol")
    return _read_course(uow, course_id, actor)


def read_course(uow: UnitOfWork, course_id: int, *, actor: Actor) -> CourseView:
    """A course as the actor's role sees it; audited."""
    return course_view(_read_course(uow, course_id, actor), actor)


FIRST_PAGE = Window(MAX_LISTED)
"""The page a caller that names none gets (the newest)."""


def list_courses(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, window: Window = FIRST_PAGE
) -> Listed[CourseView]:
    """A page of the patient's courses as the actor's role sees them, newest first, and how
    many there are; audited."""
    theirs = TreatmentCourse.patient_id == patient_id
    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.COURSE_LIST,
        ids_key="course_ids",
        load=lambda window: (
            course_view(_record(row), actor)
            for row in uow.db.scalars(
                select(TreatmentCourse)
                .where(theirs)
                .order_by(TreatmentCourse.id.desc())
                .limit(window.limit)
                .offset(window.offset)
            )
        ),
        count=lambda: (
            uow.db.scalar(select(func.count()).select_from(TreatmentCourse).where(theirs)) or 0
        ),
        id_of=lambda course: course.course_id,
        window=window,
    )


def require_not_cancelled(course: TreatmentCourse) -> None:
    """Refuse a change to a cancelled course's bookings."""
    if course.cancelled_at is not None:
        raise ConflictError(
            f"course {course.id} was cancelled; its bookings cannot change (book a new course)",
            code="conflict.course_cancelled",
            fields={"course_id": course.id},
        )


def _stale(course_id: int, expected: int, current: int) -> ConflictError:
    return ConflictError(
        f"course {course_id} was rescheduled by someone else after you opened it (you saw "
        f"version {expected}; it is now at version {current}); reload the course and "
        "reschedule again if it is still needed",
        code="conflict.stale_version",
        fields={"course_id": course_id, "expected_version": expected, "version": current},
    )


def reschedule_course(
    uow: UnitOfWork,
    course_id: int,
    *,
    session_number: int,
    status: Literal["missed", "cancelled"],
    expected_version: int,
    actor: Actor,
    policy: ClinicPolicy,
    from_date: date | None = None,
    reason: str | None = None,
) -> CourseRecord:
    """Session ``session_number`` was missed or cancelled: it and the rest move (the domain's
    :func:`~ketaplan.clinical.course.reschedule`) to appointments with a chair free, each
    keeping its chair where it can, if ``expected_version`` is still current. Each move is a
    ``booking_event`` with ``reason`` (:func:`ketaplan.services.bookings.cancel_session`
    requires one)."""
    if status not in ("missed", "cancelled"):
        raise InputError(
            f"status {status!r} is not accepted (accepted: missed, cancelled)",
            code="input.out_of_range",
            fields={"field": "status", "accepted": ["missed", "cancelled"]},
        )
    with uow:
        course = find_course(uow, course_id, actor)
        if course.version != expected_version:
            raise _stale(course_id, expected_version, course.version)
        require_not_cancelled(course)
        protocol = policy.catalog.protocol(course.protocol_key)
        before = course_plan_from_dict(course.schedule)
        calendar = clinic_policy(uow, actor, policy).calendar
        chairs = chair_map(uow, actor, policy, ignore_course=course_id)
        after = reschedule(
            before, protocol, calendar, session_number, status, from_date, chairs.chair_free
        )
        held = dict(
            uow.db.execute(
                select(CourseBooking.number, CourseBooking.chair).where(
                    CourseBooking.course_id == course_id, CourseBooking.booster.is_(None)
                )
            ).all()
        )
        was_at = {s.number: s for s in before.sessions}
        seated = {}
        for booked in after.sessions:
            earlier = was_at.get(booked.number)
            unchanged = earlier is not None and earlier.start == booked.start
            if unchanged and booked.number in held and held[booked.number] is None:
                continue  # booked before chairs were recorded: it holds none, and stays so
            seated.update(assign_chairs(chairs, [booked], held.get(booked.number)))
        bumped = cast(
            "CursorResult[Any]",
            uow.db.execute(
                update(TreatmentCourse)
                .where(TreatmentCourse.id == course_id, TreatmentCourse.version == expected_version)
                .values(
                    schedule=after.to_dict(),
                    last_day=after.series_end,
                    version=expected_version + 1,
                )
                .execution_options(synchronize_session=False)
            ),
        )
        if bumped.rowcount != 1:  # another reschedule won in the meantime
            raise _stale(course_id, expected_version, expected_version + 1)
        uow.wrote(TreatmentCourse, course_id)
        _store_bookings(uow, course, actor, after, seated)
        gone = was_at[session_number]
        record_booking_event(
            uow,
            actor,
            patient_id=course.patient_id,
            course_id=course_id,
            kind="cancelled" if status == "cancelled" else "missed",
            number=session_number,
            from_start=gone.start,
            chair=held.get(session_number),
            reason=reason,
        )
        for booked in after.sessions:
            earlier = was_at.get(booked.number)
            if earlier is None or earlier.start != booked.start:
                record_booking_event(
                    uow,
                    actor,
                    patient_id=course.patient_id,
                    course_id=course_id,
                    kind="moved",
                    number=booked.number,
                    from_start=earlier.start if earlier else None,
                    to_start=booked.start,
                    chair=seated[booked.number],
                    reason=reason,
                )
        was = {s.number: s.start.isoformat() for s in before.sessions}
        moved = [
            {"number": s.number, "from": was.get(s.number), "to": s.start.isoformat()}
            for s in after.sessions
            if was.get(s.number) != s.start.isoformat()
        ]
        uow.audit(
            actor,
            AuditAction.COURSE_RESCHEDULE,
            "course",
            course_id,
            patient_id=course.patient_id,
            details={
                "session_number": session_number,
                "status": status,
                "from_version": expected_version,
                "to_version": expected_version + 1,
                "moved": moved,
                "completes_within_window": after.completes_within_window,
            },
        )
        uow.commit()
        return CourseRecord(
            course.id,
            course.patient_id,
            course.protocol_key,
            course.plan_id,
            course.first_day,
            after,
            expected_version + 1,
        )
