"""A chair's state on the clinic's board, and when its next vital signs are due, from the
session's chart.

The board's states are the chart's (:mod:`ketaplan.clinical.session`) with the two ends a chair
has around them: ``booked`` (no chart yet) and, after ``stop``, ``recovery`` (the patient is
still in the chair until discharge). Vital signs are due every 10 minutes during the infusion
(paused included) and every 15 minutes in recovery, counted from the last reading (or from the
start or stop when none was taken since), as :mod:`ketaplan.clinical.monitoring` sets out
(Dunlop); before the start and after discharge none are due.

Examples
--------
>>> from datetime import datetime, timedelta, timezone
>>> t0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
>>> events = [{"type": "check_in", "at": t0.isoformat()},
...           {"type": "start", "at": (t0 + timedelta(minutes=5)).isoformat()}]
>>> board_state("infusing")
'infusing'
>>> vitals_due_at("infusing", events).strftime("%H:%M")
'09:15'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, Literal

BoardState = Literal["booked", "checked_in", "infusing", "paused", "recovery", "discharged"]
BOARD_STATES: Final[tuple[BoardState, ...]] = (
    "booked",
    "checked_in",
    "infusing",
    "paused",
    "recovery",
    "discharged",
)
DURING_INFUSION_EVERY: Final = timedelta(minutes=10)
IN_RECOVERY_EVERY: Final = timedelta(minutes=15)
_READINGS: Final = ("check_in", "vitals")


def board_state(chart_state: str | None) -> BoardState:
    """The chair's state from the chart's (``None``: no chart opened yet)."""
    if chart_state is None:
        return "booked"
    if chart_state == "stopped":
        return "recovery"
    if chart_state in ("checked_in", "infusing", "paused", "discharged"):
        return chart_state  # type: ignore[return-value]
    raise ValueError(f"unknown chart state {chart_state!r}")


def _at(event: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(event["at"]))


def vitals_due_at(state: BoardState, events: Sequence[Mapping[str, Any]]) -> datetime | None:
    """When the next vital signs are due (None before the start and after discharge)."""
    since_types: tuple[str, ...]
    if state in ("infusing", "paused"):
        every, since_types = DURING_INFUSION_EVERY, ("start",)
    elif state == "recovery":
        every, since_types = IN_RECOVERY_EVERY, ("stop", "complete")
    else:
        return None
    phase_start = [_at(e) for e in events if e.get("type") in since_types]
    if not phase_start:
        return None
    since = phase_start[-1]
    readings = [_at(e) for e in events if e.get("type") in _READINGS and _at(e) >= since]
    return max([since, *readings]) + every


def started_at(events: Sequence[Mapping[str, Any]]) -> datetime | None:
    """When the infusion started (None: not yet)."""
    return next((_at(e) for e in events if e.get("type") == "start"), None)
