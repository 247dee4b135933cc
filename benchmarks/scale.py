"""Benchmark: what each page, API list and maintenance command costs as a clinic grows from
200 to 20,000 patients, on SQLite and PostgreSQL (issue 19).

Run with `make bench-scale` (or `.venv/bin/python benchmarks/scale.py`). Results are written to
benchmarks/results/scale.json and scale.md. Targets (issue 19): every page and API list grows
with an exponent below 0.1 (slope of log time against log patients) and stays under 100 ms at
p90 at the largest size; a chart entry's p90 under 50 ms on SQLite while another thread loads
the dashboard in a loop.

The clinic. Through the services: two clinics (the measured one and a NEIGHBOUR_PATIENTS one
beside it, so a query that reads another clinic's rows shows), each with a template patient
(screened, a signed order, a course of SESSIONS sessions, each charted with the 15 events of
examples/session1.jsonl, a PHQ-9 and a GAD-7 after each), and TODAY_PATIENTS patients whose
course starts today (the dashboard's chairs). The rest are clones of the template, bulk-inserted
with INSERT ... SELECT (every row of the template's record: versions, plan, order events,
screening, course, bookings, sessions, chart events, questionnaires) with fresh ids, their
names numbered, their dates moved back CLONES_PER_DAY clones a day (so a day's chairs, a
fortnight's answers and recently ended series stay what a clinic of steady intake shows), their
names put in the search's trigram index as `create_patient` does, and the template's audit
events, re-pointed at the clone and naming the clone's own rows with their hashes as the rows
stand (every covered row must be named by an event: store.audit_records), appended through
`ketaplan.store.append_audit_events`, so the chain is the real one and `audit verify` passes.
A failed verification stops the run with a count and the first few problems only.

The sizes are grown in turn (SIZES, default 200, 2,000, 20,000;
KETAPLAN_BENCH_SCALE_SIZES="200,2000" for a quick run). At each size: every page and API list
fetched in-process through FastAPI's TestClient (prescriber signed in; API with a bearer
token; the audit trail, staff and settings pages as the admin), RUNS times after WARM_UP;
`audit verify --full` and incremental (after the page timings' own audit events); on SQLite
`backup` and the contention check (a nurse's chart entry alone and while another thread loads
the dashboard in a loop). The contention check charts its 80 entries a size into a session of
the neighbour clinic's day: charted into one of the measured clinic's, they lengthened a chart
its chair board replays (2, 82, then 162 events at the three sizes), which grew the board's
time on SQLite alone with something other than the patients. PostgreSQL runs in a schema of
its own in KETAPLAN_BENCH_POSTGRES_URL (default the local test database), dropped afterwards;
KETAPLAN_BENCH_SCALE_BACKENDS="sqlite" skips it.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Date, DateTime, select, text
from sqlalchemy.engine import make_url

from bench_support import form_sign_in, postgres_schema, verification_failure
from ketaplan.app import create_app
from ketaplan.clinical.catalog import load_catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.drug_dictionary import DnerDrugDictionary
from ketaplan.http.context import ServiceContext
from ketaplan.services import (
    Actor,
    PatientDetails,
    PlanOrder,
    UnitOfWork,
    add_user,
    append_session_event,
    create_patient,
    create_plan,
    load_actor,
    open_session,
    record_questionnaire,
    schedule_course,
    screen_patient,
    set_up_clinic,
    sign_order,
)
from ketaplan.services.dashboard import clinic_dashboard
from ketaplan.store import AuditEntry, Database, append_audit_events, migrate, open_database
from ketaplan.store.audit import verify_audit_chain
from ketaplan.store.audit_records import records_written
from ketaplan.store.backup import backup_sqlite
from ketaplan.store.engine import make_engine
from ketaplan.store.models import AuditEvent, Base
from ketaplan.store.name_search import index_new_patient_names

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EXAMPLE = ROOT / "examples" / "session1.jsonl"
SIZES = [int(n) for n in os.environ.get("KETAPLAN_BENCH_SCALE_SIZES", "200,2000,20000").split(",")]
BACKENDS = os.environ.get("KETAPLAN_BENCH_SCALE_BACKENDS", "sqlite,postgresql").split(",")
POSTGRES_URL = os.environ.get(
    "KETAPLAN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NEIGHBOUR_PATIENTS = int(os.environ.get("KETAPLAN_BENCH_SCALE_NEIGHBOUR", "2000"))
SESSIONS = 6
TODAY_PATIENTS = 3
CLONES_PER_DAY = 4
CLONE_BATCH = 500
# A clone's audit trail: the template's, without one event per chart entry unless asked for
# (KETAPLAN_BENCH_SCALE_CHART_AUDIT=1): appending and walking ~115 events a patient through
# the chain's Python hashing takes most of an hour at 20,000 patients on a shared 2-core
# machine; `make bench-audit` times the walk on a 3-million-event trail instead.
CHART_AUDIT = os.environ.get("KETAPLAN_BENCH_SCALE_CHART_AUDIT", "") == "1"
CHART_ENTRY_ACTION = "session.event.append"
AUDIT_BATCH = 20_000
WARM_UP = 3
RUNS = 30
CHART_ENTRIES = 40
PAGE_TARGET_MS = 100.0
EXPONENT_TARGET = 0.1
CHART_TARGET_MS = 50.0
PASSWORD = "benchmark password 1234"
FLOOR_PATH = "/static/app.css"

# The template's record, parents first: each table, and how its rows belong to the patient.
OWNED = {
    "patient": "id = :pid",
    "patient_version": "patient_id = :pid",
    "infusion_plan": "patient_id = :pid",
    "screening": "patient_id = :pid",
    "order_event": "plan_id IN (SELECT id FROM infusion_plan WHERE patient_id = :pid)",
    "treatment_course": "patient_id = :pid",
    "course_booking": "patient_id = :pid",
    "infusion_session": "patient_id = :pid",
    "titration_recommendation": "patient_id = :pid",
    "questionnaire_response": "patient_id = :pid",
    "item9_positive_answer": "patient_id = :pid",  # derived: the dashboard's flags by clinic
    "session_event": "session_id IN (SELECT id FROM infusion_session WHERE patient_id = :pid)",
    "titration_decision": "recommendation_id IN"
    " (SELECT id FROM titration_recommendation WHERE patient_id = :pid)",
}
# What an audit event's entity_type names, to re-point a clone's events at its own rows.
AUDITED = {
    "patient": "patient",
    "plan": "infusion_plan",
    "screening": "screening",
    "course": "treatment_course",
    "session": "infusion_session",
    "questionnaire_response": "questionnaire_response",
    "titration_recommendation": "titration_recommendation",
}


@contextmanager
def database_url(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/scale.db"
        return
    with postgres_schema(POSTGRES_URL, "ketaplan_scale") as url:
        yield url


def _session_events(start: datetime, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """examples/session1.jsonl moved to ``start``, at the plan's bag and pump rate."""
    events = [json.loads(line) for line in EXAMPLE.read_text().splitlines() if line.strip()]
    first = datetime.fromisoformat(events[0]["at"])
    prep = plan["preparation"]
    ordered = {
        "rate_ml_per_h": prep["pump_rate_ml_per_h"],
        "concentration_mg_per_ml": prep["final_mg_per_ml"],
    }
    return [
        {
            **e,
            **(ordered if e["type"] == "start" else {}),
            "at": (start + (datetime.fromisoformat(e["at"]) - first)).isoformat(),
        }
        for e in events
    ]


