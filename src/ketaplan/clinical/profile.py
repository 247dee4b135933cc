"""The patient profile: who is being dosed, validated at the boundary.

Weight and height arrive as text with units (``"176 lb"``, ``"5 ft 9 in"``) and leave as
``weight_kg`` and ``height_cm``. Values a person is unlikely to mean are refused with the likely
mistake named: 350 "kg" is probably pounds; 180 kg at 175 cm (BMI 59) when 180 lb gives BMI 27
is probably pounds too, and needs ``confirm_weight`` to be taken as kilograms.

Body size formulas (``clinical/REFERENCE.md`` section 1): BMI = kg / m²; Devine ideal body weight
= 50 kg (men) or 45.5 kg (women) + 2.3 kg per inch over 60 in; adjusted body weight =
IBW + 0.4 × (actual − IBW).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, cast, get_args

from ketaplan.clinical.catalog import Catalog, Protocol
from ketaplan.clinical.monitoring import ACCEPTED_RANGES, VitalSigns
from ketaplan.errors import InputError, InputErrors, InputProblems
from ketaplan.units import (
    CM_PER_IN,
    KG_PER_LB,
    is_pounds,
    parse_length_cm,
    parse_mass_kg,
    round_half_up,
    typed_number_and_unit,
)

Sex = Literal["female", "male"]
Sensitivity = Literal["normal", "high", "low"]
Experience = Literal["naive", "prior_ketamine", "prior_psychedelic"]
SymptomSeverity = Literal["mild", "moderate", "severe"]
Preference = Literal["standard", "lowest_effective"]
AlcoholUse = Literal["none", "occasional", "regular", "heavy"]
WeightBasis = Literal["actual", "ideal", "adjusted"]

MIN_WEIGHT_KG = 30.0
MAX_WEIGHT_KG = 300.0
MIN_HEIGHT_CM = 120.0
MAX_HEIGHT_CM = 230.0
MIN_BMI = 13.0
MAX_BMI = 80.0
IMPLAUSIBLE_BMI = 50.0
"""Above this BMI, a weight whose number reads as a normal BMI in pounds is questioned."""
ADULT_AGE_YEARS = 18
MAX_AGE_YEARS = 110


@dataclass(frozen=True, slots=True)
class PatientProfile:
    """Everything dosing and screening need to know about a patient, in canonical units."""

    weight_kg: float
    height_cm: float | None = None
    age_years: int | None = None
    sex: Sex | None = None
    pregnant: bool = False
    breastfeeding: bool = False
    history: tuple[str, ...] = ()
    medications: tuple[str, ...] = ()
    alcohol: AlcoholUse = "none"
    sensitivity: Sensitivity = "normal"
    experience: Experience = "naive"
    severity: SymptomSeverity = "moderate"
    preference: Preference = "standard"
    pre_infusion_vitals: VitalSigns | None = None

    @property
    def bmi(self) -> float | None:
        """Body-mass index in kg/m², or None without a height."""
        return bmi(self.weight_kg, self.height_cm) if self.height_cm else None


def bmi(weight_kg: float, height_cm: float) -> float:
    """Body-mass index, kg/m².

    >>> round(bmi(70, 175), 1)
    22.9
    """
    height_m = height_cm / 100.0
    return weight_kg / (height_m * height_m)


def ideal_body_weight_kg(height_cm: float, sex: Sex) -> float:
    """Devine ideal body weight (Devine 1974), as used for drug dosing.

    >>> round(ideal_body_weight_kg(175.26, "female"), 1)
    66.2
    """
    base_kg = 50.0 if sex == "male" else 45.5
    return base_kg + 2.3 * (height_cm / CM_PER_IN - 60.0)


def adjusted_body_weight_kg(weight_kg: float, ideal_kg: float) -> float:
    """Adjusted body weight: IBW plus 40 % of the weight above it."""
    return ideal_kg + 0.4 * (weight_kg - ideal_kg)


class DosingWeight(NamedTuple):
    """The weight a dose is calculated on, and why that one.

    ``caution`` is for the prescriber when the weight rests on a formula outside the range it
    was made for (Devine below 60 in); the plan shows it as a caution, not as a reason.
    """

    weight_kg: float
    basis: WeightBasis
    reason: str
    source: str
    caution: str | None = None


DEVINE_BASE_HEIGHT_IN = 60.0
"""Devine's formula adds 2.3 kg per inch over 5 ft; below 5 ft it is not validated."""


