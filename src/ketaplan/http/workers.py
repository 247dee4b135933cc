"""Worker processes for ``ketaplan serve --workers N``, each listening on a socket of its own.

Why not uvicorn's own supervisor: it binds one listening socket that every worker accepts
from, and asyncio accepts every waiting connection at once when a listening socket becomes
readable. A burst of new connections (a browser opening several at once, a proxy's pool, a
benchmark's clients) therefore all lands on whichever worker woke first and, kept alive,
stays there. Measured with ``benchmarks/api_load.py``: all 16 connections went to one of the
two workers, and two workers created no more plans per second than one.

Here each worker has a listening socket of its own on the same address (``SO_REUSEPORT``), and
Linux spreads new connections over the sockets by a hash of the client's address and port.
The supervisor makes the sockets before any worker starts, so a taken port is refused at once,
and a worker's socket outlives the worker: connections that arrive while a dead worker is being
replaced wait in its queue and are served by the replacement.

``SO_REUSEPORT`` lets any process of the same user join the port. :func:`listening_sockets`
therefore first binds the address without it, so that a second ``ketaplan serve`` (or anything
else already there) is refused instead of silently sharing the connections.

Other platforms do not spread connections over such sockets: :data:`SPREADS_CONNECTIONS` is
false there and ``ketaplan serve`` uses uvicorn's supervisor.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import threading

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Process

from ketaplan.errors import ConflictError, InputError

logger = logging.getLogger("uvicorn.error")

SPREADS_CONNECTIONS = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")
"""Whether the kernel spreads connections over sockets sharing a port (Linux does)."""

BACKLOG = 2048
"""Connections each socket queues before the kernel refuses more (uvicorn's default)."""


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_address_free(host: str, port: int) -> None:
    """Refuse an address that another process listens on, or that this machine does not have.

    Binding without ``SO_REUSEPORT`` fails whenever anything is bound to the port, including
    another ``ketaplan serve``'s shared sockets.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ConflictError(
                    f"port {port} on {host} is already in use (another ketaplan serve, or "
                    "another program); stop it or choose another --port",
                    code="serve.port_in_use",
                    fields={"host": host, "port": port},
                ) from None
            raise InputError(
                f"cannot listen on {host}:{port} ({error.strerror}); give an address of this "
                "machine, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)",
                code="input.invalid_address",
                fields={"field": "host", "value": host},
            ) from None


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets listening on ``host:port`` together, one for each worker."""
    check_address_free(host, port)
    sockets = []
    for _ in range(count):
        sock = socket.socket(_family(host), socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
        sockets.append(sock)
    return sockets


class Workers:
    """Run one uvicorn worker per socket until SIGINT or SIGTERM; replace a worker that dies
    or stops answering the health check, and stop altogether if one fails at start-up (a
    broken app fails the same way every time)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.stopping = threading.Event()
        self.processes: list[Process] = []

    def _start(self, sock: socket.socket) -> Process:
        process = Process(self.config, [sock])
        process.start()
        return process

    def run(self) -> None:
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, lambda *_: self.stopping.set())
        self.processes = [self._start(sock) for sock in self.sockets]
        while not self.stopping.wait(0.5):
            self._replace_dead_workers()
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.join()

    def _replace_dead_workers(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("Worker [%s] failed to start; stopping.", process.pid)
                self.stopping.set()
                return
            logger.warning("Worker [%s] died; starting a new one.", process.pid)
            self.processes[index] = self._start(self.sockets[index])
