"""The patient record after intake (issue 18 item 3): every save a version, the changes
between versions (field, before, after, who, when), every problem at once with nothing
written, the front desk's registration-only edits and view, a weight change flagged on signed
orders that are never recomputed, and the address on the ledger's administration records
(issue 16, 21 CFR 1304.22(c)). SQLite always, PostgreSQL when configured."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.errors import InputError, InputErrors, PermissionDenied
from ketaplan.services import (
    Actor,
    PatientRecord,
    UnitOfWork,
    append_session_event,
    get_patient,
    get_plan,
    open_session,
)
from ketaplan.services.ledger import (
    Supplier,
    VialIn,
    receive_vials,
    record_administration,
    record_draw,
)
from ketaplan.services.ledger_records import report, to_csv
from ketaplan.services.patient_history import patient_history
from ketaplan.services.patient_overview import patient_overview
from ketaplan.services.patients import PatientSummary, amend_patient, read_patient
from ketaplan.store.models import Base, PatientVersion

from .conftest import PASSWORD, Api, example_chart, signed_plan

POLICY = load_policy()
START = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
ADDRESS = {
    "address_line1": "12 Elm Street",
    "address_line2": "Apt 4",
    "city": "Oakland",
    "region": "CA",
    "postal_code": "94607",
    "country": "USA",
}


@pytest.fixture
def now() -> list[datetime]:
    """The clinic's clock, moved on by the tests that need versions at different times."""
    return [START]


@pytest.fixture
def clock(now: list[datetime]) -> Callable[[], datetime]:
    return lambda: now[0]


def _amend(
    uow: UnitOfWork,
    record: PatientRecord | int,
    changes: dict[str, object],
    actor: Actor,
    catalog: Catalog,
    version: int,
) -> object:
    patient_id = record if isinstance(record, int) else record.patient_id
    return amend_patient(
        uow, patient_id, changes, expected_version=version, actor=actor, catalog=catalog
    )


def test_each_save_is_a_version_and_the_history_names_field_before_after_who_and_when(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    now: list[datetime],
    audit_log: Callable[[], list[str]],
) -> None:
    now[0] = START + timedelta(hours=1)
    _amend(
        uow,
        patient,
        {"weight": "165 lb", "allergies": ["penicillin: rash"]},
        prescriber,
        catalog,
        1,
    )
    now[0] = START + timedelta(hours=2)
    _amend(uow, patient, {**ADDRESS, "phone": "(510) 555-0134"}, nurse, catalog, 2)
    history = patient_history(uow, patient.patient_id, actor=nurse)
    assert [v.version for v in history.versions] == [3, 2, 1]
    latest, weighed, registered = history.versions
    assert registered.changes == ()
    assert (weighed.recorded_by, weighed.recorded_at) == (
        prescriber.email,
        START + timedelta(hours=1),
    )
    assert [(c.field, c.before, c.after) for c in weighed.changes] == [
        ("weight", "80 kg", "165 lb"),
        ("allergies", "—", "penicillin: rash"),
    ]
    assert {c.field: c.after for c in latest.changes} == {**ADDRESS, "phone": "(510) 555-0134"}
    assert audit_log()[-1] == "patient.history.read"
    current = get_patient(uow, patient.patient_id, actor=nurse)
    assert current.version == 3
    assert round(current.profile.weight_kg, 2) == 74.84  # 165 lb, the profile in kg
    assert current.details.weight == "165 lb"  # as typed


def test_every_problem_is_refused_at_once_and_nothing_is_written(
    uow: UnitOfWork,
    nurse: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    rows: Callable[[type[Base]], int],
) -> None:
    before = rows(PatientVersion)
    with pytest.raises(InputError) as refused:
        _amend(
            uow,
            patient,
            {
                "weight": "80 kgz",
                "blood_pressure": "high",
                "history": ["not_a_condition_anyone_has"],
                "email": "alex-at-example",
                "phone": "12",
                "address_line1": "12 Elm Street",
            },
            nurse,
            catalog,
            1,
        )
    error = refused.value
    assert isinstance(error, InputErrors)
    assert {str(e.fields.get("field")) for e in error.errors} == {
        "weight",
        "blood_pressure",
        "history",
        "email",
        "phone",
        "city",
    }
    assert "nothing was saved" in error.message
    assert rows(PatientVersion) == before
    assert get_patient(uow, patient.patient_id, actor=nurse).version == 1


def test_one_problem_keeps_its_own_code_and_the_weight_hint(
    uow: UnitOfWork, nurse: Actor, patient: PatientRecord, catalog: Catalog
) -> None:
    with pytest.raises(InputError) as refused:
        _amend(uow, patient, {"weight": "350 kg"}, nurse, catalog, 1)
    assert refused.value.code == "input.out_of_range"
    assert "lb" in refused.value.message


