"""``ketaplan serve --workers N``: each worker listens on a socket of its own, new connections
are spread over them, a taken port is refused, and a worker that dies is replaced."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ketaplan.cli import main
from ketaplan.errors import ConflictError
from ketaplan.http.workers import SPREADS_CONNECTIONS, check_address_free, listening_sockets
from ketaplan.store import Database

from .conftest import free_port

pytestmark = pytest.mark.skipif(not SPREADS_CONNECTIONS, reason="SO_REUSEPORT spreading: Linux")


@pytest.fixture
def port() -> int:
    return free_port()


def test_new_connections_are_spread_over_the_workers_sockets(port: int) -> None:
    sockets = listening_sockets("127.0.0.1", port, 2)
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
    try:
        accepted = [0, 0]
        deadline = time.monotonic() + 10
        # A selector (epoll), not select(): select() refuses descriptors above 1,023, which a
        # long test run's process can reach.
        with selectors.DefaultSelector() as ready:
            for sock in sockets:
                ready.register(sock, selectors.EVENT_READ)
            while sum(accepted) < len(clients) and time.monotonic() < deadline:
                for key, _events in ready.select(timeout=1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    connection, _ = sock.accept()
                    connection.close()
                    accepted[sockets.index(sock)] += 1
        # Each connection goes to one socket by a hash of its address and port: all 40 on one
        # socket would happen about once in 2**39 runs.
        assert sum(accepted) == 40
        assert min(accepted) > 0, accepted
    finally:
        for sock in [*clients, *sockets]:
            sock.close()


def test_a_port_something_listens_on_is_refused(port: int) -> None:
    taken = f"port {port} on 127.0.0.1 is already in use"
    with socket.create_server(("127.0.0.1", port)), pytest.raises(ConflictError, match=taken):
        check_address_free("127.0.0.1", port)


def test_a_second_server_cannot_join_the_workers_port(port: int) -> None:
    """SO_REUSEPORT would let it: the sockets would share the connections of two servers."""
    first = listening_sockets("127.0.0.1", port, 2)
    try:
        with pytest.raises(ConflictError) as refused:
            listening_sockets("127.0.0.1", port, 2)
        assert refused.value.code == "serve.port_in_use"
    finally:
        for sock in first:
            sock.close()


def test_serve_refuses_a_taken_port_before_starting(
    database: Database,
    database_url: str,
    port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    with socket.create_server(("127.0.0.1", port)):
        assert main(["serve", "--port", str(port), "--workers", "2"]) == 5
    assert "choose another --port" in capsys.readouterr().err


def _workers(supervisor: int) -> set[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    # The spawn start method adds a resource tracker process beside the workers.
    return {
        int(pid)
        for pid in children
        if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    }


@pytest.fixture
def serving(database: Database, database_url: str, port: int, tmp_path: Path) -> Iterator[int]:
    """``ketaplan serve --workers 2`` on ``port``; yields the supervisor's pid."""
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ketaplan", "serve", "--port", str(port), "--workers", "2"],
            env={**os.environ, "KETAPLAN_DATABASE_URL": database_url},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(lambda: _health(port) and len(_workers(process.pid)) == 2, log)
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


WORKER_START_S = 120


def _health(port: int, timeout_s: float = 5) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/health", timeout=timeout_s
        ) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _wait_for(condition: Callable[[], bool], log: Path, timeout_s: float = 120) -> None:
    """Wait for ``condition`` (a readiness wait, not a measurement: two workers importing the
    app took 40 s on this 2-core machine at a load of 13)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out; the server said:\n{log.read_text()}")


def test_a_worker_that_dies_is_replaced_and_no_connection_is_refused(
    serving: int, port: int, tmp_path: Path
) -> None:
    first, second = sorted(_workers(serving))
    os.kill(first, signal.SIGKILL)
    # While the replacement starts, connections hashed to the dead worker's socket wait in
    # its queue (the socket belongs to the supervisor): every one is answered, none refused.
    # An answer may wait as long as the replacement takes to start (seconds on a loaded
    # machine), so each waits up to WORKER_START_S: a wait, not a measurement.
    assert all(_health(port, timeout_s=WORKER_START_S) for _ in range(20))
    _wait_for(lambda: len(_workers(serving)) == 2, tmp_path / "serve.log")
    replacement = _workers(serving) - {second}
    assert len(replacement) == 1
    assert first not in replacement
    assert all(_health(port) for _ in range(20))
