"""Chairs and bookings (issue 18): every appointment in a chair, chosen against the clinic
calendar and the chairs' capacity; moves and cancellations with a reason, kept as history;
past and overlapping courses confirmed; refusals that write nothing; the front desk doing it
all without seeing a clinical fact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import ConflictError, InputError, KetaplanError
from ketaplan.services import (
    Actor,
    PatientDetails,
    PatientRecord,
    UnitOfWork,
    create_patient,
    schedule_course,
)
from ketaplan.services.bookings import (
    book_booster,
    booking_history,
    cancel_course,
    cancel_session,
    move_session,
)
from ketaplan.services.clinic_settings import clinic_settings, update_clinic_settings
from ketaplan.services.clinic_settings_form import ClinicSettingsInput, vials_as_text
from ketaplan.services.courses import CourseRecord, reschedule_course
from ketaplan.services.patient_bookings import patient_bookings
from ketaplan.store import Database
from ketaplan.store.models import BookingEvent, CourseBooking, TreatmentCourse

from .conftest import signed_plan

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 10:00 on Tuesday 8 December in the clinic
WEDNESDAY = date(2026, 12, 9)
NINE = time(9, 0)


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def set_chairs(uow: UnitOfWork, admin: Actor, catalog: Catalog, policy: ClinicPolicy, n: str):  # type: ignore[no-untyped-def]
    current = clinic_settings(
        uow, actor=admin, catalog=catalog, calendar=policy.calendar, monitoring=policy.monitoring
    )
    return update_clinic_settings(
        uow,
        ClinicSettingsInput(
            name=current.name,
            price_per_session_usd="600",
            bag_sizes_ml=", ".join(f"{b:g}" for b in current.bag_sizes_ml),
            vials=vials_as_text(current.vials),
            chairs=n,
        ),
        expected_version=current.version,
        actor=admin,
        catalog=catalog,
        calendar=policy.calendar,
        monitoring=policy.monitoring,
    )


def new_patient(
    uow: UnitOfWork,
    name: str,
    *,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
) -> int:
    patient = create_patient(
        uow,
        PatientDetails(full_name=name, weight="70 kg", height="170 cm", age_years=40, sex="male"),
        actor=nurse,
        catalog=catalog,
    )
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    return patient.patient_id


def chairs_of(database: Database, course_id: int) -> list[tuple[int, datetime, int | None]]:
    with database.session_factory() as db:
        return [
            (n, start.astimezone(ZONE), chair)
            for n, start, chair in db.execute(
                select(CourseBooking.number, CourseBooking.start_at, CourseBooking.chair)
                .where(CourseBooking.course_id == course_id)
                .order_by(CourseBooking.number)
            )
        ]


def count(database: Database, model: type) -> int:
    with database.session_factory() as db:
        return db.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def book(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> Callable[..., CourseRecord]:
    """Book a new patient's depression series (a name, then schedule_course's keywords)."""

    def booked(name: str, *, actor: Actor | None = None, **keywords: object) -> CourseRecord:
        patient_id = new_patient(
            uow, name, nurse=nurse, prescriber=prescriber, catalog=catalog, resolver=resolver
        )
        return schedule_course(
            uow,
            patient_id,
            condition="depression",
            actor=actor or nurse,
            policy=policy,
            **keywords,  # type: ignore[arg-type]
        )

    return booked


def test_the_clinic_s_chair_count_is_a_setting_with_its_limits(
    uow: UnitOfWork, admin: Actor, catalog: Catalog, policy: ClinicPolicy
) -> None:
    assert catalog.clinic.chairs == 4
    assert set_chairs(uow, admin, catalog, policy, "6").chairs == 6
    for typed in ("0", "51", "two", "2.5"):
        with pytest.raises(InputError) as refused:
            set_chairs(uow, admin, catalog, policy, typed)
        assert refused.value.fields["field"] == "chairs"
        assert "1 to 50" in refused.value.message


def test_a_course_is_booked_at_the_chosen_time_in_the_chosen_chair_with_its_history(
    database: Database, uow: UnitOfWork, nurse: Actor, book: Callable[..., CourseRecord]
) -> None:
    course = book("Ana Chair", first_day=WEDNESDAY, start_time=NINE, chair=3)
    seated = chairs_of(database, course.course_id)
    assert seated[0][1] == datetime(2026, 12, 9, 9, 0, tzinfo=ZONE)
    assert {chair for _, _, chair in seated} == {3}
    history = booking_history(uow, course.course_id, actor=nurse)
    assert [(h.kind, h.number, h.chair) for h in history] == [("booked", n, 3) for n in range(1, 7)]


def test_a_taken_chair_is_refused_and_nothing_is_written(
    database: Database, book: Callable[..., CourseRecord]
) -> None:
    book("First Sitter", first_day=WEDNESDAY, start_time=NINE, chair=2)
    courses = count(database, TreatmentCourse)
    with pytest.raises(ConflictError) as refused:
        book("Second Sitter", first_day=WEDNESDAY, start_time=NINE, chair=2)
    assert refused.value.code == "conflict.chair_taken"
    assert refused.value.fields["field"] == "chair"
    assert "chair 2 is taken on Wed 09 Dec 2026 09:00" in refused.value.message
    assert refused.value.fields["free_chairs"] == [1, 3, 4]
    assert count(database, TreatmentCourse) == courses


def test_the_scheduler_places_sessions_only_where_a_chair_is_free(
    database: Database,
    uow: UnitOfWork,
    admin: Actor,
    catalog: Catalog,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    set_chairs(uow, admin, catalog, policy, "1")
    first = book("Only Chair", first_day=WEDNESDAY, start_time=NINE)
    with pytest.raises(ConflictError) as refused:
        book("No Room", first_day=WEDNESDAY, start_time=NINE)
    assert refused.value.code == "conflict.no_chair_free"
    second = book("Next Slot", first_day=WEDNESDAY)  # no time chosen: the next free one
    taken = {(start, chair) for _, start, chair in chairs_of(database, first.course_id)}
    for _, start, chair in chairs_of(database, second.course_id):
        assert chair == 1
        assert all(start != other for other, _ in taken)
    assert chairs_of(database, second.course_id)[0][1] == datetime(2026, 12, 9, 11, 0, tzinfo=ZONE)


@pytest.mark.parametrize(
    ("day", "start", "chair", "code", "field"),
    [
        (date(2026, 12, 12), NINE, None, "input.clinic_closed", "first_day"),  # a Saturday
        (date(2026, 12, 25), NINE, None, "input.clinic_closed", "first_day"),  # Christmas
        (WEDNESDAY, time(16, 30), None, "input.outside_opening_hours", "start_time"),
        (WEDNESDAY, NINE, 9, "input.unknown_chair", "chair"),
    ],
)
def test_a_booking_outside_the_calendar_or_the_chairs_is_refused(
    database: Database,
    book: Callable[..., CourseRecord],
    day: date,
    start: time,
    chair: int | None,
    code: str,
    field: str,
) -> None:
    with pytest.raises(InputError) as refused:
        book("Refused Booking", first_day=day, start_time=start, chair=chair)
    assert refused.value.code == code
    assert refused.value.fields["field"] == field
    assert "nothing was booked" in refused.value.message or code == "input.unknown_chair"
    assert count(database, TreatmentCourse) == 0
    assert count(database, BookingEvent) == 0


def test_a_course_in_the_past_needs_confirming(
    database: Database, book: Callable[..., CourseRecord]
) -> None:
    with pytest.raises(ConflictError) as refused:
        book("Late Entry", first_day=date(2026, 12, 7), start_time=NINE)
    assert refused.value.code == "conflict.needs_confirmation"
    assert "in the past" in refused.value.message
    assert count(database, TreatmentCourse) == 0
    course = book("Late Entry Two", first_day=date(2026, 12, 7), start_time=NINE, confirm=True)
    assert chairs_of(database, course.course_id)[0][1].date() == date(2026, 12, 7)


def test_a_course_overlapping_another_active_course_of_the_patient_needs_confirming(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    first = book("Twice Booked", first_day=WEDNESDAY, start_time=NINE)
    again = {
        "condition": "depression",
        "first_day": date(2026, 12, 14),
        "actor": nurse,
        "policy": policy,
        "start_time": time(11, 0),
    }
    with pytest.raises(ConflictError) as refused:
        schedule_course(uow, first.patient_id, **again)  # type: ignore[arg-type]
    assert f"overlaps the patient's active course #{first.course_id}" in refused.value.message
    assert count(database, TreatmentCourse) == 1
    schedule_course(uow, first.patient_id, confirm=True, **again)  # type: ignore[arg-type]
    assert count(database, TreatmentCourse) == 2


def test_the_front_desk_moves_a_session_with_a_reason_and_the_history_keeps_it(
    database: Database,
    uow: UnitOfWork,
    front_desk: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    course = book("Moved Along", first_day=WEDNESDAY, start_time=NINE, chair=1)
    second = chairs_of(database, course.course_id)[1][1]  # Monday 14th, 09:00
    friday = second.date() - timedelta(days=3)
    moved = move_session(
        uow,
        course.course_id,
        number=2,
        day=friday,
        start_time=time(13, 0),
        chair=2,
        reason="patient asked for the afternoon",
        expected_version=course.version,
        actor=front_desk,
        policy=policy,
    )
    assert moved.version == course.version + 1
    assert chairs_of(database, course.course_id)[1] == (
        2,
        datetime.combine(friday, time(13, 0), ZONE),
        2,
    )
    last = booking_history(uow, course.course_id, actor=front_desk)[-1]
    assert (last.kind, last.number, last.chair, last.reason) == (
        "moved",
        2,
        2,
        "patient asked for the afternoon",
    )
    assert last.from_start == second


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"reason": "  "}, "input.reason_required"),
        ({"day": date(2026, 12, 31), "start_time": NINE}, "input.out_of_order"),
        ({"day": date(2026, 12, 14), "start_time": time(13, 0)}, "input.spacing"),
        ({"day": date(2026, 12, 13)}, "input.clinic_closed"),
        ({"chair": 7}, "input.unknown_chair"),
        ({"expected_version": 9}, "conflict.stale_version"),
        # The largest version the API takes: stale, not a database error on PostgreSQL
        # (found by schemathesis: its "+ 1" was bound past the column's range).
        ({"expected_version": 2**31 - 1}, "conflict.stale_version"),
    ],
)
def test_a_refused_move_changes_nothing(
    database: Database,
    uow: UnitOfWork,
    front_desk: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
    change: dict[str, object],
    code: str,
) -> None:
    course = book("Stays Put", first_day=WEDNESDAY, start_time=NINE)
    before = chairs_of(database, course.course_id)
    events = count(database, BookingEvent)
    move = {
        "number": 2,
        "day": before[1][1].date() - timedelta(days=3),  # Friday: the spacing holds
        "start_time": time(11, 0),
        "chair": None,
        "reason": "a reason",
        "expected_version": course.version,
        **change,
    }
    with pytest.raises(KetaplanError) as refused:
        move_session(uow, course.course_id, actor=front_desk, policy=policy, **move)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert chairs_of(database, course.course_id) == before
    assert count(database, BookingEvent) == events


def test_a_move_into_a_taken_chair_is_refused(
    database: Database,
    uow: UnitOfWork,
    front_desk: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    book("Holds Chair One", first_day=WEDNESDAY, start_time=time(11, 0), chair=1)
    course = book("Wants Chair One", first_day=WEDNESDAY, start_time=NINE, chair=2)
    with pytest.raises(ConflictError) as refused:
        move_session(
            uow,
            course.course_id,
            number=1,
            day=WEDNESDAY,
            start_time=time(11, 0),
            chair=1,
            reason="later bus",
            expected_version=course.version,
            actor=front_desk,
            policy=policy,
        )
    assert refused.value.code == "conflict.chair_taken"


def test_cancelling_a_session_moves_the_rest_on_and_records_the_reason(
    database: Database,
    uow: UnitOfWork,
    front_desk: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    course = book("Cancels One", first_day=WEDNESDAY, start_time=NINE, chair=4)
    before = chairs_of(database, course.course_id)
    with pytest.raises(InputError):
        cancel_session(
            uow,
            course.course_id,
            number=3,
            reason="",
            expected_version=course.version,
            actor=front_desk,
            policy=policy,
        )
    version = cancel_session(
        uow,
        course.course_id,
        number=3,
        reason="family emergency",
        expected_version=course.version,
        actor=front_desk,
        policy=policy,
    )
    assert version == course.version + 1
    after = chairs_of(database, course.course_id)
    assert after[:2] == before[:2]
    assert after[2][1] > before[2][1]
    assert {chair for _, _, chair in after} == {4}
    kinds = [
        (h.kind, h.number, h.reason)
        for h in booking_history(uow, course.course_id, actor=front_desk)
    ]
    assert ("cancelled", 3, "family emergency") in kinds
    assert ("moved", 3, "family emergency") in kinds


def test_cancelling_a_course_releases_its_chairs_and_keeps_the_history(
    database: Database,
    uow: UnitOfWork,
    front_desk: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    course = book("Stops Treatment", first_day=WEDNESDAY, start_time=NINE, chair=1)
    cancel_course(
        uow,
        course.course_id,
        reason="moved away",
        expected_version=course.version,
        actor=front_desk,
    )
    assert chairs_of(database, course.course_id) == []
    history = booking_history(uow, course.course_id, actor=front_desk)
    assert history[-1].kind == "course_cancelled"
    assert history[-1].reason == "moved away"
    assert len([h for h in history if h.kind == "cancelled"]) == 6
    book("Takes The Chair", first_day=WEDNESDAY, start_time=NINE, chair=1)  # free again
    with pytest.raises(ConflictError) as refused:
        cancel_course(
            uow,
            course.course_id,
            reason="again",
            expected_version=course.version + 1,
            actor=front_desk,
        )
    assert refused.value.code == "conflict.course_cancelled"


def test_a_booster_is_booked_on_the_suggested_day_and_outlives_a_reschedule(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    front_desk: Actor,
    policy: ClinicPolicy,
    book: Callable[..., CourseRecord],
) -> None:
    course = book("Needs Booster", first_day=WEDNESDAY, start_time=NINE)
    seen = patient_bookings(uow, course.patient_id, actor=front_desk, policy=policy)
    (shown,) = seen.courses
    days = shown.booster_days[0]
    assert days
    assert all(d > date(2026, 12, 20) for d in days)
    numbers = book_booster(
        uow,
        course.course_id,
        days=days,
        start_time=time(11, 0),
        chair=2,
        expected_version=shown.version,
        actor=front_desk,
        policy=policy,
    )
    assert numbers == (7,)
    reschedule_course(
        uow,
        course.course_id,
        session_number=2,
        status="missed",
        expected_version=shown.version + 1,
        actor=nurse,
        policy=policy,
    )
    booked = chairs_of(database, course.course_id)
    assert booked[-1] == (7, datetime.combine(days[0], time(11, 0), ZONE), 2)
    assert booking_history(uow, course.course_id, actor=nurse)[6].kind == "booster_booked"


def test_the_front_desk_s_bookings_view_names_orders_and_boosters_without_clinical_facts(
    uow: UnitOfWork,
    front_desk: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    seen = patient_bookings(uow, patient.patient_id, actor=front_desk, policy=policy)
    assert [o.plan_id for o in seen.orders_to_book] == [plan.plan_id]
    text = repr(seen).lower()
    for clinical in ("depression", "mg", "phq", "sertraline", "80 kg", "weight"):
        assert clinical not in text


def test_the_front_desk_booking_another_patient_s_order_is_not_told_its_protocol(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    front_desk: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    first = new_patient(
        uow, "Has An Order", nurse=nurse, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    other = new_patient(
        uow, "Other Patient", nurse=nurse, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    order = patient_bookings(uow, first, actor=front_desk, policy=policy).orders_to_book[0]
    with pytest.raises(InputError) as refused:
        schedule_course(
            uow, other, plan_id=order.plan_id, first_day=WEDNESDAY, actor=front_desk, policy=policy
        )
    assert refused.value.code == "input.wrong_plan"
    assert "depression" not in refused.value.message
    assert count(database, TreatmentCourse) == 0
