"""The ledger's entry kinds are written in three places that cannot share one list: the domain
(``clinical`` imports no store), the table's check constraint (the store imports no domain) and
migration 0011 (a snapshot that must not follow the models). This keeps the three in step."""

from __future__ import annotations

from ketaplan.clinical.ledger.entries import ENTRY_KINDS
from ketaplan.store.migrations.versions import r0011_controlled_substance_ledger as r0011
from ketaplan.store.models import LEDGER_KINDS


def test_every_kind_the_domain_writes_is_one_the_table_accepts() -> None:
    assert set(ENTRY_KINDS) <= set(LEDGER_KINDS)


def test_the_table_accepts_what_its_migration_created_it_to_accept() -> None:
    """A new kind needs a migration that changes the constraint; then this names that one."""
    assert LEDGER_KINDS == r0011.KINDS
