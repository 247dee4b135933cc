"""Persistence: SQLAlchemy models, engines, Alembic migrations and the audit chain.

Entry points open the database with :func:`open_database`, which refuses a database that is not
migrated; ``ketaplan db migrate`` uses :func:`migrate`. Services never build engines; they get a
unit of work over :attr:`Database.session_factory`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ketaplan.errors import DatabaseNotReady
from ketaplan.store.audit import (
    AuditEntry,
    BrokenLink,
    ChainVerification,
    append_audit_events,
    verify_audit_chain,
)
from ketaplan.store.engine import (
    make_engine,
    make_lookup_engine,
    make_session_factory,
    safe_url,
)
from ketaplan.store.schema import (
    MIGRATE_COMMAND,
    Migration,
    current_revision,
    head_revision,
    migrate,
    require_migrated,
)


@dataclass(frozen=True, slots=True)
class Database:
    """An open database: its engine and the factory of sessions over it."""

    engine: Engine
    session_factory: sessionmaker[Session]
    lookup_engine: Engine
    """For lookups that write nothing and need no audit row (the sign-in token check)."""

    def close(self) -> None:
        """Close pooled connections (tests and short-lived commands)."""
        self.lookup_engine.dispose()
        self.engine.dispose()

    @contextmanager
    def all_or_nothing(self) -> Iterator[sessionmaker[Session]]:
        """Sessions that all share one database transaction, committed only at the end.

        For a job made of many service calls that must land together or not at all (the demo
        clinic): each service still opens its unit of work and commits, but over this factory
        its commit only releases a savepoint inside the one transaction. Leaving the block
        normally commits everything; an exception rolls everything back, so a failure half-way
        leaves the database as it was. The transaction holds the write lock (SQLite) or the
        rows it wrote (PostgreSQL) until the end: keep such jobs short and rare.
        """
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                yield sessionmaker(
                    connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
                )
            except BaseException:
                transaction.rollback()
                raise
            transaction.commit()


def open_database(database_url: str, *, read_only: bool = False) -> Database:
    """Connect, and refuse to go on unless the schema is at this code's revision.
    ``read_only`` opens it so that nothing can change it (a check of it)."""
    if read_only:
        _require_sqlite_file(database_url)
    engine = make_engine(database_url, read_only=read_only)
    try:
        require_migrated(engine)
    except OperationalError as exc:
        engine.dispose()
        raise unavailable(engine, exc) from exc
    except BaseException:
        engine.dispose()
        raise
    lookups = engine if read_only else make_lookup_engine(engine)
    return Database(engine, make_session_factory(engine), lookups)


def _require_sqlite_file(database_url: str) -> None:
    """A read-only check of a SQLite file that is not there: the message an empty database
    gets (opening it read-only cannot create it, and must not)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    if not Path(url.database).exists():
        raise DatabaseNotReady(
            f"there is no database at {url.database}; run `{MIGRATE_COMMAND}` (with "
            "KETAPLAN_DATABASE_URL set to it) to create it",
            fields={"database": url.database, "revision": None},
        )


def unavailable(engine: Engine, exc: SQLAlchemyError) -> DatabaseNotReady:
    """A database that cannot be reached or opened, as ketaplan's error (no traceback)."""
    reason = getattr(exc, "orig", None) or exc
    return DatabaseNotReady(
        f"cannot open the database at {safe_url(engine)}: {str(reason).strip()}",
        code="database.unavailable",
        fields={"database": safe_url(engine)},
    )


__all__ = [
    "MIGRATE_COMMAND",
    "AuditEntry",
    "BrokenLink",
    "ChainVerification",
    "Database",
    "Migration",
    "append_audit_events",
    "current_revision",
    "head_revision",
    "make_engine",
    "make_session_factory",
    "migrate",
    "open_database",
    "require_migrated",
    "safe_url",
    "unavailable",
    "verify_audit_chain",
]
