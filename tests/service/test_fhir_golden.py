"""The golden exit and FHIR exports of the demo clinic (made as of a fixed day and moment):
what a clinic would receive, checked in and compared file by file, so a change to any export is
seen in review.

The demo clinic is the one ``ketaplan demo-data`` makes, so a change to the catalog or the demo
changes these files too. When a change is meant to alter the exports, regenerate them:

    PYTHONPATH=src python tests/service/test_fhir_golden.py

``audit_events.csv`` is left out of the comparison: the hashes of the records each event wrote
cover the staff rows, whose password hashes are salted at random (its columns are checked).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
FHIR_FILE = GOLDEN / "demo-clinic.fhir.ndjson"
CSV_DIR = GOLDEN / "demo-clinic-csv"
NOT_COMPARED = {"audit_events.csv"}


def demo_exports(folder: Path) -> tuple[str, dict[str, str]]:
    """The demo clinic's FHIR export (ndjson, in export order) and CSV files, made afresh in
    a SQLite database in ``folder``."""
    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.export.fhir import ndjson
    from ketaplan.services import UnitOfWork, load_actor
    from ketaplan.services.demo_clinic import DEMO_EMAILS
    from ketaplan.services.exit_export import export_clinic_csv
    from ketaplan.services.exports import export_clinic_fhir
    from ketaplan.store import open_database

    sys.path.insert(0, str(Path(__file__).parents[2]))
    from tests.service.test_fhir_export import DEMO_NOW, copy_of_demo

    database = open_database(copy_of_demo(folder))
    try:
        uow = UnitOfWork(database.session_factory, clock=lambda: DEMO_NOW)
        admin = load_actor(uow, DEMO_EMAILS["admin"], origin="golden")
        fhir = export_clinic_fhir(uow, actor=admin, policy=load_policy())
        files = export_clinic_csv(uow, actor=admin)
    finally:
        database.close()
    return ndjson(fhir.resources), files


def test_the_demo_clinics_exports_match_the_golden_files(tmp_path: Path) -> None:
    fhir, files = demo_exports(tmp_path)
    assert fhir == FHIR_FILE.read_text(encoding="utf-8")
    golden = {p.name for p in CSV_DIR.iterdir()}
    assert set(files) == golden | NOT_COMPARED
    for name in sorted(golden):
        assert files[name] == (CSV_DIR / name).read_bytes().decode("utf-8"), name
    header = files["audit_events.csv"].splitlines()[0]
    assert header.startswith("seq,occurred_at,actor_user_id,actor_role,origin,action")


def regenerate() -> None:
    with tempfile.TemporaryDirectory() as folder:
        fhir, files = demo_exports(Path(folder))
    FHIR_FILE.write_text(fhir, encoding="utf-8")
    CSV_DIR.mkdir(parents=True, exist_ok=True)
    for old in CSV_DIR.iterdir():
        old.unlink()
    for name, text in files.items():
        if name not in NOT_COMPARED:
            (CSV_DIR / name).write_bytes(text.encode("utf-8"))
    print(f"wrote {FHIR_FILE} and {len(files) - len(NOT_COMPARED)} files in {CSV_DIR}")


if __name__ == "__main__":
    regenerate()
