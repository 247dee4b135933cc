"""Screenings: contraindications and interactions for a patient's current details, saved."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ketaplan.api.paging import DEFAULT_LIMIT, Cursor, Limit, Page, page_of, window
from ketaplan.api.plan_models import Finding, MedicationFound
from ketaplan.http.context import services
from ketaplan.http.params import Condition, RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import ScreeningRecord

router = APIRouter(tags=["screenings"])


class ScreeningIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    condition: Condition


class FindingsBySeverity(BaseModel):
    """The same findings, grouped by severity."""

    block: list[Finding]
    caution: list[Finding]
    info: list[Finding]


class ScreeningOut(BaseModel):
    """The status (the worst severity found) and the findings, worst first, by severity too."""

    screening_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    status: str
    findings: list[Finding]
    by_severity: FindingsBySeverity
    medications: list[MedicationFound]
    created_at: datetime
    created_by: int


def _out(record: ScreeningRecord) -> ScreeningOut:
    findings = [Finding.model_validate(finding) for finding in record.findings]
    by_severity = FindingsBySeverity(
        block=[f for f in findings if f.severity == "block"],
        caution=[f for f in findings if f.severity == "caution"],
        info=[f for f in findings if f.severity == "info"],
    )
    return ScreeningOut(
        screening_id=record.screening_id,
        patient_id=record.patient_id,
        patient_version=record.patient_version,
        condition=record.condition,
        catalog_version=record.catalog_version,
        status=record.status,
        findings=findings,
        by_severity=by_severity,
        medications=[MedicationFound.model_validate(m) for m in record.medications],
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


class ScreeningPage(Page[ScreeningOut]):
    """A page of a patient's screenings, newest first."""


@router.get("/patients/{patient_id}/screenings", name="list_screenings")
def listing(
    patient_id: RecordId,
    actor: SignedIn,
    request: Request,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> ScreeningPage:
    """The patient's screenings, newest first, a page at a time."""
    found = services(request).screenings.listing(
        patient_id, actor=actor, window=window(limit, cursor)
    )
    return page_of(found, _out, ScreeningPage)
