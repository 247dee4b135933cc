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
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from ketaplan.http.context import ServiceContext
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
    sign_order,
    utc_now,
)

from .conftest import EMAILS, PASSWORD, TABLETS, Server, Shots, migrated_sqlite, serve_app

_names = itertools.count(1)


@dataclass(frozen=True)
class Clinic(Server):
    actors: dict[str, Actor]

    def uow(self) -> UnitOfWork:
        return self.context.unit_of_work()


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory, migrated_template: Path) -> Iterator[Clinic]:
    made: dict[str, Any] = {}

    def clinic_and_staff(context: ServiceContext) -> None:
        uow = context.unit_of_work()
        admin = set_up_clinic(
            uow,
            name="Bay Ketamine Clinic",
            time_zone="America/Los_Angeles",
            admin_email=EMAILS["admin"],
            admin_password=PASSWORD,
        )
        made["actors"] = {"admin": admin}
        for role in ("prescriber", "nurse"):
            add_user(uow, email=EMAILS[role], role=role, actor=admin, password=PASSWORD)
            made["actors"][role] = load_actor(uow, EMAILS[role], origin="test")

    with serve_app(
        migrated_sqlite(tmp_path_factory, migrated_template, "console"), clinic_and_staff
    ) as serving:
        yield Clinic(serving.base_url, serving.context, serving.clock, made["actors"])


@pytest.fixture(params=sorted(TABLETS), ids=sorted(TABLETS))
def tablet(request: pytest.FixtureRequest, chromium: Browser) -> tuple[str, Browser]:
    return str(request.param), chromium


