"""Plans: ordering one (with the soft-limit override flow), the plan page with the order's
status, the prescriber's signature (password re-entered; an override reason when screening
stops the infusion) and cancelling; the printable card, for active orders only."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.errors import (
    HardLimitExceeded,
    InputError,
    InputProblems,
    KetaplanError,
    OverrideRequired,
    PermissionDenied,
)
from ketaplan.http.context import services
from ketaplan.http.errors import retry_after
from ketaplan.http.params import RecordId
from ketaplan.http.permissions import UseCase, can
from ketaplan.http.security import SignedIn
from ketaplan.inputs import MAX_REQUESTED_MG_PER_KG, decimal_number
from ketaplan.services import (
    DEFAULT_MEANING,
    Actor,
    PlanOrder,
)
from ketaplan.services.orders import needs_override
from ketaplan.services.patient_history import weight_mismatch
from ketaplan.web.prediction_chart import prediction_chart, swatch
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()


def _conditions(request: Request) -> list[tuple[str, str]]:
    return sorted((k, p.title) for k, p in services(request).catalog.protocols.items())


def _requested_mg_per_kg(text: str) -> float:
    requested = decimal_number(
        text,
        field="requested_mg_per_kg",
        low=-math.inf,
        high=MAX_REQUESTED_MG_PER_KG,
        what="a dose in mg/kg",
    )
    if requested <= 0:
        raise InputError(
            "the dose must be a positive number of mg/kg",
            fields={"field": "requested_mg_per_kg"},
        )
    return requested


def order_from_form(form: dict[str, str]) -> PlanOrder:
    """The plan form as the service's order; every field it cannot read refused at once."""
    problems = InputProblems()
    requested: float | None = None
    text = form.get("requested_mg_per_kg", "").strip()
    if text:
        requested = problems.check(_requested_mg_per_kg, text)
    reason = form.get("override_reason", "").strip() or None
    if not form.get("condition", "").strip():
        problems.add(InputError("choose the condition to treat", fields={"field": "condition"}))
    problems.raise_any()
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
    patient = await call(services(request).patients.get, patient_id, actor=actor)
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
        record = await call(context.plans.create, patient_id, order, actor=actor)
    except OverrideRequired as refused:
        errors = {"requested_mg_per_kg": override_message(refused)}
        if can(actor, UseCase.OVERRIDE_DOSE_LIMIT):
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
        errors = field_errors(refused)
        if not errors.keys() <= PLAN_FORM_FIELDS:
            errors = {"": refused.message}  # about the patient's record (e.g. a missing sex)
        return await _plan_form(request, patient_id, actor, form, errors, status=422)
    return redirect(f"/plans/{record.plan_id}")


PLAN_FORM_FIELDS = frozenset({"condition", "requested_mg_per_kg", "override_reason"})
"""The fields the plan form shows; an error about any other is shown above the form."""


async def plan_values(request: Request, plan_id: int, actor: Actor) -> dict[str, Any]:
    context = services(request)
    record = await call(context.plans.get, plan_id, actor=actor)
    patient = await call(context.patients.get, record.patient_id, actor=actor)
    return {
        "record": record,
        "plan": record.plan,
        "patient": patient,
        "blocking": needs_override(record.plan),
        "default_meaning": DEFAULT_MEANING,
        "weight_changed": weight_mismatch(
            record.plan_id,
            record.condition,
            record.plan,
            record.patient_version,
            record.status,
            patient,
        ),
    }


async def _plan_page(
    request: Request,
    plan_id: int,
    actor: Actor,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    values = await plan_values(request, plan_id, actor)
    return render(
        request,
        "plan.html",
        {
            **values,
            **await plan_prediction(request, plan_id, actor),
            "errors": errors or {},
            "form": form or {},
        },
        status=status,
    )


async def plan_prediction(request: Request, plan_id: int, actor: Actor) -> dict[str, Any]:
    """The planned infusion's predicted curve and its numbers; a prediction that cannot be
    made (an input the model refuses) is said in words, the order page still shows."""
    try:
        found = await call(services(request).plans.predict, plan_id, actor=actor)
    except InputError as refused:
        return {"prediction": None, "prediction_refused": refused.message}
    chart = prediction_chart(
        (found.option,),
        level_ng_per_ml=found.basis.level_ng_per_ml,
        title=f"Predicted plasma ketamine for plan #{plan_id}: {found.option.label}",
        chart_id="plan-prediction",
    )
    return {
        "prediction": found,
        "prediction_chart": chart,
        "prediction_refused": "",
        "swatch": swatch,
    }


@router.get("/plans/{plan_id}", name="web_plan", response_class=HTMLResponse)
async def plan_page(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _plan_page(request, plan_id, actor)


@router.post("/plans/{plan_id}/sign", name="web_sign_order")
async def sign(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    try:
        await call(
            services(request).plans.sign,
            plan_id,
            password=form.get("password", ""),
            actor=actor,
            meaning=form.get("meaning", "").strip() or DEFAULT_MEANING,
            override_reason=form.get("override_reason", "").strip() or None,
            signer_name=form.get("signer_name", "").strip() or None,
        )
    except KetaplanError as refused:
        if refused.http_status in (401, 404):
            raise
        kept = {k: v for k, v in form.items() if k != "password"}
        errors = field_errors(refused, {"plan_id": ""})
        page = await _plan_page(
            request, plan_id, actor, form=kept, errors=errors, status=refused.http_status
        )
        page.headers.update(retry_after(refused.fields))
        return page
    return redirect(f"/plans/{plan_id}")


@router.post("/plans/{plan_id}/cancel", name="web_cancel_order")
async def cancel(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    try:
        await call(
            services(request).plans.cancel,
            plan_id,
            reason=form.get("cancel_reason", ""),
            actor=actor,
        )
    except KetaplanError as refused:
        if refused.http_status in (401, 404):
            raise
        errors = field_errors(refused, {"reason": "cancel_reason", "role": "cancel_reason"})
        return await _plan_page(
            request, plan_id, actor, form=form, errors=errors, status=refused.http_status
        )
    return redirect(f"/plans/{plan_id}")


@router.get("/plans/{plan_id}/card", name="web_preparation_card", response_class=HTMLResponse)
async def preparation_card(plan_id: RecordId, actor: SignedIn, request: Request) -> Response:
    values = await plan_values(request, plan_id, actor)
    if values["record"].order.status == "active":  # the vial it is drawn from (issue 16)
        from ketaplan.services.ledger_records import order_ledger

        uow = services(request).unit_of_work()
        values["ledger"] = await call(order_ledger, uow, plan_id, actor=actor)
    return render(request, "preparation_card.html", values)
