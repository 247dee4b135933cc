"""Quantities typed by people: parsed with their unit, or refused with a reason."""

from __future__ import annotations

import math

import pint
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.errors import InputError
from ketaplan.units import (
    CONCENTRATION_UNITS_TO_MG_PER_ML,
    LENGTH_UNITS_TO_CM,
    MASS_UNITS_TO_KG,
    parse_concentration_mg_per_ml,
    parse_duration_min,
    parse_length_cm,
    parse_mass_kg,
    round_half_up,
)

UREG = pint.UnitRegistry()


@pytest.mark.parametrize(
    ("text", "kg"),
    [
        ("80 kg", 80.0),
        ("80kg", 80.0),
        ("80 KG", 80.0),
        ("176 lb", 79.83225712),
        ("176.4 lbs", 80.01369407),
        ("12 st", 76.20351816),
        ("80000 g", 80.0),
        (" 72.5 kilograms ", 72.5),
    ],
)
def test_a_mass_with_a_unit_is_read_in_kilograms(text: str, kg: float) -> None:
    assert parse_mass_kg(text) == pytest.approx(kg, abs=1e-6)


@pytest.mark.parametrize(
    ("text", "cm"),
    [
        ("175 cm", 175.0),
        ("1.75 m", 175.0),
        ("69 in", 175.26),
        ("5 ft 9 in", 175.26),
        ("5 ft 9", 175.26),
        ("5'9\"", 175.26),
        ("6 ft", 182.88),
    ],
)
def test_a_height_in_metric_or_feet_and_inches_is_read_in_centimetres(text: str, cm: float) -> None:
    assert parse_length_cm(text) == pytest.approx(cm, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("80", "input.unit_missing"),
        ("80 stones of rock", "input.unit_unknown"),
        ("NaN kg", "input.not_a_number"),
        ("inf lb", "input.not_a_number"),
        ("-80 kg", "input.out_of_range"),
        ("80,5 kg", "input.not_a_number"),
        ("", "input.missing"),
        ("heavy", "input.not_a_number"),
        ("80 kg 90 kg", "input.not_a_number"),
    ],
)
def test_a_mass_without_a_usable_unit_or_number_is_refused(text: str, code: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_mass_kg(text)
    assert caught.value.code == code
    assert "weight" in caught.value.message


def test_a_bare_number_is_refused_with_an_example_of_what_is_accepted() -> None:
    with pytest.raises(InputError, match=r"no unit.*'80 kg'"):
        parse_mass_kg("80")


@pytest.mark.parametrize("text", ["5 ft 13 in", "5 ft 9 kg", "5 lb 9 in"])
def test_feet_and_inches_that_do_not_make_a_height_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        parse_length_cm(text)


def test_concentrations_and_durations_are_read_in_canonical_units() -> None:
    assert parse_concentration_mg_per_ml("50 mg/mL") == 50.0
    assert parse_concentration_mg_per_ml("500 mcg/mL") == pytest.approx(0.5)
    assert parse_duration_min("40 min") == 40.0
    assert parse_duration_min("4 h") == 240.0
    assert parse_duration_min("1 h 30 min") == 90.0


@pytest.mark.parametrize(
    ("table", "canonical", "pint_names"),
    [
        (
            MASS_UNITS_TO_KG,
            "kg",
            {"st": "stone", "kgs": "kg", "kilo": "kg", "kilos": "kg", "lbs": "lb"},
        ),
        (LENGTH_UNITS_TO_CM, "cm", {"'": "ft", '"': "inch"}),
        (CONCENTRATION_UNITS_TO_MG_PER_ML, "mg/mL", {"µg/ml": "ug/ml", "mcg/ml": "ug/ml"}),
    ],
)
def test_every_conversion_factor_agrees_with_pint(
    table: dict[str, float], canonical: str, pint_names: dict[str, str]
) -> None:
    for unit, factor in table.items():
        name = pint_names.get(unit, unit).replace("ml", "mL").replace("/l", "/L")
        expected = UREG.Quantity(1.0, name).to(canonical).magnitude
        assert math.isclose(factor, expected, rel_tol=1e-12), unit


@given(st.decimals(min_value="30", max_value="660", places=2))
def test_a_mass_typed_in_pounds_matches_pint(lb: object) -> None:
    text = f"{lb} lb"
    assert parse_mass_kg(text) == pytest.approx(UREG.Quantity(text).to("kg").magnitude, rel=1e-12)


STEPS = [0.1, 0.01, 0.001, 0.2, 0.5, 0.05, 0.25, 0.125, 1.0, 2.0, 5.0, 10.0, 0.3, 1 / 3]


@given(
    value=st.floats(min_value=-1e7, max_value=1e7, allow_nan=False)
    | st.integers(min_value=-100_000, max_value=100_000).map(lambda n: n / 1000 + 0.0005),
    step=st.sampled_from(STEPS),
)
def test_rounding_half_up_gives_the_very_float_that_rounding_the_multiple_gives(
    value: float, step: float
) -> None:
    # The division of whole numbers in round_half_up stands in for Python's decimal rounding
    # of count * step; it must agree to the last bit, sign of zero included.
    count = math.floor(value / step + 0.5 + 1e-9)
    by_round = round(count * step, max(0, -math.floor(math.log10(step)) + 1))
    result = round_half_up(value, step)
    assert result == by_round
    assert math.copysign(1.0, result) == math.copysign(1.0, by_round)
