"""Sessions: open a chart, append events (with the number already seen: 409 if it moved on),
read the chart with what it adds up to (state, delivered dose, alerts)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from ketaplan.api.context import services
from ketaplan.api.params import Condition, OptionalRecordId, RecordId
from ketaplan.api.security import SignedIn
from ketaplan.services import (
    SessionChart,
    append_session_event,
    get_session_chart,
    list_sessions,
    open_session,
)

router = APIRouter(tags=["sessions"])

MAX_EVENTS = 10_000
"""More events than any infusion charts; ``expected_seq`` past it is a typing mistake."""

EventValue = (
    StrictBool
    | Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    | Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
    | Annotated[str, Field(max_length=2000)]
    | None
)
"""An event field: the domain checks names and meanings; here, only that it is a plain value."""


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Condition
    course_id: OptionalRecordId = None
    plan_id: OptionalRecordId = None
    number: Annotated[int | None, Field(ge=1, le=100)] = None


class EventIn(BaseModel):
    """One event after the ``expected_seq`` events the client has seen."""

    model_config = ConfigDict(extra="forbid")

    expected_seq: Annotated[int, Field(ge=0, le=MAX_EVENTS)]
    event: Annotated[
        dict[Annotated[str, Field(max_length=64)], EventValue],
        Field(
            max_length=20,
            description="The event as `ketaplan session` reads it: `at` (ISO time with offset), "
            "`type` (check_in, start, rate, pause, resume, stop, complete, vitals, "
            "side_effect, adjunct, tolerability, note, discharge) and its fields.",
            examples=[{"type": "start", "at": "2026-12-07T09:05:00-08:00", "rate_ml_per_h": 50}],
        ),
    ]


class ChartOut(BaseModel):
    session_id: int
    patient_id: int
    seq: int = Field(description="How many events the chart has: the next expected_seq.")
    state: str
    delivered_mg: float | None
    alerts: list[Any]
    summary: dict[str, Any]
    events: list[dict[str, Any]]


class SessionListItem(BaseModel):
    session_id: int
    course_id: int | None
    plan_id: int | None
    number: int | None
    protocol_key: str
    events: int


def _out(chart: SessionChart) -> ChartOut:
    summary = chart.summary
    delivered = summary.get("delivered_mg")
    alerts = summary.get("alerts")
    return ChartOut(
        session_id=chart.session_id,
        patient_id=chart.patient_id,
        seq=chart.seq,
        state=str(chart.state),
        delivered_mg=float(delivered) if isinstance(delivered, int | float) else None,
        alerts=list(alerts) if isinstance(alerts, list) else [],
        summary=summary,
        events=list(chart.events),
    )


@router.post("/patients/{patient_id}/sessions", name="open_session", status_code=201)
def create(patient_id: RecordId, body: SessionIn, actor: SignedIn, request: Request) -> ChartOut:
    """Open an empty chart at the patient's current weight."""
    context = services(request)
    chart = open_session(
        context.unit_of_work(),
        patient_id,
        condition=body.condition,
        actor=actor,
        catalog=context.catalog,
        course_id=body.course_id,
        plan_id=body.plan_id,
        number=body.number,
    )
    return _out(chart)


@router.get("/patients/{patient_id}/sessions", name="list_sessions")
def listing(patient_id: RecordId, actor: SignedIn, request: Request) -> list[SessionListItem]:
    """The patient's sessions, newest first, with how many events each has."""
    found = list_sessions(services(request).unit_of_work(), patient_id, actor=actor)
    return [
        SessionListItem(
            session_id=s.session_id,
            course_id=s.course_id,
            plan_id=s.plan_id,
            number=s.number,
            protocol_key=s.protocol_key,
            events=s.events,
        )
        for s in found
    ]


@router.post("/sessions/{session_id}/events", name="append_session_event", status_code=201)
def append(session_id: RecordId, body: EventIn, actor: SignedIn, request: Request) -> ChartOut:
    """Chart one event; 409 ``conflict.chart_moved_on`` if someone charted after what you saw."""
    context = services(request)
    chart = append_session_event(
        context.unit_of_work(),
        session_id,
        body.event,
        expected_seq=body.expected_seq,
        actor=actor,
        monitoring=context.monitoring,
        catalog=context.catalog,
    )
    return _out(chart)


@router.get("/sessions/{session_id}", name="read_session")
def read(session_id: RecordId, actor: SignedIn, request: Request) -> ChartOut:
    """The chart: state, delivered dose, alerts and every event."""
    context = services(request)
    chart = get_session_chart(
        context.unit_of_work(),
        session_id,
        actor=actor,
        monitoring=context.monitoring,
        catalog=context.catalog,
    )
    return _out(chart)
