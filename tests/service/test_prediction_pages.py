"""Predicted plasma levels on the order page and the session console, over the whole app: the
curve with its band and the time below the clinic's reference level, the what-ifs (pause now,
lower the rate) refused with a message beside the field when the rate is wrong, never
charted, and every read audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.pk import load_pk_levels
from ketaplan.services import PatientDetails, UnitOfWork, create_patient, load_actor
from ketaplan.services.sessions import append_session_event, open_session
from ketaplan.store.models import AuditEvent, Base, SessionEvent

from .conftest import ROLE_EMAILS, Api, signed_plan


def _order_and_session(
    api: Api, *, started_min_ago: float = 10.0
) -> tuple[int, int, dict[str, Any]]:
    """A signed depression order for an 80 kg patient and a session infusing at the order's
    rate since ``started_min_ago`` minutes: (plan id, session id, the plan's preparation)."""
    uow = UnitOfWork(api.context.database.session_factory)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    prescriber = load_actor(uow, ROLE_EMAILS["prescriber"], origin="test")
    patient = create_patient(
        uow,
        PatientDetails(
            full_name="Robin Predict", weight="80 kg", height="175 cm", age_years=40, sex="male"
        ),
        actor=nurse,
        catalog=api.context.catalog,
    )
    plan = signed_plan(
        uow,
        patient.patient_id,
        prescriber=prescriber,
        catalog=api.context.catalog,
        resolver=api.context.resolver,
    )
    policy = load_policy()
    chart = open_session(
        uow,
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=policy,
        plan_id=plan.plan_id,
    )
    prep = plan.plan["preparation"]
    start = datetime.now(UTC) - timedelta(minutes=started_min_ago)
    events = [
        {
            "at": (start - timedelta(minutes=5)).isoformat(),
            "type": "check_in",
            "systolic": 128,
            "diastolic": 80,
            "heart_rate": 72,
            "spo2": 98,
        },
        {
            "at": start.isoformat(),
            "type": "start",
            "rate_ml_per_h": prep["pump_rate_ml_per_h"],
            "concentration_mg_per_ml": prep["final_mg_per_ml"],
        },
    ]
    for seq, event in enumerate(events):
        append_session_event(
            uow, chart.session_id, event, expected_seq=seq, actor=nurse, policy=policy
        )
    return plan.plan_id, chart.session_id, prep


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'data-error-for="{field}">([^<]*)<', page)
    return found.group(1) if found else ""


def _audited(api: Api, action: str) -> list[AuditEvent]:
    with api.context.database.session_factory() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_the_order_page_shows_the_predicted_curve_its_band_and_the_time_below_the_level(
    api: Api,
) -> None:
    plan_id, _, _ = _order_and_session(api)
    page = api.client.get(f"/plans/{plan_id}", headers=api.as_role("nurse"))
    assert page.status_code == 200, page.text
    text = page.text
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in text
    assert 'id="plan-prediction"' in text
    assert '<title id="plan-prediction-title">' in text
    assert '<desc id="plan-prediction-desc">' in text
    assert 'data-band="plan"' in text
    assert 'data-curve="plan"' in text
    level = load_pk_levels().reference_ng_per_ml
    assert f'data-level="{level:g}"' in text
    below = re.search(r'id="predicted-below">([0-9.]+) min<', text)
    assert below, "the time below the level is in the text, with its unit"
    assert 0 < float(below.group(1)) < 180
    peak = re.search(r'id="predicted-peak">([0-9,]+)<', text)
    assert peak
    assert 100 < float(peak.group(1).replace(",", "")) < 400
    assert "Domino 1984" in text
    assert "clinic policy" in text
    assert "virtual patients" in text
    assert "ng/mL" in text
    assert "<script" not in text.split("<main", 1)[-1].split("</main>", 1)[0]
    [read] = _audited(api, "prediction.plan.read")
    assert read.entity_id == str(plan_id)


