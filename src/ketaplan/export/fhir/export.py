"""A patient's resources, a Bundle of them, and the ndjson files of a bulk export.

Every resource is built as FHIR R4 JSON (dicts) and then read by the ``fhir.resources`` R4B
models, which refuse an unknown element, a wrong type or a missing required element: an export
ketaplan cannot model is an error here, not a file a receiver rejects. (R4B, FHIR 4.3, is the
nearest release the maintained models carry; the tests also validate every resource against the
official R4 JSON Schema, which catches anything R4B allows and R4 does not.)
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ketaplan.export.fhir.clinical import (
    encounters,
    medication_administrations,
    medication_requests,
    vital_signs,
)
from ketaplan.export.fhir.people import (
    body_measurements,
    conditions,
    organization,
    patient,
    practitioner,
)
from ketaplan.export.fhir.provenance import provenances
from ketaplan.export.fhir.source import PatientRows
from ketaplan.export.fhir.surveys import questionnaire, surveys
from ketaplan.store.models import Clinic, User

_MODULES = {
    "MedicationAdministration": "medicationadministration",
    "MedicationRequest": "medicationrequest",
    "QuestionnaireResponse": "questionnaireresponse",
}


def model_check(resource: dict[str, Any]) -> None:
    """Read ``resource`` with its ``fhir.resources`` R4B model; a problem raises
    ``pydantic.ValidationError`` naming the element."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{_MODULES.get(kind, kind.lower())}")
    getattr(module, kind).model_validate(resource)


def patient_resources(rows: PatientRows) -> list[dict[str, Any]]:
    """The patient's own resources, in a stable order (Patient first), with Provenance for
    each record; the clinic and staff they name come from :func:`shared_resources`."""
    made = [
        patient(rows),
        *conditions(rows),
        *body_measurements(rows),
        *medication_requests(rows),
        *encounters(rows),
        *medication_administrations(rows),
        *vital_signs(rows),
        *surveys(rows),
    ]
    return [*made, *provenances(rows, made)]


def shared_resources(
    clinic: Clinic, users: Iterable[User], scales: Iterable[str]
) -> list[dict[str, Any]]:
    """What the patients' resources name and share: the clinic, the staff (in id order) and
    the Questionnaires of the scales answered (in key order)."""
    return [
        organization(clinic),
        *(practitioner(u) for u in sorted(users, key=lambda u: u.id)),
        *(questionnaire(scale) for scale in sorted(set(scales))),
    ]


def referenced_users(resources: Iterable[dict[str, Any]]) -> set[int]:
    """The user ids of every Practitioner the resources refer to."""
    found: set[int] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str) and reference.startswith("Practitioner/user-"):
                found.add(int(reference.removeprefix("Practitioner/user-")))
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    for resource in resources:
        walk(resource)
    return found


def everything_bundle(
    resources: list[dict[str, Any]], *, base_url: str, timestamp: datetime
) -> dict[str, Any]:
    """A searchset Bundle, as ``Patient/$everything`` answers: the Patient is the match, the
    rest are included; each entry's fullUrl is ``base_url/Type/id``."""
    base = base_url.rstrip("/")
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": timestamp.replace(microsecond=0).isoformat(),
        "total": sum(r["resourceType"] == "Patient" for r in resources),
        "link": [{"relation": "self", "url": f"{base}/Patient/{resources[0]['id']}/$everything"}],
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match" if r["resourceType"] == "Patient" else "include"},
            }
            for r in resources
        ],
    }


def ndjson(resources: Iterable[dict[str, Any]]) -> str:
    """Resources as newline-delimited JSON (Bulk Data): one compact resource per line."""
    return "".join(
        json.dumps(r, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"
        for r in resources
    )


def by_type(resources: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Resources grouped by type, types in name order (one ndjson file each)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        grouped.setdefault(resource["resourceType"], []).append(resource)
    return dict(sorted(grouped.items()))
