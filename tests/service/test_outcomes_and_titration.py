"""Questionnaires keep every answer; titration recommends from the stored course and a
prescriber decides once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.profile import dosing_weight
from ketaplan.clinical.titration import (
    History,
    SessionRecord,
    SideEffectRecord,
    recommend_next_dose,
    within_limits,
)
from ketaplan.errors import ConflictError, HardLimitExceeded, InputError, PermissionDenied
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    append_session_event,
    decide_titration,
    open_session,
    recommend_titration,
    record_questionnaire,
    schedule_course,
)
from ketaplan.services.titration import latest_titration
from ketaplan.store.models import AuditEvent, Base, QuestionnaireResponse, TitrationDecision

from .conftest import PASSWORD, example_chart, signed_plan

EXAMPLE = Path(__file__).parents[2] / "examples" / "session1.jsonl"
EVENTS = example_chart()
BEFORE = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # 08:00 in the clinic, before check-in
AFTER = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # 10:30 in the clinic, after discharge
CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic's clock stands on the evening of the day these tests chart (7 December 2026):
    its answers and sessions are in the past whatever the real date."""
    return lambda: CLINIC_EVENING


def test_a_questionnaire_keeps_every_answer_and_returns_flags_as_data(
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    rows: Callable[[type[Base]], int],
    audit_log: Callable[[], list[str]],
) -> None:
    answers = [2, 2, 1, 1, 2, 1, 1, 1, 1]
    recorded = record_questionnaire(
        uow, patient.patient_id, scale="phq9", answers=answers, answered_at=BEFORE, actor=nurse
    )
    assert recorded.answers == tuple(answers)
    assert recorded.score["total"] == 12
    assert recorded.score["flags"] == ["phq9.item9_positive"]
    assert rows(QuestionnaireResponse) == 1
    assert audit_log()[-1] == "questionnaire.record"


def test_an_incomplete_questionnaire_is_refused_and_writes_nothing(
    uow: UnitOfWork, nurse: Actor, patient: PatientRecord, rows: Callable[[type[Base]], int]
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(InputError, match="9 items"):
        record_questionnaire(
            uow, patient.patient_id, scale="phq9", answers=[1, 2], answered_at=BEFORE, actor=nurse
        )
    with pytest.raises(InputError, match="time zone"):
        record_questionnaire(
            uow,
            patient.patient_id,
            scale="gad7",
            answers=[0] * 7,
            answered_at=datetime(2026, 12, 7, 8, 0),
            actor=nurse,
        )
    assert (rows(QuestionnaireResponse), rows(AuditEvent)) == (0, audits)


@pytest.mark.parametrize(
    ("answered_at", "code"),
    [
        (CLINIC_EVENING + timedelta(minutes=5, seconds=1), "input.time_in_future"),
        (datetime(2027, 12, 7, 9, 0, tzinfo=UTC), "input.time_in_future"),
        (datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "input.time_too_early"),
    ],
)
def test_an_answer_time_past_the_clinic_clock_or_before_2000_is_refused_and_writes_nothing(
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    rows: Callable[[type[Base]], int],
    answered_at: datetime,
    code: str,
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(InputError) as refused:
        record_questionnaire(
            uow,
            patient.patient_id,
            scale="gad7",
            answers=[1] * 7,
            answered_at=answered_at,
            actor=nurse,
        )
    assert refused.value.code == code
    assert refused.value.fields["field"] == "answered_at"
    assert refused.value.fields["latest"] == "2026-12-08T02:05:00+00:00"
    assert "up to 5 minutes after the server's clock" in refused.value.message
    assert (rows(QuestionnaireResponse), rows(AuditEvent)) == (0, audits)


def test_an_answer_time_a_little_ahead_of_the_clinic_clock_or_long_ago_is_kept(
    uow: UnitOfWork, nurse: Actor, patient: PatientRecord
) -> None:
    for answered_at in (CLINIC_EVENING + timedelta(minutes=5), datetime(2000, 1, 1, tzinfo=UTC)):
        recorded = record_questionnaire(
            uow,
            patient.patient_id,
            scale="gad7",
            answers=[1] * 7,
            answered_at=answered_at,
            actor=nurse,
        )
        assert recorded.answered_at == answered_at


def test_recording_a_questionnaire_writes_its_audit_row_in_the_same_transaction(
    crashing_uow: UnitOfWork,
    audit_rows_at_crash: list[int],
    nurse: Actor,
    patient: PatientRecord,
    rows: Callable[[type[Base]], int],
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(RuntimeError, match="simulated"):
        record_questionnaire(
            crashing_uow,
            patient.patient_id,
            scale="gad7",
            answers=[1] * 7,
            answered_at=BEFORE,
            actor=nurse,
        )
    assert audit_rows_at_crash == [audits + 1]
    assert (rows(QuestionnaireResponse), rows(AuditEvent)) == (0, audits)


@pytest.fixture
def course_after_one_session(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> int:
    """Baseline PHQ-9 19, session 1 charted from examples/session1.jsonl with PHQ-9 15."""
    plan = signed_plan(
        uow,
        patient.patient_id,
        prescriber=prescriber,
        catalog=catalog,
        resolver=resolver,
        proposer=nurse,
    )
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=nurse,
        policy=policy,
        plan_id=plan.plan_id,
    )
    phq9 = {19: [3, 2, 2, 2, 2, 2, 2, 2, 2], 15: [2, 2, 2, 2, 2, 2, 1, 1, 1]}
    record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=phq9[19],
        answered_at=BEFORE,
        actor=nurse,
        course_id=course.course_id,
    )
    chart = open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course.course_id,
        number=1,
    )
    for seq, event in enumerate(EVENTS):
        append_session_event(
            uow,
            chart.session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=policy,
        )
    record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=phq9[15],
        answered_at=AFTER,
        actor=nurse,
        course_id=course.course_id,
        session_id=chart.session_id,
    )
    return course.course_id


