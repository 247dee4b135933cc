"""Titration: a proposal for the next session's mg/kg, with its reasons.

Seed ``001``: start conservatively and adjust to the "sweet spot" where symptoms improve
without an overwhelming experience, using both tolerability during the infusions and the
response between them. The rules, in order:

1. Poorly tolerated last session (tolerability rating 3-4, a severe side effect, an
   in-infusion vital-sign or severe side-effect alert, two or more pauses): **decrease** one step.
2. Responding (score at least 50 % below baseline; pain NRS 30 %): **hold** the dose that works.
3. Mood protocols: well tolerated (rating 0-1, side effects mild at most, no alert, no pause)
   and no response yet (less than 25 % better): **increase** one cautious step (0.05 mg/kg);
   anything in between: **hold**. After three or more sessions without response the reasons
   say so: few patients respond later (Sanacora 2017); the prescriber reassesses the course.
4. Pain protocols: step towards the effective dose: **increase** one step (0.1 mg/kg) while
   the pain has not responded and the session was not poorly tolerated (fair tolerance holds).
   Without a pain score to judge (no baseline, or none since), **hold** and say which is
   missing: a pain protocol never steps up blind, not even to the range's lower bound.
5. Never an increase while the latest PHQ-9 item 9 (thoughts of being better off dead or of
   self-harm) is above 0 or has risen, or is unknown after an earlier positive answer: the
   proposal **holds** (a decrease for poor tolerance still stands) and the reasons say why;
   Kroenke 2001: item 9 above 0 needs a clinician's review the same day.

Each proposal also says where the primary scale stands: response against the baseline and
remission on the latest score (:func:`~ketaplan.clinical.outcomes.assess_outcome`).

The result lies inside the protocol's ``range_mg_per_kg`` (the soft band): a step that
would leave it stops at the bound and the reasons say so; a last dose given outside it (by a
prescriber's override) is brought back inside, also said, except that rules 4 and 5 never
raise a dose, so a dose below the range then holds where it is. The step sizes are clinic policy.
This is a proposal: a prescriber accepts or overrides it.

:func:`within_limits` then checks the proposal the way a plan is checked (the same
:func:`~ketaplan.clinical.limits.check_limits`): mg/kg, total mg on the patient's *dosing*
weight (ideal or adjusted for an obese patient when the clinic says so) and mg/kg/h. Past a
hard limit (a very heavy patient's total) the proposal is capped at the most the hard limits
allow, and the reasons name the limit; past a soft limit it is flagged ``needs_override``:
accepting it needs a prescriber's override with a reason, as for any plan.

The history's JSON form, and how it is read and refused, is
:mod:`~ketaplan.clinical.titration_input`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from ketaplan.clinical.catalog import Catalog, Protocol
from ketaplan.clinical.course import ScoreRecord
from ketaplan.clinical.dosing import Dose, total_mg
from ketaplan.clinical.limits import LimitCheck, check_limits
from ketaplan.clinical.outcomes import (
    Outcome,
    assess_outcome,
    scale,
)
from ketaplan.clinical.profile import DosingWeight, PatientProfile, dosing_weight

Action = Literal["increase", "hold", "decrease"]
Tolerance = Literal["good", "fair", "poor"]

STEP_MG_PER_KG: Mapping[str, float] = {"mood": 0.05, "pain": 0.1}
"""One titration step per category: clinic policy (no guideline gives a step size)."""
PARTIAL_RESPONSE_FRACTION = 0.25
"""Below this improvement there is no response at all; between it and response, partial."""
SESSIONS_BEFORE_REASSESSMENT = 3
"""Sanacora 2017: few respond after about three infusions without benefit."""


@dataclass(frozen=True, slots=True)
class SideEffectRecord:
    name: str
    severity: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """One past session as titration sees it."""

    number: int
    on: date
    mg_per_kg: float
    tolerability: int | None = None
    side_effects: tuple[SideEffectRecord, ...] = ()
    alerts: tuple[str, ...] = ()
    pauses: int = 0
    scores: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class History:
    """A patient's course so far: condition, weight, baseline, sessions, follow-up scores."""

    condition: str
    weight_kg: float
    baseline_scores: Mapping[str, int]
    sessions: tuple[SessionRecord, ...]
    follow_up: tuple[ScoreRecord, ...] = ()
    primary_scale: str | None = None
    height_cm: float | None = None
    sex: Literal["female", "male"] | None = None
    """Height and sex, when known, decide an obese patient's dosing weight."""
    phq9_item9: tuple[tuple[date, int | None], ...] = ()
    """Every PHQ-9 of the course in date order (baseline, sessions, follow-up) with its item 9
    answer, None when only the total was recorded."""


