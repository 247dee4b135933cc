"""The unit of work: one transaction, rolled back unless committed, with its audit events.

A service function opens it with ``with uow:``, does its reads and writes through
``uow.db``, records what it did with :meth:`UnitOfWork.audit`, and calls
:meth:`UnitOfWork.commit`. Commit flushes the changes, then chains the audit events onto the
trail (locking the chain head only for this last step), then commits: the change and its audit
rows land together or not at all. Leaving the block without commit (an error, a refusal) rolls
everything back. A commit with nothing audited is refused: every service transaction touches
records someone must be able to account for (the one exception, the sign-in throttle's counters,
commits through :meth:`UnitOfWork.commit_counters`).

A use case that only reads opens ``with uow.reading():`` instead. On SQLite every write
transaction holds the database's single write turn from its ``BEGIN IMMEDIATE`` to its commit,
so a read that held it while it read (a clinic's dashboard, a long chart) stalled every nurse's
save behind it. A reading unit of work reads in a deferred transaction beside the writers (WAL),
and its commit appends the audit events in a short write transaction of their own: the write
turn lasts as long as the audit append, whatever the read cost. The read's result is returned
only after its audit row has committed, so no read goes unrecorded; a reading unit of work that
changed a record is refused at commit.

A write's last audit event names every record version it wrote, by hash
(:mod:`ketaplan.store.audit_records`), so ``ketaplan audit verify`` finds records changed
outside ketaplan. Rows flushed from the ORM objects are collected automatically (after
every flush, so a service's own ``flush()`` is covered too). A statement that writes rows
directly (a Core ``insert``, ``update`` or ``delete``) is not seen: the service names the
rows it wrote with :meth:`UnitOfWork.wrote`; a row it forgets shows as changed or unaccounted
in the next full ``audit verify`` (the service tests run one over every write use case).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from ketaplan.services.actors import Actor, Visitor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.store import AuditEntry, append_audit_events
from ketaplan.store.audit_records import TABLES
from ketaplan.store.engine import READ_ONLY_OPTION
from ketaplan.store.models import Base

_WRITTEN = "ketaplan_written_records"
"""``Session.info`` key: the covered rows a write unit of work wrote, ``{table: {id}}``."""


@event.listens_for(Session, "after_flush")
def _note_flushed_records(db: Session, _flush: UOWTransaction) -> None:
    """Note the covered rows a flush wrote (after it: new rows have their ids; the session's
    new, dirty and deleted sets still hold what was flushed)."""
    written: dict[str, set[int]] | None = db.info.get(_WRITTEN)
    if written is None:
        return
    for instance in (*db.new, *db.dirty, *db.deleted):
        table = type(instance).__tablename__
        if table in TABLES:
            written.setdefault(table, set()).add(instance.id)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _begin_deferred(db: Session) -> None:
    """On SQLite, begin the transaction without the write turn (a plain ``BEGIN``)."""
    if isinstance(db.get_bind(), Engine):
        db.connection(execution_options={READ_ONLY_OPTION: True})


class UnitOfWork:
    """A transaction over the store. Reusable: each ``with`` block is a new transaction."""

    def __init__(
        self, db_factory: sessionmaker[Session], *, clock: Callable[[], datetime] = utc_now
    ) -> None:
        self._db_factory = db_factory
        self.clock = clock
        self._db: Session | None = None
        self._audit: list[AuditEntry] = []
        self._reading = False

    @property
    def db(self) -> Session:
        if self._db is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._db

    def reading(self) -> Self:
        """Open the next ``with`` block as a read (see the module docstring)."""
        if self._db is not None:
            raise RuntimeError("the unit of work is already open")
        self._reading = True
        return self

    def __enter__(self) -> Self:
        if self._db is not None:
            raise RuntimeError("the unit of work is already open")
        self._db = self._db_factory()
        self._audit = []
        if self._reading:
            _begin_deferred(self._db)
        else:
            self._db.info[_WRITTEN] = {}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, self._db = self.db, None
        self._audit = []
        self._reading = False
        try:
            db.rollback()  # a no-op after commit
        finally:
            db.close()

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        """A database session for a read that writes nothing and is not an action of its own,
        outside the unit of work's transaction: the stored password hash a signature is checked
        against, read *before* the write transaction so that no writer waits while Argon2
        runs. On SQLite it begins a deferred transaction (no write turn). Whatever is read
        here is checked again inside the write transaction that acts on it."""
        db = self._db_factory()
        try:
            _begin_deferred(db)
            yield db
        finally:
            db.rollback()
            db.close()

    def audit(
        self,
        actor: Actor | Visitor,
        action: AuditAction,
        entity_type: str,
        entity_id: object,
        *,
        patient_id: int | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Record what this transaction did; written when it commits, with the change.

        ``action`` is an :class:`AuditAction` member, never free text: its value is what is
        stored and hashed (a plain ``str``, so the store and the chain see what they always did).
        """
        if not isinstance(action, AuditAction):
            raise TypeError(f"an audit action is an AuditAction member, not {action!r}")
        self._audit.append(
            AuditEntry(
                action=action.value,
                entity_type=entity_type,
                entity_id=str(entity_id),
                actor_user_id=actor.user_id,
                actor_role=actor.role,
                origin=actor.origin,
                patient_id=patient_id,
                details=dict(details or {}),
            )
        )

    def wrote(self, model: type[Base], *ids: int) -> None:
        """Name rows this transaction inserted, updated or deleted by a statement rather than
        through the database session's objects: their versions go into its audit (see above)."""
        written: dict[str, set[int]] | None = self.db.info.get(_WRITTEN)
        if written is None:
            raise RuntimeError("a reading unit of work writes nothing; open it with `with uow:`")
        if model.__tablename__ in TABLES:
            written.setdefault(model.__tablename__, set()).update(ids)

    def commit(self) -> None:
        """Flush the changes, chain the audit events with the records written, commit; all or
        nothing."""
        if not self._audit:
            raise RuntimeError("refusing to commit a transaction that recorded no audit event")
        if self._reading:
            self._commit_read()
            return
        db = self.db
        db.flush()
        written = db.info.get(_WRITTEN)
        db.info[_WRITTEN] = {}  # a later commit in the same block records its own
        append_audit_events(db, self._audit, self.clock(), written)
        self._audit = []
        self._commit_transaction(db)

    def _commit_read(self) -> None:
        """Record a read: its audit events in a write transaction of their own. The read's
        session is closed, not rolled back, so what it loaded stays readable."""
        db = self.db
        if db.new or db.dirty or db.deleted:
            raise RuntimeError(
                "refusing to commit a read that changed records; open it with `with uow:`"
            )
        with self._db_factory() as writer:
            append_audit_events(writer, self._audit, self.clock())
            self._commit_transaction(writer)
        self._audit = []
        db.close()

    def commit_counters(self) -> None:
        """Commit a transaction that wrote only the sign-in throttle's counters
        (:mod:`ketaplan.services.throttle`), with no audit event: they are bookkeeping about
        no record, committed before a password is checked; the attempt they count is audited
        with its outcome, in the transaction that follows the check."""
        self._audit = []
        self.db.commit()

    def _commit_transaction(self, db: Session) -> None:
        """The last step of :meth:`commit`, on the database session holding the writes and the audit
        rows (a seam: tests make it fail after the writes)."""
        db.commit()

    def rollback(self) -> None:
        self._audit = []
        self.db.rollback()
        if not self._reading:
            self.db.info[_WRITTEN] = {}
