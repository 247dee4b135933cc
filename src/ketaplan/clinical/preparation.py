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
from dataclasses import dataclass

from ketaplan.clinical.catalog import ClinicSettings, Syringe, Vial
from ketaplan.errors import InputError
from ketaplan.units import round_half_up

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Preparation:
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

    @property
    def delivered_vs_ordered_percent(self) -> float:
        return (self.delivered_mg / self.ordered_mg - 1.0) * 100.0


@dataclass(frozen=True, slots=True)
class SyringeFill:
    """One syringe drawn to one graduation."""

    capacity_ml: float
    graduation_ml: float
    draw_ml: float


@dataclass(frozen=True, slots=True)
class _Draw:
    vial: Vial
    fills: tuple[SyringeFill, ...]
    draw_ml: float
    drawn_mg: float
    error: float


def _fill(syringe: Syringe, graduations: int) -> SyringeFill:
    step = syringe.graduation_ml
    return SyringeFill(syringe.capacity_ml, step, round_half_up(graduations * step, step))


def _single_draws(ordered_mg: float, vial: Vial, clinic: ClinicSettings) -> list[_Draw]:
    """Draws with one syringe: the graduations either side of the exact volume."""
    min_draw_ml = clinic.preparation.min_draw_ml
    exact_ml = ordered_mg / vial.mg_per_ml
    draws = []
    searched_steps: list[float] = []
    for syringe in clinic.syringes:
        step = syringe.graduation_ml
        if exact_ml > syringe.capacity_ml + step or any(
            abs(step / fine - round(step / fine)) < 1e-9 for fine in searched_steps
        ):
            # Too small, or its graduations are a subset of a finer syringe's that already held
            # both neighbours of the exact volume: it cannot measure closer.
            continue
        below = math.floor(exact_ml / step + 1e-9)
        if (below + 1) * step <= syringe.capacity_ml + _EPS:
            searched_steps.append(step)
        for graduations in (below, below + 1):
            draw_ml = graduations * step
            if min_draw_ml - _EPS <= draw_ml <= syringe.capacity_ml + _EPS:
                drawn_mg = draw_ml * vial.mg_per_ml
                draws.append(
                    _Draw(
                        vial,
                        (_fill(syringe, graduations),),
                        draw_ml,
                        drawn_mg,
                        drawn_mg / ordered_mg - 1.0,
                    )
                )
    return draws


def _split_draws(ordered_mg: float, vial: Vial, clinic: ClinicSettings) -> list[_Draw]:
    """Draws with two syringes: a larger one to a graduation below the exact volume, and the
    finest syringe for the remainder (what a nurse does when no single syringe reads close
    enough, e.g. 1.58 mL of 100 mg/mL)."""
    min_draw_ml = clinic.preparation.min_draw_ml
    exact_ml = ordered_mg / vial.mg_per_ml
    finest = min(clinic.syringes, key=lambda s: s.graduation_ml)
    draws = []
    for main in clinic.syringes:
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
        draw_ml = main_ml + rest * finest.graduation_ml
        drawn_mg = draw_ml * vial.mg_per_ml
        draws.append(
            _Draw(
                vial,
                (_fill(main, graduations), _fill(finest, rest)),
                draw_ml,
                drawn_mg,
                drawn_mg / ordered_mg - 1.0,
            )
        )
    return draws


def _best_draw(ordered_mg: float, clinic: ClinicSettings) -> _Draw:
    """The vial and syringe(s) that measure the order most exactly, within the tolerances.

    One syringe if any measures the order within tolerance, else a split draw with two.
    Preference: least rounding error; then the most dilute vial (fewer tenfold-error risks);
    then the smallest syringe (finest graduations). Vials and syringes are sorted small to
    large, so on a tie the first found wins.
    """
    prep = clinic.preparation
    over = prep.max_delivered_overshoot_fraction
    under = prep.max_delivered_undershoot_fraction
    for candidates in (_single_draws, _split_draws):
        best: _Draw | None = None
        for vial in clinic.vials:
            for draw in candidates(ordered_mg, vial, clinic):
                within = -under - _EPS <= draw.error <= over + _EPS
                if within and (best is None or abs(draw.error) < abs(best.error) - 1e-9):
                    best = draw
        if best is not None:
            return best
    raise InputError(
        f"{ordered_mg:g} mg cannot be drawn within +{over:.0%}/-{under:.0%} with the vials "
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
    draw = _best_draw(ordered_mg, clinic)
    stocked = [b for b in bag_choices_ml if b in prep.bag_sizes_ml]
    if not stocked:
        raise InputError(
            f"none of the protocol's bag sizes ({', '.join(f'{b:g} mL' for b in bag_choices_ml)})"
            f" is in the clinic's stock ({', '.join(f'{b:g} mL' for b in prep.bag_sizes_ml)})",
            code="input.cannot_prepare",
            fields={"bag_choices_ml": list(bag_choices_ml)},
        )
    bag_ml = None
    for size in sorted(stocked):
        if draw.drawn_mg / (size + draw.draw_ml) <= prep.max_final_mg_per_ml + _EPS:
            bag_ml = size
            break
    if bag_ml is None:
        raise InputError(
            f"{draw.drawn_mg:g} mg in the largest bag ({max(stocked):g} mL) is more "
            f"concentrated than {prep.max_final_mg_per_ml:g} mg/mL; use a larger bag",
            code="input.cannot_prepare",
            fields={"ordered_mg": ordered_mg},
        )
    total_volume_ml = bag_ml + draw.draw_ml
    final_mg_per_ml = draw.drawn_mg / total_volume_ml
    hours = duration_min / 60.0
    rate = round_half_up(total_volume_ml / hours, prep.pump_resolution_ml_per_h)
    vtbi_ml = round(total_volume_ml, 2)
    delivered_mg = min(rate * hours, total_volume_ml) * final_mg_per_ml
    vials_needed = math.ceil(draw.draw_ml / draw.vial.volume_ml - _EPS)
    return Preparation(
        vial_mg_per_ml=draw.vial.mg_per_ml,
        vial_volume_ml=draw.vial.volume_ml,
        vials_needed=vials_needed,
        syringes=draw.fills,
        draw_ml=round(draw.draw_ml, 3),
        drawn_mg=round(draw.drawn_mg, 3),
        waste_mg=round(vials_needed * draw.vial.mg - draw.drawn_mg, 3),
        diluent=prep.diluent,
        bag_ml=bag_ml,
        total_volume_ml=round(total_volume_ml, 3),
        final_mg_per_ml=round(final_mg_per_ml, 4),
        duration_min=duration_min,
        pump_rate_ml_per_h=rate,
        vtbi_ml=vtbi_ml,
        delivered_mg=round(delivered_mg, 2),
        ordered_mg=ordered_mg,
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
    if p.vial_mg_per_ml >= 100:
        steps.insert(1, "100 mg/mL must be diluted before IV use: never give it undiluted.")
    return steps