@dataclass(frozen=True, slots=True)
class Titration:
    """The proposal: next mg/kg, the action relative to the last dose, and every reason."""

    recommended_mg_per_kg: float
    action: Action
    reasons: tuple[str, ...]
    last_mg_per_kg: float | None
    range_mg_per_kg: tuple[float, float]
    tolerance: Tolerance | None
    primary_scale: str
    reduction_fraction: float | None
    dosing_weight_kg: float | None = None
    weight_basis: str | None = None
    limit_checks: tuple[LimitCheck, ...] = ()
    needs_override: bool = False
    """Past a soft limit: accepting it needs a prescriber's override with a reason."""
    capped: bool = False
    """The step would have passed a hard limit: capped at the most the limits allow."""
    outcome: Outcome | None = None
    """Response and remission of the primary scale (None before any score)."""

    def to_dict(self, weight_kg: float | None = None) -> dict[str, object]:
        data: dict[str, object] = {
            "recommended_mg_per_kg": self.recommended_mg_per_kg,
            "action": self.action,
            "reasons": list(self.reasons),
            "last_mg_per_kg": self.last_mg_per_kg,
            "range_mg_per_kg": list(self.range_mg_per_kg),
            "tolerance": self.tolerance,
            "primary_scale": self.primary_scale,
            "reduction_from_baseline": None
            if self.reduction_fraction is None
            else round(self.reduction_fraction, 3),
            "response": None if self.outcome is None else self.outcome.response,
            "remission": None if self.outcome is None else self.outcome.remission,
            "outcome": None if self.outcome is None else self.outcome.to_dict(),
            "proposal": "a prescriber accepts or overrides this recommendation",
        }
        if self.dosing_weight_kg is not None:
            data["recommended_mg"] = total_mg(self.recommended_mg_per_kg, self.dosing_weight_kg)
            data["dosing_weight_kg"] = self.dosing_weight_kg
            data["weight_basis"] = self.weight_basis
        elif weight_kg is not None:
            data["recommended_mg"] = round(self.recommended_mg_per_kg * weight_kg, 1)
        if self.limit_checks:
            data["limits"] = {
                "checks": [
                    {
                        "quantity": c.quantity,
                        "value": c.value,
                        "unit": c.unit,
                        "soft_max": c.soft_max,
                        "hard_max": c.hard_max,
                        "status": c.status,
                        "message": c.message,
                    }
                    for c in self.limit_checks
                ],
                "needs_override": self.needs_override,
                "capped": self.capped,
            }
        return data


def assess_tolerance(session: SessionRecord) -> tuple[Tolerance, list[str]]:
    """How the session was tolerated, and what the judgement rests on."""
    poor, fair = [], []
    rating = session.tolerability
    if rating is not None and rating >= 3:
        poor.append(f"tolerability rated {rating}/4")
    elif rating == 2:
        fair.append("tolerability rated 2/4")
    for effect in session.side_effects:
        if effect.severity == "severe":
            poor.append(f"severe {effect.name}")
        elif effect.severity == "moderate":
            fair.append(f"moderate {effect.name}")
    for code in session.alerts:
        if code.startswith(("vitals.in_", "side_effect.severe")):
            poor.append(f"alert {code} during the infusion")
        else:
            fair.append(f"alert {code}")
    if session.pauses >= 2:
        poor.append(f"{session.pauses} pauses")
    elif session.pauses == 1:
        fair.append("1 pause")
    if poor:
        return "poor", poor + fair
    if fair:
        return "fair", fair
    return "good", ["no side effect above mild, no alert, no pause, rating 0-1"]


