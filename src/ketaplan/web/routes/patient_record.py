"""The patient's record, edited after intake: every save is a new version (never in place).

Clinical staff edit everything the intake asked (weight and height as typed, with the intake's
live unit checks; medications, history, allergies) besides the registration; the front desk
edits the registration only (name, birth, address, contacts, escort) and the page holds no
clinical field for it, not even hidden. The save sends the service only what changed, so the
version's history names exactly the fields someone edited, and the front desk's save names no
clinical field (the service refuses one by name). Every problem is shown at once, each beside
its field; nothing is written while any remains.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from ketaplan.errors import InputError, KetaplanError
from ketaplan.http.context import services
from ketaplan.http.params import RecordId
from ketaplan.http.permissions import UseCase, can
from ketaplan.http.security import SignedIn
from ketaplan.services import Actor, PatientDetails, PatientRecord
from ketaplan.services.patient_contacts import REACH_FIELDS
from ketaplan.services.patients import PatientSummary
from ketaplan.services.visibility import REGISTRATION_FIELDS
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render
from ketaplan.web.routes.patients import ALIASES, CHOICES, every_problem, read_patient_form

router = APIRouter()

LIST_FIELDS = ("history", "medications", "allergies")
FLAGS = ("pregnant", "breastfeeding", "confirm_weight")


def _form_values(current: PatientRecord | PatientSummary) -> dict[str, Any]:
    """The record as the form shows it: text as typed, lists one a line, flags as "on"."""
    if isinstance(current, PatientSummary):
        values: dict[str, Any] = {
            "full_name": current.full_name,
            "date_of_birth": current.date_of_birth.isoformat() if current.date_of_birth else "",
            **{name: current.reach.get(name) or "" for name in REACH_FIELDS},
        }
        return values
    details = current.details
    values = {}
    for f in fields(details):
        value = getattr(details, f.name)
        if f.name == "history":  # the vocabulary's words, which read back as its terms
            values[f.name] = "\n".join(term.replace("_", " ") for term in value)
        elif f.name in LIST_FIELDS:
            values[f.name] = "\n".join(value)
        elif f.name in FLAGS:
            values[f.name] = "on" if value else ""
        elif f.name == "date_of_birth":
            values[f.name] = value.isoformat() if value else ""
        else:
            values[f.name] = "" if value is None else str(value)
    return values


async def _current(
    request: Request, patient_id: int, actor: Actor
) -> PatientRecord | PatientSummary:
    context = services(request)
    if can(actor, UseCase.READ_PATIENT_CHART):
        return await call(context.patients.get, patient_id, actor=actor)
    view = await call(context.patients.read, patient_id, actor=actor)
    assert isinstance(view, PatientSummary)  # the front desk's view of a patient
    return view


async def _edit_page(
    request: Request,
    patient_id: int,
    actor: Actor,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = services(request)
    current = await _current(request, patient_id, actor)
    history = await call(context.patients.history, patient_id, actor=actor)
    return render(
        request,
        "patient_edit.html",
        {
            "patient_id": patient_id,
            "version": current.version,
            "name": current.full_name
            if isinstance(current, PatientSummary)
            else current.details.full_name,
            "clinical": isinstance(current, PatientRecord),
            "values": values if values is not None else _form_values(current),
            "errors": errors or {},
            "choices": CHOICES,
            "history": history,
        },
        status=status,
    )


@router.get("/patients/{patient_id}/edit", name="web_edit_patient", response_class=HTMLResponse)
async def edit_patient(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return await _edit_page(request, patient_id, actor)


FORM_FIELDS = frozenset(f.name for f in fields(PatientDetails)) | {"age_years"}


def _on_the_form(errors: dict[str, str], clinical: bool) -> dict[str, str]:
    """Errors keyed by a field the form shows; any other goes to the banner above it."""
    shown = FORM_FIELDS if clinical else REGISTRATION_FIELDS
    kept: dict[str, str] = {}
    for name, message in errors.items():
        key = name if name in shown else ""
        kept[key] = f"{kept[key]}; {message}" if key in kept else message
    return kept


def _changes(
    typed: PatientDetails, current: PatientRecord | PatientSummary, clinical: bool
) -> dict[str, Any]:
    """The fields the form changed (only those go to the service, so the version names them)."""
    if isinstance(current, PatientSummary):
        before: dict[str, Any] = {
            "full_name": current.full_name,
            "date_of_birth": current.date_of_birth,
            **{name: current.reach.get(name) for name in REACH_FIELDS},
        }
    else:
        before = {f.name: getattr(current.details, f.name) for f in fields(current.details)}
    names = [f.name for f in fields(typed)] if clinical else sorted(REGISTRATION_FIELDS)
    changed = {
        name: getattr(typed, name) for name in names if getattr(typed, name) != before.get(name)
    }
    if clinical and {"weight", "height"} & set(changed):
        changed["confirm_weight"] = typed.confirm_weight  # a confirmation is of these values
    return changed


@router.post("/patients/{patient_id}/edit", name="web_save_patient")
async def save_patient(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    clinical = can(actor, UseCase.READ_PATIENT_CHART)
    try:
        expected = int(form.get("expected_version", "0"))
    except ValueError:
        expected = 0
    typed, unreadable = read_patient_form(form)
    if not clinical:
        unreadable = [p for p in unreadable if p.fields.get("field") in REGISTRATION_FIELDS]
    try:
        if unreadable and (
            refused_all := every_problem(typed, unreadable, request, clinical=clinical)
        ):
            raise refused_all
        current = await _current(request, patient_id, actor)
        changes = _changes(typed, current, clinical)
        if not changes:
            raise InputError(
                "nothing was changed, so no new version was saved",
                code="input.nothing_to_change",
            )
        await call(
            context.patients.amend, patient_id, changes, expected_version=expected, actor=actor
        )
    except KetaplanError as refused:
        if refused.http_status in (401, 403, 404):
            raise
        errors = _on_the_form(field_errors(refused, ALIASES), clinical)
        return await _edit_page(
            request, patient_id, actor, values=dict(form), errors=errors, status=422
        )
    if clinical:
        return redirect(f"/patients/{patient_id}#record")
    return redirect(f"/patients/{patient_id}/edit?saved=1")
