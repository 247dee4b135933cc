"""`ketaplan user`, `ketaplan backup` and `ketaplan restore` against real databases."""

from __future__ import annotations

import io
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.services import PatientDetails, UnitOfWork, create_patient, set_up_clinic
from ketaplan.services.accounts import sign_in
from ketaplan.store import Database, open_database
from ketaplan.store.audit import ChainVerification
from ketaplan.store.backup import hold_serve_lock, sqlite_path
from ketaplan.store.models import AuditEvent, User

PASSWORD = "a long enough passphrase"


@pytest.fixture
def clinic_database(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Database:
    """A migrated database with a clinic and its admin, named by KETAPLAN_DATABASE_URL."""
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    set_up_clinic(
        UnitOfWork(database.session_factory),
        name="Bay Ketamine Clinic",
        time_zone="America/Los_Angeles",
        admin_email="admin@bay.example",
    )
    return database


def _stdin(monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(content))


# ------------------------------------------------------------------- users ----


def test_user_add_reads_the_password_from_stdin_and_acts_as_the_clinics_first_admin(
    clinic_database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, PASSWORD + "\n")
    code = main(
        ["user", "add", "--email", "Nurse@Bay.example", "--role", "nurse", "--password-stdin"]
    )
    assert code == 0, capsys.readouterr().err
    assert "Added nurse@bay.example (nurse)" in capsys.readouterr().out
    done = sign_in(
        UnitOfWork(clinic_database.session_factory),
        "nurse@bay.example",
        PASSWORD,
        kind="bearer",
        origin="test",
    )
    assert done.actor.role == "nurse"
    with clinic_database.session_factory() as session:
        created = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "user.create").order_by(AuditEvent.seq)
        ).all()[-1]
        admin_id = session.scalar(select(User.id).where(User.email == "admin@bay.example"))
    assert (created.actor_user_id, created.origin) == (admin_id, "cli")


def test_user_add_refuses_a_password_that_is_not_on_stdin(
    clinic_database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, "")
    args = ["user", "add", "--email", "n@bay.example", "--role", "nurse"]
    assert main(args) == 2
    assert "--password-stdin" in capsys.readouterr().err
    assert main([*args, "--password-stdin"]) == 2
    assert "no password on standard input" in capsys.readouterr().err


def test_user_add_as_a_non_admin_is_refused(
    clinic_database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, PASSWORD + "\n")
    main(["user", "add", "--email", "p@bay.example", "--role", "prescriber", "--password-stdin"])
    _stdin(monkeypatch, PASSWORD + "\n")
    args = ["user", "add", "--email", "x@bay.example", "--role", "nurse", "--password-stdin"]
    assert main([*args, "--as", "p@bay.example"]) == 6
    assert "needs an admin" in capsys.readouterr().err


def test_user_password_sets_a_new_password_that_signs_in(
    clinic_database: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _stdin(monkeypatch, PASSWORD + "\n")
    main(["user", "add", "--email", "n@bay.example", "--role", "nurse", "--password-stdin"])
    _stdin(monkeypatch, "another long passphrase\n")
    assert main(["user", "password", "--email", "n@bay.example", "--password-stdin"]) == 0
    done = sign_in(
        UnitOfWork(clinic_database.session_factory),
        "n@bay.example",
        "another long passphrase",
        kind="bearer",
        origin="test",
    )
    assert done.actor.email == "n@bay.example"


# ------------------------------------------------------- backup and restore ----


def test_backup_and_restore_on_postgresql_say_how_to_use_pg_dump(
    clinic_database: Database,
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if sqlite_path(database_url) is not None:
        pytest.skip("the PostgreSQL message")
    assert main(["backup", str(tmp_path / "b.dump")]) == 2
    assert "pg_dump --format=custom" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "b.dump")]) == 2
    assert "pg_restore" in capsys.readouterr().err
    assert not (tmp_path / "b.dump").exists()


@pytest.fixture
def sqlite_clinic(clinic_database: Database, database_url: str) -> Path:
    path = sqlite_path(database_url)
    if path is None:
        pytest.skip("SQLite only: PostgreSQL is backed up with pg_dump")
    return path


