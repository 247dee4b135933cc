"""The security tests run on the service tests' databases (SQLite, and PostgreSQL when
``KETAPLAN_TEST_POSTGRES_URL`` is set), app and staff: their fixtures, re-exported."""

from __future__ import annotations

from ..service.conftest import (  # noqa: F401  (fixtures are found by name)
    _cheap_password_hashing,
    api,
    clock,
    database,
    database_url,
)
