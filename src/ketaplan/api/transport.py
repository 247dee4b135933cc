"""The HTTP/1.1 protocol ``ketaplan serve`` runs: uvicorn's, with Nagle's algorithm off.

With ``--workers`` above one, uvicorn binds the listening socket itself as
``socket.socket(family)`` (protocol number 0), and asyncio only switches ``TCP_NODELAY`` on for
accepted sockets marked as TCP. uvicorn writes a response's head and body separately, so
Nagle's algorithm holds the body back until the client's delayed ACK: about 40 ms added to
every response (measured by ``benchmarks/api_load.py``: 44 ms for a trivial endpoint with two
workers, 0.6 ms with one). Setting ``TCP_NODELAY`` on each connection removes that wait.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


def disable_nagle(transport: asyncio.BaseTransport) -> None:
    """Send small writes at once on a TCP connection (a no-op for Unix sockets)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        disable_nagle(transport)
        super().connection_made(transport)


HTTP_PROTOCOL = f"{__name__}:{NoDelayH11Protocol.__name__}"
"""What ``uvicorn.run(http=...)`` takes: an import string, so that worker processes load it."""
