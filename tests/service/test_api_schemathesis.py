"""schemathesis against the API's own OpenAPI schema: no request makes a 500, every answer
matches the schema.

In-process (ASGI, no network), signed in as a prescriber (the role with the most routes), on a
fresh migrated database of each kind (SQLite, and PostgreSQL when the service tests have one:
PostgreSQL refuses some text SQLite stores, such as NUL) seeded with a clinic, a patient, a
plan, a course and a session,
so that generated ids such as 1 reach real records and not only 404s. Each operation gets valid
requests (positive) and invalid ones (negative: wrong types, missing fields, out-of-range
values). Sign-out is left out: it would revoke the token the run signs in with.

The run prints how many requests it made; the issue asks for at least 2,000 (on each database
here). `make test` makes half of each operation's requests, every operation in every mode
still, and ``KETAPLAN_DEEP_TESTS=1`` all of them; the operations are split into two tests, so
that the service tier's workers share the run.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from ketaplan.app import create_app
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.http.context import ServiceContext
from ketaplan.services import (
    PatientDetails,
    PlanOrder,
    UnitOfWork,
    add_user,
    create_patient,
    create_plan,
    load_actor,
    open_session,
    schedule_course,
    set_up_clinic,
    sign_order,
)
from ketaplan.store import migrate, open_database
from ketaplan.store.engine import make_engine

from .conftest import DEEP, PASSWORD

RUNS = (
    # (generation mode, aim path ids at the seeded records, requests per operation)
    (GenerationMode.POSITIVE, True, 45),
    (GenerationMode.POSITIVE, False, 20),
    (GenerationMode.NEGATIVE, False, 32),
)
MINIMUM_REQUESTS = 2_000
PARTS = 2
"""The operations are dealt into this many tests (every other one), so that the service tier's
workers share the run; each part must make its share of the minimum."""
SAMPLED = 2
"""`make test` makes 1/SAMPLED of each operation's requests of ``RUNS``, every operation in every
mode still: with 72 operations that is ~2,900 requests on each database, past the minimum
(~5,700 in full, each part ~2,860, measured). ``KETAPLAN_DEEP_TESTS=1`` makes them all."""
SEEDED_ID = 1
ID_PARAMETERS = ("patient_id", "plan_id", "course_id", "session_id", "recommendation_id")
LEFT_OUT = {"POST /api/v1/auth/sign-out"}


@pytest.fixture
def seeded_app(
    tmp_path: Path,
    database_url: str,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    # SQLite in memory when the machine has a tmpfs: a third faster, and the run is about the API.
    shm = Path("/dev/shm")
    sqlite = database_url.startswith("sqlite")
    folder = Path(tempfile.mkdtemp(dir=shm)) if sqlite and shm.is_dir() else tmp_path
    url = f"sqlite:///{folder / 'schemathesis.db'}" if sqlite else database_url
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    database = open_database(url)
    calendar = load_calendar(None, catalog.clinic.time_zone)
    uow = UnitOfWork(database.session_factory)
    admin = set_up_clinic(
        uow, name="Fuzz Clinic", time_zone="America/Los_Angeles", admin_email="admin@fuzz.example"
    )
    add_user(uow, email="rx@fuzz.example", role="prescriber", actor=admin, password=PASSWORD)
    prescriber = load_actor(uow, "rx@fuzz.example", origin="seed")
    patient = create_patient(
        uow,
        PatientDetails(full_name="Sam Seed", weight="80 kg", height="175 cm", age_years=40),
        actor=prescriber,
        catalog=catalog,
    )
    plan = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=policy,
        resolver=resolver,
    )
    sign_order(uow, plan.plan_id, password=PASSWORD, actor=prescriber)
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=prescriber,
        policy=policy,
        plan_id=plan.plan_id,
    )
    open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=prescriber,
        policy=policy,
        course_id=course.course_id,
        plan_id=plan.plan_id,
        number=1,
    )
    context = ServiceContext(
        database=database,
        catalog=catalog,
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=calendar,
    )
    with TestClient(create_app(context)) as client:
        answer = client.post(
            "/api/v1/auth/token", json={"email": "rx@fuzz.example", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        yield client, headers
    database.close()
    if folder != tmp_path:
        shutil.rmtree(folder)


@pytest.mark.slow
@pytest.mark.parametrize("part", range(PARTS), ids=lambda part: f"part{part + 1}of{PARTS}")
def test_no_generated_request_gets_a_server_error_or_an_answer_off_the_schema(
    seeded_app: tuple[TestClient, dict[str, str]], part: int
) -> None:
    client, headers = seeded_app
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", client.app, headers=headers)
    share = 1 if DEEP else SAMPLED
    made: dict[str, int] = {}
    statuses: Counter[int] = Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [operation for operation in operations if operation.label not in LEFT_OUT]
    assert len(operations) >= 2 * PARTS
    for operation in operations[part::PARTS]:
        for mode, aimed, all_examples in RUNS:
            examples = -(-all_examples // share)
            seeded = {
                name: SEEDED_ID for name in ID_PARAMETERS if "{" + name + "}" in operation.path
            }
            strategy = operation.as_strategy(
                generation_mode=mode,
                headers=dict(headers),
                # Valid requests aim at the seeded records, so they reach the services.
                path_parameters=seeded if aimed else None,
            )

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: schemathesis.Case) -> None:
                made[case.operation.label] = made.get(case.operation.label, 0) + 1
                response = case.call_and_validate(
                    headers=dict(headers),
                    checks=[not_a_server_error, response_schema_conformance],
                )
                statuses[response.status_code] += 1

            try:
                run()
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): negative mode has no cases.
                assert mode is GenerationMode.NEGATIVE, operation.label
    total = sum(made.values())
    print(
        f"schemathesis: {total} requests over {len(made)} operations; "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert total >= MINIMUM_REQUESTS // PARTS, made
