"""Issue 14, item 5: the audit chain covers the records, not only the events.

Each write's audit event names the record versions it wrote by hash, so ``audit verify`` finds
a record changed, deleted or inserted outside ketaplan and names it; ``audit anchor`` prints
the chain head to keep elsewhere, and ``verify --anchor`` catches events cut from the end with
the head set back; ``verify`` never modifies the database file it checks. Tampering is done
the way someone with the database owner's rights could: the append-only triggers set aside,
then SQL. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from alembic import command
from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from tests.service.conftest import example_chart, signed_plan

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    add_user,
    append_session_event,
    get_patient,
    open_session,
    update_patient,
)
from ketaplan.services.courses import reschedule_course, schedule_course
from ketaplan.services.questionnaires import record_questionnaire
from ketaplan.store import (
    AuditEntry,
    Database,
    append_audit_events,
    audit_records,
    migrate,
    open_database,
    parallel_records,
)
from ketaplan.store import audit as audit_module
from ketaplan.store.audit import ChainVerification, VerifiedPosition, verify_audit_chain
from ketaplan.store.audit_records import COVERED_ACTION, TABLES
from ketaplan.store.engine import make_engine
from ketaplan.store.models import APPEND_ONLY_TABLES, AuditChainHead, AuditEvent
from ketaplan.store.schema import alembic_config

CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic, 7 December


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic stands on the evening of the day the example chart was charted."""
    return lambda: CLINIC_EVENING


@dataclass(frozen=True)
class Clinic:
    """A patient with a signed plan, a course, a charted session and a score."""

    patient: PatientRecord
    course_id: int
    course_version: int
    session_id: int


@pytest.fixture
def clinic(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
    policy: ClinicPolicy,
) -> Clinic:
    pid = patient.patient_id
    plan = signed_plan(uow, pid, prescriber=prescriber, catalog=catalog, resolver=resolver)
    course = schedule_course(
        uow,
        pid,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=prescriber,
        policy=policy,
        plan_id=plan.plan_id,
    )
    chart = open_session(uow, pid, condition="depression", actor=nurse, policy=policy)
    for seq, event in enumerate(example_chart()[:3]):
        append_session_event(
            uow, chart.session_id, event, expected_seq=seq, actor=nurse, policy=policy
        )
    record_questionnaire(
        uow,
        pid,
        scale="phq9",
        answers=[2, 2, 1, 1, 2, 1, 1, 0, 0],
        answered_at=CLINIC_EVENING - timedelta(hours=1),
        actor=nurse,
    )
    return Clinic(patient, course.course_id, course.version, chart.session_id)


def _measurement_based_care_writes(
    uow: UnitOfWork, admin: Actor, nurse: Actor, patient_id: int
) -> None:
    """A link e-mailed and sent (the outbox row queued, claimed, then updated as sent), and a
    PHQ-9 item 9 answer reviewed by a nurse."""
    from ketaplan.services.item9_reviews import review_item9_flag
    from ketaplan.services.outbox import email_patient_link, send_due_messages

    email_patient_link(
        uow,
        patient_id,
        scales=["phq9"],
        to_address="patient@example.org",
        public_url="https://ketaplan.clinic.example",
        actor=admin,
    )
    assert send_due_messages(uow, lambda mail: None).sent == 1
    flagged = record_questionnaire(
        uow,
        patient_id,
        scale="phq9",
        answers=[1, 1, 1, 1, 1, 1, 1, 1, 1],
        answered_at=datetime.now(UTC),
        actor=nurse,
    )
    review_item9_flag(uow, flagged.response_id, note="Called the patient.", actor=nurse)


@pytest.fixture(params=["in turn", "records hashed beside"])
def processes(request: pytest.FixtureRequest) -> Iterator[None]:
    """A full check with the records hashed after the chain walk, and with them hashed beside
    it, as a long trail is checked (:mod:`ketaplan.store.parallel_records`: a second process on
    SQLite, a thread in the walk's snapshot on PostgreSQL): the second way must find exactly
    what the first does, and must be the way taken."""
    if request.param == "in turn":
        with mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 10**12):
            yield
        return
    results: list[parallel_records.RowHashes | None] = []

    def spied(connection: Connection, head: tuple[int, str]) -> parallel_records.RowHashing:
        hashing = parallel_records.start_row_hashing(connection, head)
        assert hashing is not None, "a full check did not hash the records beside the walk"
        result = hashing.result

        def kept() -> parallel_records.RowHashes | None:
            results.append(result())
            return results[-1]

        hashing.result = kept  # type: ignore[method-assign]
        return hashing

    with (
        mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 0),
        mock.patch.object(audit_module, "start_row_hashing", spied),
    ):
        yield
    assert results, "no full check hashed the records beside the walk"
    assert all(hashes is not None and hashes.tables for hashes in results)


