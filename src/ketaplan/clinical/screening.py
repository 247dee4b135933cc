"""Screening: may this patient be treated under this protocol, and what needs watching?

Findings are data, not errors: each has a stable ``code`` (``contraindication.<term>``,
``interaction.<class>``, ``patient.<fact>``, ``vitals.<fact>``), a severity (``block`` for an
absolute contraindication, ``caution`` for a relative one or an interaction, ``info``), a message
for the clinician and the source behind it. The eligibility status is the worst severity found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from ketaplan.clinical.catalog import Catalog, Protocol
from ketaplan.clinical.catalog.citations import POLICY, cited
from ketaplan.clinical.catalog.memo import remembered_per_object
from ketaplan.clinical.catalog.model import Severity
from ketaplan.clinical.medications import MedicationResolver, ResolvedMedication
from ketaplan.clinical.monitoring import MonitoringRules, check_vitals
from ketaplan.clinical.profile import ADULT_AGE_YEARS, PatientProfile

Status = Literal["eligible", "caution", "contraindicated"]

OLDER_ADULT_AGE_YEARS = 65
_ACTION_SEVERITY: dict[str, Severity] = {"hold_start": "block"}
"""A pre-infusion alert that holds the start blocks today's infusion; any other cautions."""


class Finding(NamedTuple):
    code: str
    severity: Severity
    message: str
    source: str


class Eligibility(NamedTuple):
    status: Status
    findings: tuple[Finding, ...]
    medications: tuple[ResolvedMedication, ...]

    @property
    def interaction_classes(self) -> tuple[str, ...]:
        """Interaction classes present, in the order the medications were listed."""
        if not self.medications:
            return ()
        return tuple(dict.fromkeys(c for m in self.medications for c in m.classes))


_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)
"""Screening alerts carry no clock time; the check-in time is the session's business."""

_RANK = {"info": 0, "caution": 1, "block": 2}
_STATUS: dict[int, Status] = {0: "eligible", 1: "caution", 2: "contraindicated"}


def _history_findings(profile: PatientProfile, catalog: Catalog) -> list[Finding]:
    terms = list(profile.history)
    if profile.pregnant:
        terms.append("pregnancy")
    if profile.breastfeeding:
        terms.append("breastfeeding")
    findings = []
    for term in terms:
        entry = catalog.contraindications[term]
        findings.append(
            Finding(
                f"contraindication.{term}",
                entry.severity,
                entry.message,
                catalog.cite(entry.source),
            )
        )
    return findings


def _patient_findings(
    profile: PatientProfile, protocol: Protocol, catalog: Catalog
) -> list[Finding]:
    findings = []
    age = profile.age_years
    if age is not None and age < ADULT_AGE_YEARS:
        findings.append(
            Finding(
                "patient.age_under_18",
                "block",
                f"Age {age}: these protocols are for adults; treating a minor needs a specialist "
                "protocol outside ketaplan's catalog.",
                catalog.cite("clinic_policy"),
            )
        )
    elif age is not None and age >= OLDER_ADULT_AGE_YEARS:
        findings.append(
            Finding(
                "patient.older_adult",
                "caution",
                f"Age {age}: age is a risk factor for severe blood-pressure rises during "
                "infusions; check blood pressure every 10 minutes.",
                catalog.cite("yale_2024"),
            )
        )
    if profile.alcohol in ("regular", "heavy"):
        findings.append(
            Finding(
                "interaction.alcohol",
                "caution",
                f"Alcohol use ({profile.alcohol}): alcohol blunts ketamine's effect on mood and "
                "adds sedation; no alcohol on infusion days.",
                catalog.cite("seed_001"),
            )
        )
    findings.extend(_protocol_findings(protocol, catalog))
    if profile.height_cm is None:
        findings.append(
            Finding(
                "patient.height_missing",
                "info",
                "Height not recorded: BMI unknown, so the dose uses actual body weight.",
                catalog.cite("clinic_policy"),
            )
        )
    return findings


