"""Reference cases: published doses and preparations, each with its source."""

from __future__ import annotations

from dataclasses import replace

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
    # clinical/REFERENCE.md section 6: "35 mg in 100 mL over 40 min ≈ 150 mL/h" (the label's
    # 100 mL, the drawn volume added: a clinic that sets no overfill).
    no_overfill = replace(
        catalog.clinic, preparation=replace(catalog.clinic.preparation, bag_overfill_fraction=0.0)
    )
    prep = prepare_infusion(35.0, 40.0, (100.0,), no_overfill)
    assert prep.pump_rate_ml_per_h == pytest.approx(150, rel=0.04)
    assert prep.total_volume_ml == pytest.approx(100 + prep.draw_ml)


def test_a_hundred_millilitre_bag_is_counted_with_its_measured_overfill(
    catalog: Catalog,
) -> None:
    # Am J Crit Care 2000;9(2):130: 162 bags labelled 100 mL weighed a mean 109.26 mL
    # (106.15-112.09 mL). The catalog's default overfill, 9 %, puts 109 mL in the bag; the pump
    # runs the real volume over the 40 min, so the whole dose goes in on time.
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    assert prep.bag_overfill_ml == pytest.approx(9.0)
    assert 106.15 <= prep.bag_ml + prep.bag_overfill_ml <= 112.09
    real_ml = 109.0 + prep.draw_ml
    assert prep.total_volume_ml == pytest.approx(real_ml)
    assert prep.final_mg_per_ml == pytest.approx(35.0 / real_ml, abs=1e-4)
    assert prep.pump_rate_ml_per_h == pytest.approx(real_ml * 60 / 40, abs=0.05 + 1e-9)
    assert prep.vtbi_ml == pytest.approx(real_ml)
    assert prep.delivered_mg == pytest.approx(35.0, rel=0.01)
