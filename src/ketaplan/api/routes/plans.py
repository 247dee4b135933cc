"""Plans: screening, personalised dose, limits and preparation, saved with the explanation.

A dose past a soft limit needs ``override_reason`` and a prescriber (a 422
``limit.override_required`` without it, a 403 for anyone else); past a hard limit it is refused
(422 ``limit.hard_limit_exceeded``). Refusals save no plan but are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.context import services
from ketaplan.api.params import Condition, Reason, RecordId
from ketaplan.api.security import SignedIn
from ketaplan.errors import OverrideRequired
from ketaplan.services import PlanOrder, PlanRecord, create_plan, get_plan, list_plans

router = APIRouter(tags=["plans"])

MAX_REQUESTED_MG_PER_KG = 100.0
"""Far above any protocol's hard limit: the limits refuse and explain; this only keeps the
number a number."""


OVERRIDE_HINT = (
    'send "override_reason" in the request body, signed in as a prescriber: the signed-in '
    "prescriber is recorded as the one who overrides"
)
"""How an API client gives the override the limits ask for (the domain's message names what,
not how)."""


class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Condition
    requested_mg_per_kg: Annotated[
        float | None, Field(gt=0, le=MAX_REQUESTED_MG_PER_KG, allow_inf_nan=False)
    ] = None
    override_reason: Reason | None = Field(
        None, description="Needed (from a prescriber) for a dose past a soft limit."
    )


class PlanOut(BaseModel):
    plan_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    plan: dict[str, Any] = Field(description="The plan JSON (README: `--json` keys).")
    created_at: datetime
    created_by: int


def _out(record: PlanRecord) -> PlanOut:
    return PlanOut(
        plan_id=record.plan_id,
        patient_id=record.patient_id,
        patient_version=record.patient_version,
        condition=record.condition,
        catalog_version=record.catalog_version,
        plan=record.plan,
        created_at=record.created_at,
        created_by=record.created_by,
    )


@router.post("/patients/{patient_id}/plans", name="create_plan", status_code=201)
def create(patient_id: RecordId, body: PlanIn, actor: SignedIn, request: Request) -> PlanOut:
    """Plan an infusion for the patient's current details and save it, explained."""
    context = services(request)
    try:
        record = create_plan(
            context.unit_of_work(),
            patient_id,
            PlanOrder(body.condition, body.requested_mg_per_kg, body.override_reason),
            actor=actor,
            policy=context.policy,
            resolver=context.resolver,
        )
    except OverrideRequired as refused:
        raise refused.with_hint(OVERRIDE_HINT) from None
    return _out(record)


@router.get("/patients/{patient_id}/plans", name="list_plans")
def listing(patient_id: RecordId, actor: SignedIn, request: Request) -> list[PlanOut]:
    """The patient's saved plans, newest first."""
    return [_out(r) for r in list_plans(services(request).unit_of_work(), patient_id, actor=actor)]


@router.get("/plans/{plan_id}", name="read_plan")
def read(plan_id: RecordId, actor: SignedIn, request: Request) -> PlanOut:
    """A saved plan as it was shown."""
    return _out(get_plan(services(request).unit_of_work(), plan_id, actor=actor))
