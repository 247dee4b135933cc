"""The audit trail as an admin reads it: filtered by who acted, which patient, which action and
which days, newest first a page at a time, or the whole filtered trail as CSV.

Admins only. The trail shows every member of staff's work and every patient's record being
opened, which is the privacy officer's business, not the clinical team's: a prescriber asking
who read a patient's chart goes through an admin (issue 18's choice, kept in the permissions).

One clinic's trail: an event is the clinic's when one of its staff acted, it is about one of
its patients, it is about the clinic itself, or it is a sign-in to one of its accounts.
Refusals of requests with no valid sign-in and sign-ins to unknown addresses belong to no
clinic; the operator reads them with ``ketaplan audit``.

The trail may hold millions of rows, so a page costs what it shows: it is keyed on the
sequence number (``seq < the last one shown``, never an offset), and each filter has an index
whose second column is ``seq`` (revision 0013), so the database walks the index in order and
stops after a page. A day range alone is checked on each event walked.

Reading the trail is itself in the trail (``audit.trail.read`` with the filter and the rows
shown; ``audit.trail.export`` with the filter and the last sequence number the file goes to).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, String, and_, cast, or_, select
from sqlalchemy.orm import Session

from ketaplan.errors import InputError, InputProblems
from ketaplan.inputs import MAX_RECORD_ID, clinic_date
from ketaplan.services.actors import Actor, Role, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.staff_names import StaffMember, staff_members
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.audit import canonical_json
from ketaplan.store.models import AuditChainHead, AuditEvent, Clinic, Patient, User

READING: tuple[Role, ...] = ("admin",)
PAGE_SIZE = 50
EXPORT_BATCH = 1000
"""Rows read per query while the CSV streams: one short read each, never the whole trail."""

_RECORD_WORDS = {
    "access": "Access",
    "audit": "Audit trail",
    "auth": "Sign-in",
    "clinic": "Clinic",
    "course": "Course",
    "dashboard": "Dashboard",
    "export": "Export",
    "fhir": "FHIR export",
    "ledger": "Ledger",
    "order": "Order",
    "patient": "Patient",
    "patient_link": "Patient link",
    "plan": "Plan",
    "questionnaire": "Questionnaire",
    "report": "Printed report",
    "screening": "Screening",
    "session": "Infusion session",
    "titration": "Titration",
    "user": "Staff account",
}
"""Each action's record, in the words a clinic uses."""

_WORDS = {
    "csv": "CSV",
    "fhir": "FHIR",
    "form_106": "Form 106",
    "sign_in": "signed in",
    "sign_in_failed": "sign-in failed",
    "sign_in_refused": "sign-in refused (too many tries)",
    "sign_out": "signed out",
    "refused_count": "refusals counted",
    "set_password": "password set",
    "change_role": "role changed",
    "trail": "",
}
"""Parts of an action said otherwise than by dropping their underscores."""


def action_words(code: str) -> str:
    """An action in plain words (the code stays in the page's tooltip and in the API).

    >>> action_words("ledger.loss.form_106")
    'Ledger: loss Form 106'
    >>> action_words("auth.sign_in_failed")
    'Sign-in: sign-in failed'
    >>> action_words("patient_link.create")
    'Patient link: create'
    >>> action_words("audit.trail.read")
    'Audit trail: read'
    """
    record, _, rest = code.partition(".")
    head = _RECORD_WORDS.get(record, record.replace("_", " ").capitalize())
    said = (_WORDS.get(part, part.replace("_", " ")) for part in rest.split("."))
    words = " ".join(word for word in said if word)
    return f"{head}: {words}" if words else head


