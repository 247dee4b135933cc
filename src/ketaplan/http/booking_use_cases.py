"""The chair and booking use cases, bound to the service's database and clinic files, as
:mod:`ketaplan.http.use_cases` binds the rest: book a course in a chair at a time, move or
cancel a session, cancel a course, book a booster, read a patient's bookings, a course's
bookings history and the chair board."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

from ketaplan.http.use_cases import UseCaseGroup
from ketaplan.services.actors import Actor
from ketaplan.services.bookings import (
    HistoryLine,
    Moved,
    book_booster,
    booking_history,
    cancel_course,
    cancel_session,
    move_session,
)
from ketaplan.services.chair_board import ChairBoard, chair_board
from ketaplan.services.courses import CourseRecord, schedule_course
from ketaplan.services.patient_bookings import PatientBookings, patient_bookings


class Bookings(UseCaseGroup):
    """Chairs and bookings: what the front desk does all day, and the chair board."""

    def book_course(
        self,
        patient_id: int,
        *,
        first_day: date,
        actor: Actor,
        plan_id: int | None = None,
        condition: str | None = None,
        start_time: time | None = None,
        chair: int | None = None,
        confirm: bool = False,
    ) -> CourseRecord:
        return schedule_course(
            self._context.unit_of_work(),
            patient_id,
            condition=condition,
            first_day=first_day,
            actor=actor,
            policy=self._context.policy,
            plan_id=plan_id,
            start_time=start_time,
            chair=chair,
            confirm=confirm,
        )

    def move(
        self,
        course_id: int,
        *,
        number: int,
        day: date,
        start_time: time,
        chair: int | None,
        reason: str,
        expected_version: int,
        actor: Actor,
        confirm: bool = False,
    ) -> Moved:
        return move_session(
            self._context.unit_of_work(),
            course_id,
            number=number,
            day=day,
            start_time=start_time,
            chair=chair,
            reason=reason,
            expected_version=expected_version,
            actor=actor,
            policy=self._context.policy,
            confirm=confirm,
        )

    def cancel_session(
        self, course_id: int, *, number: int, reason: str, expected_version: int, actor: Actor
    ) -> int:
        return cancel_session(
            self._context.unit_of_work(),
            course_id,
            number=number,
            reason=reason,
            expected_version=expected_version,
            actor=actor,
            policy=self._context.policy,
        )

    def cancel_course(
        self, course_id: int, *, reason: str, expected_version: int, actor: Actor
    ) -> int:
        return cancel_course(
            self._context.unit_of_work(),
            course_id,
            reason=reason,
            expected_version=expected_version,
            actor=actor,
        )

    def book_booster(
        self,
        course_id: int,
        *,
        days: tuple[date, ...],
        start_time: time,
        chair: int | None,
        expected_version: int,
        actor: Actor,
        confirm: bool = False,
    ) -> tuple[int, ...]:
        return book_booster(
            self._context.unit_of_work(),
            course_id,
            days=days,
            start_time=start_time,
            chair=chair,
            expected_version=expected_version,
            actor=actor,
            policy=self._context.policy,
            confirm=confirm,
        )

    def of_patient(self, patient_id: int, *, actor: Actor) -> PatientBookings:
        return patient_bookings(
            self._context.unit_of_work(), patient_id, actor=actor, policy=self._context.policy
        )

    def history(self, course_id: int, *, actor: Actor) -> list[HistoryLine]:
        return booking_history(self._context.unit_of_work(), course_id, actor=actor)

    def board(self, *, actor: Actor, zone: ZoneInfo) -> ChairBoard:
        return chair_board(
            self._context.unit_of_work(), actor=actor, policy=self._context.policy, zone=zone
        )
