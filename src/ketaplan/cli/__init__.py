"""The ``ketaplan`` command line.

Each command lives in its own module and imports the clinical code inside its function body,
so that ``ketaplan --help`` and every command start fast (the start-up time is benchmarked).
Errors are mapped once, in :func:`main`: a message on stderr and the error's exit code
(2 bad input, 3 dose refused by a limit), never a traceback.
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
    plan,
    protocols,
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
app.add_typer(session.app, name="session")
app.command("titrate")(titrate.titrate)
app.command("simulate")(simulate.simulate)
app.command("demo")(demo.demo)
app.command("demo-data")(demo_data.demo_data)
app.add_typer(db.app, name="db")
app.add_typer(audit.app, name="audit")
app.add_typer(user.app, name="user")
app.command("serve")(serve.serve)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)


@app.callback()
def _root() -> None:
    """Decision support for IV ketamine infusion clinics."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this; ``run`` exits with it)."""
    from ketaplan.errors import KetaplanError

    try:
        app(args=argv, prog_name="ketaplan")
    except SystemExit as done:  # typer's standalone mode ends every run this way
        return done.code if isinstance(done.code, int) else 0
    except KetaplanError as error:
        print(f"ketaplan: {error.message}", file=sys.stderr)
        return error.exit_code
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
