"""``ketaplan demo``: three synthetic patients planned end to end (what `make run` shows)."""

from __future__ import annotations

DEMO_PATIENTS = [
    (
        "A 42-year-old woman with treatment-resistant depression, weighed in pounds, on "
        "lamotrigine and alprazolam, with controlled hypertension",
        [
            "--condition",
            "depression",
            "--weight",
            "176 lb",
            "--height",
            "5 ft 9 in",
            "--age",
            "42",
            "--sex",
            "female",
            "--med",
            "Lamictal",
            "--med",
            "alprazolam 0.5 mg",
            "--history",
            "controlled_hypertension",
        ],
    ),
    (
        "A 51-year-old man with CRPS on oxycodone: the four-hour high-dose regimen",
        [
            "--condition",
            "crps",
            "--weight",
            "82 kg",
            "--height",
            "180 cm",
            "--age",
            "51",
            "--sex",
            "male",
            "--med",
            "OxyContin 20 mg",
            "--severity",
            "severe",
        ],
    ),
    (
        "A 29-year-old with PTSD and a history of psychosis: contraindicated",
        ["--condition", "ptsd", "--weight", "64 kg", "--age", "29", "--history", "psychosis"],
    ),
]


def demo() -> None:
    """Plan three synthetic patients and print what a nurse would see."""
    from ketaplan.cli import main

    for title, args in DEMO_PATIENTS:
        print("=" * 100)
        print(title)
        print("$ ketaplan plan " + " ".join(f'"{a}"' if " " in a else a for a in args))
        print("=" * 100)
        main(["plan", *args])
        print()
