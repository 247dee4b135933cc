"""Patients: register, search, read, update (a new version; stale versions get a 409).

Reads and changes answer with the patient as the caller's role sees them: the whole record
for clinical staff, the registration (name, date of birth) for the front desk
(:mod:`ketaplan.services.visibility`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, cursor_number
from ketaplan.clinical.profile import with_confirm_weight_hint
from ketaplan.errors import InputError
from ketaplan.http.context import services
from ketaplan.http.params import Line, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import (
    PatientDetails,
    PatientRecord,
)
from ketaplan.services.patients import (
    PatientView,
    patient_view,
    profile_to_dict,
)

router = APIRouter(prefix="/patients", tags=["patients"])

CONFIRM_WEIGHT_HINT = 'send "confirm_weight": true'
"""How an API client confirms a weight that looks unusual for the height."""

Text = Annotated[Line, Field(max_length=200)]


class PatientIn(BaseModel):
    """A patient's details as typed; units go in the text ("80 kg", "176 lb", "5 ft 9 in")."""

    model_config = ConfigDict(extra="forbid")

    full_name: Text = Field(examples=["Alex Example"])
    weight: Annotated[Line, Field(max_length=40, examples=["176 lb"])]
    height: Annotated[Line | None, Field(max_length=40, examples=["5 ft 9 in"])] = None
    date_of_birth: date | None = None
    age_years: Annotated[int | None, Field(ge=0, le=130)] = None
    sex: Literal["female", "male", "other"] | None = None
    pregnant: bool = False
    breastfeeding: bool = False
    history: Annotated[
        list[Text], Field(max_length=50, examples=[["controlled_hypertension"]])
    ] = []
    medications: Annotated[list[Text], Field(max_length=50, examples=[["alprazolam 0.5 mg"]])] = []
    alcohol: Text | None = None
    sensitivity: Text | None = None
    experience: Text | None = None
    severity: Text | None = None
    preference: Text | None = None
    blood_pressure: Annotated[Line | None, Field(max_length=20, examples=["128/82"])] = None
    heart_rate: Annotated[
        Line | None,
        Field(max_length=20, examples=["72"], description="Pre-infusion heart rate, per minute."),
    ] = None
    confirm_weight: bool = Field(
        False, description="The weight is right although it looks like a unit mistake."
    )
    allergies: Annotated[list[Text], Field(max_length=50, examples=[["penicillin: rash"]])] = []
    address_line1: Text | None = Field(None, examples=["12 Elm Street"])
    address_line2: Text | None = None
    city: Annotated[Line | None, Field(max_length=100, examples=["Oakland"])] = None
    region: Annotated[
        Line | None, Field(max_length=100, examples=["CA"], description="State or region.")
    ] = None
    postal_code: Annotated[Line | None, Field(max_length=12, examples=["94607"])] = None
    country: Annotated[Line | None, Field(max_length=60, examples=["USA"])] = None
    phone: Annotated[Line | None, Field(max_length=30, examples=["(415) 555-0134"])] = None
    email: Annotated[Line | None, Field(max_length=254, examples=["alex@example.org"])] = None
    escort_name: Text | None = Field(
        None, description="Who drives the patient home after an infusion."
    )
    escort_phone: Annotated[Line | None, Field(max_length=30)] = None

    def details(self) -> PatientDetails:
        values = self.model_dump()
        for name in ("history", "medications", "allergies"):
            values[name] = tuple(values[name])
        return PatientDetails(**values)


class PatientUpdate(PatientIn):
    expected_version: Annotated[int, Field(ge=1)] = Field(
        description="The version you are editing; if someone saved a newer one, you get a 409."
    )


