"""From an ordered dose to a prepared bag and a programmed pump.

The steps a nurse follows in the medication room: which vial strength and syringe(s), how many
mL to draw (to graduations the syringes show), which bag of diluent, the final concentration,
the pump rate rounded to the pump's 0.1 mL/h, and the volume to be infused.

Accuracy (clinic data, ``[preparation]`` in ``clinic.toml``):

- The draw comes within ±``draw_tolerance_fraction`` (1 %) of the order whenever the stock can
  measure it, with one syringe or split between two (one syringe to a graduation, the rest in
  another).
- Among draws within tolerance the most dilute vial wins, even when a stronger vial would
  measure closer or with one syringe: a 10 vs 100 mg/mL mix-up is a tenfold error (950 mg
  given for 95 mg, Bohringer, AHRQ PSNet 2021), and the Ketalar label requires 100 mg/mL to
  be diluted before IV use. Within a vial, one syringe before two, then the least rounding.
- When no draw comes within tolerance, the closest is used and the card carries the caution
  ``preparation.draw_outside_tolerance`` with the actual deviation; past
  ``max_delivered_overshoot_fraction`` / ``max_delivered_undershoot_fraction`` it is refused.

The bag holds more than its label: manufacturers overfill (100 mL bags of diluent measured a
mean 109.3 mL, Am J Crit Care 2000;9:130), so the clinic's ``bag_overfill_fraction`` is added
to the nominal volume. The card adds the drug to the bag without withdrawing any diluent, so
the volume in the bag is nominal + overfill + drawn volume; the final concentration, the pump
rate and the volume to be infused are worked out from it. The clinic's maximum concentration
(2 mg/mL by default) is checked on the nominal volume, which the overfill only dilutes.
Ketamine is never given undiluted: every preparation goes into a bag.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from ketaplan.clinical.catalog import ClinicDefaults, Syringe, Vial
from ketaplan.clinical.catalog.memo import remembered_per_object
from ketaplan.clinical.screening import Finding
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
    bag_overfill_ml: float = 0.0
    """The diluent above the bag's label, by the clinic's overfill setting."""
    tolerance_fraction: float = 0.01
    """The clinic's accuracy target (±) for the draw and the delivered dose."""

    @property
    def delivered_vs_ordered_percent(self) -> float:
        return (self.delivered_mg / self.ordered_mg - 1.0) * 100.0

    @property
    def drawn_vs_ordered_percent(self) -> float:
        return (self.drawn_mg / self.ordered_mg - 1.0) * 100.0

    @property
    def within_tolerance(self) -> bool:
        """Both the draw and what the pump delivers are within the clinic's tolerance."""
        limit = self.tolerance_fraction * 100.0 + 1e-6
        return (
            abs(self.drawn_vs_ordered_percent) <= limit
            and abs(self.delivered_vs_ordered_percent) <= limit
        )


class SyringeFill(NamedTuple):
    """One syringe drawn to one graduation."""

    capacity_ml: float
    graduation_ml: float
    draw_ml: float


class _Draw(NamedTuple):
    """A candidate draw: the vial, (syringe, graduations) for each fill, the mL drawn, and its
    error against the order (drawn mg / ordered mg - 1)."""

    vial: Vial
    fills: tuple[tuple[Syringe, int], ...]
    draw_ml: float
    error: float


class _SyringeInStock(NamedTuple):
    """A syringe with the bounds the draw search compares against, worked out once."""

    syringe: Syringe
    graduation_ml: float
    capacity_ml: float
    brackets_up_to_ml: float
    """Capacity plus one graduation: a larger volume has no graduation above it."""
    holds_up_to_ml: float
    """Capacity, with the tolerance for binary noise."""
    dominated_below_ml: float
    """Below this volume another syringe measures at least as closely."""
    full_graduations: int
    """The graduations of a full syringe."""
    min_graduations: int
    """The fewest graduations that make the smallest draw."""


