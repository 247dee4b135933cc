"""FHIR export use cases: one patient's record (``Patient/$everything``) and a whole clinic's
(bulk ``$export``, ``ketaplan export fhir``), read in one snapshot and audited.

A FHIR export is a read of clinical facts, so it is clinical staff's (a patient's record) or
an admin's (the whole clinic: a disclosure of every patient at once). Each patient whose record
goes out gets an audit event of their own (``fhir.export``, with the number of resources), so
a patient's accounting of disclosures finds it; a clinic export adds one event naming every
patient.

Rows are read here and handed to the pure builders of :mod:`ketaplan.export.fhir`; the chart
of each session is replayed by the domain's fold (the same one the console shows) to find its
constant-rate stretches, so the doses exported are the doses the chart adds up to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.session import infusion_segments
from ketaplan.export.fhir import (
    PatientRows,
    SessionDelivery,
    model_check,
    patient_resources,
    referenced_users,
    shared_resources,
)
from ketaplan.export.fhir.surveys import scales_answered
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_policy import ChartRules, clinic_chart_rules
from ketaplan.services.patients import find_patient
from ketaplan.services.sessions import chart_terms_with, replay_stored
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import (
    Clinic,
    InfusionPlan,
    InfusionSession,
    Item9Review,
    OrderEvent,
    Patient,
    PatientVersion,
    QuestionnaireResponse,
    Screening,
    SessionEvent,
    TreatmentCourse,
    User,
)


@dataclass(frozen=True, slots=True)
class FhirExport:
    """Resources ready to write: the patients' own, then the clinic and staff they name."""

    patient_ids: tuple[int, ...]
    resources: tuple[dict[str, Any], ...]


def _delivery(
    session: InfusionSession,
    order: InfusionPlan | None,
    events: Sequence[SessionEvent],
    rules: ChartRules,
    policy: ClinicPolicy,
) -> SessionDelivery:
    terms = chart_terms_with(session, order, policy)
    log = replay_stored([e.data for e in events], session, rules, terms)
    return SessionDelivery(
        started_at=log.state.started_at,
        segments=infusion_segments(log),
        voided=frozenset(log.voided),
        state=log.state.state,
    )


def _patient_rows(
    uow: UnitOfWork, patient: Patient, clinic: Clinic, rules: ChartRules, policy: ClinicPolicy
) -> PatientRows:
    """Every stored row of one patient the export covers, in id order (inside ``uow``)."""
    db = uow.db
    pid = patient.id
    plans = tuple(
        db.scalars(
            select(InfusionPlan).where(InfusionPlan.patient_id == pid).order_by(InfusionPlan.id)
        )
    )
    sessions = tuple(
        db.scalars(
            select(InfusionSession)
            .where(InfusionSession.patient_id == pid)
            .order_by(InfusionSession.id)
        )
    )
    events = tuple(
        db.scalars(
            select(SessionEvent)
            .join(InfusionSession, InfusionSession.id == SessionEvent.session_id)
            .where(InfusionSession.patient_id == pid)
            .order_by(SessionEvent.session_id, SessionEvent.seq)
        )
    )
    # Each chart checked against its order from the patient's orders read above (the session's
    # order was checked to be its patient's when it was opened), and its own events.
    orders = {plan.id: plan for plan in plans}
    charted: dict[int, list[SessionEvent]] = defaultdict(list)
    for charted_event in events:
        charted[charted_event.session_id].append(charted_event)
    deliveries = {
        s.id: _delivery(
            s,
            orders[s.plan_id] if s.plan_id is not None else None,
            charted[s.id],
            rules,
            policy,
        )
        for s in sessions
    }
    courses = tuple(
        db.scalars(
            select(TreatmentCourse)
            .where(TreatmentCourse.patient_id == pid)
            .order_by(TreatmentCourse.id)
        )
    )
    screenings = tuple(
        db.scalars(select(Screening).where(Screening.patient_id == pid).order_by(Screening.id))
    )
    titles = {}
    keys = {s.condition for s in screenings} | {p.condition for p in plans}
    for key in keys | {c.protocol_key for c in courses}:
        protocol = policy.catalog.protocols.get(key)
        titles[key] = protocol.title if protocol is not None else key.replace("_", " ")
    return PatientRows(
        clinic=clinic,
        patient=patient,
        versions=tuple(
            db.scalars(
                select(PatientVersion)
                .where(PatientVersion.patient_id == pid)
                .order_by(PatientVersion.version)
            )
        ),
        plans=plans,
        order_events=tuple(
            db.scalars(
                select(OrderEvent)
                .join(InfusionPlan, InfusionPlan.id == OrderEvent.plan_id)
                .where(InfusionPlan.patient_id == pid)
                .order_by(OrderEvent.id)
            )
        ),
        courses=courses,
        sessions=sessions,
        events=events,
        deliveries=deliveries,
        responses=tuple(
            db.scalars(
                select(QuestionnaireResponse)
                .where(QuestionnaireResponse.patient_id == pid)
                .order_by(QuestionnaireResponse.id)
            )
        ),
        screenings=screenings,
        condition_titles=titles,
        item9_reviews={
            review.response_id: review
            for review in db.scalars(select(Item9Review).where(Item9Review.patient_id == pid))
        },
    )


def _export(
    uow: UnitOfWork, patients: Sequence[Patient], actor: Actor, policy: ClinicPolicy
) -> FhirExport:
    """The patients' resources and the clinic and staff they name; one audit event per
    patient (the caller commits)."""
    clinic = uow.db.get_one(Clinic, actor.clinic_id)
    rules = clinic_chart_rules(uow, actor, policy.monitoring)
    own: list[dict[str, Any]] = []
    scales: set[str] = set()
    for patient in patients:
        rows = _patient_rows(uow, patient, clinic, rules, policy)
        made = patient_resources(rows)
        own += made
        scales |= scales_answered(rows)
        uow.audit(
            actor,
            AuditAction.FHIR_EXPORT,
            "patient",
            patient.id,
            patient_id=patient.id,
            details={"resources": len(made)},
        )
    user_ids = referenced_users(own)
    users = uow.db.scalars(select(User).where(User.id.in_(user_ids))).all() if user_ids else []
    resources = (*own, *shared_resources(clinic, users, scales))
    for resource in resources:  # a resource the models refuse is a bug: it is never sent
        model_check(resource)
    return FhirExport(tuple(p.id for p in patients), resources)


def export_patient_fhir(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, policy: ClinicPolicy
) -> FhirExport:
    """One patient's whole record as FHIR resources (``Patient/$everything``): clinical
    staff only; audited as a read of the patient."""
    require_clinical_facts(actor, "a patient's FHIR record")
    with uow.reading():
        patient = find_patient(uow, patient_id, actor)
        found = _export(uow, [patient], actor, policy)
        uow.commit()
        return found


def export_clinic_fhir(uow: UnitOfWork, *, actor: Actor, policy: ClinicPolicy) -> FhirExport:
    """Every patient of the actor's clinic as FHIR resources (bulk ``$export``): an admin's;
    one audit event per patient and one naming them all."""
    require_role(actor, ("admin",), "exporting the whole clinic's records")
    with uow.reading():
        patients = uow.db.scalars(
            select(Patient).where(Patient.clinic_id == actor.clinic_id).order_by(Patient.id)
        ).all()
        found = _export(uow, patients, actor, policy)
        uow.audit(
            actor,
            AuditAction.FHIR_EXPORT_CLINIC,
            "clinic",
            actor.clinic_id,
            details={"patient_ids": list(found.patient_ids), "resources": len(found.resources)},
        )
        uow.commit()
        return found
