"""Titration: a recommendation computed from the stored course, and a prescriber's decision.

:func:`recommend_titration` builds the domain's :class:`~ketaplan.clinical.titration.History`
from the database and lets :func:`~ketaplan.clinical.titration.recommend_next_dose` decide:

* sessions: the course's sessions whose infusion has ended (stopped or discharged), in order;
  each session's dose is its plan's mg/kg when it was charted against a plan, otherwise the
  mg/kg its chart delivered; tolerability, side effects, alerts and pauses come from the
  replayed chart (alerts as the chart has them without its terms: not the pump's,
  :func:`~ketaplan.clinical.chart_rules.alerts_without_terms`); its scores are the
  questionnaires recorded for that session;
* baseline: the course's questionnaires (not tied to a session) answered before the first
  session's first event; follow-up: those answered after the last session's last event;
* weight: the patient's current profile;
* PHQ-9 item 9: every PHQ-9 of the course and its sessions, and those of the patient tied to
  no course, in the order answered, whatever the session's state (titration never increases
  while the latest is above 0).

The recommendation is checked against every limit a plan is checked against, on the
patient's dosing weight (:func:`~ketaplan.clinical.titration.within_limits`), and stored with
the history it was computed from, so the reasons can be shown again exactly.

:func:`decide_titration` closes the loop: a prescriber accepts the recommendation or chooses
another dose (with a reason), and the decision *is* the next order. It is planned through the
same path as any plan (:func:`~ketaplan.services.plans.save_proposed_order`: screening, every
limit, the clinic's dosing-weight basis, its stock, the preparation), signed by the deciding
prescriber
in the same action (password re-entered, checked before the write transaction), and so
supersedes the course's active order: the next session opened from the course runs on it and
its pump rate. Past a soft limit it needs an override reason like any plan; past a hard limit
it is refused, and only the refusal is recorded (audited). The decision row, the new order
and its signature land together or not at all; a recommendation gets one decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ketaplan.clinical.chart_rules import alerts_without_terms
from ketaplan.clinical.course import ScoreRecord
from ketaplan.clinical.medications import MedicationResolver
from ketaplan.clinical.policy import ClinicPolicy
from ketaplan.clinical.profile import dosing_weight
from ketaplan.clinical.titration import (
    History,
    SessionRecord,
    SideEffectRecord,
    recommend_next_dose,
    within_limits,
)
from ketaplan.errors import ConflictError, InputError, NotFoundError, SafetyLimitError
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.audit_actions import AuditAction
from ketaplan.services.chart_replays import ReplayedChart, replay_course
from ketaplan.services.clinic_policy import clinic_chart_rules
from ketaplan.services.courses import find_course
from ketaplan.services.orders import DEFAULT_MEANING
from ketaplan.services.patients import current_version, find_patient, profile_from_dict
from ketaplan.services.plans import (
    PlanOrder,
    check_signature_password,
    record_signature,
    save_proposed_order,
)
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.services.visibility import require_clinical_facts
from ketaplan.store.models import (
    Clinic,
    InfusionPlan,
    Patient,
    QuestionnaireResponse,
    TitrationDecision,
    TitrationRecommendation,
    TreatmentCourse,
)


@dataclass(frozen=True, slots=True)
class TitrationRecord:
    recommendation_id: int
    patient_id: int
    course_id: int
    recommendation: dict[str, Any]
    basis: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    decision_id: int
    recommendation_id: int
    decision: str
    mg_per_kg: float
    reason: str
    decided_at: datetime
    plan_id: int | None = None
    """The order the decision made (signed, active); None for decisions made before orders."""


def _latest_by_scale(responses: list[QuestionnaireResponse]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for response in sorted(responses, key=lambda r: r.answered_at):
        totals[response.scale] = response.total
    return totals


def course_history(
    uow: UnitOfWork,
    course: TreatmentCourse,
    charts: Sequence[ReplayedChart],
    weight_kg: float,
    zone: ZoneInfo,
) -> History:
    """The course so far as the domain's history (see the module docstring for what counts),
    from its charts as :func:`~ketaplan.services.chart_replays.replay_course` folded them."""
    responses = list(
        uow.db.scalars(
            select(QuestionnaireResponse).where(
                QuestionnaireResponse.patient_id == course.patient_id,
                (QuestionnaireResponse.course_id == course.id)
                | QuestionnaireResponse.session_id.in_([c.session.id for c in charts]),
            )
        )
    )
    records: list[SessionRecord] = []
    first_at: datetime | None = None
    last_at: datetime | None = None
    for number, chart in enumerate(charts, start=1):
        session, state, summary = chart.session, chart.log.state, chart.summary
        if state.state not in ("stopped", "discharged"):
            continue
        plan = chart.plan
        first_at = first_at or chart.charted_at[0]
        last_at = chart.charted_at[-1]
        records.append(
            SessionRecord(
                number=session.number or number,
                on=chart.charted_at[0].astimezone(zone).date(),
                # without a plan there is no order, so nothing caps what the chart delivered
                mg_per_kg=plan.mg_per_kg if plan else round(summary.delivered_mg_per_kg, 3),
                tolerability=summary.tolerability_rating,
                side_effects=tuple(
                    SideEffectRecord(s.name, s.severity) for s in summary.side_effects
                ),
                alerts=tuple(a.code for a in alerts_without_terms(state.alerts)),
                pauses=summary.pauses,
                scores=_latest_by_scale([r for r in responses if r.session_id == session.id]),
            )
        )
    unlinked = [r for r in responses if r.session_id is None]
    baseline = [r for r in unlinked if first_at is None or r.answered_at < first_at]
    follow_up = [r for r in unlinked if last_at is not None and r.answered_at > last_at]
    return History(
        condition=course.protocol_key,
        weight_kg=weight_kg,
        baseline_scores=_latest_by_scale(baseline),
        sessions=tuple(records),
        follow_up=tuple(
            ScoreRecord(r.answered_at.astimezone(zone).date(), r.scale, r.total)
            for r in sorted(follow_up, key=lambda r: r.answered_at)
        ),
        phq9_item9=tuple(
            (r.answered_at.astimezone(zone).date(), _item9(r))
            for r in sorted(
                [*responses, *_unlinked_phq9(uow, course.patient_id)], key=lambda r: r.answered_at
            )
            if r.scale == "phq9"
        ),
    )


def _unlinked_phq9(uow: UnitOfWork, patient_id: int) -> list[QuestionnaireResponse]:
    """The patient's PHQ-9s tied to no course or session (a link sent outside a course): their
    item 9 counts for every course."""
    return list(
        uow.db.scalars(
            select(QuestionnaireResponse).where(
                QuestionnaireResponse.patient_id == patient_id,
                QuestionnaireResponse.scale == "phq9",
                QuestionnaireResponse.course_id.is_(None),
                QuestionnaireResponse.session_id.is_(None),
            )
        )
    )


def _item9(response: QuestionnaireResponse) -> int | None:
    """A stored PHQ-9's item 9 answer; None when only its total was recorded."""
    answers = response.answers or []
    return int(answers[8]) if len(answers) == 9 else None


