"""The chair board: today's appointments by chair and time, each with its state from the
session's chart, the nurse charting it, time since the start, what was delivered so far, when
the next vital signs are due and its open alerts.

It costs what it shows: one indexed read of today's bookings (``(clinic_id, start_at)``, as
the dashboard, each patient's name by key), one of their sessions, one of the sessions' events,
one of their orders and one of the nurses, then each chart replayed in memory; never a walk of
the clinic's history, no join, and no statement grows with the number of patients or is
repeated per chair. The board refreshes every few seconds on a wall screen, so that matters.
What does grow is the replay, with the length of today's charts (about 0.04 ms an event on
the benchmark machine: a chart of 160 events adds some 6 ms), not with the clinic's records.

The front desk sees the board without clinical numbers: chair, time, patient, state, nurse and
times only (:mod:`ketaplan.services.visibility`); no dose, no vital signs due, no alerts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import InstrumentedAttribute

from ketaplan.clinical.chair_board import BoardState, board_state, started_at, vitals_due_at
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.session import summarise
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_policy import clinic_chairs, clinic_chart_rules, clinic_policy
from ketaplan.services.sessions import chart_terms_with, replay_stored
from ketaplan.services.staff_names import staff_names
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import sees_clinical_facts
from ketaplan.store.models import (
    CourseBooking,
    InfusionPlan,
    InfusionSession,
    Patient,
    SessionEvent,
)


@dataclass(frozen=True, slots=True)
class ChairClinical:
    """What only clinical staff see on a chair's line."""

    delivered_mg: float
    charted_to: datetime | None
    """The chart's last event: what was delivered is counted up to it, never guessed past it
    (:func:`ketaplan.clinical.session.summarise`)."""
    vitals_due_at: datetime | None
    open_alerts: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChairLine:
    chair: int | None
    """None: a booking made before chairs were recorded."""
    start: datetime
    end: datetime | None
    patient_id: int
    patient_name: str
    course_id: int
    number: int
    state: BoardState
    session_id: int | None
    nurse: str | None
    """Whoever charted the session last, as :func:`~ketaplan.services.staff_names.shown_name`
    names them."""
    started_at: datetime | None
    clinical: ChairClinical | None
    """None for a role that does not see clinical facts."""


@dataclass(frozen=True, slots=True)
class ChairBoard:
    day: date
    now: datetime
    chairs: int
    lines: tuple[ChairLine, ...]

    def by_chair(self) -> list[tuple[int | None, list[ChairLine]]]:
        """Each chair (1..n, then unassigned bookings) with its lines in time order."""
        found: dict[int | None, list[ChairLine]] = defaultdict(list)
        for line in self.lines:
            found[line.chair].append(line)
        chairs: list[int | None] = list(range(1, self.chairs + 1))
        extra = sorted(c for c in found if c is not None and c > self.chairs)
        return [(c, found.get(c, [])) for c in [*chairs, *extra]] + (
            [(None, found[None])] if found.get(None) else []
        )


def _name(patient_id: InstrumentedAttribute[int]) -> ScalarSelect[str]:
    """The patient's current name, looked up by key for the row that names the patient (a
    join leaves the planner free to hash or merge the whole patient table)."""
    return select(Patient.full_name).where(Patient.id == patient_id).scalar_subquery()


def _sessions_of(
    uow: UnitOfWork, bookings: list[tuple[int, int]]
) -> dict[tuple[int, int], list[InfusionSession]]:
    """The sessions opened for these bookings (course, number), oldest first: one read by the
    sessions' course index, bounded by the day's courses. (The pairs as a row-value ``IN``
    would be exact, but SQLite scans the whole table for one; a session of a course booked
    today under another booking's number is read and left out here.)"""
    if not bookings:
        return {}
    wanted = set(bookings)
    found: dict[tuple[int, int], list[InfusionSession]] = defaultdict(list)
    for session in uow.db.scalars(
        select(InfusionSession)
        .where(
            InfusionSession.course_id.in_(sorted({course for course, _number in wanted})),
            InfusionSession.number.in_(sorted({number for _course, number in wanted})),
        )
        .order_by(InfusionSession.id)
    ):
        key = (session.course_id or 0, session.number or 0)
        if key in wanted:
            found[key].append(session)
    return found


