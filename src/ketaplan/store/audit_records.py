"""The records the audit chain covers: each write names the row versions it left, by hash.

The chain alone proves that no audit *event* was changed; it says nothing of the records the
events describe. So every write transaction's last audit event carries, in its ``records``
column (hashed into the chain with the rest of the event), each row the transaction inserted,
updated or deleted in the covered tables as ``{"table": ..., "id": ..., "hash": ...}``: the
SHA-256 of the row as the database holds it at commit (:func:`row_hash`), or ``None`` for a
row the transaction deleted. The unit of work collects them
(:mod:`ketaplan.services.unit_of_work`): every row flushed from the session's objects
automatically, and rows changed by a statement (a Core ``insert``/``update``/``delete``) as the
service names them with ``uow.wrote(...)``.

A row's current content is then accountable to the *latest* event that wrote it (a row
ketaplan updates in place, a patient's version or a course's schedule, gets a new hash with
each update), and :func:`check_all` (or :func:`check_written`, for the rows new events wrote)
compares: a row whose hash differs was changed outside ketaplan, a row missing was deleted
outside it, a row no event names was inserted outside it.

What a row's hash covers: every column, by name, leaving out NULLs (so that a migration adding
a nullable column does not change the hash of the rows written before it): times as UTC ISO
text, JSON columns by the SHA-256 of the text stored. A migration that rewrites covered rows
(fills a new column, converts JSON to ``jsonb``) must record their new hashes in an event of
its own.

Rows written before records were covered (an upgraded database) are named by no event. The
migration that introduced this (0010) recorded, in the chain, the highest id of each covered
table at that moment (``audit.records_covered``): rows up to it are not reported as unaccounted;
those written by ketaplan again since are covered from then on. On a database created since,
every row must be accounted for.

Not covered: the audit chain itself (it covers itself), sign-in bookkeeping
(``access_token``, ``sign_in_throttle``: tokens are stored hashed and expire) and the schema
version.

Examples
--------
>>> row_hash({"id": 1, "weight_kg": 80.0, "note": None})[:12]
'bd1b0dda7129'
>>> row_hash({"id": 1, "weight_kg": 80.0}) == row_hash({"id": 1, "weight_kg": 80.0, "x": None})
True
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    Table,
    Text,
    any_,
    bindparam,
    case,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy import cast as cast_to
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler

from ketaplan.store.models import (
    Base,
    BookingEvent,
    Clinic,
    CourseBooking,
    InfusionPlan,
    InfusionSession,
    Item9Review,
    LedgerContainer,
    LedgerEntry,
    OrderEvent,
    OutboxMessage,
    Patient,
    PatientLink,
    PatientVersion,
    QuestionnaireResponse,
    Screening,
    SessionEvent,
    TitrationDecision,
    TitrationRecommendation,
    TreatmentCourse,
    User,
)
from ketaplan.store.types import UTCDateTime

COVERED_MODELS: tuple[type[Base], ...] = (
    Clinic,
    User,
    Patient,
    PatientVersion,
    Screening,
    InfusionPlan,
    OrderEvent,
    TreatmentCourse,
    CourseBooking,
    BookingEvent,
    InfusionSession,
    SessionEvent,
    QuestionnaireResponse,
    TitrationRecommendation,
    TitrationDecision,
    PatientLink,
    LedgerContainer,
    LedgerEntry,
    OutboxMessage,
    Item9Review,
)
TABLES: dict[str, Table] = {
    model.__tablename__: cast(Table, model.__table__) for model in COVERED_MODELS
}
"""The covered tables by name: the clinic's records, staff and settings."""

COVERED_ACTION = "audit.records_covered"
"""The event migration 0010 appended to a trail that already had records (see above)."""

_BATCH = 500  # ids per IN (...) read: well under every driver's limit on bound parameters


def _is_time(column: Column[Any]) -> bool:
    return isinstance(column.type, UTCDateTime | DateTime)


def _read_columns(table: Table) -> list[Any]:
    """A table's columns as read for hashing. JSON as the text stored (SQLite and PostgreSQL's
    ``json`` type keep it verbatim): parsing it and writing it out again canonically cost more
    than the rest of the hashing. Times and dates as the driver gives them (SQLite's text is
    parsed once by :func:`_plain`, not by the column type's regular expression); the rest
    through its type (booleans as booleans on both)."""
    return [
        cast_to(column, Text).label(column.name)
        if isinstance(column.type, JSON)
        else type_coerce(column, String).label(column.name)
        if _is_time(column) or isinstance(column.type, Date)
        else column
        for column in table.columns
    ]


# Built once: a write hashes its rows in every transaction.
_READ_BY_IDS = {
    name: select(*_read_columns(table)).where(table.c.id.in_(bindparam("ids", expanding=True)))
    for name, table in TABLES.items()
}
_READ_ALL = {
    name: select(*_read_columns(table)).order_by(table.c.id) for name, table in TABLES.items()
}


