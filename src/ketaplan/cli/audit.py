"""``ketaplan audit verify``: check the audit trail's hash chain (exit 0 intact, 1 broken).

By default the check starts where the last one on this machine ended (see
:mod:`ketaplan.store.audit_position`) and hashes only the events written since; ``--full`` walks
the whole trail, as it must after a restore or to re-check old events.
"""

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
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Walk the whole trail, not only the events since the last check."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Walk the audit trail; exit 1 and name the first broken row if it was tampered with."""
    import os
    from datetime import UTC, datetime
    from pathlib import Path

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.settings import load_settings
    from ketaplan.store import open_database, verify_audit_chain
    from ketaplan.store.audit_position import load_position, save_position
    from ketaplan.store.engine import safe_url

    database = open_database(load_settings(os.environ).database_url)
    url = database.engine.url
    key = (
        f"sqlite:///{Path(url.database).resolve()}"
        if url.get_backend_name() == "sqlite" and url.database
        else safe_url(database.engine)
    )
    known = None if full else load_position(key)
    try:
        with database.session_factory() as session:
            result = verify_audit_chain(session, since=known[0] if known else None)
    finally:
        database.close()
    if result.ok and result.checked:
        save_position(key, result.position, datetime.now(UTC))
    if as_json:
        print_json(result.to_dict() | {"since_check_of": known[1] if known else None})
    elif result.broken is None:
        earlier = (
            f" ({result.checked - result.from_seq + 1} new since the check of {known[1]}; "
            "--full walks them all)"
            if known
            else ""
        )
        print_lines(
            [f"Audit trail intact: {result.checked} events{earlier}, last hash {result.last_hash}."]
        )
    else:
        print_lines(
            [
                f"AUDIT TRAIL BROKEN at event {result.broken.seq}"
                + (f" (row id {result.broken.event_id})" if result.broken.event_id else "")
                + f": {result.broken.reason}",
            ]
            + ([f"The {result.checked} events before it verify."] if result.checked else [])
        )
    if not result.ok:
        raise typer.Exit(code=1)
