"""The ledger read back: a vial's history, the stock, the medication room's open work, the
reports an inspector asks for (1304.22 administrations and receipts, 1304.11 inventories,
Form 41 destructions, Form 106 losses), and loss cases with their clocks.

Every read is audited (an administration log names patients). Balances are folded from the
entries on each read (:func:`ketaplan.clinical.ledger.fold`), never read from a stored total.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.clinical.ledger import (
    ContainerBalance,
    cml_to_mg,
    cml_to_ml,
    fold,
    stock_lines,
)
from ketaplan.errors import InputError
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.courses import clinic_zone
from ketaplan.services.ledger_loss_rows import loss_report_rows
from ketaplan.services.ledger_store import clinic_zone_of, to_container, to_entries
from ketaplan.services.patient_contacts import NO_ADDRESS
from ketaplan.services.patient_history import addresses_at
from ketaplan.services.staff_names import StaffMember, staff_members, staff_names
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic, LedgerContainer, Patient
from ketaplan.store.models import LedgerEntry as EntryRow

READING: tuple[Role, ...] = ("admin", "prescriber", "nurse")


def balance_dict(balance: ContainerBalance) -> dict[str, Any]:
    c = balance.container
    return {
        "container": None if c is None else c.number,
        "received_ml": cml_to_ml(balance.received_cml),
        "in_vial_ml": cml_to_ml(balance.in_vial_cml),
        "in_hand_ml": cml_to_ml(balance.in_hand_cml),
        "remaining_ml": cml_to_ml(balance.remaining_cml),
        "administered_ml": cml_to_ml(balance.administered_cml),
        "wasted_ml": cml_to_ml(balance.wasted_cml),
        "destroyed_ml": cml_to_ml(balance.destroyed_cml),
        "written_off_ml": cml_to_ml(balance.written_off_cml),
        "in_vial_mg": None if c is None else cml_to_mg(balance.in_vial_cml, c.mg_per_ml),
        "balances": balance.accounted_cml == balance.received_cml,
        "draws_in_hand": [
            {
                "draw_id": d.draw.entry_id,
                "in_hand_ml": cml_to_ml(d.in_hand_cml),
                "administered_ml": cml_to_ml(d.administered_cml),
                "plan_id": d.draw.plan_id,
                "session_id": d.draw.session_id,
            }
            for d in balance.draws
            if d.in_hand_cml > 0
        ],
        "open_discrepancies": [
            {
                "count_id": d.count.entry_id,
                "expected_ml": cml_to_ml(d.expected_cml),
                "counted_ml": cml_to_ml(d.count.counted_cml),
                "missing_ml": cml_to_ml(d.missing_cml),
            }
            for d in balance.open_discrepancies
        ],
    }


def container_dict(row: LedgerContainer) -> dict[str, Any]:
    return {
        "number": row.number,
        "drug": row.drug,
        "form": row.form,
        "ndc": row.ndc,
        "lot": row.lot,
        "expiry": row.expiry.isoformat(),
        "strength": f"{row.mg_per_ml:g} mg/mL",
        "mg_per_ml": row.mg_per_ml,
        "volume_ml": cml_to_ml(row.volume_cml),
        "schedule": row.schedule,
    }


def _staff(uow: UnitOfWork, rows: Iterable[EntryRow]) -> dict[int, StaffMember]:
    """Who wrote and who witnessed these entries, in one statement."""
    return staff_members(
        uow.db, (i for r in rows for i in (r.by, r.witness_id, r.second_witness_id))
    )


def _email(staff: dict[int, StaffMember], user_id: int) -> str:
    found = staff.get(user_id)
    return str(user_id) if found is None else found.email


def _name(staff: dict[int, StaffMember], user_id: int | None) -> str:
    found = None if user_id is None else staff.get(user_id)
    return "" if found is None else found.name


def entry_dict(row: EntryRow, staff: dict[int, StaffMember], number: str | None) -> dict[str, Any]:
    """One entry as the API gives it: ``by`` and ``witnesses`` are e-mails (sign-in names),
    ``by_name`` and ``witness_names`` the same people as pages name them."""
    witnesses = [w for w in (row.witness_id, row.second_witness_id) if w]
    return {
        "entry_id": row.id,
        "seq": row.seq,
        "kind": row.kind,
        "container": number,
        "at": row.at.isoformat(),
        "recorded_at": row.recorded_at.isoformat(),
        "by": _email(staff, row.by),
        "by_name": _name(staff, row.by) or str(row.by),
        "volume_ml": None if row.volume_cml is None else cml_to_ml(row.volume_cml),
        "mg": row.mg,
        "draw_id": row.draw_id,
        "corrects": row.corrects_id,
        "plan_id": row.plan_id,
        "session_id": row.session_id,
        "patient_id": row.patient_id,
        "witnesses": [_email(staff, w) for w in witnesses],
        "witness_names": [_name(staff, w) or str(w) for w in witnesses],
        "reason": row.reason,
        "data": dict(row.data or {}),
    }


def _containers(uow: UnitOfWork, actor: Actor) -> list[LedgerContainer]:
    return list(
        uow.db.scalars(
            select(LedgerContainer)
            .where(LedgerContainer.clinic_id == actor.clinic_id)
            .order_by(LedgerContainer.number)
        )
    )


def _all_rows(uow: UnitOfWork, actor: Actor) -> list[EntryRow]:
    return list(
        uow.db.scalars(
            select(EntryRow).where(EntryRow.clinic_id == actor.clinic_id).order_by(EntryRow.seq)
        )
    )


def _balances(
    containers: Sequence[LedgerContainer], rows: Sequence[EntryRow], zone: ZoneInfo
) -> dict[int, ContainerBalance]:
    by_container: dict[int, list[EntryRow]] = {}
    for row in rows:
        if row.container_id is not None:
            by_container.setdefault(row.container_id, []).append(row)
    return {c.id: fold(to_entries(by_container.get(c.id, []), c, zone)) for c in containers}


def vial_history(uow: UnitOfWork, number: str, *, actor: Actor) -> dict[str, Any]:
    """A vial's identity, every entry written against it, and its balance."""
    from ketaplan.services.ledger_store import container_rows, find_container

    require_role(actor, READING, "reading the controlled-substance ledger")
    with uow.reading():
        container = find_container(uow, number, actor)
        rows = container_rows(uow, container.id)
        staff = _staff(uow, rows)
        balance = fold(to_entries(rows, container, clinic_zone_of(uow, container)))
        uow.audit(
            actor,
            AuditAction.LEDGER_VIAL_READ,
            "ledger_container",
            container.id,
            details={"container": container.number},
        )
        uow.commit()
    return {
        "container": container_dict(container),
        "balance": balance_dict(balance),
        "entries": [entry_dict(r, staff, container.number) for r in rows],
    }


