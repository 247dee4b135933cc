"""Browser tests: Playwright driving Debian's Chromium against the app on 127.0.0.1.

The server is the real app (uvicorn in a thread) over a migrated SQLite database in a tmp
directory, with a clinic and one user per role. The browser is ``/usr/bin/chromium`` (``make
test`` installs Debian's package when it is missing; Playwright never downloads one). Without it
these tests are skipped on a developer's machine but FAIL under CI (``CI=true``): CI must run
them.

Screenshots of every step go to ``test-artifacts/screenshots/`` (git-ignored). The README's
screenshots come from a clinic made by ``ketaplan demo-data`` (``test_docs_screenshots.py``):
with ``KETAPLAN_DOCS_SCREENSHOTS=1`` (``make screenshots``) they are also written to
``docs/screenshots/``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from argon2 import PasswordHasher

from ketaplan.http.context import ServiceContext
from ketaplan.services import add_user, set_up_clinic, utc_now

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
DOCS = ROOT / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
TABLETS = {
    "portrait": {"width": 768, "height": 1024},
    "landscape": {"width": 1024, "height": 768},
}
"""The tablet sizes the console must fit (issue 12)."""
EMAILS = {
    "admin": "admin@bay.example",
    "prescriber": "prescriber@bay.example",
    "nurse": "nurse@bay.example",
    "front_desk": "front_desk@bay.example",
}


class Clock:
    """The served app's clock: the real one, moved on when a test needs time to pass (the
    recovery time after a stop) rather than waiting for it. It only ever moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, by: timedelta) -> None:
        assert by >= timedelta(0), "the clock only moves forward"
        self.offset += by


@dataclass(frozen=True)
class Server:
    base_url: str
    context: ServiceContext
    """The served app's services (the test reads what the pages should show through them)."""
    clock: Clock


@contextlib.contextmanager
def serve_app(url: str, set_up: Callable[[ServiceContext], None]) -> Iterator[Server]:
    """The app over the migrated database at ``url`` on a free loopback port, after
    ``set_up(context)`` has put its clinic in; its clock is the :class:`Clock` yielded."""
    from ketaplan.app import build_context, create_app
    from ketaplan.services import passwords

    with pytest.MonkeyPatch.context() as patch:
        # Argon2 at its cheapest: the hashing itself is argon2-cffi's, tested there.
        patch.setattr(
            passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        clock = Clock()
        served_at = f"http://127.0.0.1:{port}"  # where patient links point
        context = dataclasses.replace(build_context(url), clock=clock, public_url=served_at)
        set_up(context)
        config = uvicorn.Config(create_app(context), log_level="warning", lifespan="off")
        uvicorn_server = uvicorn.Server(config)
        thread = threading.Thread(
            target=uvicorn_server.run, kwargs={"sockets": [listener]}, daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not uvicorn_server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        try:
            yield Server(served_at, context, clock)
        finally:
            uvicorn_server.should_exit = True
            thread.join(timeout=10)
            listener.close()
            context.database.close()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once for the session; each server gets a copy."""
    from ketaplan.store import migrate
    from ketaplan.store.engine import make_engine

    path = tmp_path_factory.mktemp("template") / "clinic.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file
    return path


def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory, template: Path, name: str) -> str:
    """A copy of the migrated template in a tmp directory of its own."""
    path = tmp_path_factory.mktemp(name) / "clinic.db"
    shutil.copyfile(template, path)
    shutil.copymode(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Server]:
    """The app on a free loopback port, over a fresh database with a clinic and its staff
    (one per test: a test may move its clock on)."""

    def clinic_and_staff(context: ServiceContext) -> None:
        uow = context.unit_of_work()
        admin = set_up_clinic(
            uow,
            name="Bay Ketamine Clinic",
            time_zone="America/Los_Angeles",
            admin_email=EMAILS["admin"],
            admin_password=PASSWORD,
        )
        for role, email in EMAILS.items():
            if role != "admin":
                add_user(uow, email=email, role=role, actor=admin, password=PASSWORD)

    with serve_app(
        migrated_sqlite(tmp_path_factory, migrated_template, "browser"), clinic_and_staff
    ) as serving:
        yield serving


@dataclass(frozen=True)
class DemoServer(Server):
    accounts: dict[str, tuple[str, str]]
    """The demo accounts' e-mail and one-time password, by role (as ``ketaplan demo-data``
    printed them)."""


DEMO_ACCOUNT = re.compile(r"^\s+(admin|prescriber|nurse)\s+(\S+@\S+)\s+(\S+)\s*$", re.M)


@pytest.fixture(scope="session")
def demo_template(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> tuple[Path, dict[str, tuple[str, str]]]:
    """A clinic made by ``ketaplan demo-data`` (weeks of synthetic history), the command a new
    user runs, and its accounts: made once per session (the command takes a while) and copied
    for each module that serves it, so that what one module changes no other sees."""
    url = migrated_sqlite(tmp_path_factory, migrated_template, "demo-template")
    made = subprocess.run(
        [sys.executable, "-m", "ketaplan", "demo-data"],
        env={**os.environ, "KETAPLAN_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    found = {role: (email, password) for role, email, password in DEMO_ACCOUNT.findall(made.stdout)}
    assert set(found) == {"admin", "prescriber", "nurse"}, made.stdout
    path = Path(url.removeprefix("sqlite:///"))
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file
    return path, found


@pytest.fixture(scope="module")
def demo_server(
    tmp_path_factory: pytest.TempPathFactory,
    demo_template: tuple[Path, dict[str, tuple[str, str]]],
) -> Iterator[DemoServer]:
    """The app over a copy of the demo clinic, so that the README's screenshots show what a
    new user will see after ``make run``."""
    template, accounts = demo_template
    url = migrated_sqlite(tmp_path_factory, template, "demo")
    with serve_app(url, lambda context: None) as serving:
        yield DemoServer(serving.base_url, serving.context, serving.clock, accounts)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    """Debian's Chromium through Playwright (headless)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Numbered screenshots of each step; the main pages also for the README when asked."""

    def __init__(self, name: str) -> None:
        self.folder = ARTIFACTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0
        self.docs = os.environ.get("KETAPLAN_DOCS_SCREENSHOTS") == "1"

    def take(self, page: object, step: str, *, doc: str | None = None) -> None:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        if doc and self.docs:
            DOCS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(DOCS / f"{doc}.png"), full_page=True)  # type: ignore[attr-defined]


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Shots:
    return Shots(request.node.name)
