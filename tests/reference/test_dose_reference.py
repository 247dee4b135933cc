"""Reference cases: published doses and preparations, each with its source."""

from __future__ import annotations

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan
from ketaplan.clinical.preparation import prepare_infusion
from ketaplan.clinical.profile import build_profile

POLICY = load_policy()

REFERENCE_DOSES = [
    # (condition, weight, mg/kg, total mg, minutes, source)
    # Sanacora et al., JAMA Psychiatry 2017;74(4):399-405: 0.5 mg/kg over 40 minutes.
    ("depression", "70 kg", 0.5, 35.0, 40, "Sanacora 2017"),
    ("depression", "100 kg", 0.5, 50.0, 40, "Sanacora 2017"),
    # Seed 002: PTSD, OCD, migraine 0.5 mg/kg over 40 minutes.
    ("ptsd", "60 kg", 0.5, 30.0, 40, "seed 002"),
    ("ocd", "80 kg", 0.5, 40.0, 40, "seed 002"),
    ("migraine", "64 kg", 0.5, 32.0, 40, "seed 002"),
    # Cohen 2018 (Schwartzman 2009): CRPS 0.35 mg/kg/h for 4 h = 1.4 mg/kg.
    ("crps", "70 kg", 1.4, 98.0, 240, "Cohen 2018"),
]


@pytest.mark.parametrize(
    ("condition", "weight", "mg_per_kg", "total_mg", "minutes", "source"), REFERENCE_DOSES
)
def test_the_protocol_dose_matches_the_published_regimen(
    catalog: Catalog,
    resolver: MedicationResolver,
    condition: str,
    weight: str,
    mg_per_kg: float,
    total_mg: float,
    minutes: float,
    source: str,
) -> None:
    plan = make_plan(
        PlanRequest(condition, build_profile(catalog, weight=weight)),
        POLICY,
        resolver,
    )
    assert (plan.dose.mg_per_kg, plan.dose.total_mg, plan.dose.duration_min) == (
        mg_per_kg,
        total_mg,
        minutes,
    ), source


def test_thirty_five_milligrams_in_a_hundred_millilitres_over_forty_minutes_runs_near_150_ml_h(
    catalog: Catalog,
) -> None:
    # clinical/REFERENCE.md section 6: "35 mg in 100 mL over 40 min ≈ 150 mL/h".
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    assert prep.pump_rate_ml_per_h == pytest.approx(150, rel=0.02)
