"""Service tests run against real databases: SQLite always, PostgreSQL when configured.

Every test that asks for ``database_url`` runs twice, ``[sqlite]`` and ``[postgresql]``. The
SQLite database is a file in the test's tmp directory. The PostgreSQL one is a schema of its
own (``ketaplan_test_<random>``) in the database named by ``KETAPLAN_TEST_POSTGRES_URL``, made
for the test and dropped after it, so runs never see each other's rows. Without the variable
the PostgreSQL runs are skipped; with it (CI sets it) they must pass: a server that cannot be
reached is an error, not a skip.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.http.context import ServiceContext
from ketaplan.services import (
    Actor,
    PatientDetails,
    PatientRecord,
    PlanOrder,
    PlanRecord,
    UnitOfWork,
    add_user,
    create_patient,
    create_plan,
    load_actor,
    set_up_clinic,
    sign_order,
)
from ketaplan.services.unit_of_work import utc_now
from ketaplan.store import Database, migrate, open_database
from ketaplan.store.engine import make_engine
from ketaplan.store.models import AuditEvent, Base
from ketaplan.store.writer_gate import GatedConnection, WriterGate

POSTGRES_URL_VARIABLE = "KETAPLAN_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database of each kind, never migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'ketaplan.db'}"
        return
    base = os.environ.get(POSTGRES_URL_VARIABLE)
    if not base:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    schema = f"ketaplan_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, poolclass=NullPool)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database, opened the way entry points open it."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    opened = open_database(database_url)
    try:
        yield opened
    finally:
        opened.close()


# ---------------------------------------------------------------- services ----


class CrashingUnitOfWork(UnitOfWork):
    """A unit of work that fails after every write and audit row reached the database, just
    before the commit: what a crash or a lost connection at that moment would do. It notes
    how many audit rows its transaction could see at that moment."""

    def __init__(
        self, database: Database, seen: list[int], clock: Callable[[], datetime] = utc_now
    ) -> None:
        super().__init__(database.session_factory, clock=clock)
        self.seen = seen

    def _commit_transaction(self, session: Session) -> None:
        self.seen.append(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
        raise RuntimeError("simulated failure after the writes, before the commit")


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The service units of work's clock: the real one, unless a test module overrides this
    fixture to stand the clinic at a fixed moment (tests charting a given day need that day
    to be in the past whatever the real date)."""
    return utc_now


@pytest.fixture
def uow(database: Database, clock: Callable[[], datetime]) -> UnitOfWork:
    return UnitOfWork(database.session_factory, clock=clock)


@pytest.fixture
def audit_rows_at_crash() -> list[int]:
    """Audit rows each crashed transaction saw just before failing (its own included)."""
    return []


@pytest.fixture
def crashing_uow(
    database: Database, audit_rows_at_crash: list[int], clock: Callable[[], datetime]
) -> UnitOfWork:
    return CrashingUnitOfWork(database, audit_rows_at_crash, clock)


@pytest.fixture
def admin(uow: UnitOfWork) -> Actor:
    return set_up_clinic(
        uow,
        name="Bay Ketamine Clinic",
        time_zone="America/Los_Angeles",
        admin_email="admin@bay.example",
    )


def _staff(uow: UnitOfWork, admin: Actor, role: str) -> Actor:
    email = f"{role}@bay.example"
    add_user(uow, email=email, role=role, actor=admin, password=PASSWORD)
    return load_actor(uow, email, origin="127.0.0.1")


@pytest.fixture
def nurse(uow: UnitOfWork, admin: Actor) -> Actor:
    return _staff(uow, admin, "nurse")


@pytest.fixture
def prescriber(uow: UnitOfWork, admin: Actor) -> Actor:
    return _staff(uow, admin, "prescriber")


@pytest.fixture
def front_desk(uow: UnitOfWork, admin: Actor) -> Actor:
    return _staff(uow, admin, "front_desk")


@pytest.fixture
def rows(database: Database) -> Callable[[type[Base]], int]:
    """How many rows a table holds now (read outside any service)."""

    def count(model: type[Base]) -> int:
        with database.session_factory() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    return count


@pytest.fixture
def audit_log(database: Database) -> Callable[[], list[str]]:
    """The audit trail's actions in order."""

    def actions() -> list[str]:
        with database.session_factory() as session:
            return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))

    return actions


@pytest.fixture
def patient(uow: UnitOfWork, nurse: Actor, catalog: Catalog) -> PatientRecord:
    """A 80 kg adult with depression on sertraline, registered by the nurse."""
    details = PatientDetails(
        full_name="Alex Example",
        weight="80 kg",
        height="175 cm",
        age_years=42,
        sex="female",
        medications=("sertraline",),
    )
    return create_patient(uow, details, actor=nurse, catalog=catalog)


