"""Provenance: who recorded what, and when, for every record the export is made from.

One Provenance per stored record (a patient version, an order and its signature, a charted
event, a questionnaire response), targeting the resources made from it; the agent is the member
of staff (author; for a signed order the signer is the verifier) on behalf of the clinic, as US
Core requires of a Practitioner agent. The patient, when they answered through a link.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from ketaplan.export.fhir.codes import code_table
from ketaplan.export.fhir.common import fhir_id, instant, profiled, ref
from ketaplan.export.fhir.people import organization_id, patient_id, practitioner_id
from ketaplan.export.fhir.source import PatientRows


def _agent(rows: PatientRows, role: str, user_id: int | None) -> dict[str, Any]:
    table = code_table()
    if user_id is None:
        return {"type": table.concept(f"agent_{role}"), "who": ref("Patient", patient_id(rows))}
    return {
        "type": table.concept(f"agent_{role}"),
        "who": ref("Practitioner", practitioner_id(user_id)),
        "onBehalfOf": ref("Organization", organization_id(rows.clinic)),
    }


def _provenance(
    rows: PatientRows,
    provenance_id: str,
    targets: list[dict[str, Any]],
    recorded: datetime,
    agents: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        **profiled("Provenance", provenance_id, "us-core-provenance"),
        "target": [ref(t["resourceType"], t["id"]) for t in targets],
        "recorded": instant(recorded, rows.zone),
        "agent": agents,
    }


def provenances(rows: PatientRows, made: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Provenance for the resources in ``made`` (the export so far), by the record each came
    from; a record none of whose resources were made gets none."""
    by_id = {(r["resourceType"], r["id"]): r for r in made}

    def present(*keys: tuple[str, str]) -> list[dict[str, Any]]:
        return [by_id[k] for k in keys if k in by_id]

    found = []
    pid = patient_id(rows)
    for version in rows.versions:
        targets = present(
            *((("Patient", pid),) if version.version == 1 else ()),
            ("Observation", fhir_id("body-weight", rows.patient.id, "v", version.version)),
            ("Observation", fhir_id("body-height", rows.patient.id, "v", version.version)),
        )
        if targets:
            found.append(
                _provenance(
                    rows,
                    fhir_id("prov-patient", rows.patient.id, "v", version.version),
                    targets,
                    version.recorded_at,
                    [_agent(rows, "author", version.recorded_by)],
                )
            )
    signers: dict[int, tuple[int, datetime]] = {}
    for step in rows.order_events:
        if step.status == "signed":
            signers[step.plan_id] = (step.by, step.at)
    for plan in rows.plans:
        targets = present(("MedicationRequest", fhir_id("order", plan.id)))
        if not targets:
            continue
        agents = [_agent(rows, "author", plan.created_by)]
        recorded = plan.created_at
        if plan.id in signers:
            agents.append(_agent(rows, "verifier", signers[plan.id][0]))
            recorded = signers[plan.id][1]
        found.append(_provenance(rows, fhir_id("prov-order", plan.id), targets, recorded, agents))
    from_event: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for resource in made:
        parts = resource["id"].split("-")
        if resource["resourceType"] == "Observation" and parts[0] == "vitals":
            from_event[(int(parts[1]), int(parts[2]))].append(resource)
    for event in rows.events:
        targets = from_event.get((event.session_id, event.seq), [])
        if targets:
            found.append(
                _provenance(
                    rows,
                    fhir_id("prov-event", event.session_id, event.seq),
                    targets,
                    event.recorded_at,
                    [_agent(rows, "author", event.recorded_by)],
                )
            )
    for response in rows.responses:
        targets = present(
            ("QuestionnaireResponse", fhir_id("response", response.id)),
            ("Observation", fhir_id("score", response.id)),
        )
        found.append(
            _provenance(
                rows,
                fhir_id("prov-response", response.id),
                targets,
                response.recorded_at,
                [_agent(rows, "author", response.recorded_by)],
            )
        )
    return found
