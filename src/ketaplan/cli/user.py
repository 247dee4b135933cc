"""``ketaplan user add`` and ``ketaplan user password``: staff accounts from the command line.

Passwords are read from standard input (``--password-stdin``), never from the command line,
where other users of the machine could read them in the process list and the shell history.

The command acts as an admin of the clinic, and the audit trail records that admin with the
origin ``cli``. Which admin: the one named by ``--as``; without it, the first admin (lowest
id) of the only clinic in the database. With several clinics, ``--as`` is required.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.services import Actor, UnitOfWork

app = typer.Typer(
    help="Staff accounts (admin, prescriber, nurse, front_desk).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

Email = Annotated[str, typer.Option("--email", help="The staff member's e-mail address.")]
ActingAdmin = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="The admin to act as (default: the first admin of the only clinic).",
    ),
]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from standard input (one line), e.g. from a password manager.",
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def read_password_from_stdin() -> str:
    """The first line of standard input, without its line ending."""
    import sys

    from ketaplan.errors import InputError
    from ketaplan.inputs import check_text

    line = check_text(sys.stdin.readline().rstrip("\r\n"), field="password")
    if not line:
        raise InputError(
            "no password on standard input (e.g. `pass show clinic/nurse | ketaplan user add "
            "... --password-stdin`)",
            code="input.missing",
            fields={"field": "password"},
        )
    return line


def _acting_admin(uow: UnitOfWork, email: str | None) -> Actor:
    from sqlalchemy import func, select

    from ketaplan.errors import InputError, NotFoundError, PermissionDenied
    from ketaplan.services import load_actor
    from ketaplan.store.models import Clinic, User

    if email is not None:
        actor = load_actor(uow, email, origin="cli")
        if actor.role != "admin":
            raise PermissionDenied(
                f"{actor.email} is {actor.role}; managing accounts needs an admin",
                fields={"role": actor.role, "allowed": ["admin"]},
            )
        return actor
    with uow:
        clinics = uow.session.scalar(select(func.count()).select_from(Clinic)) or 0
        if clinics == 0:
            raise NotFoundError(
                "there is no clinic in this database yet (`ketaplan demo-data` sets one up)",
                code="not_found.clinic",
            )
        if clinics > 1:
            raise InputError(
                "this database holds several clinics; say which admin acts with --as EMAIL",
                code="input.missing",
                fields={"field": "as"},
            )
        first_admin = uow.session.scalar(
            select(User.email).where(User.role == "admin", User.active).order_by(User.id).limit(1)
        )
    if first_admin is None:
        raise NotFoundError("the clinic has no active admin", code="not_found.admin")
    return load_actor(uow, first_admin, origin="cli")


def _refuse_argv_password(password_stdin: bool) -> None:
    from ketaplan.errors import InputError

    if not password_stdin:
        raise InputError(
            "give the password on standard input with --password-stdin (never on the command "
            "line, where the process list and shell history would keep it)",
            code="input.missing",
            fields={"field": "password-stdin"},
        )


@app.command("add")
def add(
    email: Email,
    role: Annotated[str, typer.Option("--role", help="admin, prescriber, nurse or front_desk.")],
    password_stdin: PasswordStdin = False,
    acting: ActingAdmin = None,
    as_json: AsJson = False,
) -> None:
    """Add a member of staff with a password (read from standard input)."""
    import os

    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services import UnitOfWork, add_user
    from ketaplan.settings import load_settings
    from ketaplan.store import open_database

    _refuse_argv_password(password_stdin)
    password = read_password_from_stdin()
    database = open_database(load_settings(os.environ).database_url)
    try:
        uow = UnitOfWork(database.session_factory)
        admin = _acting_admin(uow, acting)
        user_id = add_user(uow, email=email, role=role, actor=admin, password=password)
    finally:
        database.close()
    address = email.strip().lower()
    if as_json:
        print_json({"user_id": user_id, "email": address, "role": role, "added_by": admin.email})
    else:
        print_lines([f"Added {address} ({role}), user {user_id}, as {admin.email}."])


@app.command("password")
def password(
    email: Email,
    password_stdin: PasswordStdin = False,
    acting: ActingAdmin = None,
) -> None:
    """Set a staff member's password (read from standard input); their sign-ins end."""
    import os

    from ketaplan.cli._output import print_lines
    from ketaplan.errors import NotFoundError
    from ketaplan.services import UnitOfWork, load_actor
    from ketaplan.services.accounts import set_password
    from ketaplan.settings import load_settings
    from ketaplan.store import open_database

    _refuse_argv_password(password_stdin)
    new_password = read_password_from_stdin()
    database = open_database(load_settings(os.environ).database_url)
    try:
        uow = UnitOfWork(database.session_factory)
        admin = _acting_admin(uow, acting)
        target = load_actor(uow, email, origin="cli")
        if target.clinic_id != admin.clinic_id:
            raise NotFoundError(
                f"no active user with e-mail {target.email}", fields={"email": target.email}
            )
        set_password(uow, target.user_id, new_password, actor=admin)
    finally:
        database.close()
    print_lines([f"Set the password of {target.email}, as {admin.email}; their sign-ins ended."])
