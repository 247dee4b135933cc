"""Test-wide set-up: no network, and a shared catalog."""

from __future__ import annotations

import socket

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
