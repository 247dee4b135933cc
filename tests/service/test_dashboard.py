"""The clinic dashboard: what it shows, kept in step with every schedule change, at a cost that
does not grow with the clinic's records (issue 19: it loaded every course of the clinic and
bound one parameter per patient and per course)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from sqlalchemy import event, select

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services import (
    Actor,
    PatientDetails,
    UnitOfWork,
    create_patient,
    record_questionnaire,
    reschedule_course,
    schedule_course,
)
from ketaplan.services.dashboard import Dashboard, clinic_dashboard
from ketaplan.store import Database
from ketaplan.store.models import CourseBooking, TreatmentCourse
from ketaplan.store.schema import alembic_config

from .conftest import signed_plan

ZONE = ZoneInfo("America/Los_Angeles")  # the conftest clinic's zone
NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 10:00 on Tuesday 8 December in the clinic
TODAY = date(2026, 12, 8)
ITEM_NINE = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # PHQ-9 with item 9 endorsed


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def _patient_with_course(
    uow: UnitOfWork,
    name: str,
    first_day: date,
    *,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> tuple[int, int]:
    """A patient with a signed order, a course from ``first_day`` and an item-9 answer."""
    patient = create_patient(
        uow,
        PatientDetails(full_name=name, weight="70 kg", height="170 cm", age_years=40, sex="male"),
        actor=nurse,
        catalog=catalog,
    )
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=first_day,
        actor=nurse,
        policy=policy,
        confirm=True,  # some of these courses were given in the past
    )
    record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=ITEM_NINE,
        answered_at=NOW,
        actor=nurse,
    )
    return patient.patient_id, course.course_id


@contextmanager
def _statements(database: Database) -> Iterator[list[tuple[str, int]]]:
    """Each statement run inside the block, with how many parameters it bound."""
    seen: list[tuple[str, int]] = []

    def note(_c: object, _cur: object, statement: str, parameters: object, *_: object) -> None:
        bound = len(parameters) if isinstance(parameters, (tuple, list, dict)) else 0
        seen.append((statement, bound))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


def _dashboard(uow: UnitOfWork, nurse: Actor) -> Dashboard:
    return clinic_dashboard(uow, actor=nurse, zone=ZONE)


def test_the_dashboard_costs_the_same_statements_however_many_patients_the_clinic_has(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    def add(count: int, first_day: date) -> None:
        for n in range(count):
            _patient_with_course(
                uow,
                f"Patient {first_day} {n}",
                first_day,
                nurse=nurse,
                prescriber=prescriber,
                catalog=catalog,
                resolver=resolver,
                policy=policy,
            )

    add(1, date(2026, 11, 2))  # its series ended within the reassessment window
    with _statements(database) as small:
        _dashboard(uow, nurse)
    add(5, date(2026, 9, 7))  # history the dashboard must not read: long-ended series
    add(3, date(2027, 2, 1))  # courses booked for later
    with _statements(database) as grown:
        shown = _dashboard(uow, nurse)
    assert [bound for _, bound in grown] == [bound for _, bound in small]
    assert [statement for statement, _ in grown] == [statement for statement, _ in small]
    assert not any(" IN (" in statement.upper() for statement, _ in grown)
    assert len(shown.series_ended) == 1  # the November course only
    assert len(shown.flags) == 9  # every item-9 answer of the last fortnight


def test_no_dashboard_read_walks_the_clinic_s_patients(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """Each read starts from an index range bounded by what it shows (a day's or a window's
    bookings, a fortnight's answers): driven from the clinic's patients instead, the series
    that ended cost grew with the clinic (exponent 0.26 from 200 to 20,000 patients)."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plans; PostgreSQL's depend on its statistics")
    _patient_with_course(
        uow,
        "Ada Planned",
        date(2026, 11, 2),
        nurse=nurse,
        prescriber=prescriber,
        catalog=catalog,
        resolver=resolver,
        policy=policy,
    )
    with _statements(database) as seen:
        _dashboard(uow, nurse)
    reads = [
        statement
        for statement, _ in seen
        if statement.lstrip().upper().startswith("SELECT") and "audit_chain_head" not in statement
    ]
    assert len(reads) == 3  # chairs, series ended, item 9 flags
    with database.engine.connect() as connection:
        for statement in reads:
            sql = statement.replace("?", "NULL")
            plan = [row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
            first = plan[0]
            assert first.startswith("SEARCH"), plan
            assert (
                "ix_course_booking_clinic_start" in first
                or "ix_questionnaire_response_scale_answered" in first
            ), plan
            assert not any(step.startswith("SCAN") for step in plan), plan


def test_today_s_chairs_follow_the_course_s_schedule_through_a_reschedule(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    patient_id, course_id = _patient_with_course(
        uow,
        "Robin Today",
        TODAY,
        nurse=nurse,
        prescriber=prescriber,
        catalog=catalog,
        resolver=resolver,
        policy=policy,
    )
    chairs = _dashboard(uow, nurse).chairs
    assert [(c.patient_id, c.patient_name, c.course_id, c.number) for c in chairs] == [
        (patient_id, "Robin Today", course_id, 1)
    ]
    assert chairs[0].start.astimezone(ZONE).date() == TODAY
    assert chairs[0].session_id is None  # booked, not yet opened

    reschedule_course(
        uow,
        course_id,
        session_number=1,
        status="cancelled",
        expected_version=1,
        actor=nurse,
        policy=policy,
    )
    assert _dashboard(uow, nurse).chairs == ()  # the cancelled session left today's chairs


def test_upgrading_a_database_fills_the_bookings_from_its_stored_schedules(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    for n, first_day in enumerate([TODAY, date(2026, 11, 2)]):
        _patient_with_course(
            uow,
            f"Existing {n}",
            first_day,
            nurse=nurse,
            prescriber=prescriber,
            catalog=catalog,
            resolver=resolver,
            policy=policy,
        )

    def stored() -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        with database.session_factory() as session:
            bookings = session.execute(
                select(
                    CourseBooking.clinic_id,
                    CourseBooking.patient_id,
                    CourseBooking.course_id,
                    CourseBooking.number,
                    CourseBooking.start_at,
                ).order_by(CourseBooking.course_id, CourseBooking.number)
            )
            last_days = session.execute(
                select(TreatmentCourse.id, TreatmentCourse.last_day).order_by(TreatmentCourse.id)
            )
            return [tuple(r) for r in bookings], [tuple(r) for r in last_days]

    written_by_the_services = stored()
    assert len(written_by_the_services[0]) == 12  # two series of six
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0006")
    with database.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert stored() == written_by_the_services
