"""The front desk's work on a course's bookings: move one session to a day, time and chair,
cancel a session or the whole course, book a booster on the day recommended; and the history
of every change, with who made it and why.

A session moved keeps the calendar's rules (open day, opening hours, the spacing between the
series' sessions) and its order among the series' sessions, and needs a free chair; a session
in the past needs confirming. Nothing here is clinical: the views name dates, times, chairs
and session numbers, never the protocol (:mod:`ketaplan.services.visibility`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update

from ketaplan.clinical.calendar import violations
from ketaplan.clinical.course import course_plan_from_dict
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import ConflictError, InputError
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.chairs import (
    ChairMap,
    check_chair,
    check_opening,
    record_booking_event,
    require_confirmation,
    required_reason,
    when_text,
)
from ketaplan.services.clinic_policy import clinic_chairs, clinic_policy
from ketaplan.services.courses import (
    chair_map,
    find_course,
    require_not_cancelled,
    reschedule_course,
)
from ketaplan.services.staff_names import shown_name
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import (
    BookingEvent,
    CourseBooking,
    InfusionSession,
    TreatmentCourse,
    User,
)


def _booking(uow: UnitOfWork, course_id: int, number: int) -> CourseBooking:
    found = uow.db.scalar(
        select(CourseBooking).where(
            CourseBooking.course_id == course_id, CourseBooking.number == number
        )
    )
    if found is None:
        raise InputError(
            f"course {course_id} has no booked session {number}",
            code="input.unknown_session",
            fields={"field": "number", "value": number},
        )
    return found


def _require_not_opened(uow: UnitOfWork, course_id: int, number: int) -> None:
    opened = uow.db.scalar(
        select(InfusionSession.id).where(
            InfusionSession.course_id == course_id, InfusionSession.number == number
        )
    )
    if opened is not None:
        raise ConflictError(
            f"session {number} was already opened in the chair; it can no longer be moved or "
            "cancelled",
            code="conflict.session_opened",
            fields={"field": "number", "session_id": opened},
        )


def _bump(uow: UnitOfWork, course: TreatmentCourse, expected: int, **values: Any) -> None:
    """The course's next version, if ``expected`` is still current (else a 409). A version
    other than the one read is refused before any statement: bound into SQL, a number past the
    column's range is a database error on PostgreSQL, not a conflict; the UPDATE's own check
    catches a change made since the read."""
    bumped = (
        None
        if expected != course.version
        else cast(
            "CursorResult[Any]",
            uow.db.execute(
                update(TreatmentCourse)
                .where(TreatmentCourse.id == course.id, TreatmentCourse.version == expected)
                .values(version=TreatmentCourse.version + 1, **values)
                .execution_options(synchronize_session=False)
            ),
        )
    )
    if bumped is None or bumped.rowcount != 1:
        raise ConflictError(
            f"course {course.id} was changed by someone else after you opened it (you saw "
            f"version {expected}; it is now at version {course.version}); reload the page",
            code="conflict.stale_version",
            fields={"course_id": course.id, "expected_version": expected},
        )
    uow.wrote(TreatmentCourse, course.id)


@dataclass(frozen=True, slots=True)
class Moved:
    course_id: int
    number: int
    start: datetime
    chair: int
    version: int


def move_session(
    uow: UnitOfWork,
    course_id: int,
    *,
    number: int,
    day: date,
    start_time: time,
    chair: int | None,
    reason: str,
    expected_version: int,
    actor: Actor,
    policy: ClinicPolicy,
    confirm: bool = False,
) -> Moved:
    """Move session ``number`` to ``day`` at ``start_time`` in ``chair`` (None: any free).

    Refused, with nothing written: no reason, a closed day, outside opening hours, an unknown
    or taken chair, a session already opened, a series session out of order or breaking the
    calendar's spacing, a stale version; in the past without ``confirm``."""
    why = required_reason(reason, f"moving session {number}")
    with uow:
        course = find_course(uow, course_id, actor)
        require_not_cancelled(course)
        booking = _booking(uow, course_id, number)
        _require_not_opened(uow, course_id, number)
        calendar = clinic_policy(uow, actor, policy).calendar
        chairs = ChairMap(
            uow,
            actor.clinic_id,
            clinic_chairs(uow, actor, policy.catalog),
            calendar.zone,
            ignore=frozenset({booking.id}),
        )
        check_chair(chair, chairs.chairs)
        start = calendar.appointment(day, start_time)
        length = (booking.end_at or booking.start_at) - booking.start_at
        length_min = length.total_seconds() / 60
        check_opening(calendar, start, length_min)
        values: dict[str, Any] = {}
        if not booking.booster:
            values = _moved_schedule(course, number, start, start + length, calendar)
        seated = chairs.take(chair, start, start + length)
        require_confirmation(
            [f"{when_text(start, calendar.zone)} is in the past"] if start < uow.clock() else [],
            confirm,
        )
        _bump(uow, course, expected_version, **values)
        was = booking.start_at
        uow.db.execute(
            update(CourseBooking)
            .where(CourseBooking.id == booking.id)
            .values(start_at=start, end_at=start + length, chair=seated)
            .execution_options(synchronize_session=False)
        )
        uow.wrote(CourseBooking, booking.id)
        record_booking_event(
            uow,
            actor,
            patient_id=course.patient_id,
            course_id=course_id,
            kind="moved",
            number=number,
            from_start=was,
            to_start=start,
            chair=seated,
            reason=why,
        )
        uow.audit(
            actor,
            AuditAction.BOOKING_MOVE,
            "course",
            course_id,
            patient_id=course.patient_id,
            details={
                "number": number,
                "from": was.isoformat(),
                "to": start.isoformat(),
                "chair": seated,
                "to_version": expected_version + 1,
            },
        )
        uow.commit()
        return Moved(course_id, number, start, seated, expected_version + 1)


