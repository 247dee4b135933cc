"""``ketaplan audit verify``: check the audit trail's hash chain (exit 0 intact, 1 broken)."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    help="The audit trail of who saw and changed what.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Walk the audit trail; exit 1 and name the first broken row if it was tampered with."""
    import os

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.settings import load_settings
    from ketaplan.store import open_database, verify_audit_chain

    database = open_database(load_settings(os.environ).database_url)
    try:
        with database.session_factory() as session:
            result = verify_audit_chain(session)
    finally:
        database.close()
    if as_json:
        print_json(result.to_dict())
    elif result.broken is None:
        print_lines([f"Audit trail intact: {result.checked} events, last hash {result.last_hash}."])
    else:
        print_lines(
            [
                f"AUDIT TRAIL BROKEN at event {result.broken.seq}"
                + (f" (row id {result.broken.event_id})" if result.broken.event_id else "")
                + f": {result.broken.reason}",
                f"The {result.checked} events before it verify.",
            ]
        )
    if not result.ok:
        raise typer.Exit(code=1)