class _Stock(NamedTuple):
    """The clinic's supplies as the preparation of one protocol's infusions uses them."""

    syringes: tuple[_SyringeInStock, ...]
    """Smallest first."""
    rest_syringes: tuple[tuple[Syringe, float, int, int], ...]
    """The same syringes, smallest first, as the second syringe of a split reads them: the
    syringe, its graduation in mL, the fewest and the most graduations it draws."""
    min_draw_ml: float
    tolerance: float
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
def _stock(clinic: ClinicDefaults, bag_choices_ml: tuple[float, ...]) -> _Stock:
    """The stock for one protocol's bag choices.

    A protocol's bag size is clinic policy (which bag a mood infusion usually runs in), while
    the bag sizes in stock are what the clinic can actually hang. When the clinic stocks none of
    the protocol's sizes, the infusion is prepared in the smallest stocked bag that keeps the
    final concentration under the maximum rather than not at all, and the card says so.
    """
    prep = clinic.preparation
    stocked = tuple(sorted(b for b in bag_choices_ml if b in prep.bag_sizes_ml))
    syringes = tuple(
        _SyringeInStock(
            syringe,
            syringe.graduation_ml,
            syringe.capacity_ml,
            syringe.capacity_ml + syringe.graduation_ml,
            syringe.capacity_ml + _EPS,
            _dominated_below_ml(syringe, clinic.syringes),
            math.floor(syringe.capacity_ml / syringe.graduation_ml + 1e-9),
            math.ceil(prep.min_draw_ml / syringe.graduation_ml - 1e-9),
        )
        for syringe in clinic.syringes
    )
    return _Stock(
        syringes=syringes,
        rest_syringes=tuple(
            (s.syringe, s.graduation_ml, s.min_graduations, s.full_graduations) for s in syringes
        ),
        min_draw_ml=prep.min_draw_ml,
        tolerance=prep.draw_tolerance_fraction + _EPS,
        lowest_error=-prep.max_delivered_undershoot_fraction - _EPS,
        highest_error=prep.max_delivered_overshoot_fraction + _EPS,
        bags_ml=stocked or tuple(sorted(prep.bag_sizes_ml)),
        protocol_bag_stocked=bool(stocked),
    )


def _closest_single(ordered_mg: float, vial: Vial, stock: _Stock) -> _Draw | None:
    """The closest draw with one syringe inside the clinic's bounds: for each syringe, the
    graduations either side of the exact volume; on a tie the smaller syringe."""
    exact_ml = ordered_mg / vial.mg_per_ml
    smallest_ml = stock.min_draw_ml - _EPS
    lowest, highest = stock.lowest_error, stock.highest_error
    best: _Draw | None = None
    best_error = math.inf
    for option in stock.syringes:
        if exact_ml > option.brackets_up_to_ml or exact_ml <= option.dominated_below_ml:
            continue
        step = option.graduation_ml
        below = math.floor(exact_ml / step + 1e-9)
        for graduations in (below, below + 1):
            draw_ml = graduations * step
            if smallest_ml <= draw_ml <= option.holds_up_to_ml:
                error = draw_ml / exact_ml - 1.0
                if abs(error) < best_error - 1e-9 and lowest <= error <= highest:
                    best_error = abs(error)
                    best = _Draw(vial, ((option.syringe, graduations),), draw_ml, error)
    return best


def _closest_split(ordered_mg: float, vial: Vial, stock: _Stock) -> _Draw | None:
    """The closest draw with two syringes: one filled to a graduation at or just under the
    exact volume (or full), the rest, no more than the first holds, to the nearest graduation
    of another syringe. What a nurse does when no single syringe reads close enough: 3.5 mL as
    3 mL plus 0.5 mL in a 1 mL syringe, 25 mL as a full 20 mL syringe plus 5 mL.

    The first syringe is also tried a few graduations lower (``_SPLIT_STEPS_BELOW``), and low
    enough to leave the smallest draw: the rest may then be one another syringe measures, when
    its graduations are not a divisor of the first's (0.2 and 0.5 mL marks). A rest larger
    than the second syringe fills it (the closest that syringe comes). Draws outside the
    clinic's bounds are not candidates (with bounds of, say, +1 % / -5 %, a draw 3 % under is
    taken before one 2 % over).
    """
    exact_ml = ordered_mg / vial.mg_per_ml
    min_draw_ml = stock.min_draw_ml - _EPS
    lowest, highest = stock.lowest_error, stock.highest_error
    lowest_ml = exact_ml * (1.0 + lowest)
    best: _Draw | None = None
    best_error = math.inf
    for main in reversed(stock.syringes):  # the largest first: it finds an exact split soonest
        if 2 * main.capacity_ml < lowest_ml or exact_ml <= main.dominated_below_ml:
            continue
        step = main.graduation_ml
        top = min(math.floor(exact_ml / step + 1e-9), main.full_graduations)
        tried: Iterable[int] = range(top, max(top - _SPLIT_STEPS_BELOW, 0), -1)
        if exact_ml - top * step < min_draw_ml:  # also leave at least the smallest draw
            start = min(math.floor((exact_ml - stock.min_draw_ml) / step + 1e-9), top - 1)
            lower = range(start, max(start - _SPLIT_STEPS_BELOW, 0), -1)
            tried = dict.fromkeys((*tried, *lower))
        for graduations in tried:
            main_ml = graduations * step
            rest_ml = exact_ml - main_ml
            if main_ml < min_draw_ml or rest_ml < _EPS or 2 * main_ml < lowest_ml:
                continue
            most_ml = main_ml + _EPS  # the second syringe takes no more than the first
            for other, other_step, fewest, full in stock.rest_syringes:
                near = math.floor(rest_ml / other_step + 1e-9)
                for count in (near, near + 1):
                    rest = count if fewest <= count <= full else min(max(count, fewest), full)
                    rest_drawn_ml = rest * other_step
                    if rest_drawn_ml > most_ml:
                        continue
                    error = (main_ml + rest_drawn_ml) / exact_ml - 1.0
                    if abs(error) < best_error - 1e-9 and lowest <= error <= highest:
                        best_error = abs(error)
                        fills = ((main.syringe, graduations), (other, rest))
                        best = _Draw(vial, fills, main_ml + rest_drawn_ml, error)
                        if best_error < 1e-9:
                            return best  # exact: nothing measures closer
    return best


