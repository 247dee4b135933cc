"""Orders: the lifecycle of a plan as an order, derived from its append-only events.

::

    proposed ──sign (prescriber, password re-entered)──► active ──► superseded
       │                                                   │        (a newer order for the
       └──cancel──► cancelled ◄──cancel (prescriber)───────┘         same patient and protocol
                                                                     was signed)

A plan row is the order. Each step is an ``order_event`` row, written once; the current status
is the last step (``signed`` reads as *active*; a plan saved before orders existed has no event
and reads as *proposed*). Only an active order is prepared, scheduled or infused: until then
the plan's preparation card and pump program are withheld, and the reason says why
(:func:`withheld_reason`).

This module holds the store side (reading the states in one query, appending steps, finding a
patient's newest active order for a protocol); the use cases that sign and cancel are in
:mod:`ketaplan.services.plans`, where the plan read model lives.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, insert, select

from ketaplan.errors import ConflictError
from ketaplan.services.actors import Actor
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import InfusionPlan, OrderEvent

OrderStatus = Literal["proposed", "active", "superseded", "cancelled"]

DEFAULT_MEANING = "I have reviewed this order and authorise it"
"""What a prescriber's signature means unless they say otherwise (recorded with it)."""


@dataclass(frozen=True, slots=True)
class OrderState:
    """Where an order stands, and the signature behind it once signed."""

    status: OrderStatus
    signed_by: str | None = None
    """The signing prescriber's e-mail address."""
    signer_name: str | None = None
    signed_at: datetime | None = None
    signature_meaning: str | None = None
    override: dict[str, Any] | None = None
    """A prescriber's override of a contraindication or hold, with its reason."""
    ended_at: datetime | None = None
    ended_reason: str | None = None
    """Why it was cancelled or superseded."""

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "signed_by": self.signed_by,
            "signer_name": self.signer_name,
            "signed_at": None if self.signed_at is None else self.signed_at.isoformat(),
            "signature_meaning": self.signature_meaning,
            "override": self.override,
            "ended_at": None if self.ended_at is None else self.ended_at.isoformat(),
            "ended_reason": self.ended_reason,
        }


PROPOSED = OrderState("proposed")

_EVENTS = cast(Table, OrderEvent.__table__)
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_STATES = (
    select(
        _EVENTS.c.plan_id,
        _EVENTS.c.status,
        _EVENTS.c.at,
        _EVENTS.c.signer_email,
        _EVENTS.c.signer_name,
        _EVENTS.c.meaning,
        _EVENTS.c.reason,
        _EVENTS.c.override,
    )
    .where(_EVENTS.c.plan_id.in_(bindparam("plan_ids", expanding=True)))
    .order_by(_EVENTS.c.id)
)


def _fold(rows: Iterable[Any]) -> OrderState:
    state = PROPOSED
    for row in rows:
        if row.status == "signed":
            state = OrderState(
                "active",
                signed_by=row.signer_email,
                signer_name=row.signer_name,
                signed_at=row.at,
                signature_meaning=row.meaning,
                override=row.override,
            )
        elif row.status in ("superseded", "cancelled"):
            state = OrderState(
                cast(OrderStatus, row.status),
                signed_by=state.signed_by,
                signer_name=state.signer_name,
                signed_at=state.signed_at,
                signature_meaning=state.signature_meaning,
                override=state.override,
                ended_at=row.at,
                ended_reason=row.reason,
            )
    return state


def order_states(uow: UnitOfWork, plan_ids: Sequence[int]) -> dict[int, OrderState]:
    """Each plan's order state, in one query (a plan without events is proposed)."""
    if not plan_ids:
        return {}
    rows: dict[int, list[Any]] = {plan_id: [] for plan_id in plan_ids}
    for row in uow.db.connection().execute(_STATES, {"plan_ids": list(plan_ids)}):
        rows[row.plan_id].append(row)
    return {plan_id: _fold(found) for plan_id, found in rows.items()}


def order_state(uow: UnitOfWork, plan_id: int) -> OrderState:
    return order_states(uow, [plan_id])[plan_id]


