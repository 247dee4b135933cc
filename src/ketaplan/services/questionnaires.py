"""Questionnaire responses: every item answer kept, scored by the domain's published rules.

A response is never edited: a correction is a new response. Flags (PHQ-9 item 9 above 0) come
back as data for the caller to show; they are not errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ketaplan.clinical.outcomes import score
from ketaplan.errors import InputError
from ketaplan.services.actors import Actor
from ketaplan.services.courses import find_course
from ketaplan.services.patients import find_patient
from ketaplan.services.sessions import find_session
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import QuestionnaireResponse

Source = Literal["staff", "patient_link"]


@dataclass(frozen=True, slots=True)
class QuestionnaireRecord:
    response_id: int
    patient_id: int
    answers: tuple[int, ...]
    score: dict[str, object]
    answered_at: datetime


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
    if answered_at.tzinfo is None or answered_at.utcoffset() is None:
        raise InputError(
            f"answered_at {answered_at.isoformat()} has no time zone; give it with its offset",
            code="input.naive_time",
            fields={"field": "answered_at"},
        )
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
        details: dict[str, Any] = dict(scored.details)
        row = QuestionnaireResponse(
            patient_id=patient_id,
            course_id=course_id,
            session_id=session_id,
            scale=scored.scale,
            answers=list(scored.answers),
            total=scored.total,
            severity=scored.severity,
            flags=list(scored.flags),
            details=details,
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
            details={"scale": scored.scale, "source": source, "session_id": session_id},
        )
        uow.commit()
        return QuestionnaireRecord(
            row.id, patient_id, scored.answers, scored.to_dict(), answered_at
        )