_SPLIT_STEPS_BELOW = 5
"""Graduations below the exact volume a split draw's first syringe is tried at (with marks of
0.1, 0.2, 0.5 and 1 mL, the rest's fraction repeats within five steps)."""


def _best_draw(ordered_mg: float, clinic: ClinicDefaults, stock: _Stock) -> _Draw:
    """The draw the card prescribes (see the module's docstring for the order of preference).

    Vials are sorted most dilute first, so the first vial with a draw within tolerance wins.
    """
    tolerance = stock.tolerance
    closest: _Draw | None = None
    for vial in clinic.vials:
        for closest_draw in (_closest_single, _closest_split):
            best = closest_draw(ordered_mg, vial, stock)
            if best is None:
                continue
            if abs(best.error) <= tolerance:
                return best
            if closest is None or abs(best.error) < abs(closest.error) - 1e-9:
                closest = best
    if closest is not None:
        return closest
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
    clinic: ClinicDefaults,
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
    vial, fill_counts, exact_draw_ml, _ = _best_draw(ordered_mg, clinic, stock)
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
    overfill_ml = round(bag_ml * prep.bag_overfill_fraction, 1)
    total_volume_ml = bag_ml + overfill_ml + draw_ml
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
        bag_overfill_ml=overfill_ml,
        tolerance_fraction=prep.draw_tolerance_fraction,
    )


def preparation_findings(p: Preparation, source: str) -> tuple[Finding, ...]:
    """The caution for the prescriber when the stock cannot measure the order within the
    clinic's tolerance (``source``: the citation of that tolerance); the card says it too."""
    if p.within_tolerance:
        return ()
    return (Finding("preparation.draw_outside_tolerance", "caution", _deviation(p), source),)


def _deviation(p: Preparation) -> str:
    return (
        f"No draw the clinic's vials and syringes can measure comes within "
        f"±{p.tolerance_fraction * 100:g} % of the order: the closest, {p.draw_ml:g} mL of "
        f"{p.vial_mg_per_ml:g} mg/mL, is {p.drawn_mg:g} mg ({p.drawn_vs_ordered_percent:+.2f} %) "
        f"and the pump delivers {p.delivered_mg:g} mg ({p.delivered_vs_ordered_percent:+.2f} %) "
        f"of the {p.ordered_mg:g} mg ordered. Confirm this dose, or add a syringe or vial "
        "strength that measures it."
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
        f"Add to a {p.bag_ml:g} mL bag of {p.diluent}{_overfill(p)}: {p.total_volume_ml:g} mL "
        f"at {p.final_mg_per_ml:g} mg/mL. Label the bag.",
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
    if not p.within_tolerance:
        steps.insert(0, f"CAUTION: {_deviation(p)}")
    return steps


def _overfill(p: Preparation) -> str:
    if not p.bag_overfill_ml:
        return ""
    return (
        f" (it holds about {p.bag_ml + p.bag_overfill_ml:g} mL with the maker's overfill; "
        "withdraw nothing)"
    )
