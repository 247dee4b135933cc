"""FHIR R4 export (issue 17): the demo clinic's export validates with zero errors against the
official R4 JSON Schema, the fhir.resources models, the US Core invariants that matter and the
reviewed code table; who may export, and the audit trail of every export."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from tests.service.fhir_checks import bundle_problems, validate

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import NotFoundError, PermissionDenied
from ketaplan.export.fhir import everything_bundle
from ketaplan.services import Actor, UnitOfWork, load_actor
from ketaplan.services.demo_clinic import DEMO_EMAILS, DemoClinic, create_demo_clinic
from ketaplan.services.exports import export_clinic_fhir, export_patient_fhir
from ketaplan.services.item9_reviews import ITEM9_FLAG, review_item9_flag
from ketaplan.store import Database, migrate, open_database
from ketaplan.store.engine import make_engine
from ketaplan.store.models import QuestionnaireResponse

DEMO_TODAY = date(2026, 3, 11)
DEMO_NOW = datetime(2026, 3, 11, 23, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
"""The demo clinic made as of a fixed day and moment: the same rows, ids and times every run."""


def make_demo_clinic(
    database: Database, catalog: Catalog, resolver: MedicationResolver
) -> DemoClinic:
    made = create_demo_clinic(
        database,
        catalog=catalog,
        resolver=resolver,
        monitoring=load_monitoring_rules(),
        calendar=load_calendar(None, catalog.clinic.time_zone),
        today=DEMO_TODAY,
        unit_of_work=lambda sessions: UnitOfWork(sessions, clock=lambda: DEMO_NOW),
    )
    assert made is not None
    return made


@cache
def demo_template() -> tuple[Path, DemoClinic]:
    """The demo clinic made once per test process, in a SQLite file that tests copy
    (:func:`copy_of_demo`) when their subject is an entry point, not the export itself (which
    runs on both databases here)."""
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.drug_dictionary import DnerDrugDictionary

    folder = Path(tempfile.mkdtemp(prefix="ketaplan-demo-"))
    atexit.register(shutil.rmtree, folder, True)
    path = folder / "demo.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    database = open_database(url)
    try:
        catalog = load_catalog()
        made = make_demo_clinic(
            database, catalog, MedicationResolver(catalog, DnerDrugDictionary())
        )
    finally:
        database.close()
    return path, made


def copy_of_demo(folder: Path) -> str:
    """A copy of the demo clinic's database in ``folder``: its URL."""
    template, _made = demo_template()
    for file in template.parent.glob(template.name + "*"):
        shutil.copy(file, folder / file.name)
    return f"sqlite:///{folder / template.name}"


@pytest.fixture
def demo(
    database: Database, catalog: Catalog, resolver: MedicationResolver
) -> Callable[[str], Actor]:
    make_demo_clinic(database, catalog, resolver)

    def actor(role: str) -> Actor:
        return load_actor(UnitOfWork(database.session_factory), DEMO_EMAILS[role], origin="test")

    return actor


def test_the_demo_clinics_whole_export_validates_with_zero_errors(
    database: Database, demo: Callable[[str], Actor], policy: ClinicPolicy
) -> None:
    uow = UnitOfWork(database.session_factory, clock=lambda: DEMO_NOW)
    export = export_clinic_fhir(uow, actor=demo("admin"), policy=policy)
    counted: Counter[str] = Counter()
    problems = validate(list(export.resources), counted)
    assert problems == []
    print(f"validated {sum(counted.values())} resources: {dict(sorted(counted.items()))}")
    expected = {
        "Patient", "Practitioner", "Organization", "Condition", "Encounter",
        "MedicationRequest", "MedicationAdministration", "Observation",
        "Questionnaire", "QuestionnaireResponse", "Provenance",
    }  # fmt: skip
    assert set(counted) == expected
    assert counted["Patient"] == 4
    assert counted["Organization"] == 1


def _observations(resources: list[dict[str, Any]], loinc: str) -> list[dict[str, Any]]:
    return [
        r
        for r in resources
        if r["resourceType"] == "Observation"
        and any(c["code"] == loinc for c in r["code"].get("coding", []))
    ]


