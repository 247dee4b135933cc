"""Outcome scales: exact scoring, severity bands, response, remission and relapse.

Measurement-based care (seed ``001``) means every session is judged against numbers a patient
gave: the questionnaire total, its band, and how far it has moved from the baseline. Scoring
follows each scale's published rules, cited on the scale; ketaplan ships no item texts, only
the arithmetic (the PHQ-9 and GAD-7 are free to use, the PCL-5 is public domain; the QIDS-SR16
scoring rules are published in Rush 2003).

A flagged answer (PHQ-9 item 9 above 0) is a finding returned as data, never an exception;
malformed answers (wrong count, missing, out of range) are :class:`~ketaplan.errors.InputError`.

Examples
--------
>>> result = score("phq9", [1, 2, 0, 1, 3, 0, 1, 2, 0])
>>> result.total, result.severity, result.flags
(10, 'moderate', ())
>>> score("phq9", [0, 0, 0, 0, 0, 0, 0, 0, 1]).flags
('phq9.item9_positive',)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ketaplan.errors import InputError

ScaleKey = Literal["phq9", "gad7", "pcl5", "qids_sr16", "pain_nrs", "tolerability"]


@dataclass(frozen=True, slots=True)
class Scale:
    """A questionnaire's shape and published scoring rules.

    ``bands`` are ``(lowest total, label)`` pairs in ascending order; ``response_fraction`` is
    the reduction from baseline that counts as response; ``remission_max`` is the highest
    total that counts as remission (``None`` when the scale defines none); ``relapse_min`` is
    the lowest total of the scale's "moderate" band, used to say that symptoms persist;
    ``reliable_change_points`` is the smallest rise of one patient's total that is more than
    measurement noise, with ``reliable_change_source`` saying where it comes from (or that it
    is clinic policy). Relapse (:func:`detect_relapse`) uses remission and reliable change only.
    """

    key: ScaleKey
    title: str
    items: int
    item_max: int
    bands: tuple[tuple[int, str], ...]
    response_fraction: float
    remission_max: int | None
    relapse_min: int
    source: str
    category: Literal["mood", "pain", "tolerability"]
    reliable_change_points: int | None = None
    reliable_change_source: str = ""

    @property
    def total_max(self) -> int:
        return self.items * self.item_max if self.key != "qids_sr16" else 27

    def band(self, total: int) -> str:
        """The severity label of a total."""
        label = self.bands[0][1]
        for lowest, name in self.bands:
            if total >= lowest:
                label = name
        return label


SCALES: Mapping[str, Scale] = {
    "phq9": Scale(
        key="phq9",
        title="Patient Health Questionnaire-9",
        items=9,
        item_max=3,
        bands=(
            (0, "minimal"),
            (5, "mild"),
            (10, "moderate"),
            (15, "moderately_severe"),
            (20, "severe"),
        ),
        response_fraction=0.5,
        remission_max=4,
        relapse_min=10,
        source="Kroenke, Spitzer & Williams, J Gen Intern Med 2001;16:606-613",
        category="mood",
        reliable_change_points=5,
        reliable_change_source=(
            "Löwe, Unützer, Callahan, Perkins & Kroenke, Med Care 2004;42:1194-1201: the PHQ-9's "
            "minimal clinically important individual change (2 standard errors of measurement) "
            "is 5 points; McMillan, Gilbody & Richards, J Affect Disord 2010;127:122-129 "
            "recommend a reliable change index for individual outcome"
        ),
    ),
    "gad7": Scale(
        key="gad7",
        title="Generalized Anxiety Disorder-7",
        items=7,
        item_max=3,
        bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
        response_fraction=0.5,
        remission_max=4,
        relapse_min=10,
        source="Spitzer, Kroenke, Williams & Löwe, Arch Intern Med 2006;166:1092-1097",
        category="mood",
        reliable_change_points=4,
        reliable_change_source=(
            "Toussaint et al., J Affect Disord 2020;265:395-401: minimal clinically important "
            "difference of the GAD-7 estimated at 4 points"
        ),
    ),
    "pcl5": Scale(
        key="pcl5",
        title="PTSD Checklist for DSM-5",
        items=20,
        item_max=4,
        bands=((0, "below_cutoff"), (31, "at_or_above_cutoff")),
        response_fraction=0.5,
        remission_max=None,
        relapse_min=31,
        source="National Center for PTSD, PTSD Checklist for DSM-5 (PCL-5), public domain",
        category="mood",
        reliable_change_points=15,
        reliable_change_source=(
            "Marx et al., Psychol Assess 2022;34:197-203: reliable change index of the PCL-5 15 "
            "points (sample 1; 18 in sample 2)"
        ),
    ),
    "qids_sr16": Scale(
        key="qids_sr16",
        title="Quick Inventory of Depressive Symptomatology, Self-Report (16 items)",
        items=16,
        item_max=3,
        bands=((0, "none"), (6, "mild"), (11, "moderate"), (16, "severe"), (21, "very_severe")),
        response_fraction=0.5,
        remission_max=5,
        relapse_min=11,
        source="Rush et al., Biol Psychiatry 2003;54:573-583; STAR*D",
        category="mood",
        reliable_change_points=5,
        reliable_change_source=(
            "clinic policy: no reliable-change value for the QIDS-SR16 in ketaplan's sources; 5 "
            "points by analogy with the PHQ-9 (same 0-27 range, Löwe 2004); review"
        ),
    ),
    "pain_nrs": Scale(
        key="pain_nrs",
        title="Pain numeric rating scale (0-10)",
        items=1,
        item_max=10,
        bands=((0, "none"), (1, "mild"), (4, "moderate"), (7, "severe")),
        response_fraction=0.3,
        remission_max=None,
        relapse_min=4,
        source="Pain NRS 0-10; response >= 30 % reduction (clinical/REFERENCE.md section 4, "
        "to confirm); bands 1-3 / 4-6 / 7-10 are the common convention, clinic policy",
        category="pain",
        reliable_change_points=2,
        reliable_change_source=(
            "Farrar, Young, LaMoreaux, Werth & Poole, Pain 2001;94:149-158: a change of about 2 "
            "points (30 %) on the 0-10 numerical rating scale is clinically important"
        ),
    ),
    "tolerability": Scale(
        key="tolerability",
        title="ketaplan session tolerability / dissociation rating (0-4)",
        items=1,
        item_max=4,
        bands=((0, "none"), (1, "mild"), (2, "moderate"), (3, "marked"), (4, "severe")),
        response_fraction=1.0,
        remission_max=None,
        relapse_min=5,
        source="ketaplan's own rating, clinic policy (see TOLERABILITY_ANCHORS)",
        category="tolerability",
    ),
}

TOLERABILITY_ANCHORS: Mapping[int, str] = {
    0: "none: no dissociation or discomfort noticed",
    1: "mild: altered perception noticed, comfortable, no intervention",
    2: "moderate: clear dissociation, tolerable with reassurance",
    3: "marked: distressing; needed a pause, a lower rate or an adjunct",
    4: "severe: intolerable; infusion stopped early",
}
"""Anchors of ketaplan's per-session 0-4 tolerability / dissociation rating, rated by the nurse
with the patient at the end of the infusion. Not a validated instrument (the CADSS, Bremner
1998, is; its items are not shipped): a simple shared language for titration, clinic policy."""

PCL5_CLUSTERS: Mapping[str, tuple[int, int]] = {
    "B": (1, 5),
    "C": (6, 7),
    "D": (8, 14),
    "E": (15, 20),
}
"""DSM-5 symptom clusters of the PCL-5, by item number (National Center for PTSD)."""

PCL5_CLUSTER_MINIMUM: Mapping[str, int] = {"B": 1, "C": 1, "D": 2, "E": 2}
PCL5_ENDORSED_AT = 2
PCL5_CUTOFF_RANGE = (31, 33)


@dataclass(frozen=True, slots=True)
class Score:
    """A scored questionnaire: total, band, flags for clinician review, scale-specific details."""

    scale: str
    total: int
    severity: str
    flags: tuple[str, ...] = ()
    answers: tuple[int, ...] = ()
    details: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "scale": self.scale,
            "total": self.total,
            "severity": self.severity,
            "flags": list(self.flags),
            **self.details,
        }


def scale(key: str) -> Scale:
    """The scale for a key (``phq9``, ``gad7``, ``pcl5``, ``qids_sr16``, ``pain_nrs``...)."""
    normalised = key.strip().lower().replace("-", "_")
    aliases = {"qids": "qids_sr16", "qids_sr": "qids_sr16", "nrs": "pain_nrs", "pain": "pain_nrs"}
    found = SCALES.get(aliases.get(normalised, normalised))
    if found is None:
        raise InputError(
            f"unknown scale {key!r} (known: {', '.join(SCALES)})",
            code="input.unknown_scale",
            fields={"field": "scale", "value": key, "accepted": list(SCALES)},
        )
    return found


def parse_answers(text: str) -> tuple[int, ...]:
    """Answers typed as ``"1,2,0,1"`` (spaces allowed), as whole numbers; blanks are refused."""
    parts = [p.strip() for p in text.split(",")]
    answers = []
    for position, part in enumerate(parts, start=1):
        if not part:
            raise InputError(
                f"answer {position} is missing; give every item as a whole number, "
                "separated by commas",
                code="input.missing",
                fields={"field": "answers", "item": position},
            )
        try:
            answers.append(int(part))
        except ValueError:
            raise InputError(
                f"answer {position} is {part!r}, not a whole number",
                code="input.not_a_number",
                fields={"field": "answers", "item": position, "value": part},
            ) from None
    return tuple(answers)


def _validated(spec: Scale, answers: Sequence[object]) -> tuple[int, ...]:
    if len(answers) != spec.items:
        raise InputError(
            f"{spec.key} has {spec.items} items; got {len(answers)} answers",
            code="input.wrong_count",
            fields={"field": "answers", "expected": spec.items, "got": len(answers)},
        )
    checked = []
    for position, value in enumerate(answers, start=1):
        if value is None:
            raise InputError(
                f"{spec.key} item {position} is missing; every item must be answered",
                code="input.missing",
                fields={"field": "answers", "item": position},
            )
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(
                f"{spec.key} item {position} is {value!r}, not a whole number 0-{spec.item_max}",
                code="input.not_a_number",
                fields={"field": "answers", "item": position, "value": repr(value)},
            )
        if not 0 <= value <= spec.item_max:
            raise InputError(
                f"{spec.key} item {position} is {value}; accepted 0-{spec.item_max}",
                code="input.out_of_range",
                fields={"field": "answers", "item": position, "value": value},
            )
        checked.append(value)
    return tuple(checked)


def score_phq9(answers: Sequence[object]) -> Score:
    """PHQ-9: the sum of nine items 0-3 (0-27), bands 5 / 10 / 15 / 20 (Kroenke 2001).

    Item 9 (thoughts of being better off dead or of self-harm) above 0 raises
    ``phq9.item9_positive``: a clinician reviews the patient the same day.
    """
    spec = SCALES["phq9"]
    items = _validated(spec, answers)
    total = sum(items)
    flags = ("phq9.item9_positive",) if items[8] > 0 else ()
    return Score("phq9", total, spec.band(total), flags, items)


def score_gad7(answers: Sequence[object]) -> Score:
    """GAD-7: the sum of seven items 0-3 (0-21), bands 5 / 10 / 15 (Spitzer 2006).

    A total of 10 or more screens positive for an anxiety disorder (flag ``gad7.screen_positive``).
    """
    spec = SCALES["gad7"]
    items = _validated(spec, answers)
    total = sum(items)
    flags = ("gad7.screen_positive",) if total >= 10 else ()
    return Score("gad7", total, spec.band(total), flags, items)


def score_pcl5(answers: Sequence[object]) -> Score:
    """PCL-5: twenty items 0-4 (0-80), cluster sums and the DSM-5 provisional diagnosis.

    National Center for PTSD: an item rated 2 ("moderately") or higher counts as an endorsed
    symptom; a provisional PTSD diagnosis needs at least one B item (1-5), one C item (6-7),
    two D items (8-14) and two E items (15-20). A total of 31-33 or more is the suggested
    cut-off for probable PTSD; ketaplan bands at its lower end, 31, and reports the range.
    """
    spec = SCALES["pcl5"]
    items = _validated(spec, answers)
    total = sum(items)
    clusters = {name: sum(items[first - 1 : last]) for name, (first, last) in PCL5_CLUSTERS.items()}
    endorsed = {
        name: sum(1 for v in items[first - 1 : last] if v >= PCL5_ENDORSED_AT)
        for name, (first, last) in PCL5_CLUSTERS.items()
    }
    provisional = all(endorsed[name] >= need for name, need in PCL5_CLUSTER_MINIMUM.items())
    flags = []
    if provisional:
        flags.append("pcl5.provisional_ptsd")
    if total >= PCL5_CUTOFF_RANGE[0]:
        flags.append("pcl5.above_cutoff")
    return Score(
        "pcl5",
        total,
        spec.band(total),
        tuple(flags),
        items,
        {
            "provisional_ptsd": provisional,
            "clusters": clusters,
            "endorsed_per_cluster": endorsed,
            "cutoff_range": list(PCL5_CUTOFF_RANGE),
        },
    )


def score_qids_sr16(answers: Sequence[object]) -> Score:
    """QIDS-SR16: nine DSM-IV domains from sixteen items 0-3, total 0-27 (Rush 2003).

    Sleep is the highest of items 1-4, appetite/weight the highest of items 6-9, psychomotor
    the highest of items 15-16; items 5 and 10-14 count once each. Bands 6 / 11 / 16 / 21;
    remission is 5 or less. Item 12 (thoughts of death or suicide) above 0 raises
    ``qids_sr16.item12_positive`` for same-day clinician review.
    """
    spec = SCALES["qids_sr16"]
    items = _validated(spec, answers)

    def item(n: int) -> int:
        return items[n - 1]

    domains = {
        "sleep": max(item(1), item(2), item(3), item(4)),
        "sad_mood": item(5),
        "appetite_weight": max(item(6), item(7), item(8), item(9)),
        "concentration": item(10),
        "self_view": item(11),
        "suicidal_ideation": item(12),
        "interest": item(13),
        "energy": item(14),
        "psychomotor": max(item(15), item(16)),
    }
    total = sum(domains.values())
    flags = ("qids_sr16.item12_positive",) if item(12) > 0 else ()
    return Score("qids_sr16", total, spec.band(total), flags, items, {"domains": domains})


def score_pain_nrs(answers: Sequence[object]) -> Score:
    """Pain NRS: one rating 0-10 (0 no pain, 10 worst imaginable)."""
    spec = SCALES["pain_nrs"]
    items = _validated(spec, answers)
    return Score("pain_nrs", items[0], spec.band(items[0]), (), items)


def score_tolerability(answers: Sequence[object]) -> Score:
    """ketaplan's 0-4 session tolerability / dissociation rating (see TOLERABILITY_ANCHORS).

    A rating of 3 or more raises ``tolerability.poorly_tolerated``, which titration weighs.
    """
    spec = SCALES["tolerability"]
    items = _validated(spec, answers)
    flags = ("tolerability.poorly_tolerated",) if items[0] >= 3 else ()
    return Score("tolerability", items[0], spec.band(items[0]), flags, items)


_SCORERS = {
    "phq9": score_phq9,
    "gad7": score_gad7,
    "pcl5": score_pcl5,
    "qids_sr16": score_qids_sr16,
    "pain_nrs": score_pain_nrs,
    "tolerability": score_tolerability,
}


def score(scale_key: str, answers: Sequence[object]) -> Score:
    """Score a questionnaire by scale key; refuses a wrong count, a gap or an out-of-range item."""
    return _SCORERS[scale(scale_key).key](answers)


def validate_total(scale_key: str, total: object) -> int:
    """A total reported without items (e.g. from an older chart), checked against the range."""
    spec = scale(scale_key)
    if isinstance(total, bool) or not isinstance(total, int) or not 0 <= total <= spec.total_max:
        raise InputError(
            f"{spec.key} total {total!r} is not a whole number 0-{spec.total_max}",
            code="input.out_of_range",
            fields={"field": spec.key, "value": repr(total), "accepted": [0, spec.total_max]},
        )
    return total


# ----------------------------------------------------------------- change over time ----------


def reduction_fraction(baseline_total: int, current_total: int) -> float:
    """The fraction by which a score fell from baseline (negative when it rose).

    A baseline of 0 leaves nothing to reduce: the fraction is 0.
    """
    if baseline_total <= 0:
        return 0.0
    return (baseline_total - current_total) / baseline_total


def is_response(scale_key: str, baseline_total: int, current_total: int) -> bool:
    """Response: at least 50 % below baseline for mood scales, 30 % for pain NRS.

    Sources: clinical/REFERENCE.md section 4 (response >= 50 % for depression, anxiety and PTSD
    scales; pain response commonly >= 30 %, to confirm).
    """
    spec = scale(scale_key)
    return reduction_fraction(baseline_total, current_total) >= spec.response_fraction - 1e-9


def is_remission(scale_key: str, total: int) -> bool:
    """Remission: PHQ-9 < 5, GAD-7 < 5, QIDS-SR16 <= 5; scales without a definition: False."""
    spec = scale(scale_key)
    return spec.remission_max is not None and total <= spec.remission_max


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where a scale stands against its baseline: response and remission, each with its rule.

    ``response`` is None without a baseline; ``remission`` is None for a scale that defines
    none (PCL-5, pain NRS).
    """

    scale: str
    baseline: int | None
    latest: int
    reduction_fraction: float | None
    response: bool | None
    remission: bool | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "scale": self.scale,
            "baseline": self.baseline,
            "latest": self.latest,
            "reduction_from_baseline": None
            if self.reduction_fraction is None
            else round(self.reduction_fraction, 3),
            "response": self.response,
            "remission": self.remission,
            "reason": self.reason,
        }


