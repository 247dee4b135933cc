"""Preparation: vial, draw, bag, final concentration and pump rate."""

from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

import pytest

from ketaplan.clinical.catalog import Catalog, ClinicDefaults, Syringe, Vial
from ketaplan.clinical.preparation import (
    preparation_findings,
    preparation_steps,
    prepare_infusion,
)
from ketaplan.errors import InputError


def test_a_mood_dose_goes_into_a_hundred_millilitre_bag_counting_the_drawn_volume(
    catalog: Catalog,
) -> None:
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    assert prep.drawn_mg == pytest.approx(35.0)
    assert prep.bag_ml == 100
    in_bag_ml = 100 + prep.bag_overfill_ml + prep.draw_ml
    assert prep.total_volume_ml == pytest.approx(in_bag_ml)
    assert prep.final_mg_per_ml == pytest.approx(35.0 / in_bag_ml, abs=1e-4)
    exact = Decimal(str(in_bag_ml * 1.5)).quantize(Decimal("0.1"), ROUND_HALF_UP)
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
    assert prep.final_mg_per_ml == pytest.approx(40.0 / (250.0 * 1.09 + 4.0), abs=1e-4)


def test_waste_is_what_is_left_in_the_opened_vials(catalog: Catalog) -> None:
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    opened_mg = prep.vials_needed * prep.vial_mg_per_ml * prep.vial_volume_ml
    assert prep.waste_mg == pytest.approx(opened_mg - prep.drawn_mg)


def _stock(
    catalog: Catalog, vials: tuple[Vial, ...], syringes: tuple[Syringe, ...]
) -> ClinicDefaults:
    return replace(catalog.clinic, vials=vials, syringes=syringes)


def test_the_most_dilute_vial_is_drawn_even_when_a_stronger_one_measures_with_one_syringe(
    catalog: Catalog,
) -> None:
    # Bohringer, "Unintentional ketamine overdose in the operating room: mixing up the
    # ampules", AHRQ PSNet 2021: 100 mg/mL vials taken for 10 mg/mL, 950 mg given for 95 mg;
    # ISMP Medication Safety Alert, 3 June 1998: Ketalar vial labels led to 500 mg drawn for
    # 50 mg. The Ketalar label requires 100 mg/mL to be diluted before IV use.
    # 35 mg is 0.7 mL of 50 mg/mL in one 1 mL syringe, or 3.5 mL of 10 mg/mL in two: the card
    # draws the 10 mg/mL.
    prep = prepare_infusion(35.0, 40.0, (100.0,), catalog.clinic)
    assert prep.vial_mg_per_ml == 10.0
    assert [(f.capacity_ml, f.draw_ml) for f in prep.syringes] == [(5.0, 3.4), (1.0, 0.1)]
    assert prep.drawn_mg == pytest.approx(35.0)
    only_strong = replace(catalog.clinic, vials=(Vial(50.0, 10.0), Vial(100.0, 5.0)))
    assert prepare_infusion(35.0, 40.0, (100.0,), only_strong).vial_mg_per_ml == 50.0


def test_a_draw_no_syringe_measures_within_one_percent_is_the_closest_and_cautioned(
    catalog: Catalog,
) -> None:
    # 97 mg of 50 mg/mL is 1.94 mL; with only 0.1 mL marks the closest is 1.9 mL (95 mg).
    clinic = _stock(catalog, (Vial(50.0, 10.0),), (Syringe(3.0, 0.1),))
    prep = prepare_infusion(97.0, 40.0, (100.0,), clinic)
    assert prep.draw_ml == pytest.approx(1.9)
    assert not prep.within_tolerance
    (finding,) = preparation_findings(prep, "clinic policy")
    assert finding.code == "preparation.draw_outside_tolerance"
    assert finding.severity == "caution"
    assert "95 mg (-2.06 %)" in finding.message
    assert preparation_steps(prep)[0].startswith("CAUTION: No draw")


def test_a_draw_beyond_the_clinics_bounds_is_refused(catalog: Catalog) -> None:
    clinic = _stock(catalog, (Vial(100.0, 5.0),), (Syringe(3.0, 0.1),))
    with pytest.raises(InputError, match=r"cannot be drawn within \+5%/-5%"):
        prepare_infusion(12.3, 40.0, (100.0,), clinic)


def test_a_volume_over_the_largest_syringe_is_a_full_syringe_plus_the_rest(
    catalog: Catalog,
) -> None:
    prep = prepare_infusion(255.0, 240.0, (250.0,), catalog.clinic)  # 25.5 mL of 10 mg/mL
    assert prep.vial_mg_per_ml == 10.0
    assert prep.vials_needed == 2
    assert prep.syringes[0].draw_ml == 20.0  # then 5.4 mL: 0.2 mL marks, -0.4 %
    assert abs(prep.drawn_mg / 255.0 - 1) <= 0.01
    assert prep.within_tolerance


def test_the_overfill_is_counted_and_nothing_is_withdrawn(catalog: Catalog) -> None:
    prep = prepare_infusion(40.0, 40.0, (100.0,), catalog.clinic)
    assert prep.bag_overfill_ml == pytest.approx(
        100 * catalog.clinic.preparation.bag_overfill_fraction
    )
    assert (
        "holds about 109 mL with the maker's overfill; withdraw nothing"
        in (preparation_steps(prep)[2])
    )
    none = replace(
        catalog.clinic, preparation=replace(catalog.clinic.preparation, bag_overfill_fraction=0.0)
    )
    plain = prepare_infusion(40.0, 40.0, (100.0,), none)
    assert plain.total_volume_ml == pytest.approx(104.0)
    assert "overfill" not in " ".join(preparation_steps(plain))


def test_with_uneven_bounds_the_closest_draw_inside_them_is_used(catalog: Catalog) -> None:
    # 97 mg of 50 mg/mL with 0.1 mL marks: 1.9 mL is -2.06 %, 2.0 mL is +3.09 %. A clinic that
    # allows at most 1 % over and 5 % under takes 1.9 mL; one allowing 5 % over and 1 % under
    # takes 2.0 mL rather than refusing.
    clinic = _stock(catalog, (Vial(50.0, 10.0),), (Syringe(3.0, 0.1),))
    under_only = replace(
        clinic,
        preparation=replace(
            clinic.preparation,
            max_delivered_overshoot_fraction=0.01,
            max_delivered_undershoot_fraction=0.05,
        ),
    )
    assert prepare_infusion(97.0, 40.0, (100.0,), under_only).draw_ml == pytest.approx(1.9)
    over_only = replace(
        clinic,
        preparation=replace(
            clinic.preparation,
            max_delivered_overshoot_fraction=0.05,
            max_delivered_undershoot_fraction=0.01,
        ),
    )
    assert prepare_infusion(97.0, 40.0, (100.0,), over_only).draw_ml == pytest.approx(2.0)
