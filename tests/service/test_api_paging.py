"""The lists the API pages since issue 17's last gaps: the audit trail (keyset, not counted) and
a course's booking history (counted); and the rule for the rest: no answer is a bare array, and
an answer that holds rows without paging says it is a document.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ketaplan.store.models import AuditEvent

from .conftest import PASSWORD, Api

V1 = "/api/v1"
PATIENT = {"full_name": "Page Turner", "weight": "80 kg", "height": "175 cm", "age_years": 42}
DOCUMENTS = {
    "/api/v1/chair-board": "one clinic day's appointments",
    "/api/v1/ledger/stock": "the stock as of now",
    "/api/v1/ledger/reports/{name}": "the report for the period",
}
"""Answers that hold rows and are not paged, and what bounds each."""


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _seqs(api: Api) -> list[int]:
    with api.context.database.session_factory() as session:
        return list(session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())))


def test_the_audit_trail_pages_by_sequence_number_in_the_common_envelope_uncounted(
    api: Api,
) -> None:
    admin = api.as_role("admin")
    for _ in range(3):  # a few more events: each read is one
        _ok(api.client.get(f"{V1}/auth/me", headers=admin))
    before = _seqs(api)  # the clinic's only events; each page read adds one, newer
    seen: list[int] = []
    cursor: str | None = None
    while True:
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = _ok(api.client.get(f"{V1}/audit/events", params=query, headers=admin))
        assert sorted(page) == ["items", "limit", "next", "total_count"]
        assert (page["limit"], page["total_count"]) == (3, None)
        seqs = [event["seq"] for event in page["items"]]
        assert seqs == sorted(seqs, reverse=True)
        assert len(seqs) <= 3
        seen += seqs
        if page["next"] is None:
            break
        assert page["next"] == str(seqs[-1])
        cursor = page["next"]
    assert [seq for seq in seen if seq in before] == before  # each event once, newest first
    assert len(seen) == len(set(seen))


def test_an_audit_page_refuses_a_limit_or_cursor_out_of_bounds_by_name(api: Api) -> None:
    admin = api.as_role("admin")
    for query, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "-1"}, "cursor"),
        ({"cursor": "9" * 10}, "cursor"),
    ):
        answer = api.client.get(f"{V1}/audit/events", params=query, headers=admin)
        assert answer.status_code == 422, (query, answer.text)
        assert field in answer.text, query


def test_a_course_s_booking_history_is_a_counted_page(api: Api) -> None:
    nurse, prescriber = api.as_role("nurse"), api.as_role("prescriber")
    patient = _ok(api.client.post(f"{V1}/patients", json=PATIENT, headers=nurse), 201)
    plans = f"{V1}/patients/{patient['patient_id']}/plans"
    plan = _ok(api.client.post(plans, json={"condition": "depression"}, headers=nurse), 201)
    signed = api.client.post(
        f"{V1}/plans/{plan['plan_id']}/sign", json={"password": PASSWORD}, headers=prescriber
    )
    _ok(signed)
    course = _ok(
        api.client.post(
            f"{V1}/patients/{patient['patient_id']}/courses",
            json={"condition": "depression", "first_day": "2026-12-07"},
            headers=nurse,
        ),
        201,
    )
    url = f"{V1}/courses/{course['course_id']}"
    version = course["version"]
    for number in (2, 3):
        cancelled = api.client.post(
            f"{url}/sessions/{number}/cancel",
            json={"reason": "the patient is away", "expected_version": version},
            headers=nurse,
        )
        version = _ok(cancelled)["version"]
    everything = _ok(api.client.get(f"{url}/history", headers=nurse))
    total = everything["total_count"]
    assert total >= 2
    assert (everything["next"], len(everything["items"])) == (None, total)
    first = _ok(api.client.get(f"{url}/history", params={"limit": 1}, headers=nurse))
    assert (first["total_count"], first["limit"], first["next"]) == (total, 1, "1")
    second = _ok(
        api.client.get(f"{url}/history", params={"limit": 1, "cursor": "1"}, headers=nurse)
    )
    assert first["items"] + second["items"] == everything["items"][:2]


def test_no_answer_is_a_bare_array_and_the_unpaged_ones_say_they_are_documents(
    api: Api,
) -> None:
    document = _ok(api.client.get(f"{V1}/openapi.json", headers=api.as_role("admin")))
    schemas = document["components"]["schemas"]
    bare = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            answer = operation["responses"].get("200", {}).get("content", {})
            schema = answer.get("application/json", {}).get("schema", {})
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            if schema.get("type") == "array":
                bare.append(f"{method} {path}")
    assert bare == []
    for path, bound in DOCUMENTS.items():
        description = " ".join(document["paths"][path]["get"]["description"].split())
        assert "A document, not a paged list" in description, path
        assert bound in description, path
