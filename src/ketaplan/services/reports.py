"""Printable reports: the progress report for the referring clinician and the preparation
card, as values the PDF adapter (:mod:`ketaplan.export.pdf`) lays out and nothing decides.

Both hold clinical facts, so the front desk gets neither (:mod:`ketaplan.services.visibility`);
each is one read in one transaction with one audit event (``report.progress.read``,
``report.preparation_card.read``) naming the patient. Response and remission are the domain's
(:mod:`ketaplan.clinical.outcomes`), delivered doses and alerts the replayed charts', exactly as
the patient page shows them; times are in the clinic's zone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.outcomes import scale
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import ConflictError, NotFoundError
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.chart_replays import replay_charts
from ketaplan.services.clinic_policy import clinic_chart_rules
from ketaplan.services.orders import order_state, plan_for_reading
from ketaplan.services.patient_overview import scale_outcomes
from ketaplan.services.patients import current_record, find_patient
from ketaplan.services.plans import find_plan
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import (
    Clinic,
    InfusionSession,
    QuestionnaireResponse,
    TreatmentCourse,
)


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """Who the report is from and about."""

    clinic_name: str
    clinic_address: str
    time_zone: str
    generated_at: datetime
    """In the clinic's zone."""
    generated_by: str
    patient_id: int
    patient_name: str
    date_of_birth: date | None


@dataclass(frozen=True, slots=True)
class SessionReportLine:
    """One infusion session: the dose the chart shows delivered and what happened."""

    session_id: int
    number: int | None
    started_at: datetime | None
    state: str
    delivered_mg: float
    delivered_mg_per_kg: float
    infusing_min: float
    completed: bool | None
    stop_reason: str
    alerts: tuple[str, ...]
    """``"10:24 pause: systolic BP 182 mmHg above 180"`` (resolved ones say so)."""
    side_effects: tuple[str, ...]
    """``"10:30 nausea (mild)"``: the adverse events charted at the chair."""


@dataclass(frozen=True, slots=True)
class ScoreReportLine:
    scale: str
    title: str
    total: int
    total_max: int
    severity: str
    answered_at: datetime


@dataclass(frozen=True, slots=True)
class OutcomeReportLine:
    """A scale's course: baseline against latest, response and remission as defined for it."""

    scale: str
    title: str
    total_max: int
    bands: tuple[tuple[int, str], ...]
    baseline_total: int
    latest_total: int
    reduction_fraction: float
    answered: int
    response: bool
    remission: bool
    response_fraction: float
    """The fall from baseline that counts as response for this scale (0.5: 50 %)."""
    remission_max: int | None
    """The highest total that counts as remission; None where the scale defines none."""


@dataclass(frozen=True, slots=True)
class ProgressReport:
    header: ReportHeader
    treatments: tuple[str, ...]
    """The protocols' titles of the patient's courses (the referrer knows the diagnosis)."""
    sessions: tuple[SessionReportLine, ...]
    scores: tuple[ScoreReportLine, ...]
    outcomes: tuple[OutcomeReportLine, ...]


@dataclass(frozen=True, slots=True)
class PreparationCard:
    """An active order's preparation as the preparation card prints it."""

    header: ReportHeader
    plan_id: int
    plan: dict[str, Any]
    """The stored plan JSON as a reader sees it (its ``preparation`` present: the order is
    active)."""


def _header(
    uow: UnitOfWork, actor: Actor, patient_id: int, catalog: Catalog, now: datetime
) -> ReportHeader:
    clinic = uow.db.get(Clinic, actor.clinic_id)
    if clinic is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    record = current_record(uow, find_patient(uow, patient_id, actor))
    own = clinic.settings or {}
    return ReportHeader(
        clinic_name=clinic.name,
        clinic_address=str(own.get("address", catalog.clinic.address)),
        time_zone=clinic.time_zone,
        generated_at=now.astimezone(ZoneInfo(clinic.time_zone)),
        generated_by=actor.email,
        patient_id=patient_id,
        patient_name=record.details.full_name,
        date_of_birth=record.details.date_of_birth,
    )


def _clock(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%H:%M}"


