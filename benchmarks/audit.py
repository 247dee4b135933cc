"""Benchmark: `audit verify` on a long trail — the full walk before and after, and the
incremental check after 1,000 new events (issue 19) — and what covering the records costs
(issue 14, item 5): on a plan's write, and in the full check.

Run with `make bench-audit` (or `.venv/bin/python benchmarks/audit.py`). Results are written to
benchmarks/results/audit.json and audit.md. Targets (issue 19): a full walk at least 5 times
faster than the walk through ORM objects it replaced; an incremental check after 1,000 new
events under 1 s at 3 million rows.

On each of BACKENDS (KETAPLAN_BENCH_AUDIT_BACKENDS, default "sqlite,postgresql"; PostgreSQL in a
schema of its own in KETAPLAN_BENCH_POSTGRES_URL, dropped afterwards), a migrated database (SQLite
in a temporary directory) gets EVENTS audit events (default 3,000,000;
KETAPLAN_BENCH_AUDIT_EVENTS to change). Appending them one transaction at a time through
`append_audit_events` took about 52 minutes per database, so they are written in bulk
(`_bulk_append`): the same events, their hashes computed by ketaplan's own `chain_hash` and
`row_hash`, written as precomputed rows (`executemany` on SQLite, `COPY` on PostgreSQL); the
full walks verify what it wrote. In one run:

* after the first WALK_EVENTS events (KETAPLAN_BENCH_AUDIT_WALK_EVENTS, default 300,000: the ORM
  walk of all 3 million, WALK_RUNS times on each database, would be most of the run), side by
  side over that trail, WALK_RUNS times in turn: the previous walk (every event loaded as an
  ORM object, 1,000 at a time, hashed with the same chain function) and the row walk
  (`verify_audit_chain`, full, on the database opened read-only as `audit verify` opens it,
  which hashes the records beside the chain walk on a trail this long: a second process on
  SQLite, a thread in the walk's snapshot on PostgreSQL), as events per wall second and per CPU
  second (this process, that second process and, on PostgreSQL, its server process: on a
  shared machine wall time is what the others left over); also the full walk in one process,
  and the chain alone;
* then the trail built up to EVENTS, and one full walk of all of it
  (KETAPLAN_BENCH_AUDIT_FULL_AT_SIZE=0 to skip it: the incremental check then starts at the
  chain head);
* the incremental check on the whole trail: 1,000 events appended through
  `append_audit_events` after the verified position, then `verify_audit_chain(since=...)`,
  RUNS times.

Records: the database first gets a clinic, a prescriber, a patient and a charted session
through the services, and two in three trail events name a chart-event row of their own
(written with it, hashed the way the unit of work hashes), so the full check also re-reads and
hashes every covered row. Then PLAN_WRITES plans are saved through `create_plan` (plan and
order event rows, their record hashes, the audit append, the commit), and the record hashing
alone is timed on the same rows (`records_written`), for its share of a plan's write.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from unittest import mock

from sqlalchemy import Connection, Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from bench_support import postgres_schema, verification_failure
from ketaplan.clinical.catalog import load_catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.drug_dictionary import DnerDrugDictionary
from ketaplan.services import (
    PatientDetails,
    PlanOrder,
    UnitOfWork,
    add_user,
    create_patient,
    create_plan,
    load_actor,
    open_session,
    set_up_clinic,
    sign_order,
)
from ketaplan.store import (
    AuditEntry,
    Database,
    append_audit_events,
    open_database,
    parallel_records,
    verify_audit_chain,
)
from ketaplan.store.audit import GENESIS_HASH, VerifiedPosition, canonical_json, chain_hash
from ketaplan.store.audit_records import highest_ids, records_written, row_hash
from ketaplan.store.engine import make_engine
from ketaplan.store.models import AuditChainHead, AuditEvent, OrderEvent, SessionEvent
from ketaplan.store.schema import migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EVENTS = int(os.environ.get("KETAPLAN_BENCH_AUDIT_EVENTS", "3000000"))
BACKENDS = os.environ.get("KETAPLAN_BENCH_AUDIT_BACKENDS", "sqlite,postgresql").split(",")
POSTGRES_URL = os.environ.get(
    "KETAPLAN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WALK_EVENTS = min(EVENTS, int(os.environ.get("KETAPLAN_BENCH_AUDIT_WALK_EVENTS", "300000")))
FULL_WALK_AT_SIZE = os.environ.get("KETAPLAN_BENCH_AUDIT_FULL_AT_SIZE", "1") == "1"
BATCH = 20_000
NEW_EVENTS = 1_000
RUNS = 5
WALK_RUNS = int(os.environ.get("KETAPLAN_BENCH_AUDIT_WALK_RUNS", "3"))
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PLAN_WRITES = 300
PASSWORD = "benchmark passphrase"
_CHART = cast(Table, SessionEvent.__table__)
_INSERT_CHART_EVENTS = insert(_CHART).returning(_CHART.c.id, sort_by_parameter_order=True)


def _entries(start: int, count: int, chart_rows: list[dict[str, object]]) -> list[AuditEntry]:
    """Events shaped like a clinic's: a read, or a chart write naming the row it wrote."""
    written = iter(chart_rows)
    return [
        AuditEntry(
            action="session.event" if n % 3 else "patient.read",
            entity_type="session" if n % 3 else "patient",
            entity_id=str(n // 15),
            actor_user_id=1 + n % 7,
            actor_role="nurse",
            origin="10.0.0.7",
            patient_id=1 + n % 20_000,
            details={"seq": n % 15, "kind": "vitals", "fields": ["bp", "hr", "spo2"]},
            records=(next(written),) if n % 3 else (),
        )
        for n in range(start, start + count)
    ]


def _append(database: Database, start: int, count: int, session_id: int, user_id: int) -> None:
    """``count`` events, two in three with the chart row they name, in batches."""
    for offset in range(start, start + count, BATCH):
        size = min(BATCH, start + count - offset)
        with database.session_factory() as session:
            connection = session.connection()
            first_seq = (
                connection.scalar(
                    select(func.coalesce(func.max(_CHART.c.seq), 0)).where(
                        _CHART.c.session_id == session_id
                    )
                )
                or 0
            ) + 1
            charted = [n for n in range(offset, offset + size) if n % 3]
            ids = connection.execute(
                _INSERT_CHART_EVENTS,
                [
                    {
                        "session_id": session_id,
                        "seq": first_seq + index,
                        "kind": "note",
                        "at": NOW,
                        "data": {"type": "note", "at": NOW.isoformat(), "text": f"note {n}"},
                        "recorded_at": NOW,
                        "recorded_by": user_id,
                    }
                    for index, n in enumerate(charted)
                ],
            ).scalars()
            records = records_written(connection, {"session_event": list(ids)})
            append_audit_events(session, _entries(offset, size, records), NOW)
            session.commit()


_AUDIT_COLUMNS = (
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
    "prev_hash",
    "hash",
)
_CHART_COLUMNS = ("id", "session_id", "seq", "kind", "at", "data", "recorded_at", "recorded_by")
_CHART_KINDS = {"at": "time", "recorded_at": "time", "data": "json"}
"""How `row_hash` treats session_event's columns (as the unit of work's re-read does: its
times as UTC time, its JSON by the hash of the text stored)."""
BULK_CHUNK = 50_000


def _stored_time(connection: Connection, column: str, value: datetime) -> object:
    """``value`` as SQLAlchemy hands it to the driver for ``audit_event.<column>``."""
    stored = cast(Table, AuditEvent.__table__).c[column].type.dialect_impl(connection.dialect)
    bind = stored.bind_processor(connection.dialect)
    return bind(value) if bind is not None else value


def _bulk_append(database: Database, start: int, count: int, session_id: int, user_id: int) -> None:
    """The same events as :func:`_append`, chained the same way, but written in bulk.

    Each event's hash is ketaplan's own (`chain_hash` of the fields `append_audit_events`
    hashes, the details and records stored as their canonical text as it stores them), and
    each chart row's hash is `row_hash` of the row as written, which is what the unit of work
    computes when it re-reads the row; only the writing differs: precomputed rows through the
    driver's `executemany` (SQLite) or `COPY` (PostgreSQL), with the chain head moved after
    each chunk in the same transaction. `audit verify --full` checks the result (the walks
    below run over such a trail)."""
    for offset in range(start, start + count, BULK_CHUNK):
        size = min(BULK_CHUNK, start + count - offset)
        with database.session_factory() as session:
            connection = session.connection()
            head_seq, last_hash = connection.execute(
                select(AuditChainHead.last_seq, AuditChainHead.last_hash)
            ).one()
            chart_seq = (
                connection.scalar(
                    select(func.coalesce(func.max(_CHART.c.seq), 0)).where(
                        _CHART.c.session_id == session_id
                    )
                )
                or 0
            )
            chart_id = connection.scalar(select(func.coalesce(func.max(_CHART.c.id), 0))) or 0
            stored_now = _stored_time(connection, "occurred_at", NOW)
            hashed_now = NOW.isoformat()
            chart_rows: list[tuple[object, ...]] = []
            records: list[dict[str, object]] = []
            for n in range(offset, offset + size):
                if n % 3:
                    chart_id += 1
                    chart_seq += 1
                    data = {"type": "note", "at": hashed_now, "text": f"note {n}"}
                    chart = {
                        "id": chart_id,
                        "session_id": session_id,
                        "seq": chart_seq,
                        "kind": "note",
                        "at": NOW,
                        "data": json.dumps(data),  # as SQLAlchemy's JSON type writes it
                        "recorded_at": NOW,
                        "recorded_by": user_id,
                    }
                    hashed = row_hash(chart, _CHART_KINDS)
                    records.append({"table": "session_event", "id": chart_id, "hash": hashed})
                    chart_rows.append(
                        tuple(
                            stored_now if column in ("at", "recorded_at") else chart[column]
                            for column in _CHART_COLUMNS
                        )
                    )
            audit_rows: list[tuple[object, ...]] = []
            for entry in _entries(offset, size, records):
                head_seq += 1
                fields: dict[str, object] = {
                    "seq": head_seq,
                    "occurred_at": hashed_now,
                    "actor_user_id": entry.actor_user_id,
                    "actor_role": entry.actor_role,
                    "origin": entry.origin,
                    "action": entry.action,
                    "entity_type": entry.entity_type,
                    "entity_id": entry.entity_id,
                    "patient_id": entry.patient_id,
                    "details": json.loads(canonical_json(dict(entry.details))),
                }
                if entry.records:
                    fields["records"] = [dict(record) for record in entry.records]
                event_hash = chain_hash(last_hash, fields)
                audit_rows.append(
                    (
                        head_seq,
                        stored_now,
                        *(fields[column] for column in _AUDIT_COLUMNS[2:9]),
                        canonical_json(fields["details"]),
                        canonical_json(fields["records"]) if entry.records else None,
                        last_hash,
                        event_hash,
                    )
                )
                last_hash = event_hash
            _write_rows(connection, "session_event", _CHART_COLUMNS, chart_rows)
            _write_rows(connection, "audit_event", _AUDIT_COLUMNS, audit_rows)
            connection.execute(
                update(AuditChainHead).values(last_seq=head_seq, last_hash=last_hash)
            )
            if connection.dialect.name == "postgresql":  # ids given, not drawn
                connection.execute(
                    text(
                        "SELECT setval(pg_get_serial_sequence('session_event', 'id'), "
                        "(SELECT max(id) FROM session_event))"
                    )
                )
            session.commit()
        if database.engine.dialect.name == "sqlite":
            # A clinic's trail comes in millions of commits, and the writer gate checkpoints
            # every 64 of them; these 60 would leave gigabytes of log for the walks to read
            # through.
            checkpointing: Any = database.engine.raw_connection()  # outside a transaction
            try:
                checkpointing.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
            finally:
                checkpointing.close()


def _write_rows(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]
) -> None:
    """Rows through the driver in one go: ``executemany`` on SQLite, ``COPY`` on PostgreSQL."""
    if not rows:
        return
    driver: Any = connection.connection.dbapi_connection
    listed = ", ".join(columns)
    cursor = driver.cursor()
    try:
        if connection.dialect.name == "postgresql":
            with cursor.copy(f"COPY {table} ({listed}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            # A cache that holds the unique index on the hashes while it grows (random keys),
            # for these statements only: the walks run with the cache as it was.
            previous = cursor.execute("PRAGMA cache_size").fetchone()[0]
            cursor.execute("PRAGMA cache_size = -1000000")
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(f"INSERT INTO {table} ({listed}) VALUES ({marks})", rows)
            cursor.execute(f"PRAGMA cache_size = {int(previous)}")
    finally:
        cursor.close()


def _clinic(database: Database) -> tuple[int, int, tuple[float, float, float]]:
    """A clinic with a patient and an open session, through the services; then PLAN_WRITES
    plans saved with their record hashes and as many without (alternately), timed, and the
    hashing of the first timed alone. Returns the session, the prescriber, and seconds per
    plan with hashing, without, and of the hashing alone."""
    catalog = load_catalog()
    policy = load_policy()
    resolver = MedicationResolver(catalog, DnerDrugDictionary())
    uow = UnitOfWork(database.session_factory)
    admin = set_up_clinic(
        uow,
        name="Benchmark Clinic",
        time_zone=catalog.clinic.time_zone,
        admin_email="admin@bench.example",
        admin_password=PASSWORD,
    )
    add_user(uow, email="doctor@bench.example", role="prescriber", actor=admin, password=PASSWORD)
    doctor = load_actor(uow, "doctor@bench.example", origin="127.0.0.1")
    patient = create_patient(
        uow,
        PatientDetails(
            full_name="Bench Patient", weight="80 kg", height="175 cm", age_years=42, sex="female"
        ),
        actor=doctor,
        catalog=catalog,
    )
    order = PlanOrder("depression")
    patient_id = patient.patient_id
    first = create_plan(
        uow, patient.patient_id, order, actor=doctor, policy=policy, resolver=resolver
    )
    sign_order(uow, first.plan_id, password=PASSWORD, actor=doctor)
    chart = open_session(
        uow, patient.patient_id, condition="depression", actor=doctor, policy=policy
    )
    # Alternately with and without the record hashing (stubbed out), so that both see the
    # same load on a shared machine.
    plan_ids: list[int] = []
    unhashed_ids: list[int] = []
    spent = {True: 0.0, False: 0.0}
    for n in range(2 * PLAN_WRITES):
        hashing = n % 2 == 0
        with contextlib.ExitStack() as stack:
            if not hashing:
                stack.enter_context(
                    mock.patch(
                        "ketaplan.services.unit_of_work.append_audit_events",
                        lambda db, entries, now, _written=None: append_audit_events(
                            db, entries, now
                        ),
                    )
                )
            started = time.perf_counter()
            plan = create_plan(
                uow, patient_id, order, actor=doctor, policy=policy, resolver=resolver
            )
            spent[hashing] += time.perf_counter() - started
        (plan_ids if hashing else unhashed_ids).append(plan.plan_id)
    per_plan_s = spent[True] / PLAN_WRITES
    unhashed_s = spent[False] / PLAN_WRITES
    with database.session_factory() as session:
        connection = session.connection()
        statement = select(OrderEvent.plan_id, OrderEvent.id).where(
            OrderEvent.plan_id.in_(plan_ids)
        )
        events = {row.plan_id: row.id for row in connection.execute(statement)}
        unhashed = select(OrderEvent.id).where(OrderEvent.plan_id.in_(unhashed_ids))
        # The plans saved with the hashing stubbed out, named now, as the full check requires.
        named = records_written(
            connection,
            {"infusion_plan": unhashed_ids, "order_event": connection.scalars(unhashed).all()},
        )
        benchmark = AuditEntry("benchmark.unhashed_plans", "plan", "-", None, None, "benchmark")
        append_audit_events(session, [replace(benchmark, records=named)], NOW)
        started = time.perf_counter()
        for plan_id in plan_ids:
            records_written(
                connection, {"infusion_plan": [plan_id], "order_event": [events[plan_id]]}
            )
        hashing_s = (time.perf_counter() - started) / PLAN_WRITES
        session.commit()
    return chart.session_id, doctor.user_id, (per_plan_s, unhashed_s, hashing_s)


def _orm_walk(session: Session, limit: int) -> int:
    """The walk `audit verify` did before: ORM objects, 1,000 a batch (for comparison)."""
    prev_hash = GENESIS_HASH
    walked = 0
    statement = (
        select(AuditEvent)
        .where(AuditEvent.seq <= limit)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=1000)
    )
    columns = (
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
    )
    for event in session.scalars(statement):
        fields = {column: getattr(event, column) for column in columns}
        fields["occurred_at"] = event.occurred_at.astimezone(UTC).isoformat()
        if event.records is not None:
            fields["records"] = event.records
        if chain_hash(prev_hash, fields) != event.hash:
            raise SystemExit(f"the benchmark's chain is broken at {event.seq}")
        prev_hash = event.hash
        walked += 1
    return walked


