"""Measurement-based care through the API (issue 18): a questionnaire link e-mailed through the
outbox, the e-mails' delivery, PHQ-9 item 9 flags paged and reviewed with a note; the same use
cases as the patient page, audited, with refusals that name every bad field and write nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ketaplan.store.models import AuditEvent, Base, Item9Review, OutboxMessage, PatientLink

from .conftest import Api

V1 = "/api/v1"
ZONE = ZoneInfo("America/Los_Angeles")
PATIENT = {"full_name": "Jordan Sample", "weight": "80 kg", "height": "175 cm", "age_years": 42}
ITEM_NINE = [2, 3, 2, 2, 3, 3, 2, 2, 1]
NO_ITEM_NINE = [2, 3, 2, 2, 3, 3, 2, 2, 0]


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _patient(api: Api) -> int:
    body = _ok(api.client.post(f"{V1}/patients", json=PATIENT, headers=api.as_role("nurse")), 201)
    return int(body["patient_id"])


def _phq9(api: Api, patient_id: int, answers: list[int], hours_ago: int) -> int:
    at = (datetime.now(ZONE) - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
    body = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/questionnaires",
            json={"scale": "phq9", "answers": answers, "answered_at": at},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    return int(body["response_id"])


def _count(api: Api, model: type[Base]) -> int:
    with api.context.database.session_factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _actions(api: Api) -> list[str]:
    with api.context.database.session_factory() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_a_nurse_e_mails_a_link_and_reads_its_delivery_without_its_body(api: Api) -> None:
    patient_id = _patient(api)
    emailed = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/questionnaire-links/email",
            json={"email": "jordan@example.org", "scales": ["phq9", "GAD7"]},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    assert (emailed["status"], emailed["to_address"], emailed["scales"]) == (
        "queued",
        "jordan@example.org",
        ["phq9", "gad7"],
    )
    assert not {"token", "url"} & set(emailed)  # the link goes to the patient only
    assert _actions(api)[-2:] == ["patient_link.create", "outbox.queue"]

    listed = _ok(
        api.client.get(f"{V1}/patients/{patient_id}/messages", headers=api.as_role("prescriber"))
    )
    (message,) = listed["items"]
    assert (listed["total_count"], listed["next"]) == (1, None)
    assert message["message_id"] == emailed["message_id"]
    assert (message["kind"], message["status"], message["attempts"]) == (
        "questionnaire_link",
        "queued",
        0,
    )
    assert message["last_error"] is None
    assert not {"body", "subject", "link_url"} & set(message)
    assert _actions(api)[-1] == "outbox.list"


def test_the_prescriber_e_mails_a_link_too_and_the_admin_may_not(api: Api) -> None:
    patient_id = _patient(api)
    body = {"email": "jordan@example.org", "scales": ["phq9"]}
    path = f"{V1}/patients/{patient_id}/questionnaire-links/email"
    _ok(api.client.post(path, json=body, headers=api.as_role("prescriber")), 201)
    refused = api.client.post(path, json=body, headers=api.as_role("admin"))
    assert refused.status_code == 403, refused.text
    assert _count(api, OutboxMessage) == 1


def test_a_bad_address_and_a_bad_scale_are_both_reported_and_nothing_is_written(
    api: Api,
) -> None:
    patient_id = _patient(api)
    path = f"{V1}/patients/{patient_id}/questionnaire-links/email"
    refused = api.client.post(
        path,
        json={"email": "not an address", "scales": ["phq9", "bdi"]},
        headers=api.as_role("nurse"),
    )
    assert refused.status_code == 422, refused.text
    problems = {p["field"]: p["code"] for p in refused.json()["problems"]}
    assert problems == {"email": "input.invalid_email", "scales": "input.unknown_scale"}
    none = api.client.post(
        path, json={"email": "jordan@example.org", "scales": []}, headers=api.as_role("nurse")
    )
    assert (none.status_code, none.json()["field"]) == (422, "scales")
    unknown = api.client.post(
        f"{V1}/patients/999999/questionnaire-links/email",
        json={"email": "jordan@example.org", "scales": ["phq9"]},
        headers=api.as_role("nurse"),
    )
    assert unknown.status_code == 404, unknown.text
    extra = api.client.post(
        path,
        json={"email": "jordan@example.org", "scales": ["phq9"], "body": "hello"},
        headers=api.as_role("nurse"),
    )
    assert extra.json()["code"] == "input.invalid_request"
    assert (_count(api, PatientLink), _count(api, OutboxMessage)) == (0, 0)


def test_item9_flags_are_paged_newest_first_and_reviewed_once_with_a_note(api: Api) -> None:
    patient_id = _patient(api)
    older = _phq9(api, patient_id, ITEM_NINE, hours_ago=3)
    _phq9(api, patient_id, NO_ITEM_NINE, hours_ago=2)
    newer = _phq9(api, patient_id, ITEM_NINE, hours_ago=1)
    path = f"{V1}/patients/{patient_id}/item9-flags"

    first = _ok(api.client.get(f"{path}?limit=1", headers=api.as_role("nurse")))
    assert [f["response_id"] for f in first["items"]] == [newer]
    assert (first["total_count"], first["limit"]) == (2, 1)
    assert first["items"][0]["item9_answer"] == 1
    assert first["items"][0]["reviewed"] is False
    second = _ok(
        api.client.get(f"{path}?limit=1&cursor={first['next']}", headers=api.as_role("nurse"))
    )
    assert ([f["response_id"] for f in second["items"]], second["next"]) == ([older], None)
    assert _actions(api)[-1] == "questionnaire.list"

    reviewed = _ok(
        api.client.post(
            f"{V1}/item9-flags/{older}/review",
            json={"note": "Called the patient; safety plan reviewed."},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    assert (reviewed["reviewed"], reviewed["note"], reviewed["reviewed_by"]) == (
        True,
        "Called the patient; safety plan reviewed.",
        "nurse@bay.example",
    )
    assert _actions(api)[-1] == "questionnaire.item9_review"
    again = api.client.post(
        f"{V1}/item9-flags/{older}/review", json={"note": "Again."}, headers=api.as_role("nurse")
    )
    assert (again.status_code, again.json()["code"]) == (409, "conflict.already_reviewed")
    listed = _ok(api.client.get(path, headers=api.as_role("admin")))  # clinical staff read
    assert [f["reviewed"] for f in listed["items"]] == [False, True]
    assert _count(api, Item9Review) == 1


@pytest.mark.parametrize(
    ("note", "status", "code"),
    [
        ("   ", 422, "input.missing"),
        ("x" * 2001, 422, "input.invalid_request"),
    ],
)
def test_a_review_without_a_usable_note_writes_nothing(
    api: Api, note: str, status: int, code: str
) -> None:
    flagged = _phq9(api, _patient(api), ITEM_NINE, hours_ago=1)
    refused = api.client.post(
        f"{V1}/item9-flags/{flagged}/review", json={"note": note}, headers=api.as_role("nurse")
    )
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    assert _count(api, Item9Review) == 0


def test_only_a_flagged_answer_of_the_clinic_is_reviewed_and_only_by_those_who_treat(
    api: Api,
) -> None:
    patient_id = _patient(api)
    plain = _phq9(api, patient_id, NO_ITEM_NINE, hours_ago=1)
    flagged = _phq9(api, patient_id, ITEM_NINE, hours_ago=1)
    note = {"note": "Called."}
    not_flagged = api.client.post(
        f"{V1}/item9-flags/{plain}/review", json=note, headers=api.as_role("nurse")
    )
    assert (not_flagged.status_code, not_flagged.json()["code"]) == (422, "input.not_flagged")
    missing = api.client.post(
        f"{V1}/item9-flags/999999/review", json=note, headers=api.as_role("nurse")
    )
    assert missing.status_code == 404, missing.text
    admin = api.client.post(
        f"{V1}/item9-flags/{flagged}/review", json=note, headers=api.as_role("admin")
    )
    assert admin.status_code == 403, admin.text
    assert _count(api, Item9Review) == 0


def test_the_operations_are_named_and_document_their_errors(api: Api) -> None:
    document = _ok(api.client.get(f"{V1}/openapi.json", headers=api.as_role("nurse")))
    operations = {
        (path, method): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    expected = {
        ("/api/v1/patients/{patient_id}/questionnaire-links/email", "post"): (
            "emailPatientLink",
            {"400", "401", "403", "404", "409", "413", "422", "503"},
        ),
        ("/api/v1/patients/{patient_id}/messages", "get"): (
            "listPatientMessages",
            {"401", "403", "404", "422", "503"},
        ),
        ("/api/v1/patients/{patient_id}/item9-flags", "get"): (
            "listItem9Flags",
            {"401", "403", "404", "422", "503"},
        ),
        ("/api/v1/item9-flags/{response_id}/review", "post"): (
            "reviewItem9Flag",
            {"400", "401", "403", "404", "409", "413", "422", "503"},
        ),
    }
    for key, (operation_id, errors) in expected.items():
        operation = operations[key]
        assert operation["operationId"] == operation_id
        assert set(operation["responses"]) - {"200", "201"} == errors, operation_id
