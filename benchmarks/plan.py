"""Benchmark: plans per second in-process, and `ketaplan plan` start-up time.

Run with `make bench` (or `.venv/bin/python benchmarks/plan.py`). Results are written to
benchmarks/results/plan.json and plan.md. Targets (issue 2): >= 20,000 plans/s in-process on
one core; CLI start-up under 300 ms.

In-process, two figures: `make_plan` on an already-validated profile (what the service does
with a stored patient), and the whole path from typed text (`build_profile` + `make_plan`).
The process is pinned to one core and timed by its CPU time; 1,000 patients with different
weights are cycled so that no dose repeats often enough for a cache to flatter the figure.
Each figure is measured in several runs: the median is the figure judged against the target,
the best run is what the code can do when the machine leaves it alone (noise only slows a
run), and the wall-clock median is shown beside them. This VM's runs vary by tens of per cent,
so when valgrind is installed the benchmark also counts the CPU instructions per plan
(callgrind), a figure that repeats to within a fraction of a per cent and is the one to
compare before and after a change.
Start-up is the wall time of whole `ketaplan plan ... --json`
processes (median and 90th percentile of 30), beside two baselines measured in the same run:
the bare interpreter and `import typer`, so the share that is ketaplan's own is visible.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ketaplan.cli.demo import DEMO_PATIENTS
from ketaplan.clinical.catalog.course_loader import load_policy
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.profile import build_profile
from ketaplan.drug_dictionary import DnerDrugDictionary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
N_PLANS = 10_000
"""Plans per timed run."""
N_RUNS = 7
N_STARTS = 30
N_COUNTED_PLANS = 2_000
"""Plans whose instructions callgrind counts (beyond the same process planning none)."""

PATIENTS = [
    (
        "depression",
        {
            "weight": "176 lb",
            "height": "5 ft 9 in",
            "age_years": 42,
            "sex": "female",
            "medications": ["Lamictal", "alprazolam 0.5 mg"],
            "history": ["controlled_hypertension"],
        },
    ),
    (
        "ptsd",
        {
            "weight": "92 kg",
            "height": "183 cm",
            "age_years": 35,
            "sex": "male",
            "experience": "prior_ketamine",
        },
    ),
    (
        "crps",
        {
            "weight": "64 kg",
            "height": "160 cm",
            "age_years": 51,
            "sex": "female",
            "medications": ["oxycodone"],
            "severity": "severe",
        },
    ),
    (
        "anxiety",
        {
            "weight": "58 kg",
            "age_years": 70,
            "sensitivity": "high",
            "preference": "lowest_effective",
        },
    ),
    ("fibromyalgia", {"weight": "81 kg", "height": "170 cm", "medications": ["Benadryl"]}),
]


def _varied_patients(n: int) -> list[tuple[str, dict[str, object]]]:
    """``n`` patients: the five above with weights spread over 45-140 kg, so that doses (and
    preparations) differ from one plan to the next."""
    patients = []
    for i in range(n):
        condition, typed = PATIENTS[i % len(PATIENTS)]
        weight = f"{45 + (i * 0.37) % 95:.1f} kg"
        patients.append((condition, {**typed, "weight": weight, "confirm_weight": True}))
    return patients


def _pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _warmed_planner() -> tuple[ClinicPolicy, MedicationResolver, list[PlanRequest]]:
    """The policy of the packaged files, a resolver and the 1,000 requests on validated
    profiles, each planned once to warm the medication memo and the drug index."""
    policy = load_policy()
    catalog = policy.catalog
    resolver = MedicationResolver(catalog, DnerDrugDictionary())
    requests = [
        PlanRequest(c, build_profile(catalog, **p))  # type: ignore[arg-type]
        for c, p in _varied_patients(1000)
    ]
    for request in requests:
        make_plan(request, policy, resolver)
    return policy, resolver, requests


def _timed_runs(run_once: Callable[[int], object]) -> dict[str, float]:
    """Plans per second over ``N_RUNS`` runs of ``N_PLANS`` plans: by CPU time (median and best)
    and by wall time (median)."""
    cpu_s, wall_s = [], []
    for _ in range(N_RUNS):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        for i in range(N_PLANS):
            run_once(i)
        cpu_s.append(time.process_time() - cpu_start)
        wall_s.append(time.perf_counter() - wall_start)
    median_s = statistics.median(cpu_s)
    return {
        "plans_per_s": N_PLANS / median_s,
        "plans_per_s_best": N_PLANS / min(cpu_s),
        "plans_per_s_wall": N_PLANS / statistics.median(wall_s),
        "us_per_plan": median_s / N_PLANS * 1e6,
    }


def in_process() -> dict[str, float]:
    """CPU time of this process (not wall time), so other load on the machine does not count."""
    _pin_to_one_core()
    policy, resolver, requests = _warmed_planner()
    catalog = policy.catalog
    patients = _varied_patients(1000)

    def from_typed(i: int) -> object:
        condition, typed = patients[i % len(patients)]
        profile = build_profile(catalog, **typed)  # type: ignore[arg-type]
        return make_plan(PlanRequest(condition, profile), policy, resolver)

    validated = _timed_runs(lambda i: make_plan(requests[i % len(requests)], policy, resolver))
    typed = _timed_runs(from_typed)
    return {
        **{f"{k}_validated_profile": v for k, v in validated.items()},
        **{f"{k}_from_typed_input": v for k, v in typed.items()},
    }


def _count_plans(n: int) -> None:
    """The worker callgrind runs: set up, then plan ``n`` validated profiles."""
    policy, resolver, requests = _warmed_planner()
    for i in range(n):
        make_plan(requests[i % len(requests)], policy, resolver)


def instructions_per_plan() -> float | None:
    """CPU instructions per `make_plan` on a validated profile, counted by callgrind as the
    difference between planning ``N_COUNTED_PLANS`` and none; None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None

    def instructions(n: int) -> int:
        callgrind = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        run = subprocess.run(
            [*callgrind, sys.executable, __file__, "--count-plans", str(n)],
            check=True,
            capture_output=True,
            text=True,
        )
        found = re.search(r"Collected : (\d+)", run.stderr)
        if found is None:
            raise RuntimeError(f"callgrind printed no instruction count:\n{run.stderr}")
        return int(found.group(1))

    return (instructions(N_COUNTED_PLANS) - instructions(0)) / N_COUNTED_PLANS


