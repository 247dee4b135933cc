"""Patients: create, update (a new version, never in place), read (audited too).

What staff type (``"176 lb"``, ``"5 ft 9 in"``, medication names) is validated by the domain's
:func:`~ketaplan.clinical.profile.build_profile` and stored twice in each version: as typed
(``inputs``, to show and edit again) and as the validated profile in canonical units
(``profile``, what plans are computed from, so an old version reads back the same even after the
catalog changes).

Concurrency is optimistic: an update names the version it was made from; if someone saved a
newer version in the meantime, the update is refused with :class:`~ketaplan.errors.ConflictError`
and nothing is written. The version bump is a conditional UPDATE (``WHERE version = N``), and
``(patient_id, version)`` is unique, so two concurrent updates from version N cannot both win.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime
from functools import cache
from typing import Any, TypeAlias, TypeVar, cast

from sqlalchemy import CursorResult, Select, bindparam, select, update
from sqlalchemy.orm import Session

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.monitoring import VitalSigns
from ketaplan.clinical.profile import PatientProfile, build_profile, profile_problems
from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.patient_checks import (
    MAX_NAME_LENGTH,
    allergy_problems,
    name_problems,
    refuse_all,
)
from ketaplan.services.patient_contacts import REACH_FIELDS, cleaned, contact_problems
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import (
    REGISTRATION_FIELDS,
    require_clinical_facts,
    require_may_change_patient_fields,
    sees_clinical_facts,
)
from ketaplan.store.models import (
    InfusionPlan,
    InfusionSession,
    Patient,
    PatientVersion,
    TreatmentCourse,
)
from ketaplan.store.name_search import index_patient_name, rarest_trigram, trigram_holders


@dataclass(frozen=True, slots=True)
class PatientDetails:
    """A patient's details as staff enter them (units in the text: ``"80 kg"``, ``"176 lb"``)."""

    full_name: str
    weight: str
    height: str | None = None
    date_of_birth: date | None = None
    age_years: int | None = None
    sex: str | None = None
    pregnant: bool = False
    breastfeeding: bool = False
    history: tuple[str, ...] = ()
    medications: tuple[str, ...] = ()
    alcohol: str | None = None
    sensitivity: str | None = None
    experience: str | None = None
    severity: str | None = None
    preference: str | None = None
    blood_pressure: str | None = None
    heart_rate: str | None = None
    confirm_weight: bool = False
    allergies: tuple[str, ...] = ()
    """As typed, one an entry ("penicillin: rash"); shown to clinical staff, not dosed on."""
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


PATIENT_FIELDS = frozenset(f.name for f in fields(PatientDetails))
_COLUMNS = frozenset({"full_name", "date_of_birth"})
"""Kept on the version row's own columns (and the patient row's, for the list), not in its
``inputs`` JSON."""
NOT_DOSED_ON = REGISTRATION_FIELDS | {"allergies"}
"""Details the clinical profile is not built from: changing only these keeps the profile."""
PROFILE_FIELDS = PATIENT_FIELDS - NOT_DOSED_ON
"""What :func:`~ketaplan.clinical.profile.build_profile` reads."""
LIST_FIELDS = frozenset({"history", "medications", "allergies"})


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """A patient as of one version."""

    patient_id: int
    version: int
    details: PatientDetails
    profile: PatientProfile
    recorded_at: datetime
    recorded_by: int


def profile_to_dict(profile: PatientProfile) -> dict[str, Any]:
    """The validated profile as JSON (canonical units; tuples become lists)."""
    return asdict(profile)


def profile_from_dict(data: dict[str, Any]) -> PatientProfile:
    """The profile stored by :func:`profile_to_dict`, rebuilt as the domain's value."""
    vitals = data.get("pre_infusion_vitals")
    return PatientProfile(
        **{
            **data,
            "history": tuple(data["history"]),
            "medications": tuple(data["medications"]),
            "pre_infusion_vitals": VitalSigns(**vitals) if vitals else None,
        }
    )


def name_key(full_name: str) -> str:
    """What the patient list sorts by and a search matches: the name case-folded, so a search
    finds it in any case (``"ÉLISE"`` finds "Élise"), kept on the patient row (see
    :class:`~ketaplan.store.models.Patient`)."""
    return full_name.strip().casefold()