_KINDS: dict[str, dict[str, str]] = {
    name: {
        column.name: "time" if _is_time(column) else "json"
        for column in table.columns
        if _is_time(column) or isinstance(column.type, JSON)
    }
    for name, table in TABLES.items()
}
"""The columns of each table that :func:`_plain` treats apart: times, and JSON text."""


_AS_IS = frozenset({int, str, bool})
"""The types most columns hold, which hash as they come."""

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""One encoder for every row (``json.dumps`` with these options builds a new one each call)."""


_SQLITE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")
"""How SQLAlchemy writes a time on SQLite (in UTC here): ``2026-12-01 09:00:00.000000``."""


def sqlite_utc_iso(stored: str) -> str:
    """A UTC time as SQLite stores it, in the form hashed: ``datetime.isoformat`` of the aware
    time (``2026-12-01T09:00:00+00:00``; microseconds only when there are some). Text of the
    stored shape is rewritten as text (parsing it cost a fifth of a walk); anything else is
    parsed."""
    if len(stored) == 26 and _SQLITE_TIME.fullmatch(stored):
        if stored.endswith(".000000"):
            return f"{stored[:10]}T{stored[11:19]}+00:00"
        return f"{stored[:10]}T{stored[11:]}+00:00"
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).isoformat()


def utc_time_text(column: Any, dialect: str) -> Any:
    """A time column read in its hashed form, ``datetime.isoformat`` of the UTC time
    (``2026-12-01T09:00:00+00:00``, microseconds only when there are some), written by the
    database instead of by a Python call per value.

    SQLite: the stored text of the shape SQLAlchemy writes (26 characters, a space at 10, a
    point at 19) cut and joined exactly as :func:`sqlite_utc_iso` does; text of any other
    shape comes back as it is behind a ``!``, for :func:`hashed_time` to parse. PostgreSQL:
    ``to_char`` of the UTC time with its microseconds, without them when they are zero.
    Either way two different times give two different texts, so a changed time never hashes
    like the one written. NULL stays NULL."""
    if dialect == "postgresql":
        written = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
        return type_coerce(func.replace(written, ".000000+", "+"), String)
    stored = type_coerce(column, String)
    return type_coerce(
        case(
            (
                (func.length(stored) == 26)
                & (func.substr(stored, 11, 1) == " ")
                & (func.substr(stored, 20, 1) == "."),
                func.substr(stored, 1, 10, type_=String)
                + "T"
                + case(
                    (
                        func.substr(stored, 20) == ".000000",
                        func.substr(stored, 12, 8, type_=String),
                    ),
                    else_=func.substr(stored, 12, type_=String),
                )
                + "+00:00",
            ),
            else_=literal("!", String) + stored,
        ),
        String,
    )


def hashed_time(read: str) -> str:
    """The hashed form of a time read through :func:`utc_time_text`: as it is, or, for text
    of another shape (behind a ``!``), parsed as :func:`sqlite_utc_iso` does; text that is no
    time at all stays as read (a row tampered so hashes differently and is reported, it does
    not stop the check)."""
    if not read.startswith("!"):
        return read
    try:
        return sqlite_utc_iso(read[1:])
    except ValueError:
        return read


def _plain(value: object, kind: str | None) -> object:
    """One form per value, whichever database it came from. JSON text stands in the row's
    form by its own SHA-256: escaping a plan's kilobytes of JSON into the row's JSON cost more
    than all the rest."""
    if kind is None and value.__class__ in _AS_IS:
        return value
    if kind == "json":
        return hashlib.sha256(str(value).encode("utf-8")).hexdigest()
    if kind == "time" and isinstance(value, str):  # SQLite: UTC text
        return sqlite_utc_iso(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # not JSON; a row tampered to NaN must still hash, not crash
    return value


def _hash_fields(fields: Mapping[str, object]) -> str:
    return hashlib.sha256(_CANONICAL.encode(fields).encode("utf-8")).hexdigest()


def row_hash(row: Mapping[Any, object], kinds: Mapping[str, str] | None = None) -> str:
    """SHA-256 of a row's canonical JSON: every non-NULL column by name (``kinds``: the
    columns that are times or JSON text, see :data:`_KINDS`)."""
    kinds = kinds or {}
    return _hash_fields(
        {name: _plain(value, kinds.get(name)) for name, value in row.items() if value is not None}
    )


def _hashed_rows(
    connection: Connection, table: Table, ids: Iterable[int]
) -> Iterator[tuple[int, str]]:
    """``(id, hash)`` of the rows of ``table`` with these ids that exist, in batches."""
    wanted = sorted(set(ids))
    kinds = _KINDS[table.name]
    statement = _READ_BY_IDS[table.name]
    for start in range(0, len(wanted), _BATCH):
        batch = wanted[start : start + _BATCH]
        for row in connection.execute(statement, {"ids": batch}).mappings():
            yield row["id"], row_hash(row, kinds)


def _written_ids(written: Mapping[str, Iterable[int]]) -> dict[str, list[int]]:
    """The rows a transaction wrote, by table in name order, each table's ids in order."""
    return {name: ids for name in sorted(written) if (ids := sorted(set(written[name])))}