def _times(argv: list[str]) -> list[float]:
    times = []
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for _ in range(N_STARTS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - start)
    return times


def start_up() -> dict[str, dict[str, float]]:
    bin_dir = Path(sys.executable).parent
    # Byte-compile once, as an install does, so the runs measure start-up and not compilation.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "src")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    plan_cmd = [str(bin_dir / "ketaplan"), "plan", *DEMO_PATIENTS[0][1], "--json"]
    subprocess.run(plan_cmd, check=True, stdout=subprocess.DEVNULL)  # builds the drug index
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "python -c 'import typer' (baseline)": [sys.executable, "-c", "import typer"],
        "ketaplan --help": [str(bin_dir / "ketaplan"), "--help"],
        "ketaplan plan ... --json": plan_cmd,
    }
    results = {}
    for name, argv in cases.items():
        times = sorted(_times(argv))
        results[name] = {
            "median_ms": statistics.median(times) * 1e3,
            "p90_ms": times[int(0.9 * len(times)) - 1] * 1e3,
            "min_ms": times[0] * 1e3,
        }
    return results


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    speed = in_process()
    counted = instructions_per_plan()
    starts = start_up()
    plan_ms = starts["ketaplan plan ... --json"]["median_ms"]
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "in_process": {
            **speed,
            "runs": N_RUNS,
            "plans_per_run": N_PLANS,
            "instructions_per_plan_validated_profile": counted,
        },
        "start_up": starts,
        "targets": {
            "plans_per_s_one_core": 20_000,
            "cli_start_up_ms": 300,
            "met_plans_per_s": speed["plans_per_s_validated_profile"] >= 20_000,
            "met_start_up": plan_ms < 300,
        },
    }
    (RESULTS / "plan.json").write_text(json.dumps(report, indent=2) + "\n")
    base_ms = starts["python -c pass (baseline)"]["median_ms"]
    lines = [
        "# `ketaplan plan` benchmark",
        "",
        f"Python {platform.python_version()}, {os.cpu_count()} cores; in-process runs pinned "
        "to one core.",
        "",
        f"Plans/s by CPU time over {N_RUNS} runs of {N_PLANS:,} plans: median (judged "
        "against the target), best run, and the wall-clock median.",
        "",
        "| in-process | plans/s (median) | best | wall | µs/plan | vs target 20,000/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, path in (
        ("validated profile", "validated_profile"),
        ("from typed input", "from_typed_input"),
    ):
        lines.append(
            f"| {label} | {speed[f'plans_per_s_{path}']:,.0f} | "
            f"{speed[f'plans_per_s_best_{path}']:,.0f} | "
            f"{speed[f'plans_per_s_wall_{path}']:,.0f} | "
            f"{speed[f'us_per_plan_{path}']:.1f} | "
            f"{speed[f'plans_per_s_{path}'] / 20_000:.2f}x |"
        )
    lines += [
        "",
        (
            f"Instructions per plan (validated profile, callgrind): {counted:,.0f}."
            if counted is not None
            else "Instructions per plan: not counted (valgrind is not installed)."
        ),
        "",
        "| process | median ms | p90 ms | vs bare python |",
        "|---|---:|---:|---:|",
    ]
    for name, t in starts.items():
        lines.append(
            f"| `{name}` | {t['median_ms']:.0f} | {t['p90_ms']:.0f} | "
            f"{t['median_ms'] / base_ms:.1f}x |"
        )
    lines += [
        "",
        f"`ketaplan plan` start-up: {plan_ms:.0f} ms median (target < 300 ms: "
        f"{'met' if plan_ms < 300 else 'NOT met'}).",
    ]
    (RESULTS / "plan.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--count-plans"]:
        _count_plans(int(sys.argv[2]))
    else:
        main()
