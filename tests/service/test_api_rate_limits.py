"""Every API operation the password throttle can refuse says so in the document and does answer
429 with ``Retry-After``; every 503 says when to try again, on the API and the pages.

Which operations can answer 429 is not a list kept here: it is the throttle's own use cases
(:data:`ketaplan.http.limits.PASSWORD_CHECKED`) through the route table. The tests check both
ways: every operation that takes a password to check is throttled (a new one cannot slip out
of the document), and each throttled operation, driven with wrong passwords on a clock that
stands still, reaches its 429 (:data:`WRONG_PASSWORD` needs an entry for a new one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import text

from ketaplan.api import install
from ketaplan.api.document import camel_case
from ketaplan.app import create_app
from ketaplan.http.limits import throttled_routes
from ketaplan.services import utc_now
from ketaplan.services.throttle import ACCOUNT_AT_ORIGIN

from .conftest import PASSWORD, ROLE_EMAILS, Api, post_sign_in, writer_gate

V1 = "/api/v1"
WRONG = "not the password"
SETS_A_PASSWORD = frozenset({"addUser", "resetUserPassword"})
"""Operations whose body holds a new password to store, not one to check."""
PATIENT = {"full_name": "Rate Limited", "weight": "80 kg", "height": "175 cm", "age_years": 42}
VIAL = {"ndc": "0409-2051-05", "lot": "LOT-1", "expiry": "2028-06-30", "mg_per_ml": 10}
RECEIPT = {
    "supplier_name": "Cardinal Health",
    "supplier_address": "7000 Cardinal Pl, Dublin OH",
    "supplier_dea": "RC0123456",
    "vials": [{**VIAL, "number": "K-0001", "volume_ml": 20}],
}


def _api_route_names() -> frozenset[str]:
    app = FastAPI()
    install(app)
    return frozenset(str(route.name) for route in iter_route_contexts(app.routes))


API_THROTTLED = sorted(throttled_routes() & _api_route_names())


def _ok(answer: Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _proposed_plan(api: Api) -> int:
    nurse = api.as_role("nurse")
    patient = _ok(api.client.post(f"{V1}/patients", json=PATIENT, headers=nurse), 201)
    plan = api.client.post(
        f"{V1}/patients/{patient['patient_id']}/plans",
        json={"condition": "depression"},
        headers=nurse,
    )
    return int(_ok(plan, 201)["plan_id"])


def _recommendation(api: Api) -> int:
    plan_id = _proposed_plan(api)
    _ok(
        api.client.post(
            f"{V1}/plans/{plan_id}/sign",
            json={"password": PASSWORD},
            headers=api.as_role("prescriber"),
        )
    )
    patient_id = _ok(api.client.get(f"{V1}/plans/{plan_id}", headers=api.as_role("nurse")))[
        "patient_id"
    ]
    course = api.client.post(
        f"{V1}/patients/{patient_id}/courses",
        json={"condition": "depression", "first_day": "2026-12-07"},
        headers=api.as_role("nurse"),
    )
    course_id = _ok(course, 201)["course_id"]
    recommended = api.client.post(
        f"{V1}/courses/{course_id}/titration", headers=api.as_role("nurse")
    )
    return int(_ok(recommended, 201)["recommendation_id"])


def _received(api: Api) -> None:
    _ok(
        api.client.post(f"{V1}/ledger/receipts", json=RECEIPT, headers=api.as_role("nurse")),
        201,
    )


Guess = Callable[[TestClient], Response]


def _sign_in(api: Api) -> Guess:
    body = {"email": ROLE_EMAILS["nurse"], "password": WRONG}
    return lambda client: client.post(f"{V1}/auth/token", json=body)


def _sign_order(api: Api) -> Guess:
    url = f"{V1}/plans/{_proposed_plan(api)}/sign"
    headers = api.as_role("prescriber")
    return lambda client: client.post(url, json={"password": WRONG}, headers=headers)


def _decide_titration(api: Api) -> Guess:
    url = f"{V1}/titration/{_recommendation(api)}/decision"
    body = {"mg_per_kg": 0.6, "reason": "tolerated well", "password": WRONG}
    headers = api.as_role("prescriber")
    return lambda client: client.post(url, json=body, headers=headers)


def _inventory(api: Api) -> Guess:
    body = {"kind": "on_demand", "business": "opening", "lines": [], "password": WRONG}
    headers = api.as_role("nurse")
    return lambda client: client.post(f"{V1}/ledger/inventories", json=body, headers=headers)


def _waste(api: Api) -> Guess:
    _received(api)
    body = {
        "reason": "drawn up, not given",
        "vial": "K-0001",
        "volume_ml": 1,
        "witness_email": ROLE_EMAILS["prescriber"],
        "witness_password": WRONG,
    }
    headers = api.as_role("nurse")
    return lambda client: client.post(f"{V1}/ledger/wastes", json=body, headers=headers)


def _destroy(api: Api) -> Guess:
    _received(api)
    body = {
        "vial": "K-0001",
        "volume_ml": 1,
        "method": "reverse distributor",
        "place": "medication room",
        "witnesses": [
            {"email": ROLE_EMAILS["nurse"], "password": WRONG},
            {"email": ROLE_EMAILS["admin"], "password": WRONG},
        ],
    }
    headers = api.as_role("prescriber")
    return lambda client: client.post(f"{V1}/ledger/destructions", json=body, headers=headers)


WRONG_PASSWORD: dict[str, Callable[[Api], Guess]] = {
    "sign_in_for_token": _sign_in,
    "sign_order": _sign_order,
    "decide_titration": _decide_titration,
    "ledger_inventory": _inventory,
    "ledger_waste": _waste,
    "ledger_destroy": _destroy,
}
"""Per throttled operation: set up what it needs, then a request with a wrong password."""


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in document["paths"].values()
        for operation in item.values()
    }


def _password_fields(schema: Any, schemas: dict[str, Any], seen: frozenset[str]) -> set[str]:
    """The names of the properties of ``schema`` (and of the schemas it refers to) that hold
    a password."""
    found: set[str] = set()
    if isinstance(schema, dict):
        reference = schema.get("$ref")
        if isinstance(reference, str) and reference not in seen:
            name = reference.rsplit("/", 1)[-1]
            found |= _password_fields(schemas[name], schemas, seen | {reference})
        for key, value in schema.get("properties", {}).items():
            if "password" in key:
                found.add(key)
            found |= _password_fields(value, schemas, seen)
        for key, value in schema.items():
            if key != "properties":
                found |= _password_fields(value, schemas, seen)
    elif isinstance(schema, list):
        for value in schema:
            found |= _password_fields(value, schemas, seen)
    return found


@pytest.fixture
def document(api: Api) -> dict[str, Any]:
    return _ok(api.client.get(f"{V1}/openapi.json", headers=api.as_role("admin")))


def test_every_operation_the_throttle_can_refuse_documents_429_with_retry_after(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    throttled = {op_id for op_id, op in operations.items() if "429" in op["responses"]}
    assert throttled == {camel_case(name) for name in API_THROTTLED}
    assert len(API_THROTTLED) >= 6
    for op_id in throttled:
        answer = operations[op_id]["responses"]["429"]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorOut"
        }, op_id
        assert answer["headers"]["Retry-After"]["schema"]["type"] == "integer", op_id


def test_every_operation_that_checks_a_password_is_throttled(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    checking = {
        op_id
        for op_id, operation in _operations(document).items()
        if _password_fields(operation.get("requestBody", {}), schemas, frozenset())
    }
    assert checking >= SETS_A_PASSWORD  # the walk does find password fields
    throttled = {op_id for op_id, op in _operations(document).items() if "429" in op["responses"]}
    assert checking - SETS_A_PASSWORD == throttled


def test_each_throttled_operation_has_a_way_to_reach_its_429() -> None:
    assert sorted(WRONG_PASSWORD) == API_THROTTLED


@pytest.mark.parametrize("route_name", API_THROTTLED)
def test_wrong_passwords_bring_each_throttled_operation_to_a_429_with_retry_after(
    api: Api, route_name: str
) -> None:
    guess = WRONG_PASSWORD[route_name](api)
    moment = utc_now()  # the app's clock stands still: the waits have not passed
    client = TestClient(create_app(replace(api.context, clock=lambda: moment)))
    refused = [guess(client) for _ in range(ACCOUNT_AT_ORIGIN.free_failures)]
    assert {answer.status_code for answer in refused} <= {401, 403}, refused[0].text
    waiting = guess(client)
    assert waiting.status_code == 429, waiting.text
    assert waiting.json()["code"] == "auth.too_many_attempts"
    assert int(waiting.headers["Retry-After"]) == waiting.json()["retry_after_s"] >= 1


def test_a_page_s_503_says_when_to_try_again_as_the_api_s_does(api: Api, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's writer gate; PostgreSQL writers wait on row locks")
    browser = TestClient(api.client.app)
    engine = api.context.database.engine
    writer_gate(engine).timeout_s = 0.2
    with engine.begin() as other_writer:  # another transaction holds the write turn
        other_writer.execute(text("SELECT 1"))
        page = post_sign_in(browser, ROLE_EMAILS["nurse"], PASSWORD)  # counts the attempt
        answer = api.client.post(f"{V1}/patients", json=PATIENT, headers=api.as_role("nurse"))
    assert (page.status_code, answer.status_code) == (503, 503), page.text[:300]
    assert page.headers["Retry-After"] == answer.headers["Retry-After"] == "5"