def round_weight_kg(weight_kg: float) -> float:
    """Weight to 0.1 kg, as a clinic scale reads it.

    Rounding first to 6 decimals removes binary noise, so that "176 lb" and "79.832 kg" land
    on the same 0.1 kg.
    """
    return round_half_up(round(weight_kg, 6), 0.1)


def dosing_weight(profile: PatientProfile, protocol: Protocol, catalog: Catalog) -> DosingWeight:
    """Actual body weight unless the patient is obese and the protocol or clinic says otherwise.

    The consensus statement (Sanacora 2017) notes limited data in obesity and suggests
    considering ideal body weight; which basis to use is the clinic's decision. A basis heavier
    than the actual weight is never used.

    When obese patients are dosed by ideal or adjusted weight, a plan needs what that basis
    needs: the height (without it nobody knows whether the patient is obese, and a dose on
    actual weight could be the very dose the clinic's policy forbids) and, for an obese
    patient, the sex (Devine's base weight differs). Either missing refuses the plan, naming
    what to add; it is never silently dosed on actual weight.

    Below 60 in (152.4 cm) Devine's formula is extrapolated (2.3 kg less per inch under 5 ft,
    an IBW under the 50 / 45.5 kg base, the lower and so more cautious dose), and the result
    carries a caution for the prescriber: the formula is not validated there.
    """
    clinic = catalog.clinic
    policy = protocol.weight_basis_when_obese or clinic.obese_weight_basis
    actual = round_weight_kg(profile.weight_kg)
    if policy != "actual" and profile.height_cm is None:
        raise _needs_height_and_sex(profile, policy, clinic.obesity_bmi)
    body_mass_index = profile.bmi
    if body_mass_index is None:
        return DosingWeight(
            actual,
            "actual",
            "height not recorded, BMI unknown: actual body weight",
            "clinic_policy",
        )
    if body_mass_index <= clinic.obesity_bmi:
        return DosingWeight(
            actual,
            "actual",
            f"BMI {body_mass_index:.1f} is not over {clinic.obesity_bmi:g}: actual body weight",
            "sanacora_2017",
        )
    if policy == "actual":
        return DosingWeight(
            actual,
            "actual",
            f"BMI {body_mass_index:.1f} is over "
            f"{clinic.obesity_bmi:g}, and the clinic doses obese patients by "
            "actual body weight",
            "clinic_policy",
        )
    sex, height_cm = profile.sex, profile.height_cm
    if sex is None or height_cm is None:
        raise _needs_height_and_sex(profile, policy, clinic.obesity_bmi)
    ideal = ideal_body_weight_kg(height_cm, sex)
    chosen = ideal if policy == "ideal" else adjusted_body_weight_kg(actual, ideal)
    if chosen >= actual:
        return DosingWeight(
            actual,
            "actual",
            f"{policy} body weight {chosen:.1f} kg is not "
            "below the actual weight: actual body weight",
            "devine",
        )
    return DosingWeight(
        round(chosen, 1),
        policy,
        f"BMI {body_mass_index:.1f} is over "
        f"{clinic.obesity_bmi:g}: {policy} body weight (Devine IBW "
        f"{ideal:.1f} kg)",
        "devine",
        _short_stature_caution(height_cm, sex, ideal, policy, round(chosen, 1)),
    )


def _needs_height_and_sex(profile: PatientProfile, policy: str, obesity_bmi: float) -> InputError:
    """The refusal of a plan whose dosing weight cannot be worked out, naming what is missing."""
    body_mass_index = profile.bmi
    missing = [
        name
        for name, value in (("height", profile.height_cm), ("sex", profile.sex))
        if value is None
    ]
    known = (
        f"BMI {body_mass_index:.1f} is over {obesity_bmi:g}"
        if body_mass_index is not None
        else "without a height the BMI is unknown"
    )
    return InputError(
        f"{known}, and obese patients (BMI over {obesity_bmi:g}) are dosed by {policy} body "
        f"weight (Devine), which needs the patient's height and sex: add "
        + " and ".join(
            {
                "height": "the height (e.g. '165 cm', '5 ft 5 in')",
                "sex": "the sex (female or male)",
            }[name]
            for name in missing
        ),
        code="input.missing",
        fields={"field": missing[0], "missing": missing, "weight_basis": policy},
    )


