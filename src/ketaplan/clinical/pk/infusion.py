"""What a simulation is given: the infusion as constant-rate segments, and the time grid.

A segment is a constant rate over a stretch of minutes; overlapping segments add up (two lines
into one patient), which is what linearity says. The grid is the times concentrations are
reported at, in minutes, built as ``k * step`` exactly so that evenly spaced grids stay evenly
spaced to the last bit (the solver shares one table of exponentials across such a grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ketaplan.clinical.pk.models import FloatArray
from ketaplan.errors import InputError

#: The largest grid ketaplan simulates in one call (points per patient).
MAX_GRID_POINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class InfusionSegment:
    """A constant rate from ``start_min`` to ``end_min`` (minutes after the simulation's zero).

    Overlapping segments add up (two lines into one patient), which is what linearity says.
    """

    start_min: float
    end_min: float
    rate_mg_per_min: float

    def __post_init__(self) -> None:
        for name in ("start_min", "end_min", "rate_mg_per_min"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError(f"infusion {name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise InputError(f"infusion {name} must be finite, got {value!r}")
        if self.start_min < 0:
            raise InputError(f"infusion starts at {self.start_min:g} min; it must be 0 or later")
        if self.end_min <= self.start_min:
            raise InputError(
                f"infusion segment ends at {self.end_min:g} min, not after its start "
                f"({self.start_min:g} min)"
            )
        if self.rate_mg_per_min < 0:
            raise InputError(f"infusion rate {self.rate_mg_per_min:g} mg/min is negative")

    @property
    def amount_mg(self) -> float:
        """The drug the segment delivers."""
        return self.rate_mg_per_min * (self.end_min - self.start_min)


def constant_infusion(
    dose_mg: float, duration_min: float, start_min: float = 0.0
) -> tuple[InfusionSegment, ...]:
    """``dose_mg`` spread evenly over ``duration_min``: the usual 40-minute ketamine infusion.

    >>> constant_infusion(35, 40)[0].rate_mg_per_min
    0.875
    """
    if not (math.isfinite(dose_mg) and dose_mg > 0):
        raise InputError(
            f"dose {dose_mg!r} mg must be a positive number", code="input.out_of_range"
        )
    if not (math.isfinite(duration_min) and duration_min > 0):
        raise InputError(
            f"duration {duration_min!r} min must be a positive number", code="input.out_of_range"
        )
    end_min = start_min + duration_min
    return (InfusionSegment(start_min, end_min, dose_mg / duration_min),)


def time_grid_min(until_min: float, step_s: float) -> FloatArray:
    """Times 0, step, 2 step, ... up to ``until_min`` (minutes), built as ``k * step`` exactly.

    >>> time_grid_min(1, 30).tolist()
    [0.0, 0.5, 1.0]
    """
    if not (math.isfinite(until_min) and until_min > 0):
        raise InputError(f"simulate until {until_min!r} min: must be a positive number")
    if not (math.isfinite(step_s) and step_s > 0):
        raise InputError(f"time step {step_s!r} s: must be a positive number")
    steps = math.floor(until_min * 60.0 / step_s + 1e-9)
    if steps + 1 > MAX_GRID_POINTS:
        raise InputError(
            f"{steps + 1} time points is more than {MAX_GRID_POINTS}; use a larger step",
            code="input.out_of_range",
        )
    if steps < 1:
        raise InputError(f"time step {step_s:g} s is longer than the {until_min:g} min simulated")
    return np.arange(steps + 1, dtype=np.float64) * (step_s / 60.0)


def check_grid(t_min: ArrayLike) -> tuple[FloatArray, float | None]:
    """The grid as floats, validated, and its spacing if evenly spaced (to 1e-12), else None."""
    grid = np.asarray(t_min, dtype=np.float64)
    if grid.ndim != 1 or grid.size < 2:
        raise InputError("the time grid must hold at least two times (minutes)")
    first, last = float(grid[0]), float(grid[-1])
    if not (math.isfinite(first) and math.isfinite(last) and 0 <= first < last):
        raise InputError("the time grid must be strictly increasing times of 0 min or later")
    step = (last - first) / (grid.size - 1)
    # |grid - (first + k step)|, in one scratch array: on a one-patient call each temporary
    # costs about as much as the arithmetic
    expected = np.arange(grid.size, dtype=np.float64)
    expected *= step
    expected += first
    expected -= grid
    drift = float(np.abs(expected, out=expected).max())
    if drift <= 1e-12 * last:  # evenly spaced, hence increasing
        return grid, step
    if not (np.isfinite(grid).all() and float(np.diff(grid).min()) > 0):
        raise InputError("the time grid must be strictly increasing times of 0 min or later")
    return grid, None


def total_dose_mg(segments: Sequence[InfusionSegment]) -> float:
    """The drug all segments deliver together."""
    return sum(segment.amount_mg for segment in segments)


def stop_min(segments: Sequence[InfusionSegment]) -> float:
    """When the last drug-delivering segment ends (0 if none delivers any)."""
    return max((s.end_min for s in segments if s.rate_mg_per_min > 0), default=0.0)


@dataclass(frozen=True, slots=True)
class RatePieces:
    """The infusion as consecutive constant-rate pieces covering ``[0, end_min]``."""

    start_min: FloatArray
    end_min: FloatArray
    rate_mg_per_min: FloatArray


def rate_pieces(segments: Sequence[InfusionSegment], end_min: float) -> RatePieces:
    """Sum overlapping segments into consecutive pieces of constant rate up to ``end_min``.

    >>> p = rate_pieces(constant_infusion(10, 10), 30)
    >>> p.start_min.tolist(), p.rate_mg_per_min.tolist()
    ([0.0, 10.0], [1.0, 0.0])
    """
    starts, ends, rates = piece_lists(segments, end_min)
    return RatePieces(np.array(starts), np.array(ends), np.array(rates, dtype=np.float64))


def piece_lists(
    segments: Sequence[InfusionSegment], end_min: float
) -> tuple[list[float], list[float], list[float]]:
    edges = {0.0, float(end_min)}
    for segment in segments:
        edges.update(t for t in (segment.start_min, segment.end_min) if t < end_min)
    points = sorted(edges)
    starts: list[float] = []
    rates: list[float] = []
    for start in points[:-1]:
        rate = sum(s.rate_mg_per_min for s in segments if s.start_min <= start < s.end_min)
        if not rates or rate != rates[-1]:
            starts.append(start)
            rates.append(rate)
    return starts, [*starts[1:], points[-1]], rates
