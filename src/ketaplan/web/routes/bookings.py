"""Bookings: the front desk's page for a patient's courses in their chairs (book a course on a
signed order at a day, time and chair; move or cancel a session with a reason; cancel a
course; book a booster on a suggested day) and the history of every change.

Every refusal (chair taken, closed day, in the past without confirming, unknown chair, no
reason) is shown on the form it came from, with what was typed, and nothing is written. The
page shows no clinical fact: orders by number, boosters by day (:mod:`ketaplan.services.
patient_bookings`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.errors import ConflictError, InputError
from ketaplan.http.context import services
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import (
    MAX_RECORD_ID,
    MAX_SESSION_NUMBER,
    clinic_date,
    clock_time,
    whole_number,
)
from ketaplan.services import Actor
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

MAX_CHAIR_NUMBER = 1000


def _chair(form: dict[str, str]) -> int | None:
    text = form.get("chair", "").strip()
    if not text:
        return None
    return whole_number(text, field="chair", low=1, high=MAX_CHAIR_NUMBER)


def _version(form: dict[str, str]) -> int:
    return whole_number(form.get("version", ""), field="version", low=1, high=MAX_RECORD_ID)


async def _page(
    request: Request,
    patient_id: int,
    actor: Actor,
    *,
    errors: dict[str, str] | None = None,
    failed: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = services(request)
    bookings = await call(context.bookings.of_patient, patient_id, actor=actor)
    histories = {
        c.course_id: await call(context.bookings.history, c.course_id, actor=actor)
        for c in bookings.courses
    }
    view: dict[str, Any] = {
        "b": bookings,
        "histories": histories,
        "errors": errors or {},
        "failed": failed,
        "values": values or {},
        "today": context.clock().astimezone(bookings.zone).date(),
    }
    return render(request, "bookings.html", view, status=status)


async def _refused(
    request: Request,
    patient_id: int,
    actor: Actor,
    refused: InputError | ConflictError,
    failed: str,
    form: dict[str, str],
) -> Response:
    errors = field_errors(refused)
    return await _page(
        request,
        patient_id,
        actor,
        errors=errors,
        failed=failed,
        values=form,
        status=refused.http_status,
    )


@router.get(
    "/bookings/patients/{patient_id}", name="web_patient_bookings", response_class=HTMLResponse
)
async def bookings_page(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _page(request, patient_id, actor)


@router.post("/bookings/patients/{patient_id}/courses", name="web_book_course")
async def book_course(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        plan_text = form.get("plan_id", "").strip()
        if not plan_text:
            raise InputError("choose the signed order to book", fields={"field": "plan_id"})
        await call(
            context.bookings.book_course,
            patient_id,
            plan_id=whole_number(plan_text, field="plan_id", low=1, high=MAX_RECORD_ID),
            first_day=clinic_date(form.get("first_day", ""), field="first_day"),
            start_time=clock_time(form.get("start_time", ""), field="start_time"),
            chair=_chair(form),
            confirm=form.get("confirm") == "yes",
            actor=actor,
        )
    except (InputError, ConflictError) as refused:
        return await _refused(request, patient_id, actor, refused, "book", form)
    return redirect(f"/bookings/patients/{patient_id}?booked=1")


async def _course_patient(request: Request, course_id: int, actor: Actor) -> int:
    context = services(request)
    return (await call(context.courses.read, course_id, actor=actor)).patient_id


@router.post(
    "/bookings/courses/{course_id}/sessions/{session_number}/move", name="web_move_session"
)
async def move(
    course_id: RecordId, session_number: int, actor: SignedIn, request: Request
) -> Response:
    form = await form_of(request)
    context = services(request)
    patient_id = await _course_patient(request, course_id, actor)
    failed = f"move-{course_id}-{session_number}"
    try:
        await call(
            context.bookings.move,
            course_id,
            number=whole_number(
                str(session_number), field="number", low=1, high=MAX_SESSION_NUMBER
            ),
            day=clinic_date(form.get("day", ""), field="day"),
            start_time=clock_time(form.get("start_time", ""), field="start_time"),
            chair=_chair(form),
            reason=form.get("reason", ""),
            expected_version=_version(form),
            confirm=form.get("confirm") == "yes",
            actor=actor,
        )
    except (InputError, ConflictError) as refused:
        return await _refused(request, patient_id, actor, refused, failed, form)
    return redirect(f"/bookings/patients/{patient_id}#course-{course_id}")


@router.post(
    "/bookings/courses/{course_id}/sessions/{session_number}/cancel", name="web_cancel_session"
)
async def cancel_one(
    course_id: RecordId, session_number: int, actor: SignedIn, request: Request
) -> Response:
    form = await form_of(request)
    context = services(request)
    patient_id = await _course_patient(request, course_id, actor)
    try:
        await call(
            context.bookings.cancel_session,
            course_id,
            number=whole_number(
                str(session_number), field="number", low=1, high=MAX_SESSION_NUMBER
            ),
            reason=form.get("reason", ""),
            expected_version=_version(form),
            actor=actor,
        )
    except (InputError, ConflictError) as refused:
        return await _refused(
            request, patient_id, actor, refused, f"cancel-{course_id}-{session_number}", form
        )
    return redirect(f"/bookings/patients/{patient_id}#course-{course_id}")


@router.post("/bookings/courses/{course_id}/cancel", name="web_cancel_course")
async def cancel_all(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    patient_id = await _course_patient(request, course_id, actor)
    try:
        await call(
            context.bookings.cancel_course,
            course_id,
            reason=form.get("reason", ""),
            expected_version=_version(form),
            actor=actor,
        )
    except (InputError, ConflictError) as refused:
        return await _refused(
            request, patient_id, actor, refused, f"cancel-course-{course_id}", form
        )
    return redirect(f"/bookings/patients/{patient_id}#course-{course_id}")


@router.post("/bookings/courses/{course_id}/boosters", name="web_book_booster")
async def booster(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    patient_id = await _course_patient(request, course_id, actor)
    days_text = form.get("days", "")
    try:
        days = tuple(
            clinic_date(part, field="days") for part in days_text.split(",") if part.strip()
        )
        await call(
            context.bookings.book_booster,
            course_id,
            days=days,
            start_time=clock_time(form.get("start_time", ""), field="start_time"),
            chair=_chair(form),
            expected_version=_version(form),
            confirm=form.get("confirm") == "yes",
            actor=actor,
        )
    except (InputError, ConflictError) as refused:
        return await _refused(
            request, patient_id, actor, refused, f"booster-{course_id}-{days_text}", form
        )
    return redirect(f"/bookings/patients/{patient_id}#course-{course_id}")