def _moved_schedule(
    course: TreatmentCourse, number: int, start: datetime, end: datetime, calendar: Any
) -> dict[str, Any]:
    """The course's schedule with session ``number`` at ``start``: refused when it would
    leave its place in the series or break the calendar's spacing."""
    plan = course_plan_from_dict(course.schedule)
    sessions = list(plan.sessions)
    index = next((i for i, s in enumerate(sessions) if s.number == number), None)
    if index is None:
        raise InputError(
            f"session {number} is not in the course's series",
            code="input.unknown_session",
            fields={"field": "number", "value": number},
        )
    before = sessions[index - 1] if index > 0 else None
    after = sessions[index + 1] if index + 1 < len(sessions) else None
    if (before and start <= before.start) or (after and start >= after.start):
        raise InputError(
            f"session {number} must stay between "
            + (
                f"session {before.number} ({when_text(before.start, calendar.zone)})"
                if before
                else "the start"
            )
            + " and "
            + (
                f"session {after.number} ({when_text(after.start, calendar.zone)})"
                if after
                else "the end"
            )
            + "; cancel it instead to move the rest of the series",
            code="input.out_of_order",
            fields={"field": "day"},
        )
    old = violations(
        [s.start for s in sessions],
        calendar,
        plan.spacing.length_min,
        plan.spacing.min_hours_between,
        plan.spacing.max_per_week,
    )
    sessions[index] = replace(sessions[index], start=start, end=end)
    broken = [
        problem
        for problem in violations(
            [s.start for s in sessions],
            calendar,
            plan.spacing.length_min,
            plan.spacing.min_hours_between,
            plan.spacing.max_per_week,
        )
        if problem not in old
    ]
    if broken:
        raise InputError(
            f"moving session {number} breaks the series' spacing: {'; '.join(broken)}; "
            "nothing was moved",
            code="input.spacing",
            fields={"field": "day"},
        )
    moved = replace(plan, sessions=tuple(sessions))
    return {"schedule": moved.to_dict(), "last_day": moved.series_end}


def cancel_session(
    uow: UnitOfWork,
    course_id: int,
    *,
    number: int,
    reason: str,
    expected_version: int,
    actor: Actor,
    policy: ClinicPolicy,
) -> int:
    """Cancel session ``number`` with a reason: a series session is cancelled and the rest of
    the series moves on (:func:`~ketaplan.services.courses.reschedule_course`); a booster's
    booking is removed. Returns the course's new version."""
    why = required_reason(reason, f"cancelling session {number}")
    with uow.reading():
        booking = _booking(uow, find_course(uow, course_id, actor).id, number)
        is_booster = bool(booking.booster)
        uow.audit(
            actor, AuditAction.COURSE_READ, "course", course_id, patient_id=booking.patient_id
        )
        uow.commit()
    if not is_booster:
        return reschedule_course(
            uow,
            course_id,
            session_number=number,
            status="cancelled",
            expected_version=expected_version,
            actor=actor,
            policy=policy,
            reason=why,
        ).version
    with uow:
        course = find_course(uow, course_id, actor)
        booking = _booking(uow, course_id, number)
        _require_not_opened(uow, course_id, number)
        _bump(uow, course, expected_version)
        uow.db.execute(delete(CourseBooking).where(CourseBooking.id == booking.id))
        uow.wrote(CourseBooking, booking.id)
        record_booking_event(
            uow,
            actor,
            patient_id=course.patient_id,
            course_id=course_id,
            kind="cancelled",
            number=number,
            from_start=booking.start_at,
            chair=booking.chair,
            reason=why,
        )
        uow.audit(
            actor,
            AuditAction.BOOKING_CANCEL,
            "course",
            course_id,
            patient_id=course.patient_id,
            details={"number": number, "was": booking.start_at.isoformat()},
        )
        uow.commit()
        return expected_version + 1


