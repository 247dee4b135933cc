"""Plans and courses: the domain decides, the service stores the explained result and audits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan, plan_to_dict
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import HardLimitExceeded, InputError, OverrideRequired, PermissionDenied
from ketaplan.services import (
    Actor,
    PatientRecord,
    PlanOrder,
    UnitOfWork,
    create_plan,
    get_plan,
    schedule_course,
    sign_order,
)
from ketaplan.services.clinic_settings import clinic_settings, update_clinic_settings
from ketaplan.services.clinic_settings_form import ClinicSettingsInput
from ketaplan.services.patients import profile_from_dict, profile_to_dict
from ketaplan.store.models import AuditEvent, Base, InfusionPlan, TreatmentCourse

from .conftest import PASSWORD, signed_plan


def test_a_saved_plan_is_the_domains_explained_plan_for_the_current_profile(
    uow: UnitOfWork,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    saved = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=policy,
        resolver=resolver,
    )
    expected = plan_to_dict(make_plan(PlanRequest("depression", patient.profile), policy, resolver))
    # a proposed order: everything but the preparation, which waits for the signature
    assert saved.status == "proposed"
    assert saved.plan["preparation"] is None
    assert saved.plan["preparation_withheld"] == "not signed by a prescriber yet"
    assert {k: v for k, v in saved.plan.items() if k not in ("order", "preparation_withheld")} == {
        **expected,
        "preparation": None,
    }
    assert (saved.patient_version, saved.catalog_version) == (1, catalog.version)
    sign_order(uow, saved.plan_id, password=PASSWORD, actor=prescriber)
    read = get_plan(uow, saved.plan_id, actor=prescriber)
    assert (read.status, read.preparation_withheld) == ("active", None)
    stock = read.plan["preparation"].pop("stock")
    assert stock["source"] == "catalog"  # the clinic has set no stock of its own
    assert stock["bag_sizes_ml"] == list(catalog.clinic.preparation.bag_sizes_ml)
    assert {k: v for k, v in read.plan.items() if k not in ("order", "preparation_withheld")} == (
        expected
    )
    assert audit_log()[-3:] == ["plan.create", "order.sign", "plan.read"]


def test_a_plan_is_prepared_from_the_clinics_own_vials_and_bags_and_says_so(
    uow: UnitOfWork,
    admin: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    settings = clinic_settings(uow, actor=admin, catalog=catalog)
    update_clinic_settings(
        uow,
        ClinicSettingsInput(
            name=settings.name,
            price_per_session_usd="600",
            bag_sizes_ml="250",
            vials="10 mg/mL x 20 mL",
            bag_overfill_percent="4 %",
        ),
        expected_version=settings.version,
        actor=admin,
        catalog=catalog,
    )
    saved = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=policy,
        resolver=resolver,
    )
    saved = sign_order(uow, saved.plan_id, password=PASSWORD, actor=prescriber)
    prep = saved.plan["preparation"]
    assert (prep["vial_mg_per_ml"], prep["vial_volume_ml"], prep["bag_ml"]) == (10, 20, 250)
    assert prep["stock"] == {
        "source": "clinic_settings",
        "settings_version": settings.version + 1,
        "vials": [{"mg_per_ml": 10.0, "volume_ml": 20.0}],
        "bag_sizes_ml": [250.0],
        "bag_overfill_fraction": 0.04,
    }
    # the depression protocol's 100 mL bag is not stocked: the card says which bag it uses
    assert any("clinic's 250 mL bag" in step for step in prep["steps"])
    # the clinic's 4 % overfill: 260 mL in the bag before the drug goes in
    assert prep["bag_overfill_ml"] == 10.0
    assert prep["final_mg_per_ml"] == round(prep["drawn_mg"] / (260 + prep["draw_ml"]), 4)
    assert any("holds about 260 mL" in step for step in prep["steps"])


def test_the_profile_survives_the_round_trip_through_json(patient: PatientRecord) -> None:
    assert profile_from_dict(profile_to_dict(patient.profile)) == patient.profile


def test_an_override_is_a_prescribers_and_is_saved_with_the_plan(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    policy: ClinicPolicy,
) -> None:
    order = PlanOrder(
        "depression", requested_mg_per_kg=0.9, override_reason="partial response at 0.75"
    )
    with pytest.raises(PermissionDenied, match="prescriber"):
        create_plan(uow, patient.patient_id, order, actor=nurse, policy=policy, resolver=resolver)
    saved = create_plan(
        uow, patient.patient_id, order, actor=prescriber, policy=policy, resolver=resolver
    )
    assert saved.plan["limits"]["override"]["prescriber"] == prescriber.email
    assert saved.plan["limits"]["override"]["reason"] == "partial response at 0.75"


def test_a_refused_dose_saves_no_plan_but_the_refusal_is_audited(
    uow: UnitOfWork,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Callable[[type[Base]], int],
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    with pytest.raises(OverrideRequired):
        create_plan(
            uow,
            patient.patient_id,
            PlanOrder("depression", requested_mg_per_kg=0.9),
            actor=prescriber,
            policy=policy,
            resolver=resolver,
        )
    with pytest.raises(HardLimitExceeded):
        create_plan(
            uow,
            patient.patient_id,
            PlanOrder("depression", requested_mg_per_kg=3.0, override_reason="typo"),
            actor=prescriber,
            policy=policy,
            resolver=resolver,
        )
    assert rows(InfusionPlan) == 0
    assert audit_log()[-2:] == ["plan.refused", "plan.refused"]


def test_creating_a_plan_writes_its_audit_row_in_the_same_transaction(
    crashing_uow: UnitOfWork,
    audit_rows_at_crash: list[int],
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Callable[[type[Base]], int],
    policy: ClinicPolicy,
) -> None:
    audits = rows(AuditEvent)
    with pytest.raises(RuntimeError, match="simulated"):
        create_plan(
            crashing_uow,
            patient.patient_id,
            PlanOrder("depression"),
            actor=prescriber,
            policy=policy,
            resolver=resolver,
        )
    assert audit_rows_at_crash == [audits + 1]
    assert (rows(InfusionPlan), rows(AuditEvent)) == (0, audits)


def test_a_course_is_the_domains_schedule_saved_for_the_patient(
    uow: UnitOfWork,
    front_desk: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    audit_log: Callable[[], list[str]],
    policy: ClinicPolicy,
) -> None:
    order = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    course = schedule_course(
        uow,
        patient.patient_id,
        condition="depression",
        first_day=date(2026, 12, 7),
        actor=front_desk,
        policy=policy,
    )
    assert [s["date"] for s in course.schedule.to_dict()["sessions"]] == [
        "2026-12-07",
        "2026-12-10",
        "2026-12-14",
        "2026-12-15",
        "2026-12-17",
        "2026-12-21",
    ]
    assert audit_log()[-1] == "course.create"
    assert course.plan_id == order.plan_id  # the patient's active order, when none is named


def test_a_course_refuses_another_patients_plan(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: MedicationResolver,
    rows: Callable[[type[Base]], int],
    policy: ClinicPolicy,
) -> None:
    plan = create_plan(
        uow,
        patient.patient_id,
        PlanOrder("depression"),
        actor=prescriber,
        policy=policy,
        resolver=resolver,
    )
    from ketaplan.services import PatientDetails, create_patient

    other = create_patient(
        uow, PatientDetails(full_name="Sam Other", weight="70 kg"), actor=nurse, catalog=catalog
    )
    with pytest.raises(InputError, match="is not a depression plan of patient"):
        schedule_course(
            uow,
            other.patient_id,
            condition="depression",
            first_day=date(2026, 12, 7),
            actor=nurse,
            policy=policy,
            plan_id=plan.plan_id,
        )
    assert rows(TreatmentCourse) == 0
