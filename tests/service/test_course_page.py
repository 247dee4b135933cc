"""The course page folds each session's chart once: its session list and its booster advice (the
titration history) are built from the same fold, and show what they showed asked apart."""

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
    recommend_booster,
    recommend_titration,
    record_questionnaire,
    schedule_course,
)
from ketaplan.services.course_page import course_page
from ketaplan.services.patient_overview import course_overview
from ketaplan.services.sessions import get_session_chart

from .conftest import example_chart, folded_events, signed_plan

CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic, after charting
AFTER = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)
PHQ9 = [2, 2, 2, 2, 2, 2, 1, 1, 0]
FAST = {"at": "2026-12-07T09:12:00-08:00", "type": "rate", "rate_ml_per_h": 400}
"""A rate past the order's pump program (and the protocol's hard mg/kg/h): pump alerts."""
BACK = {"at": "2026-12-07T09:14:00-08:00", "type": "rate", "rate_ml_per_h": 150}


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic stands on the evening of the charted day (7 December 2026)."""
    return lambda: CLINIC_EVENING


def _chart_session(
    uow: UnitOfWork,
    patient_id: int,
    course_id: int,
    number: int,
    events: list[dict[str, Any]],
    *,
    nurse: Actor,
    policy: ClinicPolicy,
) -> int:
    chart = open_session(
        uow,
        patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course_id,
        number=number,
    )
    for seq, event in enumerate(events):
        append_session_event(
            uow, chart.session_id, event, expected_seq=seq, actor=nurse, policy=policy
        )
    return chart.session_id


@pytest.fixture
def course(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> tuple[int, list[int]]:
    """A course with two charted sessions (the second with a rate past the order for a few
    minutes) and a PHQ-9 after each; its id and the sessions' ids."""
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    course_id = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=nurse,
        policy=policy,
        plan_id=plan.plan_id,
    ).course_id
    plain = example_chart()
    fast = sorted([*plain, FAST, BACK], key=lambda e: datetime.fromisoformat(e["at"]))
    sessions = [
        _chart_session(uow, patient.patient_id, course_id, n, events, nurse=nurse, policy=policy)
        for n, events in ((1, plain), (2, fast))
    ]
    for session_id in sessions:
        record_questionnaire(
            uow,
            patient.patient_id,
            scale="phq9",
            answers=PHQ9,
            answered_at=AFTER,
            actor=nurse,
            course_id=course_id,
            session_id=session_id,
        )
    return course_id, sessions


def _charted(uow: UnitOfWork, sessions: list[int], actor: Actor, policy: ClinicPolicy) -> int:
    return sum(get_session_chart(uow, s, actor=actor, policy=policy).seq for s in sessions)


def test_the_course_page_folds_each_charted_event_once(
    uow: UnitOfWork,
    nurse: Actor,
    policy: ClinicPolicy,
    course: tuple[int, list[int]],
) -> None:
    course_id, sessions = course
    charted = _charted(uow, sessions, nurse, policy)
    with folded_events() as folds:
        page = course_page(uow, course_id, actor=nurse, policy=policy)
    assert [line.session_id for line in page.overview.sessions] == sessions
    assert charted == 2 * len(example_chart()) + 2
    assert len(folds) == charted  # asked apart, the overview and the advice folded each twice


def test_the_course_page_shows_what_the_overview_and_the_booster_advice_show_apart(
    uow: UnitOfWork,
    nurse: Actor,
    policy: ClinicPolicy,
    course: tuple[int, list[int]],
    audit_log: Callable[[], list[str]],
) -> None:
    course_id, _sessions = course
    page = course_page(uow, course_id, actor=nurse, policy=policy)
    assert audit_log()[-2:] == ["course.read", "course.booster"]
    assert page.overview == course_overview(uow, course_id, actor=nurse, policy=policy)
    assert page.booster == recommend_booster(uow, course_id, actor=nurse, policy=policy)


def test_the_titration_history_leaves_out_the_pump_alerts_the_session_line_counts(
    uow: UnitOfWork,
    nurse: Actor,
    policy: ClinicPolicy,
    course: tuple[int, list[int]],
) -> None:
    """One fold against the chart's terms serves both: the page counts every alert of the
    chart, the history judges tolerance by those of the chart without its terms, as before."""
    course_id, sessions = course
    chart = get_session_chart(uow, sessions[1], actor=nurse, policy=policy)
    codes = [a.code for a in chart.summary.alerts]
    assert "pump.above_order" in codes
    page = course_page(uow, course_id, actor=nurse, policy=policy)
    assert page.overview.sessions[1].alerts == len(codes)
    history = recommend_titration(uow, course_id, actor=nurse, policy=policy).basis["sessions"]
    assert history[1]["alerts"] == tuple(c for c in codes if not c.startswith(("pump.", "dose.")))
    assert history[1]["alerts"] == history[0]["alerts"]  # the same chart but for the rates


def test_the_course_page_request_folds_each_charted_event_once(
    uow: UnitOfWork,
    nurse: Actor,
    policy: ClinicPolicy,
    course: tuple[int, list[int]],
    pages: TestClient,
) -> None:
    course_id, sessions = course
    charted = _charted(uow, sessions, nurse, policy)
    with folded_events() as folds:
        page = pages.get(f"/courses/{course_id}")
    assert page.status_code == 200, page.text
    assert 'id="booster"' in page.text
    assert len(folds) == charted