@dataclass
class Staff:
    prescriber: Actor
    nurse: Actor


def _clinic(context: ServiceContext, name: str, domain: str) -> Staff:
    uow = UnitOfWork(context.database.session_factory)
    admin = set_up_clinic(
        uow,
        name=name,
        time_zone=context.calendar.time_zone,
        admin_email=f"admin@{domain}",
        admin_password=PASSWORD,
    )
    for role in ("prescriber", "nurse"):
        add_user(uow, email=f"{role}@{domain}", role=role, actor=admin, password=PASSWORD)
    return Staff(
        load_actor(uow, f"prescriber@{domain}", origin="127.0.0.1"),
        load_actor(uow, f"nurse@{domain}", origin="127.0.0.1"),
    )


def _patient_with_order(
    context: ServiceContext, staff: Staff, name: str
) -> tuple[int, int, dict[str, Any]]:
    """A screened patient with a signed order: (patient id, plan id, the plan)."""
    uow = UnitOfWork(context.database.session_factory)
    doctor = staff.prescriber
    pid = create_patient(
        uow,
        PatientDetails(
            full_name=name,
            weight="176 lb",
            height="5 ft 9 in",
            age_years=42,
            sex="female",
            medications=("sertraline 100 mg",),
        ),
        actor=staff.nurse,
        catalog=context.catalog,
    ).patient_id
    screen_patient(
        uow, pid, condition="depression", actor=doctor, policy=context.policy,
        resolver=context.resolver,
    )  # fmt: skip
    plan = create_plan(
        uow, pid, PlanOrder("depression"), actor=doctor, policy=context.policy,
        resolver=context.resolver,
    )  # fmt: skip
    plan = sign_order(uow, plan.plan_id, password=PASSWORD, actor=doctor)
    return pid, plan.plan_id, plan.plan