@contextlib.contextmanager
def _database_url(backend: str) -> Iterator[str]:
    if backend == "postgresql":
        with postgres_schema(POSTGRES_URL, "ketaplan_audit") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'audit.db'}"


def _timed(label: str, started: float) -> float:
    """Seconds since ``started``, also printed as the run goes (a long run shows its parts)."""
    spent = time.perf_counter() - started
    sys.stdout.write(f"  {label}: {spent:.1f} s\n")
    sys.stdout.flush()
    return spent


def _head(database: Database) -> VerifiedPosition:
    with database.session_factory() as session:
        seq, hash_ = session.execute(
            select(AuditChainHead.last_seq, AuditChainHead.last_hash)
        ).one()
    return VerifiedPosition(seq, hash_)


def _cpu_s(session: Session) -> float:
    """CPU seconds spent so far by this process, the child processes it has waited for (the
    second process that hashes the records of a full check on SQLite) and, on PostgreSQL, the
    session's server process (read from /proc: the server runs on this machine): what a walk
    costs whatever else the shared machine runs, where its wall time depends on what else got
    the cores."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    spent = time.process_time() + children.ru_utime + children.ru_stime
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        server = connection.scalar(text("SELECT pg_backend_pid()"))
        stat = Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()
        spent += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return spent


def _walks(database: Database) -> dict[str, object]:
    """The ORM walk and the full row walk side by side over the same trail (all of it), each
    WALK_RUNS times in turn, the best kept: on a shared machine one run can fall in a busy
    minute that the other walks do not see. Each in wall seconds and in CPU seconds (this
    process and its PostgreSQL server process), the steadier measure when the machine is
    shared. Also the row walk with the records check stubbed out (the chain's share)."""
    with database.engine.connect() as connection:
        covered_rows = sum(highest_ids(connection).values())
        events = connection.scalar(select(func.count()).select_from(AuditEvent)) or 0
    orm_s = full_s = one_process_s = chain_only_s = orm_cpu_s = full_cpu_s = float("inf")
    orm_walked = 0
    for _ in range(WALK_RUNS):
        with database.session_factory() as session:
            cpu = _cpu_s(session)
            started = time.perf_counter()
            orm_walked = _orm_walk(session, events)
            orm_s = min(orm_s, _timed(f"ORM walk of {orm_walked:,} events", started))
            orm_cpu_s = min(orm_cpu_s, _cpu_s(session) - cpu)
        with database.session_factory() as session:
            cpu = _cpu_s(session)
            started = time.perf_counter()
            full = verify_audit_chain(session)
            full_s = min(full_s, _timed(f"full walk of {events:,} events", started))
            full_cpu_s = min(full_cpu_s, _cpu_s(session) - cpu)
        if not full.ok or full.checked != events:
            raise SystemExit(
                verification_failure("the full walk did not verify the trail", full)
                + f"\n  ({events:,} events in the trail)"
            )
        with (
            database.session_factory() as session,
            mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 10**12),
        ):
            started = time.perf_counter()
            verify_audit_chain(session)
            one_process_s = min(one_process_s, _timed("full walk in one process", started))
        with (
            database.session_factory() as session,
            mock.patch("ketaplan.store.audit.check_all", return_value=[]),
            mock.patch.object(parallel_records, "PARALLEL_FROM_EVENTS", 10**12),
        ):
            started = time.perf_counter()
            verify_audit_chain(session)
            chain_only_s = min(chain_only_s, _timed("chain only", started))
    orm_rate = orm_walked / orm_s
    row_rate = events / full_s
    return {
        "orm_walk": {
            "events": orm_walked,
            "seconds": round(orm_s, 2),
            "rows_per_s": orm_rate,
            "cpu_seconds": round(orm_cpu_s, 2),
        },
        "row_walk": {
            "events": events,
            "covered_rows": covered_rows,
            "seconds": round(full_s, 2),
            "rows_per_s": row_rate,
            "cpu_seconds": round(full_cpu_s, 2),
            "one_process_seconds": round(one_process_s, 2),
            "chain_only_seconds": round(chain_only_s, 2),
            "records_per_s": covered_rows / max(one_process_s - chain_only_s, 1e-9),
        },
        "full_walk_speed_up": round(row_rate / orm_rate, 2),
        "full_walk_speed_up_cpu": round((events / full_cpu_s) / (orm_walked / orm_cpu_s), 2),
    }