def _basis(history: History) -> dict[str, Any]:
    """The history as JSON, stored with the recommendation it produced."""
    return {
        "condition": history.condition,
        "weight_kg": history.weight_kg,
        "baseline_scores": dict(history.baseline_scores),
        "sessions": [
            {**asdict(s), "on": s.on.isoformat(), "scores": dict(s.scores)}
            for s in history.sessions
        ],
        "follow_up": [
            {"on": r.on.isoformat(), "scale": r.scale, "total": r.total} for r in history.follow_up
        ],
        "phq9_item9": [{"on": on.isoformat(), "answer": a} for on, a in history.phq9_item9],
    }


def recommend_titration(
    uow: UnitOfWork,
    course_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
) -> TitrationRecord:
    """The next session's mg/kg for the course so far, with reasons; stored for the decision."""
    require_clinical_facts(actor, "a titration recommendation")
    with uow:
        course = find_course(uow, course_id, actor)
        patient = find_patient(uow, course.patient_id, actor)
        profile = profile_from_dict(current_version(uow, patient).profile)
        weight_kg = profile.weight_kg
        clinic = uow.db.get_one(Clinic, patient.clinic_id)
        rules = clinic_chart_rules(uow, actor, policy.monitoring)
        charts = replay_course(uow, course, rules, policy)
        history = course_history(uow, course, charts, weight_kg, ZoneInfo(clinic.time_zone))
        catalog = policy.catalog
        protocol = catalog.protocol(course.protocol_key)
        proposal = within_limits(
            recommend_next_dose(protocol, history),
            protocol,
            dosing_weight(profile, protocol, catalog),
        )
        row = TitrationRecommendation(
            patient_id=course.patient_id,
            course_id=course.id,
            recommended_mg_per_kg=proposal.recommended_mg_per_kg,
            action=proposal.action,
            recommendation=proposal.to_dict(weight_kg),
            basis=_basis(history),
            created_at=uow.clock(),
            created_by=actor.user_id,
        )
        uow.db.add(row)
        uow.db.flush()
        uow.audit(
            actor,
            AuditAction.TITRATION_RECOMMEND,
            "titration_recommendation",
            row.id,
            patient_id=course.patient_id,
            details={
                "course_id": course.id,
                "action": proposal.action,
                "recommended_mg_per_kg": proposal.recommended_mg_per_kg,
                "sessions": len(history.sessions),
                "needs_override": proposal.needs_override,
                "capped": proposal.capped,
            },
        )
        uow.commit()
        return TitrationRecord(row.id, row.patient_id, course.id, row.recommendation, row.basis)


