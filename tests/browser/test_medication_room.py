"""A day in the medication room, in a real browser (issue 16): a box of two vials received;
two infusions prepared from one vial, each drawn from the preparation card (which then names
the vial and its lot); the two sessions charted to their (early) stop; what each patient received
recorded from the chart; the rest of each bag wasted before a witness (a waste without one
refused first); the end-of-day count, one vial off by 0.1 mL; the prescriber resolves that
discrepancy with a reason; the administration log lists both patients.

The charting itself goes through the services (the console is the journey tests' subject);
every ledger step is done on the pages.
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Browser, Page, expect

from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.services import (
    PatientDetails,
    PlanOrder,
    append_session_event,
    create_patient,
    create_plan,
    load_actor,
    open_session,
    sign_order,
)

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots


def _page(chromium: Browser, server: Server, role: str) -> Page:
    page = chromium.new_context(viewport=TABLETS["landscape"]).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.base_url}/ledger")
    page.get_by_label("E-mail").fill(EMAILS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=re.compile("Medication room"))).to_be_visible()
    return page


def _order_and_session(server: Server, name: str) -> tuple[int, int]:
    """A patient with a signed depression order and an opened session (through the services)."""
    context = server.context
    nurse = load_actor(context.unit_of_work(), EMAILS["nurse"], origin="test")
    prescriber = load_actor(context.unit_of_work(), EMAILS["prescriber"], origin="test")
    patient = create_patient(
        context.unit_of_work(),
        PatientDetails(
            full_name=name,
            weight="80 kg",
            height="175 cm",
            age_years=40,
            sex="female",
            medications=(),
        ),
        actor=nurse,
        catalog=context.catalog,
    )
    proposed = create_plan(
        context.unit_of_work(),
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=context.policy,
        resolver=context.resolver,
    )
    signed = sign_order(
        context.unit_of_work(), proposed.plan_id, password=PASSWORD, actor=prescriber
    )
    session = open_session(
        context.unit_of_work(),
        patient.patient_id,
        condition="depression",
        actor=nurse,
        policy=context.policy,
    )
    return signed.plan_id, session.session_id


def _chart_to_the_stop(server: Server, plan_id: int, session_id: int) -> None:
    """Check-in, the start at the order's bag and pump rate, stopped early 30 minutes later
    (what is left in the bag is wasted)."""
    context = server.context
    nurse = load_actor(context.unit_of_work(), EMAILS["nurse"], origin="test")
    prescriber = load_actor(context.unit_of_work(), EMAILS["prescriber"], origin="test")
    from ketaplan.services import get_plan

    preparation = get_plan(context.unit_of_work(), plan_id, actor=prescriber).plan["preparation"]
    now = server.clock()
    events = [
        {
            "at": (now - timedelta(minutes=55)).isoformat(),
            "type": "check_in",
            "systolic": 128,
            "diastolic": 82,
            "heart_rate": 74,
            "spo2": 98,
            "resp_rate": 14,
        },
        {
            "at": (now - timedelta(minutes=50)).isoformat(),
            "type": "start",
            "rate_ml_per_h": preparation["pump_rate_ml_per_h"],
            "concentration_mg_per_ml": preparation["final_mg_per_ml"],
        },
        {
            "at": (now - timedelta(minutes=20)).isoformat(),
            "type": "stop",
            "completed": False,
            "reason": "the patient asked to stop",
        },
    ]
    for seq, event in enumerate(events):
        append_session_event(
            context.unit_of_work(),
            session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=load_policy(),
        )


def _draw_from_the_card(page: Page, server: Server, plan_id: int, session_id: int) -> None:
    page.goto(f"{server.base_url}/plans/{plan_id}/card")
    form = page.locator("#draw-for-order")
    expect(form.locator("select[name=vial] option").first).to_contain_text("K-0001 · lot LOT-7731")
    form.locator("input[name=session_id]").fill(str(session_id))
    form.get_by_role("button", name="Record the draw").click()
    expect(page.locator("#order-ledger [data-ledger=vial]")).to_have_text("K-0001")
    expect(page.locator("#order-ledger [data-ledger=lot]")).to_have_text("LOT-7731")


def test_a_day_in_the_medication_room(chromium: Browser, server: Server, shots: Shots) -> None:
    nurse = _page(chromium, server, "nurse")
    receive = nurse.locator("#receive-form")
    for field, value in {
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
    }.items():
        receive.locator(f"input[name={field}]").fill(value)
    receive.get_by_role("button", name="Receive").click()
    expect(nurse.locator("#ledger-done")).to_contain_text("Received 2 vial(s): K-0001, K-0002")
    shots.take(nurse, "received")

    first = _order_and_session(server, "Robin First")
    second = _order_and_session(server, "Sam Second")
    for plan_id, session_id in (first, second):
        _draw_from_the_card(nurse, server, plan_id, session_id)
    shots.take(nurse, "card-names-the-vial")
    for plan_id, session_id in (first, second):
        _chart_to_the_stop(server, plan_id, session_id)

    nurse.goto(f"{server.base_url}/ledger")
    expect(nurse.locator("#stock tr[data-vial=K-0001] [data-in-vial]")).to_have_text("12.00 mL")
    for _ in range(2):
        nurse.locator("#draws-in-hand button[data-action=administer]").first.click()
        expect(nurse.locator("#ledger-done")).to_contain_text("Administration recorded")
    rows = nurse.locator("#draws-in-hand tbody tr")
    expect(rows).to_have_count(2)
    shots.take(nurse, "given-from-the-chart")
    nurse.goto(f"{server.base_url}/sessions/{first[1]}")
    expect(nurse.locator("#session-ledger li[data-kind=draw]")).to_contain_text(
        "vial K-0001 (lot LOT-7731) · 4.00 mL"
    )
    expect(nurse.locator("#session-ledger li[data-kind=administer]")).to_contain_text("3.00 mL")
    nurse.goto(f"{server.base_url}/ledger")

    waste = nurse.locator("#draws-in-hand form[data-waste-for]").first
    waste.get_by_role("button", name="Waste").click()
    expect(nurse.locator("#ledger-error")).to_contain_text("needs a witness")
    beside = nurse.locator("#draws-in-hand form[data-waste-for] [data-error-for=witness_email]")
    expect(beside).to_contain_text("needs a witness")  # beside the refused draw's field
    shots.take(nurse, "waste-without-witness-refused")
    for _ in range(2):
        waste = nurse.locator("#draws-in-hand form[data-waste-for]").first
        waste.locator("input[name=witness_email]").fill(EMAILS["prescriber"])
        waste.locator("input[name=witness_password]").fill(PASSWORD)
        waste.get_by_role("button", name="Waste").click()
        expect(nurse.locator("#ledger-done")).to_contain_text("witnessed")
    expect(nurse.locator("p#draws-in-hand")).to_contain_text("Nothing drawn is waiting")

    for vial, counted in (("K-0001", "11.9"), ("K-0002", "20")):
        row = nurse.locator(f"#stock tr[data-vial={vial}]")
        row.locator("input[name=counted_ml]").fill(counted)
        row.get_by_role("button", name="Count").click()
    expect(nurse.locator("#open-discrepancies tbody tr")).to_have_count(1)
    expect(nurse.locator("#open-discrepancies")).to_contain_text("12.00 mL")
    shots.take(nurse, "end-of-day-count")

    prescriber = _page(chromium, server, "prescriber")
    resolve = prescriber.locator("#open-discrepancies form")
    resolve.locator("input[name=reason]").fill("0.1 mL lost priming the second syringe")
    resolve.locator("input[name=write_off]").check()
    resolve.get_by_role("button", name="Resolve").click()
    expect(prescriber.locator("p#open-discrepancies")).to_have_text("No open discrepancy.")
    expect(prescriber.locator("#stock tr[data-vial=K-0001] [data-in-vial]")).to_have_text(
        "11.90 mL"
    )
    shots.take(prescriber, "discrepancy-resolved")
    prescriber.goto(f"{server.base_url}/ledger/reports/administrations")
    expect(prescriber.locator("#report tbody tr")).to_have_count(2)
    expect(prescriber.locator("#report")).to_contain_text("Robin First")
    expect(prescriber.locator("#report")).to_contain_text("Sam Second")
    shots.take(prescriber, "administration-log")