def _identity(details: PatientDetails) -> dict[str, Any]:
    """The current name and date of birth as the patient row keeps them for the list."""
    name = details.full_name.strip()
    return {"full_name": name, "name_key": name_key(name), "date_of_birth": details.date_of_birth}


def _inputs(details: PatientDetails) -> dict[str, Any]:
    """What a version's ``inputs`` JSON keeps: every detail as typed but the name and birth."""
    return {f.name: getattr(details, f.name) for f in fields(details) if f.name not in _COLUMNS}


def _profile_inputs(details: PatientDetails) -> dict[str, Any]:
    return {name: getattr(details, name) for name in PROFILE_FIELDS}


def detail_problems(
    details: PatientDetails, catalog: Catalog, *, clinical: bool = True
) -> list[InputError]:
    """Every problem with the details, not only the first: the name, the address, contacts and
    escort, the allergies and (``clinical``) the intake the profile is built from. Reads and
    writes nothing; a form adds its own (a date it could not read) and refuses them together
    with :func:`~ketaplan.services.patient_checks.refusal`."""
    problems = (
        name_problems(details.full_name)
        + contact_problems(_inputs(details))
        + allergy_problems(details.allergies)
    )
    if clinical:
        problems += profile_problems(catalog, **_profile_inputs(details))
    return problems


def _trimmed(details: PatientDetails) -> PatientDetails:
    """The details with allergies and the address, contacts and escort as stored: trimmed,
    empty ones dropped (so "  " is no address and an unchanged field compares equal)."""
    reach: dict[str, Any] = {name: cleaned(getattr(details, name)) for name in REACH_FIELDS}
    return replace(
        details, allergies=tuple(a.strip() for a in details.allergies if a.strip()), **reach
    )


def _validated_profile(details: PatientDetails, catalog: Catalog) -> PatientProfile:
    """The profile the details give, or every problem with them at once (name, contacts,
    allergies and the clinical intake), nothing written."""
    refuse_all(detail_problems(details, catalog))
    return build_profile(catalog, **_profile_inputs(details))


def check_patient_details(details: PatientDetails, *, catalog: Catalog) -> PatientProfile:
    """The profile the details would give, or the :class:`~ketaplan.errors.InputError` that
    :func:`create_patient` would refuse them with (same parser, same message, same field).

    For an intake form's live checks while staff type. It reads nothing from the database and
    writes nothing, so there is nothing to audit; the name and date of birth are not part of
    the profile and are neither needed nor checked here.
    """
    return build_profile(catalog, **_profile_inputs(details))


def _record(row: PatientVersion) -> PatientRecord:
    inputs = {k: v for k, v in row.inputs.items() if k in PATIENT_FIELDS}
    for name in LIST_FIELDS:
        inputs[name] = tuple(inputs.get(name, ()))
    details = PatientDetails(full_name=row.full_name, date_of_birth=row.date_of_birth, **inputs)
    return PatientRecord(
        row.patient_id,
        row.version,
        details,
        profile_from_dict(row.profile),
        row.recorded_at,
        row.recorded_by,
    )


def _write_version(
    uow: UnitOfWork,
    patient_id: int,
    version: int,
    details: PatientDetails,
    profile: PatientProfile,
    actor: Actor,
) -> PatientVersion:
    row = PatientVersion(
        patient_id=patient_id,
        version=version,
        full_name=details.full_name.strip(),
        date_of_birth=details.date_of_birth,
        inputs=_inputs(details),
        profile=profile_to_dict(profile),
        recorded_at=uow.clock(),
        recorded_by=actor.user_id,
    )
    uow.db.add(row)
    uow.db.flush()
    return row


# The lookups below run in nearly every request; their statements are built once, with bound
# parameters, because building them per call cost as much as running them.
_PATIENT_IN_CLINIC = select(Patient).where(
    Patient.id == bindparam("patient_id"), Patient.clinic_id == bindparam("clinic_id")
)


def find_patient(uow: UnitOfWork, patient_id: int, actor: Actor) -> Patient:
    """The patient row in the actor's clinic; another clinic's patient is "not found"."""
    patient = uow.db.scalar(
        _PATIENT_IN_CLINIC, {"patient_id": patient_id, "clinic_id": actor.clinic_id}
    )
    if patient is None:
        raise NotFoundError(f"there is no patient {patient_id}", fields={"patient_id": patient_id})
    return patient


PatientOwned = TypeVar("PatientOwned", InfusionPlan, TreatmentCourse, InfusionSession)


