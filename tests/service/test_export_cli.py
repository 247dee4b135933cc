"""`ketaplan export fhir|csv`: the files, the owner-only directory, and refusals that write
nothing (a non-empty directory, a role that may not export)."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.service.fhir_checks import bundle_problems, validate
from tests.service.test_fhir_export import copy_of_demo

from ketaplan.cli import main
from ketaplan.services.exit_export import TABLES


@pytest.fixture
def demo_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A copy of the demo clinic (SQLite): the commands are the subject here; the export runs
    on both databases in test_fhir_export.py."""
    url = copy_of_demo(tmp_path)
    monkeypatch.setenv("KETAPLAN_DATABASE_URL", url)
    return url


def test_export_fhir_writes_valid_ndjson_and_a_patients_bundle(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fhir"
    assert (
        main(["export", "fhir", str(out), "--patient", "1", "--as", "nurse@demo-clinic.example"])
        == 0
    )
    assert "as nurse@demo-clinic.example" in capsys.readouterr().out
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    resources = []
    for file in sorted(out.glob("*.ndjson")):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
        resources += [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
    assert validate(resources) == []
    bundle = json.loads((out / "Patient-1-everything.json").read_text(encoding="utf-8"))
    assert bundle_problems(bundle) == []
    assert len(bundle["entry"]) == len(resources)


def test_export_csv_writes_every_record_type_with_its_readme(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "csv"
    assert main(["export", "csv", str(out)]) == 0
    readme = (out / "README.md").read_text(encoding="utf-8")
    for table in TABLES:
        text = (out / table.file).read_bytes().decode("utf-8")
        assert not text.startswith("\ufeff")
        rows = list(csv.reader(text.splitlines()))
        assert rows[0] == [c.name for c in table.columns]  # the stable order
        assert f"## {table.file} ({len(rows) - 1} rows)" in readme
        for column in table.columns:
            assert f"- `{column.name}`: " in readme

    def read(name: str) -> list[dict[str, str]]:
        return list(csv.DictReader((out / name).read_text(encoding="utf-8").splitlines()))

    answers = read("questionnaire_answers.csv")
    responses = read("questionnaire_responses.csv")
    first = [a for a in answers if a["response_id"] == responses[0]["response_id"]]
    assert sum(int(a["answer"]) for a in first) == int(responses[0]["total"])
    assert "password" not in (out / "staff.csv").read_text(encoding="utf-8")


def test_refusals_write_nothing(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine", encoding="utf-8")
    assert main(["export", "csv", str(busy)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]

    for command in (["csv"], ["fhir"]):
        target = tmp_path / f"nurse-{command[0]}"
        code = main(["export", *command, str(target), "--as", "nurse@demo-clinic.example"])
        assert code != 0
        assert "admin" in capsys.readouterr().err
        assert not target.exists()


def test_a_ledger_table_is_exported_whole_for_the_clinic_only(
    demo_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Any ``ledger*`` table (the ledger's own, and one a later migration adds), whatever its
    columns: the exit export carries its every column, in the table's order, for the clinic's
    own rows."""
    engine = create_engine(demo_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE ledger_supplement (id INTEGER PRIMARY KEY, clinic_id INTEGER, "
                "kind TEXT, amount_mg REAL, note TEXT)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO ledger_supplement VALUES (2, 1, 'administered', 40.5, 'bag 1, \"A\"'), "
                "(1, 1, 'received', 500, NULL), (3, 99, 'received', 100, 'another clinic')"
            )
        )
    engine.dispose()
    out = tmp_path / "csv"
    assert main(["export", "csv", str(out)]) == 0
    rows = list(
        csv.reader((out / "ledger_supplement.csv").read_text(encoding="utf-8").splitlines())
    )
    assert rows == [
        ["id", "clinic_id", "kind", "amount_mg", "note"],
        ["1", "1", "received", "500.0", ""],
        ["2", "1", "administered", "40.5", 'bag 1, "A"'],
    ]
    assert "## ledger_supplement.csv (2 rows)" in (out / "README.md").read_text(encoding="utf-8")
