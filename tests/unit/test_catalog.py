"""The protocol catalog: complete for every seed condition, validated, overridable."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketaplan.clinical.catalog import Catalog, build_catalog
from ketaplan.errors import CatalogError, InputError

SEED_CONDITIONS = [
    "depression",
    "anxiety",
    "ptsd",
    "ocd",
    "bipolar_depression",
    "suicidal_ideation",
    "substance_use_disorder",
    "migraine",
    "fibromyalgia",
    "crps",
    "neuropathic_pain",
    "chronic_pain",
]


@pytest.mark.parametrize("condition", SEED_CONDITIONS)
def test_every_seed_condition_has_a_protocol_with_a_source_for_each_number(
    catalog: Catalog, condition: str
) -> None:
    protocol = catalog.protocol(condition)
    for field in ("start_mg_per_kg", "range_mg_per_kg", "infusion_min", "monitoring"):
        assert protocol.source_of(field) in catalog.sources
    for table in ("series", "booster"):
        for name in ("series.sessions", "series.min_days", "booster.interval_weeks"):
            if name.startswith(table):
                assert protocol.source_of(name) in catalog.sources
    low, high = protocol.range_mg_per_kg
    assert low <= protocol.start_mg_per_kg <= high


def test_mood_protocols_run_forty_minutes_and_pain_protocols_run_at_least_as_long(
    catalog: Catalog,
) -> None:
    for protocol in catalog.protocols.values():
        if protocol.category == "mood":
            assert protocol.infusion_min == 40
        else:
            assert protocol.infusion_min >= 40


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("PTSD", "ptsd"),
        ("Bipolar depression", "bipolar_depression"),
        ("MDD", "depression"),
        ("trigeminal-neuralgia", "neuropathic_pain"),
        ("RSD", "crps"),
        ("GAD", "anxiety"),
    ],
)
def test_conditions_are_found_by_key_or_common_alias(
    catalog: Catalog, typed: str, key: str
) -> None:
    assert catalog.protocol(typed).key == key


def test_an_unknown_condition_lists_the_closest_known_ones(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="did you mean depression") as caught:
        catalog.protocol("depresion")
    assert caught.value.code == "input.unknown_condition"


def test_a_clinic_file_overrides_one_field_and_adds_a_protocol(tmp_path: Path) -> None:
    clinic = tmp_path / "clinic.toml"
    clinic.write_text(
        """
[protocols.depression]
start_mg_per_kg = 0.4
choose = { dose = "own" }
sources = { start_mg_per_kg = "clinic_policy" }

[protocols.spinal_cord_injury_pain]
title = "Spinal cord injury pain"
category = "pain"
rate_mg_per_kg_per_h = 0.42
range_mg_per_kg = [0.2, 0.6]
infusion_min = 60
recovery_min = 30
monitoring = "nurse"
limits = "pain_low_dose"
bag_ml = [100]
series = { sessions = 7, min_days = 7, max_days = 10, max_per_week = 7, min_hours_between = 20 }
booster = { reassess_after_days = 28, interval_weeks = [6, 8], consecutive_days = 1 }
sources = { rate_mg_per_kg_per_h = "cohen_2018", range_mg_per_kg = "clinic_policy", infusion_min = "clinic_policy", recovery_min = "clinic_policy", series = "clinic_policy", "series.sessions" = "cohen_2018", booster = "clinic_policy", bag_ml = "clinic_policy", monitoring = "clinic_policy" }
quotes = { rate_mg_per_kg_per_h = "ketamine infusions (0.42 mg/kg per hour to 0.4 mg/kg ranging from 17 minutes to 5 hours for 7 consecutive days)", "series.sessions" = "for 7 consecutive days" }
"""
    )
    catalog = build_catalog([clinic])
    assert catalog.protocol("depression").start_mg_per_kg == 0.4
    assert catalog.protocol("depression").infusion_min == 40
    assert catalog.protocol("spinal_cord_injury_pain").series.sessions == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[protocols.depression]\nstart_mg_per_kg = 'half'\nchoose = { dose = 'own' }\n",
            "protocols.depression.start_mg_per_kg: expected a number",
        ),
        (
            "[protocols.depression]\nstart_mg_per_kg = 2.0\nchoose = { dose = 'own' }\n"
            "sources = { start_mg_per_kg = 'clinic_policy' }\n",
            "lies outside range_mg_per_kg",
        ),
        ("[protocols.depression]\nstart_mg_per_kg = 0.4\n", "set by the 'dose' choice"),
        ("[protocols.depression]\nstart_mgkg = 0.5\n", "did you mean 'start_mg_per_kg'"),
        ("[protocols.depression]\nrange_mg_per_kg = [0.25, 5.0]\n", "reaches past the hard limits"),
        ("[protocols.depression]\nlimits = 'nope'\n", "unknown limit set 'nope'"),
        (
            "[protocols.depression.sources]\nstart_mg_per_kg = 'my_blog'\n",
            "unknown source 'my_blog'",
        ),
        ("[limit_sets.mood]\nsoft_max_total_mg = 500.0\n", "must not exceed hard_max_total_mg"),
        ("[protocols.x]\ntitle = 'X'\n", "protocols.x.limits: missing"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_a_bad_clinic_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    clinic = tmp_path / "my_clinic.toml"
    clinic.write_text(text)
    with pytest.raises(CatalogError, match=message) as caught:
        build_catalog([clinic])
    assert "my_clinic.toml" in caught.value.message
