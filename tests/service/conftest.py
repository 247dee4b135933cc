"""Service tests run against real databases: SQLite always, PostgreSQL when configured.

Every test that asks for ``database_url`` runs twice, ``[sqlite]`` and ``[postgresql]``. A test
that asks for ``database`` gets it migrated without running the migrations again: the session
migrates a template once (a SQLite file, copied into the test's tmp directory; a PostgreSQL
database, whose copy is emptied by ``TRUNCATE`` before each test, see
:class:`PostgresDatabases`). A test that asks only for ``database_url`` gets an empty database
(a SQLite file path; a PostgreSQL schema of its own, dropped after it): the migration tests
migrate for real. PostgreSQL is the server named by ``KETAPLAN_TEST_POSTGRES_URL``; without the
variable the PostgreSQL runs are skipped; with it (CI sets it) they must pass: a server that
cannot be reached is an error, not a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, func, select, text
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
DEEP_VARIABLE = "KETAPLAN_DEEP_TESTS"
DEEP = os.environ.get(DEEP_VARIABLE, "") == "1"
"""``KETAPLAN_DEEP_TESTS=1`` runs the long generated runs (the safety-path state machine's,
schemathesis's) at their full depth; `make test` runs a smaller sample of them,
every API operation still exercised in every mode, to stay within its time budget."""
MIGRATED_WHEN_ASKED_FOR = "database"
"""A test whose fixtures include ``database`` gets ``database_url`` already migrated, from the
session's template; any other test gets it empty (the migration tests migrate for real)."""


def migrated_sqlite_template(folder: Path) -> Path:
    """A SQLite file migrated once per session (the ``_sqlite_template`` fixture, in
    tests/conftest.py); each test that wants a migrated database gets a copy of it (a file
    copy, instead of running every migration again)."""
    path = folder / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        migrate(engine)
    finally:
        engine.dispose()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file
    return path


RoleHeaders = dict[str, dict[str, str]]
CLINIC_HEADERS = pytest.StashKey[RoleHeaders]()
"""The bearer header of each user of the API's clinic, for the test whose database holds it."""

WITH_CLINIC_WHEN_ASKED_FOR = "api"
"""A test that asks for ``api`` gets its database with the API's clinic already in it: the
clinic, a user per role and their bearer tokens (:func:`set_up_api_clinic`), set up once per
session into a second template instead of once per test (four sign-ins each)."""


def sqlite_clinic_template(migrated: Path) -> tuple[Path, RoleHeaders]:
    """The migrated template with the API's clinic set up in it (see ``api``), and the bearer
    header of each of its users (the ``_sqlite_clinic_template`` fixture)."""
    path = migrated.with_name("clinic.db")
    shutil.copyfile(migrated, path)
    headers = set_up_api_clinic(f"sqlite:///{path}")
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path, headers


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _postgres_databases: PostgresDatabases | None,
) -> Iterator[str]:
    """A database of each kind: migrated when the test also asks for ``database`` (a copy of
    the session's migrated template), otherwise empty, never migrated."""
    migrated = MIGRATED_WHEN_ASKED_FOR in request.fixturenames
    with_clinic = WITH_CLINIC_WHEN_ASKED_FOR in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "ketaplan.db"
        if migrated:
            template = request.getfixturevalue("_sqlite_template")
            if with_clinic:
                template, request.node.stash[CLINIC_HEADERS] = request.getfixturevalue(
                    "_sqlite_clinic_template"
                )
            shutil.copyfile(template, path)
            shutil.copymode(template, path)
        yield f"sqlite:///{path}"
        return
    if _postgres_databases is None:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    if migrated:
        url = _postgres_databases.migrated(with_clinic=with_clinic)
        if with_clinic:
            request.node.stash[CLINIC_HEADERS] = _postgres_databases.clinic_headers
        yield url
        return
    with _postgres_databases.empty_schema() as url:
        yield url


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A migrated database (``database_url`` came migrated), opened as entry points open it."""
    opened = open_database(database_url)
    try:
        yield opened
    finally:
        opened.close()


SCHEMA_FINGERPRINT = text(
    """
    SELECT md5(string_agg(part, ',' ORDER BY part)) FROM (
        SELECT 'relation ' || c.relname || ' ' || c.relkind::text
        FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
      UNION ALL
        SELECT 'column ' || c.relname || '.' || a.attname || ' '
               || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text
               || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
      UNION ALL
        SELECT 'constraint ' || conname || ' ' || pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = 'public'::regnamespace
      UNION ALL
        SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
      UNION ALL
        SELECT 'trigger ' || pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
      UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text || ' ' || md5(p.prosrc)
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
      UNION ALL
        SELECT 'revision ' || version_num FROM alembic_version
    ) AS parts(part)
    """
)
"""What a test could change in the migrated database besides its rows: tables, columns,
constraints, indexes, triggers (and whether they are enabled), functions, the revision."""


class PostgresDatabases:
    """The PostgreSQL databases of one test session, beside the one the variable names.

    A migrated test database costs one short transaction per test instead of a migration: the
    session migrates a template database once and copies it (``CREATE DATABASE ... TEMPLATE``)
    into its working database; before each test that asks for a migrated database, the
    connections left over from the previous test are ended, every table is emptied, the
    sequences restarted and the rows the migrations wrote put back. If the previous test
    changed the schema itself (a downgrade, a dropped or disabled trigger: the fingerprint
    differs), the working database is made again from the template instead. Measured on this
    machine (2 cores, shared): emptying ~0.05 s; TRUNCATE 0.06 s idle, 0.4-0.6 s under load;
    a database made from the template and dropped 0.16-0.30 s; a schema migrated and dropped,
    what each test did before, 0.41-1.4 s.

    Tests that want an empty database get a schema of their own in the named database, as
    before. Names carry the xdist worker and a random part, so concurrent sessions and
    workers never share one.
    """

    def __init__(self, base_url: str) -> None:
        self.base = make_url(base_url)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        tag = f"{worker}_{uuid.uuid4().hex[:8]}"
        self.template = f"{self.base.database}_template_{tag}"
        self.working = f"{self.base.database}_test_{tag}"
        self.admin = create_engine(base_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._connection: Connection | None = None
        self._fingerprint = ""
        self._emptying = ""
        self._with_clinic = ""
        self.clinic_headers: RoleHeaders = {}

    def url(self, database: str) -> str:
        return self.base.set(database=database).render_as_string(hide_password=False)

    def migrated(self, *, with_clinic: bool = False) -> str:
        """The working database, migrated and empty (or holding only the API's clinic, see
        ``api``), for the next test."""
        if self._connection is None:
            self._make_template()
            self._connection = self._make_working()
        self._connection.execute(
            text(
                "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        if self._connection.scalar(SCHEMA_FINGERPRINT) == self._fingerprint:
            self._connection.exec_driver_sql(self._emptying)
        else:
            self._connection.close()
            self._admin(f'DROP DATABASE "{self.working}" WITH (FORCE)')
            self._connection = self._make_working()
        if with_clinic:
            if not self._with_clinic:
                self.clinic_headers = set_up_api_clinic(self.url(self.working))
                self._with_clinic = _restoring(self._connection)
            else:
                self._connection.exec_driver_sql(self._with_clinic)
        return self.url(self.working)

    def _admin(self, statement: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(statement))

    def _make_template(self) -> None:
        self._admin(f'CREATE DATABASE "{self.template}"')
        engine = make_engine(self.url(self.template))
        try:
            migrate(engine)
            with engine.connect() as connection:
                # The rows a migration put in (the audit chain's empty head) go back after
                # each emptying, so every test starts from the migrated state exactly.
                self._emptying = _restoring(connection)
                self._fingerprint = connection.scalar(SCHEMA_FINGERPRINT)
        finally:
            engine.dispose()

    def _make_working(self) -> Connection:
        self._admin(f'CREATE DATABASE "{self.working}" TEMPLATE "{self.template}"')
        engine = create_engine(
            self.url(self.working), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )
        connection = engine.connect()
        connection.execute(text("SET lock_timeout = '30s'"))  # a stuck lock fails, never hangs
        return connection

    @contextlib.contextmanager
    def empty_schema(self) -> Iterator[str]:
        """A schema of its own in the named database, never migrated, dropped afterwards."""
        schema = f"ketaplan_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE SCHEMA "{schema}"')
        try:
            url = self.base.update_query_dict({"options": f"-csearch_path={schema}"})
            yield url.render_as_string(hide_password=False)
        finally:
            self._admin(f'DROP SCHEMA "{schema}" CASCADE')

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        for database in (self.working, self.template):
            self._admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        self.admin.dispose()


def _restoring(connection: Connection) -> str:
    """One statement that puts every table and sequence back as they are now.

    DELETE (with the append-only and foreign-key triggers off for the transaction), the rows
    put back from JSON, the sequences set to where they are: on this machine ~0.05 s, where
    TRUNCATE of the same empty-ish tables took 0.06-0.6 s (it makes new files for every table)
    and a database made from the template and dropped 0.16-0.3 s."""
    tables = list(
        connection.scalars(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version' ORDER BY tablename"
            )
        )
    )
    sequences = list(
        connection.scalars(
            text(
                "SELECT relname FROM pg_class WHERE relkind = 'S' "
                "AND relnamespace = 'public'::regnamespace ORDER BY relname"
            )
        )
    )
    statements = ["BEGIN", "SET LOCAL session_replication_role = replica"]
    statements += [f'DELETE FROM "{table}"' for table in tables]
    for table in tables:
        rows = connection.scalar(text(f'SELECT json_agg(t) FROM "{table}" t'))
        if rows:
            as_json = json.dumps(rows).replace("'", "''")
            statements.append(
                f'INSERT INTO "{table}" '
                f"SELECT * FROM json_populate_recordset(NULL::\"{table}\", '{as_json}')"
            )
    for sequence in sequences:
        last, called = connection.execute(
            text(f'SELECT last_value, is_called FROM "{sequence}"')
        ).one()
        statements.append(f"SELECT setval('\"{sequence}\"', {last}, {str(called).lower()})")
    statements.append("COMMIT")
    return "; ".join(statements)


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

    def on_clock(self, clock: Callable[[], datetime]) -> Api:
        """The same app on another server clock, each role signed in again on it: a token
        lasts its lifetime on the clock that issued it, so the template's tokens (issued on
        the wall clock) are expired for a clock set years ahead."""
        context = replace(self.context, clock=clock)
        self.client.app.state.services = context  # type: ignore[attr-defined]
        headers: RoleHeaders = {}
        for role, email in ROLE_EMAILS.items():
            answer = self.client.post(
                "/api/v1/auth/token", json={"email": email, "password": PASSWORD}
            )
            assert answer.status_code == 200, answer.text
            headers[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return Api(self.client, context, headers)


def _cheap_hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its cheapest in tests: the hashing itself is argon2-cffi's, tested there."""
    from ketaplan.services import passwords

    cheap = _cheap_hasher()
    monkeypatch.setattr(passwords, "HASHER", cheap)
    # The hash an unknown address is checked against, as cheap (its cost is in the hash).
    monkeypatch.setattr(passwords, "_NO_SUCH_ACCOUNT", cheap.hash("no such account"))


