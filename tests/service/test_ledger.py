"""The controlled-substance ledger in the database (issue 16): a day of one vial, every refusal
writing nothing, roles, corrections as new entries, the audit chain covering every entry, and
concurrent entries on one vial, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.ledger import LedgerRefusal
from ketaplan.errors import InputError, KetaplanError, NotFoundError, PermissionDenied
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
    record_return,
    record_waste,
)
from ketaplan.services.ledger_loss import loss_cases, record_loss_step
from ketaplan.services.ledger_records import report, stock, to_csv, vial_history
from ketaplan.services.ledger_stock import (
    InventoryLine,
    correct_entry,
    record_count,
    record_destruction,
    resolve_discrepancy,
    take_inventory,
)
from ketaplan.store import Database, verify_audit_chain
from ketaplan.store.models import Base, LedgerEntry

from .conftest import PASSWORD, example_chart, signed_plan

POLICY = load_policy()
CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic, 7 December
SUPPLIER = Supplier("Cardinal Health", "7000 Cardinal Pl, Dublin OH", "RC0123456", "INV-881")


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: CLINIC_EVENING


@pytest.fixture
def second_nurse(uow: UnitOfWork, admin: Actor) -> Actor:
    add_user(uow, email="nurse2@bay.example", role="nurse", actor=admin, password=PASSWORD)
    return load_actor(uow, "nurse2@bay.example", origin="127.0.0.1")


def vial(number: str, volume_ml: float = 20.0, mg_per_ml: float = 10.0) -> VialIn:
    return VialIn(number, "0409-2051-05", "LOT-7731", date(2028, 6, 30), mg_per_ml, volume_ml)


def receive(uow: UnitOfWork, actor: Actor, *numbers: str) -> None:
    receive_vials(uow, SUPPLIER, [vial(n) for n in numbers], actor=actor)


def entries(rows: Callable[[type[Base]], int]) -> int:
    return rows(LedgerEntry)


def verify(database: Database) -> None:
    with database.session_factory() as session:
        checked = verify_audit_chain(session)
    assert checked.ok, checked


@pytest.fixture
def order(
    uow: UnitOfWork, patient: PatientRecord, prescriber: Actor, catalog: Catalog, resolver: object
) -> int:
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    return plan.plan_id


def chart_to_the_stop(uow: UnitOfWork, session_id: int, nurse: Actor) -> None:
    events = example_chart()
    stop = next(i for i, e in enumerate(events) if e["type"] == "stop")
    for seq, event in enumerate(events[: stop + 1]):
        append_session_event(uow, session_id, event, expected_seq=seq, actor=nurse, policy=POLICY)


def test_a_day_of_one_vial_balances_to_the_hundredth_of_a_ml_and_is_in_the_audit_chain(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    second_nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    order: int,
    audit_log: Callable[[], list[str]],
) -> None:
    receive(uow, nurse, "K-0001", "K-0002")
    session = open_session(
        uow, patient.patient_id, condition="depression", actor=nurse, policy=POLICY
    )
    drawn = record_draw(
        uow, "K-0001", "4.00", plan_id=order, session_id=session.session_id, actor=nurse
    )
    assert drawn.balance.in_vial_cml == 1600
    chart_to_the_stop(uow, session.session_id, nurse)
    given = record_administration(uow, drawn.entry_id, actor=nurse, policy=POLICY)
    with pytest.raises(LedgerRefusal) as twice:
        record_administration(uow, drawn.entry_id, actor=nurse, policy=POLICY)
    assert twice.value.code == "ledger.already_administered"
    history = vial_history(uow, "K-0001", actor=nurse)
    administered = next(e for e in history["entries"] if e["kind"] == "administer")
    assert administered["mg"] == pytest.approx(given.balance.administered_cml / 10, abs=0.05)
    in_hand = given.balance.draws[0].in_hand_cml
    assert in_hand == 400 - given.balance.administered_cml
    wasted = record_waste(
        uow,
        draw_id=drawn.entry_id,
        volume_ml=in_hand / 100,
        reason="rest of the bag after the infusion",
        actor=nurse,
        witness_email=second_nurse.email,
        witness_password=PASSWORD,
    )
    assert wasted.balance.in_hand_cml == 0
    counted = record_count(uow, "K-0001", "15.90", actor=nurse)
    assert [d.missing_cml for d in counted.balance.open_discrepancies] == [10]
    resolved = resolve_discrepancy(
        uow,
        counted.entry_id,
        reason="0.1 mL lost to the vial's dead space on the second draw",
        write_off=True,
        actor=prescriber,
    )
    b = resolved.balance
    assert not b.open_discrepancies
    assert (
        (b.administered_cml + b.wasted_cml + b.destroyed_cml + b.written_off_cml + b.remaining_cml)
        == b.received_cml
        == 2000
    )
    assert b.remaining_cml == 1590
    assert [a for a in audit_log() if a.startswith("ledger.") and "read" not in a] == [
        "ledger.receive",
        "ledger.receive",
        "ledger.draw",
        "ledger.administer",
        "ledger.waste.prepare",
        "ledger.waste",
        "ledger.count",
        "ledger.resolve",
    ]
    verify(database)
    rows = report(uow, "administrations", actor=prescriber, patient_id=patient.patient_id)
    assert rows[0]["patient_name"] == "Alex Example"
    assert rows[0]["vial"] == "K-0001"
    assert rows[0]["lot"] == "LOT-7731"
    assert rows[0]["administered_by"] == nurse.email
    header, first = to_csv(rows, dea_registration="FB1234563").splitlines()[:2]
    assert header.startswith("dea_registration,")
    assert "patient_name" in header
    assert first.startswith("FB1234563,")


def _nothing_written(rows: Callable[[type[Base]], int], before: int) -> None:
    assert rows(LedgerEntry) == before


def test_waste_without_a_witness_is_refused_and_writes_nothing(
    uow: UnitOfWork, nurse: Actor, rows: Callable[[type[Base]], int]
) -> None:
    receive(uow, nurse, "K-0001")
    before = rows(LedgerEntry)
    with pytest.raises(InputError) as refused:
        record_waste(uow, number="K-0001", volume_ml=1, reason="expired draw", actor=nurse)
    assert refused.value.code == "ledger.witness_missing"
    assert "needs a witness" in refused.value.message
    _nothing_written(rows, before)


def test_the_waster_cannot_witness_their_own_waste(
    uow: UnitOfWork, nurse: Actor, rows: Callable[[type[Base]], int]
) -> None:
    receive(uow, nurse, "K-0001")
    before = rows(LedgerEntry)
    with pytest.raises(InputError) as refused:
        record_waste(
            uow,
            number="K-0001",
            volume_ml=1,
            reason="rest",
            actor=nurse,
            witness_email=nurse.email,
            witness_password=PASSWORD,
        )
    assert refused.value.code == "ledger.witness_is_waster"
    assert "someone other than" in refused.value.message
    _nothing_written(rows, before)


def test_a_witness_with_the_wrong_password_signs_nothing_and_the_refusal_is_audited(
    uow: UnitOfWork,
    nurse: Actor,
    second_nurse: Actor,
    rows: Callable[[type[Base]], int],
    audit_log: Callable[[], list[str]],
) -> None:
    receive(uow, nurse, "K-0001")
    before = rows(LedgerEntry)
    with pytest.raises(PermissionDenied) as refused:
        record_waste(
            uow,
            number="K-0001",
            volume_ml=1,
            reason="rest",
            actor=nurse,
            witness_email=second_nurse.email,
            witness_password="not the password",
        )
    assert refused.value.code == "ledger.witness_not_signed"
    _nothing_written(rows, before)
    assert audit_log()[-1] == "ledger.waste_refused"


def test_a_draw_past_what_the_vial_holds_is_refused_and_writes_nothing(
    uow: UnitOfWork, nurse: Actor, order: int, rows: Callable[[type[Base]], int]
) -> None:
    receive(uow, nurse, "K-0001")
    record_draw(uow, "K-0001", 15, plan_id=order, actor=nurse)
    before = rows(LedgerEntry)
    with pytest.raises(LedgerRefusal) as refused:
        record_draw(uow, "K-0001", "5.01", plan_id=order, actor=nurse)
    assert refused.value.code == "ledger.draw_exceeds_vial"
    assert "more than it holds (5.00 mL)" in refused.value.message
    _nothing_written(rows, before)


def test_an_entry_is_never_edited_the_database_refuses_and_a_correction_is_a_new_entry(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    order: int,
    rows: Callable[[type[Base]], int],
) -> None:
    receive(uow, nurse, "K-0001")
    drawn = record_draw(uow, "K-0001", 4, plan_id=order, actor=nurse)
    for statement in (
        "UPDATE ledger_entry SET volume_cml = 1 WHERE id = :id",
        "DELETE FROM ledger_entry WHERE id = :id",
        "UPDATE ledger_container SET lot = 'X' WHERE id = 1",
    ):
        with pytest.raises(Exception, match="append-only"), database.engine.begin() as c:
            c.execute(text(statement), {"id": drawn.entry_id})
    before = rows(LedgerEntry)
    corrected = correct_entry(
        uow,
        drawn.entry_id,
        reason="drew 4.2 mL, typed 4",
        changes={"volume_ml": "4.2"},
        actor=nurse,
    )
    assert rows(LedgerEntry) == before + 1
    assert corrected.balance.in_vial_cml == 2000 - 420
    history = vial_history(uow, "K-0001", actor=nurse)
    original = next(e for e in history["entries"] if e["entry_id"] == drawn.entry_id)
    assert original["volume_ml"] == 4.0  # the row as written
    verify(database)


def test_roles_who_may_do_what(
    uow: UnitOfWork, admin: Actor, nurse: Actor, front_desk: Actor, prescriber: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        receive(uow, front_desk, "K-0009")
    receive(uow, nurse, "K-0001")
    counted = record_count(uow, "K-0001", 19, actor=nurse)
    with pytest.raises(PermissionDenied):
        resolve_discrepancy(uow, counted.entry_id, reason="x", write_off=False, actor=nurse)
    with pytest.raises(PermissionDenied):
        stock(uow, actor=front_desk)
    with pytest.raises(PermissionDenied):
        record_destruction(
            uow,
            "K-0001",
            1,
            method="m",
            place="p",
            witnesses=[(nurse.email, PASSWORD), (admin.email, PASSWORD)],
            actor=nurse,
        )
    resolved = resolve_discrepancy(
        uow, counted.entry_id, reason="recounted: 20 mL", write_off=False, actor=prescriber
    )
    assert not resolved.balance.open_discrepancies


def test_destruction_needs_two_witnesses_other_than_the_destroyer(
    uow: UnitOfWork, admin: Actor, nurse: Actor, second_nurse: Actor, prescriber: Actor
) -> None:
    receive(uow, nurse, "K-0001")
    with pytest.raises(KetaplanError) as refused:
        record_destruction(
            uow,
            "K-0001",
            20,
            method="reverse distributor",
            place="med room",
            witnesses=[(nurse.email, PASSWORD), (prescriber.email, PASSWORD)],
            actor=prescriber,
        )
    assert refused.value.code == "ledger.witness_is_waster"
    done = record_destruction(
        uow,
        "K-0001",
        20,
        method="Rx Destroyer",
        place="med room",
        witnesses=[(nurse.email, PASSWORD), (second_nurse.email, PASSWORD)],
        actor=prescriber,
    )
    assert done.balance.destroyed_cml == 2000
    [line] = report(uow, "destructions", actor=admin)
    assert {line["witness_1"], line["witness_2"]} == {nurse.email, second_nurse.email}
    assert line["ndc"] == "0409-2051-05"


def test_an_inventory_covers_every_vial_in_stock_and_estimates_only_opened_ones(
    uow: UnitOfWork, nurse: Actor, order: int
) -> None:
    receive(uow, nurse, "K-0001", "K-0002")
    record_draw(uow, "K-0001", 3, plan_id=order, actor=nurse)
    with pytest.raises(LedgerRefusal, match="missing K-0002"):
        take_inventory(
            uow, "initial", "opening", [InventoryLine("K-0001", 17)], password=PASSWORD, actor=nurse
        )
    with pytest.raises(LedgerRefusal) as refused:
        take_inventory(
            uow,
            "initial",
            "opening",
            [InventoryLine("K-0001", 17), InventoryLine("K-0002", 19, True)],
            password=PASSWORD,
            actor=nurse,
        )
    assert refused.value.code == "ledger.estimate_not_allowed"
    inventory_id, lines = take_inventory(
        uow,
        "initial",
        "opening",
        [InventoryLine("K-0001", 16.5, True), InventoryLine("K-0002", 20)],
        password=PASSWORD,
        actor=nurse,
    )
    assert all(not line.balance.open_discrepancies for line in lines)
    rows = report(uow, "inventories", actor=nurse)
    assert [r["kind"] for r in rows] == ["initial", "line", "line"]
    assert rows[0]["inventory_id"] == inventory_id


def test_a_loss_case_shows_both_dea_clocks(uow: UnitOfWork, nurse: Actor, admin: Actor) -> None:
    discovered = CLINIC_EVENING - timedelta(days=4)  # Thursday 3 December, 18:00 in the clinic
    case = record_loss_step(
        uow,
        "open",
        actor=nurse,
        at=discovered,
        kind="loss",
        text="vial K-0003 not in the safe at the count",
        missing="K-0003",
    )
    assert [d["status"] for d in case["deadlines"]] == ["missed", "running"]
    assert case["deadlines"][0]["due_at"].startswith("2026-12-04T23:59:59")
    with pytest.raises(PermissionDenied):
        record_loss_step(uow, "notice", actor=nurse, case_id=case["case_id"])
    record_loss_step(
        uow, "notice", actor=admin, case_id=case["case_id"], at=discovered + timedelta(hours=20)
    )
    [listed] = loss_cases(uow, actor=admin)
    assert [d["status"] for d in listed["deadlines"]] == ["met", "running"]


def test_concurrent_draws_from_one_vial_never_overdraw_it(
    database: Database, nurse: Actor, prescriber: Actor, order: int, uow: UnitOfWork
) -> None:
    receive(uow, nurse, "K-0001")
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def draw(actor: Actor) -> None:
        start.wait()
        try:
            record_draw(
                UnitOfWork(database.session_factory, clock=lambda: CLINIC_EVENING),
                "K-0001",
                6,
                plan_id=order,
                actor=actor,
            )
            outcomes.append("drawn")
        except LedgerRefusal as refused:
            outcomes.append(refused.code)

    threads = [threading.Thread(target=draw, args=(a,)) for a in (nurse, prescriber) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["drawn"] * 3 + ["ledger.draw_exceeds_vial"]
    balance = vial_history(uow, "K-0001", actor=nurse)["balance"]
    assert balance["in_vial_ml"] == 2.0
    assert balance["balances"]
    seqs = [e["seq"] for e in vial_history(uow, "K-0001", actor=nurse)["entries"]]
    assert seqs == sorted(set(seqs))
    verify(database)


def test_another_clinics_vial_is_not_found(uow: UnitOfWork, nurse: Actor) -> None:
    with pytest.raises(NotFoundError):
        vial_history(uow, "K-0404", actor=nurse)


def test_return_to_stock_puts_drawn_drug_back_in_the_vial(
    uow: UnitOfWork, nurse: Actor, order: int
) -> None:
    receive(uow, nurse, "K-0001")
    drawn = record_draw(uow, "K-0001", 4, plan_id=order, actor=nurse)
    back = record_return(uow, drawn.entry_id, 4, actor=nurse)
    assert back.balance.in_vial_cml == 2000
    stocked: dict[str, Any] = stock(uow, actor=nurse)
    assert stocked["items"][0]["unopened"] == 1


def test_concurrent_mixed_entries_and_a_correction_keep_the_vial_balanced(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    second_nurse: Actor,
    prescriber: Actor,
    order: int,
) -> None:
    """Draws, a correction, a waste, a return and a count at once on one vial: whichever order
    the database serialises them in, each is accepted or refused by the ledger's rules, the vial
    still balances, and the chain verifies."""
    receive(uow, nurse, "K-0001")
    first = record_draw(uow, "K-0001", 2, plan_id=order, actor=nurse)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def fresh() -> UnitOfWork:
        return UnitOfWork(database.session_factory, clock=lambda: CLINIC_EVENING)

    def act(name: str, action: Callable[[UnitOfWork], object]) -> None:
        start.wait()
        try:
            action(fresh())
            outcomes.append(name)
        except LedgerRefusal as refused:
            outcomes.append(refused.code)

    actions: list[tuple[str, Callable[[UnitOfWork], object]]] = [
        ("draw", lambda u: record_draw(u, "K-0001", 9, plan_id=order, actor=nurse)),
        ("draw", lambda u: record_draw(u, "K-0001", 9, plan_id=order, actor=prescriber)),
        (
            "correct",
            lambda u: correct_entry(
                u, first.entry_id, reason="drew 3 mL", changes={"volume_ml": 3}, actor=nurse
            ),
        ),
        (
            "waste",
            lambda u: record_waste(
                u,
                draw_id=first.entry_id,
                volume_ml=1,
                reason="r",
                actor=nurse,
                witness_email=second_nurse.email,
                witness_password=PASSWORD,
            ),
        ),
        ("return", lambda u: record_return(u, first.entry_id, 1, actor=prescriber)),
        ("count", lambda u: record_count(u, "K-0001", 0, actor=second_nurse)),
    ]
    threads = [threading.Thread(target=act, args=pair) for pair in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 6
    assert set(outcomes) <= {
        "draw",
        "correct",
        "waste",
        "return",
        "count",
        "ledger.draw_exceeds_vial",
        "ledger.exceeds_draw",
        "ledger.correction_breaks_later",
    }
    assert outcomes.count("count") == 1
    history = vial_history(uow, "K-0001", actor=nurse)
    assert history["balance"]["balances"]
    assert history["balance"]["in_vial_ml"] >= 0
    assert len(history["entries"]) == 2 + sum(1 for o in outcomes if not o.startswith("ledger."))
    verify(database)


def test_a_report_period_is_the_clinics_days_not_utc_days(uow: UnitOfWork, nurse: Actor) -> None:
    """A delivery taken in at 18:00 on 7 December in the clinic (02:00 on the 8th in UTC) is the
    7th's in a report of the clinic's days, as it is on the clinic's own paper log."""
    receive(uow, nurse, "K-0701")
    on_the_7th = report(
        uow, "receipts", actor=nurse, since=date(2026, 12, 7), until=date(2026, 12, 7)
    )
    on_the_8th = report(
        uow, "receipts", actor=nurse, since=date(2026, 12, 8), until=date(2026, 12, 8)
    )
    assert len(on_the_7th) == 1
    assert "K-0701" in str(on_the_7th)
    assert on_the_8th == []


def test_a_vial_may_be_drawn_from_until_midnight_of_its_expiry_day_in_the_clinic(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    order: int,
    rows: Callable[[type[Base]], int],
) -> None:
    """A label's expiry is a day of the clinic's calendar: at 18:00 on the 7th in the clinic (the
    8th in UTC) a vial expiring on the 7th is still in date; at 00:30 on the 8th it is not."""
    label = VialIn("K-0707", "0409-2051-05", "LOT-7731", date(2026, 12, 7), 10.0, 20.0)
    receive_vials(uow, SUPPLIER, [label], actor=nurse)
    drawn = record_draw(uow, "K-0707", 1, plan_id=order, actor=nurse)
    assert drawn.balance.in_vial_cml == 1900
    after_midnight = UnitOfWork(
        database.session_factory, clock=lambda: CLINIC_EVENING + timedelta(hours=6, minutes=30)
    )
    before = rows(LedgerEntry)
    with pytest.raises(LedgerRefusal) as refused:
        record_draw(after_midnight, "K-0707", 1, plan_id=order, actor=nurse)
    assert refused.value.code == "ledger.expired"
    _nothing_written(rows, before)