def _verify(database: Database, **options: Any) -> ChainVerification:
    """Verify as ``ketaplan audit verify`` does: on the database opened read-only (one
    snapshot per check on both databases)."""
    checking = open_database(
        database.engine.url.render_as_string(hide_password=False), read_only=True
    )
    try:
        with checking.session_factory() as session:
            return verify_audit_chain(session, **options)
    finally:
        checking.close()


def _tamper(database: Database, table: str, change: Callable[[Connection], int]) -> int:
    """Run ``change`` (which returns the id of the row it touched) with the table's
    append-only triggers set aside, as the database's owner could."""
    with database.engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        guarded = table in APPEND_ONLY_TABLES
        if guarded and postgres:
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        elif guarded:
            for verb in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        touched = change(connection)
        if guarded and postgres:
            connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
    return touched


def _newest(connection: Connection, table: str, **where: object) -> int:
    rows = TABLES[table]
    statement = select(func.max(rows.c.id)).where(
        *(rows.c[column] == value for column, value in where.items())
    )
    found = connection.scalar(statement)
    assert found is not None, f"no {table} row to tamper with"
    return int(found)


def _set(connection: Connection, table: str, record_id: int, **values: object) -> int:
    rows = TABLES[table]
    connection.execute(update(rows).where(rows.c.id == record_id).values(**values))
    return record_id


def _edit_json(
    connection: Connection, table: str, column: str, record_id: int, edit: Callable[[Any], None]
) -> int:
    rows = TABLES[table]
    value = connection.scalar(select(rows.c[column]).where(rows.c.id == record_id))
    edit(value)
    return _set(connection, table, record_id, **{column: value})


def _double_the_dose(connection: Connection) -> int:
    plan_id = _newest(connection, "infusion_plan")
    total = connection.scalar(
        select(TABLES["infusion_plan"].c.total_mg).where(TABLES["infusion_plan"].c.id == plan_id)
    )
    return _set(connection, "infusion_plan", plan_id, total_mg=float(total or 0) * 2)


def _lower_a_charted_blood_pressure(connection: Connection) -> int:
    event_id = _newest(connection, "session_event", kind="vitals")
    return _edit_json(
        connection, "session_event", "data", event_id, lambda data: data.update(systolic=118)
    )


def _change_the_weight(connection: Connection) -> int:
    version_id = _newest(connection, "patient_version")
    return _edit_json(
        connection,
        "patient_version",
        "profile",
        version_id,
        lambda profile: profile.update(weight_kg=profile["weight_kg"] + 25),
    )


def _delete_a_score(connection: Connection) -> int:
    response_id = _newest(connection, "questionnaire_response")
    rows = TABLES["questionnaire_response"]
    connection.execute(rows.delete().where(rows.c.id == response_id))
    return response_id


def _forge_a_chart_event(connection: Connection) -> int:
    rows = TABLES["session_event"]
    newest = _newest(connection, "session_event")
    copied = connection.execute(select(rows).where(rows.c.id == newest)).mappings().one()
    values = {**copied, "seq": copied["seq"] + 1}
    del values["id"]
    connection.execute(rows.insert().values(values))
    return _newest(connection, "session_event")


def _rename_the_signer(connection: Connection) -> int:
    signed = _newest(connection, "order_event", status="signed")
    return _set(connection, "order_event", signed, signer_name="Someone Else")


def _make_the_nurse_an_admin(connection: Connection) -> int:
    nurse = _newest(connection, "app_user", role="nurse")
    return _set(connection, "app_user", nurse, role="admin")


def _move_the_course(connection: Connection) -> int:
    course_id = _newest(connection, "treatment_course")
    return _set(connection, "treatment_course", course_id, first_day=date(2026, 11, 2))


