"""Properties of the draw the card prescribes, for any order and any stock (issue 13, item 4).

Each example is checked against an exhaustive search written independently of
:mod:`ketaplan.clinical.preparation`: every vial, every syringe filled to every graduation,
alone or with a second syringe filled to the graduation nearest the rest. Whenever that search
finds a draw within the clinic's ±1 %, the card's draw is within ±1 % too and comes from the
most dilute vial that has one (a 10 vs 100 mg/mL mix-up is a tenfold error; the Ketalar label
requires 100 mg/mL to be diluted before IV use, ``sources.toml`` ``ketalar_label``). When the
search finds none, the card uses a draw at least as close as the closest one and carries the
caution with the deviation.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ketaplan.clinical.catalog import ClinicDefaults, Syringe, Vial, load_catalog
from ketaplan.clinical.preparation import (
    Preparation,
    preparation_findings,
    preparation_steps,
    prepare_infusion,
)
from ketaplan.errors import InputError

CLINIC = load_catalog().clinic

SYRINGES = [
    Syringe(0.5, 0.01),
    Syringe(1.0, 0.01),
    Syringe(3.0, 0.1),
    Syringe(5.0, 0.2),
    Syringe(10.0, 0.2),
    Syringe(10.0, 0.5),
    Syringe(20.0, 1.0),
    Syringe(30.0, 1.0),
    Syringe(60.0, 1.0),
]
"""Syringe sizes with the graduations their makers print."""
VIALS = [Vial(10.0, 20.0), Vial(50.0, 10.0), Vial(100.0, 5.0), Vial(100.0, 10.0)]

stocks = st.fixed_dictionaries(
    {
        "vials": st.lists(st.sampled_from(VIALS), min_size=1, max_size=3, unique=True),
        "syringes": st.lists(st.sampled_from(SYRINGES), min_size=1, max_size=5, unique=True),
        "overfill": st.sampled_from([0.0, 0.05, 0.09, 0.1]),
    }
)
orders_mg = st.decimals(min_value="5", max_value="300", places=1).map(float)
durations_min = st.sampled_from([40.0, 60.0, 240.0])
bags = st.sampled_from([(100.0,), (250.0,), (250.0, 500.0), (100.0, 250.0)])
fast = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _clinic(stock: dict[str, object]) -> ClinicDefaults:
    vials = sorted(stock["vials"], key=lambda v: v.mg_per_ml)  # type: ignore[attr-defined]
    syringes = sorted(stock["syringes"], key=lambda s: s.capacity_ml)  # type: ignore[attr-defined]
    preparation = replace(CLINIC.preparation, bag_overfill_fraction=stock["overfill"])
    return replace(CLINIC, vials=tuple(vials), syringes=tuple(syringes), preparation=preparation)


def _errors_by_vial(ordered_mg: float, clinic: ClinicDefaults) -> dict[float, float]:
    """The least |error| any one- or two-syringe draw reaches, per vial strength: every
    syringe at every graduation, plus the nearest graduations of a second syringe (or all of
    it, when the rest is more than it holds)."""
    min_ml = clinic.preparation.min_draw_ml - 1e-9
    best: dict[float, float] = {}
    for vial in clinic.vials:
        exact_ml = ordered_mg / vial.mg_per_ml
        least = math.inf
        for first in clinic.syringes:
            full = round(first.capacity_ml / first.graduation_ml)
            for i in range(1, full + 1):
                first_ml = i * first.graduation_ml
                if first_ml < min_ml:
                    continue
                least = min(least, abs(first_ml / exact_ml - 1))
                rest_ml = exact_ml - first_ml
                for second in clinic.syringes:
                    near = rest_ml / second.graduation_ml
                    full_second = round(second.capacity_ml / second.graduation_ml)
                    for j in {math.floor(near), math.ceil(near), full_second}:
                        second_ml = j * second.graduation_ml
                        if min_ml <= second_ml <= second.capacity_ml + 1e-9:
                            least = min(least, abs((first_ml + second_ml) / exact_ml - 1))
        best[vial.mg_per_ml] = least
    return best


def _caution(prep: Preparation) -> list[str]:
    return [f.message for f in preparation_findings(prep, "clinic policy")]


@fast
@given(ordered_mg=orders_mg, stock=stocks, duration_min=durations_min, bag=bags)
def test_the_draw_is_within_one_percent_whenever_the_stock_can_measure_it_else_flagged(
    ordered_mg: float, stock: dict[str, object], duration_min: float, bag: tuple[float, ...]
) -> None:
    clinic = _clinic(stock)
    note(f"{ordered_mg} mg, {clinic.vials}, {clinic.syringes}")
    tolerance = clinic.preparation.draw_tolerance_fraction
    reachable = _errors_by_vial(ordered_mg, clinic)
    note(f"reachable {reachable}")
    closest = min(reachable.values())
    try:
        prep = prepare_infusion(ordered_mg, duration_min, bag, clinic)
    except InputError as refused:
        if refused.code == "input.cannot_prepare" and "more concentrated" in refused.message:
            return  # the bag, not the draw
        assert closest > clinic.preparation.max_delivered_overshoot_fraction - 1e-9
        return
    drawn_error = abs(prep.drawn_mg / ordered_mg - 1)
    if closest <= tolerance + 1e-9:
        assert drawn_error <= tolerance + 1e-9
        dilute = min(v for v, e in reachable.items() if e <= tolerance + 1e-9)
        assert prep.vial_mg_per_ml == dilute
        # What the pump delivers differs from the draw only by the pump's 0.1 mL/h rounding.
        pump_margin = 0.05 / prep.pump_rate_ml_per_h + 1e-6
        assert abs(prep.delivered_mg / ordered_mg - 1) <= tolerance + pump_margin + 1e-4
        assert prep.within_tolerance or _caution(prep)
    else:
        assert drawn_error <= closest + 1e-6  # the closest there is
        assert not prep.within_tolerance
        (message,) = _caution(prep)
        assert f"{prep.drawn_vs_ordered_percent:+.2f} %" in message
        assert preparation_steps(prep)[0].startswith("CAUTION:")
    if prep.within_tolerance:
        assert not _caution(prep)
        assert not preparation_steps(prep)[0].startswith("CAUTION:")


@fast
@given(ordered_mg=orders_mg, stock=stocks, duration_min=durations_min, bag=bags)
def test_the_bag_volume_counts_overfill_and_drug_and_the_pump_runs_it_in_the_ordered_time(
    ordered_mg: float, stock: dict[str, object], duration_min: float, bag: tuple[float, ...]
) -> None:
    clinic = _clinic(stock)
    try:
        prep = prepare_infusion(ordered_mg, duration_min, bag, clinic)
    except InputError:
        return
    overfill_ml = prep.bag_ml * clinic.preparation.bag_overfill_fraction
    assert prep.bag_overfill_ml == pytest.approx(overfill_ml, abs=0.05)
    in_bag_ml = prep.bag_ml + prep.bag_overfill_ml + prep.draw_ml
    assert prep.total_volume_ml == pytest.approx(in_bag_ml, abs=1e-3)
    assert prep.vtbi_ml == pytest.approx(in_bag_ml, abs=0.01)
    assert prep.final_mg_per_ml == pytest.approx(prep.drawn_mg / in_bag_ml, abs=1e-4)
    assert abs(prep.pump_rate_ml_per_h - in_bag_ml / (duration_min / 60)) <= 0.05 + 1e-9
    # The maximum concentration holds even if the bag had no overfill at all.
    assert prep.drawn_mg / (prep.bag_ml + prep.draw_ml) <= CLINIC.preparation.max_final_mg_per_ml
    assert sum(f.draw_ml for f in prep.syringes) == pytest.approx(prep.draw_ml)
    for fill in prep.syringes:
        assert fill.draw_ml <= fill.capacity_ml + 1e-9
        marks = fill.draw_ml / fill.graduation_ml
        assert marks == pytest.approx(round(marks), abs=1e-6)