def measure(backend: str) -> dict[str, object]:
    sys.stdout.write(f"{backend}: {EVENTS:,} events (walks compared over {WALK_EVENTS:,})\n")
    with _database_url(backend) as url:
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        database = open_database(url)
        try:
            session_id, user_id, (per_plan_s, unhashed_s, hashing_s) = _clinic(database)
            started = time.perf_counter()
            _bulk_append(database, 0, WALK_EVENTS, session_id, user_id)
            built_s = _timed(f"build of {WALK_EVENTS:,} events", started)
            load_average = ", ".join(f"{load:.1f}" for load in os.getloadavg())
            checking = open_database(url, read_only=True)  # as `audit verify` opens it
            try:
                walks = _walks(checking)
            finally:
                checking.close()
            started = time.perf_counter()
            _bulk_append(database, WALK_EVENTS, EVENTS - WALK_EVENTS, session_id, user_id)
            built_s += _timed(f"build up to {EVENTS:,} events", started)
            with database.engine.connect() as connection:
                events = connection.scalar(select(func.count()).select_from(AuditEvent)) or 0
            position = _head(database)
            at_size: dict[str, object] | None = None
            if FULL_WALK_AT_SIZE:
                with database.session_factory() as session:
                    started = time.perf_counter()
                    full = verify_audit_chain(session)
                    full_s = _timed(f"full walk of {events:,} events", started)
                if not full.ok or full.checked != events:
                    raise SystemExit(
                        verification_failure("the full walk did not verify the trail", full)
                    )
                at_size = {"seconds": round(full_s, 1), "rows_per_s": events / full_s}
                position = full.position
            incremental: list[float] = []
            for run in range(RUNS):
                _append(database, EVENTS + run * NEW_EVENTS, NEW_EVENTS, session_id, user_id)
                with database.session_factory() as session:
                    started = time.perf_counter()
                    checked = verify_audit_chain(session, since=position)
                    incremental.append(time.perf_counter() - started)
                if not checked.ok or checked.checked != position.seq + NEW_EVENTS:
                    raise SystemExit(
                        verification_failure("the incremental check did not verify", checked)
                    )
                position = checked.position
        finally:
            database.close()
    return {
        "backend": backend,
        "load_average": load_average,
        "events": events,
        "build_s": round(built_s, 1),
        "plan_write": {
            "plans": PLAN_WRITES,
            "ms_per_plan": round(per_plan_s * 1000, 3),
            "ms_per_plan_without_record_hashing": round(unhashed_s * 1000, 3),
            "record_hashing_ms_per_plan": round(hashing_s * 1000, 3),
        },
        **walks,
        "full_walk_at_size": at_size,
        "incremental_1000_s": {
            "best": round(min(incremental), 4),
            "worst": round(max(incremental), 4),
        },
    }


