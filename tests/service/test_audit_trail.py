"""The audit-trail viewer's service: one clinic's trail, newest first, a page at a time keyed on
the sequence number; filtered by who acted, which patient, which action and which clinic days;
every filter problem named at once; admins only; each read and each CSV export audited; and a
page's query walks an index in sequence order and stops at the page, however long the trail."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text

from ketaplan.clinical.catalog import Catalog
from ketaplan.errors import InputError, InputErrors, PermissionDenied
from ketaplan.services import (
    Actor,
    PatientDetails,
    PatientRecord,
    UnitOfWork,
    create_patient,
    get_patient,
    set_up_clinic,
)
from ketaplan.services.audit_trail import (
    AuditFilter,
    export_audit_trail,
    filter_from_text,
    read_audit_trail,
)
from ketaplan.store import AuditEntry, Database, append_audit_events
from ketaplan.store.models import AuditEvent

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # Monday 7 December, 18:00 in Los Angeles


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def _trail(database: Database) -> list[tuple[int, str, int | None, int | None]]:
    """(seq, action, actor, patient) of every event, oldest first, read outside any service."""
    with database.session_factory() as session:
        rows = session.execute(
            select(
                AuditEvent.seq, AuditEvent.action, AuditEvent.actor_user_id, AuditEvent.patient_id
            ).order_by(AuditEvent.seq)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def _all_pages(uow: UnitOfWork, chosen: AuditFilter, actor: Actor, size: int) -> list[int]:
    seqs: list[int] = []
    older: int | None = None
    while True:
        page = read_audit_trail(uow, chosen, actor=actor, older_than=older, page_size=size)
        seqs += [e.seq for e in page.events]
        if page.older_than is None:
            return seqs
        assert len(page.events) == size
        older = page.older_than


def test_pages_are_newest_first_cover_the_clinic_once_and_each_read_is_audited(
    database: Database,
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    patient: PatientRecord,
    audit_log: Callable[[], list[str]],
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    before = _trail(database)
    seqs = _all_pages(uow, AuditFilter(), admin, size=2)
    assert seqs == sorted(seqs, reverse=True)
    assert len(seqs) == len(set(seqs))
    others = {seq for seq, _a, actor, _p in before if actor == other.user_id}
    assert others  # the other clinic's creation is in the trail...
    assert not others & set(seqs)  # ...but not in this clinic's
    ours = {seq for seq, _a, actor, _p in before if actor in (admin.user_id, nurse.user_id)}
    # every event of the clinic before the first read, and the reads themselves as they came
    assert ours <= set(seqs)
    assert audit_log()[-1] == "audit.trail.read"
    with database.session_factory() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    assert last.actor_user_id == admin.user_id
    assert last.details["filter"] == {}
    assert last.details["rows"] >= 1


def test_each_filter_keeps_only_its_events(
    database: Database,
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
) -> None:
    get_patient(uow, patient.patient_id, actor=prescriber)
    trail = _trail(database)
    by_nurse = read_audit_trail(uow, AuditFilter(user_id=nurse.user_id), actor=admin)
    assert by_nurse.events
    assert {e.actor_email for e in by_nurse.events} == {nurse.email}
    assert [e.seq for e in by_nurse.events] == sorted(
        (seq for seq, _a, actor, _p in trail if actor == nurse.user_id), reverse=True
    )
    about = read_audit_trail(uow, AuditFilter(patient_id=patient.patient_id), actor=admin)
    assert {e.patient_id for e in about.events} == {patient.patient_id}
    assert {e.actor_email for e in about.events} >= {nurse.email, prescriber.email}
    reads = read_audit_trail(uow, AuditFilter(action="patient.read"), actor=admin)
    assert [(e.action, e.action_words) for e in reads.events] == [("patient.read", "Patient: read")]
    assert reads.events[0].actor_email == prescriber.email
    today = read_audit_trail(
        uow, AuditFilter(since=date(2026, 12, 7), until=date(2026, 12, 7)), actor=admin
    )
    assert today.events  # 18:00 on 7 December in the clinic, 02:00 UTC on the 8th
    tomorrow = read_audit_trail(uow, AuditFilter(since=date(2026, 12, 8)), actor=admin)
    assert tomorrow.events == ()
    # the patient's own trail shows who read their trail
    with database.session_factory() as session:
        read = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "audit.trail.read")
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert read is not None
    assert read.patient_id is None  # the last read was by day, not by patient
    mine = read_audit_trail(
        uow, AuditFilter(patient_id=patient.patient_id, action="audit.trail.read"), actor=admin
    )
    assert [e.details["filter"] for e in mine.events] == [{"patient_id": patient.patient_id}]


def _problems(refused: InputError) -> list[dict[str, str]]:
    assert isinstance(refused, InputErrors)  # several, each naming its field
    problems = refused.fields["problems"]
    assert isinstance(problems, list)
    return problems


def test_every_filter_problem_is_named_at_once_and_nothing_is_read(
    uow: UnitOfWork, admin: Actor, audit_log: Callable[[], list[str]]
) -> None:
    with pytest.raises(InputError) as refused:
        filter_from_text(
            {
                "user": "someone",
                "patient": "12a",
                "action": "patient.delete",
                "since": "2026-12-31",
                "until": "2026-12-01",
            }
        )
    errors = {p["field"]: p["problem"] for p in _problems(refused.value)}
    assert set(errors) == {"user", "patient", "action", "until"}
    assert "not a record number" in errors["patient"]
    assert "not an action" in errors["action"]
    assert "ends (2026-12-01) before it starts (2026-12-31)" in errors["until"]
    with pytest.raises(InputError) as bad_day:
        filter_from_text({"since": "07/12/2026"})
    assert "YYYY-MM-DD" in bad_day.value.message
    assert filter_from_text({"patient": "#12", "user": " 3 "}) == AuditFilter(
        user_id=3, patient_id=12
    )


def test_another_clinics_staff_and_patients_are_not_found(
    uow: UnitOfWork, admin: Actor, catalog: Catalog, audit_log: Callable[[], list[str]]
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    theirs = create_patient(
        uow,
        PatientDetails(full_name="Their Patient", weight="70 kg", height="170 cm", age_years=40),
        actor=other,
        catalog=catalog,
    )
    before = audit_log()
    for chosen, field in (
        (AuditFilter(user_id=other.user_id), "user"),
        (AuditFilter(patient_id=theirs.patient_id), "patient"),
        (AuditFilter(patient_id=999_999), "patient"),
    ):
        with pytest.raises(InputError) as refused:
            read_audit_trail(uow, chosen, actor=admin)
        assert "in this clinic" in refused.value.message
        assert refused.value.fields["field"] == field
        with pytest.raises(InputError):
            export_audit_trail(uow, chosen, actor=admin)
    assert audit_log() == before


@pytest.mark.parametrize("role", ["prescriber", "nurse", "front_desk"])
def test_only_admins_read_or_export_the_trail(
    uow: UnitOfWork,
    request: pytest.FixtureRequest,
    audit_log: Callable[[], list[str]],
    role: str,
) -> None:
    actor: Actor = request.getfixturevalue(role)
    before = audit_log()
    with pytest.raises(PermissionDenied):
        read_audit_trail(uow, AuditFilter(), actor=actor)
    with pytest.raises(PermissionDenied):
        export_audit_trail(uow, AuditFilter(), actor=actor)
    assert audit_log() == before


def test_the_csv_export_is_the_filtered_trail_oldest_first_in_pieces_and_is_audited(
    database: Database,
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    patient: PatientRecord,
    audit_log: Callable[[], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ketaplan.services import audit_trail

    monkeypatch.setattr(audit_trail, "EXPORT_BATCH", 2)  # several reads for a few events
    for _ in range(3):
        get_patient(uow, patient.patient_id, actor=nurse)
    pieces = export_audit_trail(uow, AuditFilter(user_id=nurse.user_id), actor=admin)
    assert audit_log()[-1] == "audit.trail.export"  # before the first piece is read
    get_patient(uow, patient.patient_id, actor=nurse)  # after the export began
    later = _trail(database)[-1]
    assert later[2] == nurse.user_id
    chunks = list(pieces)
    assert len(chunks) >= 3  # the header, then two rows at a time
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    expected = [
        seq for seq, _a, actor, _p in _trail(database) if actor == nurse.user_id and seq < later[0]
    ]
    assert [int(row["seq"]) for row in rows] == expected
    assert {row["actor"] for row in rows} == {nurse.email}
    assert all(row["action_words"] and row["hash"] for row in rows)
    assert later[0] not in {int(row["seq"]) for row in rows}  # the file ends where it began
    with database.session_factory() as session:
        exported = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audit.trail.export")
        ).one()
    assert exported.details == {
        "filter": {"user_id": nurse.user_id},
        "up_to_seq": exported.seq - 1,
    }


# ------------------------------------------------------------- query plans ----


def _bulk_trail(database: Database, busy: list[int], rare: int, patient_id: int) -> None:
    """A long trail in which each filter keeps few events: 5,000 events by the busy members of
    staff about no patient, and one in fifty (100) by the ``rare`` one, about the patient,
    a ``session.read``. Walking the sequence index and testing each row would read fifty
    rows for each one shown; the filter's own index reads only what it shows."""
    entries = [
        AuditEntry(
            action="session.read",
            entity_type="patient",
            entity_id=str(patient_id),
            actor_user_id=rare,
            actor_role="nurse",
            origin="127.0.0.1",
            patient_id=patient_id,
        )
        if i % 50 == 0
        else AuditEntry(
            action="dashboard.read",
            entity_type="clinic",
            entity_id="1",
            actor_user_id=busy[i % len(busy)],
            actor_role="admin",
            origin="127.0.0.1",
        )
        for i in range(5000)
    ]
    with database.session_factory() as session:
        append_audit_events(session, entries, NOW - timedelta(hours=1))
        session.commit()
    with database.engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