def _chosen_dose(mg_per_kg: float | None, recommended: float) -> float:
    chosen = recommended if mg_per_kg is None else mg_per_kg
    if (
        isinstance(chosen, bool)
        or not isinstance(chosen, int | float)
        or not math.isfinite(chosen)
        or chosen <= 0
    ):
        raise InputError(
            f"mg_per_kg {mg_per_kg!r} is not a positive dose",
            code="input.out_of_range",
            fields={"field": "mg_per_kg"},
        )
    return float(chosen)


def _already_decided(recommendation_id: int) -> ConflictError:
    return ConflictError(
        f"titration recommendation {recommendation_id} has already been decided",
        code="conflict.already_decided",
        fields={"recommendation_id": recommendation_id},
    )


def _recommendation_in_clinic(
    uow: UnitOfWork, recommendation_id: int, actor: Actor
) -> tuple[TitrationRecommendation, TreatmentCourse]:
    """The recommendation and its course, if its patient is in the actor's clinic (else the
    same "not found" as a recommendation that does not exist)."""
    found = uow.db.execute(
        select(TitrationRecommendation, TreatmentCourse)
        .join(TreatmentCourse, TreatmentCourse.id == TitrationRecommendation.course_id)
        .join(Patient, Patient.id == TitrationRecommendation.patient_id)
        .where(
            TitrationRecommendation.id == recommendation_id,
            Patient.clinic_id == actor.clinic_id,
        )
    ).one_or_none()
    if found is None:
        raise NotFoundError(
            f"there is no titration recommendation {recommendation_id}",
            fields={"recommendation_id": recommendation_id},
        )
    recommendation, course = found
    return recommendation, course