def append_order_event(
    uow: UnitOfWork,
    plan_id: int,
    status: Literal["proposed", "signed", "superseded", "cancelled"],
    *,
    actor: Actor,
    meaning: str | None = None,
    reason: str | None = None,
    override: Mapping[str, Any] | None = None,
    signer_name: str | None = None,
) -> datetime:
    """One step of the order's life, inside the caller's transaction; its time."""
    at = uow.clock()
    event_id = (
        uow.db.connection()
        .execute(
            _INSERT_EVENT,
            {
                "plan_id": plan_id,
                "status": status,
                "at": at,
                "by": actor.user_id,
                "signer_email": actor.email if status == "signed" else None,
                "signer_name": signer_name if status == "signed" else None,
                "meaning": meaning,
                "reason": reason,
                "override": None if override is None else dict(override),
            },
        )
        .scalar_one()
    )
    uow.wrote(OrderEvent, event_id)
    return at


def needs_override(plan: Mapping[str, Any]) -> list[dict[str, str]]:
    """The plan's findings that stop an infusion (a contraindication, a pre-infusion reading
    that holds the start): signing past them needs a prescriber's override with a reason."""
    findings = plan.get("eligibility", {}).get("findings", [])
    return [
        {"code": str(f["code"]), "message": str(f["message"])}
        for f in findings
        if f.get("severity") == "block"
    ]


def withheld_reason(state: OrderState, plan: Mapping[str, Any]) -> str | None:
    """Why the plan's preparation card and pump program are not shown (None: shown)."""
    if state.status == "active":
        return None
    if state.status == "cancelled":
        return f"order cancelled: {state.ended_reason}"
    if state.status == "superseded":
        return f"order superseded: {state.ended_reason}"
    why = "not signed by a prescriber yet"
    if needs_override(plan):
        why = "contraindicated: do not infuse unless a prescriber overrides; " + why
    return why


def plan_for_reading(plan: Mapping[str, Any], state: OrderState) -> dict[str, Any]:
    """The stored plan JSON as a reader sees it: the order's state under ``order``, and the
    preparation withheld (``null``, with ``preparation_withheld`` saying why) unless the
    order is active. The stored plan keeps its preparation; signing shows it."""
    data = dict(plan)
    withheld = withheld_reason(state, plan)
    if withheld is not None:
        data["preparation"] = None
    data["preparation_withheld"] = withheld
    data["order"] = state.to_dict()
    return data


def _not_active(plan_id: int, state: OrderState, doing: str) -> ConflictError:
    why = {
        "proposed": "is proposed and not signed yet: a prescriber signs it first",
        "superseded": f"was superseded ({state.ended_reason})",
        "cancelled": f"was cancelled ({state.ended_reason})",
        "active": "is active",
    }[state.status]
    return ConflictError(
        f"{doing} needs an active order signed by a prescriber; order {plan_id} {why}",
        code="order.not_active",
        fields={"plan_id": plan_id, "order_status": state.status, "field": "plan_id"},
    )


def require_active(uow: UnitOfWork, plan: InfusionPlan, doing: str) -> OrderState:
    """The plan's state if it is an active order; otherwise refused, saying why."""
    state = order_state(uow, plan.id)
    if not state.active:
        raise _not_active(plan.id, state, doing)
    return state


_PATIENT_ORDERS = (
    select(InfusionPlan.id, OrderEvent.status, OrderEvent.id.label("event_id"))
    .join(OrderEvent, OrderEvent.plan_id == InfusionPlan.id)
    .where(
        InfusionPlan.patient_id == bindparam("patient_id"),
        InfusionPlan.condition == bindparam("condition"),
    )
    .order_by(OrderEvent.id)
)


def active_orders(uow: UnitOfWork, patient_id: int, protocol_key: str) -> list[int]:
    """The patient's active orders for the protocol, newest signature first (one, unless
    two were signed before supersession existed)."""
    last: dict[int, tuple[str, int]] = {}
    for plan_id, status, event_id in uow.db.execute(
        _PATIENT_ORDERS, {"patient_id": patient_id, "condition": protocol_key}
    ):
        last[plan_id] = (status, event_id)
    signed = [(event_id, plan_id) for plan_id, (s, event_id) in last.items() if s == "signed"]
    return [plan_id for _event_id, plan_id in sorted(signed, reverse=True)]


def newest_active_order(
    uow: UnitOfWork, patient_id: int, protocol_key: str, doing: str
) -> InfusionPlan:
    """The patient's newest active order for the protocol; refused when there is none."""
    found = active_orders(uow, patient_id, protocol_key)
    if not found:
        raise ConflictError(
            f"{doing} needs an active order signed by a prescriber; patient {patient_id} has "
            f"no active {protocol_key} order: make a plan and have a prescriber sign it",
            code="order.none_active",
            fields={"patient_id": patient_id, "condition": protocol_key, "field": "plan_id"},
        )
    return uow.db.get_one(InfusionPlan, found[0])
