"""Variability: reproducible bands that widen with variability, cohorts across weights."""

from __future__ import annotations

import numpy as np
import pytest

from ketaplan.clinical.pk import (
    constant_infusion,
    load_pk_models,
    percentile_bands,
    sample_parameters,
    simulate_virtual_cohort,
    time_grid_min,
)
from ketaplan.errors import InputError

GRID = time_grid_min(240, 60)


def test_log_normal_variability_has_the_catalog_coefficient_of_variation() -> None:
    model = load_pk_models()["domino"]
    params = sample_parameters(model, 70.0, 20_000, np.random.default_rng(3))
    cv = 0.3
    log_v1 = np.log(params.v1_l / model.parameters(70.0).v1_l[0])
    assert log_v1.std() == pytest.approx(np.sqrt(np.log1p(cv * cv)), rel=0.03)
    assert np.median(params.cl_l_per_min) == pytest.approx(1.932, rel=0.02)


def test_the_same_seed_gives_the_same_bands_and_another_seed_does_not() -> None:
    model = load_pk_models()["kamp"]
    a = percentile_bands(model, 70.0, constant_infusion(35, 40), GRID, n_patients=200, seed=1)
    b = percentile_bands(model, 70.0, constant_infusion(35, 40), GRID, n_patients=200, seed=1)
    c = percentile_bands(model, 70.0, constant_infusion(35, 40), GRID, n_patients=200, seed=2)
    np.testing.assert_array_equal(a.plasma_ng_per_ml, b.plasma_ng_per_ml)
    assert not np.array_equal(a.plasma_ng_per_ml, c.plasma_ng_per_ml)


def test_bands_bracket_the_typical_patient_at_the_end_of_the_infusion() -> None:
    model = load_pk_models()["domino"]
    bands = percentile_bands(model, 70.0, constant_infusion(35, 40), GRID, n_patients=2000)
    low, median, high = bands.plasma_ng_per_ml[:, 40]
    assert low < 240.3 < high
    assert median == pytest.approx(240.3, rel=0.05)


def test_a_virtual_cohort_doses_by_weight_and_reports_every_patient() -> None:
    model = load_pk_models()["domino"]
    calls: list[tuple[int, int]] = []
    cohort = simulate_virtual_cohort(
        model,
        constant_infusion(0.5, 40),  # 0.5 mg/kg over 40 min
        GRID,
        n_patients=3000,
        weight_range_kg=(50.0, 120.0),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert cohort.weight_kg.min() >= 50
    assert cohort.weight_kg.max() <= 120
    summary = cohort.summary
    assert summary.peak_plasma_ng_per_ml.shape == (3000,)
    # weight-based dosing with linear-in-weight models: peaks do not depend on weight
    assert np.median(summary.peak_plasma_ng_per_ml) == pytest.approx(240.3, rel=0.05)
    assert calls[-1][0] == calls[-1][1]
    assert (np.diff([done for done, _ in calls]) >= 0).all()
    assert np.nanmax(summary.minutes_below_after_stop) < 200


@pytest.mark.parametrize("count", [0, -5, 3_000_000])
def test_an_impossible_number_of_virtual_patients_is_refused(count: int) -> None:
    model = load_pk_models()["domino"]
    with pytest.raises(InputError, match="virtual patients"):
        sample_parameters(model, 70.0, count, np.random.default_rng(0))
