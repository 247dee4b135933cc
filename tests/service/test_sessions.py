"""Session charting in the database: validated by the domain's fold before anything is written,
one row per event, and two nurses charting at once never lose or reorder an event."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ketaplan.clinical.catalog import Catalog, load_catalog
from ketaplan.clinical.catalog.course_loader import load_monitoring_rules, load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.session import SessionSequenceError
from ketaplan.errors import (
    ConflictError,
    HardLimitExceeded,
    InputError,
    KetaplanError,
    PermissionDenied,
    SafetyLimitError,
)
from ketaplan.services import (
    Actor,
    PatientRecord,
    SessionChart,
    UnitOfWork,
    append_session_event,
    get_session_chart,
    open_session,
)
from ketaplan.store import Database
from ketaplan.store.models import AuditEvent, Base, SessionEvent

from .conftest import ORDER_BAG_MG_PER_ML, example_chart, signed_plan

CATALOG = load_catalog()
POLICY = load_policy()
CLINIC_EVENING = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 18:00 in the clinic, 7 December


EXAMPLE = Path(__file__).parents[2] / "examples" / "session1.jsonl"
EVENTS = example_chart()


@pytest.fixture
def clock() -> Callable[[], datetime]:
    """The clinic's clock stands on the evening of the day these tests chart (7 December 2026):
    the example chart is in the past whatever the real date."""
    return lambda: CLINIC_EVENING


@pytest.fixture
def monitoring() -> MonitoringRules:
    return load_monitoring_rules()


@pytest.fixture
def chart(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
    policy: ClinicPolicy,
) -> SessionChart:
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    return open_session(uow, patient.patient_id, condition="depression", actor=nurse, policy=policy)


def _chart_all(
    uow: UnitOfWork,
    chart: SessionChart,
    nurse: Actor,
    monitoring: MonitoringRules,
    events: list[dict[str, object]],
) -> SessionChart:
    for seq, event in enumerate(events):
        chart = append_session_event(
            uow,
            chart.session_id,
            event,
            expected_seq=seq,
            actor=nurse,
            policy=POLICY,
        )
    return chart


def test_a_charted_session_adds_up_like_the_domains_replay(
    uow: UnitOfWork,
    nurse: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
) -> None:
    done = _chart_all(uow, chart, nurse, monitoring, EVENTS)
    assert done.seq == len(EVENTS) == rows(SessionEvent)
    assert done.state == "discharged"
    again = get_session_chart(uow, chart.session_id, actor=nurse, policy=POLICY)
    assert again.summary == done.summary
    assert again.events[:-1] == tuple(EVENTS[:-1])
    assert again.events[-1] == {**EVENTS[-1], "checked_by": nurse.email}  # the service's
    assert done.summary.to_dict()["pauses"] == 1
    assert [
        a["code"] for a in done.summary.to_dict()["alerts"]
    ]  # the 184/104 reading raised an alert


def test_a_refused_event_writes_nothing(
    uow: UnitOfWork,
    nurse: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
) -> None:
    _chart_all(uow, chart, nurse, monitoring, EVENTS[:2])  # check-in, start
    events, audits = rows(SessionEvent), rows(AuditEvent)
    resume_without_pause = {"at": "2026-12-07T09:05:00-08:00", "type": "resume"}
    back_in_time = {"at": "2026-12-07T08:00:00-08:00", "type": "pause"}
    typo = {"at": "2026-12-07T09:05:00-08:00", "type": "rate", "rate_ml_h": 100}
    with pytest.raises(SessionSequenceError, match="resume needs a paused infusion"):
        append_session_event(
            uow,
            chart.session_id,
            resume_without_pause,
            expected_seq=2,
            actor=nurse,
            policy=POLICY,
        )
    with pytest.raises(InputError, match="time cannot go backwards"):
        append_session_event(
            uow,
            chart.session_id,
            back_in_time,
            expected_seq=2,
            actor=nurse,
            policy=POLICY,
        )
    with pytest.raises(InputError, match="unknown field"):
        append_session_event(
            uow,
            chart.session_id,
            typo,
            expected_seq=2,
            actor=nurse,
            policy=POLICY,
        )
    assert (rows(SessionEvent), rows(AuditEvent)) == (events, audits)


def test_an_event_charted_after_a_stale_sequence_is_refused(
    uow: UnitOfWork,
    nurse: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
) -> None:
    _chart_all(uow, chart, nurse, monitoring, EVENTS[:3])
    with pytest.raises(ConflictError, match="someone else charted") as caught:
        append_session_event(
            uow,
            chart.session_id,
            EVENTS[3],
            expected_seq=2,
            actor=nurse,
            policy=POLICY,
        )
    assert caught.value.code == "conflict.chart_moved_on"
    assert caught.value.fields == {"session_id": chart.session_id, "expected_seq": 2, "seq": 3}
    assert rows(SessionEvent) == 3


def test_appending_an_event_writes_its_audit_row_in_the_same_transaction(
    uow: UnitOfWork,
    crashing_uow: UnitOfWork,
    audit_rows_at_crash: list[int],
    nurse: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(RuntimeError, match="simulated"):
        append_session_event(
            crashing_uow,
            chart.session_id,
            EVENTS[0],
            expected_seq=0,
            actor=nurse,
            policy=POLICY,
        )
    assert audit_rows_at_crash == [audits + 1]
    assert (rows(SessionEvent), rows(AuditEvent)) == (0, audits)


def test_two_concurrent_appends_after_the_same_event_one_wins_the_other_conflicts(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
) -> None:
    _chart_all(uow, chart, nurse, monitoring, EVENTS[:2])
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def chart_vitals(actor: Actor, event: dict[str, object]) -> None:
        start.wait()
        try:
            append_session_event(
                UnitOfWork(database.session_factory, clock=lambda: CLINIC_EVENING),
                chart.session_id,
                event,
                expected_seq=2,
                actor=actor,
                policy=POLICY,
            )
            outcomes.append("charted")
        except ConflictError:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=chart_vitals, args=(nurse, EVENTS[2])),
        threading.Thread(target=chart_vitals, args=(prescriber, {**EVENTS[2], "heart_rate": 90})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["charted", "conflict"]
    assert rows(SessionEvent) == 3
    assert get_session_chart(uow, chart.session_id, actor=nurse, policy=POLICY).seq == 3


def test_the_database_refuses_a_second_event_with_the_same_sequence_number(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
) -> None:
    _chart_all(uow, chart, nurse, monitoring, EVENTS[:1])
    with database.engine.connect() as connection, pytest.raises(IntegrityError):
        connection.execute(
            text(
                "INSERT INTO session_event (session_id, seq, kind, at, data, recorded_at, recorded_by) "
                "SELECT session_id, seq, kind, at, data, recorded_at, recorded_by FROM session_event"
            )
        )


def test_many_concurrent_appends_keep_one_gapless_sequence(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    chart: SessionChart,
    monitoring: MonitoringRules,
    rows: Callable[[type[Base]], int],
) -> None:
    """Four writers each chart notes, re-reading the chart after every conflict: every
    acknowledged note is in the chart exactly once, in a sequence with no gap."""
    _chart_all(uow, chart, nurse, monitoring, EVENTS[:2])
    acknowledged: list[str] = []
    lock = threading.Lock()

    def writer(name: str) -> None:
        local = UnitOfWork(database.session_factory, clock=lambda: CLINIC_EVENING)
        for n in range(5):
            text_ = f"{name}-{n}"
            while True:
                seen = get_session_chart(local, chart.session_id, actor=nurse, policy=POLICY).seq
                try:
                    append_session_event(
                        local,
                        chart.session_id,
                        {"at": "2026-12-07T09:05:00-08:00", "type": "note", "text": text_},
                        expected_seq=seen,
                        actor=nurse,
                        policy=POLICY,
                    )
                except ConflictError:
                    continue
                with lock:
                    acknowledged.append(text_)
                break

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    final = get_session_chart(uow, chart.session_id, actor=nurse, policy=POLICY)
    notes = [e["text"] for e in final.events if e["type"] == "note"]
    assert sorted(notes) == sorted(acknowledged)
    assert len(acknowledged) == 20
    assert final.seq == rows(SessionEvent) == 22


# --------------------------------------------------------------- checks at the chair ----

AT = "2026-12-07T{}:00-08:00"
CHECK_IN = {"at": AT.format("08:50"), "type": "check_in", "systolic": 132, "diastolic": 84,
            "heart_rate": 78, "spo2": 98}  # fmt: skip


@pytest.fixture
def ordered(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> tuple[SessionChart, dict[str, float]]:
    """A session opened on a signed depression order, and the order's bag and pump program."""
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    opened = open_session(
        uow, patient.patient_id, condition="depression", actor=nurse, policy=policy,
        plan_id=plan.plan_id,
    )  # fmt: skip
    prep = plan.plan["preparation"]
    return opened, {
        "concentration": prep["final_mg_per_ml"],
        "rate": prep["pump_rate_ml_per_h"],
        "bag_mg": prep["drawn_mg"],
    }


