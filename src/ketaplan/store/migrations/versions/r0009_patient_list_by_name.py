"""The current name (and its case-folded key) and date of birth on the patient row, with an
index on (clinic, name key): the patient list and search read one clinic's slice of the index
in name order and stop at the page size, instead of joining every current version of the
clinic and sorting them all (issue 19).

Existing patients are filled in from their current versions. The columns are nullable in the
schema only: making them NOT NULL on SQLite means rebuilding ``patient``, which the tables
referencing it forbid inside the migration's one transaction.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("patient", sa.Column("full_name", sa.String(length=200), nullable=True))
    op.add_column("patient", sa.Column("name_key", sa.Text(), nullable=True))
    op.add_column("patient", sa.Column("date_of_birth", sa.Date(), nullable=True))

    connection = op.get_bind()
    current = connection.execute(
        sa.text(
            "SELECT patient.id, patient_version.full_name, patient_version.date_of_birth"
            " FROM patient JOIN patient_version ON patient_version.patient_id = patient.id"
            " AND patient_version.version = patient.version"
        )
    ).all()
    if current:
        connection.execute(
            sa.text(
                "UPDATE patient SET full_name = :full_name, name_key = :name_key,"
                " date_of_birth = :date_of_birth WHERE id = :id"
            ),
            [
                {
                    "id": patient_id,
                    "full_name": full_name,
                    "name_key": full_name.casefold(),  # as ketaplan.services.patients.name_key
                    "date_of_birth": date_of_birth,
                }
                for patient_id, full_name, date_of_birth in current
            ],
        )
    op.create_index("ix_patient_clinic_name_key", "patient", ["clinic_id", "name_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_patient_clinic_name_key", table_name="patient")
    for column in ("date_of_birth", "name_key", "full_name"):  # SQLite 3.35+, no rebuild
        op.execute(f"ALTER TABLE patient DROP COLUMN {column}")
