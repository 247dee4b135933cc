"""The SQLite writer gate: one write transaction at a time, handed over as soon as it ends.

SQLite's own lock is the guarantee; these tests check that the gate in front of it queues
writers (threads and processes), lets go on commit, rollback and close, leaves readers alone,
and gives up with SQLite's "database is locked" after its timeout.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from ketaplan.store import make_engine
from ketaplan.store.engine import make_lookup_engine, make_session_factory
from ketaplan.store.writer_gate import (
    CHECKPOINT_EVERY_COMMITS,
    LOCK_SUFFIX,
    GatedConnection,
    WriterGate,
)

from .conftest import writer_gate


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    made = make_engine(f"sqlite:///{tmp_path / 'gate.db'}")
    with made.begin() as connection:
        connection.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, writer TEXT)"))
    yield made
    made.dispose()


def test_a_write_transaction_holds_the_gate_until_commit_or_rollback(engine: Engine) -> None:
    gate = writer_gate(engine)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO note (writer) VALUES ('a')"))
        assert gate._threads.locked()
    assert not gate._threads.locked()
    held_during: list[bool] = []

    def refused_half_way() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO note (writer) VALUES ('b')"))
            held_during.append(gate._threads.locked())
            raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        refused_half_way()
    assert held_during == [True]
    assert not gate._threads.locked()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT writer FROM note")).scalars().all() == ["a"]


def test_a_read_only_lookup_does_not_wait_for_the_gate(engine: Engine) -> None:
    gate = writer_gate(engine)
    lookups = make_session_factory(make_lookup_engine(engine))
    with engine.begin() as writer:
        writer.execute(text("INSERT INTO note (writer) VALUES ('a')"))
        with lookups() as session:  # same thread, gate held: a reader still gets in
            assert session.execute(text("SELECT count(*) FROM note")).scalar_one() == 0
        assert gate._threads.locked()


def test_threads_take_turns_and_no_write_is_lost(engine: Engine) -> None:
    def write(name: str) -> None:
        for n in range(25):
            with engine.begin() as connection:
                count = connection.execute(text("SELECT count(*) FROM note")).scalar_one()
                connection.execute(
                    text("INSERT INTO note (id, writer) VALUES (:id, :w)"),
                    {"id": count + 1, "w": f"{name}{n}"},
                )

    threads = [threading.Thread(target=write, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        ids = connection.execute(text("SELECT id FROM note ORDER BY id")).scalars().all()
    assert ids == list(range(1, 101))  # read-then-write never raced: one writer at a time


def test_a_writer_in_another_process_is_waited_for(engine: Engine, tmp_path: Path) -> None:
    database = tmp_path / "gate.db"
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from sqlalchemy import text\n"
            "from ketaplan.store import make_engine\n"
            f"engine = make_engine('sqlite:///{database}')\n"
            "with engine.begin() as c:\n"
            "    c.execute(text(\"INSERT INTO note (writer) VALUES ('other')\"))\n"
            "    print('holding', flush=True)\n"
            "    time.sleep(0.5)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with engine.begin() as connection:
            waited_s = time.monotonic() - started
            connection.execute(text("INSERT INTO note (writer) VALUES ('here')"))
    assert waited_s > 0.2  # it queued behind the other process's transaction
    with engine.connect() as connection:
        assert connection.execute(text("SELECT writer FROM note ORDER BY id")).scalars().all() == [
            "other",
            "here",
        ]


def test_the_gate_gives_up_with_database_is_locked(engine: Engine) -> None:
    gate = writer_gate(engine)
    gate.timeout_s = 0.2
    with engine.begin() as first:
        first.execute(text("INSERT INTO note (writer) VALUES ('a')"))
        failure: list[BaseException] = []

        def second() -> None:
            try:
                with engine.begin() as connection:
                    connection.execute(text("INSERT INTO note (writer) VALUES ('b')"))
            except OperationalError as error:
                failure.append(error)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    assert len(failure) == 1
    assert "database is locked" in str(failure[0])
    assert not gate._threads.locked()  # the first one's commit let go


def test_the_gate_file_sits_beside_the_database(engine: Engine, tmp_path: Path) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO note (writer) VALUES ('a')"))
    assert (tmp_path / ("gate.db" + LOCK_SUFFIX)).exists()


def test_an_in_memory_database_has_no_gate() -> None:
    engine = make_engine("sqlite://")
    try:
        with engine.begin() as connection:
            assert not isinstance(connection.connection.dbapi_connection, GatedConnection)
    finally:
        engine.dispose()


def test_a_connection_dropped_mid_transaction_lets_go_of_the_gate(tmp_path: Path) -> None:
    import gc
    import sqlite3

    gate = WriterGate(tmp_path / "gate.db", timeout_s=0.2)
    dropped = sqlite3.connect(tmp_path / "gate.db", factory=GatedConnection)
    dropped.gate = gate
    dropped.enter_gate()
    assert gate._threads.locked()
    del dropped
    gc.collect()
    assert not gate._threads.locked()
    gate.enter()  # and the file lock is free too
    gate.leave()


def test_checkpoints_run_after_the_writer_has_left_the_gate(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's automatic checkpoint ran inside COMMIT, with every queued writer waiting."""
    gate = writer_gate(engine)
    seen: list[tuple[bool, bool]] = []
    checkpoint = GatedConnection.checkpoint

    def watched(connection: GatedConnection) -> None:
        seen.append((gate._threads.locked(), connection.in_transaction))
        checkpoint(connection)

    monkeypatch.setattr(GatedConnection, "checkpoint", watched)
    for _ in range(CHECKPOINT_EVERY_COMMITS):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO note (writer) VALUES ('a')"))
    assert seen == [(False, False)]
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0


def test_the_write_ahead_log_is_copied_back_and_reused(engine: Engine, tmp_path: Path) -> None:
    # 3 x 64 commits of 16 KB: 3 MB of log without checkpoints, under SQLite's own 4 MB
    # threshold, so only the gate's checkpoints keep it small.
    for _ in range(3 * CHECKPOINT_EVERY_COMMITS):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO note (writer) VALUES (:w)"), {"w": "x" * 16384})
    assert (tmp_path / "gate.db-wal").stat().st_size < 2_000_000
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM note").scalar() == 192
