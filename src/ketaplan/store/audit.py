"""The audit trail: append-only rows, hash-chained so that tampering shows.

Each ``audit_event`` row stores ``prev_hash`` (the hash of the row before it, or 64 zeros for
the first) and ``hash = sha256(prev_hash + canonical JSON of the row)``, where the row is its
sequence number, time, actor, origin, action, entity, patient and details. Changing any of
these, deleting a row or inserting one breaks the chain at that row; cutting rows off the end
is caught by the chain head (``audit_chain_head``), which every append updates in the same
transaction.

Appends are serialised so the chain never forks: the head row is read ``FOR UPDATE`` on
PostgreSQL (a second writer waits until the first commits, then reads the new head); on SQLite
every transaction already holds the write lock from ``BEGIN IMMEDIATE``. Appends happen at
commit time (:class:`ketaplan.services.UnitOfWork`), after the transaction's other writes, so
the head is locked only for the last moment of a transaction.

Each write's last event also names the record versions its transaction wrote, by hash
(:mod:`ketaplan.store.audit_records`), and :func:`verify_audit_chain` checks the records against
them: a record changed, deleted or inserted outside ketaplan is reported with its table and id.

What the chain proves, and what not: anyone who can only change rows through SQL is caught by
:func:`verify_audit_chain`; someone who can rewrite the whole table *and* the head can cut
events from the end, or rebuild a consistent chain. Keeping the head elsewhere (a printout, a
second system: :func:`chain_anchor`, ``ketaplan audit anchor``) and checking against it
(``anchor=``) closes that gap.

Examples
--------
>>> canonical_json({"b": 1, "a": [1.5, "é"]})
'{"a":[1.5,"é"],"b":1}'
>>> chain_hash(GENESIS_HASH, {"seq": 1})[:16]
'0a00898550374c41'
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from hashlib import sha256
from itertools import islice
from json.encoder import encode_basestring
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Connection,
    Insert,
    Integer,
    String,
    Table,
    Text,
    Update,
    bindparam,
    column,
    func,
    insert,
    select,
    type_coerce,
    update,
)
from sqlalchemy import cast as cast_to
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.orm import Session

from ketaplan.store.audit_records import (
    COVERED_ACTION,
    PostgresLiteral,
    RecordLedger,
    RecordProblem,
    check_all,
    check_written,
    driver_rows,
    hashed_time,
    postgres_concat,
    postgres_quoted,
    postgres_sha256_hex,
    postgres_utc_time_sql,
    records_written,
    records_written_with,
    sqlite_utc_iso,
    utc_time_text,
)
from ketaplan.store.models import AuditChainHead, AuditEvent
from ketaplan.store.parallel_records import RowHashing, start_row_hashing

GENESIS_HASH = "0" * 64
CHAIN_HEAD_ID = 1


_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
"""One encoder for every event (``json.dumps`` with these options builds a new one each call,
a fifth of a verification's time)."""


def canonical_json(value: object) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 as is, no NaN or infinity."""
    return _CANONICAL.encode(value)


def chain_hash(prev_hash: str, fields: Mapping[str, object]) -> str:
    """``sha256(prev_hash + canonical JSON of the row's fields)`` as 64 hex digits."""
    return hashlib.sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What happened, before it gets its place in the chain.

    ``details`` must be JSON (it is stored as JSON and hashed in canonical form); it names what
    changed rather than copying patient data, which lives in its own tables.
    """

    action: str
    entity_type: str
    entity_id: str
    actor_user_id: int | None
    actor_role: str | None
    origin: str
    patient_id: int | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    records: Sequence[Mapping[str, object]] = ()
    """The record versions its transaction wrote (:mod:`ketaplan.store.audit_records`)."""


_HEAD = cast(Table, AuditChainHead.__table__)
_EVENTS = cast(Table, AuditEvent.__table__)
# Built once: an append runs these three statements in every write transaction, and building
# them per call (ORM flush, expression coercion) cost more than the rest of the append.
_LOCK_HEAD = (
    select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == CHAIN_HEAD_ID).with_for_update()
)


def _insert_events() -> Insert:
    """SQLite: the insert of audit rows, ``details`` and ``records`` bound as their canonical
    JSON text (``details_text``, ``records_text``) and stored as that text, so that a walk can
    hash the stored text as it is (:func:`_spliced`); a ``CAST(... AS JSON)`` there would be a
    numeric cast. PostgreSQL's append (:func:`_append_on_postgres`) stores the same text as
    ``json``, which keeps it verbatim."""
    return insert(_EVENTS).values(
        details=type_coerce(bindparam("details_text", type_=Text), Text),
        records=type_coerce(bindparam("records_text", type_=Text), Text),
    )


_INSERT_EVENTS = _insert_events()
_MOVE_HEAD = (
    update(_HEAD)
    .where(_HEAD.c.id == CHAIN_HEAD_ID)
    .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
)

_PER_EVENT: dict[str, Any] = {
    "seq": Integer,
    "actor_user_id": Integer,
    "actor_role": String,
    "origin": String,
    "action": String,
    "entity_type": String,
    "entity_id": String,
    "patient_id": Integer,
    "details_text": Text,
    "records_text": Text,
    "prev_hash": String,
    "hash": String,
}
"""The values of each appended event but its time, which all the events of an append share."""


def _stored(name: str, value: Any) -> Any:
    """An event's value as PostgreSQL stores it: ``details`` and ``records`` as their
    canonical text, cast to ``json`` (which keeps it verbatim), as :func:`_insert_events`
    stores them on SQLite."""
    return cast_to(value, JSON) if name in ("details_text", "records_text") else value


def _stored_column(name: str) -> str:
    return name.removesuffix("_text")


def _append_on_postgres(appended: Any) -> Update:
    """PostgreSQL: ``appended`` (an insert of events) and the head's move as one statement
    (a writable CTE): one round trip, where the insert and the update took one each while
    the head was locked."""
    return _MOVE_HEAD.add_cte(appended.cte("appended"))


def _append_one() -> Update:
    """One event, its values bound as they are."""
    values = {
        _stored_column(name): _stored(name, bindparam(name, type_=kind))
        for name, kind in _PER_EVENT.items()
    }
    occurred_at = bindparam("occurred_at", type_=_EVENTS.c.occurred_at.type)
    return _append_on_postgres(insert(_EVENTS).values(**values, occurred_at=occurred_at))


def _append_many() -> Update:
    """Any number of events, each value bound as one array per column and unnested in order:
    one statement whatever their number (a multi-row ``VALUES`` would need a statement per
    number, and PostgreSQL takes at most 65,535 parameters). For one event it costs more
    than :func:`_append_one` (a transaction locking the head and appending one event took
    0.77 ms against 0.42, and more of the client's CPU), so it is used for more only."""
    given = (
        func.unnest(*(bindparam(name, type_=ARRAY(kind)) for name, kind in _PER_EVENT.items()))
        .table_valued(
            *(column(name, kind) for name, kind in _PER_EVENT.items()), with_ordinality="position"
        )
        .render_derived()
    )
    events = select(
        bindparam("occurred_at", type_=_EVENTS.c.occurred_at.type),
        *(_stored(name, given.c[name]) for name in _PER_EVENT),
    ).order_by(given.c.position)
    inserted = ["occurred_at", *map(_stored_column, _PER_EVENT)]
    return _append_on_postgres(insert(_EVENTS).from_select(inserted, events))


_APPEND_ONE = _append_one()
_APPEND_MANY = _append_many()


def append_audit_events(
    db: Session,
    entries: Iterable[AuditEntry],
    now: datetime,
    written: Mapping[str, Iterable[int]] | None = None,
) -> None:
    """Chain ``entries`` onto the audit trail inside the database session's transaction.

    ``written``: the covered rows the transaction wrote, ``{table: ids}``; the last entry
    names their versions as they are now (:func:`~ketaplan.store.audit_records.records_written`).

    On PostgreSQL the head is locked in the round trip that reads those rows, and the events
    are inserted and the head moved in the next: two round trips, only the second (and the
    commit) under the lock, where there were a statement per written table, the lock, the
    insert and the head's update. On SQLite, whose write turn already serialises writers,
    each is a statement of its own."""
    entries = list(entries)
    if not entries:
        return
    connection = db.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        records, heads = records_written_with(connection, written or {}, _LOCK_HEAD)
    else:
        records = records_written(connection, written or {})
        heads = list(connection.execute(_LOCK_HEAD))
    if not heads:  # pragma: no cover - the initial migration creates it
        raise RuntimeError("the audit chain head row is missing; was the database migrated?")
    if records:
        entries[-1] = replace(entries[-1], records=records)
    seq: int
    last_hash: str
    seq, last_hash = heads[0]
    occurred_at = now.astimezone(UTC)
    rows = []
    for entry in entries:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_user_id": entry.actor_user_id,
            "actor_role": entry.actor_role,
            "origin": entry.origin,
            "action": entry.action,
            "entity_type": entry.entity_type,
            "entity_id": entry.entity_id,
            "patient_id": entry.patient_id,
            # Hashed as stored: tuples become lists, keys sort the same way.
            "details": json.loads(canonical_json(dict(entry.details))),
            "records": [dict(record) for record in entry.records] or None,
            "prev_hash": last_hash,
        }
        row["hash"] = last_hash = chain_hash(last_hash, _hashed(row))
        row["details_text"] = canonical_json(row.pop("details"))
        hashed_records = row.pop("records")
        row["records_text"] = None if hashed_records is None else canonical_json(hashed_records)
        rows.append(row)
    moved = {"new_seq": seq, "new_hash": last_hash}
    if not postgres:
        connection.execute(_INSERT_EVENTS, rows)
        connection.execute(_MOVE_HEAD, moved)
    elif len(rows) == 1:
        connection.execute(_APPEND_ONE, {**rows[0], **moved})
    else:
        arrays = {name: [row[name] for row in rows] for name in _PER_EVENT}
        connection.execute(_APPEND_MANY, {**arrays, "occurred_at": occurred_at, **moved})


_HASHED_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_user_id",
    "actor_role",
    "origin",
    "action",
    "entity_type",
    "entity_id",
    "patient_id",
    "details",
    "records",
)
"""The columns a row's hash covers: all but ``id``, ``prev_hash`` and ``hash``; ``records``
only when it is not NULL, so the events written before it existed keep their hashes."""


def _hashed(row: Mapping[str, Any]) -> dict[str, object]:
    fields: dict[str, object] = {column: row[column] for column in _HASHED_COLUMNS}
    fields["occurred_at"] = row["occurred_at"].astimezone(UTC).isoformat()
    if fields["records"] is None:
        del fields["records"]
    return fields


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Where the chain breaks, and how."""

    seq: int
    event_id: int | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "event_id": self.event_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class VerifiedPosition:
    """A place in the chain already verified: its sequence number and hash. A later check can
    start there instead of at the first event (``ketaplan audit verify`` keeps the last one)."""

    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """The result of walking the chain: the events verified (the first ``from_seq - 1`` of them
    by an earlier check), the last hash, and the first break if any."""

    checked: int
    last_hash: str
    broken: BrokenLink | None = None
    from_seq: int = 1
    records: tuple[RecordProblem, ...] = ()
    """Records changed, deleted or inserted outside ketaplan (see store.audit_records)."""

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.records

    @property
    def position(self) -> VerifiedPosition:
        return VerifiedPosition(self.checked, self.last_hash)

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "from_seq": self.from_seq,
            "last_hash": self.last_hash,
            "broken": self.broken.to_dict() if self.broken else None,
            "records": [problem.to_dict() for problem in self.records],
        }


def _walked(dialect: str) -> tuple[Any, ...]:
    """The columns a walk reads: the time as UTC text in one shape on both databases
    (:func:`~ketaplan.store.audit_records.utc_time_text`, turned into the hashed form by
    cutting and joining), and the JSON as the text stored (PostgreSQL's ``json`` keeps it
    verbatim): hashed as it is when it is the canonical text (:func:`_spliced`), parsed only
    when it is not."""
    return (
        _EVENTS.c.id,
        _EVENTS.c.prev_hash,
        _EVENTS.c.hash,
        *(
            utc_time_text(_EVENTS.c[column], dialect)
            if column == "occurred_at"
            else cast_to(_EVENTS.c[column], Text)
            if column in ("details", "records")
            else _EVENTS.c[column]
            for column in _HASHED_COLUMNS
        ),
    )


_WALK = {
    dialect: select(*_walked(dialect))
    .where(_EVENTS.c.seq > bindparam("after_seq"), _EVENTS.c.seq <= bindparam("head_seq"))
    .order_by(_EVENTS.c.seq)
    for dialect in ("sqlite", "postgresql")
}


def _sqlite_text_walk() -> str:
    """The walk's statement on SQLite with each event's hashed text written by SQLite:
    ``prev_hash`` and the canonical JSON of its fields, as UTF-8 bytes ready to hash.

    SQLite's ``json_object`` writes the fields in the order given (the canonical order: sorted
    keys) with no spaces, each value quoted as Python's encoder quotes it (quote, backslash,
    control characters escaped; other text as it is), integers as digits, NULL as ``null``;
    ``json`` puts the stored details and records in as JSON (minified, as they are stored), the
    time in its hashed form (:func:`utc_time_text`). One C call per event instead of two dozen
    concatenations is what makes this walk several times faster than the ORM walk it replaced.

    The text is NULL for the records-covered event (its details go to the ledger); an event
    whose text does not hash to its hash is walked the exact way (:func:`_walk_trail`), and so
    is the rest of the stretch when SQLite cannot write an event's text at all (a BLOB, details
    that are not JSON), so this can only save time. A text that hashes right is the text
    appended: ``json_object`` is a JSON encoding that keeps types apart (the text ``"5"`` and
    the number ``5`` are written differently), so different values never give the same text.
    Stored details written differently but meaning the same (other spacing) read as the same
    details, as they do parsed: what the chain vouches for is the event's content."""
    at = utc_time_text(_EVENTS.c.occurred_at, "sqlite").compile(
        dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}
    )

    def fields(with_records: bool) -> str:
        values = {
            "action": "action",
            "actor_role": "actor_role",
            "actor_user_id": "actor_user_id",
            "details": "json(details)",
            "entity_id": "entity_id",
            "entity_type": "entity_type",
            "occurred_at": str(at),
            "origin": "origin",
            "patient_id": "patient_id",
            **({"records": "json(records)"} if with_records else {}),
            "seq": "seq",
        }
        return "json_object(" + ", ".join(f"'{k}', {v}" for k, v in values.items()) + ")"

    return (
        f"SELECT seq, prev_hash, hash, CASE WHEN action = '{COVERED_ACTION}' THEN NULL "
        f"ELSE CAST(prev_hash || CASE WHEN records IS NULL THEN {fields(False)} "
        f"ELSE {fields(True)} END AS BLOB) END, records FROM audit_event "
        "WHERE seq > ? AND seq <= ? ORDER BY seq"
    )


