"""Stored charts folded once for everything a read derives from them.

A course's page shows each session's state and dose and, from the same charts, the booster
advice (through the titration history, :func:`~ketaplan.services.titration.course_history`).
Each used to replay every chart of the course on its own; now a read folds each chart here,
once, against its terms (:func:`~ketaplan.services.sessions.chart_terms_with`), with all the
sessions' events read in one statement (:func:`~ketaplan.services.sessions.stored_events`) and
each order once, and hands the folds to whatever it builds: a session line, a titration
history, booster advice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.session import SessionLog, SessionSummary, summarise
from ketaplan.services.clinic_policy import ChartRules
from ketaplan.services.sessions import chart_terms_with, replay_stored, stored_events
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import InfusionPlan, InfusionSession, TreatmentCourse


@dataclass(frozen=True, slots=True)
class ReplayedChart:
    """A stored session with its chart folded once, as it was accepted when charted."""

    session: InfusionSession
    plan: InfusionPlan | None
    """The order the session was charted against (None: opened without one)."""
    charted_at: tuple[datetime, ...]
    """When each stored event was charted, in order (the titration history dates a session by
    its first)."""
    log: SessionLog
    """Folded against the session's terms, so its alerts include the pump's."""
    summary: SessionSummary
    """As of the chart's last event."""


def replay_charts(
    uow: UnitOfWork,
    sessions: Sequence[InfusionSession],
    rules: ChartRules,
    policy: ClinicPolicy,
) -> tuple[ReplayedChart, ...]:
    """Each session's chart, in the order given, folded once; their events read in one
    statement (inside an open unit of work)."""
    events = stored_events(uow, [s.id for s in sessions])
    # Each order read once and held here: the identity map keeps a row only while something
    # refers to it, so a get() per session was a statement per session.
    ordered = {s.plan_id for s in sessions if s.plan_id is not None}
    plans = {plan_id: uow.db.get_one(InfusionPlan, plan_id) for plan_id in ordered}
    replayed = []
    for session in sessions:
        rows = events[session.id]
        plan = plans[session.plan_id] if session.plan_id is not None else None
        terms = chart_terms_with(session, plan, policy)
        log = replay_stored([data for _at, data in rows], session, rules, terms)
        replayed.append(
            ReplayedChart(
                session,
                plan,
                tuple(at for at, _data in rows),
                log,
                summarise(log, session.weight_kg),
            )
        )
    return tuple(replayed)


def replay_course(
    uow: UnitOfWork, course: TreatmentCourse, rules: ChartRules, policy: ClinicPolicy
) -> tuple[ReplayedChart, ...]:
    """The course's sessions in the order they were opened, each chart folded once."""
    sessions = uow.db.scalars(
        select(InfusionSession)
        .where(
            InfusionSession.course_id == course.id,
            InfusionSession.patient_id == course.patient_id,
        )
        .order_by(InfusionSession.id)
    )
    return replay_charts(uow, list(sessions), rules, policy)
