"""The README's screenshots, taken from a clinic made by ``ketaplan demo-data``.

The journey test starts from an empty clinic and runs in a minute, so its outcome chart has
points minutes apart; the demo clinic has weeks of synthetic history (courses under way, charted
sessions, PHQ-9 / GAD-7 / pain scores, an override, a titration decision), which is what a new
user sees after ``make run``. Run by ``make test`` like every browser test (the pages must
render); ``make screenshots`` (``KETAPLAN_DOCS_SCREENSHOTS=1``) also writes them to
``docs/screenshots/``. Every name and number in them is invented.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import Browser, Page, expect

from .conftest import DemoServer, Shots

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
PATIENT = "Maya Ortega (demo)"
"""The demo patient with a depression course under way, PHQ-9 and GAD-7 over weeks."""


def _signed_in(browser: Browser, server: DemoServer, role: str) -> Page:
    page = browser.new_context(viewport=TABLET, device_scale_factor=1).new_page()
    page.set_default_timeout(10_000)
    email, password = server.accounts[role]
    page.goto(f"{server.base_url}/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def _open_patient(page: Page, server: DemoServer, name: str) -> str:
    page.goto(f"{server.base_url}/patients")
    page.get_by_role("link", name=name).first.click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    return page.url


def test_the_readme_screenshots_from_the_demo_clinic(
    demo_server: DemoServer, chromium: Browser, shots: Shots
) -> None:
    sign_in = chromium.new_context(viewport=TABLET, device_scale_factor=1).new_page()
    sign_in.goto(f"{demo_server.base_url}/")
    expect(sign_in.get_by_role("button", name="Sign in")).to_be_visible()
    shots.take(sign_in, "sign-in", doc="sign-in")
    sign_in.context.close()

    # The nurse registers a patient and types a weight without its unit.
    nurse = _signed_in(chromium, demo_server, "nurse")
    nurse.get_by_role("link", name="New patient").click()
    nurse.get_by_label("Full name").fill("Alex Example (demo)")
    nurse.get_by_label("Height, with its unit").fill("5 ft 9 in")
    nurse.get_by_label("Weight, with its unit").fill("176")
    nurse.get_by_role("button", name="Register patient").click()
    expect(nurse.locator('[data-error-for="weight"]')).to_contain_text("no unit")
    shots.take(nurse, "intake-error", doc="intake-error")
    nurse.context.close()

    # The prescriber's view of a patient three weeks into a course.
    page = _signed_in(chromium, demo_server, "prescriber")
    patient_url = _open_patient(page, demo_server, PATIENT)
    expect(page.locator('#outcome-chart circle[data-scale="phq9"]')).to_have_count(3)
    expect(page.locator("#outcome-chart rect[data-dose]").first).to_be_visible()
    shots.take(page, "patient-outcomes", doc="patient-outcomes")

    page.get_by_label("Screen for").select_option("depression")
    page.get_by_role("button", name="Screen").click()
    expect(page.locator(".findings.caution")).to_contain_text("Interaction: Benzodiazepines")
    shots.take(page, "screening", doc="screening")

    page.goto(patient_url)
    page.get_by_role("link", name="New plan").click()
    page.get_by_label("Condition").select_option("depression")
    page.get_by_label("Requested dose (mg/kg), optional").fill("0.9")
    page.get_by_role("button", name="Work out the plan").click()
    expect(page.locator('[data-error-for="override_reason"]')).to_contain_text("reason")
    shots.take(page, "override", doc="override")

    page.goto(patient_url)
    page.get_by_role("link", name=re.compile(r"^#\d+ Depression")).first.click()
    expect(page.locator("#explanation")).to_contain_text("Protocol starting dose")
    plan_url = page.url
    shots.take(page, "plan", doc="plan")
    page.get_by_role("link", name="Printable preparation card").click()
    expect(page.locator("#preparation-card")).to_contain_text("Stock used")
    page.emulate_media(media="print")
    shots.take(page, "preparation-card", doc="preparation-card")
    page.emulate_media(media="screen")

    page.goto(patient_url)
    page.get_by_role("link", name=re.compile(r"^Course #\d+")).first.click()
    expect(page.locator("#course-calendar td.session")).to_have_count(6)
    shots.take(page, "course", doc="course")

    # The console, in a booster course scheduled from the plan for next Monday (the demo's own
    # courses may be over by now): a high blood pressure raises its banner.
    page.goto(plan_url)
    today = date.today()
    page.get_by_label("First session").fill(
        (today + timedelta(days=7 - today.weekday())).isoformat()
    )
    page.get_by_role("button", name="Schedule course").click()
    page.get_by_role("button", name="Open session 1").click()
    page.get_by_label("Systolic (mmHg)").fill("128")
    page.get_by_label("Diastolic (mmHg)").fill("82")
    page.get_by_label("Heart rate (bpm)").fill("74")
    page.get_by_label("SpO₂ (%)").fill("98")
    page.get_by_role("button", name=re.compile("Check in")).click()
    order_concentration = page.locator("#ev-start .hint").inner_text().split()[1]
    page.get_by_label("Bag label (mg/mL)").fill(order_concentration)
    page.get_by_role("button", name=re.compile("^Start")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    page.get_by_label("Systolic (mmHg)").fill("184")
    page.get_by_label("Diastolic (mmHg)").fill("104")
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator('[data-alert="vitals.in_sbp_hold"]')).to_contain_text("Pause")
    shots.take(page, "session-console", doc="session-console")

    page.goto(patient_url)
    page.get_by_role("link", name="Enter a questionnaire").click()
    expect(page.locator('input[name="item9"]')).to_have_count(4)
    shots.take(page, "staff-questionnaire", doc="staff-questionnaire")

    page.goto(patient_url)
    page.get_by_role("button", name="Make a questionnaire link").click()
    link = page.locator("#patient-link").input_value()
    page.context.close()
    phone = chromium.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    on_phone = phone.new_page()
    on_phone.goto(link)
    expect(on_phone.get_by_role("heading", name=re.compile("PHQ-9"))).to_be_visible()
    shots.take(on_phone, "patient-questionnaire", doc="patient-questionnaire")
    phone.close()

    admin = _signed_in(chromium, demo_server, "admin")
    admin.get_by_role("link", name="Clinic settings").click()
    expect(admin.locator("#monitoring")).to_contain_text("accepted")
    shots.take(admin, "clinic-settings", doc="clinic-settings")
    admin.context.close()