_SQLITE_TEXT_WALK = _sqlite_text_walk()


def _postgres_digest_walk() -> str:
    """The walk's statement on PostgreSQL with each event's hash computed there: the SHA-256
    of ``prev_hash`` and the canonical JSON of its fields as :func:`_spliced` writes them
    (strings by ``to_json``, which escapes as Python's encoder does; the stored JSON text
    spliced in; the time as :func:`~ketaplan.store.audit_records.utc_time_text` writes it).

    Python then compares one digest per event with its hash instead of reading fourteen
    columns and writing the text. The digest is NULL for the records-covered event (its
    details go to the ledger) and for a NOT NULL column found NULL: such an event, and one
    whose digest is not its hash, is walked the exact way (:func:`_walk_trail`), so this can
    only save time. A digest that is the event's hash is of the text appended: ``to_json``,
    like Python's encoder, is a JSON encoding, so two different values never give the same
    text. Every function and operator is named by its schema
    (:func:`~ketaplan.store.audit_records.postgres_concat`)."""

    def nullable(value: str, column: str) -> str:
        return f"CASE WHEN {column} IS NULL THEN 'null' ELSE {value} END"

    text = PostgresLiteral
    written = postgres_concat(
        "prev_hash",
        text('{"action":'),
        postgres_quoted("action"),
        text(',"actor_role":'),
        nullable(postgres_quoted("actor_role"), "actor_role"),
        text(',"actor_user_id":'),
        nullable("actor_user_id::text", "actor_user_id"),
        text(',"details":'),
        "details::text",
        text(',"entity_id":'),
        postgres_quoted("entity_id"),
        text(',"entity_type":'),
        postgres_quoted("entity_type"),
        text(',"occurred_at":"'),
        postgres_utc_time_sql("occurred_at"),
        text('","origin":'),
        postgres_quoted("origin"),
        text(',"patient_id":'),
        nullable("patient_id::text", "patient_id"),
        text(","),
        "CASE WHEN records IS NULL THEN '' ELSE "
        + postgres_concat(text('"records":'), "records::text", text(","))
        + " END",
        text('"seq":'),
        "seq::text",
        text("}"),
    )
    return (
        f"SELECT id, seq, prev_hash, hash, CASE WHEN action = '{COVERED_ACTION}' THEN NULL "
        f"ELSE {postgres_sha256_hex(f'({written})')} END, records::text FROM audit_event "
        "WHERE seq > %s AND seq <= %s ORDER BY seq"
    )