def decide_titration(
    uow: UnitOfWork,
    recommendation_id: int,
    *,
    actor: Actor,
    policy: ClinicPolicy,
    resolver: MedicationResolver,
    password: str,
    mg_per_kg: float | None = None,
    reason: str = "",
    override_reason: str | None = None,
    meaning: str = DEFAULT_MEANING,
) -> DecisionRecord:
    """A prescriber accepts the recommendation (no dose given, or the same dose) or chooses
    another dose, which needs a reason; once per recommendation. The decision becomes the
    course's next order, planned like any plan and signed by the prescriber here (the module
    docstring says how).

    Past a soft limit the override reason is ``override_reason``, or else the decision's
    ``reason``; a plan whose screening stops the infusion needs ``override_reason`` itself
    (overriding a contraindication is not the same decision as choosing a dose).
    """
    require_role(actor, ("prescriber",), "deciding a titration")
    meaning = meaning.strip()
    if not meaning:
        raise InputError(
            "say what the signature means", code="input.missing", fields={"field": "meaning"}
        )
    check_signature_password(
        uow,
        password,
        actor=actor,
        action=AuditAction.TITRATION_DECIDE_REFUSED,
        entity=("titration_recommendation", recommendation_id),
    )
    with uow:
        recommendation, course = _recommendation_in_clinic(uow, recommendation_id, actor)
        recommended = recommendation.recommended_mg_per_kg
        chosen = _chosen_dose(mg_per_kg, recommended)
        overridden = not math.isclose(chosen, recommended, abs_tol=1e-9)
        if overridden and not reason.strip():
            raise InputError(
                f"choosing {chosen:g} mg/kg instead of the recommended {recommended:g} mg/kg "
                "needs a reason",
                code="input.missing",
                fields={"field": "reason"},
            )
        if uow.db.scalar(
            select(TitrationDecision.id).where(
                TitrationDecision.recommendation_id == recommendation_id
            )
        ):
            raise _already_decided(recommendation_id)
        soft_override = (override_reason or "").strip() or reason.strip() or None
        decided = {
            "titration_recommendation_id": recommendation_id,
            "titration_decision": "overridden" if overridden else "accepted",
        }
        try:
            plan = save_proposed_order(
                uow,
                recommendation.patient_id,
                PlanOrder(course.protocol_key, chosen, soft_override),
                actor=actor,
                policy=policy,
                resolver=resolver,
                inputs=decided,
            )
            state = record_signature(
                uow,
                plan,
                actor=actor,
                meaning=meaning,
                override_reason=override_reason,
                signer_name=None,
            )
        except SafetyLimitError as refused:
            uow.rollback()  # nothing of the decision is kept; the refusal is
            uow.audit(
                actor,
                AuditAction.TITRATION_DECIDE_REFUSED,
                "titration_recommendation",
                recommendation_id,
                patient_id=recommendation.patient_id,
                details={
                    "mg_per_kg": chosen,
                    "recommended_mg_per_kg": recommended,
                    "code": refused.code,
                    "message": refused.message,
                },
            )
            uow.commit()
            raise
        row = TitrationDecision(
            recommendation_id=recommendation_id,
            decision="overridden" if overridden else "accepted",
            mg_per_kg=chosen,
            reason=reason.strip(),
            decided_at=uow.clock(),
            decided_by=actor.user_id,
        )
        uow.db.add(row)
        try:
            uow.db.flush()
        except IntegrityError as taken:
            raise _already_decided(recommendation_id) from taken
        uow.audit(
            actor,
            AuditAction.TITRATION_DECIDE,
            "titration_recommendation",
            recommendation_id,
            patient_id=recommendation.patient_id,
            details={
                "decision": row.decision,
                "mg_per_kg": row.mg_per_kg,
                "recommended_mg_per_kg": recommended,
                "plan_id": plan.id,
                "signed_at": None if state.signed_at is None else state.signed_at.isoformat(),
            },
        )
        uow.commit()
        return DecisionRecord(
            row.id,
            recommendation_id,
            row.decision,
            row.mg_per_kg,
            row.reason,
            row.decided_at,
            plan.id,
        )


@dataclass(frozen=True, slots=True)
class TitrationView:
    """A course's latest recommendation as stored, with its decision once one is made."""

    titration: TitrationRecord
    created_at: datetime
    decision: DecisionRecord | None


def _decision_order(uow: UnitOfWork, recommendation: TitrationRecommendation) -> int | None:
    """The order a decision made: the patient's plan saved with the recommendation's id in its
    inputs (:func:`decide_titration`); None for decisions made before orders."""
    made = uow.db.execute(
        select(InfusionPlan.id, InfusionPlan.inputs).where(
            InfusionPlan.patient_id == recommendation.patient_id
        )
    )
    return next(
        (
            plan_id
            for plan_id, inputs in made
            if (inputs or {}).get("titration_recommendation_id") == recommendation.id
        ),
        None,
    )


def latest_titration(uow: UnitOfWork, course_id: int, *, actor: Actor) -> TitrationView | None:
    """The course's most recent recommendation and its decision (None before the first) with
    the order the decision made; what the course page shows so that a recommendation is
    decided where it was asked for. Audited as a read of the course's titration, whether or
    not there is one yet."""
    require_clinical_facts(actor, "a titration recommendation")
    with uow.reading():
        course = find_course(uow, course_id, actor)
        row = uow.db.scalars(
            select(TitrationRecommendation)
            .where(TitrationRecommendation.course_id == course.id)
            .order_by(TitrationRecommendation.id.desc())
            .limit(1)
        ).first()
        decided = (
            None
            if row is None
            else uow.db.scalars(
                select(TitrationDecision).where(TitrationDecision.recommendation_id == row.id)
            ).first()
        )
        order = None if row is None or decided is None else _decision_order(uow, row)
        uow.audit(
            actor,
            AuditAction.TITRATION_READ,
            "course",
            course.id,
            patient_id=course.patient_id,
            details={"recommendation_id": None if row is None else row.id},
        )
        uow.commit()
        if row is None:
            return None
        return TitrationView(
            TitrationRecord(row.id, row.patient_id, course.id, row.recommendation, row.basis),
            row.created_at,
            None
            if decided is None
            else DecisionRecord(
                decided.id,
                row.id,
                decided.decision,
                decided.mg_per_kg,
                decided.reason,
                decided.decided_at,
                order,
            ),
        )
