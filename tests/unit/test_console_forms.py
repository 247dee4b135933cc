"""The console's forms as chart events, its alert lines and where a refusal is shown.

The page decides nothing clinical: these check only the translation between the posted form
and the chart's JSON event, and the grouping of alerts for a compact list.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ketaplan.errors import InputError, SafetyLimitError
from ketaplan.web.routes.sessions import alert_lines, errors_beside, event_details, event_from_form

NOW = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def _event(form: dict[str, str]) -> dict[str, Any]:
    return event_from_form(form, NOW)


def test_an_event_is_stamped_with_the_time_the_server_gives() -> None:
    assert _event({"type": "pause"}) == {"type": "pause", "at": NOW.isoformat()}


def test_a_stop_says_completed_or_stopped_early_and_never_defaults() -> None:
    with pytest.raises(InputError) as refused:
        _event({"type": "stop"})
    assert refused.value.fields["field"] == "completed"
    assert _event({"type": "stop", "completed": "yes"})["completed"] is True
    early = _event({"type": "stop", "completed": "no", "reason": " asked to stop "})
    assert (early["completed"], early["reason"]) == (False, "asked to stop")


def test_the_discharge_checklist_is_posted_as_three_booleans() -> None:
    event = _event({"type": "discharge", "vitals_within_limits": "yes", "escort_present": "yes"})
    assert event["vitals_within_limits"] is True
    assert event["oriented_and_steady"] is False
    assert event["escort_present"] is True
    assert "checked_by" not in event  # the service writes who ticked it, never the form


def test_a_correction_names_the_entry_it_voids_as_a_whole_number() -> None:
    event = _event({"type": "correction", "voids_seq": "3", "reason": "typed 194"})
    assert (event["voids_seq"], event["reason"]) == (3, "typed 194")
    assert _event({"type": "hold_override", "reason": "rested"})["reason"] == "rested"


def test_a_refusal_goes_beside_the_field_it_names_or_else_beside_the_button() -> None:
    wrong_bag = SafetyLimitError("not the order's bag", fields={"field": "concentration_mg_per_ml"})
    assert errors_beside("start", wrong_bag) == {"concentration_mg_per_ml": "not the order's bag"}
    no_vitals = InputError("chart the vitals first", fields={"field": "check_in"})
    assert errors_beside("start", no_vitals) == {"": "chart the vitals first"}
    early = InputError("too early", fields={"field": "at"})
    assert errors_beside("discharge", early) == {"": "too early"}


def _alert(
    code: str, at: str, resolved_at: str | None = None, severity: str = "warning"
) -> dict[str, Any]:
    return {
        "code": code,
        "at": at,
        "resolved_at": resolved_at,
        "message": code,
        "severity": severity,
    }


def test_alert_lines_show_each_kind_once_active_and_most_severe_first() -> None:
    newest_first = [
        _alert("pump.past_hard_limit", "09:05", severity="critical"),
        _alert("vitals.in_spo2_low", "09:30"),
        _alert("vitals.in_sbp_hold", "09:20", resolved_at="09:25"),
        _alert("vitals.in_spo2_low", "09:15"),
        _alert("vitals.in_hr_high", "09:10"),
    ]
    lines = alert_lines(newest_first)
    assert [(a["code"], a["times"], a["first_at"]) for a in lines] == [
        ("pump.past_hard_limit", 1, "09:05"),
        ("vitals.in_spo2_low", 2, "09:15"),
        ("vitals.in_hr_high", 1, "09:10"),
        ("vitals.in_sbp_hold", 1, "09:20"),
    ]


def test_chart_rows_read_in_words_not_field_names() -> None:
    assert event_details(
        {"type": "vitals", "at": "x", "systolic": 128.0, "diastolic": 82, "spo2": 98}
    ) == ("BP 128/82 · SpO₂ 98 %")
    assert event_details({"type": "stop", "at": "x", "completed": False, "reason": "anxious"}) == (
        "stopped early · reason anxious"
    )
