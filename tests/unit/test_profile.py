"""The patient profile: plausible values only, body size formulas, the dosing weight."""

from __future__ import annotations

import pytest

from ketaplan.clinical.catalog import Catalog
from ketaplan.clinical.profile import (
    adjusted_body_weight_kg,
    bmi,
    build_profile,
    dosing_weight,
    ideal_body_weight_kg,
    parse_blood_pressure,
)
from ketaplan.errors import InputError


def test_bmi_is_kilograms_over_metres_squared() -> None:
    assert bmi(70, 175) == pytest.approx(22.857, abs=1e-3)


@pytest.mark.parametrize(
    ("height_cm", "sex", "ibw_kg"),
    [
        # Devine 1974: 50 kg (men) / 45.5 kg (women) + 2.3 kg per inch over 5 feet.
        (152.4, "male", 50.0),
        (152.4, "female", 45.5),
        (175.26, "male", 70.7),
        (182.88, "female", 73.1),
    ],
)
def test_ideal_body_weight_follows_devine(height_cm: float, sex: str, ibw_kg: float) -> None:
    assert ideal_body_weight_kg(height_cm, sex) == pytest.approx(ibw_kg, abs=0.01)  # type: ignore[arg-type]


def test_adjusted_body_weight_adds_forty_percent_of_the_excess() -> None:
    assert adjusted_body_weight_kg(120, 70) == pytest.approx(90.0)


@pytest.mark.parametrize(
    ("weight", "height", "message"),
    [
        ("350 kg", None, "if the scale read pounds, enter '350 lb'"),
        ("45 lb", None, "if the scale read kilograms, enter '45 kg'"),
        ("20 kg", None, "below the accepted 30-300 kg"),
        ("180 kg", "5 ft 9 in", "if '180 kg' was in pounds"),
        ("80 kg", "175 in", "did you mean '175 cm'"),
        ("80 kg", "1.75 cm", "did you mean '1.75 m'"),
        ("31 kg", "200 cm", "BMI of 7.8"),
    ],
)
def test_an_implausible_weight_or_height_is_refused_with_the_likely_mistake(
    catalog: Catalog, weight: str, height: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_profile(catalog, weight=weight, height=height)


def test_the_domain_says_the_weight_may_be_confirmed_without_naming_a_flag(
    catalog: Catalog,
) -> None:
    """Each entry point says how (a CLI flag, a JSON field, a checkbox); the domain only what."""
    with pytest.raises(InputError) as refused:
        build_profile(catalog, weight="180 kg", height="5 ft 9 in")
    assert refused.value.message.endswith("if it is right, confirm the weight")
    assert "--" not in refused.value.message
    assert refused.value.fields["confirmable"] is True
    with pytest.raises(InputError) as beyond:  # past any plausible BMI: nothing to confirm
        build_profile(catalog, weight="290 kg", height="4 ft 6 in")
    assert "confirm" not in beyond.value.message
    assert beyond.value.fields["confirmable"] is False


def test_a_heavy_weight_that_is_right_can_be_confirmed(catalog: Catalog) -> None:
    profile = build_profile(catalog, weight="180 kg", height="5 ft 9 in", confirm_weight=True)
    assert profile.weight_kg == 180.0


def test_history_synonyms_become_catalog_terms_and_pregnancy_becomes_a_flag(
    catalog: Catalog,
) -> None:
    profile = build_profile(catalog, weight="70 kg", history=["HTN", "pregnant", "glaucoma"])
    assert profile.history == ("controlled_hypertension", "raised_intraocular_pressure")
    assert profile.pregnant


def test_an_unknown_history_term_lists_close_matches(catalog: Catalog) -> None:
    with pytest.raises(InputError, match=r"did you mean.*uncontrolled_hypertension"):
        build_profile(catalog, weight="70 kg", history=["uncontroled_hypertension"])


def test_pregnancy_for_a_patient_recorded_as_male_is_refused(catalog: Catalog) -> None:
    with pytest.raises(InputError, match="recorded as male"):
        build_profile(catalog, weight="70 kg", sex="male", pregnant=True)


@pytest.mark.parametrize("text", ["400/20", "120/130", "12/8", "high", "120-80", "120/"])
def test_an_impossible_blood_pressure_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="blood pressure"):
        parse_blood_pressure(text)


def test_an_obese_patient_is_dosed_by_actual_weight_unless_the_clinic_says_otherwise(
    catalog: Catalog, tmp_path: object
) -> None:
    from dataclasses import replace

    profile = build_profile(catalog, weight="120 kg", height="165 cm", sex="female")
    protocol = catalog.protocol("depression")
    assert dosing_weight(profile, protocol, catalog).basis == "actual"
    ideal = dosing_weight(profile, replace(protocol, weight_basis_when_obese="ideal"), catalog)
    assert ideal.basis == "ideal"
    assert ideal.weight_kg == pytest.approx(45.5 + 2.3 * (165 / 2.54 - 60), abs=0.05)
    adjusted = dosing_weight(
        profile, replace(protocol, weight_basis_when_obese="adjusted"), catalog
    )
    assert adjusted.weight_kg == pytest.approx(
        ideal.weight_kg + 0.4 * (120 - ideal.weight_kg), abs=0.1
    )


def test_ideal_weight_dosing_without_sex_is_an_input_error(catalog: Catalog) -> None:
    from dataclasses import replace

    profile = build_profile(catalog, weight="120 kg", height="165 cm")
    protocol = replace(catalog.protocol("depression"), weight_basis_when_obese="ideal")
    with pytest.raises(InputError, match="needs the patient's height and sex: add the sex"):
        dosing_weight(profile, protocol, catalog)
