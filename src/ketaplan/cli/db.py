"""``ketaplan db migrate``: create or upgrade the service database."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="The service database (KETAPLAN_DATABASE_URL; default sqlite:///./ketaplan.db).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command("migrate")
def migrate(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Create the tables, or upgrade them to this version of ketaplan (safe to run again)."""
    import os

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services.maintenance import migrate_database
    from ketaplan.settings import load_settings

    done = migrate_database(load_settings(os.environ).database_url)
    if as_json:
        print_json(
            {
                "database": done.database,
                "from_revision": done.from_revision,
                "to_revision": done.to_revision,
                "changed": done.changed,
            }
        )
    elif done.changed:
        was = done.from_revision or "empty"
        print_lines([f"Migrated {done.database} from {was} to revision {done.to_revision}."])
    else:
        print_lines([f"{done.database} is already at revision {done.to_revision}."])