ACTIONS: tuple[tuple[str, str], ...] = tuple(
    sorted(((a.value, action_words(a.value)) for a in AuditAction), key=lambda pair: pair[1])
)
"""Every action a filter may name, as (code, words), in the order of their words."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to keep: events by this member of staff, about this patient, of this action, on
    these days (clinic days, both included). None keeps everything on that axis."""

    user_id: int | None = None
    patient_id: int | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None

    def to_dict(self) -> dict[str, object]:
        """As audited and put in page links (dates as YYYY-MM-DD)."""
        return {
            key: value.isoformat() if isinstance(value, date) else value
            for key, value in asdict(self).items()
            if value is not None
        }


def _record_id(text: str, field: str, what: str) -> int | None:
    cleaned = text.strip().removeprefix("#")
    if not cleaned:
        return None
    if not cleaned.isascii() or not cleaned.isdigit() or not 1 <= int(cleaned) <= MAX_RECORD_ID:
        raise InputError(
            f"{what} {text[:40]!r} is not a record number: give the number shown, e.g. 12",
            code="input.not_a_number",
            fields={"field": field},
        )
    return int(cleaned)


def _about(field: str, refused: InputError) -> InputError:
    """The refusal named after the filter's own field (a date's check names it otherwise)."""
    return InputError(refused.message, code=refused.code, fields={"field": field})


def filter_from_text(fields: Mapping[str, str]) -> AuditFilter:
    """A filter from what a form or a query string typed (``user``, ``patient``, ``action``,
    ``since``, ``until``); every field's problem at once (:class:`~ketaplan.errors.InputErrors`,
    each naming its field)."""
    problems = InputProblems()
    values: dict[str, Any] = {}

    def read(field: str, parse: Any) -> None:
        text = fields.get(field, "").strip()
        if not text:
            return
        try:
            values[field] = parse(text)
        except InputError as refused:
            problems.add(_about(field, refused))

    read("user", lambda t: _record_id(t, "user", "member of staff"))
    read("patient", lambda t: _record_id(t, "patient", "patient"))
    read("action", _checked_action)
    read("since", lambda t: clinic_date(t, field="from"))
    read("until", lambda t: clinic_date(t, field="to"))
    since, until = values.get("since"), values.get("until")
    if since is not None and until is not None and until < since:
        problems.add(
            InputError(
                f"the range ends ({until}) before it starts ({since})",
                code="input.out_of_range",
                fields={"field": "until"},
            )
        )
    problems.raise_any()
    return AuditFilter(
        user_id=values.get("user"),
        patient_id=values.get("patient"),
        action=values.get("action"),
        since=since,
        until=until,
    )


def _checked_action(text: str) -> str:
    try:
        return AuditAction(text).value
    except ValueError:
        raise InputError(
            f"{text[:64]!r} is not an action of the audit trail (choose one from the list)",
            code="input.unknown_term",
            fields={"field": "action"},
        ) from None


@dataclass(frozen=True, slots=True)
class TrailEvent:
    """One event as the viewer shows it."""

    seq: int
    occurred_at: datetime
    actor_email: str
    """Blank for someone without an account (a patient's link, a sign-in attempt)."""
    actor_name: str
    """The member of staff as pages name them (:mod:`ketaplan.services.staff_names`); blank
    as ``actor_email``."""
    actor_role: str
    origin: str
    action: str
    action_words: str
    entity_type: str
    entity_id: str
    patient_id: int | None
    details: dict[str, Any]
    hash: str


@dataclass(frozen=True, slots=True)
class TrailPage:
    """A page of the trail, newest first; ``older_than`` is the cursor for the next page
    (None on the last)."""

    events: tuple[TrailEvent, ...]
    older_than: int | None
    filter: AuditFilter


_COLUMNS = (
    AuditEvent.seq,
    AuditEvent.occurred_at,
    AuditEvent.actor_user_id,
    AuditEvent.actor_role,
    AuditEvent.origin,
    AuditEvent.action,
    AuditEvent.entity_type,
    AuditEvent.entity_id,
    AuditEvent.patient_id,
    AuditEvent.details,
    AuditEvent.hash,
)


