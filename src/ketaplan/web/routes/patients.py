"""Patients: the list and search, intake, and the patient's page (record and outcome chart)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from ketaplan.clinical.profile import MAX_AGE_YEARS
from ketaplan.errors import InputError, InputProblems
from ketaplan.http.context import services
from ketaplan.http.params import Line, RecordId
from ketaplan.http.permissions import UseCase, can
from ketaplan.http.security import SignedIn
from ketaplan.inputs import clinic_date, whole_number
from ketaplan.services import Actor, PatientDetails
from ketaplan.services.patients import check_patient_details
from ketaplan.web.charts import outcome_chart
from ketaplan.web.rendering import call, field_errors, form_of, redirect, render

router = APIRouter()

CHOICES: dict[str, list[tuple[str, str]]] = {
    "sex": [("female", "Female"), ("male", "Male")],
    "alcohol": [(v, v.title()) for v in ("none", "occasional", "regular", "heavy")],
    "sensitivity": [(v, v.title()) for v in ("normal", "high", "low")],
    "experience": [
        ("naive", "Ketamine-naive"),
        ("prior_ketamine", "Had ketamine before"),
        ("prior_psychedelic", "Had psychedelics before"),
    ],
    "severity": [(v, v.title()) for v in ("mild", "moderate", "severe")],
    "preference": [("standard", "Standard"), ("lowest_effective", "Lowest effective dose")],
}
ALIASES = {"age": "age_years"}
"""Domain error fields that a form names differently."""


def _lines(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace(",", "\n").splitlines() if part.strip())


def _optional(text: str) -> str | None:
    return text.strip() or None


def _born(text: str) -> date:
    born = clinic_date(text, field="date_of_birth")
    if born > date.today():
        raise InputError("the date of birth is in the future", fields={"field": "date_of_birth"})
    return born


def details_from_form(
    form: dict[str, str], problems: InputProblems | None = None
) -> PatientDetails:
    """The intake form as the service's input; a value the form cannot even read is an
    InputError naming its field (the service checks everything else). Given ``problems``,
    such refusals are kept there and the field left empty, so that the service's checks of the
    other fields can be shown with them."""
    found = problems if problems is not None else InputProblems()
    born: date | None = None
    if form.get("date_of_birth", "").strip():
        born = found.check(_born, form["date_of_birth"])
    age: int | None = None
    if form.get("age_years", "").strip():
        age = found.check(
            whole_number, form["age_years"], field="age_years", low=0, high=MAX_AGE_YEARS
        )
    if not form.get("weight", "").strip():
        found.add(
            InputError(
                "the weight is required, with its unit (e.g. 176 lb or 80 kg)",
                fields={"field": "weight"},
            )
        )
    if problems is None:
        found.raise_any()
    return PatientDetails(
        full_name=form.get("full_name", ""),
        weight=form["weight"].strip(),
        height=_optional(form.get("height", "")),
        date_of_birth=born,
        age_years=age,
        sex=_optional(form.get("sex", "")),
        pregnant=form.get("pregnant") == "on",
        breastfeeding=form.get("breastfeeding") == "on",
        history=_lines(form.get("history", "")),
        medications=tuple(
            line.strip() for line in form.get("medications", "").splitlines() if line.strip()
        ),
        alcohol=_optional(form.get("alcohol", "")),
        sensitivity=_optional(form.get("sensitivity", "")),
        experience=_optional(form.get("experience", "")),
        severity=_optional(form.get("severity", "")),
        preference=_optional(form.get("preference", "")),
        blood_pressure=_optional(form.get("blood_pressure", "")),
        heart_rate=_optional(form.get("heart_rate", "")),
        confirm_weight=form.get("confirm_weight") == "on",
    )


@router.get("/patients", name="web_patients", response_class=HTMLResponse)
async def patient_list(
    actor: SignedIn, request: Request, q: Annotated[Line, Query(max_length=200)] = ""
) -> Response:
    found = await call(services(request).patients.search, q, actor=actor)
    return render(request, "patients.html", {"patients": found, "q": q})


LIVE_CHECKED_FIELDS = frozenset(
    {
        "weight",
        "height",
        "age_years",
        "sex",
        "pregnant",
        "breastfeeding",
        "history",
        "alcohol",
        "sensitivity",
        "experience",
        "severity",
        "preference",
        "blood_pressure",
        "heart_rate",
        "confirm_weight",
    }
)
"""The intake fields the live check reads: the ones the profile is built from. The name, date
of birth and medications are not sent to it (the page leaves them out) and ignored if sent."""


@router.post("/patients/check", name="web_check_patient")
async def check_intake(actor: SignedIn, request: Request) -> Response:
    """The intake form's live check: the message :func:`create` would show, or none.

    Runs the same form reading and profile builder as registering the patient, so the message
    beside a field while typing is the one a submit would give (e.g. 180 "kg" at 5 ft 9 in:
    probably pounds). A POST (with the page's CSRF token) keeps the typed values out of URLs
    and access logs; nothing is read from or written to the database, so it is not audited,
    and nothing of the form is logged or echoed beyond the one message.
    """
    headers = {"Cache-Control": "no-store"}
    try:
        form = await form_of(request)
        typed = {key: value for key, value in form.items() if key in LIVE_CHECKED_FIELDS}
        details = details_from_form(typed)
        await call(check_patient_details, details, catalog=services(request).catalog)
    except InputError as refused:
        field, message = next(iter(field_errors(refused, ALIASES).items()))
        return JSONResponse({"field": field, "message": message}, headers=headers)
    return JSONResponse({"field": None, "message": ""}, headers=headers)


@router.get("/patients/new", name="web_new_patient", response_class=HTMLResponse)
async def new_patient(actor: SignedIn, request: Request) -> Response:
    return render(request, "patient_form.html", {"values": {}, "errors": {}, "choices": CHOICES})


@router.post("/patients/new", name="web_create_patient")
async def create(actor: SignedIn, request: Request) -> Response:
    form = await form_of(request)
    context = services(request)
    try:
        problems = InputProblems()
        details = details_from_form(form, problems)
        if problems.found:  # the record's own checks too: every field's message at once
            problems.check(check_patient_details, details, catalog=context.catalog, with_name=True)
            problems.raise_any()
        record = await call(context.patients.create, details, actor=actor)
    except InputError as refused:
        return render(
            request,
            "patient_form.html",
            {"values": form, "errors": field_errors(refused, ALIASES), "choices": CHOICES},
            status=422,
        )
    if can(actor, UseCase.READ_PATIENT_CHART):
        return redirect(f"/patients/{record.patient_id}")
    return redirect(f"/patients?created={record.patient_id}")


async def patient_page_values(request: Request, patient_id: int, actor: Actor) -> dict[str, Any]:
    """What the patient page shows (also re-shown after its forms)."""
    context = services(request)
    overview = await call(context.patients.overview, patient_id, actor=actor)
    values: dict[str, Any] = {
        "o": overview,
        "p": overview.patient,
        "chart": outcome_chart(overview, context.calendar.time_zone),
        # Only PHQ-9 item 9 calls for the same-day review banner; other flags (a GAD-7 that
        # screens positive) are shown on the chart, not as a safety alert.
        "item9_flagged": [s for s in overview.scores if "phq9.item9_positive" in s.flags],
        "conditions": sorted(
            (key, protocol.title) for key, protocol in context.catalog.protocols.items()
        ),
        "errors": {},
        "link": "",
    }
    if can(actor, UseCase.LIST_QUESTIONNAIRES):
        # Measurement-based care: what is due, the e-mails and their delivery, item 9 reviews.
        care = await call(context.care.overview, patient_id, actor=actor)
        values.update(due=care.due, mail=care.messages, item9=care.item9)
    return values


@router.get("/patients/{patient_id}", name="web_patient", response_class=HTMLResponse)
async def patient_page(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    return render(request, "patient.html", await patient_page_values(request, patient_id, actor))
