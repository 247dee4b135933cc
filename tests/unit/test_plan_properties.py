"""Properties of every plan: the numbers a nurse acts on, for any valid input."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import Catalog, load_catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.dosing import rate_cap_mg_per_kg
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan, plan_to_dict
from ketaplan.clinical.profile import build_profile
from ketaplan.errors import InputError, SafetyLimitError
from ketaplan.units import KG_PER_LB

POLICY = load_policy()

CATALOG = load_catalog()
CONDITIONS = sorted(CATALOG.protocols)
MEDS = [
    "Xanax",
    "oxycodone",
    "Lamictal",
    "Nardil",
    "Benadryl",
    "sertraline",
    "Adderall",
    "phenobarbital",
    "unknownium",
]

profiles = st.fixed_dictionaries(
    {
        "weight": st.decimals(min_value="35", max_value="200", places=1).map(lambda d: f"{d} kg"),
        "age_years": st.integers(min_value=18, max_value=95),
        "sex": st.sampled_from(["female", "male"]),
        "sensitivity": st.sampled_from(["normal", "high", "low"]),
        "experience": st.sampled_from(["naive", "prior_ketamine", "prior_psychedelic"]),
        "severity": st.sampled_from(["mild", "moderate", "severe"]),
        "preference": st.sampled_from(["standard", "lowest_effective"]),
        "medications": st.lists(st.sampled_from(MEDS), max_size=3),
    }
)
fast = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@fast
@given(condition=st.sampled_from(CONDITIONS), profile=profiles)
def test_total_mg_is_mg_per_kg_times_the_dosing_weight(
    resolver: MedicationResolver, condition: str, profile: dict[str, object]
) -> None:
    plan = _try_plan(resolver, condition, profile)
    # Rounded half up to 0.1 mg: never more than half a step away.
    exact_mg = plan.dose.mg_per_kg * plan.dose.dosing_weight_kg
    assert abs(plan.dose.total_mg - exact_mg) <= 0.05 + 1e-9


@fast
@given(condition=st.sampled_from(CONDITIONS), profile=profiles)
def test_the_pump_delivers_the_ordered_dose_within_one_percent(
    resolver: MedicationResolver, condition: str, profile: dict[str, object]
) -> None:
    prep = _try_plan(resolver, condition, profile).preparation
    pumped_mg = prep.pump_rate_ml_per_h * prep.duration_min / 60 * prep.final_mg_per_ml
    assert pumped_mg == pytest.approx(prep.delivered_mg, rel=0.01)
    assert prep.delivered_mg <= prep.ordered_mg * 1.01 + 1e-9
    assert prep.delivered_mg >= prep.ordered_mg * 0.95 - 1e-9
    assert prep.pump_rate_ml_per_h == round(prep.pump_rate_ml_per_h, 1)
    assert prep.final_mg_per_ml < prep.vial_mg_per_ml


@fast
@given(
    condition=st.sampled_from(CONDITIONS),
    profile=profiles,
    requested=st.one_of(st.none(), st.floats(min_value=0.01, max_value=5.0)),
    override=st.booleans(),
)
def test_no_input_yields_a_dose_outside_the_protocol_range_without_an_override(
    resolver: MedicationResolver,
    condition: str,
    profile: dict[str, object],
    requested: float | None,
    override: bool,
) -> None:
    built = build_profile(CATALOG, **profile)  # type: ignore[arg-type]
    request = PlanRequest(
        condition,
        built,
        requested,
        "clinical reason" if override else None,
        "Dr Test" if override else None,
    )
    try:
        plan = make_plan(request, POLICY, resolver)
    except (SafetyLimitError, InputError):
        return
    low, high = plan.protocol.range_mg_per_kg
    # A rate cap (CRPS: 25 mg/h, Schwartzman 2009) may take the dose below the range at a
    # heavy weight: the cap, not the range, is then the protocol's dose.
    cap = rate_cap_mg_per_kg(plan.protocol, plan.dose.dosing_weight_kg)
    if plan.override is None:
        assert min(low, cap if cap is not None else low) <= plan.dose.mg_per_kg <= high
        if plan.protocol.max_rate_mg_per_h is not None:
            assert plan.dose.rate_mg_per_h <= plan.protocol.max_rate_mg_per_h + 1e-9
    limits = plan.protocol.limits
    assert limits.hard_min_mg_per_kg <= plan.dose.mg_per_kg <= limits.hard_max_mg_per_kg
    assert plan.dose.total_mg <= limits.hard_max_total_mg


@fast
@given(
    condition=st.sampled_from(CONDITIONS),
    pounds=st.decimals(min_value="70", max_value="440", places=1),
    profile=profiles,
)
def test_the_same_mass_in_pounds_and_kilograms_gives_the_same_plan(
    resolver: MedicationResolver, condition: str, pounds: Decimal, profile: dict[str, object]
) -> None:
    kilograms = float(pounds) * KG_PER_LB
    in_lb = {**profile, "weight": f"{pounds} lb"}
    in_kg = {**profile, "weight": f"{kilograms!r} kg"}
    try:
        a = plan_to_dict(_plan(resolver, condition, in_lb))
    except (SafetyLimitError, InputError) as error:
        with pytest.raises(type(error)):
            _plan(resolver, condition, in_kg)
        return
    b = plan_to_dict(_plan(resolver, condition, in_kg))
    assert a == b


def _plan(resolver: MedicationResolver, condition: str, profile: dict[str, object]):  # type: ignore[no-untyped-def]
    built = build_profile(CATALOG, **profile)  # type: ignore[arg-type]
    return make_plan(PlanRequest(condition, built), POLICY, resolver)


def _try_plan(resolver: MedicationResolver, condition: str, profile: dict[str, object]):  # type: ignore[no-untyped-def]
    try:
        return _plan(resolver, condition, profile)
    except SafetyLimitError:
        assume(False)
        raise


def test_the_catalog_used_by_the_properties_is_the_default_one(catalog: Catalog) -> None:
    assert catalog is CATALOG
