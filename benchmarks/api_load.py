"""Benchmark: the REST API under load, beside a bare FastAPI endpoint in the same run.

Run with `make bench-api` (or `.venv/bin/python benchmarks/api_load.py`). Results go to
benchmarks/results/api_load.json and api_load.md. Targets (issue 4): plan creation >= 50 % of
the bare endpoint's throughput; p99 < 50 ms at 200 requests/s; on SQLite and PostgreSQL.

Servers: `ketaplan serve --workers 2` over a fresh, migrated database (SQLite in a temporary
directory; PostgreSQL in a fresh schema of the database named by KETAPLAN_BENCH_POSTGRES_URL or
KETAPLAN_TEST_POSTGRES_URL, skipped when neither is set), and a bare FastAPI app (one POST
endpoint that parses a JSON body and answers JSON) under the same two workers, each on a socket
of its own (ketaplan.http.workers). Both on 127.0.0.1.

Load: an asyncio HTTP/1.1 client in this process (keep-alive connections, no HTTP library in
the way, so that the client costs as little as possible; it shares the machine's cores with
the servers, which the report says):

* closed loop: CONCURRENCY connections each sending its next request when the last is answered,
  for SECONDS after a warm-up; throughput and p50/p99 latency;
* open loop: requests started on a fixed schedule of RATE per second whatever the answers do,
  latency counted from the scheduled start (so a stall is not hidden by the client waiting,
  the "coordinated omission" trap); p50/p99.

Requests: bare ``POST /plans``; plan creation ``POST /api/v1/patients/{id}/plans`` with
``{"condition": "depression"}`` as a prescriber (screening, dosing, limits, preparation, the
saved plan and its audit row); event append ``POST /api/v1/sessions/{id}/events`` as a nurse, a
note after the events already seen, each connection charting its own sessions and moving to a
new one every EVENTS_PER_SESSION events (charts as long as real ones).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench_support import postgres_schema
from ketaplan.http.transport import HTTP_PROTOCOL

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CONCURRENCY = 16
SECONDS = 8.0
WARM_UP_S = 2.0
RATE = 200
EVENTS_PER_SESSION = 20
PASSWORD = "benchmark passphrase"
EVENT_AT = "2025-12-07T09:00:00-08:00"  # in the past: charts refuse future times

BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class Order(BaseModel):
    condition: str


@app.post("/plans", status_code=201)
async def plans(order: Order) -> dict[str, str]:
    return {"condition": order.condition, "status": "ok"}
"""


# ---------------------------------------------------------------- client ----


