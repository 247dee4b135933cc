"""`ketaplan db migrate` and `ketaplan audit verify` against real databases."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.services import PatientDetails, UnitOfWork, create_patient, get_patient, set_up_clinic
from ketaplan.store import head_revision, open_database


@pytest.fixture
def env_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    return database_url


def test_db_migrate_creates_the_schema_once(
    env_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate"]) == 0
    assert f"from empty to revision {head_revision()}" in capsys.readouterr().out
    assert main(["db", "migrate", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False
    open_database(env_database).close()  # no longer refused


def test_audit_verify_refuses_an_unmigrated_database_and_names_the_command(
    env_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify"]) == 7
    assert "run `ketaplan db migrate`" in capsys.readouterr().err


def test_an_unreachable_database_is_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", "sqlite:////nonexistent-dir/ketaplan.db")
    assert main(["db", "migrate"]) == 7
    assert "cannot open the database" in capsys.readouterr().err


def test_audit_verify_passes_on_an_intact_trail_and_fails_on_a_tampered_one(
    env_database: str, catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate"]) == 0
    database = open_database(env_database)
    try:
        uow = UnitOfWork(database.session_factory)
        admin = set_up_clinic(uow, name="Clinic", time_zone="UTC", admin_email="a@clinic.example")
        created = create_patient(
            uow, PatientDetails(full_name="Pat", weight="70 kg"), actor=admin, catalog=catalog
        )
        get_patient(uow, created.patient_id, actor=admin)
        capsys.readouterr()
        assert main(["audit", "verify"]) == 0
        assert "Audit trail intact: 4 events" in capsys.readouterr().out
        with database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            else:
                connection.execute(text("DROP TRIGGER audit_event_no_update"))
            connection.execute(text("UPDATE audit_event SET actor_user_id = 99 WHERE seq = 4"))
    finally:
        database.close()
    # Event 4 was verified before it was changed: only a full walk hashes it again.
    assert main(["audit", "verify", "--full"]) == 1
    assert "AUDIT TRAIL BROKEN at event 4" in capsys.readouterr().out
    assert main(["audit", "verify", "--full", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["ok"], report["checked"], report["broken"]["seq"]) == (False, 3, 4)


def _tamper(database_url: str, statement: str) -> None:
    """Change the trail as someone with the database owner's rights could (triggers off)."""
    database = open_database(database_url)
    try:
        with database.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            else:
                connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
                connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
            connection.execute(text(statement))
            if connection.dialect.name == "postgresql":
                connection.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
    finally:
        database.close()


def test_audit_verify_hashes_only_the_events_since_its_last_check(
    env_database: str, catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 19: a check costs the events written since the last one, not the whole trail; a
    trail cut or rewritten from the last verified event, or a changed new event, still fails."""
    assert main(["db", "migrate"]) == 0
    database = open_database(env_database)
    try:
        uow = UnitOfWork(database.session_factory)
        admin = set_up_clinic(uow, name="Clinic", time_zone="UTC", admin_email="a@clinic.example")
        created = create_patient(
            uow, PatientDetails(full_name="Pat", weight="70 kg"), actor=admin, catalog=catalog
        )

        def reads(count: int) -> None:
            for _ in range(count):
                get_patient(uow, created.patient_id, actor=admin)

        capsys.readouterr()
        assert main(["audit", "verify", "--json"]) == 0
        first = json.loads(capsys.readouterr().out)
        assert (first["from_seq"], first["checked"], first["since_check_of"]) == (1, 3, None)
        reads(5)
        assert main(["audit", "verify", "--json"]) == 0
        second = json.loads(capsys.readouterr().out)
        assert (second["from_seq"], second["checked"]) == (4, 8)
        assert second["since_check_of"] is not None
        assert main(["audit", "verify"]) == 0  # nothing new: nothing hashed, still intact
        assert "Audit trail intact: 8 events (0 new since the check of" in capsys.readouterr().out
        reads(3)
    finally:
        database.close()

    _tamper(env_database, "UPDATE audit_event SET origin = 'elsewhere' WHERE seq = 10")
    assert main(["audit", "verify", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["from_seq"], report["checked"], report["broken"]["seq"]) == (9, 9, 10)

    _tamper(env_database, "UPDATE audit_event SET hash = 'rewritten' WHERE seq = 8")
    assert main(["audit", "verify"]) == 1
    assert "audit event 8 no longer has the hash it had" in capsys.readouterr().out
    assert main(["audit", "verify", "--full"]) == 1  # and the full walk agrees
    assert "AUDIT TRAIL BROKEN at event 8" in capsys.readouterr().out
