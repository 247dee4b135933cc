"""FHIR R4 export with US Core 8.0.1 profiles (issue 17).

The builders here are pure: :class:`~ketaplan.export.fhir.source.PatientRows` (the stored rows
the service read and audited) in, FHIR JSON out. Codes come only from the reviewed table
``codes.toml`` (:mod:`.codes`).
"""

from ketaplan.export.fhir.export import (
    by_type,
    everything_bundle,
    model_check,
    ndjson,
    patient_resources,
    referenced_users,
    shared_resources,
)
from ketaplan.export.fhir.source import PatientRows, SessionDelivery

__all__ = [
    "PatientRows",
    "SessionDelivery",
    "by_type",
    "everything_bundle",
    "model_check",
    "ndjson",
    "patient_resources",
    "referenced_users",
    "shared_resources",
]