def assess_outcome(scale_key: str, baseline_total: int | None, latest_total: int) -> Outcome:
    """Response (against the baseline) and remission (on the latest total), said in words."""
    spec = scale(scale_key)
    parts = []
    fraction = response = None
    if baseline_total is None:
        parts.append(f"{spec.key} {latest_total}: no baseline, response cannot be judged")
    else:
        fraction = reduction_fraction(baseline_total, latest_total)
        response = fraction >= spec.response_fraction - 1e-9
        parts.append(
            f"{spec.key} {baseline_total} -> {latest_total}: {fraction:.0%} change from "
            f"baseline, {'response' if response else 'no response'} (response is "
            f"{spec.response_fraction:.0%} or more below baseline)"
        )
    remission = None
    if spec.remission_max is None:
        parts.append(f"{spec.key} defines no remission cut-off")
    else:
        remission = latest_total <= spec.remission_max
        parts.append(
            f"{'remission' if remission else 'not in remission'} (remission is "
            f"{spec.remission_max} or less; {spec.source})"
        )
    return Outcome(
        spec.key, baseline_total, latest_total, fraction, response, remission, "; ".join(parts)
    )


RelapseRule = Literal["left_remission", "reliable_change"]


@dataclass(frozen=True, slots=True)
class Relapse:
    """The outcome of checking post-series scores for returning symptoms, with its reason and
    the rule that fired (None when no relapse)."""

    scale: str
    relapsed: bool
    reason: str
    at_index: int | None = None
    rule: RelapseRule | None = None


