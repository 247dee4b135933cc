"""``ketaplan titrate history.json``: the next session's mg/kg, with reasons (a proposal).

The proposal passes the same limits as a plan (mg/kg, total mg on the protocol's dosing
weight, mg/kg/h; :func:`~ketaplan.clinical.titration.within_limits`): capped, with the limit
named, past a hard one; flagged as needing a prescriber's override past a soft one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.clinical.outcomes import Outcome
    from ketaplan.clinical.titration import History


def read_history(path: Path) -> History:
    """Read and validate a history.json (shape: :mod:`ketaplan.clinical.titration`)."""
    import json

    from ketaplan.clinical.titration_input import history_from_dict
    from ketaplan.errors import InputError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found", code="input.not_found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid JSON: {exc}", code="input.invalid_json") from exc
    try:
        return history_from_dict(data)
    except InputError as exc:
        raise InputError(f"{path.name}: {exc.message}", code=exc.code, fields=exc.fields) from exc


def _yes_no(value: bool | None, unknown: str) -> str:
    return unknown if value is None else "yes" if value else "no"


def outcome_line(scale_key: str, outcome: Outcome | None) -> str:
    """One line with response and remission of a scale (how each was reached is in the
    reasons)."""
    if outcome is None:
        return f"Outcome ({scale_key}): no score yet - response and remission not judged"
    response = _yes_no(outcome.response, "not judged (no baseline)")
    remission = _yes_no(outcome.remission, "not defined for this scale")
    return f"Outcome ({outcome.scale} {outcome.latest}): response {response}, remission {remission}"


def titrate(
    history: Annotated[Path, typer.Argument(help="history.json: condition, weight, sessions.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    catalog: Annotated[
        list[Path] | None, typer.Option("--catalog", help="Clinic catalog file(s) to merge.")
    ] = None,
) -> None:
    """Recommend the next session's dose from tolerability and response; a prescriber decides."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.dosing import total_mg
    from ketaplan.clinical.titration import (
        history_dosing_weight,
        recommend_next_dose,
        within_limits,
    )

    record = read_history(history)
    clinic = load_catalog(tuple(catalog or ()))
    protocol = clinic.protocol(record.condition)
    weight = history_dosing_weight(record, protocol, clinic)
    result = within_limits(recommend_next_dose(protocol, record), protocol, weight)
    if as_json:
        print_json(result.to_dict(record.weight_kg))
        return
    mg = total_mg(result.recommended_mg_per_kg, weight.weight_kg)
    flag = " - NEEDS A PRESCRIBER'S OVERRIDE (past a soft limit)" if result.needs_override else ""
    capped = " - CAPPED AT THE HARD LIMIT" if result.capped else ""
    lines = [
        f"Next session: {result.recommended_mg_per_kg:g} mg/kg ({mg:.1f} mg at "
        f"{weight.weight_kg:.1f} kg {weight.basis} body weight), {result.action} - a proposal "
        f"for the prescriber{capped}{flag}",
    ]
    lines.append(outcome_line(result.primary_scale, result.outcome))
    lines += [f"  - {reason}" for reason in result.reasons]
    print_lines(lines)
