"""``patient_name_trigram``: every patient's current name key in three-character pieces, by
clinic, so a search for a name few share reads those few patients instead of walking the
clinic's names (issue 19; :mod:`ketaplan.store.name_search` says how a search uses it and why a
plain table rather than FTS5 or ``pg_trgm``: no database extension is needed, so this migration
runs wherever the others do).

Existing patients are indexed here from ``patient.name_key`` (filled by 0009). The table is
derived, not a record: the audit chain covers the patient rows it comes from, and nothing here
is appended to the chain.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ketaplan.store.name_search import insert_name_trigrams

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None

_BATCH = 2000  # patients per read, so a large clinic is not held in memory at once


def upgrade() -> None:
    op.create_table(
        "patient_name_trigram",
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("trigram", sa.String(length=3), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_patient_name_trigram_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_patient_name_trigram_patient_id_patient"),
        ),
        sa.PrimaryKeyConstraint(
            "clinic_id", "trigram", "patient_id", name=op.f("pk_patient_name_trigram")
        ),
    )
    op.create_index(
        op.f("ix_patient_name_trigram_patient_id"), "patient_name_trigram", ["patient_id"]
    )
    connection = op.get_bind()
    after = 0
    while True:
        patients = connection.execute(
            sa.text(
                "SELECT clinic_id, id, name_key FROM patient"
                " WHERE id > :after AND name_key IS NOT NULL ORDER BY id LIMIT :batch"
            ),
            {"after": after, "batch": _BATCH},
        ).all()
        if not patients:
            break
        insert_name_trigrams(connection, [(row[0], row[1], row[2]) for row in patients])
        after = patients[-1][1]


def downgrade() -> None:
    op.drop_index(op.f("ix_patient_name_trigram_patient_id"), table_name="patient_name_trigram")
    op.drop_table("patient_name_trigram")
