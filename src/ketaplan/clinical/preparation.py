"""From an ordered dose to a prepared bag and a programmed pump.

The steps a nurse follows in the medication room: which vial strength and syringe, how many mL
to draw (to a graduation the syringe shows), which bag of diluent, the final concentration
(the drawn volume counts: a 100 mL bag plus 0.7 mL holds 100.7 mL), the pump rate rounded to
the pump's 0.1 mL/h, and the volume to be infused. The mg actually delivered after all the
rounding is reported: never more than 1 % above the order, and at most 5 % below it when no
syringe in stock measures it closer (both tolerances are clinic data).

Ketamine is never given undiluted: every preparation goes into a bag, and the final
concentration must not exceed the clinic's maximum (2 mg/mL by default). Overfill in
commercial bags and line dead space are not modelled; clinics that withdraw the drug volume
from the bag first can set that policy later.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

from ketaplan.clinical.catalog import ClinicSettings, Syringe, Vial
from ketaplan.clinical.catalog.memo import remembered_per_object
from ketaplan.errors import InputError
from ketaplan.units import round_half_up

_EPS = 1e-9


class Preparation(NamedTuple):
    vial_mg_per_ml: float
    vial_volume_ml: float
    vials_needed: int
    syringes: tuple[SyringeFill, ...]
    draw_ml: float
    drawn_mg: float
    waste_mg: float
    diluent: str
    bag_ml: float
    total_volume_ml: float
    final_mg_per_ml: float
    duration_min: float
    pump_rate_ml_per_h: float
    vtbi_ml: float
    delivered_mg: float
    ordered_mg: float
    protocol_bags_ml: tuple[float, ...] = ()
    """The protocol's bag sizes when the clinic stocks none of them (the bag then comes from the
    clinic's own sizes, and the card says so); empty when the protocol's bag was used."""

    @property
    def delivered_vs_ordered_percent(self) -> float:
        return (self.delivered_mg / self.ordered_mg - 1.0) * 100.0


class SyringeFill(NamedTuple):
    """One syringe drawn to one graduation."""

    capacity_ml: float
    graduation_ml: float
    draw_ml: float


# A candidate draw: the vial, then (syringe, graduations) for each fill, and the total mL.
_Candidate = tuple[Vial, tuple[tuple[Syringe, int], ...], float]


class _SyringeInStock(NamedTuple):
    """A syringe with the bounds the draw search compares against, worked out once."""

    syringe: Syringe
    graduation_ml: float
    brackets_up_to_ml: float
    """Capacity plus one graduation: a larger volume has no graduation above it."""
    holds_up_to_ml: float
    """Capacity, with the tolerance for binary noise."""
    dominated_below_ml: float
    """Below this volume another syringe measures at least as closely."""


class _Stock(NamedTuple):
    """The clinic's supplies as the preparation of one protocol's infusions uses them."""

    syringes: tuple[_SyringeInStock, ...]
    finest: Syringe
    min_draw_ml: float
    lowest_error: float
    highest_error: float
    bags_ml: tuple[float, ...]
    """The protocol's bag sizes that the clinic stocks, smallest first; when it stocks none of
    them, every size it stocks."""
    protocol_bag_stocked: bool


def _dominated_below_ml(syringe: Syringe, syringes: tuple[Syringe, ...]) -> float:
    """The volume below which another syringe measures at least as closely as ``syringe``.

    That is a syringe whose graduations include all of this one's (0.1 mL marks include the
    0.2 mL ones) and that still holds both graduations around the volume. Skipping dominated
    syringes changes no choice and makes the search several times faster.
    """
    limit = 0.0
    for finer in syringes:
        ratio = syringe.graduation_ml / finer.graduation_ml
        if (
            finer is not syringe
            and ratio >= 1
            and abs(ratio - round(ratio)) < 1e-9
            and (finer.capacity_ml < syringe.capacity_ml or ratio > 1)
        ):
            limit = max(limit, finer.capacity_ml - finer.graduation_ml)
    return limit


@remembered_per_object
def _stock(clinic: ClinicSettings, bag_choices_ml: tuple[float, ...]) -> _Stock:
    """The stock for one protocol's bag choices.

    A protocol's bag size is clinic policy (which bag a mood infusion usually runs in), while
    the bag sizes in stock are what the clinic can actually hang. When the clinic stocks none of
    the protocol's sizes, the infusion is prepared in the smallest stocked bag that keeps the
    final concentration under the maximum rather than not at all, and the card says so.
    """
    prep = clinic.preparation
    stocked = tuple(sorted(b for b in bag_choices_ml if b in prep.bag_sizes_ml))
    return _Stock(
        syringes=tuple(
            _SyringeInStock(
                syringe,
                syringe.graduation_ml,
                syringe.capacity_ml + syringe.graduation_ml,
                syringe.capacity_ml + _EPS,
                _dominated_below_ml(syringe, clinic.syringes),
            )
            for syringe in clinic.syringes
        ),
        finest=min(clinic.syringes, key=lambda s: s.graduation_ml),
        min_draw_ml=prep.min_draw_ml,
        lowest_error=-prep.max_delivered_undershoot_fraction - _EPS,
        highest_error=prep.max_delivered_overshoot_fraction + _EPS,
        bags_ml=stocked or tuple(sorted(prep.bag_sizes_ml)),
        protocol_bag_stocked=bool(stocked),
    )


def _closest_single_draw(
    ordered_mg: float, clinic: ClinicSettings, stock: _Stock
) -> _Candidate | None:
    """The closest draw with one syringe, within the tolerances: for each vial and syringe, the
    graduations either side of the exact volume."""
    smallest_ml = stock.min_draw_ml - _EPS
    lowest, highest = stock.lowest_error, stock.highest_error
    best: _Candidate | None = None
    best_error = math.inf
    for vial in clinic.vials:
        exact_ml = ordered_mg / vial.mg_per_ml
        for option in stock.syringes:
            if exact_ml > option.brackets_up_to_ml or exact_ml <= option.dominated_below_ml:
                continue
            step = option.graduation_ml
            below = math.floor(exact_ml / step + 1e-9)
            for graduations in (below, below + 1):
                draw_ml = graduations * step
                if not smallest_ml <= draw_ml <= option.holds_up_to_ml:
                    continue
                error = draw_ml * vial.mg_per_ml / ordered_mg - 1.0
                if lowest <= error <= highest and abs(error) < best_error - 1e-9:
                    best, best_error = (vial, ((option.syringe, graduations),), draw_ml), abs(error)
    return best


def _split_draws(exact_ml: float, vial: Vial, stock: _Stock) -> Iterator[_Candidate]:
    """Draws with two syringes: a larger one to a graduation below the exact volume, and the
    finest syringe for the remainder (what a nurse does when no single syringe reads close
    enough, e.g. 1.58 mL of 100 mg/mL)."""
    min_draw_ml = stock.min_draw_ml
    finest = stock.finest
    for option in stock.syringes:
        main = option.syringe
        if main is finest:
            continue
        graduations = min(
            math.floor(exact_ml / main.graduation_ml + 1e-9),
            math.floor(main.capacity_ml / main.graduation_ml + 1e-9),
        )
        main_ml = graduations * main.graduation_ml
        rest_ml = exact_ml - main_ml
        if main_ml < min_draw_ml or rest_ml < min_draw_ml or rest_ml > finest.capacity_ml:
            continue
        rest = math.floor(rest_ml / finest.graduation_ml + 0.5 + 1e-9)
        yield (vial, ((main, graduations), (finest, rest)), main_ml + rest * finest.graduation_ml)


def _best_draw(ordered_mg: float, clinic: ClinicSettings, stock: _Stock) -> _Candidate:
    """The vial and syringe(s) that measure the order most exactly, within the tolerances.

    One syringe if any measures the order within tolerance, else a split draw with two.
    Preference: least rounding error; then the most dilute vial (fewer tenfold-error risks);
    then the smallest syringe (finest graduations). Vials and syringes are sorted small to
    large, so on a tie the first found wins.
    """
    single = _closest_single_draw(ordered_mg, clinic, stock)
    if single is not None:
        return single
    lowest, highest = stock.lowest_error, stock.highest_error
    best: _Candidate | None = None
    best_error = math.inf
    for vial in clinic.vials:
        for candidate in _split_draws(ordered_mg / vial.mg_per_ml, vial, stock):
            error = candidate[2] * vial.mg_per_ml / ordered_mg - 1.0
            if lowest <= error <= highest and abs(error) < best_error - 1e-9:
                best, best_error = candidate, abs(error)
    if best is not None:
        return best
    prep = clinic.preparation
    raise InputError(
        f"{ordered_mg:g} mg cannot be drawn within +{prep.max_delivered_overshoot_fraction:.0%}"
        f"/-{prep.max_delivered_undershoot_fraction:.0%} with the vials "
        f"({', '.join(f'{v.mg_per_ml:g} mg/mL' for v in clinic.vials)}) and syringes in "
        "stock; add a syringe or vial strength to the clinic settings",
        code="input.cannot_prepare",
        fields={"ordered_mg": ordered_mg},
    )


def prepare_infusion(
    ordered_mg: float,
    duration_min: float,
    bag_choices_ml: tuple[float, ...],
    clinic: ClinicSettings,
) -> Preparation:
    """Vial, draw, bag, final concentration and pump rate for one infusion."""
    if not (ordered_mg > 0 and math.isfinite(ordered_mg)):
        raise InputError(
            f"ordered dose {ordered_mg!r} mg must be positive",
            code="input.out_of_range",
            fields={"field": "total_mg"},
        )
    prep = clinic.preparation
    stock = _stock(clinic, bag_choices_ml)
    vial, fill_counts, exact_draw_ml = _best_draw(ordered_mg, clinic, stock)
    fills = tuple(
        SyringeFill(
            syringe.capacity_ml,
            syringe.graduation_ml,
            round_half_up(count * syringe.graduation_ml, syringe.graduation_ml),
        )
        for syringe, count in fill_counts
    )
    draw_ml = round(exact_draw_ml, 3)
    drawn_mg = draw_ml * vial.mg_per_ml
    if not stock.bags_ml:
        raise InputError(
            "the clinic stocks no infusion bags; add a bag size to the clinic settings",
            code="input.cannot_prepare",
            fields={"bag_choices_ml": list(bag_choices_ml)},
        )
    bag_ml = None
    for size in stock.bags_ml:
        if drawn_mg / (size + draw_ml) <= prep.max_final_mg_per_ml + _EPS:
            bag_ml = size
            break
    if bag_ml is None:
        raise InputError(
            f"{drawn_mg:g} mg in the largest bag ({stock.bags_ml[-1]:g} mL) is more "
            f"concentrated than {prep.max_final_mg_per_ml:g} mg/mL; use a larger bag",
            code="input.cannot_prepare",
            fields={"ordered_mg": ordered_mg},
        )
    total_volume_ml = bag_ml + draw_ml
    final_mg_per_ml = drawn_mg / total_volume_ml
    hours = duration_min / 60.0
    rate = round_half_up(total_volume_ml / hours, prep.pump_resolution_ml_per_h)
    vtbi_ml = round(total_volume_ml, 2)
    delivered_mg = min(rate * hours, total_volume_ml) * final_mg_per_ml
    vials_needed = math.ceil(draw_ml / vial.volume_ml - _EPS)
    return Preparation(
        vial_mg_per_ml=vial.mg_per_ml,
        vial_volume_ml=vial.volume_ml,
        vials_needed=vials_needed,
        syringes=fills,
        draw_ml=draw_ml,
        drawn_mg=round(drawn_mg, 3),
        waste_mg=round(vials_needed * vial.mg - drawn_mg, 3),
        diluent=prep.diluent,
        bag_ml=bag_ml,
        total_volume_ml=round(total_volume_ml, 3),
        final_mg_per_ml=round(final_mg_per_ml, 4),
        duration_min=duration_min,
        pump_rate_ml_per_h=rate,
        vtbi_ml=vtbi_ml,
        delivered_mg=round(delivered_mg, 2),
        ordered_mg=ordered_mg,
        protocol_bags_ml=() if stock.protocol_bag_stocked else tuple(bag_choices_ml),
    )


def preparation_steps(p: Preparation) -> list[str]:
    """The preparation card, one instruction a line."""
    vials = f"{p.vials_needed} vial{'s' if p.vials_needed > 1 else ''}"
    steps = [
        f"Take {vials} of ketamine {p.vial_mg_per_ml:g} mg/mL ({p.vial_volume_ml:g} mL).",
        "Draw "
        + " plus ".join(
            f"{f.draw_ml:g} mL in a {f.capacity_ml:g} mL syringe "
            f"(graduations {f.graduation_ml:g} mL)"
            for f in p.syringes
        )
        + f": {p.draw_ml:g} mL, {p.drawn_mg:g} mg.",
        f"Add to a {p.bag_ml:g} mL bag of {p.diluent}: {p.total_volume_ml:g} mL at "
        f"{p.final_mg_per_ml:g} mg/mL. Label the bag.",
        f"Program the pump: {p.pump_rate_ml_per_h:g} mL/h, volume to be infused "
        f"{p.vtbi_ml:g} mL, over {p.duration_min:g} min.",
        f"Record waste: {p.waste_mg:g} mg, witnessed.",
    ]
    if p.protocol_bags_ml:
        sizes = " or ".join(f"{b:g} mL" for b in p.protocol_bags_ml)
        steps.insert(
            2,
            f"The protocol's {sizes} bag is not in the clinic's stock: this card uses the "
            f"clinic's {p.bag_ml:g} mL bag (pump rate and concentration worked out for it).",
        )
    if p.vial_mg_per_ml >= 100:
        steps.insert(1, "100 mg/mL must be diluted before IV use: never give it undiluted.")
    return steps