def _records(
    wanted: Mapping[str, Sequence[int]], found: Mapping[str, Mapping[int, str]]
) -> list[dict[str, object]]:
    return [
        {"table": name, "id": id_, "hash": found[name].get(id_)}
        for name, ids in wanted.items()
        for id_ in ids
    ]


def records_written(
    connection: Connection, written: Mapping[str, Iterable[int]]
) -> list[dict[str, object]]:
    """The records a transaction wrote, as its audit event names them: each row's hash as it
    is now, inside the transaction, or ``None`` for a row that no longer exists (deleted)."""
    wanted = _written_ids(written)
    found = {
        name: dict(_hashed_rows(connection, TABLES[name], ids)) for name, ids in wanted.items()
    }
    return _records(wanted, found)


_READ_BY_ID_ARRAY = {
    name: select(*_read_columns(table)).where(
        table.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))
    )
    for name, table in TABLES.items()
}
"""PostgreSQL: :data:`_READ_BY_IDS` with the ids as one array, so each table's read is one
statement whatever the number of rows (and psycopg prepares it once)."""


def records_written_with(
    connection: Connection, written: Mapping[str, Iterable[int]], statement: Select[Any]
) -> tuple[list[dict[str, object]], list[Sequence[Any]]]:
    """PostgreSQL: :func:`records_written`, and the rows of ``statement`` (a module-level
    statement without parameters: the chain head, locked), read in one round trip
    (:func:`pipelined_rows`) instead of one per written table and one for ``statement``. The
    rows are read as :func:`records_written` reads them, in the same transaction, so each
    hash is the same."""
    wanted = _written_ids(written)
    reads: list[tuple[Select[Any], Mapping[str, object]]] = [
        (_READ_BY_ID_ARRAY[name], {"ids": ids}) for name, ids in wanted.items()
    ]
    *per_table, rows = pipelined_rows(connection, [*reads, (statement, {})])
    found: dict[str, dict[int, str]] = {}
    for name, table_rows in zip(wanted, per_table, strict=True):
        names = [column.name for column in _READ_BY_ID_ARRAY[name].selected_columns]
        kinds = _KINDS[name]
        hashed = (dict(zip(names, row, strict=True)) for row in table_rows)
        found[name] = {row["id"]: row_hash(row, kinds) for row in hashed}
    return _records(wanted, found), rows


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """A record whose current state no audit event accounts for."""

    table: str
    record_id: int
    seq: int | None
    """The audit event that last wrote it (None: no event names it)."""
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"table": self.table, "id": self.record_id, "seq": self.seq, "reason": self.reason}


@dataclass(slots=True)
class RecordLedger:
    """What the walked events say each covered row should be: its latest hash and event."""

    latest: dict[str, dict[int, tuple[str | None, int]]]
    legacy_max_id: dict[str, int]

    @classmethod
    def empty(cls) -> RecordLedger:
        return cls({name: {} for name in TABLES}, {})

    def note(
        self, seq: int, action: str, details: Mapping[str, Any], records: Iterable[Any] | None
    ) -> None:
        """Take in one event's records (later events replace earlier ones)."""
        if action == COVERED_ACTION:
            for name, max_id in details.get("legacy_max_id", {}).items():
                self.legacy_max_id[name] = int(max_id)
        for record in records or ():
            by_id = self.latest.get(record["table"])
            if by_id is not None:
                by_id[int(record["id"])] = (record["hash"], seq)


def _changed(table: str, record_id: int, expected: str | None, seq: int) -> RecordProblem:
    if expected is None:
        return RecordProblem(
            table,
            record_id,
            seq,
            f"{table} {record_id} was deleted by audit event {seq} but exists again: it was "
            "put back outside ketaplan",
        )
    return RecordProblem(
        table,
        record_id,
        seq,
        f"{table} {record_id} was changed outside ketaplan: it no longer matches the version "
        f"audit event {seq} wrote",
    )


def _gone(table: str, record_id: int, seq: int) -> RecordProblem:
    return RecordProblem(
        table,
        record_id,
        seq,
        f"{table} {record_id} was deleted outside ketaplan: audit event {seq} wrote it",
    )


