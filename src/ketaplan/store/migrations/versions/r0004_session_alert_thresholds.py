"""Session alert thresholds: the clinic's own alert thresholds in force when a session was
opened, kept with the session so that a later settings change does not rewrite the alerts of
charts already taken (NULL for sessions opened before this revision: they follow the clinic's
current thresholds, as they always did).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("infusion_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_thresholds", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("infusion_session", schema=None) as batch_op:
        batch_op.drop_column("alert_thresholds")
