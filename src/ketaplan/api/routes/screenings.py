"""Screenings: contraindications and interactions for a patient's current details, saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ketaplan.http.context import services
from ketaplan.http.params import Condition, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import ScreeningRecord

router = APIRouter(tags=["screenings"])


class ScreeningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Condition


class ScreeningOut(BaseModel):
    """The status (the worst severity found) and the findings, worst first, by severity too."""

    screening_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    status: str
    findings: list[dict[str, Any]]
    by_severity: dict[str, list[dict[str, Any]]]
    medications: list[dict[str, Any]]
    created_at: datetime
    created_by: int


def _out(record: ScreeningRecord) -> ScreeningOut:
    by_severity: dict[str, list[dict[str, Any]]] = {"block": [], "caution": [], "info": []}
    for finding in record.findings:
        by_severity.setdefault(str(finding["severity"]), []).append(finding)
    return ScreeningOut(
        screening_id=record.screening_id,
        patient_id=record.patient_id,
        patient_version=record.patient_version,
        condition=record.condition,
        catalog_version=record.catalog_version,
        status=record.status,
        findings=list(record.findings),
        by_severity=by_severity,
        medications=list(record.medications),
        created_at=record.created_at,
        created_by=record.created_by,
    )


@router.post("/patients/{patient_id}/screenings", name="screen_patient", status_code=201)
def create(
    patient_id: RecordId, body: ScreeningIn, actor: SignedIn, request: Request
) -> ScreeningOut:
    """Screen the patient's current details for a protocol and save the findings."""
    context = services(request)
    record = context.screenings.screen(patient_id, condition=body.condition, actor=actor)
    return _out(record)


@router.get("/patients/{patient_id}/screenings", name="list_screenings")
def listing(patient_id: RecordId, actor: SignedIn, request: Request) -> list[ScreeningOut]:
    """The patient's screenings, newest first."""
    found = services(request).screenings.listing(patient_id, actor=actor)
    return [_out(record) for record in found]
