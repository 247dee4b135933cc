"""A client generated from the API's own OpenAPI document, driving a small workflow.

``openapi-python-client`` (a dev dependency, pinned) generates a Python package from the
document the app serves; the test imports it and, through the ASGI app (no network), signs in,
registers patients, pages through the patient list, makes a plan and reads it back as typed
models. The generation reads the document from a file and is run with every socket refused,
so it cannot have fetched anything. The document checks beside it are what a generator relies
on: a bearer scheme on the protected operations only, an error body and the Retry-After header
on every 429 and 503, and no untyped object left in a response but the few that are free-form.
"""

from __future__ import annotations

import importlib
import json
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openapi_python_client import generate
from openapi_python_client.config import Config, ConfigFile, MetaType
from sqlalchemy.exc import OperationalError

from ketaplan.api.plan_models import Plan
from ketaplan.http.permissions import PUBLIC, RULES

from .conftest import PASSWORD, ROLE_EMAILS, Api

PACKAGE = "ketaplan_client"
BINARY = dict.fromkeys(
    ("application/pdf", "application/zip", "application/fhir+ndjson"), "application/octet-stream"
)
"""The documents the API serves as files: bytes to the generated client."""
GOLDEN_PLANS = Path(__file__).parents[1] / "unit" / "golden" / "plans.json"

FREE_FORM = {
    # FHIR resources and bundles: their shape is FHIR's (validated against the R4 schema in
    # tests/service/test_fhir_export.py), not this API's.
    "/api/v1/fhir/Patient/{patient_id}/$everything",
    "/api/v1/fhir/$export-status/{job_id}",
}
"""Operations whose success body is free-form JSON on purpose."""


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"the generator tried to open a connection: {args}")


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    answer = api.client.get("/api/v1/openapi.json", headers=api.as_role("admin"))
    assert answer.status_code == 200
    schema: dict[str, Any] = answer.json()
    return schema


