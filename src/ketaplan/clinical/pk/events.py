"""From a session's infusion events to the constant-rate segments the simulator takes.

Deliberately small: the full session event log lives in ``ketaplan.clinical.session``; this
reads only what pharmacokinetics needs (start, rate, pause, resume, stop) and ignores the
rest (vitals, side effects, notes). Time zero is the first ``start``.

Examples
--------
>>> rows = [
...     '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 150,'
...     ' "concentration_mg_per_ml": 0.35}',
...     '{"at": "2026-12-07T09:20:00-08:00", "type": "vitals", "sbp_mmhg": 142}',
...     '{"at": "2026-12-07T09:40:00-08:00", "type": "stop"}',
... ]
>>> segments_from_events(rows)
(InfusionSegment(start_min=0.0, end_min=40.0, rate_mg_per_min=0.875),)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime

from ketaplan.clinical.pk.simulation import InfusionSegment
from ketaplan.errors import InputError

PK_EVENT_TYPES = ("start", "rate", "pause", "resume", "stop")


def _fail(line: int, problem: str) -> InputError:
    return InputError(
        f"event line {line}: {problem}",
        code="input.event",
        fields={"line": line, "problem": problem},
    )


def _positive(row: Mapping[str, object], name: str, line: int, *, zero_ok: bool = False) -> float:
    value = row.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(line, f"{name} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not zero_ok):
        raise _fail(line, f"{name} must be greater than 0, got {value!r}")
    return float(value)


def segments_from_events(rows: Iterable[str | Mapping[str, object]]) -> tuple[InfusionSegment, ...]:
    """Segments (minutes after the first start) from event rows: JSON text lines or mappings.

    Rows are numbered from 1 in the order given (blank text lines count, so numbers match a
    file's lines). Events must be in time order, carry a time zone, and follow
    start -> (rate | pause -> resume)* -> stop; anything else is an InputError naming the line.
    """
    segments: list[InfusionSegment] = []
    state = "idle"
    t0: datetime | None = None
    last_at: datetime | None = None
    since_min = 0.0
    rate_ml_per_h = 0.0
    concentration_mg_per_ml = 0.0
    line = 0

    def close(at_min: float) -> None:
        if state == "running" and at_min > since_min and rate_ml_per_h > 0:
            rate_mg_per_min = rate_ml_per_h * concentration_mg_per_ml / 60.0
            segments.append(InfusionSegment(since_min, at_min, rate_mg_per_min))

    for line, raw in enumerate(rows, start=1):
        if isinstance(raw, str):
            if not raw.strip():
                continue
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _fail(line, f"not valid JSON ({exc.msg})") from exc
        else:
            parsed = raw
        if not isinstance(parsed, Mapping):
            raise _fail(line, "expected a JSON object")
        row: Mapping[str, object] = parsed
        kind = row.get("type")
        if not isinstance(kind, str) or not kind:
            raise _fail(line, "missing event type")
        at_text = row.get("at")
        if not isinstance(at_text, str):
            raise _fail(line, "missing time 'at' (ISO 8601 with a time zone)")
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise _fail(line, f"time {at_text!r} is not ISO 8601") from exc
        if at.tzinfo is None or at.utcoffset() is None:
            raise _fail(line, f"time {at_text!r} has no time zone; add one, e.g. -08:00")
        if last_at is not None and at < last_at:
            raise _fail(line, f"time {at_text!r} is earlier than the event before it")
        last_at = at
        if kind not in PK_EVENT_TYPES:
            continue
        if kind == "start" and t0 is None:
            t0 = at
        at_min = 0.0 if t0 is None else (at - t0).total_seconds() / 60.0
        if kind == "start":
            if state in ("running", "paused"):
                raise _fail(line, "start while an infusion is already running; stop it first")
            rate_ml_per_h = _positive(row, "rate_ml_per_h", line)
            concentration_mg_per_ml = _positive(row, "concentration_mg_per_ml", line)
            state, since_min = "running", at_min
        elif state not in ("running", "paused"):
            when = "after the infusion was stopped" if state == "stopped" else "before any start"
            raise _fail(line, f"{kind} {when}")
        elif kind == "rate":
            new_rate = _positive(row, "rate_ml_per_h", line, zero_ok=True)
            close(at_min)
            rate_ml_per_h, since_min = new_rate, at_min
            if "concentration_mg_per_ml" in row:
                concentration_mg_per_ml = _positive(row, "concentration_mg_per_ml", line)
        elif kind == "pause":
            if state == "paused":
                raise _fail(line, "pause while already paused")
            close(at_min)
            state = "paused"
        elif kind == "resume":
            if state == "running":
                raise _fail(line, "resume while not paused")
            state, since_min = "running", at_min
        else:  # stop
            close(at_min)
            state = "stopped"
    if t0 is None:
        raise _fail(max(line, 1), "no start event: nothing was infused")
    if state in ("running", "paused"):
        raise _fail(line, "the log ends before a stop event; add the stop to simulate it")
    return tuple(segments)
