"""The safety path as a state machine: whatever staff do, in whatever order, no patient is
infused without a signed order and pre-infusion vitals, and no dose past a limit goes unflagged.

Hypothesis drives the real services on a real database through any sequence of plans
(ordinary, contraindicated and held patients; doses inside, past a soft and past a hard limit),
signatures (right and wrong passwords, with and without an override), cancellations, courses,
sessions, chart events (vitals good and bad, starts at the order's bag, at 0.4 and at
100 mg/mL, rates up to 999 mL/h, pauses, stops, hold overrides, corrections, discharges, events
stamped in the future) and titration decisions, with the clinic's clock moving on. Every step may
be refused; the invariants are checked after each one, from the stored rows:

- a chart whose (uncorrected) start was accepted belongs to an order that was signed before it,
  and a reading with blood pressure, heart rate and SpO2 came before the start;
- no delivered dose is more than the bag held;
- every charted rate past the protocol's hard mg/kg/h has a critical ``stop_infusion`` alert on
  that chart, every rate above the order's a ``check_pump`` alert, and a delivered dose past the
  order by more than 1 % a ``dose.past_order`` alert;
- no stored event is stamped more than five minutes after it was recorded.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.errors import KetaplanError
from ketaplan.services import (
    Actor,
    PatientDetails,
    PlanOrder,
    UnitOfWork,
    add_user,
    append_session_event,
    cancel_order,
    create_patient,
    create_plan,
    decide_titration,
    get_session_chart,
    load_actor,
    open_session,
    recommend_titration,
    schedule_course,
    set_up_clinic,
    sign_order,
)
from ketaplan.store import Database
from ketaplan.store.models import InfusionPlan, InfusionSession, OrderEvent, SessionEvent

from .conftest import DEEP, PASSWORD

CLINICS = itertools.count(1)
START = datetime(2026, 6, 1, 16, 0, tzinfo=UTC)
PATIENTS = {
    "ordinary": PatientDetails(full_name="Ora Dinary", weight="70 kg", height="170 cm"),
    "psychosis": PatientDetails(
        full_name="Pat Psychosis", weight="82 kg", height="180 cm", history=("psychosis",)
    ),
    "held": PatientDetails(
        full_name="Hal Held", weight="95 kg", height="175 cm", blood_pressure="192/104"
    ),
}
CHART_EVENTS = (
    *("check_in", "check_in", "check_in_held", "vitals", "vitals", "start", "start", "start"),
    *("rate", "rate", "pause", "resume", "stop", "stop", "hold_override", "correction"),
    *("discharge", "discharge"),
)
"""What the nurse charts, the usual events more often than the rest."""
PRE_START_READINGS = ("check_in", "vitals")
"""Where pre-infusion vitals are charted: at check-in, or as a reading before the start."""
GOOD_VITALS = {"systolic": 128, "diastolic": 80, "heart_rate": 76, "spo2": 98}
HOLD_VITALS = {"systolic": 196, "diastolic": 112, "heart_rate": 118, "spo2": 90}


class SafetyPath(RuleBasedStateMachine):
    """One clinic per run: a nurse and a prescriber, three patients, the clinic's clock."""

    database: Database
    policy: ClinicPolicy
    resolver: MedicationResolver

    orders = Bundle("orders")
    sessions = Bundle("sessions")
    courses = Bundle("courses")

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.patients: dict[str, int] = {}

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.database.session_factory, clock=lambda: self.now)

    def attempt(self, action: Any) -> Any:
        """A step staff try; a refusal is an expected outcome, not a failure."""
        try:
            return action()
        except KetaplanError:
            return None

    def clinic(self) -> None:
        n = next(CLINICS)
        admin = set_up_clinic(
            self.uow(), name=f"Clinic {n}", time_zone="UTC", admin_email=f"a{n}@machine.example"
        )
        staff: dict[str, Actor] = {}
        for role in ("nurse", "prescriber"):
            email = f"{role}{n}@machine.example"
            add_user(self.uow(), email=email, role=role, actor=admin, password=PASSWORD)
            staff[role] = load_actor(self.uow(), email, origin="machine")
        self.nurse, self.prescriber = staff["nurse"], staff["prescriber"]
        for kind, details in PATIENTS.items():
            self.patients[kind] = create_patient(
                self.uow(), details, actor=self.nurse, catalog=self.policy.catalog
            ).patient_id

    @initialize(target=sessions)
    def a_session_on_a_signed_order(self) -> Any:
        """Each run starts with one chart open on a signed order, so that most runs reach the
        chair (the other rules make orders, courses and charts of every kind besides)."""
        self.clinic()
        return (
            self.open("ordinary", None)
            if self.propose_and_sign("ordinary", None, False)
            else multiple()
        )

    # ------------------------------------------------------------------ orders ----

    @rule(
        target=orders,
        kind=st.sampled_from(sorted(PATIENTS)),
        mg_per_kg=st.sampled_from([None, 0.35, 0.9, 2.5]),
        by_prescriber=st.booleans(),
    )
    def propose(self, kind: str, mg_per_kg: float | None, by_prescriber: bool) -> int | None:
        actor = self.prescriber if by_prescriber else self.nurse
        reason = "partial response" if by_prescriber and mg_per_kg == 0.9 else None
        made = self.attempt(
            lambda: create_plan(
                self.uow(),
                self.patients[kind],
                PlanOrder("depression", mg_per_kg, reason),
                actor=actor,
                policy=self.policy,
                resolver=self.resolver,
            )
        )
        return multiple() if made is None else int(made.plan_id)

    @rule(
        target=orders,
        kind=st.sampled_from(sorted(PATIENTS)),
        mg_per_kg=st.sampled_from([None, None, 0.35, 0.9]),
        override=st.booleans(),
    )
    def propose_and_sign(self, kind: str, mg_per_kg: float | None, override: bool) -> Any:
        """The usual path: the nurse proposes, the prescriber signs (an override when asked)."""
        order = self.propose(kind, mg_per_kg, by_prescriber=mg_per_kg == 0.9)
        if isinstance(order, int):
            self.sign(order, right_password=True, override=override)
        return order

    @rule(
        order=orders,
        right_password=st.sampled_from([True] * 7 + [False]),
        override=st.booleans(),
    )
    def sign(self, order: int, right_password: bool, override: bool) -> None:
        self.attempt(
            lambda: sign_order(
                self.uow(),
                order,
                password=PASSWORD if right_password else "not the password at all",
                actor=self.prescriber,
                override_reason="benefit outweighs the risk" if override else None,
            )
        )

    @rule(order=orders, now=st.integers(0, 3))
    def cancel(self, order: int, now: int) -> None:
        if now == 0:  # rarer than the rest: it ends an order
            self.attempt(
                lambda: cancel_order(self.uow(), order, reason="changed", actor=self.prescriber)
            )

    @rule(target=courses, kind=st.sampled_from(sorted(PATIENTS)))
    def schedule(self, kind: str) -> Any:
        made = self.attempt(
            lambda: schedule_course(
                self.uow(),
                self.patients[kind],
                condition="depression",
                first_day=self.now.date(),
                actor=self.nurse,
                policy=self.policy,
            )
        )
        return multiple() if made is None else int(made.course_id)

    @rule(course=courses, dose=st.sampled_from([None, 0.9, 3.0]))
    def titrate(self, course: int, dose: float | None) -> None:
        proposal = self.attempt(
            lambda: recommend_titration(
                self.uow(), course, actor=self.prescriber, policy=self.policy
            )
        )
        if proposal is not None:
            self.attempt(
                lambda: decide_titration(
                    self.uow(),
                    proposal.recommendation_id,
                    actor=self.prescriber,
                    policy=self.policy,
                    resolver=self.resolver,
                    password=PASSWORD,
                    mg_per_kg=dose,
                    reason="" if dose is None else "clinical judgement",
                )
            )

    # --------------------------------------------------------------- sessions ----

    @rule(
        target=sessions,
        kind=st.sampled_from(sorted(PATIENTS)),
        course=st.one_of(st.none(), courses),
    )
    def open(self, kind: str, course: int | None) -> Any:
        opened = self.attempt(
            lambda: open_session(
                self.uow(),
                self.patients[kind],
                condition="depression",
                actor=self.nurse,
                policy=self.policy,
                course_id=course,
            )
        )
        return multiple() if opened is None else int(opened.session_id)

    @rule(minutes=st.integers(1, 45))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(
        session=sessions,
        kind=st.sampled_from(CHART_EVENTS),
        rate=st.sampled_from(["order", "order", "double", "999"]),
        concentration=st.sampled_from(["order", "order", "order", "0.4", "100"]),
        future=st.sampled_from([False, False, False, True]),
        data=st.data(),
    )
    def chart(
        self,
        session: int,
        kind: str,
        rate: str,
        concentration: str,
        future: bool,
        data: st.DataObject,
    ) -> None:
        chart = get_session_chart(self.uow(), session, actor=self.nurse, policy=self.policy)
        order = self.order_preparation(session)
        at = self.now + (timedelta(minutes=30) if future else timedelta())
        event: dict[str, object] = {"type": kind, "at": at.isoformat()}
        order_rate = float(order["pump_rate_ml_per_h"]) if order else 100.0
        rates = {"order": order_rate, "double": order_rate * 2, "999": 999.0}
        bags = {"order": float(order["final_mg_per_ml"]) if order else 0.4, "0.4": 0.4}
        bags["100"] = 100.0
        actor = self.nurse
        match kind:
            case "check_in" | "vitals":
                event.update(GOOD_VITALS)
            case "check_in_held":
                event.update(type="check_in", **HOLD_VITALS)
            case "start":
                event.update(rate_ml_per_h=rates[rate], concentration_mg_per_ml=bags[concentration])
            case "rate":
                event.update(rate_ml_per_h=rates[rate])
            case "stop":
                completed = data.draw(st.booleans())
                event.update(completed=completed, reason="" if completed else "nausea")
            case "hold_override":
                event.update(reason="rechecked after rest, prescriber at the chair")
                actor = self.prescriber
            case "correction":
                if chart.seq == 0:
                    return
                event.update(voids_seq=data.draw(st.integers(1, chart.seq)), reason="wrong row")
            case "discharge":
                event.update(vitals_within_limits=True, oriented_and_steady=True)
                event.update(escort_present=True)
        self.attempt(
            lambda: append_session_event(
                self.uow(),
                session,
                event,
                expected_seq=chart.seq,
                actor=actor,
                policy=self.policy,
            )
        )
        self.now += timedelta(minutes=data.draw(st.integers(0, 10)))

    @rule(session=sessions, minutes=st.integers(1, 30))
    def chart_as_the_protocol_says(self, session: int, minutes: int) -> None:
        """The next event a careful nurse would chart, so that runs reach the infusion and
        the discharge as well as the refusals around them."""
        chart = get_session_chart(self.uow(), session, actor=self.nurse, policy=self.policy)
        summary = chart.summary.to_dict()
        allowed: list[str] = summary["allowed_events"]  # type: ignore[assignment]
        order = self.order_preparation(session) or {}
        at = self.now.isoformat()
        event: dict[str, object]
        if summary["state"] == "checked_in" and not chart.seq:
            event = {"type": "check_in", "at": at, **GOOD_VITALS}
        elif "start" in allowed and not summary["start_blockers"]:
            event = {"type": "start", "at": at}
            event["rate_ml_per_h"] = order.get("pump_rate_ml_per_h", 100.0)
            event["concentration_mg_per_ml"] = order.get("final_mg_per_ml", 0.4)
        elif summary["state"] in ("infusing", "paused"):
            event = {"type": "stop", "at": at, "completed": True}
        elif summary["state"] == "stopped" and summary["discharge_blockers"]:
            event = {"type": "vitals", "at": at, **GOOD_VITALS}
        elif summary["state"] == "stopped":
            event = {"type": "discharge", "at": at, "vitals_within_limits": True}
            event.update(oriented_and_steady=True, escort_present=True)
        else:
            return
        self.attempt(
            lambda: append_session_event(
                self.uow(), session, event, expected_seq=chart.seq, actor=self.nurse,
                policy=self.policy,
            )
        )  # fmt: skip
        self.now += timedelta(minutes=minutes)

    # -------------------------------------------------------------- invariants ----

    def order_preparation(self, session_id: int) -> dict[str, Any] | None:
        with self.database.session_factory() as db:
            plan = db.scalar(
                select(InfusionPlan)
                .join(InfusionSession, InfusionSession.plan_id == InfusionPlan.id)
                .where(InfusionSession.id == session_id)
            )
            return None if plan is None else dict(plan.plan["preparation"])

    @invariant()
    def nothing_reaches_a_patient_unchecked(self) -> None:
        if not self.patients:
            return
        hard = self.policy.catalog.protocol("depression").limits.hard_max_mg_per_kg_per_h
        with self.database.session_factory() as db:  # read, then close: charts read after
            sessions = db.scalars(
                select(InfusionSession).where(
                    InfusionSession.patient_id.in_(self.patients.values())
                )
            ).all()
            stored = {
                s.id: (
                    s.weight_kg,
                    db.get_one(InfusionPlan, s.plan_id).plan,
                    db.scalars(
                        select(OrderEvent.at).where(
                            OrderEvent.plan_id == s.plan_id, OrderEvent.status == "signed"
                        )
                    ).all(),
                    db.scalars(
                        select(SessionEvent)
                        .where(SessionEvent.session_id == s.id)
                        .order_by(SessionEvent.seq)
                    ).all(),
                )
                for s in sessions
            }
        for session_id, (weight_kg, plan, signed, rows) in stored.items():
            for row in rows:
                assert row.at <= row.recorded_at + timedelta(minutes=5), row.data
            if not rows:
                continue
            summary = get_session_chart(
                self.uow(), session_id, actor=self.nurse, policy=self.policy
            ).summary.to_dict()
            voided = set(summary["voided"])  # type: ignore[call-overload]
            kept = [r for r in rows if r.seq not in voided and r.kind != "correction"]
            starts = [r for r in kept if r.kind == "start"]
            if starts:
                start = starts[0]
                assert signed, f"session {session_id} started on an unsigned order"
                assert signed[0] <= start.recorded_at
                before = [r for r in kept if r.seq < start.seq and r.kind in PRE_START_READINGS]
                assert any(
                    {"systolic", "diastolic", "heart_rate", "spo2"} <= set(r.data) for r in before
                ), f"session {session_id} started without pre-infusion vitals"
            self.check_dose(weight_kg, hard, plan, summary, kept)

    def check_dose(
        self,
        weight_kg: float,
        hard_mg_per_kg_per_h: float,
        plan: dict[str, Any],
        summary: dict[str, Any],
        kept: list[SessionEvent],
    ) -> None:
        preparation, ordered_mg = plan["preparation"], float(plan["dose"]["total_mg"])
        actions = {a["action"] for a in summary["alerts"]}
        codes = {a["code"] for a in summary["alerts"]}
        assert summary["delivered_mg"] <= float(preparation["drawn_mg"]) + 1e-3
        if summary["delivered_mg"] > ordered_mg * 1.01 + 1e-3:
            assert "dose.past_order" in codes
        for _start, _end, rate_mg_per_h in summary["segments"]:
            if rate_mg_per_h / weight_kg > hard_mg_per_kg_per_h * (1 + 1e-6):
                assert "stop_infusion" in actions
        if any(
            r.kind in ("start", "rate")
            and float(r.data["rate_ml_per_h"]) > preparation["pump_rate_ml_per_h"] * 1.01
            for r in kept
        ):
            assert "check_pump" in actions or "stop_infusion" in actions


@pytest.mark.slow
def test_no_session_infuses_unchecked_whatever_staff_do(
    database: Database, database_url: str, policy: ClinicPolicy, resolver: MedicationResolver
) -> None:
    SafetyPath.database, SafetyPath.policy, SafetyPath.resolver = database, policy, resolver
    sqlite = database_url.startswith("sqlite")
    # Each example is a new clinic and up to 50 steps, every invariant read after each step.
    examples = (40 if sqlite else 10) if DEEP else (15 if sqlite else 5)
    run_state_machine_as_test(
        SafetyPath,
        settings=settings(
            max_examples=examples,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
