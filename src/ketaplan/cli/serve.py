"""``ketaplan serve``: the REST API under uvicorn, with one or more worker processes.

The database is checked *before* any worker starts: an un-migrated or unreachable database is
refused here with the command that fixes it (exit 7), instead of every worker failing on its own
with a traceback. Each worker then builds the app with the factory
``ketaplan.app:app_from_environment``, which reads the same ``KETAPLAN_DATABASE_URL``; the
normalised URL is put back into the environment so the workers cannot read it differently.

For a SQLite database the serving process holds an exclusive lock on ``<database>.serve-lock``
while it runs (:func:`hold_serve_lock`): ``ketaplan restore`` checks it so that it never swaps
the database under a running server without ``--force``. The kernel drops the lock when the
process ends, however it ends, so a crash leaves nothing stale behind.

Proxy headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are ignored unless
``--forwarded-allow-ips`` names the proxies to believe: the client address that the sign-in
rate limit and the audit trail use is otherwise the connection's peer, which a local process
cannot forge (:mod:`ketaplan.http.transport`).

With ``--workers`` above one, each worker listens on a socket of its own so that new
connections are spread over the workers (:mod:`ketaplan.http.workers`).

No ``--reload``: this is the clinic's server, not a development loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")
    ] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = DEFAULT_PORT,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each with its own pool).")
    ] = 1,
    secure_cookies: Annotated[
        bool,
        typer.Option(
            "--secure-cookies", help="Mark the session cookie Secure (served over TLS or a proxy)."
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Trust X-Forwarded-For/-Proto only from these proxies: IP addresses or networks, "
            "comma-separated (e.g. 127.0.0.1 for a proxy on this machine). Default: trust none; "
            "the client address (sign-in rate limit, audit trail) is the connection's peer.",
        ),
    ] = None,
    catalog: Annotated[
        list[Path] | None,
        typer.Option(
            "--catalog",
            help="The clinic's own catalog file(s), merged over the packaged catalog as "
            "`ketaplan plan --catalog` merges them (default: $KETAPLAN_CATALOG).",
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="Where patients reach this server (https://ketaplan.clinic.example): the start "
            "of every patient link. Default: $KETAPLAN_PUBLIC_URL, else http://HOST:PORT.",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level (critical, error, warning, info, debug).")
    ] = "info",
) -> None:
    """Serve the REST API (under /api/v1) on HOST:PORT until stopped (Ctrl-C)."""
    import os

    import uvicorn

    from ketaplan.access_log import log_config
    from ketaplan.cli._output import print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.errors import InputError
    from ketaplan.http.transport import HTTP_PROTOCOL, proxy_options
    from ketaplan.http.workers import (
        SPREADS_CONNECTIONS,
        Workers,
        check_address_free,
        listening_sockets,
    )
    from ketaplan.services.maintenance import describe_database, serve_lock
    from ketaplan.settings import (
        CATALOG_VARIABLE,
        DATABASE_URL_VARIABLE,
        PUBLIC_URL_VARIABLE,
        SECURE_COOKIES_VARIABLE,
        load_settings,
    )
    from ketaplan.settings import public_url as checked_public_url

    if log_level not in LOG_LEVELS:
        raise InputError(
            f"--log-level {log_level!r}: choose one of {', '.join(LOG_LEVELS)}",
            fields={"field": "log_level"},
        )
    proxies = proxy_options(forwarded_allow_ips)  # a bad address is refused before anything
    settings = load_settings(os.environ)
    database_url = settings.database_url
    links_at = checked_public_url(
        public_url or os.environ.get(PUBLIC_URL_VARIABLE, "") or f"http://{host}:{port}"
    )
    catalog_files = tuple(catalog) if catalog else settings.catalog_files
    served = load_catalog(catalog_files)  # a bad clinic file is refused here, not per worker
    shown = describe_database(database_url)  # refuses an un-migrated database, before workers
    check_address_free(host, port)  # a taken port is refused before any worker starts
    os.environ[DATABASE_URL_VARIABLE] = database_url
    os.environ[CATALOG_VARIABLE] = os.pathsep.join(str(p.resolve()) for p in catalog_files)
    os.environ[SECURE_COOKIES_VARIABLE] = "1" if secure_cookies else ""
    os.environ[PUBLIC_URL_VARIABLE] = links_at
    with serve_lock(database_url):
        trusted = proxies.get("forwarded_allow_ips")
        print_lines(
            [
                f"ketaplan serving {shown} on http://{host}:{port}/api/v1 "
                f"({workers} worker{'s' if workers != 1 else ''}); Ctrl-C stops it.",
                f"Client addresses from X-Forwarded-For when the peer is {', '.join(trusted)}."
                if trusted
                else "Client addresses are the connections' peers (no proxy trusted).",
                f"Patient links start {links_at}/q/.",
                f"Catalog {served.version}"
                + (f" with {', '.join(str(p) for p in catalog_files)}" if catalog_files else ""),
            ]
        )
        options: dict[str, Any] = dict(
            app="ketaplan.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=HTTP_PROTOCOL,
            log_level=log_level,
            log_config=log_config(),  # no link tokens or query strings in the access log
            **proxies,
        )
        if workers > 1 and SPREADS_CONNECTIONS:  # one socket per worker (ketaplan.http.workers)
            Workers(uvicorn.Config(**options), listening_sockets(host, port, workers)).run()
        else:
            uvicorn.run(**options)
