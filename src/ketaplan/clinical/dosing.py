"""The personalised starting dose, with every step of how it was reached.

Start from the protocol's mg/kg, apply the documented modifiers in a fixed order (sensitivity,
experience, severity, preference, age, interacting medication classes), keep the result inside
the protocol's range — saying so when a bound is reached — and round to 0.01 mg/kg. A prescriber
may then ask for a specific mg/kg; that is a step of its own, and the limits decide whether it
needs an override (:mod:`ketaplan.clinical.limits`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ketaplan.clinical.catalog import Catalog, Protocol
from ketaplan.clinical.catalog.citations import POLICY, cited
from ketaplan.clinical.catalog.memo import remembered_per_object
from ketaplan.clinical.profile import DosingWeight, PatientProfile, WeightBasis
from ketaplan.clinical.screening import Finding
from ketaplan.errors import InputError
from ketaplan.units import round_half_up

MG_PER_KG_STEP = 0.01
TOTAL_MG_STEP = 0.1


class ExplanationStep(NamedTuple):
    """One step of the dose calculation: which rule, the value before and after, and why."""

    rule: str
    before: float | None
    after: float
    unit: str
    reason: str
    source: str


class Dose(NamedTuple):
    dosing_weight_kg: float
    weight_basis: WeightBasis
    mg_per_kg: float
    total_mg: float
    duration_min: float
    rate_mg_per_kg_per_h: float
    personalised_mg_per_kg: float
    explanation: tuple[ExplanationStep, ...]
    cautions: tuple[Finding, ...] = ()
    """What the prescriber must look at before signing this dose (the plan's findings)."""

    @property
    def rate_mg_per_h(self) -> float:
        return self.total_mg / (self.duration_min / 60.0)


class _Factor(NamedTuple):
    """A modifier or an interaction class as a dose step: the factor and the step's text."""

    rule: str
    factor: float
    min_age_years: float | None
    reason: str
    source: str


class _DoseRules(NamedTuple):
    """What a protocol's dose explanation says that is the same for every patient."""

    start: ExplanationStep
    modifiers: dict[str, _Factor]
    """The catalog's modifiers that apply to this protocol's category, by key."""
    interactions: dict[str, _Factor]
    below_range_reason: str
    above_range_reason: str
    range_source: str
    rounding_reason: str
    rounding_source: str
    rate_cap_source: str
    devine: str


def protocol_source(protocol: Protocol, catalog: Catalog, field: str) -> str:
    """Where one of the protocol's numbers comes from (its own source, else its table's)."""
    table = field.split(".")[0]
    quote = protocol.quotes.get(field) or protocol.quotes.get(table)
    return cited(catalog, protocol.source_of(field), quote)


def factor_source(catalog: Catalog, factor: float, source: str, factor_src: str, names: str) -> str:
    """The source of a modifier's or interaction's factor. When no source gives the factor
    the plan says so, and which source named the modifier: the factor is the clinic's."""
    if (factor_src or source) != POLICY:
        return catalog.cite(factor_src or source)
    return (
        f"clinic policy: no source gives the factor x{factor:g}; {source} names the {names} "
        f"({catalog.cite(source)})"
    )


def rate_cap_mg_per_kg(protocol: Protocol, weight_kg: float) -> float | None:
    """The highest mg/kg the protocol's mg/h cap allows at this weight, rounded down to
    0.01 mg/kg (None when the protocol has no cap)."""
    if protocol.max_rate_mg_per_h is None:
        return None
    cap = protocol.max_rate_mg_per_h * protocol.infusion_min / 60.0 / weight_kg
    return round(math.floor(cap / MG_PER_KG_STEP + 1e-9) * MG_PER_KG_STEP, 6)


@remembered_per_object
def _dose_rules(protocol: Protocol, catalog: Catalog) -> _DoseRules:
    low, high = protocol.range_mg_per_kg
    rate = protocol.rate_mg_per_kg_per_h
    return _DoseRules(
        start=ExplanationStep(
            "protocol.start",
            None,
            protocol.start_mg_per_kg,
            "mg/kg",
            f"{protocol.title}: protocol starting dose over {protocol.infusion_min:g} min"
            + (f" ({rate:g} mg/kg/h)" if rate is not None else ""),
            protocol_source(
                protocol, catalog, "start_mg_per_kg" if rate is None else "rate_mg_per_kg_per_h"
            ),
        ),
        modifiers={
            key: _Factor(
                f"modifier.{key}",
                modifier.factor,
                modifier.min_age_years,
                f"{modifier.reason} (x{modifier.factor:g})",
                factor_source(
                    catalog, modifier.factor, modifier.source, modifier.factor_source, "modifier"
                ),
            )
            for key, modifier in catalog.modifiers.items()
            if protocol.category in modifier.categories
        },
        interactions={
            key: _Factor(
                f"interaction.{key}",
                entry.dose_factor,
                None,
                f"{entry.dose_reason} (x{entry.dose_factor:g})",
                factor_source(
                    catalog,
                    entry.dose_factor,
                    entry.source,
                    entry.dose_factor_source,
                    "interaction",
                ),
            )
            for key, entry in catalog.interaction_classes.items()
        },
        below_range_reason=f"the modifiers took the dose below the protocol range "
        f"{low:g}-{high:g} mg/kg: the minimum is used; a lower "
        "dose needs a prescriber's request and override",
        above_range_reason=f"the modifiers took the dose above the protocol range "
        f"{low:g}-{high:g} mg/kg: the maximum is used; a higher "
        "dose needs a prescriber's request and override",
        range_source=protocol_source(protocol, catalog, "range_mg_per_kg"),
        rounding_reason=f"rounded to {MG_PER_KG_STEP:g} mg/kg",
        rounding_source=catalog.cite(POLICY),
        rate_cap_source=protocol_source(protocol, catalog, "max_rate_mg_per_h"),
        devine=catalog.cite("devine"),
    )


def _modifier_keys(profile: PatientProfile, protocol: Protocol) -> list[str]:
    keys = []
    if profile.sensitivity != "normal":
        keys.append(f"sensitivity.{profile.sensitivity}")
    keys.append(f"experience.{profile.experience}")
    if profile.severity != "moderate":
        severe_mood = profile.severity == "severe" and protocol.category == "mood"
        keys.append("severity.severe_mood" if severe_mood else f"severity.{profile.severity}")
    if profile.preference != "standard":
        keys.append(f"preference.{profile.preference}")
    keys.append("age.older_adult")
    return keys


def total_mg(mg_per_kg: float, weight_kg: float) -> float:
    """mg/kg × kg, rounded half up to 0.1 mg (what a syringe of 10 mg/mL can resolve)."""
    return round_half_up(mg_per_kg * weight_kg, TOTAL_MG_STEP)


def personalise_dose(
    profile: PatientProfile,
    protocol: Protocol,
    catalog: Catalog,
    weight: DosingWeight,
    interaction_classes: tuple[str, ...] = (),
    requested_mg_per_kg: float | None = None,
) -> Dose:
    """The starting dose for this patient under this protocol, explained step by step."""
    rules = _dose_rules(protocol, catalog)
    steps = [
        ExplanationStep(
            "dosing_weight",
            profile.weight_kg,
            weight.weight_kg,
            "kg",
            weight.reason,
            catalog.cite(weight.source),
        ),
        rules.start,
    ]
    value = protocol.start_mg_per_kg
    for key in _modifier_keys(profile, protocol):
        modifier = rules.modifiers.get(key)
        if modifier is None:
            continue
        if modifier.min_age_years is not None and (
            profile.age_years is None or profile.age_years < modifier.min_age_years
        ):
            continue
        after = value * modifier.factor
        steps.append(
            ExplanationStep(modifier.rule, value, after, "mg/kg", modifier.reason, modifier.source)
        )
        value = after
    for cls in interaction_classes:
        interaction = rules.interactions[cls]
        after = value * interaction.factor
        steps.append(
            ExplanationStep(
                interaction.rule, value, after, "mg/kg", interaction.reason, interaction.source
            )
        )
        value = after
    low, high = protocol.range_mg_per_kg
    cautions = []
    if weight.caution is not None:
        cautions.append(
            Finding("dose.weight_formula_outside_range", "caution", weight.caution, rules.devine)
        )
    if value < low:
        steps.append(
            ExplanationStep(
                "range.minimum", value, low, "mg/kg", rules.below_range_reason, rules.range_source
            )
        )
        cautions.append(_raised_to_minimum(steps, value, low, rules.range_source))
        value = low
    elif value > high:
        steps.append(
            ExplanationStep(
                "range.maximum", value, high, "mg/kg", rules.above_range_reason, rules.range_source
            )
        )
        value = high
    cap = rate_cap_mg_per_kg(protocol, weight.weight_kg)
    if cap is not None and value > cap + 1e-12:
        steps.append(
            ExplanationStep(
                "protocol.rate_cap",
                value,
                cap,
                "mg/kg",
                f"{protocol.title}: the rate may not exceed {protocol.max_rate_mg_per_h:g} mg/h, "
                f"so at {weight.weight_kg:g} kg over {protocol.infusion_min:g} min the dose is "
                f"at most {cap:.2f} mg/kg; a higher dose needs a prescriber's request and override",
                rules.rate_cap_source,
            )
        )
        value = cap
    rounded = round_half_up(value, MG_PER_KG_STEP)
    if abs(rounded - value) > 1e-12:
        steps.append(
            ExplanationStep(
                "rounding", value, rounded, "mg/kg", rules.rounding_reason, rules.rounding_source
            )
        )
    personalised = rounded
    mg_per_kg = personalised
    if requested_mg_per_kg is not None:
        if not math.isfinite(requested_mg_per_kg) or requested_mg_per_kg <= 0:
            raise InputError(
                f"requested dose {requested_mg_per_kg!r} mg/kg must be a positive number",
                code="input.out_of_range",
                fields={"field": "mg_per_kg", "value": requested_mg_per_kg},
            )
        mg_per_kg = round(requested_mg_per_kg, 3)
        steps.append(
            ExplanationStep(
                "prescriber.request",
                personalised,
                mg_per_kg,
                "mg/kg",
                "dose requested by the prescriber",
                "prescriber",
            )
        )
    total = total_mg(mg_per_kg, weight.weight_kg)
    steps.append(
        ExplanationStep(
            "total",
            None,
            total,
            "mg",
            f"{mg_per_kg:g} mg/kg x {weight.weight_kg:g} kg ({weight.basis} body weight)",
            "arithmetic",
        )
    )
    return Dose(
        dosing_weight_kg=weight.weight_kg,
        weight_basis=weight.basis,
        mg_per_kg=mg_per_kg,
        total_mg=total,
        duration_min=protocol.infusion_min,
        rate_mg_per_kg_per_h=mg_per_kg * 60.0 / protocol.infusion_min,
        personalised_mg_per_kg=personalised,
        explanation=tuple(steps),
        cautions=tuple(cautions),
    )


def _raised_to_minimum(
    steps: list[ExplanationStep], lowered_mg_per_kg: float, minimum_mg_per_kg: float, source: str
) -> Finding:
    """The caution when the range minimum undoes what the modifiers decided: the patient gets
    more than the modifiers gave, and only the prescriber can accept that or ask for less."""
    lowering = [s.rule for s in steps if s.before is not None and s.after < s.before]
    return Finding(
        "dose.raised_to_range_minimum",
        "caution",
        f"The modifiers ({', '.join(lowering)}) lowered the dose to {lowered_mg_per_kg:.3g} "
        f"mg/kg, below the protocol minimum of {minimum_mg_per_kg:g} mg/kg; the plan raises it "
        f"to {minimum_mg_per_kg:g} mg/kg, more than the modifiers give. Confirm "
        f"{minimum_mg_per_kg:g} mg/kg, or request a lower dose (an override with a reason).",
        source,
    )
