"""Who may do what, decided by the services before they touch the store.

The in-memory unit of work (``memory_uow``, see ``conftest.py``) has no database: a refusal
must come with no transaction opened and nothing committed, and a permitted action is seen
going on to the store (``StoreReached``). The service tier checks the same refusals against
real databases from every entry point (``tests/security/test_front_desk.py``); here every
combination of role and patient field is covered without one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import InputError, PermissionDenied
from ketaplan.services import PlanOrder, add_user, create_plan, get_patient
from ketaplan.services.actors import ROLES, Actor, Role
from ketaplan.services.patients import PATIENT_FIELDS, amend_patient
from ketaplan.services.plans import PROPOSING_ROLES
from ketaplan.services.staff import list_staff, reset_password
from ketaplan.services.visibility import CLINICAL_ROLES, REGISTRATION_FIELDS

# A value of the right type for each field: what the front desk may name does not depend on
# the value (naming a clinical field is refused whatever it holds).
FIELD_VALUES: dict[str, Any] = {
    "full_name": "Alex Example",
    "weight": "80 kg",
    "height": "175 cm",
    "date_of_birth": date(1984, 5, 1),
    "age_years": 42,
    "sex": "female",
    "pregnant": False,
    "breastfeeding": False,
    "history": ["depression"],
    "medications": ["sertraline"],
    "alcohol": "none",
    "sensitivity": "normal",
    "experience": "none",
    "severity": "moderate",
    "preference": "none",
    "blood_pressure": "120/80",
    "heart_rate": "70",
    "confirm_weight": True,
    "allergies": ["penicillin: rash"],
    "address_line1": "12 Elm Street",
    "address_line2": "Apt 4",
    "city": "Oakland",
    "region": "CA",
    "postal_code": "94607",
    "country": "USA",
    "phone": "(510) 555-0134",
    "email": "alex@example.org",
    "escort_name": "Sam Example",
    "escort_phone": "510 555 0199",
}


def member(role: Role) -> Actor:
    """A member of staff of clinic 1 (no account behind it: there is no store)."""
    return Actor(user_id=7, clinic_id=1, email=f"{role}@bay.example", name="Robin Diaz", role=role)


def test_every_patient_field_has_a_value_here() -> None:
    assert set(FIELD_VALUES) == PATIENT_FIELDS


@given(
    role=st.sampled_from(ROLES),
    named=st.sets(st.sampled_from(sorted(PATIENT_FIELDS)), min_size=1),
)
def test_a_change_naming_a_clinical_field_is_refused_to_the_front_desk_before_the_store(
    memory_uow: Any, role: Role, named: set[str]
) -> None:
    uow = memory_uow()
    changes = {name: FIELD_VALUES[name] for name in named}
    clinical = sorted(named - REGISTRATION_FIELDS)
    if role not in CLINICAL_ROLES and clinical:
        with pytest.raises(PermissionDenied) as refused:
            amend_patient(uow, 1, changes, expected_version=1, actor=member(role), catalog=None)  # type: ignore[arg-type]
        assert refused.value.code == "permission.clinical_fields"
        assert refused.value.fields["refused"] == clinical
        assert uow.opened == []
    else:
        # Clinical staff, or the front desk naming registration fields only: on to the store.
        with pytest.raises(uow.StoreReached):
            amend_patient(uow, 1, changes, expected_version=1, actor=member(role), catalog=None)  # type: ignore[arg-type]
        assert uow.opened == ["write"]
    assert uow.committed == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("changes", "code"),
    [({}, "input.nothing_to_change"), ({"shoe_size": "9"}, "input.unknown_field")],
)
def test_a_change_naming_nothing_or_no_patient_field_is_refused_for_every_role(
    memory_uow: Any, role: Role, changes: dict[str, Any], code: str
) -> None:
    uow = memory_uow()
    with pytest.raises(InputError) as refused:
        amend_patient(uow, 1, changes, expected_version=1, actor=member(role), catalog=None)  # type: ignore[arg-type]
    assert refused.value.code == code
    assert (uow.opened, uow.committed) == ([], [])


@pytest.mark.parametrize("role", ROLES)
def test_only_clinical_staff_read_a_patients_whole_record(memory_uow: Any, role: Role) -> None:
    uow = memory_uow()
    if role in CLINICAL_ROLES:
        with pytest.raises(uow.StoreReached):
            get_patient(uow, 1, actor=member(role))
        assert uow.opened == ["read"]
    else:
        with pytest.raises(PermissionDenied) as refused:
            get_patient(uow, 1, actor=member(role))
        assert refused.value.code == "permission.clinical_facts"
        assert uow.opened == []
    assert uow.committed == []  # not even the read's audit row: nothing was read


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "staff_task",
    [
        pytest.param(lambda uow, actor: list_staff(uow, actor=actor), id="list staff"),
        pytest.param(
            lambda uow, actor: add_user(uow, email="new@bay.example", role="nurse", actor=actor),
            id="add a user",
        ),
        pytest.param(
            lambda uow, actor: reset_password(uow, 3, "a long new passphrase", actor=actor),
            id="reset a password",
        ),
    ],
)
def test_staff_are_managed_by_the_admin_alone(memory_uow: Any, role: Role, staff_task: Any) -> None:
    uow = memory_uow()
    if role == "admin":
        with pytest.raises(uow.StoreReached):
            staff_task(uow, member(role))
    else:
        with pytest.raises(PermissionDenied) as refused:
            staff_task(uow, member(role))
        assert refused.value.fields == {"role": role, "allowed": ["admin"]}
        assert uow.opened == []
    assert uow.committed == []


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("override_reason", [None, "weight-based dose tolerated before"])
def test_an_order_is_proposed_by_a_prescriber_or_nurse_and_a_limit_overridden_by_a_prescriber(
    memory_uow: Any, policy: ClinicPolicy, role: Role, override_reason: str | None
) -> None:
    uow = memory_uow()
    order = PlanOrder("depression", 0.75 if override_reason else None, override_reason)
    allowed = role == "prescriber" or (role in PROPOSING_ROLES and override_reason is None)

    def propose() -> object:
        # No resolver: a refusal comes before any medicine is looked up.
        return create_plan(uow, 1, order, actor=member(role), policy=policy, resolver=None)  # type: ignore[arg-type]

    if allowed:
        with pytest.raises(uow.StoreReached):
            propose()
        assert uow.opened == ["write"]
    else:
        with pytest.raises(PermissionDenied) as refused:
            propose()
        assert refused.value.fields["role"] == role
        assert uow.opened == []
    assert uow.committed == []
