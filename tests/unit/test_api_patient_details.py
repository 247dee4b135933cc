"""The API's patient details answer carries every detail staff enter, no more and no fewer.

``DetailsOut`` repeats the fields of :class:`PatientDetails` because the API document needs a
pydantic model; a detail added to the record and not to the answer would silently vanish from
every integration (pydantic drops unknown keys), so the two are compared here.
"""

from __future__ import annotations

from ketaplan.api.routes.patients import DetailsOut
from ketaplan.services.patients import PATIENT_FIELDS


def test_the_api_answer_names_every_patient_detail() -> None:
    assert set(DetailsOut.model_fields) == PATIENT_FIELDS


def test_an_unknown_detail_is_refused_rather_than_dropped() -> None:
    assert DetailsOut.model_config.get("extra") == "forbid"