_POSTGRES_DIGEST_WALK = _postgres_digest_walk()
EXACT_STRETCH = 10_000
"""Events walked the exact way after one the fast way did not verify, before trying the fast
way again: a trail written before its JSON was stored canonically is long runs of such
events, and starting over per event would cost more than walking them the old way."""


def _walk_trail(
    connection: Connection,
    start: VerifiedPosition,
    head_seq: int,
    ledger: RecordLedger,
    batch_size: int,
) -> ChainVerification:
    """The events after ``start`` up to ``head_seq``, checked and noted in ``ledger``: the
    fast way (:func:`_walk_texts`: SQLite writes each event's text, PostgreSQL its digest) as
    far as it verifies, then the next events the exact way (:func:`_walk`), and so on."""
    dialect = connection.dialect.name
    position = start
    while True:
        position, stopped = _walk_texts(connection, position, head_seq, ledger, batch_size)
        if not stopped:
            return ChainVerification(position.seq, position.hash, None, start.seq + 1)
        bounds = {"after_seq": position.seq, "head_seq": head_seq}
        with driver_rows(connection, _WALK[dialect], batch_size, bounds) as rows:
            exact = _walk(islice(rows, EXACT_STRETCH), position, ledger)
        if exact.broken is not None:
            return replace(exact, from_seq=start.seq + 1)
        position = exact.position


