"""Figures from predicted concentrations (peaks, time until below a level), and the virtual
cohort simulation that keeps only those figures and percentile bands.

:func:`simulate_cohort` steps the exact one-step recurrence ``p <- exp(lambda h) p + F u`` over
the modes of :func:`~ketaplan.clinical.pk.simulation.modes`, vectorised over patients (best for
10,000+ virtual patients), and keeps per-patient summaries and percentile bands instead of the
full matrix: memory stays at ``block_rows x patients`` numbers whatever the grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ketaplan.clinical.pk.infusion import InfusionSegment, check_grid, rate_pieces, stop_min
from ketaplan.clinical.pk.models import FloatArray, PkParameters
from ketaplan.clinical.pk.simulation import Modes, dose_scale_per_patient, modes
from ketaplan.errors import InputError

Progress = Callable[[int, int], None]
"""Called with (steps done, steps in all), so that a command line can draw a bar."""


@dataclass(frozen=True, slots=True)
class PeakSummary:
    """Per patient: the highest predicted plasma level on the grid, and when it happens."""

    peak_plasma_ng_per_ml: FloatArray
    time_of_peak_min: FloatArray


def peaks(t_min: FloatArray, plasma_ng_per_ml: FloatArray) -> PeakSummary:
    """The grid maximum of each row (exact at grid points; the grid step bounds the timing)."""
    where = np.argmax(plasma_ng_per_ml, axis=1)
    rows = np.arange(plasma_ng_per_ml.shape[0])
    return PeakSummary(plasma_ng_per_ml[rows, where], t_min[where])


def minutes_until_below(
    t_min: FloatArray, plasma_ng_per_ml: FloatArray, level_ng_per_ml: float, after_min: float
) -> FloatArray:
    """Minutes from ``after_min`` (the stop) to the first grid time with plasma below the level.

    NaN where plasma does not fall below the level within the grid.
    """
    if not (math.isfinite(level_ng_per_ml) and level_ng_per_ml > 0):
        raise InputError(f"level {level_ng_per_ml!r} ng/mL must be a positive number")
    later = t_min >= after_min
    below = (plasma_ng_per_ml < level_ng_per_ml) & later[None, :]
    first = np.argmax(below, axis=1)
    found = below[np.arange(below.shape[0]), first]
    return np.where(found, t_min[first] - after_min, np.nan)


@dataclass(frozen=True, slots=True)
class CohortSummary:
    """What a large virtual cohort is summarised to: bands over time, figures per patient."""

    t_min: FloatArray
    percentiles: tuple[float, ...]
    plasma_bands_ng_per_ml: FloatArray
    peak_plasma_ng_per_ml: FloatArray
    time_of_peak_min: FloatArray
    minutes_below_after_stop: FloatArray


def _exact_steps(
    found: Modes,
    scale: FloatArray,
    segments: Sequence[InfusionSegment],
    grid: FloatArray,
    block_rows: int,
    progress: Progress | None,
) -> Iterator[tuple[int, FloatArray]]:
    """Plasma at the grid times, ``block_rows`` times at a time, by exact one-step updates.

    Internal times are the grid plus every rate change, so each step has a constant rate and
    ``p <- exp(lambda h) p + g (exp(lambda h) - 1) / lambda u`` is exact. Steps of equal length
    (to 1e-12 min) share their factors.
    """
    pieces = rate_pieces(segments, float(grid[-1]))
    times = np.union1d(np.union1d(grid, pieces.start_min), [0.0])
    on_grid = np.zeros(times.size, dtype=bool)
    on_grid[np.searchsorted(times, grid)] = True
    steps = np.diff(times)
    piece_of_step = np.searchsorted(pieces.start_min, times[:-1], side="right") - 1
    step_rates = pieces.rate_mg_per_min[piece_of_step]
    keys, key_of_step = np.unique(np.round(steps, 12), return_inverse=True)
    rate = found.rate_per_min.T.copy()  # (c, n): one contiguous row per mode
    gain = (found.gain_ng_per_ml_per_mg * scale[:, None]).T
    decays = []
    inputs = []
    for h in keys:
        x = rate * h
        decays.append(np.exp(x))
        inputs.append(gain * (np.expm1(x) / rate))
    scaled: dict[tuple[int, float], FloatArray] = {}
    p = np.zeros(rate.shape)
    n = rate.shape[1]
    block = np.empty((block_rows, n))
    row, first = 0, 0
    if on_grid[0]:
        block[0] = 0.0
        row = 1
    total = steps.size
    for j in range(total):
        key, u = int(key_of_step[j]), float(step_rates[j])
        np.multiply(p, decays[key], out=p)
        if u:
            term = scaled.get((key, u))
            if term is None:
                term = scaled[(key, u)] = inputs[key] * u
            p += term
        if on_grid[j + 1]:
            np.sum(p, axis=0, out=block[row])
            row += 1
            if row == block_rows:
                yield first, block
                first, row = first + row, 0
                if progress is not None:
                    progress(j + 1, total)
    if row:
        yield first, block[:row]
    if progress is not None:
        progress(total, total)


def simulate_cohort(
    parameters: PkParameters,
    segments: Sequence[InfusionSegment],
    t_min: ArrayLike,
    *,
    dose_scale: ArrayLike | None = None,
    below_ng_per_ml: float = 100.0,
    percentiles: Sequence[float] = (5.0, 50.0, 95.0),
    block_rows: int = 64,
    progress: Progress | None = None,
) -> CohortSummary:
    """Simulate many patients without holding every concentration; return bands and figures.

    Memory stays at ``block_rows x patients`` numbers whatever the grid. ``progress`` is
    called with (steps done, steps in all) so that a command line can draw a bar. Pass an
    empty ``percentiles`` to skip the bands (sorting is the slow part at 100,000 patients).
    """
    grid, _ = check_grid(t_min)
    found = modes(parameters)
    n = found.rate_per_min.shape[0]
    scale = dose_scale_per_patient(dose_scale, n)
    levels = tuple(float(q) for q in percentiles)
    if any(not 0 <= q <= 100 for q in levels):
        raise InputError(f"percentiles {levels} must lie between 0 and 100")
    if not (math.isfinite(below_ng_per_ml) and below_ng_per_ml > 0):
        raise InputError(f"level {below_ng_per_ml!r} ng/mL must be a positive number")
    stopped = stop_min(segments)
    bands = np.empty((len(levels), grid.size))
    peak = np.full(n, -np.inf)
    peak_at = np.zeros(n)
    below_at = np.full(n, np.nan)
    for first, block in _exact_steps(found, scale, segments, grid, block_rows, progress):
        times = grid[first : first + block.shape[0]]
        if levels:
            bands[:, first : first + block.shape[0]] = np.percentile(block, levels, axis=1)
        where = np.argmax(block, axis=0)
        highest = block[where, np.arange(n)]
        higher = highest > peak
        peak[higher] = highest[higher]
        peak_at[higher] = times[where[higher]]
        after = times >= stopped
        if after.any():
            pending = np.isnan(below_at)
            below = block[after][:, pending] < below_ng_per_ml
            hit = below.any(axis=0)
            first_below = np.argmax(below, axis=0)
            index = np.flatnonzero(pending)[hit]
            below_at[index] = times[after][first_below[hit]] - stopped
    return CohortSummary(grid, levels, bands, peak, peak_at, below_at)
