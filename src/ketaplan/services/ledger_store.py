"""The ledger's rows and the domain's values, both ways, inside a unit of work.

A clinic's ledger is written one entry at a time: :func:`take_ledger_turn` locks the clinic's
row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
writers), so the entries a new one is checked against cannot change before it is written, and
the clinic's entry numbers (``seq``, unique per clinic) never collide. Rows are added through the
session, so the unit of work names them in the audit chain (:mod:`ketaplan.store.audit_records`).

A correction stores only what it changes (``data["changes"]``, e.g. ``{"volume_cml": 210}``);
the replacement is the corrected entry with those changes (:func:`to_entry`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ketaplan.clinical.ledger import (
    Administer,
    Container,
    Correct,
    Count,
    Destroy,
    Draw,
    LedgerEntry,
    Receive,
    Resolve,
    Return,
    Waste,
)
from ketaplan.errors import NotFoundError
from ketaplan.inputs import MAX_RECORD_ID
from ketaplan.services.actors import Actor
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic, LedgerContainer
from ketaplan.store.models import LedgerEntry as EntryRow

CORRECTABLE_FIELDS = frozenset({"volume_cml", "counted_cml", "mg", "reason", "write_off"})
"""What a correction may change; anything else is corrected by voiding and entering anew."""


def take_ledger_turn(uow: UnitOfWork, clinic_id: int) -> None:
    """Hold the clinic's ledger until this transaction ends (see the module docstring)."""
    uow.db.execute(select(Clinic.id).where(Clinic.id == clinic_id).with_for_update())


def next_seq(uow: UnitOfWork, clinic_id: int) -> int:
    found = uow.db.scalar(select(func.max(EntryRow.seq)).where(EntryRow.clinic_id == clinic_id))
    return (found or 0) + 1


def find_container(uow: UnitOfWork, number: str, actor: Actor) -> LedgerContainer:
    """The clinic's vial with this number; another clinic's is not found."""
    row = uow.db.scalar(
        select(LedgerContainer).where(
            LedgerContainer.clinic_id == actor.clinic_id, LedgerContainer.number == number.strip()
        )
    )
    if row is None:
        raise NotFoundError(
            f"there is no vial numbered {number!r} in this clinic's ledger",
            code="not_found.vial",
            fields={"field": "container", "container": number},
        )
    return row


def find_entry(uow: UnitOfWork, entry_id: int, actor: Actor) -> EntryRow:
    # An id no record can have is not looked up (the database would refuse the number).
    row = uow.db.get(EntryRow, entry_id) if 1 <= entry_id <= MAX_RECORD_ID else None
    if row is None or row.clinic_id != actor.clinic_id:
        raise NotFoundError(
            f"there is no ledger entry {entry_id}",
            code="not_found.ledger_entry",
            fields={"field": "entry_id", "entry_id": entry_id},
        )
    return row


def to_container(row: LedgerContainer) -> Container:
    return Container(
        row.number,
        row.drug,
        row.form,
        row.ndc,
        row.lot,
        row.expiry,
        row.mg_per_ml,
        row.volume_cml,
        row.schedule,
    )


def container_rows(uow: UnitOfWork, container_id: int) -> list[EntryRow]:
    return list(
        uow.db.scalars(
            select(EntryRow).where(EntryRow.container_id == container_id).order_by(EntryRow.seq)
        )
    )


def clinic_zone_of(uow: UnitOfWork, container: LedgerContainer) -> ZoneInfo:
    """The time zone of the vial's clinic: a label's expiry is a day of the clinic's calendar."""
    return ZoneInfo(uow.db.get_one(Clinic, container.clinic_id).time_zone)


def to_entries(
    rows: list[EntryRow], container: LedgerContainer, zone: ZoneInfo
) -> list[LedgerEntry]:
    """A container's rows as the domain's entries (corrections with their replacements), their
    times in the clinic's ``zone`` so that a draw's day is the clinic's day (a vial expiring on
    the 31st may be drawn from until midnight in the clinic, not until midnight UTC)."""
    by_id: dict[int, LedgerEntry] = {}
    found: list[LedgerEntry] = []
    for row in rows:
        entry = to_entry(row, container, by_id, zone)
        by_id[row.id] = entry
        found.append(entry)
    return found


def to_entry(
    row: EntryRow,
    container: LedgerContainer | None,
    earlier: dict[int, LedgerEntry],
    zone: ZoneInfo,
) -> LedgerEntry:
    data: dict[str, Any] = row.data or {}
    volume = row.volume_cml or 0
    head = (row.id, row.at.astimezone(zone), row.by)
    if row.kind == "receive":
        assert container is not None
        return Receive(
            *head,
            to_container(container),
            data.get("supplier_name", ""),
            data.get("supplier_address", ""),
            data.get("supplier_dea", ""),
            data.get("receipt", ""),
        )
    if row.kind == "draw":
        return Draw(*head, volume, row.plan_id, row.session_id, row.patient_id)
    if row.kind == "administer":
        assert row.draw_id is not None
        return Administer(*head, row.draw_id, volume, row.mg or 0.0, row.session_id, row.patient_id)
    if row.kind == "waste":
        return Waste(*head, volume, row.reason or "", row.witness_id, row.draw_id)
    if row.kind == "return":
        assert row.draw_id is not None
        return Return(*head, row.draw_id, volume)
    if row.kind == "destroy":
        witnesses = tuple(w for w in (row.witness_id, row.second_witness_id) if w is not None)
        return Destroy(*head, volume, data.get("method", ""), data.get("place", ""), witnesses)
    if row.kind == "count":
        return Count(*head, volume, bool(data.get("estimated")), data.get("inventory_id"))
    if row.kind == "resolve":
        return Resolve(*head, int(data["count_id"]), row.reason or "", bool(data["write_off"]))
    if row.kind == "correct":
        assert row.corrects_id is not None
        changes = data.get("changes")
        replacement = None
        if changes is not None:
            replacement = replace(earlier[row.corrects_id], **changes)
        return Correct(*head, row.corrects_id, row.reason or "", replacement)
    raise ValueError(f"ledger entry {row.id} of kind {row.kind} belongs to no container")


def add_entry(uow: UnitOfWork, actor: Actor, kind: str, **columns: Any) -> EntryRow:
    """Write one entry (numbered next in the clinic) and flush it: its id is known."""
    now = uow.clock()
    row = EntryRow(
        clinic_id=actor.clinic_id,
        seq=next_seq(uow, actor.clinic_id),
        kind=kind,
        at=columns.pop("at", now),
        recorded_at=now,
        by=actor.user_id,
        data=columns.pop("data", {}),
        **columns,
    )
    uow.db.add(row)
    uow.db.flush()
    return row