@remembered_per_object
def _protocol_findings(protocol: Protocol, catalog: Catalog) -> tuple[Finding, ...]:
    """What every plan under the protocol carries: who monitors it (saying so when that is
    clinic policy) and the protocol's own cautions (mania screening, a safety plan, ...).
    The same for every patient, so worked out once per protocol."""
    source = protocol.sources.get("monitoring", POLICY)
    if protocol.monitoring == "anaesthesia_provider":
        message = (
            "High-dose protocol: given by an anaesthesiologist or anaesthetist with continuous "
            "monitoring and emergency equipment."
        )
    else:
        message = "Nurse-monitored infusion with continuous monitoring and emergency equipment."
    if source == POLICY:
        message += (
            " This monitoring level is clinic policy: no source gives it, and seed 003 has an "
            "anaesthesiologist or anaesthetist give every infusion."
        )
    findings = [
        Finding(
            f"monitoring.{protocol.monitoring}",
            "info",
            message,
            cited(catalog, source, protocol.quotes.get("monitoring")),
        )
    ]
    findings.extend(
        Finding(f"protocol.{c.code}", c.severity, c.message, cited(catalog, c.source, c.quote))
        for c in protocol.cautions
    )
    return tuple(findings)


def _medication_findings(
    medications: tuple[ResolvedMedication, ...], catalog: Catalog
) -> list[Finding]:
    findings = []
    by_class: dict[str, list[str]] = {}
    for med in medications:
        for cls in med.classes:
            by_class.setdefault(cls, []).append(med.typed)
    for cls, typed in by_class.items():
        entry = catalog.interaction_classes[cls]
        findings.append(
            Finding(
                f"interaction.{cls}",
                entry.severity,
                f"{entry.title} ({', '.join(typed)}): {entry.message}.",
                catalog.cite(entry.source),
            )
        )
    for med in medications:
        if med.unchecked and med.resolved_by != "unresolved":
            findings.append(_unchecked_finding(med, catalog))
        if med.resolved_by == "unresolved":
            hint = f" Did you mean {', '.join(med.suggestions)}?" if med.suggestions else ""
            findings.append(
                Finding(
                    "interaction.unknown_medication",
                    "caution",
                    f"Medication {med.typed!r} is not in the drug dictionary, so its interactions "
                    f"are unknown: check it by hand before dosing.{hint}",
                    catalog.cite("clinic_policy"),
                )
            )
    return findings


def medication_findings(
    medications: Sequence[str], catalog: Catalog, resolver: MedicationResolver
) -> list[Finding]:
    """The interactions, unknown medications and unrecognised words of a medication list, as
    screening finds them: what the record page shows when the list changes, before any plan
    (the same findings a plan's screening will carry)."""
    return _medication_findings(tuple(resolver.resolve(m) for m in medications), catalog)


def _unchecked_finding(med: ResolvedMedication, catalog: Catalog) -> Finding:
    """A caution for the words of an entry that were not recognised: they may name an
    ingredient (the "D" of a decongestant product, a second medication) that was not checked."""
    parts = ", ".join(repr(p) for p in med.unchecked)
    hints = catalog.medication_suffix_hints
    why = "; ".join(dict.fromkeys(hints[w] for p in med.unchecked for w in p.split() if w in hints))
    hint = f" ({why})" if why else ""
    near = f" Did you mean {', '.join(med.suggestions)}?" if med.suggestions else ""
    found = ", ".join(med.ingredients)
    return Finding(
        "interaction.unrecognised_text",
        "caution",
        f"Medication {med.typed!r} was read as {found}, but {parts} was not recognised and may "
        f"name another ingredient{hint}: check it by hand before dosing.{near}",
        catalog.cite("clinic_policy"),
    )