def _walk_texts(
    connection: Connection,
    start: VerifiedPosition,
    head_seq: int,
    ledger: RecordLedger,
    batch_size: int,
) -> tuple[VerifiedPosition, bool]:
    """Events hashed as SQLite writes their text (:data:`_SQLITE_TEXT_WALK`), or as PostgreSQL
    hashes it (:data:`_POSTGRES_DIGEST_WALK`), from the one after ``start``, up to the first
    one this way does not verify: the position reached, and whether it stopped there (that
    event is left to the exact way)."""
    if connection.dialect.name == "postgresql":
        return _walk_digests(connection, start, head_seq, ledger, batch_size)
    driver: Any = connection.connection.dbapi_connection
    cursor = driver.cursor()
    expected_seq = start.seq + 1
    prev_hash = start.hash
    hashed = sha256
    loads = _SCAN
    latest = ledger.latest
    try:
        for seq, event_prev_hash, event_hash, text, records in cursor.execute(
            _SQLITE_TEXT_WALK, (start.seq, head_seq)
        ):
            if (
                text is None
                or seq != expected_seq
                or event_prev_hash != prev_hash
                or hashed(text).hexdigest() != event_hash
            ):
                return VerifiedPosition(expected_seq - 1, prev_hash), True
            if records is not None:
                for record in loads(records, 0)[0]:
                    by_id = latest.get(record["table"])
                    if by_id is not None:
                        by_id[int(record["id"])] = (record["hash"], seq)
            prev_hash = event_hash
            expected_seq += 1
    except sqlite3.OperationalError:  # an event SQLite cannot write as JSON: the exact way
        return VerifiedPosition(expected_seq - 1, prev_hash), True
    finally:
        cursor.close()
    return VerifiedPosition(expected_seq - 1, prev_hash), False


