"""Every main page passes axe-core with no serious or critical violation (issue 18).

axe-core (Deque's accessibility rules engine, from the npm registry) is injected by Playwright
into Debian's Chromium on each page of a demo clinic: sign-in, the day, the patients, a
patient, intake, the order and its preparation card, a course, the session console, the
patient's questionnaire on a phone (390×844), the clinic settings, staff, the medication room
and the protocols. ``make axe-core`` puts the pinned package in ``.cache/`` (from npm, checked
against its hash); this test runs that step only when the file is not there yet, so a test run
never fetches it again. Without it (no npm on a developer's machine) the test is skipped, and
under CI (``CI=true``) it fails: CI must run it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import ROOT, DemoServer

TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
FAILING_IMPACTS = frozenset({"serious", "critical"})


def _axe_path() -> Path:
    """Where ``make axe-core`` puts the pinned package (read from the Makefile: one pin)."""
    pinned = re.search(r"^AXE_CORE_PACKAGE\s*:=\s*(\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert pinned, "the Makefile pins AXE_CORE_PACKAGE"
    return ROOT / ".cache" / pinned.group(1).replace("@", "-") / "axe.min.js"


@pytest.fixture(scope="module")
def axe_source() -> str:
    path = _axe_path()
    if not path.exists():
        made = subprocess.run(
            ["make", "--no-print-directory", "axe-core"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if made.returncode != 0 or not path.exists():
            message = f"`make axe-core` could not fetch axe-core: {made.stderr[-500:]}"
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(message)
            pytest.skip(message)
    return path.read_text(encoding="utf-8")


def serious_violations(page: Page, axe_source: str) -> list[str]:
    """axe-core's serious and critical violations on the page as it is, one line each."""
    page.evaluate(axe_source)
    results = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    found = []
    for violation in results["violations"]:
        if violation["impact"] in FAILING_IMPACTS:
            targets = [" ".join(node["target"]) for node in violation["nodes"][:5]]
            found.append(
                f"{violation['id']} ({violation['impact']}): {violation['help']} {targets}"
            )
    return found


def _signed_in(browser: Browser, server: DemoServer, role: str) -> Page:
    context = browser.new_context(viewport=TABLET, bypass_csp=True)  # axe is injected
    page = context.new_page()
    page.set_default_timeout(10_000)
    email, password = server.accounts[role]
    page.goto(f"{server.base_url}/sign-in")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def _first_link(page: Page, pattern: str) -> str:
    for href in page.eval_on_selector_all(
        "a[href]", "links => links.map(a => a.getAttribute('href'))"
    ):
        if re.fullmatch(pattern, href or ""):
            return str(href)
    raise AssertionError(f"no link like {pattern} on {page.url}")


def test_every_main_page_has_no_serious_or_critical_accessibility_violation(
    demo_server: DemoServer, chromium: Browser, axe_source: str
) -> None:
    base = demo_server.base_url
    found: dict[str, list[str]] = {}

    def check(page: Page, name: str, path: str | None = None) -> None:
        if path is not None:
            page.goto(f"{base}{path}")
        found[name] = serious_violations(page, axe_source)

    visitor = chromium.new_context(viewport=TABLET, bypass_csp=True).new_page()
    check(visitor, "sign-in", "/sign-in")
    visitor.context.close()

    page = _signed_in(chromium, demo_server, "prescriber")
    check(page, "dashboard", "/dashboard")
    check(page, "patients", "/patients")
    patient = _first_link(page, r"/patients/\d+")
    check(page, "patient", patient)
    plan = _first_link(page, r"/plans/\d+")
    course = _first_link(page, r"/courses/\d+")
    check(page, "intake", "/patients/new")
    check(page, "plan form", f"{patient}/plans/new")
    check(page, "order", plan)
    check(page, "preparation card", f"{plan}/card")
    check(page, "course", course)
    session = _first_link(page, r"/sessions/\d+")
    check(page, "console", session)
    check(page, "protocols", "/protocols")
    check(page, "patient record (edit)", f"{patient}/edit")
    check(page, "bookings", f"/bookings{patient}")
    check(page, "chair board", "/board")
    page.goto(f"{base}{patient}")
    page.get_by_role("button", name="Make a questionnaire link").click()
    link = page.locator("#patient-link").input_value()
    page.context.close()

    phone = chromium.new_context(viewport=PHONE, bypass_csp=True).new_page()
    check(phone, "questionnaire (phone)", link.removeprefix(base))
    phone.context.close()

    nurse = _signed_in(chromium, demo_server, "nurse")
    check(nurse, "medication room", "/ledger")
    nurse.locator("#loss-form").get_by_role("button", name="Record").click()
    expect(nurse.locator("#loss-form [data-error-for=text]")).to_be_visible()
    check(nurse, "medication room (refused, errors beside the fields)")
    nurse.context.close()

    admin = _signed_in(chromium, demo_server, "admin")
    check(admin, "settings", "/settings")
    check(admin, "staff", "/staff")
    check(admin, "audit trail", "/audit")
    check(admin, "not found", "/no/such/page")
    admin.context.close()

    problems = {name: lines for name, lines in found.items() if lines}
    assert len(found) >= 20
    assert not problems, "\n".join(f"{name}: {lines}" for name, lines in problems.items())
