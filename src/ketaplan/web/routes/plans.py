"""Plans: ordering one (with the soft-limit override flow), the plan page, the printable card."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.api.context import services
from ketaplan.api.params import RecordId
from ketaplan.api.security import SignedIn
from ketaplan.errors import (
    HardLimitExceeded,
    InputError,
    OverrideRequired,
    PermissionDenied,
)
from ketaplan.services import Actor, PlanOrder, create_plan, get_patient, get_plan
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()


def _conditions(request: Request) -> list[tuple[str, str]]:
    return sorted((k, p.title) for k, p in services(request).catalog.protocols.items())


def order_from_form(form: dict[str, str]) -> PlanOrder:
    requested: float | None = None
    text = form.get("requested_mg_per_kg", "").strip()
    if text:
        try:
            requested = float(text)
        except ValueError:
            raise InputError(
                f"{text!r} is not a dose in mg/kg (e.g. 0.5)",
                fields={"field": "requested_mg_per_kg"},
            ) from None
        if not math.isfinite(requested) or requested <= 0:
            raise InputError(
                "the dose must be a positive number of mg/kg",
                fields={"field": "requested_mg_per_kg"},
            )
    reason = form.get("override_reason", "").strip() or None
    if not form.get("condition", "").strip():
        raise InputError("choose the condition to treat", fields={"field": "condition"})
    return PlanOrder(form["condition"].strip(), requested, reason)


def override_message(refused: OverrideRequired) -> str:
    """The soft limits the dose is past, in the page's words; the field beside it (the
    override reason) says what to do here."""
    limits = refused.fields.get("soft_limits")
    if not isinstance(limits, list) or not limits:
        return "this dose is past a soft limit and needs a prescriber's override"
    return "this dose is past a soft limit: " + "; ".join(str(m) for m in limits)


async def _plan_form(
    request: Request,
    patient_id: int,
    actor: Actor,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    override_needed: bool = False,
    status: int = 200,
) -> Response:
    patient = await call(get_patient, services(request).unit_of_work(), patient_id, actor=actor)
    return render(
        request,
        "plan_form.html",
        {
            "patient": patient,
            "values": values,
            "errors": errors,
            "conditions": _conditions(request),
            "override_needed": override_needed,
        },
        status=status,
    )


@router.get("/patients/{patient_id}/plans/new", name="web_new_plan", response_class=HTMLResponse)
async def new_plan(
    patient_id: RecordId, actor: SignedIn, request: Request, condition: str = ""
) -> Response:
    return await _plan_form(request, patient_id, actor, {"condition": condition}, {})


@router.post("/patients/{patient_id}/plans/new", name="web_create_plan")
async def create(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        order = order_from_form(form)
        record = await call(
            create_plan,
            context.unit_of_work(),
            patient_id,
            order,
            actor=actor,
            policy=context.policy,
            resolver=context.resolver,
        )
    except OverrideRequired as refused:
        errors = {"requested_mg_per_kg": override_message(refused)}
        if actor.role == "prescriber":
            errors["override_reason"] = (
                "this dose is past a soft limit: give the clinical reason for the override"
            )
        else:
            errors["override_reason"] = (
                "only a prescriber can override a soft limit; ask a prescriber, or choose a "
                "dose inside the limits"
            )
        return await _plan_form(
            request, patient_id, actor, form, errors, override_needed=True, status=422
        )
    except HardLimitExceeded as refused:
        errors = {"requested_mg_per_kg": refused.message}
        return await _plan_form(request, patient_id, actor, form, errors, status=422)
    except PermissionDenied as refused:
        errors = {"override_reason": refused.message}
        return await _plan_form(
            request, patient_id, actor, form, errors, override_needed=True, status=403
        )
    except InputError as refused:
        return await _plan_form(request, patient_id, actor, form, field_errors(refused), status=422)
    return redirect(f"/plans/{record.plan_id}")


async def plan_values(request: Request, plan_id: int, actor: Actor) -> dict[str, Any]:
    context = services(request)
    record = await call(get_plan, context.unit_of_work(), plan_id, actor=actor)
    patient = await call(get_patient, context.unit_of_work(), record.patient_id, actor=actor)
    return {"record": record, "plan": record.plan, "patient": patient}


@router.get("/plans/{plan_id}", name="web_plan", response_class=HTMLResponse)
async def plan_page(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    values = await plan_values(request, plan_id, actor)
    return render(request, "plan.html", {**values, "errors": {}, "form": {}})


@router.get("/plans/{plan_id}/card", name="web_preparation_card", response_class=HTMLResponse)
async def preparation_card(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    values = await plan_values(request, plan_id, actor)
    return render(request, "preparation_card.html", values)
