"""``ketaplan titrate history.json``: the next session's mg/kg, with reasons (a proposal)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.clinical.titration import History


def read_history(path: Path) -> History:
    """Read and validate a history.json (shape: :mod:`ketaplan.clinical.titration`)."""
    import json

    from ketaplan.clinical.titration import history_from_dict
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


def titrate(
    history: Annotated[Path, typer.Argument(help="history.json: condition, weight, sessions.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recommend the next session's dose from tolerability and response; a prescriber decides."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.titration import recommend_next_dose

    record = read_history(history)
    protocol = load_catalog().protocol(record.condition)
    result = recommend_next_dose(protocol, record)
    if as_json:
        print_json(result.to_dict(record.weight_kg))
        return
    mg = result.recommended_mg_per_kg * record.weight_kg
    lines = [
        f"Next session: {result.recommended_mg_per_kg:g} mg/kg ({mg:.1f} mg at "
        f"{record.weight_kg:.1f} kg), {result.action} - a proposal for the prescriber",
    ]
    lines += [f"  - {reason}" for reason in result.reasons]
    print_lines(lines)