class Connection:
    """One keep-alive HTTP/1.1 connection; requests one at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, token: str | None) -> tuple[int, bytes]:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{auth}\r\n"
        )
        for attempt in (1, 2):
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            assert self.reader is not None
            self.writer.write(head.encode() + body)
            status_line = await self.reader.readline()
            if status_line or not reused or attempt == 2:
                break
            self.close()  # the server closed an idle keep-alive connection: reconnect once
        status = int(status_line.split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


Request = tuple[str, bytes]
"""A path and a JSON body."""


@dataclass
class Workload:
    """What one kind of request is: how to make the next one, and how to take its answer."""

    name: str
    port: int
    token: str | None
    next_request: Callable[[int], Request]
    """The next request of client ``k``."""
    answered: Callable[[int, int, bytes], None] = lambda _k, _status, _body: None
    expected_status: int = 201
    server_pid: int | None = None
    """The server's supervisor: its CPU time and its workers' is measured in the closed loop."""


@dataclass
class Figures:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    server_cpu_s: float | None = None

    def to_dict(self) -> dict[str, float | int]:
        ordered = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)

        return {
            "requests": self.requests,
            "errors": self.errors,
            "requests_per_s": round(self.requests / self.seconds, 1),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "max_ms": round(ordered[-1], 2),
            "mean_ms": round(statistics.fmean(ordered), 2),
        } | (
            {}
            if self.server_cpu_s is None
            else {
                "server_cpu_ms_per_request": round(self.server_cpu_s / self.requests * 1000, 3),
                "server_cpu_share_of_machine": round(
                    self.server_cpu_s / self.seconds / (os.cpu_count() or 1), 3
                ),
            }
        )


def process_tree_cpu_s(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid`` and its descendants now alive."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while we looked
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        used[child] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(used.get(member, 0.0) for member in tree)


async def closed_loop(work: Workload, seconds: float, warm_up_s: float) -> Figures:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + warm_up_s
    stop_at = measure_from + seconds

    cpu_s: list[float] = []

    async def server_cpu() -> None:
        for moment in (measure_from, stop_at):
            await asyncio.sleep(moment - time.perf_counter())
            cpu_s.append(process_tree_cpu_s(work.server_pid) if work.server_pid else 0.0)

    async def client(k: int) -> None:
        nonlocal errors
        connection = Connection(work.port)
        try:
            while (now := time.perf_counter()) < stop_at:
                path, body = work.next_request(k)
                status, answer = await connection.post(path, body, work.token)
                done = time.perf_counter()
                work.answered(k, status, answer)
                if now >= measure_from:
                    latencies.append((done - now) * 1000)
                    errors += status != work.expected_status
        finally:
            connection.close()

    await asyncio.gather(server_cpu(), *(client(k) for k in range(CONCURRENCY)))
    used = cpu_s[1] - cpu_s[0] if work.server_pid else None
    return Figures(len(latencies), errors, seconds, latencies, used)


async def open_loop(work: Workload, rate: float, seconds: float, warm_up_s: float) -> Figures:
    """Requests on a fixed schedule; each uses an idle connection or opens one."""
    latencies: list[float] = []
    errors = 0
    idle: list[Connection] = []
    every = 1.0 / rate
    start = time.perf_counter() + 0.05
    total = int((seconds + warm_up_s) * rate)
    tasks = []

    last_done = start

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors, last_done
        connection = idle.pop() if idle else Connection(work.port)
        path, body = work.next_request(i)
        status, answer = await connection.post(path, body, work.token)
        done = time.perf_counter()
        last_done = max(last_done, done)
        work.answered(i, status, answer)
        idle.append(connection)
        if scheduled - start >= warm_up_s:
            latencies.append((done - scheduled) * 1000)
            errors += status != work.expected_status

    for i in range(total):
        scheduled = start + i * every
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    # Achieved rate: the answers over the time they took to come back (an overloaded server
    # answers the offered RATE requests over much longer than the schedule).
    return Figures(len(latencies), errors, max(seconds, last_done - start - warm_up_s), latencies)


# ---------------------------------------------------------------- servers ----


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_up(port: int, path: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited ({process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                probe.sendall(
                    f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
                )
                if probe.recv(64).startswith(b"HTTP/1.1"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not start")


@contextmanager
def server(command: list[str], env: dict[str, str], port: int, probe: str) -> Iterator[int]:
    """Run ``command`` until the block ends; yields its pid."""
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until_up(port, probe, process)
        yield process.pid
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=30)


@dataclass
class Clinic:
    patient_id: int
    sessions: list[int]


def set_up(database_url: str, sessions: int) -> Clinic:
    """Migrate, and make a clinic, a prescriber, a nurse, a patient with a signed order and
    empty session charts on it."""
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
    from ketaplan.store import make_engine, migrate, open_database

    engine = make_engine(database_url)
    migrate(engine)
    engine.dispose()
    database = open_database(database_url)
    policy = load_policy()
    catalog = policy.catalog
    try:
        uow = UnitOfWork(database.session_factory)
        admin = set_up_clinic(
            uow, name="Bench Clinic", time_zone="America/Los_Angeles", admin_email="a@b.example"
        )
        for role in ("prescriber", "nurse"):
            add_user(uow, email=f"{role}@b.example", role=role, actor=admin, password=PASSWORD)
        nurse = load_actor(uow, "nurse@b.example", origin="bench")
        prescriber = load_actor(uow, "prescriber@b.example", origin="bench")
        details = PatientDetails(
            full_name="Bench Patient",
            weight="176 lb",
            height="5 ft 9 in",
            age_years=42,
            sex="female",
            medications=("Lamictal", "alprazolam 0.5 mg"),
        )
        patient = create_patient(uow, details, actor=nurse, catalog=catalog).patient_id
        resolver = MedicationResolver(catalog, DnerDrugDictionary())
        order = PlanOrder("depression")
        proposed = create_plan(
            uow, patient, order, actor=nurse, policy=policy, resolver=resolver
        )  # charts open only on a signed order
        sign_order(uow, proposed.plan_id, password=PASSWORD, actor=prescriber)
        charts = [
            open_session(uow, patient, condition="depression", actor=nurse, policy=policy)
            for _ in range(sessions)
        ]
    finally:
        database.close()
    return Clinic(patient, [c.session_id for c in charts])


def sign_in(port: int, email: str) -> str:
    async def go() -> str:
        connection = Connection(port)
        body = json.dumps({"email": email, "password": PASSWORD}).encode()
        status, answer = await connection.post("/api/v1/auth/token", body, None)
        connection.close()
        assert status == 200, answer
        token: str = json.loads(answer)["access_token"]
        return token

    return asyncio.run(go())


class Charts:
    """Session charts handed out to requests: one request per chart at a time (so the loads
    never race each other), a chart retired after EVENTS_PER_SESSION events."""

    def __init__(self, sessions: list[int]) -> None:
        self.fresh = iter(sessions)
        self.idle: list[list[int]] = []  # [session_id, seq]
        self.in_flight: dict[int, list[int]] = {}

    def next_request(self, k: int) -> Request:
        chart = self.idle.pop() if self.idle else [next(self.fresh), 0]
        self.in_flight[k] = chart
        event = {"type": "note", "at": EVENT_AT, "text": f"note {chart[1] + 1}"}
        body = json.dumps({"expected_seq": chart[1], "event": event}).encode()
        return f"/api/v1/sessions/{chart[0]}/events", body

    def answered(self, k: int, status: int, _body: bytes) -> None:
        chart = self.in_flight.pop(k)
        chart[1] += status == 201
        if chart[1] < EVENTS_PER_SESSION:
            self.idle.append(chart)


def measure_backend(
    name: str, database_url: str, bare_port: int, bare_pid: int
) -> dict[str, object]:
    # Enough charts for every request of every run, at EVENTS_PER_SESSION each.
    # An overloaded server in the open loop can have every request in flight at once, each on
    # its own chart: one chart per open-loop request, plus the closed loop's share.
    closed_appends = int((SECONDS + WARM_UP_S) * 1000)
    clinic = set_up(
        database_url,
        closed_appends // EVENTS_PER_SESSION + CONCURRENCY + int((SECONDS + WARM_UP_S) * RATE),
    )
    port = free_port()
    env = {**os.environ, "KETAPLAN_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "ketaplan", "serve", "--port", str(port)]
    command += ["--workers", "2", "--log-level", "warning"]
    results: dict[str, object] = {}
    with server(command, env, port, "/api/v1/health") as pid:
        prescriber = sign_in(port, "prescriber@b.example")
        nurse = sign_in(port, "nurse@b.example")
        plan_body = json.dumps({"condition": "depression"}).encode()
        plan_path = f"/api/v1/patients/{clinic.patient_id}/plans"
        bare = Workload("bare", bare_port, None, lambda _k: ("/plans", plan_body))
        bare.server_pid = bare_pid
        plans = Workload("plans", port, prescriber, lambda _k: (plan_path, plan_body))
        plans.server_pid = pid
        charts = Charts(clinic.sessions)
        events = Workload("events", port, nurse, charts.next_request, charts.answered)
        events.server_pid = pid
        for work in (bare, plans, events):
            figures = asyncio.run(closed_loop(work, SECONDS, WARM_UP_S))
            results[f"{work.name}_closed"] = figures.to_dict()
            print(f"  [{name}] {work.name:<6} closed loop {figures.to_dict()}", flush=True)
        for work in (bare, plans, events):
            figures = asyncio.run(open_loop(work, RATE, SECONDS, WARM_UP_S))
            results[f"{work.name}_open_{RATE}"] = figures.to_dict()
            print(f"  [{name}] {work.name:<6} {RATE}/s open loop {figures.to_dict()}", flush=True)
    return results


def _row(label: str, figures: dict[str, float | int]) -> str:
    cpu_ms = figures.get("server_cpu_ms_per_request", "-")
    share = figures.get("server_cpu_share_of_machine")
    return (
        f"| {label} | {figures['requests_per_s']} | {figures['p50_ms']} | {figures['p99_ms']} "
        f"| {figures['max_ms']} | {figures['errors']} | {cpu_ms} "
        f"| {'-' if share is None else f'{share:.0%}'} |"
    )


def report(results: dict[str, dict[str, object]], machine: dict[str, object]) -> str:
    lines = [
        "# REST API load: ketaplan serve --workers 2 beside a bare FastAPI endpoint",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}, "
        f"load average at start {machine['load_average_at_start']} (other jobs share it). "
        f"Client: asyncio HTTP/1.1 in one process on the same machine (it shares the CPUs "
        f"with the servers). Closed loop: {CONCURRENCY} connections, {SECONDS:g} s after "
        f"{WARM_UP_S:g} s warm-up. Open loop: {RATE} requests/s for {SECONDS:g} s, latency from "
        "the scheduled start.",
        "",
    ]
    for backend, figures in results.items():
        f = {k: v for k, v in figures.items() if isinstance(v, dict)}
        bare, plans, events = f["bare_closed"], f["plans_closed"], f["events_closed"]
        ratio = plans["requests_per_s"] / bare["requests_per_s"]
        lines += [
            f"## {backend}",
            "",
            "| load | req/s | p50 ms | p99 ms | max ms | errors | server CPU ms/request "
            "| server CPU, share of machine |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            _row("bare FastAPI, closed loop", bare),
            _row("plan creation, closed loop", plans),
            _row("event append, closed loop", events),
            _row(f"bare FastAPI, {RATE}/s offered, open loop", f[f"bare_open_{RATE}"]),
            _row(f"plan creation, {RATE}/s offered, open loop", f[f"plans_open_{RATE}"]),
            _row(f"event append, {RATE}/s offered, open loop", f[f"events_open_{RATE}"]),
            "",
            f"- plan creation / bare throughput: **{ratio:.1%}** (target >= 50 %: "
            f"{'met' if ratio >= 0.5 else 'MISSED'})",
            "- event append / bare throughput: "
            f"{events['requests_per_s'] / bare['requests_per_s']:.1%}",
            "- server CPU per request, against the bare endpoint's: plan creation "
            f"{plans['server_cpu_ms_per_request'] / bare['server_cpu_ms_per_request']:.1f}x, "
            "event append "
            f"{events['server_cpu_ms_per_request'] / bare['server_cpu_ms_per_request']:.1f}x",
        ]
        for work in ("plans", "events"):
            p99 = f[f"{work}_open_{RATE}"]["p99_ms"]
            lines.append(
                f"- {work} p99 at {RATE}/s: {p99} ms (target < 50 ms: "
                f"{'met' if p99 < 50 else 'MISSED'})"
            )
        lines.append("")
    lines += [
        "## What is compared",
        "",
        "The bare endpoint parses a small JSON body and answers JSON: no sign-in, no database. A",
        "plan request checks the bearer token (one read transaction), then screens, doses, checks",
        "limits and prepares the infusion for the patient's current profile, saves the plan and",
        "appends its audit event to the hash chain (one write transaction, committed to disk).",
        "An event append checks the token, replays the session's chart, validates the new event",
        "against it, saves it and its audit event. On SQLite, write transactions take turns",
        "(ketaplan.store.writer_gate); on PostgreSQL, the audit chain head is locked per commit.",
        "The throughput ratio is therefore the cost of that work against an empty request; the",
        "p99 at the offered rate is what a clinic's clients would feel. Server CPU is the user",
        "and system time of the server's processes (supervisor and workers) over the measured",
        "seconds of the closed loop, per answered request; its share of the machine says how",
        "much of the CPUs the server used (the client in this process uses some of the rest).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    machine = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        bare_port = free_port()
        # The same server set-up as `ketaplan serve --workers 2`: uvicorn with its HTTP
        # protocol (TCP_NODELAY on, see ketaplan.http.transport) in two workers, each on a
        # socket of its own (ketaplan.http.workers), so that only the app differs.
        bare_command = [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {tmp!r}); import uvicorn; "
            "from ketaplan.http.workers import Workers, listening_sockets; "
            f"Workers(uvicorn.Config('bare_app:app', port={bare_port}, workers=2, "
            f"log_level='warning', http={HTTP_PROTOCOL!r}), "
            f"listening_sockets('127.0.0.1', {bare_port}, 2)).run()",
        ]
        with server(bare_command, dict(os.environ), bare_port, "/docs") as bare_pid:
            print("SQLite", flush=True)
            results["SQLite"] = measure_backend(
                "sqlite", f"sqlite:///{tmp}/bench.db", bare_port, bare_pid
            )
            base = os.environ.get("KETAPLAN_BENCH_POSTGRES_URL") or os.environ.get(
                "KETAPLAN_TEST_POSTGRES_URL"
            )
            if base:
                print("PostgreSQL", flush=True)
                with postgres_schema(base) as url:
                    results["PostgreSQL"] = measure_backend("postgresql", url, bare_port, bare_pid)
            else:
                print("PostgreSQL skipped: set KETAPLAN_BENCH_POSTGRES_URL", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "api_load.json").write_text(
        json.dumps({"machine": machine, "results": results}, indent=2) + "\n"
    )
    (RESULTS / "api_load.md").write_text(report(results, machine))
    print(f"written to {RESULTS / 'api_load.md'}")


if __name__ == "__main__":
    main()
