"""Bulk Data ``$export`` jobs: kicked off, run in the background, polled, downloaded, deleted.

A job is a directory under the state directory (``$KETAPLAN_STATE_DIR/fhir-export/<job>``,
owner-only) holding ``job.json`` (who asked, for which clinic, its status and manifest) and one
``<Type>.ndjson`` per resource type: no table, so no migration, and every worker process of the
server sees the same jobs. The job id is 128 random bits; even so, only an admin of the job's
clinic may poll, download or delete it (another clinic's job is "not found").

The export itself is :func:`ketaplan.services.exports.export_clinic_fhir`, audited patient by
patient when it runs; each file download is audited too, naming the patients in the job. Jobs
older than :data:`JOB_LIFETIME` are removed when the next one is kicked off.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import InputError, NotFoundError
from ketaplan.export.fhir import by_type, ndjson
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.exports import export_clinic_fhir
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.audit_position import state_dir

_log = logging.getLogger(__name__)
JOB_LIFETIME = timedelta(hours=24)
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
_FILE = re.compile(r"^[A-Za-z]{1,64}\.ndjson$")
Status = Literal["in-progress", "complete", "failed"]


def jobs_directory() -> Path:
    return state_dir() / "fhir-export"


@dataclass(slots=True)
class ExportJob:
    """What ``job.json`` holds."""

    job_id: str
    clinic_id: int
    user_id: int
    request_url: str
    requested_at: str
    types: list[str] | None
    status: Status = "in-progress"
    transaction_time: str | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    patient_ids: list[int] = field(default_factory=list)
    error: str | None = None


def _job_dir(job_id: str, root: Path) -> Path:
    if not _JOB_ID.match(job_id):
        raise NotFoundError(f"there is no export job {job_id!r}", code="not_found.export_job")
    return root / job_id


def _save(job: ExportJob, root: Path) -> None:
    folder = root / job.job_id
    temporary = folder / "job.json.tmp"
    temporary.write_text(json.dumps(asdict(job), indent=1), encoding="utf-8")
    temporary.chmod(0o600)
    os.replace(temporary, folder / "job.json")


def _load(job_id: str, root: Path) -> ExportJob:
    path = _job_dir(job_id, root) / "job.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"there is no export job {job_id!r} (finished jobs are kept {JOB_LIFETIME})",
            code="not_found.export_job",
        ) from None
    return ExportJob(**data)


def find_job(job_id: str, *, actor: Actor, root: Path | None = None) -> ExportJob:
    """The actor's clinic's job; another clinic's is "not found" (admins only)."""
    require_role(actor, ("admin",), "a bulk export of the clinic's records")
    job = _load(job_id, root or jobs_directory())
    if job.clinic_id != actor.clinic_id:
        raise NotFoundError(f"there is no export job {job_id!r}", code="not_found.export_job")
    return job


def _remove_expired(root: Path, now: datetime) -> None:
    for folder in root.iterdir() if root.exists() else ():
        try:
            job = _load(folder.name, root)
            expired = now - datetime.fromisoformat(job.requested_at) > JOB_LIFETIME
        except (NotFoundError, ValueError, TypeError):
            expired = False
        if expired:
            shutil.rmtree(folder, ignore_errors=True)


def check_types(types: Sequence[str] | None, known: Sequence[str]) -> list[str] | None:
    """The ``_type`` filter, each a resource type the export makes, or an InputError."""
    if types is None:
        return None
    unknown = sorted(set(types) - set(known))
    if unknown or not types:
        raise InputError(
            f"_type {', '.join(unknown) or '(empty)'}: not a resource type this export makes "
            f"(accepted: {', '.join(known)})",
            code="input.out_of_range",
            fields={"field": "_type", "accepted": list(known)},
        )
    return sorted(set(types))


def start_job(
    *,
    actor: Actor,
    request_url: str,
    types: list[str] | None,
    now: datetime,
    root: Path | None = None,
) -> ExportJob:
    """Record a new job (in progress); the caller runs :func:`run_job` after answering."""
    require_role(actor, ("admin",), "a bulk export of the clinic's records")
    root = root or jobs_directory()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    _remove_expired(root, now)
    job = ExportJob(
        job_id=secrets.token_urlsafe(16),
        clinic_id=actor.clinic_id,
        user_id=actor.user_id,
        request_url=request_url,
        requested_at=now.isoformat(),
        types=types,
    )
    (root / job.job_id).mkdir(mode=0o700)
    _save(job, root)
    return job


def run_job(
    job: ExportJob,
    uow: UnitOfWork,
    *,
    actor: Actor,
    policy: ClinicPolicy,
    file_url: Callable[[str], str],
    root: Path | None = None,
) -> ExportJob:
    """Export the clinic and write the files; a failure is recorded in the job and logged,
    not raised (nobody is waiting on this call: the client polls)."""
    root = root or jobs_directory()
    try:
        found = export_clinic_fhir(uow, actor=actor, policy=policy)
        grouped = by_type(found.resources)
        for kind, resources in grouped.items():
            if job.types is not None and kind not in job.types:
                continue
            name = f"{kind}.ndjson"
            path = root / job.job_id / name
            path.write_text(ndjson(resources), encoding="utf-8")
            path.chmod(0o600)
            job.output.append({"type": kind, "url": file_url(name), "count": len(resources)})
        job.patient_ids = list(found.patient_ids)
        job.transaction_time = uow.clock().isoformat()
        job.status = "complete"
    except Exception as error:  # recorded for the poller, and logged with its traceback
        _log.exception("bulk export job %s failed", job.job_id)
        job.status = "failed"
        job.error = f"the export failed ({type(error).__name__}); the server log has the details"
    _save(job, root)
    return job


def manifest(job: ExportJob) -> dict[str, Any]:
    """The Bulk Data completion manifest."""
    return {
        "transactionTime": job.transaction_time,
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [{"type": o["type"], "url": o["url"], "count": o["count"]} for o in job.output],
        "error": [],
    }


def read_file(
    job_id: str, name: str, uow: UnitOfWork, *, actor: Actor, root: Path | None = None
) -> Path:
    """The path of one output file of a complete job; the download is audited."""
    root = root or jobs_directory()
    job = find_job(job_id, actor=actor, root=root)
    if job.status != "complete" or not _FILE.match(name):
        raise NotFoundError(f"export job {job_id!r} has no file {name!r}", code="not_found.file")
    if name not in {f"{o['type']}.ndjson" for o in job.output}:
        raise NotFoundError(f"export job {job_id!r} has no file {name!r}", code="not_found.file")
    with uow.reading():
        uow.audit(
            actor,
            AuditAction.FHIR_EXPORT_DOWNLOAD,
            "clinic",
            actor.clinic_id,
            details={"job": job_id, "file": name, "patient_ids": job.patient_ids},
        )
        uow.commit()
    return root / job_id / name


def delete_job(job_id: str, uow: UnitOfWork, *, actor: Actor, root: Path | None = None) -> None:
    """Remove a job and its files (audited)."""
    root = root or jobs_directory()
    find_job(job_id, actor=actor, root=root)
    shutil.rmtree(root / job_id, ignore_errors=True)
    with uow.reading():
        uow.audit(
            actor,
            AuditAction.FHIR_EXPORT_DELETE,
            "clinic",
            actor.clinic_id,
            details={"job": job_id},
        )
        uow.commit()