@cache
def _row_in_clinic(model: type[PatientOwned]) -> Select[PatientOwned]:
    return (
        select(model)
        .join(Patient, Patient.id == model.patient_id)
        .where(model.id == bindparam("row_id"), Patient.clinic_id == bindparam("clinic_id"))
    )


def find_in_clinic(
    uow: UnitOfWork, model: type[PatientOwned], row_id: int, actor: Actor, noun: str
) -> PatientOwned:
    """A row of a patient's record (plan, course, session) in the actor's clinic.

    Another clinic's row is "not found", exactly like another clinic's patient.
    """
    row: PatientOwned | None = uow.db.scalar(
        _row_in_clinic(model), {"row_id": row_id, "clinic_id": actor.clinic_id}
    )
    if row is None:
        raise NotFoundError(f"there is no {noun} {row_id}", fields={f"{noun}_id": row_id})
    return row


_CURRENT_VERSION = select(PatientVersion).where(
    PatientVersion.patient_id == bindparam("patient_id"),
    PatientVersion.version == bindparam("version"),
)


def current_version(uow: UnitOfWork, patient: Patient) -> PatientVersion:
    return uow.db.scalars(
        _CURRENT_VERSION, {"patient_id": patient.id, "version": patient.version}
    ).one()


_CURRENT_PROFILE = (
    select(PatientVersion.version, PatientVersion.profile)
    .join(
        Patient,
        (Patient.id == PatientVersion.patient_id) & (Patient.version == PatientVersion.version),
    )
    .where(Patient.id == bindparam("patient_id"), Patient.clinic_id == bindparam("clinic_id"))
)


def current_profile(uow: UnitOfWork, patient_id: int, actor: Actor) -> tuple[int, dict[str, Any]]:
    """The version number and validated profile of a patient in the actor's clinic, in one
    query (what planning needs; :func:`find_patient` and :func:`current_version` load both
    rows whole)."""
    found = uow.db.execute(
        _CURRENT_PROFILE, {"patient_id": patient_id, "clinic_id": actor.clinic_id}
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"there is no patient {patient_id}", fields={"patient_id": patient_id})
    version, profile = found
    return version, profile


def current_record(uow: UnitOfWork, patient: Patient) -> PatientRecord:
    """The patient as of their current version."""
    return _record(current_version(uow, patient))


def create_patient(
    uow: UnitOfWork, details: PatientDetails, *, actor: Actor, catalog: Catalog
) -> PatientRecord:
    """Register a patient in the actor's clinic with version 1 of their details."""
    details = _trimmed(details)
    profile = _validated_profile(details, catalog)
    with uow:
        patient = Patient(
            clinic_id=actor.clinic_id,
            version=1,
            created_at=uow.clock(),
            created_by=actor.user_id,
            **_identity(details),
        )
        uow.db.add(patient)
        uow.db.flush()
        index_patient_name(uow.db, actor.clinic_id, patient.id, patient.name_key)
        row = _write_version(uow, patient.id, 1, details, profile, actor)
        uow.audit(
            actor,
            AuditAction.PATIENT_CREATE,
            "patient",
            patient.id,
            patient_id=patient.id,
            details={"version": 1},
        )
        uow.commit()
        return _record(row)


def _stale(patient_id: int, expected: int, current: int) -> ConflictError:
    return ConflictError(
        f"patient {patient_id} was changed by someone else after you opened it (you edited "
        f"version {expected}; it is now at version {current}); reload the patient and make "
        "your change again",
        code="conflict.stale_version",
        fields={"patient_id": patient_id, "expected_version": expected, "version": current},
    )


@dataclass(frozen=True, slots=True)
class PatientSummary:
    """Who the patient is, not what they have: a line of a patient list, and the whole of a
    patient as the front desk sees them (see :mod:`ketaplan.services.visibility`)."""

    patient_id: int
    version: int
    full_name: str
    date_of_birth: date | None
    reach: Mapping[str, str | None] = field(default_factory=dict)
    """Address, contacts and escort (:data:`~ketaplan.services.patient_contacts.REACH_FIELDS`)
    when read one patient at a time; a list leaves them out."""


PatientView: TypeAlias = PatientRecord | PatientSummary
"""A patient as one role sees them: the record for clinical staff, the summary otherwise."""


