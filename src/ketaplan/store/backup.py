"""Backing up and restoring the embedded SQLite database, and knowing when a server uses it.

A backup is taken with SQLite's online backup API (:meth:`sqlite3.Connection.backup`): it copies
a consistent snapshot while ``ketaplan serve`` keeps answering (a copy of the file with ``cp``
could catch a transaction half-written to the WAL). The copy is written next to its destination
under a temporary name, switched to a rollback journal so that it is one self-contained file,
checked (:func:`check_copy`: schema revision and audit chain), and only then renamed into place.

A restore checks the backup the same way *before* touching anything, keeps the database it
replaces as ``<database>.pre-restore-<time>``, and writes the backup into the database through
the same backup API, under SQLite's own locks, so a reader never sees half a database. It
refuses a database that a running ``ketaplan serve`` holds (:func:`server_is_using`) unless
forced: the server would go on from the restored records without knowing it.

PostgreSQL has its own tools for this (``pg_dump`` and ``pg_restore``);
:func:`postgres_instructions` says how to use them.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ketaplan.errors import ConflictError, DatabaseNotReady, InputError
from ketaplan.store.audit import verify_audit_chain
from ketaplan.store.engine import SQLITE_BUSY_TIMEOUT_S, create_private_file
from ketaplan.store.schema import MIGRATE_COMMAND, current_revision, head_revision
from ketaplan.store.writer_gate import WriterGate

SERVE_LOCK_SUFFIX = ".serve-lock"


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL, or None for another database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if not url.database or url.database == ":memory:":
        raise InputError(
            "an in-memory SQLite database has no file to back up or restore",
            code="input.invalid_database_url",
        )
    return Path(url.database).absolute()


def _lock_path(database: Path) -> Path:
    return database.with_name(database.name + SERVE_LOCK_SUFFIX)


def hold_serve_lock(database: Path) -> IO[bytes]:
    """Mark ``database`` as served until the returned file is closed (or the process ends).

    A shared lock: several servers may use one database (they coordinate through SQLite's own
    locks); what the lock keeps out is a restore, which takes it exclusively.
    """
    handle = _lock_path(database).open("ab")
    fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
    return handle


def server_is_using(database: Path) -> bool:
    """Whether a ``ketaplan serve`` process holds ``database`` now."""
    lock = _lock_path(database)
    if not lock.exists():
        return False
    with lock.open("ab") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


@dataclass(frozen=True, slots=True)
class CopyCheck:
    """What :func:`check_copy` found in a database file."""

    path: Path
    revision: str
    audit_events: int
    last_hash: str
    size_bytes: int

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "revision": self.revision,
            "audit_events": self.audit_events,
            "last_hash": self.last_hash,
            "size_bytes": self.size_bytes,
        }


def check_copy(path: Path) -> CopyCheck:
    """Open ``path`` read-only and check that it is a ketaplan database at this code's schema
    revision whose audit chain verifies; refuse it otherwise, saying why."""
    if not path.is_file():
        raise InputError(
            f"{path} is not a file", code="input.not_found", fields={"path": str(path)}
        )
    engine = create_engine(f"sqlite:///file:{path.absolute()}?mode=ro&uri=true")
    try:
        try:
            revision = current_revision(engine)
            head = head_revision()
            if revision is None:
                raise InputError(
                    f"{path} is not a ketaplan database (it has no schema revision)",
                    code="backup.not_a_ketaplan_database",
                    fields={"path": str(path)},
                )
            if revision != head:
                raise DatabaseNotReady(
                    f"{path} is at schema revision {revision}, but this ketaplan needs {head}: "
                    "restore it with the ketaplan that made it, or migrate a copy first "
                    f"(KETAPLAN_DATABASE_URL=sqlite:///copy.db {MIGRATE_COMMAND}) and restore "
                    "the copy",
                    code="backup.wrong_revision",
                    fields={"path": str(path), "revision": revision, "required": head},
                )
            with Session(engine) as db:
                chain = verify_audit_chain(db)
        except (SQLAlchemyError, sqlite3.Error) as exc:
            reason = getattr(exc, "orig", None) or exc
            raise InputError(
                f"{path} cannot be read as a ketaplan database: {str(reason).strip()}",
                code="backup.unreadable",
                fields={"path": str(path)},
            ) from exc
    finally:
        engine.dispose()
    if chain.broken is not None:
        raise InputError(
            f"the audit trail in {path} is broken at event {chain.broken.seq}: "
            f"{chain.broken.reason}",
            code="backup.audit_chain_broken",
            fields={"path": str(path), "seq": chain.broken.seq},
        )
    if chain.records:
        first = chain.records[0]
        raise InputError(
            f"the records in {path} do not match its audit trail ({len(chain.records)} "
            f"found): {first.reason}",
            code="backup.records_tampered",
            fields={"path": str(path), "table": first.table, "id": first.record_id},
        )
    return CopyCheck(path, revision, chain.checked, chain.last_hash, path.stat().st_size)


def _copy(source: Path, destination: Path, *, source_read_only: bool) -> None:
    """SQLite's online backup of ``source`` into ``destination`` (created if missing, readable
    by its owner only: a copy holds the same patient records)."""
    create_private_file(destination)
    uri = f"file:{source}?mode=ro" if source_read_only else f"file:{source}?mode=rw"
    src = sqlite3.connect(uri, uri=True, timeout=30.0)
    try:
        dst = sqlite3.connect(destination, timeout=30.0)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _self_contained(path: Path) -> None:
    """Switch a fresh copy to a rollback journal: one file, no ``-wal`` beside it."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def backup_sqlite(database: Path, out: Path) -> CopyCheck:
    """A consistent copy of the live ``database`` at ``out`` (refused if ``out`` exists)."""
    if not database.is_file():
        raise InputError(
            f"there is no database at {database}",
            code="input.not_found",
            fields={"path": str(database)},
        )
    out = out.absolute()
    if out.exists():
        raise ConflictError(
            f"{out} already exists; give a new file name (a backup never overwrites anything)",
            code="backup.exists",
            fields={"path": str(out)},
        )
    if out == database:
        raise InputError("the backup cannot be the database itself", code="input.invalid")
    partial = out.with_name(f".{out.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(database, partial, source_read_only=False)
        _self_contained(partial)
        checked = check_copy(partial)  # once: the rename below changes no byte of it
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return replace(checked, path=out)


@dataclass(frozen=True, slots=True)
class Restored:
    """What :func:`restore_sqlite` did."""

    database: Path
    backup: CopyCheck
    previous: Path | None
    """Where the database that was replaced is kept (None if there was none)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "database": str(self.database),
            "backup": self.backup.to_dict(),
            "previous": str(self.previous) if self.previous else None,
        }


def restore_sqlite(backup: Path, database: Path, *, force: bool = False, now: datetime) -> Restored:
    """Replace ``database`` with the checked ``backup``; the old one is kept beside it."""
    backup = backup.absolute()
    if backup == database:
        raise InputError("the backup is the database itself", code="input.invalid")
    if not force and server_is_using(database):
        raise ConflictError(
            f"a running `ketaplan serve` is using {database}; stop it first (or pass --force "
            "to restore under it: it will go on from the restored records)",
            code="conflict.database_in_use",
            fields={"database": str(database)},
        )
    checked = check_copy(backup)
    previous = None
    # Hold the write turn of every ketaplan process on this database (the writer gate) from
    # before the pre-restore copy until the restore is in place: a write acknowledged in
    # between would otherwise be in neither (issue 14: --force under a busy server lost
    # writes). Writers queue meanwhile and go on from the restored records.
    gate = WriterGate(database, timeout_s=SQLITE_BUSY_TIMEOUT_S)
    gate.enter()
    try:
        if database.exists() and database.stat().st_size > 0:
            stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
            previous = database.with_name(f"{database.name}.pre-restore-{stamp}")
            _copy(database, previous, source_read_only=False)
            _self_contained(previous)
        _copy(backup, database, source_read_only=True)
    finally:
        gate.leave()
    return Restored(database, checked, previous)


def postgres_instructions(database_url: str, *, restoring: bool) -> str:
    """How to back up or restore a PostgreSQL database with its own tools."""
    url = make_url(database_url).set(drivername="postgresql")
    shown = url.render_as_string(hide_password=True)
    if restoring:
        return (
            "ketaplan restores only its embedded SQLite database; for PostgreSQL use "
            f'pg_restore: `pg_restore --clean --if-exists --no-owner --dbname "{shown}" '
            "BACKUP.dump` with the servers stopped, then `ketaplan db migrate` and "
            "`ketaplan audit verify`"
        )
    return (
        "ketaplan backs up only its embedded SQLite database; for PostgreSQL use pg_dump, "
        f"which takes a consistent copy while the servers run: `pg_dump --format=custom --file "
        f'BACKUP.dump "{shown}"` (and keep the dump off this machine)'
    )