def check_written(connection: Connection, ledger: RecordLedger) -> list[RecordProblem]:
    """Check only the rows the ledger's events wrote (an incremental check)."""
    problems: list[RecordProblem] = []
    for name, by_id in ledger.latest.items():
        if not by_id:
            continue
        found = dict(_hashed_rows(connection, TABLES[name], by_id))
        for record_id, (expected, seq) in sorted(by_id.items()):
            current = found.get(record_id)
            if current == expected:
                continue
            problems.append(
                _gone(name, record_id, seq)
                if current is None
                else _changed(name, record_id, expected, seq)
            )
    return problems


_COMPILED: dict[tuple[int, str], SQLCompiler] = {}
"""Statements read through the driver (a walk's, a write's read-backs), compiled once per
dialect (compiling them cost a tenth of a walk)."""


def _driver_statement(
    connection: Connection, statement: Select[Any], values: Mapping[str, object] | None
) -> tuple[str, Any, list[tuple[int, Any]]]:
    """``statement`` (a module-level statement: it is compiled once per dialect) as the
    driver takes it: its SQL text, its arguments, and the result conversions SQLAlchemy would
    apply to its columns (SQLite's booleans), by column index."""
    key = (id(statement), connection.dialect.name)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = _COMPILED[key] = statement.compile(dialect=connection.dialect)
    params = compiled.construct_params(values) or {}
    arguments: Any = (
        tuple(params[name] for name in compiled.positiontup or ())
        if compiled.positional
        else params
    )
    converters = [
        (index, convert)
        for index, column in enumerate(statement.selected_columns)
        if (convert := column.type.result_processor(connection.dialect, None)) is not None
    ]
    return str(compiled), arguments, converters


def _driver(connection: Connection) -> Any:
    driver = connection.connection.dbapi_connection
    if driver is None:  # pragma: no cover - an open connection has one
        raise RuntimeError("the connection is closed")
    return driver


@contextmanager
def driver_rows(
    connection: Connection,
    statement: Select[Any],
    batch_size: int,
    values: Mapping[str, object] | None = None,
) -> Iterator[Iterator[Sequence[Any]]]:
    """The rows of ``statement`` (a module-level statement: it is compiled once) as the driver
    gives them, in the connection's transaction (its snapshot), without a result object's
    layers around each row: a walk reads millions, and those layers cost as much as hashing
    them. On PostgreSQL through a server-side cursor, ``batch_size`` rows a round trip. The
    columns' result conversions (SQLite's booleans) are applied as SQLAlchemy applies them."""
    sql, arguments, converters = _driver_statement(connection, statement, values)
    driver = _driver(connection)
    if connection.dialect.name == "postgresql":
        cursor: Any = driver.cursor(name=f"ketaplan_walk_{uuid.uuid4().hex}")
        cursor.itersize = batch_size
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(sql, arguments)
        rows: Iterator[Sequence[Any]] = iter(cursor)
        if converters:
            rows = (_converted(row, converters) for row in rows)
        yield rows
    finally:
        cursor.close()


def pipelined_rows(
    connection: Connection, reads: Sequence[tuple[Select[Any], Mapping[str, object]]]
) -> list[list[Sequence[Any]]]:
    """PostgreSQL: the rows of each statement (module-level statements, each with its
    parameters), in the connection's transaction, all sent before any answer is awaited
    (psycopg's pipeline mode, which needs libpq 14 or later: psycopg[binary] brings its own):
    one round trip for them all, where each would otherwise wait for its own. The columns'
    result conversions are applied as SQLAlchemy applies them.

    Each statement is shown to the engine's ``before_cursor_execute`` and
    ``after_cursor_execute`` listeners (without an execution context), as every statement
    SQLAlchemy sends is, so that counting them (the tests do) still sees every one. A driver
    error is raised as SQLAlchemy raises it (an ``OperationalError`` is still a 503), and a
    lost connection is invalidated as SQLAlchemy invalidates it."""
    driver = _driver(connection)
    dbapi = connection.dialect.loaded_dbapi
    listeners = connection.dispatch
    sent: list[tuple[Any, str, Any, list[tuple[int, Any]]]] = []
    try:
        try:
            with driver.pipeline():
                for statement, values in reads:
                    sql, arguments, converters = _driver_statement(connection, statement, values)
                    cursor = driver.cursor()
                    for before in listeners.before_cursor_execute:
                        sql, arguments = before(connection, cursor, sql, arguments, None, False)
                    sent.append((cursor, sql, arguments, converters))
                    cursor.execute(sql, arguments)
            read = [cursor.fetchall() for cursor, *_ in sent]
        except dbapi.Error as failed:
            lost = connection.dialect.is_disconnect(failed, driver, None)
            if lost:
                connection.invalidate(failed)
            raise DBAPIError.instance(
                "; ".join(sql for _, sql, _, _ in sent),
                None,
                failed,
                dbapi.Error,
                connection_invalidated=lost,
                dialect=connection.dialect,
            ) from failed
        for cursor, sql, arguments, _ in sent:
            for after in listeners.after_cursor_execute:
                after(connection, cursor, sql, arguments, None, False)
    finally:
        for cursor, *_ in sent:
            cursor.close()
    return [
        [_converted(row, converters) for row in rows] if converters else rows
        for rows, (_, _, _, converters) in zip(read, sent, strict=True)
    ]


