"""PHQ-9 item 9 flags reviewed by a clinician: who, when, and what they did (their note).

A PHQ-9 answered with item 9 above 0 ("thoughts that you would be better off dead, or of
hurting yourself") needs same-day clinician follow-up (Kroenke 2001, clinical/REFERENCE.md
section 4). The answer keeps its flag for ever; the follow-up is a separate, append-only
``item9_review`` row (one per answer, never edited), audited. The dashboard lists the flags that
have no review yet (:mod:`ketaplan.services.dashboard`). Reviewing is a treating clinician's act
(prescriber or nurse); the front desk, which does not see scores, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, select

from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.inputs import check_text
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.staff_names import shown_name
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import Item9Review, Patient, QuestionnaireResponse, User

ITEM9_FLAG = "phq9.item9_positive"
REVIEWERS: tuple[Role, ...] = ("prescriber", "nurse")
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Item9Flag:
    """One PHQ-9 answer with item 9 above 0, and its review if there is one."""

    response_id: int
    patient_id: int
    answered_at: datetime
    total: int
    item9_answer: int
    reviewed_at: datetime | None
    reviewed_by: str | None
    """The reviewer's e-mail (their sign-in name)."""
    note: str | None
    reviewer_name: str | None = None
    """The reviewer as pages name them (:func:`~ketaplan.services.staff_names.shown_name`)."""


def _note(text: str) -> str:
    note = check_text(text.strip(), field="note", multiline=True)
    if not note:
        raise InputError(
            "say what was done (e.g. called the patient, safety plan reviewed)",
            code="input.missing",
            fields={"field": "note"},
        )
    if len(note) > MAX_NOTE_CHARS:
        raise InputError(
            f"the note is {len(note)} characters; at most {MAX_NOTE_CHARS}",
            code="input.too_long",
            fields={"field": "note"},
        )
    return note


def review_item9_flag(uow: UnitOfWork, response_id: int, *, note: str, actor: Actor) -> Item9Flag:
    """Mark one flagged PHQ-9 answer reviewed, with the clinician's note; once per answer."""
    require_role(actor, REVIEWERS, "marking a PHQ-9 item 9 answer reviewed")
    checked = _note(note)
    with uow:
        response = uow.db.scalar(
            select(QuestionnaireResponse)
            .join(Patient, Patient.id == QuestionnaireResponse.patient_id)
            .where(QuestionnaireResponse.id == response_id, Patient.clinic_id == actor.clinic_id)
        )
        if response is None:
            raise NotFoundError(
                f"there is no questionnaire answer {response_id}",
                fields={"response_id": response_id},
            )
        if ITEM9_FLAG not in response.flags:
            raise InputError(
                f"answer {response_id} has no PHQ-9 item 9 flag to review",
                code="input.not_flagged",
                fields={"response_id": response_id},
            )
        done = uow.db.scalar(select(Item9Review).where(Item9Review.response_id == response_id))
        if done is not None:
            raise ConflictError(
                f"answer {response_id} was already reviewed on {done.reviewed_at.isoformat()}",
                code="conflict.already_reviewed",
                fields={"response_id": response_id},
            )
        review = Item9Review(
            response_id=response_id,
            patient_id=response.patient_id,
            note=checked,
            reviewed_at=uow.clock(),
            reviewed_by=actor.user_id,
        )
        uow.db.add(review)
        uow.db.flush()
        uow.audit(
            actor,
            AuditAction.ITEM9_REVIEW,
            "item9_review",
            review.id,
            patient_id=response.patient_id,
            details={"response_id": response_id},
        )
        reviewer = uow.db.scalar(select(User.full_name).where(User.id == actor.user_id))
        uow.commit()
        return _flag(response, review, actor.email, reviewer)


MAX_LISTED = 200


def _flag(
    response: QuestionnaireResponse,
    review: Item9Review | None,
    email: str | None,
    full_name: str | None,
) -> Item9Flag:
    return Item9Flag(
        response.id,
        response.patient_id,
        response.answered_at,
        response.total,
        int(response.answers[8]),
        review.reviewed_at if review else None,
        email,
        review.note if review else None,
        None if email is None else shown_name(full_name, email),
    )


def _with_reviews() -> Select[QuestionnaireResponse, Item9Review, str, str | None]:
    return (
        select(QuestionnaireResponse, Item9Review, User.email, User.full_name)
        .outerjoin(Item9Review, Item9Review.response_id == QuestionnaireResponse.id)
        .outerjoin(User, User.id == Item9Review.reviewed_by)
    )


_NEWEST_FIRST = (QuestionnaireResponse.answered_at.desc(), QuestionnaireResponse.id.desc())


def _patients_phq9(patient_id: int) -> ColumnElement[bool]:
    # The scale as an expression no index serves: SQLite (no statistics) otherwise reads every
    # PHQ-9 of every patient by the (scale, answered_at) index, which grew the patient page
    # with the clinic (bench-scale: 0.19); this way, the patient's own.
    return (QuestionnaireResponse.patient_id == patient_id) & (
        QuestionnaireResponse.scale + "" == "phq9"
    )


def load_item9_flags(uow: UnitOfWork, patient_id: int) -> list[Item9Flag]:
    """The patient's flagged PHQ-9 answers, newest first, each with its review, read in the
    open unit of work (the caller checks the role and the patient, and audits)."""
    statement = (
        _with_reviews().where(_patients_phq9(patient_id)).order_by(*_NEWEST_FIRST).limit(MAX_LISTED)
    )
    return [
        _flag(response, review, email, name)
        for response, review, email, name in uow.db.execute(statement)
        if ITEM9_FLAG in response.flags
    ]


def list_item9_flags(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, window: Window | None = None
) -> Listed[Item9Flag]:
    """A page of the patient's flagged PHQ-9 answers, newest first, each with its review, and
    how many there are; audited (the ids on the page).

    The flags are found among the patient's PHQ-9 answers (their ids and flags only: one
    patient's, a few a month), then the page's answers are read whole with their reviews."""
    require_clinical_facts(actor, "a patient's PHQ-9 item 9 answers")
    flagged: list[int] = []

    def page(chosen: Window) -> list[Item9Flag]:
        flagged.extend(
            response_id
            for response_id, flags in uow.db.execute(
                select(QuestionnaireResponse.id, QuestionnaireResponse.flags)
                .where(_patients_phq9(patient_id))
                .order_by(*_NEWEST_FIRST)
            )
            if ITEM9_FLAG in flags
        )
        shown = flagged[chosen.offset : chosen.offset + chosen.limit]
        if not shown:
            return []
        statement = (
            _with_reviews().where(QuestionnaireResponse.id.in_(shown)).order_by(*_NEWEST_FIRST)
        )
        return [
            _flag(response, review, email, name)
            for response, review, email, name in uow.db.execute(statement)
        ]

    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.QUESTIONNAIRE_LIST,
        ids_key="item9_response_ids",
        load=page,
        count=lambda: len(flagged),
        id_of=lambda flag: flag.response_id,
        window=window or Window(),
    )
