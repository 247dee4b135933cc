"""`ketaplan demo-data`: the demo clinic `make run` serves, created once, with history."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ketaplan.cli import main
from ketaplan.services import UnitOfWork
from ketaplan.services.accounts import sign_in
from ketaplan.store import Database
from ketaplan.store.models import (
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