def _patients(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT full_name FROM patient_version")]


def _add_patient(database: Database, catalog: Catalog, name: str) -> None:
    from ketaplan.services import load_actor

    uow = UnitOfWork(database.session_factory)
    admin = load_actor(uow, "admin@bay.example", origin="test")
    create_patient(
        uow, PatientDetails(full_name=name, weight="70 kg"), actor=admin, catalog=catalog
    )


def test_backup_copies_committed_records_while_others_write(
    sqlite_clinic: Path,
    clinic_database: Database,
    catalog: Catalog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _add_patient(clinic_database, catalog, "Before Backup")
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set() and n < 200:
            _add_patient(clinic_database, catalog, f"During {n}")
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        # An uncommitted write from elsewhere must not show up in the copy.
        pending = sqlite3.connect(sqlite_clinic, timeout=30)
        assert main(["backup", str(tmp_path / "copy.db"), "--json"]) == 0
    finally:
        stop.set()
        writer.join()
        pending.close()
    report = json.loads(capsys.readouterr().out)
    assert report["revision"]
    assert report["audit_events"] >= 3
    assert "Before Backup" in _patients(tmp_path / "copy.db")
    assert not Path(f"{tmp_path / 'copy.db'}-wal").exists()  # one self-contained file
    assert main(["backup", str(tmp_path / "copy.db")]) == 5  # never overwrites
    assert "already exists" in capsys.readouterr().err


def test_restore_replaces_the_database_and_keeps_the_old_one(
    sqlite_clinic: Path,
    clinic_database: Database,
    catalog: Catalog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _add_patient(clinic_database, catalog, "In The Backup")
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    _add_patient(clinic_database, catalog, "After The Backup")
    capsys.readouterr()
    assert main(["restore", str(tmp_path / "copy.db")]) == 0
    out = capsys.readouterr().out
    assert "audit trail intact" in out
    assert _patients(sqlite_clinic) == ["In The Backup"]
    previous = next(sqlite_clinic.parent.glob(f"{sqlite_clinic.name}.pre-restore-*"))
    assert sorted(_patients(previous)) == ["After The Backup", "In The Backup"]
    assert main(["audit", "verify"]) == 0
    # The service goes on from the restored records.
    _add_patient(clinic_database, catalog, "After The Restore")
    assert main(["audit", "verify"]) == 0


def test_restore_refuses_a_database_a_server_is_using_unless_forced(
    sqlite_clinic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    lock = hold_serve_lock(sqlite_clinic)
    try:
        assert main(["restore", str(tmp_path / "copy.db")]) == 5
        assert "running `ketaplan serve` is using" in capsys.readouterr().err
        assert main(["restore", str(tmp_path / "copy.db"), "--force"]) == 0
    finally:
        lock.close()
    assert main(["restore", str(tmp_path / "copy.db")]) == 0  # the server has stopped


def test_a_forced_restore_under_a_busy_server_loses_no_acknowledged_write(
    sqlite_clinic: Path,
    clinic_database: Database,
    catalog: Catalog,
    tmp_path: Path,
) -> None:
    """Issue 14: each write acknowledged while `restore --force` ran must be in the
    pre-restore copy (it came before) or in the restored database (it came after)."""
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    acknowledged: list[str] = []
    stop = threading.Event()

    def keep_writing() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            name = f"Written {n}"
            _add_patient(clinic_database, catalog, name)
            acknowledged.append(name)
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(acknowledged) < 5:  # the server is writing
            stop.wait(0.01)
        lock = hold_serve_lock(sqlite_clinic)
        try:
            assert main(["restore", str(tmp_path / "copy.db"), "--force"]) == 0
        finally:
            lock.close()
        written_when_restored = len(acknowledged)
        while len(acknowledged) < written_when_restored + 5:  # and goes on writing
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    previous = next(sqlite_clinic.parent.glob(f"{sqlite_clinic.name}.pre-restore-*"))
    kept = set(_patients(previous)) | set(_patients(sqlite_clinic))
    assert [name for name in acknowledged if name not in kept] == []
    assert main(["audit", "verify"]) == 0


def _tamper(path: Path, statement: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
        connection.execute(statement)


def test_restore_refuses_a_backup_whose_audit_chain_is_broken(
    sqlite_clinic: Path,
    clinic_database: Database,
    catalog: Catalog,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _add_patient(clinic_database, catalog, "Pat")
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    _tamper(tmp_path / "copy.db", "UPDATE audit_event SET origin = 'elsewhere' WHERE seq = 2")
    before = sqlite_clinic.read_bytes()
    assert main(["restore", str(tmp_path / "copy.db")]) == 2
    assert "audit trail in" in capsys.readouterr().err
    assert sqlite_clinic.read_bytes() == before


def test_restore_refuses_a_backup_at_another_schema_revision_or_not_ketaplans(
    sqlite_clinic: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    _tamper(tmp_path / "copy.db", "UPDATE alembic_version SET version_num = '0001'")
    assert main(["restore", str(tmp_path / "copy.db")]) == 7
    assert "schema revision 0001" in capsys.readouterr().err
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.close()
    assert main(["restore", str(tmp_path / "other.db")]) == 2
    assert "not a ketaplan database" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "missing.db")]) == 2


def test_the_database_opens_after_a_restore(sqlite_clinic: Path, tmp_path: Path) -> None:
    assert main(["backup", str(tmp_path / "copy.db")]) == 0
    assert main(["restore", str(tmp_path / "copy.db")]) == 0
    reopened = open_database(f"sqlite:///{sqlite_clinic}")
    try:
        with reopened.engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        reopened.close()


def test_serve_refuses_an_unmigrated_database_before_starting_workers(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    assert main(["serve", "--port", "1", "--workers", "2"]) == 7
    assert "run `ketaplan db migrate`" in capsys.readouterr().err


def test_a_backup_walks_the_audit_chain_once(
    sqlite_clinic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19: the copy was verified, renamed, then verified again (twice the walk)."""
    from ketaplan.store import backup

    walks: list[int] = []
    real_verify = backup.verify_audit_chain

    def counted(session: Session) -> ChainVerification:
        walks.append(1)
        return real_verify(session)

    monkeypatch.setattr(backup, "verify_audit_chain", counted)
    checked = backup.backup_sqlite(sqlite_clinic, tmp_path / "once.db")
    assert walks == [1]
    assert checked.path == (tmp_path / "once.db").absolute()
    assert checked.size_bytes == checked.path.stat().st_size
    assert checked.audit_events > 0
