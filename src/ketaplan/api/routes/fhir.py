"""FHIR R4 (US Core 8) and the exit export over HTTP.

- ``GET /fhir/Patient/{id}/$everything``: the patient's record as a searchset Bundle (clinical
  staff; audited as a read of the patient).
- Bulk Data ``$export`` for the clinic (admins): ``GET /fhir/$export`` with ``Prefer:
  respond-async`` answers 202 with ``Content-Location``, the status URL; polling it answers 202
  (``X-Progress``, ``Retry-After``) until the manifest (200) lists one ndjson file per resource
  type; ``DELETE`` on it removes the job. Files are downloaded with the same bearer token
  (``requiresAccessToken``), each download audited.
- ``GET /exports/csv``: the exit export as one zip of CSV files with their README (admins).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.responses import FileResponse

from ketaplan.errors import InputError
from ketaplan.export.fhir import everything_bundle
from ketaplan.http.context import ServiceContext, services
from ketaplan.http.params import RecordId
from ketaplan.http.security import SignedIn
from ketaplan.services import Actor
from ketaplan.services.bulk_export import (
    JOB_LIFETIME,
    ExportJob,
    check_types,
    delete_job,
    find_job,
    manifest,
    read_file,
    run_job,
    start_job,
)
from ketaplan.services.exit_export import export_clinic_csv
from ketaplan.services.exports import export_patient_fhir

router = APIRouter(tags=["fhir"])

FHIR_JSON = "application/fhir+json"
NDJSON = "application/fhir+ndjson"
OUTPUT_FORMATS = ("application/fhir+ndjson", "application/ndjson", "ndjson")
EXPORT_TYPES = (
    "Condition",
    "Encounter",
    "MedicationAdministration",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
)
RETRY_AFTER_SECONDS = 5


def fhir_base(request: Request) -> str:
    """This server's FHIR base URL (``.../api/v1/fhir``), as the request reached it."""
    return str(request.url_for("fhir_patient_everything", patient_id=1)).removesuffix(
        "/Patient/1/$everything"
    )


def _fhir_json(body: dict[str, Any], status_code: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status_code,
        media_type=FHIR_JSON,
    )


_OBJECT = {"schema": {"type": "object"}}


@router.get(
    "/fhir/Patient/{patient_id}/$everything",
    name="fhir_patient_everything",
    response_class=Response,
    responses={200: {"description": "A searchset Bundle", "content": {FHIR_JSON: _OBJECT}}},
)
def everything(patient_id: RecordId, actor: SignedIn, request: Request) -> Response:
    """The patient's whole record as FHIR R4 resources (US Core 8 profiles) in a Bundle."""
    context = services(request)
    found = export_patient_fhir(
        context.unit_of_work(), patient_id, actor=actor, policy=context.policy
    )
    bundle = everything_bundle(
        list(found.resources), base_url=fhir_base(request), timestamp=context.clock()
    )
    return _fhir_json(bundle)


def _run(job: ExportJob, context: ServiceContext, actor: Actor, base: str) -> None:
    run_job(
        job,
        context.unit_of_work(),
        actor=actor,
        policy=context.policy,
        file_url=lambda name: f"{base}/$export-file/{job.job_id}/{name}",
    )


@router.get(
    "/fhir/$export",
    name="fhir_bulk_export",
    status_code=202,
    response_class=Response,
    responses={202: {"description": "Accepted; poll the Content-Location URL"}},
)
def kick_off(
    actor: SignedIn,
    request: Request,
    background: BackgroundTasks,
    prefer: Annotated[str | None, Header(max_length=200)] = None,
    output_format: Annotated[str | None, Query(alias="_outputFormat", max_length=100)] = None,
    types: Annotated[str | None, Query(alias="_type", max_length=1000)] = None,
    since: Annotated[str | None, Query(alias="_since", max_length=100)] = None,
) -> Response:
    """Start a Bulk Data export of the clinic (ndjson, one file per resource type)."""
    if prefer is None or "respond-async" not in prefer.lower():
        raise InputError(
            "a bulk export runs asynchronously: send the header 'Prefer: respond-async'",
            code="input.missing",
            fields={"field": "Prefer"},
        )
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise InputError(
            f"_outputFormat {output_format!r}: accepted {', '.join(OUTPUT_FORMATS)}",
            code="input.out_of_range",
            fields={"field": "_outputFormat", "accepted": list(OUTPUT_FORMATS)},
        )
    if since is not None:
        raise InputError(
            "_since is not supported: the export is always the whole record",
            code="input.unsupported",
            fields={"field": "_since"},
        )
    wanted = check_types(
        [t.strip() for t in types.split(",")] if types is not None else None, EXPORT_TYPES
    )
    context = services(request)
    job = start_job(
        actor=actor, request_url=str(request.url), types=wanted, now=context.clock().astimezone(UTC)
    )
    base = fhir_base(request)
    background.add_task(_run, job, context, actor, base)
    return Response(
        status_code=202, headers={"Content-Location": f"{base}/$export-status/{job.job_id}"}
    )


@router.get(
    "/fhir/$export-status/{job_id}",
    name="fhir_bulk_export_status",
    response_class=Response,
    responses={
        200: {"description": "The completion manifest", "content": {"application/json": _OBJECT}},
        202: {"description": "Still running"},
        500: {"description": "The export failed", "content": {FHIR_JSON: _OBJECT}},
    },
)
def status(job_id: str, actor: SignedIn) -> Response:
    """Where a bulk export is: 202 while it runs, the manifest when done."""
    job = find_job(job_id, actor=actor)
    if job.status == "in-progress":
        return Response(
            status_code=202,
            headers={"X-Progress": "in progress", "Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if job.status == "failed":
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "exception", "diagnostics": job.error}],
        }
        return _fhir_json(outcome, status_code=500)
    expires = datetime.fromisoformat(job.requested_at) + JOB_LIFETIME
    return Response(
        json.dumps(manifest(job), separators=(",", ":")),
        media_type="application/json",
        headers={"Expires": format_datetime(expires.astimezone(UTC), usegmt=True)},
    )


@router.delete(
    "/fhir/$export-status/{job_id}",
    name="fhir_bulk_export_delete",
    status_code=202,
    response_class=Response,
    responses={202: {"description": "The job and its files are removed"}},
)
def delete(job_id: str, actor: SignedIn, request: Request) -> Response:
    """Cancel a bulk export or remove its files."""
    delete_job(job_id, services(request).unit_of_work(), actor=actor)
    return Response(status_code=202)


@router.get(
    "/fhir/$export-file/{job_id}/{file_name}",
    name="fhir_bulk_export_file",
    response_class=FileResponse,
    responses={200: {"description": "ndjson, one resource per line", "content": {NDJSON: {}}}},
)
def download(job_id: str, file_name: str, actor: SignedIn, request: Request) -> FileResponse:
    """One output file of a completed bulk export (audited)."""
    path = read_file(job_id, file_name, services(request).unit_of_work(), actor=actor)
    return FileResponse(path, media_type=NDJSON)


@router.get(
    "/exports/csv",
    name="csv_exit_export",
    response_class=Response,
    responses={
        200: {"description": "A zip of CSV files and README.md", "content": {"application/zip": {}}}
    },
)
def exit_export(actor: SignedIn, request: Request) -> Response:
    """The exit export: one CSV per record type and a README of the columns, zipped."""
    files = export_clinic_csv(services(request).unit_of_work(), actor=actor)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(f"ketaplan-export/{name}", text.encode("utf-8"))
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="ketaplan-export.zip"'},
    )
