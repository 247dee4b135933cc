"""The patient record edited in a real browser (issue 18 item 3): a nurse corrects the weight,
typed in pounds with the intake's live unit check, and sees the change in the version history;
the front desk edits the address and never sees the weight."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from ketaplan.services import PatientDetails, create_patient, load_actor

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots


def _signed_in(chromium: Browser, server: Server, role: str, path: str) -> Page:
    page = chromium.new_context(viewport=TABLETS["landscape"]).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{server.base_url}{path}")
    page.get_by_label("E-mail").fill(EMAILS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def _patient(server: Server) -> int:
    context = server.context
    nurse = load_actor(context.unit_of_work(), EMAILS["nurse"], origin="test")
    record = create_patient(
        context.unit_of_work(),
        PatientDetails(
            full_name="Jordan Record",
            weight="80 kg",
            height="175 cm",
            age_years=40,
            sex="female",
            medications=("sertraline 50 mg",),
        ),
        actor=nurse,
        catalog=context.catalog,
    )
    return record.patient_id


def test_a_nurse_corrects_the_weight_in_pounds_and_the_front_desk_the_address(
    chromium: Browser, server: Server, shots: Shots
) -> None:
    patient_id = _patient(server)
    nurse = _signed_in(chromium, server, "nurse", f"/patients/{patient_id}/edit")
    expect(nurse.get_by_role("heading", name="Edit Jordan Record")).to_be_visible()
    weight = nurse.get_by_label("Weight, with its unit")
    expect(weight).to_have_value("80 kg")
    weight.fill("350 kg")  # a slip: the live check says it, beside the field, before a submit
    expect(nurse.locator('[data-error-for="weight"]')).to_contain_text("lb")
    shots.take(nurse, "live-weight-check")
    weight.fill("165 lb")
    expect(nurse.locator('[data-error-for="weight"]')).to_have_text("")
    nurse.get_by_label("E-mail", exact=True).fill(
        "jordan-at-example"
    )  # and a second error, shown at once
    nurse.get_by_label("Phone", exact=True).fill("12")
    nurse.get_by_role("button", name="Save a new version").click()
    expect(nurse.locator('[data-error-for="email"]')).to_contain_text("not an address")
    expect(nurse.locator('[data-error-for="phone"]')).to_contain_text("not a phone number")
    expect(nurse.get_by_label("Weight, with its unit")).to_have_value("165 lb")
    shots.take(nurse, "every-error-at-once", doc="record-edit")
    nurse.get_by_label("E-mail", exact=True).fill("jordan@example.org")
    nurse.get_by_label("Phone", exact=True).fill("(510) 555-0134")
    nurse.get_by_role("button", name="Save a new version").click()
    expect(nurse).to_have_url(re.compile(rf"/patients/{patient_id}#record$"))
    change = nurse.locator('#versions tr[data-version="2"][data-field="weight"]')
    expect(change.locator("td.before")).to_have_text("80 kg")
    expect(change.locator("td.after")).to_have_text("165 lb")
    expect(nurse.locator('#versions tr[data-version="2"]').first).to_contain_text(EMAILS["nurse"])
    shots.take(nurse, "record-with-history", doc="record-history")

    desk = _signed_in(chromium, server, "front_desk", "/patients")
    desk.get_by_role("link", name="Jordan Record").click()  # the front desk's way to the record
    expect(desk.get_by_role("heading", name="Edit Jordan Record")).to_be_visible()
    expect(desk.get_by_label("Weight, with its unit")).to_have_count(0)
    desk.get_by_label("Street address", exact=True).fill("12 Elm Street")
    desk.get_by_label("City or town").fill("Oakland")
    desk.get_by_label("State or region").fill("CA")
    desk.get_by_label("Postal code").fill("94607")
    desk.get_by_role("button", name="Save a new version").click()
    expect(desk.locator("#saved")).to_be_visible()
    city = desk.locator('#versions tr[data-version="3"][data-field="city"]')
    expect(city.locator("td.after")).to_have_text("Oakland")
    body = desk.locator("body").inner_text()
    assert "165 lb" not in body
    assert "80 kg" not in body
    assert "sertraline" not in body.lower()
    # the nurse's version shows the front desk its contacts, never its weight
    expect(desk.locator('#versions tr[data-version="2"][data-field="phone"]')).to_have_count(1)
    expect(desk.locator('#versions tr[data-version="2"][data-field="weight"]')).to_have_count(0)
    shots.take(desk, "front-desk-address")

    nurse.goto(f"{server.base_url}/patients/{patient_id}")
    expect(nurse.locator("#record-address")).to_have_text("12 Elm Street, Oakland, CA 94607")
