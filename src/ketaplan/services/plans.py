"""Plans: the domain's explained plan for a patient's current profile, saved as it was shown,
as an order (:mod:`ketaplan.services.orders`): proposed by those who treat, signed by a
prescriber, only then prepared and infused.

The plan JSON is :func:`~ketaplan.clinical.planning.plan_to_dict` exactly (the README's
contract), with the catalog version used and any override, and under ``preparation.stock`` the
vials and bags it was prepared from: the clinic's own (from its settings, with their version)
or the catalog's defaults when the clinic has set none. A soft-limit override needs a
prescriber, who is recorded as the overriding prescriber. A dose the limits refuse (override
missing, hard limit) saves no plan, but the refusal itself is audited and committed: DESIGN asks
for overrides and refusals alike to be recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select

from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan, plan_to_dict
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import (
    ConflictError,
    InputError,
    PermissionDenied,
    SafetyLimitError,
    TooManyAttempts,
)
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_policy import clinic_policy
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.orders import (
    DEFAULT_MEANING,
    PROPOSED,
    OrderState,
    OrderStatus,
    active_orders,
    append_order_event,
    needs_override,
    order_state,
    order_states,
    plan_for_reading,
)
from ketaplan.services.passwords import password_matches
from ketaplan.services.patients import (
    current_profile,
    find_in_clinic,
    profile_from_dict,
)
from ketaplan.services.throttle import account_key, count_attempt, forgive
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import InfusionPlan, Patient, User


@dataclass(frozen=True, slots=True)
class PlanOrder:
    """What is asked for: the condition, optionally a dose and an override reason."""

    condition: str
    requested_mg_per_kg: float | None = None
    override_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A saved plan as an order: the plan JSON as a reader sees it (the preparation withheld,
    ``null``, until a prescriber's signature makes the order active), and where the order
    stands."""

    plan_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    plan: dict[str, Any]
    created_at: datetime
    created_by: int
    status: OrderStatus = "proposed"
    signed_by: str | None = None
    signed_at: datetime | None = None
    signature_meaning: str | None = None
    preparation_withheld: str | None = None
    order: OrderState = PROPOSED


def _record(row: InfusionPlan, state: OrderState) -> PlanRecord:
    plan = plan_for_reading(row.plan, state)
    return PlanRecord(
        row.id,
        row.patient_id,
        row.patient_version,
        row.condition,
        row.catalog_version,
        plan,
        row.created_at,
        row.created_by,
        state.status,
        state.signed_by,
        state.signed_at,
        state.signature_meaning,
        plan["preparation_withheld"],
        state,
    )


_PLANS = cast(Table, InfusionPlan.__table__)
# Built once (plan creation is the service's busiest write): an ORM flush of the new row cost
# more than working the plan out.
_INSERT_PLAN = insert(_PLANS).returning(_PLANS.c.id)

PROPOSING_ROLES: tuple[Role, ...] = ("prescriber", "nurse")
"""Who proposes an order: those who treat. A prescriber's signature makes it active."""


