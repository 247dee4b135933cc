"""The clinical API: screenings, plans, courses, sessions, questionnaires, patient links and
titration; each route's happy path, its documented refusals, and its audit rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from ketaplan.services import UnitOfWork, utc_now
from ketaplan.services.patient_links import answer_patient_link
from ketaplan.store.models import AuditEvent, Base, InfusionPlan, PatientLink, QuestionnaireResponse

from .conftest import PASSWORD, Api

V1 = "/api/v1"
PATIENT = {
    "full_name": "Jordan Sample",
    "weight": "80 kg",
    "height": "175 cm",
    "age_years": 42,
    "sex": "female",
    "medications": ["alprazolam 0.5 mg"],
}
PHQ9 = [2, 3, 2, 2, 3, 3, 2, 2, 0]
ORDER_BAG_MG_PER_ML = 0.354
"""The signed depression order's bag for PATIENT: 40 mg (0.5 mg/kg x 80 kg) in 113 mL (a 100 mL bag
holding 109 mL with its overfill, plus 4 mL drawn)."""


def _ok(answer: Any, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _patient(api: Api, **changes: object) -> int:
    body = _ok(
        api.client.post(
            f"{V1}/patients", json={**PATIENT, **changes}, headers=api.as_role("nurse")
        ),
        201,
    )
    return int(body["patient_id"])


def _audit(api: Api) -> list[AuditEvent]:
    with api.context.database.session_factory() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def _last_action(api: Api) -> str:
    return _audit(api)[-1].action


# ----------------------------------------------------------------- screenings ----


def test_a_screening_lists_findings_by_severity_and_is_saved(api: Api) -> None:
    patient_id = _patient(api)
    body = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/screenings",
            json={"condition": "depression"},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    assert body["status"] == "caution"
    assert "interaction.benzodiazepine" in [f["code"] for f in body["by_severity"]["caution"]]
    assert _last_action(api) == "screening.create"
    listed = _ok(
        api.client.get(f"{V1}/patients/{patient_id}/screenings", headers=api.as_role("prescriber"))
    )
    assert [s["screening_id"] for s in listed["items"]] == [body["screening_id"]]
    assert (listed["total_count"], listed["next"]) == (1, None)
    assert _last_action(api) == "screening.list"


def test_an_unknown_condition_is_a_422_naming_the_known_ones(api: Api) -> None:
    patient_id = _patient(api)
    answer = api.client.post(
        f"{V1}/patients/{patient_id}/screenings",
        json={"condition": "depresion"},
        headers=api.as_role("nurse"),
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "input.unknown_condition"
    assert "depression" in answer.json()["message"]


def test_the_front_desk_sees_no_screenings(api: Api) -> None:
    patient_id = _patient(api)
    answer = api.client.get(
        f"{V1}/patients/{patient_id}/screenings", headers=api.as_role("front_desk")
    )
    assert answer.status_code == 403


# ---------------------------------------------------------------------- plans ----


def test_a_plan_is_saved_with_its_explanation_and_read_back(api: Api) -> None:
    patient_id = _patient(api)
    body = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/plans",
            json={"condition": "depression"},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    assert body["plan"]["dose"]["explanation"]
    assert body["plan"]["eligibility"]["status"] == "caution"
    read = _ok(api.client.get(f"{V1}/plans/{body['plan_id']}", headers=api.as_role("admin")))
    assert read == body
    listed = _ok(api.client.get(f"{V1}/patients/{patient_id}/plans", headers=api.as_role("nurse")))
    assert [p["plan_id"] for p in listed["items"]] == [body["plan_id"]]
    assert listed["total_count"] == 1


def test_a_dose_past_the_soft_limit_needs_an_override_which_is_a_prescribers(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    patient_id = _patient(api)
    url = f"{V1}/patients/{patient_id}/plans"
    refused = api.client.post(
        url,
        json={"condition": "depression", "requested_mg_per_kg": 0.9},
        headers=api.as_role("prescriber"),
    )
    assert refused.status_code == 422
    assert refused.json()["code"] == "limit.override_required"
    message = refused.json()["message"]
    assert 'send "override_reason" in the request body' in message  # the API's own field
    assert "--override-reason" not in message  # the CLI's flags mean nothing here
    assert _last_action(api) == "plan.refused"
    override = {
        "condition": "depression",
        "requested_mg_per_kg": 0.9,
        "override_reason": "partial response at 0.75 mg/kg",
    }
    by_nurse = api.client.post(url, json=override, headers=api.as_role("nurse"))
    assert by_nurse.status_code == 403
    assert by_nurse.json()["code"] == "permission_denied"
    assert rows(InfusionPlan) == 0
    saved = _ok(api.client.post(url, json=override, headers=api.as_role("prescriber")), 201)
    assert saved["plan"]["limits"]["override"]["prescriber"] == "prescriber@bay.example"


@pytest.mark.parametrize(
    "body",
    [
        {"condition": "depression", "requested_mg_per_kg": -1},
        {"condition": "depression", "requested_mg_per_kg": 1e308},
        {"condition": ""},
        {"condition": "depression", "extra": 1},
        {},
    ],
)
def test_bad_plan_requests_are_422s(api: Api, body: dict[str, object]) -> None:
    patient_id = _patient(api)
    answer = api.client.post(
        f"{V1}/patients/{patient_id}/plans", json=body, headers=api.as_role("nurse")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "input.invalid_request"


def test_nan_and_infinity_are_refused_not_stored(api: Api) -> None:
    patient_id = _patient(api)
    for number in ("NaN", "Infinity", "-Infinity"):
        answer = api.client.post(
            f"{V1}/patients/{patient_id}/plans",
            content=f'{{"condition": "depression", "requested_mg_per_kg": {number}}}',
            headers={**api.as_role("prescriber"), "Content-Type": "application/json"},
        )
        assert answer.status_code == 422, answer.text


# -------------------------------------------------------------------- courses ----


def _signed_order(api: Api, patient_id: int) -> dict[str, Any]:
    """A plan proposed by the nurse and signed by the prescriber: the active order."""
    proposed = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/plans",
            json={"condition": "depression"},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    signed: dict[str, Any] = _ok(
        api.client.post(
            f"{V1}/plans/{proposed['plan_id']}/sign",
            json={"password": PASSWORD},
            headers=api.as_role("prescriber"),
        )
    )
    return signed


def _course(api: Api, patient_id: int, role: str = "front_desk") -> dict[str, Any]:
    _signed_order(api, patient_id)
    body: dict[str, Any] = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/courses",
            json={"condition": "depression", "first_day": "2026-12-07"},
            headers=api.as_role(role),
        ),
        201,
    )
    return body


def test_the_front_desk_schedules_and_reschedules_a_course(api: Api) -> None:
    patient_id = _patient(api)
    course = _course(api, patient_id)
    assert [s["date"] for s in course["schedule"]["sessions"]][:3] == [
        "2026-12-07",
        "2026-12-10",
        "2026-12-14",
    ]
    moved = _ok(
        api.client.post(
            f"{V1}/courses/{course['course_id']}/reschedule",
            json={"session_number": 3, "status": "missed", "expected_version": 1},
            headers=api.as_role("front_desk"),
        )
    )
    assert moved["version"] == 2
    assert moved["schedule"]["missed"][0]["number"] == 3
    assert moved["schedule"]["sessions"][2]["date"] > "2026-12-14"
    entry = _audit(api)[-1]
    assert entry.action == "course.reschedule"
    assert entry.details["moved"]
    assert set(moved) == {"course_id", "patient_id", "first_day", "version", "schedule"}
    assert set(moved["schedule"]) == {"sessions", "missed"}  # the bookings, no protocol
    read = _ok(api.client.get(f"{V1}/courses/{course['course_id']}", headers=api.as_role("nurse")))
    assert read["protocol_key"] == "depression"
    assert read["schedule"]["sessions"] == moved["schedule"]["sessions"]
    assert read["schedule"]["missed"] == moved["schedule"]["missed"]
    ics = api.client.get(
        f"{V1}/courses/{course['course_id']}/calendar.ics", headers=api.as_role("front_desk")
    )
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VCALENDAR" in ics.content


def test_a_reschedule_from_a_stale_version_is_a_409(api: Api) -> None:
    course = _course(api, _patient(api))
    url = f"{V1}/courses/{course['course_id']}/reschedule"
    first = {"session_number": 2, "status": "cancelled", "expected_version": 1}
    _ok(api.client.post(url, json=first, headers=api.as_role("front_desk")))
    stale = api.client.post(url, json=first, headers=api.as_role("nurse"))
    assert stale.status_code == 409
    assert stale.json()["code"] == "conflict.stale_version"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"session_number": 9, "status": "missed", "expected_version": 1}, "input.out_of_range"),
        ({"session_number": 2, "status": "late", "expected_version": 1}, "input.invalid_request"),
        (
            {
                "session_number": 2,
                "status": "missed",
                "expected_version": 1,
                "from_date": "9999-12-31",
            },
            "input.invalid_request",
        ),
    ],
)
def test_bad_reschedules_are_422s(api: Api, body: dict[str, object], code: str) -> None:
    course = _course(api, _patient(api))
    answer = api.client.post(
        f"{V1}/courses/{course['course_id']}/reschedule", json=body, headers=api.as_role("nurse")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code


def test_a_course_with_another_patients_plan_is_refused(api: Api) -> None:
    first, second = _patient(api), _patient(api, full_name="Other Person")
    plan = _ok(
        api.client.post(
            f"{V1}/patients/{first}/plans",
            json={"condition": "depression"},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    answer = api.client.post(
        f"{V1}/patients/{second}/courses",
        json={"condition": "depression", "first_day": "2026-12-07", "plan_id": plan["plan_id"]},
        headers=api.as_role("nurse"),
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "input.wrong_plan"


def test_a_booster_recommendation_after_the_series(api: Api) -> None:
    course = _course(api, _patient(api))
    body = _ok(
        api.client.get(f"{V1}/courses/{course['course_id']}/booster", headers=api.as_role("nurse"))
    )
    assert body["boosters"]["recommendations"][-1]["trigger"] == "maintenance"
    assert _last_action(api) == "course.booster"
    refused = api.client.get(
        f"{V1}/courses/{course['course_id']}/booster", headers=api.as_role("front_desk")
    )
    assert refused.status_code == 403


# ------------------------------------------------------------------- sessions ----


def _session(api: Api, patient_id: int) -> dict[str, Any]:
    _signed_order(api, patient_id)
    body: dict[str, Any] = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/sessions",
            json={"condition": "depression"},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    return body


def _event(api: Api, session_id: int, expected_seq: int, event: dict[str, object]) -> Any:
    return api.client.post(
        f"{V1}/sessions/{session_id}/events",
        json={"expected_seq": expected_seq, "event": event},
        headers=api.as_role("nurse"),
    )


def test_charting_a_session_event_by_event(api: Api) -> None:
    patient_id = _patient(api)
    chart = _session(api, patient_id)
    assert (chart["seq"], chart["events"], chart["alerts"]) == (0, [], [])
    session_id = chart["session_id"]
    events = [
        {
            "type": "check_in",
            "at": "2025-12-07T09:00:00-08:00",
            "systolic": 120,
            "diastolic": 80,
            "heart_rate": 72,
            "spo2": 98,
        },
        {
            "type": "start",
            "at": "2025-12-07T09:05:00-08:00",
            "rate_ml_per_h": 60,
            "concentration_mg_per_ml": ORDER_BAG_MG_PER_ML,
        },
        {"type": "stop", "at": "2025-12-07T09:45:00-08:00", "completed": True},
    ]
    for seq, event in enumerate(events):
        chart = _ok(_event(api, session_id, seq, event), 201)
    assert chart["seq"] == 3
    assert chart["delivered_mg"] == pytest.approx(60 * ORDER_BAG_MG_PER_ML * 40 / 60, abs=0.01)
    read = _ok(api.client.get(f"{V1}/sessions/{session_id}", headers=api.as_role("prescriber")))
    assert read == chart
    listed = _ok(
        api.client.get(f"{V1}/patients/{patient_id}/sessions", headers=api.as_role("nurse"))
    )
    assert listed["items"][0]["events"] == 3
    assert _audit(api)[-1].action == "session.list"


def test_refusals_at_the_chair_are_4xx_naming_the_field_and_chart_nothing(api: Api) -> None:
    chart = _session(api, _patient(api))
    assert chart["start_blockers"][0]["code"] == "session.no_pre_infusion_vitals"
    assert "start" in chart["allowed_events"]
    session_id = chart["session_id"]
    start = {"type": "start", "at": "2025-12-07T09:05:00-08:00", "rate_ml_per_h": 60,
             "concentration_mg_per_ml": ORDER_BAG_MG_PER_ML}  # fmt: skip
    early = _event(api, session_id, 0, start)
    assert early.status_code == 409
    assert (early.json()["code"], early.json()["field"]) == (
        "session.no_pre_infusion_vitals",
        "check_in",
    )
    held = {"type": "check_in", "at": "2025-12-07T09:00:00-08:00", "systolic": 190,
            "diastolic": 100, "heart_rate": 80, "spo2": 97}  # fmt: skip
    _ok(_event(api, session_id, 0, held), 201)
    on_hold = _event(api, session_id, 1, start)
    assert (on_hold.status_code, on_hold.json()["code"]) == (422, "session.start_on_hold")
    override = {"type": "hold_override", "at": "2025-12-07T09:02:00-08:00", "reason": "usual"}
    assert _event(api, session_id, 1, override).status_code == 403
    undiluted = {**start, "concentration_mg_per_ml": 100}
    prescriber = api.client.post(
        f"{V1}/sessions/{session_id}/events",
        json={"expected_seq": 1, "event": override},
        headers=api.as_role("prescriber"),
    )
    assert prescriber.status_code == 201, prescriber.text
    refused = _event(api, session_id, 2, undiluted)
    assert (refused.status_code, refused.json()["code"]) == (
        422,
        "session.concentration_above_max",
    )
    future = _event(api, session_id, 2, {**start, "at": "2099-01-01T09:00:00-08:00"})
    assert (future.status_code, future.json()["code"]) == (422, "input.future_time")
    read = _ok(api.client.get(f"{V1}/sessions/{session_id}", headers=api.as_role("nurse")))
    assert read["seq"] == 2
    assert read["alerts"][0]["severity"] in ("warning", "caution")


def test_an_event_after_the_chart_moved_on_is_a_409(api: Api) -> None:
    session_id = _session(api, _patient(api))["session_id"]
    check_in = {"type": "check_in", "at": "2025-12-07T09:00:00-08:00"}
    _ok(_event(api, session_id, 0, check_in), 201)
    late = _event(
        api, session_id, 0, {"type": "note", "at": "2025-12-07T09:01:00-08:00", "text": "x"}
    )
    assert late.status_code == 409
    assert late.json()["code"] == "conflict.chart_moved_on"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "check_in", "at": "2026-12-07T09:00:00"},  # naive
        {"type": "check_in", "at": "9999-12-31T23:00:00-12:00"},  # overflows in UTC
        {"type": "teleport", "at": "2026-12-07T09:00:00-08:00"},
        {"type": "start", "at": "2026-12-07T09:00:00-08:00", "rate_ml_per_h": "fast"},
        {"type": "check_in", "at": "2026-12-07T09:00:00-08:00", "nested": {"a": 1}},
        {},
    ],
)
def test_bad_events_are_422s_and_chart_nothing(api: Api, event: dict[str, object]) -> None:
    session_id = _session(api, _patient(api))["session_id"]
    answer = _event(api, session_id, 0, event)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"].startswith("input.")
    read = _ok(api.client.get(f"{V1}/sessions/{session_id}", headers=api.as_role("nurse")))
    assert read["seq"] == 0


def test_the_front_desk_does_not_chart(api: Api) -> None:
    session_id = _session(api, _patient(api))["session_id"]
    answer = api.client.post(
        f"{V1}/sessions/{session_id}/events",
        json={"expected_seq": 0, "event": {"type": "check_in", "at": "2026-12-07T09:00:00-08:00"}},
        headers=api.as_role("front_desk"),
    )
    assert answer.status_code == 403


# ------------------------------------------------------------- questionnaires ----


def test_staff_record_a_questionnaire_and_list_the_responses(api: Api) -> None:
    patient_id = _patient(api)
    body = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/questionnaires",
            json={"scale": "phq9", "answers": PHQ9, "answered_at": "2026-11-20T10:00:00-08:00"},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    assert (body["score"]["total"], body["source"]) == (19, "staff")
    assert _last_action(api) == "questionnaire.record"
    listed = _ok(
        api.client.get(
            f"{V1}/patients/{patient_id}/questionnaires?scale=phq9", headers=api.as_role("admin")
        )
    )
    assert [r["response_id"] for r in listed["items"]] == [body["response_id"]]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"answered_at": "2026-11-20T10:00:00"}, "input.naive_time"),
        ({"answers": [1, 2]}, "input.wrong_count"),
        ({"answers": [9] * 9}, "input.out_of_range"),
        ({"scale": "hamd"}, "input.unknown_scale"),
        ({"answers": []}, "input.wrong_count"),
        ({"answered_at": "0001-01-01T00:00:00+05:00"}, "input.invalid_request"),
    ],
)
def test_bad_questionnaires_are_422s(api: Api, changes: dict[str, object], code: str) -> None:
    patient_id = _patient(api)
    body = {"scale": "phq9", "answers": PHQ9, "answered_at": "2026-11-20T10:00:00-08:00", **changes}
    answer = api.client.post(
        f"{V1}/patients/{patient_id}/questionnaires", json=body, headers=api.as_role("nurse")
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == code


@pytest.mark.parametrize(
    ("answered_at", "code"),
    [
        (datetime.now(UTC) + timedelta(days=1), "input.time_in_future"),
        (datetime.now(UTC) + timedelta(hours=2), "input.time_in_future"),
        (datetime(1999, 12, 31, 23, 0, tzinfo=UTC), "input.time_too_early"),
    ],
)
def test_an_answer_time_in_the_future_or_before_2000_is_refused_and_names_the_field(
    api: Api, answered_at: datetime, code: str
) -> None:
    patient_id = _patient(api)
    answer = api.client.post(
        f"{V1}/patients/{patient_id}/questionnaires",
        json={"scale": "phq9", "answers": PHQ9, "answered_at": answered_at.isoformat()},
        headers=api.as_role("nurse"),
    )
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert (body["code"], body["field"]) == (code, "answered_at")
    assert "from 2000-01-01 up to 5 minutes after the server's clock" in body["message"]
    listed = api.client.get(
        f"{V1}/patients/{patient_id}/questionnaires", headers=api.as_role("nurse")
    )
    assert listed.json() == {"items": [], "total_count": 0, "limit": 50, "next": None}


def test_a_questionnaire_tied_to_another_patients_session_is_refused(api: Api) -> None:
    first, second = _patient(api), _patient(api, full_name="Other Person")
    session_id = _session(api, first)["session_id"]
    answer = api.client.post(
        f"{V1}/patients/{second}/questionnaires",
        json={
            "scale": "phq9",
            "answers": PHQ9,
            "answered_at": "2026-11-20T10:00:00-08:00",
            "session_id": session_id,
        },
        headers=api.as_role("nurse"),
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "input.wrong_patient"


# --------------------------------------------------------------- patient links ----


def _link(api: Api, patient_id: int, scales: list[str]) -> dict[str, Any]:
    body: dict[str, Any] = _ok(
        api.client.post(
            f"{V1}/patients/{patient_id}/links",
            json={"scales": scales},
            headers=api.as_role("nurse"),
        ),
        201,
    )
    return body


def test_a_patient_answers_through_a_link_without_an_account(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    patient_id = _patient(api)
    link = _link(api, patient_id, ["phq9", "gad7"])
    assert link["url_path"].endswith(link["token"])
    with api.context.database.session_factory() as session:
        stored = session.scalars(select(PatientLink)).one()
        assert link["token"] not in stored.token_hash
    shown = _ok(api.client.get(f"{V1}/links/{link['token']}"))
    assert shown["first_name"] == "Jordan"
    assert "Sample" not in str(shown)
    assert [q["scale"] for q in shown["to_answer"]] == ["phq9", "gad7"]
    _ok(
        api.client.post(
            f"{V1}/links/{link['token']}/responses", json={"scale": "phq9", "answers": PHQ9}
        ),
        201,
    )
    with api.context.database.session_factory() as session:
        response = session.scalars(select(QuestionnaireResponse)).one()
        assert (response.source, response.recorded_by, response.total) == ("patient_link", None, 19)
    entry = _audit(api)[-1]
    assert (entry.action, entry.actor_user_id, entry.actor_role, entry.origin) == (
        "questionnaire.record",
        None,
        None,
        "testclient",
    )
    again = api.client.post(
        f"{V1}/links/{link['token']}/responses", json={"scale": "phq9", "answers": PHQ9}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "conflict.already_answered"
    shown = _ok(api.client.get(f"{V1}/links/{link['token']}"))
    assert [q["scale"] for q in shown["to_answer"]] == ["gad7"]
    _ok(
        api.client.post(
            f"{V1}/links/{link['token']}/responses", json={"scale": "gad7", "answers": [1] * 7}
        ),
        201,
    )
    used = api.client.get(f"{V1}/links/{link['token']}")
    assert used.status_code == 404
    assert used.json()["code"] == "link.used"
    assert rows(QuestionnaireResponse) == 2


def test_a_wrong_or_expired_token_opens_nothing(api: Api) -> None:
    patient_id = _patient(api)
    link = _link(api, patient_id, ["phq9"])
    wrong = api.client.get(f"{V1}/links/{link['token'][:-2]}xx")
    assert wrong.status_code == 404
    assert wrong.json()["code"] == "link.not_found"
    assert "Jordan" not in wrong.text
    later = UnitOfWork(
        api.context.database.session_factory, clock=lambda: utc_now() + timedelta(days=4)
    )
    with pytest.raises(Exception, match="expired") as refused:
        answer_patient_link(later, link["token"], scale="phq9", answers=PHQ9, origin="x")
    assert getattr(refused.value, "code", None) == "link.expired"


def test_a_link_answers_only_its_scales(api: Api) -> None:
    link = _link(api, _patient(api), ["phq9"])
    answer = api.client.post(
        f"{V1}/links/{link['token']}/responses", json={"scale": "gad7", "answers": [1] * 7}
    )
    assert answer.status_code == 422
    assert answer.json()["code"] == "input.scale_not_on_link"


def test_the_front_desk_makes_no_links(api: Api) -> None:
    answer = api.client.post(
        f"{V1}/patients/{_patient(api)}/links",
        json={"scales": ["phq9"]},
        headers=api.as_role("front_desk"),
    )
    assert answer.status_code == 403


# ------------------------------------------------------------------ titration ----


def test_a_titration_recommendation_and_the_prescribers_decision(api: Api) -> None:
    course = _course(api, _patient(api), role="nurse")
    recommended = _ok(
        api.client.post(
            f"{V1}/courses/{course['course_id']}/titration", headers=api.as_role("nurse")
        ),
        201,
    )
    url = f"{V1}/titration/{recommended['recommendation_id']}/decision"
    by_nurse = api.client.post(
        url, json={"reason": "", "password": PASSWORD}, headers=api.as_role("nurse")
    )
    assert by_nurse.status_code == 403
    no_reason = api.client.post(
        url, json={"mg_per_kg": 0.6, "password": PASSWORD}, headers=api.as_role("prescriber")
    )
    assert no_reason.status_code == 422
    assert no_reason.json()["code"] == "input.missing"
    wrong = api.client.post(
        url,
        json={"mg_per_kg": 0.6, "reason": "tolerated well", "password": "not my password"},
        headers=api.as_role("prescriber"),
    )
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "signature.wrong_password"
    decided = _ok(
        api.client.post(
            url,
            json={"mg_per_kg": 0.6, "reason": "tolerated well", "password": PASSWORD},
            headers=api.as_role("prescriber"),
        ),
        201,
    )
    assert decided["decision"] == "overridden"
    order = _ok(api.client.get(f"{V1}/plans/{decided['plan_id']}", headers=api.as_role("nurse")))
    assert (order["status"], order["plan"]["dose"]["mg_per_kg"]) == ("active", 0.6)
    assert order["plan"]["preparation"]["pump_rate_ml_per_h"] > 0
    twice = api.client.post(url, json={"password": PASSWORD}, headers=api.as_role("prescriber"))
    assert twice.status_code == 409
    assert twice.json()["code"] == "conflict.already_decided"


# ---------------------------------------------------------------------- audit ----


def test_every_successful_write_is_audited(api: Api) -> None:
    patient_id = _patient(api)
    course = _course(api, patient_id, role="nurse")
    session_id = _session(api, patient_id)["session_id"]
    writes = [
        (
            "post",
            f"{V1}/patients/{patient_id}/screenings",
            {"condition": "depression"},
            "screening.create",
        ),
        ("post", f"{V1}/patients/{patient_id}/plans", {"condition": "depression"}, "plan.create"),
        (
            "post",
            f"{V1}/courses/{course['course_id']}/reschedule",
            {"session_number": 6, "status": "missed", "expected_version": 1},
            "course.reschedule",
        ),
        (
            "post",
            f"{V1}/sessions/{session_id}/events",
            {"expected_seq": 0, "event": {"type": "check_in", "at": "2025-12-07T09:00:00-08:00"}},
            "session.event.append",
        ),
        ("post", f"{V1}/patients/{patient_id}/links", {"scales": ["phq9"]}, "patient_link.create"),
        ("post", f"{V1}/courses/{course['course_id']}/titration", None, "titration.recommend"),
    ]
    for method, url, body, action in writes:
        before = len(_audit(api))
        answer = api.client.request(method, url, json=body, headers=api.as_role("nurse"))
        assert answer.status_code in (200, 201), answer.text
        after = _audit(api)
        assert len(after) == before + 1
        assert (after[-1].action, after[-1].origin, after[-1].actor_role) == (
            action,
            "testclient",
            "nurse",
        )
