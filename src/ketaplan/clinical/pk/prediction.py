"""Predictions the pages show: a curve with its 5-95 % band, the time to fall below the
clinic's reference level, and the session console's what-ifs.

A prediction is the typical patient of one published model at the patient's weight, plus a
band (nearest-rank 5th, 50th and 95th percentiles at each minute) over virtual patients of the
same weight with the model's between-subject variability
(:func:`~ketaplan.clinical.pk.population.sample_parameters`). Every option of one page uses the
same seed, so the what-ifs are compared on the same virtual patients: an option that gives
less drug at every moment gives every virtual patient a lower level, hence lower percentiles.

The what-ifs start from what was charted (:class:`RunningInfusion`): the rest of the infusion
as it runs (the running rate until the ordered dose is in), a pause now (not resumed within
the prediction), or a lower rate from now until the ordered dose is in (so it runs longer).
They change nothing in the record; they are predictions.

Examples
--------
>>> from ketaplan.clinical.pk.models import load_pk_models
>>> from ketaplan.clinical.pk.infusion import constant_infusion
>>> found = predict(load_pk_models()["domino"], 70.0, constant_infusion(35, 40),
...                 level_ng_per_ml=100.0, n_patients=50)
>>> bool((found.low_ng_per_ml <= found.median_ng_per_ml).all())
True
>>> found.below_after_stop_min is not None
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ketaplan.clinical.pk.cohort import minutes_until_below
from ketaplan.clinical.pk.infusion import InfusionSegment, stop_min, time_grid_min, total_dose_mg
from ketaplan.clinical.pk.models import FloatArray, PkModel
from ketaplan.clinical.pk.population import sample_parameters
from ketaplan.clinical.pk.simulation import simulate
from ketaplan.errors import InputError, SafetyLimitError

BAND_PATIENTS = 300
"""Virtual patients per band. Each percentile is an order statistic (nearest rank): the 5th
and 95th are the 15th lowest and highest of 300, whose sampling error is a few per cent of the
level, far less than the 30 % CV the band shows; one option costs a few milliseconds (the
300 x 220 plasma matrix, sorted at each time), so the console's three options render
well under 100 ms. 400 patients on a 30 s grid cost about four times as much for no visible
difference. The seed is fixed: the page is the same on every reload."""
BAND_SEED = 20261207
PERCENTILES = (5.0, 50.0, 95.0)
STEP_MIN = 1.0
"""The grid step: a time below the level is the first whole minute below it (the exact
solution read every minute), which is as fine as a nurse reads a clock."""
FOLLOW_MIN = 180.0
"""How long after the stop a prediction runs: the four catalog models fall below 100 ng/mL
within about an hour of a 0.5 mg/kg / 40 min infusion; a level still above it after three
hours is reported as "not within" rather than guessed."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """One infusion's predicted plasma levels (ng/mL) over ``t_min`` (minutes from the start).

    ``below_after_stop_min`` is the typical patient's minutes from the stop to the first time
    below ``level_ng_per_ml`` (None: not within the prediction); ``below_band_min`` the 5th,
    50th and 95th percentile of the same over the virtual patients (None where that share
    of them is not below it within the prediction).
    """

    segments: tuple[InfusionSegment, ...]
    t_min: FloatArray
    typical_ng_per_ml: FloatArray
    low_ng_per_ml: FloatArray
    median_ng_per_ml: FloatArray
    high_ng_per_ml: FloatArray
    stop_min: float
    total_mg: float
    peak_ng_per_ml: float
    peak_at_min: float
    level_ng_per_ml: float
    below_after_stop_min: float | None
    below_band_min: tuple[float | None, float | None, float | None]
    n_patients: int
    seed: int

    @property
    def below_at_min(self) -> float | None:
        """Minutes from the start to the typical patient's first time below the level."""
        if self.below_after_stop_min is None:
            return None
        return self.stop_min + self.below_after_stop_min