def _section(measured: dict[str, object]) -> list[str]:
    orm = cast("dict[str, float]", measured["orm_walk"])
    rows = cast("dict[str, float]", measured["row_walk"])
    incremental = cast("dict[str, float]", measured["incremental_1000_s"])
    plan = cast("dict[str, float]", measured["plan_write"])
    at_size = cast("dict[str, float] | None", measured["full_walk_at_size"])
    name = "PostgreSQL" if measured["backend"] == "postgresql" else "SQLite"
    return [
        f"## {name}",
        "",
        f"A trail of {measured['events']:,} events ({measured['build_s']} s to build, in "
        "bulk: precomputed rows hashed by ketaplan's `chain_hash` and `row_hash`, written "
        "through the driver), two in three naming the chart-event row they wrote. The two "
        f"walks are compared side by side over the trail's first {rows['events']:,} events "
        f"(the trail as it stood then: {rows['covered_rows']:,} covered records), each "
        f"{WALK_RUNS} times in turn, the best kept; the incremental check runs on the whole "
        f"trail. Load average {measured['load_average']} before the walks (a shared machine).",
        "",
        f"| walk (best of {WALK_RUNS}) | events | seconds | events/s | CPU seconds | "
        "events per CPU second |",
        "|---|---:|---:|---:|---:|---:|",
        f"| before: ORM objects, chain only | {orm['events']:,} | {orm['seconds']} | "
        f"{orm['rows_per_s']:,.0f} | {orm['cpu_seconds']} | "
        f"{orm['events'] / orm['cpu_seconds']:,.0f} |",
        f"| now: rows, chain and every record (`audit verify --full`) | {rows['events']:,} | "
        f"{rows['seconds']} | {rows['rows_per_s']:,.0f} | {rows['cpu_seconds']} | "
        f"{rows['events'] / rows['cpu_seconds']:,.0f} |",
        f"| now: the same in one process | {rows['events']:,} | "
        f"{rows['one_process_seconds']} | {rows['events'] / rows['one_process_seconds']:,.0f} "
        "| | |",
        f"| now: rows, chain only (records check stubbed out) | {rows['events']:,} | "
        f"{rows['chain_only_seconds']} | {rows['events'] / rows['chain_only_seconds']:,.0f} "
        "| | |",
        "",
        f"Full walk: {measured['full_walk_speed_up']}x the events per second of the ORM walk "
        f"in wall time, {measured['full_walk_speed_up_cpu']}x per CPU second (this process"
        + (
            " and the walk's PostgreSQL server process, not the second connection's that"
            " reads the records' digests meanwhile"
            if name == "PostgreSQL"
            else ", and the second process that hashes the records meanwhile"
        )
        + "; target: at least 5x), while also re-reading and hashing "
        f"{rows['covered_rows']:,} records (about {rows['records_per_s']:,.0f} records/s, "
        "in one process). The chain alone, the walk that replaced the ORM walk: "
        f"{orm['seconds'] / rows['chain_only_seconds']:.2f}x.",
        "",
        f"A plan's write (`create_plan`: the plan and its order event, their record hashes, "
        f"the audit append, the commit), over {plan['plans']} plans: "
        f"{plan['ms_per_plan']:.2f} ms per plan, against "
        f"{plan['ms_per_plan_without_record_hashing']:.2f} ms with the record hashing stubbed "
        "out (alternating plans, same load); hashing a plan's records alone (re-reading the "
        f"two rows): {plan['record_hashing_ms_per_plan']:.3f} ms.",
        "",
        f"Incremental `audit verify` after {NEW_EVENTS:,} new events on the "
        f"{measured['events']:,}-event trail: {incremental['best'] * 1000:.0f} ms best, "
        f"{incremental['worst'] * 1000:.0f} ms worst of {RUNS} (target: under 1 s), each "
        f"{NEW_EVENTS:,} events appended through `append_audit_events` after the position "
        + (
            f"a full walk of the whole trail recorded ({at_size['seconds']} s, "
            f"{at_size['rows_per_s']:,.0f} events/s, chain and every record, once)."
            if at_size
            else "of the chain head (no full walk of the whole trail in this run)."
        ),
        "",
    ]


def main() -> None:
    measured = [measure(backend) for backend in BACKENDS]
    report = {"python": platform.python_version(), "cores": os.cpu_count(), "runs": measured}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "audit.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Audit verification benchmark",
        "",
        f"Python {report['python']}, {report['cores']} cores.",
        "",
    ]
    for run in measured:
        lines += _section(run)
    (RESULTS / "audit.md").write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
