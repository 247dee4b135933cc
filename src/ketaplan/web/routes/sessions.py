"""The session console at the infusion chair: chart events with big buttons, see the alerts.

Each button posts one event with the number of events the page was showing
(``expected_seq``): if a colleague charted in the meantime, the service refuses it with a
conflict and the console says so and shows the new chart. The event's time is the server's
clock when it arrives (the chair's tablet clock is not trusted).

The page decides nothing: which buttons it shows comes from the chart's summary
(``allowed_events``, ``start_blockers``, ``discharge_blockers``), the words of each alert from
the domain, and a refusal is shown beside the control that sent it (the form field the error
names, or the form's own button when it names none of that form's fields).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.clinical.chart_events import VITAL_FIELDS, vitals_from
from ketaplan.errors import (
    ConflictError,
    InputError,
    InputErrors,
    InputProblems,
    KetaplanError,
    PermissionDenied,
    SafetyLimitError,
)
from ketaplan.http.context import services
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_EVENT_MAGNITUDE, MAX_RECORD_ID, decimal_number, whole_number
from ketaplan.services import Actor
from ketaplan.web.labels import quantity
from ketaplan.web.prediction_chart import prediction_chart, swatch
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

NUMBERS: dict[str, tuple[str, ...]] = {
    "start": ("rate_ml_per_h", "concentration_mg_per_ml"),
    "rate": ("rate_ml_per_h",),
    "check_in": ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate"),
    "vitals": ("systolic", "diastolic", "heart_rate", "spo2", "resp_rate"),
    "tolerability": ("rating",),
    "correction": ("voids_seq",),
}
TEXTS: dict[str, tuple[str, ...]] = {
    "pause": ("reason",),
    "stop": ("reason",),
    "side_effect": ("name", "severity"),
    "adjunct": ("drug", "dose"),
    "note": ("text",),
    "discharge": ("note",),
    "correction": ("reason",),
    "hold_override": ("reason",),
}
REQUIRED_TEXTS = frozenset({"name", "severity", "drug", "dose", "text"})
CHECKLIST = ("vitals_within_limits", "oriented_and_steady", "escort_present")
"""The discharge checklist's boxes, each posted as ``yes`` when ticked."""
WHOLE_NUMBERS = frozenset({"rating", "voids_seq"})

FIELDS: dict[str, tuple[str, ...]] = {
    **NUMBERS,
    "stop": ("completed", "reason"),
    "discharge": (*CHECKLIST, "note"),
    "correction": ("voids_seq", "reason"),
    "hold_override": ("reason",),
    "side_effect": ("name", "severity"),
    "adjunct": ("drug", "dose"),
}
"""The fields each form shows: an error naming one of them is shown beside it, any other
error beside the form's button."""

READING_FIELDS = {**VITAL_FIELDS, "blood_pressure": "systolic"}
"""A reading's field in the domain's words, as the console's form names it (a blood pressure
refused as a pair is shown beside its systolic box)."""

DETAIL_WORDS = {
    "rate_ml_per_h": ("rate", "mL/h"),
    "concentration_mg_per_ml": ("bag", "mg/mL"),
    "systolic": ("BP", ""),
    "heart_rate": ("HR", "bpm"),
    "spo2": ("SpO₂", "%"),
    "resp_rate": ("RR", "/min"),
    "voids_seq": ("voids entry", ""),
    "checked_by": ("checked by", ""),
}
CHECKLIST_WORDS = {
    "vitals_within_limits": "vitals within limits",
    "oriented_and_steady": "oriented and steady",
    "escort_present": "escort present",
}
SEVERITY_RANK = {"info": 0, "caution": 1, "warning": 2, "critical": 3}
SIDE_EFFECTS = ("nausea", "dissociation", "dizziness", "headache", "anxiety", "vomiting")


def event_from_form(form: dict[str, str], now: datetime) -> dict[str, Any]:
    """The posted form as the chart's JSON event, stamped ``now`` (the server's clock); every
    field it cannot read is refused at once."""
    problems = InputProblems()
    kind = form.get("type", "")
    event: dict[str, Any] = {"type": kind, "at": now.isoformat()}
    for name in NUMBERS.get(kind, ()):
        text = form.get(name, "").strip()
        if not text:
            continue
        value = problems.check(
            decimal_number, text, field=name, low=-MAX_EVENT_MAGNITUDE, high=MAX_EVENT_MAGNITUDE
        )
        if value is not None:
            event[name] = int(value) if name in WHOLE_NUMBERS and value.is_integer() else value
    for name in TEXTS.get(kind, ()):
        text = form.get(name, "").strip()
        if text or name in REQUIRED_TEXTS:
            event[name] = text
    if kind == "stop":
        choice = form.get("completed", "")
        if choice not in ("yes", "no"):
            problems.add(
                InputError(
                    "say whether the planned dose was completed or the infusion was stopped early",
                    fields={"field": "completed"},
                )
            )
        event["completed"] = choice == "yes"
    if kind == "discharge":
        for name in CHECKLIST:
            event[name] = form.get(name) == "yes"
    if problems.found and kind in ("check_in", "vitals"):
        _check_readable_vitals(event, form, kind, problems)
    problems.raise_any()
    return event


