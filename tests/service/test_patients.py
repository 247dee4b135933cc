"""Patients: versions instead of updates, optimistic concurrency, audited reads and writes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest
from sqlalchemy import select

from ketaplan.clinical.catalog import Catalog
from ketaplan.errors import ConflictError, InputError, NotFoundError, PermissionDenied
from ketaplan.services import (
    Actor,
    PatientDetails,
    UnitOfWork,
    add_user,
    create_patient,
    get_patient,
    set_up_clinic,
    update_patient,
)
from ketaplan.services.patients import amend_patient
from ketaplan.store import Database
from ketaplan.store.models import AuditEvent, Base, Patient, PatientVersion

ALEX = PatientDetails(
    full_name="Alex Example",
    weight="176 lb",
    height="5 ft 9 in",
    age_years=42,
    sex="female",
    medications=("sertraline 100 mg",),
)


def test_a_new_patient_is_version_1_with_the_profile_in_canonical_units(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog, audit_log: Callable[[], list[str]]
) -> None:
    record = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    assert record.version == 1
    assert record.details == ALEX
    assert round(record.profile.weight_kg, 2) == 79.83
    assert round(record.profile.height_cm or 0, 1) == 175.3
    assert record.profile.medications == ("sertraline 100 mg",)
    assert audit_log()[-1] == "patient.create"


def test_an_amendment_changes_the_named_details_and_keeps_the_others(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog, audit_log: Callable[[], list[str]]
) -> None:
    created = create_patient(
        uow, replace(ALEX, weight="180 kg", confirm_weight=True), actor=nurse, catalog=catalog
    )
    amended = amend_patient(
        uow,
        created.patient_id,
        {"history": ["controlled_hypertension"], "date_of_birth": None},
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    assert isinstance(amended, type(created))
    assert amended.details == replace(created.details, history=("controlled_hypertension",))
    assert amended.profile.history == ("controlled_hypertension",)
    assert amended.version == 2
    assert audit_log()[-1] == "patient.update"
    # the confirmation of 180 kg at 5 ft 9 in does not carry over to a new weight
    with pytest.raises(InputError) as unconfirmed:
        amend_patient(
            uow,
            created.patient_id,
            {"weight": "190 kg"},
            expected_version=2,
            actor=nurse,
            catalog=catalog,
        )
    assert unconfirmed.value.fields["field"] == "weight"
    with pytest.raises(InputError, match="not a patient detail"):
        amend_patient(
            uow,
            created.patient_id,
            {"allergy": "x"},
            expected_version=2,
            actor=nurse,
            catalog=catalog,
        )
    assert get_patient(uow, created.patient_id, actor=nurse).version == 2


def test_reading_a_patient_is_audited(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog, audit_log: Callable[[], list[str]]
) -> None:
    created = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    read = get_patient(uow, created.patient_id, actor=nurse)
    assert read == created
    assert audit_log()[-2:] == ["patient.create", "patient.read"]


def test_an_update_adds_a_version_and_keeps_the_old_one(
    uow: UnitOfWork,
    nurse: Actor,
    catalog: Catalog,
    rows: Callable[[type[Base]], int],
) -> None:
    created = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    heavier = replace(ALEX, weight="82 kg", history=("controlled_hypertension",))
    updated = update_patient(
        uow, created.patient_id, heavier, expected_version=1, actor=nurse, catalog=catalog
    )
    assert updated.version == 2
    assert updated.profile.weight_kg == 82
    assert get_patient(uow, created.patient_id, actor=nurse).details == heavier
    assert rows(PatientVersion) == 2
    assert rows(Patient) == 1


def test_the_audit_event_of_an_update_names_the_changed_fields_not_their_values(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog, database: Database
) -> None:
    created = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    update_patient(
        uow,
        created.patient_id,
        replace(ALEX, weight="82 kg"),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    with database.session_factory() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        assert (event.action, event.patient_id, event.actor_user_id, event.actor_role) == (
            "patient.update",
            created.patient_id,
            nurse.user_id,
            "nurse",
        )
        assert event.details == {"changed": ["weight"], "from_version": 1, "to_version": 2}
        assert event.origin == "127.0.0.1"


def test_an_update_from_a_stale_version_is_refused_and_writes_nothing(
    uow: UnitOfWork,
    nurse: Actor,
    catalog: Catalog,
    rows: Callable[[type[Base]], int],
) -> None:
    created = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    update_patient(
        uow,
        created.patient_id,
        replace(ALEX, weight="80 kg"),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    versions, audits = rows(PatientVersion), rows(AuditEvent)
    with pytest.raises(ConflictError, match="changed by someone else") as caught:
        update_patient(
            uow,
            created.patient_id,
            replace(ALEX, weight="81 kg"),
            expected_version=1,
            actor=nurse,
            catalog=catalog,
        )
    assert caught.value.code == "conflict.stale_version"
    assert caught.value.fields["version"] == 2
    assert (rows(PatientVersion), rows(AuditEvent)) == (versions, audits)


def test_invalid_details_are_refused_before_anything_is_written(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog, rows: Callable[[type[Base]], int]
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(InputError, match="pounds"):
        create_patient(uow, replace(ALEX, weight="176 kg"), actor=nurse, catalog=catalog)
    with pytest.raises(InputError, match="name"):
        create_patient(uow, replace(ALEX, full_name="  "), actor=nurse, catalog=catalog)
    assert (rows(Patient), rows(AuditEvent)) == (0, audits)


def test_creating_a_patient_writes_its_audit_row_in_the_same_transaction(
    crashing_uow: UnitOfWork,
    audit_rows_at_crash: list[int],
    nurse: Actor,
    catalog: Catalog,
    rows: Callable[[type[Base]], int],
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(RuntimeError, match="simulated failure"):
        create_patient(crashing_uow, ALEX, actor=nurse, catalog=catalog)
    assert audit_rows_at_crash == [audits + 1]  # written, then rolled back
    assert (rows(Patient), rows(PatientVersion), rows(AuditEvent)) == (0, 0, audits)


def test_another_clinics_patient_is_not_found(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    created = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    other_admin = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    with pytest.raises(NotFoundError):
        get_patient(uow, created.patient_id, actor=other_admin)


def test_only_an_admin_adds_users_and_an_email_is_used_once(
    uow: UnitOfWork, admin: Actor, nurse: Actor
) -> None:
    with pytest.raises(PermissionDenied):
        add_user(uow, email="x@bay.example", role="nurse", actor=nurse)
    with pytest.raises(ConflictError, match="already exists"):
        add_user(uow, email="NURSE@bay.example", role="nurse", actor=admin)
    with pytest.raises(InputError, match="role"):
        add_user(uow, email="y@bay.example", role="surgeon", actor=admin)


def test_two_concurrent_updates_from_the_same_version_one_wins_the_other_conflicts(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    catalog: Catalog,
    rows: Callable[[type[Base]], int],
) -> None:
    created = create_patient(uow, ALEX, actor=nurse, catalog=catalog)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(actor: Actor, weight: str) -> None:
        start.wait()
        try:
            update_patient(
                UnitOfWork(database.session_factory),
                created.patient_id,
                replace(ALEX, weight=weight),
                expected_version=1,
                actor=actor,
                catalog=catalog,
            )
            outcomes.append("saved")
        except ConflictError:
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=edit, args=(nurse, "80 kg")),
        threading.Thread(target=edit, args=(prescriber, "81 kg")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "saved"]
    assert rows(PatientVersion) == 2
    assert get_patient(uow, created.patient_id, actor=nurse).version == 2