def save_proposed_order(
    uow: UnitOfWork,
    patient_id: int,
    order: PlanOrder,
    *,
    actor: Actor,
    policy: ClinicPolicy,
    resolver: MedicationResolver,
    inputs: Mapping[str, Any] | None = None,
) -> InfusionPlan:
    """Plan and save a proposed order inside the caller's transaction; a refused dose is
    audited (the caller commits that audit, and nothing else, before re-raising).

    ``policy`` is the entry point's (catalog with any clinic file, rules, calendar); the
    clinic's own settings are put over it here, so the plan is judged by the same thresholds
    and stock as a screening or a chart of the same clinic.
    """
    patient_version, profile = current_profile(uow, patient_id, actor)
    request = PlanRequest(
        order.condition,
        profile_from_dict(profile),
        order.requested_mg_per_kg,
        order.override_reason,
        actor.email if order.override_reason is not None else None,
    )
    policy = clinic_policy(uow, actor, policy)
    try:
        plan = make_plan(request, policy, resolver)
    except SafetyLimitError as refused:
        uow.audit(
            actor,
            AuditAction.PLAN_REFUSED,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={
                "condition": order.condition,
                "patient_version": patient_version,
                "requested_mg_per_kg": order.requested_mg_per_kg,
                "code": refused.code,
                "message": refused.message,
                **(inputs or {}),
            },
        )
        raise
    data = plan_to_dict(plan)
    data["preparation"]["stock"] = policy.stock_to_dict()
    values = {
        "patient_id": patient_id,
        "patient_version": patient_version,
        "condition": plan.protocol.key,
        "catalog_version": plan.catalog_version,
        "eligibility_status": plan.eligibility.status,
        "mg_per_kg": plan.dose.mg_per_kg,
        "total_mg": plan.dose.total_mg,
        "inputs": {
            "condition": order.condition,
            "requested_mg_per_kg": order.requested_mg_per_kg,
            "override_reason": order.override_reason,
            **(inputs or {}),
        },
        "plan": data,
        "override": data["limits"]["override"],
        "created_at": uow.clock(),
        "created_by": actor.user_id,
    }
    plan_id: int = uow.db.connection().execute(_INSERT_PLAN, values).scalar_one()
    uow.wrote(InfusionPlan, plan_id)
    append_order_event(uow, plan_id, "proposed", actor=actor)
    uow.audit(
        actor,
        AuditAction.PLAN_CREATE,
        "plan",
        plan_id,
        patient_id=patient_id,
        details={
            "condition": values["condition"],
            "patient_version": patient_version,
            "catalog_version": plan.catalog_version,
            "eligibility": plan.eligibility.status,
            "mg_per_kg": plan.dose.mg_per_kg,
            "total_mg": plan.dose.total_mg,
            "override": values["override"] is not None,
            "stock": data["preparation"]["stock"]["source"],
            "settings_version": policy.settings_version,
            "order": "proposed",
            **(inputs or {}),
        },
    )
    return InfusionPlan(id=plan_id, **values)


def create_plan(
    uow: UnitOfWork,
    patient_id: int,
    order: PlanOrder,
    *,
    actor: Actor,
    policy: ClinicPolicy,
    resolver: MedicationResolver,
) -> PlanRecord:
    """Screen, dose, check limits and prepare for the patient's current details; save it as
    a *proposed* order (a prescriber signs it: :func:`sign_order`)."""
    require_role(actor, PROPOSING_ROLES, "proposing an order")
    if order.override_reason is not None:
        require_role(actor, ("prescriber",), "overriding a dose limit")
    with uow:
        try:
            row = save_proposed_order(
                uow, patient_id, order, actor=actor, policy=policy, resolver=resolver
            )
        except SafetyLimitError:
            uow.commit()  # the audited refusal, nothing else
            raise
        uow.commit()
        return _record(row, PROPOSED)


# ------------------------------------------------------------------- signing ----


def check_signature_password(
    uow: UnitOfWork, password: str, *, actor: Actor, action: AuditAction, entity: tuple[str, int]
) -> None:
    """The signer's re-entered password, checked before any write transaction opens (Argon2
    is slow on purpose; no writer should wait for it). It is counted by the same throttle as
    sign-in, at the address the signer works from (a usual one: they are signed in there),
    and a wrong password is audited."""
    account = account_key(actor.email)
    with uow.lookup() as db:
        now = uow.clock()
        stored = db.scalar(select(User.password_hash).where(User.id == actor.user_id, User.active))
    try:
        with uow:
            count_attempt(uow.db, account=account, origin=actor.origin, usual_origin=True, now=now)
            uow.commit_counters()
    except TooManyAttempts as refused:
        refused.fields["field"] = "password"
        with uow:
            uow.audit(actor, action, entity[0], entity[1], details={"refused": "too_many_attempts"})
            uow.commit()
        raise
    if password_matches(stored, password):
        with uow:
            forgive(uow.db, account=account, origin=actor.origin)
            uow.commit_counters()
        return
    with uow:
        uow.audit(actor, action, entity[0], entity[1], details={"refused": "wrong_password"})
        uow.commit()
    raise PermissionDenied(
        "the password is wrong: a signature needs the signer's own password; nothing was signed",
        code="signature.wrong_password",
        fields={"field": "password"},
    )


def _clean(text: str | None) -> str:
    return (text or "").strip()


