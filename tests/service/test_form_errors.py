"""Every form shows every bad field's message in one submit (issue 18, item 7), and saves
nothing: one test per form, each typing two bad fields and finding both messages."""

from __future__ import annotations

import html
from collections.abc import Callable

import pytest

from ketaplan.errors import InputError
from ketaplan.services.patient_links import link_scale_keys
from ketaplan.store.models import (
    Base,
    Clinic,
    InfusionPlan,
    LedgerEntry,
    OutboxMessage,
    Patient,
    PatientLink,
    QuestionnaireResponse,
    SessionEvent,
)

from .conftest import Api, post_sign_in
from .test_ledger_pages import RECEIVE
from .test_ledger_pages import _sign_in as _sign_in_to_ledger
from .test_web_pages import (
    PHQ9_ON_PAPER,
    _course,
    _errors,
    _patient,
    _recommendation_id,
    _settings_form,
    _sign_in,
)


def _both(answer_text: str, *expected: tuple[str, str]) -> None:
    errors = {name: html.unescape(text) for name, text in _errors(answer_text).items()}
    for field, says in expected:
        assert field in errors, (field, errors)
        assert says in errors[field], (field, errors[field])


def test_the_intake_form_shows_a_bad_date_of_birth_and_a_weight_without_unit_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    answer = api.client.post(
        "/patients/new",
        data={
            "csrf_token": csrf,
            "full_name": "",
            "weight": "176",
            "date_of_birth": "31/12/1980",
        },
    )
    assert answer.status_code == 422
    _both(answer.text, ("weight", "unit"), ("date_of_birth", "date"), ("full_name", "name"))
    assert "3 fields" in answer.text
    assert rows(Patient) == 0


def test_the_plan_form_shows_a_missing_condition_and_a_bad_dose_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    before = rows(InfusionPlan)
    answer = api.client.post(
        f"{patient}/plans/new",
        data={"csrf_token": csrf, "condition": "", "requested_mg_per_kg": "lots"},
    )
    assert answer.status_code == 422
    _both(answer.text, ("condition", "choose"), ("requested_mg_per_kg", "not a dose"))
    assert rows(InfusionPlan) == before


def test_the_titration_form_shows_a_bad_dose_and_a_missing_password_at_once(api: Api) -> None:
    from ketaplan.store.models import TitrationDecision

    csrf = _sign_in(api.client, "prescriber")
    course = _course(api, csrf)
    page = api.client.post(f"{course}/titration", data={"csrf_token": csrf})
    answer = api.client.post(
        f"{course}/titration/decision",
        data={
            "csrf_token": csrf,
            "recommendation_id": _recommendation_id(page.text),
            "choice": "override",
            "mg_per_kg": "a lot",
            "password": "",
        },
    )
    assert answer.status_code == 422, answer.text
    _both(answer.text, ("mg_per_kg", "mg/kg"), ("password", "password"))
    with api.context.database.session_factory() as db:
        assert db.query(TitrationDecision).count() == 0


def test_the_console_shows_two_unreadable_vitals_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    session = api.client.post(
        f"{course}/sessions", data={"csrf_token": csrf, "number": "1"}, follow_redirects=False
    ).headers["location"]
    answer = api.client.post(
        f"{session}/events",
        data={
            "csrf_token": csrf,
            "expected_seq": "0",
            "type": "check_in",
            "systolic": "high",
            "diastolic": "80",
            "heart_rate": "fast",
        },
    )
    assert answer.status_code == 422, answer.text
    _both(answer.text, ("systolic", "systolic"), ("heart_rate", "heart rate"))
    assert rows(SessionEvent) == 0