def _api_context(database: Database, catalog: Catalog, resolver: object) -> ServiceContext:
    from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
    from ketaplan.clinical.medications import MedicationResolver

    assert isinstance(resolver, MedicationResolver)
    return ServiceContext(
        database=database,
        catalog=catalog,
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, catalog.clinic.time_zone),
    )


def set_up_api_clinic(url: str) -> RoleHeaders:
    """Into a migrated, empty database: the clinic, one user per role with a password, and a
    bearer token for each, signed in through the API itself (once per session and kind)."""
    from ketaplan.app import create_app
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.medications import MedicationResolver
    from ketaplan.drug_dictionary import DnerDrugDictionary
    from ketaplan.services import passwords

    catalog = load_catalog()
    database = open_database(url)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(passwords, "HASHER", _cheap_hasher())
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
            resolver = MedicationResolver(catalog, DnerDrugDictionary())
            context = _api_context(database, catalog, resolver)
            with TestClient(create_app(context)) as client:
                headers: RoleHeaders = {}
                for role, email in ROLE_EMAILS.items():
                    answer = client.post(
                        "/api/v1/auth/token", json={"email": email, "password": PASSWORD}
                    )
                    assert answer.status_code == 200, answer.text
                    token = answer.json()["access_token"]
                    headers[role] = {"Authorization": f"Bearer {token}"}
    finally:
        database.close()
    return headers


