"""What the FHIR export is built from: one patient's stored rows, read by the service.

The exporter is a pure function of these values (no database access, no clock), so that the
same rows always give the same resources, a golden export can be compared byte for byte, and
the service decides alone what is read and audits it
(:mod:`ketaplan.services.exports`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from ketaplan.clinical.chart_rules import Segment
from ketaplan.store.models import (
    Clinic,
    InfusionPlan,
    InfusionSession,
    Item9Review,
    OrderEvent,
    Patient,
    PatientVersion,
    QuestionnaireResponse,
    Screening,
    SessionEvent,
    TreatmentCourse,
    User,
)


@dataclass(frozen=True, slots=True)
class SessionDelivery:
    """What a session's chart adds up to, as the domain's fold reads it: when the pump first
    started, its constant-rate stretches (minutes from that start, delivery capped where the
    order's bag ran empty), the events a correction voided, and the chart's state."""

    started_at: datetime | None
    segments: tuple[Segment, ...]
    voided: frozenset[int]
    state: str


@dataclass(frozen=True, slots=True)
class PatientRows:
    """Everything stored about one patient that the export covers, in id order."""

    clinic: Clinic
    patient: Patient
    versions: tuple[PatientVersion, ...]
    plans: tuple[InfusionPlan, ...]
    order_events: tuple[OrderEvent, ...]
    courses: tuple[TreatmentCourse, ...]
    sessions: tuple[InfusionSession, ...]
    events: tuple[SessionEvent, ...]
    deliveries: dict[int, SessionDelivery]
    """By session id."""
    responses: tuple[QuestionnaireResponse, ...]
    screenings: tuple[Screening, ...] = ()
    users: dict[int, User] = field(default_factory=dict)
    """Every member of staff the rows name, by id."""
    condition_titles: dict[str, str] = field(default_factory=dict)
    """The catalog's title of each protocol the rows name (``"depression"`` -> its title)."""
    item9_reviews: dict[int, Item9Review] = field(default_factory=dict)
    """A clinician's review of a PHQ-9 answered with item 9 above 0, by the response's id."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.time_zone)