def test_titration_recommends_from_the_stored_course_like_the_domain(
    uow: UnitOfWork,
    prescriber: Actor,
    catalog: Catalog,
    course_after_one_session: int,
    patient: PatientRecord,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    record = recommend_titration(
        uow,
        course_after_one_session,
        actor=prescriber,
        policy=policy,
    )
    session = record.basis["sessions"][0]
    assert record.basis["baseline_scores"] == {"phq9": 19}
    assert (session["number"], session["on"], session["tolerability"], session["pauses"]) == (
        1,
        "2026-12-07",
        1,
        1,
    )
    assert session["scores"] == {"phq9": 15}
    expected = recommend_next_dose(
        catalog.protocol("depression"),
        History(
            condition="depression",
            weight_kg=patient.profile.weight_kg,
            baseline_scores={"phq9": 19},
            sessions=(
                SessionRecord(
                    number=1,
                    on=date(2026, 12, 7),
                    mg_per_kg=session["mg_per_kg"],
                    tolerability=1,
                    side_effects=tuple(
                        SideEffectRecord(s["name"], s["severity"]) for s in session["side_effects"]
                    ),
                    alerts=tuple(session["alerts"]),
                    pauses=1,
                    scores={"phq9": 15},
                ),
            ),
            phq9_item9=((date(2026, 12, 7), 2), (date(2026, 12, 7), 1)),
        ),
    )
    protocol = catalog.protocol("depression")
    limited = within_limits(expected, protocol, dosing_weight(patient.profile, protocol, catalog))
    assert record.recommendation == limited.to_dict(patient.profile.weight_kg)
    assert record.recommendation["limits"]["needs_override"] is False
    assert audit_log()[-1] == "titration.recommend"
    # item 9 comes from the stored answers (Kroenke 2001: above 0, no increase; same-day review)
    assert record.basis["phq9_item9"] == [
        {"on": "2026-12-07", "answer": 2},
        {"on": "2026-12-07", "answer": 1},
    ]
    assert record.recommendation["action"] != "increase"
    assert any("PHQ-9 item 9" in r for r in record.recommendation["reasons"])
    assert (record.recommendation["response"], record.recommendation["remission"]) == (
        False,
        False,
    )


def test_a_phq9_tied_to_no_course_counts_for_item9_in_the_order_answered(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    course_after_one_session: int,
    policy: ClinicPolicy,
) -> None:
    # Kroenke 2001: item 9 above 0 needs same-day review; titration never increases then.
    def answered(item9: int, at: datetime) -> list[str]:
        record_questionnaire(
            uow,
            patient.patient_id,
            scale="phq9",
            answers=[2, 2, 2, 2, 2, 2, 1, 1, item9],
            answered_at=at,
            actor=nurse,
        )
        made = recommend_titration(uow, course_after_one_session, actor=prescriber, policy=policy)
        assert made.basis["phq9_item9"][-1] == {"on": "2026-12-07", "answer": item9}
        return [r for r in made.recommendation["reasons"] if "PHQ-9 item 9" in r]

    assert answered(0, AFTER + timedelta(hours=1)) == []  # the latest answer is 0 again
    (reason,) = answered(3, AFTER + timedelta(hours=2))
    assert "is 3" in reason
    assert "risen from 0" in reason


def test_a_prescriber_decides_a_recommendation_once(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    course_after_one_session: int,
    resolver: MedicationResolver,
    rows: Callable[[type[Base]], int],
    policy: ClinicPolicy,
) -> None:
    record = recommend_titration(
        uow,
        course_after_one_session,
        actor=prescriber,
        policy=policy,
    )
    rid = record.recommendation_id
    other_mg_per_kg = round(record.recommendation["recommended_mg_per_kg"] - 0.05, 2)
    with pytest.raises(PermissionDenied):
        decide_titration(uow, rid, actor=nurse, policy=policy, resolver=resolver, password=PASSWORD)
    with pytest.raises(InputError, match="needs a reason"):
        decide_titration(
            uow,
            rid,
            actor=prescriber,
            policy=policy,
            resolver=resolver,
            password=PASSWORD,
            mg_per_kg=other_mg_per_kg,
        )
    with pytest.raises(HardLimitExceeded):
        decide_titration(
            uow,
            rid,
            actor=prescriber,
            policy=policy,
            resolver=resolver,
            password=PASSWORD,
            mg_per_kg=5.0,
            reason="typo",
        )
    assert rows(TitrationDecision) == 0
    decided = decide_titration(
        uow, rid, actor=prescriber, policy=policy, resolver=resolver, password=PASSWORD
    )
    assert decided.decision == "accepted"
    assert decided.mg_per_kg == record.recommendation["recommended_mg_per_kg"]
    # The course page reads the decision back with the order it made (its "signed order" link).
    shown = latest_titration(uow, course_after_one_session, actor=prescriber)
    assert shown is not None
    assert shown.decision is not None
    assert decided.plan_id is not None
    assert shown.decision.plan_id == decided.plan_id
    with pytest.raises(ConflictError, match="already been decided"):
        decide_titration(
            uow,
            rid,
            actor=prescriber,
            policy=policy,
            resolver=resolver,
            password=PASSWORD,
            mg_per_kg=other_mg_per_kg,
            reason="second thoughts",
        )
    assert rows(TitrationDecision) == 1


def test_a_prescriber_may_choose_another_dose_with_a_reason(
    uow: UnitOfWork,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    course_after_one_session: int,
    policy: ClinicPolicy,
) -> None:
    record = recommend_titration(
        uow,
        course_after_one_session,
        actor=prescriber,
        policy=policy,
    )
    other_mg_per_kg = round(record.recommendation["recommended_mg_per_kg"] - 0.05, 2)
    decided = decide_titration(
        uow,
        record.recommendation_id,
        actor=prescriber,
        policy=policy,
        resolver=resolver,
        password=PASSWORD,
        mg_per_kg=other_mg_per_kg,
        reason="patient asked to stay lower after the blood pressure rise",
    )
    assert (decided.decision, decided.mg_per_kg) == ("overridden", other_mg_per_kg)
    assert decided.reason.startswith("patient asked")
