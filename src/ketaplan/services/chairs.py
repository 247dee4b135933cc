"""Infusion chairs: which are free when, and which chair each booked appointment takes.

A clinic has a number of chairs (a clinic setting, :func:`~ketaplan.services.clinic_policy.
clinic_chairs`); each booking holds one chair from its start to its end (infusion and
recovery), and no two bookings overlap in one chair. :class:`ChairMap` reads the clinic's
chaired bookings a day at a time, by the ``(clinic_id, start_at)`` index, only for the days a
scheduler or a form asks about; the scheduler gets :meth:`ChairMap.chair_free` and skips an
appointment with no chair free, as it skips a closed day.

Bookings made before chairs were recorded hold no chair and take none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.course import Appointment
from ketaplan.errors import ConflictError, InputError
from ketaplan.services.actors import Actor
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import BookingEvent, CourseBooking, TreatmentCourse


@dataclass(frozen=True, slots=True)
class Held:
    """A chair held from ``start`` to ``end`` by a booking (``booking_id`` None: one placed in
    this transaction and not yet written)."""

    chair: int
    start: datetime
    end: datetime
    booking_id: int | None = None


def _overlaps(held: Held, start: datetime, end: datetime) -> bool:
    return held.start.astimezone(UTC) < end.astimezone(UTC) and start.astimezone(
        UTC
    ) < held.end.astimezone(UTC)


def when_text(start: datetime, zone: ZoneInfo) -> str:
    """``Thu 10 Dec 2026 09:00`` in the clinic's zone: how a form names an appointment."""
    return start.astimezone(zone).strftime("%a %d %b %Y %H:%M")


@dataclass
class ChairMap:
    """The chairs held in the clinic, read a day at a time as they are asked about.

    ``ignore`` names booking ids not counted (the bookings a change replaces: a course's own
    series when it is rescheduled, the one session being moved)."""

    uow: UnitOfWork
    clinic_id: int
    chairs: int
    zone: ZoneInfo
    ignore: frozenset[int] = frozenset()
    ignore_course: int | None = None
    _days: dict[date, list[Held]] = field(default_factory=dict)

    def _day(self, day: date) -> list[Held]:
        if day not in self._days:
            start = datetime.combine(day, time(), self.zone)
            rows = self.uow.db.execute(
                select(
                    CourseBooking.id,
                    CourseBooking.chair,
                    CourseBooking.start_at,
                    CourseBooking.end_at,
                    CourseBooking.course_id,
                    CourseBooking.booster,
                ).where(
                    CourseBooking.clinic_id == self.clinic_id,
                    CourseBooking.start_at >= start,
                    CourseBooking.start_at < start + timedelta(days=1),
                    CourseBooking.chair.is_not(None),
                )
            )
            self._days[day] = [
                Held(chair, begin, end, booking_id)
                for booking_id, chair, begin, end, course_id, booster in rows
                if chair is not None
                and end is not None
                and booking_id not in self.ignore
                and not (course_id == self.ignore_course and not booster)
            ]
        return self._days[day]

    def _held(self, start: datetime, end: datetime) -> list[Held]:
        first = start.astimezone(self.zone).date()
        days = [first - timedelta(days=1), first]  # an appointment never spans two days
        return [h for d in days for h in self._day(d) if _overlaps(h, start, end)]

    def free_chairs(self, start: datetime, end: datetime) -> list[int]:
        """The chairs free for the whole of ``start``..``end``, lowest first."""
        taken = {h.chair for h in self._held(start, end)}
        return [c for c in range(1, self.chairs + 1) if c not in taken]

    def chair_free(self, start: datetime, end: datetime) -> bool:
        """Whether any chair is free (what the scheduler asks)."""
        return bool(self.free_chairs(start, end))

    def hold(self, chair: int, start: datetime, end: datetime) -> None:
        """Count a chair as held by an appointment placed in this transaction."""
        self._day(start.astimezone(self.zone).date()).append(Held(chair, start, end))

    def take(self, chair: int | None, start: datetime, end: datetime) -> int:
        """Hold ``chair`` (or, None, the lowest free one) for the appointment, or refuse."""
        free = self.free_chairs(start, end)
        if chair is None:
            if not free:
                raise no_chair_free(start, end, self.zone)
            chair = free[0]
        elif chair not in free:
            raise chair_taken(chair, start, end, free, self.zone)
        self.hold(chair, start, end)
        return chair


def check_chair(chair: int | None, chairs: int) -> None:
    """Refuse a chair the clinic does not have."""
    if chair is not None and not 1 <= chair <= chairs:
        raise InputError(
            f"there is no chair {chair}: the clinic has chairs 1 to {chairs}",
            code="input.unknown_chair",
            fields={"field": "chair", "value": chair, "chairs": chairs},
        )


def chair_taken(
    chair: int, start: datetime, end: datetime, free: Sequence[int], zone: ZoneInfo
) -> ConflictError:
    others = f"chairs free then: {', '.join(map(str, free))}" if free else "no chair is free then"
    return ConflictError(
        f"chair {chair} is taken on {when_text(start, zone)}-{end.astimezone(zone):%H:%M} by "
        f"another appointment ({others}); nothing was booked",
        code="conflict.chair_taken",
        fields={"field": "chair", "chair": chair, "free_chairs": list(free)},
    )


