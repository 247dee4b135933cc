"""The security tests run on the service tests' databases (SQLite, and PostgreSQL when
``KETAPLAN_TEST_POSTGRES_URL`` is set), app and staff: their fixtures, re-exported."""

from __future__ import annotations

from ..service.conftest import (  # noqa: F401  (fixtures are found by name)
    _cheap_password_hashing,
    _postgres_databases,
    _sqlite_clinic_template,
    _sqlite_template,
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
