"""The medication room's pages (issue 16): the preparation card names the vial and lot it is
drawn from, forms record what happens, refusals come back on the page with a 4xx and write
nothing, the front desk is kept out, reports print and download as CSV."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from ketaplan.clinical.catalog import Catalog
from ketaplan.services import PatientDetails, UnitOfWork, create_patient, load_actor

from .conftest import PASSWORD, ROLE_EMAILS, Api, post_sign_in, signed_plan
from .test_ledger_api import _entries


def _sign_in(client: TestClient, role: str) -> str:
    client.cookies.clear()
    assert post_sign_in(client, ROLE_EMAILS[role], PASSWORD, next="/ledger").status_code == 303
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/ledger").text)
    assert found
    return found.group(1)


def _order(api: Api, catalog: Catalog, resolver: object) -> int:
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
    return signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    ).plan_id


RECEIVE = {
    "numbers": "K-0001 K-0002",
    "ndc": "0409-2051-05",
    "lot": "LOT-7731",
    "expiry": "2028-06-30",
    "strength": "10 mg/mL",
    "volume_ml": "20",
    "supplier_name": "Cardinal Health",
    "supplier_address": "7000 Cardinal Pl, Dublin OH",
    "supplier_dea": "RC0123456",
    "receipt": "INV-1",
}


def test_the_card_names_the_vial_and_lot_and_the_room_records_the_day(
    api: Api, catalog: Catalog, resolver: object
) -> None:
    client = api.client
    plan_id = _order(api, catalog, resolver)
    csrf = _sign_in(client, "nurse")
    done = client.post(
        "/ledger/receive", data={**RECEIVE, "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    assert "Received 2 vial(s)" in client.get(done.headers["location"]).text
    card = client.get(f"/plans/{plan_id}/card")
    assert 'id="draw-for-order"' in card.text
    assert "K-0001 · lot LOT-7731" in card.text
    drawn = client.post(
        "/ledger/draw",
        data={
            "csrf_token": csrf,
            "plan_id": str(plan_id),
            "vial": "K-0001",
            "volume_ml": "4",
            "back": f"/plans/{plan_id}/card",
        },
        follow_redirects=False,
    )
    assert drawn.headers["location"] == f"/plans/{plan_id}/card"
    card = client.get(f"/plans/{plan_id}/card").text
    assert re.search(r'data-ledger="vial">K-0001<.*data-ledger="lot">LOT-7731<', card)
    before = _entries(api)
    refused = client.post(
        "/ledger/waste",
        data={"csrf_token": csrf, "draw_id": "3", "volume_ml": "4", "reason": "order cancelled"},
    )
    assert refused.status_code == 422
    assert "needs a witness" in refused.text
    refused = client.post(
        "/ledger/waste",
        data={
            "csrf_token": csrf,
            "draw_id": "3",
            "volume_ml": "4",
            "reason": "order cancelled",
            "witness_email": ROLE_EMAILS["prescriber"],
            "witness_password": "wrong password here",
        },
    )
    assert refused.status_code == 403
    assert "wrong password here" not in refused.text
    assert _entries(api) == before
    wasted = client.post(
        "/ledger/waste",
        data={
            "csrf_token": csrf,
            "draw_id": "3",
            "volume_ml": "4",
            "reason": "order cancelled",
            "witness_email": ROLE_EMAILS["prescriber"],
            "witness_password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert wasted.status_code == 303, wasted.text
    counted = client.post(
        "/ledger/count",
        data={"csrf_token": csrf, "vial": "K-0001", "counted_ml": "15.9"},
        follow_redirects=True,
    )
    assert "does not match" in counted.text
    assert "open: a prescriber or admin resolves it" in counted.text
    csrf = _sign_in(client, "prescriber")
    resolved = client.post(
        "/ledger/resolve",
        data={"csrf_token": csrf, "count_id": "5", "reason": "spilt drawing", "write_off": "yes"},
        follow_redirects=True,
    )
    assert "No open discrepancy." in resolved.text
    history = client.get("/ledger/reports/entries?vial=K-0002")
    assert history.text.count("K-0002") >= 2
    assert "K-0001" not in history.text
    printed = client.get("/ledger/reports/entries")
    assert printed.status_code == 200
    assert printed.text.count("K-0001") >= 5
    csv = client.get("/ledger/reports/receipts?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.count("LOT-7731") == 2


def test_the_front_desk_has_no_medication_room(api: Api) -> None:
    csrf = _sign_in_front_desk(api.client)
    assert api.client.get("/ledger").status_code == 403
    posted = api.client.post("/ledger/receive", data={**RECEIVE, "csrf_token": csrf})
    assert posted.status_code == 403
    assert _entries(api) == 0


def _sign_in_front_desk(client: TestClient) -> str:
    client.cookies.clear()
    post_sign_in(client, ROLE_EMAILS["front_desk"], PASSWORD, next="/patients")
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', client.get("/patients").text)
    assert found
    return found.group(1)