def patient_view(record: PatientRecord, actor: Actor) -> PatientView:
    """``record`` as the actor's role may see it."""
    if sees_clinical_facts(actor):
        return record
    return PatientSummary(
        record.patient_id,
        record.version,
        record.details.full_name,
        record.details.date_of_birth,
        {name: getattr(record.details, name) for name in sorted(REACH_FIELDS)},
    )


Revision = Callable[[PatientRecord], tuple[PatientDetails, PatientProfile]]
"""From the current version, the details and profile of the next one."""


def _save_revision(
    uow: UnitOfWork, patient_id: int, expected_version: int, revise: Revision, actor: Actor
) -> PatientRecord:
    """Write the next version of the patient (in ``uow``, which the caller opened), if
    ``expected_version`` is still current, with its audit event, and commit."""
    patient = find_patient(uow, patient_id, actor)
    if patient.version != expected_version:
        raise _stale(patient_id, expected_version, patient.version)
    current = current_record(uow, patient)
    details, profile = revise(current)
    bumped = cast(
        "CursorResult[Any]",
        uow.db.execute(
            update(Patient)
            .where(Patient.id == patient_id, Patient.version == expected_version)
            .values(version=expected_version + 1, **_identity(details))
            .execution_options(synchronize_session=False)
        ),
    )
    if bumped.rowcount != 1:  # another update won in the meantime
        raise _stale(patient_id, expected_version, expected_version + 1)
    uow.wrote(Patient, patient_id)
    index_patient_name(uow.db, actor.clinic_id, patient_id, name_key(details.full_name))
    row = _write_version(uow, patient_id, expected_version + 1, details, profile, actor)
    changed = [
        f.name
        for f in fields(details)
        if getattr(details, f.name) != getattr(current.details, f.name)
    ]
    uow.audit(
        actor,
        AuditAction.PATIENT_UPDATE,
        "patient",
        patient_id,
        patient_id=patient_id,
        details={
            "from_version": expected_version,
            "to_version": expected_version + 1,
            "changed": changed,
        },
    )
    uow.commit()
    return _record(row)


def update_patient(
    uow: UnitOfWork,
    patient_id: int,
    details: PatientDetails,
    *,
    expected_version: int,
    actor: Actor,
    catalog: Catalog,
) -> PatientRecord:
    """Save a new version of the patient's details, if ``expected_version`` is still current.

    Every field is replaced, clinical ones too, so only clinical staff may: the front desk
    changes a patient's registration with :func:`amend_patient`."""
    require_may_change_patient_fields(actor, PATIENT_FIELDS)
    details = _trimmed(details)
    profile = _validated_profile(details, catalog)
    with uow:
        return _save_revision(
            uow, patient_id, expected_version, lambda _current: (details, profile), actor
        )


def amend_patient(
    uow: UnitOfWork,
    patient_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int,
    actor: Actor,
    catalog: Catalog,
) -> PatientView:
    """Change the named fields of the patient's details and keep the others (a new version,
    if ``expected_version`` is still current); the result as the actor's role sees it.

    A role that does not see clinical facts may name only the registration fields; a change
    of those alone keeps the stored profile as it is (it is not built from them), so a name
    is corrected even when the current catalog would word the clinical intake differently."""
    if not changes:
        raise InputError(
            "name at least one detail to change; nothing was saved",
            code="input.nothing_to_change",
        )
    unknown = sorted(set(changes) - PATIENT_FIELDS)
    if unknown:
        raise InputError(
            f"{', '.join(unknown)}: not a patient detail (accepted: "
            f"{', '.join(sorted(PATIENT_FIELDS))})",
            code="input.unknown_field",
            fields={"field": unknown[0], "accepted": sorted(PATIENT_FIELDS)},
        )
    require_may_change_patient_fields(actor, changes)
    changes = {
        name: tuple(value) if name in LIST_FIELDS else value for name, value in changes.items()
    }
    if {"weight", "height"} & set(changes):
        # A confirmation was of the weight and height it was given with, not of new ones.
        changes.setdefault("confirm_weight", False)

    def revise(current: PatientRecord) -> tuple[PatientDetails, PatientProfile]:
        details = _trimmed(replace(current.details, **changes))
        if set(changes) <= NOT_DOSED_ON:
            refuse_all(detail_problems(details, catalog, clinical=False))
            return details, current.profile
        return details, _validated_profile(details, catalog)

    with uow:
        record = _save_revision(uow, patient_id, expected_version, revise, actor)
    return patient_view(record, actor)