def _in_clinic(clinic_id: int) -> ColumnElement[bool]:
    staff = select(User.id).where(User.clinic_id == clinic_id)
    return or_(
        AuditEvent.actor_user_id.in_(staff),
        AuditEvent.patient_id.in_(select(Patient.id).where(Patient.clinic_id == clinic_id)),
        and_(AuditEvent.entity_type == "clinic", AuditEvent.entity_id == str(clinic_id)),
        and_(
            AuditEvent.actor_user_id.is_(None),
            AuditEvent.entity_type == "user",
            AuditEvent.entity_id.in_(
                select(cast(User.id, String)).where(User.clinic_id == clinic_id)
            ),
        ),
    )


def trail_query(chosen: AuditFilter, clinic_id: int, zone: ZoneInfo) -> Select[Any]:
    """The filtered trail of one clinic, unordered (the caller pages it). A member of staff
    or a patient already checked to be the clinic's narrows it by their index alone."""
    query = select(*_COLUMNS)
    if chosen.user_id is not None:
        query = query.where(AuditEvent.actor_user_id == chosen.user_id)
    if chosen.patient_id is not None:
        query = query.where(AuditEvent.patient_id == chosen.patient_id)
    if chosen.user_id is None and chosen.patient_id is None:
        query = query.where(_in_clinic(clinic_id))
    if chosen.action is not None:
        query = query.where(AuditEvent.action == chosen.action)
    if chosen.since is not None:
        start = datetime.combine(chosen.since, time(0), tzinfo=zone)
        query = query.where(AuditEvent.occurred_at >= start.astimezone(UTC))
    if chosen.until is not None:
        end = datetime.combine(chosen.until + timedelta(days=1), time(0), tzinfo=zone)
        query = query.where(AuditEvent.occurred_at < end.astimezone(UTC))
    return query


def _check_filter(db: Session, chosen: AuditFilter, clinic_id: int) -> None:
    """A member of staff or a patient of another clinic is "not found", as one that does not
    exist: the filter says nothing of other clinics."""
    problems = InputProblems()
    if chosen.user_id is not None and (
        db.scalar(select(User.id).where(User.id == chosen.user_id, User.clinic_id == clinic_id))
        is None
    ):
        problems.add(
            InputError(
                f"there is no member of staff {chosen.user_id} in this clinic",
                code="input.not_found",
                fields={"field": "user"},
            )
        )
    if chosen.patient_id is not None and (
        db.scalar(
            select(Patient.id).where(
                Patient.id == chosen.patient_id, Patient.clinic_id == clinic_id
            )
        )
        is None
    ):
        problems.add(
            InputError(
                f"there is no patient #{chosen.patient_id} in this clinic",
                code="input.not_found",
                fields={"field": "patient"},
            )
        )
    problems.raise_any()


def _zone(db: Session, clinic_id: int) -> ZoneInfo:
    return ZoneInfo(db.get_one(Clinic, clinic_id).time_zone)


def _events(db: Session, rows: Sequence[Any]) -> list[TrailEvent]:
    staff = staff_members(db, (row.actor_user_id for row in rows))
    nobody = StaffMember("", "")
    return [
        TrailEvent(
            seq=row.seq,
            occurred_at=row.occurred_at,
            actor_email=staff.get(row.actor_user_id, nobody).email if row.actor_user_id else "",
            actor_name=staff.get(row.actor_user_id, nobody).name if row.actor_user_id else "",
            actor_role=row.actor_role or "",
            origin=row.origin,
            action=row.action,
            action_words=action_words(row.action),
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            patient_id=row.patient_id,
            details=dict(row.details or {}),
            hash=row.hash,
        )
        for row in rows
    ]