def entry_vial(uow: UnitOfWork, entry_id: int, *, actor: Actor) -> dict[str, Any]:
    """One entry, with the history of its vial (a loss case's step or an inventory's header
    has no vial: the entry alone)."""
    from ketaplan.services.ledger_store import find_entry

    require_role(actor, READING, "reading the controlled-substance ledger")
    with uow.reading():
        row = find_entry(uow, entry_id, actor)
        container = (
            None if row.container_id is None else uow.db.get(LedgerContainer, row.container_id)
        )
        entry = entry_dict(row, _staff(uow, [row]), None if container is None else container.number)
        uow.audit(
            actor, AuditAction.LEDGER_ENTRY_READ, "ledger_entry", row.id, patient_id=row.patient_id
        )
        uow.commit()
    if container is None:
        return {"entry": entry}
    return {"entry": entry, **vial_history(uow, container.number, actor=actor)}


def order_ledger(uow: UnitOfWork, plan_id: int, *, actor: Actor) -> dict[str, Any]:
    """What the ledger holds for an order (its draws, administrations and waste, with each
    vial's number and lot) and the vials it could be drawn from now (in stock, not expired,
    of the strength the card names first): what the preparation card shows."""
    from ketaplan.services.plans import find_plan

    require_role(actor, READING, "reading the controlled-substance ledger")
    with uow.reading():
        plan = find_plan(uow, plan_id, actor)
        entries = care_entries(uow, actor=actor, plan_id=plan_id)
        containers = _containers(uow, actor)
        zone = clinic_zone(uow, actor)
        balances = _balances(containers, _all_rows(uow, actor), zone)
        today = uow.clock().astimezone(zone).date()
        uow.audit(actor, AuditAction.LEDGER_ORDER_READ, "plan", plan_id, patient_id=plan.patient_id)
        uow.commit()
    preparation = (plan.plan or {}).get("preparation") or {}
    strength = preparation.get("vial_mg_per_ml")
    usable = [
        {**container_dict(c), "in_vial_ml": cml_to_ml(balances[c.id].in_vial_cml)}
        for c in containers
        if balances[c.id].in_vial_cml > 0 and not to_container(c).expired_on(today)
    ]
    usable.sort(key=lambda v: (v["mg_per_ml"] != strength, v["in_vial_ml"] == v["volume_ml"]))
    return {"plan_id": plan_id, "entries": entries, "vials": usable}


