"""The controlled-substance ledger's use cases: every milligram from the delivery to the vein.

One function per thing that happens to stock (receive, draw, administer, waste, return,
destroy, count, resolve, correct); inventories, loss cases and the reads are in
:mod:`ketaplan.services.ledger_records`. Each one checks the role, opens the unit of work, takes
the clinic's ledger turn (:func:`~ketaplan.services.ledger_store.take_ledger_turn`), folds the
vial's entries with the new one through the domain (:func:`ketaplan.clinical.ledger.append`),
which refuses anything that does not balance, writes the row, audits it and commits: the entry
and its audit event land together or not at all, and a refusal writes nothing.

There is no path that updates or deletes an entry (the database refuses both too): a mistake is
corrected by a new entry naming the one it corrects (:func:`correct_entry`).

Who may do what:

============================  ==========================================
receive, count                nurse, prescriber, admin
draw, administer, waste,      nurse, prescriber (those who prepare and give)
return to stock
witness a waste / destruction nurse, prescriber, admin; never the one doing it
destroy (Form 41)             prescriber, admin, with two witnesses
resolve a discrepancy         prescriber, admin, with a reason
correct an entry              its author, a prescriber or an admin
============================  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ketaplan.clinical.ledger import (
    Administer,
    Container,
    ContainerBalance,
    Draw,
    LedgerEntry,
    LedgerRefusal,
    Receive,
    Return,
    Waste,
    append,
    cml_to_ml,
    fold,
    mg_to_cml,
    ml_to_cml,
)
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import InputError, InputProblems
from ketaplan.inputs import check_text
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.ledger_signatures import Witness, check_witness, still_witness
from ketaplan.services.ledger_store import (
    add_entry,
    clinic_zone_of,
    container_rows,
    find_container,
    find_entry,
    take_ledger_turn,
    to_entries,
)
from ketaplan.services.orders import require_active
from ketaplan.services.plans import find_plan
from ketaplan.services.sessions import find_session, read_chart
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import LedgerContainer
from ketaplan.store.models import LedgerEntry as EntryRow

RECEIVING: tuple[Role, ...] = ("admin", "prescriber", "nurse")
GIVING: tuple[Role, ...] = ("prescriber", "nurse")
COUNTING: tuple[Role, ...] = ("admin", "prescriber", "nurse")
DESTROYING: tuple[Role, ...] = ("admin", "prescriber")
RESOLVING: tuple[Role, ...] = ("admin", "prescriber")


@dataclass(frozen=True, slots=True)
class Written:
    """An entry just written and the vial's balance after it."""

    entry_id: int
    seq: int
    kind: str
    container: str
    balance: ContainerBalance

    def to_dict(self) -> dict[str, Any]:
        from ketaplan.services.ledger_records import balance_dict

        return {
            "entry_id": self.entry_id,
            "seq": self.seq,
            "kind": self.kind,
            "container": self.container,
            "balance": balance_dict(self.balance),
        }


@dataclass(frozen=True, slots=True)
class Supplier:
    """Who delivered (21 CFR 1304.22(a)(2)): name, address, DEA number; the invoice's number."""

    name: str
    address: str
    dea_number: str
    receipt: str = ""


@dataclass(frozen=True, slots=True)
class VialIn:
    """One vial of a delivery as received (its number is the clinic's own)."""

    number: str
    ndc: str
    lot: str
    expiry: date
    mg_per_ml: float
    volume_ml: float | str
    drug: str = "ketamine hydrochloride"
    form: str = "injection, solution"


def clean_text(value: str, field: str, *, required: bool = True, limit: int = 200) -> str:
    text = check_text(value or "", field=field).strip()
    if required and not text:
        raise InputError(f"{field} is required", code="input.missing", fields={"field": field})
    if len(text) > limit:
        raise InputError(
            f"{field} is longer than {limit} characters",
            code="input.too_long",
            fields={"field": field, "max_length": limit},
        )
    return text


