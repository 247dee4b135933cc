"""Benchmark: `audit verify` on a long trail — the full walk before and after, and the
incremental check after 1,000 new events (issue 19).

Run with `make bench-audit` (or `.venv/bin/python benchmarks/audit.py`). Results are written to
benchmarks/results/audit.json and audit.md. Targets (issue 19): a full walk at least 5 times
faster than the walk through ORM objects it replaced; an incremental check after 1,000 new
events under 1 s at 3 million rows.

A migrated SQLite database in a temporary directory gets EVENTS audit events (default
3,000,000; KETAPLAN_BENCH_AUDIT_EVENTS to change) appended through ketaplan's own
`append_audit_events`, in batches, so the chain is the real one. Then, side by side in one run:

* the previous walk (every event loaded as an ORM object, 1,000 at a time, hashed with the
  same chain function), over the first ORM_WALK_EVENTS events, as rows per second;
* the row walk (`verify_audit_chain`, full), over the whole trail;
* the incremental check: 1,000 events appended after a verified position, then
  `verify_audit_chain(since=...)`, best of RUNS.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketaplan.store import AuditEntry, append_audit_events, open_database, verify_audit_chain
from ketaplan.store.audit import GENESIS_HASH, chain_hash
from ketaplan.store.engine import make_engine
from ketaplan.store.models import AuditEvent
from ketaplan.store.schema import migrate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EVENTS = int(os.environ.get("KETAPLAN_BENCH_AUDIT_EVENTS", "3000000"))
ORM_WALK_EVENTS = min(EVENTS, 200_000)
BATCH = 20_000
NEW_EVENTS = 1_000
RUNS = 5
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _entries(start: int, count: int) -> list[AuditEntry]:
    """Events shaped like a clinic's: a read or a chart write, with a few details."""
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
        )
        for n in range(start, start + count)
    ]


def _append(database_url: str, start: int, count: int) -> None:
    database = open_database(database_url)
    try:
        for offset in range(0, count, BATCH):
            with database.session_factory() as session:
                append_audit_events(
                    session, _entries(start + offset, min(BATCH, count - offset)), NOW
                )
                session.commit()
    finally:
        database.close()


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
        if chain_hash(prev_hash, fields) != event.hash:
            raise SystemExit(f"the benchmark's chain is broken at {event.seq}")
        prev_hash = event.hash
        walked += 1
    return walked


def measure() -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'audit.db'}"
        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
        started = time.perf_counter()
        _append(url, 0, EVENTS)
        built_s = time.perf_counter() - started

        database = open_database(url)
        try:
            with database.session_factory() as session:
                started = time.perf_counter()
                orm_walked = _orm_walk(session, ORM_WALK_EVENTS)
                orm_s = time.perf_counter() - started
            with database.session_factory() as session:
                started = time.perf_counter()
                full = verify_audit_chain(session)
                full_s = time.perf_counter() - started
            if not full.ok or full.checked != EVENTS:
                raise SystemExit(f"the full walk did not verify the trail: {full}")
            incremental: list[float] = []
            position = full.position
            for run in range(RUNS):
                _append(url, EVENTS + run * NEW_EVENTS, NEW_EVENTS)
                with database.session_factory() as session:
                    started = time.perf_counter()
                    checked = verify_audit_chain(session, since=position)
                    incremental.append(time.perf_counter() - started)
                if not checked.ok or checked.checked != position.seq + NEW_EVENTS:
                    raise SystemExit(f"the incremental check did not verify: {checked}")
                position = checked.position
        finally:
            database.close()
    orm_rate = orm_walked / orm_s
    row_rate = EVENTS / full_s
    return {
        "events": EVENTS,
        "build_s": round(built_s, 1),
        "orm_walk": {"events": orm_walked, "seconds": round(orm_s, 2), "rows_per_s": orm_rate},
        "row_walk": {"events": EVENTS, "seconds": round(full_s, 2), "rows_per_s": row_rate},
        "full_walk_speed_up": round(row_rate / orm_rate, 2),
        "incremental_1000_s": {
            "best": round(min(incremental), 4),
            "worst": round(max(incremental), 4),
        },
    }


def main() -> None:
    measured = measure()
    report = {"python": platform.python_version(), "cores": os.cpu_count(), **measured}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "audit.json").write_text(json.dumps(report, indent=2) + "\n")
    orm = cast("dict[str, float]", measured["orm_walk"])
    rows = cast("dict[str, float]", measured["row_walk"])
    incremental = cast("dict[str, float]", measured["incremental_1000_s"])
    lines = [
        "# Audit verification benchmark",
        "",
        f"Python {report['python']}, {report['cores']} cores, SQLite; a trail of "
        f"{measured['events']:,} events appended through `append_audit_events` "
        f"({measured['build_s']} s to build).",
        "",
        "| walk | events | seconds | rows/s |",
        "|---|---:|---:|---:|",
        f"| before: ORM objects | {orm['events']:,} | {orm['seconds']} | "
        f"{orm['rows_per_s']:,.0f} |",
        f"| now: rows (`audit verify --full`) | {rows['events']:,} | {rows['seconds']} | "
        f"{rows['rows_per_s']:,.0f} |",
        "",
        f"Full walk: {measured['full_walk_speed_up']}x the rows per second of the ORM walk "
        "(target: at least 5x).",
        "",
        f"Incremental `audit verify` after {NEW_EVENTS:,} new events on the "
        f"{measured['events']:,}-event trail: {incremental['best'] * 1000:.0f} ms best, "
        f"{incremental['worst'] * 1000:.0f} ms worst of {RUNS} (target: under 1 s).",
        "",
    ]
    (RESULTS / "audit.md").write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