def _walk_digests(
    connection: Connection,
    start: VerifiedPosition,
    head_seq: int,
    ledger: RecordLedger,
    batch_size: int,
) -> tuple[VerifiedPosition, bool]:
    """:func:`_walk_texts` on PostgreSQL: each event's digest as the server computes it,
    through a server-side cursor, ``batch_size`` rows a round trip, a batch at a time
    (iterating the cursor row by row cost as much as the rest of the walk)."""
    driver: Any = connection.connection.dbapi_connection
    cursor = driver.cursor(name=f"ketaplan_walk_{uuid.uuid4().hex}")
    expected_seq = start.seq + 1
    prev_hash = start.hash
    loads = _SCAN
    latest = ledger.latest
    try:
        cursor.execute(_POSTGRES_DIGEST_WALK, (start.seq, head_seq))
        while batch := cursor.fetchmany(batch_size):
            for _id, seq, event_prev_hash, event_hash, digest, records in batch:
                if digest != event_hash or seq != expected_seq or event_prev_hash != prev_hash:
                    return VerifiedPosition(expected_seq - 1, prev_hash), True
                if records is not None:
                    for record in loads(records, 0)[0]:
                        by_id = latest.get(record["table"])
                        if by_id is not None:
                            by_id[int(record["id"])] = (record["hash"], seq)
                prev_hash = event_hash
                expected_seq += 1
    finally:
        cursor.close()
    return VerifiedPosition(expected_seq - 1, prev_hash), False


_SCAN: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
"""The decoder's scanner, without the checks of ``json.loads`` around it: for the records text
of an event whose hash matched, so the text is what was hashed (canonical JSON)."""


