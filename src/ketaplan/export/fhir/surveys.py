"""Scores: each questionnaire as a Questionnaire, each answered one as a QuestionnaireResponse
item by item, and its total as a screening-assessment Observation derived from it."""

from __future__ import annotations

from typing import Any

from ketaplan.clinical.outcomes import SCALES
from ketaplan.export.fhir.codes import code_table
from ketaplan.export.fhir.common import KETAPLAN_URN, fhir_id, instant, profiled, ref
from ketaplan.export.fhir.people import patient_id, practitioner_id
from ketaplan.export.fhir.source import PatientRows
from ketaplan.store.models import QuestionnaireResponse

QUESTIONNAIRE_VERSION = "1"
"""Bumped when a Questionnaire's items change, so old responses keep naming the old form."""

ITEM_CODES: dict[str, tuple[str, ...]] = {
    "phq9": tuple(f"phq9_item{n}" for n in range(1, 10)),
    "gad7": tuple(f"gad7_item{n}" for n in range(1, 8)),
}
"""Scales whose items have reviewed LOINC codes: their linkIds are those codes."""
PANEL_CODES = {"phq9": "phq9_panel", "gad7": "gad7_panel"}
TOTAL_CODES = {
    "phq9": "phq9_total",
    "gad7": "gad7_total",
    "pain_nrs": "pain_total",
    "pcl5": "pcl5_total",
    "qids_sr16": "qids_sr16_total",
    "tolerability": "tolerability_total",
}
FREQUENCY_ANSWERS = (
    "answer_not_at_all",
    "answer_several_days",
    "answer_more_than_half",
    "answer_nearly_every_day",
)
"""The PHQ-9 and GAD-7 answer list, 0 to 3."""


def questionnaire_url(scale: str) -> str:
    return f"{KETAPLAN_URN}:Questionnaire:{scale}"


def _link_ids(scale: str) -> list[str]:
    coded = ITEM_CODES.get(scale)
    if coded is not None:
        return [code_table().code(key).code for key in coded]
    return [f"item-{n}" for n in range(1, SCALES[scale].items + 1)]


def questionnaire(scale: str) -> dict[str, Any]:
    """The form as scored: one item per question, with LOINC item codes and answer codes
    where the reviewed table has them, integers 0 to the item maximum otherwise."""
    table = code_table()
    spec = SCALES[scale]
    items = []
    for number, link_id in enumerate(_link_ids(scale), start=1):
        item: dict[str, Any] = {"linkId": link_id, "text": f"{spec.title}, item {number}"}
        coded = ITEM_CODES.get(scale)
        if coded is not None:
            item["code"] = [table.coding(coded[number - 1])]
            item["type"] = "choice"
            item["answerOption"] = [{"valueCoding": table.coding(k)} for k in FREQUENCY_ANSWERS]
        else:
            item["type"] = "integer"
        item["required"] = True
        items.append(item)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": fhir_id("scale", scale),
        "url": questionnaire_url(scale),
        "version": QUESTIONNAIRE_VERSION,
        "name": fhir_id(scale).replace("-", "_").upper(),
        "title": spec.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"As ketaplan scores it: {spec.source}",
        "item": items,
    }
    if scale in PANEL_CODES:
        resource["code"] = [table.coding(PANEL_CODES[scale])]
    return resource


def _answer(scale: str, value: int) -> dict[str, Any]:
    if scale in ITEM_CODES:
        return {"valueCoding": code_table().coding(FREQUENCY_ANSWERS[value])}
    return {"valueInteger": value}


def response_id(row: QuestionnaireResponse) -> str:
    return fhir_id("response", row.id)


def _author(row: QuestionnaireResponse, rows: PatientRows) -> dict[str, Any]:
    if row.recorded_by is None:  # answered by the patient through a link
        return ref("Patient", patient_id(rows))
    return ref("Practitioner", practitioner_id(row.recorded_by))


def questionnaire_response(row: QuestionnaireResponse, rows: PatientRows) -> dict[str, Any]:
    resource: dict[str, Any] = {
        **profiled("QuestionnaireResponse", response_id(row), "us-core-questionnaireresponse"),
        "questionnaire": f"{questionnaire_url(row.scale)}|{QUESTIONNAIRE_VERSION}",
        "status": "completed",
        "subject": ref("Patient", patient_id(rows)),
        "authored": instant(row.answered_at, rows.zone),
        "author": _author(row, rows),
        "item": [
            {"linkId": link_id, "answer": [_answer(row.scale, int(value))]}
            for link_id, value in zip(_link_ids(row.scale), row.answers, strict=True)
        ],
    }
    if row.recorded_by is None:
        resource["source"] = ref("Patient", patient_id(rows))
    if row.session_id is not None:
        resource["encounter"] = ref("Encounter", fhir_id("session", row.session_id))
    return resource


def score_observation(row: QuestionnaireResponse, rows: PatientRows) -> dict[str, Any]:
    """The total as US Core's screening-assessment Observation, derived from the response;
    the band ketaplan gave it is the interpretation's text, its flags a note, and a clinician's
    review of a PHQ-9 item 9 flag a note by the reviewer (an Annotation: author, time, text)."""
    table = code_table()
    spec = SCALES[row.scale]
    observation: dict[str, Any] = {
        **profiled(
            "Observation", fhir_id("score", row.id), "us-core-observation-screening-assessment"
        ),
        "status": "final",
        "category": [table.concept("category_survey")],
        "code": table.concept(TOTAL_CODES[row.scale], text=f"{spec.title}, total"),
        "subject": ref("Patient", patient_id(rows)),
        "effectiveDateTime": instant(row.answered_at, rows.zone),
        "performer": [_author(row, rows)],
        "valueQuantity": table.quantity(int(row.total), "score"),
        "interpretation": [{"text": str(row.severity)}],
        "derivedFrom": [ref("QuestionnaireResponse", response_id(row))],
    }
    if row.session_id is not None:
        observation["encounter"] = ref("Encounter", fhir_id("session", row.session_id))
    if row.flags:
        observation["note"] = [{"text": "flags: " + ", ".join(map(str, row.flags))}]
    review = rows.item9_reviews.get(row.id)
    if review is not None:  # the clinician's follow-up of item 9: who, when, what they did
        observation.setdefault("note", []).append(
            {
                "authorReference": ref("Practitioner", practitioner_id(review.reviewed_by)),
                "time": instant(review.reviewed_at, rows.zone),
                "text": f"PHQ-9 item 9 reviewed: {review.note}",
            }
        )
    return observation


def scales_answered(rows: PatientRows) -> set[str]:
    """The scales whose Questionnaire the patient's responses name."""
    return {r.scale for r in rows.responses}


def surveys(rows: PatientRows) -> list[dict[str, Any]]:
    """Each response and its score; the Questionnaires they name are shared by every patient
    (:func:`questionnaire`, added once per export)."""
    found: list[dict[str, Any]] = []
    for row in rows.responses:
        found += [questionnaire_response(row, rows), score_observation(row, rows)]
    return found
