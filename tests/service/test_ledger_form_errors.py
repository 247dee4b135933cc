"""The medication room's forms show every bad field at once, each beside its field, and write
nothing (issue 18); the ledger's API answers the same refusals as one ``problems`` list. One
test per form, each typing two bad fields."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from ketaplan.clinical.catalog import Catalog
from ketaplan.store.models import Base, LedgerEntry

from .conftest import ROLE_EMAILS, Api
from .test_ledger_api import RECEIPT
from .test_ledger_pages import RECEIVE, _order
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


def _form(page: str, marker: str) -> str:
    """The one form on the page carrying ``marker`` (e.g. ``data-waste-for="3"``)."""
    found = re.search(rf"<form[^>]*{re.escape(marker)}[^>]*>.*?</form>", page, re.S)
    assert found, marker
    return found.group(0)


def _inline(page: str, marker: str, *expected: tuple[str, str]) -> None:
    """Each (field, words) shown beside that field inside the inline form ``marker``."""
    errors = {name: html.unescape(text) for name, text in _errors(_form(page, marker)).items()}
    for field, says in expected:
        assert field in errors, (field, errors)
        assert says in errors[field], (field, errors[field])
    assert 'aria-invalid="true"' in _form(page, marker)


def _last(api: Api, kind: str) -> int:
    """The id of the newest ledger entry of this kind."""
    from sqlalchemy import func, select

    with api.context.database.session_factory() as db:
        found = db.scalar(select(func.max(LedgerEntry.id)).where(LedgerEntry.kind == kind))
    assert found is not None, kind
    return found


def _received(api: Api, role: str) -> str:
    csrf = _sign_in_to_ledger(api.client, role)
    done = api.client.post(
        "/ledger/receive", data={**RECEIVE, "csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    return csrf


def test_a_vials_count_shows_its_refusal_beside_that_vials_field(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _received(api, "nurse")
    before = rows(LedgerEntry)
    answer = api.client.post(
        "/ledger/count", data={"csrf_token": csrf, "vial": "K-0002", "counted_ml": "full"}
    )
    assert answer.status_code == 422, answer.text
    _inline(answer.text, 'data-count-for="K-0002"', ("counted_ml", "full"))
    assert 'data-error-for="counted_ml"' not in _form(answer.text, 'data-count-for="K-0001"')
    assert rows(LedgerEntry) == before


def test_a_draws_waste_shows_every_refusal_beside_that_draws_fields(
    api: Api, rows: Callable[[type[Base]], int], catalog: Catalog, resolver: object
) -> None:
    plan_id = _order(api, catalog, resolver)
    csrf = _received(api, "nurse")
    drawn = api.client.post(
        "/ledger/draw",
        data={"csrf_token": csrf, "plan_id": str(plan_id), "vial": "K-0001", "volume_ml": "4"},
        follow_redirects=False,
    )
    assert drawn.status_code == 303, drawn.text
    draw_id = _last(api, "draw")
    before = rows(LedgerEntry)
    answer = api.client.post(
        "/ledger/waste",
        data={"csrf_token": csrf, "draw_id": str(draw_id), "volume_ml": "some", "reason": " "},
    )
    assert answer.status_code == 422, answer.text
    marker = f'data-waste-for="{draw_id}"'
    _inline(answer.text, marker, ("volume_ml", "some"), ("reason", "required"))
    assert 'value="some"' in _form(answer.text, marker)  # what was typed is kept
    assert rows(LedgerEntry) == before


def test_a_resolution_shows_its_refusal_beside_that_counts_reason(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _received(api, "nurse")
    counted = api.client.post(
        "/ledger/count",
        data={"csrf_token": csrf, "vial": "K-0001", "counted_ml": "19"},
        follow_redirects=False,
    )
    assert counted.status_code == 303, counted.text
    count_id = _last(api, "count")
    csrf = _sign_in_to_ledger(api.client, "prescriber")
    before = rows(LedgerEntry)
    answer = api.client.post(
        "/ledger/resolve",
        data={"csrf_token": csrf, "count_id": str(count_id), "reason": " ", "write_off": "yes"},
    )
    assert answer.status_code == 422, answer.text
    marker = f'data-resolve-for="{count_id}"'
    _inline(answer.text, marker, ("reason", "required"))
    assert "checked" in _form(answer.text, marker)  # the write-off box stays ticked
    assert rows(LedgerEntry) == before


def test_a_loss_case_shows_a_missing_kind_and_a_missing_description_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in_to_ledger(api.client, "nurse")
    answer = api.client.post(
        "/ledger/loss",
        data={"csrf_token": csrf, "step": "open", "kind": "", "text": " ", "missing": "K-9"},
    )
    assert answer.status_code == 422, answer.text
    _inline(
        answer.text, 'id="loss-form"', ("kind", "theft or a loss"), ("text", "say what was found")
    )
    assert "2 fields need a change" in answer.text
    assert 'value="K-9"' in _form(answer.text, 'id="loss-form"')
    assert rows(LedgerEntry) == 0


def test_a_loss_step_shows_an_unreadable_case_number_beside_its_missing_text(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in_to_ledger(api.client, "nurse")
    answer = api.client.post(
        "/ledger/loss", data={"csrf_token": csrf, "step": "note", "case_id": "c1", "text": ""}
    )
    assert answer.status_code == 422, answer.text
    _inline(
        answer.text, 'id="loss-form"', ("case_id", "must be a number"), ("text", "needs its text")
    )
    missing_case = api.client.post(
        "/ledger/loss", data={"csrf_token": csrf, "step": "note", "case_id": "99", "text": ""}
    )
    assert missing_case.status_code == 422, missing_case.text
    _inline(
        missing_case.text,
        'id="loss-form"',
        ("case_id", "no loss case 99"),
        ("text", "needs its text"),
    )
    assert rows(LedgerEntry) == 0
