"""Sessions: open a chart, append events (with the number already seen: 409 if it moved on),
read the chart with what it adds up to (state, delivered dose, alerts).

Every event is checked against the session's order and protocol and the server's clock before
it is charted; a refusal charts nothing and is a 4xx with the domain's code and the form
``field`` it concerns: 409 for an impossible sequence (``session.impossible_sequence``, a start
before the pre-infusion vitals ``session.no_pre_infusion_vitals``), 422 for bad input
(``input.*``, ``input.future_time``, a correction that cannot void its entry, an unticked
discharge checklist ``session.discharge_checklist``) and for safety refusals (a start on hold
``session.start_on_hold``, a bag that is not the order's ``session.concentration_not_ordered``
or above the clinic's maximum ``session.concentration_above_max``, a discharge before its
criteria hold ``session.recovery_time`` ...), 403 for a hold override by anyone but a
prescriber.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ketaplan.api.chart_models import AlertOut, BlockerOut, ChartEvent, ChartSummary
from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of, window
from ketaplan.http.context import services
from ketaplan.http.params import Condition, Line, MultilineText, OptionalRecordId, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_EVENT_MAGNITUDE, MAX_SESSION_NUMBER
from ketaplan.services import (
    SessionChart,
)

router = APIRouter(tags=["sessions"])

MAX_EVENTS = 10_000
"""More events than any infusion charts; ``expected_seq`` past it is a typing mistake."""

EventValue = (
    StrictBool
    | Annotated[int, Field(ge=-MAX_EVENT_MAGNITUDE, le=MAX_EVENT_MAGNITUDE)]
    | Annotated[float, Field(ge=-MAX_EVENT_MAGNITUDE, le=MAX_EVENT_MAGNITUDE, allow_inf_nan=False)]
    | Annotated[MultilineText, Field(max_length=2000)]
    | None
)
"""An event field: the domain checks names and meanings; here, only that it is a plain value."""


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Condition
    course_id: OptionalRecordId = None
    plan_id: OptionalRecordId = None
    number: Annotated[int | None, Field(ge=1, le=MAX_SESSION_NUMBER)] = None


class EventIn(BaseModel):
    """One event after the ``expected_seq`` events the client has seen."""

    model_config = ConfigDict(extra="forbid")

    expected_seq: Annotated[int, Field(ge=0, le=MAX_EVENTS)]
    event: Annotated[
        dict[Annotated[Line, Field(max_length=64)], EventValue],
        Field(
            max_length=20,
            description="The event as `ketaplan session` reads it: `at` (ISO time with offset, "
            "at most 5 minutes after the server's clock), `type` and its fields: check_in and "
            "vitals (systolic, diastolic, heart_rate, spo2, resp_rate; a start needs blood "
            "pressure, heart rate and SpO2 charted first), start (rate_ml_per_h, "
            "concentration_mg_per_ml: the order's bag), rate (rate_ml_per_h), pause (reason), "
            "resume, stop (completed: true or false, required; reason, required when false), "
            "complete (a completed stop), side_effect (name, severity), adjunct (drug, dose), "
            "tolerability (rating 0-4), note (text), hold_override (reason; prescribers only), "
            "correction (voids_seq: the entry to void, 1 for the first; reason), discharge "
            "(note; vitals_within_limits, oriented_and_steady, escort_present, each true).",
            examples=[{"type": "start", "at": "2026-12-07T09:05:00-08:00", "rate_ml_per_h": 50}],
        ),
    ]


class ChartOut(BaseModel):
    session_id: int
    patient_id: int
    seq: int = Field(description="How many events the chart has: the next expected_seq.")
    state: str
    delivered_mg: float | None
    alerts: list[AlertOut]
    allowed_events: list[str] = Field(description="Event types the chart accepts now.")
    start_blockers: list[BlockerOut]
    discharge_blockers: list[BlockerOut]
    voided: list[int] = Field(description="Entries a correction voided (1 for the first).")
    summary: ChartSummary
    events: list[ChartEvent]


class SessionListItem(BaseModel):
    session_id: int
    course_id: int | None
    plan_id: int | None
    number: int | None
    protocol_key: str
    events: int


def _out(chart: SessionChart) -> ChartOut:
    """The chart's typed summary, serialised once here."""
    summary = chart.summary.to_dict()
    return ChartOut(
        session_id=chart.session_id,
        patient_id=chart.patient_id,
        seq=chart.seq,
        state=chart.state,
        delivered_mg=summary["delivered_mg"],  # type: ignore[arg-type]
        alerts=[AlertOut.model_validate(a.to_dict()) for a in chart.summary.alerts],
        allowed_events=list(chart.summary.allowed_events),
        start_blockers=[BlockerOut(**b.to_dict()) for b in chart.summary.start_blockers],
        discharge_blockers=[BlockerOut(**b.to_dict()) for b in chart.summary.discharge_blockers],
        voided=list(chart.summary.voided),
        summary=ChartSummary.model_validate(summary),
        events=[ChartEvent.model_validate(event) for event in chart.events],
    )


@router.post(
    "/patients/{patient_id}/sessions",
    name="open_session",
    response_model_exclude_unset=True,
    status_code=201,
)
def create(patient_id: RecordId, body: SessionIn, actor: SignedIn, request: Request) -> ChartOut:
    """Open an empty chart at the patient's current weight."""
    context = services(request)
    chart = context.sessions.open(
        patient_id,
        condition=body.condition,
        actor=actor,
        course_id=body.course_id,
        plan_id=body.plan_id,
        number=body.number,
    )
    return _out(chart)


class SessionPage(Page[SessionListItem]):
    """A page of a patient's sessions, newest first."""


@router.get("/patients/{patient_id}/sessions", name="list_sessions")
def listing(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> SessionPage:
    """The patient's sessions, newest first, with how many events each has, a page at a
    time."""
    found = services(request).sessions.listing(
        patient_id, actor=actor, window=window(limit, cursor)
    )
    return page_of(
        found,
        lambda s: SessionListItem(
            session_id=s.session_id,
            course_id=s.course_id,
            plan_id=s.plan_id,
            number=s.number,
            protocol_key=s.protocol_key,
            events=s.events,
        ),
        SessionPage,
    )


@router.post(
    "/sessions/{session_id}/events",
    name="append_session_event",
    response_model_exclude_unset=True,
    status_code=201,
)
def append(session_id: RecordId, body: EventIn, actor: SignedIn, request: Request) -> ChartOut:
    """Chart one event; 409 ``conflict.chart_moved_on`` if someone charted after what you saw."""
    context = services(request)
    chart = context.sessions.append_event(
        session_id, body.event, expected_seq=body.expected_seq, actor=actor
    )
    if body.event.get("type") == "stop":  # what was given goes into the ledger (issue 16)
        from ketaplan.services.ledger import record_session_administrations

        record_session_administrations(
            context.unit_of_work(), session_id, actor=actor, policy=context.policy
        )
    return _out(chart)


@router.get("/sessions/{session_id}", name="read_session", response_model_exclude_unset=True)
def read(session_id: RecordId, actor: SignedIn, request: Request) -> ChartOut:
    """The chart: state, delivered dose, alerts and every event."""
    context = services(request)
    chart = context.sessions.chart(session_id, actor=actor)
    return _out(chart)
