"""The service settings (:class:`ServiceSettings`), read from the environment by a function,
never at import time.

Entry points call :func:`load_settings` once with ``os.environ`` and pass the result on; tests
pass a plain dict. Nothing here opens a database or touches the disk.

Examples
--------
>>> load_settings({}).database_url
'sqlite:///./ketaplan.db'
>>> load_settings({"KETAPLAN_DATABASE_URL": "postgresql://clinic@db/ketaplan"}).database_url
'postgresql+psycopg://clinic@db/ketaplan'
>>> [str(p) for p in load_settings({"KETAPLAN_CATALOG": "clinic.toml"}).catalog_files]
['clinic.toml']
>>> load_settings({}).max_body_bytes
1048576
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ketaplan.errors import InputError
from ketaplan.inputs import whole_number

DATABASE_URL_VARIABLE = "KETAPLAN_DATABASE_URL"
CATALOG_VARIABLE = "KETAPLAN_CATALOG"
"""The clinic's own catalog file(s) merged over the packaged catalog, separated by the path
separator (``:`` on Linux); ``ketaplan serve --catalog`` sets it for its workers."""
PUBLIC_URL_VARIABLE = "KETAPLAN_PUBLIC_URL"
"""Where patients reach the server (``https://ketaplan.clinic.example``): patient links start
with it; ``ketaplan serve --public-url`` sets it for its workers."""
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
"""What ``ketaplan serve`` listens on by default."""
SECURE_COOKIES_VARIABLE = "KETAPLAN_SECURE_COOKIES"
"""Set by ``ketaplan serve --secure-cookies`` for its workers: mark the sign-in cookie
``Secure``."""
MAX_BODY_BYTES_VARIABLE = "KETAPLAN_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""1 MiB: hundreds of times the largest body ketaplan takes (a patient's details, the settings
form); anything larger is refused with a 413 before it is read."""
BODY_BYTES_RANGE = (1024, 64 * 1024 * 1024)
SMTP_HOST_VARIABLE = "KETAPLAN_SMTP_HOST"
"""The mail server patient e-mails go through (``ketaplan outbox send``); unset: no e-mail."""
SMTP_PORT_VARIABLE = "KETAPLAN_SMTP_PORT"
SMTP_USER_VARIABLE = "KETAPLAN_SMTP_USER"
SMTP_PASSWORD_VARIABLE = "KETAPLAN_SMTP_PASSWORD"
SMTP_FROM_VARIABLE = "KETAPLAN_SMTP_FROM"
SMTP_STARTTLS_VARIABLE = "KETAPLAN_SMTP_STARTTLS"
DEFAULT_SMTP_PORT = 587
"""The mail submission port (RFC 6409), where STARTTLS is expected."""
_YES = ("1", "true", "yes", "on")
_NO = ("0", "false", "no", "off")
DEFAULT_DATABASE_URL = "sqlite:///./ketaplan.db"
"""The embedded default: one clinic on one laptop, a SQLite file in the working directory."""

_POSTGRES_ALIASES = ("postgresql://", "postgres://")
_ACCEPTED_PREFIXES = ("sqlite://", "postgresql+psycopg://")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The mail server e-mails to patients go through. The password is kept out of ``repr``
    so that a settings object printed in a log does not show it."""

    host: str
    port: int = DEFAULT_SMTP_PORT
    sender: str = ""
    """The ``From`` address (``KETAPLAN_SMTP_FROM``)."""
    user: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = True
    """Upgrade the connection with STARTTLS before signing in (``KETAPLAN_SMTP_STARTTLS``);
    on by default, since the password and the links must not cross the network in clear."""


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """What the service needs to know about its surroundings."""

    database_url: str
    catalog_files: tuple[Path, ...] = ()
    """The clinic's own catalog files, in the order they are merged (later files win)."""
    public_url: str = DEFAULT_PUBLIC_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """The largest request body the server reads (``KETAPLAN_MAX_BODY_BYTES``)."""
    smtp: SmtpSettings | None = None
    """The mail server, or None when ``KETAPLAN_SMTP_HOST`` is unset (nothing is e-mailed)."""


def public_url(raw: str) -> str:
    """A base URL for patient links: http(s), a host, nothing after the path.

    >>> public_url("https://ketaplan.clinic.example/")
    'https://ketaplan.clinic.example'
    """
    url = urlsplit(raw.strip())
    if url.scheme not in {"http", "https"} or not url.hostname or url.query or url.fragment:
        raise InputError(
            f"{PUBLIC_URL_VARIABLE} {raw.strip()!r} is not a base URL for patient links; give "
            "the address patients reach, e.g. https://ketaplan.clinic.example",
            code="input.invalid_public_url",
            fields={"field": PUBLIC_URL_VARIABLE},
        )
    return urlunsplit((url.scheme, url.netloc, url.path.rstrip("/"), "", ""))


def _database_url(raw: str) -> str:
    url = raw.strip()
    for alias in _POSTGRES_ALIASES:
        if url.startswith(alias):
            # psycopg 3 is the only PostgreSQL driver installed; a bare postgresql:// would
            # make SQLAlchemy look for psycopg2.
            return "postgresql+psycopg://" + url.removeprefix(alias)
    if not url.startswith(_ACCEPTED_PREFIXES):
        shown = url.split("@")[-1] if "@" in url else url
        raise InputError(
            f"{DATABASE_URL_VARIABLE} {shown!r} is not a database ketaplan can use; give "
            "sqlite:///path/to/ketaplan.db or postgresql+psycopg://user@host:5432/dbname",
            code="input.invalid_database_url",
            fields={"field": DATABASE_URL_VARIABLE},
        )
    return url


def smtp_settings(environ: Mapping[str, str]) -> SmtpSettings | None:
    """The mail server from the environment, checked; None without ``KETAPLAN_SMTP_HOST``.

    >>> smtp_settings({"KETAPLAN_SMTP_HOST": "mail.example", "KETAPLAN_SMTP_FROM": "c@x.example"})
    SmtpSettings(host='mail.example', port=587, sender='c@x.example', user='', starttls=True)
    >>> smtp_settings({}) is None
    True
    """
    host = environ.get(SMTP_HOST_VARIABLE, "").strip()
    if not host:
        return None
    port_text = environ.get(SMTP_PORT_VARIABLE, "").strip()
    port = (
        whole_number(port_text, field=SMTP_PORT_VARIABLE, low=1, high=65535)
        if port_text
        else DEFAULT_SMTP_PORT
    )
    sender = environ.get(SMTP_FROM_VARIABLE, "").strip()
    if "@" not in sender or any(c.isspace() for c in sender):
        raise InputError(
            f"{SMTP_FROM_VARIABLE} {sender!r} is not an e-mail address; give the address "
            "patients' e-mails come from, e.g. clinic@clinic.example",
            code="input.invalid_smtp_from",
            fields={"field": SMTP_FROM_VARIABLE},
        )
    starttls_text = environ.get(SMTP_STARTTLS_VARIABLE, "").strip().lower() or "true"
    if starttls_text not in _YES + _NO:
        raise InputError(
            f"{SMTP_STARTTLS_VARIABLE} {starttls_text!r} is not yes or no; give one of "
            f"{', '.join(_YES + _NO)}",
            code="input.invalid_smtp_starttls",
            fields={"field": SMTP_STARTTLS_VARIABLE},
        )
    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        user=environ.get(SMTP_USER_VARIABLE, "").strip(),
        password=environ.get(SMTP_PASSWORD_VARIABLE, ""),
        starttls=starttls_text in _YES,
    )


def load_settings(environ: Mapping[str, str]) -> ServiceSettings:
    """The service settings from an environment mapping (``os.environ`` in entry points)."""
    raw = environ.get(DATABASE_URL_VARIABLE, "").strip() or DEFAULT_DATABASE_URL
    files = tuple(
        Path(part) for part in environ.get(CATALOG_VARIABLE, "").split(os.pathsep) if part.strip()
    )
    public = environ.get(PUBLIC_URL_VARIABLE, "").strip()
    body_text = environ.get(MAX_BODY_BYTES_VARIABLE, "").strip()
    low, high = BODY_BYTES_RANGE
    max_body_bytes = (
        whole_number(body_text, field=MAX_BODY_BYTES_VARIABLE, low=low, high=high)
        if body_text
        else DEFAULT_MAX_BODY_BYTES
    )
    return ServiceSettings(
        database_url=_database_url(raw),
        catalog_files=files,
        public_url=public_url(public) if public else DEFAULT_PUBLIC_URL,
        max_body_bytes=max_body_bytes,
        smtp=smtp_settings(environ),
    )
