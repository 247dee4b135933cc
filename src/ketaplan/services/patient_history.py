"""A patient's record over time: every version, what changed between two (field, before,
after, who, when), and signed orders dosed on a weight the record no longer holds.

Versions are never edited (:mod:`ketaplan.services.patients` appends one per save), so the
history is derived by comparing each version with the one before it, as typed: a weight
changed from "80 kg" to "176 lb" shows both as they were entered.

The front desk sees the history of the registration only (name, birth, address, contacts,
escort): a version that changed nothing else it may see is left out of its view, so it cannot
tell that a clinical fact moved (:mod:`ketaplan.services.visibility`).

A weight change must matter without touching what a prescriber signed: an active order keeps
the weight its dose was computed from (the plan's ``patient.weight_kg`` and its
``patient_version``), and :func:`weight_mismatch` names the order, that weight and the
record's current one, for the record page and the order page to say so. Signed orders are
never recomputed; a new plan from the current record is the prescriber's decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Final

from sqlalchemy import select

from ketaplan.clinical.profile import round_weight_kg
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.patient_contacts import address_line
from ketaplan.services.patients import PatientDetails, PatientRecord, find_patient
from ketaplan.services.staff_names import StaffMember, staff_members
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import REGISTRATION_FIELDS, sees_clinical_facts
from ketaplan.store.models import PatientVersion

FIELD_LABELS: Final[dict[str, str]] = {
    "full_name": "Name",
    "date_of_birth": "Date of birth",
    "address_line1": "Street address",
    "address_line2": "Street address, line 2",
    "city": "City or town",
    "region": "State or region",
    "postal_code": "Postal code",
    "country": "Country",
    "phone": "Phone",
    "email": "E-mail",
    "escort_name": "Escort's name",
    "escort_phone": "Escort's phone",
    "weight": "Weight",
    "height": "Height",
    "confirm_weight": "Unusual weight confirmed",
    "age_years": "Age (years)",
    "sex": "Sex",
    "pregnant": "Pregnant",
    "breastfeeding": "Breastfeeding",
    "medications": "Medications",
    "history": "Medical history",
    "allergies": "Allergies",
    "alcohol": "Alcohol",
    "sensitivity": "Sensitivity to medicines",
    "experience": "Experience",
    "severity": "Symptom severity",
    "preference": "Dose preference",
    "blood_pressure": "Blood pressure",
    "heart_rate": "Heart rate (/min)",
}
"""Every detail's name as a clinician reads it, in the order the history lists changes."""

MAX_VERSIONS_SHOWN = 200
"""The newest versions read for a history page; a record edited more often than this shows
its newest ones and says how many came before."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One saved version and what it changed from the one before (version 1: registered)."""

    version: int
    recorded_at: datetime
    recorded_by: str
    """The author's e-mail (their sign-in name), as the API gives it."""
    changes: tuple[FieldChange, ...]
    author: str = ""
    """The author as pages name them (:mod:`ketaplan.services.staff_names`)."""


@dataclass(frozen=True, slots=True)
class PatientHistory:
    patient_id: int
    current_version: int
    versions: tuple[VersionEntry, ...]
    """Newest first."""
    earlier_versions_not_shown: int = 0


def shown_value(value: object) -> str:
    """A detail as the history shows it: lists joined, yes/no, dates as ISO, "—" for none.

    >>> shown_value(("lamotrigine 25 mg", "sertraline 50 mg"))
    'lamotrigine 25 mg, sertraline 50 mg'
    >>> shown_value(None), shown_value(True)
    ('—', 'yes')
    """
    if value is None or value == () or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _details_of(row: PatientVersion) -> dict[str, Any]:
    inputs = dict(row.inputs)
    return {
        name: tuple(inputs.get(name) or ())
        if name in ("history", "medications", "allergies")
        else inputs.get(name)
        for name in FIELD_LABELS
    } | {"full_name": row.full_name, "date_of_birth": row.date_of_birth}


def changes_between(
    before: Mapping[str, Any], after: Mapping[str, Any], *, visible: frozenset[str]
) -> tuple[FieldChange, ...]:
    """What differs from ``before`` to ``after`` among the ``visible`` fields, in the order of
    :data:`FIELD_LABELS`."""
    return tuple(
        FieldChange(name, label, shown_value(before.get(name)), shown_value(after.get(name)))
        for name, label in FIELD_LABELS.items()
        if name in visible and before.get(name) != after.get(name)
    )


ALL_FIELDS: Final = frozenset(f.name for f in fields(PatientDetails))


