"""The patients API: units as typed, clear 4xx errors that change nothing, versions, audit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ketaplan.store.models import AuditEvent, Base, PatientVersion

from .conftest import Api

NEW_PATIENT = {
    "full_name": "Jordan Sample",
    "weight": "176 lb",
    "height": "5 ft 9 in",
    "age_years": 42,
    "sex": "female",
    "medications": ["Lamictal", "alprazolam 0.5 mg"],
    "history": ["controlled_hypertension"],
}


def _create(api: Api, role: str = "nurse", **changes: object) -> dict[str, object]:
    answer = api.client.post(
        "/api/v1/patients", json={**NEW_PATIENT, **changes}, headers=api.as_role(role)
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_patient_weighed_in_pounds_is_stored_in_kilograms_as_typed_too(api: Api) -> None:
    created = _create(api)
    assert created["version"] == 1
    assert created["details"]["weight"] == "176 lb"  # type: ignore[index]
    assert created["profile"]["weight_kg"] == pytest.approx(79.83, abs=0.01)  # type: ignore[index]
    read = api.client.get(f"/api/v1/patients/{created['patient_id']}", headers=api.as_role("nurse"))
    assert read.json() == created


@pytest.mark.parametrize(
    ("changes", "code", "words"),
    [
        ({"weight": "80"}, "input.unit_missing", "unit"),
        ({"weight": "180 kg", "height": "5 ft 9 in"}, None, "lb"),
        ({"weight": "180 kg", "height": "5 ft 9 in"}, None, 'send "confirm_weight": true'),
        ({"weight": "eighty kg"}, None, "weight"),
        ({"history": ["hypertensoin"]}, None, "hypertension"),
        ({"blood_pressure": "400/20"}, None, "400/20"),
        ({"heart_rate": "300"}, "input.out_of_range", "heart rate '300'"),
        ({"full_name": "   "}, "input.invalid_name", "name"),
        ({"age_years": -4}, "input.invalid_request", "age_years"),
        ({"sex": "yes"}, "input.invalid_request", "sex"),
        ({"nickname": "JJ"}, "input.invalid_request", "nickname"),
    ],
)
def test_bad_details_are_a_clear_4xx_and_save_nothing(
    api: Api,
    rows: Callable[[type[Base]], int],
    changes: dict[str, object],
    code: str | None,
    words: str,
) -> None:
    before = rows(PatientVersion)
    answer = api.client.post(
        "/api/v1/patients", json={**NEW_PATIENT, **changes}, headers=api.as_role("nurse")
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    if code is not None:
        assert body["code"] == code
    assert body["code"].startswith("input.")
    assert words in body["message"]
    assert rows(PatientVersion) == before


def test_a_malformed_body_is_a_422_that_says_so(api: Api) -> None:
    for content in (b"{not json", b"[]", b"", "\ud800".encode("utf-8", "surrogatepass")):
        answer = api.client.post(
            "/api/v1/patients",
            content=content,
            headers={**api.as_role("nurse"), "Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "input.invalid_request"


def test_unknown_and_absurd_ids_are_4xx(api: Api) -> None:
    for path in (
        "/api/v1/patients/999999",
        "/api/v1/patients/99999999999999",
        "/api/v1/patients/x",
    ):
        answer = api.client.get(path, headers=api.as_role("nurse"))
        assert answer.status_code in {404, 422}, (path, answer.text)
        assert "code" in answer.json()


def test_a_stale_update_is_a_409_and_the_newer_version_stays(api: Api) -> None:
    created = _create(api)
    path = f"/api/v1/patients/{created['patient_id']}"
    first = api.client.put(
        path,
        json={**NEW_PATIENT, "weight": "170 lb", "expected_version": 1},
        headers=api.as_role("nurse"),
    )
    assert first.status_code == 200
    assert first.json()["version"] == 2
    second = api.client.put(
        path,
        json={**NEW_PATIENT, "weight": "180 lb", "expected_version": 1},
        headers=api.as_role("prescriber"),
    )
    assert second.status_code == 409
    assert second.json()["code"] == "conflict.stale_version"
    assert "reload" in second.json()["message"]
    now = api.client.get(path, headers=api.as_role("nurse")).json()
    assert now["details"]["weight"] == "170 lb"


def test_search_finds_by_part_of_the_name_in_any_case_and_only_in_the_clinic(api: Api) -> None:
    _create(api, full_name="Jordan Sample")
    _create(api, full_name="Sam Example")
    _create(api, full_name="100% Real_Name")
    found = api.client.get("/api/v1/patients?q=SAM", headers=api.as_role("front_desk")).json()
    assert [p["full_name"] for p in found["items"]] == ["Jordan Sample", "Sam Example"]
    wildcard = api.client.get("/api/v1/patients?q=%25", headers=api.as_role("nurse")).json()
    assert [p["full_name"] for p in wildcard["items"]] == ["100% Real_Name"]
    everyone = api.client.get("/api/v1/patients", headers=api.as_role("nurse")).json()
    assert (len(everyone["items"]), everyone["total_count"], everyone["next"]) == (3, 3, None)


def test_reads_and_writes_of_a_patient_are_audited_with_who_and_where(api: Api) -> None:
    created = _create(api)
    api.client.get(f"/api/v1/patients/{created['patient_id']}", headers=api.as_role("prescriber"))
    with api.context.database.session_factory() as session:
        rows = (
            session.query(AuditEvent)
            .filter(AuditEvent.patient_id == created["patient_id"])
            .order_by(AuditEvent.seq)
            .all()
        )
    assert [(r.action, r.actor_role, r.origin) for r in rows] == [
        ("patient.create", "nurse", "testclient"),
        ("patient.read", "prescriber", "testclient"),
    ]