def detect_relapse(
    scale_key: str, series_end_total: int, follow_up_totals: Sequence[int]
) -> Relapse:
    """Whether symptoms have come back after the series, judged on the latest follow-up score.

    A relapse is either (seed ``000``: "if you feel your symptoms begin to creep back up, we
    recommend a booster"):

    * ``left_remission``: the series ended in remission (PHQ-9 and GAD-7 4 or less, QIDS-SR16 5
      or less) and the latest score is out of it; or
    * ``reliable_change``: the latest score is at least the scale's reliable change above the
      end of the series (PHQ-9 5 points, Löwe 2004; GAD-7 4, Toussaint 2020; PCL-5 15, Marx
      2022; pain NRS 2, Farrar 2001; QIDS-SR16 5, clinic policy; see each scale's
      ``reliable_change_source``).

    A score still inside remission is never a relapse, however it moved: a rise inside
    remission is measurement noise. A smaller rise, even across a band boundary, is not a
    relapse either; the reason then says that symptoms persist when the score is in the
    moderate band or above.
    """
    spec = scale(scale_key)
    if not follow_up_totals:
        return Relapse(spec.key, False, "no follow-up score yet")
    latest = follow_up_totals[-1]
    index = len(follow_up_totals) - 1
    rise = latest - series_end_total
    change = f"{spec.key} {series_end_total} at the end of the series -> {latest}"
    threshold = spec.reliable_change_points
    reliable = f"reliable change is {threshold} points ({spec.reliable_change_source})"
    remission_max = spec.remission_max
    if remission_max is not None and latest <= remission_max:
        return Relapse(
            spec.key,
            False,
            f"{change}: still in remission ({remission_max} or less); a change inside "
            "remission is not a relapse",
            index,
        )
    if remission_max is not None and series_end_total <= remission_max:
        return Relapse(
            spec.key,
            True,
            f"{change}: relapse, out of remission (remission is {remission_max} or less; "
            f"{spec.source})",
            index,
            "left_remission",
        )
    if threshold is not None and rise >= threshold:
        return Relapse(
            spec.key,
            True,
            f"{change}: relapse, a rise of {rise} points; {reliable}",
            index,
            "reliable_change",
        )
    reason = f"{change}: a change of {rise:+d} points is within measurement noise; {reliable}"
    if latest >= spec.relapse_min:
        reason += (
            f"; {spec.key} {latest} is {spec.band(latest)}: symptoms persist (not a "
            "relapse); review the course with the prescriber"
        )
    return Relapse(spec.key, False, reason, index)
