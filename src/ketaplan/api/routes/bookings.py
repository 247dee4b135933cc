"""Bookings in chairs: move or cancel a session, cancel a course, book a booster, read a
course's bookings history, and today's chair board. The same rules and refusals as the
bookings page (:mod:`ketaplan.services.bookings`): a closed day, outside opening hours, a
taken or unknown chair, no reason are refused with nothing written; a time in the past needs
``confirm``. The front desk gets no clinical fact from any of them.

A course's history is a page of the API's common envelope (:mod:`ketaplan.api.paging`): it
grows with every move and cancellation, so a client pages it like any list. The chair board is
a document, not a list: one clinic day's appointments, bounded by the clinic's chairs and
opening hours, answered whole (as the board page shows it)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_in_memory
from ketaplan.http.context import services
from ketaplan.http.params import ClinicDate, Line, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services.bookings import HistoryLine

router = APIRouter(tags=["bookings"])

HH_MM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
SessionNumber = Annotated[int, Path(ge=1, le=100, description="The session's number.")]
Version = Annotated[int, Field(ge=1, le=2**31 - 1, description="The course version you saw.")]
Chair = Annotated[int | None, Field(ge=1, le=1000, description="A chair; null: any free one.")]
StartTime = Annotated[str, Field(pattern=HH_MM, description="Local time HH:MM, e.g. 09:00.")]
ReasonText = Annotated[Line, Field(min_length=1, max_length=500)]


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: ClinicDate
    start_time: StartTime
    chair: Chair = None
    reason: ReasonText
    expected_version: Version
    confirm: bool = Field(False, description="Confirm a time in the past.")


class BookingCancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ReasonText
    expected_version: Version


class BoosterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[ClinicDate] = Field(min_length=1, max_length=4)
    start_time: StartTime
    chair: Chair = None
    expected_version: Version
    confirm: bool = Field(False, description="Confirm a day in the past.")


class CourseVersionOut(BaseModel):
    course_id: int
    version: int


class MovedOut(CourseVersionOut):
    number: int
    start: datetime
    chair: int


class BoosterBookedOut(CourseVersionOut):
    numbers: list[int]


class HistoryOut(BaseModel):
    kind: str
    number: int | None
    from_start: datetime | None
    to_start: datetime | None
    chair: int | None
    reason: str | None
    recorded_at: datetime
    recorded_by: str = Field(description="The author's e-mail (their sign-in name).")
    recorded_by_name: str = Field(
        description="The author's name as pages show it (their e-mail when no name is set)."
    )


class HistoryPage(Page[HistoryOut]):
    """A page of a course's bookings history, oldest first."""


class BoardClinicalOut(BaseModel):
    """What only clinical staff see on a chair's line."""

    delivered_mg: float = Field(description="Delivered up to the chart's last event, mg.")
    charted_to: datetime | None
    vitals_due_at: datetime | None
    open_alerts: list[str]


class BoardLineOut(BaseModel):
    chair: int | None
    start: datetime
    end: datetime | None
    patient_id: int
    patient_name: str
    course_id: int
    number: int
    state: str
    session_id: int | None
    nurse: str | None = Field(
        description="Who charted the session last: the staff member's name, or their e-mail "
        "when no name is set; null before anything is charted."
    )
    started_at: datetime | None
    clinical: BoardClinicalOut | None = Field(
        description="Delivered mg, vital signs due, open alerts: null for the front desk."
    )


class BoardOut(BaseModel):
    day: date
    chairs: int
    lines: list[BoardLineOut]


def _time(text: str) -> time:
    return time.fromisoformat(text)