def _course(clinic: Clinic, history: tuple[str, ...] = ()) -> int:
    """A new 80 kg patient with a depression order proposed by the nurse and signed by the
    prescriber (sessions open only on an active signed order), and a course from today."""
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
    proposed = create_plan(
        clinic.uow(),
        patient.patient_id,
        PlanOrder(condition="depression"),
        actor=clinic.actors["nurse"],
        policy=context.policy,
        resolver=context.resolver,
    )
    plan = sign_order(clinic.uow(), proposed.plan_id, password=PASSWORD, actor=prescriber)
    course = schedule_course(
        clinic.uow(),
        patient.patient_id,
        condition="depression",
        first_day=date.today(),
        actor=prescriber,
        policy=context.policy,
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
    expect(page.locator(".crumbs")).to_contain_text(f"signed by {EMAILS['prescriber']}")
    found = re.search(r"/sessions/(\d+)", page.url)
    assert found is not None
    return int(found.group(1))


def _chart(clinic: Clinic, session_id: int, *events: dict[str, Any]) -> None:
    """Chart events through the service (with their own, past, times) as the nurse."""
    nurse = clinic.actors["nurse"]
    for event in events:
        seq = get_session_chart(
            clinic.uow(),
            session_id,
            actor=nurse,
            policy=clinic.context.policy,
        ).seq
        append_session_event(
            clinic.uow(),
            session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=clinic.context.policy,
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
    # Several alerts: high blood pressure, fast heart, low oxygen, three times.
    for reading in ((184, 104, 128, 89), (186, 106, 131, 88), (182, 102, 126, 90)):
        _vitals(page, *reading)
        page.get_by_role("button", name=re.compile("Record vitals")).click()
    # A pump programmed far past the protocol's hard mg/kg/h: the most severe alert, first.
    page.get_by_label("New rate (mL/h)").fill("999")
    page.get_by_role("button", name=re.compile("Change rate")).click()
    critical = page.locator("#alerts li").first
    expect(critical).to_have_attribute("data-severity", "critical")
    expect(critical).to_contain_text("Stop the pump now")
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


def _concentration(page: Page) -> str:
    """The order's bag concentration, as the start form's hint gives it ("order: 0.4 mg/mL")."""
    return page.locator("#ev-start .hint").inner_text().split()[1]


def _refused_beside(page: Page, form: str, field: str, says: str) -> None:
    expect(page.locator(f"#{form} [data-error-for='{field}']")).to_contain_text(says)
    expect(page.locator(".refused")).to_contain_text("Not charted")


def test_a_start_is_refused_beside_start_without_vitals_and_at_a_wrong_concentration(
    clinic: Clinic, tablet: tuple[str, Browser], shots: Shots
) -> None:
    size, chromium = tablet
    page = _signed_in(clinic, chromium, size)
    _open_session(clinic, page, _course(clinic))
    # No pre-infusion vitals: the page says so before anyone tries, and S does not start.
    expect(page.locator("#start-blockers")).to_contain_text("pre-infusion vitals")
    expect(page.locator("#ev-start button[data-key]")).to_have_count(0)
    page.keyboard.press("s")
    page.get_by_label("Bag label (mg/mL)").fill(_concentration(page))
    page.get_by_role("button", name=re.compile("^Start")).click()
    _refused_beside(page, "ev-start", "form", "pre-infusion vitals")
    expect(_rows(page)).to_have_count(0)
    expect(page.locator("#state")).to_have_text("checked in")
    shots.take(page, f"start-without-vitals-{size}")

    _vitals(page, 128, 82, 74, 98)
    page.get_by_role("button", name=re.compile("Check in")).click()
    expect(_rows(page)).to_have_count(1)
    expect(page.locator("#start-blockers")).to_have_count(0)
    # Now S is Start's key, but it only asks for the bag's concentration, read off its label.
    page.keyboard.press("s")
    expect(page.get_by_label("Bag label (mg/mL)")).to_be_focused()
    expect(_rows(page)).to_have_count(1)
    # An undiluted vial: refused beside the concentration, whatever the order.
    order = _concentration(page)
    page.get_by_label("Bag label (mg/mL)").fill("100")
    page.get_by_role("button", name=re.compile("^Start")).click()
    _refused_beside(page, "ev-start", "concentration_mg_per_ml", "clinic's maximum")
    expect(page.get_by_label("Bag label (mg/mL)")).to_have_value("100")
    expect(_rows(page)).to_have_count(1)
    shots.take(page, f"start-undiluted-{size}")
    # A bag within the clinic's limits but not the order's: the message says what it holds.
    page.get_by_label("Bag label (mg/mL)").fill("1")
    page.get_by_role("button", name=re.compile("^Start")).click()
    _refused_beside(page, "ev-start", "concentration_mg_per_ml", f"the order's bag is {order}")
    expect(_rows(page)).to_have_count(1)
    page.get_by_label("Bag label (mg/mL)").fill(order)
    page.get_by_role("button", name=re.compile("^Start")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    expect(_rows(page)).to_have_count(2)
    page.context.close()


def test_a_hold_blocks_the_start_until_a_prescriber_overrides_it(
    clinic: Clinic, tablet: tuple[str, Browser], shots: Shots
) -> None:
    size, chromium = tablet
    course_id = _course(clinic)
    nurse = _signed_in(clinic, chromium, size)
    session_id = _open_session(clinic, nurse, course_id)
    _vitals(nurse, 192, 112, 80, 97)  # above the clinic's hold for the start
    nurse.get_by_role("button", name=re.compile("Check in")).click()
    expect(nurse.locator("#start-blockers")).to_contain_text("on hold")
    expect(nurse.locator("#ev-hold_override")).to_have_count(0)  # a nurse cannot override
    nurse.get_by_label("Bag label (mg/mL)").fill(_concentration(nurse))
    nurse.get_by_role("button", name=re.compile("^Start")).click()
    _refused_beside(nurse, "ev-start", "form", "on hold")
    expect(_rows(nurse)).to_have_count(1)
    shots.take(nurse, f"start-on-hold-{size}")
    nurse.context.close()

    prescriber = _signed_in(clinic, chromium, size, "prescriber")
    prescriber.goto(f"{clinic.base_url}/sessions/{session_id}")
    prescriber.get_by_role("button", name="Override the hold").click()
    _refused_beside(prescriber, "ev-hold_override", "reason", "reason")
    expect(_rows(prescriber)).to_have_count(1)
    prescriber.get_by_label("Override the hold: your reason").fill(
        "white-coat hypertension, known; 20 min rest and recheck done"
    )
    prescriber.get_by_role("button", name="Override the hold").click()
    expect(_rows(prescriber)).to_have_count(2)
    expect(prescriber.locator("#start-blockers")).to_have_count(0)
    prescriber.get_by_label("Bag label (mg/mL)").fill(_concentration(prescriber))
    prescriber.get_by_role("button", name=re.compile("^Start")).click()
    expect(prescriber.locator("#state")).to_have_text("infusing")
    prescriber.context.close()


def test_a_mistaken_entry_is_voided_with_a_reason_and_stays_on_the_chart(
    clinic: Clinic, tablet: tuple[str, Browser], shots: Shots
) -> None:
    size, chromium = tablet
    page = _signed_in(clinic, chromium, size)
    _open_session(clinic, page, _course(clinic))
    _vitals(page, 128, 82, 74, 98)
    page.get_by_role("button", name=re.compile("Check in")).click()
    page.get_by_label("Bag label (mg/mL)").fill(_concentration(page))
    page.get_by_role("button", name=re.compile("^Start")).click()
    _vitals(page, 194, 84, 74, 98)  # a typing slip: 194 for 124
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator("#alerts")).to_contain_text("194")
    expect(_rows(page)).to_have_count(3)

    row = page.locator("#chart tr[data-seq='3']")
    row.get_by_text("Void this entry…").click()
    row.get_by_role("button", name="Void entry 3").click()  # no reason: refused beside it
    row = page.locator("#chart tr[data-seq='3']")
    expect(row.locator("[data-error-for='reason']")).to_contain_text("reason")
    expect(_rows(page)).to_have_count(3)
    row.get_by_label("Why it is wrong").fill("typed 194 for 124")
    row.get_by_role("button", name="Void entry 3").click()
    expect(_rows(page)).to_have_count(4)  # nothing deleted: the correction is a new entry
    expect(page.locator("#chart tr[data-seq='3']")).to_have_class(re.compile("voided"))
    expect(page.locator("#chart tr[data-seq='4']")).to_contain_text("typed 194 for 124")
    expect(page.locator("#alerts")).to_have_count(0)  # the alert went with the voided reading
    # A pump rate typed wrong and voided: the console shows the rate still running.
    page.get_by_label("New rate (mL/h)").fill("165")
    page.get_by_role("button", name=re.compile("Change rate")).click()
    expect(page.locator("#rate")).to_have_text("165")
    row = page.locator("#chart tr[data-seq='5']")
    row.get_by_text("Void this entry…").click()
    row.get_by_label("Why it is wrong").fill("charted on the wrong chair")
    row.get_by_role("button", name="Void entry 5").click()
    expect(page.locator("#chart tr[data-seq='5']")).to_have_class(re.compile("voided"))
    expect(page.locator("#rate")).not_to_have_text("165")
    shots.take(page, f"corrected-{size}")
    page.context.close()


def test_stopped_early_needs_a_reason(
    clinic: Clinic, tablet: tuple[str, Browser], shots: Shots
) -> None:
    size, chromium = tablet
    page = _signed_in(clinic, chromium, size)
    _open_session(clinic, page, _course(clinic))
    _vitals(page, 128, 82, 74, 98)
    page.get_by_role("button", name=re.compile("Check in")).click()
    page.get_by_label("Bag label (mg/mL)").fill(_concentration(page))
    page.get_by_role("button", name=re.compile("^Start")).click()
    expect(page.locator("#state")).to_have_text("infusing")
    page.keyboard.press("x")  # opens the stop panel; charts nothing
    expect(page.locator("#stop-panel")).to_have_attribute("open", "")
    expect(page.get_by_label("Planned dose completed")).to_be_focused()
    expect(_rows(page)).to_have_count(2)
    page.get_by_role("button", name="Confirm stop").click()  # neither chosen
    _refused_beside(page, "ev-stop", "completed", "completed")
    page.get_by_label("Stopped early", exact=True).check()
    page.get_by_role("button", name="Confirm stop").click()
    _refused_beside(page, "ev-stop", "reason", "reason")
    expect(_rows(page)).to_have_count(2)
    shots.take(page, f"stop-early-refused-{size}")
    page.get_by_label("Reason for stopping early").fill("patient asked to stop: anxious")
    page.get_by_role("button", name="Confirm stop").click()
    expect(page.locator("#state")).to_have_text("stopped")
    expect(page.locator("#chart tr[data-seq='3']")).to_contain_text("stopped early")
    page.context.close()


def _stopped_minutes_ago(clinic: Clinic, page: Page, minutes: float) -> int:
    """A session checked in, started at the order's bag and stopped ``minutes`` ago, charted
    through the service with past times; the console open on it."""
    session_id = _open_session(clinic, page, _course(clinic))
    concentration = float(_concentration(page))
    rate = float(page.get_by_label("Pump rate (mL/h)").input_value())
    _chart(
        clinic,
        session_id,
        {
            "type": "check_in",
            "at": _ago(minutes + 45),
            "systolic": 126,
            "diastolic": 80,
            "heart_rate": 72,
            "spo2": 98,
        },
        {
            "type": "start",
            "at": _ago(minutes + 40),
            "rate_ml_per_h": rate,
            "concentration_mg_per_ml": concentration,
        },
        {"type": "stop", "at": _ago(minutes), "completed": True},
    )
    page.reload()
    expect(page.locator("#state")).to_have_text("stopped")
    return session_id


ALL_BOXES = (
    "Recovery vitals within limits",
    "Oriented, walking steadily",
    "Escort present; no driving today",
)


def _discharge(page: Page, *boxes: str) -> None:
    for box in ALL_BOXES:
        page.get_by_label(box).set_checked(box in boxes)
    page.get_by_role("button", name=re.compile("^Discharge")).click()


def test_a_discharge_is_refused_until_its_criteria_hold(
    clinic: Clinic, tablet: tuple[str, Browser], shots: Shots
) -> None:
    size, chromium = tablet
    page = _signed_in(clinic, chromium, size)
    _stopped_minutes_ago(clinic, page, 30)  # past the protocol's recovery time
    # No vitals since the stop: said before anyone tries, and refused when tried.
    expect(page.locator("#discharge-blockers")).to_contain_text("after the stop")
    _discharge(page, *ALL_BOXES)
    _refused_beside(page, "ev-discharge", "vitals_within_limits", "after the stop")
    expect(_rows(page)).to_have_count(3)
    # Low oxygen in recovery: a recovery alert (never "pause the infusion"), discharge refused.
    _vitals(page, 124, 80, 70, 88)
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator("#alerts li").first).not_to_contain_text("Pause the infusion")
    _discharge(page, *ALL_BOXES)
    _refused_beside(page, "ev-discharge", "vitals_within_limits", "SpO")
    expect(_rows(page)).to_have_count(4)
    shots.take(page, f"discharge-refused-{size}")
    # Back within limits: the alert shows resolved; the checklist must still be complete.
    _vitals(page, 122, 78, 70, 97)
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator("#alerts li.resolved").first).to_contain_text("resolved at")
    expect(page.locator("#discharge-blockers")).to_have_count(0)
    _discharge(page, *ALL_BOXES[:2])
    _refused_beside(page, "ev-discharge", "escort_present", "escort")
    expect(_rows(page)).to_have_count(5)
    _discharge(page, *ALL_BOXES)
    expect(page.locator("#state")).to_have_text("discharged")
    expect(page.locator("#chart tr[data-seq='6']")).to_contain_text(EMAILS["nurse"])
    shots.take(page, f"discharged-{size}")
    page.context.close()


def test_a_discharge_waits_for_the_recovery_time(
    clinic: Clinic, tablet: tuple[str, Browser]
) -> None:
    size, chromium = tablet
    page = _signed_in(clinic, chromium, size)
    _stopped_minutes_ago(clinic, page, 5)
    _vitals(page, 122, 78, 70, 97)
    page.get_by_role("button", name=re.compile("Record vitals")).click()
    expect(page.locator("#discharge-blockers")).to_contain_text("discharge from")
    _discharge(page, *ALL_BOXES)
    _refused_beside(page, "ev-discharge", "form", "discharge from")
    expect(_rows(page)).to_have_count(4)
    expect(page.locator("#state")).to_have_text("stopped")
    page.context.close()
