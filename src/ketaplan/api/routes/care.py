"""Measurement-based care: a questionnaire link e-mailed to the patient, the e-mails' delivery,
and PHQ-9 item 9 flags with a clinician's review.

The same use cases as the patient page (:class:`ketaplan.http.care_use_cases.MeasurementCare`):
the link and its e-mail are written in one transaction through the outbox and sent afterwards
by ``ketaplan outbox send``, so the answer is the message and its status (``queued``), never
the link itself (it goes to the patient only; ``POST /patients/{id}/links`` makes a link to
hand over in person). An e-mail's delivery is listed without its body. Reviewing an item 9
flag is a prescriber's or a nurse's act, once per answer, with a note of what was done; the
front desk sees no flag.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of, window
from ketaplan.api.routes.questionnaires import ScaleKey
from ketaplan.http.context import services
from ketaplan.http.params import Line, MultilineText, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services.item9_reviews import MAX_NOTE_CHARS, Item9Flag
from ketaplan.services.outbox import MAX_ADDRESS_LENGTH, OutboxView

router = APIRouter(tags=["measurement-based care"])


class EmailLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[
        Line,
        Field(
            max_length=MAX_ADDRESS_LENGTH,
            description="The patient's e-mail address (422 input.invalid_email otherwise).",
            examples=["alex@example.org"],
        ),
    ]
    scales: Annotated[
        list[ScaleKey],
        Field(
            max_length=6,
            description="The questionnaires the link asks, at least one (422 input.missing or "
            "input.unknown_scale otherwise); a bad address and bad scales are reported together "
            "in `problems`.",
            examples=[["phq9"]],
        ),
    ]


class EmailedLinkOut(BaseModel):
    message_id: int = Field(description="The outbox message (GET .../messages for its delivery).")
    status: str = Field(description="queued: the sender delivers it and retries on failure.")
    to_address: str
    link_id: int
    scales: list[str] = Field(description="The scales the link asks, as their keys.")
    expires_at: datetime = Field(description="When the link stops opening.")


class MessageOut(BaseModel):
    """One e-mail to the patient and its delivery (never its body or link)."""

    message_id: int
    kind: str = Field(description="questionnaire_link or appointment_reminder.")
    to_address: str
    status: str = Field(description="queued, sent or failed (for good).")
    attempts: int = Field(description="Tries so far.")
    max_attempts: int = Field(description="Tries before it is marked failed.")
    last_error: str | None = Field(description="The mail server's last refusal, if any.")
    next_attempt_at: datetime | None = Field(
        description="When the next try is due; null once sent or failed."
    )
    created_at: datetime
    sent_at: datetime | None


class MessagePage(Page[MessageOut]):
    """A page of a patient's e-mails, newest first."""


class Item9FlagOut(BaseModel):
    """A PHQ-9 answered with item 9 above 0, and its review once there is one."""

    response_id: int = Field(description="The answer (GET .../questionnaires lists them all).")
    patient_id: int
    answered_at: datetime
    total: int = Field(description="The PHQ-9 total, 0-27 points.")
    item9_answer: int = Field(description="Item 9's answer, 1-3.")
    reviewed: bool
    reviewed_at: datetime | None
    reviewed_by: str | None = Field(description="The reviewer's e-mail (their sign-in name).")
    reviewer_name: str | None = Field(
        description="The reviewer's name as pages show it (their e-mail when no name is set)."
    )
    note: str | None = Field(description="What the reviewer did, as they wrote it.")


class Item9FlagPage(Page[Item9FlagOut]):
    """A page of a patient's PHQ-9 item 9 flags, newest answered first."""


class ReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[
        MultilineText,
        Field(
            max_length=MAX_NOTE_CHARS,
            description="What was done, e.g. called the patient, safety plan reviewed (422 "
            "input.missing when blank).",
            examples=["Called the patient; safety plan reviewed."],
        ),
    ]


def _message(view: OutboxView) -> MessageOut:
    return MessageOut(
        message_id=view.message_id,
        kind=view.kind,
        to_address=view.to_address,
        status=view.status,
        attempts=view.attempts,
        max_attempts=view.max_attempts,
        last_error=view.last_error,
        next_attempt_at=view.next_attempt_at,
        created_at=view.created_at,
        sent_at=view.sent_at,
    )


def _flag(flag: Item9Flag) -> Item9FlagOut:
    return Item9FlagOut(
        response_id=flag.response_id,
        patient_id=flag.patient_id,
        answered_at=flag.answered_at,
        total=flag.total,
        item9_answer=flag.item9_answer,
        reviewed=flag.reviewed_at is not None,
        reviewed_at=flag.reviewed_at,
        reviewed_by=flag.reviewed_by,
        reviewer_name=flag.reviewer_name,
        note=flag.note,
    )


@router.post(
    "/patients/{patient_id}/questionnaire-links/email",
    name="email_patient_link",
    status_code=201,
)
def email_link(
    patient_id: RecordId, body: EmailLinkIn, actor: SignedIn, request: Request
) -> EmailedLinkOut:
    """Make a questionnaire link and queue its e-mail to the patient, both in one transaction
    (nothing is written when either is refused)."""
    emailed = services(request).care.email_link(
        patient_id, scales=list(body.scales), to_address=body.email, actor=actor
    )
    return EmailedLinkOut(
        message_id=emailed.message_id,
        status=emailed.status,
        to_address=emailed.to_address,
        link_id=emailed.link.link_id,
        scales=list(emailed.scales),
        expires_at=emailed.link.expires_at,
    )


@router.get("/patients/{patient_id}/messages", name="list_patient_messages")
def messages(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> MessagePage:
    """The patient's e-mails and their delivery (status, attempts, last error), newest first,
    a page at a time."""
    found = services(request).care.messages(patient_id, actor=actor, window=window(limit, cursor))
    return page_of(found, _message, MessagePage)


@router.get("/patients/{patient_id}/item9-flags", name="list_item9_flags")
def item9_flags(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Item9FlagPage:
    """The patient's PHQ-9 answers with item 9 above 0, newest first, each with its review."""
    found = services(request).care.item9_flags(
        patient_id, actor=actor, window=window(limit, cursor)
    )
    return page_of(found, _flag, Item9FlagPage)


@router.post("/item9-flags/{response_id}/review", name="review_item9_flag", status_code=201)
def review_item9_flag(
    response_id: RecordId, body: ReviewIn, actor: SignedIn, request: Request
) -> Item9FlagOut:
    """Mark a flagged PHQ-9 answer reviewed with a note (once: a second review is a 409
    conflict.already_reviewed; an answer without the flag is a 422 input.not_flagged)."""
    reviewed = services(request).care.review_item9(response_id, note=body.note, actor=actor)
    return _flag(reviewed)
