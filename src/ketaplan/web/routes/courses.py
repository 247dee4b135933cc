"""Courses: scheduling the series from a plan, and the course page (calendar, cost, sessions,
the booster advice, and the next dose's titration with the prescriber's accept or override)."""

from __future__ import annotations

import calendar as month_calendar
import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.errors import (
    ConflictError,
    HardLimitExceeded,
    InputError,
    InputProblems,
    OverrideRequired,
    PermissionDenied,
    SafetyLimitError,
    TooManyAttempts,
)
from ketaplan.http.context import services
from ketaplan.http.errors import retry_after
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import (
    MAX_RECORD_ID,
    MAX_REQUESTED_MG_PER_KG,
    MAX_SESSION_NUMBER,
    clinic_date,
    decimal_number,
    whole_number,
)
from ketaplan.services import (
    DEFAULT_MEANING,
    Actor,
)
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render
from ketaplan.web.routes.plans import plan_values

router = APIRouter()


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    in_month: bool
    session: int | None
    closed: bool


def month_grids(days: dict[date, int], clinic: ClinicCalendar) -> list[tuple[str, list[list[Day]]]]:
    """Each month holding a session, as weeks of days (Monday first), sessions numbered."""
    months = sorted({(d.year, d.month) for d in days})
    grids = []
    for year, month in months:
        weeks = month_calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
        grids.append(
            (
                date(year, month, 1).strftime("%B %Y"),
                [
                    [
                        Day(
                            d,
                            d.month == month,
                            days.get(d),
                            not clinic.is_open(d),
                        )
                        for d in week
                    ]
                    for week in weeks
                ],
            )
        )
    return grids


def _first_day(text: str) -> date:
    if not text.strip():
        raise InputError("choose the day of the first session", fields={"field": "first_day"})
    return clinic_date(text, field="first_day")


@router.post("/patients/{patient_id}/courses", name="web_schedule_course")
async def schedule(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    plan_text = form.get("plan_id", "").strip()
    plan_id = (
        whole_number(plan_text, field="plan_id", low=1, high=MAX_RECORD_ID) if plan_text else None
    )
    try:
        record = await call(
            context.courses.schedule,
            patient_id,
            condition=form.get("condition", ""),
            first_day=_first_day(form.get("first_day", "")),
            actor=actor,
            plan_id=plan_id,
        )
    except (InputError, ConflictError) as refused:
        if plan_id is None:
            raise
        if refused.code == "conflict.needs_confirmation":
            refused = refused.with_hint(
                f"to confirm, book it on the patient's bookings page, /bookings/patients/"
                f"{patient_id}, where a course in the past or overlapping another is confirmed"
            )
        values = await plan_values(request, plan_id, actor)
        return render(
            request,
            "plan.html",
            {
                **values,
                "errors": field_errors(refused, {"plan_id": "", "confirm": ""}),
                "form": form,
            },
            status=refused.http_status,
        )
    return redirect(f"/courses/{record.course_id}")


async def course_values(request: Request, course_id: int, actor: Actor) -> dict[str, Any]:
    """What the course page shows (also re-shown after its titration forms)."""
    context = services(request)
    page = await call(context.courses.page, course_id, actor=actor)  # each chart folded once
    course, booster = page.overview, page.booster
    titration = await call(context.titration.latest, course_id, actor=actor)
    history = await call(context.bookings.history, course_id, actor=actor)
    days = {date.fromisoformat(s["date"]): s["number"] for s in course.schedule["sessions"]}
    return {
        "course": course,
        "months": month_grids(days, course.calendar or context.calendar),
        "opened": {s.number for s in course.sessions if s.number is not None},
        "booster": booster,
        "titration": titration,
        "history": history,
        "errors": {},
        "values": {},
        "default_meaning": DEFAULT_MEANING,
    }


@router.get("/courses/{course_id}", name="web_course", response_class=HTMLResponse)
async def course_page(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return render(request, "course.html", await course_values(request, course_id, actor))


@router.post("/courses/{course_id}/titration", name="web_recommend_titration")
async def recommend_next_dose(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    context = services(request)
    await call(context.titration.recommend, course_id, actor=actor)
    return redirect(f"/courses/{course_id}#titration")


def _decision_dose(form: dict[str, str]) -> float | None:
    """None to accept the recommendation; otherwise the dose the prescriber typed."""
    if form.get("choice") == "accept":
        return None
    text = form.get("mg_per_kg", "").strip()
    if not text:
        raise InputError(
            "give the dose you choose instead, in mg/kg (e.g. 0.6)", fields={"field": "mg_per_kg"}
        )
    # Zero and below are the titration service's to refuse, in its words.
    return decimal_number(
        text,
        field="mg_per_kg",
        low=-math.inf,
        high=MAX_REQUESTED_MG_PER_KG,
        what="a dose in mg/kg",
    )


@router.post("/courses/{course_id}/titration/decision", name="web_decide_titration")
async def decide_next_dose(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    shown = await call(context.titration.latest, course_id, actor=actor)
    errors: dict[str, str]
    status, headers = 422, {}
    if shown is None or str(shown.titration.recommendation_id) != form.get("recommendation_id"):
        errors = {
            "": "a newer recommendation was made for this course after this page was opened; "
            "decide on the one shown now"
        }
        status = 409
    else:
        try:
            problems = InputProblems()  # the typed dose and the password checked together
            mg_per_kg = problems.check(_decision_dose, form)
            if not form.get("password", ""):
                problems.add(
                    InputError(
                        "enter your password: the decision is signed as the next order",
                        fields={"field": "password"},
                    )
                )
            problems.raise_any()
            await call(
                context.titration.decide,
                shown.titration.recommendation_id,
                actor=actor,
                password=form.get("password", ""),
                mg_per_kg=mg_per_kg,
                reason=form.get("reason", ""),
                override_reason=form.get("override_reason", "").strip() or None,
            )
        except InputError as refused:
            errors = field_errors(refused)
        except HardLimitExceeded as refused:
            errors = {"mg_per_kg": refused.message}
        except OverrideRequired as refused:
            errors = {"override_reason": refused.message}
        except SafetyLimitError as refused:  # screening stops the infusion: override it
            errors = {"override_reason": refused.message}
        except (PermissionDenied, TooManyAttempts) as refused:
            errors, status = {"password": refused.message}, refused.http_status
            headers = retry_after(refused.fields)
        except ConflictError as refused:
            errors, status = {"": refused.message}, 409
        else:
            return redirect(f"/courses/{course_id}#titration")
    values = await course_values(request, course_id, actor)
    return render(
        request,
        "course.html",
        {**values, "errors": errors, "values": form},
        status=status,
        headers=headers,
    )


@router.post("/courses/{course_id}/sessions", name="web_open_session")
async def open_course_session(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    # The patient and the protocol, from the course alone: its overview replays every chart
    # of the course (opening the sixth session folded five charts). Audited the same, as a
    # read of the course.
    course = await call(context.courses.get, course_id, actor=actor)
    number_text = form.get("number", "").strip()
    number = (
        whole_number(number_text, field="number", low=1, high=MAX_SESSION_NUMBER)
        if number_text
        else None
    )
    chart = await call(
        context.sessions.open,
        course.patient_id,
        condition=course.protocol_key,
        actor=actor,
        course_id=course_id,
        plan_id=None,  # the course's newest active order (a titration may have replaced it)
        number=number,
    )
    return redirect(f"/sessions/{chart.session_id}")
