"""Bad input on the command line is a message and exit 2, never a traceback (issue 14, item 4).

One table per class: control characters in arguments, numbers that are not finite or out of
their documented range, Unicode digits, dates a clinic cannot mean, files that cannot be read
or written. Each row is the arguments and a fragment of the message that says what is wrong.
The commands that open the database run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest

from ketaplan.cli import main
from ketaplan.services import UnitOfWork, set_up_clinic
from ketaplan.store import Database
from ketaplan.store.models import User

W = ("--weight", "80 kg")
PLAN = ("plan", "--condition", "depression", *W)
DOSE = ("simulate", *W, "--dose-mg", "40", "--duration-min", "40")
COURSE = ("course", "--condition", "depression", "--start", "2026-12-07")
HUGE = "9" * 30


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """Files a command may be pointed at by mistake."""
    (tmp_path / "binary.bin").write_bytes(b"\xff\xfe\x00not text")
    (tmp_path / "folder").mkdir()
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    return {
        "binary": str(tmp_path / "binary.bin"),
        "folder": str(tmp_path / "folder"),
        "list": str(tmp_path / "list.json"),
        "nowhere": str(tmp_path / "no" / "such" / "dir" / "out.ics"),
    }


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


CONTROL_CHARACTERS: list[tuple[str, tuple[str, ...], str]] = [
    ("NUL in a weight", ("plan", "--condition", "depression", "--weight", "80\x00 kg"), "--weight: control character U+0000"),
    ("NUL in a condition", ("plan", "--condition", "depr\x00ession", *W), "--condition: control character U+0000"),
    ("escape in a medication", (*PLAN, "--med", "x\x1b[2J"), "--med: control character U+001B"),
    ("DEL in a history term", (*PLAN, "--history", "asthma\x7f"), "--history: control character U+007F"),
    ("C1 control in a scale", ("score", "phq9\x85", "1"), "argument 2: control character U+0085"),
    ("NUL in an e-mail", ("user", "add", "--email", "a\x00@b.example", "--role", "nurse"), "--email: control character"),
    ("NUL in a host", ("serve", "--host", "local\x00host"), "--host: control character"),
]  # fmt: skip

NUMBERS: list[tuple[str, tuple[str, ...], str]] = [
    ("superscript age", (*PLAN, "--age", "²"), "age '²' is not a whole number"),
    ("dose 1e308 mg/kg", (*PLAN, "--mg-per-kg", "1e308"), "finite number up to 100"),
    ("dose nan mg/kg", (*PLAN, "--mg-per-kg", "nan"), "not a positive number"),
    ("superscript blood pressure", (*PLAN, "--bp", "²/80"), "blood pressure"),
    ("simulated dose 1e308 mg", ("simulate", *W, "--dose-mg", "1e308", "--duration-min", "40"), "--dose-mg 1e+308 is outside the accepted range: give a finite number up to 5000"),
    ("simulated dose inf mg", ("simulate", *W, "--dose-mg", "inf", "--duration-min", "40"), "--dose-mg inf is outside"),
    ("simulated dose nan mg", ("simulate", *W, "--dose-mg", "nan", "--duration-min", "40"), "--dose-mg nan is outside"),
    ("simulated dose above any plausible one", ("simulate", *W, "--dose-mg", "50000", "--duration-min", "40"), "up to 5000"),
    ("infusion of 1e308 min", ("simulate", *W, "--dose-mg", "40", "--duration-min", "1e308"), "--duration-min"),
    ("simulation until 1e308 min", (*DOSE, "--until-min", "1e308"), "--until-min"),
    ("threshold 1e308 ng/mL", (*DOSE, "--below-ng-per-ml", "1e308"), "--below-ng-per-ml"),
    ("negative seed", (*DOSE, "--seed", "-1"), "--seed"),
    ("seed past 32 bits", (*DOSE, "--seed", HUGE), "--seed"),
    ("superscript answer", ("score", "phq9", "²,1,1,1,1,1,1,1,1"), "not a whole number"),
    ("30-digit answer", ("score", "phq9", f"{HUGE},1,1,1,1,1,1,1,1"), "accepted 0-3"),
    ("course in year 9999", ("course", "--condition", "depression", "--start", "9999-12-31"), "the year must be 1900 to 2200"),
    ("course in year 1", ("course", "--condition", "depression", "--start", "0001-01-01"), "the year must be 1900 to 2200"),
    ("superscript year", ("course", "--condition", "depression", "--start", "²026-12-07"), "not a date"),
    ("30-digit missed session", (*COURSE, "--missed", HUGE), "no session"),
    ("unknown log level", ("serve", "--log-level", "loud"), "--log-level 'loud'"),
]  # fmt: skip

FILES: list[tuple[str, tuple[str, ...], str]] = [
    ("catalog is a folder", (*PLAN, "--catalog", "{folder}"), "Is a directory"),
    ("catalog is not text", (*PLAN, "--catalog", "{binary}"), "not UTF-8 text"),
    ("protocols catalog is a folder", ("protocols", "--catalog", "{folder}"), "Is a directory"),
    ("calendar is a folder", (*COURSE, "--calendar", "{folder}"), "Is a directory"),
    ("calendar is not text", (*COURSE, "--calendar", "{binary}"), "not UTF-8 text"),
    ("history is a folder", (*COURSE, "--history", "{folder}"), "Is a directory"),
    ("calendar file into a folder", (*COURSE, "--ics", "{folder}"), "Is a directory"),
    ("calendar file nowhere", (*COURSE, "--ics", "{nowhere}"), "No such file or directory"),
    ("chart is not text", ("session", "replay", "{binary}", *W, "--condition", "depression"), "not UTF-8 text"),
    ("chart is a folder", ("session", "replay", "{folder}", *W, "--condition", "depression"), "Is a directory"),
    ("titration history is a folder", ("titrate", "{folder}"), "Is a directory"),
    ("titration history is a list", ("titrate", "{list}"), "expected a JSON object"),
    ("events are not text", ("simulate", *W, "--events", "{binary}"), "not UTF-8 text"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "says"),
    [case[1:] for case in CONTROL_CHARACTERS + NUMBERS + FILES],
    ids=[case[0] for case in CONTROL_CHARACTERS + NUMBERS + FILES],
)
def test_bad_input_on_the_command_line_is_a_message_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    files: dict[str, str],
    argv: tuple[str, ...],
    says: str,
) -> None:
    # A database that is not there: a command must refuse its input before opening one.
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    code, err = run(capsys, [arg.format(**files) for arg in argv])
    assert code == 2, err
    assert says in err  # ketaplan's message, or click's for a typed option out of its range


def test_a_simulated_peak_is_always_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    """The largest dose and shortest infusion accepted still give a finite peak."""
    assert main(["simulate", *W, "--dose-mg", "5000", "--duration-min", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert math.isfinite(report["peak_plasma_ng_per_ml"])
    assert report["peak_plasma_ng_per_ml"] > 0


@pytest.mark.parametrize(
    ("email", "password"),
    [("nurse\x00@bay.example", "a long passphrase"), ("nurse@bay.example", "pass\x00phrase")],
)
def test_a_new_user_with_a_control_character_is_refused_and_nothing_is_stored(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    database: Database,
    email: str,
    password: str,
) -> None:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)
    set_up_clinic(
        UnitOfWork(database.session_factory),
        name="Bay Ketamine Clinic",
        time_zone="America/Los_Angeles",
        admin_email="admin@bay.example",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    add = ["user", "add", "--email", email, "--role", "nurse", "--password-stdin"]
    code, err = run(capsys, add)
    assert code == 2, err
    assert "control character U+0000" in err
    with database.session_factory() as session:
        assert session.query(User).count() == 1  # the admin only