def _short_stature_caution(
    height_cm: float, sex: Sex, ideal_kg: float, policy: str, chosen_kg: float
) -> str | None:
    height_in = height_cm / CM_PER_IN
    if height_in >= DEVINE_BASE_HEIGHT_IN:
        return None
    base_kg = 50.0 if sex == "male" else 45.5
    return (
        f"Height {height_cm:.1f} cm ({height_in:.1f} in) is under 60 in (152.4 cm), where "
        f"Devine's formula is not validated: it gives an IBW of {ideal_kg:.1f} kg, below its "
        f"{base_kg:g} kg base, and the plan doses on {chosen_kg:.1f} kg ({policy} body weight, "
        "the formula extrapolated: 2.3 kg less per inch under 5 ft). Confirm the dosing weight "
        "before signing, or request another dose in mg/kg."
    )


_SEXES: tuple[str, ...] = get_args(Sex)
_CHOICES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("alcohol", get_args(AlcoholUse), "none"),
    ("sensitivity", get_args(Sensitivity), "normal"),
    ("experience", get_args(Experience), "naive"),
    ("severity", get_args(SymptomSeverity), "moderate"),
    ("preference", get_args(Preference), "standard"),
)
"""Each choice a profile takes: its field, what is accepted and the default, read from the
types once (``get_args`` per plan was a tenth of a plan from typed input)."""


