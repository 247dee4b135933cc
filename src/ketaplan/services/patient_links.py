"""Patient links: a patient answers questionnaires from home, without an account.

Staff make a link for one patient and a few scales (:func:`create_patient_link`). The token is
random (256 bits from :func:`secrets.token_urlsafe`), shown once, and stored only as its SHA-256,
so a copy of the database opens no link. A link expires (three days by default) and answers
each of its scales once; when the last is answered it is used up.

Whoever holds the token sees only what the patient needs: their first name (so they know the
link is theirs) and the questionnaires still to answer (:func:`open_patient_link`). Answers
(:func:`answer_patient_link`) are scored and stored exactly as staff entries are, with
``source="patient_link"`` and no recording user; the audit trail records the visitor by the
network origin. Wrong, expired and used-up tokens are all "not found" (with a code saying which),
so a link reveals nothing once it is no longer valid.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ketaplan.clinical.catalog.model import DEFAULT_CRISIS_MESSAGE
from ketaplan.clinical.outcomes import SCALES, score
from ketaplan.clinical.outcomes import scale as scale_for
from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.services.accounts import hash_token
from ketaplan.services.actors import Actor, Visitor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_identity import own_crisis_message
from ketaplan.services.courses import find_course
from ketaplan.services.patients import current_version, find_patient
from ketaplan.services.questionnaires import QuestionnaireRecord, store_response
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import Clinic, Patient, PatientLink

DEFAULT_LIFETIME = timedelta(days=3)
"""Long enough to answer before the next visit, short enough that a forwarded link goes stale."""
MAX_LIFETIME = timedelta(days=30)
MIN_LIFETIME = timedelta(minutes=5)
TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128
"""A presented token longer than this is not one of ours (ours are 43 characters)."""


@dataclass(frozen=True, slots=True)
class LinkCreated:
    """A new link: the token is shown here once and never again."""

    link_id: int
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Questionnaire:
    """What the patient's form needs to show one scale."""

    scale: str
    title: str
    items: int
    item_min: int
    item_max: int


@dataclass(frozen=True, slots=True)
class LinkView:
    """What a link shows: the first name and the questionnaires still to answer, and the
    clinic's crisis message (shown beside PHQ-9, and on its own after item 9 above 0)."""

    first_name: str
    to_answer: tuple[Questionnaire, ...]
    expires_at: datetime
    crisis_message: str = DEFAULT_CRISIS_MESSAGE


def link_scale_keys(scales: Iterable[str]) -> list[str]:
    """The scales a link asks, as their keys, once each; every unknown one named in one refusal
    of the field ``scales``.

    >>> link_scale_keys(["PHQ9", "gad7", "phq9"])
    ['phq9', 'gad7']
    """
    keys: list[str] = []
    unknown: list[str] = []
    for typed in scales:
        try:
            keys.append(scale_for(typed).key)
        except InputError:
            unknown.append(typed)
    if unknown:
        raise InputError(
            f"unknown scale {', '.join(repr(u[:40]) for u in unknown)} "
            f"(accepted: {', '.join(SCALES)})",
            code="input.unknown_scale",
            fields={
                "field": "scales",
                "unknown": [u[:40] for u in unknown],
                "accepted": list(SCALES),
            },
        )
    keys = list(dict.fromkeys(keys))
    if not keys:
        raise InputError(
            f"a link needs at least one scale (accepted: {', '.join(SCALES)})",
            code="input.missing",
            fields={"field": "scales", "accepted": list(SCALES)},
        )
    return keys


def create_patient_link(
    uow: UnitOfWork,
    patient_id: int,
    *,
    scales: Sequence[str],
    actor: Actor,
    expires_in: timedelta = DEFAULT_LIFETIME,
    course_id: int | None = None,
) -> LinkCreated:
    """A link for the patient to answer ``scales`` (e.g. ``["phq9", "gad7"]``) once each."""
    with uow:
        link = add_patient_link(
            uow, patient_id, scales=scales, actor=actor, expires_in=expires_in, course_id=course_id
        )
        uow.commit()
        return link


