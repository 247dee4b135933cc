"""Screening: contraindications block, relative ones and interactions caution, all explained."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.clinical.catalog import Catalog, load_catalog
from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.monitoring import with_thresholds
from ketaplan.clinical.profile import build_profile
from ketaplan.clinical.screening import Eligibility, screen, verdict
from ketaplan.errors import InputError

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


# --- The screening vocabulary (issue 13, item 6) -------------------------------------------
#
# Each row: what a clinician types, the vocabulary term it is, the severity, the source key and
# a phrase that source's catalog text must contain (so the cited source is the one that says
# it). Sources: ketamine_smpc = UK Ketalar SmPC (Pfizer 2019) and the German/Swiss ketamine and
# esketamine injection labels; spravato_eu_leaflet = Spravato EU package leaflet, section 2; spravato_warnings =
# Spravato US prescribing information, section 5; ketalar_warnings = Ketalar US prescribing
# information; oxford_ketamine = Oxford Health NHS ketamine service; miller_anesthesia =
# Miller's Anesthesia; rcoa_esafe = RCoA e-Learning Anaesthesia; pt_esketamine_2019 = P&T 2019
# esketamine review, Table 2; clinic_policy where none of them names the condition.
NEW_TERMS = [
    ("thyrotoxicosis", "uncontrolled_hyperthyroidism", "block", "ketamine_smpc", "hyperthyroidism"),
    ("Graves' disease", "hyperthyroidism", "caution", "ketamine_smpc", "hyperthyroidism"),
    ("pheochromocytoma", "phaeochromocytoma", "block", "ketamine_smpc", "rise in blood pressure"),
    (
        "recent MI",
        "recent_myocardial_infarction",
        "block",
        "ketamine_smpc",
        "myocardial infarction",
    ),
    (
        "unstable angina",
        "recent_myocardial_infarction",
        "block",
        "ketamine_smpc",
        "unstable angina",
    ),
    (
        "AFib with RVR",
        "uncontrolled_arrhythmia",
        "block",
        "spravato_eu_leaflet",
        "slow or fast heartbeats",
    ),
    ("AFib", "arrhythmia", "caution", "spravato_eu_leaflet", "heartbeats"),
    ("SVT", "arrhythmia", "caution", "spravato_eu_leaflet", "heartbeats"),
    ("TIA", "transient_ischaemic_attack", "block", "ketamine_smpc", "cerebrovascular accident"),
    ("PAH", "pulmonary_hypertension", "caution", "clinic_policy", "clinic policy"),
    ("epilepsy", "seizure_disorder", "caution", "oxford_ketamine", "epilepsy"),
    ("recent seizure", "uncontrolled_epilepsy", "block", "oxford_ketamine", "epilepsy"),
    (
        "OSA",
        "obstructive_sleep_apnoea",
        "caution",
        "spravato_eu_leaflet",
        "sleep apnoea with extreme overweight",
    ),
    (
        "sleep apnea",
        "obstructive_sleep_apnoea",
        "caution",
        "spravato_eu_leaflet",
        "sleep apnoea with extreme overweight",
    ),
    ("COPD", "copd", "caution", "spravato_eu_leaflet", "COPD"),
    ("emphysema", "copd", "caution", "spravato_eu_leaflet", "pulmonary insufficiency"),
    ("asthma", "asthma", "caution", "pt_esketamine_2019", "asthma"),
    ("acute intermittent porphyria", "porphyria", "caution", "rcoa_esafe", "porphyria"),
    ("ketamine cystitis", "ketamine_cystitis", "block", "ketalar_warnings", "genitourinary"),
    ("interstitial cystitis", "interstitial_cystitis", "caution", "spravato_warnings", "cystitis"),
    ("Alzheimer's disease", "dementia", "caution", "spravato_warnings", "cognitive impairment"),
    ("delirium", "delirium", "block", "miller_anesthesia", "delirium"),
    ("cerebral trauma", "recent_head_injury", "block", "ketamine_smpc", "cerebral trauma"),
    ("TBI", "traumatic_brain_injury", "caution", "spravato_eu_leaflet", "pressure in the brain"),
    ("IIH", "raised_intracranial_pressure", "block", "reference_screening", "REFERENCE.md"),
    (
        "ocular hypertension",
        "raised_intraocular_pressure",
        "caution",
        "reference_screening",
        "REFERENCE.md",
    ),
]


@pytest.mark.parametrize(("typed", "term", "severity", "source", "says"), NEW_TERMS)
def test_each_new_condition_has_its_severity_and_a_source_that_names_it(
    catalog: Catalog,
    resolver: MedicationResolver,
    typed: str,
    term: str,
    severity: str,
    source: str,
    says: str,
) -> None:
    result = _screen(catalog, resolver, history=[typed])
    finding = next(f for f in result.findings if f.code == f"contraindication.{term}")
    assert finding.severity == severity
    assert finding.source == catalog.cite(source)
    assert says in catalog.sources[source]
    assert result.status == ("contraindicated" if severity == "block" else "caution")


@pytest.mark.parametrize(
    ("typed", "term"),
    [
        ("MI", "coronary_artery_disease"),
        ("prior MI", "coronary_artery_disease"),
        ("history of stroke", "stroke"),  # a synonym in the catalog
        ("history of TIA", "transient_ischaemic_attack"),
        ("mini-stroke", "transient_ischaemic_attack"),
        ("A-fib", "arrhythmia"),
        ("atrial fibrillation", "arrhythmia"),
        ("obstructive sleep apnoea", "obstructive_sleep_apnoea"),
        ("Phaeochromocytoma", "phaeochromocytoma"),
        ("intracerebral hemorrhage", "intracerebral_haemorrhage"),
        ("ischaemic heart disease", "coronary_artery_disease"),
        ("Chronic Obstructive Pulmonary Disease", "copd"),
        ("HTN", "controlled_hypertension"),
        ("brain tumour", "raised_intracranial_pressure"),
        ("hypertension, uncontrolled", "uncontrolled_hypertension"),  # words in another order
        ("Hyperthyroidism (uncontrolled)", "uncontrolled_hyperthyroidism"),
    ],
)
def test_abbreviations_synonyms_and_spellings_name_the_term(
    catalog: Catalog, typed: str, term: str
) -> None:
    assert catalog.history_term(typed).term == term


UNRELATED = [
    "hypotension",  # two slips from hypertension, and its opposite
    "hypothyroidism",  # two slips from hyperthyroidism, and its opposite
    "hypothyroid",
    "hypoglycaemia",
    "prognosis",
    "neurosis",
    "psoriasis",
    "kyphosis",
    "scoliosis",
    "sinusitis",
    "cystitis",  # a urinary infection is not interstitial or ketamine cystitis
    "urinary tract infection",
    "heat stroke",
    "sunstroke",
    "stroke volume",
    "nursing home",
    "Ludwig's angina",
    "pregnancy test",
    "urgency",
    "regency",
    "tic",
    "tics",
    "mitosis",
    "anemia",
    "arthritis",
    "diabetes",
    "gout",
    "insomnia",
    "eczema",
    "tinnitus",
    "migraine",
    "hypokalaemia",
    "no psychosis",
    "denies mania",
    "family history of schizophrenia",
    "mother had a stroke",
    "pregnancy negative",
]


@pytest.mark.parametrize("typed", UNRELATED)
def test_an_unrelated_or_negated_entry_is_refused_without_suggesting_a_contraindication(
    catalog: Catalog, typed: str
) -> None:
    with pytest.raises(InputError) as refused:
        catalog.history_term(typed)
    assert refused.value.code == "input.unknown_history_term"
    assert refused.value.fields["suggestions"] == []
    assert "did you mean" not in str(refused.value)


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("psycosis", "psychosis"),
        ("pyschosis", "psychosis"),
        ("schizophernia", "schizophrenia"),
        ("pregnacy", "pregnancy"),
        ("arrythmia", "arrhythmia"),
        ("delerium", "delirium"),
        ("epilespy", "seizure_disorder"),
        ("glaucomma", "raised_intraocular_pressure"),
        ("hyperthyriodism", "hyperthyroidism"),
        ("uncontroled hypertention", "uncontrolled_hypertension"),
        ("mild asthma since childhood", "asthma"),  # a synonym inside, qualifiers around it
        ("TIA 2019", "transient_ischaemic_attack"),
        ("Hx of asthma", "asthma"),
        ("history of pregnancy", "pregnancy"),  # a past pregnancy is not pregnancy: asked
    ],
)
def test_a_slip_or_a_qualified_synonym_is_suggested_never_accepted(
    catalog: Catalog, typed: str, suggested: str
) -> None:
    with pytest.raises(InputError) as refused:
        catalog.history_term(typed)
    assert refused.value.fields["suggestions"] == [suggested]


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [
        ("untreated Graves", ["uncontrolled_hyperthyroidism", "hyperthyroidism"]),
        ("unstable AF", ["uncontrolled_arrhythmia", "arrhythmia"]),
        ("active seizures", ["uncontrolled_epilepsy", "seizure_disorder"]),
        ("poorly controlled asthma", ["asthma"]),
    ],
)
def test_a_suggestion_never_plays_down_an_uncontrolled_or_recent_condition(
    catalog: Catalog, typed: str, suggested: list[str]
) -> None:
    with pytest.raises(InputError) as refused:
        catalog.history_term(typed)
    assert refused.value.fields["suggestions"] == suggested


def test_a_negated_entry_says_why_it_was_refused(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="negation or a relative's history"):
        catalog.history_term("no history of psychosis")


def _named_or_suggested(catalog: Catalog, typed: str) -> list[str]:
    try:
        return [catalog.history_term(typed).term]
    except InputError as refused:
        return list(refused.fields["suggestions"])


@given(
    entry=st.sampled_from(
        sorted(
            {(k, t) for t, c in load_catalog().contraindications.items() for k in (t, *c.synonyms)}
        )
    ),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    joiner=st.sampled_from(["_", " ", "-", "  "]),
    prefix=st.sampled_from(["history of ", "Hx of ", "prior ", "known "]),
)
def test_every_term_and_synonym_is_recognised_however_it_is_typed(
    entry: tuple[str, str], case: Callable[[str], str], joiner: str, prefix: str
) -> None:
    """Property: a vocabulary word, in any case, with spaces or hyphens, or in the other
    spelling (ae/oe), names its own term; after a history prefix it is that term or the
    refusal suggests it."""
    key, term = entry
    catalog = load_catalog()
    assert catalog.history_term(case(key.replace("_", joiner))).term == term
    assert term in _named_or_suggested(catalog, prefix + key)
    british = key.replace("ischemi", "ischaemi").replace("hemorrh", "haemorrh")
    american = key.replace("ae", "e").replace("oe", "e")
    assert catalog.history_term(british.replace("apnea", "apnoea")).term == term
    assert catalog.history_term(american).term == term


# --- Pre-infusion hypotension and bradycardia (clinic_policy defaults, monitoring.toml) -----


@pytest.mark.parametrize(
    ("readings", "code"),
    [
        ({"blood_pressure": "85/55"}, "vitals.pre_sbp_low"),
        ({"blood_pressure": "118/76", "heart_rate": "44"}, "vitals.pre_hr_low"),
        ({"heart_rate": "44 bpm"}, "vitals.pre_hr_low"),
    ],
)
def test_pre_infusion_hypotension_or_bradycardia_holds_the_start(
    catalog: Catalog, resolver: MedicationResolver, readings: dict[str, str], code: str
) -> None:
    result = _screen(catalog, resolver, **readings)
    finding = next(f for f in result.findings if f.code == code)
    assert (finding.severity, finding.source) == ("block", catalog.cite("clinic_policy"))
    assert verdict(result) == "hold"


def test_readings_at_the_low_thresholds_do_not_hold(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    result = _screen(catalog, resolver, blood_pressure="90/60", heart_rate="50")
    assert not {"vitals.pre_sbp_low", "vitals.pre_hr_low"} & codes(result)


def test_the_clinics_low_heart_rate_threshold_is_the_one_screening_applies(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    rules = with_thresholds(RULES, {"mood": {"pre_hr_low": 45}})
    profile = build_profile(catalog, weight="70 kg", heart_rate="48")
    result = screen(profile, catalog.protocol("depression"), catalog, resolver, rules)
    assert "vitals.pre_hr_low" not in codes(result)
    slower = build_profile(catalog, weight="70 kg", heart_rate="44")
    held = screen(slower, catalog.protocol("depression"), catalog, resolver, rules)
    assert "heart rate below 45/min" in next(
        f.message for f in held.findings if f.code == "vitals.pre_hr_low"
    )


@pytest.mark.parametrize(("text", "message"), [("fast", "whole number"), ("300", "20-250")])
def test_an_impossible_heart_rate_is_refused(catalog: Catalog, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as refused:
        build_profile(catalog, weight="70 kg", heart_rate=text)
    assert refused.value.fields["field"] == "heart_rate"


def test_the_readme_lists_every_history_term_under_its_severity(catalog: Catalog) -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("`--history` terms", 1)[1].split("\n\n", 2)[1]
    block, caution = section.split("- caution", 1)
    for term, entry in catalog.contraindications.items():
        assert f"`{term}`" in (block if entry.severity == "block" else caution), term
