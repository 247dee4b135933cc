"""The chair board (issue 18): today's appointments by chair with their state from the chart,
what only clinical staff see, and a cost bounded by the day, not by the clinic's patients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    append_session_event,
    create_patient,
    open_session,
    schedule_course,
)
from ketaplan.services.chair_board import ChairBoard, chair_board
from ketaplan.services.clinics import add_user, load_actor
from ketaplan.store import Database

from .conftest import ORDER_BAG_MG_PER_ML, PASSWORD, sent_statements, signed_plan
from .test_chairs_and_bookings import new_patient
from .test_dashboard import query_plan

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 10:00 on Tuesday 8 December in the clinic
TODAY = date(2026, 12, 8)


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def _board(uow: UnitOfWork, actor: Actor, policy: ClinicPolicy) -> ChairBoard:
    return chair_board(uow, actor=actor, policy=policy, zone=ZONE)


def _infusing_today(
    uow: UnitOfWork,
    patient: PatientRecord,
    *,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> int:
    """The ``patient`` fixture booked at 09:00 today in chair 2, checked in and infusing."""
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    return _charted_today(uow, patient.patient_id, chair=2, nurse=nurse, policy=policy)


def _charted_today(
    uow: UnitOfWork, patient_id: int, *, chair: int, nurse: Actor, policy: ClinicPolicy
) -> int:
    """A patient with a signed order booked at 09:00 today in ``chair``, checked in and
    infusing: the session's id."""
    course = schedule_course(
        uow,
        patient_id,
        condition="depression",
        first_day=TODAY,
        actor=nurse,
        policy=policy,
        start_time=time(9, 0),
        chair=chair,
        confirm=True,  # 09:00 is before the clock's 10:00
    )
    chart = open_session(
        uow,
        patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course.course_id,
        number=1,
    )
    for seq, charted in enumerate(
        [
            {"at": "2026-12-08T09:40:00-08:00", "type": "check_in", "systolic": 128,
             "diastolic": 80, "heart_rate": 72, "spo2": 98, "resp_rate": 14},
            {"at": "2026-12-08T09:45:00-08:00", "type": "start", "rate_ml_per_h": 150,
             "concentration_mg_per_ml": ORDER_BAG_MG_PER_ML},
            {"at": "2026-12-08T09:55:00-08:00", "type": "vitals", "systolic": 138,
             "diastolic": 86, "heart_rate": 80, "spo2": 97},
        ]
    ):  # fmt: skip
        append_session_event(
            uow, chart.session_id, charted, expected_seq=seq, actor=nurse, policy=policy
        )
    return chart.session_id


