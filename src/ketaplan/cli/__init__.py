"""The ``ketaplan`` command line.

Each command lives in its own module and imports the clinical code inside its function body,
so that ``ketaplan --help`` and every command start fast (the start-up time is benchmarked).
Errors are mapped once, in :func:`main`: a message on stderr and the error's exit code
(2 bad input, 3 dose refused by a limit), never a traceback. Before any command runs, every
argument is checked for control characters (:func:`ketaplan.inputs.control_character`); a file
named on the command line that cannot be read or written (a folder, a missing directory, not
UTF-8 text) is bad input too.
"""

from __future__ import annotations

import sys

import typer

from ketaplan.cli import (
    audit,
    backup,
    course,
    db,
    demo,
    demo_data,
    export,
    ledger,
    outbox,
    plan,
    protocols,
    report,
    score,
    serve,
    session,
    simulate,
    titrate,
    user,
)

app = typer.Typer(
    name="ketaplan",
    help="Decision support for IV ketamine infusion clinics. Every number shows how it was "
    "reached; a prescriber confirms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.command("plan")(plan.plan)
app.command("protocols")(protocols.protocols)
app.command("score")(score.score)
app.command("course")(course.course)
app.command("calendar")(report.calendar)
app.add_typer(report.app, name="report")
app.add_typer(session.app, name="session")
app.command("titrate")(titrate.titrate)
app.command("simulate")(simulate.simulate)
app.command("demo")(demo.demo)
app.command("demo-data")(demo_data.demo_data)
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(user.app, name="user")
app.add_typer(export.app, name="export")
app.add_typer(ledger.app, name="ledger")
app.add_typer(outbox.app, name="outbox")
app.command("serve")(serve.serve)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


@app.callback()
def _root() -> None:
    """Decision support for IV ketamine infusion clinics."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; ``run`` exits with it)."""
    from ketaplan.errors import KetaplanError

    args = sys.argv[1:] if argv is None else argv
    refused = _control_character(args)
    if refused is not None:
        print(f"ketaplan: {refused}", file=sys.stderr)
        return 2
    try:
        app(args=args, prog_name="ketaplan")
    except SystemExit as done:  # typer's standalone mode ends every run this way
        return done.code if isinstance(done.code, int) else 0
    except KetaplanError as error:
        print(f"ketaplan: {error.message}", file=sys.stderr)
        return error.exit_code
    except UnicodeDecodeError as error:
        print(
            f"ketaplan: a file given is not UTF-8 text ({error.reason} at byte {error.start})",
            file=sys.stderr,
        )
        return 2
    except OSError as error:  # a path given: a folder, a missing directory, no permission
        where = f"{error.filename}: " if error.filename else ""
        print(f"ketaplan: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    return 0


def _control_character(args: list[str]) -> str | None:
    """What is wrong with the first argument holding a control character (named by the
    option before it), or None. Line breaks and tabs pass: a quoted reason may hold them."""
    from ketaplan.inputs import control_character

    for position, arg in enumerate(args):
        problem = control_character(arg, multiline=True)
        if problem is not None:
            before = args[position - 1] if position else ""
            named = before if before.startswith("-") else f"argument {position + 1}"
            return f"{named}: {problem}"
    return None


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
