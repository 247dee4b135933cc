"""Preparation: vial, draw, bag, final concentration and pump rate."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ketaplan.clinical.catalog import Catalog, Vial
from ketaplan.clinical.preparation import preparation_steps, prepare_infusion
from ketaplan.errors import InputError


def test_a_mood_dose_goes_into_a_hundred_millilitre_bag_counting_the_drawn_volume(
    catalog: Catalog,
) -> None:
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    assert prep.drawn_mg == pytest.approx(35.0)
    assert prep.bag_ml == 100
    assert prep.total_volume_ml == pytest.approx(100 + prep.draw_ml)
    assert prep.final_mg_per_ml == pytest.approx(35.0 / (100 + prep.draw_ml), abs=1e-4)
    exact = Decimal(str((100 + prep.draw_ml) * 1.5)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    assert prep.pump_rate_ml_per_h == float(exact)


def test_the_draw_is_a_volume_the_syringes_show(catalog: Catalog) -> None:
    for ordered in (12.3, 35.0, 39.9, 56.7, 88.8, 140.0, 158.1):
        prep = prepare_infusion(ordered, 40.0, (100.0, 250.0), catalog.clinic)
        for fill in prep.syringes:
            steps = fill.draw_ml / fill.graduation_ml
            assert steps == pytest.approx(round(steps), abs=1e-6)
            assert fill.draw_ml <= fill.capacity_ml
        assert sum(f.draw_ml for f in prep.syringes) == pytest.approx(prep.draw_ml)


def test_a_volume_no_single_syringe_reads_closely_is_split_between_two(catalog: Catalog) -> None:
    # 158.1 mg: 1.581 mL of 100 mg/mL or 3.162 mL of 50 mg/mL; the 3 mL and 5 mL syringes
    # read only 0.1 and 0.2 mL, which would miss by more than 1 %.
    prep = prepare_infusion(158.1, 240.0, (250.0,), catalog.clinic)
    assert len(prep.syringes) == 2
    assert abs(prep.drawn_mg / 158.1 - 1) <= 0.01


def test_a_hundred_milligram_per_millilitre_vial_is_always_diluted(catalog: Catalog) -> None:
    clinic = replace(catalog.clinic, vials=(Vial(100.0, 5.0),))
    prep = prepare_infusion(70.0, 40.0, (100.0,), clinic)
    assert prep.vial_mg_per_ml == 100
    assert prep.final_mg_per_ml < 1.0
    assert any("never give it undiluted" in s for s in preparation_steps(prep))


def test_a_dose_too_concentrated_for_the_largest_bag_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="use a larger bag"):
        prepare_infusion(400.0, 60.0, (100.0,), catalog.clinic)


def test_a_protocol_bag_the_clinic_does_not_stock_is_replaced_by_a_stocked_one_and_said(
    catalog: Catalog,
) -> None:
    prep = prepare_infusion(35.0, 40.0, (1000.0,), catalog.clinic)
    assert prep.bag_ml == 50  # the smallest stocked bag under the maximum concentration
    assert prep.protocol_bags_ml == (1000.0,)
    assert any("1000 mL bag is not in the clinic's stock" in s for s in preparation_steps(prep))
    assert prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic).protocol_bags_ml == ()


def test_a_clinic_with_only_ten_milligram_vials_and_quarter_litre_bags_prepares_with_those(
    catalog: Catalog,
) -> None:
    clinic = replace(
        catalog.clinic,
        vials=(Vial(10.0, 20.0),),
        preparation=replace(catalog.clinic.preparation, bag_sizes_ml=(250.0,)),
    )
    prep = prepare_infusion(40.0, 40.0, (100.0,), clinic)
    assert (prep.vial_mg_per_ml, prep.bag_ml) == (10.0, 250.0)
    assert prep.draw_ml == pytest.approx(4.0)
    assert prep.final_mg_per_ml == pytest.approx(40.0 / 254.0, abs=1e-4)


def test_waste_is_what_is_left_in_the_opened_vials(catalog: Catalog) -> None:
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    opened_mg = prep.vials_needed * prep.vial_mg_per_ml * prep.vial_volume_ml
    assert prep.waste_mg == pytest.approx(opened_mg - prep.drawn_mg)
