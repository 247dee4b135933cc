"""Session events to infusion segments: start, rate, pause, resume, stop; bad lines named."""

from __future__ import annotations

import json

import pytest

from ketaplan.clinical.pk import InfusionSegment, segments_from_events
from ketaplan.errors import InputError


def _row(minute: int, kind: str, **fields: object) -> str:
    at = (
        f"2026-12-07T09:{minute:02d}:00-08:00"
        if minute < 60
        else f"2026-12-07T10:{minute - 60:02d}:00-08:00"
    )
    return json.dumps({"at": at, "type": kind, **fields})


START = {"rate_ml_per_h": 150, "concentration_mg_per_ml": 0.35}


def test_a_start_and_stop_make_one_segment_at_rate_times_concentration() -> None:
    # 150 mL/h x 0.35 mg/mL = 52.5 mg/h = 0.875 mg/min
    segments = segments_from_events([_row(0, "start", **START), _row(40, "stop", completed=True)])
    assert segments == (InfusionSegment(0.0, 40.0, 0.875),)


def test_a_pause_and_resume_leave_a_gap_and_a_rate_change_starts_a_new_segment() -> None:
    rows = [
        _row(0, "start", **START),
        _row(10, "vitals", systolic=150, diastolic=85),
        _row(15, "pause"),
        _row(20, "side_effect", name="nausea", severity="mild"),
        _row(25, "resume"),
        _row(30, "rate", rate_ml_per_h=75),
        _row(50, "stop", completed=True),
        _row(55, "note", text="discharged"),
    ]
    segments = segments_from_events(rows)
    assert segments == (
        InfusionSegment(0.0, 15.0, 0.875),
        InfusionSegment(25.0, 30.0, 0.875),
        InfusionSegment(30.0, 50.0, 0.4375),
    )


def test_mappings_are_accepted_as_well_as_json_lines() -> None:
    rows = [json.loads(_row(0, "start", **START)), json.loads(_row(40, "stop", completed=True))]
    assert segments_from_events(rows) == (InfusionSegment(0.0, 40.0, 0.875),)


def test_times_in_different_zones_are_compared_as_instants() -> None:
    rows = [
        '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 150, "concentration_mg_per_ml": 0.35}',
        '{"at": "2026-12-07T17:40:00+00:00", "type": "stop", "completed": true}',
    ]
    assert segments_from_events(rows)[0].end_min == 40.0


@pytest.mark.parametrize(
    ("rows", "line", "message"),
    [
        (["{not json"], 1, "not valid JSON"),
        (["", '["a list"]'], 2, "must be a JSON object"),
        ([_row(0, "start", rate_ml_per_h=150)], 1, "concentration_mg_per_ml is missing"),
        ([_row(0, "start", rate_ml_per_h=-1, concentration_mg_per_ml=1)], 1, "greater than 0"),
        (['{"at": "2026-12-07T09:00:00", "type": "start"}'], 1, "has no time zone"),
        (['{"type": "start"}'], 1, "'at' is missing"),
        (['{"at": "yesterday", "type": "start"}'], 1, "not an ISO 8601 time"),
        ([_row(0, "pause")], 1, "only a running infusion can be paused"),
        ([_row(0, "start", **START), _row(5, "start", **START)], 2, "already started"),
        (
            [_row(10, "start", **START), _row(5, "stop", completed=True)],
            2,
            "time cannot go backwards",
        ),
        ([_row(0, "start", **START), _row(5, "resume")], 2, "needs a paused infusion"),
        (
            [_row(0, "start", **START), _row(5, "stop", completed=True), _row(6, "pause")],
            3,
            "the infusion was stopped",
        ),
        (['{"at": "2026-12-07T09:00:00-08:00"}'], 1, "unknown event type None"),
    ],
)
def test_a_bad_row_is_an_input_error_naming_its_line(
    rows: list[str], line: int, message: str
) -> None:
    with pytest.raises(InputError, match=message) as caught:
        segments_from_events(rows)
    assert caught.value.fields["line"] == line
    assert f"line {line}" in caught.value.message


@pytest.mark.parametrize(
    "rows",
    [[_row(0, "note", text="arrived")], [_row(0, "start", **START)]],
    ids=["no start", "start without a later event"],
)
def test_a_log_with_no_infusion_stretch_cannot_be_simulated(rows: list[str]) -> None:
    with pytest.raises(InputError, match="no infusion to simulate"):
        segments_from_events(rows)
