"""Patients: the list and search, intake, and the patient's page (record and outcome chart)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.responses import Response

from ketaplan.clinical.profile import MAX_AGE_YEARS
from ketaplan.clinical.screening import medication_findings
from ketaplan.errors import InputError
from ketaplan.http.context import services
from ketaplan.http.params import Line, RecordId
from ketaplan.http.permissions import UseCase, can
from ketaplan.http.security import SignedIn
from ketaplan.inputs import clinic_date, whole_number
from ketaplan.services import Actor, PatientDetails
from ketaplan.services.patient_checks import refusal
from ketaplan.services.patient_contacts import REACH_FIELDS, address_line
from ketaplan.services.patients import check_patient_details, detail_problems
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


def read_patient_form(form: Mapping[str, str]) -> tuple[PatientDetails, list[InputError]]:
    """The intake or record form as the service's input, and the problems of the values the
    form cannot even read (a date, a whole number, a missing weight), each naming its field.
    An unreadable value is left empty in the details, so the service's own checks of the rest
    still run and every problem is shown at once."""
    problems: list[InputError] = []
    born: date | None = None
    if form.get("date_of_birth", "").strip():
        try:
            born = clinic_date(form["date_of_birth"], field="date_of_birth")
            if born > date.today():
                born = None
                raise InputError(
                    "the date of birth is in the future", fields={"field": "date_of_birth"}
                )
        except InputError as refused:
            problems.append(refused)
    age: int | None = None
    if form.get("age_years", "").strip():
        try:
            age = whole_number(form["age_years"], field="age_years", low=0, high=MAX_AGE_YEARS)
        except InputError as refused:
            problems.append(refused)
    if not form.get("weight", "").strip():
        problems.append(
            InputError(
                "the weight is required, with its unit (e.g. 176 lb or 80 kg)",
                fields={"field": "weight"},
            )
        )
    details = PatientDetails(
        full_name=form.get("full_name", ""),
        weight=form.get("weight", "").strip(),
        height=_optional(form.get("height", "")),
        date_of_birth=born,
        age_years=age,
        sex=_optional(form.get("sex", "")),
        pregnant=form.get("pregnant") == "on",
        breastfeeding=form.get("breastfeeding") == "on",
        history=_lines(form.get("history", "")),
        medications=_one_a_line(form.get("medications", "")),
        allergies=_one_a_line(form.get("allergies", "")),
        alcohol=_optional(form.get("alcohol", "")),
        sensitivity=_optional(form.get("sensitivity", "")),
        experience=_optional(form.get("experience", "")),
        severity=_optional(form.get("severity", "")),
        preference=_optional(form.get("preference", "")),
        blood_pressure=_optional(form.get("blood_pressure", "")),
        heart_rate=_optional(form.get("heart_rate", "")),
        confirm_weight=form.get("confirm_weight") == "on",
        **{name: _optional(form.get(name, "")) for name in REACH_FIELDS},
    )
    return details, problems


def every_problem(
    details: PatientDetails,
    read: list[InputError],
    request: Request,
    *,
    clinical: bool = True,
) -> InputError | None:
    """The form's own problems and the service's checks of the rest, as one refusal (None
    when there is nothing to refuse); a field the form could not read keeps the form's
    message only."""
    unreadable = {str(p.fields.get("field", "")) for p in read}
    checked = detail_problems(details, services(request).catalog, clinical=clinical)
    problems = read + [p for p in checked if str(p.fields.get("field", "")) not in unreadable]
    return refusal(problems) if problems else None


def details_from_form(form: dict[str, str]) -> PatientDetails:
    """The intake form as the service's input; the first value the form cannot even read is
    an InputError naming its field (the live check shows one message at a time)."""
    details, problems = read_patient_form(form)
    if problems:
        raise problems[0]
    return details


def _one_a_line(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


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
        details, unreadable = read_patient_form(form)
        if unreadable and (refused_all := every_problem(details, unreadable, request)):
            raise refused_all
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
    history = await call(context.patients.history, patient_id, actor=actor)
    details = overview.patient.details
    values: dict[str, Any] = {
        "history": history,
        "address": address_line({f: getattr(details, f) for f in REACH_FIELDS}),
        "medication_findings": medication_findings(
            details.medications, context.catalog, context.resolver
        ),
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
