"""Session charting in the database: validated by the domain's fold before anything is written,
one row per event, and two nurses charting at once never lose or reorder an event."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.monitoring import MonitoringRules
from ketaplan.clinical.session import SessionSequenceError
from ketaplan.errors import ConflictError, InputError
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

from .conftest import signed_plan

EXAMPLE = Path(__file__).parents[2] / "examples" / "session1.jsonl"
EVENTS = [
    json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()
]


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
) -> SessionChart:
    signed_plan(uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver)
    return open_session(
        uow, patient.patient_id, condition="depression", actor=nurse, catalog=catalog
    )


def _chart_all(
    uow: UnitOfWork,
    chart: SessionChart,
    nurse: Actor,
    monitoring: MonitoringRules,
    events: list[dict[str, object]],
) -> SessionChart:
    for seq, event in enumerate(events):
        chart = append_session_event(
            uow, chart.session_id, event, expected_seq=seq, actor=nurse, monitoring=monitoring
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
    again = get_session_chart(uow, chart.session_id, actor=nurse, monitoring=monitoring)
    assert again.summary == done.summary
    assert again.events == tuple(EVENTS)
    assert done.summary["pauses"] == 1
    assert [a["code"] for a in done.summary["alerts"]]  # the 184/104 reading raised an alert


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
            monitoring=monitoring,
        )
    with pytest.raises(InputError, match="time cannot go backwards"):
        append_session_event(
            uow, chart.session_id, back_in_time, expected_seq=2, actor=nurse, monitoring=monitoring
        )
    with pytest.raises(InputError, match="unknown field"):
        append_session_event(
            uow, chart.session_id, typo, expected_seq=2, actor=nurse, monitoring=monitoring
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
            uow, chart.session_id, EVENTS[3], expected_seq=2, actor=nurse, monitoring=monitoring
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
            monitoring=monitoring,
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
                UnitOfWork(database.session_factory),
                chart.session_id,
                event,
                expected_seq=2,
                actor=actor,
                monitoring=monitoring,
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
    assert get_session_chart(uow, chart.session_id, actor=nurse, monitoring=monitoring).seq == 3


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
        local = UnitOfWork(database.session_factory)
        for n in range(5):
            text_ = f"{name}-{n}"
            while True:
                seen = get_session_chart(
                    local, chart.session_id, actor=nurse, monitoring=monitoring
                ).seq
                try:
                    append_session_event(
                        local,
                        chart.session_id,
                        {"at": "2026-12-07T09:05:00-08:00", "type": "note", "text": text_},
                        expected_seq=seen,
                        actor=nurse,
                        monitoring=monitoring,
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
    final = get_session_chart(uow, chart.session_id, actor=nurse, monitoring=monitoring)
    notes = [e["text"] for e in final.events if e["type"] == "note"]
    assert sorted(notes) == sorted(acknowledged)
    assert len(acknowledged) == 20
    assert final.seq == rows(SessionEvent) == 22