def session_ledger(uow: UnitOfWork, session_id: int, *, actor: Actor) -> list[dict[str, Any]]:
    """The ledger entries of a session (draws, what was given, waste), for its chart; audited."""
    from ketaplan.services.sessions import find_session

    require_role(actor, READING, "reading the controlled-substance ledger")
    with uow.reading():
        session = find_session(uow, session_id, actor)
        entries = care_entries(uow, actor=actor, session_id=session_id)
        uow.audit(
            actor,
            AuditAction.LEDGER_SESSION_READ,
            "session",
            session_id,
            patient_id=session.patient_id,
        )
        uow.commit()
    return entries


def stock(uow: UnitOfWork, *, actor: Actor) -> dict[str, Any]:
    """Every vial's balance, the stock per item (1304.11's lines), and the open work of the
    medication room: drug drawn and still in hand, counts that disagree."""
    require_role(actor, READING, "reading the controlled-substance ledger")
    with uow.reading():
        containers = _containers(uow, actor)
        zone = clinic_zone(uow, actor)
        balances = _balances(containers, _all_rows(uow, actor), zone)
        today = uow.clock().astimezone(zone).date()
        uow.audit(actor, AuditAction.LEDGER_STOCK_READ, "clinic", actor.clinic_id)
        uow.commit()
    vials = [
        {
            **container_dict(c),
            "balance": balance_dict(balances[c.id]),
            "expired": to_container(c).expired_on(today),
        }
        for c in containers
    ]
    lines = stock_lines(balances.values(), today)
    return {
        "vials": vials,
        "items": [
            {
                "drug": s.drug,
                "form": s.form,
                "strength": f"{s.mg_per_ml:g} mg/mL",
                "volume_per_container_ml": cml_to_ml(s.volume_per_container_cml),
                "unopened": s.unopened,
                "opened": s.opened,
                "expired": s.expired,
                "total_ml": cml_to_ml(s.total_cml),
                "total_mg": s.total_mg,
            }
            for s in lines
        ],
        "draws_in_hand": [
            {**d, "container": v["number"]} for v in vials for d in v["balance"]["draws_in_hand"]
        ],
        "open_discrepancies": [
            {**d, "container": v["number"]}
            for v in vials
            for d in v["balance"]["open_discrepancies"]
        ],
    }


