"""Schema versions: Alembic migrations shipped in the package, run from code.

``ketaplan db migrate`` calls :func:`migrate`; everything else opens the database through
:func:`ketaplan.store.open_database`, which calls :func:`require_migrated` and refuses a
database that is not at the code's head revision, naming the command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from ketaplan.errors import DatabaseNotReady
from ketaplan.store.engine import safe_url

MIGRATIONS = "ketaplan.store:migrations"
MIGRATE_COMMAND = "ketaplan db migrate"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration without an ini file; the migrations live in the package."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code needs."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise RuntimeError("no migrations found in the ketaplan package")
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision, or None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


@dataclass(frozen=True, slots=True)
class Migration:
    """What :func:`migrate` did."""

    database: str
    from_revision: str | None
    to_revision: str

    @property
    def changed(self) -> bool:
        return self.from_revision != self.to_revision


def migrate(engine: Engine) -> Migration:
    """Upgrade the database to the head revision, in one transaction (DDL is transactional
    on both SQLite and PostgreSQL, so a failed migration leaves the schema as it was)."""
    before = current_revision(engine)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    return Migration(safe_url(engine), before, head_revision())


def require_migrated(engine: Engine) -> None:
    """Refuse a database whose revision is not this code's head, saying what to run."""
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = safe_url(engine)
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if current is not None and current not in known:
        raise DatabaseNotReady(
            f"the database at {where} is at schema revision {current}, which this ketaplan "
            f"does not know (it needs {head}): it was migrated by a newer ketaplan; "
            "upgrade ketaplan instead",
            fields={"database": where, "revision": current, "required": head},
        )
    if current is None:
        message = (
            f"the database at {where} has no ketaplan tables yet; run `{MIGRATE_COMMAND}` "
            "(with KETAPLAN_DATABASE_URL set to it) to create them"
        )
    else:
        message = (
            f"the database at {where} is at schema revision {current}, but this ketaplan "
            f"needs {head}; back it up, then run `{MIGRATE_COMMAND}`"
        )
    raise DatabaseNotReady(
        message, fields={"database": where, "revision": current, "required": head}
    )
