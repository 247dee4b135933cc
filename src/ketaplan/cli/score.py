"""``ketaplan score SCALE ANSWERS``: score a questionnaire (PHQ-9, GAD-7, PCL-5, QIDS-SR16, NRS)."""

from __future__ import annotations

from typing import Annotated

import typer


def score(
    scale: Annotated[
        str,
        typer.Argument(help="phq9, gad7, pcl5, qids_sr16, pain_nrs or tolerability."),
    ],
    answers: Annotated[
        str, typer.Argument(help="Item answers in order, comma-separated, e.g. 1,2,0,1,3,0,1,2,0.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Score a questionnaire: total, severity band and flags for clinician review."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.outcomes import parse_answers
    from ketaplan.clinical.outcomes import scale as find_scale
    from ketaplan.clinical.outcomes import score as score_scale

    spec = find_scale(scale)
    result = score_scale(spec.key, parse_answers(answers))
    if as_json:
        print_json(result.to_dict())
        return
    lines = [f"{spec.title}: {result.total}/{spec.total_max} ({result.severity.replace('_', ' ')})"]
    for name, value in result.details.items():
        lines.append(f"  {name}: {value}")
    lines += [f"  flag: {flag}" for flag in result.flags]
    lines.append(f"  scoring: {spec.source}")
    print_lines(lines)
