"""``ketaplan user``: staff accounts from the command line (add, list, role, password,
deactivate, reactivate), with the same rules and audit trail as the API and the staff page
(:mod:`ketaplan.services.staff`).

Passwords are read from standard input (``--password-stdin``), never from the command line,
where other users of the machine could read them in the process list and the shell history.

The command acts as an admin of the clinic, and the audit trail records that admin with the
origin ``cli``. Which admin: the one named by ``--as``; without it, the first admin (lowest
id) of the only clinic in the database. With several clinics, ``--as`` is required.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.services import Actor, UnitOfWork
    from ketaplan.services.staff import StaffMember

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
    from ketaplan.errors import PermissionDenied
    from ketaplan.services import load_actor
    from ketaplan.services.maintenance import operator_admin

    if email is not None:
        actor = load_actor(uow, email, origin="cli")
        if actor.role != "admin":
            raise PermissionDenied(
                f"{actor.email} is {actor.role}; managing accounts needs an admin",
                fields={"role": actor.role, "allowed": ["admin"]},
            )
        return actor
    return operator_admin(uow)


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
    name: Annotated[
        str | None, typer.Option("--name", help="Their name, as the staff page shows it.")
    ] = None,
) -> None:
    """Add a member of staff with a password (read from standard input)."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services import add_user

    _refuse_argv_password(password_stdin)
    password = read_password_from_stdin()
    with _as_admin(acting) as (uow, admin):
        user_id = add_user(
            uow,
            email=email,
            role=role,
            actor=admin,
            password=password,
            full_name=None if name is None else name.strip() or None,
        )
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
    """Reset a staff member's password (read from standard input); their sign-ins end."""
    from ketaplan.cli._output import print_lines
    from ketaplan.services.staff import find_staff_member, reset_password

    _refuse_argv_password(password_stdin)
    new_password = read_password_from_stdin()
    with _as_admin(acting) as (uow, admin):
        reset_password(uow, find_staff_member(uow, email, actor=admin), new_password, actor=admin)
    address = email.strip().lower()
    print_lines([f"Set the password of {address}, as {admin.email}; their sign-ins ended."])


@contextmanager
def _as_admin(acting: str | None) -> Iterator[tuple[UnitOfWork, Actor]]:
    """The database (closed after) and the acting admin (``--as``, or the first admin)."""
    import os

    from ketaplan.services.maintenance import operator_unit_of_work
    from ketaplan.settings import load_settings

    with operator_unit_of_work(load_settings(os.environ).database_url) as uow:
        yield uow, _acting_admin(uow, acting)


def _member_json(member: StaffMember) -> dict[str, object]:
    return {
        "user_id": member.user_id,
        "email": member.email,
        "full_name": member.full_name,
        "role": member.role,
        "active": member.active,
        "has_password": member.has_password,
        "open_sign_ins": member.open_sign_ins,
        "created_at": member.created_at.isoformat(),
    }


def _member_line(member: StaffMember) -> str:
    state = "active" if member.active else "deactivated"
    password_state = "" if member.has_password else ", no password yet"
    return (
        f"{member.user_id:>5}  {member.email}  {member.role}  {state}{password_state}, "
        f"{member.open_sign_ins} open sign-in{'s' if member.open_sign_ins != 1 else ''}"
    )


@app.command("list")
def list_users(acting: ActingAdmin = None, as_json: AsJson = False) -> None:
    """List the clinic's staff: role, active or deactivated, open sign-ins."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.services.staff import list_staff

    with _as_admin(acting) as (uow, admin):
        members = list_staff(uow, actor=admin)
    if as_json:
        print_json({"staff": [_member_json(member) for member in members]})
    else:
        print_lines([_member_line(member) for member in members])


@app.command("deactivate")
def deactivate(email: Email, acting: ActingAdmin = None, as_json: AsJson = False) -> None:
    """Deactivate a staff member's account: no more sign-ins, and every open one ends now."""
    from ketaplan.services.staff import deactivate_user, find_staff_member

    with _as_admin(acting) as (uow, admin):
        member = deactivate_user(uow, find_staff_member(uow, email, actor=admin), actor=admin)
    _report(member, f"Deactivated {member.email}, as {admin.email}; their sign-ins ended.", as_json)


@app.command("reactivate")
def reactivate(email: Email, acting: ActingAdmin = None, as_json: AsJson = False) -> None:
    """Let a deactivated account sign in again (with its password)."""
    from ketaplan.services.staff import find_staff_member, reactivate_user

    with _as_admin(acting) as (uow, admin):
        member = reactivate_user(uow, find_staff_member(uow, email, actor=admin), actor=admin)
    _report(member, f"Reactivated {member.email}, as {admin.email}.", as_json)


@app.command("role")
def role(
    email: Email,
    new_role: Annotated[
        str, typer.Option("--role", help="admin, prescriber, nurse or front_desk.")
    ],
    acting: ActingAdmin = None,
    as_json: AsJson = False,
) -> None:
    """Change a staff member's role; it applies from their next request."""
    from ketaplan.services.staff import change_role, find_staff_member

    with _as_admin(acting) as (uow, admin):
        member = change_role(uow, find_staff_member(uow, email, actor=admin), new_role, actor=admin)
    _report(member, f"{member.email} is now {member.role}, as {admin.email}.", as_json)


def _report(member: StaffMember, line: str, as_json: bool) -> None:
    from ketaplan.cli._output import print_json, print_lines

    if as_json:
        print_json(_member_json(member))
    else:
        print_lines([line])
