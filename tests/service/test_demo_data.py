"""`ketaplan demo-data`: the demo clinic `make run` serves, created once, with history."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.http.context import ServiceContext
from ketaplan.services import Actor, UnitOfWork
from ketaplan.services.accounts import sign_in
from ketaplan.services.demo_clinic import create_demo_clinic
from ketaplan.store import Database
from ketaplan.store.models import (
    AuditChainHead,
    Base,
    InfusionPlan,
    InfusionSession,
    Patient,
    QuestionnaireResponse,
    SessionEvent,
    User,
)


def test_demo_data_creates_a_clinic_with_history_once_and_prints_the_passwords_once(
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    assert main(["demo-data"]) == 0
    out = capsys.readouterr().out
    accounts = dict(re.findall(r"^  \w+\s+(\S+@demo-clinic\.example)\s+(\S+)$", out, re.M))
    assert set(accounts) == {
        "admin@demo-clinic.example",
        "prescriber@demo-clinic.example",
        "nurse@demo-clinic.example",
    }
    signed_in = sign_in(
        UnitOfWork(database.session_factory),
        "nurse@demo-clinic.example",
        accounts["nurse@demo-clinic.example"],
        kind="bearer",
        origin="test",
    )
    assert signed_in.actor.role == "nurse"

    def count(model: type) -> int:
        with database.session_factory() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0

    counts = {m: count(m) for m in (User, Patient, InfusionPlan, InfusionSession, SessionEvent)}
    assert counts[Patient] == 4
    assert counts[InfusionSession] >= 5
    with database.session_factory() as session:
        kinds = set(session.scalars(select(SessionEvent.data["type"].as_string())))
        overrides = session.scalars(select(InfusionPlan.override)).all()
        flags = session.scalars(select(QuestionnaireResponse.flags)).all()
        phq9 = session.scalars(
            select(QuestionnaireResponse.total)
            .where(QuestionnaireResponse.scale == "phq9", QuestionnaireResponse.patient_id == 1)
            .order_by(QuestionnaireResponse.answered_at)
        ).all()
    assert {"check_in", "start", "vitals", "pause", "resume", "rate", "stop", "discharge"} <= kinds
    assert sum(o is not None for o in overrides) == 1
    assert sum("phq9.item9_positive" in f for f in flags) == 1
    assert phq9[-1] <= phq9[0] / 2  # a response: PHQ-9 halved over the course

    assert main(["demo-data"]) == 0  # again: nothing new, no password shown
    again = capsys.readouterr().out
    assert "already set up" in again
    assert not any(password in again for password in accounts.values())
    assert {m: count(m) for m in counts} == counts
    assert main(["audit", "verify"]) == 0


class FailingHalfWay(UnitOfWork):
    """Fails at its ``fail_at``-th commit (a demo clinic takes about 300), noting how many
    patients its transaction could see by then: proof that the failure came half-way."""

    def __init__(
        self, sessions: sessionmaker[Session], *, fail_at: int, patients_seen: list[int]
    ) -> None:
        super().__init__(sessions)
        self.fail_at = fail_at
        self.commits = 0
        self.patients_seen = patients_seen

    def _commit_transaction(self, session: Session) -> None:
        self.commits += 1
        if self.commits == self.fail_at:
            self.patients_seen.append(
                session.scalar(select(func.count()).select_from(Patient)) or 0
            )
            raise RuntimeError("simulated failure half-way through the demo clinic")
        super()._commit_transaction(session)


def _snapshot(database: Database) -> dict[str, object]:
    """Every table's row count, and the audit chain's head."""
    with database.session_factory() as session:
        counts: dict[str, object] = {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }
        counts["audit_head"] = session.scalars(select(AuditChainHead.last_hash)).all()
    return counts


def test_demo_data_that_fails_half_way_leaves_the_database_as_it_was_and_a_rerun_works(
    database: Database,
    database_url: str,
    admin: Actor,
    catalog: Catalog,
    resolver: MedicationResolver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    context = ServiceContext(
        database=database,
        catalog=catalog,
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, catalog.clinic.time_zone),
    )
    before = _snapshot(database)  # another clinic (the admin fixture's) is already there
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="half-way"):
        create_demo_clinic(
            database,
            catalog=context.catalog,
            resolver=context.resolver,
            monitoring=context.monitoring,
            calendar=context.calendar,
            today=date(2026, 3, 11),
            unit_of_work=lambda sessions: FailingHalfWay(sessions, fail_at=150, patients_seen=seen),
        )
    assert seen[0] >= 1  # it failed with patients made, not before it began
    assert _snapshot(database) == before

    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    assert main(["demo-data"]) == 0  # a rerun makes the whole clinic, not "already set up"
    out = capsys.readouterr().out
    assert "Demo clinic set up: 4 synthetic patients" in out
    assert "nurse@demo-clinic.example" in out
    assert main(["audit", "verify"]) == 0
