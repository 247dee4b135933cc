"""What a session chart is checked against at the chair, and the checks that need no fold.

A chart is judged against :class:`ChartTerms`: the patient's weight, the clinic's most
concentrated bag, the protocol's mg/kg/h limits and recovery time, and, when the session is
charted against a signed order, the order's bag and pump program (:class:`OrderTerms`).

Two kinds of checks, on purpose:

* **Refusals** (a new event is not charted): a start without pre-infusion vitals or while a
  *hold the start* finding is in force, a start whose concentration is not the order's bag or
  is above the clinic's maximum, a discharge before its criteria hold, an event time more than
  :data:`FUTURE_TOLERANCE` after the clock.
* **Alerts** (charted, and flagged): a rate above the order's (``check_pump``), a rate whose
  mg/kg/h is past the protocol's hard limit (``stop_infusion``, critical), a bag that ran
  empty, a delivered dose past the order. The nurse must chart what the pump is doing, so
  these are never refused: refusing them would hide the very thing the alert is about.

Examples
--------
>>> from datetime import UTC
>>> at = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
>>> terms = ChartTerms(70, 2.0, 2.0, 1.0, 20)
>>> [a.code for a in pump_alerts(at, 150, 0.4, terms, "start")]
[]
>>> [(a.code, a.severity) for a in pump_alerts(at, 999, 0.4, terms, "start")]
[('pump.past_hard_limit', 'critical')]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ketaplan.clinical.monitoring import Alert
from ketaplan.errors import InputError

FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far after the clock an event time may be (clocks of tablets and servers drift)."""
CONCENTRATION_TOLERANCE = 0.005
"""A start's concentration within 0.5 % of the order's bag is the order's bag."""
RATE_TOLERANCE = 0.005
"""A rate more than 0.5 % above the ordered rate is above the order (pumps step 0.1 mL/h)."""
DOSE_PAST_ORDER_FRACTION = 0.01
"""Delivered mg more than 1 % past the ordered mg raises an alert."""


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """From the signed order the session is charted against."""

    order_id: int | None
    concentration_mg_per_ml: float
    """The bag's final concentration (the plan's ``preparation.final_mg_per_ml``)."""
    rate_ml_per_h: float
    """The ordered pump rate (``preparation.pump_rate_ml_per_h``)."""
    ordered_mg: float
    """The ordered dose (``dose.total_mg``)."""
    bag_mg: float
    """The mg in the bag (``preparation.drawn_mg``): no chart delivers more."""


@dataclass(frozen=True, slots=True)
class ChartTerms:
    """Everything a chart is checked against."""

    weight_kg: float
    max_concentration_mg_per_ml: float
    """The clinic's most concentrated bag (``[clinic.preparation] max_final_mg_per_ml``)."""
    hard_max_mg_per_kg_per_h: float
    soft_max_mg_per_kg_per_h: float
    recovery_min: float
    """The protocol's recovery time after the stop, before discharge."""
    order: OrderTerms | None = None
    """None when there is no order (``ketaplan session replay``)."""