@contextmanager
def _trail_statements(database: Database) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def note(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        if "FROM audit_event" in statement and "ORDER BY audit_event.seq DESC" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


def _plan(database: Database, statement: str, parameters: Any) -> str:
    """The plan, with PostgreSQL told not to scan whole tables or sort when it has another way
    (as tests/service/test_patient_list.py does): the question is whether an index serves this
    query's order and lets it stop at the page."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_bitmapscan = off")
        connection.exec_driver_sql("SET enable_sort = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        plan = "\n".join(str(row[0]) for row in rows)
        connection.rollback()
        return plan


@pytest.mark.parametrize(
    ("axis", "index"),
    [
        ("user", "ix_audit_event_actor_seq"),
        ("patient", "ix_audit_event_patient_seq"),
        ("action", "ix_audit_event_action_seq"),
        ("none", None),
    ],
)
def test_a_page_walks_an_index_in_sequence_order_and_stops_at_the_page(
    database: Database,
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    axis: str,
    index: str | None,
) -> None:
    _bulk_trail(database, [prescriber.user_id, admin.user_id], nurse.user_id, patient.patient_id)

    chosen = {
        "user": AuditFilter(user_id=nurse.user_id),
        "patient": AuditFilter(patient_id=patient.patient_id),
        "action": AuditFilter(action="session.read"),
        "none": AuditFilter(),
    }[axis]
    with _trail_statements(database) as seen:
        first = read_audit_trail(uow, chosen, actor=admin)
        read_audit_trail(uow, chosen, actor=admin, older_than=first.older_than)
    assert len(first.events) == 50
    assert len(seen) == 2
    for statement, parameters in seen:
        plan = _plan(database, statement, parameters)
        if database.engine.dialect.name == "sqlite":
            assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order
            assert "audit_event USING" in plan, plan
            if index is not None:
                assert index in plan, plan
        else:
            assert plan.startswith("Limit"), plan
            assert "Sort" not in plan, plan
            assert "Seq Scan on audit_event" not in plan, plan
            assert "Index Scan Backward using" in plan, plan
            if index is not None:
                assert f"Index Scan Backward using {index}" in plan, plan
