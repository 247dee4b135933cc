"""Questionnaire responses: every item answer kept, scored by the domain's published rules.

A response is never edited: a correction is a new response. Flags (PHQ-9 item 9 above 0) come
back as data for the caller to show; they are not errors. Staff enter responses with
:func:`record_questionnaire`; patients answer through a link
(:mod:`ketaplan.services.patient_links`); both store through :func:`store_response`, so a score
means the same whoever typed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select

from ketaplan.clinical.outcomes import Score, scale, score
from ketaplan.errors import InputError
from ketaplan.services.actors import Actor, Visitor
from ketaplan.services.courses import find_course
from ketaplan.services.patients import find_patient
from ketaplan.services.sessions import find_session
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import QuestionnaireResponse

Source = Literal["staff", "patient_link"]

MAX_LISTED = 500
"""A patient's responses listed at most (newest first): years of weekly questionnaires."""


@dataclass(frozen=True, slots=True)
class QuestionnaireRecord:
    response_id: int
    patient_id: int
    answers: tuple[int, ...]
    score: dict[str, object]
    answered_at: datetime
    scale: str
    source: str
    course_id: int | None
    session_id: int | None
    recorded_by: int | None


def _record(row: QuestionnaireResponse) -> QuestionnaireRecord:
    return QuestionnaireRecord(
        row.id,
        row.patient_id,
        tuple(row.answers),
        {
            "scale": row.scale,
            "total": row.total,
            "severity": row.severity,
            "flags": list(row.flags),
            **row.details,
        },
        row.answered_at,
        row.scale,
        row.source,
        row.course_id,
        row.session_id,
        row.recorded_by,
    )


def store_response(
    uow: UnitOfWork,
    patient_id: int,
    scored: Score,
    *,
    answered_at: datetime,
    actor: Actor | Visitor,
    source: Source,
    course_id: int | None = None,
    session_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> QuestionnaireRecord:
    """Add one scored response and its audit event to the open unit of work (no commit).

    The caller has checked that the patient, course and session go together.
    """
    row = QuestionnaireResponse(
        patient_id=patient_id,
        course_id=course_id,
        session_id=session_id,
        scale=scored.scale,
        answers=list(scored.answers),
        total=scored.total,
        severity=scored.severity,
        flags=list(scored.flags),
        details=dict(scored.details),
        answered_at=answered_at,
        source=source,
        recorded_at=uow.clock(),
        recorded_by=actor.user_id,
    )
    uow.session.add(row)
    uow.session.flush()
    uow.audit(
        actor,
        "questionnaire.record",
        "questionnaire_response",
        row.id,
        patient_id=patient_id,
        details={
            "scale": scored.scale,
            "source": source,
            "course_id": course_id,
            "session_id": session_id,
            **(details or {}),
        },
    )
    return QuestionnaireRecord(
        row.id,
        patient_id,
        scored.answers,
        scored.to_dict(),
        answered_at,
        scored.scale,
        source,
        course_id,
        session_id,
        actor.user_id,
    )


def _checked_time(answered_at: datetime) -> datetime:
    if answered_at.tzinfo is None or answered_at.utcoffset() is None:
        raise InputError(
            f"answered_at {answered_at.isoformat()} has no time zone; give it with its offset",
            code="input.naive_time",
            fields={"field": "answered_at"},
        )
    return answered_at


def record_questionnaire(
    uow: UnitOfWork,
    patient_id: int,
    *,
    scale: str,
    answers: Sequence[object],
    answered_at: datetime,
    actor: Actor,
    course_id: int | None = None,
    session_id: int | None = None,
    source: Source = "staff",
) -> QuestionnaireRecord:
    """Score and store one completed questionnaire (all items; a gap is refused)."""
    _checked_time(answered_at)
    scored = score(scale, answers)
    with uow:
        find_patient(uow, patient_id, actor)
        links = (
            ("course", find_course(uow, course_id, actor) if course_id is not None else None),
            ("session", find_session(uow, session_id, actor) if session_id is not None else None),
        )
        for kind, found in links:
            if found is not None and found.patient_id != patient_id:
                raise InputError(
                    f"{kind} {found.id} belongs to another patient",
                    code="input.wrong_patient",
                    fields={f"{kind}_id": found.id},
                )
        record = store_response(
            uow,
            patient_id,
            scored,
            answered_at=answered_at,
            actor=actor,
            source=source,
            course_id=course_id,
            session_id=session_id,
        )
        uow.commit()
        return record


def list_questionnaires(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, scale_key: str | None = None
) -> list[QuestionnaireRecord]:
    """The patient's responses, newest answered first (one scale if given); audited."""
    statement = (
        select(QuestionnaireResponse)
        .where(QuestionnaireResponse.patient_id == patient_id)
        .order_by(QuestionnaireResponse.answered_at.desc(), QuestionnaireResponse.id.desc())
        .limit(MAX_LISTED)
    )
    if scale_key is not None:
        statement = statement.where(QuestionnaireResponse.scale == scale(scale_key).key)
    with uow:
        find_patient(uow, patient_id, actor)
        found = [_record(row) for row in uow.session.scalars(statement)]
        uow.audit(
            actor,
            "questionnaire.list",
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"response_ids": [r.response_id for r in found]},
        )
        uow.commit()
        return found
