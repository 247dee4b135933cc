"""`ketaplan ledger ...` against real databases: the same rules as the services, --json output,
passwords on standard input, bad input refused with exit 2 and nothing written."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ketaplan.cli import main
from ketaplan.clinical.catalog import Catalog
from ketaplan.services import Actor, PatientRecord, UnitOfWork, add_user, load_actor
from ketaplan.store import Database
from ketaplan.store.models import Base, LedgerEntry

from .conftest import PASSWORD, signed_plan

RECEIVE = [
    "ledger",
    "receive",
    "--as",
    "nurse@bay.example",
    "--number",
    "K-0001",
    "--number",
    "K-0002",
    "--ndc",
    "0409-2051-05",
    "--lot",
    "LOT-1",
    "--expiry",
    "2028-06-30",
    "--strength",
    "10 mg/mL",
    "--volume",
    "20 mL",
    "--supplier",
    "Cardinal Health",
    "--supplier-address",
    "7000 Cardinal Pl, Dublin OH",
    "--supplier-dea",
    "RC0123456",
]


@pytest.fixture
def cli(
    database: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> Callable[..., tuple[int, Any, str]]:
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", database_url)

    def run(*args: str, stdin: str = "") -> tuple[int, Any, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        parsed = json.loads(out) if "--json" in args and code == 0 else out
        return code, parsed, err

    return run


@pytest.fixture
def order(
    uow: UnitOfWork, patient: PatientRecord, prescriber: Actor, catalog: Catalog, resolver: object
) -> int:
    plan = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    return plan.plan_id


@pytest.fixture
def witness(uow: UnitOfWork, admin: Actor) -> str:
    add_user(uow, email="nurse2@bay.example", role="nurse", actor=admin, password=PASSWORD)
    return load_actor(uow, "nurse2@bay.example", origin="test").email


def test_a_medication_room_day_on_the_command_line(
    cli: Callable[..., tuple[int, Any, str]],
    order: int,
    witness: str,
    tmp_path: Path,
    rows: Callable[[type[Base]], int],
) -> None:
    code, received, err = cli(*RECEIVE, "--json")
    assert code == 0, err
    assert [r["container"] for r in received] == ["K-0001", "K-0002"]
    nurse = ("--as", "nurse@bay.example")
    code, drawn, err = cli(
        "ledger",
        "draw",
        *nurse,
        "--vial",
        "K-0001",
        "--volume",
        "4",
        "--order",
        str(order),
        "--json",
    )
    assert code == 0, err
    assert drawn["balance"]["in_vial_ml"] == 16.0
    before = rows(LedgerEntry)
    code, _out, err = cli(
        "ledger",
        "waste",
        *nurse,
        "--vial",
        "K-0001",
        "--volume",
        "1",
        "--reason",
        "dropped syringe",
    )
    assert code == 2
    assert "needs a witness" in err
    assert rows(LedgerEntry) == before
    code, wasted, err = cli(
        "ledger",
        "waste",
        *nurse,
        "--draw",
        str(drawn["entry_id"]),
        "--mg",
        "40",
        "--reason",
        "order cancelled",
        "--witness",
        witness,
        "--json",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert wasted["balance"]["wasted_ml"] == 4.0
    code, counted, err = cli(
        "ledger", "count", *nurse, "--vial", "K-0001", "--counted", "15.8", "--json"
    )
    assert code == 0, err
    [open_one] = counted["balance"]["open_discrepancies"]
    code, _out, err = cli(
        "ledger", "resolve", *nurse, "--count", str(open_one["count_id"]), "--reason", "spill"
    )
    assert code == 6  # PermissionDenied's exit code
    assert "needs the role admin or prescriber" in err
    code, out, err = cli(
        "ledger",
        "resolve",
        "--as",
        "prescriber@bay.example",
        "--count",
        str(open_one["count_id"]),
        "--reason",
        "spill at the draw",
        "--write-off",
    )
    assert code == 0, err
    assert "written off 0.20 mL" in out
    code, out, err = cli(
        "ledger",
        "inventory",
        *nurse,
        "--kind",
        "on_demand",
        "--business",
        "close",
        "--line",
        "K-0001~15.8",
        "--line",
        "K-0002=20",
        stdin=PASSWORD + "\n",
    )
    assert code == 0, err
    assert "OPEN DISCREPANCY" not in out
    target = tmp_path / "entries.csv"
    code, out, err = cli("ledger", "report", *nurse, "entries", "--csv", str(target))
    assert code == 0, err
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("dea_registration,entry_id,date,by,kind")
    assert len(lines) == 1 + rows(LedgerEntry)
    code, stock, err = cli("ledger", "report", *nurse, "stock", "--json")
    assert code == 0, err
    assert [v["balance"]["in_vial_ml"] for v in stock["vials"]] == [15.8, 20.0]


def test_bad_input_exits_2_and_writes_nothing(
    cli: Callable[..., tuple[int, Any, str]], order: int, rows: Callable[[type[Base]], int]
) -> None:
    assert cli(*RECEIVE)[0] == 0
    before = rows(LedgerEntry)
    for args, message in (
        (
            (
                "ledger",
                "draw",
                "--as",
                "nurse@bay.example",
                "--vial",
                "K-0001",
                "--volume",
                "four",
                "--order",
                str(order),
            ),
            "not a number",
        ),
        (
            (
                "ledger",
                "draw",
                "--as",
                "nurse@bay.example",
                "--vial",
                "K-0001",
                "--volume",
                "25",
                "--order",
                str(order),
            ),
            "more than it holds",
        ),
        (
            ("ledger", "correct", "--as", "nurse@bay.example", "--entry", "1", "--reason", "x"),
            "--volume",
        ),
        (("ledger", "report", "--as", "nurse@bay.example", "everything"), "one of"),
        (
            (
                "ledger",
                "loss",
                "open",
                "--as",
                "nurse@bay.example",
                "--kind",
                "loss",
                "--text",
                "vial gone",
                "--at",
                "yesterday",
            ),
            "ISO 8601",
        ),
    ):
        code, _out, err = cli(*args)
        assert code == 2, (args, err)
        assert message in err
        assert "Traceback" not in err
    assert rows(LedgerEntry) == before


def test_a_loss_case_from_the_command_line(
    cli: Callable[..., tuple[int, Any, str]], nurse: Actor
) -> None:
    code, cases, err = cli(
        "ledger",
        "loss",
        "open",
        "--as",
        "nurse@bay.example",
        "--kind",
        "theft",
        "--text",
        "box of 5 vials missing from the delivery",
        "--missing",
        "5 x 20 mL",
        "--json",
    )
    assert code == 0, err
    assert [d["status"] for d in cases[0]["deadlines"]] == ["running", "running"]
    code, out, err = cli("ledger", "loss", "list", "--as", "admin@bay.example")
    assert code == 0, err
    assert "DEA Form 106 (45 days)" in out
