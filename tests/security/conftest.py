"""The security tests run on the service tests' databases (SQLite, and PostgreSQL when
``KETAPLAN_TEST_POSTGRES_URL`` is set), app and staff: their fixtures, re-exported. The
session's templates are tests/conftest.py's, shared with the service tests."""

from __future__ import annotations

from ..service.conftest import (  # noqa: F401  (fixtures are found by name)
    _cheap_password_hashing,
    admin,
    api,
    clock,
    database,
    database_url,
    nurse,
    patient,
    prescriber,
    rows,
    uow,
)