TAMPERINGS = [
    ("infusion_plan", _double_the_dose, "was changed outside ketaplan"),
    ("session_event", _lower_a_charted_blood_pressure, "was changed outside ketaplan"),
    ("patient_version", _change_the_weight, "was changed outside ketaplan"),
    ("questionnaire_response", _delete_a_score, "was deleted outside ketaplan"),
    ("session_event", _forge_a_chart_event, "was inserted outside ketaplan"),
    ("order_event", _rename_the_signer, "was changed outside ketaplan"),
    ("app_user", _make_the_nurse_an_admin, "was changed outside ketaplan"),
    ("treatment_course", _move_the_course, "was changed outside ketaplan"),
]


@pytest.mark.parametrize(
    ("table", "change", "found"),
    TAMPERINGS,
    ids=[change.__name__.strip("_") for _, change, _ in TAMPERINGS],
)
def test_a_record_changed_deleted_or_inserted_outside_ketaplan_is_found_and_named(
    database: Database,
    clinic: Clinic,
    table: str,
    change: Callable[[Connection], int],
    found: str,
    processes: None,
) -> None:
    assert _verify(database).ok
    record_id = _tamper(database, table, change)
    result = _verify(database)
    assert result.broken is None  # the events are intact: it is the records that are not
    assert not result.ok
    assert [(p.table, p.record_id) for p in result.records] == [(table, record_id)]
    assert f"{table} {record_id} {found}" in result.records[0].reason