@pytest.fixture
def api(
    request: pytest.FixtureRequest, database: Database, catalog: Catalog, resolver: object
) -> Iterator[Api]:
    """The app over the test database with the API's clinic in it (:func:`set_up_api_clinic`,
    from the session's clinic template): a clinic, one user per role with a password, and a
    bearer token for each."""
    from ketaplan.app import create_app

    context = _api_context(database, catalog, resolver)
    with TestClient(create_app(context)) as client:
        yield Api(client, context, dict(request.node.stash[CLINIC_HEADERS]))


@pytest.fixture
def pages(
    database: Database,
    catalog: Catalog,
    resolver: object,
    nurse: Actor,
    clock: Callable[[], datetime],
) -> Iterator[TestClient]:
    """The web pages over the test database, on the test's clock, signed in as the nurse."""
    from ketaplan.app import create_app

    context = replace(_api_context(database, catalog, resolver), clock=clock)
    with TestClient(create_app(context)) as client:
        signed_in = post_sign_in(client, nurse.email, PASSWORD, next="/patients")
        assert signed_in.status_code == 303, signed_in.text
        yield client


def post_sign_in(client: TestClient, email: str, password: str, **fields: str) -> Any:
    """Post the sign-in form as a browser does: from the page, with the form's CSRF token."""
    import re

    page = client.get("/sign-in")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    data = {"email": email, "password": password, "csrf_token": found.group(1), **fields}
    return client.post("/sign-in", data=data, follow_redirects=False)


@contextlib.contextmanager
def sent_statements(database: Database) -> Iterator[list[str]]:
    """Every statement sent to the database inside the block, as sent."""
    from sqlalchemy import event

    seen: list[str] = []

    def note(_c: object, _cur: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


@contextlib.contextmanager
def folded_events() -> Iterator[list[str]]:
    """Every event the chart fold applies inside the block (its kind), whoever folds it (a
    service or a page's request)."""
    from unittest import mock

    from ketaplan.clinical import session as chart_log

    applied: list[str] = []
    fold = chart_log.apply

    def counted(state: Any, charted: Any, *args: Any, **kwargs: Any) -> Any:
        applied.append(charted.kind)
        return fold(state, charted, *args, **kwargs)

    with mock.patch.object(chart_log, "apply", counted):
        yield applied


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
