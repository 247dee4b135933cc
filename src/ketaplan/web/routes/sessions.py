"""The session console at the infusion chair: chart events with big buttons, see the alerts.

Each button posts one event with the number of events the page was showing
(``expected_seq``): if a colleague charted in the meantime, the service refuses it with a
conflict and the console says so and shows the new chart. The event's time is the server's
clock when it arrives (the chair's tablet clock is not trusted).
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.api.context import services
from ketaplan.api.params import RecordId
from ketaplan.api.security import SignedIn
from ketaplan.errors import ConflictError, InputError
from ketaplan.services import Actor, append_session_event, utc_now
from ketaplan.services.patient_overview import session_console
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

NUMBERS: dict[str, tuple[str, ...]] = {
    "start": ("rate_ml_per_h", "concentration_mg_per_ml"),
    "rate": ("rate_ml_per_h",),
    "check_in": ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate"),
    "vitals": ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate"),
    "tolerability": ("rating",),
}
TEXTS: dict[str, tuple[str, ...]] = {
    "pause": ("reason",),
    "stop": ("reason",),
    "side_effect": ("name", "severity"),
    "adjunct": ("drug", "dose"),
    "note": ("text",),
    "discharge": ("note",),
}
WHAT_TO_DO = {
    "hold_start": "Hold the start and call the prescriber.",
    "weigh_risk": "Recheck after 5 minutes' rest; the prescriber weighs the risk before starting.",
    "pause_and_recheck": "Pause the infusion and recheck in 5 minutes.",
    "call_prescriber": "Call the prescriber now.",
}
SIDE_EFFECTS = ("nausea", "dissociation", "dizziness", "headache", "anxiety", "vomiting")


def event_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The posted button as the chart's JSON event, stamped with the server's clock."""
    kind = form.get("type", "")
    event: dict[str, Any] = {"type": kind, "at": utc_now().isoformat()}
    for name in NUMBERS.get(kind, ()):
        text = form.get(name, "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise InputError(f"{text!r} is not a number", fields={"field": name}) from None
        if not math.isfinite(value):
            raise InputError(f"{text!r} is not a number", fields={"field": name})
        event[name] = int(value) if name == "rating" and value.is_integer() else value
    for name in TEXTS.get(kind, ()):
        text = form.get(name, "").strip()
        if text or name in ("name", "severity", "drug", "dose", "text"):
            event[name] = text
    if kind == "stop":
        event["completed"] = form.get("completed", "yes") == "yes"
    return event


async def _console(
    request: Request,
    session_id: int,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    conflict: str = "",
) -> Response:
    context = services(request)
    view = await call(
        session_console,
        context.unit_of_work(),
        session_id,
        actor=actor,
        policy=context.policy,
    )
    summary = view.chart.summary
    rate_ml_per_h = None
    for event in view.chart.events:
        if event["type"] in ("start", "rate"):
            rate_ml_per_h = event["rate_ml_per_h"]
    segments: list[list[float]] = summary["segments"]  # type: ignore[assignment]
    return render(
        request,
        "session.html",
        {
            "v": view,
            "s": summary,
            "state": summary["state"],
            "last_at": view.chart.events[-1]["at"] if view.chart.events else "",
            "rate_ml_per_h": rate_ml_per_h,
            "rate_mg_per_h": segments[-1][2] if segments and summary["state"] == "infusing" else 0,
            "errors": errors or {},
            "form": form or {},
            "failed_type": (form or {}).get("type", ""),
            "conflict": conflict,
            "what_to_do": WHAT_TO_DO,
            "side_effects": [(name, name.title()) for name in SIDE_EFFECTS],
        },
        status=status,
    )


@router.get("/sessions/{session_id}", name="web_session_console", response_class=HTMLResponse)
async def console(session_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _console(request, session_id, actor)


@router.post("/sessions/{session_id}/events", name="web_chart_event")
async def chart_event(session_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        expected = int(form.get("expected_seq", ""))
    except ValueError:
        expected = -1
    try:
        await call(
            append_session_event,
            context.unit_of_work(),
            session_id,
            event_from_form(form),
            expected_seq=expected,
            actor=actor,
            policy=context.policy,
        )
    except ConflictError as refused:
        return await _console(
            request, session_id, actor, form=form, status=409, conflict=refused.message
        )
    except InputError as refused:
        return await _console(
            request, session_id, actor, errors=field_errors(refused), form=form, status=422
        )
    return redirect(f"/sessions/{session_id}#console")
