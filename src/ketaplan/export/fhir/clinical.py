"""What was done: each session as an Encounter, each order as a MedicationRequest, each
constant-rate stretch of an infusion as a MedicationAdministration, and each charted reading as
vital-sign Observations."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from ketaplan.export.fhir.codes import code_table
from ketaplan.export.fhir.common import KETAPLAN_URN, fhir_id, instant, profiled, ref, rounded
from ketaplan.export.fhir.people import (
    condition_ids,
    organization_id,
    patient_id,
    practitioner_id,
)
from ketaplan.export.fhir.source import PatientRows
from ketaplan.store.models import InfusionPlan, InfusionSession, OrderEvent, SessionEvent

_ENCOUNTER_STATUS = {
    "checked_in": "arrived",
    "infusing": "in-progress",
    "paused": "in-progress",
    "stopped": "in-progress",
    "discharged": "finished",
}
_ORDER_STATUS = {
    "proposed": "draft",
    "signed": "active",
    "superseded": "stopped",
    "cancelled": "cancelled",
}
KETAMINE_TEXT = "ketamine hydrochloride injection, diluted for IV infusion"


def encounter_id(session_id: int) -> str:
    return fhir_id("session", session_id)


def order_id(plan_id: int) -> str:
    return fhir_id("order", plan_id)


def ketamine() -> dict[str, Any]:
    """The drug: RxNorm's ingredient (unverified, so marked) and the salt's UNII."""
    return code_table().concept("ketamine_rxnorm", "ketamine_hcl_unii", text=KETAMINE_TEXT)


def _events_by_session(rows: PatientRows) -> dict[int, list[SessionEvent]]:
    found: dict[int, list[SessionEvent]] = defaultdict(list)
    for event in rows.events:
        found[event.session_id].append(event)
    for events in found.values():
        events.sort(key=lambda e: e.seq)
    return found


def encounters(rows: PatientRows) -> list[dict[str, Any]]:
    table = code_table()
    by_session = _events_by_session(rows)
    conditions = condition_ids(rows)
    found = []
    for session in rows.sessions:
        events = by_session.get(session.id, [])
        delivery = rows.deliveries.get(session.id)
        state = delivery.state if delivery is not None else "checked_in"
        period: dict[str, str] = {
            "start": instant(events[0].at if events else session.created_at, rows.zone)
        }
        discharge = [e for e in events if e.kind == "discharge"]
        if discharge and state == "discharged":
            period["end"] = instant(discharge[-1].at, rows.zone)
        encounter: dict[str, Any] = {
            **profiled("Encounter", encounter_id(session.id), "us-core-encounter"),
            "identifier": [
                {
                    "system": f"{KETAPLAN_URN}:clinic:{rows.clinic.id}:session",
                    "value": str(session.id),
                }
            ],
            "status": _ENCOUNTER_STATUS.get(state, "unknown"),
            "class": table.coding("encounter_ambulatory"),
            "type": [table.concept("encounter_infusion_session")],
            "subject": ref("Patient", patient_id(rows)),
            "participant": [
                {"individual": ref("Practitioner", practitioner_id(user_id))}
                for user_id in sorted({session.created_by, *(e.recorded_by for e in events)})
            ],
            "period": period,
            "serviceProvider": ref("Organization", organization_id(rows.clinic)),
        }
        if session.protocol_key in conditions:
            encounter["reasonReference"] = [ref("Condition", conditions[session.protocol_key])]
        found.append(encounter)
    return found


def _order_status(events: list[OrderEvent]) -> str:
    return _ORDER_STATUS[events[-1].status] if events else "draft"


def _dosage(plan: InfusionPlan) -> dict[str, Any]:
    table = code_table()
    body = plan.plan or {}
    dose = body.get("dose") or {}
    preparation = body.get("preparation") or {}
    minutes = dose.get("duration_min")
    text = f"{rounded(plan.mg_per_kg, 4)} mg/kg, {rounded(plan.total_mg, 3)} mg ketamine IV"
    if minutes:
        text += f" over {rounded(minutes, 1)} min"
    dosage: dict[str, Any] = {"text": text, "route": {"text": "intravenous infusion"}}
    if minutes:
        dosage["timing"] = {
            "repeat": {"count": 1, "duration": rounded(minutes, 1), "durationUnit": "min"}
        }
    rate: dict[str, Any] = {"doseQuantity": table.quantity(rounded(plan.total_mg, 3), "mg")}
    pump = preparation.get("pump_rate_ml_per_h")
    if pump:
        rate["rateQuantity"] = table.quantity(rounded(pump, 1), "ml_per_h")
    dosage["doseAndRate"] = [rate]
    return dosage


def medication_requests(rows: PatientRows) -> list[dict[str, Any]]:
    """Each plan as the order it is: proposed (a draft proposal), signed (an active order),
    superseded (stopped) or cancelled; the requester is the prescriber who signed it."""
    by_plan: dict[int, list[OrderEvent]] = defaultdict(list)
    for event in rows.order_events:
        by_plan[event.plan_id].append(event)
    conditions = condition_ids(rows)
    found = []
    for plan in rows.plans:
        events = sorted(by_plan.get(plan.id, []), key=lambda e: (e.at, e.id))
        signed = [e for e in events if e.status == "signed"]
        requester = signed[0].by if signed else plan.created_by
        request: dict[str, Any] = {
            **profiled("MedicationRequest", order_id(plan.id), "us-core-medicationrequest"),
            "identifier": [
                {"system": f"{KETAPLAN_URN}:clinic:{rows.clinic.id}:order", "value": str(plan.id)}
            ],
            "status": _order_status(events),
            "intent": "order" if signed else "proposal",
            "reportedBoolean": False,
            "medicationCodeableConcept": ketamine(),
            "subject": ref("Patient", patient_id(rows)),
            "authoredOn": instant(plan.created_at, rows.zone),
            "requester": ref("Practitioner", practitioner_id(requester)),
            "recorder": ref("Practitioner", practitioner_id(plan.created_by)),
            "dosageInstruction": [_dosage(plan)],
        }
        if plan.condition in conditions:
            request["reasonReference"] = [ref("Condition", conditions[plan.condition])]
        notes = []
        if plan.override:
            notes.append(f"dose override: {plan.override.get('reason', '')}".strip())
        notes += [f"{e.status}: {e.reason}" for e in events if e.reason]
        if notes:
            request["note"] = [{"text": text} for text in notes]
        found.append(request)
    return found


def _segment_recorder(events: list[SessionEvent], session: InfusionSession, at: Any) -> int:
    """Who charted the event that began a stretch (start, rate change or resume at ``at``)."""
    for event in events:
        if event.kind in ("start", "rate", "resume") and abs((event.at - at).total_seconds()) < 1:
            return event.recorded_by
    starts = [e for e in events if e.kind == "start"]
    return starts[0].recorded_by if starts else session.created_by


def medication_administrations(rows: PatientRows) -> list[dict[str, Any]]:
    """One per constant-rate stretch of each chart: its period, rate in mg/h and the mg it
    delivered (the domain's fold, capped where the bag ran empty)."""
    table = code_table()
    by_session = _events_by_session(rows)
    found = []
    for session in rows.sessions:
        delivery = rows.deliveries.get(session.id)
        if delivery is None or delivery.started_at is None:
            continue
        events = by_session.get(session.id, [])
        ended = delivery.state in ("stopped", "discharged")
        for number, segment in enumerate(delivery.segments, start=1):
            begin = delivery.started_at + timedelta(minutes=segment.start_min)
            end = delivery.started_at + timedelta(minutes=segment.end_min)
            running = not ended and number == len(delivery.segments)
            administration: dict[str, Any] = {
                "resourceType": "MedicationAdministration",
                "id": fhir_id("session", session.id, "segment", number),
                "status": "in-progress" if running else "completed",
                "medicationCodeableConcept": ketamine(),
                "subject": ref("Patient", patient_id(rows)),
                "context": ref("Encounter", encounter_id(session.id)),
                "effectivePeriod": {
                    "start": instant(begin, rows.zone),
                    **({} if running else {"end": instant(end, rows.zone)}),
                },
                "performer": [
                    {
                        "actor": ref(
                            "Practitioner",
                            practitioner_id(_segment_recorder(events, session, begin)),
                        )
                    }
                ],
                "dosage": {
                    "text": f"{rounded(segment.rate_mg_per_h, 3)} mg/h for "
                    f"{rounded(segment.end_min - segment.start_min, 2)} min",
                    "route": {"text": "intravenous infusion"},
                    "dose": table.quantity(rounded(segment.delivered_mg, 3), "mg"),
                    "rateQuantity": table.quantity(rounded(segment.rate_mg_per_h, 3), "mg_per_h"),
                },
            }
            if session.plan_id is not None:
                administration["request"] = ref("MedicationRequest", order_id(session.plan_id))
            found.append(administration)
    return found


_READINGS = (
    # field(s) in the stored event, code key, unit, US Core profile, id suffix
    (("systolic", "diastolic"), "blood_pressure_panel", "mm_hg", "us-core-blood-pressure", "bp"),
    (("heart_rate",), "heart_rate", "per_minute", "us-core-heart-rate", "hr"),
    (("spo2",), "oxygen_saturation", "percent", "us-core-pulse-oximetry", "spo2"),
    (("resp_rate",), "respiratory_rate", "per_minute", "us-core-respiratory-rate", "rr"),
)


def vital_signs(rows: PatientRows) -> list[dict[str, Any]]:
    """An Observation per reading of each check-in and vitals event; a reading a correction
    voided goes out as ``entered-in-error``."""
    table = code_table()
    found = []
    for event in rows.events:
        if event.kind not in ("check_in", "vitals"):
            continue
        delivery = rows.deliveries.get(event.session_id)
        voided = delivery is not None and event.seq in delivery.voided
        data = event.data
        for fields, code_key, unit, profile, suffix in _READINGS:
            values = [float(data[f]) for f in fields if data.get(f) is not None]
            if len(values) != len(fields):
                continue
            observation: dict[str, Any] = {
                **profiled(
                    "Observation",
                    fhir_id("vitals", event.session_id, event.seq, suffix),
                    profile,
                ),
                "status": "entered-in-error" if voided else "final",
                "category": [table.concept("category_vital_signs")],
                "code": table.concept(
                    *((code_key, "pulse_oximetry") if suffix == "spo2" else (code_key,))
                ),
                "subject": ref("Patient", patient_id(rows)),
                "encounter": ref("Encounter", encounter_id(event.session_id)),
                "effectiveDateTime": instant(event.at, rows.zone),
                "performer": [ref("Practitioner", practitioner_id(event.recorded_by))],
            }
            if suffix == "bp":
                observation["component"] = [
                    {"code": table.concept(key), "valueQuantity": table.quantity(rounded(v), unit)}
                    for key, v in zip(("systolic", "diastolic"), values, strict=True)
                ]
            else:
                observation["valueQuantity"] = table.quantity(rounded(values[0]), unit)
            found.append(observation)
    return found
