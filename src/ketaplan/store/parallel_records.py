"""A full check's records hashed in a second process while this one walks the chain (SQLite).

``audit verify --full`` does two walks that need each other only at the end: the chain (every
event hashed, and the ledger of what each event says each record should be) and the records
(every covered row hashed). On SQLite both are Python loops over rows, so on a machine with a
second core the rows are hashed by a forked process while the chain is walked here, and only
the comparison waits for both: the full check takes about as long as the longer walk instead of
both in turn.

The two processes must read the same records. The child opens the database file read-only in a
read transaction of its own and reports the chain head its snapshot holds; its hashes are used
only if that head is the one this process's walk stops at. Every write ketaplan makes appends
to the chain in the same transaction, so the same head means the same writes: no record the
walk judges can have changed between the two snapshots. Anything else (another head, a child
that failed or was killed, no ``fork`` on this platform, threads in this process, a trail too
short to be worth a process) and the rows are hashed here as before, so this can only save
time; the comparison itself is the same either way
(:func:`~ketaplan.store.audit_records.compare_digests`).
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from ketaplan.store.audit_records import SQLITE_ROW_TEXTS, row_text_digests

PARALLEL_FROM_EVENTS = 50_000
"""A trail shorter than this is checked in one process: starting a second costs more than
it saves (it is read at each check, so tests can set it lower)."""

_UNMATCHED = "-" * 64
"""A row whose text SQLite could not write (sent as this, read back as None)."""

_HEAD = "SELECT last_seq, last_hash FROM audit_chain_head WHERE id = 1"  # its one row


@dataclass(frozen=True, slots=True)
class RowHashes:
    """Every covered row's hash as the child read it, table by table: its ids in row order and
    their hashes joined, 64 hex digits each (compact to send: 200,000 rows are ~14 MB)."""

    head: tuple[int, str]
    tables: dict[str, tuple[array[int], str]]

    def digests(self, name: str) -> Iterator[tuple[int, str | None]] | None:
        """``(id, hash)`` of each row of table ``name`` (hash None: check it the exact way),
        or None if the child did not hash that table."""
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


class RowHashing:
    """The child process hashing the covered rows; :meth:`result` waits for its hashes."""

    def __init__(self, process: Any, receiver: Pipe, head: tuple[int, str]) -> None:
        self._process = process
        self._receiver = receiver
        self._head = head

    @classmethod
    def start(cls, connection: Connection, head: tuple[int, str]) -> RowHashing | None:
        """Start hashing the rows of the SQLite file ``connection`` reads, for a walk that
        stops at chain head ``head`` (sequence, hash); None where it is not worth it or not
        safe (see the module's documentation)."""
        path = connection.engine.url.database
        if (
            connection.dialect.name != "sqlite"
            or not path
            or path == ":memory:"
            or head[0] < PARALLEL_FROM_EVENTS
            or "fork" not in multiprocessing.get_all_start_methods()
            or threading.active_count() > 1  # forking a threaded process can deadlock the child
        ):
            return None
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_hash_rows, args=(str(Path(path).resolve()), sender), daemon=True
        )
        process.start()
        sender.close()
        return cls(process, receiver, head)

    def result(self) -> RowHashes | None:
        """The child's hashes, if it read the same chain head as the walk; else None. Waits
        for them: the child does what this process would otherwise do."""
        try:
            hashes: RowHashes = self._receiver.recv()
        except (EOFError, OSError):  # the child ended without sending (it could not read)
            return None
        finally:
            self.stop()
        return hashes if hashes.head == self._head else None

    def stop(self) -> None:
        """End the child (done, or no longer wanted) and close the pipe."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._receiver.close()


def _hash_rows(path: str, sender: Pipe) -> None:
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
        tables: dict[str, tuple[array[int], str]] = {}
        cursor = database.cursor()
        for name, statement in SQLITE_ROW_TEXTS.items():
            if statement is None:
                continue
            ids: array[int] = array("q")
            digests: list[str] = []
            for record_id, digest in row_text_digests(cursor, statement):
                ids.append(record_id)
                digests.append(_UNMATCHED if digest is None else digest)
            tables[name] = (ids, "".join(digests))
        sender.send(RowHashes((seq, hash_), tables))
    except sqlite3.Error:
        pass
    finally:
        database.close()
        sender.close()