def _json(stored: object) -> Any:
    """A JSON column as the driver gives it: SQLite's text, or PostgreSQL's parsed value."""
    return json.loads(stored) if isinstance(stored, str) else stored


def _utc_iso(stored: datetime | str) -> str:
    """The hashed form of ``occurred_at``: PostgreSQL's aware time, or SQLite's UTC text."""
    if isinstance(stored, str):  # stored in UTC already
        return sqlite_utc_iso(stored)
    return stored.astimezone(UTC).isoformat()


_QUOTED = encode_basestring
"""A string as the canonical encoder writes it (``ensure_ascii=False``), without its layers."""


def _scalar(value: object) -> str:
    """One column's value as :func:`canonical_json` writes it."""
    if value is None:
        return "null"
    if value.__class__ is str:
        return _QUOTED(value)
    if value.__class__ is int:
        return int.__repr__(value)
    return canonical_json(value)


def _spliced(values: Sequence[Any], occurred_at: str) -> str:
    """The canonical JSON of an event's hashed fields, written out key by key in sorted order
    with ``details`` and ``records`` spliced in as the text stored. It equals
    ``canonical_json(fields)`` whenever that text is itself canonical (every event appended
    since they are stored so); a hash that matches it proves the stored text is what was
    hashed, as surely as parsing and re-encoding it would."""
    (
        seq,
        _at,
        user_id,
        role,
        origin,
        action,
        entity_type,
        entity_id,
        patient_id,
        details,
        records,
    ) = values
    return (
        f'{{"action":{_scalar(action)},"actor_role":{_scalar(role)},'
        f'"actor_user_id":{_scalar(user_id)},"details":{details},'
        f'"entity_id":{_scalar(entity_id)},"entity_type":{_scalar(entity_type)},'
        f'"occurred_at":{_QUOTED(occurred_at)},"origin":{_scalar(origin)},'
        f'"patient_id":{_scalar(patient_id)},'
        + ("" if records is None else f'"records":{records},')
        + f'"seq":{_scalar(seq)}}}'
    )


def _parsed(values: Sequence[Any], occurred_at: str) -> dict[str, Any]:
    """The event's hashed fields with the JSON parsed: what :func:`chain_hash` hashed when the
    event was appended (events stored before the text was canonical are checked this way)."""
    fields: dict[str, Any] = dict(zip(_HASHED_COLUMNS, values, strict=True))
    fields["occurred_at"] = occurred_at
    fields["details"] = _json(fields["details"])
    fields["records"] = _json(fields["records"])
    if fields["records"] is None:
        del fields["records"]
    return fields


def _walk(
    rows: Iterable[Sequence[Any]], start: VerifiedPosition, ledger: RecordLedger
) -> ChainVerification:
    """Check each row's sequence, link and hash, from the one after ``start``, and note in
    ``ledger`` the records each verified event wrote.

    Rows, not ORM objects: loading each event as an object cost more than hashing it. The
    usual event (in sequence, linked, its JSON stored as canonical text) is hashed in this
    loop as :func:`_spliced` writes it, with no call per column; anything else (an event
    stored before its text was canonical, a value of an unexpected type, a break) goes the
    exact way, :func:`_event_problem`."""
    expected_seq = start.seq + 1
    prev_hash = start.hash
    quoted = _QUOTED
    integer = int.__repr__
    hashed = sha256
    loads = _SCAN
    latest = ledger.latest
    spliced_last = True  # which way the last event matched: runs of old and new rows
    for row in rows:
        (
            event_id,
            event_prev_hash,
            event_hash,
            seq,
            at,
            user_id,
            role,
            origin,
            action,
            entity_type,
            entity_id,
            patient_id,
            details,
            records,
        ) = row
        matched = False
        if spliced_last and seq == expected_seq and event_prev_hash == prev_hash:
            try:
                text = (
                    f'{prev_hash}{{"action":{quoted(action)},"actor_role":'
                    f'{"null" if role is None else quoted(role)},"actor_user_id":'
                    f'{"null" if user_id is None else integer(user_id)},"details":{details},'
                    f'"entity_id":{quoted(entity_id)},"entity_type":{quoted(entity_type)},'
                    f'"occurred_at":{quoted(at)},"origin":{quoted(origin)},"patient_id":'
                    f"{'null' if patient_id is None else integer(patient_id)},"
                    + ("" if records is None else f'"records":{records},')
                    + f'"seq":{integer(seq)}}}'
                )
            except TypeError:
                pass
            else:
                matched = hashed(text.encode("utf-8")).hexdigest() == event_hash
        if matched and action != COVERED_ACTION:
            if records is not None:
                for record in loads(records, 0)[0]:
                    by_id = latest.get(record["table"])
                    if by_id is not None:
                        by_id[int(record["id"])] = (record["hash"], seq)
        else:
            values = row[3:]
            problem, parsed, spliced_last = _event_problem(
                values, expected_seq, prev_hash, event_prev_hash, event_hash, spliced_last
            )
            if problem:
                broken = BrokenLink(expected_seq, event_id, problem)
                return ChainVerification(expected_seq - 1, prev_hash, broken, start.seq + 1)
            if parsed is not None:  # parsed already to hash it
                ledger.note(seq, action, parsed["details"], parsed.get("records"))
            else:
                ledger.note(
                    seq,
                    action,
                    _json(details) if action == COVERED_ACTION else {},
                    None if records is None else _json(records),
                )
        prev_hash = event_hash
        expected_seq += 1
    return ChainVerification(expected_seq - 1, prev_hash, None, start.seq + 1)


