"""Alembic environment: always run from code with a connection (see ketaplan.store.schema).

``render_as_batch`` lets later migrations alter SQLite tables (which need copy-and-move).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ketaplan.store.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - misuse, not a user path
    raise RuntimeError("ketaplan migrations run through `ketaplan db migrate`, with a connection")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
