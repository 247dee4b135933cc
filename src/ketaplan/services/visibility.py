"""Who sees and changes which facts about a patient: the one definition, by role.

Clinical staff (admin, prescriber, nurse) see the whole record. The front desk registers
patients and books their chairs: it sees and changes a patient's *registration* (name, date
of birth, address, phone, e-mail and escort) and the *bookings* of their courses (dates,
times, session numbers, what was missed), and nothing clinical: no weight or height,
history, medications, allergies or sensitivities, blood pressure, diagnosis or protocol,
plans, orders, charts, scores or PHQ-9 item 9 flags.
A course's protocol is its diagnosis ("suicidal_ideation"), so a booking does not name it.

The services enforce this, whatever the entry point: a read returns the role's view (or is
refused when there is no front-desk view of it), and a change that names a clinical field is
refused. :mod:`ketaplan.http.permissions` keeps whole routes from roles on top of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ketaplan.errors import PermissionDenied
from ketaplan.services.actors import Actor, Role

CLINICAL_ROLES: Final[frozenset[Role]] = frozenset({"admin", "prescriber", "nurse"})
"""The roles that see clinical facts; the front desk is the one that does not."""

REGISTRATION_FIELDS: Final[frozenset[str]] = frozenset(
    {
        "full_name",
        "date_of_birth",
        # how to reach the patient and who takes them home
        # (:mod:`ketaplan.services.patient_contacts`)
        "address_line1",
        "address_line2",
        "city",
        "region",
        "postal_code",
        "country",
        "phone",
        "email",
        "escort_name",
        "escort_phone",
    }
)
"""The patient's details every member of staff sees and changes: who the patient is, where
they live, how to reach them and who drives them home. The clinical profile is not built from
any of them, so changing them changes no dose, screening or plan."""


def sees_clinical_facts(actor: Actor) -> bool:
    """Whether the actor's role sees clinical facts (see the module docstring)."""
    return actor.role in CLINICAL_ROLES


def require_clinical_facts(actor: Actor, what: str) -> None:
    """Refuse a read or change of clinical facts to a role that does not see them."""
    if not sees_clinical_facts(actor):
        raise PermissionDenied(
            f"{what} holds clinical facts, which the {actor.role.replace('_', ' ')} does not "
            "see; the front desk sees a patient's registration (name, date of birth, address, "
            "contacts and escort) and the "
            "bookings of their courses",
            code="permission.clinical_facts",
            fields={"role": actor.role},
        )


def require_may_change_patient_fields(actor: Actor, names: Iterable[str]) -> None:
    """Refuse a change that names a clinical field of the patient's details, for a role that
    does not see clinical facts.

    Naming the field is enough, whatever its value: accepting a value that equals the stored
    one would tell the front desk what is stored (is "psychosis" in the history?)."""
    if sees_clinical_facts(actor):
        return
    clinical = sorted(set(names) - REGISTRATION_FIELDS)
    if clinical:
        raise PermissionDenied(
            f"the {actor.role.replace('_', ' ')} changes only a patient's registration "
            f"({', '.join(sorted(REGISTRATION_FIELDS))}); {', '.join(clinical)} "
            f"{'is a clinical fact' if len(clinical) == 1 else 'are clinical facts'}, changed "
            "by clinical staff; nothing was saved",
            code="permission.clinical_fields",
            fields={
                "role": actor.role,
                "refused": clinical,
                "allowed": sorted(REGISTRATION_FIELDS),
            },
        )
