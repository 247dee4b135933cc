"""How ``ketaplan serve`` talks HTTP: uvicorn's HTTP/1.1 with Nagle's algorithm off, and
proxy headers trusted only from the proxies named.

Nagle's algorithm. With ``--workers`` above one, uvicorn binds the listening socket itself as
``socket.socket(family)`` (protocol number 0), and asyncio only switches ``TCP_NODELAY`` on for
accepted sockets marked as TCP. uvicorn writes a response's head and body separately, so
Nagle's algorithm holds the body back until the client's delayed ACK: about 40 ms added to
every response (measured by ``benchmarks/api_load.py``: 44 ms for a trivial endpoint with two
workers, 0.6 ms with one). Setting ``TCP_NODELAY`` on each connection removes that wait.

Proxy headers. The client's address is what the sign-in rate limit counts failures by (per
origin) and what the audit trail records. uvicorn, left to its defaults, rewrites it from
``X-Forwarded-For`` whenever the connection comes from 127.0.0.1: behind a proxy on another
machine every client then looks the same, and without a proxy any local process can claim any
origin (and so dodge the per-origin limit). :func:`proxy_options` makes the trust explicit:
none by default, so the address is the connection's peer; ``--forwarded-allow-ips`` names the
proxies whose headers are believed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import TypedDict

from uvicorn.protocols.http.h11_impl import H11Protocol

from ketaplan.errors import InputError


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


class ProxyOptions(TypedDict, total=False):
    """uvicorn's settings for ``X-Forwarded-For`` and ``X-Forwarded-Proto``."""

    proxy_headers: bool
    forwarded_allow_ips: list[str]


def proxy_options(forwarded_allow_ips: str | None) -> ProxyOptions:
    """uvicorn's proxy settings for a comma-separated list of trusted proxy addresses.

    Nothing (the default) trusts no proxy: headers are ignored and the client address is the
    socket's peer. Otherwise each entry is an IP address or network (``10.0.0.0/8``), or
    ``*`` for every peer (only when nothing but the proxy can reach the server); from those
    peers uvicorn takes the client address from ``X-Forwarded-For``.

    Examples
    --------
    >>> proxy_options(None)
    {'proxy_headers': False}
    >>> proxy_options("127.0.0.1, 10.0.0.0/8")
    {'proxy_headers': True, 'forwarded_allow_ips': ['127.0.0.1', '10.0.0.0/8']}
    """
    entries = [entry.strip() for entry in (forwarded_allow_ips or "").split(",") if entry.strip()]
    if not entries:
        return {"proxy_headers": False}
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise InputError(
                f"--forwarded-allow-ips: {entry!r} is not an IP address or network; give the "
                "addresses of the proxies in front of ketaplan, comma-separated (e.g. "
                "127.0.0.1 or 10.0.0.0/8), or * for any",
                code="input.invalid_address",
                fields={"field": "forwarded_allow_ips", "value": entry},
            ) from None
    return {"proxy_headers": True, "forwarded_allow_ips": entries}
