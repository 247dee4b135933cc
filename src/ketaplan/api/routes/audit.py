"""The audit trail for admins: a page of events, newest first, and the filtered trail as CSV.

Filters are query parameters (``user``, ``patient``, ``action``, ``since``, ``until``) read by
the same function as the page's form (:func:`ketaplan.services.audit_trail.filter_from_text`),
so they refuse the same things with the same messages. Each read and each export is audited.

A page is the API's common envelope (:mod:`ketaplan.api.paging`) without a count: the trail is
too long to count per page, so ``total_count`` is null. ``next`` is the sequence number of the
last event shown, and the following page is the events before it (keyset paging on ``seq``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, UncountedPage, cursor_number
from ketaplan.http.context import services
from ketaplan.http.params import Line
from ketaplan.http.security import SignedIn
from ketaplan.services.audit_trail import AuditFilter, TrailEvent, filter_from_text

router = APIRouter(prefix="/audit", tags=["audit"])


class TrailEventOut(BaseModel):
    seq: int
    occurred_at: datetime
    actor_email: str = Field(description="Blank for someone without an account.")
    actor_name: str = Field(
        description="The member of staff's name as pages show it (their e-mail when no name "
        "is set); blank for someone without an account."
    )
    actor_role: str
    origin: str
    action: str = Field(description="The stored code (an AuditAction value).")
    action_words: str = Field(description="The action in plain words.")
    entity_type: str
    entity_id: str
    patient_id: int | None
    details: dict[str, Any]
    hash: str


class TrailPageOut(UncountedPage[TrailEventOut]):
    """A page of the audit trail, newest first; ``next`` is the sequence number of its last
    event (the next page holds the events before it)."""


def _filter(
    user: str | None, patient: str | None, action: str | None, since: str | None, until: str | None
) -> AuditFilter:
    typed = {"user": user, "patient": patient, "action": action, "since": since, "until": until}
    return filter_from_text({key: value for key, value in typed.items() if value is not None})


def _out(event: TrailEvent) -> TrailEventOut:
    return TrailEventOut(
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_email=event.actor_email,
        actor_name=event.actor_name,
        actor_role=event.actor_role,
        origin=event.origin,
        action=event.action,
        action_words=event.action_words,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        patient_id=event.patient_id,
        details=event.details,
        hash=event.hash,
    )


UserQuery = Annotated[Line | None, Query(max_length=12, description="A staff member's id.")]
PatientQuery = Annotated[Line | None, Query(max_length=12, description="A patient's id.")]
ActionQuery = Annotated[Line | None, Query(max_length=64, description="An action's code.")]
DayQuery = Annotated[Line | None, Query(max_length=10, description="A clinic day, YYYY-MM-DD.")]


@router.get("/events", name="read_audit_trail")
def read_route(
    actor: SignedIn,
    request: Request,
    user: UserQuery = None,
    patient: PatientQuery = None,
    action: ActionQuery = None,
    since: DayQuery = None,
    until: DayQuery = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> TrailPageOut:
    """A page of the clinic's audit trail, newest first, filtered. Paged by sequence number
    with no `total_count` (null): the trail is too long to count per page."""
    chosen = _filter(user, patient, action, since, until)
    page = services(request).audit_trail.page(
        chosen, actor=actor, older_than=cursor_number(cursor), page_size=limit
    )
    return TrailPageOut(
        items=[_out(e) for e in page.events],
        total_count=None,  # not counted: see the module docstring
        limit=limit,
        next=None if page.older_than is None else str(page.older_than),
    )


@router.get("/events.csv", name="export_audit_trail", response_class=StreamingResponse)
def export_route(
    actor: SignedIn,
    request: Request,
    user: UserQuery = None,
    patient: PatientQuery = None,
    action: ActionQuery = None,
    since: DayQuery = None,
    until: DayQuery = None,
) -> StreamingResponse:
    """The filtered trail as CSV, oldest first, streamed."""
    chosen = _filter(user, patient, action, since, until)
    pieces = services(request).audit_trail.export(chosen, actor=actor)
    return StreamingResponse(
        pieces,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="ketaplan-audit-trail.csv"',
            "Cache-Control": "no-store",
        },
    )