def _append(
    uow: UnitOfWork, chart: SessionChart, event: dict[str, object], seq: int, actor: Actor
) -> SessionChart:
    return append_session_event(
        uow, chart.session_id, event, expected_seq=seq, actor=actor,
        policy=POLICY, )  # fmt: skip


def _refused_writes_nothing(
    uow: UnitOfWork,
    chart: SessionChart,
    event: dict[str, object],
    seq: int,
    actor: Actor,
    rows: Callable[[type[Base]], int],
    error: type[KetaplanError],
    match: str,
) -> KetaplanError:
    before = (rows(SessionEvent), rows(AuditEvent))
    with pytest.raises(error, match=match) as refused:
        _append(uow, chart, event, seq, actor)
    assert (rows(SessionEvent), rows(AuditEvent)) == before
    return refused.value


def test_a_start_before_the_pre_infusion_vitals_is_refused_and_writes_nothing(
    uow: UnitOfWork,
    nurse: Actor,
    ordered: tuple[SessionChart, dict[str, float]],
    rows: Callable[[type[Base]], int],
) -> None:
    chart, order = ordered
    start = {"at": AT.format("09:00"), "type": "start", "rate_ml_per_h": order["rate"],
             "concentration_mg_per_ml": order["concentration"]}  # fmt: skip
    refused = _refused_writes_nothing(
        uow, chart, start, 0, nurse, rows, SessionSequenceError, "pre-infusion vitals"
    )
    assert refused.fields["field"] == "check_in"
    assert chart.summary.to_dict()["start_blockers"] == [
        {"code": "session.no_pre_infusion_vitals", "message": refused.fields["blockers"][0]["message"],  # type: ignore[index]
         "field": "check_in"}
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("concentration", "error", "match"),
    [(100.0, HardLimitExceeded, "clinic's maximum"), (0.5, SafetyLimitError, "order's bag is")],
)
def test_a_start_at_a_concentration_the_order_does_not_hold_is_refused_and_writes_nothing(
    uow: UnitOfWork,
    nurse: Actor,
    ordered: tuple[SessionChart, dict[str, float]],
    rows: Callable[[type[Base]], int],
    concentration: float,
    error: type[KetaplanError],
    match: str,
) -> None:
    chart, order = ordered
    _append(uow, chart, CHECK_IN, 0, nurse)
    start = {"at": AT.format("09:00"), "type": "start", "rate_ml_per_h": order["rate"],
             "concentration_mg_per_ml": concentration}  # fmt: skip
    refused = _refused_writes_nothing(uow, chart, start, 1, nurse, rows, error, match)
    assert f"{order['concentration']:g} mg/mL" in refused.message or concentration == 100.0