def _converted(row: Sequence[Any], converters: Sequence[tuple[int, Any]]) -> list[Any]:
    values = list(row)
    for index, convert in converters:
        values[index] = convert(values[index])
    return values


def _check_columns(table: Table, dialect: str) -> list[Any]:
    """A table's columns as :func:`check_all` reads them: as :func:`_read_columns`, except
    times as UTC text in one shape on both databases (:func:`utc_time_text`), and, on
    PostgreSQL, JSON as the SHA-256 of its text computed there (``sha256`` is built in since
    PostgreSQL 11): the same digest of the same bytes, the text the server sends in UTF-8,
    without sending a plan's kilobytes to be hashed in Python."""
    if dialect != "postgresql":
        return [
            utc_time_text(column, dialect).label(column.name) if _is_time(column) else read
            for column, read in zip(table.columns, _read_columns(table), strict=True)
        ]
    return [
        utc_time_text(column, dialect).label(column.name)
        if _is_time(column)
        else type_coerce(
            func.encode(func.sha256(func.convert_to(cast_to(column, Text), "UTF8")), "hex"),
            String,
        ).label(column.name)
        if isinstance(column.type, JSON)
        else read
        for column, read in zip(table.columns, _read_columns(table), strict=True)
    ]


_CHECK_ALL = {
    dialect: {
        name: select(*_check_columns(table, dialect)).order_by(table.c.id)
        for name, table in TABLES.items()
    }
    for dialect in ("sqlite", "postgresql")
}

_CHECKED = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
""":data:`_CANONICAL` refusing what :func:`_plain` writes otherwise (NaN, infinity): a row
:func:`check_all` hashes in one piece, falling back to :func:`row_hash` on what it refuses."""


