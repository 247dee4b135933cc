"""Engines for SQLite and PostgreSQL, set up the same way wherever they are made.

SQLite (the embedded default) gets, on every new connection:

* ``journal_mode=WAL``: readers do not block the writer, and a crash leaves the last
  committed transaction intact;
* ``foreign_keys=ON``: SQLite ignores foreign keys unless asked, per connection;
* ``synchronous=NORMAL`` (safe with WAL: a committed transaction survives a process crash);
* a busy timeout, so a writer waits for the lock instead of failing at once;
* a writer gate (:mod:`ketaplan.store.writer_gate`) that queues write transactions before
  SQLite's lock, so the next writer starts as soon as the last one commits instead of sleeping
  in SQLite's busy handler; checkpoints run after a writer has left the gate, not inside
  its COMMIT.

Every SQLite transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock at the start,
so writers queue up in order instead of failing half-way with "database is locked" when a
read-then-write transaction tries to upgrade its lock. The exceptions read without the write
turn and begin a deferred transaction: a lookup that writes nothing (:func:`make_lookup_engine`)
and a use case that only reads (``UnitOfWork.reading``), which appends its audit row afterwards
in a short write transaction of its own.
This needs pysqlite's own implicit transaction handling turned off (``isolation_level = None``)
and SQLAlchemy's ``begin`` event to emit the BEGIN (the SQLAlchemy documentation's recipe for
SQLite transactions).

PostgreSQL goes through psycopg 3 at READ COMMITTED; the audit chain head is locked with
``SELECT ... FOR UPDATE`` (:mod:`ketaplan.store.audit`) and concurrent appends to one session
chart are decided by the unique ``(session_id, seq)`` constraint.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from ketaplan.store.writer_gate import GatedConnection, WriterGate

SQLITE_BUSY_TIMEOUT_S = 30.0


def _sqlite_on_connect(gate: WriterGate | None, dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if isinstance(dbapi_connection, GatedConnection):
            dbapi_connection.gate = gate
            cursor.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints after the gate
    finally:
        cursor.close()


READ_ONLY_OPTION = "ketaplan_read_only"


def _sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(READ_ONLY_OPTION):
        connection.exec_driver_sql("BEGIN")  # deferred: a reader takes no write lock
    else:
        dbapi_connection = connection.connection.dbapi_connection
        if isinstance(dbapi_connection, GatedConnection):
            try:
                dbapi_connection.enter_gate()
            except sqlite3.OperationalError as locked:  # the same error as SQLite's own lock
                raise OperationalError("BEGIN IMMEDIATE", None, locked) from None
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(database_url: str, *, read_only: bool = False) -> Engine:
    """An engine for ``database_url`` (``sqlite:///...`` or ``postgresql+psycopg://...``);
    ``read_only``: see :func:`make_read_only_engine`."""
    url = make_url(database_url)
    if read_only:
        return make_read_only_engine(url)
    if url.get_backend_name() == "sqlite":
        connect_args: dict[str, Any] = {"timeout": SQLITE_BUSY_TIMEOUT_S}
        gate = None
        if url.database and url.database != ":memory:":  # an in-memory database has one writer
            create_private_file(Path(url.database))
            gate = WriterGate(Path(url.database), timeout_s=SQLITE_BUSY_TIMEOUT_S)
            connect_args["factory"] = GatedConnection
        engine = create_engine(url, connect_args=connect_args, hide_parameters=True)
        event.listen(engine, "connect", partial(_sqlite_on_connect, gate))
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and readable by its owner only (0600), unless it exists.

    A database file and its copies hold patient records. SQLite gives the ``-wal`` and ``-shm``
    files it makes beside a database the database file's permissions, so creating the file
    first, private, keeps all three private whatever the process's umask. An empty file is an
    empty SQLite database. A missing folder is left for SQLite to report."""
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _read_only_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")  # deferred: a snapshot, and no write lock


def _query_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA query_only=ON")
    finally:
        cursor.close()


def _read_only_transactions(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.autocommit = True  # a plain SET, outside any transaction
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    dbapi_connection.autocommit = False


def make_read_only_engine(url: URL) -> Engine:
    """An engine that cannot change the database, for a check that must not modify what it
    checks (``ketaplan audit verify``).

    SQLite: the file opened with ``mode=ro`` (SQLite then never writes it: no checkpoint
    copies the write-ahead log into it, and the journal mode is read, not set), ``query_only``
    on, no writer gate, a deferred ``BEGIN`` per transaction. PostgreSQL: every transaction
    ``READ ONLY``.

    Either way a transaction reads one snapshot (SQLite's read transaction; ``REPEATABLE
    READ`` on PostgreSQL), so a check compares each record with the events as they stood at
    the same moment: a record a server updates during the check is not taken for tampering.
    """
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise ValueError("a read-only check needs a database file")
        uri = f"file:{quote(str(Path(url.database).resolve()))}?mode=ro"
        engine = create_engine(
            url,  # for messages; connections come from the creator
            creator=partial(sqlite3.connect, uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S),
            poolclass=NullPool,
        )
        event.listen(engine, "connect", _query_only)
        event.listen(engine, "begin", _read_only_begin)
        return engine
    engine = create_engine(url, pool_pre_ping=True, isolation_level="REPEATABLE READ")
    event.listen(engine, "connect", _read_only_transactions)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (services return values)."""
    return sessionmaker(engine, expire_on_commit=False)


def make_lookup_engine(engine: Engine) -> Engine:
    """The engine for lookups that write nothing (the sign-in token check on every request).

    On SQLite, the same pool with a plain, deferred ``BEGIN``: the lookup reads a snapshot
    beside the writer (WAL) instead of queueing for the write lock. On PostgreSQL, a pool of its
    own in autocommit: a single SELECT needs no ``BEGIN`` and ``ROLLBACK`` round trips around
    it, and switching a shared pool's connections in and out of autocommit costs more than
    those round trips.
    """
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{READ_ONLY_OPTION: True})
    return create_engine(
        engine.url, pool_pre_ping=True, isolation_level="AUTOCOMMIT", hide_parameters=True
    )


def safe_url(engine: Engine) -> str:
    """The engine's URL with any password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)
