"""The ledger's API routes: roles, refusals as 4xx with the field and nothing written, entries
never edited (405 with the way to correct), reports as JSON and CSV."""

from __future__ import annotations

from typing import Any

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.services import PatientDetails, UnitOfWork, create_patient, load_actor
from ketaplan.store.models import LedgerEntry

from .conftest import PASSWORD, ROLE_EMAILS, Api, signed_plan

RECEIPT = {
    "supplier_name": "Cardinal Health",
    "supplier_address": "7000 Cardinal Pl, Dublin OH",
    "supplier_dea": "RC0123456",
    "receipt": "INV-1",
    "vials": [
        {
            "number": n,
            "ndc": "0409-2051-05",
            "lot": "LOT-1",
            "expiry": "2028-06-30",
            "mg_per_ml": 10,
            "volume_ml": 20,
        }
        for n in ("K-0001", "K-0002")
    ],
}


@pytest.fixture
def order(api: Api, catalog: Catalog, resolver: object) -> int:
    uow = UnitOfWork(api.context.database.session_factory)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    prescriber = load_actor(uow, ROLE_EMAILS["prescriber"], origin="test")
    patient = create_patient(
        uow,
        PatientDetails(
            full_name="Alex Example",
            weight="80 kg",
            height="175 cm",
            age_years=42,
            sex="female",
            medications=(),
        ),
        actor=nurse,
        catalog=catalog,
    )
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    return plan.plan_id


def _entries(api: Api) -> int:
    from sqlalchemy import func, select

    with api.context.database.session_factory() as session:
        return session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def post(api: Api, role: str, path: str, body: dict[str, Any]) -> Any:
    return api.client.post(f"/api/v1/ledger{path}", json=body, headers=api.as_role(role))


def test_receive_draw_and_refusals_over_the_api(api: Api, order: int) -> None:
    assert post(api, "front_desk", "/receipts", RECEIPT).status_code == 403
    answer = post(api, "nurse", "/receipts", RECEIPT)
    assert answer.status_code == 201, answer.text
    drawn = post(api, "nurse", "/draws", {"vial": "K-0001", "volume_ml": 4, "plan_id": order})
    assert drawn.status_code == 201, drawn.text
    draw_id = drawn.json()["entry_id"]
    before = _entries(api)
    for body, code in (
        ({"vial": "K-0001", "volume_ml": 16.01, "plan_id": order}, "ledger.draw_exceeds_vial"),
        ({"vial": "K-0001", "volume_ml": 1, "plan_id": order, "lot": "X"}, None),
    ):
        refused = post(api, "nurse", "/draws", body)
        assert refused.status_code == 422, refused.text
        if code:
            assert refused.json()["code"] == code
    refused = post(api, "nurse", "/wastes", {"draw_id": draw_id, "volume_ml": 4, "reason": "x"})
    assert (refused.status_code, refused.json()["code"]) == (422, "ledger.witness_missing")
    refused = post(
        api,
        "nurse",
        "/wastes",
        {
            "draw_id": draw_id,
            "volume_ml": 4,
            "reason": "x",
            "witness_email": ROLE_EMAILS["nurse"],
            "witness_password": PASSWORD,
        },
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "ledger.witness_is_waster")
    for method in ("PUT", "PATCH", "DELETE"):
        edited = api.client.request(
            method,
            f"/api/v1/ledger/entries/{draw_id}",
            json={"volume_ml": 3},
            headers=api.as_role("admin"),
        )
        assert edited.status_code == 405
        assert "record a correction" in edited.json()["message"]
    assert _entries(api) == before
    wasted = post(
        api,
        "nurse",
        "/wastes",
        {
            "draw_id": draw_id,
            "volume_ml": 4,
            "reason": "x",
            "witness_email": ROLE_EMAILS["prescriber"],
            "witness_password": PASSWORD,
        },
    )
    assert wasted.status_code == 201, wasted.text
    assert wasted.json()["balance"]["wasted_ml"] == 4.0


def test_counts_resolution_and_reports(api: Api, order: int) -> None:
    assert post(api, "nurse", "/receipts", RECEIPT).status_code == 201
    counted = post(api, "nurse", "/counts", {"vial": "K-0002", "counted_ml": 19.5}).json()
    [discrepancy] = counted["balance"]["open_discrepancies"]
    path = f"/counts/{discrepancy['count_id']}/resolution"
    assert post(api, "nurse", path, {"reason": "r", "write_off": True}).status_code == 403
    resolved = post(api, "prescriber", path, {"reason": "vial cracked", "write_off": True})
    assert resolved.status_code == 201, resolved.text
    assert resolved.json()["balance"]["written_off_ml"] == 0.5
    csv = api.client.get("/api/v1/ledger/reports/receipts?format=csv", headers=api.as_role("admin"))
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("RC0123456") == 2
    stock = api.client.get("/api/v1/ledger/stock", headers=api.as_role("nurse")).json()
    assert stock["items"][0]["unopened"] == 1
    assert (
        api.client.get("/api/v1/ledger/stock", headers=api.as_role("front_desk")).status_code == 403
    )
    history = api.client.get("/api/v1/ledger/vials/K-0002", headers=api.as_role("nurse")).json()
    assert [e["kind"] for e in history["entries"]] == ["receive", "count", "resolve"]


def test_a_stop_charted_over_the_api_records_what_was_given_from_the_chart(
    api: Api, order: int, catalog: Catalog
) -> None:
    from datetime import UTC, datetime, timedelta

    from ketaplan.services import get_plan, open_session

    uow = UnitOfWork(api.context.database.session_factory)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    record = get_plan(uow, order, actor=nurse)
    session = open_session(
        uow, record.patient_id, condition="depression", actor=nurse, policy=api.context.policy
    )
    assert post(api, "nurse", "/receipts", RECEIPT).status_code == 201
    drawn = post(
        api,
        "nurse",
        "/draws",
        {"vial": "K-0001", "volume_ml": 4, "plan_id": order, "session_id": session.session_id},
    ).json()
    prep = record.plan["preparation"]
    now = datetime.now(UTC)
    events = [
        {
            "at": (now - timedelta(minutes=55)).isoformat(),
            "type": "check_in",
            "systolic": 128,
            "diastolic": 82,
            "heart_rate": 74,
            "spo2": 98,
            "resp_rate": 14,
        },
        {
            "at": (now - timedelta(minutes=50)).isoformat(),
            "type": "start",
            "rate_ml_per_h": prep["pump_rate_ml_per_h"],
            "concentration_mg_per_ml": prep["final_mg_per_ml"],
        },
        {
            "at": (now - timedelta(minutes=20)).isoformat(),
            "type": "stop",
            "completed": False,
            "reason": "the patient asked to stop",
        },
    ]
    for seq, event in enumerate(events):
        charted = api.client.post(
            f"/api/v1/sessions/{session.session_id}/events",
            json={"expected_seq": seq, "event": event},
            headers=api.as_role("nurse"),
        )
        assert charted.status_code == 201, charted.text
    delivered = charted.json()["summary"]["delivered_mg"]
    history = api.client.get("/api/v1/ledger/vials/K-0001", headers=api.as_role("nurse")).json()
    [given] = [e for e in history["entries"] if e["kind"] == "administer"]
    assert given["draw_id"] == drawn["entry_id"]
    assert given["mg"] == pytest.approx(delivered, abs=0.001)
    assert given["volume_ml"] == pytest.approx(delivered / 10, abs=0.005)