def record_signature(
    uow: UnitOfWork,
    row: InfusionPlan,
    *,
    actor: Actor,
    meaning: str,
    override_reason: str | None,
    signer_name: str | None,
) -> OrderState:
    """Sign a proposed order inside the caller's transaction (the password already checked):
    re-check its state, refuse a contraindicated or held plan without an override reason,
    supersede the patient's active order for the same protocol, audit ``order.sign``."""
    uow.db.execute(  # one signature at a time per patient (SQLite: BEGIN IMMEDIATE)
        select(Patient.id).where(Patient.id == row.patient_id).with_for_update()
    )
    state = order_state(uow, row.id)
    if state.status != "proposed":
        raise ConflictError(
            f"order {row.id} is {state.status}, not proposed: only a proposed order is signed",
            code="order.not_proposed",
            fields={"plan_id": row.id, "order_status": state.status},
        )
    current = uow.db.scalar(select(Patient.version).where(Patient.id == row.patient_id))
    if current != row.patient_version:
        raise ConflictError(
            f"the patient's details changed after order {row.id} was planned (version "
            f"{row.patient_version}, now {current}): make a new plan from the current details "
            "and sign that one",
            code="order.stale_patient",
            fields={"plan_id": row.id, "patient_version": current},
        )
    blocking = needs_override(row.plan)
    override: dict[str, Any] | None = None
    if blocking:
        reason = _clean(override_reason)
        if not reason:
            raise SafetyLimitError(
                f"order {row.id} cannot be signed as it stands: "
                + "; ".join(f["message"] for f in blocking)
                + ". Signing it anyway needs a prescriber's override with the clinical reason",
                code="order.override_required",
                fields={
                    "plan_id": row.id,
                    "findings": [f["code"] for f in blocking],
                    "field": "override_reason",
                },
            )
        override = {"reason": reason, "prescriber": actor.email, "findings": blocking}
    name = _clean(signer_name) or actor.name  # the account's name, or its e-mail without one
    signed_at = append_order_event(
        uow, row.id, "signed", actor=actor, meaning=meaning, override=override, signer_name=name
    )
    superseded = [
        plan_id
        for plan_id in active_orders(uow, row.patient_id, row.condition)
        if plan_id != row.id
    ]
    for plan_id in superseded:
        append_order_event(
            uow,
            plan_id,
            "superseded",
            actor=actor,
            reason=f"superseded by order {row.id}, signed by {actor.email}",
        )
        uow.audit(
            actor,
            AuditAction.ORDER_SUPERSEDE,
            "plan",
            plan_id,
            patient_id=row.patient_id,
            details={"by_plan_id": row.id},
        )
    uow.audit(
        actor,
        AuditAction.ORDER_SIGN,
        "plan",
        row.id,
        patient_id=row.patient_id,
        details={
            "signer": actor.email,
            "signer_name": name,
            "meaning": meaning,
            "override": override,
            "superseded": superseded,
        },
    )
    return OrderState(
        "active",
        signed_by=actor.email,
        signer_name=name,
        signed_at=signed_at,
        signature_meaning=meaning,
        override=override,
    )


def sign_order(
    uow: UnitOfWork,
    plan_id: int,
    *,
    password: str,
    actor: Actor,
    meaning: str = DEFAULT_MEANING,
    override_reason: str | None = None,
    signer_name: str | None = None,
) -> PlanRecord:
    """A prescriber's electronic signature: the order becomes active, and the patient's
    previous active order for the protocol is superseded.

    The signer re-enters their password (checked before the write transaction); the
    signature records their e-mail and name, the time and what it means, in the order's
    events and the audit trail. A plan whose screening stops the infusion (a
    contraindication, a held start) needs ``override_reason``, which is recorded. Refusals
    (wrong password, the override missing, an order no longer proposed) sign nothing.
    """
    require_role(actor, ("prescriber",), "signing an order")
    meaning = _clean(meaning)
    if not meaning:
        raise InputError(
            "say what the signature means (e.g. " + repr(DEFAULT_MEANING) + ")",
            code="input.missing",
            fields={"field": "meaning"},
        )
    check_signature_password(
        uow, password, actor=actor, action=AuditAction.ORDER_SIGN_REFUSED, entity=("plan", plan_id)
    )
    with uow:
        row = find_plan(uow, plan_id, actor)
        try:
            state = record_signature(
                uow,
                row,
                actor=actor,
                meaning=meaning,
                override_reason=override_reason,
                signer_name=signer_name,
            )
        except SafetyLimitError as refused:
            uow.rollback()
            uow.audit(
                actor,
                AuditAction.ORDER_SIGN_REFUSED,
                "plan",
                plan_id,
                patient_id=row.patient_id,
                details={"refused": refused.code},
            )
            uow.commit()
            raise
        uow.commit()
        return _record(row, state)