def care_entries(
    uow: UnitOfWork, *, actor: Actor, plan_id: int | None = None, session_id: int | None = None
) -> list[dict[str, Any]]:
    """The ledger entries of an order or a session (draws, administration, waste), with the
    vial's number and lot, inside the caller's open unit of work (its read is audited there)."""
    query = (
        select(EntryRow, LedgerContainer)
        .join(LedgerContainer, LedgerContainer.id == EntryRow.container_id)
        .where(EntryRow.clinic_id == actor.clinic_id)
    )
    if plan_id is not None:
        query = query.where(EntryRow.plan_id == plan_id)
    if session_id is not None:
        query = query.where(EntryRow.session_id == session_id)
    found = [(row, c) for row, c in uow.db.execute(query.order_by(EntryRow.seq))]
    staff = _staff(uow, (r for r, _c in found))
    return [{**entry_dict(r, staff, c.number), "lot": c.lot} for r, c in found]


REPORTS = ("administrations", "receipts", "destructions", "inventories", "losses", "entries")


def report(
    uow: UnitOfWork,
    name: str,
    *,
    actor: Actor,
    patient_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
    vial: str | None = None,
) -> list[dict[str, Any]]:
    """One of :data:`REPORTS` as rows (the same rows print, go to CSV and to JSON); ``vial``
    keeps one vial's rows (its history)."""
    require_role(actor, READING, "reading the controlled-substance ledger")
    if name not in REPORTS:
        raise InputError(
            f"report {name!r}: one of {', '.join(REPORTS)}",
            code="input.unknown_term",
            fields={"field": "report"},
        )
    with uow.reading():
        containers = {c.id: c for c in _containers(uow, actor)}
        every_row = _all_rows(uow, actor)
        zone = clinic_zone(uow, actor)
        rows = [r for r in every_row if _within(r.at, since, until, zone)]
        if patient_id is not None:
            rows = [r for r in rows if r.patient_id == patient_id]
        if vial is not None:
            kept = {c.id for c in containers.values() if c.number == vial.strip()}
            rows = [r for r in rows if r.container_id in kept]
        staff = _staff(uow, rows)
        patients = _patients(uow, {r.patient_id for r in rows if r.patient_id is not None})
        if name == "losses":
            found = _loss_rows(uow, actor, every_row, rows, patient_id, vial)
        else:
            addresses = (
                addresses_at(
                    uow,
                    ((r.patient_id, r.at) for r in rows if r.patient_id is not None),
                )
                if name == "administrations"
                else {}
            )
            found = _report_rows(name, rows, containers, staff, patients, addresses)
        uow.audit(
            actor,
            AuditAction(f"ledger.report.{name}"),
            "clinic",
            actor.clinic_id,
            patient_id=patient_id,
            details={"rows": len(found), "patients": sorted(patients)},
        )
        uow.commit()
    return found


def _loss_rows(
    uow: UnitOfWork,
    actor: Actor,
    every_row: list[EntryRow],
    in_period: list[EntryRow],
    patient_id: int | None,
    vial: str | None,
) -> list[dict[str, Any]]:
    """The loss report: the cases discovered in the period, each with all its steps (a notice
    sent after the period still shows). A case names no patient and no one vial, so a report
    narrowed to a patient or a vial has no loss rows."""
    if patient_id is not None or vial is not None:
        return []
    kept = {r.id for r in in_period if r.kind == "loss_open"}
    clinic = uow.db.get_one(Clinic, actor.clinic_id)
    return loss_report_rows(
        every_row,
        kept_cases=kept,
        names=staff_names(uow.db, (r.by for r in every_row if r.kind == "loss_open")),
        zone=ZoneInfo(clinic.time_zone),
        now=uow.clock(),
    )


def _within(at: datetime, since: date | None, until: date | None, zone: ZoneInfo) -> bool:
    """Whether ``at`` falls on one of the clinic's days from ``since`` to ``until``: a draw at
    19:00 in California on 31 March is March's, although it is 1 April in UTC."""
    day = at.astimezone(zone).date()
    return (since is None or day >= since) and (until is None or day <= until)