@pytest.fixture
def generated(
    document: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    source = tmp_path / "openapi.json"
    source.write_text(json.dumps(document), encoding="utf-8")
    output = tmp_path / PACKAGE
    config = Config.from_sources(
        ConfigFile(
            post_hooks=[],  # no ruff run over it
            package_name_override=PACKAGE,
            content_type_overrides=BINARY,
        ),
        MetaType.NONE,
        source,
        "utf-8",
        overwrite=True,
        output_path=output,
    )
    with monkeypatch.context() as offline:
        offline.setattr(socket.socket, "connect", _no_network)
        offline.setattr(socket, "create_connection", _no_network)
        errors = generate(config=config)
    assert [(e.header, e.detail) for e in errors] == [], "\n".join(
        f"{e.header}: {e.detail}" for e in errors
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_signs_in_pages_the_patients_and_reads_a_plan_back_typed(
    api: Api, generated: ModuleType
) -> None:
    models = _module("models")
    sign_in = _module("api.accounts.sign_in_for_token")
    create_patient = _module("api.patients.create_patient")
    search_patients = _module("api.patients.search_patients")
    create_plan = _module("api.plans.create_plan")
    read_plan = _module("api.plans.read_plan")

    anonymous = generated.Client(base_url="http://testserver")
    anonymous.set_httpx_client(TestClient(api.client.app))  # the ASGI app, in process
    token = sign_in.sync(
        client=anonymous,
        body=models.Credentials(email=ROLE_EMAILS["prescriber"], password=PASSWORD),
    )
    assert isinstance(token, models.Token), token
    client = generated.AuthenticatedClient(base_url="http://testserver", token=token.access_token)
    bearer = {client.auth_header_name: f"{client.prefix} {token.access_token}"}
    client.set_httpx_client(TestClient(api.client.app, headers=bearer))

    names = ["Ada Page", "Ben Page", "Cy Page", "Di Page", "Ed Page"]
    created = [
        create_patient.sync(
            client=client,
            body=models.PatientIn(
                full_name=name, weight="80 kg", height="175 cm", age_years=40 + number
            ),
        )
        for number, name in enumerate(names)
    ]
    assert all(isinstance(patient, models.PatientOut) for patient in created), created
    assert created[0].profile.weight_kg == 80.0

    seen: list[str] = []
    cursor: Any = generated.types.UNSET
    pages = 0
    while True:
        page = search_patients.sync(client=client, q="page", limit=2, cursor=cursor)
        assert isinstance(page, models.PatientPage), page
        assert page.total_count == len(names)
        seen += [item.full_name for item in page.items]
        pages += 1
        if not page.next_:
            break
        cursor = page.next_
    assert (seen, pages) == (names, 3)

    too_many = search_patients.sync_detailed(client=client, limit=10_000)
    assert too_many.status_code == 422
    assert isinstance(too_many.parsed, models.ErrorOut)
    assert "limit" in too_many.parsed.message

    plan = create_plan.sync(
        client=client,
        patient_id=created[0].patient_id,
        body=models.PlanIn(condition="depression"),
    )
    assert isinstance(plan, models.PlanOut), plan
    again = read_plan.sync(client=client, plan_id=plan.plan_id)
    assert isinstance(again, models.PlanOut), again
    assert isinstance(again.plan.dose, models.Dose)
    assert again.plan.dose.mg_per_kg == plan.plan.dose.mg_per_kg == 0.5
    assert again.plan.dose.total_mg == 40.0  # 0.5 mg/kg x 80 kg
    assert again.plan.preparation is None  # withheld until a prescriber signs
    assert again.plan.preparation_withheld == "not signed by a prescriber yet"
    assert again.order.status == "proposed"
    assert all(isinstance(f, models.Finding) for f in again.plan.eligibility.findings)

    refused = read_plan.sync_detailed(client=anonymous, plan_id=plan.plan_id)
    assert refused.status_code == 401
    assert refused.parsed.code == "auth.not_signed_in"


def test_a_generated_client_pages_the_audit_trail_by_its_cursor_with_no_count(
    api: Api, generated: ModuleType
) -> None:
    models = _module("models")
    sign_in = _module("api.accounts.sign_in_for_token")
    read_audit_trail = _module("api.audit.read_audit_trail")

    anonymous = generated.Client(base_url="http://testserver")
    anonymous.set_httpx_client(TestClient(api.client.app))
    token = sign_in.sync(
        client=anonymous, body=models.Credentials(email=ROLE_EMAILS["admin"], password=PASSWORD)
    )
    assert isinstance(token, models.Token), token
    client = generated.AuthenticatedClient(base_url="http://testserver", token=token.access_token)
    client.set_httpx_client(
        TestClient(api.client.app, headers={"Authorization": f"Bearer {token.access_token}"})
    )

    first = read_audit_trail.sync(client=client, limit=2)
    assert isinstance(first, models.TrailPageOut), first
    assert (len(first.items), first.limit, first.total_count) == (2, 2, None)
    assert all(isinstance(event, models.TrailEventOut) for event in first.items)
    assert first.items[0].seq > first.items[1].seq  # newest first
    following = read_audit_trail.sync(client=client, limit=2, cursor=first.next_)
    assert isinstance(following, models.TrailPageOut), following
    assert following.items[0].seq < first.items[-1].seq  # older than the page before


def test_the_document_declares_the_bearer_scheme_on_every_protected_operation_only(
    document: dict[str, Any],
) -> None:
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["bearer"]["description"],
    }
    by_id = {
        "".join(w if i == 0 else w.capitalize() for i, w in enumerate(name.split("_"))): rule
        for name, rule in RULES.items()
    }
    operations = [
        op for item in document["paths"].values() for op in item.values() if "operationId" in op
    ]
    public = sorted(op["operationId"] for op in operations if by_id[op["operationId"]] == PUBLIC)
    assert public == ["answerPatientLink", "health", "openPatientLink", "signInForToken"]
    for operation in operations:
        protected = by_id[operation["operationId"]] != PUBLIC
        assert (operation.get("security") == [{"bearer": []}]) == protected, operation


def test_every_429_and_503_is_documented_with_its_body_and_retry_after(
    document: dict[str, Any],
) -> None:
    throttled = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "503" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")) and path not in FREE_FORM:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, status)
                if status in ("429", "503"):
                    assert "Retry-After" in response["headers"], (method, path, status)
            if "429" in responses:
                throttled.append(operation["operationId"])
    assert sorted(throttled) == [
        "decideTitration",
        "ledgerDestroy",
        "ledgerInventory",
        "ledgerWaste",
        "signInForToken",
        "signOrder",
    ]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_a_429_and_a_503_carry_retry_after_as_documented(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(12):  # wrong passwords until the throttle asks to wait
        answer = api.client.post(
            "/api/v1/auth/token", json={"email": ROLE_EMAILS["nurse"], "password": "wrong"}
        )
        if answer.status_code == 429:
            break
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) == answer.json()["retry_after_s"] >= 1

    def unreachable(database: object) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr("ketaplan.api.routes.system.check_reachable", unreachable)
    down = api.client.get("/api/v1/health")
    assert down.status_code == 503, down.text
    assert down.json()["code"] == "database.unavailable"
    assert int(down.headers["Retry-After"]) >= 1


def test_no_response_is_an_untyped_object_but_the_free_form_ones(
    document: dict[str, Any],
) -> None:
    untyped = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            loose = node.get("additionalProperties") is True or (
                node.get("type") == "object"
                and "properties" not in node
                and "additionalProperties" not in node
            )
            if loose:
                untyped.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    schema = content.get("schema", {})
                    if status.startswith("2") and media == "application/json" and not schema:
                        untyped.append(f"{method} {path} {status}: no schema")
                    walk(schema, f"{method} {path} {status}")
    schemas = document["components"]["schemas"]
    for name, schema in schemas.items():
        if not name.endswith("In"):  # request bodies: an event is checked by the domain
            walk(schema, name)
    assert sorted(untyped) == sorted(
        [
            "ErrorOut",  # an error may carry fields of its own (the refused value, ...)
            "Entry/properties/data",  # what a kind of ledger entry records beside the columns
            "Report/properties/rows/items",  # each ledger report has its own columns
            "TrailEventOut/properties/details",  # each audit action records its own details
            *(f"get {path} 200" for path in FREE_FORM),
            "get /api/v1/fhir/$export-status/{job_id} 500",  # a FHIR OperationOutcome
        ]
    )


def test_every_golden_plan_reads_into_the_typed_plan_unchanged() -> None:
    """A key the domain writes and the model misses would be dropped from the API's answer."""
    lines = GOLDEN_PLANS.read_text(encoding="utf-8").splitlines()
    for line in lines:
        plan = json.loads(line)
        assert Plan.model_validate(plan).model_dump(mode="json", exclude_unset=True) == plan
    assert len(lines) >= 5
