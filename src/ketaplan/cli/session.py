"""``ketaplan session replay events.jsonl``: delivered dose, state and alerts from a chart.

The chart is checked as the service checks one, without an order (a file names none): against
the clinic's most concentrated bag, the protocol's mg/kg/h limits and recovery time, the start's
and the discharge's criteria, and the clock (an event more than a few minutes in the future is
refused; past dates are fine).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Infusion session charts (append-only event logs).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def clock() -> datetime:
    """The time a chart is replayed at: event times after it are refused (tests set it)."""
    return datetime.now(UTC)


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
    catalog: Annotated[
        list[Path] | None,
        typer.Option("--catalog", help="Clinic catalog file(s) to merge (protocols, bags)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Replay a session's events: delivered mg and mg/kg, infusing minutes, pauses, alerts."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.catalog.course_loader import load_monitoring_rules
    from ketaplan.clinical.chart_rules import ChartTerms
    from ketaplan.clinical.profile import parse_weight_kg
    from ketaplan.clinical.session import read_event_lines, summarise
    from ketaplan.errors import InputError

    weight_kg = parse_weight_kg(weight)
    cat = load_catalog(tuple(catalog or ()))
    protocol = cat.protocol(condition)
    rules = load_monitoring_rules(tuple(monitoring or ())).for_category(protocol.category)
    terms = ChartTerms(
        weight_kg=weight_kg,
        max_concentration_mg_per_ml=cat.clinic.preparation.max_final_mg_per_ml,
        hard_max_mg_per_kg_per_h=protocol.limits.hard_max_mg_per_kg_per_h,
        soft_max_mg_per_kg_per_h=protocol.limits.soft_max_mg_per_kg_per_h,
        recovery_min=protocol.recovery_min,
    )
    try:
        text = events.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{events}: file not found", code="input.not_found") from None
    log = read_event_lines(text.splitlines(), rules, events.name, terms=terms, now=clock())
    summary = summarise(log, weight_kg)
    if as_json:
        print_json(summary.to_dict())
        return
    ended = ""
    if summary.completed is not None:
        ended = ", completed" if summary.completed else f", stopped early: {summary.stop_reason}"
    lines = [
        f"State: {summary.state}{ended}",
        f"Delivered: {summary.delivered_mg:.1f} mg ({summary.delivered_mg_per_kg:.3f} mg/kg at "
        f"{weight_kg:.1f} kg) over {summary.infusing_min:g} min infusing, "
        f"{summary.pauses} pause(s)",
    ]
    for a in summary.alerts:
        resolved = f" (resolved {a.resolved_at:%H:%M})" if a.resolved_at is not None else ""
        lines.append(f"  alert {a.at:%H:%M} [{a.severity}] {a.code}: {a.message}{resolved}")
        lines.append(f"    what to do: {a.advice}")
    lines += [f"  side effect {s.at:%H:%M} {s.name} ({s.severity})" for s in summary.side_effects]
    lines += [f"  adjunct {a.at:%H:%M} {a.drug} {a.dose}" for a in summary.adjuncts]
    if summary.voided:
        lines.append(f"  voided by correction: entries {', '.join(map(str, summary.voided))}")
    print_lines(lines)
