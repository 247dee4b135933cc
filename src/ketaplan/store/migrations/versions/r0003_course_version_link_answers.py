"""Course versions and link answers: a course's schedule edit counter (rescheduling names the
version it was made from, like a patient update), and which scales a patient link has answered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("treatment_course", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("patient_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered", sa.JSON(), server_default="[]", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("patient_link", schema=None) as batch_op:
        batch_op.drop_column("answered")
    with op.batch_alter_table("treatment_course", schema=None) as batch_op:
        batch_op.drop_column("version")
