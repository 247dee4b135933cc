"""`ketaplan serve`'s HTTP protocol turns Nagle's algorithm off on each TCP connection."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from ketaplan.http.transport import disable_nagle


class _Transport(asyncio.BaseTransport):
    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._sock if name == "socket" else default


def test_a_tcp_connection_sends_small_writes_at_once() -> None:
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()),
    ):
        accepted, _ = server.accept()
        with accepted:
            # What uvicorn's multi-worker socket gives: Nagle on.
            accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            disable_nagle(_Transport(accepted))
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_a_unix_socket_is_left_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        disable_nagle(_Transport(left))  # no TCP options on a Unix socket: must not raise
