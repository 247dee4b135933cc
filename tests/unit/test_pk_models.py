"""The PK model catalog: every model loads, every number has a source, bad files are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketaplan.clinical.pk import build_pk_models, load_pk_levels, load_pk_models, pk_model
from ketaplan.clinical.pk.models import PK_MODELS_FILE
from ketaplan.errors import CatalogError, InputError

REQUIRED_MODELS = ["domino", "clements_250", "hijazi", "kamp"]


@pytest.mark.parametrize("key", REQUIRED_MODELS)
def test_each_required_model_has_a_citation_population_and_covariates(key: str) -> None:
    model = load_pk_models()[key]
    described = model.describe()
    assert described["population"]
    assert described["covariates"]
    for name in model.catalog_values:
        assert name in described["sources"], f"{key}.{name} has no source"
    assert "iiv_cv" in described["sources"]


def test_domino_at_70_kg_matches_the_stanpumpr_figures() -> None:
    # stanpumpR R/drugs_ketamine.R test at 70 kg (clinical/REFERENCE.md section 5):
    # V1 4.41, V2 10.57, V3 178.2 L; CL1 1.932, CL2 2.611, CL3 2.602 L/min.
    p = load_pk_models()["domino"].parameters(70.0)
    assert p.v1_l[0] == pytest.approx(4.41, abs=0.005)
    assert p.v2_l[0] == pytest.approx(10.57, abs=0.005)
    assert p.v3_l[0] == pytest.approx(178.2, abs=0.05)
    assert p.cl_l_per_min[0] == pytest.approx(1.932, abs=0.0005)
    assert p.q2_l_per_min[0] == pytest.approx(2.611, abs=0.0005)
    assert p.q3_l_per_min[0] == pytest.approx(2.602, abs=0.0005)


def test_kamp_at_70_kg_is_the_published_volumes_and_clearances_per_minute() -> None:
    # Kamp 2020 as read by opentiva: V1 25, V2 56, V3 157 L; CL 84, Q2 161, Q3 79 L/h at 70 kg.
    p = load_pk_models()["kamp"].parameters(70.0)
    assert (p.v1_l[0], p.v2_l[0], p.v3_l[0]) == pytest.approx((25.0, 56.0, 157.0))
    assert p.cl_l_per_min[0] == pytest.approx(84 / 60)
    assert p.q2_l_per_min[0] == pytest.approx(161 / 60)
    assert p.q3_l_per_min[0] == pytest.approx(79 / 60)


def test_two_compartment_models_have_no_third_compartment() -> None:
    for key in ("clements_250", "hijazi"):
        p = load_pk_models()[key].parameters(70.0)
        assert p.compartments == 2
        assert p.v3_l[0] == 0
        assert p.q3_l_per_min[0] == 0


def test_parameters_scale_linearly_with_weight_for_a_batch() -> None:
    p = load_pk_models()["domino"].parameters([50.0, 100.0])
    assert p.v1_l[1] == pytest.approx(2 * p.v1_l[0])
    assert p.size == 2


def test_model_names_are_forgiving_about_case_and_dashes() -> None:
    assert pk_model("Clements-250").key == "clements_250"


def test_an_unknown_model_name_suggests_the_closest() -> None:
    with pytest.raises(InputError, match="did you mean 'domino'"):
        pk_model("domnio")


def test_a_weight_outside_the_simulated_range_is_refused_as_a_likely_unit_error() -> None:
    with pytest.raises(InputError, match="outside"):
        load_pk_models()["domino"].parameters(700.0)
    with pytest.raises(InputError, match="outside"):
        load_pk_models()["domino"].parameters(np.nan)


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    text = PK_MODELS_FILE.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "pk_models.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def test_a_model_number_without_a_source_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, 'k10_per_min = "domino_1984", ', "")
    with pytest.raises(CatalogError, match=r"models\.domino\.sources\.k10_per_min: every number"):
        build_pk_models(path)


def test_a_negative_rate_constant_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = _edited(tmp_path, "k10_per_min = 0.4381", "k10_per_min = -0.4381")
    with pytest.raises(CatalogError, match=r"pk_models\.toml: models\.domino\.k10_per_min"):
        build_pk_models(path)


def test_a_rate_constant_the_model_does_not_use_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, "k21_per_min = 0.0137", "k21_per_min = 0.0137\nk13_per_min = 0.1")
    with pytest.raises(CatalogError, match="not used by a 2-compartment model"):
        build_pk_models(path)


def test_a_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not found"):
        build_pk_models(tmp_path / "absent.toml")


def test_the_pk_domain_imports_no_entry_point_or_plotting_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ketaplan.clinical.pk\n"
        "bad = {'typer', 'matplotlib', 'tqdm', 'scipy', 'click'} & set(sys.modules)\n"
        "print(sorted(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------- labels and fitted populations ----
# Kamp J, Olofsen E, Henthorn TK, van Velzen M, Niesters M, Dahan A, Anesthesiology
# 2020;133:1192 (abstract): a meta-analysis of racemic and S-ketamine studies (18 studies: 11
# healthy adults, 3 adult patients, 5 paediatric) and a population model with one central
# arterial compartment. Hijazi et al., Br J Anaesth 2003;90:155: 12 intensive care patients
# with brain or spinal cord injury.


def test_kamp_is_labelled_as_a_pooled_racemic_and_s_ketamine_model_with_arterial_levels() -> None:
    kamp = load_pk_models()["kamp"]
    assert "racemic and S-ketamine" in kamp.title
    assert "arterial" in kamp.title
    assert "racemic and S-ketamine" in kamp.drug
    assert "meta-analysis of 18 studies" in kamp.population
    assert kamp.caution is not None
    assert "arterial" in kamp.caution
    assert "S-ketamine (esketamine)" not in kamp.drug


def test_hijazi_says_it_was_fitted_in_intensive_care_and_always_warns() -> None:
    hijazi = load_pk_models()["hijazi"]
    assert "intensive care patients with brain or spinal cord injury" in hijazi.population
    (warning,) = hijazi.population_warnings(70.0, 40)
    assert "clinic outpatient is outside that population" in warning


@pytest.mark.parametrize("key", REQUIRED_MODELS)
def test_every_model_names_its_fitted_ranges_with_a_source(key: str) -> None:
    described = load_pk_models()[key].describe()
    for field in ("fitted_age_years", "fitted_weight_kg"):
        low, high = described[field]
        assert 0 < low < high
        assert described["sources"][field]


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(REQUIRED_MODELS),
    weight_kg=st.floats(20, 300),
    age_years=st.none() | st.floats(1, 110),
)
def test_a_simulation_is_warned_exactly_when_it_leaves_the_fitted_ranges(
    key: str, weight_kg: float, age_years: float | None
) -> None:
    model = load_pk_models()[key]
    warnings = model.population_warnings(weight_kg, age_years)
    low, high = model.fitted_weight_kg
    assert any("outside the fitted range" in w and " kg " in w for w in warnings) == (
        not low <= weight_kg <= high
    )
    age_low, age_high = model.fitted_age_years
    outside_age = age_years is not None and not age_low <= age_years <= age_high
    assert any(w.startswith("age ") for w in warnings) == outside_age
    assert (model.caution in warnings) == (model.caution is not None)


def test_a_cohort_weight_range_is_warned_when_either_end_leaves_the_fitted_range() -> None:
    domino = load_pk_models()["domino"]
    low, high = domino.fitted_weight_kg
    assert domino.population_warnings((low, high)) == ()
    (warning,) = domino.population_warnings((low, high + 1))
    assert f"weights {low:g}-{high + 1:g} kg outside" in warning


def test_a_fitted_range_without_a_source_is_refused(tmp_path: Path) -> None:
    path = _edited(tmp_path, 'fitted_weight_kg = "ketaplan_fitted_range_policy", ', "")
    with pytest.raises(CatalogError, match=r"sources\.fitted_weight_kg: every number"):
        build_pk_models(path)


def test_the_anaesthetic_level_is_the_lower_end_of_zanos_2018_table_1() -> None:
    # Zanos et al., Pharmacol Rev 2018;70:621, Table 1: general anaesthesia 1,200-2,400 ng/mL.
    levels = load_pk_levels()
    assert levels.anaesthetic_ng_per_ml == 1200.0
    assert "Zanos" in levels.anaesthetic_source
    assert "1,200-2,400 ng/mL" in levels.anaesthetic_source
    assert levels.in_anaesthetic_range(1200.0)
    assert not levels.in_anaesthetic_range(1199.9)