def _one_piece_encoder() -> Callable[[object], str]:
    """:data:`_CHECKED`'s ``encode`` without the two Python calls around the C encoder per row
    (``encode`` and ``iterencode`` build a new C encoder each time); the same options, so the
    same text. Falls back to ``encode`` where the C encoder is missing."""
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # pragma: no cover - CPython has it
        return _CHECKED.encode
    written = make(
        None,  # no circular check: a row is a flat dict
        _CHECKED.default,
        json.encoder.encode_basestring,
        None,
        ":",
        ",",
        True,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    return lambda fields: "".join(written(fields, 0))


_ONE_PIECE = _one_piece_encoder()


def _sqlite_value(column: Column[Any]) -> str | None:
    """SQL writing a column's value as :func:`check_all`'s encoder writes it, NULL for a value
    of another type than expected; None for a column type SQLite cannot write so (a float:
    SQLite's digits are not Python's shortest ones, and fewer digits would let two floats read
    alike)."""
    name = f'"{column.name}"'
    if _is_time(column):
        return f"json_quote({_literal_sql(utc_time_text(column, 'sqlite'))})"
    if isinstance(column.type, Boolean):
        return (
            f"CASE WHEN typeof({name}) = 'integer' AND {name} = 1 THEN 'true' "
            f"WHEN typeof({name}) = 'integer' AND {name} = 0 THEN 'false' END"
        )
    if isinstance(column.type, Integer):
        return f"CASE typeof({name}) WHEN 'integer' THEN {name} END"
    if isinstance(column.type, String | Date):  # a date: the text stored, as read
        return f"CASE typeof({name}) WHEN 'text' THEN json_quote({name}) END"
    return None


def _literal_sql(expression: Any) -> str:
    return str(expression.compile(dialect=sqlite_dialect(), compile_kwargs={"literal_binds": True}))


def _sqlite_row_text(table: Table) -> str | None:
    """The statement reading each row of ``table`` as the text :func:`check_all` hashes, written
    by SQLite (every non-NULL column by name in sorted order, times in their hashed form):
    ``id, head, json, tail``, where the row's text is ``head``, the SHA-256 of the ``json``
    column's text (if the table has one, and it is not NULL), and ``tail``. The text is NULL
    for a row holding a value of an unexpected type; None for a table with a column SQLite
    cannot write (a float), or more than one JSON column. A row whose text does not hash to the
    hash its event recorded is checked again the exact way, so this can only save time."""
    columns = sorted(table.columns, key=lambda column: column.name)
    json_columns = [column for column in columns if isinstance(column.type, JSON)]
    if len(json_columns) > 1 or "id" not in table.columns:
        return None
    head: list[str] = ["'{'"]
    tail: list[str] = []
    written = head
    for column in columns:
        name = f'"{column.name}"'
        before_id = column.name < "id"
        key = f'"{column.name}":'
        if column.name == "id":
            written.append(f"'{key}' || {_sqlite_value(column)}")
            continue
        if isinstance(column.type, JSON):
            opening = f'{key}"' if before_id else f',{key}"'
            closing = '",' if before_id else '"'
            head.append(f"CASE WHEN {name} IS NULL THEN '' ELSE '{opening}' END")
            written = tail
            tail.append(f"CASE WHEN {name} IS NULL THEN '' ELSE '{closing}' END")
            continue
        value = _sqlite_value(column)
        if value is None:
            return None
        piece = f"'{key}' || {value} || ','" if before_id else f"',{key}' || {value}"
        written.append(f"CASE WHEN {name} IS NULL THEN '' ELSE {piece} END")
    tail.append("'}'")
    body = f'CAST("{json_columns[0].name}" AS BLOB)' if json_columns else "NULL"
    return (
        f"SELECT id, {' || '.join(head)}, {body}, {' || '.join(tail)} "
        f'FROM "{table.name}" ORDER BY id'
    )


SQLITE_ROW_TEXTS = {name: _sqlite_row_text(table) for name, table in TABLES.items()}
_CHECK_BY_IDS = {
    dialect: {
        name: statement.where(TABLES[name].c.id.in_(bindparam("ids", expanding=True)))
        for name, statement in _CHECK_ALL[dialect].items()
    }
    for dialect in ("sqlite", "postgresql")
}


class PostgresLiteral(str):
    """Text written into a PostgreSQL statement as a quoted literal by :func:`postgres_concat`
    (adjacent ones as one: each ``||`` copies the text built so far)."""


def postgres_concat(*parts: str) -> str:
    """SQL text pieces (expressions, or :class:`PostgresLiteral` text) joined by PostgreSQL's
    own ``||`` (NULL if any piece is NULL), named by its schema like every function the
    hashed texts call: a role whose ``search_path`` puts another schema first cannot slip in
    a look-alike that writes the texts appended."""
    joined: list[str] = []
    literal: list[str] = []
    for part in (*parts, None):
        if isinstance(part, PostgresLiteral):
            literal.append(part)
            continue
        if literal:
            quoted = "".join(literal).replace("'", "''")
            joined.append(f"'{quoted}'")
            literal = []
        if part is not None:
            joined.append(part)
    return " OPERATOR(pg_catalog.||) ".join(joined)


def postgres_sha256_hex(text_sql: str) -> str:
    """SQL for the SHA-256 of a text's UTF-8 bytes as 64 hex digits (``sha256`` is built in
    since PostgreSQL 11): what Python's ``hashlib.sha256(text.encode()).hexdigest()`` gives."""
    return f"pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to({text_sql}, 'UTF8')), 'hex')"


def postgres_utc_time_sql(column: str) -> str:
    """SQL for a ``timestamptz`` column in its hashed form, as :func:`utc_time_text` writes it
    on PostgreSQL (``to_char`` of the UTC time, without microseconds when they are zero)."""
    written = (
        f"pg_catalog.to_char(pg_catalog.timezone('UTC', {column}), "
        '\'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"\')'
    )
    return f"pg_catalog.replace({written}, '.000000+', '+')"


def postgres_quoted(column: str) -> str:
    """SQL for a text column as the canonical encoder writes it: PostgreSQL's ``to_json`` of
    text escapes what Python's encoder escapes (quote, backslash, ``\\b \\f \\n \\r \\t``, other
    control characters as ``\\u00XX`` in lower case) and leaves the rest, outside ASCII too,
    as it is; a JSON encoding, so two different texts never come out alike."""
    return f"pg_catalog.to_json({column}::text)::text"


def _postgres_value(column: Column[Any]) -> tuple[str, ...] | None:
    """SQL pieces writing a column's value as :func:`check_all`'s encoder writes it; None for
    a column type PostgreSQL cannot write so (a float: ``float8out`` writes ``80`` where
    Python writes ``80.0``)."""
    name = f'"{column.name}"'
    quote = PostgresLiteral('"')
    if _is_time(column):
        return quote, postgres_utc_time_sql(name), quote
    if isinstance(column.type, JSON):  # the SHA-256 of the text stored, as _plain writes it
        return quote, postgres_sha256_hex(f"{name}::text"), quote
    if isinstance(column.type, Boolean):
        return (f"CASE WHEN {name} THEN 'true' ELSE 'false' END",)
    if isinstance(column.type, Integer):
        return (f"{name}::text",)
    if isinstance(column.type, String):
        return (postgres_quoted(name),)
    if isinstance(column.type, Date):  # ISO text, as date.isoformat() writes it
        return (f"pg_catalog.to_json({name})::text",)
    return None


def _postgres_row_digest(table: Table) -> str | None:
    """The statement reading each row of ``table`` as ``id`` and the hash :func:`check_all`
    computes (every non-NULL column by name in sorted order, times in their hashed form, JSON
    by the SHA-256 of its text), written and hashed by PostgreSQL; None for a table with a
    column PostgreSQL cannot write so (a float). A row whose digest differs from the hash its
    event recorded is checked again the exact way, so this can only save time."""
    if "id" not in table.columns:
        return None
    pieces: list[str] = [PostgresLiteral("{")]
    for column in sorted(table.columns, key=lambda column: column.name):
        value = _postgres_value(column)
        if value is None:
            return None
        if column.name == "id":
            pieces += (PostgresLiteral('"id":'), *value)
            continue
        written = (
            (PostgresLiteral(f'"{column.name}":'), *value, PostgresLiteral(","))
            if column.name < "id"
            else (PostgresLiteral(f',"{column.name}":'), *value)
        )
        if column.nullable:
            pieces.append(
                f"CASE WHEN \"{column.name}\" IS NULL THEN '' ELSE {postgres_concat(*written)} END"
            )
        else:  # found NULL, it makes the digest NULL: that row is checked the exact way
            pieces += written
    pieces.append(PostgresLiteral("}"))
    digest = postgres_sha256_hex(f"({postgres_concat(*pieces)})")
    return f'SELECT id, {digest} FROM "{table.name}"'  # in any order: the ids are compared


POSTGRES_ROW_DIGESTS = {name: _postgres_row_digest(table) for name, table in TABLES.items()}


def check_all(
    connection: Connection,
    ledger: RecordLedger,
    *,
    batch_size: int = 20_000,
    hashed: Callable[[str], Iterable[tuple[int, str | None]] | None] | None = None,
) -> list[RecordProblem]:
    """Check every row of every covered table against the ledger of the whole trail: changed,
    deleted, or inserted outside ketaplan (no event names it, and it is newer than the rows
    the trail held before records were covered).

    On SQLite, each row of most tables is read as the text hashed, written by SQLite
    (:func:`_sqlite_row_text`): a hash per row and its JSON's hash are all Python does. On
    PostgreSQL, each row of the tables without floats is read as its hash, written and hashed
    there (:func:`_postgres_row_digest`): Python only compares. Other rows, and those that do
    not match that way, are checked as :func:`_check_rows` does.

    ``hashed`` gives a table's ``(id, hash)`` pairs already computed of the same rows in the
    same way (:mod:`ketaplan.store.parallel_records`), or None to read them here."""
    dialect = connection.dialect.name
    problems: list[RecordProblem] = []
    for name in TABLES:
        by_id = ledger.latest[name]
        seen: set[int] = set()
        found: list[RecordProblem] = []
        texts = SQLITE_ROW_TEXTS[name] if dialect == "sqlite" else None
        digests = POSTGRES_ROW_DIGESTS[name] if dialect == "postgresql" else None
        if texts is None and digests is None:
            with driver_rows(connection, _CHECK_ALL[dialect][name], batch_size) as rows:
                _check_rows(connection, name, rows, ledger, seen, found)
        else:
            given = hashed(name) if hashed is not None else None
            if given is None:
                driver = _driver(connection)
                given = (
                    row_text_digests(driver, texts)
                    if texts is not None
                    else server_digests(driver, cast(str, digests), batch_size)
                )
            again = compare_digests(name, given, ledger, seen, found)
            for start in range(0, len(again), _BATCH):
                ids = {"ids": again[start : start + _BATCH]}
                statement = _CHECK_BY_IDS[dialect][name]
                rows = (tuple(row) for row in connection.execute(statement, ids))
                _check_rows(connection, name, rows, ledger, seen, found)
            found.sort(key=lambda problem: problem.record_id)  # in row order, as read
        problems += found
        for record_id in sorted(by_id.keys() - seen):
            expected, seq = by_id[record_id]
            if expected is not None:
                problems.append(_gone(name, record_id, seq))
    return problems


def row_text_digests(driver: Any, statement: str) -> Iterator[tuple[int, str | None]]:
    """``(id, hash)`` of each row of a table as SQLite writes its text (:func:`_sqlite_row_text`,
    run on ``driver``, a driver connection); the hash is None for a row whose text is NULL (a
    value of an unexpected type), to be checked the exact way."""
    sha = hashlib.sha256
    cursor = driver.cursor()
    try:
        for record_id, head, body, tail in cursor.execute(statement):
            if head is None or tail is None:
                yield record_id, None
                continue
            digest = "" if body is None else sha(body).hexdigest()
            yield record_id, sha(f"{head}{digest}{tail}".encode()).hexdigest()
    finally:
        cursor.close()


def server_digests(
    driver: Any,
    statement: str,
    batch_size: int = 20_000,
    stopping: threading.Event | None = None,
) -> Iterator[tuple[int, str | None]]:
    """``(id, hash)`` of each row of a table as PostgreSQL computes it
    (:func:`_postgres_row_digest`, run on ``driver``, a driver connection), through a
    server-side cursor, ``batch_size`` rows a round trip, a batch at a time (iterating the
    cursor row by row cost as much as the rest); no further once ``stopping`` is set."""
    cursor = driver.cursor(name=f"ketaplan_rows_{uuid.uuid4().hex}")
    try:
        cursor.execute(statement)
        while not (stopping is not None and stopping.is_set()) and (
            batch := cursor.fetchmany(batch_size)
        ):
            yield from batch
    finally:
        cursor.close()


def compare_digests(
    name: str,
    digests: Iterable[tuple[int, str | None]],
    ledger: RecordLedger,
    seen: set[int],
    problems: list[RecordProblem],
) -> list[int]:
    """Each row of table ``name`` given by its ``(id, hash)`` against the ledger: a row no
    event names is reported as inserted (unless it is older than the covering); returns the
    ids of the accounted rows whose hash differs (or is None), to be checked the exact way
    before anything is reported."""
    by_id = ledger.latest[name]
    legacy = ledger.legacy_max_id.get(name, 0)
    again: list[int] = []
    for record_id, digest in digests:
        accounted = by_id.get(record_id)
        if accounted is None:
            seen.add(record_id)
            if record_id > legacy:
                problems.append(_inserted(name, record_id))
        elif digest == accounted[0]:
            seen.add(record_id)
        else:
            again.append(record_id)
    return again


def _check_rows(
    connection: Connection,
    name: str,
    rows: Iterable[Sequence[Any]],
    ledger: RecordLedger,
    seen: set[int],
    problems: list[RecordProblem],
) -> None:
    """Check rows of table ``name`` as :data:`_CHECK_ALL` reads them against the ledger.

    Each row is hashed as :func:`row_hash` hashes it, but in one piece: the row as a dict of
    its columns, its times read in their hashed form (:func:`utc_time_text`), its JSON
    replaced by its hash, and the encoder left to write every other value as it comes (ints,
    text, booleans, finite floats: what :func:`_plain` leaves alone). A row that does not
    match that way, or holds a value the encoder refuses (a date from PostgreSQL, a float that
    is not finite, a time of another shape), is hashed again the exact way before it is
    reported."""
    hashed_in_sql = connection.dialect.name == "postgresql"
    sha = hashlib.sha256
    encode = _ONE_PIECE
    table = TABLES[name]
    by_id = ledger.latest[name]
    legacy = ledger.legacy_max_id.get(name, 0)
    kinds = _KINDS[name]
    times = tuple(column for column, kind in kinds.items() if kind == "time")
    texts = () if hashed_in_sql else tuple(c for c, k in kinds.items() if k == "json")
    # What the exact way sees: times already as hashed text, JSON (on PostgreSQL) hashed.
    exact_kinds = {c: k for c, k in kinds.items() if k == "json" and not hashed_in_sql}
    names = tuple(column.name for column in table.columns)
    at_id = names.index("id")
    for row in rows:
        record_id = row[at_id]
        seen.add(record_id)
        accounted = by_id.get(record_id)
        if accounted is None:
            if record_id > legacy:
                problems.append(_inserted(name, record_id))
            continue
        fields = dict(zip(names, row, strict=True))
        if None in row:
            fields = {k: v for k, v in fields.items() if v is not None}
        for column in texts:
            value = fields.get(column)
            if value is not None:
                fields[column] = sha(str(value).encode("utf-8")).hexdigest()
        try:
            digest = sha(encode(fields).encode("utf-8")).hexdigest()
        except (TypeError, ValueError):
            digest = ""
        if digest != accounted[0] and (_exact_hash(row, names, exact_kinds, times) != accounted[0]):
            problems.append(_changed(name, record_id, *accounted))


def _exact_hash(
    row: Sequence[object], names: Sequence[str], kinds: Mapping[str, str], times: Sequence[str]
) -> str:
    """:func:`row_hash` of a row as :func:`check_all` reads it (times as UTC text)."""
    fields = {}
    for column, value in zip(names, row, strict=True):
        if value is None:
            continue
        fields[column] = (
            hashed_time(str(value)) if column in times else _plain(value, kinds.get(column))
        )
    try:
        return _hash_fields(fields)
    except (TypeError, ValueError):  # a value no JSON holds (bytes in a tampered SQLite column)
        return "unhashable"


def _inserted(table: str, record_id: int) -> RecordProblem:
    return RecordProblem(
        table,
        record_id,
        None,
        f"{table} {record_id} was inserted outside ketaplan: no audit event names it",
    )


def highest_ids(connection: Connection) -> dict[str, int]:
    """Each covered table's highest id now (0 for an empty table)."""
    return {
        name: connection.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
        for name, table in TABLES.items()
    }
