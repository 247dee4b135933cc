"""PHQ-9 item 9 flags reviewed by a clinician with a note (issue 18 item 6): kept as an
append-only event, audited, refused for the front desk; the dashboard lists the unreviewed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DatabaseError

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.measurement import default_schedules
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import ConflictError, InputError, PermissionDenied
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    record_questionnaire,
    schedule_course,
)
from ketaplan.services.dashboard import clinic_dashboard
from ketaplan.services.item9_reviews import (
    list_item9_flags,
    load_item9_flags,
    review_item9_flag,
)
from ketaplan.services.measurement import patient_due_questionnaires
from ketaplan.store import Database
from ketaplan.store.models import Base, Item9Review

from .conftest import signed_plan

ZONE = ZoneInfo("America/Los_Angeles")
NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)  # 10:00 on Tuesday 8 December in the clinic
ITEM_NINE = [1, 1, 1, 1, 1, 1, 1, 1, 2]
NO_ITEM_NINE = [1, 1, 1, 1, 1, 1, 1, 1, 0]


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def _answer(uow: UnitOfWork, patient_id: int, nurse: Actor, answers: list[int]) -> int:
    return record_questionnaire(
        uow, patient_id, scale="phq9", answers=answers, answered_at=NOW, actor=nurse
    ).response_id


def test_a_reviewed_flag_leaves_the_dashboard_and_keeps_its_note(
    uow: UnitOfWork, patient: PatientRecord, nurse: Actor, audit_log: Callable[[], list[str]]
) -> None:
    response_id = _answer(uow, patient.patient_id, nurse, ITEM_NINE)
    assert [f.response_id for f in clinic_dashboard(uow, actor=nurse, zone=ZONE).flags] == [
        response_id
    ]
    review_item9_flag(uow, response_id, note="Called; safety plan reviewed.", actor=nurse)
    assert clinic_dashboard(uow, actor=nurse, zone=ZONE).flags == ()
    (flag,) = list_item9_flags(uow, patient.patient_id, actor=nurse).rows
    assert (flag.item9_answer, flag.note, flag.reviewed_by, flag.reviewed_at) == (
        2,
        "Called; safety plan reviewed.",
        nurse.email,
        NOW,
    )
    assert "questionnaire.item9_review" in audit_log()


def test_a_flag_is_reviewed_once_and_only_a_flagged_phq9_can_be(
    uow: UnitOfWork, patient: PatientRecord, nurse: Actor, prescriber: Actor
) -> None:
    flagged = _answer(uow, patient.patient_id, nurse, ITEM_NINE)
    plain = _answer(uow, patient.patient_id, nurse, NO_ITEM_NINE)
    review_item9_flag(uow, flagged, note="Seen in clinic.", actor=prescriber)
    with pytest.raises(ConflictError):
        review_item9_flag(uow, flagged, note="Again.", actor=nurse)
    with pytest.raises(InputError, match="no PHQ-9 item 9 flag"):
        review_item9_flag(uow, plain, note="Nothing to review.", actor=nurse)


@pytest.mark.parametrize("note", ["", "   ", "x" * 2001])
def test_a_review_needs_a_note_of_bounded_length(
    uow: UnitOfWork,
    patient: PatientRecord,
    nurse: Actor,
    rows: Callable[[type[Base]], int],
    note: str,
) -> None:
    flagged = _answer(uow, patient.patient_id, nurse, ITEM_NINE)
    with pytest.raises(InputError) as refused:
        review_item9_flag(uow, flagged, note=note, actor=nurse)
    assert refused.value.fields["field"] == "note"
    assert rows(Item9Review) == 0


def test_the_front_desk_cannot_review_a_flag(
    uow: UnitOfWork,
    patient: PatientRecord,
    nurse: Actor,
    front_desk: Actor,
    admin: Actor,
    rows: Callable[[type[Base]], int],
) -> None:
    flagged = _answer(uow, patient.patient_id, nurse, ITEM_NINE)
    for who in (front_desk, admin):
        with pytest.raises(PermissionDenied):
            review_item9_flag(uow, flagged, note="Called.", actor=who)
    with pytest.raises(PermissionDenied):
        list_item9_flags(uow, patient.patient_id, actor=front_desk)
    assert rows(Item9Review) == 0


def test_a_review_is_never_changed_in_the_database(
    database: Database, uow: UnitOfWork, patient: PatientRecord, nurse: Actor
) -> None:
    flagged = _answer(uow, patient.patient_id, nurse, ITEM_NINE)
    review_item9_flag(uow, flagged, note="Called.", actor=nurse)
    with database.session_factory() as session:
        with pytest.raises(DatabaseError):
            session.execute(update(Item9Review).values(note="rewritten"))
        session.rollback()


def test_a_course_makes_a_phq9_due_before_its_first_infusion_until_it_is_answered(
    uow: UnitOfWork,
    patient: PatientRecord,
    nurse: Actor,
    prescriber: Actor,
    front_desk: Actor,
    catalog: Catalog,
    resolver: object,
    policy: ClinicPolicy,
) -> None:
    def due() -> list[tuple[str, date]]:
        view = patient_due_questionnaires(
            uow,
            patient.patient_id,
            actor=nurse,
            catalog=catalog,
            schedules=default_schedules(),
            zone=ZONE,
        )
        return [(d.scale, d.due_on) for d in view.due]

    assert due() == []  # no course yet
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 9),
        actor=nurse,
        policy=policy,
    )
    assert due() == [("phq9", date(2026, 12, 9))]
    _answer(uow, patient.patient_id, nurse, NO_ITEM_NINE)
    assert due() == []
    with pytest.raises(PermissionDenied):
        patient_due_questionnaires(
            uow,
            patient.patient_id,
            actor=front_desk,
            catalog=catalog,
            schedules=default_schedules(),
            zone=ZONE,
        )


def test_the_flags_are_read_by_the_patients_answers_not_the_clinics_phq9s(
    database: Database, uow: UnitOfWork, patient: PatientRecord, nurse: Actor
) -> None:
    """bench-scale found the patient page growing with the clinic on SQLite: the flags were
    read through the (scale, answered_at) index, every PHQ-9 of the clinic."""
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def keep(conn: object, cursor: object, statement: str, parameters: object, *_: object) -> None:
        # the statements that find the patient's PHQ-9 answers (by scale), not the page's by id
        if "questionnaire_response.scale ||" in statement:
            seen.append((statement, parameters))

    _answer(uow, patient.patient_id, nurse, ITEM_NINE)
    event.listen(database.engine, "before_cursor_execute", keep)
    try:
        list_item9_flags(uow, patient.patient_id, actor=nurse)  # the API's page
        with uow.reading():
            load_item9_flags(uow, patient.patient_id)  # the patient page's
    finally:
        event.remove(database.engine, "before_cursor_execute", keep)
    assert len(seen) == 2, seen
    with database.engine.connect() as connection:
        for statement, parameters in seen:
            if database.engine.dialect.name == "sqlite":
                raw = connection.connection.driver_connection
                plan = " ".join(
                    r[3] for r in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                )  # type: ignore[union-attr]
            else:
                explained = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)  # type: ignore[arg-type]
                plan = " ".join(r[0] for r in explained)
            assert "scale_answered" not in plan, plan
            if database.engine.dialect.name == "sqlite":  # PostgreSQL may scan a tiny table
                assert "ix_questionnaire_response_patient_id" in plan, plan
