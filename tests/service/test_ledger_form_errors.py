"""The medication room's forms show every bad field at once, each beside its field, and write
nothing (issue 18); the ledger's API answers the same refusals as one ``problems`` list. One
test per form, each typing two bad fields."""

from __future__ import annotations

import html
from collections.abc import Callable

from ketaplan.store.models import Base, LedgerEntry

from .conftest import ROLE_EMAILS, Api
from .test_ledger_api import RECEIPT
from .test_ledger_pages import RECEIVE
from .test_ledger_pages import _sign_in as _sign_in_to_ledger
from .test_web_pages import _errors


def _beside(answer_text: str, *expected: tuple[str, str]) -> None:
    """Each (field, words) shown beside that field, and the banner counting them."""
    errors = {name: html.unescape(text) for name, text in _errors(answer_text).items()}
    for field, says in expected:
        assert field in errors, (field, errors)
        assert says in errors[field], (field, errors[field])
    assert f"{len(expected)} fields need a change" in answer_text


def _post(api: Api, role: str, action: str, **data: str) -> str:
    csrf = _sign_in_to_ledger(api.client, role)
    answer = api.client.post(f"/ledger/{action}", data={"csrf_token": csrf, **data})
    assert answer.status_code == 422, answer.text
    return answer.text


def test_the_receipt_shows_a_missing_supplier_and_a_bad_volume_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(api, "nurse", "receive", **{**RECEIVE, "supplier_name": "", "volume_ml": "x"})
    _beside(shown, ("supplier_name", "required"), ("volume_ml", "not a number"))
    assert 'value="K-0001 K-0002"' in shown  # what was typed is kept
    assert rows(LedgerEntry) == 0


def test_the_receipt_checks_the_delivery_beside_a_bad_strength(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(api, "nurse", "receive", **{**RECEIVE, "strength": "strong", "lot": ""})
    _beside(shown, ("strength", "strong"), ("lot", "required"))
    assert rows(LedgerEntry) == 0


def test_the_draw_shows_a_bad_order_number_and_a_bad_volume_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(api, "nurse", "draw", vial="K-0001", volume_ml="lots", plan_id="seven")
    _beside(shown, ("plan_id", "must be a number"), ("volume_ml", "lots"))
    assert rows(LedgerEntry) == 0


def test_the_waste_shows_a_bad_volume_and_a_missing_reason_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(api, "nurse", "waste", vial="K-0001", volume_ml="some", reason="")
    _beside(shown, ("volume_ml", "some"), ("reason", "required"))
    assert rows(LedgerEntry) == 0


def test_the_return_shows_a_bad_draw_and_a_bad_volume_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(api, "nurse", "return", draw_id="D1", volume_ml="half")
    assert "2 fields need a change" in shown
    assert "Draw id must be a number" in html.unescape(shown) or "must be a number" in shown
    assert "half" in html.unescape(shown)
    assert rows(LedgerEntry) == 0


def test_the_count_shows_a_missing_vial_and_a_bad_count_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = html.unescape(_post(api, "nurse", "count", vial="", counted_ml="full"))
    assert "2 fields need a change" in shown
    assert "number is required" in shown
    assert "full" in shown
    assert rows(LedgerEntry) == 0


def test_the_resolution_shows_a_bad_count_and_a_missing_reason_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = html.unescape(_post(api, "prescriber", "resolve", count_id="c5", reason=" "))
    assert "2 fields need a change" in shown
    assert "must be a number" in shown
    assert "reason is required" in shown
    assert rows(LedgerEntry) == 0


def test_the_correction_shows_a_bad_entry_and_a_bad_volume_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(api, "nurse", "correct", entry_id="#3", volume_ml="more", reason="")
    _beside(
        shown,
        ("entry_id", "must be a number"),
        ("volume_ml", "more"),
        ("reason", "required"),
    )
    assert rows(LedgerEntry) == 0


def test_the_destruction_shows_a_missing_method_a_missing_place_and_one_witness_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    shown = _post(
        api,
        "prescriber",
        "destroy",
        vial="K-0001",
        volume_ml="2",
        method="",
        place="",
        witness_email=ROLE_EMAILS["nurse"],
        witness_password="not shown back",
    )
    _beside(
        shown,
        ("method", "required"),
        ("place", "required"),
        ("witness_email", "two different witnesses"),
    )
    assert "not shown back" not in shown
    assert rows(LedgerEntry) == 0


def test_the_api_answers_every_problem_of_a_receipt_and_a_destruction(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    vials = [{**RECEIPT["vials"][0], "lot": " "}, {**RECEIPT["vials"][0], "lot": " "}]
    receipt = api.client.post(
        "/api/v1/ledger/receipts",
        headers=api.as_role("nurse"),
        json={**RECEIPT, "supplier_name": " ", "vials": vials},
    )
    assert receipt.status_code == 422, receipt.text
    problems = receipt.json()["problems"]
    assert [p["field"] for p in problems] == ["supplier_name", "number", "lot"]
    destruction = api.client.post(
        "/api/v1/ledger/destructions",
        headers=api.as_role("prescriber"),
        json={"vial": "K-0001", "volume_ml": 2, "method": " ", "place": " ", "witnesses": []},
    )
    assert destruction.status_code == 422, destruction.text
    fields = [p["field"] for p in destruction.json()["problems"]]
    assert fields == ["method", "place", "witnesses"]
    assert rows(LedgerEntry) == 0
