"""Questionnaires entered by staff: a PHQ-9, GAD-7, PCL-5 or pain score the patient gave on
paper or by phone, typed in by a nurse or prescriber.

The page reads the form and checks what only a form can get wrong (an unanswered item, a time
that is not a time); the questionnaire service scores and stores it exactly as the API's
``POST /patients/{id}/questionnaires`` does, so a score means the same whoever typed it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.clinical.outcomes import SCALES, Scale
from ketaplan.errors import InputError, InputProblems
from ketaplan.http.context import services
from ketaplan.http.params import Line, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_RECORD_ID, whole_number
from ketaplan.services import Actor
from ketaplan.services.listing import Window
from ketaplan.web.item_texts import ITEM_TEXTS
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

STAFF_SCALES = ("phq9", "gad7", "pcl5", "pain_nrs")
"""The scales staff enter from paper here (the patient's own link asks PHQ-9)."""

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the server's clock an answer time may be (a device clock running fast)."""
EARLIEST_ANSWER_YEAR = 2000


def _scale(key: str) -> Scale:
    if key not in STAFF_SCALES:
        raise InputError(
            "choose the questionnaire from the list",
            code="input.unknown_scale",
            fields={"field": "scale", "value": key[:40], "accepted": list(STAFF_SCALES)},
        )
    return SCALES[key]


def answered_at_from_form(text: str, zone: ZoneInfo, now: datetime) -> datetime:
    """The answer time typed as the clinic's local time (``2026-12-07T09:30``), checked.

    A time in the future or before 2000 is a typing mistake (a wrong month or year) and would
    stand as the patient's latest score, steering titration; it is refused here beside the
    field. The questionnaire service may refuse it as well; the page does not rely on it.
    """
    cleaned = text.strip()
    if not cleaned:
        raise InputError(
            "give when the patient answered (date and time)", fields={"field": "answered_at"}
        )
    try:
        local = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InputError(
            f"{cleaned!r} is not a date and time (YYYY-MM-DD HH:MM)",
            fields={"field": "answered_at"},
        ) from None
    answered_at = local.replace(tzinfo=zone) if local.tzinfo is None else local
    latest = now + CLOCK_SKEW
    if answered_at > latest:
        shown = latest.astimezone(zone).strftime("%d %b %Y %H:%M")
        raise InputError(
            f"{answered_at.strftime('%d %b %Y %H:%M')} is in the future; give when the patient "
            f"answered (at the latest {shown})",
            code="input.time_in_future",
            fields={"field": "answered_at"},
        )
    if answered_at.year < EARLIEST_ANSWER_YEAR:
        raise InputError(
            f"{answered_at.strftime('%d %b %Y')} is before {EARLIEST_ANSWER_YEAR}; give when the "
            "patient answered",
            code="input.time_too_early",
            fields={"field": "answered_at"},
        )
    return answered_at


def answers_from_form(form: dict[str, str], spec: Scale) -> list[int]:
    """Every item's answer, in order; every item left out or out of range is named at once."""
    problems = InputProblems()
    answers = []
    for item in range(1, spec.items + 1):
        text = form.get(f"item{item}", "").strip()
        if not text:
            problems.add(
                InputError(
                    f"item {item} has no answer; enter every item (0-{spec.item_max})",
                    fields={"field": f"item{item}"},
                )
            )
        elif not (text.isascii() and text.isdigit()) or int(text) > spec.item_max:
            problems.add(
                InputError(
                    f"item {item}: {text[:40]!r} is not an answer; choose 0-{spec.item_max}",
                    fields={"field": f"item{item}"},
                )
            )
        else:
            answers.append(int(text))
    problems.raise_any()
    return answers


async def _page(
    request: Request,
    patient_id: int,
    actor: Actor,
    spec: Scale,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    context = services(request)
    patient = await call(context.patients.get, patient_id, actor=actor)
    courses = (await call(context.courses.listing, patient_id, actor=actor, window=Window())).rows
    page: dict[str, Any] = {
        "p": patient,
        "spec": spec,
        "scales": [(key, SCALES[key].title) for key in STAFF_SCALES],
        "courses": courses,
        "text": ITEM_TEXTS.get(spec.key),
        "values": values,
        "errors": errors,
    }
    return render(request, "staff_questionnaire.html", page, status=status)


@router.get(
    "/patients/{patient_id}/questionnaires/new",
    name="web_new_questionnaire",
    response_class=HTMLResponse,
)
async def new_questionnaire(
    patient_id: RecordId, actor: SignedIn, request: Request, scale: Line = "phq9"
) -> Response:
    spec = SCALES[scale] if scale in STAFF_SCALES else SCALES["phq9"]
    context = services(request)
    zone = ZoneInfo(context.calendar.time_zone)
    # To the second, so that a score entered right after another one sorts after it.
    now = context.clock().astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S")
    return await _page(
        request, patient_id, actor, spec, {"scale": spec.key, "answered_at": now}, {}
    )


@router.post("/patients/{patient_id}/questionnaires", name="web_record_questionnaire")
async def record(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    spec = SCALES.get(form.get("scale", ""), SCALES["phq9"])
    course_text = form.get("course_id", "").strip()
    try:
        problems = InputProblems()  # every field checked before any is refused
        problems.check(_scale, form.get("scale", ""))
        answers = problems.check(answers_from_form, form, spec)
        answered_at = problems.check(
            answered_at_from_form,
            form.get("answered_at", ""),
            ZoneInfo(context.calendar.time_zone),
            context.clock(),
        )
        course_id = None
        if course_text and not (course_text.isascii() and course_text.isdigit()):
            problems.add(
                InputError("choose one of the patient's courses", fields={"field": "course_id"})
            )
        elif course_text:
            course_id = problems.check(
                whole_number, course_text, field="course_id", low=1, high=MAX_RECORD_ID
            )
        problems.raise_any()
        assert answers is not None
        assert answered_at is not None
        await call(
            context.questionnaires.record,
            patient_id,
            scale=spec.key,
            answers=answers,
            answered_at=answered_at,
            actor=actor,
            course_id=course_id,
        )
    except InputError as refused:
        errors = field_errors(refused, {"course_id": "course_id", "answers": "scale"})
        if "course_id" in refused.fields and "field" not in refused.fields:
            errors = {"course_id": refused.message}
        return await _page(request, patient_id, actor, spec, form, errors, status=422)
    return redirect(f"/patients/{patient_id}#outcomes")
