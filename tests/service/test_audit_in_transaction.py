"""Every use case writes its audit event in the same transaction as its change.

Each use case runs once through a unit of work that fails after all its writes (audit rows
included) reached the database, just before commit: afterwards neither the change nor an audit
row may be left. The use cases not covered next to their own tests are here, table-driven.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

import pytest

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services import (
    Actor,
    PatientRecord,
    PlanOrder,
    UnitOfWork,
    add_user,
    cancel_order,
    create_plan,
    decide_titration,
    get_patient,
    get_plan,
    get_session_chart,
    open_session,
    recommend_titration,
    record_questionnaire,
    schedule_course,
    sign_order,
    update_patient,
)
from ketaplan.store.models import (
    AuditEvent,
    Base,
    InfusionSession,
    OrderEvent,
    PatientVersion,
    TitrationDecision,
    TitrationRecommendation,
    TreatmentCourse,
    User,
)

from .conftest import PASSWORD, signed_plan

CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 on the course's first day


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic's clock stands after the course's first day (7 December 2026): the baseline
    questionnaire (6 December) is in the past whatever the real date."""
    return lambda: CLINIC_EVENING


@pytest.fixture
def world(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> dict[str, int]:
    """A signed plan, a course, an open session and a recommendation for the patient."""
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=nurse,
        policy=policy,
    )
    chart = open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        course_id=course.course_id,
    )
    record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=[2] * 9,
        answered_at=datetime(2026, 12, 6, tzinfo=UTC),
        actor=nurse,
        course_id=course.course_id,
    )
    proposal = recommend_titration(uow, course.course_id, actor=prescriber, policy=policy)
    proposed = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=nurse,
        policy=policy,
        resolver=resolver,
    )
    return {
        "patient": patient.patient_id,
        "plan": plan.plan_id,
        "proposed": proposed.plan_id,
        "course": course.course_id,
        "session": chart.session_id,
        "recommendation": proposal.recommendation_id,
    }


@dataclass(frozen=True)
class Context:
    ids: dict[str, int]
    patient: PatientRecord
    admin: Actor
    nurse: Actor
    prescriber: Actor
    catalog: Catalog
    resolver: MedicationResolver

    @property
    def policy(self) -> ClinicPolicy:
        return load_policy()


def _calendar(c: Context) -> ClinicCalendar:
    return load_calendar(None, c.catalog.clinic.time_zone)


USE_CASES: dict[str, tuple[Callable[[UnitOfWork, Context], object], type[Base] | None]] = {
    "add_user": (
        lambda u, c: add_user(u, email="new@bay.example", role="nurse", actor=c.admin),
        User,
    ),
    "update_patient": (
        lambda u, c: update_patient(
            u,
            c.ids["patient"],
            replace(c.patient.details, weight="81 kg"),
            expected_version=1,
            actor=c.nurse,
            catalog=c.catalog,
        ),
        PatientVersion,
    ),
    "get_patient": (lambda u, c: get_patient(u, c.ids["patient"], actor=c.nurse), None),
    "get_plan": (lambda u, c: get_plan(u, c.ids["plan"], actor=c.nurse), None),
    "schedule_course": (
        lambda u, c: schedule_course(
            u,
            c.ids["patient"],
            condition="depression",
            first_day=date(2027, 1, 4),
            actor=c.nurse,
            policy=c.policy,
        ),
        TreatmentCourse,
    ),
    "open_session": (
        lambda u, c: open_session(
            u, c.ids["patient"], condition="depression", actor=c.nurse, policy=c.policy
        ),
        InfusionSession,
    ),
    "get_session_chart": (
        lambda u, c: get_session_chart(u, c.ids["session"], actor=c.nurse, policy=c.policy),
        None,
    ),
    "recommend_titration": (
        lambda u, c: recommend_titration(
            u,
            c.ids["course"],
            actor=c.prescriber,
            policy=c.policy,
        ),
        TitrationRecommendation,
    ),
    "decide_titration": (
        lambda u, c: decide_titration(
            u,
            c.ids["recommendation"],
            actor=c.prescriber,
            policy=c.policy,
            resolver=c.resolver,
            password=PASSWORD,
        ),
        TitrationDecision,
    ),
    "sign_order": (
        lambda u, c: sign_order(u, c.ids["proposed"], password=PASSWORD, actor=c.prescriber),
        OrderEvent,
    ),
    "cancel_order": (
        lambda u, c: cancel_order(u, c.ids["proposed"], reason="duplicate", actor=c.nurse),
        OrderEvent,
    ),
}
AUDIT_ROWS = {"decide_titration": 4, "sign_order": 2}
"""Use cases writing more than one audit row: the titration decision is also a new order, its
signature and the supersession of the course's order; a signature supersedes the last one."""


@pytest.mark.parametrize("use_case", list(USE_CASES))
def test_a_use_case_failing_before_commit_leaves_neither_its_change_nor_its_audit_row(
    use_case: str,
    crashing_uow: UnitOfWork,
    audit_rows_at_crash: list[int],
    world: dict[str, int],
    patient: PatientRecord,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Callable[[type[Base]], int],
) -> None:
    run, table = USE_CASES[use_case]
    context = Context(world, patient, admin, nurse, prescriber, catalog, resolver)
    before_rows = rows(table) if table else None
    audits_before = rows(AuditEvent)
    with pytest.raises(RuntimeError, match="simulated"):
        run(crashing_uow, context)
    written = AUDIT_ROWS.get(use_case, 1)
    assert audit_rows_at_crash == [audits_before + written]  # its audit rows were written...
    assert rows(AuditEvent) == audits_before  # ...and rolled back with the change
    if table is not None:
        assert rows(table) == before_rows