def _event_problem(
    values: Sequence[Any],
    expected_seq: int,
    prev_hash: str,
    event_prev_hash: str,
    event_hash: str,
    spliced_last: bool,
) -> tuple[str | None, dict[str, Any] | None, bool]:
    """An event checked the exact way: what is wrong with it (or None), its fields if they
    were parsed to hash them, and which way it matched."""
    seq = values[0]
    if seq != expected_seq:
        problem = (
            f"audit event {expected_seq} is missing (the next row has sequence {seq})"
            if seq > expected_seq
            else f"sequence {seq} appears twice or out of order"
        )
        return problem, None, spliced_last
    if event_prev_hash != prev_hash:
        problem = (
            f"audit event {seq} does not link to event {expected_seq - 1}: its "
            "prev_hash differs from that row's hash (a row was removed, inserted or rehashed)"
        )
        return problem, None, spliced_last
    occurred_at = hashed_time(values[1])
    ways = (_spliced, _parsed) if spliced_last else (_parsed, _spliced)
    for way in ways:
        try:
            written = way(values, occurred_at)
            text = written if isinstance(written, str) else canonical_json(written)
        except (TypeError, ValueError):  # a value no event holds: not what was hashed
            continue
        if sha256((prev_hash + text).encode("utf-8")).hexdigest() == event_hash:
            return None, None if isinstance(written, str) else written, way is _spliced
    problem = (
        f"audit event {seq} was changed after it was written: its content no "
        "longer matches its hash"
    )
    return problem, None, spliced_last


def verify_audit_chain(
    db: Session,
    *,
    since: VerifiedPosition | None = None,
    anchor: VerifiedPosition | None = None,
    batch_size: int = 20_000,
) -> ChainVerification:
    """Walk the audit trail in sequence order and report the first row that breaks it, then
    the records changed, deleted or inserted outside ketaplan.

    ``since`` starts the walk after a position an earlier check verified: the row there must
    still carry the hash it had (a trail rewritten from that point on is caught), and only the
    rows after it are hashed. What lies before it is not checked again; a full walk does that.

    The head is read first and the walk stops at its sequence number, so events appended while
    the walk runs are left for the next check instead of looking like a mismatch (at READ
    COMMITTED on PostgreSQL each statement sees the latest commits). Rows are read in batches
    (a server-side cursor on PostgreSQL), so a long trail does not have to fit in memory.

    Records (:mod:`ketaplan.store.audit_records`): a full walk checks every row of the covered
    tables against the latest event that wrote it, and reports rows no event names; a walk
    ``since`` a position checks the rows the new events wrote. Run it in a transaction that
    reads one snapshot (``open_database(..., read_only=True)`` does) while a server writes:
    at READ COMMITTED a record updated after the walk would look changed.

    ``anchor`` is a position kept outside the database (``ketaplan audit anchor``): the trail
    must still hold that event with that hash, which catches events cut from the end with
    the head set back to match.
    """
    head = db.execute(
        select(AuditChainHead.last_seq, AuditChainHead.last_hash).where(
            AuditChainHead.id == CHAIN_HEAD_ID
        )
    ).one_or_none()
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, "")
    start = since or VerifiedPosition(0, GENESIS_HASH)
    if start.seq:
        kept = db.scalar(select(_EVENTS.c.hash).where(_EVENTS.c.seq == start.seq))
        if kept != start.hash:
            return ChainVerification(
                0,
                GENESIS_HASH,
                BrokenLink(
                    start.seq,
                    None,
                    f"audit event {start.seq} "
                    + ("is gone" if kept is None else "no longer has the hash it had")
                    + " when it was last verified: the trail was cut or rewritten from there "
                    "(or this is another database; after a restore, check it with --full)",
                ),
                start.seq,
            )
    connection = db.connection()
    # A full check hashes the records in a second process meanwhile where that is worth it.
    beside = None if start.seq else start_row_hashing(connection, (head_seq, head_hash))
    try:
        return _verified(db, connection, start, head, anchor, beside, batch_size)
    finally:
        if beside is not None:
            beside.stop()