def _patients(uow: UnitOfWork, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = uow.db.execute(select(Patient.id, Patient.full_name).where(Patient.id.in_(ids)))
    return dict(found.all())


def _report_rows(
    name: str,
    rows: list[EntryRow],
    containers: dict[int, LedgerContainer],
    staff: dict[int, StaffMember],
    patients: dict[int, str],
    addresses: dict[tuple[int, datetime], str | None],
) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        c = containers.get(row.container_id) if row.container_id is not None else None
        base = (
            {}
            if c is None
            else {
                "vial": c.number,
                "drug": c.drug,
                "form": c.form,
                "strength": f"{c.mg_per_ml:g} mg/mL",
                "ndc": c.ndc,
                "lot": c.lot,
                "expiry": c.expiry.isoformat(),
            }
        )
        volume = None if row.volume_cml is None else cml_to_ml(row.volume_cml)
        mg = (
            row.mg
            if row.mg is not None
            else (
                None
                if c is None or row.volume_cml is None
                else cml_to_mg(row.volume_cml, c.mg_per_ml)
            )
        )
        common = {"entry_id": row.id, "date": row.at.isoformat(), "by": _name(staff, row.by)}
        if name == "administrations" and row.kind == "administer":
            out.append(
                {
                    **common,
                    "patient_id": row.patient_id,
                    "patient_name": patients.get(row.patient_id or 0, ""),
                    "patient_address": addresses.get((row.patient_id or 0, row.at)) or NO_ADDRESS,
                    "amount_mg": mg,
                    "amount_ml": volume,
                    **base,
                    "session_id": row.session_id,
                    "administered_by": _name(staff, row.by),
                }
            )
        elif name == "receipts" and row.kind == "receive":
            data = row.data or {}
            out.append(
                {
                    **common,
                    **base,
                    "units_per_container_ml": volume,
                    "containers": 1,
                    "supplier_name": data.get("supplier_name"),
                    "supplier_address": data.get("supplier_address"),
                    "supplier_dea": data.get("supplier_dea"),
                    "receipt": data.get("receipt"),
                }
            )
        elif name == "destructions" and row.kind == "destroy":
            data = row.data or {}
            out.append(
                {
                    **common,
                    **base,
                    "quantity_ml": volume,
                    "quantity_mg": mg,
                    "method": data.get("method"),
                    "place": data.get("place"),
                    "witness_1": _name(staff, row.witness_id),
                    "witness_2": _name(staff, row.second_witness_id),
                }
            )
        elif (
            name == "inventories"
            and row.kind in ("inventory", "count")
            and (row.kind == "inventory" or (row.data or {}).get("inventory_id"))
        ):
            data = row.data or {}
            out.append(
                {
                    **common,
                    **base,
                    "kind": data.get("kind", "line"),
                    "business": data.get("business"),
                    "inventory_id": data.get("inventory_id", row.id),
                    "counted_ml": volume,
                    "estimated": data.get("estimated"),
                }
            )
        elif name == "entries":
            out.append(
                {
                    **common,
                    "kind": row.kind,
                    **base,
                    "volume_ml": volume,
                    "mg": mg,
                    "patient_id": row.patient_id,
                    "reason": row.reason,
                    "witnesses": "; ".join(
                        _name(staff, w) for w in (row.witness_id, row.second_witness_id) if w
                    ),
                    "corrects": row.corrects_id,
                }
            )
    return out


DEA_COLUMN = "dea_registration"
"""The clinic's DEA registration number, the first column of every ledger CSV: on every row
(a line above the headings would break a spreadsheet's import), blank when not recorded."""


def to_csv(rows: Sequence[dict[str, Any]], *, dea_registration: str) -> str:
    """Rows as CSV with a header of the DEA column and every column seen, the DEA number on
    every row (a formula-like cell is quoted with a leading apostrophe, so a spreadsheet shows
    it as text)."""
    columns: list[str] = [DEA_COLUMN]
    for row in rows:
        columns += [k for k in row if k not in columns]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in {DEA_COLUMN: dea_registration, **row}.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value