def test_the_console_predicts_the_rest_of_the_infusion_and_a_pause_now_charting_nothing(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    _, session_id, prep = _order_and_session(api)
    charted = rows(SessionEvent)
    page = api.client.get(f"/sessions/{session_id}", headers=api.as_role("nurse"))
    assert page.status_code == 200, page.text
    assert 'id="session-prediction"' in page.text
    assert 'data-curve="as_running"' in page.text
    assert 'data-curve="pause_now"' in page.text
    assert "data-now=" in page.text
    assert "changes nothing in the chart" in page.text
    assert f"Below the running {prep['pump_rate_ml_per_h']:g} mL/h" in page.text
    assert rows(SessionEvent) == charted
    assert len(_audited(api, "prediction.session.read")) == 1


def test_a_lower_rate_what_if_shows_its_curve_and_is_audited_but_not_charted(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    _, session_id, prep = _order_and_session(api)
    charted = rows(SessionEvent)
    lower = round(prep["pump_rate_ml_per_h"] / 2, 1)
    page = api.client.get(
        f"/sessions/{session_id}/what-if",
        params={"lower_rate_ml_per_h": f"{lower:g} mL/h"},
        headers=api.as_role("nurse"),
    )
    assert page.status_code == 200, page.text
    assert 'data-curve="lower"' in page.text
    assert f"Lower the rate to {lower:g} mL/h" in page.text
    assert _field_error(page.text, "lower_rate_ml_per_h") == ""
    assert rows(SessionEvent) == charted
    [read] = _audited(api, "prediction.session.read")
    assert read.details["lower_rate_ml_per_h"] == lower


def test_a_what_if_rate_past_the_limit_not_lower_or_in_the_wrong_unit_is_refused_beside_it(
    api: Api, rows: Callable[[type[Base]], int]
) -> None:
    _, session_id, prep = _order_and_session(api)
    charted = rows(SessionEvent)
    running = prep["pump_rate_ml_per_h"]
    for typed, words in (
        ("9999", "hard limit"),
        (f"{running:g}", "not lower than the running"),
        ("0", "above 0"),
        ("30 mg/h", "unknown unit"),
        ("-5", "negative"),
        ("fast", "not a quantity"),
        ("", "give the rate to predict"),
    ):
        page = api.client.get(
            f"/sessions/{session_id}/what-if",
            params={"lower_rate_ml_per_h": typed},
            headers=api.as_role("nurse"),
        )
        assert page.status_code == 422, (typed, page.status_code)
        message = _field_error(page.text, "lower_rate_ml_per_h")
        assert words in message, (typed, message)
        assert 'data-curve="lower"' not in page.text
        assert 'data-curve="as_running"' in page.text  # the other options still show
        assert f'value="{typed}"' in page.text  # kept as typed, to correct
    assert rows(SessionEvent) == charted


def test_a_paused_session_predicts_from_the_chart_as_paused(api: Api) -> None:
    _, session_id, _ = _order_and_session(api, started_min_ago=12.0)
    uow = UnitOfWork(api.context.database.session_factory)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    append_session_event(
        uow,
        session_id,
        {"at": datetime.now(UTC).isoformat(), "type": "pause", "reason": "nausea"},
        expected_seq=2,
        actor=nurse,
        policy=load_policy(),
    )
    page = api.client.get(f"/sessions/{session_id}", headers=api.as_role("nurse"))
    assert page.status_code == 200, page.text
    assert 'data-curve="as_charted"' in page.text
    assert "As charted: paused" in page.text
    assert 'id="what-if"' not in page.text
    refused = api.client.get(
        f"/sessions/{session_id}/what-if",
        params={"lower_rate_ml_per_h": "50"},
        headers=api.as_role("nurse"),
    )
    assert refused.status_code == 422
    assert "not running" in refused.text


def test_the_front_desk_sees_no_prediction(api: Api) -> None:
    plan_id, session_id, _ = _order_and_session(api)
    for path in (f"/plans/{plan_id}", f"/sessions/{session_id}/what-if"):
        answer = api.client.get(path, headers=api.as_role("front_desk"))
        assert answer.status_code == 403, path
    assert _audited(api, "prediction.plan.read") == []