def _verified(
    db: Session,
    connection: Connection,
    start: VerifiedPosition,
    head: Any,
    anchor: VerifiedPosition | None,
    beside: RowHashing | None,
    batch_size: int,
) -> ChainVerification:
    """:func:`verify_audit_chain` from ``start`` to the ``head`` it read: the walk, the head,
    the anchor, then the records (hashed by ``beside`` if it read the same head)."""
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, "")
    ledger = RecordLedger.empty()
    walked = _walk_trail(connection, start, head_seq, ledger, batch_size)
    if walked.broken is not None:
        return walked
    # Rows past the head: appends committed during the walk (the head has moved on since),
    # or rows slipped in without the head. The highest sequence is read before the head again,
    # so an append committing in between only moves the head further.
    beyond = db.scalar(select(func.max(AuditEvent.seq)).where(AuditEvent.seq > head_seq))
    if beyond is not None:
        head_now = db.scalar(
            select(AuditChainHead.last_seq).where(AuditChainHead.id == CHAIN_HEAD_ID)
        )
        if head_now is None or head_now < beyond:
            return ChainVerification(
                walked.checked,
                walked.last_hash,
                BrokenLink(
                    head_seq + 1,
                    None,
                    f"audit events up to {beyond} exist past the chain head ({head_now}): rows "
                    "were added outside ketaplan, or the head was set back",
                ),
                walked.from_seq,
            )
    if head is None or head_seq != walked.checked or head_hash != walked.last_hash:
        return ChainVerification(
            walked.checked,
            walked.last_hash,
            BrokenLink(
                max(head_seq, walked.checked),
                None,
                f"the chain head records {head_seq} audit events, but the chain ends at "
                f"event {walked.checked}: events were removed from the end, or the head was "
                "changed",
            ),
            walked.from_seq,
        )
    if anchor is not None:
        kept = db.scalar(select(_EVENTS.c.hash).where(_EVENTS.c.seq == anchor.seq))
        if kept != anchor.hash:
            return replace(walked, broken=_anchor_missed(anchor, kept, walked.checked))
    if start.seq:
        problems = check_written(connection, ledger)
    else:
        hashes = beside.result() if beside is not None else None
        problems = check_all(connection, ledger, hashed=hashes.digests if hashes else None)
    return replace(walked, records=tuple(problems))


def _anchor_missed(anchor: VerifiedPosition, kept: str | None, head_seq: int) -> BrokenLink:
    if kept is None and anchor.seq > head_seq:
        reason = (
            f"the anchor names audit event {anchor.seq}, but the trail ends at event "
            f"{head_seq}: events were removed from the end and the chain head set back"
        )
    elif kept is None:
        reason = f"the anchor's audit event {anchor.seq} is gone from the trail"
    else:
        reason = (
            f"audit event {anchor.seq} no longer has the anchored hash: the trail was "
            "rewritten from there (or this is another database)"
        )
    return BrokenLink(anchor.seq, None, reason)


@dataclass(frozen=True, slots=True)
class ChainAnchor:
    """The chain head as ``ketaplan audit anchor`` prints it: to keep outside the database."""

    seq: int
    hash: str
    occurred_at: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "occurred_at": self.occurred_at,
            "anchor": f"{self.seq}:{self.hash}" if self.seq else None,
        }


def chain_anchor(db: Session) -> ChainAnchor:
    """The chain head and when its event was written (the head as the head row records it;
    ``audit verify`` checks that the two agree)."""
    head = db.execute(
        select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == CHAIN_HEAD_ID)
    ).one_or_none()
    if head is None or head.last_seq == 0:
        return ChainAnchor(0, GENESIS_HASH, None)
    written = db.scalar(
        select(type_coerce(_EVENTS.c.occurred_at, String)).where(_EVENTS.c.seq == head.last_seq)
    )
    return ChainAnchor(head.last_seq, head.last_hash, _utc_iso(written) if written else None)