def add_patient_link(
    uow: UnitOfWork,
    patient_id: int,
    *,
    scales: Sequence[str],
    actor: Actor,
    expires_in: timedelta = DEFAULT_LIFETIME,
    course_id: int | None = None,
) -> LinkCreated:
    """Add a link and its audit event to the open unit of work (no commit): the outbox e-mails
    a link in the same transaction that makes it (``outbox.email_patient_link``)."""
    require_clinical_facts(actor, "a questionnaire link")
    keys = link_scale_keys(scales)
    if not MIN_LIFETIME <= expires_in <= MAX_LIFETIME:
        raise InputError(
            f"a link lasts {MIN_LIFETIME} to {MAX_LIFETIME.days} days; got {expires_in}",
            code="input.out_of_range",
            fields={"field": "expires_in"},
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    find_patient(uow, patient_id, actor)
    if course_id is not None and find_course(uow, course_id, actor).patient_id != patient_id:
        raise InputError(
            f"course {course_id} belongs to another patient",
            code="input.wrong_patient",
            fields={"course_id": course_id},
        )
    now = uow.clock()
    row = PatientLink(
        token_hash=hash_token(token),
        patient_id=patient_id,
        course_id=course_id,
        scales=keys,
        answered=[],
        created_at=now,
        created_by=actor.user_id,
        expires_at=now + expires_in,
        used_at=None,
    )
    uow.db.add(row)
    uow.db.flush()
    uow.audit(
        actor,
        AuditAction.PATIENT_LINK_CREATE,
        "patient_link",
        row.id,
        patient_id=patient_id,
        details={
            "scales": keys,
            "course_id": course_id,
            "expires_at": row.expires_at.isoformat(),
        },
    )
    return LinkCreated(row.id, token, row.expires_at)


def _not_found() -> NotFoundError:
    return NotFoundError(
        "this questionnaire link does not exist; check that the whole link was copied, or ask "
        "the clinic for a new one",
        code="link.not_found",
    )


def _valid_link(uow: UnitOfWork, token: str, *, for_update: bool = False) -> PatientLink:
    """The link a token opens, if it is still valid (locked for an answer on PostgreSQL)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise _not_found()
    statement = select(PatientLink).where(PatientLink.token_hash == hash_token(token))
    link = uow.db.scalar(statement.with_for_update() if for_update else statement)
    if link is None:
        raise _not_found()
    if link.used_at is not None:
        raise NotFoundError(
            "every questionnaire of this link has been answered, thank you; the clinic will "
            "send a new link when there is more to answer",
            code="link.used",
        )
    if link.expires_at <= uow.clock():
        raise NotFoundError(
            "this questionnaire link has expired; ask the clinic for a new one",
            code="link.expired",
        )
    return link


def _view(uow: UnitOfWork, link: PatientLink, crisis_default: str) -> LinkView:
    remaining = [key for key in link.scales if key not in link.answered]
    patient = uow.db.get_one(Patient, link.patient_id)
    full_name = current_version(uow, patient).full_name
    own = uow.db.get_one(Clinic, patient.clinic_id).settings or {}
    return LinkView(
        first_name=(full_name.split() or [""])[0],
        to_answer=tuple(
            Questionnaire(key, SCALES[key].title, SCALES[key].items, 0, SCALES[key].item_max)
            for key in remaining
        ),
        expires_at=link.expires_at,
        crisis_message=own_crisis_message(own, crisis_default),
    )


def open_patient_link(
    uow: UnitOfWork, token: str, *, origin: str, crisis_default: str = DEFAULT_CRISIS_MESSAGE
) -> LinkView:
    """What the link shows; opening it is audited (the visitor by origin). The crisis message
    is the clinic's setting, or ``crisis_default`` (the catalog's) when it has none."""
    with uow:
        link = _valid_link(uow, token)
        view = _view(uow, link, crisis_default)
        uow.audit(
            Visitor(origin),
            AuditAction.PATIENT_LINK_OPEN,
            "patient_link",
            link.id,
            patient_id=link.patient_id,
            details={"to_answer": [q.scale for q in view.to_answer]},
        )
        uow.commit()
        return view


def answer_patient_link(
    uow: UnitOfWork, token: str, *, scale: str, answers: Sequence[object], origin: str
) -> QuestionnaireRecord:
    """Score and store the patient's answers to one of the link's scales (now, once)."""
    key = scale_for(scale).key
    with uow:
        link = _valid_link(uow, token, for_update=True)
        if key not in link.scales:
            raise InputError(
                f"this link is for {', '.join(link.scales)}, not {key}",
                code="input.scale_not_on_link",
                fields={"field": "scale", "accepted": list(link.scales)},
            )
        if key in link.answered:
            raise ConflictError(
                f"{key} has already been answered through this link",
                code="conflict.already_answered",
                fields={"scale": key},
            )
        scored = score(key, answers)
        now = uow.clock()
        record = store_response(
            uow,
            link.patient_id,
            scored,
            answered_at=now,
            actor=Visitor(origin),
            source="patient_link",
            course_id=link.course_id,
            details={"patient_link_id": link.id},
        )
        link.answered = [*link.answered, key]
        if set(link.scales) <= set(link.answered):
            link.used_at = now
        uow.commit()
        return record
