"""The clinic dashboard: what it shows, kept in step with every schedule change, at a cost that
does not grow with the clinic's records (issue 19: it loaded every course of the clinic and
bound one parameter per patient and per course)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any
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
from ketaplan.services.bookings import cancel_course
from ketaplan.services.clinics import add_user, load_actor, set_up_clinic
from ketaplan.services.dashboard import Dashboard, clinic_dashboard
from ketaplan.store import Database
from ketaplan.store.models import CourseBooking, Item9PositiveAnswer, TreatmentCourse
from ketaplan.store.schema import alembic_config

from .conftest import PASSWORD, signed_plan

ZONE = ZoneInfo("America/Los_Angeles")  # the conftest clinic's zone
NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 10:00 on Tuesday 8 December in the clinic
TODAY = date(2026, 12, 8)
LAST_NIGHT = datetime(2026, 12, 8, 4, 0, tzinfo=UTC)  # 20:00 on Monday 7 December in the clinic
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
def _statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """Each statement run inside the block, with the parameters it bound."""
    seen: list[tuple[str, Any]] = []

    def note(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


def _bound(parameters: Any) -> int:
    """How many parameters a statement bound."""
    return len(parameters) if isinstance(parameters, (tuple, list, dict)) else 0


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
    assert [_bound(p) for _, p in grown] == [_bound(p) for _, p in small]
    assert [statement for statement, _ in grown] == [statement for statement, _ in small]
    assert not any(" IN (" in statement.upper() for statement, _ in grown)
    assert len(shown.series_ended) == 1  # the November course only
    assert len(shown.flags) == 9  # every item-9 answer of the last fortnight


def query_plan(database: Database, statement: str, parameters: Any) -> list[str]:
    """The database's plan of the statement, a line a step. PostgreSQL is told not to scan a
    table when an index can serve (on a handful of rows a scan is cheaper; the question is what
    the statement's shape lets it do), but may still join by hashing or merging."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return [str(row[-1]) for row in rows]
        connection.exec_driver_sql("SET enable_seqscan = off")
        plan = [
            str(row[0]) for row in connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        ]
        connection.rollback()
        return plan


RANGES = ("ix_course_booking_clinic_start", "ix_item9_positive_answer_clinic_answered")
"""The index ranges the dashboard's reads start from: a day's or a window's bookings of the
clinic, a fortnight's item-9 answers of the clinic."""
BY_KEY = ("pk_patient", "pk_treatment_course", "uq_course_booking_course_id_number")


def test_no_dashboard_read_walks_or_hashes_the_clinic_s_patients_or_courses(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """Each read starts from an index range bounded by what it shows (a day's or a window's
    bookings, a fortnight's answers) and looks each row's patient, course and session up by
    key. Driven from the clinic's patients instead, the series that ended grew with the clinic
    (exponent 0.26 from 200 to 20,000 patients); joined to the patients and courses, PostgreSQL
    hashed both whole tables for the series that ended and every patient of the clinic for
    the item-9 flags (exponent 0.17)."""
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
        (statement, parameters)
        for statement, parameters in seen
        if statement.lstrip().upper().startswith("SELECT") and "audit_chain_head" not in statement
    ]
    assert len(reads) == 3  # chairs, series ended, item 9 flags
    for statement, parameters in reads:
        plan = query_plan(database, statement, parameters)
        text = "\n".join(plan)
        if database.engine.dialect.name == "sqlite":
            first = plan[0]
            assert first.startswith("SEARCH"), plan
            assert any(index in first for index in RANGES), plan
            assert not any(step.startswith("SCAN") for step in plan), plan
            # Every other table is searched by its key, once per row of the range.
            searches = [step for step in plan[1:] if step.startswith("SEARCH")]
            assert all(
                "PRIMARY KEY" in step
                or "uq_course_booking" in step
                or "sqlite_autoindex" in step
                or "ix_infusion_session_course_id" in step
                for step in searches
            ), plan
        else:
            assert "Seq Scan" not in text, text
            assert "Hash" not in text, text  # no table hashed whole
            assert "Merge" not in text, text
            assert "Nested Loop" not in text, text  # looked up by key, not joined
            assert "Join" not in text, text
            assert any(index in text for index in RANGES), text
            # The patient by its id; on tables this small the planner may take any index that
            # holds the id (it once took (clinic_id, name_key, id)), so the index is not named.
            assert re.search(r"Index Cond: \(id = \w+\.patient_id\)", text), text


def test_item_nine_flags_are_an_index_range_of_the_clinic_s_own_answers(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """The flags start from the clinic's own item-9 answers of the fortnight, by an index that
    leads with the clinic. Read from the responses' ``(scale, answered_at)`` index, the range
    held every clinic's PHQ-9 answers (a response has no clinic), so it grew with the number of
    clinics in the database; another clinic's answers are still never shown."""
    elsewhere = set_up_clinic(
        uow, name="Across Town", time_zone="America/Los_Angeles", admin_email="a@town.example"
    )
    add_user(uow, email="nurse@town.example", role="nurse", actor=elsewhere, password=PASSWORD)
    their_nurse = load_actor(uow, "nurse@town.example", origin="127.0.0.1")
    theirs = create_patient(
        uow,
        PatientDetails(full_name="Not Ours", weight="70 kg", height="170 cm", age_years=40,
                       sex="male"),
        actor=their_nurse,
        catalog=catalog,
    ).patient_id  # fmt: skip
    record_questionnaire(
        uow, theirs, scale="phq9", answers=ITEM_NINE, answered_at=NOW, actor=their_nurse
    )
    ours, _course = _patient_with_course(
        uow, "Ada Flagged", date(2026, 11, 2), nurse=nurse, prescriber=prescriber,
        catalog=catalog, resolver=resolver, policy=policy,
    )  # fmt: skip
    with _statements(database) as seen:
        shown = _dashboard(uow, nurse)
    assert [(f.patient_id, f.patient_name) for f in shown.flags] == [(ours, "Ada Flagged")]
    assert [f.patient_id for f in _dashboard(uow, their_nurse).flags] == [theirs]
    (flags,) = [(s, p) for s, p in seen if s.lstrip().startswith("SELECT") and "item9" in s]
    plan = query_plan(database, *flags)
    if database.engine.dialect.name == "sqlite":
        assert plan[0].startswith("SEARCH"), plan
        assert "(clinic_id=? AND answered_at>?)" in plan[0], plan
    else:
        text = "\n".join(plan)
        assert re.search(r"Index Cond: \(\(clinic_id = \d+\) AND \(answered_at >=", text), text


def test_upgrading_a_database_files_its_stored_item_nine_answers_under_their_clinic(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    patient_id, _course = _patient_with_course(
        uow, "Ada Flagged", date(2026, 11, 2), nurse=nurse, prescriber=prescriber,
        catalog=catalog, resolver=resolver, policy=policy,
    )  # fmt: skip
    record_questionnaire(  # item 9 not endorsed: no flag
        uow, patient_id, scale="phq9", answers=[1] * 8 + [0], answered_at=NOW, actor=nurse
    )
    record_questionnaire(uow, patient_id, scale="gad7", answers=[1] * 7, answered_at=NOW,
                         actor=nurse)  # fmt: skip

    def stored() -> list[tuple[object, ...]]:
        with database.session_factory() as session:
            return [
                tuple(row)
                for row in session.execute(
                    select(
                        Item9PositiveAnswer.response_id,
                        Item9PositiveAnswer.clinic_id,
                        Item9PositiveAnswer.patient_id,
                        Item9PositiveAnswer.answered_at,
                    ).order_by(Item9PositiveAnswer.response_id)
                )
            ]

    written_by_the_services = stored()
    assert [(clinic, patient) for _r, clinic, patient, _at in written_by_the_services] == [
        (nurse.clinic_id, patient_id)  # the endorsed PHQ-9 only
    ]
    shown = _dashboard(uow, nurse).flags
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0016")
    with database.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert stored() == written_by_the_services
    assert _dashboard(uow, nurse).flags == shown


def test_a_cancelled_course_is_not_a_series_that_ended(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """ "Series ended: reassess, consider a booster" lists a course whose series was given to
    its end. A course cancelled part-way (last night) keeps its past bookings; its last one left
    fell in the window, so it was listed as ended, on the day its series would have ended
    (after today), and no booster can be booked on a cancelled course. Cancelled after its series, a course
    is left out too: its boosters were cancelled with it."""

    def course(name: str, first_day: date) -> int:
        return _patient_with_course(
            uow, name, first_day, nurse=nurse, prescriber=prescriber, catalog=catalog,
            resolver=resolver, policy=policy,
        )[1]  # fmt: skip

    ended = course("Ada Ended", date(2026, 11, 2))
    cut_short = course("Bo Cut Short", date(2026, 11, 30))
    ended_then_cancelled = course("Cy Ended Then Cancelled", date(2026, 11, 2))
    with database.session_factory() as db:
        last_days = dict(
            db.execute(
                select(TreatmentCourse.id, TreatmentCourse.last_day).where(
                    TreatmentCourse.id.in_([ended, cut_short, ended_then_cancelled])
                )
            ).all()
        )
    assert last_days[cut_short] > TODAY > last_days[ended]  # cut short before its end
    assert [e.course_id for e in _dashboard(uow, nurse).series_ended] == [
        ended,
        ended_then_cancelled,
    ]
    last_night = UnitOfWork(database.session_factory, clock=lambda: LAST_NIGHT)
    for course_id in (cut_short, ended_then_cancelled):
        cancel_course(last_night, course_id, reason="moved away", expected_version=1, actor=nurse)
    shown = _dashboard(uow, nurse).series_ended
    assert [(e.patient_name, e.course_id) for e in shown] == [("Ada Ended", ended)]


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
