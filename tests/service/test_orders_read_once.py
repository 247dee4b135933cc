"""Reads of many sessions read each session's order once, not once per session (issue 19).

A session's chart is checked against its order (its bag and pump program). Reading the order
with ``get()`` per session looked free but was a statement per session: the identity map keeps
a row only while something refers to it, and nothing held the order between sessions. So the
progress report and the FHIR export grew by a statement with every session charted; the
console's prediction read its one order twice and folded its chart twice; and opening a
course's next session replayed every chart of the course to learn the patient and protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    append_session_event,
    open_session,
    schedule_course,
)
from ketaplan.services.exports import export_patient_fhir
from ketaplan.services.predictions import predict_session
from ketaplan.services.reports import progress_report
from ketaplan.store import Database

from .conftest import (
    example_chart,
    folded_events,
    sent_statements,
    signed_plan,
)

CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic, after charting


def _heads(statements: list[str]) -> list[str]:
    """Each statement's first words (a list's parameters, ``IN (?, ?)``, differ with its
    length)."""
    return [" ".join(s.split()[:3]) for s in statements]


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic stands on the evening of the charted day (7 December 2026)."""
    return lambda: CLINIC_EVENING


@pytest.fixture
def course_id(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> int:
    """A course on the patient's signed order, no session opened yet."""
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    return schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=nurse,
        policy=policy,
        plan_id=plan.plan_id,
    ).course_id


def _chart_session(
    uow: UnitOfWork,
    patient_id: int,
    course_id: int,
    number: int,
    *,
    nurse: Actor,
    policy: ClinicPolicy,
    events: list[dict[str, Any]] | None = None,
) -> int:
    """Session ``number`` of the course, opened on the course's order and charted (the
    example chart unless ``events`` are given)."""
    chart = open_session(
        uow,
        patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course_id,
        number=number,
    )
    for seq, charted in enumerate(example_chart() if events is None else events):
        append_session_event(
            uow, chart.session_id, charted, expected_seq=seq, actor=nurse, policy=policy
        )
    return chart.session_id


def _reads_with_one_and_three_sessions(
    database: Database,
    uow: UnitOfWork,
    patient_id: int,
    course_id: int,
    read: Callable[[], object],
    *,
    nurse: Actor,
    policy: ClinicPolicy,
) -> tuple[list[str], list[str]]:
    """The statements of ``read`` with one charted session on the order, then with three."""
    _chart_session(uow, patient_id, course_id, 1, nurse=nurse, policy=policy)
    with sent_statements(database) as one:
        read()
    for number in (2, 3):
        _chart_session(uow, patient_id, course_id, number, nurse=nurse, policy=policy)
    with sent_statements(database) as three:
        read()
    return one, three


def test_the_progress_report_reads_the_sessions_order_once_however_many_sessions(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    course_id: int,
    policy: ClinicPolicy,
) -> None:
    """It read the order once per session (3 statements for 3 sessions)."""
    one, three = _reads_with_one_and_three_sessions(
        database,
        uow,
        patient.patient_id,
        course_id,
        lambda: progress_report(
            uow, patient.patient_id, actor=nurse, policy=policy, now=CLINIC_EVENING
        ),
        nurse=nurse,
        policy=policy,
    )
    assert _heads(three) == _heads(one)
    assert sum("FROM infusion_plan" in s for s in three) == 1, three


def test_the_fhir_export_reads_no_order_again_for_its_sessions(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    course_id: int,
    policy: ClinicPolicy,
) -> None:
    """The export reads the patient's orders for their own resources and checks each chart
    against the one it holds: one read of the orders, whatever the sessions. (Its get() per
    session found them in the identity map only because that list still held them; the
    export now hands them over.)"""
    one, three = _reads_with_one_and_three_sessions(
        database,
        uow,
        patient.patient_id,
        course_id,
        lambda: export_patient_fhir(uow, patient.patient_id, actor=nurse, policy=policy),
        nurse=nurse,
        policy=policy,
    )
    assert _heads(three) == _heads(one)
    assert sum("FROM infusion_plan" in s for s in three) == 1, three


def test_the_console_prediction_reads_its_order_once_and_folds_its_chart_once(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    course_id: int,
    policy: ClinicPolicy,
) -> None:
    """It read the chart (the order and a fold) and then read the order and folded the chart
    again for the curves."""
    started = [e for e in example_chart() if e["at"] <= "2026-12-07T09:10"]
    session_id = _chart_session(
        uow, patient.patient_id, course_id, 1, nurse=nurse, policy=policy, events=started
    )
    with sent_statements(database) as read, folded_events() as folds:
        prediction = predict_session(uow, session_id, actor=nurse, policy=policy)
    assert prediction.running is not None
    assert prediction.running.charted
    assert sum("FROM infusion_plan" in s for s in read) == 1, read
    assert folds == [e["type"] for e in started]


def _csrf_token(pages: TestClient, course_id: int) -> str:
    """The form token of the course page, whose buttons open its sessions."""
    page = pages.get(f"/courses/{course_id}")
    assert page.status_code == 200, page.text
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _open(pages: TestClient, course_id: int, number: int, token: str) -> int:
    """Session ``number`` opened with the course page's button; the new session's id."""
    opened = pages.post(
        f"/courses/{course_id}/sessions",
        data={"csrf_token": token, "number": str(number)},
        follow_redirects=False,
    )
    assert opened.status_code == 303, opened.text
    return int(opened.headers["location"].removeprefix("/sessions/"))


def test_opening_a_course_session_replays_none_of_the_course_charts(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    course_id: int,
    policy: ClinicPolicy,
    pages: TestClient,
    audit_log: Callable[[], list[str]],
) -> None:
    """It read the course's overview, which folds every chart of the course, for the patient
    and the protocol: opening the sixth session folded five charts. It reads the course."""
    for number in (1, 2):
        _chart_session(uow, patient.patient_id, course_id, number, nurse=nurse, policy=policy)
    token = _csrf_token(pages, course_id)
    with folded_events() as folds:
        session_id = _open(pages, course_id, 3, token)
    assert folds == []
    assert audit_log()[-2:] == ["course.read", "session.open"]
    opened = pages.get(f"/sessions/{session_id}")
    assert opened.status_code == 200, opened.text