def no_chair_free(start: datetime, end: datetime, zone: ZoneInfo) -> ConflictError:
    return ConflictError(
        f"every chair is taken on {when_text(start, zone)}-{end.astimezone(zone):%H:%M}; "
        "choose another time; nothing was booked",
        code="conflict.no_chair_free",
        fields={"field": "start_time"},
    )


def check_opening(
    calendar: ClinicCalendar, start: datetime, length_min: float, *, field_name: str = "day"
) -> None:
    """Refuse an appointment on a closed day (closed weekday, closed date, public holiday) or
    outside opening hours (it must end, recovery included, by closing time)."""
    local = start.astimezone(calendar.zone)
    if not calendar.is_open(local.date()):
        raise InputError(
            f"the clinic is closed on {local:%a %d %b %Y} (a closed weekday, a closed date or "
            "a public holiday in the clinic calendar); choose an open day; nothing was booked",
            code="input.clinic_closed",
            fields={"field": field_name, "value": local.date().isoformat()},
        )
    if not calendar.fits(start, length_min):
        raise InputError(
            f"an appointment at {local:%H:%M} lasting {length_min:g} min (infusion and "
            f"recovery) does not fit opening hours {calendar.open_time:%H:%M}-"
            f"{calendar.close_time:%H:%M}; choose an earlier time; nothing was booked",
            code="input.outside_opening_hours",
            fields={"field": "start_time", "value": f"{local:%H:%M}"},
        )


def assign_chairs(
    chair_map: ChairMap, appointments: Iterable[Appointment], preferred: int | None
) -> dict[int, int]:
    """A chair for each appointment (by number): ``preferred`` where it is free, else the
    lowest free one. The scheduler placed each where a chair is free, so one always is."""
    chosen = {}
    for appointment in appointments:
        free = chair_map.free_chairs(appointment.start, appointment.end)
        chair = preferred if preferred in free else None
        chosen[appointment.number] = chair_map.take(chair, appointment.start, appointment.end)
    return chosen


def record_booking_event(
    uow: UnitOfWork,
    actor: Actor,
    *,
    patient_id: int,
    course_id: int,
    kind: str,
    number: int | None = None,
    from_start: datetime | None = None,
    to_start: datetime | None = None,
    chair: int | None = None,
    reason: str | None = None,
) -> None:
    """One line of the course's bookings history (append-only)."""
    uow.db.add(
        BookingEvent(
            clinic_id=actor.clinic_id,
            patient_id=patient_id,
            course_id=course_id,
            kind=kind,
            number=number,
            from_start=from_start,
            to_start=to_start,
            chair=chair,
            reason=reason,
            recorded_at=uow.clock(),
            recorded_by=actor.user_id,
        )
    )


MAX_REASON_LENGTH = 500


def required_reason(text: str | None, what: str) -> str:
    """The reason for a change to the bookings, which the history keeps: required, bounded."""
    cleaned = (text or "").strip()
    if not cleaned or len(cleaned) > MAX_REASON_LENGTH:
        raise InputError(
            f"give the reason for {what} (1 to {MAX_REASON_LENGTH} characters); it is kept in "
            "the course's history; nothing was changed",
            code="input.reason_required",
            fields={"field": "reason"},
        )
    return cleaned


def booking_warnings(
    uow: UnitOfWork,
    *,
    patient_id: int,
    first: datetime,
    last_day: date,
    now: datetime,
    zone: ZoneInfo,
    course_id: int | None = None,
) -> list[str]:
    """What a booking from ``first`` to ``last_day`` needs confirmed: it starts on a day in
    the past (today's earlier hours are not: a course booked this morning for today), or it
    overlaps another active (not cancelled) course of the same patient."""

    warnings = []
    first_day = first.astimezone(zone).date()
    if first_day < now.astimezone(zone).date():
        warnings.append(
            f"the first appointment, {when_text(first, zone)}, is on a day in the past "
            "(recording a course already given?)"
        )
    overlapping = uow.db.scalars(
        select(TreatmentCourse.id).where(
            TreatmentCourse.patient_id == patient_id,
            TreatmentCourse.cancelled_at.is_(None),
            TreatmentCourse.first_day <= last_day,
            TreatmentCourse.last_day >= first_day,
            TreatmentCourse.id != (course_id or 0),
        )
    ).all()
    if overlapping:
        warnings.append(
            "it overlaps the patient's active course"
            f"{'s' if len(overlapping) > 1 else ''} #{', #'.join(map(str, overlapping))} "
            f"({first_day:%d %b %Y} to {last_day:%d %b %Y})"
        )
    return warnings


def require_confirmation(warnings: Sequence[str], confirm: bool) -> None:
    """Refuse a booking with warnings the person booking has not confirmed."""
    if warnings and not confirm:
        raise ConflictError(
            "please confirm: " + "; ".join(warnings) + "; nothing was booked until you confirm",
            code="conflict.needs_confirmation",
            fields={"field": "confirm", "warnings": list(warnings)},
        )