def entry_written(uow: UnitOfWork, row: EntryRow, container: LedgerContainer) -> Written:
    """The entry written and the vial's balance folded again from its rows (with real ids)."""
    rows = container_rows(uow, container.id)
    balance = fold(to_entries(rows, container, clinic_zone_of(uow, container)))
    return Written(row.id, row.seq, row.kind, container.number, balance)


def check_candidate(
    uow: UnitOfWork, container: LedgerContainer, candidate: LedgerEntry
) -> tuple[list[LedgerEntry], ContainerBalance]:
    """The vial's entries and its balance with ``candidate`` (id 0) added; refused if impossible."""
    zone = clinic_zone_of(uow, container)
    entries = to_entries(container_rows(uow, container.id), container, zone)
    return entries, append(entries, replace(candidate, at=candidate.at.astimezone(zone)))


def audit_entry(
    uow: UnitOfWork,
    actor: Actor,
    row: EntryRow,
    container: LedgerContainer,
    **details: Any,
) -> None:
    uow.audit(
        actor,
        AuditAction(f"ledger.{row.kind}"),
        "ledger_entry",
        row.id,
        patient_id=row.patient_id,
        details={"seq": row.seq, "container": container.number, **details},
    )


# ---------------------------------------------------------------- receive ----


def check_delivery(
    supplier: Supplier, vials: list[VialIn]
) -> tuple[dict[str, str], list[Container]]:
    """A delivery's supplier fields and vials checked, every refusal at once (nothing is read
    or written): the receipt's fields as stored and each vial as the ledger keeps it."""
    problems = InputProblems()  # every field checked before any is refused
    if not vials:
        problems.add(
            InputError(
                "a receipt lists at least one vial",
                code="input.missing",
                fields={"field": "vials"},
            )
        )
    fields = {
        "supplier_name": problems.check(clean_text, supplier.name, "supplier_name"),
        "supplier_address": problems.check(clean_text, supplier.address, "supplier_address"),
        "supplier_dea": problems.check(clean_text, supplier.dea_number, "supplier_dea", limit=20),
        "receipt": problems.check(
            clean_text, supplier.receipt, "receipt", required=False, limit=80
        ),
    }
    numbers = [problems.check(clean_text, v.number, "number", limit=40) for v in vials]
    if len(set(numbers)) != len(numbers):
        problems.add(
            InputError(
                "each vial of a delivery needs its own number",
                code="input.duplicate",
                fields={"field": "number"},
            )
        )
    containers = [
        problems.check(_container, n or "", vial) for n, vial in zip(numbers, vials, strict=True)
    ]
    problems.raise_any()
    checked = {key: value or "" for key, value in fields.items()}
    return checked, [container for container in containers if container is not None]


def receive_vials(
    uow: UnitOfWork, supplier: Supplier, vials: list[VialIn], *, actor: Actor
) -> list[Written]:
    """A delivery taken into stock: one container and one receipt entry per vial."""
    require_role(actor, RECEIVING, "receiving controlled substances")
    checked, containers = check_delivery(supplier, vials)
    written = []
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        for container in containers:
            number = container.number
            _refuse_taken_number(uow, actor, number)
            at = uow.clock()
            append([], Receive(0, at, actor.user_id, container, **_receipt(checked)))
            row_container = LedgerContainer(
                clinic_id=actor.clinic_id,
                number=number,
                drug=container.drug,
                form=container.form,
                ndc=container.ndc,
                lot=container.lot,
                expiry=container.expiry,
                mg_per_ml=container.mg_per_ml,
                volume_cml=container.volume_cml,
                schedule=container.schedule,
            )
            uow.db.add(row_container)
            uow.db.flush()
            row = add_entry(
                uow,
                actor,
                "receive",
                container_id=row_container.id,
                volume_cml=container.volume_cml,
                data=checked,
                at=at,
            )
            audit_entry(
                uow,
                actor,
                row,
                row_container,
                lot=container.lot,
                ndc=container.ndc,
                volume_ml=cml_to_ml(container.volume_cml),
                supplier=checked["supplier_name"],
            )
            written.append(entry_written(uow, row, row_container))
        uow.commit()
    return written