def _check_readable_vitals(
    event: dict[str, Any], form: dict[str, str], kind: str, problems: InputProblems
) -> None:
    """Beside a reading that is not a number, the readable ones' range checks (the domain's),
    so one submit shows both kinds of mistake; each unreadable reading is refused once, as
    above."""
    unreadable = {
        name: form[name] for name in NUMBERS[kind] if name not in event and form.get(name, "")
    }
    try:
        vitals_from({**event, **unreadable})
    except InputError as refused:
        for one in refused.errors if isinstance(refused, InputErrors) else (refused,):
            if one.code != "input.not_a_number":
                problems.add(one)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def event_details(event: dict[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One chart row's details in words: "rate 120 mL/h · bag 0.35 mg/mL", "BP 128/82 · ...";
    a member of staff stored by e-mail (``checked_by``) by their name in ``names``."""
    parts = []
    for key, value in event.items():
        if key in ("at", "type", "diastolic") or value is None:
            continue
        if key == "checked_by":
            value = (names or {}).get(str(value), value)
        if key == "systolic":
            parts.append(f"BP {_number(value)}/{_number(event.get('diastolic', '?'))}")
        elif key in CHECKLIST_WORDS:
            parts.append(f"{CHECKLIST_WORDS[key]}: {'yes' if value else 'NO'}")
        elif key == "completed":
            parts.append("planned dose completed" if value else "stopped early")
        elif key in DETAIL_WORDS:
            word, unit = DETAIL_WORDS[key]
            parts.append(f"{word} {_number(value)}{' ' + unit if unit else ''}".strip())
        else:
            parts.append(quantity(key, value))  # its unit from its name, a boolean as a word
    return " · ".join(parts)


def alert_lines(newest_first: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per kind of alert (its newest reading, and how many times it fired): the
    active ones first, the most severe first, then those resolved since; newest first in
    each."""
    lines: dict[str, dict[str, Any]] = {}
    for alert in newest_first:
        line = lines.setdefault(alert["code"], {**alert, "times": 0, "first_at": alert["at"]})
        line["times"] += 1
        line["first_at"] = alert["at"]
    ordered = list(lines.values())
    active = sorted(
        (a for a in ordered if not a.get("resolved_at")),
        key=lambda a: -SEVERITY_RANK.get(str(a.get("severity")), 0),
    )
    return active + [a for a in ordered if a.get("resolved_at")]


def errors_beside(kind: str, refused: KetaplanError) -> dict[str, str]:
    """The refusal keyed by the field of the form ``kind`` it is about; ``""`` (the form's
    button) when it names none of that form's fields."""
    errors = field_errors(refused, READING_FIELDS)
    beside: dict[str, str] = {}
    for name, text in errors.items():
        place = name if name in FIELDS.get(kind, ()) else ""
        beside[place] = f"{beside[place]}; {text}" if place in beside else text
    return beside


def _forms_on_page(allowed: tuple[str, ...], summary: dict[str, object], held: bool) -> set[str]:
    """The event forms the console shows (see session.html)."""
    shown = {kind for kind in allowed if kind != "stop" or summary["state"] != "checked_in"}
    if summary["state"] != "discharged":
        shown |= {"side_effect", "adjunct", "check_in" if "check_in" in allowed else "vitals"}
    if summary["state"] == "stopped":
        shown.add("tolerability")
    if held and "start" in allowed:
        shown.add("hold_override")
    return shown


async def _console(
    request: Request,
    session_id: int,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
    conflict: str = "",
    what_if: str | None = None,
) -> Response:
    context = services(request)
    view = await call(context.sessions.console, session_id, actor=actor)
    predicted = await _prediction(request, session_id, actor, what_if)
    if predicted["what_if_error"] and status == 200:
        status = 422
    summary = view.chart.summary.to_dict()  # the page's form of the chart, made once
    voided = set(summary.get("voided") or [])  # type: ignore[call-overload]
    rate_ml_per_h = None
    for seq, event in enumerate(view.chart.events, start=1):
        if event["type"] in ("start", "rate") and seq not in voided:
            rate_ml_per_h = event["rate_ml_per_h"]
    segments: list[list[float]] = summary["segments"]  # type: ignore[assignment]
    alerts: list[dict[str, Any]] = list(reversed(summary["alerts"]))  # type: ignore[call-overload]
    start_blockers: list[dict[str, str]] = summary.get("start_blockers") or []  # type: ignore[assignment]
    allowed: tuple[str, ...] = tuple(summary["allowed_events"])  # type: ignore[arg-type]
    held = any(b.get("field") == "hold_override" for b in start_blockers)
    failed = (form or {}).get("type", "") if errors else ""
    from ketaplan.services.ledger_records import session_ledger  # issue 16

    ledger = await call(session_ledger, context.unit_of_work(), session_id, actor=actor)
    return render(
        request,
        "session.html",
        {
            "v": view,
            "s": summary,
            "state": summary["state"],
            "allowed": allowed,
            "start_blockers": start_blockers,
            "held": held,
            "vitals_kind": "check_in" if "check_in" in allowed else "vitals",
            # a refusal of a form the page no longer shows is said at the top instead
            "unplaced": failed and failed not in _forms_on_page(allowed, summary, held),
            "discharge_blockers": summary.get("discharge_blockers") or [],
            "voided": voided,
            "alerts": alerts,
            "alert_lines": alert_lines(alerts),
            "details": partial(event_details, names=view.chart.staff_names),
            "last_at": view.chart.events[-1]["at"] if view.chart.events else "",
            "rate_ml_per_h": rate_ml_per_h,
            "rate_mg_per_h": segments[-1][2] if segments and summary["state"] == "infusing" else 0,
            "errors": errors or {},
            "form": form or {},
            "failed_type": failed,
            "conflict": conflict,
            "side_effects": [(name, name.title()) for name in SIDE_EFFECTS],
            "ledger": ledger,
            **predicted,
        },
        status=status,
    )


async def _prediction(
    request: Request, session_id: int, actor: Actor, what_if: str | None
) -> dict[str, Any]:
    """The console's prediction, with the lower-rate what-if when one was asked; a refused
    rate is said beside the what-if's field and the other options still show."""
    context = services(request)
    error = ""
    if what_if is not None and not what_if.strip():
        error = "give the rate to predict, in mL/h (e.g. 60), below the running rate"
        what_if = None
    try:
        found = await call(context.sessions.predict, session_id, actor=actor, lower_rate=what_if)
    except (InputError, SafetyLimitError) as refused:
        error = refused.message
        found = await call(context.sessions.predict, session_id, actor=actor)
    chart = None
    if found.basis is not None:
        chart = prediction_chart(
            found.options,
            level_ng_per_ml=found.basis.level_ng_per_ml,
            title=f"Predicted plasma ketamine for session #{session_id}: "
            + "; ".join(option.label for option in found.options),
            chart_id="session-prediction",
            now_min=found.now_min if found.running and found.running.infusing else None,
        )
    return {
        "prediction": found,
        "prediction_chart": chart,
        "what_if_rate": what_if or "",
        "what_if_error": error,
        "swatch": swatch,
    }


async def _refused(
    request: Request, session_id: int, actor: Actor, form: dict[str, str], refused: KetaplanError
) -> Response:
    """The console again, nothing charted, with the refusal beside the control that sent it."""
    errors = errors_beside(form.get("type", ""), refused)
    return await _console(
        request, session_id, actor, errors=errors, form=form, status=refused.http_status
    )


@router.get("/sessions/{session_id}", name="web_session_console", response_class=HTMLResponse)
async def console(session_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _console(request, session_id, actor)


@router.get(
    "/sessions/{session_id}/what-if", name="web_session_what_if", response_class=HTMLResponse
)
async def what_if(
    session_id: RecordId, actor: SignedIn, request: Request, lower_rate_ml_per_h: str = ""
) -> Response:
    """The console with the predicted curve of a lower rate beside the others. A prediction:
    nothing is charted; the read is audited with the rate asked."""
    return await _console(request, session_id, actor, what_if=lower_rate_ml_per_h)


@router.post("/sessions/{session_id}/events", name="web_chart_event")
async def chart_event(session_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        expected = whole_number(
            form.get("expected_seq", ""), field="expected_seq", low=0, high=MAX_RECORD_ID
        )
        await call(
            context.sessions.append_event,
            session_id,
            event_from_form(form, context.clock()),
            expected_seq=expected,
            actor=actor,
        )
    except ConflictError as refused:
        if refused.code == "conflict.chart_moved_on":
            return await _console(
                request, session_id, actor, form=form, status=409, conflict=refused.message
            )
        return await _refused(request, session_id, actor, form, refused)
    except (InputError, SafetyLimitError, PermissionDenied) as refused:
        return await _refused(request, session_id, actor, form, refused)
    if form.get("type") == "stop":  # what was given goes into the ledger (issue 16)
        from ketaplan.services.ledger import record_session_administrations

        await call(
            record_session_administrations,
            context.unit_of_work(),
            session_id,
            actor=actor,
            policy=context.policy,
        )
    return redirect(f"/sessions/{session_id}#console")
