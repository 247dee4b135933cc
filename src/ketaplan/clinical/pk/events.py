"""From a session's charted events to the constant-rate segments the simulator takes.

The session event log (``ketaplan.clinical.session``) is the one reader and validator of
charted events; this converts its infusion segments (mg/h, minutes from the first start) into
the simulator's :class:`InfusionSegment` (mg/min).

Examples
--------
>>> rows = [
...     '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 150,'
...     ' "concentration_mg_per_ml": 0.35}',
...     '{"at": "2026-12-07T09:20:00-08:00", "type": "vitals", "systolic": 142, "diastolic": 88}',
...     '{"at": "2026-12-07T09:40:00-08:00", "type": "stop", "completed": true}',
... ]
>>> segments_from_events(rows)
(InfusionSegment(start_min=0.0, end_min=40.0, rate_mg_per_min=0.875),)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ketaplan.clinical.pk.infusion import InfusionSegment
from ketaplan.clinical.session import infusion_segments, read_event_lines
from ketaplan.errors import InputError


def segments_from_events(
    rows: Iterable[str | Mapping[str, object]], name: str = "events"
) -> tuple[InfusionSegment, ...]:
    """Segments (minutes after the first start) from event rows: JSON text lines or mappings.

    Any invalid row or impossible sequence is an InputError naming the row.
    """
    log = read_event_lines(rows, name=name)
    segments = tuple(
        InfusionSegment(s.start_min, s.end_min, s.rate_mg_per_h / 60.0)
        for s in infusion_segments(log)
    )
    if not segments:
        raise InputError(
            f"{name}: no infusion to simulate (a start followed by a later event is needed)",
            code="input.missing",
        )
    return segments
