"""The personalised starting dose: modifiers, range bounds, the explanation, the limits."""

from __future__ import annotations

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import Plan, PlanRequest, make_plan
from ketaplan.clinical.profile import build_profile
from ketaplan.errors import HardLimitExceeded, OverrideRequired

POLICY = load_policy()


def _plan(
    catalog: Catalog,
    resolver: MedicationResolver,
    condition: str = "depression",
    mg_per_kg: float | None = None,
    reason: str | None = None,
    prescriber: str | None = None,
    **profile: object,
) -> Plan:
    built = build_profile(catalog, **{"weight": "70 kg", **profile})  # type: ignore[arg-type]
    return make_plan(
        PlanRequest(condition, built, mg_per_kg, reason, prescriber),
        POLICY,
        resolver,
    )


def rules(plan: Plan) -> list[str]:
    return [s.rule for s in plan.dose.explanation]


def test_the_standard_mood_dose_is_half_a_milligram_per_kilogram_over_forty_minutes(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    plan = _plan(catalog, resolver)
    assert plan.dose.mg_per_kg == 0.5
    assert plan.dose.total_mg == 35.0
    assert plan.dose.duration_min == 40
    assert plan.dose.rate_mg_per_kg_per_h == pytest.approx(0.75)
    assert rules(plan)[:2] == ["dosing_weight", "protocol.start"]


def test_every_explanation_step_says_why_and_cites_a_source(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    plan = _plan(catalog, resolver, sensitivity="high", medications=["oxycodone"], age_years=70)
    for step in plan.dose.explanation:
        assert step.reason
        assert step.source


def test_sensitivity_and_preference_lower_the_mood_dose_but_not_below_the_range(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    plan = _plan(
        catalog,
        resolver,
        sensitivity="high",
        preference="lowest_effective",
        medications=["oxycodone"],
        age_years=70,
    )
    low = catalog.protocol("depression").range_mg_per_kg[0]
    assert plan.dose.mg_per_kg == low
    assert "range.minimum" in rules(plan)
    assert plan.override is None


def test_severe_pain_starts_higher_and_mild_pain_lower(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    start = catalog.protocol("fibromyalgia").start_mg_per_kg
    severe = _plan(catalog, resolver, "fibromyalgia", severity="severe")
    mild = _plan(catalog, resolver, "fibromyalgia", severity="mild")
    assert mild.dose.mg_per_kg < start < severe.dose.mg_per_kg


def test_severe_depression_is_not_raised_because_mood_aims_for_the_lowest_effective_dose(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    plan = _plan(catalog, resolver, severity="severe")
    assert plan.dose.mg_per_kg == 0.5
    assert "modifier.severity.severe_mood" in rules(plan)


def test_prior_ketamine_experience_starts_higher(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    assert _plan(catalog, resolver, experience="prior_ketamine").dose.mg_per_kg == 0.55


def test_a_requested_dose_inside_the_range_needs_no_override(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    plan = _plan(catalog, resolver, mg_per_kg=0.6)
    assert plan.dose.mg_per_kg == 0.6
    assert plan.dose.personalised_mg_per_kg == 0.5
    assert rules(plan)[-2] == "prescriber.request"
    assert plan.override is None


def test_a_requested_dose_above_the_soft_limit_needs_a_reason_and_a_prescriber(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    with pytest.raises(OverrideRequired, match=r"above the soft maximum 0\.75") as caught:
        _plan(catalog, resolver, mg_per_kg=0.9)
    assert "Give an override reason and the prescriber's name to proceed" in caught.value.message
    assert "--" not in caught.value.message  # the domain names no entry point's flags or fields
    assert caught.value.fields["missing"] == ["reason", "prescriber"]
    with pytest.raises(OverrideRequired, match=r"Give the prescriber's name to proceed$"):
        _plan(catalog, resolver, mg_per_kg=0.9, reason="partial response at 0.75")
    plan = _plan(
        catalog,
        resolver,
        mg_per_kg=0.9,
        reason="partial response at 0.75",
        prescriber="Dr A. Rivera",
    )
    assert plan.override is not None
    assert plan.override.limits == ("mg_per_kg", "rate_mg_per_kg_per_h")
    assert plan.override.prescriber == "Dr A. Rivera"


def test_a_dose_above_a_hard_limit_is_refused_even_with_an_override(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    with pytest.raises(HardLimitExceeded, match="hard maximum 1"):
        _plan(catalog, resolver, mg_per_kg=1.2, reason="x", prescriber="Dr B")


def test_a_very_heavy_patient_hits_the_total_mg_soft_limit(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    with pytest.raises(OverrideRequired, match="total_mg 125 mg is above the soft maximum 100"):
        _plan(catalog, resolver, weight="250 kg")


def test_the_crps_regimen_runs_at_the_published_rate_for_four_hours(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    plan = _plan(catalog, resolver, "crps")
    assert plan.dose.duration_min == 240
    assert plan.dose.rate_mg_per_kg_per_h == pytest.approx(0.35)
    assert plan.protocol.monitoring == "anaesthesia_provider"
