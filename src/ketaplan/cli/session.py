"""``ketaplan session replay events.jsonl``: delivered dose, state and alerts from a chart."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Infusion session charts (append-only event logs).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command("replay")
def replay(
    events: Annotated[Path, typer.Argument(help="One JSON event a line (JSON Lines).")],
    weight: Annotated[str, typer.Option("--weight", help='Patient weight with unit, "70 kg".')],
    condition: Annotated[
        str, typer.Option("--condition", help="Protocol: its category picks monitoring rules.")
    ] = "depression",
    monitoring: Annotated[
        list[Path] | None,
        typer.Option("--monitoring", help="A clinic's monitoring rules merged over the defaults."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Replay a session's events: delivered mg and mg/kg, infusing minutes, pauses, alerts."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
    from ketaplan.clinical.profile import parse_weight_kg
    from ketaplan.clinical.session import read_event_lines, summarise
    from ketaplan.errors import InputError

    weight_kg = parse_weight_kg(weight)
    protocol = load_catalog().protocol(condition)
    rules = load_monitoring_rules(tuple(monitoring or ())).for_category(protocol.category)
    try:
        text = events.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{events}: file not found", code="input.not_found") from None
    log = read_event_lines(text.splitlines(), rules, events.name)
    summary = summarise(log, weight_kg)
    if as_json:
        print_json(summary.to_dict())
        return
    lines = [
        f"State: {summary.state}",
        f"Delivered: {summary.delivered_mg:.1f} mg ({summary.delivered_mg_per_kg:.3f} mg/kg at "
        f"{weight_kg:.1f} kg) over {summary.infusing_min:g} min infusing, "
        f"{summary.pauses} pause(s)",
    ]
    lines += [f"  alert {a.at:%H:%M} {a.code}: {a.message}" for a in summary.alerts]
    lines += [f"  side effect {s.at:%H:%M} {s.name} ({s.severity})" for s in summary.side_effects]
    lines += [f"  adjunct {a.at:%H:%M} {a.drug} {a.dose}" for a in summary.adjuncts]
    print_lines(lines)