@dataclass
class Template:
    patient_id: int
    course_id: int
    session_id: int
    plan_id: int


def build_template(context: ServiceContext, staff: Staff, name: str) -> Template:
    """The patient every clone copies: a course of SESSIONS charted sessions, three days
    apart, ending yesterday, with a PHQ-9 (item 9 endorsed at baseline) and GAD-7 after each."""
    uow = UnitOfWork(context.database.session_factory)
    pid, plan_id, plan = _patient_with_order(context, staff, name)
    now = datetime.now(UTC).replace(microsecond=0)
    first_start = now - timedelta(days=3 * (SESSIONS - 1) + 1, hours=4)
    course = schedule_course(
        uow,
        pid,
        condition="depression",
        first_day=first_start.astimezone(context.calendar.zone).date(),
        actor=staff.nurse,
        policy=context.policy,
        plan_id=plan_id,
        confirm=True,  # a course already given: its days are in the past
    )
    cid = course.course_id
    for scale, answers in (("phq9", [3, 2, 2, 2, 2, 2, 2, 2, 1]), ("gad7", [2] * 7)):
        record_questionnaire(
            uow, pid, scale=scale, answers=answers, answered_at=first_start - timedelta(hours=1),
            actor=staff.nurse, course_id=cid,
        )  # fmt: skip
    session_id = 0
    for number in range(1, SESSIONS + 1):
        start = first_start + timedelta(days=3 * (number - 1))
        chart = open_session(
            uow, pid, condition="depression", actor=staff.nurse, policy=context.policy,
            course_id=cid, plan_id=plan_id, number=number,
        )  # fmt: skip
        session_id = chart.session_id
        for seq, event in enumerate(_session_events(start, plan)):
            append_session_event(
                uow, session_id, event, expected_seq=seq, actor=staff.nurse,
                policy=context.policy,
            )  # fmt: skip
        better = min(number // 2, 2)
        for scale, answers in (
            ("phq9", [max(0, a - better) for a in (3, 2, 2, 2, 2, 2, 2, 2, 0)]),
            ("gad7", [max(0, 2 - better)] * 7),
        ):
            record_questionnaire(
                uow, pid, scale=scale, answers=answers,
                answered_at=start + timedelta(hours=1, minutes=30), actor=staff.nurse,
                course_id=cid, session_id=session_id,
            )  # fmt: skip
    return Template(pid, cid, session_id, plan_id)


def build_today(context: ServiceContext, staff: Staff, name: str) -> int:
    """A patient whose course starts today, with the first session open and started (a chair
    on the dashboard and the board; in the neighbour clinic, the session the contention check
    charts into): the session id."""
    uow = UnitOfWork(context.database.session_factory)
    pid, plan_id, plan = _patient_with_order(context, staff, name)
    now = datetime.now(UTC).replace(microsecond=0)
    course = schedule_course(
        uow,
        pid,
        condition="depression",
        first_day=now.astimezone(context.calendar.zone).date(),
        actor=staff.nurse,
        policy=context.policy,
        plan_id=plan_id,
    )
    chart = open_session(
        uow, pid, condition="depression", actor=staff.nurse, policy=context.policy,
        course_id=course.course_id, plan_id=plan_id, number=1,
    )  # fmt: skip
    events = _session_events(now - timedelta(minutes=20), plan)[:2]  # check-in, start
    for seq, event in enumerate(events):
        append_session_event(
            uow, chart.session_id, event, expected_seq=seq, actor=staff.nurse,
            policy=context.policy,
        )  # fmt: skip
    return chart.session_id


class Cloner:
    """Bulk copies of one template patient's record, ``INSERT ... SELECT`` per table, with
    fresh ids (template id + offset), references moved with them, dates moved back by the
    clone's number, and the template's audit events re-pointed and chained."""

    def __init__(self, database: Database, template_id: int, name: str) -> None:
        self.database = database
        self.template_id = template_id
        self.name = name
        self.made = 0
        self.dialect = database.engine.dialect.name
        with database.engine.connect() as connection:
            self.ranges: dict[str, tuple[int, int]] = {}
            for table, owned in OWNED.items():
                low, high = connection.execute(
                    text(f"SELECT min(id), max(id) FROM {table} WHERE {owned}"),
                    {"pid": template_id},
                ).one()
                if low is not None:
                    self.ranges[table] = (low, high - low + 1)
        with database.session_factory() as session:
            self.audit = session.scalars(
                select(AuditEvent)
                .where(AuditEvent.patient_id == template_id)
                .order_by(AuditEvent.seq)
            ).all()
            session.expunge_all()
        self.trail = self._trail()

    def _shifted(self, table: str, column: str, kind: str) -> str:
        days = f"(c.k / {CLONES_PER_DAY} + 1)"
        if self.dialect == "sqlite":
            function = "date" if kind == "date" else "datetime"
            return f"{function}(t.\"{column}\", '-' || {days} || ' days')"
        if kind == "date":
            return f't."{column}" - CAST({days} AS INTEGER)'
        return f't."{column}" - make_interval(days => CAST({days} AS INTEGER))'

    def _select(self, table: str, offsets: dict[str, int]) -> tuple[str, str]:
        columns, values = [], []
        model = Base.metadata.tables[table]
        for column in model.columns:
            name = column.name
            columns.append(f'"{name}"')
            targets = [f.column.table.name for f in column.foreign_keys]
            if name == "id":
                values.append(f"t.id + {offsets[table]} + c.k * {self.ranges[table][1]}")
            elif targets and targets[0] in self.ranges:
                target = targets[0]
                values.append(f't."{name}" + {offsets[target]} + c.k * {self.ranges[target][1]}')
            elif table in ("patient", "patient_version") and name == "full_name":
                values.append(f"'{self.name} ' || CAST(c.k AS TEXT)")
            elif table == "patient" and name == "name_key":
                values.append(f"'{self.name.casefold()} ' || CAST(c.k AS TEXT)")
            elif isinstance(column.type, Date):
                values.append(self._shifted(table, name, "date"))
            elif isinstance(column.type, DateTime) or column.type.__class__.__name__ == (
                "UTCDateTime"
            ):
                values.append(self._shifted(table, name, "datetime"))
            else:
                values.append(f't."{name}"')
        return ", ".join(columns), ", ".join(values)

    def add(self, count: int) -> None:
        for first in range(0, count, CLONE_BATCH):
            self._batch(min(CLONE_BATCH, count - first))

    def _batch(self, count: int) -> None:
        ks = range(self.made + 1, self.made + count + 1)  # the clones' numbers
        with self.database.engine.begin() as connection:
            connection.execute(text("CREATE TEMP TABLE IF NOT EXISTS bench_clone (k INTEGER)"))
            connection.execute(text("DELETE FROM bench_clone"))
            connection.execute(
                text("INSERT INTO bench_clone (k) VALUES (:k)"), [{"k": k} for k in ks]
            )
            offsets: dict[str, int] = {}
            for table, (low, span) in self.ranges.items():
                top = connection.execute(text(f"SELECT max(id) FROM {table}")).scalar_one()
                # clone k's row = template row + offset + k * span, clear of every id so far
                offsets[table] = top + 1 - low - self.made * span - span
            for table, owned in OWNED.items():
                if table not in self.ranges:
                    continue
                columns, values = self._select(table, offsets)
                connection.execute(
                    text(
                        f"INSERT INTO {table} ({columns}) SELECT {values}"
                        f" FROM {table} t CROSS JOIN bench_clone c WHERE t.{owned}"
                    ),
                    {"pid": self.template_id},
                )
            # The clones' names in the search index, as create_patient writes them.
            span = self.ranges["patient"][1]
            first, last = (
                self.template_id + offsets["patient"] + k * span for k in (ks[0], ks[-1])
            )
            clones = connection.execute(
                text("SELECT clinic_id, id, name_key FROM patient WHERE id BETWEEN :a AND :b"),
                {"a": first, "b": last},
            )
            index_new_patient_names(connection, [(c, i, key) for c, i, key in clones])
            if self.dialect == "postgresql":
                for table in self.ranges:
                    connection.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                            f" (SELECT max(id) FROM {table}))"
                        )
                    )
        self._audit(ks, offsets)
        self.made += count

    def _trail(self) -> list[tuple[AuditEvent, list[dict[str, Any]]]]:
        """The template's audit events a clone gets, each with the records it names: those of
        the template's own rows (a row of another table, a user's or the clinic's, was not
        written by the clone), and, without KETAPLAN_BENCH_SCALE_CHART_AUDIT, those of the
        chart-entry events left out, carried by the next event kept (every row a clone has
        must be named by an event, or `audit verify` reports it inserted outside ketaplan)."""
        trail: list[tuple[AuditEvent, list[dict[str, Any]]]] = []
        carried: list[dict[str, Any]] = []
        for event in self.audit:
            named = [r for r in event.records or () if r["table"] in self.ranges]
            if not CHART_AUDIT and event.action == CHART_ENTRY_ACTION:
                carried += named
                continue
            trail.append((event, carried + named))
            carried = []
        if carried:
            trail[-1][1].extend(carried)
        return trail

    def _audit(self, ks: range, offsets: dict[str, int]) -> None:
        """The clones' audit events: the template's, re-pointed at each clone's rows, naming
        the clone's rows with their hashes as they now stand (their content is the template's
        last, so every event naming a row names that), chained by `append_audit_events`."""

        def moved(table: str, row_id: int, k: int) -> int:
            return row_id + offsets[table] + k * self.ranges[table][1]

        written: dict[str, list[int]] = {}
        for k in ks:
            for _event, records in self.trail:
                for record in records:
                    if record["hash"] is not None:
                        table = record["table"]
                        written.setdefault(table, []).append(moved(table, record["id"], k))
        with self.database.engine.connect() as connection:
            hashes = {
                (r["table"], r["id"]): r["hash"] for r in records_written(connection, written)
            }
        entries = []
        for k in ks:
            patient_id = moved("patient", self.template_id, k)
            for event, records in self.trail:
                table = AUDITED.get(event.entity_type)
                entity_id = event.entity_id
                if table in self.ranges and entity_id.isdigit():
                    entity_id = str(moved(table, int(entity_id), k))
                named = []
                for record in records:
                    row_id = moved(record["table"], record["id"], k)
                    row_hash = None if record["hash"] is None else hashes[record["table"], row_id]
                    named.append({"table": record["table"], "id": row_id, "hash": row_hash})
                entries.append(
                    AuditEntry(
                        action=event.action,
                        entity_type=event.entity_type,
                        entity_id=entity_id,
                        actor_user_id=event.actor_user_id,
                        actor_role=event.actor_role,
                        origin=event.origin,
                        patient_id=patient_id,
                        details=event.details,
                        records=named,
                    )
                )
        for first in range(0, len(entries), AUDIT_BATCH):
            with self.database.session_factory() as session:
                append_audit_events(
                    session, entries[first : first + AUDIT_BATCH], datetime.now(UTC)
                )
                session.commit()


