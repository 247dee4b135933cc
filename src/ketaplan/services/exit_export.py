"""The exit export: a clinic's whole record as CSV files, one per record type, with a README of
the columns, so a clinic can leave ketaplan with its data (issue 17, item 3).

An admin's, like any export of every patient: each patient gets an audit event of their own
(``export.csv``) and one event names the whole export with its row counts. Files are UTF-8
(no byte-order mark), comma-separated with ``\\r\\n`` line ends (RFC 4180, Python's ``csv``
quoting), one header row; the columns are in the order :data:`TABLES` gives, which only grows
at the end. Times are ISO 8601 in UTC; JSON columns (a plan, a chart event's fields) are
compact JSON with sorted keys; an empty cell is a NULL.

Not exported: password hashes, sign-in tokens, patient-link tokens and the sign-in throttle's
counters (secrets and bookkeeping, not the clinic's record), nor an e-mail's address, subject,
body or link (``messages.csv`` keeps what was sent to whom and its delivery: a link still
queued would open the patient's questionnaire). Any ledger table (a name starting
``ledger``) is exported whole, in its own column order, when the database has one.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import MetaData, Select, Table, inspect, or_, select

from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import (
    AuditEvent,
    CourseBooking,
    InfusionPlan,
    InfusionSession,
    Item9Review,
    OrderEvent,
    OutboxMessage,
    Patient,
    PatientVersion,
    QuestionnaireResponse,
    Screening,
    SessionEvent,
    TitrationDecision,
    TitrationRecommendation,
    TreatmentCourse,
    User,
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    meaning: str
    read: Callable[[Any], object]


@dataclass(frozen=True, slots=True)
class RecordType:
    """One CSV file: its rows (a statement given the clinic id) and its columns in order."""

    file: str
    what: str
    rows: Callable[[int], Select[Any]]
    columns: tuple[Column, ...]


def _c(name: str, meaning: str, attribute: str | None = None) -> Column:
    key = attribute or name
    return Column(name, meaning, lambda row: getattr(row, key))


def _json(name: str, meaning: str, attribute: str | None = None) -> Column:
    key = attribute or name.removesuffix("_json")
    return Column(name, meaning + " (JSON)", lambda row: _as_json(getattr(row, key)))


def _as_json(value: object) -> str | None:
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _patients(clinic_id: int) -> Any:
    return select(Patient.id).where(Patient.clinic_id == clinic_id)


def _of_patients(model: Any, clinic_id: int) -> Select[Any]:
    return select(model).where(model.patient_id.in_(_patients(clinic_id))).order_by(model.id)


def _staff(clinic_id: int) -> Any:
    return select(User.id).where(User.clinic_id == clinic_id)


_WHO = "user id of the member of staff (staff.csv)"

TABLES: tuple[RecordType, ...] = (
    RecordType(
        "staff.csv",
        "Members of staff (no password hashes).",
        lambda cid: select(User).where(User.clinic_id == cid).order_by(User.id),
        (
            _c("user_id", "user id", "id"),
            _c("email", "e-mail address, the sign-in name"),
            _c("role", "admin, prescriber, nurse or front_desk"),
            _c("active", "false once deactivated"),
            _c("created_at", "when the account was made (UTC)"),
            _c("full_name", "the name shown on records and the chair board; empty if none set"),
        ),
    ),
    RecordType(
        "patients.csv",
        "Patients, one row each, as of their current version.",
        lambda cid: select(Patient).where(Patient.clinic_id == cid).order_by(Patient.id),
        (
            _c("patient_id", "patient id", "id"),
            _c("current_version", "the version in force (patient_versions.csv)", "version"),
            _c("full_name", "name as of the current version"),
            _c("date_of_birth", "YYYY-MM-DD, empty if not given"),
            _c("created_at", "when the patient was registered (UTC)"),
            _c("created_by", _WHO),
        ),
    ),
    RecordType(
        "patient_versions.csv",
        "Every version of every patient's details (never edited: a change is a new version).",
        lambda cid: (
            select(PatientVersion)
            .where(PatientVersion.patient_id.in_(_patients(cid)))
            .order_by(PatientVersion.patient_id, PatientVersion.version)
        ),
        (
            _c("patient_id", "patient id"),
            _c("version", "1, 2, ..."),
            _c("full_name", "name in this version"),
            _c("date_of_birth", "YYYY-MM-DD"),
            _json("inputs_json", "the details as typed (weight '176 lb', medications...)"),
            _json("profile_json", "the validated profile in canonical units (kg, cm)"),
            _c("recorded_at", "when saved (UTC)"),
            _c("recorded_by", _WHO),
        ),
    ),
    RecordType(
        "screenings.csv",
        "Screenings of a patient's details for a protocol, with every finding.",
        lambda cid: _of_patients(Screening, cid),
        (
            _c("screening_id", "screening id", "id"),
            _c("patient_id", "patient id"),
            _c("patient_version", "the version screened"),
            _c("condition", "protocol key"),
            _c("catalog_version", "catalog the screening used"),
            _c("status", "eligible, caution or contraindicated"),
            _json("result_json", "findings with reasons and sources"),
            _c("created_at", "UTC"),
            _c("created_by", _WHO),
        ),
    ),
    RecordType(
        "orders.csv",
        "Plans, each an order (its status history is order_events.csv).",
        lambda cid: _of_patients(InfusionPlan, cid),
        (
            _c("order_id", "order (plan) id", "id"),
            _c("patient_id", "patient id"),
            _c("patient_version", "the patient version planned on"),
            _c("condition", "protocol key"),
            _c("catalog_version", "catalog the plan used"),
            _c("eligibility_status", "eligible, caution or contraindicated"),
            _c("mg_per_kg", "ordered dose, mg/kg over the whole infusion"),
            _c("total_mg", "ordered dose, mg"),
            _json("override_json", "a prescriber's dose override and reason, if any"),
            _json("inputs_json", "what the plan was asked for"),
            _json("plan_json", "the whole explained plan: dose, preparation, pump program"),
            _c("created_at", "UTC"),
            _c("created_by", _WHO),
        ),
    ),
    RecordType(
        "order_events.csv",
        "Each step of an order's life: proposed, signed, superseded, cancelled.",
        lambda cid: (
            select(OrderEvent)
            .join(InfusionPlan, InfusionPlan.id == OrderEvent.plan_id)
            .where(InfusionPlan.patient_id.in_(_patients(cid)))
            .order_by(OrderEvent.id)
        ),
        (
            _c("order_event_id", "id", "id"),
            _c("order_id", "order id (orders.csv)", "plan_id"),
            _c("status", "proposed, signed, superseded or cancelled"),
            _c("at", "UTC"),
            _c("by", _WHO),
            _c("signer_email", "e-mail of the signer (signed)"),
            _c("signer_name", "name the signer gave (signed)"),
            _c("meaning", "what the signature means"),
            _c("reason", "reason given (cancel, override)"),
            _json("override_json", "override of a contraindication or hold, if any"),
        ),
    ),
    RecordType(
        "courses.csv",
        "Treatment courses with their current schedule.",
        lambda cid: _of_patients(TreatmentCourse, cid),
        (
            _c("course_id", "course id", "id"),
            _c("patient_id", "patient id"),
            _c("order_id", "order the course started on", "plan_id"),
            _c("protocol_key", "protocol key"),
            _c("first_day", "YYYY-MM-DD"),
            _c("last_day", "YYYY-MM-DD, the series' last session day"),
            _c("version", "edits so far + 1"),
            _json("schedule_json", "sessions, missed and cancelled appointments"),
            _c("created_at", "UTC"),
            _c("created_by", _WHO),
        ),
    ),
    RecordType(
        "course_bookings.csv",
        "Booked appointments of each course's current schedule.",
        lambda cid: (
            select(CourseBooking).where(CourseBooking.clinic_id == cid).order_by(CourseBooking.id)
        ),
        (
            _c("booking_id", "id", "id"),
            _c("course_id", "course id"),
            _c("patient_id", "patient id"),
            _c("number", "session number in the series"),
            _c("start_at", "UTC"),
        ),
    ),
    RecordType(
        "sessions.csv",
        "Infusion sessions (their charts are chart_events.csv).",
        lambda cid: _of_patients(InfusionSession, cid),
        (
            _c("session_id", "session id", "id"),
            _c("patient_id", "patient id"),
            _c("course_id", "course id, empty if none"),
            _c("order_id", "order the session was opened on", "plan_id"),
            _c("number", "session number in the course"),
            _c("protocol_key", "protocol key"),
            _c("category", "mood or pain"),
            _c("weight_kg", "weight the session was charted at, kg"),
            _json("alert_thresholds_json", "clinic alert thresholds in force when opened"),
            _c("created_at", "UTC"),
            _c("created_by", _WHO),
        ),
    ),
    RecordType(
        "chart_events.csv",
        "Every charted event of every session, in order (corrections are events too).",
        lambda cid: (
            select(SessionEvent)
            .join(InfusionSession, InfusionSession.id == SessionEvent.session_id)
            .where(InfusionSession.patient_id.in_(_patients(cid)))
            .order_by(SessionEvent.session_id, SessionEvent.seq)
        ),
        (
            _c("event_id", "id", "id"),
            _c("session_id", "session id"),
            _c("seq", "1, 2, ... within the session"),
            _c("kind", "check_in, start, rate, pause, resume, stop, vitals, ..."),
            _c("at", "when it happened (UTC)"),
            _json("data_json", "the event as charted: readings, rates, reasons"),
            _c("recorded_at", "when it was charted (UTC)"),
            _c("recorded_by", _WHO),
        ),
    ),
    RecordType(
        "questionnaire_responses.csv",
        "Scored questionnaires (the answers item by item are questionnaire_answers.csv).",
        lambda cid: _of_patients(QuestionnaireResponse, cid),
        (
            _c("response_id", "id", "id"),
            _c("patient_id", "patient id"),
            _c("course_id", "course id, empty if none"),
            _c("session_id", "session id, empty if none"),
            _c("scale", "phq9, gad7, pcl5, qids_sr16, pain_nrs, ..."),
            _c("total", "total score"),
            _c("severity", "band of the total"),
            _json("flags_json", "flags such as phq9.item9_positive"),
            _json("details_json", "sub-scores (PCL-5 clusters, QIDS domains)"),
            _c("answered_at", "UTC"),
            _c("source", "staff or patient_link"),
            _c("recorded_at", "UTC"),
            _c("recorded_by", _WHO + "; empty when the patient answered by link"),
        ),
    ),
    RecordType(
        "titration_recommendations.csv",
        "What titration proposed, and the history it was computed from.",
        lambda cid: _of_patients(TitrationRecommendation, cid),
        (
            _c("recommendation_id", "id", "id"),
            _c("patient_id", "patient id"),
            _c("course_id", "course id"),
            _c("recommended_mg_per_kg", "mg/kg proposed"),
            _c("action", "raise, keep, lower, ..."),
            _json("recommendation_json", "the recommendation with its reasons"),
            _json("basis_json", "the scores and sessions it was computed from"),
            _c("created_at", "UTC"),
            _c("created_by", _WHO),
        ),
    ),
    RecordType(
        "titration_decisions.csv",
        "A prescriber's decision on each recommendation.",
        lambda cid: (
            select(TitrationDecision)
            .join(
                TitrationRecommendation,
                TitrationRecommendation.id == TitrationDecision.recommendation_id,
            )
            .where(TitrationRecommendation.patient_id.in_(_patients(cid)))
            .order_by(TitrationDecision.id)
        ),
        (
            _c("decision_id", "id", "id"),
            _c("recommendation_id", "recommendation id"),
            _c("decision", "accepted or overridden"),
            _c("mg_per_kg", "mg/kg decided"),
            _c("reason", "the prescriber's reason"),
            _c("decided_at", "UTC"),
            _c("decided_by", _WHO),
        ),
    ),
    RecordType(
        "item9_reviews.csv",
        "A clinician's review of each PHQ-9 answered with item 9 above 0 (never edited).",
        lambda cid: _of_patients(Item9Review, cid),
        (
            _c("review_id", "id", "id"),
            _c("response_id", "the flagged answer (questionnaire_responses.csv)"),
            _c("patient_id", "patient id"),
            _c("note", "what the clinician did, as they wrote it"),
            _c("reviewed_at", "UTC"),
            _c("reviewed_by", _WHO),
        ),
    ),
    RecordType(
        "messages.csv",
        "E-mails to patients through the outbox and their delivery (no address, subject, "
        "body or link).",
        lambda cid: (
            select(OutboxMessage).where(OutboxMessage.clinic_id == cid).order_by(OutboxMessage.id)
        ),
        (
            _c("message_id", "id", "id"),
            _c("patient_id", "patient id"),
            _c("kind", "questionnaire_link or appointment_reminder"),
            _c("status", "queued, sent or failed"),
            _c("attempts", "tries to send so far"),
            _c("created_at", "when it was queued (UTC)"),
            _c("created_by", _WHO + "; empty when the sender queued it (a reminder)"),
            _c("next_attempt_at", "when the next try is due (UTC); meaningful only while queued"),
            _c("sent_at", "when the mail server took it (UTC), empty until sent"),
        ),
    ),
    RecordType(
        "audit_events.csv",
        "The audit trail of the clinic: events by its staff, about its patients or about it.",
        lambda cid: (
            select(AuditEvent)
            .where(
                or_(
                    AuditEvent.actor_user_id.in_(_staff(cid)),
                    AuditEvent.patient_id.in_(_patients(cid)),
                    (AuditEvent.entity_type == "clinic") & (AuditEvent.entity_id == str(cid)),
                )
            )
            .order_by(AuditEvent.seq)
        ),
        (
            _c("seq", "position in the chain"),
            _c("occurred_at", "UTC"),
            _c("actor_user_id", _WHO + "; empty for a visitor"),
            _c("actor_role", "role at the time"),
            _c("origin", "IP address, cli or demo"),
            _c("action", "what was done, e.g. patient.read"),
            _c("entity_type", "kind of record"),
            _c("entity_id", "its id"),
            _c("patient_id", "the patient concerned, if any"),
            _json("details_json", "what changed or was read"),
            _json("records_json", "hashes of the record versions written"),
            _c("prev_hash", "hash of the event before (SHA-256)"),
            _c("hash", "this event's hash (SHA-256)"),
        ),
    ),
)

ANSWERS_FILE = "questionnaire_answers.csv"
ANSWER_COLUMNS = (
    ("response_id", "questionnaire_responses.csv id"),
    ("patient_id", "patient id"),
    ("scale", "scale key"),
    ("item", "item number, 1 first"),
    ("answer", "the answer, 0 to the item's maximum"),
    ("answered_at", "UTC"),
)
LEDGER_PREFIX = "ledger"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return out.getvalue()


def _ledger_tables(uow: UnitOfWork) -> list[Table]:
    connection = uow.db.connection()
    names = sorted(n for n in inspect(connection).get_table_names() if n.startswith(LEDGER_PREFIX))
    metadata = MetaData()
    return [Table(name, metadata, autoload_with=connection) for name in names]


def _readme(files: dict[str, tuple[str, Sequence[tuple[str, str]]]], counts: dict[str, int]) -> str:
    lines = [
        "# ketaplan exit export",
        "",
        "One CSV file per record type: UTF-8 without a byte-order mark, comma-separated,",
        "RFC 4180 quoting, CRLF line ends, one header row. Columns keep the order below (new",
        "columns are only ever added at the end). Times are ISO 8601 in UTC; dates YYYY-MM-DD;",
        "JSON columns are compact JSON with sorted keys; an empty cell is no value. Ids join the",
        "files (patient_id to patients.csv, order_id to orders.csv, user ids to staff.csv).",
        "A cell may begin with =, +, - or @ as typed: open the files as data, not as a",
        "spreadsheet's formulas.",
        "",
    ]
    for file, (what, columns) in files.items():
        lines += [f"## {file} ({counts[file]} rows)", "", what, ""]
        lines += [f"- `{name}`: {meaning}" for name, meaning in columns]
        lines.append("")
    return "\n".join(lines)


def export_clinic_csv(uow: UnitOfWork, *, actor: Actor) -> dict[str, str]:
    """The clinic's record as ``{file name: CSV text}``, ``README.md`` included; an admin's,
    audited patient by patient."""
    require_role(actor, ("admin",), "the exit export of the clinic's records")
    cid = actor.clinic_id
    files: dict[str, str] = {}
    described: dict[str, tuple[str, Sequence[tuple[str, str]]]] = {}
    counts: dict[str, int] = {}
    with uow.reading():
        db = uow.db
        for table in TABLES:
            rows = list(db.scalars(table.rows(cid)))
            files[table.file] = _csv(
                [c.name for c in table.columns], ([c.read(r) for c in table.columns] for r in rows)
            )
            described[table.file] = (table.what, [(c.name, c.meaning) for c in table.columns])
            counts[table.file] = len(rows)
            if table.file == "questionnaire_responses.csv":
                answers = [
                    (r.id, r.patient_id, r.scale, n, a, r.answered_at)
                    for r in rows
                    for n, a in enumerate(r.answers, start=1)
                ]
                files[ANSWERS_FILE] = _csv([n for n, _ in ANSWER_COLUMNS], answers)
                described[ANSWERS_FILE] = (
                    "Questionnaire answers item by item.",
                    ANSWER_COLUMNS,
                )
                counts[ANSWERS_FILE] = len(answers)
        for ledger in _ledger_tables(uow):
            statement = select(ledger)
            if "clinic_id" in ledger.c:
                statement = statement.where(ledger.c.clinic_id == cid)
            statement = statement.order_by(*ledger.primary_key.columns)
            rows = [tuple(r) for r in db.execute(statement)]
            file = f"{ledger.name}.csv"
            files[file] = _csv([c.name for c in ledger.columns], rows)
            described[file] = (
                "Ledger entries, every column as stored.",
                [(c.name, str(c.type)) for c in ledger.columns],
            )
            counts[file] = len(rows)
        patient_ids = list(db.scalars(_patients(cid).order_by(Patient.id)))
        for pid in patient_ids:
            uow.audit(actor, AuditAction.EXPORT_CSV, "patient", pid, patient_id=pid)
        uow.audit(actor, AuditAction.EXPORT_CSV_CLINIC, "clinic", cid, details={"rows": counts})
        uow.commit()
    files["README.md"] = _readme(described, counts)
    return files
