"""Exact plasma and effect-site concentrations for any piecewise-constant infusion.

Why exact and not an ODE solver: a linear mammillary model driven by a constant rate has a
closed-form solution, so the only error left is floating point. Why this form: in
concentration coordinates a mammillary model is ``V dC/dt = K C + e1 u`` with ``K`` symmetric
(clearances are symmetric), so ``M = V^-1/2 K V^-1/2`` is symmetric negative definite and
``numpy.linalg.eigh`` diagonalises it with orthogonal eigenvectors, well conditioned even when
two rate constants nearly coincide. Plasma is then a sum of independent modes
``C1 = sum_i p_i`` with ``dp_i/dt = lambda_i p_i + g_i u`` and ``g_i = Q[0, i]^2 / V1 >= 0``.
The effect site (``dCe/dt = ke0 (C1 - Ce)``) is one more mode, of rate ``-ke0``; where ``ke0``
comes within 1e-3 of a mode's rate the effect site is recomputed per mode with divided
differences of ``exp`` that never divide by a small gap.

Three evaluations of the same solution, all exact to rounding:

* :func:`simulate` for one patient diagonalises the 2x2 or 3x3 "arrowhead" matrix in closed
  form (eigh when two rates nearly meet), keeps the modes and the grid's table of
  exponentials for the next call with the same parameters, and does the bookkeeping in
  Python floats: a single simulation is dominated by per-call costs, not arithmetic;
* :func:`simulate` for a batch evaluates the closed form at every grid point of each
  constant-rate piece at once, vectorised over patients and time; on an evenly spaced grid
  all pieces share one table of ``exp(rate k step)`` built from about ``2 sqrt(K)``
  exponentials;
* :func:`~ketaplan.clinical.pk.cohort.simulate_cohort` steps the exact one-step recurrence
  ``p <- exp(lambda h) p + F u`` (vectorised over patients; best for 10,000+ virtual patients)
  and keeps per-patient summaries and percentile bands instead of the full matrix.

What is simulated, the infusion's segments and the time grid, is
:mod:`~ketaplan.clinical.pk.infusion`.

Tests check each against the others and against a tight ``solve_ivp`` solution.

Units: dose in mg, volumes in L, so mg/L = microgram/mL; concentrations are reported in ng/mL
(x 1000).

Examples
--------
>>> from ketaplan.clinical.pk.infusion import constant_infusion, time_grid_min
>>> from ketaplan.clinical.pk.models import load_pk_models
>>> domino = load_pk_models()["domino"].parameters(70.0)
>>> grid = time_grid_min(until_min=240, step_s=10)
>>> result = simulate(domino, constant_infusion(dose_mg=35, duration_min=40), grid)
>>> round(float(result.plasma_ng_per_ml[0, 240]), 1)  # end of infusion, 40 min
240.3
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ketaplan.clinical.pk.infusion import InfusionSegment, check_grid, piece_lists
from ketaplan.clinical.pk.models import FloatArray, PkParameters
from ketaplan.errors import InputError

NG_PER_ML_PER_MG_PER_L = 1000.0


#: Elements per chunk of the closed-form evaluation (patients x modes x times).
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True, slots=True)
class Modes:
    """The model as independent exponential modes, one row per patient.

    ``rate_per_min`` holds the eigenvalues (negative); ``gain_ng_per_ml_per_mg`` the plasma
    weight of each mode, so that a bolus of 1 mg gives ``sum(gain * exp(rate * t))`` ng/mL.
    """

    rate_per_min: FloatArray
    gain_ng_per_ml_per_mg: FloatArray
    ke0_per_min: FloatArray


def modes(parameters: PkParameters) -> Modes:
    """Diagonalise each patient's model (see the module docstring for why ``eigh``)."""
    v1 = parameters.v1_l
    c, n = parameters.compartments, parameters.size
    peripheral = [(parameters.v2_l, parameters.q2_l_per_min)]
    peripheral.append((parameters.v3_l, parameters.q3_l_per_min))
    symmetric = np.zeros((n, c, c))
    symmetric[:, 0, 0] = -parameters.cl_l_per_min / v1
    for j, (volume, clearance) in enumerate(peripheral[: c - 1], start=1):
        symmetric[:, 0, 0] -= clearance / v1
        symmetric[:, 0, j] = symmetric[:, j, 0] = clearance / np.sqrt(v1 * volume)
        symmetric[:, j, j] = -clearance / volume
    eigenvalues, vectors = np.linalg.eigh(symmetric)
    gain = vectors[:, 0, :] ** 2 * (NG_PER_ML_PER_MG_PER_L / v1[:, None])
    return Modes(eigenvalues, gain, parameters.ke0_per_min)


