"""Keeping the service's database: open, check, migrate, back up, restore, verify the trail.

The operations an operator (``ketaplan db``, ``backup``, ``restore``, ``audit``, ``serve``) or a
load balancer (the health check) asks for, as use cases: the CLI and the HTTP adapters call
these and never the store (:mod:`ketaplan.store`) themselves, so a change in how the store does
them stays behind one door. Each one opens and closes what it opens; what it raises is
ketaplan's own error (an unreachable database is :class:`~ketaplan.errors.DatabaseNotReady`),
never a driver's.

:class:`Database` is the handle the composition root (:mod:`ketaplan.app`) opens and the
request context holds: adapters pass it on to services and do not reach into it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ketaplan.errors import InputError, NotFoundError
from ketaplan.services.actors import Actor
from ketaplan.services.clinics import load_actor
from ketaplan.services.unit_of_work import UnitOfWork, utc_now
from ketaplan.store import (
    ChainVerification,
    Database,
    Migration,
    make_engine,
    migrate,
    open_database,
    safe_url,
    unavailable,
    verify_audit_chain,
)
from ketaplan.store.audit import ChainAnchor, VerifiedPosition, chain_anchor
from ketaplan.store.audit_position import load_position, save_position
from ketaplan.store.backup import (
    CopyCheck,
    Restored,
    backup_sqlite,
    hold_serve_lock,
    postgres_instructions,
    restore_sqlite,
    sqlite_path,
)
from ketaplan.store.models import Clinic, User

__all__ = [
    "AuditCheck",
    "ChainAnchor",
    "CopyCheck",
    "Database",
    "Migration",
    "Restored",
    "VerifiedPosition",
    "audit_anchor",
    "back_up",
    "check_reachable",
    "describe_database",
    "migrate_database",
    "open_service_database",
    "operator_admin",
    "operator_unit_of_work",
    "restore",
    "serve_lock",
    "sqlite_file",
    "verify_audit_trail",
]


def open_service_database(database_url: str, *, read_only: bool = False) -> Database:
    """Connect, and refuse to go on unless the schema is at this code's revision."""
    return open_database(database_url, read_only=read_only)


def check_reachable(database: Database) -> None:
    """Whether the database answers a query (the health check); a 503's error otherwise."""
    try:
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise unavailable(database.engine, exc) from exc


def describe_database(database_url: str) -> str:
    """The (migrated) database at ``database_url`` as it may be shown, with no password;
    refuses an un-migrated or unreachable one (``ketaplan serve`` before its workers start)."""
    database = open_database(database_url)
    try:
        return safe_url(database.engine)
    finally:
        database.close()


def migrate_database(database_url: str) -> Migration:
    """Create the tables, or upgrade them to this version of ketaplan (``ketaplan db migrate``)."""
    engine = make_engine(database_url)
    try:
        return migrate(engine)
    except OperationalError as exc:
        raise unavailable(engine, exc) from exc
    finally:
        engine.dispose()


@contextmanager
def serve_lock(database_url: str) -> Iterator[None]:
    """While the server runs on an embedded database, the lock that tells ``ketaplan restore``
    so (nothing to hold on PostgreSQL)."""
    path = sqlite_path(database_url)
    lock = hold_serve_lock(path) if path is not None else None
    try:
        yield
    finally:
        if lock is not None:
            lock.close()


def sqlite_file(database_url: str, *, restoring: bool) -> Path:
    """The embedded database's file; on PostgreSQL, an error saying how to use its own tools."""
    path = sqlite_path(database_url)
    if path is None:
        raise InputError(
            postgres_instructions(database_url, restoring=restoring),
            code="backup.use_postgres_tools",
        )
    return path


def back_up(database: Path, out: Path) -> CopyCheck:
    """Copy the database to ``out`` while it stays in use; the copy is checked before kept."""
    return backup_sqlite(database, out)


def restore(backup: Path, database: Path, *, force: bool, now: datetime) -> Restored:
    """Replace the database with ``backup`` after checking its schema and audit chain."""
    return restore_sqlite(backup, database, force=force, now=now)


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """What ``ketaplan audit verify`` found, and when this machine last checked (if it did
    and the check started there)."""

    result: ChainVerification
    since_check_of: str | None


def _database_key(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database:
        return f"sqlite:///{Path(url.database).resolve()}"
    return url.render_as_string(hide_password=True)


def verify_audit_trail(
    database_url: str, *, full: bool, anchor: VerifiedPosition | None, now: datetime
) -> AuditCheck:
    """Walk the audit trail from where the last check on this machine ended (the whole of it
    when ``full``), read-only, and remember how far it is intact."""
    database = open_database(database_url, read_only=True)
    key = _database_key(database_url)
    known = None if full else load_position(key)
    try:
        with database.session_factory() as session:
            result = verify_audit_chain(session, since=known[0] if known else None, anchor=anchor)
    finally:
        database.close()
    if result.ok and result.checked:
        save_position(key, result.position, now)
    return AuditCheck(result, known[1] if known else None)


def audit_anchor(database_url: str) -> ChainAnchor:
    """The audit chain's head, read-only (``ketaplan audit anchor``)."""
    database = open_database(database_url, read_only=True)
    try:
        with database.session_factory() as session:
            return chain_anchor(session)
    finally:
        database.close()


@contextmanager
def operator_unit_of_work(
    database_url: str, *, clock: Callable[[], datetime] | None = None
) -> Iterator[UnitOfWork]:
    """A unit of work on the (migrated) database for an operator's command (``clock``: what
    it stamps records with, the wall clock by default); closed after."""
    database = open_database(database_url)
    try:
        yield UnitOfWork(database.session_factory, clock=clock or utc_now)
    finally:
        database.close()


def operator_admin(uow: UnitOfWork) -> Actor:
    """Who an operator at the server acts as without ``--as``: the first active admin of the
    only clinic; refused when there is no clinic, several, or no active admin."""
    with uow:
        clinics = uow.db.scalar(select(func.count()).select_from(Clinic)) or 0
        if clinics == 0:
            raise NotFoundError(
                "there is no clinic in this database yet (`ketaplan demo-data` sets one up)",
                code="not_found.clinic",
            )
        if clinics > 1:
            raise InputError(
                "this database holds several clinics; say which admin acts with --as EMAIL",
                code="input.missing",
                fields={"field": "as"},
            )
        first_admin = uow.db.scalar(
            select(User.email).where(User.role == "admin", User.active).order_by(User.id).limit(1)
        )
    if first_admin is None:
        raise NotFoundError("the clinic has no active admin", code="not_found.admin")
    return load_actor(uow, first_admin, origin="cli")
