"""Screening: contraindications block, relative ones and interactions caution, all explained."""

from __future__ import annotations

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.profile import build_profile
from ketaplan.clinical.screening import Eligibility, screen

RULES = load_monitoring_rules()


def _screen(
    catalog: Catalog, resolver: MedicationResolver, condition: str = "depression", **profile: object
) -> Eligibility:
    built = build_profile(catalog, **{"weight": "70 kg", "height": "170 cm", **profile})  # type: ignore[arg-type]
    return screen(built, catalog.protocol(condition), catalog, resolver, RULES)


def codes(eligibility: Eligibility) -> set[str]:
    return {f.code for f in eligibility.findings}


def test_a_patient_with_nothing_to_report_is_eligible(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    result = _screen(catalog, resolver, age_years=40)
    assert result.status == "eligible"
    assert all(f.severity == "info" for f in result.findings)


@pytest.mark.parametrize(
    "term",
    [
        "uncontrolled_hypertension",
        "stroke",
        "intracerebral_haemorrhage",
        "aneurysm_or_avm",
        "severe_liver_disease",
        "schizophrenia",
        "psychosis",
        "mania",
        "raised_intracranial_pressure",
        "hypersensitivity_to_ketamine",
        "active_substance_misuse",
    ],
)
def test_an_absolute_contraindication_blocks(
    catalog: Catalog, resolver: MedicationResolver, term: str
) -> None:
    result = _screen(catalog, resolver, history=[term])
    assert result.status == "contraindicated"
    finding = next(f for f in result.findings if f.code == f"contraindication.{term}")
    assert finding.severity == "block"
    assert finding.message
    assert finding.source


@pytest.mark.parametrize(
    "term",
    [
        "controlled_hypertension",
        "coronary_artery_disease",
        "heart_failure",
        "moderate_liver_disease",
        "substance_use_disorder",
        "raised_intraocular_pressure",
    ],
)
def test_a_relative_contraindication_cautions(
    catalog: Catalog, resolver: MedicationResolver, term: str
) -> None:
    result = _screen(catalog, resolver, history=[term])
    assert result.status == "caution"
    assert f"contraindication.{term}" in codes(result)


def test_pregnancy_and_breastfeeding_block(catalog: Catalog, resolver: MedicationResolver) -> None:
    assert "contraindication.pregnancy" in codes(_screen(catalog, resolver, pregnant=True))
    nursing = _screen(catalog, resolver, breastfeeding=True)
    assert nursing.status == "contraindicated"
    assert "contraindication.breastfeeding" in codes(nursing)


def test_each_interaction_class_gets_one_finding_naming_the_medications(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    result = _screen(catalog, resolver, medications=["Xanax", "Ativan 1 mg", "Norco"])
    benzo = [f for f in result.findings if f.code == "interaction.benzodiazepine"]
    assert len(benzo) == 1
    assert "Xanax" in benzo[0].message
    assert "Ativan 1 mg" in benzo[0].message
    assert "interaction.opioid" in codes(result)
    assert result.status == "caution"


def test_an_unresolved_medication_is_a_caution_never_ignored(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    result = _screen(catalog, resolver, medications=["mystery pill"])
    finding = next(f for f in result.findings if f.code == "interaction.unknown_medication")
    assert finding.severity == "caution"
    assert "mystery pill" in finding.message


def test_heavy_alcohol_use_is_an_interaction(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    assert "interaction.alcohol" in codes(_screen(catalog, resolver, alcohol="heavy"))
    assert "interaction.alcohol" not in codes(_screen(catalog, resolver, alcohol="occasional"))


@pytest.mark.parametrize(
    ("bp", "code", "severity"),
    [
        ("150/85", "vitals.pre_bp_caution_systolic", "caution"),
        ("185/100", "vitals.pre_sbp_hold", "block"),
    ],
)
def test_pre_infusion_blood_pressure_is_screened(
    catalog: Catalog, resolver: MedicationResolver, bp: str, code: str, severity: str
) -> None:
    finding = next(
        f for f in _screen(catalog, resolver, blood_pressure=bp).findings if f.code == code
    )
    assert finding.severity == severity


def test_minors_are_blocked_and_older_adults_flagged(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    assert "patient.age_under_18" in codes(_screen(catalog, resolver, age_years=16))
    assert "patient.older_adult" in codes(_screen(catalog, resolver, age_years=70))


def test_high_dose_pain_protocols_name_the_anaesthesia_provider(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    assert "monitoring.anaesthesia_provider" in codes(_screen(catalog, resolver, "crps"))


def test_findings_are_ordered_worst_first(catalog: Catalog, resolver: MedicationResolver) -> None:
    result = _screen(
        catalog, resolver, history=["controlled_hypertension", "stroke"], medications=["Xanax"]
    )
    ranks = {"block": 2, "caution": 1, "info": 0}
    severities = [ranks[f.severity] for f in result.findings]
    assert severities == sorted(severities, reverse=True)


@pytest.mark.parametrize(
    ("medication", "code"),
    [
        ("Tylenol #3", "interaction.opioid"),
        ("Mucinex D", "interaction.stimulant"),
        ("Xanax, Norco", "interaction.opioid"),
        ("sertraline and Percocet", "interaction.opioid"),
        ("ibuprofen PM", "interaction.unrecognised_text"),
        ("sertraline and percoset", "interaction.unrecognised_text"),
    ],
)
def test_a_suffix_or_second_name_is_never_screened_as_eligible(
    catalog: Catalog, resolver: MedicationResolver, medication: str, code: str
) -> None:
    result = _screen(catalog, resolver, age_years=40, medications=[medication])
    assert result.status == "caution"
    assert code in codes(result)


def test_the_unrecognised_text_caution_names_the_word_and_what_it_may_add(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    result = _screen(catalog, resolver, age_years=40, medications=["ibuprofen PM"])
    finding = next(f for f in result.findings if f.code == "interaction.unrecognised_text")
    assert "'pm'" in finding.message
    assert "ibuprofen" in finding.message
    assert "diphenhydramine" in finding.message


def test_glycopyrrolate_is_information_only(catalog: Catalog, resolver: MedicationResolver) -> None:
    """A quaternary anticholinergic does not cross the blood-brain barrier: noted, not cautioned."""
    result = _screen(catalog, resolver, age_years=40, medications=["glycopyrrolate 1 mg bid"])
    assert result.status == "eligible"
    assert "interaction.peripheral_anticholinergic" in codes(result)
