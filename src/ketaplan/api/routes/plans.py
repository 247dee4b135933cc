"""Plans as orders: screening, personalised dose, limits and preparation, saved with the
explanation as a *proposed* order; a prescriber signs it (it becomes *active*) or it is
cancelled.

A dose past a soft limit needs ``override_reason`` and a prescriber (a 422
``limit.override_required`` without it, a 403 for anyone else); past a hard limit it is refused
(422 ``limit.hard_limit_exceeded``). Refusals save no plan but are audited.

Until an order is active its ``plan.preparation`` is ``null`` and ``preparation_withheld`` says
why. Signing (``POST /plans/{id}/sign``, prescribers) re-checks the signer's password: a wrong
one is a 403 ``signature.wrong_password`` (429 ``auth.too_many_attempts`` after repeated
failures, like sign-in); a contraindicated or held plan without ``override_reason`` is a 422
``order.override_required``; an order that is no longer proposed is a 409
``order.not_proposed``; a plan made before the patient's details changed is a 409
``order.stale_patient``. Cancelling (``POST /plans/{id}/cancel``) needs a reason; a nurse may
withdraw a proposed order, only a prescriber cancels a signed one (403); an order already
cancelled or superseded is a 409 ``order.not_open``. Every refusal signs nothing and is
audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of, window
from ketaplan.api.plan_models import OrderOut, OrderOverride, OrderStatusOut, PlanShown
from ketaplan.errors import OverrideRequired
from ketaplan.http.context import services
from ketaplan.http.params import Condition, ErrorOut, Line, Reason, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_REQUESTED_MG_PER_KG
from ketaplan.services import (
    DEFAULT_MEANING,
    PlanOrder,
    PlanRecord,
)

router = APIRouter(tags=["plans"])

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
        float | None,
        Field(
            gt=0,
            le=MAX_REQUESTED_MG_PER_KG,
            allow_inf_nan=False,
            description="The prescriber's dose in mg/kg: the total over the whole infusion, "
            "not per hour.",
        ),
    ] = None
    override_reason: Reason | None = Field(
        None, description="Needed (from a prescriber) for a dose past a soft limit."
    )


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Annotated[Line, Field(min_length=1, max_length=1024)] = Field(
        description="The signing prescriber's own password, entered again for this signature."
    )
    meaning: Annotated[Line, Field(min_length=1, max_length=500)] = Field(
        DEFAULT_MEANING, description="What the signature means; recorded with it."
    )
    override_reason: Reason | None = Field(
        None,
        description="Needed to sign a plan whose screening stops the infusion (a "
        "contraindication, a held start): the clinical reason for overriding it.",
    )
    signer_name: Annotated[Line | None, Field(min_length=1, max_length=200)] = Field(
        None, description="The signer's name as printed on the order (default: e-mail)."
    )


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class PlanOut(BaseModel):
    plan_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    plan: PlanShown = Field(
        description="The plan JSON (README: `--json` keys); `preparation` is null, and "
        "`preparation_withheld` says why, until the order is active."
    )
    created_at: datetime
    created_by: int
    status: OrderStatusOut
    signed_by: str | None
    signed_at: datetime | None
    signature_meaning: str | None
    preparation_withheld: str | None
    order: OrderOut


def _out(record: PlanRecord) -> PlanOut:
    order = record.order
    return PlanOut(
        plan_id=record.plan_id,
        patient_id=record.patient_id,
        patient_version=record.patient_version,
        condition=record.condition,
        catalog_version=record.catalog_version,
        plan=PlanShown.model_validate(record.plan),
        created_at=record.created_at,
        created_by=record.created_by,
        status=record.status,
        signed_by=record.signed_by,
        signed_at=record.signed_at,
        signature_meaning=record.signature_meaning,
        preparation_withheld=record.preparation_withheld,
        order=OrderOut(
            status=order.status,
            signed_by=order.signed_by,
            signer_name=order.signer_name,
            signed_at=order.signed_at,
            signature_meaning=order.signature_meaning,
            override=None
            if order.override is None
            else OrderOverride.model_validate(order.override),
            ended_at=order.ended_at,
            ended_reason=order.ended_reason,
        ),
    )


@router.post("/patients/{patient_id}/plans", name="create_plan", status_code=201)
def create(patient_id: RecordId, body: PlanIn, actor: SignedIn, request: Request) -> PlanOut:
    """Plan an infusion for the patient's current details and save it, explained."""
    context = services(request)
    try:
        record = context.plans.create(
            patient_id,
            PlanOrder(body.condition, body.requested_mg_per_kg, body.override_reason),
            actor=actor,
        )
    except OverrideRequired as refused:
        raise refused.with_hint(OVERRIDE_HINT) from None
    return _out(record)


class PlanPage(Page[PlanOut]):
    """A page of a patient's plans, newest first."""


@router.get("/patients/{patient_id}/plans", name="list_plans")
def listing(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> PlanPage:
    """The patient's saved plans, newest first, a page at a time."""
    found = services(request).plans.listing(patient_id, actor=actor, window=window(limit, cursor))
    return page_of(found, _out, PlanPage)


@router.get("/plans/{plan_id}", name="read_plan")
def read(plan_id: RecordId, actor: SignedIn, request: Request) -> PlanOut:
    """A saved plan as it was shown."""
    return _out(services(request).plans.get(plan_id, actor=actor))


@router.post(
    "/plans/{plan_id}/sign",
    name="sign_order",
    responses={429: {"model": ErrorOut, "description": "Too many wrong passwords; wait"}},
)
def sign(plan_id: RecordId, body: SignIn, actor: SignedIn, request: Request) -> PlanOut:
    """A prescriber's electronic signature: the order becomes active (its preparation and
    pump program are shown) and supersedes the patient's previous active order for the
    protocol."""
    record = services(request).plans.sign(
        plan_id,
        password=body.password,
        actor=actor,
        meaning=body.meaning,
        override_reason=body.override_reason,
        signer_name=body.signer_name,
    )
    return _out(record)


@router.post("/plans/{plan_id}/cancel", name="cancel_order")
def cancel(plan_id: RecordId, body: CancelIn, actor: SignedIn, request: Request) -> PlanOut:
    """Cancel an order, with the reason (a signed one: prescribers only)."""
    record = services(request).plans.cancel(plan_id, reason=body.reason, actor=actor)
    return _out(record)
