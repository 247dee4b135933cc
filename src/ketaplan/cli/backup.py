"""``ketaplan backup OUT`` and ``ketaplan restore IN`` for the embedded SQLite database.

Both work on the database of ``KETAPLAN_DATABASE_URL``. A backup is a consistent online copy,
safe while ``ketaplan serve`` runs; a restore checks the backup's schema revision and audit
chain first and refuses a database a server is using unless ``--force``
(:mod:`ketaplan.store.backup`). On PostgreSQL both print how to use pg_dump / pg_restore and
exit 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _database_file(*, restoring: bool) -> Path:
    import os

    from ketaplan.services.maintenance import sqlite_file
    from ketaplan.settings import load_settings

    return sqlite_file(load_settings(os.environ).database_url, restoring=restoring)


def backup(
    out: Annotated[Path, typer.Argument(help="The backup file to write (must not exist).")],
    as_json: AsJson = False,
) -> None:
    """Copy the database to OUT while it stays in use; the copy is checked before it is kept."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services.maintenance import back_up

    database = _database_file(restoring=False)
    done = back_up(database, out)
    if as_json:
        print_json(done.to_dict())
        return
    print_lines(
        [
            f"Backed up {database} to {done.path} ({done.size_bytes} bytes, schema revision "
            f"{done.revision}).",
            f"Audit trail intact: {done.audit_events} events, last hash {done.last_hash}.",
        ]
    )


def restore(
    source: Annotated[Path, typer.Argument(metavar="IN", help="A file `ketaplan backup` wrote.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Restore even though a running server uses the database."),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Replace the database with the backup IN, after checking the backup's schema and audit
    chain; the replaced database is kept beside it as <database>.pre-restore-<time>."""
    from datetime import UTC, datetime

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services.maintenance import restore as restore_database

    database = _database_file(restoring=True)
    done = restore_database(source, database, force=force, now=datetime.now(UTC))
    if as_json:
        print_json(done.to_dict())
        return
    lines = [
        f"Restored {database} from {done.backup.path} (schema revision {done.backup.revision}; "
        f"audit trail intact: {done.backup.audit_events} events, last hash "
        f"{done.backup.last_hash})."
    ]
    if done.previous is not None:
        lines.append(f"The database it replaced is kept at {done.previous}.")
    print_lines(lines)
