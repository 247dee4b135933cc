"""Checks of a patient's details that gather every problem instead of stopping at the first.

A form shows each field's error beside it at once, and an API client gets them all in one
answer: :func:`refusal` turns the problems found into the one error a service raises (a single
problem as it is, with its own code and hints; several as ``input.several`` with an ``errors``
map of field to message). Nothing is written while any problem remains.
"""

from __future__ import annotations

from collections.abc import Sequence

from ketaplan.errors import InputError, InputErrors

MAX_NAME_LENGTH = 200
MAX_ALLERGIES = 50
MAX_ALLERGY_LENGTH = 200


def name_problems(full_name: str) -> list[InputError]:
    """The name's problem, if any: it must be 1-200 characters once trimmed."""
    name = full_name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        return [
            InputError(
                f"the patient's name must be 1-{MAX_NAME_LENGTH} characters",
                code="input.invalid_name",
                fields={"field": "full_name"},
            )
        ]
    return []


def allergy_problems(allergies: Sequence[str]) -> list[InputError]:
    """The allergy list's problem, if any: at most 50 entries of at most 200 characters."""
    if len(allergies) > MAX_ALLERGIES or any(len(a) > MAX_ALLERGY_LENGTH for a in allergies):
        return [
            InputError(
                f"at most {MAX_ALLERGIES} allergies of at most {MAX_ALLERGY_LENGTH} characters "
                "each",
                code="input.too_long",
                fields={"field": "allergies"},
            )
        ]
    return []


def refusal(problems: Sequence[InputError]) -> InputError:
    """The refusal of every problem found (at least one): one as it is; several as one
    :class:`~ketaplan.errors.InputErrors`, so a form shows each beside its field and an API
    client gets them all."""
    return problems[0] if len(problems) == 1 else InputErrors(problems)


def refuse_all(problems: Sequence[InputError]) -> None:
    """Raise :func:`refusal` of the problems, if there are any."""
    if problems:
        raise refusal(problems)
