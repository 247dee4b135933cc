"""One clinic file, one plan: ``ketaplan plan --catalog``, the REST API of ``ketaplan serve
--catalog`` and the web app built from ``KETAPLAN_CATALOG`` plan the same patient identically.

The clinic file changes what each entry point could otherwise take from the packaged catalog:
the catalog version, the depression start dose and duration, and the dosing-weight basis for
obese patients (adjusted body weight). A patient with a BMI over 40 shows all three.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ketaplan.app import build_context, create_app
from ketaplan.cli import main
from ketaplan.services import UnitOfWork, add_user, set_up_clinic
from ketaplan.settings import load_settings
from ketaplan.store import Database

from .conftest import PASSWORD, free_port, post_sign_in

CLINIC_FILE = """
[catalog]
version = "bay-2026.12"

[clinic]
obese_weight_basis = "adjusted"

[protocols.depression]
choose = { dose = "own" }
start_mg_per_kg = 0.4
infusion_min = 50
sources = { start_mg_per_kg = "clinic_policy", infusion_min = "clinic_policy" }
"""
PATIENT = {"weight": "120 kg", "height": "170 cm", "age_years": 40, "sex": "female"}
PRESCRIBER = "prescriber@bay.example"


@pytest.fixture
def clinic_file(tmp_path: Path) -> Path:
    path = tmp_path / "bay-clinic.toml"
    path.write_text(CLINIC_FILE)
    return path


@pytest.fixture
def staffed(database: Database) -> None:
    uow = UnitOfWork(database.session_factory)
    admin = set_up_clinic(
        uow, name="Bay", time_zone="America/Los_Angeles", admin_email="admin@bay.example"
    )
    add_user(uow, email=PRESCRIBER, role="prescriber", actor=admin, password=PASSWORD)


def _call(port: int, method: str, path: str, body: object = None, token: str = "") -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


@pytest.fixture
def served(database_url: str, staffed: None, clinic_file: Path, tmp_path: Path) -> Iterator[int]:
    """``ketaplan serve --catalog <clinic file>`` on a free port; yields the port."""
    port = free_port()
    catalog = ("--catalog", str(clinic_file))
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "ketaplan", "serve", "--port", str(port), *catalog],
            env={**os.environ, "KETAPLAN_DATABASE_URL": database_url},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _call(port, "GET", "/health")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _comparable(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan without what only a saved order records: its state and the stock's
    provenance (the CLI is a calculator, not an order)."""
    assert plan["order"]["status"] == "active", plan["order"]
    assert plan["preparation_withheld"] is None
    preparation = dict(plan["preparation"])
    preparation.pop("stock", None)
    kept = {k: v for k, v in plan.items() if k not in ("order", "preparation_withheld")}
    return {**kept, "preparation": preparation}


def _signed(port: int, plan_id: int, token: str) -> dict[str, Any]:
    """The order signed by the prescriber: its preparation shows only then."""
    signed: dict[str, Any] = _call(
        port, "POST", f"/plans/{plan_id}/sign", {"password": PASSWORD}, token
    )["plan"]
    return signed


def test_the_cli_the_api_and_the_web_app_plan_a_patient_the_same_with_one_clinic_file(
    served: int,
    database_url: str,
    clinic_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    typed = ("--weight", "120 kg", "--height", "170 cm", "--age", "40", "--sex", "female")
    command = ["plan", "--condition", "depression", "--catalog", str(clinic_file), "--json"]
    assert main([*command, *typed]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    assert from_cli["catalog_version"] == "bay-2026.12"
    assert from_cli["dose"]["weight_basis"] == "adjusted"

    token = _call(served, "POST", "/auth/token", {"email": PRESCRIBER, "password": PASSWORD})[
        "access_token"
    ]
    patient = _call(served, "POST", "/patients", {"full_name": "Api Path", **PATIENT}, token)
    path = f"/patients/{patient['patient_id']}/plans"
    proposed = _call(served, "POST", path, {"condition": "depression"}, token)
    assert proposed["plan"]["preparation"] is None  # not signed yet
    from_api = _signed(served, proposed["plan_id"], token)

    # The web app as each worker of ``ketaplan serve`` builds it, from the environment.
    settings = load_settings(
        {"KETAPLAN_DATABASE_URL": database_url, "KETAPLAN_CATALOG": str(clinic_file)}
    )
    context = build_context(settings.database_url, catalog_files=settings.catalog_files)
    with TestClient(create_app(context)) as browser:
        post_sign_in(browser, PRESCRIBER, PASSWORD, next="/")
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', browser.get("/patients").text)
        assert csrf
        typed = {k: str(v) for k, v in PATIENT.items()}
        made = browser.post(
            "/patients/new",
            data={"csrf_token": csrf.group(1), "full_name": "Web Path", **typed},
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        planned = browser.post(
            f"{made.headers['location']}/plans/new",
            data={"csrf_token": csrf.group(1), "condition": "depression"},
            follow_redirects=False,
        )
        assert planned.status_code == 303, planned.text
    context.database.close()
    from_web = _signed(served, int(planned.headers["location"].rsplit("/", 1)[-1]), token)

    assert _comparable(from_api) == _comparable(from_web) == from_cli
