"""A full check's records hashed beside the chain walk, not after it.

``audit verify --full`` does two walks that need each other only at the end: the chain (every
event hashed, and the ledger of what each event says each record should be) and the records
(every covered row hashed). So, on a long trail, the rows are hashed meanwhile, and only the
comparison waits for both: the full check takes about as long as the longer walk instead of
both in turn (on a machine with a second core).

Both walks must read the same records.

* PostgreSQL: a thread on a second connection reads the rows' digests (computed by the server)
  in the walk's own snapshot (``pg_export_snapshot``, ``SET TRANSACTION SNAPSHOT``); the walk's
  transaction must be one snapshot itself (``REPEATABLE READ``, as ``audit verify`` opens it).
  A thread suffices: the server does the hashing, and the driver lets go of Python's lock while
  it waits.
* SQLite: the rows are hashed in Python, so a thread would only take turns with the walk; a
  forked child opens the file read-only in a read transaction of its own and reports the chain
  head its snapshot holds, and its hashes are used only if that head is the one the walk stops
  at. Every write ketaplan makes appends to the chain in the same transaction, so the same head
  means the same writes: no record the walk judges can differ between the two snapshots.

Anything else (another head, a helper that failed, no ``fork`` on this platform, threads in
this process, a walk that is not one snapshot, a trail too short to be worth it) and the rows
are hashed after the walk as before, so this can only save time; the comparison is the same
either way (:func:`~ketaplan.store.audit_records.compare_digests`).
"""

from __future__ import annotations

import multiprocessing
import re
import sqlite3
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ketaplan.store.audit_records import (
    POSTGRES_ROW_DIGESTS,
    SQLITE_ROW_TEXTS,
    row_text_digests,
    server_digests,
)

PARALLEL_FROM_EVENTS = 50_000
"""A trail shorter than this is checked in turn: starting a helper costs more than it saves
(read at each check, so tests can set it lower)."""

_UNMATCHED = "-" * 64
"""A row without a hash (SQLite could not write its text, or PostgreSQL found a NULL where none
belongs): kept as this, read back as None, and checked the exact way."""

_HEAD = "SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1"  # its one row
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")
_BATCH = 20_000


@dataclass(frozen=True, slots=True)
class RowHashes:
    """Every covered row's hash as the helper read it, table by table: its ids and their
    hashes joined, 64 hex digits each (compact to send between processes: 200,000 rows are
    about 14 MB)."""

    head: tuple[int, str]
    tables: dict[str, tuple[array[int], str]]

    def digests(self, name: str) -> Iterator[tuple[int, str | None]] | None:
        """``(id, hash)`` of each row of table ``name`` (hash None: check it the exact way),
        or None if the helper did not hash that table."""
        hashed = self.tables.get(name)
        if hashed is None:
            return None
        ids, joined = hashed
        return (
            (record_id, None if digest == _UNMATCHED else digest)
            for record_id, digest in zip(
                ids, (joined[at : at + 64] for at in range(0, len(joined), 64)), strict=True
            )
        )


class RowHashing(Protocol):
    """A helper hashing the covered rows beside the walk."""

    def result(self) -> RowHashes | None:
        """The hashes, once the helper is done, if they are of the walk's records; else None."""

    def stop(self) -> None:
        """End the helper (done, or no longer wanted)."""


def start_row_hashing(connection: Connection, head: tuple[int, str]) -> RowHashing | None:
    """Start hashing the covered rows beside a full walk on ``connection`` that stops at the
    chain head ``head`` (sequence, hash); None where it is not worth it or not safe."""
    if head[0] < PARALLEL_FROM_EVENTS:
        return None
    if connection.dialect.name == "postgresql":
        return _SnapshotThread.start(connection, head)
    return _ForkedChild.start(connection, head)


def _collected(digests: Iterator[tuple[int, str | None]]) -> tuple[array[int], str]:
    ids: array[int] = array("q")
    hashes: list[str] = []
    for record_id, digest in digests:
        ids.append(record_id)
        hashes.append(_UNMATCHED if digest is None else digest)
    return ids, "".join(hashes)


