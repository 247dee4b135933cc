"""The tables, as SQLAlchemy 2 typed models.

History is kept by appending rows, not by updating them (DESIGN: "records are never updated in
place where history matters"): a patient's profile changes add a ``patient_version`` row; a
session's chart is one ``session_event`` row per event with a per-session sequence number;
questionnaire answers, titration recommendations and decisions, an order's lifecycle
(``order_event``) and audit events are rows written once. The database refuses UPDATE and
DELETE on the append-only tables (triggers in the migrations), so a bug cannot rewrite history
quietly either.

The only rows updated in place are ``patient.version`` and ``treatment_course`` (its schedule,
last day, ``cancelled_at`` and ``version``: optimistic concurrency, an update names the version
it read and loses if another got there first) with its ``course_booking`` rows (the schedule's
sessions as rows, replaced with it; each change is a ``booking_event``), a patient link's
progress, an outbox message's delivery (status, attempts, last error), a revoked sign-in, the
sign-in throttle's counters, and the audit chain head (the row every audit append locks, so the
chain never forks).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ketaplan.store.types import UTCDateTime

ROLES = ("admin", "prescriber", "nurse", "front_desk")
APPEND_ONLY_TABLES = (
    "patient_version",
    "session_event",
    "questionnaire_response",
    "titration_recommendation",
    "titration_decision",
    "screening",
    "order_event",
    "audit_event",
    "ledger_container",
    "ledger_entry",
    "item9_review",
    "booking_event",
)
"""Tables whose rows are written once: the migration adds triggers refusing UPDATE and DELETE."""

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
        float: Float(precision=53),
    }


class Clinic(Base):
    """A clinic; its editable settings (calendar, vial stock, bag sizes, price) as JSON.

    ``settings_version`` counts edits: an edit names the version it was made from, like a
    patient update, and each edit's changes are in the audit trail.
    """

    __tablename__ = "clinic"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]]
    settings_version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime]


class User(Base):
    """A member of staff. ``password_hash`` is filled by the accounts milestone."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'prescriber', 'nurse', 'front_desk')", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    full_name: Mapped[str | None] = mapped_column(String(200))
    """As the admin typed it when adding them; none for accounts added before names were kept."""
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Patient(Base):
    """A patient's identity; what they are (name, weight, medications...) is in versions."""

    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint("version >= 1", name="version_positive"),
        Index("ix_patient_clinic_name_key", "clinic_id", "name_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), index=True)
    version: Mapped[int]
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    # Who the current version names, kept on this row with ``version`` so the patient list
    # and search read one clinic's slice of an index in name order and stop at the page size,
    # instead of joining every current version of the clinic. Always set; nullable in the
    # schema only (see migration 0009).
    full_name: Mapped[str] = mapped_column(String(200), nullable=True)
    name_key: Mapped[str] = mapped_column(Text, nullable=True)
    """``full_name`` case-folded (:func:`str.casefold`, which may lengthen it): the list's
    order, and what a search matches in any case."""
    date_of_birth: Mapped[date | None]


class PatientNameTrigram(Base):
    """One three-character piece of a patient's current name key, for a search that reads only
    the patients whose name holds the rarest piece of what was typed, in one clinic
    (:mod:`ketaplan.store.name_search`). Derived from ``patient.name_key`` and rewritten with
    it in the same transaction; not a record of its own (the audit chain covers the patient
    row it comes from)."""

    __tablename__ = "patient_name_trigram"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), primary_key=True)
    trigram: Mapped[str] = mapped_column(String(3), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), primary_key=True, index=True)


class PatientNameTrigramCount(Base):
    """How many of a clinic's patients hold a three-character piece in their current name key:
    ``patient_name_trigram``'s entries counted, kept in step with them in the same transaction,
    so a search learns which piece of what was typed is rarest from one row a piece instead of
    counting entries (:mod:`ketaplan.store.name_search`). Derived, like the pieces themselves;
    a piece nobody holds any more keeps its row at 0."""

    __tablename__ = "patient_name_trigram_count"

    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"), primary_key=True)
    trigram: Mapped[str] = mapped_column(String(3), primary_key=True)
    holders: Mapped[int]


