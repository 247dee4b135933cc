"""The audit-trail viewer (admins): the clinic's trail newest first, fifty events a page,
filtered by member of staff, patient, action and days, and the filtered trail as CSV.

The filter is the query string (a GET form: the page can be bookmarked and its links carry the
filter), read by :func:`ketaplan.services.audit_trail.filter_from_text`, which names every
field's problem at once; the page then shows each beside its field and no events. Each page
read and each export is itself audited by the service.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.responses import Response

from ketaplan.errors import InputError
from ketaplan.http.context import services
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_RECORD_ID, check_text
from ketaplan.services.audit_trail import ACTIONS, TrailPage, filter_from_text
from ketaplan.web.rendering import call, field_errors, render

router = APIRouter()

FILTER_FIELDS = ("user", "patient", "action", "since", "until")


def _typed(request: Request) -> dict[str, str]:
    """The filter as typed (only its own fields; each checked as one line of text)."""
    typed: dict[str, str] = {}
    for key in FILTER_FIELDS:
        value = request.query_params.get(key, "")[:64]
        typed[key] = check_text(value, field=key).strip()
    return typed


@router.get("/audit", name="web_audit_trail", response_class=HTMLResponse)
async def audit_trail_page(
    actor: SignedIn,
    request: Request,
    older_than: Annotated[int | None, Query(ge=1, le=MAX_RECORD_ID)] = None,
) -> Response:
    context = services(request)
    typed = _typed(request)
    members = await call(context.staff.listing, actor=actor)
    page: TrailPage | None = None
    errors: dict[str, str] = {}
    status = 200
    try:
        chosen = filter_from_text(typed)
        page = await call(context.audit_trail.page, chosen, actor=actor, older_than=older_than)
    except InputError as refused:
        errors = field_errors(refused)
        status = refused.http_status
    kept = {key: value for key, value in typed.items() if value}
    older_link = (
        None
        if page is None or page.older_than is None
        else "/audit?" + urlencode({**kept, "older_than": page.older_than})
    )
    return render(
        request,
        "audit.html",
        {
            "page": page,
            "values": typed,
            "errors": errors,
            "members": members,
            "actions": ACTIONS,
            "older_link": older_link,
            "first_link": "/audit?" + urlencode(kept) if older_than is not None else None,
            "csv_link": "/audit/export.csv" + ("?" + urlencode(kept) if kept else ""),
            "filtered": bool(kept),
        },
        status=status,
    )


@router.get("/audit/export.csv", name="web_audit_trail_csv", response_class=StreamingResponse)
async def audit_trail_csv(actor: SignedIn, request: Request) -> Response:
    """The filtered trail as CSV, oldest first, streamed (a bad filter is the error page)."""
    chosen = filter_from_text(_typed(request))
    pieces = await call(services(request).audit_trail.export, chosen, actor=actor)
    return StreamingResponse(
        pieces,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="ketaplan-audit-trail.csv"',
            "Cache-Control": "no-store",
        },
    )