def patient_history(uow: UnitOfWork, patient_id: int, *, actor: Actor) -> PatientHistory:
    """Every version of the patient (newest first) with what it changed, as the actor's role
    may see it; the read is audited."""
    visible = ALL_FIELDS if sees_clinical_facts(actor) else REGISTRATION_FIELDS
    with uow.reading():
        patient = find_patient(uow, patient_id, actor)
        rows = list(
            uow.db.scalars(
                select(PatientVersion)
                .where(PatientVersion.patient_id == patient_id)
                .order_by(PatientVersion.version.desc())
                .limit(MAX_VERSIONS_SHOWN + 1)
            )
        )
        rows.reverse()
        authors = staff_members(uow.db, (r.recorded_by for r in rows))
        nobody = StaffMember("", "")
        entries: list[VersionEntry] = []
        earlier = max(0, patient.version - len(rows))
        previous: dict[str, Any] | None = None
        for row in rows:
            details = _details_of(row)
            if previous is not None or row.version == 1:
                changes = (
                    changes_between(previous, details, visible=visible)
                    if previous is not None
                    else ()
                )
                if row.version == 1 or changes:
                    entries.append(
                        VersionEntry(
                            row.version,
                            row.recorded_at,
                            authors.get(row.recorded_by, nobody).email,
                            changes,
                            authors.get(row.recorded_by, nobody).name,
                        )
                    )
            previous = details
        uow.audit(
            actor,
            AuditAction.PATIENT_HISTORY_READ,
            "patient",
            patient_id,
            patient_id=patient_id,
            details={
                "versions": [e.version for e in entries],
                **({} if sees_clinical_facts(actor) else {"view": "registration"}),
            },
        )
        uow.commit()
    return PatientHistory(patient_id, patient.version, tuple(reversed(entries)), earlier)


@dataclass(frozen=True, slots=True)
class WeightMismatch:
    """A signed order whose dose was computed from a weight the record no longer holds."""

    plan_id: int
    condition: str
    planned_weight_kg: float
    planned_version: int
    current_weight_kg: float
    current_version: int

    @property
    def message(self) -> str:
        return (
            f"Order #{self.plan_id} ({self.condition.replace('_', ' ')}) was signed with a dose "
            f"computed from {self.planned_weight_kg:g} kg (record version "
            f"{self.planned_version}); the record now says {self.current_weight_kg:g} kg "
            f"(version {self.current_version}). The order is not recomputed: review it, and "
            "make and sign a new plan if the dose should follow the new weight."
        )


def weight_mismatch(
    plan_id: int,
    condition: str,
    plan: Mapping[str, Any],
    planned_version: int,
    order_status: str,
    current: PatientRecord,
) -> WeightMismatch | None:
    """The mismatch of an active order with the patient's current record, or None (an order
    not signed, or dosed on the weight the record holds, to the 0.1 kg a scale reads)."""
    if order_status != "active":
        return None
    planned = (plan.get("patient") or {}).get("weight_kg")
    if not isinstance(planned, int | float):
        return None
    planned_kg = round_weight_kg(float(planned))
    current_kg = round_weight_kg(current.profile.weight_kg)
    if planned_kg == current_kg:
        return None
    return WeightMismatch(
        plan_id, condition, planned_kg, planned_version, current_kg, current.version
    )


def addresses_at(
    uow: UnitOfWork, wanted: Iterable[tuple[int, datetime]]
) -> dict[tuple[int, datetime], str | None]:
    """Each patient's address as the record held it at each moment (the version current
    then, or the first one for a moment before the patient was registered), on one line, or
    None when that version holds no address.

    For the ledger's administration records (21 CFR 1304.22(c): the patient's name and
    address): a patient who moves later keeps, on an old administration, the address they had
    then. Runs inside the caller's read, which audits it."""
    moments = sorted(set(wanted))
    if not moments:
        return {}
    versions: dict[int, list[tuple[datetime, dict[str, Any]]]] = {}
    for patient_id, recorded_at, inputs in uow.db.execute(
        select(PatientVersion.patient_id, PatientVersion.recorded_at, PatientVersion.inputs)
        .where(PatientVersion.patient_id.in_({pid for pid, _ in moments}))
        .order_by(PatientVersion.patient_id, PatientVersion.version)
    ):
        versions.setdefault(patient_id, []).append((recorded_at, inputs))
    found: dict[tuple[int, datetime], str | None] = {}
    for patient_id, at in moments:
        held = versions.get(patient_id, [])
        current = [inputs for recorded_at, inputs in held if recorded_at <= at]
        inputs = current[-1] if current else (held[0][1] if held else {})
        found[(patient_id, at)] = address_line(inputs)
    return found