def test_verify_names_the_tampered_record_on_the_command_line_and_exits_1(
    database: Database,
    database_url: str,
    clinic: Clinic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    assert main(["audit", "verify", "--full"]) == 0
    capsys.readouterr()
    plan_id = _tamper(database, "infusion_plan", _double_the_dose)
    assert main(["audit", "verify", "--full"]) == 1
    out = capsys.readouterr().out
    assert "RECORDS TAMPERED WITH: 1 record(s)" in out
    assert f"infusion_plan {plan_id} was changed outside ketaplan" in out
    assert main(["audit", "verify", "--full", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert [(r["table"], r["id"]) for r in report["records"]] == [("infusion_plan", plan_id)]


def test_an_incremental_check_finds_a_tampered_record_written_since_the_last_check(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    clinic: Clinic,
    policy: ClinicPolicy,
) -> None:
    checked = _verify(database)
    assert checked.ok
    append_session_event(
        uow, clinic.session_id, example_chart()[3], expected_seq=3, actor=nurse, policy=policy
    )
    event_id = _tamper(
        database,
        "session_event",
        lambda connection: _edit_json(
            connection,
            "session_event",
            "data",
            _newest(connection, "session_event", seq=4),
            lambda data: data.update(at="2026-12-07T09:11:00-08:00"),
        ),
    )
    result = _verify(database, since=checked.position)
    assert result.from_seq == checked.checked + 1
    assert [(p.table, p.record_id) for p in result.records] == [("session_event", event_id)]


def test_legitimate_updates_in_place_are_never_flagged(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    clinic: Clinic,
    catalog: Catalog,
    policy: ClinicPolicy,
) -> None:
    """A patient update (the patient row's version), a reschedule (the course row and its
    bookings, replaced) and an order signature: each changes rows ketaplan wrote before, and
    its event records the new versions."""
    checked = _verify(database)
    assert checked.ok
    pid = clinic.patient.patient_id
    details = clinic.patient.details
    update_patient(
        uow,
        pid,
        replace(details, weight="84 kg"),
        expected_version=clinic.patient.version,
        actor=nurse,
        catalog=catalog,
    )
    reschedule_course(
        uow,
        clinic.course_id,
        session_number=2,
        status="missed",
        expected_version=clinic.course_version,
        actor=prescriber,
        policy=policy,
    )
    assert get_patient(uow, pid, actor=nurse).version == 2
    incremental = _verify(database, since=checked.position)
    full = _verify(database)
    assert (incremental.ok, incremental.records) == (True, ())
    assert (full.ok, full.records) == (True, ())
    with database.session_factory() as session:
        rescheduled = session.scalars(
            select(AuditEvent.records)
            .where(AuditEvent.records.is_not(None))
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert rescheduled is not None
    # the course row and its bookings, replaced (deleted, or their ids reused on SQLite), and
    # the bookings history (each session moved)
    assert {r["table"] for r in rescheduled} == {
        "treatment_course",
        "course_booking",
        "booking_event",
    }


def test_a_plan_write_names_the_plan_and_its_order_event_by_hash(
    database: Database, clinic: Clinic
) -> None:
    with database.engine.connect() as connection:
        plan_id = _newest(connection, "infusion_plan")
        proposed = _newest(connection, "order_event", plan_id=plan_id, status="proposed")
    with database.session_factory() as session:
        naming = [
            (action, records)
            for action, records in session.execute(
                select(AuditEvent.action, AuditEvent.records).where(AuditEvent.records.is_not(None))
            )
            if {"table": "infusion_plan", "id": plan_id}
            in [{"table": r["table"], "id": r["id"]} for r in records]
        ]
    assert [action for action, _ in naming] == ["plan.create"]  # signing adds an event row
    created = {(r["table"], r["id"]): r["hash"] for r in naming[0][1]}
    assert set(created) == {("infusion_plan", plan_id), ("order_event", proposed)}
    assert all(re.fullmatch("[0-9a-f]{64}", digest) for digest in created.values())


def _covered_rows(database: Database) -> dict[str, int]:
    with database.engine.connect() as connection:
        return {
            name: connection.scalar(select(func.count()).select_from(table)) or 0
            for name, table in TABLES.items()
        }


def test_every_write_use_case_accounts_for_the_records_it_writes(
    database: Database, catalog: Catalog, resolver: object, admin: Actor
) -> None:
    """The demo clinic (patients, screenings, scores, plans, signatures, courses, charts,
    titration), then the writes it does not make: every covered row is named by the latest
    event that wrote it. A service writing a row by a statement without naming it fails here."""
    from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
    from ketaplan.clinical.medications import MedicationResolver
    from ketaplan.services.accounts import set_password
    from ketaplan.services.clinic_settings import clinic_settings, update_clinic_settings
    from ketaplan.services.clinic_settings_form import ClinicSettingsInput
    from ketaplan.services.clinics import add_user
    from ketaplan.services.demo_clinic import create_demo_clinic
    from ketaplan.services.patient_links import answer_patient_link, create_patient_link
    from ketaplan.services.staff import change_role, deactivate_user, reactivate_user

    assert isinstance(resolver, MedicationResolver)
    monitoring = load_monitoring_rules()
    calendar = load_calendar(None, catalog.clinic.time_zone)
    demo = create_demo_clinic(
        database,
        catalog=catalog,
        resolver=resolver,
        monitoring=monitoring,
        calendar=calendar,
        today=date(2026, 3, 11),
    )
    assert demo is not None
    uow = UnitOfWork(database.session_factory)
    current = clinic_settings(uow, actor=admin, catalog=catalog)
    update_clinic_settings(
        uow,
        ClinicSettingsInput(
            name=current.name,
            price_per_session_usd="650",
            bag_sizes_ml="50, 100, 250",
            vials="10 mg/mL x 20 mL",
        ),
        expected_version=current.version,
        actor=admin,
        catalog=catalog,
    )
    set_password(uow, admin.user_id, "another long passphrase", actor=admin)
    staff_id = add_user(uow, email="staff.change@bay.example", role="nurse", actor=admin)
    change_role(uow, staff_id, "prescriber", actor=admin)
    deactivate_user(uow, staff_id, actor=admin)
    reactivate_user(uow, staff_id, actor=admin)
    with database.engine.connect() as connection:
        patient_id = _newest(connection, "patient")
    demo_admin = Actor(
        _newest_user(database, "admin@demo-clinic.example"),
        demo.clinic_id,
        "admin@demo-clinic.example",
        "Alex Morgan",
        "admin",
        "test",
    )
    link = create_patient_link(uow, patient_id, scales=["phq9", "gad7"], actor=demo_admin)
    answer_patient_link(uow, link.token, scale="phq9", answers=[1] * 9, origin="test")
    answer_patient_link(uow, link.token, scale="gad7", answers=[0] * 7, origin="test")
    demo_nurse = Actor(
        _newest_user(database, "nurse@demo-clinic.example"),
        demo.clinic_id,
        "nurse@demo-clinic.example",
        "Robin Diaz",
        "nurse",
        "test",
    )
    _measurement_based_care_writes(uow, demo_admin, demo_nurse, patient_id)
    _ledger_writes(uow, demo_admin)

    result = _verify(database)
    assert result.ok, result.records[:3] or result.broken
    rows = _covered_rows(database)
    assert [name for name, count in rows.items() if count == 0] == []
    with database.session_factory() as session:
        named = session.scalars(select(AuditEvent.records).where(AuditEvent.records.is_not(None)))
        records = [record for listed in named for record in listed or ()]
    assert {record["table"] for record in records} == set(TABLES)


def _newest_user(database: Database, email: str) -> int:
    with database.engine.connect() as connection:
        return _newest(connection, "app_user", email=email)


# ----------------------------------------------------------------- anchor ----


def _cut_the_newest_events(database: Database, count: int) -> None:
    """Delete the newest audit events and set the head back to the event before them."""

    def cut(connection: Connection) -> int:
        last = connection.scalar(select(func.max(AuditEvent.seq))) or 0
        keep = last - count
        connection.execute(AuditEvent.__table__.delete().where(AuditEvent.seq > keep))
        kept_hash = connection.scalar(select(AuditEvent.hash).where(AuditEvent.seq == keep))
        connection.execute(update(AuditChainHead).values(last_seq=keep, last_hash=kept_hash))
        return keep

    _tamper(database, "audit_event", cut)


def _anchor(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["audit", "anchor"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"[0-9]+:[0-9a-f]{64}", printed[0]), printed
    return printed[0]


def test_the_anchor_catches_events_cut_from_the_end_with_the_head_set_back(
    database: Database,
    database_url: str,
    uow: UnitOfWork,
    nurse: Actor,
    clinic: Clinic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    for _ in range(2):  # two reads: events that wrote no record, so no record gives them away
        get_patient(uow, clinic.patient.patient_id, actor=nurse)
    anchor = _anchor(capsys)
    seq = int(anchor.split(":")[0])
    assert main(["audit", "verify", "--full", "--anchor", anchor]) == 0
    assert f"Anchor {seq} holds" in capsys.readouterr().out

    _cut_the_newest_events(database, 2)
    assert main(["audit", "verify", "--full"]) == 0  # the chain alone cannot tell
    capsys.readouterr()
    assert main(["audit", "verify", "--full", "--anchor", anchor]) == 1
    out = capsys.readouterr().out
    assert f"the anchor names audit event {seq}, but the trail ends at event {seq - 2}" in out
    assert main(["audit", "verify", "--anchor", anchor.upper()]) == 1  # incremental too


def test_the_anchor_catches_a_rewritten_trail(database: Database, clinic: Clinic) -> None:
    head = _verify(database)
    forged = VerifiedPosition(head.checked, "0" * 64)
    result = _verify(database, anchor=forged)
    assert result.broken is not None
    assert f"audit event {head.checked} no longer has the anchored hash" in result.broken.reason
    assert _verify(database, anchor=head.position).ok


@pytest.mark.parametrize("typed", ["12", "12:abc", "0:" + "a" * 64, "x:" + "a" * 64])
def test_a_malformed_anchor_is_refused_with_what_is_accepted(
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    assert main(["audit", "verify", "--anchor", typed]) == 2
    assert "SEQ:HASH" in capsys.readouterr().err


# ----------------------------------------------------------- read-only ----


def _sqlite_file(database_url: str) -> Path:
    path = make_url(database_url).database
    assert path
    return Path(path)


def test_verify_does_not_modify_the_database_file_it_checks(
    database: Database,
    database_url: str,
    clinic: Clinic,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the file check is SQLite's; PostgreSQL checks in READ ONLY transactions")
    database.close()  # the last connection closes: the write-ahead log is checkpointed
    path = _sqlite_file(database_url)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    assert main(["audit", "verify", "--full"]) == 0
    assert main(["audit", "verify"]) == 0
    _anchor(capsys)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_the_read_only_database_refuses_writes(database: Database, database_url: str) -> None:
    checking = open_database(database_url, read_only=True)
    try:
        with checking.engine.connect() as connection, pytest.raises(DBAPIError, match="read"):
            connection.execute(text("UPDATE audit_chain_head SET last_seq = last_seq"))
    finally:
        checking.close()


# ---------------------------------------------------------- migration ----


def test_a_database_with_records_from_before_passes_and_forged_rows_are_still_found(
    database_url: str, processes: None
) -> None:
    """An upgraded database: its events name no records, and its rows are older than the
    coverage. Migration 0010 notes each table's highest id in the chain, so verify passes,
    and a row inserted outside ketaplan after the upgrade is still found."""
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0009")
            connection.execute(
                text(
                    "INSERT INTO clinic (name, time_zone, settings, settings_version,"
                    " created_at) VALUES ('Old Clinic', 'UTC', '{}', 1, :at)"
                ),
                {"at": datetime(2026, 1, 5, tzinfo=UTC).replace(tzinfo=None)},
            )
        migrate(engine)
    finally:
        engine.dispose()
    database = open_database(database_url)
    try:
        result = _verify(database)
        assert result.ok, result.records
        with database.session_factory() as session:
            covered = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [(e.action, e.details["legacy_max_id"]["clinic"]) for e in covered] == [
            (COVERED_ACTION, 1)
        ]
        forged = _tamper(
            database,
            "clinic",
            lambda connection: connection.execute(
                TABLES["clinic"]
                .insert()
                .values(
                    name="Forged Clinic",
                    time_zone="UTC",
                    settings={},
                    settings_version=1,
                    created_at=CLINIC_EVENING,
                )
                .returning(TABLES["clinic"].c.id)
            ).scalar_one(),
        )
        result = _verify(database)
        assert [(p.table, p.record_id) for p in result.records] == [("clinic", forged)]
        assert "no audit event names it" in result.records[0].reason
    finally:
        database.close()


def test_a_new_database_starts_with_an_empty_trail(database: Database) -> None:
    with database.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def _ledger_writes(uow: UnitOfWork, admin: Actor) -> None:
    """The controlled-substance ledger's rows (issue 16): a vial received and counted."""
    from ketaplan.services.ledger import Supplier, VialIn, receive_vials
    from ketaplan.services.ledger_stock import record_count

    vial = VialIn("K-1", "0409-2051-05", "L1", date(2030, 1, 1), 10.0, 20)
    receive_vials(uow, Supplier("Supplier", "1 Main St", "RS0000000"), [vial], actor=admin)
    record_count(uow, "K-1", 20, actor=admin)


def test_a_time_stored_in_another_shape_still_verifies_and_a_changed_one_is_found(
    database: Database, clinic: Clinic
) -> None:
    """The walk reads times in their hashed form written by the database (issue 19); text of
    another shape than SQLAlchemy's (a 'T' between date and time, written by another tool) is
    parsed as before: the same instant still verifies, another instant is found, in a record
    and in an event. SQLite only: PostgreSQL keeps times as times."""
    if database.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite keeps a time as text of some shape")
    rows = TABLES["session_event"]

    def reshape(connection: Connection, table: str, column: str, key: str, key_value: int) -> str:
        stored = connection.scalar(
            text(f"SELECT {column} FROM {table} WHERE {key} = :k"), {"k": key_value}
        )
        assert isinstance(stored, str)
        assert len(stored) == 26
        connection.execute(
            text(f"UPDATE {table} SET {column} = :v WHERE {key} = :k"),
            {"v": f"{stored[:10]}T{stored[11:]}", "k": key_value},
        )
        return stored

    def same_instant(connection: Connection) -> int:
        record_id = _newest(connection, "session_event")
        reshape(connection, "session_event", "recorded_at", "id", record_id)
        reshape(connection, "audit_event", "occurred_at", "seq", 2)
        return record_id

    with database.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
    record_id = _tamper(database, "session_event", same_instant)
    assert _verify(database).ok

    def another_instant(connection: Connection) -> int:
        stored = connection.scalar(select(rows.c.recorded_at).where(rows.c.id == record_id))
        assert stored is not None
        connection.execute(
            text("UPDATE session_event SET recorded_at = :v WHERE id = :k"),
            {"v": (stored + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%f"), "k": record_id},
        )
        return record_id

    _tamper(database, "session_event", another_instant)
    result = _verify(database)
    assert result.broken is None
    assert [(p.table, p.record_id) for p in result.records] == [("session_event", record_id)]
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_event SET occurred_at = '2020-01-01T00:00:00.000001' WHERE seq = 2")
        )
    broken = _verify(database).broken
    assert broken is not None
    assert broken.seq == 2
    assert "was changed" in broken.reason


def test_record_text_outside_ascii_hashes_alike_in_the_database_and_in_python(
    database: Database, clinic: Clinic, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    """On PostgreSQL a full check hashes JSON columns in SQL (issue 19), a write hashes them in
    Python: a name outside ASCII, with an emoji, quotes and a backslash, must give the same
    digest, so the record verifies; and a change to it is still found. On both databases."""
    update_patient(
        uow,
        clinic.patient.patient_id,
        replace(clinic.patient.details, full_name='Zoë Ångström-Łukasiewicz "Ω" \\ 😀'),
        expected_version=clinic.patient.version,
        actor=nurse,
        catalog=catalog,
    )
    assert _verify(database).ok
    version_id = _tamper(
        database,
        "patient_version",
        lambda connection: _set(
            connection,
            "patient_version",
            _newest(connection, "patient_version"),
            full_name="Zoe Angstrom",
        ),
    )
    result = _verify(database)
    assert [(p.table, p.record_id) for p in result.records] == [("patient_version", version_id)]


def test_the_database_writes_the_hashed_texts_as_python_does_and_vouches_for_nothing_else(
    database: Database, clinic: Clinic, uow: UnitOfWork, admin: Actor
) -> None:
    """A walk hashes each event, and each row of the tables without floats, as the text the
    database writes (issue 19): SQLite writes the text and Python hashes it, PostgreSQL hashes
    it too. Text with quotes, a backslash, control characters and characters outside ASCII
    must come out exactly as Python writes it, so the whole clinic verifies without the exact
    way being needed; a change to such text is still found (the exact way confirms it)."""
    sqlite = database.engine.dialect.name == "sqlite"
    name = 'Zoë "Ω" \\ 😀 Łukasiewicz'  # a name: printable text only
    odd = f"{name} \t\n\x01\x1f\x7f end"
    user_id = add_user(
        uow, email="zoe@example.org", role="nurse", actor=admin, password=None, full_name=name
    )
    with database.session_factory() as session:
        entry = AuditEntry("patient.read", "patient", odd, None, None, odd, None, {"why": odd})
        append_audit_events(session, [entry], CLINIC_EVENING)
        session.commit()
    exact_tables: list[str] = []
    check_rows = audit_records._check_rows

    def checked_the_exact_way(connection: Connection, name: str, *rest: Any) -> None:
        exact_tables.append(name)
        check_rows(connection, name, *rest)

    with (
        mock.patch("ketaplan.store.audit._walk", wraps=audit_module._walk) as exact_walk,
        mock.patch("ketaplan.store.audit_records._check_rows", checked_the_exact_way),
    ):
        assert _verify(database).ok
    assert not exact_walk.called
    written = audit_records.SQLITE_ROW_TEXTS if sqlite else audit_records.POSTGRES_ROW_DIGESTS
    fast = {name for name, statement in written.items() if statement}
    assert {"app_user", "session_event"} <= fast
    assert not fast & set(exact_tables)
    _tamper(
        database,
        "app_user",
        lambda connection: _set(connection, "app_user", user_id, full_name=name.replace("Ω", "O")),
    )
    with database.engine.connect() as connection:
        last = connection.scalar(select(func.max(AuditEvent.seq)))

    def set_origin(origin: str) -> Callable[[Connection], int]:
        def change(connection: Connection) -> int:
            connection.execute(
                update(AuditEvent).where(AuditEvent.seq == last).values(origin=origin)
            )
            return int(last or 0)

        return change

    _tamper(database, "audit_event", set_origin(odd.replace("\t", " ")))
    result = _verify(database)
    assert result.broken is not None
    assert result.broken.seq == last
    assert "was changed" in result.broken.reason
    _tamper(database, "audit_event", set_origin(odd))
    result = _verify(database)
    assert result.broken is None
    assert [(p.table, p.record_id) for p in result.records] == [("app_user", user_id)]


# ------------------------------------------- records hashed in a second process ----


def _sqlite_only(database: Database) -> None:
    if database.engine.dialect.name != "sqlite":
        pytest.skip("only SQLite hashes the records in a second process")


def test_records_hashed_beside_are_taken_only_for_the_chain_head_the_walk_read(
    database: Database, clinic: Clinic
) -> None:
    """SQLite's child reads a snapshot of its own, which must hold the same writes as the
    walk's: ketaplan moves the chain head with every write, so the same head means the same
    records; for another head, its hashes are not used."""
    _sqlite_only(database)
    with (
        mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 0),
        database.session_factory() as session,
    ):
        connection = session.connection()
        seq, hash_ = session.execute(
            select(AuditChainHead.last_seq, AuditChainHead.last_hash)
        ).one()
        same = parallel_records.start_row_hashing(connection, (seq, hash_))
        other = parallel_records.start_row_hashing(connection, (seq - 1, hash_))
        assert same is not None
        assert other is not None
        hashes = same.result()
        assert other.result() is None
    assert hashes is not None
    assert hashes.head == (seq, hash_)
    digests = hashes.digests("session_event")
    assert digests is not None
    with database.engine.connect() as connection:
        charted = connection.scalars(select(TABLES["session_event"].c.id)).all()
    assert [record_id for record_id, _ in digests] == sorted(charted)
    assert hashes.digests("infusion_plan") is None  # floats: hashed by the walk, as before


def test_postgresql_digests_beside_the_walk_are_read_in_the_walk_s_snapshot(
    database: Database, clinic: Clinic
) -> None:
    """PostgreSQL's thread reads in the snapshot the walk exported: a chart row changed after
    the walk's snapshot was taken, before the thread reads it, is seen as it was."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL shares the walk's snapshot")
    server_digests = parallel_records.server_digests
    tampered = threading.Event()

    def after_the_tamper(*args: Any) -> Iterator[tuple[int, str | None]]:
        assert tampered.wait(10)
        yield from server_digests(*args)

    checking = open_database(
        database.engine.url.render_as_string(hide_password=False), read_only=True
    )
    try:
        with (
            mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 0),
            mock.patch.object(parallel_records, "server_digests", after_the_tamper),
            checking.session_factory() as session,
        ):
            connection = session.connection()
            seq, hash_ = session.execute(
                select(AuditChainHead.last_seq, AuditChainHead.last_hash)
            ).one()
            hashing = parallel_records.start_row_hashing(connection, (seq, hash_))
            assert hashing is not None
            record_id = _tamper(database, "session_event", _lower_a_charted_blood_pressure)
            tampered.set()
            hashes = hashing.result()
            as_the_walk_reads_it = dict(
                audit_records._hashed_rows(connection, TABLES["session_event"], [record_id])
            )
    finally:
        checking.close()
    assert hashes is not None
    assert dict(hashes.digests("session_event") or ())[record_id] == as_the_walk_reads_it[record_id]
    with database.engine.connect() as connection:
        assert (
            dict(audit_records._hashed_rows(connection, TABLES["session_event"], [record_id]))
            != as_the_walk_reads_it
        )  # changed since, as a check started now finds
    assert not _verify(database).ok


def test_a_helper_that_cannot_read_leaves_the_records_to_the_walk(
    database: Database, clinic: Clinic
) -> None:
    """A helper that fails hands back nothing; the walk reads the rows itself and still finds
    a record changed outside ketaplan."""
    sqlite = database.engine.dialect.name == "sqlite"
    record_id = _tamper(database, "session_event", _lower_a_charted_blood_pressure)

    def unreadable(*_args: object) -> Iterator[tuple[int, str | None]]:
        error = (
            sqlite3.OperationalError
            if sqlite
            else database.engine.dialect.loaded_dbapi.OperationalError
        )
        raise error("could not read")

    walk = "row_text_digests" if sqlite else "server_digests"
    with (
        mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 0),
        mock.patch.object(
            parallel_records, "row_text_digests" if sqlite else "server_digests", unreadable
        ),
        mock.patch.object(audit_records, walk, wraps=getattr(audit_records, walk)) as walked,
    ):
        result = _verify(database)
    assert [(p.table, p.record_id) for p in result.records] == [("session_event", record_id)]
    assert walked.called


def test_an_event_sqlite_cannot_write_as_json_is_walked_the_exact_way_and_reported(
    database: Database, clinic: Clinic
) -> None:
    """SQLite cannot put a BLOB in JSON: the fast walk stops there and the exact walk reports
    the event as changed, instead of the check failing."""
    _sqlite_only(database)
    with database.engine.connect() as connection:
        last = connection.scalar(select(func.max(AuditEvent.seq)))

    def blob_origin(connection: Connection) -> int:
        connection.execute(
            text("UPDATE audit_event SET origin = X'00ff' WHERE seq = :seq"), {"seq": last}
        )
        return int(last or 0)

    _tamper(database, "audit_event", blob_origin)
    result = _verify(database)
    assert result.broken is not None
    assert result.broken.seq == last
    assert "was changed after it was written" in result.broken.reason