def _percentiles(times_ms: list[float]) -> dict[str, float]:
    times_ms = sorted(times_ms)
    return {
        "p50_ms": round(statistics.median(times_ms), 2),
        "p90_ms": round(times_ms[int(0.9 * (len(times_ms) - 1))], 2),
    }


def time_get(client: TestClient, path: str, headers: dict[str, str] | None = None) -> Any:
    """p50 and p90 of ``path``, and the p50 of a static file fetched between its runs (the
    floor: the same client and routing with no clinic data, slowed as much by the machine's
    load at that moment; the load-adjusted growth divides by it)."""
    for _ in range(WARM_UP):
        answer = client.get(path, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    times_ms, floor_ms = [], []
    for _ in range(RUNS):
        began = time.perf_counter()
        client.get(FLOOR_PATH)
        floor_ms.append((time.perf_counter() - began) * 1000)
        began = time.perf_counter()
        client.get(path, headers=headers)
        times_ms.append((time.perf_counter() - began) * 1000)
    return {**_percentiles(times_ms), "floor_p50_ms": round(statistics.median(floor_ms), 2)}


def time_calls(call: Callable[[], object], runs: int = RUNS) -> dict[str, float]:
    times_ms = []
    for _ in range(runs):
        began = time.perf_counter()
        call()
        times_ms.append((time.perf_counter() - began) * 1000)
    return _percentiles(times_ms)


def sign_in(client: TestClient, email: str) -> str:
    """The web pages' session (through the sign-in form) and an API bearer token."""
    form_sign_in(client, email, PASSWORD, "/patients")
    token = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    if token.status_code != 200:
        raise SystemExit(f"token refused: {token.status_code} {token.text[:300]}")
    return str(token.json()["access_token"])


class Charting:
    """A nurse's chart entries (vitals, one a call) into today's open session (the neighbour
    clinic's: see the module docstring)."""

    def __init__(self, context: ServiceContext, nurse: Actor, session_id: int) -> None:
        self.context, self.nurse, self.session_id = context, nurse, session_id
        self.seq = 2  # after check-in and start
        self.uow = UnitOfWork(context.database.session_factory)

    def entry(self) -> None:
        vitals = {
            "type": "vitals",
            "at": datetime.now(UTC).isoformat(),
            "systolic": 128,
            "diastolic": 82,
            "heart_rate": 76,
            "spo2": 98,
        }
        append_session_event(
            self.uow, self.session_id, vitals, expected_seq=self.seq, actor=self.nurse,
            policy=self.context.policy,
        )  # fmt: skip
        self.seq += 1


def contention(context: ServiceContext, charting: Charting, viewer: Actor) -> dict[str, Any]:
    """A chart entry alone, then while another thread loads ``viewer``'s clinic's dashboard in
    a loop (SQLite has one write turn for the whole file, whichever clinic writes)."""
    alone = time_calls(charting.entry, CHART_ENTRIES)
    stop = threading.Event()
    loads = [0]

    def dashboards() -> None:
        uow = UnitOfWork(context.database.session_factory)
        while not stop.is_set():
            clinic_dashboard(uow, actor=viewer, zone=context.calendar.zone)
            loads[0] += 1

    reader = threading.Thread(target=dashboards)
    reader.start()
    try:
        time.sleep(0.2)
        loaded = time_calls(charting.entry, CHART_ENTRIES)
    finally:
        stop.set()
        reader.join()
    return {"alone": alone, "dashboard_in_a_loop": loaded, "dashboards_loaded": loads[0]}


def _count(database: Database, table: str) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def measure_size(
    context: ServiceContext,
    client: TestClient,
    token: str,
    template: Template,
    charting: Charting | None,
    viewer: Actor,
    database_path: Path | None,
) -> dict[str, Any]:
    database = context.database
    pid, cid, sid = template.patient_id, template.course_id, template.session_id
    with database.session_factory() as session:
        began = time.perf_counter()
        full = verify_audit_chain(session)
        full_s = time.perf_counter() - began
    if not full.ok:
        raise SystemExit(verification_failure("audit verify failed on the generated clinic", full))
    bearer = {"Authorization": f"Bearer {token}"}
    pages = {
        "dashboard": "/dashboard",
        "patient list": "/patients",
        "patient search (a name few share)": "/patients?q=harper",
        "patient search (a common part)": "/patients?q=patient%201",
        "patient page": f"/patients/{pid}",
        "course page": f"/courses/{cid}",
        "session console": f"/sessions/{sid}",
        "order page with its prediction": f"/plans/{template.plan_id}",
        "record edit": f"/patients/{pid}/edit",
        "bookings (front desk's page)": f"/bookings/patients/{pid}",
        "chair board": "/board",
        "chair board lines (polled)": "/board/lines",
    }
    admin_pages = {
        "audit trail (admin)": "/audit",
        "audit trail of one patient (admin)": f"/audit?patient={pid}",
        "staff (admin)": "/staff",
        "clinic settings (admin)": "/settings",
    }
    api = {
        "API patients": "/api/v1/patients",
        "API patient search (a name few share)": "/api/v1/patients?q=harper",
        "API a patient's sessions": f"/api/v1/patients/{pid}/sessions",
        "API a patient's plans": f"/api/v1/patients/{pid}/plans",
        "API a patient's courses": f"/api/v1/patients/{pid}/courses",
        "API a patient's questionnaires": f"/api/v1/patients/{pid}/questionnaires",
    }
    timings = {name: time_get(client, path) for name, path in pages.items()}
    timings |= {name: time_get(client, path, bearer) for name, path in api.items()}
    form_sign_in(client, "admin@scale.example", PASSWORD, "/audit")
    timings |= {name: time_get(client, path) for name, path in admin_pages.items()}
    form_sign_in(client, "prescriber@scale.example", PASSWORD, "/patients")
    with database.session_factory() as session:
        began = time.perf_counter()
        since = verify_audit_chain(session, since=full.position)
        incremental_s = time.perf_counter() - began
    if not since.ok:
        raise SystemExit(verification_failure("incremental audit verify failed", since))
    result: dict[str, Any] = {
        "rows": {
            table: _count(database, table)
            for table in ("patient", "infusion_session", "session_event", "audit_event")
        },
        "timings": timings,
        "audit_verify_full": {"events": full.checked, "seconds": round(full_s, 2)},
        "audit_verify_incremental": {
            "events": since.position.seq - full.position.seq,
            "seconds": round(incremental_s, 3),
        },
    }
    if database_path is not None:
        with tempfile.TemporaryDirectory() as folder:
            began = time.perf_counter()
            backup_sqlite(database_path, Path(folder) / "copy.db")
            result["backup_s"] = round(time.perf_counter() - began, 2)
    if charting is not None:
        result["contention"] = contention(context, charting, viewer)
    return result


def exponent(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log time against log patients."""
    xs = [math.log(n) for n in sizes]
    ys = [math.log(max(t, 1e-3)) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def run_backend(backend: str) -> dict[str, Any]:
    catalog = load_catalog()
    with database_url(backend) as url:
        engine = make_engine(url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        database = open_database(url)
        try:
            context = ServiceContext(
                database=database,
                catalog=catalog,
                resolver=MedicationResolver(catalog, DnerDrugDictionary()),
                monitoring=load_monitoring_rules(),
                calendar=load_calendar(None, catalog.clinic.time_zone),
            )
            began = time.perf_counter()
            staff = _clinic(context, "Scale Clinic", "scale.example")
            neighbour_staff = _clinic(context, "Neighbour Clinic", "neighbour.example")
            template = build_template(context, staff, "Patient 0")
            neighbour = build_template(context, neighbour_staff, "Neighbour 0")
            for n in range(TODAY_PATIENTS):
                build_today(context, staff, f"Harper Today {n}")
            Cloner(database, neighbour.patient_id, "Neighbour").add(NEIGHBOUR_PATIENTS - 1)
            clones = Cloner(database, template.patient_id, "Patient")
            charting = (
                Charting(
                    context,
                    neighbour_staff.nurse,
                    build_today(context, neighbour_staff, "Neighbour Today"),
                )
                if backend == "sqlite"
                else None
            )
            path = Path(make_url(url).database or "") if backend == "sqlite" else None
            sizes: dict[int, Any] = {}
            build_s = time.perf_counter() - began
            for size in SIZES:
                grew = time.perf_counter()
                clones.add(size - 1 - TODAY_PATIENTS - clones.made)
                if backend == "postgresql":
                    # In a clinic, autovacuum analyses tables that grew this much; a bulk insert
                    # minutes before the timings outruns it, and stale statistics pick plans no
                    # live clinic would run. SQLite gathers none unless told (ANALYZE), so it
                    # is measured as it ships.
                    with database.engine.begin() as connection:
                        connection.execute(text("ANALYZE"))
                build_s += time.perf_counter() - grew
                sys.stdout.write(f"{backend}: {size} patients built ({build_s:.0f} s so far)\n")
                sys.stdout.flush()
                with TestClient(create_app(context)) as client:
                    token = sign_in(client, "prescriber@scale.example")
                    sizes[size] = measure_size(
                        context, client, token, template, charting, staff.nurse, path
                    )
                sizes[size]["build_s_so_far"] = round(build_s, 1)
        finally:
            database.close()
    names = list(sizes[SIZES[0]]["timings"])

    def growth(figure: Callable[[dict[str, float]], float]) -> dict[str, float]:
        return {
            name: round(exponent(SIZES, [figure(sizes[n]["timings"][name]) for n in SIZES]), 3)
            for name in names
        }

    return {
        "load_at_end": _load(),
        "sizes": sizes,
        "growth_exponent_p50": growth(lambda t: t["p50_ms"]),
        "growth_exponent_load_adjusted": growth(lambda t: t["p50_ms"] / t["floor_p50_ms"]),
    }


def _report(results: dict[str, Any]) -> str:
    lines = [
        "# Scale benchmark",
        "",
        f"Python {results['python']}, {results['cores']} cores, a shared machine (load "
        "averages below, per database). "
        f"One clinic at {', '.join(f'{n:,}' for n in SIZES)} patients beside a "
        f"{NEIGHBOUR_PATIENTS:,}-patient clinic; each patient {SESSIONS} charted sessions "
        f"(15 events each), {SESSIONS * 2 + 2} questionnaires, a plan, order and course; "
        "the clones' audit trails "
        + ("with" if CHART_AUDIT else "without")
        + " an event per chart entry (KETAPLAN_BENCH_SCALE_CHART_AUDIT). "
        f"In-process TestClient, {RUNS} runs after {WARM_UP} warm-ups. Exponent: slope of log "
        "p50 against log patients; load-adjusted: of p50 divided by the p50 of a static file "
        f"fetched between the runs (`{FLOOR_PATH}`), which takes out how much slower the "
        "shared machine was while each size was measured. Targets: growth "
        f"exponent < {EXPONENT_TARGET} and p90 < "
        f"{PAGE_TARGET_MS:.0f} ms at the largest size; a chart entry p90 < "
        f"{CHART_TARGET_MS:.0f} ms while the dashboard loads in a loop (SQLite).",
        "",
    ]
    for backend, measured in results["backends"].items():
        sizes = measured["sizes"]
        largest = sizes[SIZES[-1]]
        adjusted = measured.get("growth_exponent_load_adjusted", {})
        lines += [
            f"## {backend}",
            "",
            f"Load average at start {measured.get('load_at_start', results.get('load_at_start'))},"
            f" at end {measured.get('load_at_end', results.get('load_at_end'))}.",
            "",
            "| operation | "
            + " | ".join(f"{n:,} p50 / p90 ms" for n in SIZES)
            + " | exponent | load-adjusted | target |",
            "|---|" + "---:|" * len(SIZES) + "---:|---:|---|",
        ]
        for name, slope in measured["growth_exponent_p50"].items():
            cells = [
                f"{sizes[n]['timings'][name]['p50_ms']:.1f} / "
                f"{sizes[n]['timings'][name]['p90_ms']:.1f}"
                for n in SIZES
            ]
            fair = adjusted.get(name)
            met = min(slope, fair if fair is not None else slope) < EXPONENT_TARGET and (
                largest["timings"][name]["p90_ms"] < PAGE_TARGET_MS
            )
            verdict = "met" if met else "**missed**"
            shown = "—" if fair is None else f"{fair:.3f}"
            lines.append(
                f"| {name} | " + " | ".join(cells) + f" | {slope:.3f} | {shown} | {verdict} |"
            )
        lines += [
            "",
            "| size | patients | sessions | chart events | audit events | build s (so far) | "
            "`audit verify --full` s | incremental s (events) | backup s |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for n in SIZES:
            s = sizes[n]
            rows = s["rows"]
            inc = s["audit_verify_incremental"]
            lines.append(
                f"| {n:,} | {rows['patient']:,} | {rows['infusion_session']:,} | "
                f"{rows['session_event']:,} | {rows['audit_event']:,} | {s['build_s_so_far']} | "
                f"{s['audit_verify_full']['seconds']} | {inc['seconds']} ({inc['events']:,}) | "
                f"{s.get('backup_s', '—')} |"
            )
        if "contention" in largest:
            lines += [
                "",
                "| size | chart entry alone p50 / p90 ms | while the dashboard loads in a loop "
                "p50 / p90 ms | dashboards loaded | target |",
                "|---:|---:|---:|---:|---|",
            ]
            for n in SIZES:
                c = sizes[n]["contention"]
                a, d = c["alone"], c["dashboard_in_a_loop"]
                verdict = "met" if d["p90_ms"] < CHART_TARGET_MS else "**missed**"
                lines.append(
                    f"| {n:,} | {a['p50_ms']:.1f} / {a['p90_ms']:.1f} | {d['p50_ms']:.1f} / "
                    f"{d['p90_ms']:.1f} | {c['dashboards_loaded']} | {verdict} |"
                )
        lines.append("")
    return "\n".join(lines)


def _load() -> str:
    return ", ".join(f"{n:.1f}" for n in os.getloadavg())


def _written() -> dict[str, Any]:
    """Each database's figures from an earlier run at these sizes (a run of one database
    keeps the other's; read again before each write, so two runs side by side keep both)."""
    written = RESULTS / "scale.json"
    earlier = json.loads(written.read_text()) if written.is_file() else {}
    if earlier.get("sizes") != SIZES:
        return {}
    return {
        backend: {**figures, "sizes": {int(n): f for n, f in figures["sizes"].items()}}
        for backend, figures in earlier["backends"].items()
    }  # JSON keeps the sizes as text


def main() -> None:
    """Each database's figures are written as soon as it finishes, so a run cut short keeps
    what it measured."""
    began = time.perf_counter()
    report = ""
    for backend in BACKENDS:
        measured = {"load_at_start": _load(), **run_backend(backend)}
        results = {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "sizes": SIZES,
            "neighbour_patients": NEIGHBOUR_PATIENTS,
            "clones_audit_chart_entries": CHART_AUDIT,
            "runs": RUNS,
            "date": date.today().isoformat(),
            "total_s": round(time.perf_counter() - began, 1),
            "backends": {**_written(), backend: measured},
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
        report = _report(results)
        (RESULTS / "scale.md").write_text(report)
    sys.stdout.write(report)


if __name__ == "__main__":
    if sys.argv[1:] == ["--report"]:  # scale.md again from scale.json, measuring nothing
        kept = json.loads((RESULTS / "scale.json").read_text())
        (RESULTS / "scale.md").write_text(_report({**kept, "backends": _written()}))
    else:
        main()
