"""Every use case writes its audit event in the same transaction as its change.

Each use case runs once through a unit of work that fails after all its writes (audit rows
included) reached the database, just before commit: afterwards neither the change nor an audit
row may be left. The use cases not covered next to their own tests are here, table-driven.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select

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
    get_course,
    get_patient,
    get_plan,
    get_session_chart,
    list_courses,
    list_plans,
    list_questionnaires,
    list_screenings,
    list_sessions,
    open_session,
    recommend_titration,
    record_questionnaire,
    schedule_course,
    search_patients,
    sign_order,
    update_patient,
)
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_settings import clinic_settings
from ketaplan.services.dashboard import clinic_dashboard
from ketaplan.services.patient_overview import course_overview, patient_overview, session_console
from ketaplan.services.patients import amend_patient
from ketaplan.services.titration import latest_titration
from ketaplan.store import Database
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
    "amend_patient": (
        lambda u, c: amend_patient(
            u,
            c.ids["patient"],
            {"full_name": "Alex Renamed"},
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


READ_USE_CASES: dict[str, Callable[[UnitOfWork, Context], object]] = {
    "get_patient": lambda u, c: get_patient(u, c.ids["patient"], actor=c.nurse),
    "search_patients": lambda u, c: search_patients(u, "alex", actor=c.nurse),
    "get_plan": lambda u, c: get_plan(u, c.ids["plan"], actor=c.nurse),
    "list_plans": lambda u, c: list_plans(u, c.ids["patient"], actor=c.nurse),
    "get_course": lambda u, c: get_course(u, c.ids["course"], actor=c.nurse),
    "list_courses": lambda u, c: list_courses(u, c.ids["patient"], actor=c.nurse),
    "list_screenings": lambda u, c: list_screenings(u, c.ids["patient"], actor=c.nurse),
    "list_questionnaires": lambda u, c: list_questionnaires(u, c.ids["patient"], actor=c.nurse),
    "list_sessions": lambda u, c: list_sessions(u, c.ids["patient"], actor=c.nurse),
    "get_session_chart": lambda u, c: get_session_chart(
        u, c.ids["session"], actor=c.nurse, policy=c.policy
    ),
    "latest_titration": lambda u, c: latest_titration(u, c.ids["course"], actor=c.prescriber),
    "patient_overview": lambda u, c: patient_overview(
        u, c.ids["patient"], actor=c.nurse, policy=c.policy
    ),
    "course_overview": lambda u, c: course_overview(
        u, c.ids["course"], actor=c.nurse, policy=c.policy
    ),
    "session_console": lambda u, c: session_console(
        u, c.ids["session"], actor=c.nurse, policy=c.policy
    ),
    "clinic_dashboard": lambda u, c: clinic_dashboard(u, actor=c.nurse, zone=ZoneInfo("UTC")),
    "clinic_settings": lambda u, c: clinic_settings(u, actor=c.admin, catalog=c.catalog),
}


@pytest.mark.parametrize("use_case", list(READ_USE_CASES))
def test_a_read_holds_no_write_turn_while_it_reads(
    use_case: str,
    database: Database,
    uow: UnitOfWork,
    world: dict[str, int],
    patient: PatientRecord,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Callable[[type[Base]], int],
) -> None:
    """On SQLite, every statement a read use case runs, except its audit append, leaves the
    database's write lock free for a nurse's save (issue 19: a long read stalled charting).
    And the read is still audited, once, when it returns."""
    engine = database.engine
    if engine.dialect.name != "sqlite":
        pytest.skip("the write turn is SQLite's (PostgreSQL readers never block writers)")
    path = engine.url.database
    assert path
    lock_while: list[tuple[str, str]] = []

    def probe(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "audit" in statement:  # the append, in its own short write transaction
            return
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            lock_while.append(("free", statement))
        except sqlite3.OperationalError:
            lock_while.append(("locked", statement))
        finally:
            probe.close()

    context = Context(world, patient, admin, nurse, prescriber, catalog, resolver)
    audits_before = rows(AuditEvent)
    event.listen(engine, "before_cursor_execute", probe)
    try:
        READ_USE_CASES[use_case](uow, context)
    finally:
        event.remove(engine, "before_cursor_execute", probe)
    assert lock_while, "the read ran no statement"
    assert [statement for state, statement in lock_while if state == "locked"] == []
    assert rows(AuditEvent) == audits_before + 1


def test_a_read_that_changes_a_record_is_refused_and_changes_nothing(
    uow: UnitOfWork, patient: PatientRecord, nurse: Actor, rows: Callable[[type[Base]], int]
) -> None:
    audits_before = rows(AuditEvent)
    with uow.reading():
        stored = uow.db.scalars(select(PatientVersion)).one()
        stored.full_name = "Changed Inside A Read"
        uow.audit(nurse, AuditAction.PATIENT_READ, "patient", patient.patient_id)
        with pytest.raises(RuntimeError, match="read that changed records"):
            uow.commit()
    assert rows(AuditEvent) == audits_before
    with uow.reading():
        assert uow.db.scalars(select(PatientVersion.full_name)).one() == "Alex Example"
