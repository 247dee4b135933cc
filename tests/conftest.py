"""Test-wide set-up: no network, and a shared catalog."""

from __future__ import annotations

import gc
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ketaplan.clinical.catalog import Catalog, load_catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.drug_dictionary import DnerDrugDictionary


@pytest.fixture(autouse=True)
def _own_state_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """What ketaplan remembers between runs (the last audit position verified) stays in the
    test's own folder, never the user's."""
    monkeypatch.setenv("KETAPLAN_STATE_DIR", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not reach the internet: outbound connections other than loopback fail."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else str(address)
        if isinstance(host, str) and (
            host.startswith(("127.", "/")) or host in {"localhost", "::1"}
        ):
            return real_connect(self, address)  # type: ignore[arg-type]
        raise RuntimeError(f"test tried to reach the network: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="session")
def resolver(catalog: Catalog) -> MedicationResolver:
    """The real drug dictionary (its SQLite index is built once into the user cache)."""
    return MedicationResolver(catalog, DnerDrugDictionary())


@pytest.fixture(scope="session")
def policy() -> ClinicPolicy:
    """The packaged files' clinic policy: catalog, monitoring rules and calendar."""
    from ketaplan.clinical.catalog.course_loader import load_policy

    return load_policy()


# The service and security tiers' session databases (tests/service/conftest.py). They are
# defined here, the two tiers' common conftest, because a session fixture is cached per conftest
# that defines it: re-exported by tests/security/conftest.py as well, each worker migrated two
# SQLite templates and two PostgreSQL ones, set the API's clinic up in each, and dropped both.
# Nothing is imported or made until a test asks for a database.


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, made once per session, that tests copy."""
    from tests.service.conftest import migrated_sqlite_template

    return migrated_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def _sqlite_clinic_template(_sqlite_template: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    """The migrated template with the API's clinic in it, and each user's bearer header."""
    from tests.service.conftest import sqlite_clinic_template

    return sqlite_clinic_template(_sqlite_template)


@pytest.fixture(scope="session")
def _postgres_databases() -> Iterator[object]:
    """The session's PostgreSQL databases (``PostgresDatabases``), made on first use; None
    without ``KETAPLAN_TEST_POSTGRES_URL``."""
    from tests.service.conftest import POSTGRES_URL_VARIABLE, PostgresDatabases

    base = os.environ.get(POSTGRES_URL_VARIABLE)
    if not base:
        yield None
        return
    databases = PostgresDatabases(base)
    try:
        yield databases
    finally:
        databases.close()


FD_GROWTH_ALLOWED = 256
"""Open descriptors a whole test session may end with beyond those it started with (caches,
the drug dictionary's index, a browser). The suite once grew past 1,023 (one writer-lock file
per SQLite database ever opened), which ``select()`` refuses to watch."""


def _open_descriptors() -> dict[str, int]:
    """This process's open descriptors by kind (``socket``, ``pipe``, or the file's name)."""
    kinds: dict[str, int] = {}
    for descriptor in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{descriptor}")
        except OSError:  # the listing's own descriptor, closed already
            continue
        kind = target.split(":", 1)[0] if ":" in target else os.path.basename(target)
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


@pytest.fixture(scope="session", autouse=True)
def _no_descriptor_leak() -> Iterator[None]:
    """Fail the session if it leaks descriptors: TestClients, engines or files left open."""
    if not os.path.isdir("/proc/self/fd"):  # pragma: no cover - not Linux
        yield
        return
    gc.collect()
    before = sum(_open_descriptors().values())
    yield
    gc.collect()
    after = _open_descriptors()
    grown = sum(after.values()) - before
    if grown > FD_GROWTH_ALLOWED:
        most = sorted(after.items(), key=lambda kind: -kind[1])[:8]
        pytest.fail(f"the session left {grown} more descriptors open than it began with: {most}")
