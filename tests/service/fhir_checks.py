"""Offline validation of exported FHIR: the official R4 JSON Schema, the ``fhir.resources``
models, the US Core invariants and must-support elements that matter (FHIRPath), references that
resolve, and every code from the reviewed table.

:func:`validate` returns the problems found (empty: valid) and counts what it checked, so a
test can say how many resources were validated.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import fhirpathpy
import jsonschema_rs
from fhirpathpy.models import models as fhirpath_models
from pydantic import ValidationError

from ketaplan.export.fhir import model_check
from ketaplan.export.fhir.codes import UNVERIFIED_EXTENSION, code_table
from ketaplan.export.fhir.common import US_CORE

SCHEMA_FILE = Path(__file__).parents[1] / "fhir_schema" / "fhir.schema.json.gz"


@cache
def _schema() -> dict[str, Any]:
    with gzip.open(SCHEMA_FILE, "rt", encoding="utf-8") as file:
        schema: dict[str, Any] = json.load(file)
    assert schema["id"] == "http://hl7.org/fhir/json-schema/4.0"
    return schema


@cache
def _validator(resource_type: str) -> Any:
    """The schema narrowed to one resource type (the whole schema's ``oneOf`` over every type
    gives unreadable errors)."""
    schema = _schema()
    return jsonschema_rs.Draft6Validator(
        {
            "$schema": schema["$schema"],
            "definitions": schema["definitions"],
            "$ref": f"#/definitions/{resource_type}",
        }
    )


def schema_problems(resource: dict[str, Any]) -> list[str]:
    kind = resource.get("resourceType")
    if kind not in _schema()["definitions"]:
        return [f"{kind!r} is not an R4 resource type"]
    return [
        f"schema: {'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in _validator(kind).iter_errors(resource)
    ]


def model_problems(resource: dict[str, Any]) -> list[str]:
    try:
        model_check(resource)
    except ValidationError as error:
        return [f"model: {e['loc']}: {e['msg']}" for e in error.errors()]
    return []


R4 = fhirpath_models["r4"]
"""FHIRPath over R4 types: choice elements (``effective``, ``value``) resolve."""

DAR = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

INVARIANTS: dict[str, list[tuple[str, str]]] = {
    # (key, FHIRPath that must be true), by resource type; US Core 8.0.1 and FHIR R4 base.
    "Patient": [
        (
            "us-core-patient: identifier with system and value",
            "identifier.all(system.exists() and value.exists())",
        ),
        ("us-core-patient: name 1..*", "name.exists()"),
        (
            "us-core-6",
            f"name.all((family.exists() or given.exists()) xor extension.where(url='{DAR}').exists())",
        ),
        ("us-core-patient: gender 1..1", "gender.exists()"),
    ],
    "Practitioner": [
        ("us-core-practitioner: identifier 1..*", "identifier.exists()"),
        (
            "us-core-practitioner: name.family 1..1 (or absent reason)",
            f"name.exists() and name.all(family.exists() or family.extension.where(url='{DAR}').exists())",
        ),
    ],
    "Organization": [
        ("us-core-organization: name and active", "name.exists() and active.exists()"),
    ],
    "Condition": [
        (
            "us-core condition: category, code, subject",
            "category.exists() and code.exists() and subject.exists()",
        ),
        (
            "con-3 (clinical status for a problem-list item)",
            "clinicalStatus.exists() or verificationStatus.coding.where(code='entered-in-error').exists() or category.select($this='problem-list-item').empty()",
        ),
        (
            "con-4",
            "abatement.empty() or clinicalStatus.coding.where(code='resolved' or code='remission' or code='inactive').exists()",
        ),
    ],
    "Encounter": [
        (
            "us-core-encounter: status, class, type, subject",
            "status.exists() and class.exists() and type.exists() and subject.exists()",
        ),
        (
            "us-core-encounter: period and participant",
            "period.start.exists() and participant.individual.exists()",
        ),
    ],
    "MedicationRequest": [
        (
            "us-core-medicationrequest: status, intent, medication, subject, requester",
            "status.exists() and intent.exists() and medication.exists() and subject.exists() and requester.exists()",
        ),
        (
            "us-core-medicationrequest: authoredOn and dosageInstruction",
            "authoredOn.exists() and dosageInstruction.exists()",
        ),
    ],
    "MedicationAdministration": [
        ("mad-1 (dose or rate present)", "dosage.all(dose.exists() or rate.exists())"),
        (
            "one constant-rate stretch: rate and dose",
            "dosage.rate.exists() and dosage.dose.exists() and effective.exists()",
        ),
    ],
    "Observation": [
        ("obs-6", "dataAbsentReason.empty() or value.empty()"),
        (
            "obs-7",
            "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
        ),
        (
            "us-core observation: category, code, subject, effective",
            "category.exists() and code.coding.exists() and subject.exists() and effective.exists()",
        ),
        (
            "vs-2",
            "category.where(coding.code='vital-signs').empty() or ((component.empty() and hasMember.empty()) implies (dataAbsentReason.exists() or value.exists()))",
        ),
        ("vs-3", "component.all(value.exists() or dataAbsentReason.exists())"),
        (
            "vital signs use UCUM",
            "category.where(coding.code='vital-signs').empty() or (valueQuantity | component.valueQuantity).all(system='http://unitsofmeasure.org' and code.exists())",
        ),
    ],
    "Questionnaire": [
        ("que-1 (a question has a type)", "item.all(type.exists())"),
        (
            "que-0 (name is computer friendly)",
            "name.empty() or name.matches('^[A-Z]([A-Za-z0-9_]){0,254}$')",
        ),
    ],
    "QuestionnaireResponse": [
        (
            "us-core-questionnaireresponse: questionnaire, status, subject, authored",
            "questionnaire.exists() and status.exists() and subject.exists() and authored.exists()",
        ),
        ("qrs-1", "item.all((answer.exists() and item.exists()).not())"),
    ],
    "Provenance": [
        (
            "us-core provenance: target, recorded, agent",
            "target.exists() and recorded.exists() and agent.exists()",
        ),
        (
            "provenance-1 (a Practitioner agent acts on behalf of an organization)",
            "agent.all(who.reference.startsWith('Practitioner/') implies onBehalfOf.exists())",
        ),
        ("us-core provenance: an author", "agent.type.coding.where(code='author').exists()"),
    ],
}

VITAL_CODES = {
    "us-core-blood-pressure": "85354-9",
    "us-core-heart-rate": "8867-4",
    "us-core-respiratory-rate": "9279-1",
    "us-core-pulse-oximetry": "59408-5",
    "us-core-body-weight": "29463-7",
    "us-core-body-height": "8302-2",
}


@cache
def _compiled(expression: str) -> Any:
    """An expression parsed once (ANTLR parsing costs far more than evaluating)."""
    return fhirpathpy.compile(expression, R4)


def invariant_problems(resource: dict[str, Any]) -> list[str]:
    problems = []
    for key, expression in INVARIANTS.get(resource["resourceType"], []):
        result = _compiled(expression)(resource, {"resource": resource})
        if result != [True]:
            problems.append(f"invariant {key}: {expression} gave {result}")
    for profile in resource.get("meta", {}).get("profile", []):
        code = VITAL_CODES.get(profile.removeprefix(US_CORE))
        if code is not None:
            codes = fhirpathpy.evaluate(
                resource, "code.coding.where(system='http://loinc.org').code"
            )
            if code not in codes:
                problems.append(f"{profile}: code {code} missing (has {codes})")
    return problems


def _codings(value: Any) -> Iterable[dict[str, Any]]:
    if isinstance(value, dict):
        if "system" in value and "code" in value:  # a Coding, or a Quantity's unit
            yield value
        for child in value.values():
            yield from _codings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _codings(child)


def code_problems(resource: dict[str, Any]) -> list[str]:
    """Every coding is a row of the reviewed table; an unverified one carries its mark."""
    table = code_table()
    problems = []
    for coding in _codings(resource):
        system, code = coding["system"], coding["code"]
        if system == table.systems["ucum"]:
            if code not in {u.code for u in table.units.values()}:
                problems.append(f"unit {code!r} is not in the reviewed table")
            continue
        if not table.is_reviewed(system, code):
            problems.append(f"code {system}|{code} is not in the reviewed table")
            continue
        row = next(c for c in table.codes.values() if c.system == system and c.code == code)
        marked = any(e.get("url") == UNVERIFIED_EXTENSION for e in coding.get("extension", []))
        if marked == row.verified:
            problems.append(f"code {system}|{code}: verified={row.verified} but marked={marked}")
    return problems


def reference_problems(resources: list[dict[str, Any]]) -> list[str]:
    """Every literal reference names a resource in the set; every QuestionnaireResponse's
    questionnaire is one of the set's Questionnaires."""
    present = {f"{r['resourceType']}/{r['id']}" for r in resources}
    canonicals = {
        f"{r['url']}|{r['version']}" for r in resources if r["resourceType"] == "Questionnaire"
    }
    problems = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str) and reference not in present:
                problems.append(f"{where}: reference {reference} does not resolve")
            for child in value.values():
                walk(child, where)
        elif isinstance(value, list):
            for child in value:
                walk(child, where)

    for resource in resources:
        where = f"{resource['resourceType']}/{resource['id']}"
        walk(resource, where)
        if (
            resource["resourceType"] == "QuestionnaireResponse"
            and resource["questionnaire"] not in canonicals
        ):
            problems.append(
                f"{where}: questionnaire {resource['questionnaire']} is not in the export"
            )
    keys = [f"{r['resourceType']}/{r['id']}" for r in resources]
    problems += [f"{key} appears {n} times" for key, n in Counter(keys).items() if n > 1]
    return problems


def validate(resources: list[dict[str, Any]], counted: Counter[str] | None = None) -> list[str]:
    """Every problem with ``resources`` (one export), each naming its resource."""
    problems = reference_problems(resources)
    for resource in resources:
        where = f"{resource.get('resourceType')}/{resource.get('id')}"
        for check in (schema_problems, model_problems, invariant_problems, code_problems):
            problems += [f"{where}: {p}" for p in check(resource)]
        if counted is not None:
            counted[resource["resourceType"]] += 1
    return problems


def bundle_problems(bundle: dict[str, Any]) -> list[str]:
    """The Bundle itself against the schema and model, and bdl-7 (unique fullUrls)."""
    problems = schema_problems(bundle) + model_problems(bundle)
    urls = [e["fullUrl"] for e in bundle["entry"]]
    if len(urls) != len(set(urls)):
        problems.append("bdl-7: fullUrls are not unique")
    return problems
