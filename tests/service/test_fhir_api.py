"""The FHIR and exit-export routes: Patient/$everything, the Bulk Data $export cycle (kick-off,
status, files, delete), the CSV zip; who may call each, and the audit trail they leave."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.service.conftest import post_sign_in
from tests.service.fhir_checks import bundle_problems, validate
from tests.service.test_fhir_export import copy_of_demo, demo_template

from ketaplan.app import create_app
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.http.context import ServiceContext
from ketaplan.services import UnitOfWork, add_user, load_actor
from ketaplan.services.demo_clinic import DEMO_EMAILS
from ketaplan.store import Database, open_database
from ketaplan.store.models import AuditEvent

FRONT_DESK = "front@demo-clinic.example"
FRONT_DESK_PASSWORD = "front desk password 1"


@dataclass
class DemoApi:
    client: TestClient
    headers: dict[str, dict[str, str]]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A copy of the demo clinic (SQLite): the routes are the subject here."""
    opened = open_database(copy_of_demo(tmp_path))
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def demo_api(
    database: Database, catalog: Catalog, resolver: MedicationResolver
) -> Iterator[DemoApi]:
    made = demo_template()[1]
    passwords = {role: password for role, _email, password in made.credentials}
    uow = UnitOfWork(database.session_factory)
    admin = load_actor(uow, DEMO_EMAILS["admin"], origin="test")
    add_user(uow, email=FRONT_DESK, role="front_desk", actor=admin, password=FRONT_DESK_PASSWORD)
    context = ServiceContext(
        database=database,
        catalog=catalog,
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, catalog.clinic.time_zone),
    )
    logins = {role: (DEMO_EMAILS[role], passwords[role]) for role in DEMO_EMAILS}
    logins["front_desk"] = (FRONT_DESK, FRONT_DESK_PASSWORD)
    with TestClient(create_app(context)) as client:
        headers = {}
        for role, (email, password) in logins.items():
            answer = client.post("/api/v1/auth/token", json={"email": email, "password": password})
            assert answer.status_code == 200, answer.text
            headers[role] = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        yield DemoApi(client, headers)