def _primary(protocol: Protocol, history: History) -> str:
    if history.primary_scale:
        return scale(history.primary_scale).key
    return "pain_nrs" if protocol.category == "pain" else "phq9"


def recommend_next_dose(protocol: Protocol, history: History) -> Titration:
    """The next session's mg/kg for this protocol and history (see the module's rules)."""
    low, high = protocol.range_mg_per_kg
    primary = _primary(protocol, history)
    if not history.sessions:
        return Titration(
            recommended_mg_per_kg=protocol.start_mg_per_kg,
            action="hold",
            reasons=(
                f"no session yet: the protocol's starting dose {protocol.start_mg_per_kg:g} "
                f"mg/kg (source {protocol.source_of('start_mg_per_kg')})",
            ),
            last_mg_per_kg=None,
            range_mg_per_kg=(low, high),
            tolerance=None,
            primary_scale=primary,
            reduction_fraction=None,
        )
    last = history.sessions[-1]
    current = last.mg_per_kg
    reasons: list[str] = []
    tolerance, why = assess_tolerance(last)
    reasons.append(
        f"session {last.number} at {current:g} mg/kg tolerated {tolerance}: {'; '.join(why)}"
    )

    baseline = history.baseline_scores.get(primary)
    scored = [s.scores[primary] for s in history.sessions if primary in s.scores]
    scored += [r.total for r in history.follow_up if scale(r.scale).key == primary]
    fraction: float | None = None
    status = "unknown"
    if baseline is None and len(scored) >= 2:
        baseline = scored[0]
        reasons.append(f"no baseline {primary}: the first session's score {baseline} serves")
    outcome = assess_outcome(primary, baseline, scored[-1]) if scored else None
    if outcome is not None and outcome.reduction_fraction is not None:
        fraction = outcome.reduction_fraction
        if outcome.response:
            status = "response"
        elif fraction >= PARTIAL_RESPONSE_FRACTION:
            status = "partial"
        else:
            status = "none"
        partial = "; partial response (25 % or more below baseline)" if status == "partial" else ""
        reasons.append(outcome.reason + partial)
    else:
        missing = {
            (False, False): f"a baseline {primary} and a {primary} since",
            (False, True): f"a baseline {primary}",
            (True, False): f"a {primary} since the baseline",
        }[(baseline is not None, bool(scored))]
        reasons.append(f"response cannot be judged: {missing} is missing")
        if outcome is not None:
            reasons.append(outcome.reason)

    step = STEP_MG_PER_KG[protocol.category]
    target = current
    if tolerance == "poor":
        target = current - step
        reasons.append(f"poorly tolerated: lower by one step ({step:g} mg/kg)")
    elif status == "response":
        reasons.append("responding: keep the dose that works")
    elif protocol.category == "mood":
        if tolerance == "good" and status == "none":
            target = current + step
            reasons.append(f"well tolerated without response: step up cautiously by {step:g} mg/kg")
        elif status == "partial":
            reasons.append("partial response: hold and reassess after the next session")
        elif tolerance == "fair":
            reasons.append("side effects or alerts last time: hold rather than step up")
        else:
            reasons.append("hold until a score shows how the patient responds")
        without = sum(1 for _ in history.sessions)
        if status == "none" and without >= SESSIONS_BEFORE_REASSESSMENT:
            reasons.append(
                f"{without} sessions without response: few patients respond later "
                "(Sanacora 2017); the prescriber reassesses whether to continue"
            )
    elif status == "unknown":
        reasons.append(
            f"no {primary} to judge the pain by: hold; record the pain score at baseline and "
            "at each session before any step up"
        )
    elif tolerance == "good":
        target = current + step
        reasons.append(
            f"pain not yet responding and well tolerated: step towards the effective dose by "
            f"{step:g} mg/kg"
        )
    else:
        reasons.append("pain not yet responding but side effects last time: hold")

    target = round(target, 4)
    if target > high:
        reasons.append(
            f"the protocol range tops out at {high:g} mg/kg (range_mg_per_kg, source "
            f"{protocol.source_of('range_mg_per_kg')}): the recommendation stays at "
            "the upper bound; going higher needs a prescriber's override"
        )
        target = high
    elif target < low:
        reasons.append(
            f"the protocol range starts at {low:g} mg/kg: the recommendation stays at the "
            "lower bound; below it the prescriber decides whether to continue"
        )
        target = low
    if protocol.category == "pain" and status == "unknown" and target > current + 1e-9:
        target = current
        reasons.append(
            f"without a {primary} the dose is not raised, even to the range's lower bound: "
            f"hold at {current:g} mg/kg"
        )
    concern = suicidality_concern(history)
    if concern is not None:
        if target > current + 1e-9:
            target = current
            reasons.append(f"{concern}: no increase; hold at {current:g} mg/kg")
        else:
            reasons.append(f"{concern}: titration proposes no increase")
    elif target > current + 1e-9 and history.phq9_item9 and history.phq9_item9[-1][1] is None:
        reasons.append(
            "the latest PHQ-9 was recorded without its item answers: check that item 9 "
            "(thoughts of being better off dead or of self-harm) is 0 before stepping up"
        )
    if target > current + 1e-9:
        action: Action = "increase"
    elif target < current - 1e-9:
        action = "decrease"
    else:
        action = "hold"
    return Titration(
        recommended_mg_per_kg=target,
        action=action,
        reasons=tuple(reasons),
        last_mg_per_kg=current,
        range_mg_per_kg=(low, high),
        tolerance=tolerance,
        primary_scale=primary,
        reduction_fraction=fraction,
        outcome=outcome,
    )