def _container(number: str, vial: VialIn) -> Container:
    """One vial as the ledger keeps it, each of its fields checked (every refusal kept)."""
    problems = InputProblems()
    drug = problems.check(clean_text, vial.drug, "drug", limit=120)
    form = problems.check(clean_text, vial.form, "form", limit=60)
    ndc = problems.check(clean_text, vial.ndc, "ndc", limit=20)
    lot = problems.check(clean_text, vial.lot, "lot", limit=40)
    strength = problems.check(_strength, vial.mg_per_ml)
    volume = problems.check(ml_to_cml, vial.volume_ml)
    problems.raise_any()
    return Container(
        number,
        drug or "",
        form or "",
        ndc or "",
        lot or "",
        vial.expiry,
        strength or 0.0,
        volume or 0,
    )


def _receipt(fields: dict[str, str]) -> dict[str, str]:
    return {
        "supplier_name": fields["supplier_name"],
        "supplier_address": fields["supplier_address"],
        "supplier_dea": fields["supplier_dea"],
        "receipt": fields["receipt"],
    }


def _strength(mg_per_ml: float) -> float:
    if not 0 < mg_per_ml <= 1000:
        raise InputError(
            f"strength {mg_per_ml} mg/mL is not a vial's (ketamine comes as 10, 50 or 100 mg/mL)",
            code="input.out_of_range",
            fields={"field": "mg_per_ml"},
        )
    return float(mg_per_ml)


def _refuse_taken_number(uow: UnitOfWork, actor: Actor, number: str) -> None:
    from sqlalchemy import select

    taken = uow.db.scalar(
        select(LedgerContainer.id).where(
            LedgerContainer.clinic_id == actor.clinic_id, LedgerContainer.number == number
        )
    )
    if taken is not None:
        raise LedgerRefusal(
            f"vial number {number} is already in the ledger: give each vial its own number",
            code="ledger.already_received",
            fields={"field": "number"},
        )


# ------------------------------------------------------------------- draw ----


def record_draw(
    uow: UnitOfWork,
    number: str,
    volume_ml: float | str,
    *,
    plan_id: int,
    session_id: int | None = None,
    actor: Actor,
) -> Written:
    """A volume drawn from a vial for an active order (and the session it is given in)."""
    require_role(actor, GIVING, "drawing a controlled substance")
    problems = InputProblems()
    problems.check(clean_text, number, "number", limit=40)
    checked = problems.check(ml_to_cml, volume_ml)
    problems.raise_any()
    assert checked is not None
    volume = checked
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        container = find_container(uow, number, actor)
        plan = find_plan(uow, plan_id, actor)
        require_active(uow, plan, "drawing ketamine")
        if session_id is not None:
            session = find_session(uow, session_id, actor)
            if session.plan_id != plan.id:
                raise InputError(
                    f"session {session_id} was opened on order {session.plan_id}, not {plan.id}",
                    code="input.wrong_session",
                    fields={"field": "session_id"},
                )
        at = uow.clock()
        candidate = Draw(0, at, actor.user_id, volume, plan.id, session_id, plan.patient_id)
        check_candidate(uow, container, candidate)
        row = add_entry(
            uow,
            actor,
            "draw",
            container_id=container.id,
            volume_cml=volume,
            plan_id=plan.id,
            session_id=session_id,
            patient_id=plan.patient_id,
            at=at,
        )
        audit_entry(
            uow,
            actor,
            row,
            container,
            volume_ml=cml_to_ml(volume),
            plan_id=plan.id,
            session_id=session_id,
            lot=container.lot,
        )
        uow.commit()
        return entry_written(uow, row, container)


