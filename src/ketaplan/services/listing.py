"""A patient's records listed as one audited read: the shape every "list the patient's X" shares.

A list shows which records someone saw, so it is audited like a read of each: one event on the
patient naming every id listed (``details[ids_key]``), written before the list is returned.
The patient is looked up in the actor's clinic first, so a list for a patient elsewhere is the
same "not found" as a read of that patient, and nothing is listed. What is listed, and how, is
the caller's: it passes ``load``, run inside the read after that check.

A list is read a page at a time (a :class:`Window`: how many, after how many), newest first,
with the total of the patient's records of that kind counted in the same read, so a client
can page through all of them and say "3 of 12". Both are bounded by the one patient's records
(each list's query is on its ``patient_id`` index), never by the clinic's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ketaplan.errors import InputError
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.patients import find_patient
from ketaplan.services.unit_of_work import UnitOfWork

Row = TypeVar("Row")

MAX_PAGE = 200
"""The most records one page lists (a larger ``limit`` is refused, not clamped)."""


@dataclass(frozen=True)
class Window:
    """Which page of a list: at most ``limit`` records, after the first ``offset``."""

    limit: int = MAX_PAGE
    offset: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise InputError(
                f"limit {self.limit} must be 1 to {MAX_PAGE} records a page",
                code="input.out_of_range",
                fields={"field": "limit"},
            )
        if self.offset < 0:
            raise InputError(
                f"offset {self.offset} must be 0 or more records",
                code="input.out_of_range",
                fields={"field": "cursor"},
            )


@dataclass(frozen=True)
class Listed(Generic[Row]):
    """One page of a list: its ``rows``, the ``total`` there are, and the window read."""

    rows: list[Row]
    total: int
    window: Window

    @property
    def next_offset(self) -> int | None:
        """Where the next page starts, or None after the last one."""
        after = self.window.offset + len(self.rows)
        return after if after < self.total and self.rows else None


def audited_patient_listing(
    uow: UnitOfWork,
    patient_id: int,
    *,
    actor: Actor,
    action: AuditAction,
    ids_key: str,
    load: Callable[[Window], Iterable[Row]],
    count: Callable[[], int],
    id_of: Callable[[Row], int],
    window: Window,
) -> Listed[Row]:
    """The page ``load`` reads for the patient in ``window``, and the ``count`` of all, as
    one audited read (see the module docstring).

    ``ids_key`` names the ids in the audit event (``"plan_ids"``), ``id_of`` reads a row's id;
    only the ids on the page are audited, since only they are shown. The caller checks the
    actor's role first: what a role may list is the use case's rule.
    """
    with uow.reading():
        find_patient(uow, patient_id, actor)
        found = list(load(window))
        total = count()
        uow.audit(
            actor,
            action,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={ids_key: [id_of(row) for row in found]},
        )
        uow.commit()
        return Listed(found, total, window)