def _read_patient(uow: UnitOfWork, patient_id: int, actor: Actor) -> PatientRecord:
    with uow.reading():
        patient = find_patient(uow, patient_id, actor)
        record = current_record(uow, patient)
        details: dict[str, Any] = {"version": record.version}
        if not sees_clinical_facts(actor):
            details["view"] = "registration"
        uow.audit(
            actor,
            AuditAction.PATIENT_READ,
            "patient",
            patient_id,
            patient_id=patient_id,
            details=details,
        )
        uow.commit()
        return record


def get_patient(uow: UnitOfWork, patient_id: int, *, actor: Actor) -> PatientRecord:
    """The patient's current details, clinical ones included (clinical staff only); the read
    is audited like a change."""
    require_clinical_facts(actor, "a patient's record")
    return _read_patient(uow, patient_id, actor)


def read_patient(uow: UnitOfWork, patient_id: int, *, actor: Actor) -> PatientView:
    """The patient's current details as the actor's role sees them; audited."""
    return patient_view(_read_patient(uow, patient_id, actor), actor)


MAX_SEARCH_RESULTS = 50


_Selected = TypeVar("_Selected", bound="Select[*tuple[Any, ...]]")


def named(db: Session, clinic_id: int, key: str) -> Callable[[_Selected], _Selected]:
    """What narrows a statement to the clinic's patients whose name key contains ``key`` (all
    of them when it is empty), worked out once for a page and its count. When few of the
    clinic's patients hold the key's rarest three-character piece
    (:mod:`ketaplan.store.name_search`), only those holders are read, each by id, and matched
    against the whole key; otherwise the clinic's slice of the ``(clinic_id, name_key, id)``
    index. Either way no other clinic's patient is read."""
    trigram = rarest_trigram(db, clinic_id, key) if key else None
    escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    def narrowed(statement: _Selected) -> _Selected:
        if trigram is not None:
            # The clinic is checked again on the row, as an expression no index serves, so no
            # planner walks the clinic's names in order instead of reading the few holders.
            holders = trigram_holders(clinic_id, trigram)
            statement = statement.join(holders, holders.c.patient_id == Patient.id).where(
                Patient.clinic_id + 0 == clinic_id
            )
        else:
            statement = statement.where(Patient.clinic_id == clinic_id)
        if key:
            statement = statement.where(Patient.name_key.like(f"%{escaped}%", escape="\\"))
        return statement

    return narrowed


def search_patients(
    uow: UnitOfWork, query: str = "", *, actor: Actor, limit: int = MAX_SEARCH_RESULTS
) -> list[PatientSummary]:
    """Patients of the actor's clinic whose current name contains ``query`` (any case),
    by name; an empty query lists them all. Which patients were shown is audited.

    A search reads the patients holding the rarest three-character piece of the text in this
    clinic (:mod:`ketaplan.store.name_search`), when few enough do, and matches them against the
    whole text; otherwise, and for text shorter than three characters, it reads one clinic's
    slice of the ``(clinic_id, name_key, id)`` index in name order and stops at ``limit``
    matches, as the plain list does: a piece that many names hold fills the page within a few
    names. Either way it never reads another clinic's patients or a patient's versions.
    """
    text = query.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise InputError(
            f"a search is at most {MAX_NAME_LENGTH} characters",
            code="input.too_long",
            fields={"field": "q"},
        )
    if not 1 <= limit <= MAX_SEARCH_RESULTS:
        raise InputError(
            f"limit {limit} must be 1 to {MAX_SEARCH_RESULTS}",
            code="input.out_of_range",
            fields={"field": "limit"},
        )
    key = name_key(text)
    columns = (Patient.id, Patient.version, Patient.full_name, Patient.date_of_birth)
    order = (Patient.name_key, Patient.id)
    with uow.reading():
        statement = named(uow.db, actor.clinic_id, key)(select(*columns))
        statement = statement.order_by(*order).limit(limit)
        found = [PatientSummary(*row) for row in uow.db.execute(statement)]
        uow.audit(
            actor,
            AuditAction.PATIENT_SEARCH,
            "clinic",
            actor.clinic_id,
            details={"patient_ids": [p.patient_id for p in found], "query_length": len(text)},
        )
        uow.commit()
        return found