def test_the_front_desk_edits_the_registration_and_sees_no_clinical_change(
    uow: UnitOfWork,
    nurse: Actor,
    front_desk: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    rows: Callable[[type[Base]], int],
) -> None:
    _amend(uow, patient, {"weight": "82 kg"}, nurse, catalog, 1)
    view = _amend(
        uow,
        patient,
        {**ADDRESS, "escort_name": "Sam Example", "escort_phone": "510 555 0199"},
        front_desk,
        catalog,
        2,
    )
    assert isinstance(view, PatientSummary)
    assert view.reach["city"] == "Oakland"
    assert view.reach["escort_name"] == "Sam Example"
    after = get_patient(uow, patient.patient_id, actor=nurse)
    assert after.profile.weight_kg == 82  # the profile is the nurse's, untouched
    assert after.details.escort_phone == "510 555 0199"
    history = patient_history(uow, patient.patient_id, actor=front_desk)
    assert [v.version for v in history.versions] == [3, 1]  # version 2 changed the weight only
    shown = {c.field for v in history.versions for c in v.changes}
    assert "weight" not in shown
    assert "city" in shown
    read = read_patient(uow, patient.patient_id, actor=front_desk)
    assert isinstance(read, PatientSummary)
    assert read.reach["postal_code"] == "94607"
    before = rows(PatientVersion)
    for change in ({"allergies": ["latex"]}, {"weight": "70 kg"}, {"city": "X", "history": []}):
        with pytest.raises(PermissionDenied):
            _amend(uow, patient, change, front_desk, catalog, 3)
    assert rows(PatientVersion) == before


def test_an_address_needs_its_street_and_town_and_an_escort_phone_its_name(
    uow: UnitOfWork, front_desk: Actor, patient: PatientRecord, catalog: Catalog
) -> None:
    with pytest.raises(InputError) as refused:
        _amend(
            uow,
            patient,
            {"postal_code": "94607", "escort_phone": "510 555 0199"},
            front_desk,
            catalog,
            1,
        )
    assert isinstance(refused.value, InputErrors)
    assert {str(e.fields.get("field")) for e in refused.value.errors} == {
        "address_line1",
        "city",
        "escort_name",
    }


def test_a_weight_change_is_flagged_on_the_signed_order_which_is_not_recomputed(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
) -> None:
    order = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    unchanged = patient_overview(uow, patient.patient_id, actor=nurse, policy=POLICY)
    assert unchanged.weight_mismatches == ()
    _amend(uow, patient, {"allergies": ["latex"]}, nurse, catalog, 1)
    assert (
        patient_overview(uow, patient.patient_id, actor=nurse, policy=POLICY).weight_mismatches
        == ()
    )
    _amend(uow, patient, {"weight": "154 lb"}, nurse, catalog, 2)
    overview = patient_overview(uow, patient.patient_id, actor=nurse, policy=POLICY)
    (mismatch,) = overview.weight_mismatches
    assert (mismatch.plan_id, mismatch.planned_weight_kg, mismatch.current_weight_kg) == (
        order.plan_id,
        80.0,
        69.9,
    )
    assert (mismatch.planned_version, mismatch.current_version) == (1, 3)
    assert "not recomputed" in mismatch.message
    again = get_plan(uow, order.plan_id, actor=prescriber)
    assert again.status == "active"
    assert again.plan["dose"]["total_mg"] == order.plan["dose"]["total_mg"]
    assert again.plan["patient"]["weight_kg"] == 80.0


def _administer(uow: UnitOfWork, patient_id: int, plan_id: int, nurse: Actor, vial: str) -> None:
    receive_vials(
        uow,
        Supplier("Cardinal Health", "7000 Cardinal Pl, Dublin OH", "RC0123456", "INV-1"),
        [VialIn(vial, "0409-2051-05", "LOT-7731", START.date().replace(year=2028), 10.0, 20.0)],
        actor=nurse,
    )
    session = open_session(uow, patient_id, condition="depression", actor=nurse, policy=POLICY)
    drawn = record_draw(
        uow, vial, "4.00", plan_id=plan_id, session_id=session.session_id, actor=nurse
    )
    events = example_chart()
    stop = next(i for i, e in enumerate(events) if e["type"] == "stop")
    for seq, event in enumerate(events[: stop + 1]):
        append_session_event(
            uow, session.session_id, event, expected_seq=seq, actor=nurse, policy=POLICY
        )
    record_administration(uow, drawn.entry_id, actor=nurse, policy=POLICY)