@router.post("/courses/{course_id}/sessions/{session_number}/move", name="move_course_session")
def move(
    course_id: RecordId,
    session_number: SessionNumber,
    body: MoveIn,
    actor: SignedIn,
    request: Request,
) -> MovedOut:
    """Move one session to a day, time and chair, with a reason kept in the history."""
    moved = services(request).bookings.move(
        course_id,
        number=session_number,
        day=body.day,
        start_time=_time(body.start_time),
        chair=body.chair,
        reason=body.reason,
        expected_version=body.expected_version,
        confirm=body.confirm,
        actor=actor,
    )
    return MovedOut(
        course_id=course_id,
        version=moved.version,
        number=moved.number,
        start=moved.start,
        chair=moved.chair,
    )


@router.post("/courses/{course_id}/sessions/{session_number}/cancel", name="cancel_course_session")
def cancel_session(
    course_id: RecordId,
    session_number: SessionNumber,
    body: BookingCancelIn,
    actor: SignedIn,
    request: Request,
) -> CourseVersionOut:
    """Cancel one session with a reason: the rest of a series moves on; a booster's booking
    is released."""
    version = services(request).bookings.cancel_session(
        course_id,
        number=session_number,
        reason=body.reason,
        expected_version=body.expected_version,
        actor=actor,
    )
    return CourseVersionOut(course_id=course_id, version=version)


@router.post("/courses/{course_id}/cancel", name="cancel_course")
def cancel_course(
    course_id: RecordId, body: BookingCancelIn, actor: SignedIn, request: Request
) -> CourseVersionOut:
    """Cancel the whole course with a reason; its bookings from now on are released."""
    version = services(request).bookings.cancel_course(
        course_id, reason=body.reason, expected_version=body.expected_version, actor=actor
    )
    return CourseVersionOut(course_id=course_id, version=version)


@router.post("/courses/{course_id}/boosters", name="book_booster", status_code=201)
def book_booster(
    course_id: RecordId, body: BoosterIn, actor: SignedIn, request: Request
) -> BoosterBookedOut:
    """Book a booster on the suggested day(s), at a time, in a chair."""
    numbers = services(request).bookings.book_booster(
        course_id,
        days=tuple(body.days),
        start_time=_time(body.start_time),
        chair=body.chair,
        expected_version=body.expected_version,
        confirm=body.confirm,
        actor=actor,
    )
    return BoosterBookedOut(
        course_id=course_id, version=body.expected_version + 1, numbers=list(numbers)
    )


@router.get("/courses/{course_id}/history", name="course_history")
def history(
    course_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> HistoryPage:
    """Every change to the course's bookings, oldest first, with who and why, a page at a
    time (read whole: one course's changes are few)."""
    lines = services(request).bookings.history(course_id, actor=actor)
    return page_in_memory(lines, _history_out, HistoryPage, limit=limit, cursor=cursor)


def _history_out(line: HistoryLine) -> HistoryOut:
    return HistoryOut(**{f: getattr(line, f) for f in HistoryOut.model_fields})


@router.get("/chair-board", name="chair_board")
def chair_board(actor: SignedIn, request: Request) -> BoardOut:
    """Today's chairs: each appointment's state, nurse and times; for clinical staff also the
    dose delivered so far (mg), when vital signs are due and open alerts. A document, not a
    paged list: one clinic day's appointments, bounded by its chairs and opening hours."""
    context = services(request)
    board = context.bookings.board(actor=actor, zone=ZoneInfo(context.calendar.time_zone))
    return BoardOut(
        day=board.day,
        chairs=board.chairs,
        lines=[
            BoardLineOut(
                chair=line.chair,
                start=line.start,
                end=line.end,
                patient_id=line.patient_id,
                patient_name=line.patient_name,
                course_id=line.course_id,
                number=line.number,
                state=line.state,
                session_id=line.session_id,
                nurse=line.nurse,
                started_at=line.started_at,
                clinical=None
                if line.clinical is None
                else BoardClinicalOut(
                    delivered_mg=round(line.clinical.delivered_mg, 3),
                    charted_to=line.clinical.charted_to,
                    vitals_due_at=line.clinical.vitals_due_at,
                    open_alerts=list(line.clinical.open_alerts),
                ),
            )
            for line in board.lines
        ],
    )
