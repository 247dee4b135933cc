"""Benchmark: server time to render each main page for a patient with 20 sessions, in a clinic
of CLINIC_PATIENTS (2,000) patients.

The order page carries the planned infusion's prediction (a curve, its 5-95 % band over
virtual patients, the time below the reference level); a 21st session, infusing since ten
minutes before the build, is measured on the console with its prediction (as running, pause
now) and with the what-if of a lower rate (a third curve).

Run with `make bench-pages` (or `.venv/bin/python benchmarks/pages.py`). Results are written to
benchmarks/results/pages.json and pages.md. Target (issue 5): under 100 ms a page.

The patient has one course with 20 sessions, each charted with the 15 events of
examples/session1.jsonl (check-in, start, vitals with an alert, pause, resume, side effects, an
adjunct, stop, recovery vitals, tolerability, discharge) three days apart, and a PHQ-9 and a
GAD-7 after each session besides the baseline ones. Pages are fetched in-process through
FastAPI's TestClient, signed in as a prescriber, so the figure is the server's whole work for
a request (routing, sign-in check, services and their audited transactions, templates) without
a network. The database is a SQLite file in a temporary directory, or PostgreSQL when
KETAPLAN_BENCH_POSTGRES_URL names one (a schema of its own, dropped afterwards). Every page is
warmed up, then fetched RUNS times; median and 90th percentile wall time.

Every page read writes an audit row, so the audit table grows during the run as it does in a
clinic; that is part of what is measured.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench_support import form_sign_in, postgres_schema
from ketaplan.app import create_app
from ketaplan.clinical.catalog import load_catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.drug_dictionary import DnerDrugDictionary
from ketaplan.http.context import ServiceContext
from ketaplan.services import (
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
from ketaplan.store import migrate, open_database
from ketaplan.store.engine import make_engine
from scale import Cloner

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EXAMPLE = ROOT / "examples" / "session1.jsonl"
SESSIONS = 20
CLINIC_PATIENTS = int(os.environ.get("KETAPLAN_BENCH_PAGES_PATIENTS", "2000"))
"""The clinic's size: the measured patient and bulk-made copies of their record (issue 18)."""
WARM_UP = 5
RUNS = 60
TARGET_MS = 100.0
PASSWORD = "benchmark password 1234"


@contextmanager
def database_url() -> Iterator[tuple[str, str]]:
    """A fresh database URL and what it is, for the report."""
    base = os.environ.get("KETAPLAN_BENCH_POSTGRES_URL")
    if not base:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db", "SQLite (file, WAL)"
        return
    with postgres_schema(base) as url:
        yield url, "PostgreSQL"


def _session_events(start: datetime, plan: dict[str, Any]) -> list[dict[str, Any]]:
    """examples/session1.jsonl moved to start at ``start`` (same spacing between events), its
    start at the plan's bag and pump rate (a chart is checked against its order)."""
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


