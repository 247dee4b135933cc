"""Courses: schedule the series, reschedule a missed or cancelled session, boosters, calendar.

Courses answer as the caller's role sees them: the front desk gets the bookings (dates, times,
numbers) without the protocol, which is the diagnosis (:mod:`ketaplan.services.visibility`)."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.course_models import Bookings, BoosterPlanOut, Schedule
from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of, window
from ketaplan.http.context import services
from ketaplan.http.params import ClinicDate, Condition, OptionalRecordId, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import (
    CourseRecord,
)
from ketaplan.services.courses import CourseView, course_view

router = APIRouter(tags=["courses"])


class CourseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Condition
    first_day: ClinicDate = Field(description="The series starts on the first open slot from it.")
    plan_id: OptionalRecordId = Field(
        None, description="The active order to run; default: the newest for the protocol."
    )
    start_time: Annotated[str | None, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = Field(
        None,
        description="Local HH:MM of the first session on first_day exactly (refused when the "
        "clinic is closed or the chair taken); default: the first open appointment.",
    )
    chair: Annotated[int | None, Field(ge=1, le=1000)] = Field(
        None, description="The chair for the sessions where it is free; default: any free one."
    )
    confirm: bool = Field(
        False, description="Confirm a course in the past or overlapping another active course."
    )


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_number: Annotated[int, Field(ge=1, le=100)]
    status: Literal["missed", "cancelled"]
    expected_version: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(
        description="The course version you saw; if it was rescheduled since, you get a 409."
    )
    from_date: ClinicDate | None = Field(
        None, description="Move the rest from this day (default: the day after the missed one)."
    )
    reason: Annotated[str | None, Field(max_length=500)] = Field(
        None, description="Why, kept in the course's bookings history."
    )


class CourseOut(BaseModel):
    course_id: int
    patient_id: int
    protocol_key: str
    plan_id: int | None
    first_day: date
    version: int
    schedule: Schedule


class BookedCourseOut(BaseModel):
    """A course as the front desk sees it: ``schedule`` holds ``sessions`` and ``missed``."""

    course_id: int
    patient_id: int
    first_day: date
    version: int
    schedule: Bookings


class BoosterOut(BaseModel):
    course_id: int
    patient_id: int
    series_end_scores: dict[str, int]
    boosters: BoosterPlanOut


def _out(view: CourseView) -> CourseOut | BookedCourseOut:
    if isinstance(view, CourseRecord):
        return CourseOut(
            course_id=view.course_id,
            patient_id=view.patient_id,
            protocol_key=view.protocol_key,
            plan_id=view.plan_id,
            first_day=view.first_day,
            version=view.version,
            schedule=Schedule.model_validate(view.schedule.to_dict()),
        )
    return BookedCourseOut(
        course_id=view.course_id,
        patient_id=view.patient_id,
        first_day=view.first_day,
        version=view.version,
        schedule=Bookings.model_validate(view.schedule_dict()),
    )


@router.post("/patients/{patient_id}/courses", name="create_course", status_code=201)
def create(
    patient_id: RecordId, body: CourseIn, actor: SignedIn, request: Request
) -> CourseOut | BookedCourseOut:
    """Schedule the protocol's series against the clinic calendar and save it, on the patient's
    active order signed by a prescriber: ``plan_id``, or the newest active order for the
    protocol when it is left out. 409 ``order.not_active`` (the named order is proposed,
    superseded or cancelled) or ``order.none_active`` (there is none): nothing is saved."""
    context = services(request)
    record = context.bookings.book_course(
        patient_id,
        condition=body.condition,
        first_day=body.first_day,
        actor=actor,
        plan_id=body.plan_id,
        start_time=None if body.start_time is None else time.fromisoformat(body.start_time),
        chair=body.chair,
        confirm=body.confirm,
    )
    return _out(course_view(record, actor))


class CoursePage(Page[CourseOut | BookedCourseOut]):
    """A page of a patient's courses, newest first."""


@router.get("/patients/{patient_id}/courses", name="list_courses")
def listing(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> CoursePage:
    """The patient's courses, newest first, a page at a time."""
    found = services(request).courses.listing(patient_id, actor=actor, window=window(limit, cursor))
    return page_of(found, _out, CoursePage)


@router.get("/courses/{course_id}", name="read_course")
def read(course_id: RecordId, actor: SignedIn, request: Request) -> CourseOut | BookedCourseOut:
    """A course and its current schedule."""
    return _out(services(request).courses.read(course_id, actor=actor))


@router.post("/courses/{course_id}/reschedule", name="reschedule_course")
def move(
    course_id: RecordId, body: RescheduleIn, actor: SignedIn, request: Request
) -> CourseOut | BookedCourseOut:
    """A session was missed or cancelled: it and the rest move, keeping the calendar's rules."""
    context = services(request)
    record = context.courses.reschedule(
        course_id,
        session_number=body.session_number,
        status=body.status,
        expected_version=body.expected_version,
        actor=actor,
        from_date=body.from_date,
        reason=body.reason,
    )
    return _out(course_view(record, actor))


@router.get("/courses/{course_id}/booster", name="course_booster")
def booster(course_id: RecordId, actor: SignedIn, request: Request) -> BoosterOut:
    """Reassessment and boosters after the series, from the course's stored scores."""
    context = services(request)
    advice = context.courses.recommend_booster(course_id, actor=actor)
    return BoosterOut(
        course_id=advice.course_id,
        patient_id=advice.patient_id,
        series_end_scores=advice.series_end_scores,
        boosters=BoosterPlanOut.model_validate(advice.plan),
    )


@router.get(
    "/courses/{course_id}/calendar.ics",
    name="course_calendar",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}, "description": "The sessions as iCalendar"}},
)
def calendar(course_id: RecordId, actor: SignedIn, request: Request) -> Response:
    """The course's sessions as an iCalendar file for the patient's or clinic's calendar:
    times in the clinic's zone (TZID and VTIMEZONE), one UID per clinic, course and session,
    the clinic's neutral title (no diagnosis) and its name and address as the location."""
    context = services(request)
    document = context.courses.calendar(course_id, actor=actor, stamp=context.clock())
    return Response(
        document,
        media_type="text/calendar",
        headers={"Content-Disposition": f'attachment; filename="course-{course_id}.ics"'},
    )
