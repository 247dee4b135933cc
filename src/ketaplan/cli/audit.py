"""``ketaplan audit verify`` and ``ketaplan audit anchor``: check the audit trail and the records
it covers (exit 0 intact, 1 broken), and print the chain head to keep elsewhere.

By default the check starts where the last one on this machine ended (see
:mod:`ketaplan.store.audit_position`): it hashes only the events written since and checks the
records they wrote; ``--full`` walks the whole trail and every covered record, as it must after
a restore, to re-check old events, or to find records changed long ago. The database is opened
read-only: a check never modifies what it checks.

The chain head printed by ``audit anchor`` (``SEQ:HASH``) is what to keep outside the
database (a printout, another system): ``audit verify --anchor SEQ:HASH`` then fails if the
trail no longer holds that event with that hash, which is how events cut from the end with
the head set back to match are caught.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.services.maintenance import VerifiedPosition

app = typer.Typer(
    help="The audit trail of who saw and changed what.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

SHOWN_RECORDS = 20
"""Record problems listed in the text output (``--json`` lists them all)."""

_ANCHOR = re.compile(r"(?P<seq>[1-9][0-9]{0,18}):(?P<hash>[0-9a-f]{64})")


def _anchor(value: str | None) -> VerifiedPosition | None:
    from ketaplan.services.maintenance import VerifiedPosition

    if value is None:
        return None
    found = _ANCHOR.fullmatch(value.strip().lower())
    if found is None:
        raise typer.BadParameter(
            f"{value!r} is not an anchor: give SEQ:HASH as `ketaplan audit anchor` prints it "
            "(an event number, a colon, 64 hex digits)"
        )
    return VerifiedPosition(int(found["seq"]), found["hash"])


@app.command("verify")
def verify(
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Walk the whole trail and check every record, not only what changed since "
            "the last check.",
        ),
    ] = False,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            metavar="SEQ:HASH",
            help="A chain head kept elsewhere (`ketaplan audit anchor`): fail unless the "
            "trail still holds that event with that hash.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Walk the audit trail and check the records it covers; exit 1 and name what was
    tampered with."""
    import os
    from datetime import UTC, datetime

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services.maintenance import verify_audit_trail
    from ketaplan.settings import load_settings

    anchored = _anchor(anchor)
    database_url = load_settings(os.environ).database_url
    check = verify_audit_trail(database_url, full=full, anchor=anchored, now=datetime.now(UTC))
    result, since_check_of = check.result, check.since_check_of
    if as_json:
        print_json(result.to_dict() | {"since_check_of": since_check_of})
    elif result.ok:
        earlier = (
            f" ({result.checked - result.from_seq + 1} new since the check of {since_check_of}; "
            "--full walks them all)"
            if since_check_of is not None
            else ""
        )
        print_lines(
            [
                f"Audit trail intact: {result.checked} events{earlier}, last hash "
                f"{result.last_hash}; the records they wrote match."
                + (f" Anchor {anchored.seq} holds." if anchored else "")
            ]
        )
    elif result.broken is not None:
        print_lines(
            [
                f"AUDIT TRAIL BROKEN at event {result.broken.seq}"
                + (f" (row id {result.broken.event_id})" if result.broken.event_id else "")
                + f": {result.broken.reason}",
            ]
            + ([f"The {result.checked} events before it verify."] if result.checked else [])
        )
    else:
        problems = result.records
        print_lines(
            [
                f"RECORDS TAMPERED WITH: {len(problems)} record(s) do not match the audit "
                f"trail ({result.checked} events, intact):",
                *(f"  {problem.reason}" for problem in problems[:SHOWN_RECORDS]),
            ]
            + (
                [f"  ... and {len(problems) - SHOWN_RECORDS} more (--json lists them all)"]
                if len(problems) > SHOWN_RECORDS
                else []
            )
        )
    if not result.ok:
        raise typer.Exit(code=1)


@app.command("anchor")
def anchor_command(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Print the chain head (event number, hash, time) to keep outside the database; check
    against it later with `ketaplan audit verify --anchor SEQ:HASH`."""
    import os

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services.maintenance import audit_anchor
    from ketaplan.settings import load_settings

    head = audit_anchor(load_settings(os.environ).database_url)
    if as_json:
        print_json(head.to_dict())
    elif head.seq == 0:
        print_lines(["The audit trail is empty: there is no head to keep yet."])
    else:
        print_lines(
            [
                f"{head.seq}:{head.hash}",
                f"Audit event {head.seq}, written {head.occurred_at}. Keep this line outside "
                "the database; `ketaplan audit verify --anchor` with it fails if events up to "
                "it were removed or rewritten.",
            ]
        )