def _draw_row(uow: UnitOfWork, draw_id: int, actor: Actor) -> tuple[EntryRow, LedgerContainer]:
    row = find_entry(uow, draw_id, actor)
    if row.kind != "draw" or row.container_id is None:
        raise InputError(
            f"ledger entry {draw_id} is a {row.kind}, not a draw",
            code="input.not_a_draw",
            fields={"field": "draw_id"},
        )
    container = uow.db.get_one(LedgerContainer, row.container_id)
    return row, container


# ------------------------------------------------------------- administer ----


def record_administration(
    uow: UnitOfWork, draw_id: int, *, actor: Actor, policy: ClinicPolicy
) -> Written:
    """What the patient received from a draw, from the session's chart once it has stopped:
    the chart's delivered mg, as the vial's volume at its strength. Never typed."""
    require_role(actor, GIVING, "recording an administration")
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        draw, container = _draw_row(uow, draw_id, actor)
        if draw.session_id is None:
            raise InputError(
                f"draw {draw_id} names no session: an administration is taken from a session's "
                "chart (draw for the session, or correct the draw)",
                code="ledger.no_session",
                fields={"field": "draw_id"},
            )
        from ketaplan.services.clinic_policy import clinic_chart_rules

        session = find_session(uow, draw.session_id, actor)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        chart = read_chart(uow, session, rules, actor=actor, policy=policy)
        if chart.summary.completed is None:
            raise LedgerRefusal(
                f"session {session.id} is still {chart.state}: the administration is recorded "
                "from the chart once the infusion has stopped",
                code="ledger.session_not_stopped",
                fields={"field": "draw_id", "state": str(chart.state)},
            )
        rows = container_rows(uow, container.id)
        given = fold(to_entries(rows, container, clinic_zone_of(uow, container))).draw(draw.id)
        if given.administered_cml > 0:
            raise LedgerRefusal(
                f"what session {session.id} delivered from draw {draw.id} is already recorded "
                "from its chart; if the chart was corrected since, correct that entry",
                code="ledger.already_administered",
                fields={"field": "draw_id"},
            )
        mg = round(chart.summary.delivered_mg, 3)
        volume = mg_to_cml(mg, container.mg_per_ml)
        at = uow.clock()
        candidate = Administer(
            0, at, actor.user_id, draw.id, volume, mg, session.id, session.patient_id
        )
        check_candidate(uow, container, candidate)
        row = add_entry(
            uow,
            actor,
            "administer",
            container_id=container.id,
            volume_cml=volume,
            mg=mg,
            draw_id=draw.id,
            plan_id=draw.plan_id,
            session_id=session.id,
            patient_id=session.patient_id,
            at=at,
        )
        audit_entry(
            uow,
            actor,
            row,
            container,
            mg=mg,
            volume_ml=cml_to_ml(volume),
            draw_id=draw.id,
            session_id=session.id,
        )
        uow.commit()
        return entry_written(uow, row, container)


# ------------------------------------------------------------------ waste ----


