"""A write's statements and round trips to the database, pinned.

Every write ends the same way (:meth:`UnitOfWork.commit`): the rows it wrote are read back and
hashed into its last audit event, and the event is chained onto the trail under the chain
head's lock, which every write of the clinic waits for. On PostgreSQL each round trip there is
latency every write pays, and those under the lock are paid by every other writer too: with
the record read-backs (a statement per written table, then the lock, the insert and the head's
update: five round trips where three had been) the API's closed-loop capacity on PostgreSQL
fell from 364 to 232 plans a second (issue 14, item 5). Now
the read-backs and the lock go in one round trip (psycopg's pipeline mode) and the insert and
the head's update in one statement. These tests pin what a plan and a charted event send, so
that a change adding a round trip shows here rather than in the load benchmark.

Counted: the statements SQLAlchemy's listeners see (SQLite's ``BEGIN IMMEDIATE`` among them);
not counted: psycopg's own ``BEGIN`` and each ``COMMIT``, and the pool's pre-ping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services import (
    Actor,
    PatientRecord,
    PlanOrder,
    UnitOfWork,
    append_session_event,
    create_plan,
    open_session,
    schedule_course,
)
from ketaplan.store import AuditEntry, Database, append_audit_events, verify_audit_chain
from ketaplan.store.models import AuditChainHead, AuditEvent

from .conftest import example_chart, signed_plan

CHARTING_DAY_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # after the example chart


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic stands on the evening of the charted day (7 December 2026)."""
    return lambda: CHARTING_DAY_EVENING


@contextlib.contextmanager
def sent_round_trips(database: Database) -> Iterator[list[list[str]]]:
    """The statements sent inside the block by round trip, each by its first three words: a
    statement alone, or the statements sent together in one pipeline (PostgreSQL)."""
    trips: list[list[str]] = []
    pipelined_last = False

    def note(_c: object, cursor: Any, statement: str, *_: object) -> None:
        nonlocal pipelined_last
        words = " ".join(statement.split()[:3])
        pgconn = getattr(cursor.connection, "pgconn", None)
        pipelined = pgconn is not None and pgconn.pipeline_status != 0
        if pipelined and pipelined_last:
            trips[-1].append(words)
        else:
            trips.append([words])
        pipelined_last = pipelined

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield trips
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


HEAD_LOCKED = "SELECT audit_chain_head.last_seq, audit_chain_head.last_hash"
"""The chain head read (``FOR UPDATE`` on PostgreSQL)."""

WRITE_STARTS = {"sqlite": [["BEGIN IMMEDIATE"]], "postgresql": []}
"""A write transaction's start as counted: SQLite's statement (psycopg sends its own)."""

WRITE_ENDS = {
    "sqlite": [
        [HEAD_LOCKED],
        ["INSERT INTO audit_event"],
        ["UPDATE audit_chain_head SET"],
    ],
    "postgresql": [["WITH appended AS"]],
}
"""What every write ends with after its read-backs: on SQLite, whose writers the write turn
serialises, the head read, the event inserted and the head moved; on PostgreSQL the three in
one statement (the head was locked with the read-backs)."""


def _read_backs(dialect: str, *reads: str) -> list[list[str]]:
    """The written rows read back to hash them (a statement per table), and on PostgreSQL,
    in the same round trip, the chain head locked (SQLite reads it after, in ``WRITE_ENDS``)."""
    if dialect == "sqlite":
        return [[read] for read in reads]
    return [[*reads, HEAD_LOCKED]]


