"""A patient's whole record at a glance: what the patient page and the outcome chart show.

One read, one transaction, one audit event (``patient.overview.read``): the patient's current
details, their plans, courses, sessions (each replayed for its delivered dose, state and
alerts) and questionnaire scores, with each scale's baseline, latest score, response and
remission as the domain defines them (:mod:`ketaplan.clinical.outcomes`). The page draws; it
decides nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import select

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.outcomes import is_remission, is_response, reduction_fraction, scale
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.chart_replays import ReplayedChart, replay_charts, replay_course
from ketaplan.services.clinic_policy import (
    ChartRules,
    clinic_chart_rules,
    clinic_policy,
    clinic_price,
)
from ketaplan.services.courses import find_course
from ketaplan.services.orders import order_state, order_states
from ketaplan.services.patient_history import WeightMismatch, weight_mismatch
from ketaplan.services.patients import (
    PatientRecord,
    current_record,
    current_version,
    find_patient,
)
from ketaplan.services.plans import active_order_preparation
from ketaplan.services.sessions import SessionChart, find_session, read_chart
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import (
    InfusionPlan,
    InfusionSession,
    QuestionnaireResponse,
    TreatmentCourse,
)


@dataclass(frozen=True, slots=True)
class PlanLine:
    plan_id: int
    condition: str
    eligibility_status: str
    mg_per_kg: float
    total_mg: float
    overridden: bool
    created_at: datetime
    order_status: str = "proposed"
    """proposed, active (signed), superseded or cancelled."""


@dataclass(frozen=True, slots=True)
class CourseLine:
    course_id: int
    protocol_key: str
    plan_id: int | None
    first_day: date
    session_dates: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class SessionLine:
    session_id: int
    course_id: int | None
    plan_id: int | None
    number: int | None
    opened_at: datetime
    started_at: datetime | None
    state: str
    delivered_mg: float
    delivered_mg_per_kg: float
    alerts: int


@dataclass(frozen=True, slots=True)
class ScoreLine:
    response_id: int
    scale: str
    total: int
    severity: str
    flags: tuple[str, ...]
    answered_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class ScaleOutcome:
    """A scale's course so far: first and latest totals, and what they mean."""

    scale: str
    title: str
    total_max: int
    bands: tuple[tuple[int, str], ...]
    baseline_total: int
    latest_total: int
    reduction_fraction: float
    response: bool
    remission: bool


@dataclass(frozen=True, slots=True)
class PatientOverview:
    patient: PatientRecord
    plans: tuple[PlanLine, ...]
    courses: tuple[CourseLine, ...]
    sessions: tuple[SessionLine, ...]
    scores: tuple[ScoreLine, ...]
    outcomes: tuple[ScaleOutcome, ...]
    weight_mismatches: tuple[WeightMismatch, ...] = ()
    """Signed orders dosed on a weight the record no longer holds (never recomputed)."""


def _session_line(chart: ReplayedChart) -> SessionLine:
    row, summary = chart.session, chart.summary
    started = next((e.at for e in chart.log.events if e.kind == "start"), None)
    return SessionLine(
        row.id,
        row.course_id,
        row.plan_id,
        row.number,
        row.created_at,
        started,
        summary.state,
        summary.delivered_mg,
        summary.delivered_mg_per_kg,
        len(summary.alerts),
    )


def _sessions(
    uow: UnitOfWork, patient_id: int, rules: ChartRules, policy: ClinicPolicy
) -> tuple[SessionLine, ...]:
    """The patient's sessions, each chart replayed once; their events read in one statement."""
    rows = uow.db.scalars(
        select(InfusionSession)
        .where(InfusionSession.patient_id == patient_id)
        .order_by(InfusionSession.id)
    )
    return tuple(_session_line(c) for c in replay_charts(uow, list(rows), rules, policy))


class ScaleTotal(Protocol):
    """A stored score as :func:`scale_outcomes` reads it: its scale and total."""

    @property
    def scale(self) -> str: ...

    @property
    def total(self) -> int: ...


def scale_outcomes(scores: Sequence[ScaleTotal]) -> tuple[ScaleOutcome, ...]:
    """Each scale's baseline against its latest total, oldest score first (the page and the
    progress report show the same)."""
    by_scale: dict[str, list[ScaleTotal]] = defaultdict(list)
    for line in scores:
        by_scale[line.scale].append(line)
    outcomes = []
    for key, lines in by_scale.items():
        spec = scale(key)
        first, last = lines[0].total, lines[-1].total
        outcomes.append(
            ScaleOutcome(
                key,
                spec.title,
                spec.total_max,
                spec.bands,
                first,
                last,
                reduction_fraction(first, last),
                len(lines) > 1 and is_response(key, first, last),
                len(lines) > 1 and is_remission(key, last),
            )
        )
    return tuple(outcomes)


