"""Audit actions are one enumeration, and its values are the strings the trail has always held.

A value is stored in ``audit_event.action`` and hashed into the chain: renaming one would make
old events and new ones disagree about what the same act is called, so the stored strings are
pinned here. Every place in ``src/`` that records an audit event names an
:class:`AuditAction` member, never a string (scanned below, alongside the type check and the
unit of work's refusal at run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ketaplan.services.actors import Visitor
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.unit_of_work import UnitOfWork

SOURCE = Path(__file__).parents[2] / "src" / "ketaplan"

STORED = {
    "access.refused",
    "access.refused_count",
    "audit.trail.export",
    "audit.trail.read",
    "auth.sign_in",
    "auth.sign_in_failed",
    "auth.sign_in_refused",
    "auth.sign_out",
    "clinic.create",
    "clinic.settings.read",
    "clinic.settings.update",
    "course.booster",
    "course.create",
    "course.cancel",
    "booking.booster",
    "booking.cancel",
    "booking.history.read",
    "booking.list",
    "booking.move",
    "chair_board.read",
    "course.list",
    "course.read",
    "course.reschedule",
    "dashboard.read",
    "order.cancel",
    "order.sign",
    "order.sign_refused",
    "order.supersede",
    "patient.create",
    "patient.history.read",
    "patient.overview.read",
    "patient.read",
    "patient.search",
    "patient.update",
    "patient_link.create",
    "patient_link.open",
    "plan.create",
    "plan.list",
    "plan.read",
    "plan.refused",
    "prediction.plan.read",
    "prediction.session.read",
    "questionnaire.list",
    "questionnaire.record",
    "questionnaire.due.read",
    "questionnaire.item9_review",
    "outbox.queue",
    "outbox.claim",
    "outbox.sent",
    "outbox.failed",
    "outbox.list",
    "screening.create",
    "screening.list",
    "session.event.append",
    "session.list",
    "session.open",
    "session.read",
    "titration.decide",
    "titration.decide_refused",
    "titration.read",
    "titration.recommend",
    "user.change_role",
    "user.create",
    "user.deactivate",
    "user.list",
    "user.reactivate",
    "user.set_password",
    "export.csv",
    "export.csv.clinic",
    "fhir.export",
    "fhir.export.clinic",
    "fhir.export.delete",
    "fhir.export.download",
    "course.calendar.read",
    "report.progress.read",
    "report.preparation_card.read",
    "ledger.administer",
    "ledger.correct",
    "ledger.count",
    "ledger.destroy",
    "ledger.destroy.prepare",
    "ledger.destroy_refused",
    "ledger.draw",
    "ledger.entry.read",
    "ledger.inventory",
    "ledger.inventory_refused",
    "ledger.loss.form_106",
    "ledger.loss.list",
    "ledger.loss.note",
    "ledger.loss.notice",
    "ledger.loss.open",
    "ledger.loss.resolve",
    "ledger.order.read",
    "ledger.receive",
    "ledger.report.administrations",
    "ledger.report.destructions",
    "ledger.report.entries",
    "ledger.report.inventories",
    "ledger.report.losses",
    "ledger.report.receipts",
    "ledger.resolve",
    "ledger.return",
    "ledger.session.read",
    "ledger.stock.read",
    "ledger.vial.read",
    "ledger.waste",
    "ledger.waste.prepare",
    "ledger.waste_refused",
}


def test_the_actions_are_the_strings_the_trail_already_holds() -> None:
    assert {action.value for action in AuditAction} == STORED


def test_an_action_is_its_stored_string() -> None:
    assert AuditAction.PLAN_READ == "plan.read"
    assert str(AuditAction.SESSION_EVENT_APPEND) == "session.event.append"
    assert f"{AuditAction.CLINIC_SETTINGS_UPDATE}" == "clinic.settings.update"


def _plain_actions(source: str) -> list[int]:
    """Lines where an audit event's action is written as text: the second argument of
    ``….audit(actor, action, …)``, or an ``action=`` keyword holding a dotted audit-style string
    (``action="stop_infusion"`` is an alert's advice, another thing)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "audit":
            found += [
                a.lineno for a in node.args[1:2] if isinstance(a, ast.Constant | ast.JoinedStr)
            ]
        found += [
            k.value.lineno
            for k in node.keywords
            if k.arg == "action"
            and isinstance(k.value, ast.Constant | ast.JoinedStr)
            and "." in ast.unparse(k.value)
        ]
    return found


def test_the_scan_finds_a_free_string() -> None:
    source = (
        'uow.audit(actor, "plan.read", "plan", 1)\n'
        'uow.audit(actor, f"user.{verb}", "user", 1)\n'
        'check(uow, action="order.sign_refused")\n'
        'uow.audit(actor, AuditAction.PLAN_READ, "plan", 1)\n'
        'Alert(action="stop_infusion")\n'
    )
    assert _plain_actions(source) == [1, 2, 3]


@pytest.mark.parametrize(
    "path",
    sorted(p for p in SOURCE.rglob("*.py") if "migrations" not in p.parts),
    ids=lambda p: str(p.relative_to(SOURCE)),
)
def test_no_audit_event_is_recorded_with_a_free_string(path: Path) -> None:
    assert _plain_actions(path.read_text(encoding="utf-8")) == []


def test_the_unit_of_work_refuses_a_free_string() -> None:
    uow = UnitOfWork(lambda: None)  # type: ignore[arg-type, return-value]  # never opened
    with pytest.raises(TypeError, match="AuditAction"):
        uow.audit(Visitor("127.0.0.1"), "plan.read", "plan", 1)  # type: ignore[arg-type]
