"""``patient_name_trigram_count``: how many of a clinic's patients hold each name trigram, so a
search learns its text's rarest trigram from one row a trigram instead of counting index entries
(issue 19: on PostgreSQL the counting read every holder of each common trigram, so a search for
a common part of a name grew with the clinic; :mod:`ketaplan.store.name_search`).

Filled here from ``patient_name_trigram`` (0015). Derived, like that table: nothing is appended
to the audit chain.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "patient_name_trigram_count",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("trigram", sa.String(length=3), nullable=False),
        sa.Column("holders", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_patient_name_trigram_count_clinic_id_clinic"),
        ),
        sa.PrimaryKeyConstraint("clinic_id", "trigram", name=op.f("pk_patient_name_trigram_count")),
    )
    op.execute(
        "INSERT INTO patient_name_trigram_count (clinic_id, trigram, holders)"
        " SELECT clinic_id, trigram, count(*) FROM patient_name_trigram"
        " GROUP BY clinic_id, trigram"
    )


def downgrade() -> None:
    op.drop_table("patient_name_trigram_count")