def _choice(value: str | None, field: str, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    normal = value.strip().lower().replace("-", "_").replace(" ", "_")
    if normal not in choices:
        raise InputError(
            f"{field} {value!r} is not accepted (accepted: {', '.join(choices)})",
            code="input.invalid_choice",
            fields={"field": field, "value": value, "accepted": list(choices)},
        )
    return normal


def _check_weight(weight_kg: float, typed: str) -> None:
    if MIN_WEIGHT_KG <= weight_kg <= MAX_WEIGHT_KG:
        return
    number, unit = typed_number_and_unit(typed)
    hint = ""
    in_lb = is_pounds(unit)
    if weight_kg > MAX_WEIGHT_KG and not in_lb and number * KG_PER_LB >= MIN_WEIGHT_KG:
        hint = f"; if the scale read pounds, enter '{number:g} lb' ({number * KG_PER_LB:.1f} kg)"
    elif weight_kg < MIN_WEIGHT_KG and in_lb and MIN_WEIGHT_KG <= number <= MAX_WEIGHT_KG:
        hint = f"; if the scale read kilograms, enter '{number:g} kg'"
    elif weight_kg < MIN_WEIGHT_KG and MIN_WEIGHT_KG <= number <= MAX_WEIGHT_KG:
        hint = f"; did you mean '{number:g} kg'?"
    side = "above" if weight_kg > MAX_WEIGHT_KG else "below"
    raise InputError(
        f"weight {typed!r} is {weight_kg:.1f} kg, {side} the accepted "
        f"{MIN_WEIGHT_KG:g}-{MAX_WEIGHT_KG:g} kg{hint}",
        code="input.out_of_range",
        fields={"field": "weight", "value": typed, "weight_kg": round(weight_kg, 2)},
    )


def _check_height(height_cm: float, typed: str) -> None:
    if MIN_HEIGHT_CM <= height_cm <= MAX_HEIGHT_CM:
        return
    hint = ""
    if height_cm > MAX_HEIGHT_CM and MIN_HEIGHT_CM <= height_cm / CM_PER_IN <= MAX_HEIGHT_CM:
        hint = f"; did you mean '{height_cm / CM_PER_IN:g} cm'?"
    elif height_cm < MIN_HEIGHT_CM and MIN_HEIGHT_CM <= height_cm * CM_PER_IN <= MAX_HEIGHT_CM:
        hint = f"; did you mean '{height_cm:g} in' ({height_cm * CM_PER_IN:.0f} cm)?"
    elif height_cm < MIN_HEIGHT_CM and MIN_HEIGHT_CM <= height_cm * 100 <= MAX_HEIGHT_CM:
        hint = f"; did you mean '{height_cm:g} m'?"
    raise InputError(
        f"height {typed!r} is {height_cm:.1f} cm, outside the accepted "
        f"{MIN_HEIGHT_CM:g}-{MAX_HEIGHT_CM:g} cm{hint}",
        code="input.out_of_range",
        fields={"field": "height", "value": typed, "height_cm": round(height_cm, 1)},
    )


def parse_weight_kg(text: str) -> float:
    """A patient's weight as typed (``"176 lb"``), in kg, refused outside 30-300 kg with the
    likely mistake named. Every command that takes a patient's weight reads it here."""
    weight_kg = parse_mass_kg(text)
    _check_weight(weight_kg, text)
    return weight_kg


def with_confirm_weight_hint(error: InputError, how: str) -> InputError:
    """The error with how this entry point confirms an unusual weight (``--confirm-weight``,
    a JSON field, a checkbox), when the weight may be confirmed; any other error as it is."""
    if error.code == "input.implausible_weight" and error.fields.get("confirmable"):
        return error.with_hint(how)
    return error


def _check_bmi(weight_kg: float, height_cm: float, typed: str, confirmed: bool) -> None:
    value = bmi(weight_kg, height_cm)
    if MIN_BMI <= value <= IMPLAUSIBLE_BMI:
        return
    as_pounds = bmi(weight_kg * KG_PER_LB, height_cm)
    pounds_plausible = 17.0 <= as_pounds <= 40.0 and not is_pounds(typed_number_and_unit(typed)[1])
    if value > MAX_BMI or (value > IMPLAUSIBLE_BMI and pounds_plausible and not confirmed):
        hint = (
            f"; if {typed!r} was in pounds, enter it with 'lb' (BMI {as_pounds:.1f})"
            if pounds_plausible
            else ""
        )
        confirmable = value <= MAX_BMI
        confirm = "; if it is right, confirm the weight" if confirmable else ""
        raise InputError(
            f"weight {typed!r} at height {height_cm:.0f} cm gives a BMI of {value:.1f}, "
            f"which is unlikely{hint}{confirm}",
            code="input.implausible_weight",
            fields={
                "field": "weight",
                "value": typed,
                "bmi": round(value, 1),
                "confirmable": confirmable,
            },
        )
    if value < MIN_BMI:
        raise InputError(
            f"weight {typed!r} at height {height_cm:.0f} cm gives a BMI of {value:.1f}, "
            f"below {MIN_BMI:g}; check both units (e.g. '80 kg', '176 lb', '175 cm')",
            code="input.implausible_weight",
            fields={"field": "weight", "value": typed, "bmi": round(value, 1)},
        )


def parse_blood_pressure(text: str) -> VitalSigns:
    """``"150/95"`` → a validated reading; the accepted ranges are the monitoring module's.

    >>> parse_blood_pressure("128/84").blood_pressure
    '128/84'
    """
    parts = text.replace(" ", "").lower().removesuffix("mmhg").split("/")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise InputError(
            f"blood pressure {text!r} is not systolic/diastolic in mmHg, e.g. '128/84'",
            code="input.invalid_blood_pressure",
            fields={"field": "blood_pressure", "value": text},
        )
    return VitalSigns(systolic_mmhg=int(parts[0]), diastolic_mmhg=int(parts[1]))


def parse_heart_rate(text: str) -> float:
    """``"48"``, ``"48 bpm"`` or ``"48/min"`` → beats per minute, inside the range a monitor
    shows (the monitoring module's).

    >>> parse_heart_rate("72 bpm")
    72.0
    """
    number = text.strip().lower().removesuffix("bpm").removesuffix("/min").strip()
    low, high = ACCEPTED_RANGES["heart_rate_bpm"]
    if not number.isdigit():
        raise InputError(
            f"heart rate {text!r} is not a whole number of beats per minute, e.g. '72'",
            code="input.not_a_number",
            fields={"field": "heart_rate", "value": text},
        )
    if not low <= int(number) <= high:
        raise InputError(
            f"heart rate {text!r} is outside the accepted {low:g}-{high:g} /min",
            code="input.out_of_range",
            fields={"field": "heart_rate", "value": text},
        )
    return float(number)


def _checked_height_cm(height: str) -> float:
    height_cm = parse_length_cm(height)
    _check_height(height_cm, height)
    return height_cm


def build_profile(
    catalog: Catalog,
    *,
    weight: str,
    height: str | None = None,
    age_years: int | None = None,
    sex: str | None = None,
    pregnant: bool = False,
    breastfeeding: bool = False,
    history: Sequence[str] = (),
    medications: Sequence[str] = (),
    alcohol: str | None = None,
    sensitivity: str | None = None,
    experience: str | None = None,
    severity: str | None = None,
    preference: str | None = None,
    blood_pressure: str | None = None,
    heart_rate: str | None = None,
    confirm_weight: bool = False,
) -> PatientProfile:
    """A validated profile from what a person typed; every problem found is raised at once
    (one :class:`~ketaplan.errors.InputError`, or :class:`~ketaplan.errors.InputErrors`), so
    a form can mark each bad field in one submit."""
    problems = InputProblems()
    weight_kg = problems.check(parse_weight_kg, weight)
    height_cm = None
    if height is not None:
        height_cm = problems.check(_checked_height_cm, height)
        if weight_kg is not None and height_cm is not None:
            problems.check(_check_bmi, weight_kg, height_cm, weight, confirm_weight)
    if age_years is not None and not 0 <= age_years <= MAX_AGE_YEARS:
        problems.add(
            InputError(
                f"age {age_years} is outside 0-{MAX_AGE_YEARS} years",
                code="input.out_of_range",
                fields={"field": "age", "value": age_years},
            )
        )
    sex_value = cast(Sex | None, problems.check(_choice, sex, "sex", _SEXES, "")) or None
    if (pregnant or breastfeeding) and sex_value == "male":
        problems.add(
            InputError(
                "pregnancy or breastfeeding was given for a patient recorded as male; check both",
                code="input.inconsistent",
                fields={"field": "sex"},
            )
        )
    known = [problems.check(catalog.history_term, term) for term in history]
    terms = tuple(dict.fromkeys(found.term for found in known if found is not None))
    meds = tuple(m.strip() for m in medications if m.strip())
    pressure = rate = None
    if blood_pressure is not None:
        pressure = problems.check(parse_blood_pressure, blood_pressure)
    if heart_rate is not None:
        rate = problems.check(parse_heart_rate, heart_rate)
    vitals = None
    if blood_pressure is not None or heart_rate is not None:
        vitals = VitalSigns(
            pressure.systolic_mmhg if pressure else None,
            pressure.diastolic_mmhg if pressure else None,
            rate,
        )
    typed_choices = (alcohol, sensitivity, experience, severity, preference)
    choices = {
        name: problems.check(_choice, typed, name, accepted, default)
        for (name, accepted, default), typed in zip(_CHOICES, typed_choices, strict=True)
    }
    problems.raise_any()
    assert weight_kg is not None
    return PatientProfile(
        weight_kg=weight_kg,
        height_cm=height_cm,
        age_years=age_years,
        sex=sex_value,
        pregnant=pregnant or "pregnancy" in terms,
        breastfeeding=breastfeeding or "breastfeeding" in terms,
        history=tuple(t for t in terms if t not in {"pregnancy", "breastfeeding"}),
        medications=meds,
        alcohol=cast(AlcoholUse, choices["alcohol"]),
        sensitivity=cast(Sensitivity, choices["sensitivity"]),
        experience=cast(Experience, choices["experience"]),
        severity=cast(SymptomSeverity, choices["severity"]),
        preference=cast(Preference, choices["preference"]),
        pre_infusion_vitals=vitals,
    )


def profile_problems(catalog: Catalog, **inputs: Any) -> tuple[InputError, ...]:
    """Every problem :func:`build_profile` finds in these inputs (it checks every field before
    it refuses), as a tuple: empty means it builds the profile. For a form that gathers its
    own problems with the profile's."""
    try:
        build_profile(catalog, **inputs)
    except InputErrors as several:
        return several.errors
    except InputError as refused:
        return (refused,)
    return ()