def patient_overview(
    uow: UnitOfWork,
    patient_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> PatientOverview:
    """Everything the patient page shows; the read is audited."""
    require_clinical_facts(actor, "a patient's page")
    with uow.reading():
        patient = find_patient(uow, patient_id, actor)
        record = current_record(uow, patient)
        plan_rows = list(
            uow.db.scalars(
                select(InfusionPlan)
                .where(InfusionPlan.patient_id == patient_id)
                .order_by(InfusionPlan.id)
            )
        )
        states = order_states(uow, [p.id for p in plan_rows])
        plans = tuple(
            PlanLine(
                p.id,
                p.condition,
                p.eligibility_status,
                p.mg_per_kg,
                p.total_mg,
                p.override is not None,
                p.created_at,
                states[p.id].status,
            )
            for p in plan_rows
        )
        courses = tuple(
            CourseLine(
                c.id,
                c.protocol_key,
                c.plan_id,
                c.first_day,
                tuple(date.fromisoformat(s["date"]) for s in c.schedule["sessions"]),
            )
            for c in uow.db.scalars(
                select(TreatmentCourse)
                .where(TreatmentCourse.patient_id == patient_id)
                .order_by(TreatmentCourse.id)
            )
        )
        scores = tuple(
            ScoreLine(r.id, r.scale, r.total, r.severity, tuple(r.flags), r.answered_at, r.source)
            for r in uow.db.scalars(
                select(QuestionnaireResponse)
                .where(QuestionnaireResponse.patient_id == patient_id)
                .order_by(QuestionnaireResponse.answered_at, QuestionnaireResponse.id)
            )
        )
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        sessions = _sessions(uow, patient_id, rules, policy)
        uow.audit(
            actor,
            AuditAction.PATIENT_OVERVIEW_READ,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"version": record.version, "sessions": len(sessions), "scores": len(scores)},
        )
        uow.commit()
        mismatches = tuple(
            found
            for p in plan_rows
            if (
                found := weight_mismatch(
                    p.id, p.condition, p.plan, p.patient_version, states[p.id].status, record
                )
            )
        )
        return PatientOverview(
            record, plans, courses, sessions, scores, scale_outcomes(scores), mismatches
        )


@dataclass(frozen=True, slots=True)
class CourseOverview:
    """A course as the course page shows it: the schedule, its cost, the sessions opened."""

    course_id: int
    patient_id: int
    patient_name: str
    protocol_key: str
    plan_id: int | None
    schedule: dict[str, Any]
    price_per_session_usd: float
    cost_usd: float
    sessions: tuple[SessionLine, ...]
    calendar: ClinicCalendar
    """The clinic's calendar in force, for the month view."""


def course_overview(
    uow: UnitOfWork,
    course_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> CourseOverview:
    """The course, its cost at the clinic's price per session, its sessions and the clinic's
    calendar in force, for the month view (audited)."""
    require_clinical_facts(actor, "a course's page")
    with uow.reading():
        course = find_course(uow, course_id, actor)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        charts = replay_course(uow, course, rules, policy)
        overview = read_course_overview(uow, course, charts, actor=actor, policy=policy)
        uow.commit()
        return overview


def read_course_overview(
    uow: UnitOfWork,
    course: TreatmentCourse,
    charts: Sequence[ReplayedChart],
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> CourseOverview:
    """:func:`course_overview` inside an open unit of work, from the course's charts as
    :func:`~ketaplan.services.chart_replays.replay_course` folded them (audits the read; the
    caller commits)."""
    patient = find_patient(uow, course.patient_id, actor)
    name = current_version(uow, patient).full_name
    price = clinic_price(uow, actor, policy.catalog)
    in_force = clinic_policy(uow, actor, policy).calendar
    uow.audit(actor, AuditAction.COURSE_READ, "course", course.id, patient_id=course.patient_id)
    count = len(course.schedule["sessions"])
    return CourseOverview(
        course.id,
        course.patient_id,
        name,
        course.protocol_key,
        course.plan_id,
        course.schedule,
        price,
        round(price * count, 2),
        tuple(_session_line(c) for c in charts),
        in_force,
    )


@dataclass(frozen=True, slots=True)
class ConsoleView:
    """What the infusion-chair console shows: the chart, the patient, and the plan's numbers
    the pump is programmed with."""

    chart: SessionChart
    patient_name: str
    number: int | None
    course_id: int | None
    plan_id: int | None
    planned_mg: float | None
    concentration_mg_per_ml: float | None
    pump_rate_ml_per_h: float | None
    duration_min: float | None
    order_status: str | None = None
    """The order's lifecycle status (``active``, ``superseded``...), None without an order."""
    signed_by: str | None = None
    """The prescriber who signed the order the chair is charting against."""


def session_console(
    uow: UnitOfWork,
    session_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> ConsoleView:
    """The session's chart with its patient and plan; the read is audited."""
    require_clinical_facts(actor, "a session's chart")
    with uow.reading():
        session = find_session(uow, session_id, actor)
        patient = find_patient(uow, session.patient_id, actor)
        name = current_version(uow, patient).full_name
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        chart = read_chart(uow, session, rules, actor=actor, policy=policy)
        prep: dict[str, Any] = {}
        planned: float | None = None
        state = order_state(uow, session.plan_id) if session.plan_id is not None else None
        if session.plan_id is not None:
            # the numbers the pump is programmed with: only an active signed order's
            order = active_order_preparation(uow, session.plan_id)
            if order is not None:
                prep, planned = order["preparation"] or {}, order["dose"]["total_mg"]
        uow.audit(
            actor,
            AuditAction.SESSION_READ,
            "session",
            session_id,
            patient_id=session.patient_id,
            details={"seq": chart.seq},
        )
        uow.commit()
        return ConsoleView(
            chart,
            name,
            session.number,
            session.course_id,
            session.plan_id,
            planned,
            prep.get("final_mg_per_ml"),
            prep.get("pump_rate_ml_per_h"),
            prep.get("duration_min"),
            state.status if state is not None else None,
            (state.signer_name or state.signed_by) if state is not None else None,
        )