class PatientVersion(Base):
    """One version of a patient's details: what was typed, and the validated profile."""

    __tablename__ = "patient_version"
    __table_args__ = (UniqueConstraint("patient_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    version: Mapped[int]
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None]
    inputs: Mapped[dict[str, Any]]
    profile: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


class InfusionPlan(Base):
    """A saved plan: the full explained plan JSON, the catalog version, any override."""

    __tablename__ = "infusion_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    patient_version: Mapped[int]
    condition: Mapped[str] = mapped_column(String(64))
    catalog_version: Mapped[str] = mapped_column(String(64))
    eligibility_status: Mapped[str] = mapped_column(String(32))
    mg_per_kg: Mapped[float]
    total_mg: Mapped[float]
    inputs: Mapped[dict[str, Any]]
    plan: Mapped[dict[str, Any]]
    override: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


ORDER_STATUSES = ("proposed", "signed", "superseded", "cancelled")


class OrderEvent(Base):
    """One step of a plan's life as an order: proposed, signed, superseded or cancelled.

    A plan row is the order; its status is the last of its events (``signed`` makes it
    *active*; a plan with no event yet, saved before orders existed, is *proposed*). Each
    status happens at most once per plan (the unique ``(plan_id, status)``), which also settles
    two prescribers signing the same order at once. A signature records who signed (user,
    e-mail and the name they gave), when, and what the signature means; an override of a
    contraindication or hold is recorded with its reason.
    """

    __tablename__ = "order_event"
    __table_args__ = (
        UniqueConstraint("plan_id", "status"),
        CheckConstraint(
            "status IN ('proposed', 'signed', 'superseded', 'cancelled')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("infusion_plan.id"))
    status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
    by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    signer_email: Mapped[str | None] = mapped_column(String(320))
    signer_name: Mapped[str | None] = mapped_column(String(200))
    meaning: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    override: Mapped[dict[str, Any] | None]


class TreatmentCourse(Base):
    """A course: the series as scheduled against the clinic calendar.

    Rescheduling replaces ``schedule`` (missed and cancelled appointments stay in it, under
    ``missed``) and bumps ``version``: a reschedule names the version it was made from and loses
    to any other made in the meantime, as a patient update does. Each change is in the audit
    trail with the sessions that moved.
    """

    __tablename__ = "treatment_course"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_plan.id"))
    protocol_key: Mapped[str] = mapped_column(String(64))
    first_day: Mapped[date]
    last_day: Mapped[date] = mapped_column(index=True, nullable=True)
    """The series' last session day, in the clinic's zone: kept with the schedule so the
    dashboard finds series that ended recently by an index, not by reading every schedule.
    Always set; nullable in the schema only (see migration 0007)."""
    schedule: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    cancelled_at: Mapped[datetime | None]
    """When the whole course was cancelled (its reason is in ``booking_event``); NULL while
    it is active."""


BOOKING_EVENT_KINDS = (
    "booked",
    "moved",
    "missed",
    "cancelled",
    "booster_booked",
    "course_cancelled",
)


class CourseBooking(Base):
    """One booked appointment of a course's current schedule: the schedule's sessions as rows,
    rewritten with it, so a day's chairs are an indexed range of one clinic's bookings."""

    __tablename__ = "course_booking"
    __table_args__ = (
        UniqueConstraint("course_id", "number"),
        Index("ix_course_booking_clinic_start", "clinic_id", "start_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("treatment_course.id"))
    number: Mapped[int]
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    """Infusion and recovery over: the chair is free again. NULL for bookings made before
    chairs were recorded (left so: filling it would change their audit hash)."""
    chair: Mapped[int | None]
    """The chair, numbered from 1 up to the clinic's chair count; NULL for bookings made
    before chairs were recorded (they hold no chair)."""
    booster: Mapped[bool | None]
    """True for a booster booked from a recommendation (kept when the series is rescheduled);
    NULL for the series' bookings (rewritten with the schedule). NULL rather than False so
    that rows written before it keep their audit hash (store.audit_records)."""


class BookingEvent(Base):
    """One change to a course's bookings, with who made it and why: booked, moved,
    cancelled, a booster booked, the course cancelled. Append-only (the history the course
    page shows); the booking rows are the current state."""

    __tablename__ = "booking_event"
    __table_args__ = (Index("ix_booking_event_course_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    course_id: Mapped[int] = mapped_column(ForeignKey("treatment_course.id"))
    kind: Mapped[str] = mapped_column(String(32))
    number: Mapped[int | None]
    """The session concerned; NULL for the whole course."""
    from_start: Mapped[datetime | None]
    to_start: Mapped[datetime | None]
    chair: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


class InfusionSession(Base):
    """One infusion session; its chart is the ``session_event`` rows."""

    __tablename__ = "infusion_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_course.id"), index=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_plan.id"))
    number: Mapped[int | None]
    protocol_key: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    weight_kg: Mapped[float]
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    alert_thresholds: Mapped[dict[str, Any] | None]
    """The clinic's own alert thresholds for the category when the session was opened
    (``{rule code: number}``, empty for the catalog's): the chart is judged by them, whatever
    the settings say later. NULL for sessions opened before they were recorded."""


class SessionEvent(Base):
    """One charted event. ``(session_id, seq)`` is unique: two writers cannot both append N."""

    __tablename__ = "session_event"
    __table_args__ = (
        UniqueConstraint("session_id", "seq"),
        CheckConstraint("seq >= 1", name="seq_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("infusion_session.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


class QuestionnaireResponse(Base):
    """A scored questionnaire: every item answer, the total, band and flags."""

    __tablename__ = "questionnaire_response"
    __table_args__ = (Index("ix_questionnaire_response_scale_answered", "scale", "answered_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_course.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_session.id"))
    scale: Mapped[str] = mapped_column(String(32))
    answers: Mapped[list[Any]]
    total: Mapped[int]
    severity: Mapped[str] = mapped_column(String(32))
    flags: Mapped[list[Any]]
    details: Mapped[dict[str, Any]]
    answered_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(20))
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))


class TitrationRecommendation(Base):
    """What titration proposed, and the history it was computed from."""

    __tablename__ = "titration_recommendation"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("treatment_course.id"), index=True)
    recommended_mg_per_kg: Mapped[float]
    action: Mapped[str] = mapped_column(String(16))
    recommendation: Mapped[dict[str, Any]]
    basis: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


class TitrationDecision(Base):
    """A prescriber's decision on a recommendation: accepted, or overridden with a reason."""

    __tablename__ = "titration_decision"
    __table_args__ = (CheckConstraint("decision IN ('accepted', 'overridden')", name="decision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recommendation_id: Mapped[int] = mapped_column(
        ForeignKey("titration_recommendation.id"), unique=True
    )
    decision: Mapped[str] = mapped_column(String(16))
    mg_per_kg: Mapped[float]
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime]
    decided_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


class AuditEvent(Base):
    """Who did what to which record, when and from where; hash-chained (see store.audit)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        # The audit-trail viewer's filters, each in sequence order (revision 0013).
        Index("ix_audit_event_patient_seq", "patient_id", "seq"),
        Index("ix_audit_event_actor_seq", "actor_user_id", "seq"),
        Index("ix_audit_event_action_seq", "action", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    occurred_at: Mapped[datetime]
    actor_user_id: Mapped[int | None]
    actor_role: Mapped[str | None] = mapped_column(String(20))
    origin: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict[str, Any]]
    records: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True))
    """The record versions the event's transaction wrote, by hash (store.audit_records);
    NULL for an event that wrote none, and for events written before revision 0010."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The single row holding the chain's last sequence number and hash.

    Every append locks it (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN
    IMMEDIATE`` already serialises writers), so two transactions never both extend the same
    link; verification also checks it, which catches events cut from the end of the chain.
    """

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_seq: Mapped[int]
    last_hash: Mapped[str] = mapped_column(String(64))


class AccessToken(Base):
    """A signed-in session: the browser's cookie or an API client's bearer token.

    Only the SHA-256 of the token is stored, so a copy of the database cannot be used to sign
    in. ``revoked_at`` is set on sign-out (the one in-place update; the row is otherwise kept).
    """

    __tablename__ = "access_token"
    __table_args__ = (CheckConstraint("kind IN ('cookie', 'bearer')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    origin: Mapped[str] = mapped_column(String(64))


class SignInThrottle(Base):
    """A counter of recent wrong passwords for one key of the sign-in throttle
    (:mod:`ketaplan.services.throttle`): an account at one network address, one address, or
    one account. The account is its address's SHA-256, never the text typed, and a row is
    deleted once its failures are forgotten."""

    __tablename__ = "sign_in_throttle"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int]
    last_failure_at: Mapped[datetime] = mapped_column(index=True)


class PatientLink(Base):
    """A signed, expiring, single-patient link to answer questionnaires without an account.

    The token is stored hashed; the link answers only the scales it was made for, once each:
    ``answered`` lists the scales answered so far, and ``used_at`` is set when the last one is.
    """

    __tablename__ = "patient_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_course.id"))
    scales: Mapped[list[Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    answered: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")


class Screening(Base):
    """A screening of a patient's details for a protocol: status and every finding."""

    __tablename__ = "screening"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    patient_version: Mapped[int]
    condition: Mapped[str] = mapped_column(String(64))
    catalog_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    created_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))


# ------------------------------------------------- controlled-substance ledger ----
# (issue 16; revision 0011; the domain is ketaplan.clinical.ledger, the use cases
# ketaplan.services.ledger). Both tables are append-only: a correction is a new entry.

LEDGER_KINDS = (
    "receive",
    "draw",
    "administer",
    "waste",
    "return",
    "destroy",
    "count",
    "resolve",
    "correct",
    "inventory",
    "loss_open",
    "loss_notice",
    "loss_form_106",
    "loss_note",
    "loss_resolve",
)


class LedgerContainer(Base):
    """One vial of a controlled substance as received: its identity, written once."""

    __tablename__ = "ledger_container"
    __table_args__ = (UniqueConstraint("clinic_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    number: Mapped[str] = mapped_column(String(40))
    drug: Mapped[str] = mapped_column(String(120))
    form: Mapped[str] = mapped_column(String(60))
    ndc: Mapped[str] = mapped_column(String(20))
    lot: Mapped[str] = mapped_column(String(40))
    expiry: Mapped[date]
    mg_per_ml: Mapped[float]
    volume_cml: Mapped[int]
    schedule: Mapped[str] = mapped_column(String(4))


class LedgerEntry(Base):
    """One entry of a clinic's controlled-substance ledger, numbered in the clinic (``seq``).

    The columns hold what is searched and joined (vial, patient, order, session, who, the
    witnesses, the corrected entry); ``data`` holds the rest of the entry by kind (supplier,
    Form 41 method and place, an inventory's lines, a loss case's step, a correction's
    replacement)."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("clinic_id", "seq"),
        CheckConstraint("kind IN (" + ", ".join(f"'{k}'" for k in LEDGER_KINDS) + ")", "kind"),
        Index("ix_ledger_entry_container_id", "container_id"),
        Index("ix_ledger_entry_patient_id", "patient_id"),
        Index("ix_ledger_entry_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    seq: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    container_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_container.id"))
    at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    volume_cml: Mapped[int | None]
    mg: Mapped[float | None]
    draw_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entry.id"))
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entry.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_plan.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("infusion_session.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patient.id"))
    witness_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    second_witness_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]]


# ------------------------------------------------------- measurement-based care ----
# (issue 18 item 6; revision 0012; the use cases are ketaplan.services.outbox and
# ketaplan.services.item9_reviews).

OUTBOX_KINDS = ("questionnaire_link", "appointment_reminder")
OUTBOX_STATUSES = ("queued", "sent", "failed")


class OutboxMessage(Base):
    """One e-mail to a patient, written in the transaction that caused it and sent later.

    The sender (``ketaplan outbox send``) updates the delivery in place: ``status``,
    ``attempts``, ``last_error``, ``next_attempt_at`` and ``sent_at``; each attempt is in the
    audit trail. The body is neutral text (no clinical data); a questionnaire link's address is
    kept in ``link_url`` only until the message is sent or given up, so a copy of the database
    does not open the link afterwards. ``dedupe_key`` makes a reminder for one booking queue
    once however often the sender runs.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("kind IN ('questionnaire_link', 'appointment_reminder')", name="kind"),
        CheckConstraint("status IN ('queued', 'sent', 'failed')", name="status"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link_url: Mapped[str | None] = mapped_column(Text)
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int]
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    sent_at: Mapped[datetime | None]


class Item9PositiveAnswer(Base):
    """A PHQ-9 answered with item 9 above 0, under its patient's clinic: the dashboard's flags
    are an index range of one clinic's rows (``(clinic_id, answered_at)``), not of every
    clinic's PHQ-9 answers (``questionnaire_response`` holds no clinic). Derived from the
    response and its patient, written with the response in the same transaction (migration
    0017 filled it for earlier answers); not a record of its own, so not in the audit chain,
    which covers the response it comes from. A response never changes, nor a patient's clinic.
    """

    __tablename__ = "item9_positive_answer"
    __table_args__ = (
        Index("ix_item9_positive_answer_clinic_answered", "clinic_id", "answered_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_response.id"), unique=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinic.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"))
    answered_at: Mapped[datetime]


class Item9Review(Base):
    """A clinician's review of a PHQ-9 answered with item 9 above 0: who, when, and their note.

    Append-only and one per response (a second review of the same answer is refused): the
    dashboard lists the answers that have none."""

    __tablename__ = "item9_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_response.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    note: Mapped[str] = mapped_column(Text)
    reviewed_at: Mapped[datetime]
    reviewed_by: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
