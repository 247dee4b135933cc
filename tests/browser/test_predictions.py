"""Predicted plasma levels in Chromium, on a 1024×768 tablet: the order page shows the curve
with its band and the time below the reference level; on the console a what-if with a rate
too high is refused beside its field, and a valid one adds its curve, charting nothing.

The patient, the signed order, the session and its start (10 minutes ago) are made through the
services; the pages are used as the nurse uses them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from ketaplan.services import (
    PatientDetails,
    PlanOrder,
    append_session_event,
    create_patient,
    create_plan,
    load_actor,
    open_session,
    sign_order,
    utc_now,
)

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots


@pytest.fixture
def infusing(server: Server) -> dict[str, Any]:
    """An 80 kg patient's signed depression order and a session infusing for 10 minutes."""
    context = server.context
    nurse = load_actor(context.unit_of_work(), EMAILS["nurse"], origin="test")
    prescriber = load_actor(context.unit_of_work(), EMAILS["prescriber"], origin="test")
    patient = create_patient(
        context.unit_of_work(),
        PatientDetails(
            full_name="Sam Curve", weight="80 kg", height="175 cm", age_years=42, sex="female"
        ),
        actor=nurse,
        catalog=context.catalog,
    )
    proposed = create_plan(
        context.unit_of_work(),
        patient.patient_id,
        PlanOrder(condition="depression"),
        actor=nurse,
        policy=context.policy,
        resolver=context.resolver,
    )
    plan = sign_order(context.unit_of_work(), proposed.plan_id, password=PASSWORD, actor=prescriber)
    chart = open_session(
        context.unit_of_work(),
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=context.policy,
        plan_id=plan.plan_id,
    )
    prep = plan.plan["preparation"]
    start = utc_now() - timedelta(minutes=10)
    events = [
        {
            "at": (start - timedelta(minutes=5)).isoformat(),
            "type": "check_in",
            "systolic": 126,
            "diastolic": 80,
            "heart_rate": 70,
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
            context.unit_of_work(),
            chart.session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=context.policy,
        )
    return {
        "plan_id": plan.plan_id,
        "session_id": chart.session_id,
        "rate_ml_per_h": prep["pump_rate_ml_per_h"],
    }


def _signed_in(server: Server, chromium: Browser) -> Page:
    page = chromium.new_context(viewport=TABLETS["landscape"]).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.base_url}/patients")
    page.get_by_label("E-mail").fill(EMAILS["nurse"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    return page


def test_the_order_page_shows_the_predicted_curve_and_the_time_below_the_level(
    server: Server, chromium: Browser, infusing: dict[str, Any], shots: Shots
) -> None:
    page = _signed_in(server, chromium)
    page.goto(f"{server.base_url}/plans/{infusing['plan_id']}")
    chart = page.locator("svg#plan-prediction")
    expect(chart).to_be_visible()
    expect(chart.locator('[data-curve="plan"]')).to_have_count(1)
    expect(chart.locator('[data-band="plan"]')).to_have_count(1)
    expect(page.locator("#predicted-below")).to_have_text(re.compile(r"^[0-9.]+ min$"))
    expect(page.get_by_role("img", name=re.compile("Predicted plasma ketamine"))).to_be_visible()
    expect(page.locator("#prediction")).to_contain_text("reference level")
    shots.take(page, "order-prediction", doc="order-prediction")


def test_a_what_if_too_high_is_refused_and_a_valid_one_shows_its_curve(
    server: Server, chromium: Browser, infusing: dict[str, Any], shots: Shots
) -> None:
    page = _signed_in(server, chromium)
    page.goto(f"{server.base_url}/sessions/{infusing['session_id']}")
    chart = page.locator("svg#session-prediction")
    expect(chart.locator('[data-curve="as_running"]')).to_have_count(1)
    expect(chart.locator('[data-curve="pause_now"]')).to_have_count(1)
    rows = page.locator("#chart tbody tr[data-seq]").count()
    field = page.get_by_label("What if the rate were lowered to (mL/h)")

    field.fill("9999")
    page.get_by_role("button", name="Predict (charts nothing)").click()
    error = page.locator('[data-error-for="lower_rate_ml_per_h"]')
    expect(error).to_contain_text("hard limit")
    expect(page.locator("svg#session-prediction [data-curve='lower']")).to_have_count(0)
    expect(page.get_by_label("What if the rate were lowered to (mL/h)")).to_have_value("9999")

    lower = f"{infusing['rate_ml_per_h'] / 2:.1f}"
    page.get_by_label("What if the rate were lowered to (mL/h)").fill(lower)
    page.get_by_role("button", name="Predict (charts nothing)").click()
    expect(page.locator("svg#session-prediction [data-curve='lower']")).to_have_count(1)
    expect(page.locator("#prediction-numbers tr[data-option='lower']")).to_contain_text("min")
    expect(page.locator('[data-error-for="lower_rate_ml_per_h"]')).to_have_text("")
    expect(page.locator("#what-if-note")).to_contain_text("changes nothing in the chart")
    expect(page.locator("#chart tbody tr[data-seq]")).to_have_count(rows)
    expect(page.locator("#state")).to_have_text("infusing")
    shots.take(page, "console-what-if", doc="console-what-if")
