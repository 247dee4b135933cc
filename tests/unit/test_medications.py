"""Medication names, as typed, resolved to interaction classes through the drug dictionary."""

from __future__ import annotations

import pytest

from ketaplan.clinical.medications import MedicationResolver, clean_name

# (typed, expected interaction class). Brand and generic names, with dose text and odd case.
# Only the combination products marked "fix" come from the catalog's [fixes] table; every
# other name is resolved by the drug-named-entity-recognition dictionary.
CASES = [
    ("Xanax", "benzodiazepine"),
    ("alprazolam 0.5 mg", "benzodiazepine"),
    ("VALIUM", "benzodiazepine"),
    ("Klonopin 1mg bid", "benzodiazepine"),
    ("Ativan", "benzodiazepine"),
    ("temazepam", "benzodiazepine"),
    ("Restoril", "benzodiazepine"),
    ("Halcion", "benzodiazepine"),
    ("Lamictal", "lamotrigine"),
    ("lamotrigine 200 mg daily", "lamotrigine"),
    ("OxyContin", "opioid"),
    ("oxycodone", "opioid"),
    ("Dilaudid", "opioid"),
    ("tramadol 50 mg prn", "opioid"),
    ("Ultram", "opioid"),
    ("Suboxone", "opioid"),
    ("Subutex", "opioid"),
    ("Butrans", "opioid"),
    ("Nucynta", "opioid"),
    ("fentanyl patch", "opioid"),
    ("methadone", "opioid"),
    ("Percocet", "opioid"),  # fix
    ("Norco", "opioid"),  # fix
    ("phenobarbital", "barbiturate"),
    ("Seconal", "barbiturate"),
    ("Fioricet", "barbiturate"),
    ("Benadryl", "anticholinergic"),
    ("diphenhydramine 25 mg at night", "anticholinergic"),
    ("Cogentin", "anticholinergic"),
    ("Transderm Scop", "anticholinergic"),
    ("hydroxyzine", "anticholinergic"),
    ("Tylenol PM", "anticholinergic"),  # fix
    ("Nardil", "maoi"),
    ("Parnate", "maoi"),
    ("Marplan", "maoi"),
    ("Emsam", "maoi"),
    ("Azilect", "maoi"),
    ("Adderall", "stimulant"),  # fix
    ("Vyvanse", "stimulant"),
    ("Ritalin", "stimulant"),
    ("Concerta", "stimulant"),
    ("Focalin", "stimulant"),
    ("Provigil", "stimulant"),
    ("Sudafed", "stimulant"),
]


@pytest.mark.parametrize(("typed", "cls"), CASES)
def test_brand_and_generic_names_resolve_to_their_interaction_class(
    resolver: MedicationResolver, typed: str, cls: str
) -> None:
    assert cls in resolver.resolve(typed).classes


def test_most_names_are_resolved_by_the_dictionary_not_the_catalog_table(
    resolver: MedicationResolver,
) -> None:
    by = [resolver.resolve(typed).resolved_by for typed, _ in CASES]
    assert len(CASES) >= 30
    assert by.count("dictionary") >= 0.85 * len(CASES)
    assert set(by) <= {"dictionary", "catalog_fix"}


@pytest.mark.parametrize("typed", ["sertraline", "Zoloft", "Lexapro", "lithium", "Seroquel"])
def test_a_known_medication_without_an_interaction_has_no_class(
    resolver: MedicationResolver, typed: str
) -> None:
    med = resolver.resolve(typed)
    assert med.resolved_by == "dictionary"
    assert med.classes == ()


def test_a_combination_product_lists_each_ingredient(resolver: MedicationResolver) -> None:
    med = resolver.resolve("Suboxone 8 mg/2 mg")
    assert {"buprenorphine", "naloxone"} <= set(med.ingredients)


def test_an_unknown_medication_is_unresolved_with_spelling_suggestions(
    resolver: MedicationResolver,
) -> None:
    med = resolver.resolve("alprazolom")
    assert med.resolved_by == "unresolved"
    assert "alprazolam" in med.suggestions
    assert resolver.resolve("Zyxwvutab 10 mg").resolved_by == "unresolved"


@pytest.mark.parametrize(
    ("typed", "clean"),
    [
        ("Xanax XR 0.5 mg bid", "xanax xr"),
        ("  LAMICTAL 100MG  ", "lamictal"),
        ("Tylenol PM 2 tablets at night", "tylenol pm"),
        ("diazepam, 5 mg", "diazepam"),
    ],
)
def test_dose_and_frequency_text_is_removed_before_lookup(typed: str, clean: str) -> None:
    assert clean_name(typed) == clean