def test_a_patients_everything_bundle_validates_and_carries_the_chart(
    database: Database, demo: Callable[[str], Actor], policy: ClinicPolicy
) -> None:
    uow = UnitOfWork(database.session_factory, clock=lambda: DEMO_NOW)
    export = export_patient_fhir(uow, 1, actor=demo("nurse"), policy=policy)
    resources = list(export.resources)
    assert validate(resources) == []
    bundle = everything_bundle(
        resources, base_url="https://clinic.example/api/v1/fhir", timestamp=DEMO_NOW
    )
    assert bundle_problems(bundle) == []
    assert bundle["entry"][0]["search"]["mode"] == "match"
    # vital signs: every code the issue names that the chart records
    for loinc in ("85354-9", "8867-4", "2708-6", "29463-7", "8302-2", "44261-6", "70274-6"):
        assert _observations(resources, loinc), loinc
    blood_pressure = _observations(resources, "85354-9")[0]
    assert [c["code"]["coding"][0]["code"] for c in blood_pressure["component"]] == [
        "8480-6",
        "8462-4",
    ]
    # a stretch of the infusion: its rate times its length is the dose it gave
    administrations = [r for r in resources if r["resourceType"] == "MedicationAdministration"]
    assert administrations
    for given in administrations:
        period = given["effectivePeriod"]
        minutes = (
            datetime.fromisoformat(period["end"]) - datetime.fromisoformat(period["start"])
        ).total_seconds() / 60
        rate = given["dosage"]["rateQuantity"]["value"]
        assert given["dosage"]["dose"]["value"] == pytest.approx(rate * minutes / 60, abs=0.02)
    # the unverified RxNorm code goes out marked
    request = next(r for r in resources if r["resourceType"] == "MedicationRequest")
    rxnorm = request["medicationCodeableConcept"]["coding"][0]
    assert rxnorm["code"] == "6130"
    assert rxnorm["extension"][0]["url"] == "urn:ketaplan:fhir:unverified-code"


def test_an_item9_review_is_a_note_by_the_reviewer_on_the_score_and_validates(
    database: Database, demo: Callable[[str], Actor], policy: ClinicPolicy
) -> None:
    uow = UnitOfWork(database.session_factory, clock=lambda: DEMO_NOW)
    with database.session_factory() as session:
        flagged = next(
            r for r in session.scalars(select(QuestionnaireResponse)) if ITEM9_FLAG in r.flags
        )
        patient, response = flagged.patient_id, flagged.id
    nurse = demo("nurse")
    review_item9_flag(uow, response, note="Called; safety plan reviewed.", actor=nurse)
    resources = list(export_patient_fhir(uow, patient, actor=nurse, policy=policy).resources)
    assert validate(resources) == []
    bundle = everything_bundle(
        resources, base_url="https://clinic.example/api/v1/fhir", timestamp=DEMO_NOW
    )
    assert bundle_problems(bundle) == []
    (score,) = [r for r in resources if r["id"] == f"score-{response}"]
    review = score["note"][-1]
    assert review["text"] == "PHQ-9 item 9 reviewed: Called; safety plan reviewed."
    assert review["authorReference"]["reference"] == f"Practitioner/user-{nurse.user_id}"
    assert datetime.fromisoformat(review["time"]) == DEMO_NOW
    assert f"user-{nurse.user_id}" in {
        r["id"] for r in resources if r["resourceType"] == "Practitioner"
    }


def test_who_may_export_and_the_audit_trail_of_every_export(
    database: Database,
    demo: Callable[[str], Actor],
    admin: Actor,
    front_desk: Actor,
    policy: ClinicPolicy,
    audit_log: Callable[[], list[str]],
) -> None:
    uow = UnitOfWork(database.session_factory, clock=lambda: DEMO_NOW)
    before = audit_log()
    with pytest.raises(PermissionDenied):
        export_patient_fhir(uow, 1, actor=front_desk, policy=policy)
    with pytest.raises(NotFoundError):  # patient 1 is the demo clinic's, not the admin's
        export_patient_fhir(uow, 1, actor=admin, policy=policy)
    with pytest.raises(PermissionDenied):
        export_clinic_fhir(uow, actor=demo("nurse"), policy=policy)
    assert audit_log() == before  # a refusal reads nothing

    export_patient_fhir(uow, 2, actor=demo("prescriber"), policy=policy)
    export_clinic_fhir(uow, actor=demo("admin"), policy=policy)
    added = audit_log()[len(before) :]
    assert added == ["fhir.export"] + ["fhir.export"] * 4 + ["fhir.export.clinic"]