def suicidality_concern(history: History) -> str | None:
    """Why PHQ-9 item 9 forbids an increase now, or None (module rule 5).

    Item 9 asks about thoughts of being better off dead or of self-harm; Kroenke 2001: any
    answer above 0 needs a clinician's review the same day. An increase waits while the
    latest answer is above 0 (or rose), or while the latest PHQ-9 was recorded without its
    items after an earlier positive answer.
    """
    answers = history.phq9_item9
    if not answers:
        return None
    review = "a clinician reviews the patient the same day (Kroenke 2001)"
    on, latest = answers[-1]
    known = [(d, a) for d, a in answers if a is not None]
    if latest is None:
        positive = [(d, a) for d, a in known if a > 0]
        if not positive:
            return None
        when, value = positive[-1]
        return (
            f"PHQ-9 item 9 was {value} on {when.isoformat()} and the latest PHQ-9 "
            f"({on.isoformat()}) was recorded without its item answers: confirm item 9 first; "
            + review
        )
    if latest == 0:
        return None
    risen = ""
    if len(known) >= 2 and latest > known[-2][1]:
        risen = f", risen from {known[-2][1]} on {known[-2][0].isoformat()}"
    return (
        f"PHQ-9 item 9 (thoughts of being better off dead or of self-harm) is {latest} on "
        f"{on.isoformat()}{risen}: {review}"
    )


def _checks(mg_per_kg: float, protocol: Protocol, weight: DosingWeight) -> tuple[LimitCheck, ...]:
    dose = Dose(
        dosing_weight_kg=weight.weight_kg,
        weight_basis=weight.basis,
        mg_per_kg=mg_per_kg,
        total_mg=total_mg(mg_per_kg, weight.weight_kg),
        duration_min=protocol.infusion_min,
        rate_mg_per_kg_per_h=mg_per_kg * 60.0 / protocol.infusion_min,
        personalised_mg_per_kg=mg_per_kg,
        explanation=(),
    )
    return check_limits(dose, protocol)