def signed_plan(
    uow: UnitOfWork,
    patient_id: int,
    *,
    prescriber: Actor,
    catalog: Catalog,
    resolver: object,
    condition: str = "depression",
    requested_mg_per_kg: float | None = None,
    override_reason: str | None = None,
    proposer: Actor | None = None,
) -> PlanRecord:
    """A plan proposed (by ``proposer``, or the prescriber) and signed by the prescriber:
    the active order a course or a session needs (under the catalog's policy)."""
    from ketaplan.clinical.medications import MedicationResolver

    policy = load_policy()

    assert isinstance(resolver, MedicationResolver)
    proposed = create_plan(
        uow,
        patient_id,
        PlanOrder(condition, requested_mg_per_kg, override_reason),
        actor=proposer or prescriber,
        policy=policy,
        resolver=resolver,
    )
    return sign_order(uow, proposed.plan_id, password=PASSWORD, actor=prescriber)


EXAMPLE_CHART = Path(__file__).parents[2] / "examples" / "session1.jsonl"
ORDER_BAG_MG_PER_ML = 0.354
"""The bag of the signed depression order for the ``patient`` fixture: 40 mg (0.5 mg/kg x
80 kg) in 113 mL (a 100 mL bag holding 109 mL with its overfill, plus 4 mL drawn). The example
chart was written for a 0.4 mg/mL bag; at the chair a start must match the order's bag, so the
service tests chart it with this one."""


def example_chart() -> list[dict[str, Any]]:
    """``examples/session1.jsonl`` as the ``patient`` fixture's order is charted."""
    lines = EXAMPLE_CHART.read_text(encoding="utf-8").splitlines()
    return [
        {**event, "concentration_mg_per_ml": ORDER_BAG_MG_PER_ML}
        if event["type"] == "start"
        else event
        for event in (json.loads(line) for line in lines if line.strip())
    ]


# --------------------------------------------------------------------- API ----
ROLE_EMAILS = {
    "admin": "admin@bay.example",
    "prescriber": "prescriber@bay.example",
    "nurse": "nurse@bay.example",
    "front_desk": "front_desk@bay.example",
}


PASSWORD = "correct horse battery staple"


@dataclass
class Api:
    """A test client over the app, and a bearer header per role (signed in once)."""

    client: TestClient
    context: ServiceContext
    headers: dict[str, dict[str, str]]

    def as_role(self, role: str) -> dict[str, str]:
        return self.headers[role]


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest in tests: the hashing itself is argon2-cffi's, tested there."""
    from argon2 import PasswordHasher

    from ketaplan.services import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(passwords, "HASHER", cheap)
    # The hash an unknown address is checked against, as cheap (its cost is in the hash).
    monkeypatch.setattr(passwords, "_NO_SUCH_ACCOUNT", cheap.hash("no such account"))


@pytest.fixture
def api(database: Database, catalog: Catalog, resolver: object) -> Iterator[Api]:
    """The app over the test database: a clinic, one user per role with a password, and a
    bearer token for each (signed in through the API itself)."""
    from ketaplan.app import create_app
    from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
    from ketaplan.clinical.medications import MedicationResolver

    assert isinstance(resolver, MedicationResolver)
    context = ServiceContext(
        database=database,
        catalog=catalog,
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, catalog.clinic.time_zone),
    )
    uow = UnitOfWork(database.session_factory)
    admin = set_up_clinic(
        uow,
        name="Bay Ketamine Clinic",
        time_zone="America/Los_Angeles",
        admin_email=ROLE_EMAILS["admin"],
        admin_password=PASSWORD,
    )
    for role, email in ROLE_EMAILS.items():
        if role != "admin":
            add_user(uow, email=email, role=role, actor=admin, password=PASSWORD)
    with TestClient(create_app(context)) as client:
        headers = {}
        for role, email in ROLE_EMAILS.items():
            answer = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
            assert answer.status_code == 200, answer.text
            headers[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        yield Api(client, context, headers)


def post_sign_in(client: TestClient, email: str, password: str, **fields: str) -> Any:
    """Post the sign-in form as a browser does: from the page, with the form's CSRF token."""
    import re

    page = client.get("/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    data = {"email": email, "password": password, "csrf_token": found.group(1), **fields}
    return client.post("/sign-in", data=data, follow_redirects=False)


def writer_gate(engine: Engine) -> WriterGate:
    """The writer gate of a SQLite file engine (the one its connections share)."""
    with engine.connect() as connection:
        dbapi = connection.connection.dbapi_connection
        assert isinstance(dbapi, GatedConnection)
        assert dbapi.gate is not None
        return dbapi.gate


def probing_write_lock(
    database_url: str, check: Callable[[str | None, str], bool], seen: list[str]
) -> Callable[[str | None, str], bool]:
    """``check`` (a password check) that first notes in ``seen`` whether another connection
    could take the SQLite file's write lock at that moment ("free" or "locked")."""
    import sqlite3

    path = make_url(database_url).database
    assert path

    def probed(stored: str | None, typed: str) -> bool:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            seen.append("free")
        except sqlite3.OperationalError:
            seen.append("locked")
        finally:
            probe.close()
        return check(stored, typed)

    return probed


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
