"""Benchmark: plans per second in-process, and `ketaplan plan` start-up time.

Run with `make bench` (or `.venv/bin/python benchmarks/plan.py`). Results are written to
benchmarks/results/plan.json and plan.md. Targets (issue 2): >= 20,000 plans/s in-process on
one core; CLI start-up under 300 ms.

In-process, two figures: `make_plan` on an already-validated profile (what the service does
with a stored patient), and the whole path from typed text (`build_profile` + `make_plan`).
The process is pinned to one core and timed by its CPU time; 1,000 patients with different
weights are cycled so that no dose repeats often enough for a cache to flatter the figure.
Start-up is the wall time of whole `ketaplan plan ... --json`
processes (median and 90th percentile of 30), beside two baselines measured in the same run:
the bare interpreter and `import typer`, so the share that is ketaplan's own is visible.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ketaplan.cli.demo import DEMO_PATIENTS
from ketaplan.clinical.catalog import load_catalog
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.planning import PlanRequest, make_plan
from ketaplan.clinical.profile import build_profile
from ketaplan.drug_dictionary import DnerDrugDictionary

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
N_PLANS = 20_000
N_STARTS = 30

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


def in_process() -> dict[str, float]:
    """CPU time of this process (not wall time), so other load on the machine does not count."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    catalog = load_catalog()
    resolver = MedicationResolver(catalog, DnerDrugDictionary())
    patients = _varied_patients(1000)
    requests = [PlanRequest(c, build_profile(catalog, **p)) for c, p in patients]  # type: ignore[arg-type]
    for request in requests:  # warm the medication memo and the index
        make_plan(request, catalog, resolver)

    start = time.process_time()
    for i in range(N_PLANS):
        make_plan(requests[i % len(requests)], catalog, resolver)
    plan_s = time.process_time() - start

    start = time.process_time()
    for i in range(N_PLANS):
        condition, typed = patients[i % len(patients)]
        make_plan(PlanRequest(condition, build_profile(catalog, **typed)), catalog, resolver)  # type: ignore[arg-type]
    typed_s = time.process_time() - start
    return {
        "plans_per_s_validated_profile": N_PLANS / plan_s,
        "plans_per_s_from_typed_input": N_PLANS / typed_s,
        "us_per_plan_validated_profile": plan_s / N_PLANS * 1e6,
        "us_per_plan_from_typed_input": typed_s / N_PLANS * 1e6,
    }


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
    starts = start_up()
    plan_ms = starts["ketaplan plan ... --json"]["median_ms"]
    report = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "in_process": speed,
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
        "| in-process | plans/s | µs/plan | vs target 20,000/s |",
        "|---|---:|---:|---:|",
        f"| validated profile | {speed['plans_per_s_validated_profile']:,.0f} | "
        f"{speed['us_per_plan_validated_profile']:.1f} | "
        f"{speed['plans_per_s_validated_profile'] / 20_000:.2f}x |",
        f"| from typed input | {speed['plans_per_s_from_typed_input']:,.0f} | "
        f"{speed['us_per_plan_from_typed_input']:.1f} | "
        f"{speed['plans_per_s_from_typed_input'] / 20_000:.2f}x |",
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
    main()