def cancel_course(
    uow: UnitOfWork,
    course_id: int,
    *,
    reason: str,
    expected_version: int,
    actor: Actor,
) -> int:
    """Cancel the whole course with a reason: its bookings from now on are released (those
    already opened in the chair stay, as does the past). Returns the new version."""
    why = required_reason(reason, "cancelling the course")
    with uow:
        course = find_course(uow, course_id, actor)
        require_not_cancelled(course)
        now = uow.clock()
        opened = select(InfusionSession.number).where(
            InfusionSession.course_id == course_id, InfusionSession.number.is_not(None)
        )
        released = (
            uow.db.execute(
                select(CourseBooking).where(
                    CourseBooking.course_id == course_id,
                    CourseBooking.start_at >= now,
                    CourseBooking.number.not_in(opened),
                )
            )
            .scalars()
            .all()
        )
        _bump(uow, course, expected_version, cancelled_at=now)
        for booking in released:
            record_booking_event(
                uow,
                actor,
                patient_id=course.patient_id,
                course_id=course_id,
                kind="cancelled",
                number=booking.number,
                from_start=booking.start_at,
                chair=booking.chair,
                reason=why,
            )
            uow.db.delete(booking)
        record_booking_event(
            uow,
            actor,
            patient_id=course.patient_id,
            course_id=course_id,
            kind="course_cancelled",
            reason=why,
        )
        uow.audit(
            actor,
            AuditAction.COURSE_CANCEL,
            "course",
            course_id,
            patient_id=course.patient_id,
            details={"released": [b.number for b in released], "to_version": expected_version + 1},
        )
        uow.commit()
        return expected_version + 1


def book_booster(
    uow: UnitOfWork,
    course_id: int,
    *,
    days: tuple[date, ...],
    start_time: time,
    chair: int | None,
    expected_version: int,
    actor: Actor,
    policy: ClinicPolicy,
    confirm: bool = False,
) -> tuple[int, ...]:
    """Book a booster on the recommended ``days`` (one, or a pair on consecutive days) at
    ``start_time``, each in ``chair`` (None: any free one), as bookings of the course after
    its series. Refused like any booking: closed day, outside hours, unknown or taken chair;
    in the past without ``confirm``. Returns the booked session numbers."""
    if not days or len(days) > 4:
        raise InputError(
            "choose the booster's day(s) from the recommendation",
            code="input.missing",
            fields={"field": "days"},
        )
    with uow:
        course = find_course(uow, course_id, actor)
        require_not_cancelled(course)
        protocol = policy.catalog.protocol(course.protocol_key)
        calendar = clinic_policy(uow, actor, policy).calendar
        chairs = chair_map(uow, actor, policy)
        check_chair(chair, chairs.chairs)
        length = timedelta(minutes=protocol.infusion_min + protocol.recovery_min)
        starts = [calendar.appointment(d, start_time) for d in sorted(days)]
        for start in starts:
            check_opening(calendar, start, length.total_seconds() / 60)
        seated = [chairs.take(chair, start, start + length) for start in starts]
        require_confirmation(
            [f"{when_text(starts[0], calendar.zone)} is in the past"]
            if starts[0] < uow.clock()
            else [],
            confirm,
        )
        last = uow.db.scalar(
            select(func.max(CourseBooking.number)).where(CourseBooking.course_id == course_id)
        )
        first_number = max(last or 0, protocol.series.sessions) + 1
        _bump(uow, course, expected_version)
        numbers = tuple(range(first_number, first_number + len(starts)))
        for number, start, seat in zip(numbers, starts, seated, strict=True):
            uow.db.add(
                CourseBooking(
                    clinic_id=actor.clinic_id,
                    patient_id=course.patient_id,
                    course_id=course_id,
                    number=number,
                    start_at=start,
                    end_at=start + length,
                    chair=seat,
                    booster=True,
                )
            )
            record_booking_event(
                uow,
                actor,
                patient_id=course.patient_id,
                course_id=course_id,
                kind="booster_booked",
                number=number,
                to_start=start,
                chair=seat,
            )
        uow.audit(
            actor,
            AuditAction.BOOKING_BOOSTER,
            "course",
            course_id,
            patient_id=course.patient_id,
            details={"numbers": list(numbers), "starts": [s.isoformat() for s in starts]},
        )
        uow.commit()
        return numbers


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One change to a course's bookings, as the history shows it."""

    kind: str
    number: int | None
    from_start: datetime | None
    to_start: datetime | None
    chair: int | None
    reason: str | None
    recorded_at: datetime
    recorded_by: str
    """The author's e-mail (their sign-in name), as the API gives it."""
    recorded_by_name: str
    """The author as pages name them (:mod:`ketaplan.services.staff_names`)."""


def booking_history(uow: UnitOfWork, course_id: int, *, actor: Actor) -> list[HistoryLine]:
    """Every change to the course's bookings, oldest first, with who and why; audited."""
    with uow.reading():
        course = find_course(uow, course_id, actor)
        rows = uow.db.execute(
            select(BookingEvent, User.email, User.full_name)
            .join(User, User.id == BookingEvent.recorded_by)
            .where(BookingEvent.course_id == course_id)
            .order_by(BookingEvent.id)
        ).all()
        uow.audit(
            actor,
            AuditAction.BOOKING_HISTORY_READ,
            "course",
            course_id,
            patient_id=course.patient_id,
        )
        uow.commit()
        return [
            HistoryLine(
                e.kind,
                e.number,
                e.from_start,
                e.to_start,
                e.chair,
                e.reason,
                e.recorded_at,
                email,
                shown_name(full_name, email),
            )
            for e, email, full_name in rows
        ]