def build_patient(context: ServiceContext) -> dict[str, str]:
    """The clinic, a prescriber and the patient with 20 charted sessions; the page paths."""
    uow = UnitOfWork(context.database.session_factory)
    admin = set_up_clinic(
        uow,
        name="Benchmark Clinic",
        time_zone=context.calendar.time_zone,
        admin_email="admin@bench.example",
        admin_password=PASSWORD,
    )
    add_user(
        uow, email="prescriber@bench.example", role="prescriber", actor=admin, password=PASSWORD
    )
    doctor = load_actor(uow, "prescriber@bench.example", origin="127.0.0.1")
    patient = create_patient(
        uow,
        PatientDetails(
            full_name="Bench Patient",
            weight="176 lb",
            height="5 ft 9 in",
            age_years=42,
            sex="female",
            medications=("sertraline 100 mg", "alprazolam 0.5 mg"),
        ),
        actor=doctor,
        catalog=context.catalog,
    )
    pid = patient.patient_id
    screen_patient(
        uow,
        pid,
        condition="depression",
        actor=doctor,
        policy=context.policy,
        resolver=context.resolver,
    )
    plan = create_plan(
        uow,
        pid,
        PlanOrder("depression"),
        actor=doctor,
        policy=context.policy,
        resolver=context.resolver,
    )
    plan = sign_order(uow, plan.plan_id, password=PASSWORD, actor=doctor)
    now = datetime.now(UTC).replace(microsecond=0)
    first_start = now - timedelta(days=3 * (SESSIONS - 1), hours=4)
    zone = context.calendar.zone
    course = schedule_course(
        uow,
        pid,
        condition="depression",
        first_day=first_start.astimezone(zone).date(),
        actor=doctor,
        policy=context.policy,
        plan_id=plan.plan_id,
        confirm=True,  # a course already given: its days are in the past
    )
    cid = course.course_id
    for scale, answers in (("phq9", [3, 2, 2, 2, 2, 2, 2, 2, 1]), ("gad7", [2] * 7)):
        record_questionnaire(
            uow,
            pid,
            scale=scale,
            answers=answers,
            answered_at=first_start - timedelta(hours=1),
            actor=doctor,
            course_id=cid,
        )
    session_id = 0
    for number in range(1, SESSIONS + 1):
        start = first_start + timedelta(days=3 * (number - 1))
        chart = open_session(
            uow,
            pid,
            condition="depression",
            actor=doctor,
            policy=context.policy,
            course_id=cid,
            plan_id=plan.plan_id,
            number=number,
        )
        session_id = chart.session_id
        for seq, event in enumerate(_session_events(start, plan.plan)):
            append_session_event(
                uow,
                session_id,
                event,
                expected_seq=seq,
                actor=doctor,
                policy=context.policy,
            )
        better = min(number // 2, 2)
        for scale, answers in (
            ("phq9", [max(0, a - better) for a in (3, 2, 2, 2, 2, 2, 2, 2, 0)]),
            ("gad7", [max(0, 2 - better)] * 7),
        ):
            record_questionnaire(
                uow,
                pid,
                scale=scale,
                answers=answers,
                answered_at=start + timedelta(hours=1, minutes=30),
                actor=doctor,
                course_id=cid,
                session_id=session_id,
            )
    infusing = open_session(
        uow,
        pid,
        condition="depression",
        actor=doctor,
        policy=context.policy,
        course_id=cid,
        plan_id=plan.plan_id,
        number=SESSIONS + 1,
    ).session_id
    prep = plan.plan["preparation"]
    started = datetime.now(UTC) - timedelta(minutes=10)
    for seq, event in enumerate(
        (
            {
                "at": (started - timedelta(minutes=5)).isoformat(),
                "type": "check_in",
                "systolic": 128,
                "diastolic": 80,
                "heart_rate": 72,
                "spo2": 98,
            },
            {
                "at": started.isoformat(),
                "type": "start",
                "rate_ml_per_h": prep["pump_rate_ml_per_h"],
                "concentration_mg_per_ml": prep["final_mg_per_ml"],
            },
        )
    ):
        append_session_event(
            uow, infusing, event, expected_seq=seq, actor=doctor, policy=context.policy
        )
    lower = round(prep["pump_rate_ml_per_h"] / 2, 1)
    return {
        "patient overview + outcome chart": f"/patients/{pid}",
        "screening": f"/patients/{pid}/screening",
        "plan (order page with its prediction)": f"/plans/{plan.plan_id}",
        "course (calendar, cost, boosters, titration)": f"/courses/{cid}",
        "session console": f"/sessions/{session_id}",
        "session console infusing, with its prediction": f"/sessions/{infusing}",
        "session console, what-if lower rate": f"/sessions/{infusing}/what-if"
        f"?lower_rate_ml_per_h={lower:g}",
        "dashboard": "/dashboard",
        "patient list": "/patients",
        "record edit": f"/patients/{pid}/edit",
        "bookings (the front desk's page)": f"/bookings/patients/{pid}",
        "chair board": "/board",
        "chair board lines (polled every 5 s)": "/board/lines",
    }


ADMIN_PAGES = {
    "audit trail (admin)": "/audit",
    "staff (admin)": "/staff",
    "clinic settings (admin)": "/settings",
}


def sign_in(client: TestClient) -> None:
    form_sign_in(client, "prescriber@bench.example", PASSWORD, "/patients")


def time_page(client: TestClient, path: str) -> dict[str, float]:
    for _ in range(WARM_UP):
        answer = client.get(path)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.text[:300]}")
    times_ms = []
    size = len(answer.content)
    for _ in range(RUNS):
        began = time.perf_counter()
        client.get(path)
        times_ms.append((time.perf_counter() - began) * 1000)
    times_ms.sort()
    return {
        "median_ms": round(statistics.median(times_ms), 2),
        "p90_ms": round(times_ms[int(0.9 * (len(times_ms) - 1))], 2),
        "max_ms": round(times_ms[-1], 2),
        "bytes": size,
    }


