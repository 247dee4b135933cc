"""Stock per drug: the containers' balances added up the way 21 CFR 1304.11 lists an inventory.

One line per item (drug, form, strength, volume per container): how many containers are
unopened, how many are opened and what they hold, expired ones apart, and the total. Derived
from the containers' balances, never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from ketaplan.clinical.ledger.balance import ContainerBalance
from ketaplan.clinical.ledger.quantities import cml_to_mg


@dataclass(frozen=True, slots=True)
class StockLine:
    drug: str
    form: str
    mg_per_ml: float
    volume_per_container_cml: int
    unopened: int
    opened: int
    expired: int
    """Containers past their expiry that still hold drug (to be destroyed; listed apart)."""
    total_cml: int
    """In the containers (not counting what is drawn and in hand)."""

    @property
    def total_mg(self) -> float:
        return cml_to_mg(self.total_cml, self.mg_per_ml)


def stock_lines(balances: Iterable[ContainerBalance], today: date) -> list[StockLine]:
    """Per item, the containers that hold anything, as of their entries."""
    lines: dict[tuple[str, str, float, int], list[ContainerBalance]] = {}
    for balance in balances:
        container = balance.container
        if container is None or balance.in_vial_cml <= 0:
            continue
        key = (container.drug, container.form, container.mg_per_ml, container.volume_cml)
        lines.setdefault(key, []).append(balance)
    found = []
    for (drug, form, mg_per_ml, volume), members in sorted(lines.items()):
        expired = [b for b in members if b.container and b.container.expired_on(today)]
        current = [b for b in members if b not in expired]
        found.append(
            StockLine(
                drug=drug,
                form=form,
                mg_per_ml=mg_per_ml,
                volume_per_container_cml=volume,
                unopened=sum(1 for b in current if b.in_vial_cml == b.received_cml),
                opened=sum(1 for b in current if b.in_vial_cml != b.received_cml),
                expired=len(expired),
                total_cml=sum(b.in_vial_cml for b in members),
            )
        )
    return found