class PatientChanges(PatientIn):
    """Only the details to change; those left out keep their values. The front desk may
    name only ``full_name`` and ``date_of_birth`` (any other is a 403, whatever its value)."""

    full_name: Text | None = None  # type: ignore[assignment]
    weight: Annotated[str | None, Field(max_length=40)] = None  # type: ignore[assignment]
    expected_version: Annotated[int, Field(ge=1)] = Field(
        description="The version you are editing; if someone saved a newer one, you get a 409."
    )

    def changes(self) -> dict[str, Any]:
        named = self.model_fields_set - {"expected_version"}
        for required in ("full_name", "weight"):
            if required in named and getattr(self, required) is None:
                raise InputError(
                    f"{required} cannot be removed; leave it out to keep it",
                    fields={"field": required},
                )
        return {name: getattr(self, name) for name in sorted(named)}


class DetailsOut(BaseModel):
    """The details as they were typed, units in the text (every field of ``PatientDetails``)."""

    model_config = ConfigDict(extra="forbid")

    full_name: str
    weight: str = Field(examples=["176 lb"])
    height: str | None
    date_of_birth: date | None
    age_years: int | None
    sex: str | None
    pregnant: bool
    breastfeeding: bool
    history: list[str]
    medications: list[str]
    alcohol: str | None
    sensitivity: str | None
    experience: str | None
    severity: str | None
    preference: str | None
    blood_pressure: str | None
    heart_rate: str | None
    confirm_weight: bool
    allergies: list[str] = []
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    phone: str | None = None
    email: str | None = None
    escort_name: str | None = None
    escort_phone: str | None = None


class VitalsOut(BaseModel):
    systolic_mmhg: float | None
    diastolic_mmhg: float | None
    heart_rate_bpm: float | None
    spo2_pct: float | None
    resp_rate_per_min: float | None


class ProfileOut(BaseModel):
    """The validated profile dosing and screening use, in canonical units."""

    weight_kg: float
    height_cm: float | None
    age_years: int | None
    sex: str | None
    pregnant: bool
    breastfeeding: bool
    history: list[str]
    medications: list[str]
    alcohol: str
    sensitivity: str
    experience: str
    severity: str
    preference: str
    pre_infusion_vitals: VitalsOut | None


class PatientOut(BaseModel):
    patient_id: int
    version: int
    details: DetailsOut
    profile: ProfileOut
    recorded_at: datetime
    recorded_by: int


class PatientListItem(BaseModel):
    patient_id: int
    version: int
    full_name: str
    date_of_birth: date | None


class PatientRegistration(PatientListItem):
    """The front desk's view of one patient: the registration, with address, contacts and
    escort."""

    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    phone: str | None = None
    email: str | None = None
    escort_name: str | None = None
    escort_phone: str | None = None


class FieldChangeOut(BaseModel):
    field: str
    label: str
    before: str
    after: str


class VersionOut(BaseModel):
    version: int
    recorded_at: datetime
    recorded_by: str = Field(description="The author's e-mail (their sign-in name).")
    recorded_by_name: str = Field(
        description="The author's name as pages show it (their e-mail when no name is set)."
    )
    changes: list[FieldChangeOut]


class PatientVersionsOut(BaseModel):
    patient_id: int
    current_version: int
    versions: list[VersionOut]
    earlier_versions_not_shown: int


def _view_out(view: PatientView) -> PatientOut | PatientRegistration:
    if isinstance(view, PatientRecord):
        return _out(view)
    return PatientRegistration(
        patient_id=view.patient_id,
        version=view.version,
        full_name=view.full_name,
        date_of_birth=view.date_of_birth,
        **view.reach,
    )


def _out(record: PatientRecord) -> PatientOut:
    details = {name: getattr(record.details, name) for name in PatientDetails.__dataclass_fields__}
    return PatientOut(
        patient_id=record.patient_id,
        version=record.version,
        details=DetailsOut.model_validate(details),
        profile=ProfileOut.model_validate(profile_to_dict(record.profile)),
        recorded_at=record.recorded_at,
        recorded_by=record.recorded_by,
    )


