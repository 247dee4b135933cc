"""The unit tier: no database, no browser, no server (``make unit``).

Service logic that decides before it reaches the store (who may do what, which inputs are
refused) is tested here with :class:`InMemoryUnitOfWork`: a unit of work with no database
behind it. It keeps in memory what a service did with it (the transactions it opened, the
audit events it committed); a service that gets past its decisions and asks for the store
(``uow.db``, ``uow.lookup()``) gets :class:`StoreReached`, which the test expects or not.
What the service then does with the store is the service tier's (``make service``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import pytest
from sqlalchemy.orm import Session, sessionmaker

from ketaplan.services.actors import Actor, Role, Visitor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.unit_of_work import UnitOfWork

FIXED_NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class StoreReached(Exception):
    """The service logic asked for the store: it decided to go ahead."""


def _no_sessions() -> Session:
    raise StoreReached("the in-memory unit of work has no database")


class InMemoryUnitOfWork(UnitOfWork):
    """A :class:`UnitOfWork` without a database, recording what the service did with it."""

    StoreReached = StoreReached
    """The signal, reachable from the fixture (``pytest.raises(uow.StoreReached)``)."""

    def __init__(self) -> None:
        super().__init__(sessionmaker(), clock=lambda: FIXED_NOW)
        self._db_factory = _no_sessions  # type: ignore[assignment]
        self.opened: list[str] = []
        """Each transaction the service opened: ``"write"`` or ``"read"``."""
        self.pending: list[tuple[str, str, str]] = []
        self.committed: list[tuple[str, str, str]] = []
        """The audit events committed: (action, entity type, entity id)."""
        self._open = False

    @property
    def db(self) -> Session:
        raise StoreReached("the service asked for the store's session")

    def reading(self) -> Self:
        self.opened.append("read")
        return self

    def __enter__(self) -> Self:
        if self._open:
            raise RuntimeError("the unit of work is already open")
        if not self.opened or self.opened[-1] != "read":
            self.opened.append("write")
        self._open = True
        self.pending = []
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        self.pending = []  # what was not committed is rolled back

    @contextmanager
    def lookup(self) -> Iterator[Session]:
        raise StoreReached("the service looked something up in the store")
        yield  # pragma: no cover

    def audit(
        self,
        actor: Actor | Visitor,
        action: AuditAction,
        entity_type: str,
        entity_id: object,
        **_: Any,
    ) -> None:
        self.pending.append((action, entity_type, str(entity_id)))

    def commit(self) -> None:
        if not self.pending:
            raise RuntimeError("refusing to commit a transaction that recorded no audit event")
        self.committed += self.pending
        self.pending = []


@pytest.fixture(scope="session")
def memory_uow() -> type[InMemoryUnitOfWork]:
    """A new in-memory unit of work on each call (one per Hypothesis example, too)."""
    return InMemoryUnitOfWork


@pytest.fixture
def staff() -> Callable[[Role], Actor]:
    """A member of staff of clinic 1 in the given role (no account behind it: no store)."""

    def member(role: Role) -> Actor:
        return Actor(
            user_id=7,
            clinic_id=1,
            email=f"{role}@bay.example",
            name="Robin Diaz",
            role=role,
        )

    return member
