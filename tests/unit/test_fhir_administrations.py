"""The MedicationAdministrations of a chart add up to the dose the chart delivered.

For any chart of a start, rate changes, pauses and resumes and a stop, the exported stretches
(one per constant rate) tile the infusing time without gaps or overlaps, each one's dose is its
rate times its length, and their doses sum to the delivered dose the console shows, within the
rounding of 0.001 mg per stretch: what a receiving system reads is what the nurse charted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.service.fhir_checks import schema_problems

from ketaplan.clinical.chart_events import event_from_dict
from ketaplan.clinical.session import infusion_segments, replay, summarise
from ketaplan.export.fhir import PatientRows, SessionDelivery
from ketaplan.export.fhir.clinical import medication_administrations
from ketaplan.store.models import Clinic, InfusionSession, Patient

START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)
WEIGHT_KG = 80.0

steps = st.lists(
    st.tuples(
        st.sampled_from(["rate", "pause_resume"]),
        st.integers(min_value=1, max_value=30),  # minutes after the step before
        st.floats(min_value=10, max_value=400, allow_nan=False).map(lambda r: round(r, 1)),
    ),
    max_size=6,
)


def _chart(
    concentration: float, rate: float, plan: list[tuple[str, int, float]], tail: int
) -> list[dict[str, Any]]:
    at = START

    def stamp() -> str:
        return at.isoformat()

    events: list[dict[str, Any]] = [
        {"type": "check_in", "at": (START - timedelta(minutes=5)).isoformat()},
        {
            "type": "start",
            "at": stamp(),
            "rate_ml_per_h": rate,
            "concentration_mg_per_ml": concentration,
        },
    ]
    for kind, minutes, new_rate in plan:
        at += timedelta(minutes=minutes)
        if kind == "rate":
            events.append({"type": "rate", "at": stamp(), "rate_ml_per_h": new_rate})
        else:
            events.append({"type": "pause", "at": stamp(), "reason": "nausea"})
            at += timedelta(minutes=minutes)
            events.append({"type": "resume", "at": stamp()})
    at += timedelta(minutes=tail)
    events.append({"type": "stop", "at": stamp(), "completed": True})
    return events


@settings(max_examples=150, deadline=None)
@given(
    concentration=st.sampled_from([0.354, 0.4, 0.5, 1.0, 2.0]),
    rate=st.floats(min_value=10, max_value=400, allow_nan=False).map(lambda r: round(r, 1)),
    plan=steps,
    tail=st.integers(min_value=1, max_value=60),
)
def test_the_exported_stretches_add_up_to_the_delivered_dose(
    concentration: float, rate: float, plan: list[tuple[str, int, float]], tail: int
) -> None:
    log = replay(event_from_dict(e) for e in _chart(concentration, rate, plan, tail))
    delivered_mg = summarise(log, WEIGHT_KG).delivered_mg
    clinic = Clinic(id=1, name="C", time_zone="America/Los_Angeles")
    session = InfusionSession(id=7, patient_id=1, plan_id=None, created_by=2, created_at=START)
    rows = PatientRows(
        clinic=clinic,
        patient=Patient(id=1, clinic_id=1),
        versions=(),
        plans=(),
        order_events=(),
        courses=(),
        sessions=(session,),
        events=(),
        deliveries={
            7: SessionDelivery(
                log.state.started_at, infusion_segments(log), frozenset(), log.state.state
            )
        },
        responses=(),
    )
    given_ = medication_administrations(rows)
    assert len(given_) == len(infusion_segments(log))
    total = 0.0
    previous_end: datetime | None = None
    for resource in given_:
        assert schema_problems(resource) == []
        assert resource["status"] == "completed"
        start = datetime.fromisoformat(resource["effectivePeriod"]["start"])
        end = datetime.fromisoformat(resource["effectivePeriod"]["end"])
        assert end > start
        if previous_end is not None:
            assert start >= previous_end  # no overlap (a pause leaves a gap)
        previous_end = end
        dose = resource["dosage"]["dose"]["value"]
        rate_mg_per_h = resource["dosage"]["rateQuantity"]["value"]
        minutes = (end - start).total_seconds() / 60
        assert abs(dose - rate_mg_per_h * minutes / 60) <= 0.002 + rate_mg_per_h * 1 / 3600
        total += dose
    assert abs(total - delivered_mg) <= 0.0005 * len(given_) + 1e-9
