"""The score, course, session replay and titrate commands: output, exit codes, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ketaplan.cli import main
from ketaplan.cli import session as session_cli

EXAMPLES = Path(__file__).parents[2] / "examples"
AFTER_THE_EXAMPLE = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _replayed_after_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """``session replay`` refuses events after its clock: the worked example's session is on
    7 December 2026, so the clock stands the day after it whatever the real date."""
    monkeypatch.setattr(session_cli, "clock", lambda: AFTER_THE_EXAMPLE)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_score_phq9_prints_total_severity_and_flags_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "score", "phq9", "1,2,0,1,3,0,1,2,0", "--json")
    assert code == 0
    assert json.loads(out) == {"scale": "phq9", "total": 10, "severity": "moderate", "flags": []}
    assert err == ""


def test_score_pcl5_adds_provisional_ptsd(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "score", "pcl5", ",".join(["2"] * 20), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["provisional_ptsd"] is True
    assert data["total"] == 40


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "phq9", "1,2,0"], "phq9 has 9 items; got 3 answers"),
        (["score", "gad7", "1,2,0,1,3,0,4", "--json"], "item 7 is 4; accepted 0-3"),
        (["score", "phq9", "1,2,,1,3,0,1,2,0"], "answer 3 is missing"),
        (["score", "madrs", "1"], "unknown scale"),
    ],
)
def test_bad_answers_exit_2_with_a_message_and_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert message in err


def test_course_lists_six_sessions_and_boosters(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "course", "--condition", "depression", "--start", "2026-12-07", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert [s["number"] for s in data["sessions"]] == [1, 2, 3, 4, 5, 6]
    assert data["sessions"][0]["date"] == "2026-12-07"
    assert data["boosters"]["reassess_on"] == "2027-01-18"
    assert data["boosters"]["recommendations"][0]["reason"]


def test_course_with_a_missed_session_and_an_ics_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ics = tmp_path / "course.ics"
    code, out, _ = run(
        capsys,
        "course",
        "--condition",
        "depression",
        "--start",
        "2026-12-07",
        "--missed",
        "2",
        "--ics",
        str(ics),
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["missed"][0]["number"] == 2
    assert ics.read_bytes().startswith(b"BEGIN:VCALENDAR")
    assert ics.read_bytes().count(b"BEGIN:VEVENT") == 6 + 1 + 1


def test_course_uses_a_clinic_calendar_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "course",
        "--condition",
        "depression",
        "--start",
        "2026-12-07",
        "--calendar",
        str(EXAMPLES / "clinic_calendar.toml"),
        "--json",
    )
    assert code == 0
    weekdays = {s["weekday"] for s in json.loads(out)["sessions"]}
    assert weekdays <= {"Mon", "Wed", "Fri", "Sat"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["course", "--condition", "depression", "--start", "7/12/2026"], "not a date"),
        (["course", "--condition", "sadness", "--start", "2026-12-07"], "unknown condition"),
        (
            ["course", "--condition", "depression", "--start", "2026-12-07", "--missed", "9"],
            "no session 9",
        ),
    ],
)
def test_course_bad_input_exits_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err


def test_session_replay_reports_delivered_dose_and_alerts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys,
        "session",
        "replay",
        str(EXAMPLES / "session1.jsonl"),
        "--weight",
        "176 lb",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["delivered_mg"] == pytest.approx(40.0)
    assert data["delivered_mg_per_kg"] == pytest.approx(40 / (176 * 0.45359237), abs=1e-4)
    assert data["infusing_min"] == 40
    assert data["pauses"] == 1
    assert data["state"] == "discharged"
    assert [a["code"] for a in data["alerts"]] == ["vitals.in_sbp_hold"]
    assert set(data["alerts"][0]) >= {"code", "message", "at"}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"at": "2026-12-07T09:00:00-08:00", "type": "resume"}'], "line 1: resume at"),
        (
            [
                '{"at": "2026-12-07T09:00:00-08:00", "type": "check_in", "systolic": 120, "diastolic": 80}',
                '{"at": "2026-12-07T08:59:00-08:00", "type": "pause"}',
            ],
            "line 2: pause at 2026-12-07T08:59:00-08:00 is before the previous event",
        ),
        (
            [
                '{"at": "2026-12-07T09:00:00", "type": "start", "rate_ml_per_h": 150, "concentration_mg_per_ml": 0.35}'
            ],
            "line 1: start at 2026-12-07T09:00:00: the time has no time zone",
        ),
        (
            [
                '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 0, "concentration_mg_per_ml": 0.35}'
            ],
            "line 1: start: rate_ml_per_h must be greater than 0",
        ),
        (
            [
                '{"at": "2026-12-07T09:00:00-08:00", "type": "vitals", "systolic": 400, "diastolic": 20}'
            ],
            "line 1: blood pressure 400/20",
        ),
        (["not json"], "line 1: not valid JSON"),
    ],
)
def test_an_invalid_log_exits_2_naming_the_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run(capsys, "session", "replay", str(path), "--weight", "70 kg", "--json")
    assert (code, out) == (2, "")
    assert message in err


def test_session_replay_needs_a_weight_with_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "session", "replay", str(EXAMPLES / "session1.jsonl"), "--weight", "70"
    )
    assert (code, out) == (2, "")
    assert "no unit" in err


def test_titrate_recommends_a_step_up_after_three_sessions_without_response(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "titrate", str(EXAMPLES / "history_after_session3.json"), "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["recommended_mg_per_kg"], data["action"]) == (0.55, "increase")
    assert data["reasons"]


def test_titrate_refuses_a_broken_history_with_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "history.json"
    path.write_text(
        '{"condition": "depression", "weight": "80 kg", "sessions": [{"date": "2026-12-07", "mg_per_kg": -1}]}'
    )
    code, out, err = run(capsys, "titrate", str(path))
    assert (code, out) == (2, "")
    assert "sessions[0].mg_per_kg" in err


def test_score_qids_sr16_reports_domains(capsys: pytest.CaptureFixture[str]) -> None:
    answers = "1,3,0,2,2,0,1,3,2,1,1,0,2,1,2,3"
    code, out, _ = run(capsys, "score", "qids_sr16", answers, "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["total"], data["severity"]) == (16, "severe")
    assert data["domains"]["sleep"] == 3


def test_session_replay_uses_a_clinics_monitoring_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clinic = tmp_path / "monitoring.toml"
    clinic.write_text("[monitoring.mood.rules.in_sbp_hold]\nabove = 190\n")
    code, out, _ = run(
        capsys,
        "session",
        "replay",
        str(EXAMPLES / "session1.jsonl"),
        "--weight",
        "176 lb",
        "--monitoring",
        str(clinic),
        "--json",
    )
    assert code == 0
    assert json.loads(out)["alerts"] == []


def test_text_output_is_available_for_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "score", "gad7", "1,1,1,1,1,1,1")[1].startswith(
        "Generalized Anxiety Disorder-7: 7/21 (mild)"
    )
    assert (
        "1. Mon 2026-12-07 09:00-10:00"
        in run(capsys, "course", "--condition", "depression", "--start", "2026-12-07")[1]
    )
    assert (
        "Delivered: 40.0 mg"
        in run(capsys, "session", "replay", str(EXAMPLES / "session1.jsonl"), "--weight", "176 lb")[
            1
        ]
    )
    assert (
        "Next session: 0.55 mg/kg"
        in run(capsys, "titrate", str(EXAMPLES / "history_after_session3.json"))[1]
    )


CHECK_IN = (
    '{"at": "%s08:50:00-08:00", "type": "check_in", "systolic": 128, "diastolic": 82, '
    '"heart_rate": 76, "spo2": 98}'
)


def _replay(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *lines: str
) -> tuple[int, str, str]:
    path = tmp_path / "chart.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    return run(capsys, "session", "replay", str(path), "--weight", "70 kg", "--json")


def test_session_replay_refuses_a_bag_above_the_clinics_maximum(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 5, "concentration_mg_per_ml": 100}'
    code, out, err = _replay(capsys, tmp_path, CHECK_IN % "2026-12-07T", start)
    assert (code, out) == (2, "")
    assert "line 2: start refused: a bag of 100 mg/mL" in err


def test_session_replay_alerts_on_a_rate_past_the_hard_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    start = '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 999, "concentration_mg_per_ml": 0.35}'
    code, out, _ = _replay(capsys, tmp_path, CHECK_IN % "2026-12-07T", start)
    assert code == 0
    (alert,) = json.loads(out)["alerts"]
    assert (alert["code"], alert["severity"], alert["action"]) == (
        "pump.past_hard_limit",
        "critical",
        "stop_infusion",
    )
    assert "Stop the pump now" in alert["advice"]


def test_session_replay_refuses_a_future_event_and_accepts_historical_ones(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _replay(capsys, tmp_path, CHECK_IN % "2026-12-09T")
    assert (code, out) == (2, "")
    assert "after the clock" in err
    code, out, _ = _replay(capsys, tmp_path, CHECK_IN % "2019-03-04T")
    assert code == 0
    assert json.loads(out)["allowed_events"][0] == "start"


def _heavy_history(tmp_path: Path, **more: object) -> Path:
    """Three well-tolerated sessions at the top of the depression range without response, for
    a 280 kg patient: the next step stays at 0.75 mg/kg, which is 210 mg on actual weight."""
    sessions = [
        {"number": n, "date": f"2026-12-0{n + 6}", "mg_per_kg": 0.75, "tolerability": 1}
        for n in (1, 2, 3)
    ]
    path = tmp_path / "heavy.json"
    path.write_text(
        json.dumps(
            {
                "condition": "depression",
                "weight": "280 kg",
                "baseline": {"scores": {"phq9": 20}},
                "sessions": [{**s, "scores": {"phq9": 20}} for s in sessions],
                **more,
            }
        )
    )
    return path


def test_titrate_caps_a_proposal_past_the_hard_total_and_names_the_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "titrate", str(_heavy_history(tmp_path)), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["recommended_mg_per_kg"] == 0.53  # 150 mg hard maximum / 280 kg, rounded down
    assert data["recommended_mg"] <= 150
    assert data["limits"]["capped"] is True
    assert data["limits"]["needs_override"] is True  # still past the soft 100 mg
    assert any("hard maximum 150" in r and "capped at 0.53" in r for r in data["reasons"])
    assert any("needs a prescriber's override" in r for r in data["reasons"])
    code, out, _ = run(capsys, "titrate", str(_heavy_history(tmp_path)))
    assert "CAPPED AT THE HARD LIMIT" in out
    assert "NEEDS A PRESCRIBER'S OVERRIDE" in out


def test_titrate_doses_an_obese_patient_on_the_clinics_weight_basis(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    clinic = tmp_path / "clinic.toml"
    clinic.write_text('[clinic]\nobese_weight_basis = "ideal"\n')
    history = _heavy_history(tmp_path, height="175 cm", sex="female")
    code, out, _ = run(capsys, "titrate", str(history), "--catalog", str(clinic), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["weight_basis"] == "ideal"
    assert data["dosing_weight_kg"] < 80
    assert data["recommended_mg_per_kg"] == 0.75  # within every limit on the ideal weight
    assert data["recommended_mg"] == round(0.75 * data["dosing_weight_kg"], 1)
    assert data["limits"]["needs_override"] is False


def test_titrate_shows_remission_as_well_as_response_in_text_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    history = str(EXAMPLES / "history_after_session3.json")
    code, out, _ = run(capsys, "titrate", history)
    assert code == 0
    assert "Outcome (phq9 15): response no, remission no" in out
    code, out, _ = run(capsys, "titrate", history, "--json")
    data = json.loads(out)
    assert (data["response"], data["remission"]) == (False, False)
    assert data["outcome"]["baseline"] == 19


def test_titrate_holds_when_phq9_item9_is_positive_and_says_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Kroenke 2001: item 9 above 0 needs same-day review; titration never steps up then.
    data = json.loads((EXAMPLES / "history_after_session3.json").read_text())
    data["sessions"][-1]["phq9_item9"] = 1
    path = tmp_path / "history.json"
    path.write_text(json.dumps(data))
    code, out, _ = run(capsys, "titrate", str(path))
    assert code == 0
    assert "0.5 mg/kg" in out.splitlines()[0]
    assert ", hold" in out.splitlines()[0]
    assert "PHQ-9 item 9" in out
    assert "no increase" in out


def test_course_history_shows_outcomes_and_the_relapse_rule_that_fired(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["course", "--condition", "depression", "--start", "2026-12-07", "--history"]
    argv.append(str(EXAMPLES / "history_follow_up.json"))
    code, out, _ = run(capsys, *argv)
    assert code == 0
    assert "Outcome (phq9 10): response no, remission no" in out
    assert "Relapse check (phq9): relapse (left_remission)" in out
    code, out, _ = run(capsys, *argv, "--json")
    data = json.loads(out)
    (outcome,) = data["outcomes"]
    assert (outcome["response"], outcome["remission"]) == (False, False)
    assert data["boosters"]["relapse_checks"][0]["rule"] == "left_remission"
