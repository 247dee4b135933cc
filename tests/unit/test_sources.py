"""Every number's source holds that number (issue 13, item 2).

A catalog number that cites a seed or a paper carries the source's words that state it; the
catalog check refuses one that does not, in the default files and in a clinic's own file alike.
Numbers no source gives (the dose-modifier factors, the interaction factors, the neuropathic
start, nurse-level monitoring) are clinic policy, and the plan says so. CRPS follows
Schwartzman RJ et al., Pain 2009;147:107-115 (abstract: "The maximum ketamine infusion rate was
0.35 mg/kg/h, not to exceed 25 mg/h over a 4 h period"), the regimen Cohen et al., Reg Anesth
Pain Med 2018;43:521-546 recommends for CRPS. Where the seeds disagree the catalog offers each
reading as an option and a clinic file chooses.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import Catalog, build_catalog
from ketaplan.clinical.catalog.citations import (
    POLICY,
    catalog_quotes,
    quote_problem,
    seed_quote_problems,
    stated_numbers,
)
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import Plan, PlanRequest, make_plan, plan_to_dict
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.profile import build_profile
from ketaplan.errors import CatalogError, OverrideRequired

POLICY_FILES = load_policy()
SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
"""The clinic pages the catalog cites (``../shared/seeds`` beside the repository). They are
not shipped with the package, so the loader cannot check quotes against them; this test does."""


def _plan(
    resolver: MedicationResolver,
    condition: str,
    weight: str = "70 kg",
    policy: ClinicPolicy = POLICY_FILES,
    requested: float | None = None,
    override: bool = False,
    **profile: object,
) -> Plan:
    built = build_profile(policy.catalog, weight=weight, **profile)  # type: ignore[arg-type]
    request = PlanRequest(
        condition,
        built,
        requested,
        "clinical reason" if override else None,
        "Dr Test" if override else None,
    )
    return make_plan(request, policy, resolver)


def _clinic(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my_clinic.toml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ the quote check ----------


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        # seed 002's table: a range shares its unit
        ("0.1–0.5 mg/kg infused over several hours", [(0.1, "mg/kg"), (0.5, "mg/kg")]),
        # seed 001: a rate, written without a space
        ("typically around 0.5mg/kg/hr", [(0.5, "mg/kg/h")]),
        # seed 001: counts and durations spelled out
        (
            "six infusions over the course of two to three weeks",
            [(6.0, None), (2.0, "week"), (3.0, "week")],
        ),
        # Schwartzman 2009 abstract: mL/h is not a dose unit, mg/h is
        (
            "for 4 h (25 ml/h) daily for 10 days",
            [(4.0, "h"), (25.0, None), (10.0, "day")],
        ),
        # seed 000: a hyphenated unit
        ("on a consecutive 2-day basis", [(2.0, "day")]),
    ],
)
def test_a_quote_states_its_numbers_with_their_units(
    quote: str, expected: list[tuple[float, str | None]]
) -> None:
    assert stated_numbers(quote) == expected


@pytest.mark.parametrize(
    ("field", "value", "quote", "holds"),
    [
        ("start_mg_per_kg", 0.5, "0.5 mg/kg infused over 40 minutes", True),
        # 0.5 mg/kg/h is not 0.5 mg/kg: seed 001's rate does not hold seed 002's dose
        ("start_mg_per_kg", 0.5, "typically around 0.5mg/kg/hr", False),
        ("rate_mg_per_kg_per_h", 0.5, "typically around 0.5mg/kg/hr", True),
        ("infusion_min", 240, "0.35 mg/kg per hour over 4 hours daily for 10 days", True),
        ("infusion_min", 60, "0.35 mg/kg per hour over 4 hours daily for 10 days", False),
        ("series.max_days", 21, "six infusions over the course of two to three weeks", True),
        ("series.min_days", 14, "six infusions over the course of two to three weeks", True),
        ("booster.interval_weeks", [3, 6], "every three to six weeks", True),
        ("booster.interval_weeks", [8, 16], "continuing these every few months", False),
        ("max_rate_mg_per_h", 25, "for 4 h (25 ml/h) daily for 10 days", False),
        ("max_rate_mg_per_h", 25, "not to exceed 25 mg/h over a 4 h period", True),
        ("monitoring", "anaesthesia_provider", "Anesthesiologist/Anesthetist administration", True),
        ("monitoring", "nurse", "Anesthesiologist/Anesthetist administration", False),
        ("start_mg_per_kg", 0.5, None, False),
    ],
)
def test_a_quote_holds_a_number_only_in_the_numbers_unit(
    field: str, value: object, quote: str | None, holds: bool
) -> None:
    assert (quote_problem(field, value, quote) is None) is holds


CLINIC_REFUSALS = [
    # a number that cites a seed must carry the words that state it
    (
        "[protocols.crps.quotes]\nrate_mg_per_kg_per_h = 'ketamine is a general anesthetic'\n",
        "protocols.crps.quotes.rate_mg_per_kg_per_h: schwartzman_2009: the quote does not "
        "state 0.35 mg/kg/h",
    ),
    (
        "[protocols.migraine]\nrecovery_min = 30\n",
        "protocols.migraine.quotes.recovery_min: seed_003: the quote does not state 30 min",
    ),
    (
        "[protocols.neuropathic_pain.sources]\nrate_mg_per_kg_per_h = 'cohen_2018'\n",
        "neuropathic_pain.quotes.rate_mg_per_kg_per_h: cohen_2018: cites a source but has no quote",
    ),
    # a modifier's factor: the seeds name the modifiers, not the factors
    (
        "[modifiers.'sensitivity.high'.sources]\nfactor = 'seed_000'\n",
        "modifiers.sensitivity.high.quotes.factor: seed_000: cites a source but has no quote",
    ),
    # an interaction class's factor likewise (medications.toml)
    (
        "[classes.opioid]\ndose_factor_source = 'seed_002'\n",
        "classes.opioid.dose_factor: seed_002: cites a source but has no quote",
    ),
    # a limit
    (
        "[limit_sets.mood.sources]\nhard_max_mg_per_kg = 'sanacora_2017'\n",
        "limit_sets.mood.quotes.hard_max_mg_per_kg: sanacora_2017: cites a source but has no quote",
    ),
    # an option a clinic has not chosen is checked too
    (
        "[choices.mood_booster.every_3_6_weeks]\n"
        "booster = { reassess_after_days = 28, interval_weeks = [4, 6], consecutive_days = 1 }\n",
        "the quote does not state 4 week",
    ),
    # the sources disagree: a clinic picks an option that exists
    ("[protocols.depression.choose]\nbooster = 'every_week'\n", "choose one of every_3_6_weeks"),
    # a number a choice decides cannot also be set on the protocol, silently winning
    ("[protocols.anxiety]\ninfusion_min = 40\nstart_mg_per_kg = 0.4\n", "set by the 'dose' choice"),
]


@pytest.mark.parametrize(("text", "message"), CLINIC_REFUSALS)
def test_the_catalog_check_refuses_a_number_its_source_does_not_hold(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(CatalogError, match=r"my_clinic\.toml") as caught:
        build_catalog([_clinic(tmp_path, text)])
    assert message in caught.value.message


def test_every_shipped_number_is_clinic_policy_or_quoted(catalog: Catalog) -> None:
    """The same check the loader runs, seen from outside: no cited number lacks its words."""
    for protocol in catalog.protocols.values():
        for field, source in protocol.sources.items():
            if source != POLICY and field not in ("alternatives",):
                table = field.split(".")[0]
                assert protocol.quotes.get(field) or protocol.quotes.get(table), (
                    protocol.key,
                    field,
                )
    for modifier in catalog.modifiers.values():
        assert modifier.factor_source == POLICY
    for key in ("opioid", "barbiturate", "maoi"):
        assert catalog.interaction_classes[key].dose_factor_source == POLICY


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed pages (../shared/seeds) are not here")
def test_every_seed_quote_occurs_word_for_word_in_its_seed(catalog: Catalog) -> None:
    quotes = catalog_quotes(catalog)
    assert sum(1 for _, key, _ in quotes if key.startswith("seed_")) >= 50
    assert seed_quote_problems(quotes, catalog.sources, SEEDS) == []


def test_a_quote_missing_from_its_seed_is_reported(tmp_path: Path, catalog: Catalog) -> None:
    (tmp_path / "000_2e78e97927341481.txt").write_text("All dosing typically begin at 0.5mg/kg")
    problems = seed_quote_problems(
        [
            ("a", "seed_000", "All dosing   typically begin at 0.5mg/kg"),
            ("b", "seed_000", "we start everyone at 2 mg/kg"),
            ("c", "seed_001", "typically around 0.5mg/kg/hr"),
            ("d", "cohen_2018", "not a seed: checked by a person"),
        ],
        catalog.sources,
        tmp_path,
    )
    assert len(problems) == 2
    assert problems[0].startswith("b: quote not found in 000_2e78e97927341481.txt")
    assert problems[1].startswith("c: seed file")


# ------------------------------------------------------------------ clinic policy in the plan --


def test_the_plan_says_a_modifier_factor_is_clinic_policy(resolver: MedicationResolver) -> None:
    plan = _plan(resolver, "depression", sensitivity="high", age_years=70)
    steps = {s.rule: s for s in plan.dose.explanation}
    sensitivity = steps["modifier.sensitivity.high"]
    assert sensitivity.source.startswith(
        "clinic policy: no source gives the factor x0.8; seed_000 names the modifier"
    )
    assert steps["modifier.age.older_adult"].source.startswith(
        "clinic policy: no source gives the factor x0.9; yale_2024 names the modifier"
    )


@pytest.mark.parametrize(
    ("medication", "cls", "factor"),
    [("oxycodone", "opioid", 0.8), ("phenobarbital", "barbiturate", 0.8), ("Nardil", "maoi", 0.9)],
)
def test_the_plan_says_an_interaction_factor_is_clinic_policy(
    resolver: MedicationResolver, medication: str, cls: str, factor: float
) -> None:
    plan = _plan(resolver, "anxiety", medications=[medication])
    step = next(s for s in plan.dose.explanation if s.rule == f"interaction.{cls}")
    assert step.source.startswith(f"clinic policy: no source gives the factor x{factor:g};")


def test_the_neuropathic_start_and_range_are_clinic_policy(
    resolver: MedicationResolver, catalog: Catalog
) -> None:
    protocol = catalog.protocol("neuropathic_pain")
    assert protocol.source_of("start_mg_per_kg") == POLICY
    assert protocol.source_of("range_mg_per_kg") == POLICY
    plan = _plan(resolver, "neuropathic_pain")
    assert plan.dose.explanation[1].source == catalog.cite(POLICY)


def test_nurse_monitoring_is_named_clinic_policy_in_the_plan(
    resolver: MedicationResolver, catalog: Catalog
) -> None:
    """Seed 003: "we provide Anesthesiologist/Anesthetist administration" for its infusions;
    no seed names nurse-led monitoring."""
    for protocol in catalog.protocols.values():
        if protocol.monitoring == "nurse":
            assert protocol.source_of("monitoring") == POLICY
    finding = next(
        f for f in _plan(resolver, "ptsd").eligibility.findings if f.code == "monitoring.nurse"
    )
    assert "clinic policy" in finding.message
    assert "seed 003" in finding.message


# ------------------------------------------------------------------ CRPS: Schwartzman 2009 -----


def test_crps_is_schwartzmans_regimen_with_its_sources(catalog: Catalog) -> None:
    crps = catalog.protocol("crps")
    assert crps.rate_mg_per_kg_per_h == 0.35
    assert crps.infusion_min == 240
    assert crps.start_mg_per_kg == pytest.approx(1.4)
    assert crps.series.sessions == 10
    assert crps.max_rate_mg_per_h == 25
    assert crps.limits.soft_max_mg_per_kg_per_h == 0.35
    for field in ("rate_mg_per_kg_per_h", "max_rate_mg_per_h", "series.sessions"):
        assert crps.source_of(field) == "schwartzman_2009"
    assert "Pain 2009;147:107-115" in catalog.cite("schwartzman_2009")
    assert any(c.code == "schwartzman_premedication" for c in crps.cautions)


def test_crps_below_71_kg_gets_0_35_mg_per_kg_per_h_for_4_hours(
    resolver: MedicationResolver,
) -> None:
    plan = _plan(resolver, "crps", "60 kg")
    assert plan.dose.mg_per_kg == 1.4
    assert plan.dose.total_mg == 84.0
    assert plan.dose.rate_mg_per_h == pytest.approx(21.0)
    assert not any(s.rule == "protocol.rate_cap" for s in plan.dose.explanation)


def test_crps_at_100_kg_is_capped_at_25_mg_per_h_with_its_source(
    resolver: MedicationResolver,
) -> None:
    plan = _plan(resolver, "crps", "100 kg")
    cap = next(s for s in plan.dose.explanation if s.rule == "protocol.rate_cap")
    assert (cap.before, cap.after) == (1.4, 1.0)
    assert "25 mg/h" in cap.reason
    assert cap.source.startswith("Schwartzman RJ et al.")
    assert "not to exceed 25 mg/h" in cap.source
    assert plan.dose.total_mg == 100.0
    assert plan.dose.rate_mg_per_h == pytest.approx(25.0)
    assert plan.override is None
    check = next(c for c in plan.limit_checks if c.quantity == "rate_mg_per_h")
    assert (check.soft_max, check.status) == (25.0, "within")


def test_a_crps_rate_above_25_mg_per_h_needs_an_override(resolver: MedicationResolver) -> None:
    with pytest.raises(
        OverrideRequired, match="rate_mg_per_h 35 mg/h is above the soft maximum 25"
    ):
        _plan(resolver, "crps", "100 kg", requested=1.4)
    plan = _plan(resolver, "crps", "100 kg", requested=1.4, override=True)
    assert plan.override is not None
    assert "rate_mg_per_h" in plan.override.limits
    assert plan_to_dict(plan)["limits"]["override"]["limits"] == ["rate_mg_per_h"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    weight=st.decimals(min_value="35", max_value="250", places=1),
    sensitivity=st.sampled_from(["normal", "high", "low"]),
    severity=st.sampled_from(["mild", "moderate", "severe"]),
    experience=st.sampled_from(["naive", "prior_ketamine"]),
)
def test_no_crps_plan_runs_faster_than_25_mg_per_h_without_an_override(
    resolver: MedicationResolver, weight: object, sensitivity: str, severity: str, experience: str
) -> None:
    plan = _plan(
        resolver,
        "crps",
        f"{weight} kg",
        sensitivity=sensitivity,
        severity=severity,
        experience=experience,
    )
    assert plan.override is None
    assert plan.dose.rate_mg_per_h <= 25.0 + 1e-9
    assert plan.dose.rate_mg_per_kg_per_h <= 0.35 + 1e-9


# ------------------------------------------------------------------ chronic pain ---------------


@pytest.mark.parametrize("weight_kg", [40, 55, 70, 100])
def test_chronic_pain_starts_higher_than_mood_and_meets_cohens_initial_trial(
    resolver: MedicationResolver, catalog: Catalog, weight_kg: int
) -> None:
    """Seed 000: pain starts "at a higher dose over a longer infusion session" than mood;
    Cohen 2018: an initial trial of at least 80 mg over more than 2 hours."""
    pain = catalog.protocol("chronic_pain")
    assert pain.start_mg_per_kg > catalog.protocol("depression").start_mg_per_kg
    plan = _plan(resolver, "chronic_pain", f"{weight_kg} kg")
    assert plan.dose.total_mg >= 80.0
    assert plan.dose.duration_min > 120


def test_seed_002s_chronic_pain_reading_stays_a_clinic_choice(tmp_path: Path) -> None:
    catalog = build_catalog(
        [_clinic(tmp_path, "[protocols.chronic_pain.choose]\ndose = 'seed_002_table'\n")]
    )
    pain = catalog.protocol("chronic_pain")
    assert (pain.start_mg_per_kg, pain.range_mg_per_kg) == (0.3, (0.1, 0.5))
    assert pain.source_of("range_mg_per_kg") == "seed_002"
    assert pain.source_of("start_mg_per_kg") == POLICY


# ------------------------------------------------------------------ where the seeds disagree ---


def _options(catalog: Catalog, condition: str, aspect: str) -> dict[str, dict[str, object]]:
    choice = next(c for c in catalog.protocol(condition).choices if c.aspect == aspect)
    return {o.key: dict(o.values) for o in choice.options}


def test_the_booster_disagreement_is_offered_not_settled(catalog: Catalog) -> None:
    """Seed 001: every 3-6 weeks; seed 000: every few months; seed 004: once or twice a year."""
    for condition in ("depression", "anxiety", "ptsd", "ocd", "suicidal_ideation"):
        intervals = {
            key: values["booster"]["interval_weeks"]  # type: ignore[index]
            for key, values in _options(catalog, condition, "booster").items()
        }
        assert intervals == {
            "every_3_6_weeks": [3, 6],
            "every_few_months": [8, 16],
            "once_or_twice_a_year": [26, 52],
        }


def test_the_series_and_dose_disagreements_are_offered(catalog: Catalog) -> None:
    """Seed 001: six in 2-3 weeks vs seed 002: weekly for 4-6 weeks; seed 001: 0.5 mg/kg/h vs
    seed 002: 0.5 mg/kg over 40 minutes."""
    series = _options(catalog, "anxiety", "series")
    assert series["six_in_2_3_weeks"]["series"]["max_days"] == 21  # type: ignore[index]
    assert series["weekly_4_6_weeks"]["series"]["max_per_week"] == 1  # type: ignore[index]
    dose = _options(catalog, "depression", "dose")
    assert dose == {
        "over_40_min": {"start_mg_per_kg": 0.5},
        "per_hour": {"rate_mg_per_kg_per_h": 0.5},
    }


def test_a_clinic_file_chooses_an_option_and_the_plan_names_it(
    tmp_path: Path, resolver: MedicationResolver
) -> None:
    clinic = _clinic(
        tmp_path,
        "[protocols.depression.choose]\nbooster = 'once_or_twice_a_year'\ndose = 'per_hour'\n",
    )
    catalog = build_catalog([clinic])
    depression = catalog.protocol("depression")
    assert depression.booster.interval_weeks == (26, 52)
    assert depression.start_mg_per_kg == pytest.approx(0.5 * 40 / 60)
    policy = load_policy((clinic,))
    plan = _plan(resolver, "depression", policy=policy)
    assert plan.dose.mg_per_kg == 0.33
    assert plan_to_dict(plan)["protocol"]["choices"] == {
        "dose": "per_hour",
        "series": "six_in_2_3_weeks",
        "booster": "once_or_twice_a_year",
    }


# ------------------------------------------------------------------ protocol cautions ----------

CAUTIONS = [
    ("bipolar_depression", "protocol.screen_for_mania", "mania"),
    ("suicidal_ideation", "protocol.safety_plan", "safety plan"),
    ("substance_use_disorder", "protocol.substance_use_history", "not recommended"),
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    case=st.sampled_from(CAUTIONS),
    weight=st.integers(min_value=40, max_value=150),
    age=st.integers(min_value=18, max_value=90),
    sensitivity=st.sampled_from(["normal", "high"]),
    meds=st.lists(st.sampled_from(["sertraline", "Xanax", "lithium"]), max_size=2),
)
def test_a_protocols_cautions_are_in_every_plan_for_it(
    resolver: MedicationResolver,
    case: tuple[str, str, str],
    weight: int,
    age: int,
    sensitivity: str,
    meds: list[str],
) -> None:
    condition, code, words = case
    plan = _plan(
        resolver,
        condition,
        f"{weight} kg",
        age_years=age,
        sensitivity=sensitivity,
        medications=meds,
    )
    finding = next(f for f in plan.eligibility.findings if f.code == code)
    assert finding.severity == "caution"
    assert words in finding.message
    assert plan.eligibility.status != "eligible"


def test_planning_for_substance_use_disorder_is_a_caution(resolver: MedicationResolver) -> None:
    """Seed 002: "Ketamine therapy is generally not recommended for individuals with a history
    of substance use disorder"."""
    plan = _plan(resolver, "substance_use_disorder")
    assert plan.eligibility.status == "caution"
    finding = next(
        f for f in plan.eligibility.findings if f.code == "protocol.substance_use_history"
    )
    assert "generally not recommended" in finding.source
