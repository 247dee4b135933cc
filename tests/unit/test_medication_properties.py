"""Property: an interacting ingredient, however it is typed, never passes screening silently.

Any entry built from an ingredient of an interaction class (or a brand the drug dictionary maps
to one), with release and variant suffixes, strengths, dose text, odd case and separators, and
optionally joined with another medication, is screened by the function the application uses
(``screen``, default catalog, real drug dictionary). It may be cautioned for words it cannot
check, but it is never *eligible* without a finding for that ingredient's class.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import load_catalog
from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.profile import build_profile
from ketaplan.clinical.screening import screen
from ketaplan.drug_dictionary import DnerDrugDictionary

CATALOG = load_catalog()
RULES = load_monitoring_rules()
RESOLVER = MedicationResolver(CATALOG, DnerDrugDictionary())
"""The application's resolver and real drug dictionary (its index is built once, cached)."""

BRANDS = [
    ("Xanax", "benzodiazepine"),
    ("Klonopin", "benzodiazepine"),
    ("Lamictal", "lamotrigine"),
    ("OxyContin", "opioid"),
    ("Percocet", "opioid"),
    ("Norco", "opioid"),
    ("Suboxone", "opioid"),
    ("Tylenol #3", "opioid"),
    ("Olinvyk", "opioid"),
    ("Fioricet", "barbiturate"),
    ("Ambien", "sedative_hypnotic"),
    ("Xyrem", "sedative_hypnotic"),
    ("Belsomra", "sedative_hypnotic"),
    ("Benadryl", "anticholinergic"),
    ("Tylenol PM", "anticholinergic"),
    ("Flexeril", "anticholinergic"),
    ("Paxil", "anticholinergic"),
    ("Robinul", "peripheral_anticholinergic"),
    ("Nardil", "maoi"),
    ("Adderall", "stimulant"),
    ("Mucinex D", "stimulant"),
    ("Strattera", "stimulant"),
    ("Spravato", "nmda_antagonist"),
    ("Namenda", "nmda_antagonist"),
    ("Mucinex DM", "nmda_antagonist"),
]
INGREDIENTS = [
    (ingredient, cls)
    for cls, entry in CATALOG.interaction_classes.items()
    for ingredient in entry.ingredients
]
OTHER_MEDICATIONS = [
    "sertraline",
    "Zoloft 50 mg",
    "metformin",
    "lisinopril 10 mg",
    "Tylenol",
    "ibuprofen",
    "Lexapro",
    "omeprazole",
    "Xanax",
    "Norco",
    "levothyroxine",
    "xyzzy",
]
SUFFIXES = [
    "", " XR", " ER", " SR", " CR", " ODT", " PM", " P.M.", " D", "-D", " DM", " HC", " Plus",
    " Forte", " #3", " No. 3", " w/ codeine", " Max",
]  # fmt: skip
STRENGTHS = ["", " 10 mg", " 0.5mg", " 1,000 mcg", " 5/325", " 25 mcg/h", " 2"]
DOSE_TEXT = [
    "", " bid", " daily", " prn", " at bedtime", " 2 tabs po q6h prn", " for sleep",
    " with food", " (generic)",
]  # fmt: skip
SEPARATORS = [", ", "; ", " and ", " + ", "/", "\n", " & ", " with ", " plus ", " or "]
CASES = [str, str.lower, str.upper, str.title]


@st.composite
def typed_interacting_entries(draw: st.DrawFn) -> tuple[str, str]:
    name, cls = draw(st.sampled_from(INGREDIENTS + BRANDS))
    entry = (
        name
        + draw(st.sampled_from(SUFFIXES))
        + draw(st.sampled_from(STRENGTHS))
        + draw(st.sampled_from(DOSE_TEXT))
    )
    entry = draw(st.sampled_from(CASES))(entry)
    if draw(st.booleans()):
        other = draw(st.sampled_from(OTHER_MEDICATIONS))
        separator = draw(st.sampled_from(SEPARATORS))
        entry = other + separator + entry if draw(st.booleans()) else entry + separator + other
    return entry, cls


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_interacting_entries())
def test_an_interacting_ingredient_is_never_eligible_without_its_finding(
    case: tuple[str, str],
) -> None:
    entry, cls = case
    profile = build_profile(
        CATALOG, weight="70 kg", height="170 cm", age_years=40, medications=[entry]
    )
    result = screen(profile, CATALOG.protocol("depression"), CATALOG, RESOLVER, RULES)
    codes = {f.code for f in result.findings}
    assert f"interaction.{cls}" in codes or result.status != "eligible", (entry, codes)
    assert f"interaction.{cls}" in codes, (entry, result.medications)
