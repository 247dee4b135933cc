"""Every page speaks a clinician's words: no internal code, snake_case name or Python value in
what a person reads (issue 18, item 7). Codes may stay in tooltips and attributes, which this
test strips, and in the API, which it does not read.

A demo clinic (``ketaplan demo-data``'s: weeks of courses, charted sessions, questionnaires, an
override) is crawled page by page as each role would click through it, so that a new page or a
new code shown raw fails here rather than in front of a nurse.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.http.context import ServiceContext
from ketaplan.services.demo_clinic import create_demo_clinic
from ketaplan.store import Database

from .conftest import post_sign_in

SNAKE_CASE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\b")
DOTTED_CODE = re.compile(r"\b[a-z][a-z0-9_]+\.[a-z][a-z0-9_]+\b")
PYTHON_VALUE = re.compile(r"\b(?:True|False)\b")
"""``None`` is left out: it is also the word for an answer ("Alcohol: None")."""
NOT_CODES = re.compile(r"https?://\S+|\S+@\S+|\S+\.(?:ics|csv|pdf|zip|txt|md|R)\b")
"""Text that may hold dots or underscores and is not a code: links, e-mail addresses, file
names offered for download, and the source files a citation names (a PK model's parameters
"as implemented by stanpumpR (R/drugs_ketamine.R ...)")."""

PAGE_LINK = re.compile(
    r'href="(/(?:dashboard|patients|plans|courses|sessions|protocols|settings'
    r'|staff|ledger)[^"#?]*)"'
)
SKIPPED = re.compile(r"/(?:card|new)$|/ledger/reports/")
"""Pages visited by their own line below (the card, the intake and plan forms, reports)."""


class VisibleText(HTMLParser):
    """The text a person sees: element text, not attributes (tooltips included), nor scripts
    and styles."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = VisibleText()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def raw_codes(page: str) -> list[str]:
    """Every code-like token in the page's visible text, with some context."""
    text = NOT_CODES.sub(" ", visible_text(page))
    found: dict[str, str] = {}
    for pattern in (SNAKE_CASE, DOTTED_CODE, PYTHON_VALUE):
        for match in pattern.finditer(text):
            start, end = max(0, match.start() - 40), match.end() + 40
            found.setdefault(match.group(0), f"{match.group(0)!r} in …{text[start:end]}…")
    return list(found.values())


@pytest.fixture
def demo(
    database: Database, catalog: Catalog, resolver: MedicationResolver
) -> Iterator[tuple[TestClient, dict[str, tuple[str, str]]]]:
    """A test client over a demo clinic, and its accounts' e-mail and password by role."""
    from ketaplan.app import create_app

    calendar = load_calendar(None, catalog.clinic.time_zone)
    monitoring = load_monitoring_rules()
    made = create_demo_clinic(
        database,
        catalog=catalog,
        resolver=resolver,
        monitoring=monitoring,
        calendar=calendar,
        today=date.today(),
    )
    assert made is not None
    context = ServiceContext(
        database=database,
        catalog=catalog,
        resolver=resolver,
        monitoring=monitoring,
        calendar=calendar,
    )
    accounts = {role: (email, password) for role, email, password in made.credentials}
    with TestClient(create_app(context)) as client:
        yield client, accounts


def crawl(client: TestClient, start: tuple[str, ...], limit: int = 40) -> dict[str, str]:
    """Pages reached from ``start`` by their links, one per kind of page (ids stripped)."""
    seen: dict[str, str] = {}
    kinds: set[str] = set()
    queue = list(start)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        kind = re.sub(r"/\d+", "/N", path)
        if path in seen or kind in kinds:
            continue
        answer = client.get(path)
        if answer.status_code == 403 and path in start:
            continue  # a page this role may not open (the role matrix is tested elsewhere)
        assert answer.status_code == 200, (path, answer.status_code)
        seen[path] = answer.text
        kinds.add(kind)
        queue.extend(p for p in PAGE_LINK.findall(answer.text) if not SKIPPED.search(p))
    return seen


def test_no_page_shows_a_code_a_snake_case_name_or_a_python_value(
    demo: tuple[TestClient, dict[str, tuple[str, str]]],
) -> None:
    client, accounts = demo
    pages: dict[str, str] = {"sign-in": client.get("/sign-in").text}
    for role in ("prescriber", "nurse", "admin"):
        email, password = accounts[role]
        assert post_sign_in(client, email, password).status_code == 303
        found = crawl(client, ("/dashboard", "/patients", "/protocols", "/ledger", "/settings"))
        pages.update({f"{role} {path}": text for path, text in found.items()})
        if role == "prescriber":
            patient = next(p for p in found if re.fullmatch(r"/patients/\d+", p))
            plan = next(p for p in found if re.fullmatch(r"/plans/\d+", p))
            for extra in (
                "/patients/new",
                f"{patient}/plans/new",
                f"{patient}/screening",
                f"{plan}/card",
                "/no/such/page",
            ):
                pages[f"{role} {extra}"] = client.get(extra).text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', found[patient])
            assert csrf
            linked = client.post(f"{patient}/links", data={"csrf_token": csrf.group(1)})
            token = re.search(r"/q/([A-Za-z0-9_\-]+)", linked.text)
            assert token, linked.text
            pages["patient questionnaire"] = client.get(f"/q/{token.group(1)}").text
        client.cookies.clear()
    assert len(pages) >= 15, sorted(pages)
    problems = {name: codes for name, page in pages.items() if (codes := raw_codes(page))}
    assert not problems, "\n".join(f"{name}: {codes}" for name, codes in problems.items())


def test_the_check_sees_a_raw_code_but_not_one_in_a_tooltip() -> None:
    shown = "<p>Finding <strong>interaction.benzodiazepine</strong> rate_ml_per_h True</p>"
    assert len(raw_codes(shown)) == 3
    hidden = '<p><span title="interaction.benzodiazepine">Benzodiazepines</span> a@b.example</p>'
    assert raw_codes(hidden) == []


LEFT_OUT = r'<select.*?</select>|<td class="details">.*?</td>'
"""What may show a member of staff's e-mail: see the test below."""


def test_no_page_names_a_member_of_staff_by_their_e_mail(
    demo: tuple[TestClient, dict[str, tuple[str, str]]],
) -> None:
    """The demo staff have names, so wherever a page says who did something (a record
    version, the bookings history, a signature, the audit trail) or who is signed in (the
    header) it says the name, the signed-in member of staff's own included. The staff page
    (where e-mails are managed), pickers (``<select>``) and the audit trail's details (each
    event's record as it was written) are left out."""
    client, accounts = demo
    staff = [e for e, _p in accounts.values()]
    checked = 0
    for role in ("prescriber", "admin"):
        email, password = accounts[role]
        assert post_sign_in(client, email, password).status_code == 303
        found = crawl(client, ("/dashboard", "/patients", "/ledger", "/audit"))
        for path, page in found.items():
            if path.startswith("/staff"):
                continue
            trimmed = re.sub(LEFT_OUT, "", page, flags=re.S)
            shown = visible_text(trimmed)
            assert not [e for e in staff if e in shown], (role, path)
            checked += 1
        client.cookies.clear()
    assert checked >= 10
