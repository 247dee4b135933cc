"""Questionnaires: responses entered by staff, and links for patients to answer from home.

The two link routes are public: whoever holds the token sees the patient's first name and the
questionnaires still to answer, and can answer each once; nothing else about the patient. A
wrong, expired or used-up token is a 404 whose code says which (``link.not_found``,
``link.expired``, ``link.used``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of, window
from ketaplan.http.context import services
from ketaplan.http.params import ClinicTime, Line, LinkToken, OptionalRecordId, RecordId
from ketaplan.http.security import SignedIn, client_origin
from ketaplan.services import (
    QuestionnaireRecord,
)

router = APIRouter(tags=["questionnaires"])

ScaleKey = Annotated[
    Line,
    Field(
        min_length=1,
        max_length=32,
        description="phq9, gad7, pcl5, qids_sr16, pain_nrs or tolerability.",
        examples=["phq9"],
    ),
]
Answers = Annotated[
    list[Annotated[int, Field(ge=-1000, le=1000)]],
    Field(max_length=50, description="Every item's answer, in item order.", examples=[[1] * 9]),
]


class ResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: ScaleKey
    answers: Answers
    answered_at: Annotated[
        ClinicTime,
        Field(
            description="When the patient answered, with its UTC offset: from 2000 up to 5 "
            "minutes after the server's clock (422 input.time_in_future or "
            "input.time_too_early otherwise).",
            examples=["2026-11-20T10:00:00-08:00"],
        ),
    ]
    course_id: OptionalRecordId = None
    session_id: OptionalRecordId = None


class ScoreOut(BaseModel):
    """A scored response (:meth:`ketaplan.clinical.outcomes.Score.to_dict`): the total and
    its band for every scale, and each scale's own details where it has them (the others
    are left out of the JSON, as the routes answer with ``response_model_exclude_unset``)."""

    scale: str
    total: int = Field(description="In the scale's points (PHQ-9 0-27, GAD-7 0-21, ...).")
    severity: str = Field(description="The total's band, e.g. moderate.")
    flags: list[str] = Field(description="Answers a clinician reviews the same day.")
    provisional_ptsd: bool | None = Field(None, description="PCL-5: the DSM-5 rule is met.")
    clusters: dict[str, int] | None = Field(None, description="PCL-5: each cluster's sum.")
    endorsed_per_cluster: dict[str, int] | None = Field(
        None, description="PCL-5: items rated 2 or more, per cluster."
    )
    cutoff_range: list[int] | None = Field(
        None, description="PCL-5: the suggested total cutoff range."
    )
    domains: dict[str, int] | None = Field(
        None, description="QIDS-SR16: each of the nine domains' points."
    )


class ResponseOut(BaseModel):
    response_id: int
    patient_id: int
    scale: str
    answers: list[int]
    score: ScoreOut = Field(description="total, severity, flags and scale details.")
    answered_at: datetime
    source: str
    course_id: int | None
    session_id: int | None


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scales: Annotated[list[ScaleKey], Field(min_length=1, max_length=6)]
    course_id: OptionalRecordId = None


class LinkOut(BaseModel):
    link_id: int
    token: str = Field(description="Shown once: only its hash is kept.")
    url_path: str
    expires_at: datetime


class QuestionnaireOut(BaseModel):
    scale: str
    title: str
    items: int
    item_min: int
    item_max: int


class LinkViewOut(BaseModel):
    first_name: str
    to_answer: list[QuestionnaireOut]
    expires_at: datetime


class LinkAnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale: ScaleKey
    answers: Answers


class LinkAnswerOut(BaseModel):
    """What the patient sees after answering: thanks, no score (a clinician reviews it)."""

    scale: str
    received_at: datetime


def _out(record: QuestionnaireRecord) -> ResponseOut:
    return ResponseOut(
        response_id=record.response_id,
        patient_id=record.patient_id,
        scale=record.scale,
        answers=list(record.answers),
        score=ScoreOut.model_validate(record.score),
        answered_at=record.answered_at,
        source=record.source,
        course_id=record.course_id,
        session_id=record.session_id,
    )


@router.post(
    "/patients/{patient_id}/questionnaires",
    name="record_questionnaire",
    response_model_exclude_unset=True,
    status_code=201,
)
def record(
    patient_id: RecordId, body: ResponseIn, actor: SignedIn, request: Request
) -> ResponseOut:
    """Score and store a completed questionnaire (every item; flags come back as data)."""
    answered = services(request).questionnaires.record(
        patient_id,
        scale=body.scale,
        answers=body.answers,
        answered_at=body.answered_at,
        actor=actor,
        course_id=body.course_id,
        session_id=body.session_id,
    )
    return _out(answered)


class ResponsePage(Page[ResponseOut]):
    """A page of a patient's questionnaire responses, newest answered first."""


@router.get(
    "/patients/{patient_id}/questionnaires",
    name="list_questionnaires",
    response_model_exclude_unset=True,
)
def listing(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    scale: Annotated[ScaleKey | None, Query(description="Only this scale.")] = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ResponsePage:
    """The patient's responses, newest answered first, a page at a time."""
    found = services(request).questionnaires.listing(
        patient_id, actor=actor, scale_key=scale, window=window(limit, cursor)
    )
    return page_of(found, _out, ResponsePage)


@router.post("/patients/{patient_id}/links", name="create_patient_link", status_code=201)
def create_link(patient_id: RecordId, body: LinkIn, actor: SignedIn, request: Request) -> LinkOut:
    """A link for the patient to answer these questionnaires once each, within three days."""
    created = services(request).patient_links.create(
        patient_id, scales=body.scales, actor=actor, course_id=body.course_id
    )
    return LinkOut(
        link_id=created.link_id,
        token=created.token,
        url_path=f"/api/v1/links/{created.token}",
        expires_at=created.expires_at,
    )


@router.get("/links/{token}", name="open_patient_link")
def open_link(token: LinkToken, request: Request) -> LinkViewOut:
    """What a link shows the patient: their first name and what is left to answer."""
    view = services(request).patient_links.open(token, origin=client_origin(request))
    return LinkViewOut(
        first_name=view.first_name,
        to_answer=[
            QuestionnaireOut(
                scale=q.scale,
                title=q.title,
                items=q.items,
                item_min=q.item_min,
                item_max=q.item_max,
            )
            for q in view.to_answer
        ],
        expires_at=view.expires_at,
    )


@router.post("/links/{token}/responses", name="answer_patient_link", status_code=201)
def answer_link(token: LinkToken, body: LinkAnswerIn, request: Request) -> LinkAnswerOut:
    """The patient's answers to one of the link's questionnaires."""
    answered = services(request).patient_links.answer(
        token, scale=body.scale, answers=body.answers, origin=client_origin(request)
    )
    return LinkAnswerOut(scale=answered.scale, received_at=answered.answered_at)
