"""The questionnaires a patient is due, derived when asked (never stored as truth).

The schedule is the catalog's (:mod:`ketaplan.clinical.measurement`, per protocol), with the
clinic's own interval per scale where it set one
(:mod:`~ketaplan.services.questionnaire_intervals`); the facts
are the patient's latest course (its protocol and its booked session days) and the days each
scale was answered. One audited read (``questionnaire.due.read``), which for the patient page
(:func:`patient_care`) also reads the e-mails and the item 9 flags; the front desk, which does
not see the protocol (a diagnosis) or scores, is refused.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.measurement import DueQuestionnaire, Schedules, due_questionnaires
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.item9_reviews import Item9Flag, load_item9_flags
from ketaplan.services.outbox import PatientMessages, load_patient_messages
from ketaplan.services.patients import find_patient
from ketaplan.services.questionnaire_intervals import own_every_days
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import (
    Clinic,
    CourseBooking,
    Patient,
    QuestionnaireResponse,
    TreatmentCourse,
)


@dataclass(frozen=True, slots=True)
class DueView:
    """What the patient is due, under which course and schedule."""

    course_id: int | None
    protocol_title: str | None
    scales: tuple[str, ...]
    """The schedule's scales (what a link asks when nothing is due yet)."""
    due: tuple[DueQuestionnaire, ...]


def load_due(
    uow: UnitOfWork, patient_id: int, *, catalog: Catalog, schedules: Schedules, zone: ZoneInfo
) -> DueView:
    """What the patient's latest course makes due today, read in the open unit of work."""
    today = uow.clock().astimezone(zone).date()
    course = uow.db.scalar(
        select(TreatmentCourse)
        .where(TreatmentCourse.patient_id == patient_id)
        .order_by(TreatmentCourse.first_day.desc(), TreatmentCourse.id.desc())
        .limit(1)
    )
    if course is None:
        return DueView(None, None, ("phq9",), ())
    protocol = catalog.protocols.get(course.protocol_key)
    category = protocol.category if protocol is not None else "mood"
    clinic = uow.db.get_one(Clinic, uow.db.get_one(Patient, patient_id).clinic_id)
    own = schedules.with_every_days(own_every_days(clinic.settings or {}))
    schedule = own.for_protocol(course.protocol_key, category)
    session_days = [
        start.astimezone(zone).date()
        for start in uow.db.scalars(
            select(CourseBooking.start_at).where(CourseBooking.course_id == course.id)
        )
    ]
    answered: dict[str, list[date]] = defaultdict(list)
    for scale, at in uow.db.execute(
        select(QuestionnaireResponse.scale, QuestionnaireResponse.answered_at).where(
            QuestionnaireResponse.patient_id == patient_id,
            QuestionnaireResponse.scale.in_(schedule.scales),
        )
    ):
        answered[scale].append(at.astimezone(zone).date())
    return DueView(
        course.id,
        protocol.title if protocol is not None else course.protocol_key,
        schedule.scales,
        due_questionnaires(
            schedule,
            session_days=session_days,
            answered=answered,
            today=today,
            answer_window_days=schedules.answer_window_days,
        ),
    )


def patient_due_questionnaires(
    uow: UnitOfWork,
    patient_id: int,
    *,
    actor: Actor,
    catalog: Catalog,
    schedules: Schedules,
    zone: ZoneInfo,
) -> DueView:
    """The questionnaires due for the patient's latest course today (the clinic's zone)."""
    require_clinical_facts(actor, "the questionnaires a patient is due")
    with uow.reading():
        find_patient(uow, patient_id, actor)
        view = load_due(uow, patient_id, catalog=catalog, schedules=schedules, zone=zone)
        uow.audit(
            actor,
            AuditAction.QUESTIONNAIRE_DUE_READ,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"course_id": view.course_id, "due": [d.scale for d in view.due]},
        )
        uow.commit()
        return view


@dataclass(frozen=True, slots=True)
class CareView:
    """Measurement-based care on the patient page: what is due, the e-mails and their
    delivery, and the PHQ-9 item 9 flags with their reviews."""

    due: DueView
    messages: PatientMessages
    item9: tuple[Item9Flag, ...]


def patient_care(
    uow: UnitOfWork,
    patient_id: int,
    *,
    actor: Actor,
    catalog: Catalog,
    schedules: Schedules,
    zone: ZoneInfo,
) -> CareView:
    """The patient page's measurement-based care in one read with one audit event (naming the
    e-mails and the item 9 answers shown), not three."""
    require_clinical_facts(actor, "a patient's questionnaires and e-mails")
    with uow.reading():
        find_patient(uow, patient_id, actor)
        view = CareView(
            load_due(uow, patient_id, catalog=catalog, schedules=schedules, zone=zone),
            load_patient_messages(uow, patient_id),
            tuple(load_item9_flags(uow, patient_id)),
        )
        uow.audit(
            actor,
            AuditAction.QUESTIONNAIRE_DUE_READ,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={
                "course_id": view.due.course_id,
                "due": [d.scale for d in view.due.due],
                "message_ids": [m.message_id for m in view.messages.messages],
                "item9_response_ids": [f.response_id for f in view.item9],
            },
        )
        uow.commit()
        return view