@dataclass(frozen=True, slots=True)
class Concentrations:
    """Predicted concentrations, one row per patient, one column per time in ``t_min``."""

    t_min: FloatArray
    plasma_ng_per_ml: FloatArray
    effect_ng_per_ml: FloatArray | None


def dose_scale_per_patient(dose_scale: ArrayLike | None, n: int) -> FloatArray:
    if dose_scale is None:
        return np.ones(n)
    scale = np.broadcast_to(np.asarray(dose_scale, dtype=np.float64), (n,))
    if not (np.isfinite(scale).all() and (scale >= 0).all()):
        raise InputError("dose scale factors must be finite and not negative")
    return np.array(scale)


#: Below this relative gap between ``ke0`` and a mode's rate, the effect-site term is computed
#: with the cancellation-free divided difference (slower; rare outside contrived parameters).
_NEAR_GAP = 1e-3


def _phi1(z: FloatArray) -> FloatArray:
    """``(exp(z) - 1) / z`` for ``z <= 0``, equal to 1 at 0, without cancellation."""
    out = np.ones_like(z)
    np.divide(np.expm1(z), z, out=out, where=z < 0)
    return out


def _exp_steps(rate: FloatArray, count: int, step: float) -> FloatArray:
    """``exp(rate * k * step)`` for ``k = 0 .. count - 1``: ``(n, m)`` rates, ``(n, m, count)``.

    Products of about ``2 sqrt(count)`` exponentials, ``exp(r i h) * exp(r j B h)`` with
    ``k = j B + i``: within a few ulps of the direct values, and many times cheaper.
    """
    block, times = _block_times(count, step)
    both = np.exp(rate[:, :, None] * times)
    full: FloatArray = both[:, :, block:, None] * both[:, :, None, :block]
    return full.reshape(rate.shape[0], rate.shape[1], -1)[:, :, :count]