@dataclass(frozen=True, slots=True)
class Blocker:
    """Why an action is not allowed yet, and the control it concerns (``field``)."""

    code: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "field": self.field}


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of constant rate, in minutes from the first start (for the PK simulator)."""

    start_min: float
    end_min: float
    rate_mg_per_h: float

    @property
    def delivered_mg(self) -> float:
        return self.rate_mg_per_h * (self.end_min - self.start_min) / 60.0

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.start_min, self.end_min, self.rate_mg_per_h)


# ----------------------------------------------------------------- what may be charted ----

_CARE = ("vitals", "side_effect", "adjunct", "tolerability", "note", "correction")
_ALLOWED: dict[str, tuple[str, ...]] = {
    "checked_in": ("check_in", "start", "hold_override", *_CARE),
    "infusing": ("rate", "pause", "stop", *_CARE),
    "paused": ("resume", "rate", "stop", *_CARE),
    "stopped": (*_CARE, "discharge"),
    "discharged": (),
}


def allowed_events(state: str) -> tuple[str, ...]:
    """The event types a chart in ``state`` accepts (the console's buttons).

    Examples
    --------
    >>> allowed_events("paused")[:3]
    ('resume', 'rate', 'stop')
    >>> allowed_events("discharged")
    ()
    """
    return _ALLOWED.get(state, ())


VOIDABLE = ("vitals", "side_effect", "adjunct", "tolerability", "note", "rate")
"""Kinds a correction may void wherever they are, if the chart without them still holds."""
VOIDABLE_IF_LAST = ("check_in", "start", "pause", "resume", "stop")
"""Kinds a correction may void only when nothing was charted after them (except corrections):
later events were charted on the state they made. A correction, a hold override (the
prescriber's) and a discharge are never voided."""


def check_voidable(kind: str, is_last: bool, seq: int) -> None:
    """Refuse voiding an entry of ``kind`` (at ``seq``) that may not be voided."""
    if kind in VOIDABLE or (kind in VOIDABLE_IF_LAST and is_last):
        return
    if kind in VOIDABLE_IF_LAST:
        why = (
            f"entry {seq} ({kind}) has later entries charted on it; only the last "
            f"{', '.join(VOIDABLE_IF_LAST)} can be voided: void the later entries first"
        )
    else:
        why = (
            f"entry {seq} ({kind}) cannot be voided (voidable: {', '.join(VOIDABLE)}, and "
            f"the last {', '.join(VOIDABLE_IF_LAST)}); chart a note instead"
        )
    raise InputError(
        f"correction refused: {why}",
        code="session.not_voidable",
        fields={"field": "voids_seq", "value": seq},
    )


def check_not_future(at: datetime, kind: str, now: datetime | None) -> None:
    """Refuse an event time more than :data:`FUTURE_TOLERANCE` after ``now`` (if given)."""
    if now is None or at <= now + FUTURE_TOLERANCE:
        return
    minutes = (at - now).total_seconds() / 60
    raise InputError(
        f"{kind} at {at.isoformat()} is {minutes:.0f} min after the clock "
        f"({now.astimezone(at.tzinfo).isoformat(timespec='seconds')}); an event is charted "
        f"when it happens, at most {FUTURE_TOLERANCE.total_seconds() / 60:g} min ahead: "
        "check the date and time",
        code="input.future_time",
        fields={"field": "at", "value": at.isoformat()},
    )


# -------------------------------------------------------------------- pump and bag ----


def mg_per_kg_per_h(
    rate_ml_per_h: float, concentration_mg_per_ml: float, weight_kg: float
) -> float:
    return rate_ml_per_h * concentration_mg_per_ml / weight_kg


def concentration_problem(concentration: float, terms: ChartTerms) -> Blocker | None:
    """Why a start's concentration cannot be accepted, or None."""
    limit = terms.max_concentration_mg_per_ml
    if concentration > limit * (1 + 1e-9):
        return Blocker(
            "session.concentration_above_max",
            f"a bag of {concentration:g} mg/mL is more concentrated than the clinic's maximum "
            f"of {limit:g} mg/mL: never infuse it (an undiluted vial?); prepare the bag "
            "on the order's preparation card",
            "concentration_mg_per_ml",
        )
    order = terms.order
    if order is not None and not math.isclose(
        concentration, order.concentration_mg_per_ml, rel_tol=CONCENTRATION_TOLERANCE
    ):
        return Blocker(
            "session.concentration_not_ordered",
            f"the order's bag is {order.concentration_mg_per_ml:g} mg/mL ({order.bag_mg:g} mg "
            f"in the bag, pump at {order.rate_ml_per_h:g} mL/h), not {concentration:g} mg/mL: "
            "check the bag's label; a different bag needs a new order",
            "concentration_mg_per_ml",
        )
    return None


def pump_alerts(
    at: datetime, rate_ml_per_h: float, concentration: float, terms: ChartTerms, kind: str
) -> tuple[Alert, ...]:
    """The alerts a rate (a start or a rate change) raises: past the protocol's hard mg/kg/h
    (critical, ``stop_infusion``), above the order's rate (``check_pump``)."""
    alerts = []
    dose_rate = mg_per_kg_per_h(rate_ml_per_h, concentration, terms.weight_kg)
    hard = terms.hard_max_mg_per_kg_per_h
    if dose_rate > hard * (1 + 1e-9):
        alerts.append(
            Alert(
                code="pump.past_hard_limit",
                message=f"{kind} at {rate_ml_per_h:g} mL/h of {concentration:g} mg/mL is "
                f"{dose_rate:.2f} mg/kg/h at {terms.weight_kg:g} kg, past the protocol's hard "
                f"limit of {hard:g} mg/kg/h: stop the pump now and call the prescriber",
                at=at,
                action="stop_infusion",
                source="ismp_smart_pump",
                value=round(dose_rate, 4),
                threshold=hard,
            )
        )
    order = terms.order
    if order is not None and rate_ml_per_h > order.rate_ml_per_h * (1 + RATE_TOLERANCE):
        alerts.append(
            Alert(
                code="pump.above_order",
                message=f"{kind} at {rate_ml_per_h:g} mL/h is above the order's "
                f"{order.rate_ml_per_h:g} mL/h: check the pump program against the order",
                at=at,
                action="check_pump",
                source="order",
                value=rate_ml_per_h,
                threshold=order.rate_ml_per_h,
            )
        )
    concentration_wrong = concentration_problem(concentration, terms)
    if kind == "start" and concentration_wrong is not None:
        critical = concentration_wrong.code == "session.concentration_above_max"
        alerts.append(
            Alert(
                code=concentration_wrong.code.replace("session.", "pump."),
                message=concentration_wrong.message,
                at=at,
                action="stop_infusion" if critical else "check_pump",
                source="products" if critical else "order",
                value=concentration,
            )
        )
    return tuple(alerts)


PUMP_ALERT_PREFIX = "pump."
"""Every alert a chart's terms raise (:func:`pump_alerts`) has a code starting so, and no other
alert does: the fold without terms raises the vital signs' and a severe side effect's only."""


def alerts_without_terms(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    """The alerts of a chart folded against its terms as the same chart folded without them
    has them: the pump's left out, the rest in their order and as resolved. The titration
    history judges tolerance by these (it was written on the fold without terms); a page that
    folds a chart once, against its terms, for everything it shows gets them from that fold."""
    return tuple(a for a in alerts if not a.code.startswith(PUMP_ALERT_PREFIX))


def resolve_pump_alerts(
    alerts: tuple[Alert, ...],
    at: datetime,
    rate_ml_per_h: float,
    concentration: float,
    terms: ChartTerms,
) -> tuple[Alert, ...]:
    """Rate alerts a new rate within their limit resolves (the alert stays on the chart)."""
    still = {a.code for a in pump_alerts(at, rate_ml_per_h, concentration, terms, "rate")}
    return tuple(
        Alert(a.code, a.message, a.at, a.action, a.source, a.vital, a.value, a.threshold, at)
        if a.code in ("pump.past_hard_limit", "pump.above_order")
        and a.resolved_at is None
        and a.code not in still
        else a
        for a in alerts
    )


def capped(segments: Iterable[Segment], bag_mg: float | None) -> tuple[tuple[Segment, ...], bool]:
    """The segments with delivery stopped where the bag runs empty, and whether it did.

    Examples
    --------
    >>> capped([Segment(0, 60, 40.0)], bag_mg=30)
    ((Segment(start_min=0, end_min=45.0, rate_mg_per_h=40.0),), True)
    """
    if bag_mg is None:
        return tuple(segments), False
    kept: list[Segment] = []
    left = bag_mg
    for segment in segments:
        if segment.delivered_mg <= left + 1e-9:
            kept.append(segment)
            left -= segment.delivered_mg
            continue
        if left > 1e-9:
            end = segment.start_min + left * 60.0 / segment.rate_mg_per_h
            kept.append(Segment(segment.start_min, end, segment.rate_mg_per_h))
        return tuple(kept), True
    return tuple(kept), False


def dose_alerts(
    started_at: datetime | None, segments: tuple[Segment, ...], bag_empty: bool, terms: ChartTerms
) -> tuple[Alert, ...]:
    """The bag ran empty; the delivered dose passed the order by more than 1 %."""
    order = terms.order
    if order is None or started_at is None or not segments:
        return ()
    alerts = []
    if bag_empty:
        alerts.append(
            Alert(
                code="dose.bag_empty",
                message=f"the bag's {order.bag_mg:g} mg ran out at "
                f"{segments[-1].end_min:.0f} min: nothing more is delivered; stop the pump "
                "and chart the stop",
                at=started_at + timedelta(minutes=segments[-1].end_min),
                action="end_infusion",
                source="order",
                value=order.bag_mg,
            )
        )
    limit = order.ordered_mg * (1 + DOSE_PAST_ORDER_FRACTION)
    given = 0.0
    for segment in segments:
        if given + segment.delivered_mg > limit + 1e-9:
            minute = segment.start_min + (limit - given) * 60.0 / segment.rate_mg_per_h
            alerts.append(
                Alert(
                    code="dose.past_order",
                    message=f"delivered passed the order's {order.ordered_mg:g} mg by more "
                    f"than {DOSE_PAST_ORDER_FRACTION:.0%} at {minute:.0f} min: stop the "
                    "infusion and call the prescriber",
                    at=started_at + timedelta(minutes=minute),
                    action="stop_infusion",
                    source="order",
                    threshold=round(limit, 3),
                )
            )
            break
        given += segment.delivered_mg
    return tuple(alerts)
