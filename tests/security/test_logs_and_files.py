"""Issue 14, item 6: nothing secret or personal in logs and files.

The access log keeps no patient-link token and no query string; database files, backups and
pre-restore copies are readable by their owner only; a failed sign-in at an address that is no
account stores nothing of what was typed (SQLite and PostgreSQL).
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import select
from tests.service.conftest import Api
from uvicorn.logging import AccessFormatter

from ketaplan.access_log import RedactSecrets, log_config, redacted
from ketaplan.cli import main
from ketaplan.errors import NotSignedIn, TooManyAttempts
from ketaplan.services import UnitOfWork
from ketaplan.services.accounts import UNKNOWN_ACCOUNT, sign_in
from ketaplan.store import Database, migrate
from ketaplan.store.backup import backup_sqlite, restore_sqlite
from ketaplan.store.engine import make_engine
from ketaplan.store.models import AuditEvent, SignInThrottle

TOKEN = "Zm9vYmFyLXRva2VuLXRoYXQtYW5zd2Vycy1hcy1hLXBhdGllbnQ"
LOGGED_TARGETS = [
    # (request target, what the access log shows)
    (f"/q/{TOKEN}", "/q/[token]"),
    (f"/api/v1/links/{TOKEN}", "/api/v1/links/[token]"),
    (f"/api/v1/links/{TOKEN}/responses", "/api/v1/links/[token]/responses"),
    ("/patients?q=Smith", "/patients?[query]"),
    ("/api/v1/patients?search=Jordan+Sample&limit=5", "/api/v1/patients?[query]"),
    (f"/sign-in?next=/q/{TOKEN}", "/sign-in?[query]"),
    (f"/q/{TOKEN}?scale=phq9", "/q/[token]?[query]"),
    ("/patients/12/plans", "/patients/12/plans"),
    ("/api/v1/health", "/api/v1/health"),
    ("/static/app.js", "/static/app.js"),
]


@pytest.mark.parametrize(("target", "shown"), LOGGED_TARGETS)
def test_the_access_log_shows_no_token_and_no_query(target: str, shown: str) -> None:
    assert redacted(target) == shown
    line = _access_log_line(target)
    assert shown in line
    assert TOKEN not in line
    assert "Smith" not in line
    assert "Jordan" not in line


def _access_log_line(target: str) -> str:
    """The line uvicorn's access logger writes for a GET of ``target``, through the handler
    set up as ``ketaplan serve`` configures it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s'))
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("ketaplan.test.access")
    logger.addHandler(handler)
    logger.propagate = False
    try:  # the call uvicorn's protocols make for each request
        logger.warning('%s - "%s %s HTTP/%s" %d', "192.0.2.4:5000", "GET", target, "1.1", 200)
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_serve_installs_the_redaction_on_the_access_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    handed: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: handed.update(options))
    database = tmp_path / "ketaplan.db"
    engine = make_engine(f"sqlite:///{database}")
    migrate(engine)
    engine.dispose()
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("KETAPLAN_SECURE_COOKIES", "")
    monkeypatch.setenv("KETAPLAN_PUBLIC_URL", "")
    assert main(["serve", "--port", "8124"]) == 0
    config = handed["log_config"]
    assert config == log_config()
    assert isinstance(config, dict)
    assert config["handlers"]["access"]["filters"] == ["redact_secrets"]
    assert config["filters"]["redact_secrets"]["()"] is RedactSecrets


# ------------------------------------------------------------------ files ----


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most common umask (022): files would be world-readable unless made private."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_data_file_is_readable_by_its_owner_only(
    tmp_path: Path, open_umask: None, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "ketaplan.db"
    url = f"sqlite:///{database}"
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as connection:  # open: the -wal and -shm files exist meanwhile
        connection.exec_driver_sql("SELECT 1").all()
        files = {
            "the database": database,
            "its write-ahead log": Path(f"{database}-wal"),
            "its shared memory": Path(f"{database}-shm"),
        }
        for what, path in files.items():
            assert path.exists(), what
            assert _mode(path) == 0o600, (what, oct(_mode(path)))
    engine.dispose()
    backup = tmp_path / "backups" / "monday.db"
    backup.parent.mkdir()
    backup_sqlite(database, backup)
    restored = restore_sqlite(backup, database, now=datetime(2026, 12, 1, tzinfo=UTC))
    assert restored.previous is not None
    copies = {"a backup": backup, "a pre-restore copy": restored.previous, "restored": database}
    for what, path in copies.items():
        assert _mode(path) == 0o600, (what, oct(_mode(path)))


# -------------------------------------------------------------- audit trail ----

TYPED_IN_THE_EMAIL_FIELD = [
    "correct horse battery staple",  # a password typed into the wrong field
    "Tr0ub4dor&3",
    "nurse@bay.example correct horse",
]


@pytest.mark.parametrize("typed", TYPED_IN_THE_EMAIL_FIELD)
def test_a_failed_sign_in_stores_nothing_of_an_unknown_address(
    api: Api, database: Database, typed: str
) -> None:
    uow = UnitOfWork(database.session_factory)
    for _ in range(7):  # failures, then refusals: both are audited
        with pytest.raises((NotSignedIn, TooManyAttempts)):
            sign_in(uow, typed, "whatever was in the password field", kind="bearer", origin="x")
    with database.session_factory() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("auth.sign_in%"))
        ).all()
        throttle = session.scalars(select(SignInThrottle.key)).all()
    refused = [e for e in events if e.action in {"auth.sign_in_failed", "auth.sign_in_refused"}]
    assert {e.action for e in refused} == {"auth.sign_in_failed", "auth.sign_in_refused"}
    assert {e.entity_id for e in refused} == {UNKNOWN_ACCOUNT}
    stored = " ".join(f"{e.entity_id} {e.details}" for e in events) + " ".join(throttle)
    assert typed.lower() not in stored.lower()
    assert "whatever was in the password field" not in stored


def test_a_failed_sign_in_of_a_known_account_names_the_account_by_its_id(
    api: Api, database: Database
) -> None:
    answer = api.client.post(
        "/api/v1/auth/token", json={"email": "NURSE@bay.example ", "password": "wrong guess"}
    )
    assert answer.status_code == 401
    with database.session_factory() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
    assert event is not None
    assert event.action == "auth.sign_in_failed"
    assert event.entity_id.isdigit()