def test_a_hold_is_overridden_only_by_a_prescriber_and_then_the_start_is_charted(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    ordered: tuple[SessionChart, dict[str, float]],
    rows: Callable[[type[Base]], int],
) -> None:
    chart, order = ordered
    _append(uow, chart, {**CHECK_IN, "systolic": 186, "diastolic": 100}, 0, nurse)
    start = {"at": AT.format("09:00"), "type": "start", "rate_ml_per_h": order["rate"],
             "concentration_mg_per_ml": order["concentration"]}  # fmt: skip
    _refused_writes_nothing(uow, chart, start, 1, nurse, rows, SafetyLimitError, "on hold")
    override = {"at": AT.format("08:55"), "type": "hold_override", "reason": "her usual BP"}
    _refused_writes_nothing(uow, chart, override, 1, nurse, rows, PermissionDenied, "prescriber")
    _append(uow, chart, override, 1, prescriber)
    assert _append(uow, chart, start, 2, nurse).state == "infusing"


def test_an_event_more_than_five_minutes_after_the_servers_clock_is_refused(
    uow: UnitOfWork,
    nurse: Actor,
    chart: SessionChart,
    rows: Callable[[type[Base]], int],
) -> None:
    tomorrow = {**CHECK_IN, "at": "2026-12-08T09:00:00-08:00"}
    refused = _refused_writes_nothing(
        uow, chart, tomorrow, 0, nurse, rows, InputError, "after the clock"
    )
    assert refused.code == "input.future_time"


