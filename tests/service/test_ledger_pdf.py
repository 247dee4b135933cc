"""The ledger's reports as PDF: each report renders (PDFium, independent of fpdf2) to landscape
A4 pages that are not blank, whose text is the report's rows under the clinic's name, address
and the period; inventories and destruction records carry the clinic's DEA number (or say it is
not recorded) and a signature line for each person the entries name. The read is audited as
the CSV's is, and the command line writes the same bytes as the API for the same clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.errors import PermissionDenied
from ketaplan.export.pdf import ledger_report_pdf
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    add_user,
    append_session_event,
    load_actor,
    open_session,
)
from ketaplan.services.ledger import (
    Supplier,
    VialIn,
    receive_vials,
    record_administration,
    record_draw,
    record_waste,
)
from ketaplan.services.ledger_loss import record_loss_step
from ketaplan.services.ledger_printing import printable_report
from ketaplan.services.ledger_records import REPORTS
from ketaplan.services.ledger_stock import InventoryLine, record_destruction, take_inventory
from ketaplan.store import Database
from ketaplan.store.models import Clinic

from .conftest import PASSWORD, ROLE_EMAILS, Api, example_chart, signed_plan
from .pdf_pages import is_blank, read_pdf

POLICY = load_policy()
CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic, 7 December
A4_LANDSCAPE_POINTS = (842, 596)
SUPPLIER = Supplier("Cardinal Health", "7000 Cardinal Pl, Dublin OH", "RC0123456", "INV-881")
ADDRESS = "100 Example Street, Suite 200, San Francisco, CA 94105"


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: CLINIC_EVENING


def vial(number: str) -> VialIn:
    return VialIn(number, "0409-2051-05", "LOT-7731", date(2028, 6, 30), 10.0, 20.0)


def _flat(document: bytes) -> str:
    """The document's text, every page rendered to a non-blank landscape A4 image, with
    whitespace folded (a table cell wraps where its column ends)."""
    pages = read_pdf(document)
    for page in pages:
        assert page.image.size == A4_LANDSCAPE_POINTS
        assert not is_blank(page.image)
        assert page.ink_fraction > 0.005
    return " ".join(" ".join(page.text for page in pages).split())


@pytest.fixture
def ledger_day(
    uow: UnitOfWork,
    admin: Actor,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
) -> Actor:
    """Three vials received; 4 mL of K-0001 drawn, given from the chart and the rest wasted
    before a second nurse; K-0003 destroyed by the prescriber before both nurses; an inventory
    of what is left. Returns the second nurse."""
    add_user(uow, email="nurse2@bay.example", role="nurse", actor=admin, password=PASSWORD)
    second = load_actor(uow, "nurse2@bay.example", origin="127.0.0.1")
    receive_vials(uow, SUPPLIER, [vial(n) for n in ("K-0001", "K-0002", "K-0003")], actor=nurse)
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    session = open_session(
        uow, patient.patient_id, condition="depression", actor=nurse, policy=POLICY
    )
    drawn = record_draw(
        uow, "K-0001", "4.00", plan_id=plan.plan_id, session_id=session.session_id, actor=nurse
    )
    events = example_chart()
    stop = next(i for i, e in enumerate(events) if e["type"] == "stop")
    for seq, event in enumerate(events[: stop + 1]):
        append_session_event(
            uow, session.session_id, event, expected_seq=seq, actor=nurse, policy=POLICY
        )
    given = record_administration(uow, drawn.entry_id, actor=nurse, policy=POLICY)
    record_waste(
        uow,
        draw_id=drawn.entry_id,
        volume_ml=given.balance.draws[0].in_hand_cml / 100,
        reason="rest of the bag after the infusion",
        actor=nurse,
        witness_email=second.email,
        witness_password=PASSWORD,
    )
    record_destruction(
        uow,
        "K-0003",
        20,
        method="Rx Destroyer",
        place="medication room",
        witnesses=[(nurse.email, PASSWORD), (second.email, PASSWORD)],
        actor=prescriber,
    )
    take_inventory(
        uow,
        "biennial",
        "close",
        [InventoryLine("K-0001", 16), InventoryLine("K-0002", 20)],
        password=PASSWORD,
        actor=nurse,
    )
    record_loss_step(
        uow,
        "open",
        actor=nurse,
        at=CLINIC_EVENING - timedelta(hours=2),
        kind="theft",
        text="box of two vials gone from the delivery shelf",
        missing="2 x 20 mL, not yet received",
    )
    return second


EXPECTED: dict[str, tuple[str, ...]] = {
    "administrations": ("Alex Example", "K-0001", "LOT-7731", "administered by"),
    "receipts": ("Cardinal Health", "RC0123456", "INV-881", "K-0002", "K-0003"),
    "destructions": (
        "Rx Destroyer",
        "K-0003",
        "DEA registration: not recorded",
        "prescriber@bay.example, destroyed",
        "nurse2@bay.example, witnessed",
        "Signature",
    ),
    "inventories": (
        "biennial",
        "close",
        "K-0002",
        "DEA registration: not recorded",
        "nurse@bay.example, took the inventory",
        "Signature",
    ),
    "losses": (
        "theft",
        "box of two vials gone from the delivery shelf",
        "nurse@bay.example",
        "not yet due",
        "DEA registration: not recorded",
    ),
    "entries": ("receive", "draw", "administer", "waste", "destroy", "inventory", "count"),
}


@pytest.mark.parametrize("name", REPORTS)
def test_each_ledger_report_renders_to_pages_that_say_what_the_ledger_says(
    uow: UnitOfWork,
    nurse: Actor,
    ledger_day: Actor,
    catalog: Catalog,
    audit_log: Callable[[], list[str]],
    name: str,
) -> None:
    printable = printable_report(uow, name, actor=nurse, catalog=catalog, now=CLINIC_EVENING)
    assert audit_log()[-1] == f"ledger.report.{name}"
    assert printable.rows
    document = ledger_report_pdf(printable)
    assert document == ledger_report_pdf(printable)  # the same report, the same bytes
    text = _flat(document)
    for expected in (
        f"Ledger report: {name}",
        f"Bay Ketamine Clinic, {ADDRESS}",
        f"Controlled-substance ledger: {name} · all entries",
        f"{len(printable.rows)} entries",
        "printed 07 Dec 2026 18:00 (America/Los_Angeles) by nurse@bay.example",
        "page 1 of",
    ):
        assert expected in text, expected
    squeezed = text.replace(" ", "")  # a table cell wraps between its words
    for expected in (*EXPECTED[name], *(c.replace("_", " ") for c in printable.columns)):
        assert expected.replace(" ", "") in squeezed, expected
    signed = name in ("destructions", "inventories")
    assert ("DEA registration" in text) == (signed or name == "losses")
    assert ("Signature" in text) == signed


def test_the_dea_number_is_the_clinics_own_setting_over_the_catalogs(
    database: Database,
    uow: UnitOfWork,
    admin: Actor,
    ledger_day: Actor,
    catalog: Catalog,
) -> None:
    with database.session_factory() as session:
        clinic = session.get(Clinic, admin.clinic_id)
        assert clinic is not None
        clinic.settings = {**(clinic.settings or {}), "dea_registration": "FB1234563"}
        session.commit()
    for name in ("destructions", "inventories"):
        printable = printable_report(uow, name, actor=admin, catalog=catalog, now=CLINIC_EVENING)
        assert "DEA registration: FB1234563" in _flat(ledger_report_pdf(printable))
    defaults = dataclasses.replace(
        catalog, clinic=dataclasses.replace(catalog.clinic, dea_registration="AB0000000")
    )
    printable = printable_report(
        uow, "inventories", actor=admin, catalog=defaults, now=CLINIC_EVENING
    )
    assert printable.heading.dea_registration == "FB1234563"  # the clinic's own wins


def test_one_vials_history_and_a_period_are_named_on_every_page(
    uow: UnitOfWork, nurse: Actor, ledger_day: Actor, catalog: Catalog
) -> None:
    printable = printable_report(
        uow,
        "entries",
        actor=nurse,
        catalog=catalog,
        now=CLINIC_EVENING,
        vial="K-0003",
        since=date(2026, 12, 1),
        until=date(2026, 12, 31),
    )
    assert {row["vial"] for row in printable.rows} == {"K-0003"}
    text = _flat(ledger_report_pdf(printable))
    assert "entries · vial K-0003 · 01 Dec 2026 to 31 Dec 2026" in text
    assert "K-0001" not in text
    empty = printable_report(
        uow,
        "destructions",
        actor=nurse,
        catalog=catalog,
        now=CLINIC_EVENING,
        until=date(2026, 1, 1),
    )
    text = _flat(ledger_report_pdf(empty))
    assert "up to 01 Jan 2026" in text
    assert "No entries." in text
    assert "No one is named" in text


def test_the_front_desk_prints_no_ledger_report_and_nothing_is_read_in_its_name(
    uow: UnitOfWork,
    front_desk: Actor,
    ledger_day: Actor,
    catalog: Catalog,
    audit_log: Callable[[], list[str]],
) -> None:
    before = audit_log()
    with pytest.raises(PermissionDenied):
        printable_report(uow, "entries", actor=front_desk, catalog=catalog, now=CLINIC_EVENING)
    assert audit_log() == before


# ------------------------------------------------------------- API and CLI ----


def _api_destruction(api: Api) -> None:
    uow = UnitOfWork(api.context.database.session_factory)
    nurse = load_actor(uow, ROLE_EMAILS["nurse"], origin="test")
    prescriber = load_actor(uow, ROLE_EMAILS["prescriber"], origin="test")
    receive_vials(uow, SUPPLIER, [vial("K-0001"), vial("K-0002")], actor=nurse)
    record_destruction(
        uow,
        "K-0002",
        20,
        method="reverse distributor",
        place="medication room",
        witnesses=[(ROLE_EMAILS["nurse"], PASSWORD), (ROLE_EMAILS["admin"], PASSWORD)],
        actor=prescriber,
    )


def test_the_cli_writes_the_same_pdf_as_the_api_and_the_page_links_it(
    api: Api,
    database_url: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ketaplan.cli import ledger

    from .conftest import post_sign_in

    _api_destruction(api)
    now = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
    api.client.app.state.services = dataclasses.replace(api.context, clock=lambda: now)  # type: ignore[attr-defined]
    monkeypatch.setattr(ledger, "clock", lambda: now)
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    answer = api.client.get(
        "/api/v1/ledger/reports/destructions?format=pdf", headers=api.as_role("nurse")
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert "attachment" in answer.headers["content-disposition"]
    text = _flat(answer.content)
    assert "reversedistributor" in text.replace(" ", "")  # the cell may wrap between words
    assert "admin@bay.example, witnessed" in text
    out = tmp_path / "destructions.pdf"
    code = main(
        ["ledger", "report", "--as", "nurse@bay.example", "destructions", "--pdf", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == answer.content
    refused = api.client.get(
        "/api/v1/ledger/reports/destructions?format=pdf", headers=api.as_role("front_desk")
    )
    assert refused.status_code == 403
    history = tmp_path / "k-0002.pdf"
    vial_report = ["ledger", "report", "--as", "nurse@bay.example", "vial", "--vial", "K-0002"]
    code = main([*vial_report, "--pdf", str(history)])
    assert code == 0, capsys.readouterr().err
    said = _flat(history.read_bytes())
    assert "Controlled-substance ledger: entries · vial K-0002" in said
    assert "K-0001" not in said
    assert main(["ledger", "report", "--as", "nurse@bay.example", "stock", "--pdf", str(out)]) == 2
    assert "stock has no PDF" in capsys.readouterr().err
    signed_in = post_sign_in(api.client, ROLE_EMAILS["nurse"], PASSWORD)
    assert signed_in.status_code in (302, 303), signed_in.text
    page = api.client.get("/ledger/reports/destructions")
    assert "DEA registration: not recorded" in page.text
    assert 'href="/ledger/reports/destructions?format=pdf" id="report-pdf"' in page.text
    printed = api.client.get("/ledger/reports/destructions?format=pdf")
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content == answer.content
