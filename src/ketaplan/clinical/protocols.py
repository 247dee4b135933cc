"""Protocols as data a person or a client can read: every number with its citation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from ketaplan.clinical.catalog import Catalog, Protocol
from ketaplan.clinical.catalog.citations import cited


def describe_protocol(protocol: Protocol, catalog: Catalog) -> dict[str, Any]:
    """A JSON-ready description of a protocol, with the full citation of each number."""
    limits = protocol.limits
    return {
        "key": protocol.key,
        "title": protocol.title,
        "category": protocol.category,
        "aliases": list(protocol.aliases),
        "start_mg_per_kg": protocol.start_mg_per_kg,
        "range_mg_per_kg": list(protocol.range_mg_per_kg),
        "infusion_min": protocol.infusion_min,
        "recovery_min": protocol.recovery_min,
        "start_rate_mg_per_kg_per_h": round(protocol.start_rate_mg_per_kg_per_h, 4),
        "max_rate_mg_per_h": protocol.max_rate_mg_per_h,
        "monitoring": protocol.monitoring,
        "series": asdict(protocol.series),
        "booster": {
            **asdict(protocol.booster),
            "interval_weeks": list(protocol.booster.interval_weeks),
        },
        "limits": {
            "name": limits.name,
            "soft_range_mg_per_kg": list(protocol.range_mg_per_kg),
            "hard_min_mg_per_kg": limits.hard_min_mg_per_kg,
            "hard_max_mg_per_kg": limits.hard_max_mg_per_kg,
            "soft_max_total_mg": limits.soft_max_total_mg,
            "hard_max_total_mg": limits.hard_max_total_mg,
            "soft_max_mg_per_kg_per_h": limits.soft_max_mg_per_kg_per_h,
            "hard_max_mg_per_kg_per_h": limits.hard_max_mg_per_kg_per_h,
        },
        "bag_ml": list(protocol.bag_ml),
        "alternatives": list(protocol.alternatives),
        "notes": protocol.notes,
        "cautions": [
            {
                "code": f"protocol.{c.code}",
                "severity": c.severity,
                "message": c.message,
                "source": cited(catalog, c.source, c.quote),
            }
            for c in protocol.cautions
        ],
        "choices": [
            {
                "aspect": choice.aspect,
                "chosen": choice.chosen,
                "options": [
                    {
                        "key": option.key,
                        "title": option.title,
                        "chosen": option.key == choice.chosen,
                        "values": dict(option.values),
                        "sources": _cited_all(catalog, option.sources, option.quotes),
                    }
                    for option in choice.options
                ],
            }
            for choice in protocol.choices
        ],
        "sources": {
            **_cited_all(catalog, protocol.sources, protocol.quotes),
            **{
                f"limits.{name}": text
                for name, text in _cited_all(catalog, limits.sources, limits.quotes).items()
            },
        },
    }


def _cited_all(
    catalog: Catalog, sources: Mapping[str, str], quotes: Mapping[str, str]
) -> dict[str, str]:
    """Each field's citation, with the quote that holds its number when there is one."""
    return {
        name: cited(catalog, key, quotes.get(name) or quotes.get(name.split(".")[0]))
        for name, key in sources.items()
    }


def protocol_summary_line(protocol: Protocol) -> str:
    """One line for a list: key, start dose, duration, series, monitoring, and the choice in
    force wherever the sources disagree."""
    low, high = protocol.range_mg_per_kg
    cap = f", at most {protocol.max_rate_mg_per_h:g} mg/h" if protocol.max_rate_mg_per_h else ""
    chosen = "; ".join(f"{c.aspect}: {c.chosen}" for c in protocol.choices)
    return (
        f"  {protocol.key:<24} {protocol.category:<5} start {protocol.start_mg_per_kg:.3g} mg/kg "
        f"({low:g}-{high:g}) over {protocol.infusion_min:g} min{cap}, "
        f"{protocol.series.sessions} sessions, {protocol.monitoring.replace('_', ' ')}"
        + (f" [{chosen}]" if chosen else "")
    )


def choice_lines(protocol: Protocol, catalog: Catalog) -> list[str]:
    """The points where the sources disagree, each option with its sources; ``*`` marks the
    option in force (a clinic picks another with ``choose`` in its catalog file)."""
    lines = []
    for choice in protocol.choices:
        lines.append(f"  {choice.aspect} (chosen: {choice.chosen}):")
        for option in choice.options:
            mark = "*" if option.key == choice.chosen else " "
            lines.append(f"   {mark} {option.key}: {option.title}")
            for name, text in _cited_all(catalog, option.sources, option.quotes).items():
                lines.append(f"        {name}: {text}")
    return lines