def test_rates_past_the_order_and_the_hard_limit_are_charted_with_alerts_and_the_bag_caps_the_dose(
    uow: UnitOfWork, nurse: Actor, ordered: tuple[SessionChart, dict[str, float]]
) -> None:
    chart, order = ordered
    _append(uow, chart, CHECK_IN, 0, nurse)
    start = {"at": AT.format("09:00"), "type": "start", "rate_ml_per_h": 999,
             "concentration_mg_per_ml": order["concentration"]}  # fmt: skip
    _append(uow, chart, start, 1, nurse)
    late = _append(
        uow, chart, {"at": AT.format("11:00"), "type": "stop", "completed": True}, 2, nurse
    )
    alerts = {a["code"]: a for a in late.summary.to_dict()["alerts"]}  # type: ignore[attr-defined]
    assert alerts["pump.past_hard_limit"]["severity"] == "critical"
    assert "pump.above_order" in alerts
    assert "dose.bag_empty" in alerts
    assert late.summary.to_dict()["delivered_mg"] == pytest.approx(order["bag_mg"], abs=1e-3)
    assert late.summary.to_dict()["bag_empty"] is True


def test_a_discharge_is_refused_until_its_criteria_hold_and_stores_who_ticked_the_checklist(
    uow: UnitOfWork,
    nurse: Actor,
    ordered: tuple[SessionChart, dict[str, float]],
    rows: Callable[[type[Base]], int],
) -> None:
    chart, order = ordered
    events = [
        CHECK_IN,
        {"at": AT.format("09:00"), "type": "start", "rate_ml_per_h": order["rate"],
         "concentration_mg_per_ml": order["concentration"]},
        {"at": AT.format("09:40"), "type": "stop", "completed": True},
        {"at": AT.format("09:45"), "type": "vitals", "systolic": 190, "diastolic": 100,
         "heart_rate": 80, "spo2": 88},
    ]  # fmt: skip
    for seq, event in enumerate(events):
        _append(uow, chart, event, seq, nurse)
    boxes = {"vitals_within_limits": True, "oriented_and_steady": True, "escort_present": True}
    early = {"at": AT.format("09:46"), "type": "discharge", **boxes}
    refused = _refused_writes_nothing(
        uow, chart, early, 4, nurse, rows, SafetyLimitError, "discharge from 10:00"
    )
    assert "SpO2 88" in refused.message
    _append(uow, chart, {"at": AT.format("10:01"), "type": "vitals", "systolic": 130,
                         "diastolic": 80, "heart_rate": 76, "spo2": 97}, 4, nurse)  # fmt: skip
    no_escort = {"at": AT.format("10:02"), "type": "discharge", **boxes, "escort_present": False}
    _refused_writes_nothing(uow, chart, no_escort, 5, nurse, rows, InputError, "escort")
    forged = {**no_escort, "escort_present": True, "checked_by": "someone@else"}
    _refused_writes_nothing(uow, chart, forged, 5, nurse, rows, InputError, "unknown field")
    done = _append(uow, chart, {**no_escort, "escort_present": True}, 5, nurse)
    assert done.state == "discharged"
    assert done.events[-1]["checked_by"] == nurse.email


