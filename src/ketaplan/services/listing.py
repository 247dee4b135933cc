"""A patient's records listed as one audited read: the shape every "list the patient's X" shares.

A list shows which records someone saw, so it is audited like a read of each: one event on the
patient naming every id listed (``details[ids_key]``), written before the list is returned.
The patient is looked up in the actor's clinic first, so a list for a patient elsewhere is the
same "not found" as a read of that patient, and nothing is listed. What is listed, and how, is
the caller's: it passes ``load``, run inside the read after that check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.patients import find_patient
from ketaplan.services.unit_of_work import UnitOfWork

Row = TypeVar("Row")


def audited_patient_listing(
    uow: UnitOfWork,
    patient_id: int,
    *,
    actor: Actor,
    action: AuditAction,
    ids_key: str,
    load: Callable[[], Iterable[Row]],
    id_of: Callable[[Row], int],
) -> list[Row]:
    """The rows ``load`` reads for the patient, as one audited read (see the module docstring).

    ``ids_key`` names the ids in the audit event (``"plan_ids"``), ``id_of`` reads a row's id.
    The caller checks the actor's role first: what a role may list is the use case's rule.
    """
    with uow.reading():
        find_patient(uow, patient_id, actor)
        found = list(load())
        uow.audit(
            actor,
            action,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={ids_key: [id_of(row) for row in found]},
        )
        uow.commit()
        return found
