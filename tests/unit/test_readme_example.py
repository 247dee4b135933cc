"""The README's worked example runs, command by command, so that it cannot rot."""

from __future__ import annotations

import json
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ketaplan.cli import main
from ketaplan.cli import session as session_cli

ROOT = Path(__file__).parents[2]
AFTER_THE_EXAMPLE = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _replayed_after_the_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """``session replay`` refuses events after its clock: the worked example's session is on
    7 December 2026, so the clock stands the day after it whatever the real date."""
    monkeypatch.setattr(session_cli, "clock", lambda: AFTER_THE_EXAMPLE)


SECTION = "## Worked example: a depression course from the command line"


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_worked_example_starts_with_the_plan_command() -> None:
    assert _commands()[0] == (
        'ketaplan plan --condition depression --weight "176 lb" --height "5 ft 9 in" '
        "--age 42 --sex female --json"
    )


@pytest.mark.parametrize("command", _commands())
def test_every_worked_example_command_succeeds(
    command: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)
    assert argv[0] == "ketaplan"
    args = argv[1:]
    if "--ics" in args:
        index = args.index("--ics") + 1
        args[index] = str(tmp_path / args[index])
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    if "--json" in args:
        json.loads(out)


def test_the_worked_example_reaches_a_relapse_booster(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    main(
        [
            "course",
            "--condition",
            "depression",
            "--start",
            "2026-12-07",
            "--history",
            "examples/history_follow_up.json",
            "--json",
        ]
    )
    boosters = json.loads(capsys.readouterr().out)["boosters"]
    relapse = boosters["recommendations"][0]
    assert (relapse["trigger"], relapse["dates"]) == ("relapse", ["2027-01-13"])
    main(["titrate", "examples/history_after_session3.json", "--json"])
    assert json.loads(capsys.readouterr().out)["recommended_mg_per_kg"] == 0.55
