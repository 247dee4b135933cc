"""Protocols as data a person or a client can read: every number with its citation."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from ketaplan.clinical.catalog import Catalog, Protocol


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
        "sources": {
            **{name: catalog.cite(key) for name, key in protocol.sources.items()},
            **{f"limits.{name}": catalog.cite(key) for name, key in limits.sources.items()},
        },
    }


def protocol_summary_line(protocol: Protocol) -> str:
    """One line for a list: key, start dose, duration, series, monitoring."""
    low, high = protocol.range_mg_per_kg
    return (
        f"  {protocol.key:<24} {protocol.category:<5} start {protocol.start_mg_per_kg:g} mg/kg "
        f"({low:g}-{high:g}) over {protocol.infusion_min:g} min, "
        f"{protocol.series.sessions} sessions, {protocol.monitoring.replace('_', ' ')}"
    )