def _sessions(
    uow: UnitOfWork, actor: Actor, patient_id: int, policy: ClinicPolicy, zone: ZoneInfo
) -> tuple[SessionReportLine, ...]:
    rows = list(
        uow.db.scalars(
            select(InfusionSession)
            .where(InfusionSession.patient_id == patient_id)
            .order_by(InfusionSession.id)
        )
    )
    rules = clinic_chart_rules(uow, actor, policy.monitoring)
    lines = []
    # Each chart folded against its order, every order read once (a get() per session was a
    # statement per session: nothing here holds the orders between sessions).
    for chart in replay_charts(uow, rows, rules, policy):
        row, log, summary = chart.session, chart.log, chart.summary
        started = next((e.at for e in log.events if e.kind == "start"), None)
        alerts = tuple(
            f"{_clock(a.at, zone)} {a.action}: {a.message}"
            + (f" (resolved {_clock(a.resolved_at, zone)})" if a.resolved_at else "")
            for a in summary.alerts
        )
        effects = tuple(
            f"{_clock(s.at, zone)} {s.name} ({s.severity})" for s in summary.side_effects
        )
        lines.append(
            SessionReportLine(
                row.id,
                row.number,
                None if started is None else started.astimezone(zone),
                summary.state,
                summary.delivered_mg,
                summary.delivered_mg_per_kg,
                summary.infusing_min,
                summary.completed,
                summary.stop_reason,
                alerts,
                effects,
            )
        )
    return tuple(lines)


def _outcomes(scores: tuple[ScoreReportLine, ...]) -> tuple[OutcomeReportLine, ...]:
    """The patient page's outcomes (:func:`scale_outcomes`), with what the report adds: how
    many answers each rests on, and each scale's own thresholds."""
    answered = Counter(line.scale for line in scores)
    found = []
    for outcome in scale_outcomes(scores):
        spec = scale(outcome.scale)
        found.append(
            OutcomeReportLine(
                outcome.scale,
                outcome.title,
                outcome.total_max,
                outcome.bands,
                outcome.baseline_total,
                outcome.latest_total,
                outcome.reduction_fraction,
                answered[outcome.scale],
                outcome.response,
                outcome.remission,
                spec.response_fraction,
                spec.remission_max,
            )
        )
    return tuple(found)


def progress_report(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, policy: ClinicPolicy, now: datetime
) -> ProgressReport:
    """The patient's progress for the referring clinician (clinical staff only); audited."""
    require_clinical_facts(actor, "a progress report")
    with uow.reading():
        header = _header(uow, actor, patient_id, policy.catalog, now)
        zone = ZoneInfo(header.time_zone)
        protocols = list(
            uow.db.scalars(
                select(TreatmentCourse.protocol_key)
                .where(TreatmentCourse.patient_id == patient_id)
                .order_by(TreatmentCourse.id)
            )
        )
        treatments = tuple(
            dict.fromkeys(
                policy.catalog.protocols[key].title if key in policy.catalog.protocols else key
                for key in protocols
            )
        )
        scores = tuple(
            ScoreReportLine(
                r.scale,
                scale(r.scale).title,
                r.total,
                scale(r.scale).total_max,
                r.severity,
                r.answered_at.astimezone(zone),
            )
            for r in uow.db.scalars(
                select(QuestionnaireResponse)
                .where(QuestionnaireResponse.patient_id == patient_id)
                .order_by(QuestionnaireResponse.answered_at, QuestionnaireResponse.id)
            )
        )
        sessions = _sessions(uow, actor, patient_id, policy, zone)
        uow.audit(
            actor,
            AuditAction.REPORT_PROGRESS_READ,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"sessions": len(sessions), "scores": len(scores)},
        )
        uow.commit()
        return ProgressReport(header, treatments, sessions, scores, _outcomes(scores))


def preparation_card(
    uow: UnitOfWork, plan_id: int, *, actor: Actor, catalog: Catalog, now: datetime
) -> PreparationCard:
    """An active order's preparation card (clinical staff only); audited. An order that is
    not active has no card: a 409 saying where the order stands."""
    require_clinical_facts(actor, "a preparation card")
    with uow.reading():
        row = find_plan(uow, plan_id, actor)
        state = order_state(uow, plan_id)
        if not state.active:
            raise ConflictError(
                f"plan {plan_id}'s order is {state.status}: a preparation card is printed only "
                "for an active (signed) order",
                code="conflict.order_not_active",
                fields={"plan_id": plan_id, "order_status": state.status},
            )
        header = _header(uow, actor, row.patient_id, catalog, now)
        plan = plan_for_reading(row.plan, state)
        uow.audit(
            actor,
            AuditAction.REPORT_PREPARATION_CARD_READ,
            "plan",
            plan_id,
            patient_id=row.patient_id,
        )
        uow.commit()
        return PreparationCard(header, plan_id, plan)