def test_a_correction_voids_an_entry_and_a_chart_taken_before_the_checks_still_reads_back(
    uow: UnitOfWork,
    database: Database,
    nurse: Actor,
    chart: SessionChart,
    rows: Callable[[type[Base]], int],
) -> None:
    _append(uow, chart, CHECK_IN, 0, nurse)
    with database.engine.begin() as connection:  # charted before stops said how they ended
        for seq, data in [
            (2, {"at": AT.format("09:00"), "type": "start", "rate_ml_per_h": 150,
                 "concentration_mg_per_ml": ORDER_BAG_MG_PER_ML}),
            (3, {"at": "2026-12-09T09:00:00-08:00", "type": "vitals", "spo2": 97}),
        ]:  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO session_event (session_id, seq, kind, at, data, recorded_at, "
                    "recorded_by) VALUES (:s, :q, :k, :a, :d, :a, :u)"
                ),
                {"s": chart.session_id, "q": seq, "k": data["type"], "a": CLINIC_EVENING,
                 "d": json.dumps(data), "u": nurse.user_id},
            )  # fmt: skip
    wedged = get_session_chart(uow, chart.session_id, actor=nurse,
                               policy=POLICY)  # fmt: skip
    assert wedged.state == "infusing"
    stop = {"at": AT.format("09:40"), "type": "stop", "completed": True}
    _refused_writes_nothing(
        uow, chart, stop, 3, nurse, rows, InputError, "time cannot go backwards"
    )
    bad = {"at": AT.format("09:41"), "type": "correction", "voids_seq": 1, "reason": "x"}
    _refused_writes_nothing(uow, chart, bad, 3, nurse, rows, InputError, "later entries")
    fix = {"at": AT.format("09:41"), "type": "correction", "voids_seq": 3, "reason": "wrong day"}
    fixed = _append(uow, chart, fix, 3, nurse)
    assert fixed.summary.to_dict()["voided"] == [3]
    assert _append(uow, chart, {**stop, "at": AT.format("09:42")}, 4, nurse).state == "stopped"
    assert rows(SessionEvent) == 5


def test_a_patients_session_list_counts_events_of_that_patients_charts_only(
    database: Database,
    database_url: str,
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
) -> None:
    """Issue 19: the count once grouped every chart of the database, so the list slowed as the
    clinic grew. Its query plan now reaches events only through the patient's sessions."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's query plan; PostgreSQL picks scans for tables this small")
    from sqlalchemy import event

    from ketaplan.services import list_sessions

    counted: list[tuple[str, object]] = []

    def grab(*args: object) -> None:
        statement, parameters = str(args[2]), args[3]
        if "count(*)" in statement and "session_event" in statement:
            counted.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", grab)
    try:
        list_sessions(uow, patient.patient_id, actor=nurse)
    finally:
        event.remove(database.engine, "before_cursor_execute", grab)
    ((statement, parameters),) = counted
    with database.engine.connect() as connection:
        plan = [
            str(row[-1])
            for row in connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement,
                parameters,  # type: ignore[arg-type]
            )
        ]
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert any("infusion_session USING" in step and "patient_id" in step for step in plan), plan
