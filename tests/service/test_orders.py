"""Orders: a plan is proposed, signed by a prescriber (password re-entered), superseded or
cancelled; only an active order is prepared, scheduled or infused, and a titration decision is
the course's next order. Every refusal changes nothing but the audit trail."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import (
    ConflictError,
    HardLimitExceeded,
    PermissionDenied,
    SafetyLimitError,
    TooManyAttempts,
)
from ketaplan.services import (
    Actor,
    PatientDetails,
    PatientRecord,
    PlanOrder,
    PlanRecord,
    UnitOfWork,
    append_session_event,
    cancel_order,
    create_patient,
    create_plan,
    decide_titration,
    get_plan,
    list_plans,
    open_session,
    recommend_titration,
    record_questionnaire,
    schedule_course,
    sign_order,
    update_patient,
)
from ketaplan.services.plans import active_order_preparation
from ketaplan.services.unit_of_work import utc_now
from ketaplan.store import Database
from ketaplan.store.models import (
    AuditEvent,
    Base,
    InfusionPlan,
    InfusionSession,
    OrderEvent,
    SignInThrottle,
    TitrationDecision,
    TreatmentCourse,
)

from .conftest import PASSWORD, example_chart, probing_write_lock, signed_plan

Rows = Callable[[type[Base]], int]
UNCHANGED = (OrderEvent, InfusionPlan, TreatmentCourse, InfusionSession, TitrationDecision)


def _counts(rows: Rows) -> tuple[int, ...]:
    return tuple(rows(table) for table in UNCHANGED)


def _propose(
    uow: UnitOfWork,
    patient: PatientRecord,
    actor: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
) -> PlanRecord:
    policy = load_policy()
    return create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=actor,
        policy=policy,
        resolver=resolver,
    )


def _schedule(uow: UnitOfWork, patient_id: int, actor: Actor, catalog: Catalog, **more: int) -> int:
    policy = load_policy()
    return schedule_course(
        uow,
        patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=actor,
        policy=policy,
        **more,
    ).course_id


def test_a_proposed_order_carries_no_preparation_and_says_why(
    uow: UnitOfWork,
    nurse: Actor,
    admin: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    assert (proposed.status, proposed.signed_by) == ("proposed", None)
    assert proposed.plan["preparation"] is None
    assert proposed.preparation_withheld == "not signed by a prescriber yet"
    assert proposed.plan["order"]["status"] == "proposed"
    with uow:
        assert active_order_preparation(uow, proposed.plan_id) is None
    with pytest.raises(PermissionDenied, match="prescriber or nurse"):
        _propose(uow, patient, admin, catalog, resolver)


def test_signing_records_the_signature_and_shows_the_preparation(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    audit_log: Callable[[], list[str]],
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    signed = sign_order(
        uow, proposed.plan_id, password=PASSWORD, actor=prescriber, signer_name="Dr A. Rivera"
    )
    assert (signed.status, signed.signed_by) == ("active", prescriber.email)
    assert signed.order.signer_name == "Dr A. Rivera"
    assert signed.signature_meaning == "I have reviewed this order and authorise it"
    assert signed.signed_at is not None
    assert signed.preparation_withheld is None
    assert signed.plan["preparation"]["pump_rate_ml_per_h"] > 0
    read = get_plan(uow, proposed.plan_id, actor=nurse)
    assert (read.status, read.signed_by, read.plan["preparation"]) == (
        "active",
        prescriber.email,
        signed.plan["preparation"],
    )
    with uow:
        terms = active_order_preparation(uow, proposed.plan_id)
    assert terms is not None
    assert terms["preparation"]["final_mg_per_ml"] == signed.plan["preparation"]["final_mg_per_ml"]
    assert audit_log()[-2:] == ["order.sign", "plan.read"]


@pytest.mark.parametrize("who", ["nurse", "wrong_password"])
def test_a_refused_signature_signs_nothing_and_is_audited(
    who: str,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
    audit_log: Callable[[], list[str]],
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    before = _counts(rows)
    if who == "nurse":
        with pytest.raises(PermissionDenied, match="prescriber"):
            sign_order(uow, proposed.plan_id, password=PASSWORD, actor=nurse)
    else:
        with pytest.raises(PermissionDenied, match="password is wrong") as refused:
            sign_order(uow, proposed.plan_id, password="not my password", actor=prescriber)
        assert refused.value.code == "signature.wrong_password"
        assert refused.value.fields["field"] == "password"
        assert audit_log()[-1] == "order.sign_refused"
        assert rows(SignInThrottle) >= 1  # counted by the sign-in throttle
    assert _counts(rows) == before
    assert get_plan(uow, proposed.plan_id, actor=nurse).status == "proposed"


def test_wrong_passwords_at_signing_are_rate_limited_like_sign_in(
    uow: UnitOfWork,
    database: Database,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    moment = utc_now()
    at_one_moment = UnitOfWork(database.session_factory, clock=lambda: moment)
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            sign_order(at_one_moment, proposed.plan_id, password="guess", actor=prescriber)
    with pytest.raises(TooManyAttempts) as waiting:  # even the right one, until the wait is over
        sign_order(at_one_moment, proposed.plan_id, password=PASSWORD, actor=prescriber)
    assert waiting.value.fields == {"retry_after_s": 1, "field": "password"}
    assert rows(OrderEvent) == 1  # only the proposal


def test_an_unsigned_order_can_be_neither_scheduled_nor_infused(
    uow: UnitOfWork,
    nurse: Actor,
    front_desk: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
    policy: ClinicPolicy,
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    before = _counts(rows)
    with pytest.raises(ConflictError, match="proposed and not signed") as named:
        _schedule(uow, patient.patient_id, nurse, catalog, plan_id=proposed.plan_id)
    assert named.value.code == "order.not_active"
    with pytest.raises(ConflictError, match="no active depression order") as none:
        _schedule(uow, patient.patient_id, front_desk, catalog)
    assert none.value.code == "order.none_active"
    with pytest.raises(ConflictError, match="not signed"):
        open_session(
            uow,
            patient.patient_id,
            condition="depression",
            actor=nurse,
            policy=policy,
            plan_id=proposed.plan_id,
        )
    with pytest.raises(ConflictError, match="no active depression order"):
        open_session(uow, patient.patient_id, condition="depression", actor=nurse, policy=policy)
    assert _counts(rows) == before


def test_a_contraindicated_plan_needs_a_prescribers_override_to_be_signed(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
    audit_log: Callable[[], list[str]],
) -> None:
    patient = create_patient(
        uow,
        PatientDetails(
            full_name="Cora Block", weight="70 kg", history=("uncontrolled_hypertension",)
        ),
        actor=nurse,
        catalog=catalog,
    )
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    assert proposed.plan["eligibility"]["status"] == "contraindicated"
    assert proposed.preparation_withheld is not None
    assert proposed.preparation_withheld.startswith("contraindicated: do not infuse")
    before = _counts(rows)
    with pytest.raises(SafetyLimitError, match="override") as refused:
        sign_order(uow, proposed.plan_id, password=PASSWORD, actor=prescriber)
    assert refused.value.code == "order.override_required"
    assert refused.value.fields["field"] == "override_reason"
    assert _counts(rows) == before
    assert audit_log()[-1] == "order.sign_refused"
    with pytest.raises(ConflictError):  # and so it can never be scheduled unsigned
        _schedule(uow, patient.patient_id, nurse, catalog)
    signed = sign_order(
        uow,
        proposed.plan_id,
        password=PASSWORD,
        actor=prescriber,
        override_reason="BP controlled on two readings today; cardiology agrees",
    )
    assert signed.status == "active"
    assert signed.order.override is not None
    assert signed.order.override["reason"].startswith("BP controlled")
    assert [f["code"] for f in signed.order.override["findings"]] == [
        "contraindication.uncontrolled_hypertension"
    ]


def test_signing_supersedes_the_previous_active_order_and_is_audited(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    first = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    second = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    assert audit_log()[-3:] == ["plan.create", "order.supersede", "order.sign"]
    states = {p.plan_id: p for p in list_plans(uow, patient.patient_id, actor=nurse).rows}
    assert states[first.plan_id].status == "superseded"
    assert states[first.plan_id].plan["preparation"] is None
    assert f"superseded by order {second.plan_id}" in str(
        states[first.plan_id].preparation_withheld
    )
    assert states[second.plan_id].status == "active"
    with pytest.raises(ConflictError, match="superseded"):
        open_session(
            uow,
            patient.patient_id,
            condition="depression",
            actor=nurse,
            policy=policy,
            plan_id=first.plan_id,
        )
    chart = open_session(
        uow, patient.patient_id, condition="depression", actor=nurse, policy=policy
    )
    listed = recorded_plan(uow, chart.session_id)
    assert listed == second.plan_id
    with pytest.raises(ConflictError, match="not proposed"):
        sign_order(uow, second.plan_id, password=PASSWORD, actor=prescriber)


def recorded_plan(uow: UnitOfWork, session_id: int) -> int | None:
    with uow:
        return uow.db.get_one(InfusionSession, session_id).plan_id


def test_a_nurse_withdraws_a_proposal_but_only_a_prescriber_cancels_a_signed_order(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    withdrawn = cancel_order(uow, proposed.plan_id, reason="entered twice", actor=nurse)
    assert (withdrawn.status, withdrawn.order.ended_reason) == ("cancelled", "entered twice")
    assert audit_log()[-1] == "order.cancel"
    signed = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    before = _counts(rows)
    with pytest.raises(PermissionDenied, match="prescriber"):
        cancel_order(uow, signed.plan_id, reason="not mine to stop", actor=nurse)
    with pytest.raises(ConflictError, match="already cancelled"):
        cancel_order(uow, proposed.plan_id, reason="again", actor=prescriber)
    assert _counts(rows) == before
    cancel_order(uow, signed.plan_id, reason="patient declined treatment", actor=prescriber)
    with pytest.raises(ConflictError, match="cancelled"):
        open_session(
            uow,
            patient.patient_id,
            condition="depression",
            actor=nurse,
            policy=policy,
            plan_id=signed.plan_id,
        )


def test_an_order_planned_before_the_patients_details_changed_is_not_signed(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
) -> None:
    proposed = _propose(uow, patient, nurse, catalog, resolver)
    update_patient(
        uow,
        patient.patient_id,
        replace(patient.details, weight="95 kg"),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    before = _counts(rows)
    with pytest.raises(ConflictError, match="details changed") as refused:
        sign_order(uow, proposed.plan_id, password=PASSWORD, actor=prescriber)
    assert refused.value.code == "order.stale_patient"
    assert _counts(rows) == before


# ------------------------------------------------------------------ titration ----

EXAMPLE = Path(__file__).parents[2] / "examples" / "session1.jsonl"
CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: CLINIC_EVENING


def _course_after_one_session(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
) -> tuple[int, int]:
    first = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    course_id = _schedule(uow, patient.patient_id, nurse, catalog)
    policy = load_policy()
    record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=[3, 2, 2, 2, 2, 2, 2, 2, 2],
        answered_at=datetime(2026, 12, 6, 17, tzinfo=UTC),
        actor=nurse,
        course_id=course_id,
    )
    chart = open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course_id,
        number=1,
    )
    events = example_chart()
    for seq, event in enumerate(events):
        append_session_event(
            uow,
            chart.session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=policy,
        )
    return course_id, first.plan_id


def test_a_titration_decision_becomes_the_courses_next_signed_order(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    course_id, first_plan = _course_after_one_session(
        uow, nurse, prescriber, patient, catalog, resolver
    )
    proposal = recommend_titration(uow, course_id, actor=prescriber, policy=policy)
    chosen = round(proposal.recommendation["recommended_mg_per_kg"] - 0.05, 2)
    decided = decide_titration(
        uow,
        proposal.recommendation_id,
        actor=prescriber,
        policy=policy,
        resolver=resolver,
        password=PASSWORD,
        mg_per_kg=chosen,
        reason="nausea last time",
    )
    assert decided.plan_id is not None
    assert audit_log()[-4:] == ["plan.create", "order.supersede", "order.sign", "titration.decide"]
    order = get_plan(uow, decided.plan_id, actor=nurse)
    assert (order.status, order.plan["dose"]["mg_per_kg"]) == ("active", chosen)
    assert order.plan["dose"]["weight_basis"] == "actual"
    assert get_plan(uow, first_plan, actor=nurse).status == "superseded"
    chart = open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course_id,
        number=2,
    )
    assert recorded_plan(uow, chart.session_id) == decided.plan_id


@pytest.mark.parametrize("trouble", ["hard_limit", "wrong_password"])
def test_a_refused_titration_decision_records_only_the_refusal(
    trouble: str,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Rows,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    course_id, first_plan = _course_after_one_session(
        uow, nurse, prescriber, patient, catalog, resolver
    )
    proposal = recommend_titration(uow, course_id, actor=prescriber, policy=policy)
    before, audits = _counts(rows), rows(AuditEvent)
    with pytest.raises(HardLimitExceeded if trouble == "hard_limit" else PermissionDenied):
        decide_titration(
            uow,
            proposal.recommendation_id,
            actor=prescriber,
            policy=policy,
            resolver=resolver,
            password=PASSWORD if trouble == "hard_limit" else "nope",
            mg_per_kg=1.5 if trouble == "hard_limit" else None,
            reason="more",
        )
    assert _counts(rows) == before
    assert rows(AuditEvent) == audits + 1
    assert audit_log()[-1] == "titration.decide_refused"
    assert get_plan(uow, first_plan, actor=nurse).status == "active"


def test_the_password_is_checked_before_the_write_transaction_opens(
    database_url: str,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Argon2 is slow on purpose: while it runs, another writer can take SQLite's write lock."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock; PostgreSQL locks rows, and the check reads")
    from ketaplan.services import plans

    proposed = _propose(uow, patient, nurse, catalog, resolver)
    seen: list[str] = []
    probed = probing_write_lock(database_url, plans.password_matches, seen)
    monkeypatch.setattr(plans, "password_matches", probed)
    assert sign_order(uow, proposed.plan_id, password=PASSWORD, actor=prescriber).status == "active"
    assert seen == ["free"]