def measure() -> dict[str, Any]:
    catalog = load_catalog()
    with database_url() as (url, backend):
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
            built = time.perf_counter()
            pages = build_patient(context)
            patient_id = int(pages["patient overview + outcome chart"].rsplit("/", 1)[1])
            Cloner(database, patient_id, "Patient").add(CLINIC_PATIENTS - 1)
            build_s = time.perf_counter() - built
            with TestClient(create_app(context)) as client:
                sign_in(client)
                baseline = time_page(client, "/static/app.css")
                results = {name: time_page(client, path) for name, path in pages.items()}
                form_sign_in(client, "admin@bench.example", PASSWORD, "/audit")
                results |= {name: time_page(client, path) for name, path in ADMIN_PAGES.items()}
                pages |= ADMIN_PAGES
        finally:
            database.close()
    return {
        "backend": backend,
        "build_s": round(build_s, 1),
        "baseline": baseline,
        "pages": {
            name: {**figures, "path": re.sub(r"/\d+", "/{id}", pages[name])}
            for name, figures in results.items()
        },
    }


def main() -> None:
    measured = measure()
    pages: dict[str, dict[str, Any]] = measured["pages"]
    misses = [name for name, f in pages.items() if f["p90_ms"] >= TARGET_MS]
    report = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "sessions": SESSIONS,
        "clinic_patients": CLINIC_PATIENTS,
        "runs": RUNS,
        "target_ms": TARGET_MS,
        **measured,
        "misses_at_p90": misses,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pages.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Page render benchmark",
        "",
        f"Python {report['python']}, {report['cores']} cores, {measured['backend']}; a clinic "
        f"of {CLINIC_PATIENTS:,} patients: one with {SESSIONS} charted sessions (15 events "
        "each) and a PHQ-9 and GAD-7 after each, and bulk-made copies of that record, four a "
        "day back in time (`scale.Cloner`); in-process TestClient, signed in as a prescriber "
        f"(the admin for the admin pages); {RUNS} runs a page after {WARM_UP} warm-ups. "
        f"Target: under {TARGET_MS:.0f} ms.",
        "",
        "| page | path | median ms | p90 ms | max ms | KB | target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name, f in pages.items():
        verdict = "met" if f["p90_ms"] < TARGET_MS else "**missed**"
        lines.append(
            f"| {name} | `{f['path']}` | {f['median_ms']:.1f} | {f['p90_ms']:.1f} | "
            f"{f['max_ms']:.1f} | {f['bytes'] / 1024:.0f} | {verdict} |"
        )
    base = measured["baseline"]
    lines += [
        "",
        f"Floor: a static file through the same client takes {base['median_ms']:.1f} ms "
        f"median ({base['p90_ms']:.1f} ms p90); that much of every figure is the test client "
        "and routing, not the page.",
        "",
        "Misses at p90: " + (", ".join(misses) if misses else "none") + ".",
        "",
    ]
    (RESULTS / "pages.md").write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))


if __name__ == "__main__":
    main()