def cancel_order(uow: UnitOfWork, plan_id: int, *, reason: str, actor: Actor) -> PlanRecord:
    """Cancel an order, with the reason. A prescriber cancels any proposed or active order; a
    nurse withdraws a proposed one (stopping a signed order is the prescriber's decision)."""
    require_role(actor, ("prescriber", "nurse"), "cancelling an order")
    why = _clean(reason)
    if not why:
        raise InputError(
            "say why the order is cancelled", code="input.missing", fields={"field": "reason"}
        )
    with uow:
        row = find_plan(uow, plan_id, actor)
        state = order_state(uow, plan_id)
        if state.status not in ("proposed", "active"):
            raise ConflictError(
                f"order {plan_id} is already {state.status}",
                code="order.not_open",
                fields={"plan_id": plan_id, "order_status": state.status},
            )
        if state.status == "active":
            require_role(actor, ("prescriber",), "cancelling a signed order")
        at = append_order_event(uow, plan_id, "cancelled", actor=actor, reason=why)
        uow.audit(
            actor,
            AuditAction.ORDER_CANCEL,
            "plan",
            plan_id,
            patient_id=row.patient_id,
            details={"reason": why, "was": state.status},
        )
        uow.commit()
        return _record(
            row,
            OrderState(
                "cancelled",
                signed_by=state.signed_by,
                signer_name=state.signer_name,
                signed_at=state.signed_at,
                signature_meaning=state.signature_meaning,
                override=state.override,
                ended_at=at,
                ended_reason=why,
            ),
        )


def active_order_preparation(uow: UnitOfWork, plan_id: int) -> dict[str, Any] | None:
    """An active order's stored preparation and dose (what the chair is charted against),
    inside the caller's transaction; None unless the order is active."""
    row = uow.db.get(InfusionPlan, plan_id)
    if row is None or not order_state(uow, plan_id).active:
        return None
    return {
        "plan_id": plan_id,
        "preparation": row.plan["preparation"],
        "dose": row.plan["dose"],
    }


def find_plan(uow: UnitOfWork, plan_id: int, actor: Actor) -> InfusionPlan:
    """A plan of a patient in the actor's clinic."""
    return find_in_clinic(uow, InfusionPlan, plan_id, actor, "plan")


def get_plan(uow: UnitOfWork, plan_id: int, *, actor: Actor) -> PlanRecord:
    """A saved plan as it was shown; the read is audited."""
    require_clinical_facts(actor, "a plan")
    with uow.reading():
        row = find_plan(uow, plan_id, actor)
        state = order_state(uow, plan_id)
        uow.audit(actor, AuditAction.PLAN_READ, "plan", plan_id, patient_id=row.patient_id)
        uow.commit()
        return _record(row, state)


MAX_LISTED = 100


FIRST_PAGE = Window(MAX_LISTED)
"""The page a caller that names none gets (the newest)."""


def list_plans(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, window: Window = FIRST_PAGE
) -> Listed[PlanRecord]:
    """A page of the patient's saved plans, newest first, and how many there are; audited."""
    require_clinical_facts(actor, "a patient's plans")
    theirs = InfusionPlan.patient_id == patient_id

    def load(window: Window) -> list[PlanRecord]:
        rows = list(
            uow.db.scalars(
                select(InfusionPlan)
                .where(theirs)
                .order_by(InfusionPlan.id.desc())
                .limit(window.limit)
                .offset(window.offset)
            )
        )
        states = order_states(uow, [row.id for row in rows])
        return [_record(row, states[row.id]) for row in rows]

    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.PLAN_LIST,
        ids_key="plan_ids",
        load=load,
        count=lambda: (
            uow.db.scalar(select(func.count()).select_from(InfusionPlan).where(theirs)) or 0
        ),
        id_of=lambda plan: plan.plan_id,
        window=window,
    )
