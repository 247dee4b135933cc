"""Golden plans: the JSON contract of a few plans, byte for byte.

The plans cover every kind of explanation step and finding, a split draw, the 100 mg/mL vial,
an override and a pre-infusion hold, so that a change to how a plan is computed (for speed,
say) cannot change what a client receives without this test saying so. When a change to the
output is intended, regenerate the file with ``python tests/unit/test_plan_golden.py`` and
review the difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ketaplan.clinical.catalog import Catalog, load_catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan, plan_to_dict
from ketaplan.clinical.profile import build_profile
from ketaplan.drug_dictionary import DnerDrugDictionary

POLICY = load_policy()

GOLDEN = Path(__file__).parent / "golden" / "plans.json"

CASES: list[dict[str, Any]] = [
    {
        "condition": "depression",
        "typed": {
            "weight": "176 lb",
            "height": "5 ft 9 in",
            "age_years": 42,
            "sex": "female",
            "medications": ["Lamictal", "alprazolam 0.5 mg"],
            "history": ["controlled_hypertension"],
        },
    },
    {
        "condition": "mdd",
        "typed": {
            "weight": "58 kg",
            "age_years": 70,
            "sensitivity": "high",
            "preference": "lowest_effective",
            "alcohol": "heavy",
            "medications": ["unknownium", "Percocet"],
            "blood_pressure": "150/95",
        },
    },
    {
        "condition": "crps",
        "typed": {
            "weight": "102.7 kg",
            "height": "183 cm",
            "age_years": 35,
            "sex": "male",
            "experience": "prior_ketamine",
        },
    },
    {
        "condition": "ptsd",
        "typed": {
            "weight": "49 kg",
            "height": "160 cm",
            "age_years": 16,
            "sex": "female",
            "severity": "severe",
            "experience": "prior_psychedelic",
            "history": ["pregnancy"],
            "blood_pressure": "185/100",
        },
    },
    {
        "condition": "fibromyalgia",
        "typed": {"weight": "131.6 kg", "height": "170 cm", "medications": ["Benadryl"]},
        "requested_mg_per_kg": 1.2,
        "override_reason": "partial response at 1 mg/kg",
        "prescriber": "Dr Okafor",
    },
    {
        "condition": "anxiety",
        "typed": {
            "weight": "64 kg",
            "height": "165 cm",
            "age_years": 30,
            "sensitivity": "low",
            "severity": "mild",
            "medications": ["Nardil", "Adderall", "phenobarbital"],
        },
        "requested_mg_per_kg": 1.0,
        "override_reason": "prior response only above the range",
        "prescriber": "Dr Rivera",
    },
    {
        "condition": "crps",
        "typed": {
            "weight": "45 kg",
            "height": "5 ft 9 in",
            "age_years": 42,
            "sex": "female",
            "medications": ["Lamictal", "alprazolam 0.5 mg"],
            "confirm_weight": True,
        },
    },
    {
        "condition": "anxiety",
        "typed": {
            "weight": "46.1 kg",
            "age_years": 70,
            "sensitivity": "high",
            "preference": "lowest_effective",
        },
    },
    {
        "condition": "neuropathic_pain",
        "typed": {
            "weight": "69.4 kg",
            "height": "152 cm",
            "age_years": 29,
            "sex": "male",
            "sensitivity": "low",
            "experience": "prior_ketamine",
            "severity": "severe",
            "medications": ["Adderall", "Xanax", "xyzzy"],
        },
    },
]


def _plans(catalog: Catalog, resolver: MedicationResolver) -> list[dict[str, Any]]:
    plans = []
    for case in CASES:
        request = PlanRequest(
            case["condition"],
            build_profile(catalog, **case["typed"]),
            case.get("requested_mg_per_kg"),
            case.get("override_reason"),
            case.get("prescriber"),
        )
        plans.append(plan_to_dict(make_plan(request, POLICY, resolver)))
    return plans


def _text(plans: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(plan, ensure_ascii=False) for plan in plans) + "\n"


def test_plans_match_the_golden_file_byte_for_byte(
    catalog: Catalog, resolver: MedicationResolver
) -> None:
    assert _text(_plans(catalog, resolver)) == GOLDEN.read_text(encoding="utf-8")


if __name__ == "__main__":
    the_catalog = load_catalog()
    GOLDEN.write_text(
        _text(_plans(the_catalog, MedicationResolver(the_catalog, DnerDrugDictionary()))),
        encoding="utf-8",
    )
