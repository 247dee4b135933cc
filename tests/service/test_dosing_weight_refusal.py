"""A clinic that doses obese patients by ideal body weight refuses a plan for a patient whose
sex (or height) is missing, the same way on every path: the service, the REST API (422), the
plan page (422 with the message above the form) and ``ketaplan plan`` (exit 2). Nothing is
saved; the message names what to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ketaplan.app import create_app
from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.errors import InputError
from ketaplan.http.context import ServiceContext
from ketaplan.services import (
    PatientDetails,
    PlanOrder,
    UnitOfWork,
    add_user,
    create_patient,
    create_plan,
    set_up_clinic,
)
from ketaplan.store import Database
from ketaplan.store.models import InfusionPlan

from .conftest import PASSWORD, post_sign_in

NURSE = "nurse@ideal.example"
OBESE_WITHOUT_SEX = {"weight": "118 kg", "height": "160 cm"}  # BMI 46


@pytest.fixture
def ideal_clinic(
    database: Database, catalog: Catalog, resolver: MedicationResolver
) -> Iterator[tuple[ServiceContext, TestClient]]:
    clinic = replace(catalog.clinic, obese_weight_basis="ideal")
    context = ServiceContext(
        database=database,
        catalog=replace(catalog, clinic=clinic),
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, clinic.time_zone),
    )
    uow = UnitOfWork(database.session_factory)
    admin = set_up_clinic(
        uow, name="Ideal", time_zone=clinic.time_zone, admin_email="admin@ideal.example"
    )
    add_user(uow, email=NURSE, role="nurse", actor=admin, password=PASSWORD)
    with TestClient(create_app(context)) as client:
        yield context, client


def _no_plans(database: Database) -> bool:
    from sqlalchemy import func, select

    with database.session_factory() as session:
        return session.scalar(select(func.count()).select_from(InfusionPlan)) == 0


def test_every_path_refuses_an_ideal_weight_plan_without_the_sex(
    ideal_clinic: tuple[ServiceContext, TestClient],
    database: Database,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context, client = ideal_clinic
    uow = UnitOfWork(database.session_factory)
    from ketaplan.services import load_actor

    nurse = load_actor(uow, NURSE, origin="test")
    patient = create_patient(
        uow,
        PatientDetails(full_name="No Sex Recorded", **OBESE_WITHOUT_SEX),
        actor=nurse,
        catalog=context.catalog,
    )

    # The service.
    with pytest.raises(InputError) as refused:
        create_plan(
            UnitOfWork(database.session_factory),
            patient.patient_id,
            PlanOrder("depression"),
            actor=nurse,
            policy=context.policy,
            resolver=context.resolver,
        )
    assert refused.value.fields["missing"] == ["sex"]
    message = refused.value.message
    assert "add the sex (female or male)" in message

    # The REST API.
    token = client.post("/api/v1/auth/token", json={"email": NURSE, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    answer = client.post(
        f"/api/v1/patients/{patient.patient_id}/plans",
        json={"condition": "depression"},
        headers=headers,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "input.missing"
    assert answer.json()["message"] == message

    # The plan page: the message shows above the form (the form has no sex field).
    signed_in = post_sign_in(client, NURSE, PASSWORD, next="/patients")
    assert signed_in.status_code == 303
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/patients").text)
    assert csrf
    page = client.post(
        f"/patients/{patient.patient_id}/plans/new",
        data={"csrf_token": csrf.group(1), "condition": "depression"},
        follow_redirects=False,
    )
    assert page.status_code == 422
    assert "add the sex (female or male)" in page.text
    assert _no_plans(database)

    # The command line, with a clinic file that sets the same basis.
    clinic_file = tmp_path / "clinic.toml"
    clinic_file.write_text('[clinic]\nobese_weight_basis = "ideal"\n')
    typed = ["--weight", OBESE_WITHOUT_SEX["weight"], "--height", OBESE_WITHOUT_SEX["height"]]
    code = main(["plan", "--condition", "depression", "--catalog", str(clinic_file), *typed])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert message in err
