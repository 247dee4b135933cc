"""Theft and loss cases in the ledger (DEA Form 106): opened when discovered, followed by the
written notice, the form's filing, notes and the resolution, each a ledger row written once;
read back with the two DEA clocks (:mod:`ketaplan.clinical.ledger.loss`) as of now."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ketaplan.clinical.ledger import (
    LossEvent,
    LossKind,
    LossStep,
    append_step,
    fold_case,
    step_problems,
)
from ketaplan.errors import InputError, InputProblems
from ketaplan.inputs import check_text
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.courses import clinic_zone
from ketaplan.services.ledger_loss_rows import case_events
from ketaplan.services.ledger_records import READING
from ketaplan.services.ledger_store import add_entry, take_ledger_turn
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import LedgerEntry as EntryRow

LOSS_OPENING: tuple[Role, ...] = ("admin", "prescriber", "nurse")
LOSS_FOLLOWING: tuple[Role, ...] = ("admin", "prescriber")


def _case_events(
    uow: UnitOfWork, actor: Actor, case_id: int | None = None
) -> dict[int, list[LossEvent]]:
    rows = uow.db.scalars(
        select(EntryRow)
        .where(EntryRow.clinic_id == actor.clinic_id, EntryRow.kind.like("loss_%"))
        .order_by(EntryRow.seq)
    )
    cases = case_events(rows)
    return cases if case_id is None else {case_id: cases[case_id]} if case_id in cases else {}


def case_dict(events: list[LossEvent], zone: ZoneInfo, now: datetime) -> dict[str, Any]:
    case = fold_case(events)
    return {
        "case_id": case.case_id,
        "kind": case.kind,
        "discovered_at": case.discovered_at.isoformat(),
        "description": case.description,
        "missing": case.missing,
        "open": case.open,
        "deadlines": [
            {
                "name": d.name,
                "due_at": d.due_at.isoformat(),
                "done_at": None if d.done_at is None else d.done_at.isoformat(),
                "status": d.status(now),
            }
            for d in case.deadlines(zone)
        ],
        "form_106_reference": case.form_106_reference,
        "notes": [{"at": n.at.isoformat(), "text": n.text} for n in case.notes],
        "resolved_at": None if case.resolved_at is None else case.resolved_at.isoformat(),
        "resolution": case.resolution,
    }


def loss_cases(uow: UnitOfWork, *, actor: Actor) -> list[dict[str, Any]]:
    """Every loss or theft case, with its two DEA clocks as of now."""
    require_role(actor, READING, "reading loss cases")
    with uow.reading():
        zone, now = clinic_zone(uow, actor), uow.clock()
        found = [case_dict(e, zone, now) for e in _case_events(uow, actor).values()]
        uow.audit(actor, AuditAction.LEDGER_LOSS_LIST, "clinic", actor.clinic_id)
        uow.commit()
    return found


LOSS_STEPS = ("open", "notice", "form_106", "note", "resolve")


def check_loss_step(step: str, *, kind: str | None, text: str, reference: str) -> None:
    """A step's own fields checked without its case (what a form is told beside a case number
    it could not read); every problem at once."""
    problems = InputProblems()
    for refused in step_problems(step, kind=kind, text=text, reference=reference):
        problems.add(refused)
    problems.raise_any()


def record_loss_step(
    uow: UnitOfWork,
    step: str,
    *,
    actor: Actor,
    at: datetime | None = None,
    case_id: int | None = None,
    kind: str | None = None,
    text: str = "",
    missing: str = "",
    reference: str = "",
) -> dict[str, Any]:
    """Open a case (``step="open"``: when discovered, theft or loss, what is missing), or add a
    step to one: ``notice`` (written notice sent), ``form_106`` (filed, with its reference),
    ``note``, ``resolve``. Times are when it happened, never later than now. Every problem of
    the step (its time, its case, its own fields) is refused at once."""
    if step not in LOSS_STEPS:
        raise InputError(
            f"loss step {step!r}: open, notice, form_106, note or resolve",
            code="input.unknown_term",
            fields={"field": "step"},
        )
    require_role(
        actor, LOSS_OPENING if step in ("open", "note") else LOSS_FOLLOWING, "a loss case's " + step
    )
    problems = InputProblems()
    checked = problems.check(check_text, text, field="text", multiline=True)
    text = (text if checked is None else checked).strip()  # refused text is never written
    with uow:
        take_ledger_turn(uow, actor.clinic_id)
        now = uow.clock()
        when = now if at is None else at
        if when.tzinfo is None or when > now:
            problems.add(
                InputError(
                    "a loss case's time is when it happened, with its zone, not later than now",
                    code="input.out_of_range",
                    fields={"field": "at"},
                )
            )
            when = now  # the other checks go on as of now
        events = [] if step == "open" else _case_events(uow, actor, case_id).get(case_id or 0)
        candidate = LossEvent(
            0,
            case_id or 0,
            cast(LossStep, step),
            when,
            actor.user_id,
            text,
            cast(LossKind | None, kind),
            missing,
            reference,
        )
        if events is None:
            problems.add(
                InputError(
                    "give the number of the case this step is for (Case #)"
                    if case_id is None
                    else f"there is no loss case {case_id}",
                    code="not_found.loss_case",
                    fields={"field": "case_id"},
                )
            )
            problems.check(check_loss_step, step, kind=kind, text=text, reference=reference)
        else:
            problems.check(append_step, events, candidate)
        problems.raise_any()
        assert events is not None  # refused above
        data: dict[str, Any] = {"kind": kind, "missing": missing, "reference": reference}
        if case_id is not None:
            data["case_id"] = case_id
        row = add_entry(uow, actor, f"loss_{step}", at=when, reason=text, data=data)
        case = row.id if step == "open" else case_id
        uow.audit(
            actor,
            AuditAction(f"ledger.loss.{step}"),
            "loss_case",
            case,
            details={"entry_id": row.id},
        )
        uow.commit()
        stored = LossEvent(
            row.id,
            case or row.id,
            cast(LossStep, step),
            when,
            actor.user_id,
            text,
            cast(LossKind | None, kind),
            missing,
            reference,
        )
        return case_dict([*events, stored], clinic_zone(uow, actor), now)