def record_waste(
    uow: UnitOfWork,
    *,
    reason: str,
    actor: Actor,
    number: str | None = None,
    draw_id: int | None = None,
    volume_ml: float | str | None = None,
    mg: float | str | None = None,
    witness_email: str | None = None,
    witness_password: str | None = None,
) -> Written:
    """Drug discarded: the rest of a draw (``draw_id``) or of an opened vial (``number``), in
    mL or mg, with a reason and a witness who re-enters their password (above 0 mL)."""
    require_role(actor, GIVING, "wasting a controlled substance")
    problems = InputProblems()  # every field checked before any is refused
    reason = problems.check(clean_text, reason, "reason", limit=500) or ""
    if (number is None) == (draw_id is None):
        problems.add(
            InputError(
                "name either the vial (the rest of the vial) or the draw (what is left "
                "of it) that is wasted",
                code="input.missing",
                fields={"field": "container"},
            )
        )
    elif number is not None:
        problems.check(clean_text, number, "number", limit=40)
    if (volume_ml is None) == (mg is None):
        problems.add(
            InputError(
                "give the amount wasted in mL or in mg (one of them)",
                code="input.missing",
                fields={"field": "volume_ml"},
            )
        )
    elif volume_ml is not None:
        problems.check(ml_to_cml, volume_ml)
    else:
        problems.check(mg_to_cml, mg or 0, 1.0)
    problems.raise_any()
    with uow.reading():
        if draw_id is not None:
            _row, container = _draw_row(uow, draw_id, actor)
        else:
            container = find_container(uow, number or "", actor)
        mg_per_ml = container.mg_per_ml
        uow.audit(actor, AuditAction.LEDGER_WASTE_PREPARE, "ledger_container", container.id)
        uow.commit()
    volume = ml_to_cml(volume_ml) if volume_ml is not None else mg_to_cml(mg or 0, mg_per_ml)
    witness: Witness | None = None
    if volume > 0 or witness_email:
        witness = check_witness(
            uow,
            witness_email,
            witness_password,
            actor=actor,
            action=AuditAction.LEDGER_WASTE_REFUSED,
            entity=("ledger_container", container.id),
            doing="a waste",
        )
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        if witness is not None:
            still_witness(uow, witness)
        container = uow.db.get_one(LedgerContainer, container.id)
        draw = None if draw_id is None else find_entry(uow, draw_id, actor)
        at = uow.clock()
        candidate = Waste(
            0,
            at,
            actor.user_id,
            volume,
            reason,
            None if witness is None else witness.user_id,
            draw_id,
        )
        check_candidate(uow, container, candidate)
        row = add_entry(
            uow,
            actor,
            "waste",
            container_id=container.id,
            volume_cml=volume,
            draw_id=draw_id,
            reason=reason,
            witness_id=None if witness is None else witness.user_id,
            plan_id=None if draw is None else draw.plan_id,
            session_id=None if draw is None else draw.session_id,
            patient_id=None if draw is None else draw.patient_id,
            at=at,
        )
        audit_entry(
            uow,
            actor,
            row,
            container,
            volume_ml=cml_to_ml(volume),
            reason=reason,
            witness=None if witness is None else witness.email,
            draw_id=draw_id,
        )
        uow.commit()
        return entry_written(uow, row, container)


def record_return(
    uow: UnitOfWork, draw_id: int, volume_ml: float | str, *, actor: Actor
) -> Written:
    """Drawn drug put back to the vial's balance unused (never given to another patient)."""
    require_role(actor, GIVING, "returning a controlled substance to stock")
    volume = ml_to_cml(volume_ml)  # the one typed field (the draw's id is a number already)
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        draw, container = _draw_row(uow, draw_id, actor)
        at = uow.clock()
        check_candidate(uow, container, Return(0, at, actor.user_id, draw.id, volume))
        row = add_entry(
            uow,
            actor,
            "return",
            container_id=container.id,
            volume_cml=volume,
            draw_id=draw.id,
            patient_id=draw.patient_id,
            at=at,
        )
        audit_entry(uow, actor, row, container, volume_ml=cml_to_ml(volume), draw_id=draw.id)
        uow.commit()
        return entry_written(uow, row, container)


def record_session_administrations(
    uow: UnitOfWork, session_id: int, *, actor: Actor, policy: ClinicPolicy
) -> list[Written]:
    """When a session's infusion stops: what it delivered, from its chart, against each draw
    for the session not yet given (usually one). The chart's entry points call this after a
    stop; a draw it cannot settle (a refusal) stays in hand in the medication room, where
    *From the chart* says why."""
    from sqlalchemy import select

    if actor.role not in GIVING:
        return []
    with uow.reading():
        draws = list(
            uow.db.scalars(
                select(EntryRow.id).where(
                    EntryRow.clinic_id == actor.clinic_id,
                    EntryRow.session_id == session_id,
                    EntryRow.kind == "draw",
                )
            )
        )
        uow.audit(actor, AuditAction.LEDGER_SESSION_READ, "session", session_id)
        uow.commit()
    done = []
    for draw_id in draws:
        try:
            done.append(record_administration(uow, draw_id, actor=actor, policy=policy))
        except LedgerRefusal:
            continue
    return done
