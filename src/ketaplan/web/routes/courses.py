"""Courses: scheduling the series from a plan, and the course page (calendar, cost, sessions)."""

from __future__ import annotations

import calendar as month_calendar
from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.api.context import services
from ketaplan.api.params import RecordId
from ketaplan.api.security import SignedIn
from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.errors import InputError
from ketaplan.services import open_session, schedule_course
from ketaplan.services.patient_overview import course_overview
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
                            d.weekday() not in clinic.open_weekdays or d in clinic.holidays,
                        )
                        for d in week
                    ]
                    for week in weeks
                ],
            )
        )
    return grids


def _first_day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            "choose the day of the first session"
            if not text.strip()
            else f"{text!r} is not a date (YYYY-MM-DD)",
            fields={"field": "first_day"},
        ) from None


@router.post("/patients/{patient_id}/courses", name="web_schedule_course")
async def schedule(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    plan_id = int(form["plan_id"]) if form.get("plan_id", "").isdigit() else None
    try:
        record = await call(
            schedule_course,
            context.unit_of_work(),
            patient_id,
            condition=form.get("condition", ""),
            first_day=_first_day(form.get("first_day", "")),
            actor=actor,
            catalog=context.catalog,
            calendar=context.calendar,
            plan_id=plan_id,
        )
    except InputError as refused:
        if plan_id is None:
            raise
        values = await plan_values(request, plan_id, actor)
        return render(
            request,
            "plan.html",
            {**values, "errors": field_errors(refused), "form": form},
            status=422,
        )
    return redirect(f"/courses/{record.course_id}")


@router.get("/courses/{course_id}", name="web_course", response_class=HTMLResponse)
async def course_page(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    context = services(request)
    course = await call(
        course_overview,
        context.unit_of_work(),
        course_id,
        actor=actor,
        catalog=context.catalog,
        monitoring=context.monitoring,
    )
    days = {date.fromisoformat(s["date"]): s["number"] for s in course.schedule["sessions"]}
    opened = {s.number for s in course.sessions if s.number is not None}
    return render(
        request,
        "course.html",
        {
            "course": course,
            "months": month_grids(days, context.calendar),
            "opened": opened,
        },
    )


@router.post("/courses/{course_id}/sessions", name="web_open_session")
async def open_course_session(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    course = await call(
        course_overview,
        context.unit_of_work(),
        course_id,
        actor=actor,
        catalog=context.catalog,
        monitoring=context.monitoring,
    )
    number = int(form["number"]) if form.get("number", "").isdigit() else None
    chart = await call(
        open_session,
        context.unit_of_work(),
        course.patient_id,
        condition=course.protocol_key,
        actor=actor,
        catalog=context.catalog,
        course_id=course_id,
        plan_id=course.plan_id,
        number=number,
    )
    return redirect(f"/sessions/{chart.session_id}")