def test_the_console_shows_an_unreadable_reading_beside_an_out_of_range_one(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    session = api.client.post(
        f"{course}/sessions", data={"csrf_token": csrf, "number": "1"}, follow_redirects=False
    ).headers["location"]
    answer = api.client.post(
        f"{session}/events",
        data={
            "csrf_token": csrf,
            "expected_seq": "0",
            "type": "check_in",
            "systolic": "400",
            "diastolic": "20",
            "heart_rate": "fast",
            "spo2": "30",
        },
    )
    assert answer.status_code == 422, answer.text
    _both(
        answer.text,
        ("systolic", "blood pressure 400/20"),
        ("heart_rate", "not a number"),
        ("spo2", "outside the accepted"),
    )
    assert rows(SessionEvent) == 0


def test_the_console_shows_every_out_of_range_reading_at_once_and_charts_nothing(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    course = _course(api, csrf)
    session = api.client.post(
        f"{course}/sessions", data={"csrf_token": csrf, "number": "1"}, follow_redirects=False
    ).headers["location"]
    answer = api.client.post(
        f"{session}/events",
        data={
            "csrf_token": csrf,
            "expected_seq": "0",
            "type": "check_in",
            "systolic": "400",
            "diastolic": "20",
            "heart_rate": "400",
            "spo2": "30",
        },
    )
    assert answer.status_code == 422, answer.text
    _both(
        answer.text,
        ("systolic", "blood pressure 400/20"),
        ("heart_rate", "outside the accepted"),
        ("spo2", "outside the accepted"),
    )
    assert rows(SessionEvent) == 0


def test_the_api_answers_every_out_of_range_reading_and_both_bad_pump_numbers(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    from .test_api_clinical import _patient as _api_patient
    from .test_api_clinical import _session as _api_session

    session_id = _api_session(api, _api_patient(api))["session_id"]
    at = "2025-12-07T09:00:00-08:00"
    cases = (
        (
            {"type": "check_in", "systolic": 400, "diastolic": 20, "heart_rate": 300},
            ["blood_pressure", "heart_rate_bpm"],
        ),
        (
            {"type": "vitals", "systolic": 400, "diastolic": 20, "heart_rate": "fast"},
            ["blood_pressure", "heart_rate_bpm"],
        ),
        (
            {"type": "vitals", "systolic": "high", "diastolic": 500, "spo2": 30},
            ["systolic_mmhg", "spo2_pct"],
        ),
        ({"type": "start", "rate_ml_per_h": 0, "concentration_mg_per_ml": -1}, None),
    )
    for event, fields in cases:
        answer = api.client.post(
            f"/api/v1/sessions/{session_id}/events",
            json={"expected_seq": 0, "event": {**event, "at": at}},
            headers=api.as_role("nurse"),
        )
        assert answer.status_code == 422, answer.text
        found = [p["field"] for p in answer.json()["problems"]]
        assert found == (fields or ["rate_ml_per_h", "concentration_mg_per_ml"]), found
    assert rows(SessionEvent) == 0


def test_the_staff_questionnaire_shows_every_unanswered_item_and_a_bad_time_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    answer = api.client.post(
        f"{patient}/questionnaires",
        data={
            "csrf_token": csrf,
            "scale": "phq9",
            **PHQ9_ON_PAPER,
            "item3": "",
            "item7": "9",
            "answered_at": "yesterday",
        },
    )
    assert answer.status_code == 422, answer.text
    _both(
        answer.text,
        ("item3", "no answer"),
        ("item7", "not an answer"),
        ("answered_at", "not a date"),
    )
    assert rows(QuestionnaireResponse) == 0


def test_the_e_mail_link_form_shows_a_bad_address_and_an_unknown_scale_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    answer = api.client.post(
        f"{patient}/links/email",
        data={"csrf_token": csrf, "scales": "phq9 bdi", "email": "not an address"},
    )
    assert answer.status_code == 422, answer.text
    _both(
        answer.text,
        ("email", "not an e-mail address"),
        ("scales", "“bdi” is not a questionnaire ketaplan knows: choose PHQ-9 (Patient Health"),
    )
    said = html.unescape(_errors(answer.text)["scales"])
    assert "Quick Inventory of Depressive Symptomatology" in said
    assert "qids_sr16" not in said  # titles, not codes
    assert "pain_nrs" not in said
    assert (rows(PatientLink), rows(OutboxMessage)) == (0, 0)


def test_the_service_keeps_the_scale_codes_for_the_api() -> None:
    with pytest.raises(InputError) as refused:
        link_scale_keys(["phq9", "bdi"])
    assert "qids_sr16" in refused.value.message
    assert refused.value.fields["unknown"] == ["bdi"]


def test_the_staff_questionnaire_names_the_scales_it_accepts_by_their_titles(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in(api.client, "nurse")
    patient = _patient(api, csrf)
    answer = api.client.post(
        f"{patient}/questionnaires",
        data={"csrf_token": csrf, "scale": "bdi", "answered_at": "soon"},
    )
    assert answer.status_code == 422, answer.text
    said = html.unescape(_errors(answer.text)["scale"])
    assert said.startswith("“bdi” is not a questionnaire ketaplan knows: choose PHQ-9"), said
    assert "pain_nrs" not in said
    assert "answered_at" in _errors(answer.text)
    assert rows(QuestionnaireResponse) == 0


def test_the_settings_form_shows_every_bad_field_at_once_and_saves_nothing(api: Api) -> None:
    _sign_in(api.client, "admin")
    form = _settings_form(api.client)
    answer = api.client.post(
        "/settings",
        data={
            **form,
            "price_per_session_usd": "lots",
            "open_time": "25:00",
            "max_per_week": "9",
            "dea_registration": "AB1234567",
            "holiday_region": "XX",
            "threshold__mood__in_sbp_hold": "high",
            "every_days__phq9": "5",
        },
    )
    assert answer.status_code == 422, answer.text
    _both(
        answer.text,
        ("price_per_session_usd", "not a number"),
        ("open_time", "HH:MM"),
        ("max_per_week", "1 to 7"),
        ("dea_registration", "should be 3"),
        ("holiday_region", "not a country"),
        ("threshold__mood__in_sbp_hold", "not a number"),
        ("every_days__phq9", "from 7 to 90"),
    )
    with api.context.database.session_factory() as db:
        assert all(c.settings_version == 1 for c in db.query(Clinic))


def test_the_sign_in_form_shows_both_missing_fields_at_once(api: Api) -> None:
    answer = post_sign_in(api.client, "", "")
    assert answer.status_code == 422 or answer.status_code == 200
    _both(answer.text, ("email", "e-mail"), ("password", "password"))


def test_the_medication_room_shows_a_bad_strength_and_a_bad_expiry_at_once(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    csrf = _sign_in_to_ledger(api.client, "nurse")
    answer = api.client.post(
        "/ledger/receive",
        data={**RECEIVE, "strength": "strong", "expiry": "next June", "csrf_token": csrf},
    )
    assert answer.status_code == 422, answer.text
    shown = html.unescape(answer.text)
    assert "strength" in shown
    assert "expiry" in shown
    assert "next June" in shown
    assert rows(LedgerEntry) == 0


def test_the_api_lists_every_problem_and_keeps_the_first_ones_code(api: Api) -> None:
    """Several refusals keep the first's code and field at the top (clients matching one error
    still find it), with every problem under ``problems``; one refusal is unchanged."""
    several = api.client.post(
        "/api/v1/patients",
        headers=api.as_role("nurse"),
        json={"full_name": "", "weight": "176"},
    )
    assert several.status_code == 422
    body = several.json()
    assert {p["field"] for p in body["problems"]} == {"full_name", "weight"}
    assert body["code"] == body["problems"][0]["code"]
    one = api.client.post(
        "/api/v1/patients",
        headers=api.as_role("nurse"),
        json={"full_name": "Ann", "weight": "176"},
    )
    assert one.status_code == 422
    assert "problems" not in one.json()
    assert one.json()["field"] == "weight"


def test_error_pages_keep_the_navigation_and_every_page_links_the_favicon(api: Api) -> None:
    signed_out = api.client.get("/sign-in")
    assert '<link rel="icon" href="/static/favicon.svg"' in signed_out.text
    assert api.client.get("/static/favicon.svg").headers["content-type"].startswith("image/svg")
    _sign_in(api.client, "front_desk")
    for path, status in (("/no/such/page", 404), ("/patients/1", 403)):
        answer = api.client.get(path)
        assert answer.status_code == status
        assert '<nav aria-label="Main">' in answer.text, path
        assert "Sign out" in answer.text
        assert 'rel="icon"' in answer.text
    missing = api.client.get("/no/such/page")
    assert "Not found" in missing.text
    assert 'title="not_found"' in missing.text  # the code only as a tooltip
