"""A clinic's own questionnaire schedule: how many days after the series each scale is asked
again, over the catalog's cited interval (:mod:`ketaplan.clinical.measurement`).

Stored in the clinic's ``settings`` JSON as ``questionnaire_every_days`` (``{"phq9": 21}``),
only for the scales the clinic changed; a field left blank on the settings page goes back to
the catalog's interval. The bounds are the clinic's to choose within: at least 7 days (PHQ-9
and GAD-7 ask about the last two weeks, so answers closer than a week mostly repeat each other)
and at most 90 (past a quarter, a relapse after the series would go unmeasured for too long).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ketaplan.clinical.outcomes import SCALES
from ketaplan.errors import InputError, InputProblems

MIN_EVERY_DAYS = 7
MAX_EVERY_DAYS = 90
FIELD_PREFIX = "every_days__"
"""The settings form's field for a scale: ``every_days__phq9``."""
STORED_KEY = "questionnaire_every_days"


def _every_days(scale: str, text: str) -> int | None:
    value = text.strip().removesuffix("days").removesuffix("day").strip()
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not (
        MIN_EVERY_DAYS <= int(value) <= MAX_EVERY_DAYS
    ):
        raise InputError(
            f"{SCALES[scale].title} every {text.strip()!r} days: give a whole number of days "
            f"from {MIN_EVERY_DAYS} to {MAX_EVERY_DAYS}, or leave it blank for the catalog's",
            code="input.invalid_setting",
            fields={"field": FIELD_PREFIX + scale, "value": text},
        )
    return int(value)


def parse_every_days(typed: Mapping[str, str], problems: InputProblems) -> dict[str, int]:
    """The form's ``every_days__<scale>`` fields checked (each refusal kept in ``problems``):
    the clinic's own interval for each scale given; a blank one is the catalog's."""
    own: dict[str, int] = {}
    for name, text in typed.items():
        scale = name.removeprefix(FIELD_PREFIX)
        if scale not in SCALES:
            problems.add(
                InputError(
                    f"{name!r} is not a questionnaire ketaplan knows",
                    code="input.invalid_setting",
                    fields={"field": name},
                )
            )
            continue
        days = problems.check(_every_days, scale, text)
        if days is not None:
            own[scale] = days
    return own


def own_every_days(own: Mapping[str, Any]) -> dict[str, int]:
    """The clinic's own intervals as stored (``{}``: the catalog's for every scale)."""
    stored = own.get(STORED_KEY) or {}
    return {str(scale): int(days) for scale, days in stored.items() if scale in SCALES}