def chair_board(
    uow: UnitOfWork, *, actor: Actor, policy: ClinicPolicy, zone: ZoneInfo
) -> ChairBoard:
    """Today's chairs in the clinic's zone; the patients shown are in the audit event."""
    clinical = sees_clinical_facts(actor)
    with uow.reading():
        now = uow.clock()
        today = now.astimezone(zone).date()
        day_start = datetime.combine(today, time(), zone)
        bookings = uow.db.execute(
            select(
                CourseBooking.chair,
                CourseBooking.start_at,
                CourseBooking.end_at,
                CourseBooking.patient_id,
                _name(CourseBooking.patient_id),
                CourseBooking.course_id,
                CourseBooking.number,
            )
            .where(
                CourseBooking.clinic_id == actor.clinic_id,
                CourseBooking.start_at >= day_start,
                CourseBooking.start_at < day_start + timedelta(days=1),
            )
            .order_by(CourseBooking.start_at, CourseBooking.chair, CourseBooking.id)
        ).all()
        opened = _sessions_of(uow, [(row.course_id, row.number) for row in bookings])
        no_session: list[InfusionSession | None] = [None]
        rows = [
            (booking, session)
            for booking in bookings
            for session in opened.get((booking.course_id, booking.number)) or no_session
        ]
        sessions = [session for _booking, session in rows if session is not None]
        events: dict[int, list[tuple[dict[str, Any], int]]] = defaultdict(list)
        # Each session's order, read once for all chairs and handed to the chart's terms (once
        # left to chart_terms' get() from the identity map, which had already dropped the
        # objects read here: one statement more per charted chair).
        orders: dict[int, InfusionPlan] = {}
        if sessions:
            for session_id, data, by in uow.db.execute(
                select(SessionEvent.session_id, SessionEvent.data, SessionEvent.recorded_by)
                .where(SessionEvent.session_id.in_([s.id for s in sessions]))
                .order_by(SessionEvent.session_id, SessionEvent.seq)
            ):
                events[session_id].append((data, by))
            plan_ids = {s.plan_id for s in sessions if s.plan_id is not None}
            if plan_ids:
                orders = {
                    plan.id: plan
                    for plan in uow.db.scalars(
                        select(InfusionPlan).where(InfusionPlan.id.in_(plan_ids))
                    )
                }
        writers = {by for charted in events.values() for _data, by in charted}
        nurses = staff_names(uow.db, writers)
        in_force = clinic_policy(uow, actor, policy)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        lines = []
        for booking, session in rows:
            chair, start, end, patient_id, name, course_id, number = booking
            charted = [data for data, _by in events.get(session.id, [])] if session else []
            state: BoardState = "booked"
            line_clinical = None
            if session is not None and charted:
                order = orders.get(session.plan_id) if session.plan_id is not None else None
                terms = chart_terms_with(session, order, in_force)
                log = replay_stored(charted, session, rules, terms)
                summary = summarise(log, session.weight_kg, now)
                state = board_state(summary.state)
                if clinical:
                    line_clinical = ChairClinical(
                        summary.delivered_mg,
                        log.state.last_at,
                        vitals_due_at(state, charted),
                        tuple(a.message for a in summary.alerts if a.resolved_at is None),
                    )
            elif session is not None:
                state = "checked_in"
            last_by = events[session.id][-1][1] if session and events.get(session.id) else None
            lines.append(
                ChairLine(
                    chair,
                    start,
                    end,
                    patient_id,
                    name,
                    course_id,
                    number,
                    state,
                    session.id if session else None,
                    nurses.get(last_by) if last_by else None,
                    started_at(charted),
                    line_clinical,
                )
            )
        uow.audit(
            actor,
            AuditAction.CHAIR_BOARD_READ,
            "clinic",
            actor.clinic_id,
            details={"patient_ids": sorted({line.patient_id for line in lines})},
        )
        chairs = clinic_chairs(uow, actor, policy.catalog)
        uow.commit()
        return ChairBoard(today, now, chairs, tuple(lines))