@router.post("", name="create_patient", status_code=201)
def create(body: PatientIn, actor: SignedIn, request: Request) -> PatientOut | PatientRegistration:
    """Register a patient; the weight and height are checked with their units."""
    context = services(request)
    try:
        record = context.patients.create(body.details(), actor=actor)
    except InputError as refused:
        raise with_confirm_weight_hint(refused, CONFIRM_WEIGHT_HINT) from None
    return _view_out(patient_view(record, actor))


class PatientPage(Page[PatientListItem]):
    """A page of the patient list, in name order."""


@router.get("", name="search_patients")
def search(
    actor: SignedIn,
    request: Request,
    q: Annotated[Line, Query(max_length=200, description="Part of the name.")] = "",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> PatientPage:
    """Patients whose name contains ``q`` (any case), by name, a page at a time, with how
    many match in all. The cursor marks the last patient of the page before: a patient
    added meanwhile takes their place in the order instead of shifting the pages."""
    found = services(request).patients.page(
        q, actor=actor, limit=limit, after=cursor_number(cursor)
    )
    return PatientPage(
        items=[
            PatientListItem(
                patient_id=p.patient_id,
                version=p.version,
                full_name=p.full_name,
                date_of_birth=p.date_of_birth,
            )
            for p in found.patients
        ],
        total_count=found.total,
        limit=limit,
        next=None if found.next_after is None else str(found.next_after),
    )


@router.get("/{patient_id}", name="read_patient")
def read(
    patient_id: RecordId, actor: SignedIn, request: Request
) -> PatientOut | PatientRegistration:
    """The patient's current details and validated profile (the front desk: the
    registration only)."""
    return _view_out(services(request).patients.read(patient_id, actor=actor))


@router.put("/{patient_id}", name="update_patient")
def update(
    patient_id: RecordId, body: PatientUpdate, actor: SignedIn, request: Request
) -> PatientOut:
    """Save a new version of all the patient's details (the old ones are kept); clinical
    staff only, since it replaces the clinical ones too."""
    context = services(request)
    details = PatientIn.model_validate(body.model_dump(exclude={"expected_version"})).details()
    try:
        record = context.patients.update(
            patient_id, details, expected_version=body.expected_version, actor=actor
        )
    except InputError as refused:
        raise with_confirm_weight_hint(refused, CONFIRM_WEIGHT_HINT) from None
    return _out(record)


@router.patch("/{patient_id}", name="amend_patient")
def amend(
    patient_id: RecordId, body: PatientChanges, actor: SignedIn, request: Request
) -> PatientOut | PatientRegistration:
    """Change the details you send and keep the others (a new version). The front desk sends
    ``full_name`` and/or ``date_of_birth``: a clinical field is refused with a 403
    ``permission.clinical_fields`` and nothing is saved."""
    context = services(request)
    try:
        view = context.patients.amend(
            patient_id, body.changes(), expected_version=body.expected_version, actor=actor
        )
    except InputError as refused:
        raise with_confirm_weight_hint(refused, CONFIRM_WEIGHT_HINT) from None
    return _view_out(view)


@router.get("/{patient_id}/versions", name="patient_versions")
def versions(patient_id: RecordId, actor: SignedIn, request: Request) -> PatientVersionsOut:
    """Every version of the patient, newest first, with what each changed (field, before,
    after, who, when); the front desk sees the registration's changes only."""
    history = services(request).patients.history(patient_id, actor=actor)
    return PatientVersionsOut(
        patient_id=history.patient_id,
        current_version=history.current_version,
        versions=[
            VersionOut(
                version=v.version,
                recorded_at=v.recorded_at,
                recorded_by=v.recorded_by,
                recorded_by_name=v.author,
                changes=[
                    FieldChangeOut(field=c.field, label=c.label, before=c.before, after=c.after)
                    for c in v.changes
                ],
            )
            for v in history.versions
        ],
        earlier_versions_not_shown=history.earlier_versions_not_shown,
    )
