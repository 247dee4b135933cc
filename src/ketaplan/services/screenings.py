"""Screenings: the domain's findings for a patient's current details and a protocol, saved.

A screening is what :func:`~ketaplan.clinical.screening.screen` found (contraindications,
interactions, patient facts, pre-infusion vitals) for the patient's current version, kept as it
was shown: the status, every finding with its code, severity, message and source, and how each
medication was resolved. Rows are written once (the table is append-only); screening again after
the details change adds a new row, so the history of what staff were told is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.screening import (
    VERDICT_HEADLINES,
    eligibility_to_dict,
    screen,
    verdict_for,
)
from ketaplan.services.actors import Actor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.clinic_policy import clinic_policy
from ketaplan.services.listing import Listed, Window, audited_patient_listing
from ketaplan.services.patients import current_version, find_patient, profile_from_dict
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import Screening

MAX_LISTED = 100
"""A patient's screenings listed at most: the newest first, enough for any clinical review."""


@dataclass(frozen=True, slots=True)
class ScreeningRecord:
    """A saved screening: status (the worst severity found) and every finding."""

    screening_id: int
    patient_id: int
    patient_version: int
    condition: str
    catalog_version: str
    status: str
    findings: tuple[dict[str, Any], ...]
    medications: tuple[dict[str, Any], ...]
    created_at: datetime
    created_by: int

    @property
    def headline(self) -> str:
        """The verdict in the domain's words (as the CLI and the plan say it)."""
        blocks = (f["code"] for f in self.findings if f["severity"] == "block")
        return VERDICT_HEADLINES[verdict_for(self.status, blocks)]


def _record(row: Screening) -> ScreeningRecord:
    return ScreeningRecord(
        row.id,
        row.patient_id,
        row.patient_version,
        row.condition,
        row.catalog_version,
        row.status,
        tuple(row.result["findings"]),
        tuple(row.result["medications"]),
        row.created_at,
        row.created_by,
    )


def screen_patient(
    uow: UnitOfWork,
    patient_id: int,
    *,
    condition: str,
    actor: Actor,
    policy: ClinicPolicy,
    resolver: MedicationResolver,
) -> ScreeningRecord:
    """Screen the patient's current details for the condition's protocol; save the findings.

    An unknown condition is an :class:`~ketaplan.errors.InputError` before anything is read.
    """
    require_clinical_facts(actor, "a screening")
    catalog = policy.catalog
    protocol = catalog.protocol(condition)
    with uow:
        patient = find_patient(uow, patient_id, actor)
        version = current_version(uow, patient)
        policy = clinic_policy(uow, actor, policy)
        eligibility = screen(
            profile_from_dict(version.profile), protocol, catalog, resolver, policy.monitoring
        )
        row = Screening(
            patient_id=patient_id,
            patient_version=version.version,
            condition=protocol.key,
            catalog_version=catalog.version,
            status=eligibility.status,
            result=eligibility_to_dict(eligibility),
            created_at=uow.clock(),
            created_by=actor.user_id,
        )
        uow.db.add(row)
        uow.db.flush()
        uow.audit(
            actor,
            AuditAction.SCREENING_CREATE,
            "screening",
            row.id,
            patient_id=patient_id,
            details={
                "condition": protocol.key,
                "patient_version": version.version,
                "status": eligibility.status,
                "codes": [f.code for f in eligibility.findings],
            },
        )
        uow.commit()
        return _record(row)


FIRST_PAGE = Window(MAX_LISTED)
"""The page a caller that names none gets (the newest)."""


def list_screenings(
    uow: UnitOfWork, patient_id: int, *, actor: Actor, window: Window = FIRST_PAGE
) -> Listed[ScreeningRecord]:
    """A page of the patient's screenings, newest first, and how many there are; audited."""
    require_clinical_facts(actor, "a patient's screenings")
    theirs = Screening.patient_id == patient_id
    return audited_patient_listing(
        uow,
        patient_id,
        actor=actor,
        action=AuditAction.SCREENING_LIST,
        ids_key="screening_ids",
        load=lambda window: (
            _record(row)
            for row in uow.db.scalars(
                select(Screening)
                .where(theirs)
                .order_by(Screening.id.desc())
                .limit(window.limit)
                .offset(window.offset)
            )
        ),
        count=lambda: uow.db.scalar(select(func.count()).select_from(Screening).where(theirs)) or 0,
        id_of=lambda screening: screening.screening_id,
        window=window,
    )
