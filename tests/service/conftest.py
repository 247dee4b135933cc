"""Service tests run against real databases: SQLite always, PostgreSQL when configured.

Every test that asks for ``database_url`` runs twice, ``[sqlite]`` and ``[postgresql]``. The
SQLite database is a file in the test's tmp directory. The PostgreSQL one is a schema of its
own (``ketaplan_test_<random>``) in the database named by ``KETAPLAN_TEST_POSTGRES_URL``, made
for the test and dropped after it, so runs never see each other's rows. Without the variable
the PostgreSQL runs are skipped; with it (CI sets it) they must pass: a server that cannot be
reached is an error, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ketaplan.store import Database, migrate, open_database
from ketaplan.store.engine import make_engine

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
