"""The course calendar (.ics) as a calendar application imports it: times in the clinic's zone
with its VTIMEZONE, the right instants, UIDs unique across patients, no diagnosis, the clinic's
name and address; the same file from the API and the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from ketaplan.cli import main

from .conftest import PASSWORD, Api

V1 = "/api/v1"
FIRST_DAY = "2030-11-25"  # the week of Thanksgiving 2030 (Thursday 28 November)
NOW = datetime(2030, 11, 20, 18, 0, tzinfo=UTC)


def _course(api: Api, name: str) -> dict[str, Any]:
    nurse = api.as_role("nurse")
    patient = api.client.post(
        f"{V1}/patients",
        json={"full_name": name, "weight": "80 kg", "height": "175 cm", "age_years": 42},
        headers=nurse,
    )
    assert patient.status_code == 201, patient.text
    pid = patient.json()["patient_id"]
    plan = api.client.post(
        f"{V1}/patients/{pid}/plans", json={"condition": "depression"}, headers=nurse
    )
    assert plan.status_code == 201, plan.text
    signed = api.client.post(
        f"{V1}/plans/{plan.json()['plan_id']}/sign",
        json={"password": PASSWORD},
        headers=api.as_role("prescriber"),
    )
    assert signed.status_code == 200, signed.text
    course = api.client.post(
        f"{V1}/patients/{pid}/courses",
        json={"condition": "depression", "first_day": FIRST_DAY},
        headers=api.as_role("front_desk"),
    )
    assert course.status_code == 201, course.text
    body: dict[str, Any] = course.json()
    return body


def _ics(api: Api, course_id: int) -> bytes:
    answer = api.client.get(
        f"{V1}/courses/{course_id}/calendar.ics", headers=api.as_role("front_desk")
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    return answer.content


@pytest.fixture
def fixed_clock(api: Api) -> Api:
    return api.on_clock(lambda: NOW)


def test_two_patients_courses_on_the_same_day_import_with_their_own_uids_and_true_instants(
    fixed_clock: Api,
) -> None:
    api = fixed_clock
    courses = [_course(api, "Robin Early"), _course(api, "Sasha Later")]
    uids: list[str] = []
    for course in courses:
        document = _ics(api, course["course_id"])
        assert b"epress" not in document  # no diagnosis, in any case
        assert b"UTC-08:00" not in document
        parsed = Calendar.from_ical(document)
        (zone,) = parsed.walk("VTIMEZONE")
        assert str(zone["TZID"]) == "America/Los_Angeles"
        events = parsed.walk("VEVENT")
        sessions = course["schedule"]["sessions"]
        assert len(events) == len(sessions)
        assert "2030-11-28" not in [s["date"] for s in sessions]  # Thanksgiving 2030 skipped
        for event, session in zip(events, sessions, strict=True):
            assert event["DTSTART"].params["TZID"] == "America/Los_Angeles"
            start = event.decoded("DTSTART")
            assert start.astimezone(UTC) == datetime.fromisoformat(session["start"]).astimezone(UTC)
            assert str(event["SUMMARY"]).startswith("Clinic appointment (")
            assert str(event["LOCATION"]) == (
                "Bay Ketamine Clinic, 100 Example Street, Suite 200, San Francisco, CA 94105"
            )
            uids.append(str(event["UID"]))
    assert (
        courses[0]["schedule"]["sessions"][0]["date"]
        == courses[1]["schedule"]["sessions"][0]["date"]
    )
    first = Calendar.from_ical(_ics(api, courses[0]["course_id"])).walk("VEVENT")[0]
    assert first.decoded("DTSTART").astimezone(UTC) == datetime(2030, 11, 25, 17, 0, tzinfo=UTC)
    assert len(uids) == len(set(uids))
    assert all(uid.startswith("clinic") and "-course" in uid for uid in uids)


def test_a_rescheduled_session_keeps_its_uid_with_a_higher_sequence(fixed_clock: Api) -> None:
    api = fixed_clock
    course = _course(api, "Robin Early")
    before = Calendar.from_ical(_ics(api, course["course_id"])).walk("VEVENT")
    moved = api.client.post(
        f"{V1}/courses/{course['course_id']}/reschedule",
        json={"session_number": 2, "status": "missed", "expected_version": 1},
        headers=api.as_role("front_desk"),
    )
    assert moved.status_code == 200, moved.text
    after = Calendar.from_ical(_ics(api, course["course_id"])).walk("VEVENT")
    assert [str(e["UID"]) for e in after] == [str(e["UID"]) for e in before]
    assert before[1].decoded("DTSTART") != after[1].decoded("DTSTART")
    assert (int(before[1]["SEQUENCE"]), int(after[1]["SEQUENCE"])) == (0, 1)


def test_the_command_line_writes_the_same_calendar_as_the_api(
    fixed_clock: Api,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ketaplan.cli import report

    api = fixed_clock
    course = _course(api, "Robin Early")
    monkeypatch.setattr(report, "clock", lambda: NOW)
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    out = tmp_path / "course.ics"
    code = main(
        ["calendar", str(course["course_id"]), "--ics", str(out), "--as", "front_desk@bay.example"]
    )
    assert code == 0, capsys.readouterr().err
    assert out.read_bytes() == _ics(api, course["course_id"])
    missing = main(["calendar", "999", "--ics", str(out), "--as", "front_desk@bay.example"])
    assert missing != 0
    assert "999" in capsys.readouterr().err