def _actions(database: Database) -> list[str]:
    with database.session_factory() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_patient_everything_is_a_valid_bundle_for_clinical_staff_only(
    demo_api: DemoApi, database: Database
) -> None:
    client, headers = demo_api.client, demo_api.headers
    answer = client.get("/api/v1/fhir/Patient/1/$everything", headers=headers["nurse"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    bundle = answer.json()
    assert bundle_problems(bundle) == []
    assert validate([e["resource"] for e in bundle["entry"]]) == []
    assert bundle["entry"][0]["fullUrl"] == "http://testserver/api/v1/fhir/Patient/1"
    assert _actions(database)[-1] == "fhir.export"

    refused = client.get("/api/v1/fhir/Patient/1/$everything", headers=headers["front_desk"])
    assert refused.status_code == 403
    missing = client.get("/api/v1/fhir/Patient/999/$everything", headers=headers["nurse"])
    assert missing.status_code == 404
    assert client.get("/api/v1/fhir/Patient/1/$everything").status_code == 401


def test_bulk_export_kick_off_status_files_and_delete(
    demo_api: DemoApi, database: Database
) -> None:
    client, admin = demo_api.client, demo_api.headers["admin"]
    asynchronous = {**admin, "Prefer": "respond-async", "Accept": "application/fhir+json"}
    started = client.get("/api/v1/fhir/$export", headers=asynchronous)
    assert started.status_code == 202, started.text
    status_url = started.headers["content-location"]
    assert status_url.startswith("http://testserver/api/v1/fhir/$export-status/")

    done = client.get(status_url, headers=admin)  # the test client ran the job already
    assert done.status_code == 200, done.text
    assert done.headers["expires"].endswith(" GMT")  # when the files are removed (24 h)
    found = done.json()
    assert found["requiresAccessToken"] is True
    assert found["error"] == []
    types = [o["type"] for o in found["output"]]
    assert types == sorted(types)
    assert {"Patient", "Observation", "MedicationAdministration", "Provenance"} <= set(types)
    resources = []
    for output in found["output"]:
        file = client.get(output["url"], headers=admin)
        assert file.status_code == 200
        assert file.headers["content-type"].startswith("application/fhir+ndjson")
        lines = file.text.splitlines()
        assert len(lines) == output["count"]
        resources += [json.loads(line) for line in lines]
    assert validate(resources) == []
    assert sum(r["resourceType"] == "Patient" for r in resources) == 4
    actions = _actions(database)
    assert actions.count("fhir.export") == 4  # one per patient, when the job ran
    assert actions.count("fhir.export.download") == len(found["output"])

    # another role may not poll, download or delete it
    nurse = demo_api.headers["nurse"]
    assert client.get(status_url, headers=nurse).status_code == 403
    assert client.get(found["output"][0]["url"], headers=nurse).status_code == 403
    assert client.delete(status_url, headers=admin).status_code == 202
    assert client.get(status_url, headers=admin).status_code == 404
    assert client.get(found["output"][0]["url"], headers=admin).status_code == 404


def test_bulk_export_type_filter_and_refusals(demo_api: DemoApi) -> None:
    client, admin = demo_api.client, demo_api.headers["admin"]
    asynchronous = {**admin, "Prefer": "respond-async"}
    started = client.get(
        "/api/v1/fhir/$export", params={"_type": "Patient,Condition"}, headers=asynchronous
    )
    found = client.get(started.headers["content-location"], headers=admin).json()
    assert [o["type"] for o in found["output"]] == ["Condition", "Patient"]

    for params, headers, says in (
        ({}, admin, "Prefer"),
        ({"_type": "Patient,Medication"}, asynchronous, "Medication"),
        ({"_outputFormat": "text/csv"}, asynchronous, "_outputFormat"),
        ({"_since": "2026-01-01T00:00:00Z"}, asynchronous, "_since"),
    ):
        refused = client.get("/api/v1/fhir/$export", params=params, headers=headers)
        assert 400 <= refused.status_code < 500, refused.text
        assert says in refused.text
    nurse = {**demo_api.headers["nurse"], "Prefer": "respond-async"}
    assert client.get("/api/v1/fhir/$export", headers=nurse).status_code == 403
    for bad in ("../../etc", "x" * 22, "short"):
        assert client.get(f"/api/v1/fhir/$export-status/{bad}", headers=admin).status_code == 404


def test_the_csv_exit_export_is_a_zip_for_admins(demo_api: DemoApi, database: Database) -> None:
    client = demo_api.client
    answer = client.get("/api/v1/exports/csv", headers=demo_api.headers["admin"])
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = {n.removeprefix("ketaplan-export/") for n in archive.namelist()}
    assert {"README.md", "patients.csv", "chart_events.csv", "questionnaire_answers.csv"} <= names
    patients = archive.read("ketaplan-export/patients.csv").decode("utf-8").splitlines()
    assert patients[0].startswith("patient_id,current_version,full_name")
    assert len(patients) == 1 + 4
    assert _actions(database)[-1] == "export.csv.clinic"
    for role in ("prescriber", "nurse", "front_desk"):
        refused = client.get("/api/v1/exports/csv", headers=demo_api.headers[role])
        assert refused.status_code == 403


def test_the_settings_page_links_the_admin_to_the_exit_export(demo_api: DemoApi) -> None:
    client = demo_api.client
    client.headers.clear()
    password = {r: p for r, _e, p in demo_template()[1].credentials}["admin"]
    signed_in = post_sign_in(client, DEMO_EMAILS["admin"], password)
    assert signed_in.status_code in (200, 303), signed_in.text
    page = client.get("/settings")
    link = re.search(r'<a href="([^"]+)" download>download the exit export</a>', page.text)
    assert link is not None
    answer = client.get(link.group(1))  # the browser's cookie is enough for a download
    assert answer.status_code == 200
    assert "README.md" in " ".join(zipfile.ZipFile(io.BytesIO(answer.content)).namelist())
