"""The record's checks without a database: every profile problem at once, in
:func:`~ketaplan.clinical.profile.build_profile`'s words; the address, contacts and escort."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.profile import build_profile, profile_problems
from ketaplan.errors import InputError
from ketaplan.services.patient_contacts import address_line, contact_problems


def test_every_profile_problem_is_found_not_only_the_first(catalog: Catalog) -> None:
    problems = profile_problems(
        catalog,
        weight="80 kgz",
        height="175 cm",
        sex="male",
        pregnant=True,
        history=["no_such_condition_at_all"],
        alcohol="daily",
        blood_pressure="high",
        heart_rate="fast",
    )
    fields = [p.fields["field"] for p in problems]
    assert sorted(fields) == sorted(
        ["weight", "sex", "history", "alcohol", "blood_pressure", "heart_rate"]
    )


def test_the_bmi_is_checked_only_when_weight_and_height_both_read(catalog: Catalog) -> None:
    (implausible,) = profile_problems(catalog, weight="180 kg", height="5 ft 9 in")
    assert implausible.code == "input.implausible_weight"
    (unreadable,) = profile_problems(catalog, weight="180", height="5 ft 9 in")
    assert unreadable.fields["field"] == "weight"


TYPED = st.fixed_dictionaries(
    {
        "weight": st.sampled_from(["80 kg", "176 lb", "350 kg", "80", "12 st 8 lb", "20 kg"]),
        "height": st.sampled_from([None, "175 cm", "5 ft 9 in", "9 ft", "175"]),
        "sex": st.sampled_from([None, "female", "male", "robot"]),
        "pregnant": st.booleans(),
        "blood_pressure": st.sampled_from([None, "128/82", "high", "400/20"]),
        "alcohol": st.sampled_from([None, "none", "heavy", "daily"]),
    }
)


@settings(max_examples=60, deadline=None)
@given(typed=TYPED)
def test_no_problem_found_means_the_profile_builds_and_each_is_build_profiles(
    typed: dict[str, Any],
) -> None:
    from ketaplan.clinical.catalog import load_catalog

    catalog = load_catalog()
    problems = profile_problems(catalog, **typed)
    if not problems:
        build_profile(catalog, **typed)
        return
    with pytest.raises(InputError) as refused:
        build_profile(catalog, **typed)
    for problem in problems:
        assert problem.message in refused.value.message


def test_contacts_are_checked_together_and_an_address_needs_street_and_town() -> None:
    problems = contact_problems(
        {"phone": "12", "email": "alex@", "postal_code": "9460#", "escort_phone": "555 0199 123"}
    )
    assert sorted(p.fields["field"] for p in problems) == [
        "address_line1",
        "city",
        "email",
        "escort_name",
        "phone",
        "postal_code",
    ]
    assert (
        contact_problems(
            {
                "address_line1": "12 Elm Street",
                "city": "Oakland",
                "phone": "+1 (510) 555-0134 ext 12",
                "email": "alex@example.org",
                "escort_name": "Sam",
                "escort_phone": "510.555.0199",
            }
        )
        == []
    )


def test_an_address_reads_on_one_line_or_is_none() -> None:
    assert address_line({"address_line1": " 12 Elm St ", "city": "Oakland", "region": "CA"}) == (
        "12 Elm St, Oakland, CA"
    )
    assert address_line({"weight": "80 kg"}) is None