@functools.lru_cache(maxsize=64)
def _block_times(count: int, step: float) -> tuple[int, FloatArray]:
    """Block length ``B`` and the times ``[0, h, .., (B-1) h, 0, B h, 2 B h, ..]``."""
    block = math.isqrt(max(count - 1, 0)) + 1
    blocks = -(-count // block)
    times = np.concatenate([np.arange(block) * step, np.arange(blocks) * (block * step)])
    times.flags.writeable = False
    return block, times


def _advance(
    rate: FloatArray,
    gain_u: FloatArray | None,
    p0: FloatArray | None,
    q0: FloatArray | None,
    ke0: FloatArray | None,
    s: FloatArray,
) -> tuple[FloatArray, FloatArray | None]:
    """Mode states ``s`` minutes into a constant-rate piece; shapes ``(n, c, len(s))``.

    ``rate`` and ``gain_u`` (gain times infusion rate, or None for no infusion) are
    ``(n, c, 1)``; ``p0``/``q0`` the plasma/effect mode states at the piece's start (None for
    drug-free).
    ``(exp(rate s) - 1) / rate`` loses at most about ``eps / |rate s|`` of a mode's value,
    an absolute error of order 1e-16 of the mode's steady state: exact for any clinical
    purpose, and cheaper than ``expm1``.
    """
    e = np.exp(rate * s)
    p = e * p0[:, :, None] if p0 is not None else np.zeros(e.shape)
    if gain_u is not None:
        p += (gain_u / rate) * (e - 1.0)
    if ke0 is None:
        return p, None
    f = np.exp(-ke0 * s)
    gap = rate + ke0
    near = np.abs(gap) < _NEAR_GAP * ke0
    # (e^{rate s} - e^{-ke0 s}) / (rate + ke0): the convolution of the two exponentials
    divided = (e - f) / np.where(near, 1.0, gap)
    if near.any():
        x, y = rate * s, -ke0 * s
        high, low = np.maximum(x, y), np.minimum(x, y)
        stable = s * np.exp(high) * _phi1(low - high)
        divided = np.where(near, stable, divided)
    q = ke0 * divided * p0[:, :, None] if p0 is not None else np.zeros(e.shape)
    if q0 is not None:
        q += f * q0[:, :, None]
    if gain_u is not None:
        q += (-gain_u / rate) * ((1.0 - f) - ke0 * divided)
    return p, q


def simulate(
    parameters: PkParameters,
    segments: Sequence[InfusionSegment],
    t_min: ArrayLike,
    *,
    dose_scale: ArrayLike | None = None,
    effect_site: bool = False,
) -> Concentrations:
    """Plasma (and effect-site) concentrations of every patient at every time of ``t_min``.

    ``dose_scale`` multiplies each patient's infusion (segments in mg/kg/min with the weights
    as scale give weight-based dosing across a batch). The patients start drug-free at 0 min.
    """
    grid, step = check_grid(t_min)
    one = parameters.size == 1 and dose_scale is None
    if effect_site and (
        math.isnan(parameters.ke0_per_min[0]) if one else np.isnan(parameters.ke0_per_min).any()
    ):
        raise InputError("this model has no effect site (no ke0); simulate plasma only")
    pieces = _Pieces.on(grid, segments)
    if one:
        return _simulate_one(parameters, pieces, grid, step, effect_site)
    found = modes(parameters)
    n, c = found.rate_per_min.shape
    scale = dose_scale_per_patient(dose_scale, n)
    plasma = np.empty((n, grid.size))
    effect = np.empty((n, grid.size)) if effect_site else None
    chunk = max(1, _CHUNK_ELEMENTS // (c * grid.size))
    for first in range(0, n, chunk):
        rows = slice(first, min(n, first + chunk))
        rate = found.rate_per_min[rows]
        gain = found.gain_ng_per_ml_per_mg[rows] * scale[rows, None]
        ke0 = found.ke0_per_min[rows] if effect_site else None
        out = effect[rows] if effect is not None else None
        _modal(rate, gain, ke0, pieces, grid, step, plasma[rows], out)
        if ke0 is not None and out is not None:
            near = (np.abs(rate + ke0[:, None]) < _NEAR_GAP * ke0[:, None]).any(axis=1)
            if near.any():
                fixed_effect = out[near]
                _robust(rate[near], gain[near], ke0[near], pieces, grid, fixed_effect)
                out[near] = fixed_effect
    return Concentrations(grid, plasma, effect)


def _modes_closed_form(
    central: float, coupling: list[float], diagonal: list[float]
) -> tuple[list[float], list[float]] | None:
    """Eigenvalues and squared first eigenvector components of a small mammillary matrix.

    The symmetric matrix has ``central`` at (0, 0), ``coupling`` in row and column 0 and
    ``diagonal`` below: an "arrowhead". Its eigenvalues (trigonometric solution of the
    characteristic cubic for three compartments) and the weights
    ``Q[0, i]^2 = prod_j (l_i - d_j) / prod_{m != i} (l_i - l_m)`` (the residues of
    ``[(z - M)^-1]_00``) cost microseconds in Python where LAPACK's call costs tens. Returns
    None when two rates are too close for these formulas to keep 12 digits.
    """
    c = len(diagonal) + 1
    if c == 1:
        return [central], [1.0]
    if c == 2:
        d, b = diagonal[0], coupling[0]
        half_gap = math.hypot((central - d) / 2, b)
        mean = (central + d) / 2
        rates = [mean - half_gap, mean + half_gap]
    else:
        d2, d3 = diagonal
        b2, b3 = coupling
        q = (central + d2 + d3) / 3
        p1 = b2 * b2 + b3 * b3
        a0, a1, a2 = central - q, d2 - q, d3 - q
        p = math.sqrt((a0 * a0 + a1 * a1 + a2 * a2 + 2 * p1) / 6)
        if p == 0:
            return None
        # det((A - qI) / p) / 2 for the arrowhead matrix
        r = (a0 * a1 * a2 - b2 * b2 * a2 - b3 * b3 * a1) / (2 * p**3)
        phi = math.acos(min(1.0, max(-1.0, r))) / 3
        largest = q + 2 * p * math.cos(phi)
        smallest = q + 2 * p * math.cos(phi + 2 * math.pi / 3)
        rates = [smallest, 3 * q - largest - smallest, largest]
    scale = max(abs(x) for x in rates)
    weights = []
    for i, rate in enumerate(rates):
        gaps = [rate - other for m, other in enumerate(rates) if m != i]
        near = [rate - d for d in diagonal]
        if min(abs(x) for x in gaps + near) < 1e-4 * scale:
            return None
        weights.append(math.prod(near) / math.prod(gaps))
    return rates, weights


@functools.lru_cache(maxsize=256)
def _patient_modes(
    compartments: int, v1: float, v2: float, v3: float, cl: float, q2: float, q3: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """One patient's mode rates (per min) and plasma gains (ng/mL per mg), as Python floats.

    Cached per parameter set because a clinic simulates the same patient again and again
    (plan, bands, replay, titration); the arguments are the parameters themselves, so a cache
    hit returns exactly what a fresh computation would.
    """
    peripheral = [(v2, q2), (v3, q3)][: compartments - 1]
    central = -(cl + sum(q for _, q in peripheral)) / v1
    coupling = [q / math.sqrt(v1 * v) for v, q in peripheral]
    diagonal = [-q / v for v, q in peripheral]
    found = _modes_closed_form(central, coupling, diagonal)
    if found is None:  # nearly equal rates: let LAPACK's eigh do it
        symmetric = np.diag([central, *diagonal])
        symmetric[0, 1:] = symmetric[1:, 0] = coupling
        eigenvalues, vectors = np.linalg.eigh(symmetric)
        found = eigenvalues.tolist(), (vectors[0] ** 2).tolist()
    rates, weights = found
    return tuple(rates), tuple(w * NG_PER_ML_PER_MG_PER_L / v1 for w in weights)


#: Grids up to this many points keep their table of exponentials cached (the 4 h, 10 s grid
#: with an effect site is 1,441 x 5 numbers, 58 kB; at most 32 tables, 13 MB at this size).
_CACHED_TABLE_POINTS = 10_000


@functools.lru_cache(maxsize=32)
def _cached_exp_steps(rates: tuple[float, ...], count: int, step: float) -> FloatArray:
    """:func:`_exp_steps` for one patient, kept: it depends only on the model and the grid.

    Read-only, so that no caller can change what the next one gets.
    """
    table: FloatArray = _exp_steps(np.array([rates]), count, step)[0]
    table.flags.writeable = False
    return table


def _simulate_one(
    parameters: PkParameters,
    pieces: _Pieces,
    grid: FloatArray,
    step: float | None,
    effect_site: bool,
) -> Concentrations:
    """One patient: the same closed form as :func:`_modal`, bookkeeping in Python floats.

    A single patient is the command line's and a nurse's case, where numpy's per-call cost
    (about a microsecond a call) outweighs the arithmetic on three modes. So the modes come
    from :func:`_patient_modes` and, on an evenly spaced grid, the exponentials from
    :func:`_cached_exp_steps` (both computed once per patient and grid), the bookkeeping is
    done in Python floats, and each constant-rate piece costs two numpy calls: one small
    coefficient array and one matrix product written straight into the result.
    """
    rate, gain = _patient_modes(
        parameters.compartments,
        float(parameters.v1_l[0]),
        float(parameters.v2_l[0]),
        float(parameters.v3_l[0]),
        float(parameters.cl_l_per_min[0]),
        float(parameters.q2_l_per_min[0]),
        float(parameters.q3_l_per_min[0]),
    )
    c = len(rate)
    ke0 = float(parameters.ke0_per_min[0]) if effect_site else None
    if ke0 is not None and any(abs(r + ke0) < _NEAR_GAP * ke0 for r in rate):
        return _simulate_one_robust(parameters, pieces, grid, step)
    # columns: the modes, the effect-site mode (rate -ke0), and a constant (rate 0)
    rates = (*rate, 0.0) if ke0 is None else (*rate, -ke0, 0.0)
    ratio = [] if ke0 is None else [ke0 / (r + ke0) for r in rate]
    # one row per output (plasma, then effect site): row slices of one C-ordered array
    out = np.empty((1 if ke0 is None else 2, grid.size))
    table = None
    if step is not None:
        if grid.size <= _CACHED_TABLE_POINTS:
            table = _cached_exp_steps(rates, grid.size, step)
        else:
            longest = max(hi - lo for lo, hi in zip(pieces.lo, pieces.hi, strict=True))
            table = _exp_steps(np.array([rates]), longest, step)[0]
    no_input = [0.0] * c
    p0 = no_input  # plasma modes at the start of the piece
    ce0 = 0.0  # effect site at the start of the piece
    last = len(pieces.lo) - 1
    for i in range(last + 1):
        start, end, u = pieces.start_min[i], pieces.end_min[i], pieces.rate_mg_per_min[i]
        lo, hi = pieces.lo[i], pieces.hi[i]
        # within the piece mode i is a_i exp(r_i s) - steady_i, plasma sum(a_i exp(r_i s)) + b
        if u:
            steady = [g * u / r for g, r in zip(gain, rate, strict=True)]
            a = [p + q for p, q in zip(p0, steady, strict=True)]
            b = -sum(steady)
        else:  # a washout: the modes decay from where they are
            steady, a, b = no_input, p0, 0.0
        rows = [[*a, 0.0, b]] if ke0 is not None else [[*a, b]]
        if ke0 is not None:
            alpha = [x * y for x, y in zip(a, ratio, strict=True)]
            rows.append([*alpha, ce0 - sum(alpha) - b, b])
        if hi > lo:
            if table is not None:  # s = s0 + k step: exp(r s) = exp(r s0) * table[k]
                s0 = float(grid[lo]) - start
                coef = rows
                if s0:  # the piece starts between grid points (0 when a change is charted
                    # on a grid time, the usual case)
                    shift = [math.exp(r * s0) for r in rates]
                    coef = [[x * y for x, y in zip(row, shift, strict=True)] for row in rows]
                # dtype given: numpy then skips guessing it from the nested lists
                coef_array = np.array(coef, dtype=np.float64)
                np.matmul(coef_array, table[:, : hi - lo], out=out[:, lo:hi])
            else:
                s = grid[lo:hi] - start
                np.matmul(np.array(rows), np.exp(np.array(rates)[:, None] * s), out=out[:, lo:hi])
        if i < last:
            e_end = [math.exp(r * (end - start)) for r in rates]
            p0 = [x * e - q for x, e, q in zip(a, e_end[:c], steady, strict=True)]
            if ke0 is not None:
                ce0 = sum(x * e for x, e in zip(rows[1], e_end, strict=True))
    return Concentrations(grid, out[:1], None if ke0 is None else out[1:])


def _simulate_one_robust(
    parameters: PkParameters, pieces: _Pieces, grid: FloatArray, step: float | None
) -> Concentrations:
    """One patient whose ``ke0`` nearly equals a mode's rate, by the batch path's code.

    Divided differences keep the effect site exact there; the case is rare outside contrived
    parameters, so it is not worth a scalar version.
    """
    batch = modes(parameters)
    plasma = np.empty((1, grid.size))
    effect = np.empty((1, grid.size))
    rate, gain = batch.rate_per_min, batch.gain_ng_per_ml_per_mg
    _modal(rate, gain, None, pieces, grid, step, plasma, None)
    _robust(rate, gain, batch.ke0_per_min, pieces, grid, effect)
    return Concentrations(grid, plasma, effect)


@dataclass(frozen=True, slots=True)
class _Pieces:
    """Rate pieces with the grid indices each one covers (``lo[i]:hi[i]``)."""

    start_min: list[float]
    end_min: list[float]
    rate_mg_per_min: list[float]
    lo: list[int]
    hi: list[int]

    @classmethod
    def on(cls, grid: FloatArray, segments: Sequence[InfusionSegment]) -> _Pieces:
        starts, ends, rates = piece_lists(segments, float(grid[-1]))
        # one searchsorted call: bisecting a numpy array from Python boxes every probe
        bounds = [*grid.searchsorted(starts).tolist(), grid.size]
        return cls(starts, ends, rates, bounds[:-1], bounds[1:])


def _modal(
    rate: FloatArray,
    gain: FloatArray,
    ke0: FloatArray | None,
    pieces: _Pieces,
    grid: FloatArray,
    step: float | None,
    plasma: FloatArray,
    effect: FloatArray | None,
) -> None:
    """Fill ``plasma`` (and ``effect``) ``(n, T)`` with the closed form, piece by piece.

    Within a piece of rate ``u`` each mode is ``p_i(s) = a_i e_i(s) - g_i u / r_i`` with
    ``e_i = exp(r_i s)`` and ``a_i = p_i(0) + g_i u / r_i``; the effect site adds one mode of
    rate ``-ke0``: ``Ce(s) = sum_i alpha_i e_i(s) + beta exp(-ke0 s) + gamma`` with
    ``alpha_i = ke0 a_i / (r_i + ke0)``. So each piece costs one batch of exponentials and
    one small matrix product. (Where ``ke0`` nearly equals ``-r_i`` the caller recomputes the
    effect site with :func:`_robust`.)
    """
    n, c = rate.shape
    if ke0 is None:
        rates = rate
    else:  # the effect site adds a mode of rate -ke0 (last column)
        rates = np.concatenate([rate, -ke0[:, None]], axis=1)
        gap = rate + ke0[:, None]  # zero only where the caller recomputes with _robust
        ratio = ke0[:, None] / np.where(gap == 0, 1.0, gap)
    coef = np.zeros((n, 1 if ke0 is None else 2, rates.shape[1]))
    longest = max(hi - lo for lo, hi in zip(pieces.lo, pieces.hi, strict=True))
    table = _exp_steps(rates, longest, step) if step is not None and longest else None
    p0 = np.zeros((n, c))
    ce0 = np.zeros(n)
    last = len(pieces.lo) - 1
    for i in range(last + 1):
        start, end, u = pieces.start_min[i], pieces.end_min[i], pieces.rate_mg_per_min[i]
        lo, hi = pieces.lo[i], pieces.hi[i]
        steady = gain * (u / rate) if u else None  # g_i u / r_i: minus each mode's plateau
        a = p0 + steady if steady is not None else p0
        b = -steady.sum(axis=1) if steady is not None else None
        coef[:, 0, :c] = a
        if ke0 is not None:
            coef[:, 1, :c] = alpha = a * ratio
            coef[:, 1, c] = ce0 - alpha.sum(axis=1) - (b if b is not None else 0.0)
        if hi > lo:
            if table is not None:  # s = s0 + k step: exp(r s) = exp(r s0) * table[k]
                shift = np.exp(rates * (float(grid[lo]) - start))
                values = np.matmul(coef * shift[:, None, :], table[:, :, : hi - lo])
            else:
                values = np.matmul(coef, np.exp(rates[:, :, None] * (grid[lo:hi] - start)))
            if b is not None:
                values += b[:, None, None]
            plasma[:, lo:hi] = values[:, 0]
            if effect is not None:
                effect[:, lo:hi] = values[:, 1]
        if i < last:
            e_end = np.exp(rates * (end - start))
            p0 = a * e_end[:, :c] - steady if steady is not None else a * e_end[:, :c]
            if ke0 is not None:
                ce0 = (coef[:, 1] * e_end).sum(axis=1) + (b if b is not None else 0.0)


def _robust(
    rate: FloatArray,
    gain: FloatArray,
    ke0: FloatArray,
    pieces: _Pieces,
    grid: FloatArray,
    effect: FloatArray,
) -> None:
    """The effect site by per-mode divided differences, for ``ke0`` close to a mode's rate."""
    rate3, gain3, ke03 = rate[:, :, None], gain[:, :, None], ke0[:, None, None]
    p0: FloatArray | None = None
    q0: FloatArray | None = None
    last = len(pieces.lo) - 1
    for i in range(last + 1):
        start, end, u = pieces.start_min[i], pieces.end_min[i], pieces.rate_mg_per_min[i]
        lo, hi = pieces.lo[i], pieces.hi[i]
        gain_u = gain3 * u if u else None
        if hi > lo:
            _, q = _advance(rate3, gain_u, p0, q0, ke03, grid[lo:hi] - start)
            if q is not None:
                effect[:, lo:hi] = q.sum(axis=1)
        if i < last:
            p, q = _advance(rate3, gain_u, p0, q0, ke03, np.array([end - start]))
            p0, q0 = p[:, :, 0], None if q is None else q[:, :, 0]
