"""Benchmark: ketaplan's exact PK simulator against solve_ivp, opentiva and PyTCI, in one run.

Scenario (all tools): the Domino ketamine model, 70 kg, 35 mg (0.5 mg/kg) over 40 min, plasma
(and effect site where the tool computes it) for 4 h at 10 s resolution (1,441 times), then
100,000 virtual patients x 4 h at 10 s.

opentiva needs Python 3.10 and PyTCI 1.2.0 needs Python 3.11: each gets its own virtual
environment (``.bench-venv310``, ``.bench-venv311``, git-ignored, made on the first run with
pip) and is timed in a subprocess by a small driver written below, which only calls the
libraries' public API. Neither library's code is copied or committed.

Run with ``make bench-pk``; results go to ``benchmarks/results/pk.md`` and ``pk.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy
from scipy.integrate import solve_ivp

from ketaplan.clinical.pk import (
    constant_infusion,
    load_pk_models,
    simulate,
    simulate_virtual_cohort,
    time_grid_min,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PY310 = Path("/root/.pyenv/versions/3.10.13/bin/python")
PY311 = Path("/root/.pyenv/versions/3.11.7/bin/python")
OPENTIVA = "opentiva==1.1.2"
PYTCI = "pytci==1.2.0"

WEIGHT_KG = 70.0
DOSE_MG = 35.0
INFUSION_MIN = 40.0
UNTIL_MIN = 240.0
STEP_S = 10.0
COHORT = 100_000
# Domino 1984 as in the catalog (clinical/catalog/pk_models.toml)
DOMINO = {
    "v1_l": 0.063 * WEIGHT_KG,
    "k10": 0.4381,
    "k12": 0.5921,
    "k13": 0.5900,
    "k21": 0.2470,
    "k31": 0.0146,
    "ke0": 0.652,
}


def _repeat(run: Callable[[], object], repeats: int) -> dict[str, float]:
    run()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "repeats": repeats}


# ------------------------------------------------------------------------------ ketaplan --


def bench_ketaplan() -> dict[str, Any]:
    model = load_pk_models()["domino"]
    grid = time_grid_min(UNTIL_MIN, STEP_S)
    plan = constant_infusion(DOSE_MG, INFUSION_MIN)

    def one(effect: bool) -> Callable[[], object]:
        return lambda: simulate(model.parameters(WEIGHT_KG), plan, grid, effect_site=effect)

    result = simulate(model.parameters(WEIGHT_KG), plan, grid, effect_site=True)
    per_kg = constant_infusion(DOSE_MG / WEIGHT_KG, INFUSION_MIN)

    def cohort(percentiles: tuple[float, ...]) -> Callable[[], object]:
        return lambda: simulate_virtual_cohort(
            model, per_kg, grid, n_patients=COHORT, percentiles=percentiles
        )

    batch = model.parameters(np.linspace(50.0, 120.0, 1000))
    # a different weight at every call: nothing kept from the call before can be reused
    weights = iter(np.linspace(50.0, 120.0, 3001).tolist())

    def new_weight() -> object:
        return simulate(model.parameters(next(weights)), plan, grid, effect_site=True)

    return {
        "batch_1000_plasma_effect": _repeat(
            lambda: simulate(batch, per_kg, grid, dose_scale=batch.v1_l / 0.063, effect_site=True),
            10,
        ),
        "one_plasma": _repeat(one(False), 3000),
        "one_plasma_effect": _repeat(one(True), 3000),
        "one_plasma_effect_new_weight": _repeat(new_weight, 3000),
        "cohort_peaks": _repeat(cohort(()), 3),
        "cohort_peaks_bands": _repeat(cohort((5.0, 50.0, 95.0)), 1),
        "end_of_infusion_ng_per_ml": float(result.plasma_ng_per_ml[0, 240]),
        "plasma_ng_per_ml": result.plasma_ng_per_ml[0].tolist(),
    }


# ----------------------------------------------------------------------------- solve_ivp --


def _rhs(_t: float, y: np.ndarray, u: float, k: dict[str, float]) -> np.ndarray:
    a1, a2, a3, ce = y[0], y[1], y[2], y[3]
    c1 = a1 / k["v1_l"]
    return np.array(
        [
            u - (k["k10"] + k["k12"] + k["k13"]) * a1 + k["k21"] * a2 + k["k31"] * a3,
            k["k12"] * a1 - k["k21"] * a2,
            k["k13"] * a1 - k["k31"] * a3,
            k["ke0"] * (c1 - ce),
        ]
    )


def solve_ivp_one(k: dict[str, float], rtol: float = 1e-8, atol: float = 1e-10) -> np.ndarray:
    """The textbook way: amounts, one solve per constant-rate piece, t_eval on the grid."""
    grid = time_grid_min(UNTIL_MIN, STEP_S)
    on = grid <= INFUSION_MIN
    first = solve_ivp(
        _rhs,
        (0.0, INFUSION_MIN),
        np.zeros(4),
        t_eval=grid[on],
        args=(DOSE_MG / INFUSION_MIN, k),
        rtol=rtol,
        atol=atol,
    )
    second = solve_ivp(
        _rhs,
        (INFUSION_MIN, UNTIL_MIN),
        first.y[:, -1],
        t_eval=grid[~on],
        args=(0.0, k),
        rtol=rtol,
        atol=atol,
    )
    return 1000 * np.concatenate([first.y[0], second.y[0]]) / k["v1_l"]


def solve_ivp_stacked(n: int) -> float:
    """All ``n`` patients as one vectorised ODE system (the fastest way to use solve_ivp)."""
    rng = np.random.default_rng(1)
    weights = rng.uniform(50, 120, n)
    v1 = 0.063 * weights * np.exp(rng.normal(0, 0.294, n))
    grid = time_grid_min(UNTIL_MIN, STEP_S)
    k = DOMINO

    def rhs(_t: float, y: np.ndarray, u: np.ndarray) -> np.ndarray:
        a1, a2, a3 = y[:n], y[n : 2 * n], y[2 * n :]
        out = np.empty_like(y)
        out[:n] = u - (k["k10"] + k["k12"] + k["k13"]) * a1 + k["k21"] * a2 + k["k31"] * a3
        out[n : 2 * n] = k["k12"] * a1 - k["k21"] * a2
        out[2 * n :] = k["k13"] * a1 - k["k31"] * a3
        return out

    start = time.perf_counter()
    on = grid <= INFUSION_MIN
    rate = DOSE_MG / WEIGHT_KG * weights / INFUSION_MIN
    first = solve_ivp(rhs, (0, INFUSION_MIN), np.zeros(3 * n), t_eval=grid[on], args=(rate,))
    second = solve_ivp(
        rhs, (INFUSION_MIN, UNTIL_MIN), first.y[:, -1], t_eval=grid[~on], args=(0 * rate,)
    )
    plasma = 1000 * np.concatenate([first.y[:n], second.y[:n]], axis=1) / v1[:, None]
    plasma.max(axis=1)
    return time.perf_counter() - start


def bench_solve_ivp(exact: np.ndarray) -> dict[str, Any]:
    one = _repeat(lambda: solve_ivp_one(DOMINO), 20)
    tight = solve_ivp_one(DOMINO, rtol=1e-8, atol=1e-10)
    error = float(np.max(np.abs(tight[1:] / exact[1:] - 1)))
    per_patient = _repeat(lambda: solve_ivp_one(DOMINO), 50)["median_s"]
    return {
        "one": one,
        "max_relative_error_vs_exact": error,
        "cohort_loop_extrapolated_s": per_patient * COHORT,
        "cohort_stacked_s": solve_ivp_stacked(COHORT),
    }


# ------------------------------------------------------------------- opentiva and PyTCI --

OPENTIVA_DRIVER = textwrap.dedent(
    """
    import json, statistics, sys, time
    from opentiva.ketamine import Domino
    from opentiva.pump import Pump

    def run(weight):
        pump = Pump(Domino(0, 40, weight, 170), drug_concentration=1, end_time=4 * 3600)
        pump.add_infusion(0, 0.5 * weight / 2400, 2400)  # mg per second for 2400 s
        return pump.run()

    result = run(70.0)
    times = []
    for _ in range(100):
        start = time.perf_counter(); run(70.0); times.append(time.perf_counter() - start)
    weights = [50 + 70 * i / 199 for i in range(200)]
    start = time.perf_counter()
    for w in weights:
        run(w)
    per_patient = (time.perf_counter() - start) / len(weights)
    print(json.dumps({
        "one": {"median_s": statistics.median(times), "min_s": min(times), "repeats": 100},
        "per_patient_s": per_patient,
        # column 1 is plasma in microgram/mL at each second; every 10th second
        "plasma_ng_per_ml": [1000 * float(c) for c in result[::10, 1]],
        "python": sys.version.split()[0],
    }))
    """
)

PYTCI_DRIVER = textwrap.dedent(
    """
    import json, statistics, sys, time
    from PyTCI.models.base import Three

    class DominoKetamine(Three):
        def __init__(self, weight):
            self.v1 = 0.063 * weight
            self.k10, self.k12, self.k13 = 0.4381, 0.5921, 0.5900
            self.k21, self.k31, self.keo = 0.2470, 0.0146, 0.652
            self.setup()  # per-minute constants become per-second

    def run(weight, integrator):
        patient = DominoKetamine(weight)
        patient.set_integrator(integrator)
        rate_mg_per_s = 0.5 * weight / 2400
        plasma = [0.0]
        for step in range(1440):
            if step < 240:
                patient.giveoverseconds(rate_mg_per_s, 10)
            else:
                patient.wait_time(10)
            plasma.append(1000 * patient.x1)
        return plasma

    out = {"python": sys.version.split()[0]}
    for integrator in ("exact", "euler"):
        plasma = run(70.0, integrator)
        times = []
        for _ in range(10):
            start = time.perf_counter()
            run(70.0, integrator)
            times.append(time.perf_counter() - start)
        weights = [50 + 70 * i / 99 for i in range(100)]  # new parameters: no cached transitions
        start = time.perf_counter()
        for w in weights:
            run(w, integrator)
        out[integrator] = {
            "one": {"median_s": statistics.median(times), "min_s": min(times), "repeats": 10},
            "per_patient_s": (time.perf_counter() - start) / len(weights),
            "plasma_ng_per_ml": plasma,
        }
    print(json.dumps(out))
    """
)


def _venv(name: str, python: Path, package: str) -> tuple[Path | None, str]:
    """A venv with ``package`` in it, made once; (its python, '') or (None, why not)."""
    venv = ROOT / name
    bin_python = venv / "bin" / "python"
    if not python.exists():
        return None, f"{python} is not installed"
    try:
        if not bin_python.exists():
            subprocess.run([str(python), "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(bin_python), "-m", "pip", "install", "-q", "--disable-pip-version-check", package],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        return None, f"could not install {package}: {(exc.stderr or str(exc)).strip()[-400:]}"
    return bin_python, ""


def _driver(python: Path, code: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        cwd="/tmp",
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-600:]}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _error(series: list[float], exact: np.ndarray) -> float:
    values = np.asarray(series[: exact.size])
    return float(np.max(np.abs(values[1:] / exact[1 : values.size] - 1)))


def bench_opentiva(exact: np.ndarray) -> dict[str, Any]:
    python, why = _venv(".bench-venv310", PY310, OPENTIVA)
    if python is None:
        return {"error": why}
    result = _driver(python, OPENTIVA_DRIVER)
    if "plasma_ng_per_ml" in result:
        result["max_relative_error_vs_exact"] = _error(result.pop("plasma_ng_per_ml"), exact)
    return result


def bench_pytci(exact: np.ndarray) -> dict[str, Any]:
    python, why = _venv(".bench-venv311", PY311, PYTCI)
    if python is None:
        return {"error": why}
    result = _driver(python, PYTCI_DRIVER)
    for integrator in ("exact", "euler"):
        if integrator in result:
            series = result[integrator].pop("plasma_ng_per_ml")
            result[integrator]["max_relative_error_vs_exact"] = _error(series, exact)
    return result


# ------------------------------------------------------------------------------- report --


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms" if seconds < 1 else f"{seconds:.2f} s"


def report(results: dict[str, Any]) -> str:
    k = results["ketaplan"]
    one = k["one_plasma_effect"]["median_s"]
    one_min = k["one_plasma_effect"]["min_s"]
    one_plasma = k["one_plasma"]["median_s"]
    cohort = k["cohort_peaks"]["median_s"]
    rows = [
        "| tool | one 4 h simulation, 10 s (median) | x slower than ketaplan "
        "| 100,000 patients x 4 h, 10 s | x slower than ketaplan | max rel. error vs exact |",
        "|---|---|---|---|---|---|",
        f"| **ketaplan** (exact, plasma + effect site; cohort: peaks, time of peak, time "
        f"below 100 ng/mL) | {_ms(one)} (best {_ms(one_min)}) | 1 | {_ms(cohort)} | 1 "
        "| 0 (reference) |",
        f"| ketaplan, plasma only; cohort also with 5/50/95th percentile bands at every time | "
        f"{_ms(one_plasma)} | {one_plasma / one:.2f} | "
        f"{_ms(k['cohort_peaks_bands']['median_s'])} | "
        f"{k['cohort_peaks_bands']['median_s'] / cohort:.2f} | 0 |",
    ]
    fresh = k["one_plasma_effect_new_weight"]
    rows.append(
        f"| ketaplan, plasma + effect site, a new weight at every call (no modes or table of "
        f"exponentials kept from the call before) | {_ms(fresh['median_s'])} (best "
        f"{_ms(fresh['min_s'])}) | {fresh['median_s'] / one:.2f} | | | 0 |"
    )
    per = k["batch_1000_plasma_effect"]["median_s"] / 1000
    rows.append(
        f"| ketaplan, 1,000 patients in one `simulate` call (plasma + effect site, full "
        f"curves kept) | {_ms(per)} per patient ({_ms(per * 1000)} per call) | "
        f"{per / one:.2f} | | | 0 |"
    )
    s = results["solve_ivp"]
    rows.append(
        f"| scipy solve_ivp (RK45, rtol 1e-8, atol 1e-10) | {_ms(s['one']['median_s'])} | "
        f"{s['one']['median_s'] / one:.0f} | {_ms(s['cohort_stacked_s'])} (all patients stacked "
        f"in one vectorised system, default tolerances); one by one: "
        f"{_ms(s['cohort_loop_extrapolated_s'])} (extrapolated) | "
        f"{s['cohort_stacked_s'] / cohort:.0f} | {s['max_relative_error_vs_exact']:.1e} |"
    )
    o = results["opentiva"]
    if "error" in o:
        rows.append(f"| opentiva 1.1.2 | could not run: {o['error']} | | | | |")
    else:
        rows.append(
            f"| opentiva 1.1.2 (Python {o['python']}, 1 s internal steps) | "
            f"{_ms(o['one']['median_s'])} (best {_ms(o['one']['min_s'])}) | "
            f"**{o['one']['median_s'] / one:.0f}** (best/best {o['one']['min_s'] / one_min:.0f}) | "
            f"{_ms(o['per_patient_s'] * COHORT)} (extrapolated from 200 patients) | "
            f"{o['per_patient_s'] * COHORT / cohort:.0f} | "
            f"{o['max_relative_error_vs_exact']:.1e} |"
        )
    p = results["pytci"]
    if "error" in p:
        rows.append(f"| PyTCI 1.2.0 | could not run: {p['error']} | | | | |")
    else:
        for integrator, label in (("exact", "matrix exponential"), ("euler", "1 s Euler")):
            r = p[integrator]
            rows.append(
                f"| PyTCI 1.2.0 `{integrator}` ({label}, Python {p['python']}) | "
                f"{_ms(r['one']['median_s'])} | {r['one']['median_s'] / one:.0f} | "
                f"{_ms(r['per_patient_s'] * COHORT)} (extrapolated from 100 patients) | "
                f"{r['per_patient_s'] * COHORT / cohort:.0f} | "
                f"{r['max_relative_error_vs_exact']:.1e} |"
            )
    m = results["machine"]
    return "\n".join(
        [
            "# PK simulation benchmark",
            "",
            f"Run {m['date']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}, "
            f"numpy {m['numpy']}, scipy {m['scipy']}; load average (1 min) "
            f"{m['load_average_1min']['start']} at the start, {m['load_average_1min']['end']} "
            "at the end. Command: `make bench-pk` (`benchmarks/pk.py`).",
            "",
            "Scenario: Domino 1984 ketamine model, 70 kg, 35 mg (0.5 mg/kg) over 40 min; "
            "4 h at 10 s resolution (1,441 times). The cohort: 100,000 virtual patients, "
            "50-120 kg, 0.5 mg/kg, log-normal variability (ketaplan default CV 30 %).",
            "",
            *rows,
            "",
            f"Targets: one simulation at least 100x faster than opentiva (medians): "
            f"**{'met' if 'error' not in o and o['one']['median_s'] / one >= 100 else 'NOT met'}**"
            + (
                f" ({o['one']['median_s'] / one:.0f}x with the effect site, "
                f"{o['one']['median_s'] / one_plasma:.0f}x plasma only; best-of-run times: "
                f"{o['one']['min_s'] / one_min:.0f}x; with a new weight at every call: "
                f"{o['one']['median_s'] / fresh['median_s']:.0f}x)"
                if "error" not in o
                else ""
            )
            + f"; 100,000 patients in under 2 s: **{'met' if cohort < 2 else 'NOT met'}** "
            f"({_ms(cohort)}; {_ms(k['cohort_peaks_bands']['median_s'])} with percentile bands, "
            "which need a partial sort of 100,000 values at each of 1,441 times).",
            "",
            "Notes: times include building the model for the weight. ketaplan keeps a "
            "patient's modes and table of exponentials for the next call with the same "
            "parameters and grid (the repeated 70 kg runs reuse them; the 'new weight' row does "
            "not). opentiva always integrates "
            "at 1 s and returns plasma and effect site; its figures are sampled every 10 s. "
            "Errors are the largest relative difference from ketaplan over the 4 h grid "
            "(t > 0). Extrapolated cohort times are per-patient times x 100,000, measured on "
            "200 (opentiva) or 100 (PyTCI, different weights so that no cached transition is "
            "reused) patients. The machine is shared; medians of repeated runs are reported.",
            "",
        ]
    )


def _load() -> str:
    """The 1-minute load average: on a shared machine it explains slow runs."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def main() -> None:
    load_before = _load()
    ketaplan = bench_ketaplan()
    exact = np.asarray(ketaplan.pop("plasma_ng_per_ml"))
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    results = {
        "machine": {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu": cpu,
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "ketaplan": ketaplan,
        "solve_ivp": bench_solve_ivp(exact),
        "opentiva": bench_opentiva(exact),
        "pytci": bench_pytci(exact),
    }
    results["machine"]["load_average_1min"] = {"start": load_before, "end": _load()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "pk.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    text = report(results)
    (RESULTS / "pk.md").write_text(text, encoding="utf-8")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