def test_the_board_shows_each_chair_s_state_nurse_and_dose_from_the_chart(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    front_desk: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    before = _board(uow, nurse, policy)
    assert before.lines == ()
    assert [chair for chair, _ in before.by_chair()] == [1, 2, 3, 4]
    session_id = _infusing_today(
        uow,
        patient,
        nurse=nurse,
        prescriber=prescriber,
        catalog=catalog,
        resolver=resolver,
        policy=policy,
    )
    board = _board(uow, nurse, policy)
    (line,) = board.lines
    assert (line.chair, line.state, line.session_id, line.nurse) == (
        2,
        "infusing",
        session_id,
        nurse.email,
    )
    assert line.started_at == datetime(2026, 12, 8, 9, 45, tzinfo=ZONE)
    assert line.clinical is not None
    # charted to 09:55: 10 min at 150 mL/h of 0.354 mg/mL, 8.85 mg
    assert line.clinical.delivered_mg == pytest.approx(10 / 60 * 150 * ORDER_BAG_MG_PER_ML, 0.01)
    assert line.clinical.charted_to == datetime(2026, 12, 8, 9, 55, tzinfo=ZONE)
    assert line.clinical.vitals_due_at == datetime(2026, 12, 8, 10, 5, tzinfo=ZONE)
    seen_by_desk = _board(uow, front_desk, policy).lines[0]
    assert seen_by_desk.state == "infusing"
    assert seen_by_desk.clinical is None


def test_the_board_names_the_nurse_by_their_name_and_by_e_mail_only_without_one(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    front_desk: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    add_user(
        uow,
        email="robin@bay.example",
        role="nurse",
        actor=admin,
        password=PASSWORD,
        full_name="Robin Diaz",
    )
    robin = load_actor(uow, "robin@bay.example", origin="127.0.0.1")
    session_id = _infusing_today(
        uow, patient, nurse=nurse, prescriber=prescriber, catalog=catalog, resolver=resolver,
        policy=policy,
    )  # fmt: skip
    assert [line.nurse for line in _board(uow, nurse, policy).lines] == [nurse.email]
    vitals = {"at": "2026-12-08T09:58:00-08:00", "type": "vitals", "systolic": 130,
              "diastolic": 82, "heart_rate": 76, "spo2": 98}  # fmt: skip
    append_session_event(uow, session_id, vitals, expected_seq=3, actor=robin, policy=policy)
    for who in (nurse, front_desk):
        assert [line.nurse for line in _board(uow, who, policy).lines] == ["Robin Diaz"]


def test_a_booked_chair_with_no_chart_yet_is_booked(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    patient_id = new_patient(
        uow, "Later Today", nurse=nurse, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    schedule_course(
        uow,
        patient_id,
        condition="depression",
        first_day=TODAY,
        actor=nurse,
        policy=policy,
        start_time=time(13, 0),
    )
    (line,) = _board(uow, nurse, policy).lines
    assert (line.state, line.chair, line.clinical) == ("booked", 1, None)


def test_the_board_costs_the_same_statements_however_many_patients_the_clinic_has(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    _infusing_today(
        uow,
        patient,
        nurse=nurse,
        prescriber=prescriber,
        catalog=catalog,
        resolver=resolver,
        policy=policy,
    )
    with sent_statements(database) as small:
        _board(uow, nurse, policy)
    for n in range(6):  # patients booked on other days: history the board must not read
        patient_id = new_patient(
            uow, f"Other Day {n}", nurse=nurse, prescriber=prescriber, catalog=catalog,
            resolver=resolver,
        )  # fmt: skip
        schedule_course(
            uow,
            patient_id,
            condition="depression",
            first_day=date(2026, 12, 14),
            actor=nurse,
            policy=policy,
        )
    with sent_statements(database) as grown:
        _board(uow, nurse, policy)
    assert grown == small


@contextmanager
def _statements_with_parameters(database: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def note(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


BOARD_RANGE = "ix_course_booking_clinic_start"
"""The index range the board starts from: the clinic's bookings of the day."""


def test_each_board_read_is_by_key_or_index_and_none_is_repeated_per_chair(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """The board's reads are a fixed set, whatever the chairs: today's bookings from their
    index range, each row's patient and session by key, then the sessions' charts, orders and
    nurses by key, one statement each. It once joined the bookings to the patients and
    sessions (a join leaves PostgreSQL free to hash or merge whole tables) and fetched each
    session's order again by key, one statement per charted chair: the orders it had read in
    one statement were not held, so the session's map had dropped them."""
    _infusing_today(
        uow, patient, nurse=nurse, prescriber=prescriber, catalog=catalog, resolver=resolver,
        policy=policy,
    )  # fmt: skip
    with _statements_with_parameters(database) as one_chair:
        _board(uow, nurse, policy)
    other = create_patient(
        uow, replace(patient.details, full_name="Second Chair"), actor=nurse, catalog=catalog
    ).patient_id  # the fixture's weight, so the same bag
    signed_plan(uow, other, prescriber=prescriber, catalog=catalog, resolver=resolver)
    _charted_today(uow, other, chair=3, nurse=nurse, policy=policy)
    with _statements_with_parameters(database) as two_chairs:
        board = _board(uow, nurse, policy)
    assert [line.state for line in board.lines] == ["infusing", "infusing"]
    assert [" ".join(s.split()[:3]) for s, _ in two_chairs] == [
        " ".join(s.split()[:3]) for s, _ in one_chair
    ]
    reads = [
        (statement, parameters)
        for statement, parameters in two_chairs
        if statement.lstrip().upper().startswith("SELECT") and "audit_chain_head" not in statement
    ]
    # bookings, their sessions, charts, orders, nurses, the clinic's settings (policy, rules,
    # chairs)
    assert len(reads) == 8, [s for s, _ in reads]
    for statement, parameters in reads:
        plan = query_plan(database, statement, parameters)
        text = "\n".join(plan)
        if database.engine.dialect.name == "sqlite":
            assert plan[0].startswith("SEARCH"), plan
            assert not any(step.startswith("SCAN") for step in plan), plan
            assert all(
                "PRIMARY KEY" in step
                or "sqlite_autoindex" in step
                or "ix_infusion_session_course_id" in step
                or BOARD_RANGE in step
                for step in plan
                if step.startswith("SEARCH")
            ), plan
        else:
            assert "Seq Scan" not in text, text
            assert "Hash" not in text, text  # no table hashed whole
            assert "Merge" not in text, text
            assert "Nested Loop" not in text, text  # looked up by key, not joined
            assert "Join" not in text, text
    bookings = query_plan(database, *reads[0])
    assert any(BOARD_RANGE in step for step in bookings), bookings
