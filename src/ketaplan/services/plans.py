"""Plans: the domain's explained plan for a patient's current profile, saved as it was shown.

The plan JSON is :func:`~ketaplan.clinical.planning.plan_to_dict` exactly (the README's
contract), with the catalog version used and any override, and under ``preparation.stock`` the
vials and bags it was prepared from: the clinic's own (from its settings, with their version)
or the catalog's defaults when the clinic has set none. A soft-limit override needs a
prescriber, who is recorded as the overriding prescriber. A dose the limits refuse (override
missing, hard limit) saves no plan, but the refusal itself is audited and committed: DESIGN asks
for overrides and refusals alike to be recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select

from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan, plan_to_dict
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import SafetyLimitError
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.clinic_settings import clinic_policy
from ketaplan.services.patients import (
    current_profile,
    find_in_clinic,
    find_patient,
    profile_from_dict,
)
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import InfusionPlan


@dataclass(frozen=True, slots=True)
class PlanOrder:
    """What is asked for: the condition, optionally a dose and an override reason."""

    condition: str
    requested_mg_per_kg: float | None = None
    override_reason: str | None = None


@dataclass(frozen=True, slots=True)
class PlanRecord:
    plan_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    plan: dict[str, Any]
    created_at: datetime
    created_by: int


def _record(row: InfusionPlan) -> PlanRecord:
    return PlanRecord(
        row.id,
        row.patient_id,
        row.patient_version,
        row.condition,
        row.catalog_version,
        row.plan,
        row.created_at,
        row.created_by,
    )


_PLANS = cast(Table, InfusionPlan.__table__)
# Built once (plan creation is the service's busiest write): an ORM flush of the new row cost
# more than working the plan out.
_INSERT_PLAN = insert(_PLANS).returning(_PLANS.c.id)


def create_plan(
    uow: UnitOfWork,
    patient_id: int,
    order: PlanOrder,
    *,
    actor: Actor,
    policy: ClinicPolicy,
    resolver: MedicationResolver,
) -> PlanRecord:
    """Screen, dose, check limits and prepare for the patient's current details; save it.

    ``policy`` is the entry point's (catalog with any clinic file, rules, calendar); the
    clinic's own settings are put over it here, so the plan is judged by the same thresholds
    and stock as a screening or a chart of the same clinic.
    """
    if order.override_reason is not None:
        require_role(actor, ("prescriber",), "overriding a dose limit")
    with uow:
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
                "plan.refused",
                "patient",
                patient_id,
                patient_id=patient_id,
                details={
                    "condition": order.condition,
                    "patient_version": patient_version,
                    "requested_mg_per_kg": order.requested_mg_per_kg,
                    "code": refused.code,
                    "message": refused.message,
                },
            )
            uow.commit()
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
            },
            "plan": data,
            "override": data["limits"]["override"],
            "created_at": uow.clock(),
            "created_by": actor.user_id,
        }
        plan_id: int = uow.session.connection().execute(_INSERT_PLAN, values).scalar_one()
        uow.audit(
            actor,
            "plan.create",
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
            },
        )
        uow.commit()
        return PlanRecord(
            plan_id,
            patient_id,
            patient_version,
            plan.protocol.key,
            plan.catalog_version,
            data,
            values["created_at"],
            actor.user_id,
        )


def find_plan(uow: UnitOfWork, plan_id: int, actor: Actor) -> InfusionPlan:
    """A plan of a patient in the actor's clinic."""
    return find_in_clinic(uow, InfusionPlan, plan_id, actor, "plan")


def get_plan(uow: UnitOfWork, plan_id: int, *, actor: Actor) -> PlanRecord:
    """A saved plan as it was shown; the read is audited."""
    with uow:
        row = find_plan(uow, plan_id, actor)
        uow.audit(actor, "plan.read", "plan", plan_id, patient_id=row.patient_id)
        uow.commit()
        return _record(row)


MAX_LISTED = 100


def list_plans(uow: UnitOfWork, patient_id: int, *, actor: Actor) -> list[PlanRecord]:
    """The patient's saved plans, newest first (at most :data:`MAX_LISTED`); audited."""
    with uow:
        find_patient(uow, patient_id, actor)
        found = [
            _record(row)
            for row in uow.session.scalars(
                select(InfusionPlan)
                .where(InfusionPlan.patient_id == patient_id)
                .order_by(InfusionPlan.id.desc())
                .limit(MAX_LISTED)
            )
        ]
        uow.audit(
            actor,
            "plan.list",
            "patient",
            patient_id,
            patient_id=patient_id,
            details={"plan_ids": [p.plan_id for p in found]},
        )
        uow.commit()
        return found