def _most_within_hard_limits(protocol: Protocol, weight_kg: float) -> float:
    """The largest mg/kg, in 0.01 steps, whose mg/kg, total mg and mg/kg/h pass the hard limits."""
    limits = protocol.limits
    top = min(
        limits.hard_max_mg_per_kg,
        limits.hard_max_total_mg / weight_kg,
        limits.hard_max_mg_per_kg_per_h * protocol.infusion_min / 60.0,
    )
    capped = math.floor(top * 100 + 1e-9) / 100
    while capped > 0.01 and total_mg(capped, weight_kg) > limits.hard_max_total_mg + 1e-9:
        capped = round(capped - 0.01, 2)
    return capped


def within_limits(titration: Titration, protocol: Protocol, weight: DosingWeight) -> Titration:
    """The proposal checked against every limit a plan is checked against, on the dosing
    weight: capped (and said) past a hard limit, flagged past a soft one (module docstring)."""
    reasons = list(titration.reasons)
    mg_per_kg = titration.recommended_mg_per_kg
    reasons.append(
        f"dosing weight {weight.weight_kg:g} kg ({weight.basis} body weight: {weight.reason}): "
        f"{mg_per_kg:g} mg/kg is {total_mg(mg_per_kg, weight.weight_kg):g} mg"
    )
    checks = _checks(mg_per_kg, protocol, weight)
    hard = [c for c in checks if c.status == "hard"]
    capped = False
    if hard:
        capped = True
        mg_per_kg = _most_within_hard_limits(protocol, weight.weight_kg)
        checks = _checks(mg_per_kg, protocol, weight)
        reasons.append(
            "; ".join(c.message for c in hard)
            + f" (hard limits cannot be overridden): the proposal is capped at {mg_per_kg:g} "
            f"mg/kg ({total_mg(mg_per_kg, weight.weight_kg):g} mg), the most the hard limits "
            "allow"
        )
    soft = [c for c in checks if c.status != "within"]
    if soft:
        reasons.append(
            "past a soft limit: "
            + "; ".join(c.message for c in soft)
            + ": accepting it needs a prescriber's override with the clinical reason"
        )
    action = titration.action
    last = titration.last_mg_per_kg
    if capped and last is not None:
        action = (
            "increase"
            if mg_per_kg > last + 1e-9
            else "decrease"
            if mg_per_kg < last - 1e-9
            else "hold"
        )
    return replace(
        titration,
        recommended_mg_per_kg=mg_per_kg,
        action=action,
        reasons=tuple(reasons),
        dosing_weight_kg=weight.weight_kg,
        weight_basis=weight.basis,
        limit_checks=checks,
        needs_override=bool(soft),
        capped=capped,
    )


def history_dosing_weight(history: History, protocol: Protocol, catalog: Catalog) -> DosingWeight:
    """The dosing weight for a history document's patient, by the clinic's basis (what
    :func:`within_limits` checks a proposal on)."""
    profile = PatientProfile(
        weight_kg=history.weight_kg, height_cm=history.height_cm, sex=history.sex
    )
    return dosing_weight(profile, protocol, catalog)


def series_end_scores(history: History) -> dict[str, int]:
    """Each scale's latest score during the series: the reference for relapse detection."""
    ends: dict[str, int] = {}
    for session in history.sessions:
        ends.update(session.scores)
    return ends


def history_outcomes(history: History) -> tuple[Outcome, ...]:
    """Response and remission of each symptom scale: its latest score (the last follow-up, else
    the series' last) against its baseline."""
    latest = series_end_scores(history)
    for record in sorted(history.follow_up, key=lambda r: r.on):
        latest[scale(record.scale).key] = record.total
    return tuple(
        assess_outcome(key, history.baseline_scores.get(key), total)
        for key, total in latest.items()
        if scale(key).category != "tolerability"
    )