class _ForkedChild:
    """SQLite: the rows hashed by a forked child in a read transaction of its own."""

    def __init__(self, process: Any, receiver: Pipe, head: tuple[int, str]) -> None:
        self._process = process
        self._receiver = receiver
        self._head = head

    @classmethod
    def start(cls, connection: Connection, head: tuple[int, str]) -> _ForkedChild | None:
        path = connection.engine.url.database
        if (
            not path
            or path == ":memory:"
            or "fork" not in multiprocessing.get_all_start_methods()
            or threading.active_count() > 1  # forking a threaded process can deadlock the child
        ):
            return None
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_hash_sqlite_rows, args=(str(Path(path).resolve()), sender), daemon=True
        )
        process.start()
        sender.close()
        return cls(process, receiver, head)

    def result(self) -> RowHashes | None:
        """Waits for the hashes: the child does what this process would otherwise do."""
        try:
            hashes: RowHashes = self._receiver.recv()
        except (EOFError, OSError):  # the child ended without sending (it could not read)
            return None
        finally:
            self.stop()
        return hashes if hashes.head == self._head else None

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._receiver.close()


def _hash_sqlite_rows(path: str, sender: Pipe) -> None:
    """In the child: hash every row of the covered tables SQLite writes as text, in one read
    transaction of a read-only connection of its own, and send them with the head it saw.
    A database it cannot read sends nothing: the parent then hashes the rows itself, and meets
    the problem there if it is real."""
    try:
        database = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error:
        sender.close()
        return
    try:
        database.execute("PRAGMA query_only=ON")
        database.execute("BEGIN")
        seq, hash_ = database.execute(_HEAD).fetchone()
        tables = {
            name: _collected(row_text_digests(database, statement))
            for name, statement in SQLITE_ROW_TEXTS.items()
            if statement is not None
        }
        sender.send(RowHashes((seq, hash_), tables))
    except sqlite3.Error:
        pass
    finally:
        database.close()
        sender.close()


class _SnapshotThread:
    """PostgreSQL: the rows' digests read by a thread on a second connection, in the walk's
    snapshot."""

    def __init__(
        self, thread: threading.Thread, found: list[RowHashes], stopping: threading.Event
    ) -> None:
        self._thread = thread
        self._found = found
        self._stopping = stopping

    @classmethod
    def start(cls, connection: Connection, head: tuple[int, str]) -> _SnapshotThread | None:
        if connection.get_isolation_level() not in ("REPEATABLE READ", "SERIALIZABLE"):
            return None  # the walk reads a new snapshot per statement: nothing to share
        snapshot = connection.exec_driver_sql("SELECT pg_catalog.pg_export_snapshot()").scalar()
        if not isinstance(snapshot, str) or not _SNAPSHOT_ID.fullmatch(snapshot):
            return None
        found: list[RowHashes] = []
        stopping = threading.Event()
        thread = threading.Thread(
            target=_hash_postgres_rows,
            args=(connection.engine, snapshot, head, found, stopping),
            name="ketaplan-row-digests",
            daemon=True,
        )
        thread.start()
        return cls(thread, found, stopping)

    def result(self) -> RowHashes | None:
        self._thread.join()
        return self._found[0] if self._found else None

    def stop(self) -> None:
        self._stopping.set()  # the walk ended early (a broken chain): read no further
        self._thread.join()


def _hash_postgres_rows(
    engine: Engine,
    snapshot: str,
    head: tuple[int, str],
    found: list[RowHashes],
    stopping: threading.Event,
) -> None:
    """In the thread: each covered table's row digests, in the exported snapshot. A failure
    hands back nothing: the walk then reads the digests itself, and meets the problem there if
    it is real."""
    try:
        with engine.connect() as reader, reader.begin():
            reader.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            reader.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            driver: Any = reader.connection.dbapi_connection
            tables = {}
            for name, statement in POSTGRES_ROW_DIGESTS.items():
                if statement is not None:
                    tables[name] = _collected(server_digests(driver, statement, _BATCH, stopping))
                if stopping.is_set():
                    return
        found.append(RowHashes(head, tables))
    except (SQLAlchemyError, engine.dialect.loaded_dbapi.Error):
        pass
