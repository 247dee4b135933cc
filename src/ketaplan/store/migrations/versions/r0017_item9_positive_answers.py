"""``item9_positive_answer``: each PHQ-9 answered with item 9 above 0, under its patient's
clinic, so the dashboard's flags are an index range of one clinic's answers
(``(clinic_id, answered_at)``) rather than of every clinic's PHQ-9 answers of the fortnight
(``questionnaire_response`` holds no clinic, and giving it one would change every existing
response's record hash: :mod:`ketaplan.store.audit_records`).

Filled here from the stored responses (scale ``phq9`` with the ``phq9.item9_positive`` flag)
and their patients. Derived, like ``patient_name_trigram`` (0015): nothing is appended to the
audit chain, which covers the responses themselves.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "item9_positive_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_response.id"],
            name=op.f("fk_item9_positive_answer_response_id_questionnaire_response"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_item9_positive_answer_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_item9_positive_answer_patient_id_patient"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item9_positive_answer")),
        sa.UniqueConstraint("response_id", name=op.f("uq_item9_positive_answer_response_id")),
    )
    op.create_index(
        "ix_item9_positive_answer_clinic_answered",
        "item9_positive_answer",
        ["clinic_id", "answered_at"],
        unique=False,
    )
    # The flags are a JSON list of codes; a code is quoted in its text on both databases.
    op.execute(
        "INSERT INTO item9_positive_answer (response_id, clinic_id, patient_id, answered_at)"
        " SELECT q.id, p.clinic_id, q.patient_id, q.answered_at"
        " FROM questionnaire_response q JOIN patient p ON p.id = q.patient_id"
        " WHERE q.scale = 'phq9'"
        " AND CAST(q.flags AS TEXT) LIKE '%\"phq9.item9_positive\"%'"
        " ORDER BY q.id"
    )


def downgrade() -> None:
    op.drop_index("ix_item9_positive_answer_clinic_answered", table_name="item9_positive_answer")
    op.drop_table("item9_positive_answer")
