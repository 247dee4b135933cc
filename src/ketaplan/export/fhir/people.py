"""Who: the patient, the staff who acted (Practitioner), the clinic (Organization), and what
the patient is treated for (Condition), with the body measurements each version recorded."""

from __future__ import annotations

from typing import Any

from ketaplan.export.fhir.codes import code_table
from ketaplan.export.fhir.common import (
    KETAPLAN_URN,
    absent,
    fhir_id,
    instant,
    profiled,
    ref,
    rounded,
)
from ketaplan.export.fhir.source import PatientRows
from ketaplan.store.models import Clinic, User

CONDITION_CODES = {
    "depression": "condition_depression",
    "ptsd": "condition_ptsd",
    "anxiety": "condition_anxiety",
    "ocd": "condition_ocd",
}
"""Protocols with a SNOMED CT code in the reviewed table; the others go out as text only
(US Core's binding is extensible: text is allowed where no code is known)."""

_GENDER = {"female": "female", "male": "male", "other": "other"}


def organization_id(clinic: Clinic) -> str:
    return fhir_id("clinic", clinic.id)


def practitioner_id(user_id: int) -> str:
    return fhir_id("user", user_id)


def patient_id(rows: PatientRows) -> str:
    return str(rows.patient.id)


def organization(clinic: Clinic) -> dict[str, Any]:
    return {
        **profiled("Organization", organization_id(clinic), "us-core-organization"),
        "identifier": [{"system": f"{KETAPLAN_URN}:clinic", "value": str(clinic.id)}],
        "active": True,
        "name": clinic.name,
    }


def practitioner(user: User) -> dict[str, Any]:
    """A member of staff. ketaplan keeps an e-mail address and a role, not a person's name:
    the name's text is the address, and the family name US Core requires is marked absent
    rather than guessed."""
    return {
        **profiled("Practitioner", practitioner_id(user.id), "us-core-practitioner"),
        "identifier": [
            {"system": f"{KETAPLAN_URN}:clinic:{user.clinic_id}:user", "value": str(user.id)}
        ],
        "active": user.active,
        "name": [{"text": user.email, "_family": absent("unknown")}],
        "telecom": [{"system": "email", "value": user.email, "use": "work"}],
    }


def _split_name(full_name: str) -> dict[str, Any]:
    """The one name ketaplan keeps, as US Core wants it: the whole as ``text``; the last word
    as the family name and the others as given names (a bracketed remark, such as
    "(demo)", is neither)."""
    words = [w for w in full_name.split() if not (w.startswith("(") and w.endswith(")"))]
    name: dict[str, Any] = {"use": "usual", "text": full_name}
    if words:
        name["family"] = words[-1]
    if len(words) > 1:
        name["given"] = words[:-1]
    if not words:
        name["_family"] = absent("unknown")
    return name


def patient(rows: PatientRows) -> dict[str, Any]:
    row = rows.patient
    current = rows.versions[-1]
    sex = current.profile.get("sex")
    resource: dict[str, Any] = {
        **profiled("Patient", patient_id(rows), "us-core-patient"),
        "identifier": [
            {
                "use": "usual",
                "system": f"{KETAPLAN_URN}:clinic:{row.clinic_id}:patient",
                "value": str(row.id),
            }
        ],
        "active": True,
        "name": [_split_name(current.full_name)],
        "gender": _GENDER.get(str(sex), "unknown"),
        "managingOrganization": ref("Organization", organization_id(rows.clinic)),
    }
    if current.date_of_birth is not None:
        resource["birthDate"] = current.date_of_birth.isoformat()
    return resource


def conditions(rows: PatientRows) -> list[dict[str, Any]]:
    """One active problem-list Condition per protocol the patient was screened, planned or
    treated for, recorded when the first screening, plan or course for it was made, by whoever
    made it."""
    table = code_table()
    first: dict[str, tuple[Any, int]] = {}
    made_for = [(s.condition, s.created_at, s.created_by) for s in rows.screenings]
    made_for += [(p.condition, p.created_at, p.created_by) for p in rows.plans]
    made_for += [(c.protocol_key, c.created_at, c.created_by) for c in rows.courses]
    for key, at, by in made_for:
        seen = first.get(key)
        if seen is None or at < seen[0]:
            first[key] = (at, by)
    found = []
    for key in sorted(first):
        at, by = first[key]
        title = rows.condition_titles.get(key, key.replace("_", " "))
        code_key = CONDITION_CODES.get(key)
        code = table.concept(code_key, text=title) if code_key is not None else {"text": title}
        found.append(
            {
                **profiled(
                    "Condition",
                    fhir_id("condition", rows.patient.id, key),
                    "us-core-condition-problems-health-concerns",
                ),
                "clinicalStatus": table.concept("clinical_active"),
                "category": [table.concept("category_problem_list")],
                "code": code,
                "subject": ref("Patient", patient_id(rows)),
                "recordedDate": instant(at, rows.zone),
                "recorder": ref("Practitioner", practitioner_id(by)),
            }
        )
    return found


def condition_ids(rows: PatientRows) -> dict[str, str]:
    """The Condition id of each protocol key, as :func:`conditions` names them."""
    keys = {s.condition for s in rows.screenings} | {p.condition for p in rows.plans}
    keys |= {c.protocol_key for c in rows.courses}
    return {key: fhir_id("condition", rows.patient.id, key) for key in keys}


def body_measurements(rows: PatientRows) -> list[dict[str, Any]]:
    """A body-weight Observation for each version that recorded a new weight, and a
    body-height one for each new height, at the time the version was saved."""
    table = code_table()
    found = []
    last: dict[str, float | None] = {"weight_kg": None, "height_cm": None}
    for version in rows.versions:
        for field, code_key, unit, profile in (
            ("weight_kg", "body_weight", "kg", "us-core-body-weight"),
            ("height_cm", "body_height", "cm", "us-core-body-height"),
        ):
            value = version.profile.get(field)
            if value is None or value == last[field]:
                continue
            last[field] = value
            found.append(
                {
                    **profiled(
                        "Observation",
                        fhir_id(code_key.replace("_", "-"), rows.patient.id, "v", version.version),
                        profile,
                    ),
                    "status": "final",
                    "category": [table.concept("category_vital_signs")],
                    "code": table.concept(code_key),
                    "subject": ref("Patient", patient_id(rows)),
                    "effectiveDateTime": instant(version.recorded_at, rows.zone),
                    "performer": [ref("Practitioner", practitioner_id(version.recorded_by))],
                    "valueQuantity": table.quantity(rounded(value, 2), unit),
                }
            )
    return found
