"""Loss and theft cases read from their ledger rows: the steps as the domain folds them
(:mod:`ketaplan.clinical.ledger.loss`), and the loss report's rows (DEA Form 106 cases: when
discovered, the one-business-day notice and the 45-day form clocks and whether each was met,
the notes, the resolution).

Shared by the loss cases' own read (:mod:`ketaplan.services.ledger_loss`) and the report
(:func:`ketaplan.services.ledger_records.report`), so a case has one reading wherever it shows.
A clock's status depends on the moment it is read at (``running`` becomes ``missed``), so the
report takes ``now`` from its unit of work's clock like the loss cases' page does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from ketaplan.clinical.ledger import LossEvent, LossKind, LossStep, fold_case
from ketaplan.store.models import LedgerEntry as EntryRow

LOSS_KIND_PREFIX = "loss_"

DEADLINE_STATUS_WORDS = {
    "met": "met",
    "late": "done late",
    "running": "not yet due",
    "missed": "missed",
}
"""A clock's status as the report says it (``running`` alone reads like a machine)."""


def loss_event(row: EntryRow) -> LossEvent:
    """One ledger row of a loss case as the domain's step."""
    data = row.data or {}
    return LossEvent(
        row.id,
        int(data.get("case_id", row.id)),
        cast(LossStep, row.kind.removeprefix(LOSS_KIND_PREFIX)),
        row.at,
        row.by,
        row.reason or "",
        cast(LossKind | None, data.get("kind")),
        data.get("missing", ""),
        data.get("reference", ""),
    )


def case_events(rows: Iterable[EntryRow]) -> dict[int, list[LossEvent]]:
    """Loss rows (in ledger order) grouped by case, each case's steps in written order."""
    cases: dict[int, list[LossEvent]] = {}
    for row in rows:
        if row.kind.startswith(LOSS_KIND_PREFIX):
            event = loss_event(row)
            cases.setdefault(event.case_id, []).append(event)
    return cases


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def loss_report_rows(
    rows: Iterable[EntryRow],
    *,
    kept_cases: set[int] | None,
    names: dict[int, str],
    zone: ZoneInfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per case, in the order the cases were opened.

    ``kept_cases`` are the cases whose discovery falls in the report's period (``None``: all);
    a case's later steps count even when they fall after the period, since the report says
    where each case stands.
    """
    out: list[dict[str, Any]] = []
    for case_id, events in case_events(rows).items():
        if kept_cases is not None and case_id not in kept_cases:
            continue
        case = fold_case(events)
        notice, form = case.deadlines(zone)
        out.append(
            {
                "case_id": case.case_id,
                "kind": case.kind,
                "discovered_at": case.discovered_at.isoformat(),
                "opened_by": names.get(case.opened_by, ""),
                "description": case.description,
                "missing": case.missing,
                "notice_due_at": notice.due_at.isoformat(),
                "notice_sent_at": _iso(notice.done_at),
                "notice_status": DEADLINE_STATUS_WORDS[notice.status(now)],
                "form_106_due_at": form.due_at.isoformat(),
                "form_106_filed_at": _iso(form.done_at),
                "form_106_status": DEADLINE_STATUS_WORDS[form.status(now)],
                "form_106_reference": case.form_106_reference,
                "notes": " | ".join(f"{n.at.isoformat()}: {n.text}" for n in case.notes),
                "resolved_at": _iso(case.resolved_at),
                "resolution": case.resolution,
                "status_as_of": now.isoformat(),
            }
        )
    return out
