"""The security tables run on the service tests' databases and app: SQLite always, PostgreSQL
when ``KETAPLAN_TEST_POSTGRES_URL`` is set (see ``tests/service/conftest.py``)."""

from tests.service.conftest import (  # noqa: F401 - fixtures, re-exported for pytest
    _cheap_password_hashing,
    api,
    clock,
    database,
    database_url,
    rows,
)
