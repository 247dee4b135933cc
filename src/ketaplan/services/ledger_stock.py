"""The ledger's stock-keeping use cases: destruction (Form 41), counts, inventories (21 CFR
1304.11), resolving a count's discrepancy, and corrections. Same pattern and roles as
:mod:`ketaplan.services.ledger`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from ketaplan.clinical.ledger import (
    Correct,
    Count,
    Destroy,
    LedgerRefusal,
    Resolve,
    append,
    cml_to_ml,
    fold,
    ml_to_cml,
)
from ketaplan.errors import InputError, InputProblems, PermissionDenied
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.courses import clinic_zone
from ketaplan.services.ledger import (
    COUNTING,
    DESTROYING,
    RESOLVING,
    Written,
    audit_entry,
    check_candidate,
    clean_text,
    entry_written,
)
from ketaplan.services.ledger_signatures import check_witness, still_witness
from ketaplan.services.ledger_store import (
    CORRECTABLE_FIELDS,
    add_entry,
    clinic_zone_of,
    container_rows,
    find_container,
    find_entry,
    take_ledger_turn,
    to_entries,
)
from ketaplan.services.plans import check_signature_password
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import LedgerContainer
from ketaplan.store.models import LedgerEntry as EntryRow


def record_destruction(
    uow: UnitOfWork,
    number: str,
    volume_ml: float | str,
    *,
    method: str,
    place: str,
    witnesses: Sequence[tuple[str, str]],
    actor: Actor,
) -> Written:
    """Stock destroyed beyond retrieval (DEA Form 41): method, place, and two witnesses, each
    re-entering their password, neither the one destroying."""
    require_role(actor, DESTROYING, "destroying controlled substances")
    problems = InputProblems()  # every field checked before any is refused
    problems.check(clean_text, number, "number", limit=40)
    method = problems.check(clean_text, method, "method", limit=200) or ""
    place = problems.check(clean_text, place, "place", limit=200) or ""
    volume = problems.check(ml_to_cml, volume_ml) or 0
    if len(witnesses) != 2 or len({w[0].strip().lower() for w in witnesses}) != 2:
        problems.add(
            LedgerRefusal(
                "destruction (DEA Form 41) needs two different witnesses, neither of them the "
                "one destroying",
                code="ledger.witnesses_missing",
                fields={"field": "witnesses"},
            )
        )
    problems.raise_any()
    with uow.reading():
        container = find_container(uow, number, actor)
        uow.audit(actor, AuditAction.LEDGER_DESTROY_PREPARE, "ledger_container", container.id)
        uow.commit()
    signed = [
        check_witness(
            uow,
            email,
            password,
            actor=actor,
            action=AuditAction.LEDGER_DESTROY_REFUSED,
            entity=("ledger_container", container.id),
            doing="a destruction",
        )
        for email, password in witnesses
    ]
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        for witness in signed:
            still_witness(uow, witness)
        container = uow.db.get_one(LedgerContainer, container.id)
        at = uow.clock()
        ids = (signed[0].user_id, signed[1].user_id)
        candidate = Destroy(0, at, actor.user_id, volume, method, place, ids)
        check_candidate(uow, container, candidate)
        row = add_entry(
            uow,
            actor,
            "destroy",
            container_id=container.id,
            volume_cml=volume,
            witness_id=ids[0],
            second_witness_id=ids[1],
            data={"method": method, "place": place},
            at=at,
        )
        audit_entry(
            uow,
            actor,
            row,
            container,
            volume_ml=cml_to_ml(volume),
            method=method,
            place=place,
            witnesses=[w.email for w in signed],
        )
        uow.commit()
        return entry_written(uow, row, container)


def record_count(uow: UnitOfWork, number: str, counted_ml: float | str, *, actor: Actor) -> Written:
    """What is in a vial by exact count; a count that disagrees opens a discrepancy."""
    require_role(actor, COUNTING, "counting controlled substances")
    problems = InputProblems()
    problems.check(clean_text, number, "number", limit=40)
    counted = problems.check(ml_to_cml, counted_ml, "counted_ml") or 0
    problems.raise_any()
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        container = find_container(uow, number, actor)
        at = uow.clock()
        _entries, balance = check_candidate(uow, container, Count(0, at, actor.user_id, counted))
        row = add_entry(uow, actor, "count", container_id=container.id, volume_cml=counted, at=at)
        expected = balance.counts[-1].expected_cml
        audit_entry(
            uow,
            actor,
            row,
            container,
            counted_ml=cml_to_ml(counted),
            expected_ml=cml_to_ml(expected),
            discrepancy=counted != expected,
        )
        uow.commit()
        return entry_written(uow, row, container)


@dataclass(frozen=True, slots=True)
class InventoryLine:
    number: str
    counted_ml: float | str
    estimated: bool = False


InventoryKind = Literal["initial", "biennial", "on_demand"]
Business = Literal["opening", "close"]


def take_inventory(
    uow: UnitOfWork,
    kind: str,
    business: str,
    lines: Sequence[InventoryLine],
    *,
    password: str,
    actor: Actor,
) -> tuple[int, list[Written]]:
    """An inventory (21 CFR 1304.11): every vial that holds drug counted (an opened one may be
    estimated), at the opening or close of business, signed by re-entering the password.
    Refused unless it covers every vial in stock. Returns the inventory's entry id and lines."""
    require_role(actor, COUNTING, "taking an inventory")
    if kind not in ("initial", "biennial", "on_demand"):
        raise InputError(
            f"inventory kind {kind!r}: initial, biennial or on_demand",
            code="input.unknown_term",
            fields={"field": "kind"},
        )
    if business not in ("opening", "close"):
        raise InputError(
            f"{business!r}: an inventory is taken at the opening or close of business",
            code="input.unknown_term",
            fields={"field": "business"},
        )
    check_signature_password(
        uow,
        password,
        actor=actor,
        action=AuditAction.LEDGER_INVENTORY_REFUSED,
        entity=("clinic", actor.clinic_id),
    )
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        containers = {
            c.number: c
            for c in uow.db.scalars(
                select(LedgerContainer).where(LedgerContainer.clinic_id == actor.clinic_id)
            )
        }
        zone = clinic_zone(uow, actor)
        entries = {n: to_entries(container_rows(uow, c.id), c, zone) for n, c in containers.items()}
        given = {line.number.strip(): line for line in lines}
        in_stock = {n for n, e in entries.items() if fold(e).in_vial_cml > 0}
        missing = sorted(in_stock - set(given))
        unknown = sorted(set(given) - set(containers))
        if missing or unknown:
            raise LedgerRefusal(
                "an inventory lists every vial in stock, and only those of this ledger: "
                + "; ".join(
                    part
                    for part in (
                        f"missing {', '.join(missing)}" if missing else "",
                        f"unknown {', '.join(unknown)}" if unknown else "",
                    )
                    if part
                ),
                code="ledger.inventory_incomplete",
                fields={"field": "lines", "missing": missing, "unknown": unknown},
            )
        header = add_entry(
            uow,
            actor,
            "inventory",
            data={
                "kind": kind,
                "business": business,
                "signature_meaning": "I counted this inventory and sign it",
                "lines": len(given),
            },
        )
        written = []
        for number, line in sorted(given.items()):
            container = containers[number]
            counted = ml_to_cml(line.counted_ml, "counted_ml")
            at = uow.clock()
            candidate = Count(0, at, actor.user_id, counted, line.estimated, header.id)
            append(entries[number], candidate)
            row = add_entry(
                uow,
                actor,
                "count",
                container_id=container.id,
                volume_cml=counted,
                data={"estimated": line.estimated, "inventory_id": header.id},
                at=at,
            )
            written.append(entry_written(uow, row, container))
        uow.audit(
            actor,
            AuditAction.LEDGER_INVENTORY,
            "ledger_entry",
            header.id,
            details={
                "kind": kind,
                "business": business,
                "seq": header.seq,
                "containers": sorted(given),
            },
        )
        uow.commit()
        return header.id, written