def _vitals_findings(
    profile: PatientProfile,
    protocol: Protocol,
    catalog: Catalog,
    monitoring: MonitoringRules,
) -> list[Finding]:
    """Pre-infusion vital signs against the clinic's monitoring rules for this category."""
    if profile.pre_infusion_vitals is None:
        return []
    alerts = check_vitals(
        profile.pre_infusion_vitals,
        "pre_infusion",
        monitoring.for_category(protocol.category),
        _NO_TIME,
    )
    return [
        Finding(
            a.code, _ACTION_SEVERITY.get(a.action, "caution"), a.message, catalog.cite(a.source)
        )
        for a in alerts
    ]


def screen(
    profile: PatientProfile,
    protocol: Protocol,
    catalog: Catalog,
    resolver: MedicationResolver,
    monitoring: MonitoringRules,
) -> Eligibility:
    """Contraindications, interactions, pre-infusion vitals and patient facts for one protocol.

    ``monitoring`` is the clinic's rules in force (its policy's): the pre-infusion readings are
    judged by the same thresholds as at the chair, never by defaults loaded here.
    """
    medications = tuple(resolver.resolve(m) for m in profile.medications)
    findings = (
        _history_findings(profile, catalog)
        + _medication_findings(medications, catalog)
        + _patient_findings(profile, protocol, catalog)
        + _vitals_findings(profile, protocol, catalog, monitoring)
    )
    return _judged(findings, medications)


def _judged(findings: list[Finding], medications: tuple[ResolvedMedication, ...]) -> Eligibility:
    findings.sort(key=lambda f: -_RANK[f.severity])
    worst = _RANK[findings[0].severity] if findings else 0
    return Eligibility(_STATUS[worst], tuple(findings), medications)


def with_findings(eligibility: Eligibility, findings: Iterable[Finding]) -> Eligibility:
    """The screening with the plan's own findings added (a dose the range minimum raised, a draw
    the stock cannot measure within tolerance): the prescriber reviews them with the rest."""
    extra = list(findings)
    if not extra:
        return eligibility
    return _judged([*eligibility.findings, *extra], eligibility.medications)


Verdict = Literal["eligible", "caution", "hold", "do_not_infuse"]
VERDICT_HEADLINES: dict[Verdict, str] = {
    "eligible": "Eligible: nothing found that stops or limits the infusion",
    "caution": "Caution: review each caution below before the infusion",
    "hold": "Hold the start: recheck the vital signs after rest and call the prescriber",
    "do_not_infuse": "Contraindicated: do not infuse (see the contraindications below)",
}
"""What each verdict tells staff, in one line: the CLI, the API and the pages all say this."""


def verdict_for(status: str, block_codes: Iterable[str]) -> Verdict:
    """The verdict of a status and the codes of its blocking findings: a block from
    pre-infusion readings alone is a *hold* (they may settle after rest); any other block
    means *do not infuse*. Saved screenings and plans carry both, so old rows get it too."""
    if status == "eligible":
        return "eligible"
    if status == "caution":
        return "caution"
    if all(code.startswith("vitals.") for code in block_codes):
        return "hold"
    return "do_not_infuse"


def verdict(eligibility: Eligibility) -> Verdict:
    """The verdict of a screening (see :func:`verdict_for`)."""
    return verdict_for(
        eligibility.status, (f.code for f in eligibility.findings if f.severity == "block")
    )


def eligibility_to_dict(eligibility: Eligibility) -> dict[str, Any]:
    """The verdict as JSON: the plan's ``eligibility`` key (README contract) and a saved
    screening share this one shape."""
    kind = verdict(eligibility)
    return {
        "status": eligibility.status,
        "verdict": kind,
        "headline": VERDICT_HEADLINES[kind],
        "findings": [
            {"code": f.code, "severity": f.severity, "message": f.message, "source": f.source}
            for f in eligibility.findings
        ],
        "medications": [
            {
                "typed": m.typed,
                "ingredients": list(m.ingredients),
                "classes": list(m.classes),
                "resolved_by": m.resolved_by,
                "unchecked": list(m.unchecked),
            }
            for m in eligibility.medications
        ],
    }
