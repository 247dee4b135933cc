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
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select

from ketaplan.clinical.outcomes import Score, scale, score
from ketaplan.errors import InputError
from ketaplan.services.actors import Actor, Visitor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.courses import find_course
from ketaplan.services.item9_reviews import ITEM9_FLAG
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.patients import find_patient
from ketaplan.services.sessions import find_session
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import Item9PositiveAnswer, Patient, QuestionnaireResponse

Source = Literal["staff", "patient_link"]

CLOCK_SKEW = timedelta(minutes=5)
"""How far after the server's clock an answer time may be: the entering device's clock may run a
little ahead. Beyond that the time is a typing mistake (a wrong month or year), and a score
dated in the future would stand as the patient's latest for weeks and steer titration."""
EARLIEST_ANSWER = datetime(2000, 1, 1, tzinfo=UTC)
"""No answer kept here predates 2000 (ketamine clinics for depression began in the 2010s);
an earlier time is a typing mistake. Answers from before the patient was registered are
allowed: a baseline on paper is often entered later."""


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
    uow.db.add(row)
    uow.db.flush()
    if scored.scale == "phq9" and ITEM9_FLAG in scored.flags:
        # The dashboard's flags read this by clinic (derived from the response, not audited).
        clinic_id = uow.db.scalar(select(Patient.clinic_id).where(Patient.id == patient_id))
        uow.db.add(
            Item9PositiveAnswer(
                response_id=row.id,
                clinic_id=clinic_id,
                patient_id=patient_id,
                answered_at=answered_at,
            )
        )
    uow.audit(
        actor,
        AuditAction.QUESTIONNAIRE_RECORD,
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


def _checked_time(answered_at: datetime, now: datetime) -> datetime:
    """An answer time with its offset, from 2000 up to a few minutes after ``now``."""
    if answered_at.tzinfo is None or answered_at.utcoffset() is None:
        raise InputError(
            f"answered_at {answered_at.isoformat()} has no time zone; give it with its offset",
            code="input.naive_time",
            fields={"field": "answered_at"},
        )
    latest = now + CLOCK_SKEW
    accepted = (
        f"from {EARLIEST_ANSWER.date().isoformat()} up to {int(CLOCK_SKEW.total_seconds() // 60)}"
        f" minutes after the server's clock ({now.astimezone(UTC).isoformat(timespec='seconds')})"
    )
    bounds = {
        "field": "answered_at",
        "value": answered_at.isoformat(),
        "earliest": EARLIEST_ANSWER.isoformat(),
        "latest": latest.astimezone(UTC).isoformat(timespec="seconds"),
    }
    if answered_at > latest:
        raise InputError(
            f"answered_at {answered_at.isoformat()} is in the future; give when the patient "
            f"answered, {accepted}",
            code="input.time_in_future",
            fields=bounds,
        )
    if answered_at < EARLIEST_ANSWER:
        raise InputError(
            f"answered_at {answered_at.isoformat()} is before "
            f"{EARLIEST_ANSWER.date().isoformat()}, which is surely a typing mistake; give when "
            f"the patient answered, {accepted}",
            code="input.time_too_early",
            fields=bounds,
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
    """Score and store one completed questionnaire (all items; a gap is refused).

    ``answered_at`` is when the patient answered: with its offset, not in the future (beyond
    :data:`CLOCK_SKEW` by the unit of work's clock) and not before :data:`EARLIEST_ANSWER`.
    """
    require_clinical_facts(actor, "a questionnaire's answers")
    _checked_time(answered_at, uow.clock())
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


FIRST_PAGE = Window()
"""The page a caller that names none gets (the newest)."""


def list_questionnaires(
    uow: UnitOfWork,
    patient_id: int,
    *,
    actor: Actor,
    scale_key: str | None = None,
    window: Window = FIRST_PAGE,
) -> Listed[QuestionnaireRecord]:
    """A page of the patient's responses, newest answered first (one scale if given), and
    how many there are; audited."""
    require_clinical_facts(actor, "a patient's scores")
    theirs = [QuestionnaireResponse.patient_id == patient_id]
    if scale_key is not None:
        theirs.append(QuestionnaireResponse.scale == scale(scale_key).key)
    statement = (
        select(QuestionnaireResponse)
        .where(*theirs)
        .order_by(QuestionnaireResponse.answered_at.desc(), QuestionnaireResponse.id.desc())
        .limit(window.limit)
        .offset(window.offset)
    )
    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.QUESTIONNAIRE_LIST,
        ids_key="response_ids",
        load=lambda _window: (_record(row) for row in uow.db.scalars(statement)),
        count=lambda: (
            uow.db.scalar(select(func.count()).select_from(QuestionnaireResponse).where(*theirs))
            or 0
        ),
        id_of=lambda response: response.response_id,
        window=window,
    )