def resolve_discrepancy(
    uow: UnitOfWork, count_id: int, *, reason: str, write_off: bool, actor: Actor
) -> Written:
    """A prescriber's or admin's resolution of a count that disagreed, with the reason;
    ``write_off`` books the difference as lost (or found), otherwise the balance stands."""
    require_role(actor, RESOLVING, "resolving a count's discrepancy")
    reason = clean_text(reason, "reason", limit=1000)
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        count = find_entry(uow, count_id, actor)
        if count.kind != "count" or count.container_id is None:
            raise InputError(
                f"ledger entry {count_id} is a {count.kind}, not a count",
                code="input.not_a_count",
                fields={"field": "count_id"},
            )
        container = uow.db.get_one(LedgerContainer, count.container_id)
        at = uow.clock()
        candidate = Resolve(0, at, actor.user_id, count.id, reason, write_off)
        check_candidate(uow, container, candidate)
        row = add_entry(
            uow,
            actor,
            "resolve",
            container_id=container.id,
            reason=reason,
            data={"count_id": count.id, "write_off": write_off},
            at=at,
        )
        audit_entry(
            uow, actor, row, container, count_id=count.id, write_off=write_off, reason=reason
        )
        uow.commit()
        return entry_written(uow, row, container)


def correct_entry(
    uow: UnitOfWork,
    entry_id: int,
    *,
    reason: str,
    changes: dict[str, Any] | None,
    actor: Actor,
) -> Written:
    """A new entry correcting an earlier one (never an edit): ``changes`` (a volume in mL as
    ``volume_ml`` or ``counted_ml``, a waste's reason) give the entry as it should have been;
    ``None`` voids it (entered in error). Refused when the vial's later entries would no
    longer add up."""
    problems = InputProblems()  # the reason and the new values checked together
    reason = problems.check(clean_text, reason, "reason", limit=1000) or ""
    for name, value in (changes or {}).items():
        if name in ("volume_ml", "counted_ml"):
            problems.check(ml_to_cml, value, name)
    problems.raise_any()
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        target = find_entry(uow, entry_id, actor)
        if actor.role not in RESOLVING and target.by != actor.user_id:
            raise PermissionDenied(
                f"entry {entry_id} is someone else's: its author, a prescriber or an admin "
                "corrects it",
                fields={"role": actor.role, "allowed": list(RESOLVING)},
            )
        if target.container_id is None:
            raise InputError(
                f"entry {entry_id} ({target.kind}) is not a vial's entry; "
                "correct an inventory line by line",
                code="input.not_correctable",
                fields={"field": "entry_id"},
            )
        stored = _changes(target, changes)
        container = uow.db.get_one(LedgerContainer, target.container_id)
        rows = container_rows(uow, container.id)
        entries = to_entries(rows, container, clinic_zone_of(uow, container))
        earlier = next(e for e in entries if e.entry_id == target.id)
        replacement = None
        if stored is not None:
            from dataclasses import fields, replace

            unknown = set(stored) - {f.name for f in fields(earlier)}
            if unknown:
                raise InputError(
                    f"a {target.kind} has no {', '.join(sorted(unknown))} to correct",
                    code="input.not_correctable",
                    fields={"field": sorted(unknown)[0]},
                )
            replacement = replace(earlier, **stored)
        at = uow.clock()
        candidate = Correct(0, at, actor.user_id, target.id, reason, replacement)
        append(entries, candidate)
        row = add_entry(
            uow,
            actor,
            "correct",
            container_id=container.id,
            corrects_id=target.id,
            reason=reason,
            patient_id=target.patient_id,
            data={"changes": stored, "corrected_kind": target.kind},
            at=at,
        )
        audit_entry(uow, actor, row, container, corrects=target.id, changes=stored, reason=reason)
        uow.commit()
        return entry_written(uow, row, container)


def _changes(target: EntryRow, changes: dict[str, Any] | None) -> dict[str, Any] | None:
    if changes is None:
        return None
    stored: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("volume_ml", "counted_ml"):
            field = "counted_cml" if target.kind == "count" else "volume_cml"
            stored[field] = ml_to_cml(value, name)
        elif name in CORRECTABLE_FIELDS and name != "volume_cml" and name != "counted_cml":
            stored[name] = value
        else:
            raise InputError(
                f"a correction may change the volume (volume_ml or counted_ml), a reason or a "
                f"write-off, not {name!r}: void the entry and enter it anew",
                code="input.not_correctable",
                fields={"field": name},
            )
    if not stored:
        raise InputError(
            "say what the entry should have been, or void it",
            code="input.missing",
            fields={"field": "changes"},
        )
    return stored