def test_the_administration_record_shows_the_address_the_record_held_at_the_administration(
    uow: UnitOfWork,
    nurse: Actor,
    prescriber: Actor,
    front_desk: Actor,
    patient: PatientRecord,
    catalog: Catalog,
    resolver: object,
    now: list[datetime],
) -> None:
    order = signed_plan(
        uow, patient.patient_id, prescriber=prescriber, catalog=catalog, resolver=resolver
    )
    _administer(uow, patient.patient_id, order.plan_id, nurse, "K-0001")
    now[0] = START + timedelta(days=1)
    _amend(uow, patient, ADDRESS, front_desk, catalog, 1)
    now[0] = START + timedelta(days=2)
    _administer(uow, patient.patient_id, order.plan_id, nurse, "K-0002")
    now[0] = START + timedelta(days=3)
    _amend(
        uow,
        patient,
        {"address_line1": "99 Oak Avenue", "address_line2": None},
        front_desk,
        catalog,
        2,
    )
    rows = report(uow, "administrations", actor=prescriber, patient_id=patient.patient_id)
    assert [r["patient_address"] for r in rows] == [
        "no address on record",
        "12 Elm Street, Apt 4, Oakland, CA 94607, USA",
    ]
    assert not any("not kept" in str(r) for r in rows)
    assert "12 Elm Street" in to_csv(rows, dea_registration="")


def test_the_record_page_edits_show_every_error_beside_its_field(api: Api) -> None:
    nurse, front_desk = api.as_role("nurse"), api.as_role("front_desk")
    created = api.client.post(
        "/api/v1/patients",
        json={"full_name": "Robin Page", "weight": "83.7 kg", "height": "171 cm"},
        headers=nurse,
    ).json()
    url = f"/patients/{created['patient_id']}/edit"
    page = api.client.post(
        url,
        data={
            "full_name": "Robin Page",
            "weight": "83.7",
            "email": "robin",
            "phone": "1",
            "expected_version": "1",
        },
        headers=nurse,
    )
    assert page.status_code == 422
    shown = dict(re.findall(r'data-error-for="(\w+)">([^<]+)<', page.text))
    assert set(shown) >= {"weight", "email", "phone"}
    saved = api.client.post(
        url,
        data={
            "full_name": "Robin Page",
            "weight": "185 lb",
            "height": "171 cm",
            "expected_version": "1",
        },
        headers=nurse,
    )
    assert saved.status_code == 200  # the record page, after the redirect
    assert "185 lb" in saved.text
    assert 'data-field="weight"' in saved.text
    desk = api.client.get(url, headers=front_desk)
    assert desk.status_code == 200
    assert 'name="weight"' not in desk.text
    assert "185 lb" not in desk.text
    moved = api.client.post(
        url,
        data={"full_name": "Robin Page", **ADDRESS, "expected_version": "2"},
        headers=front_desk,
    )
    assert moved.status_code == 200
    assert 'id="saved"' in moved.text
    assert "Oakland" in moved.text
    assert "185 lb" not in moved.text
    versions = api.client.get(
        f"/api/v1/patients/{created['patient_id']}/versions", headers=front_desk
    ).json()
    assert [v["version"] for v in versions["versions"]] == [3, 1]
    assert (
        api.client.get(f"/api/v1/patients/{created['patient_id']}", headers=front_desk).json()[
            "city"
        ]
        == "Oakland"
    )


def test_the_record_page_and_the_order_say_the_weight_changed_after_signing(api: Api) -> None:
    nurse, prescriber = api.as_role("nurse"), api.as_role("prescriber")
    created = api.client.post(
        "/api/v1/patients",
        json={"full_name": "Casey Weigh", "weight": "80 kg", "height": "175 cm", "sex": "male"},
        headers=nurse,
    ).json()
    pid = created["patient_id"]
    plan = api.client.post(
        f"/api/v1/patients/{pid}/plans", json={"condition": "depression"}, headers=nurse
    ).json()
    signed = api.client.post(
        f"/api/v1/plans/{plan['plan_id']}/sign", json={"password": PASSWORD}, headers=prescriber
    )
    assert signed.status_code == 200, signed.text
    order_page = api.client.get(f"/plans/{plan['plan_id']}", headers=prescriber).text
    assert 'id="weight-changed"' not in order_page
    amended = api.client.patch(
        f"/api/v1/patients/{pid}", json={"weight": "70 kg", "expected_version": 1}, headers=nurse
    )
    assert amended.status_code == 200, amended.text
    record_page = api.client.get(f"/patients/{pid}", headers=nurse).text
    assert f'data-weight-mismatch="{plan["plan_id"]}"' in record_page
    order_page = api.client.get(f"/plans/{plan['plan_id']}", headers=prescriber).text
    assert 'id="weight-changed"' in order_page
    assert "80 kg" in order_page
    assert "70 kg" in order_page
    after = api.client.get(f"/api/v1/plans/{plan['plan_id']}", headers=prescriber).json()
    assert after["plan"]["dose"]["total_mg"] == plan["plan"]["dose"]["total_mg"]