def read_audit_trail(
    uow: UnitOfWork,
    chosen: AuditFilter,
    *,
    actor: Actor,
    older_than: int | None = None,
    page_size: int = PAGE_SIZE,
) -> TrailPage:
    """A page of the clinic's trail, newest first, older than ``older_than`` (a sequence
    number from the page before); the read is audited."""
    require_role(actor, READING, "reading the audit trail")
    if not 1 <= page_size <= 500:
        raise InputError(
            f"a page holds 1 to 500 events, not {page_size}",
            code="input.out_of_range",
            fields={"field": "page_size"},
        )
    with uow.reading():
        _check_filter(uow.db, chosen, actor.clinic_id)
        query = trail_query(chosen, actor.clinic_id, _zone(uow.db, actor.clinic_id))
        if older_than is not None:
            query = query.where(AuditEvent.seq < older_than)
        rows = uow.db.execute(query.order_by(AuditEvent.seq.desc()).limit(page_size + 1)).all()
        shown = _events(uow.db, rows[:page_size])
        uow.audit(
            actor,
            AuditAction.AUDIT_TRAIL_READ,
            "clinic",
            actor.clinic_id,
            patient_id=chosen.patient_id,
            details={
                "filter": chosen.to_dict(),
                "older_than": older_than,
                "rows": len(shown),
                "seq": [shown[0].seq, shown[-1].seq] if shown else None,
            },
        )
        uow.commit()
    more = len(rows) > page_size
    return TrailPage(tuple(shown), shown[-1].seq if more and shown else None, chosen)


CSV_COLUMNS = (
    "seq",
    "occurred_at",
    "actor",
    "actor_role",
    "origin",
    "action",
    "action_words",
    "entity_type",
    "entity_id",
    "patient_id",
    "details",
    "hash",
)


def _cell(value: object) -> object:
    """A formula-like cell is quoted with a leading apostrophe, so a spreadsheet shows text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def _csv_text(events: Sequence[TrailEvent], *, header: bool) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow(CSV_COLUMNS)
    for e in events:
        writer.writerow(
            _cell(value)
            for value in (
                e.seq,
                e.occurred_at.astimezone(UTC).isoformat(),
                e.actor_email,
                e.actor_role,
                e.origin,
                e.action,
                e.action_words,
                e.entity_type,
                e.entity_id,
                "" if e.patient_id is None else e.patient_id,
                canonical_json(e.details),
                e.hash,
            )
        )
    return out.getvalue()


def export_audit_trail(uow: UnitOfWork, chosen: AuditFilter, *, actor: Actor) -> Iterator[str]:
    """The filtered trail as CSV text, oldest first, in pieces to stream (UTF-8, ``\\r\\n``).

    The export is audited, and its filter checked, before the first piece: a refusal is an
    error, never a half-written file. The file goes up to the last event at that moment (its
    sequence number is in the export's audit event), read :data:`EXPORT_BATCH` rows at a time.
    """
    require_role(actor, READING, "exporting the audit trail")
    with uow.reading():
        _check_filter(uow.db, chosen, actor.clinic_id)
        zone = _zone(uow.db, actor.clinic_id)
        head = uow.db.get_one(AuditChainHead, 1)
        up_to = head.last_seq
        uow.audit(
            actor,
            AuditAction.AUDIT_TRAIL_EXPORT,
            "clinic",
            actor.clinic_id,
            patient_id=chosen.patient_id,
            details={"filter": chosen.to_dict(), "up_to_seq": up_to},
        )
        uow.commit()
    query = trail_query(chosen, actor.clinic_id, zone).where(AuditEvent.seq <= up_to)
    return _stream(uow, query)


def _stream(uow: UnitOfWork, query: Select[Any]) -> Iterator[str]:
    after = 0
    yield _csv_text((), header=True)
    while True:
        with uow.lookup() as db:  # the export was audited as one action; these are its reads
            rows = db.execute(
                query.where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(EXPORT_BATCH)
            ).all()
            events = _events(db, rows)
        if not events:
            return
        yield _csv_text(events, header=False)
        after = events[-1].seq