def _or_none(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def predict(
    model: PkModel,
    weight_kg: float,
    segments: Sequence[InfusionSegment],
    *,
    level_ng_per_ml: float,
    until_min: float | None = None,
    n_patients: int = BAND_PATIENTS,
    seed: int = BAND_SEED,
) -> Prediction:
    """The typical curve, the band and the time below the level for one infusion.

    ``until_min`` defaults to :data:`FOLLOW_MIN` after the stop (pass one value to every
    option of a page so that they share the time axis).
    """
    chosen = tuple(segments)
    stopped = stop_min(chosen)
    if stopped <= 0:
        raise InputError("nothing to predict: no drug is given", code="input.missing")
    until = stopped + FOLLOW_MIN if until_min is None else until_min
    if until < stopped:
        raise InputError(f"predict until {until:g} min: before the stop at {stopped:g} min")
    grid = time_grid_min(until, STEP_MIN * 60.0)
    typical = simulate(model.parameters(weight_kg), chosen, grid).plasma_ng_per_ml
    below = float(minutes_until_below(grid, typical, level_ng_per_ml, stopped)[0])
    rng = np.random.default_rng(seed)
    patients = sample_parameters(model, weight_kg, n_patients, rng)
    plasma = simulate(patients, chosen, grid).plasma_ng_per_ml  # patients x times
    ranks = [round(q / 100.0 * (n_patients - 1)) for q in PERCENTILES]
    # one sorted row of patients per time (a full sort of 300 is faster here than a partition)
    low, median, high = np.sort(plasma.T, axis=1)[:, ranks].T
    after = minutes_until_below(grid, plasma, level_ng_per_ml, stopped)
    times = np.where(np.isnan(after), np.inf, after)
    band_times = np.sort(times)[ranks]
    peak_at = int(np.argmax(typical[0]))
    return Prediction(
        segments=chosen,
        t_min=grid,
        typical_ng_per_ml=typical[0],
        low_ng_per_ml=low,
        median_ng_per_ml=median,
        high_ng_per_ml=high,
        stop_min=stopped,
        total_mg=total_dose_mg(chosen),
        peak_ng_per_ml=float(typical[0, peak_at]),
        peak_at_min=float(grid[peak_at]),
        level_ng_per_ml=level_ng_per_ml,
        below_after_stop_min=None if math.isnan(below) else below,
        below_band_min=(
            _or_none(band_times[0]),
            _or_none(band_times[1]),
            _or_none(band_times[2]),
        ),
        n_patients=n_patients,
        seed=seed,
    )


# --------------------------------------------------------------------- the what-ifs ----


@dataclass(frozen=True, slots=True)
class RunningInfusion:
    """What the chart says so far, as the simulator takes it.

    ``charted`` holds the delivered stretches (mg/min) from the first start to ``now_min``
    (a running stretch already carried on to now); ``rate_ml_per_h`` the running pump rate (0
    when paused or stopped); ``remaining_mg`` what the order still has to give.
    """

    charted: tuple[InfusionSegment, ...]
    now_min: float
    rate_ml_per_h: float
    concentration_mg_per_ml: float
    remaining_mg: float

    @property
    def infusing(self) -> bool:
        return self.rate_ml_per_h > 0 and self.concentration_mg_per_ml > 0


def _rest_at(running: RunningInfusion, rate_ml_per_h: float) -> tuple[InfusionSegment, ...]:
    rate_mg_per_min = rate_ml_per_h * running.concentration_mg_per_ml / 60.0
    if rate_mg_per_min <= 0 or running.remaining_mg <= 0:
        return running.charted
    end = running.now_min + running.remaining_mg / rate_mg_per_min
    return (*running.charted, InfusionSegment(running.now_min, end, rate_mg_per_min))


def as_running(running: RunningInfusion) -> tuple[InfusionSegment, ...]:
    """The chart so far, then the running rate until the ordered dose is in."""
    return _rest_at(running, running.rate_ml_per_h)


def paused_now(running: RunningInfusion) -> tuple[InfusionSegment, ...]:
    """The chart so far and nothing more: paused now, not resumed within the prediction."""
    return running.charted


def lowered(running: RunningInfusion, rate_ml_per_h: float) -> tuple[InfusionSegment, ...]:
    """The chart so far, then ``rate_ml_per_h`` until the ordered dose is in (longer)."""
    return _rest_at(running, rate_ml_per_h)


def check_lower_rate(
    rate_ml_per_h: float,
    running: RunningInfusion,
    *,
    weight_kg: float,
    hard_max_mg_per_kg_per_h: float,
    field: str = "lower_rate_ml_per_h",
) -> float:
    """``rate_ml_per_h`` when it is a rate the running pump could be lowered to; otherwise a
    refusal that says why and what is accepted (never clamped).

    Refused: not infusing (nothing to lower), zero or less (that is a pause: see "pause
    now"), past the protocol's hard limit in mg/kg/h at this bag and weight (the same limit a
    charted rate is checked against), and not below the running rate.
    """
    where = {"field": field, "value": rate_ml_per_h}
    if not running.infusing:
        raise InputError(
            "the infusion is not running: there is no rate to lower (resume it first)",
            code="input.not_infusing",
            fields=where,
        )
    current = running.rate_ml_per_h
    if not math.isfinite(rate_ml_per_h) or rate_ml_per_h <= 0:
        raise InputError(
            f"a rate of {rate_ml_per_h:g} mL/h is not a rate to lower to: give a number of "
            f"mL/h above 0 and below the running {current:g} mL/h (to stop the drug, see "
            '"pause now")',
            code="input.out_of_range",
            fields=where,
        )
    dose_rate = rate_ml_per_h * running.concentration_mg_per_ml / weight_kg
    if dose_rate > hard_max_mg_per_kg_per_h * (1 + 1e-9):
        raise SafetyLimitError(
            f"{rate_ml_per_h:g} mL/h of {running.concentration_mg_per_ml:g} mg/mL is "
            f"{dose_rate:.2f} mg/kg/h at {weight_kg:g} kg, past the protocol's hard limit of "
            f"{hard_max_mg_per_kg_per_h:g} mg/kg/h: not predicted. Give a rate below the "
            f"running {current:g} mL/h",
            code="limit.what_if_past_hard_limit",
            fields={**where, "limit_mg_per_kg_per_h": hard_max_mg_per_kg_per_h},
        )
    if rate_ml_per_h >= current:
        raise InputError(
            f"{rate_ml_per_h:g} mL/h is not lower than the running {current:g} mL/h: this "
            f"what-if lowers the rate; give a number of mL/h above 0 and below {current:g}",
            code="input.out_of_range",
            fields=where,
        )
    return rate_ml_per_h