def test_a_plan_is_two_writes_four_reads_and_its_audit(
    database: Database,
    uow: UnitOfWork,
    prescriber: Actor,
    patient: PatientRecord,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    """A plan (``POST /api/v1/patients/{id}/plans``): the patient and the clinic's settings
    read, the plan and its order event inserted, both read back with the head locked, the
    audit event chained. On PostgreSQL 7 round trips (and psycopg's BEGIN and COMMIT): it was
    9, the read-backs, the lock, the insert and the head's update each a round trip."""
    dialect = database.engine.dialect.name
    order = PlanOrder("depression", None, None)
    with sent_round_trips(database) as trips:
        create_plan(
            uow, patient.patient_id, order, actor=prescriber, policy=policy, resolver=resolver
        )
    assert trips == [
        *WRITE_STARTS[dialect],
        ["SELECT patient_version.version, patient_version.profile"],
        ["SELECT clinic.settings, clinic.settings_version"],
        ["INSERT INTO infusion_plan"],
        ["INSERT INTO order_event"],
        *_read_backs(
            dialect,
            "SELECT infusion_plan.id, infusion_plan.patient_id,",
            "SELECT order_event.id, order_event.plan_id,",
        ),
        *WRITE_ENDS[dialect],
    ]
    assert sum(map(len, trips)) == {"sqlite": 10, "postgresql": 8}[dialect]


@pytest.fixture
def session_id(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: object,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> int:
    """A session opened on a course of the patient's signed order, its start charted."""
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
        plan_id=plan.plan_id,
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
    append_session_event(
        uow, chart.session_id, example_chart()[0], expected_seq=0, actor=nurse, policy=policy
    )
    return chart.session_id


def test_a_charted_event_is_one_write_and_its_audit(
    database: Database, uow: UnitOfWork, nurse: Actor, session_id: int, policy: ClinicPolicy
) -> None:
    """An event appended to a chart (``POST /api/v1/sessions/{id}/events``): the session, its
    chart, the clinic's settings and the order read, the event inserted, read back with the
    head locked, the audit event chained. On PostgreSQL 7 round trips: it was 9."""
    dialect = database.engine.dialect.name
    charted = example_chart()[1]
    with sent_round_trips(database) as trips:
        append_session_event(uow, session_id, charted, expected_seq=1, actor=nurse, policy=policy)
    assert trips == [
        *WRITE_STARTS[dialect],
        ["SELECT infusion_session.id, infusion_session.patient_id,"],
        ["SELECT session_event.data FROM"],
        ["SELECT clinic.settings, clinic.settings_version"],
        ["SELECT infusion_plan.id, infusion_plan.patient_id,"],
        ["INSERT INTO session_event"],
        *_read_backs(dialect, "SELECT session_event.id, session_event.session_id,"),
        *WRITE_ENDS[dialect],
    ]
    assert sum(map(len, trips)) == {"sqlite": 10, "postgresql": 8}[dialect]


def _event(n: int, *, patient_id: int | None) -> AuditEntry:
    return AuditEntry(
        action="patient.read",
        entity_type="patient",
        entity_id=str(n),
        actor_user_id=None,
        actor_role=None,
        origin="cli",
        patient_id=patient_id,
        details={"n": n},
    )


def test_several_events_of_one_append_chain_in_order_with_their_nulls(database: Database) -> None:
    """More than one event in an append goes in one statement on PostgreSQL (each column's
    values as an array, unnested in order), NULLs and all, and chains as one at a time."""
    with database.session_factory() as session:
        append_audit_events(session, [_event(1, patient_id=None)], CHARTING_DAY_EVENING)
        appended = [_event(n, patient_id=None if n % 2 else n) for n in (2, 3, 4)]
        append_audit_events(session, appended, CHARTING_DAY_EVENING)
        append_audit_events(session, [_event(5, patient_id=None)], CHARTING_DAY_EVENING)
        session.commit()
    with database.session_factory() as session:
        stored = session.execute(
            select(AuditEvent.seq, AuditEvent.entity_id, AuditEvent.patient_id)
            .where(AuditEvent.origin == "cli")
            .order_by(AuditEvent.id)
        ).all()
        verified = verify_audit_chain(session)
    first = stored[0].seq
    assert [tuple(row) for row in stored] == [
        (first, "1", None),
        (first + 1, "2", 2),
        (first + 2, "3", None),
        (first + 3, "4", 4),
        (first + 4, "5", None),
    ]
    assert verified.ok, verified.to_dict()


def test_a_lock_that_cannot_be_had_is_a_database_error_and_nothing_is_written(
    database: Database,
) -> None:
    """On PostgreSQL the head is locked in the round trip that reads back the written rows,
    through the driver: its failure (here the lock wait's timeout) is SQLAlchemy's
    ``OperationalError``, as it was (the API answers 503), and the transaction rolls back."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue for the write turn before they begin")
    with database.engine.connect() as holder:
        holder.execute(select(AuditChainHead).with_for_update())  # held until rolled back
        with database.session_factory() as session:
            session.execute(text("SET LOCAL lock_timeout = '50ms'"))
            written = {"clinic": [1]}
            with pytest.raises(OperationalError, match="lock timeout"):
                append_audit_events(
                    session, [_event(1, patient_id=None)], CHARTING_DAY_EVENING, written
                )
            session.rollback()
        holder.rollback()
    with database.session_factory() as session:
        assert session.scalar(select(func.count()).where(AuditEvent.origin == "cli")) == 0
        assert verify_audit_chain(session).ok
