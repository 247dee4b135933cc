"""Between-patient variability: virtual patients, percentile bands, virtual cohorts.

Each volume and clearance of a virtual patient is its typical value times ``exp(eta)`` with
``eta ~ N(0, omega^2)`` and ``omega^2 = ln(1 + CV^2)`` (a log-normal with the catalog's
coefficient of variation), independently per parameter. The catalog says where each CV comes
from; for the four ketamine models here no source gives one, so the CVs are a marked ketaplan
default and the bands are illustrative of how much patients may differ, not a published
prediction interval. A seeded generator makes every band reproducible.

Examples
--------
>>> from ketaplan.clinical.pk.models import load_pk_models
>>> from ketaplan.clinical.pk.infusion import constant_infusion, time_grid_min
>>> model = load_pk_models()["domino"]
>>> bands = percentile_bands(
...     model, 70.0, constant_infusion(35, 40), time_grid_min(240, 60), n_patients=500, seed=1
... )
>>> low, median, high = bands.plasma_ng_per_ml[:, 40]
>>> bool(low < median < high)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ketaplan.clinical.pk.cohort import CohortSummary, Progress, simulate_cohort
from ketaplan.clinical.pk.infusion import InfusionSegment
from ketaplan.clinical.pk.models import PARAMETER_NAMES, FloatArray, PkModel, PkParameters
from ketaplan.errors import InputError

#: The most virtual patients one call simulates (memory and time stay predictable).
MAX_VIRTUAL_PATIENTS = 2_000_000


def _count(n_patients: int) -> int:
    if isinstance(n_patients, bool) or not isinstance(n_patients, int) or n_patients < 1:
        raise InputError(f"number of virtual patients must be a whole number >= 1: {n_patients!r}")
    if n_patients > MAX_VIRTUAL_PATIENTS:
        raise InputError(f"at most {MAX_VIRTUAL_PATIENTS} virtual patients, got {n_patients}")
    return n_patients


def sample_parameters(
    model: PkModel, weight_kg: ArrayLike, n_patients: int, rng: np.random.Generator
) -> PkParameters:
    """``n_patients`` virtual patients of the given weight(s), with log-normal variability."""
    count = _count(n_patients)
    weights = np.broadcast_to(np.asarray(weight_kg, dtype=np.float64), (count,))
    typical = model.parameters(weights)
    values = {
        "v1": typical.v1_l,
        "v2": typical.v2_l,
        "v3": typical.v3_l,
        "cl": typical.cl_l_per_min,
        "q2": typical.q2_l_per_min,
        "q3": typical.q3_l_per_min,
    }
    for name in PARAMETER_NAMES:
        cv = model.iiv_cv.get(name, 0.0)
        if cv > 0 and model.per_kg[name] > 0:
            omega = np.sqrt(np.log1p(cv * cv))
            values[name] = values[name] * np.exp(rng.normal(0.0, omega, count))
    return PkParameters(
        compartments=typical.compartments,
        v1_l=values["v1"],
        v2_l=values["v2"],
        v3_l=values["v3"],
        cl_l_per_min=values["cl"],
        q2_l_per_min=values["q2"],
        q3_l_per_min=values["q3"],
        ke0_per_min=typical.ke0_per_min,
    )


@dataclass(frozen=True, slots=True)
class Bands:
    """Percentiles of plasma over virtual patients: one row per percentile, one column per time."""

    t_min: FloatArray
    percentiles: tuple[float, ...]
    plasma_ng_per_ml: FloatArray
    n_patients: int
    seed: int


def percentile_bands(
    model: PkModel,
    weight_kg: float,
    segments: Sequence[InfusionSegment],
    t_min: ArrayLike,
    *,
    n_patients: int = 1000,
    seed: int = 20261207,
    percentiles: Sequence[float] = (5.0, 50.0, 95.0),
) -> Bands:
    """Percentile bands of plasma for one plan in patients of one weight."""
    rng = np.random.default_rng(seed)
    parameters = sample_parameters(model, weight_kg, n_patients, rng)
    levels = tuple(float(q) for q in percentiles)
    if any(not 0 <= q <= 100 for q in levels):
        raise InputError(f"percentiles {levels} must lie between 0 and 100")
    # the blocked exact recurrence: memory stays small however many patients and times
    summary = simulate_cohort(parameters, segments, t_min, percentiles=levels)
    return Bands(summary.t_min, levels, summary.plasma_bands_ng_per_ml, n_patients, seed)


@dataclass(frozen=True, slots=True)
class VirtualCohort:
    """A cohort's weights and what its simulation was summarised to."""

    weight_kg: FloatArray
    summary: CohortSummary
    seed: int


def simulate_virtual_cohort(
    model: PkModel,
    segments_per_kg: Sequence[InfusionSegment],
    t_min: ArrayLike,
    *,
    per_kg: bool = True,
    n_patients: int = 10_000,
    weight_range_kg: tuple[float, float] = (50.0, 120.0),
    seed: int = 20261207,
    below_ng_per_ml: float = 100.0,
    percentiles: Sequence[float] = (5.0, 50.0, 95.0),
    progress: Progress | None = None,
) -> VirtualCohort:
    """Weight-based dosing across a weight range: ``segments_per_kg`` rates are mg/kg/min.

    Weights are uniform over ``weight_range_kg``; each patient gets the per-kg plan times
    their weight (or, with ``per_kg=False``, the same mg/min plan) and their own log-normal
    parameters.
    """
    low, high = weight_range_kg
    if not low <= high:
        raise InputError(f"weight range {low:g}-{high:g} kg is empty")
    rng = np.random.default_rng(seed)
    count = _count(n_patients)
    weights = rng.uniform(low, high, count)
    parameters = sample_parameters(model, weights, count, rng)
    summary = simulate_cohort(
        parameters,
        segments_per_kg,
        t_min,
        dose_scale=weights if per_kg else None,
        below_ng_per_ml=below_ng_per_ml,
        percentiles=percentiles,
        progress=progress,
    )
    return VirtualCohort(weights, summary, seed)
