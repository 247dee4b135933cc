"""The offline FHIR checks catch what they are there to catch: each broken resource below is
refused, and by the check meant for it (so a clean export is evidence, not a check that cannot
fail)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.service.fhir_checks import (
    code_problems,
    invariant_problems,
    model_problems,
    reference_problems,
    schema_problems,
    validate,
)

from ketaplan.export.fhir.codes import code_table

ORGANIZATION = {"resourceType": "Organization", "id": "clinic-1", "active": True, "name": "C"}
PRACTITIONER = {
    "resourceType": "Practitioner",
    "id": "user-2",
    "identifier": [{"system": "urn:ketaplan:fhir:clinic:1:user", "value": "2"}],
    "name": [{"text": "n@c.example", "family": "N"}],
}
PATIENT = {
    "resourceType": "Patient",
    "id": "1",
    "identifier": [{"system": "urn:ketaplan:fhir:clinic:1:patient", "value": "1"}],
    "name": [{"family": "Ortega", "given": ["Maya"]}],
    "gender": "female",
    "managingOrganization": {"reference": "Organization/clinic-1"},
}
HEART_RATE = {
    "resourceType": "Observation",
    "id": "vitals-1-2-hr",
    "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-heart-rate"]},
    "status": "final",
    "category": [code_table().concept("category_vital_signs")],
    "code": code_table().concept("heart_rate"),
    "subject": {"reference": "Patient/1"},
    "effectiveDateTime": "2026-02-18T09:15:00-08:00",
    "valueQuantity": code_table().quantity(80, "per_minute"),
}
PROVENANCE = {
    "resourceType": "Provenance",
    "id": "prov-1",
    "target": [{"reference": "Observation/vitals-1-2-hr"}],
    "recorded": "2026-02-18T09:15:00-08:00",
    "agent": [
        {
            "type": code_table().concept("agent_author"),
            "who": {"reference": "Practitioner/user-2"},
            "onBehalfOf": {"reference": "Organization/clinic-1"},
        }
    ],
}
VALID = [ORGANIZATION, PRACTITIONER, PATIENT, HEART_RATE, PROVENANCE]


def test_the_valid_set_passes_every_check() -> None:
    assert validate(copy.deepcopy(VALID)) == []


def _broken(resource: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(resource)
    target = broken
    for step in path[:-1]:
        target = target[step]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


@pytest.mark.parametrize(
    ("resource", "path", "value", "check", "says"),
    [
        (PATIENT, ["gender"], "woman", schema_problems, "gender"),
        (PATIENT, ["nickname"], "M", schema_problems, "nickname"),
        (PATIENT, ["birthDate"], "14/03/1984", schema_problems, "birthDate"),
        (PATIENT, ["nickname"], "M", model_problems, "nickname"),
        (HEART_RATE, ["status"], None, model_problems, "status"),
        (PATIENT, ["name"], [{"text": "Maya"}], invariant_problems, "us-core-6"),
        (PATIENT, ["gender"], None, invariant_problems, "gender 1..1"),
        (HEART_RATE, ["valueQuantity"], None, invariant_problems, "vs-2"),
        (
            HEART_RATE,
            ["code"],
            code_table().concept("respiratory_rate"),
            invariant_problems,
            "8867-4",
        ),
        (HEART_RATE, ["valueQuantity", "system"], "urn:mine", invariant_problems, "UCUM"),
        (PROVENANCE, ["agent", 0, "onBehalfOf"], None, invariant_problems, "provenance-1"),
        (
            HEART_RATE,
            ["code", "coding", 0, "code"],
            "8867-5",
            code_problems,
            "not in the reviewed table",
        ),
        (HEART_RATE, ["valueQuantity", "code"], "beats/min", code_problems, "unit"),
    ],
)
def test_each_check_refuses_what_it_guards(
    resource: dict[str, Any], path: list[Any], value: Any, check: Any, says: str
) -> None:
    assert check(copy.deepcopy(resource)) == []
    problems = check(_broken(resource, path, value))
    assert problems
    assert any(says in p for p in problems), problems


def test_an_unverified_code_must_carry_its_mark_and_a_verified_one_must_not() -> None:
    unverified = code_table().code("ketamine_rxnorm")
    assert not unverified.verified
    marked = {"resourceType": "Basic", "code": {"coding": [unverified.coding()]}}
    assert code_problems(marked) == []
    bare = {"system": unverified.system, "code": unverified.code}
    assert code_problems({"resourceType": "Basic", "code": {"coding": [bare]}})
    verified = code_table().coding("heart_rate")
    verified["extension"] = unverified.coding()["extension"]
    assert code_problems({"resourceType": "Basic", "code": {"coding": [verified]}})


def test_references_must_resolve_and_ids_be_unique() -> None:
    resources = copy.deepcopy(VALID)
    resources[3]["subject"] = {"reference": "Patient/99"}
    assert any("Patient/99" in p for p in reference_problems(resources))
    assert any("appears 2 times" in p for p in reference_problems([*VALID, PATIENT]))
