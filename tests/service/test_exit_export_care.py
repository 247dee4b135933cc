"""The exit export carries measurement-based care (issue 18): each PHQ-9 item 9 review with its
note, and each e-mail to a patient with its delivery, but never an e-mail's address, subject,
body or link (a link still queued would open the patient's questionnaire)."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ketaplan.services import Actor, PatientRecord, UnitOfWork, record_questionnaire
from ketaplan.services.exit_export import export_clinic_csv
from ketaplan.services.item9_reviews import review_item9_flag
from ketaplan.services.outbox import email_patient_link

NOW = datetime(2026, 12, 8, 18, 0, tzinfo=UTC)
ADDRESS = "alex.private@example.org"
PUBLIC_URL = "https://ketaplan.bay.example"


@pytest.fixture
def clock() -> Callable[[], datetime]:
    return lambda: NOW


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(text.splitlines()))


def test_item9_reviews_and_messages_are_exported_without_any_e_mail_content(
    uow: UnitOfWork, patient: PatientRecord, nurse: Actor, admin: Actor
) -> None:
    flagged = record_questionnaire(
        uow,
        patient.patient_id,
        scale="phq9",
        answers=[1, 1, 1, 1, 1, 1, 1, 1, 2],
        answered_at=NOW,
        actor=nurse,
    ).response_id
    review_item9_flag(uow, flagged, note='Called; safety plan "reviewed".', actor=nurse)
    emailed = email_patient_link(
        uow,
        patient.patient_id,
        scales=["phq9"],
        to_address=ADDRESS,
        public_url=PUBLIC_URL,
        actor=nurse,
    )

    files = export_clinic_csv(uow, actor=admin)

    (review,) = _rows(files["item9_reviews.csv"])
    assert review == {
        "review_id": review["review_id"],
        "response_id": str(flagged),
        "patient_id": str(patient.patient_id),
        "note": 'Called; safety plan "reviewed".',
        "reviewed_at": NOW.isoformat(),
        "reviewed_by": str(nurse.user_id),
    }
    (message,) = _rows(files["messages.csv"])
    assert message == {
        "message_id": str(emailed.message_id),
        "patient_id": str(patient.patient_id),
        "kind": "questionnaire_link",
        "status": "queued",
        "attempts": "0",
        "created_at": NOW.isoformat(),
        "created_by": str(nurse.user_id),
        "next_attempt_at": NOW.isoformat(),
        "sent_at": "",
    }
    for name, text in files.items():
        if name != "audit_events.csv":  # the trail names the address it queued to, as it must
            for secret in (ADDRESS, PUBLIC_URL, emailed.link.token, "questionnaire from"):
                assert secret not in text, (name, secret)
    assert "## item9_reviews.csv (1 rows)" in files["README.md"]
    assert "## messages.csv (1 rows)" in files["README.md"]
