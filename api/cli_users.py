"""`lienthong user …` and `lienthong agency …`: bring a production database to its first admin,
and manage accounts from the server's shell (set a password, disable, enable).

Whoever runs these commands can read the server's settings and database anyway, so they act
without an admin's scope. Passwords are never taken on the command line (it shows in `ps`
and in shell history): they are read from stdin (`--password-stdin`) or prompted for.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from engine.agencies import AGENCY_KINDS
from engine.principal import ROLES, Clearance

__all__ = ["agency_app", "user_app"]

user_app = typer.Typer(help="Users / người dùng", no_args_is_help=True)
agency_app = typer.Typer(help="Agencies / cơ quan", no_args_is_help=True)

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (no prompt)"
    ),
]
ClearanceOpt = Annotated[
    int,
    typer.Option(min=0, max=3, help="Secrecy clearance: 0 none, 1 Mật, 2 Tối mật, 3 Tuyệt mật"),
]


def _read_password(from_stdin: bool) -> str:
    """The new password, from stdin's first line or an interactive prompt; checked for length."""
    from engine.users import check_new_password

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(
            "Mật khẩu mới / new password", hide_input=True, confirmation_prompt=True
        )
    check_new_password(password, field="password")
    return password


@agency_app.command("add")
def agency_add(
    code: Annotated[str, typer.Option(help="Identifier code, e.g. 000.00.00.H99")],
    name: Annotated[str, typer.Option(help="Full name")],
    kind: Annotated[str, typer.Option(help=f"One of: {', '.join(sorted(AGENCY_KINDS))}")],
    parent: Annotated[
        str | None, typer.Option(help="Parent agency code; none makes a root agency")
    ] = None,
) -> None:
    """Add an agency (a root one without --parent): the first step on an empty database."""
    from api.cli import _unit_of_work, out
    from engine.agencies import create_agency

    with _unit_of_work() as (_, session):
        agency = create_agency(session, code, name, kind, parent)
        made = agency.code
    out.print(f"agency {made} added" + (f" under {parent.upper()}" if parent else " (root)"))


def _add(
    username: str,
    full_name: str,
    agency_code: str,
    roles: list[str],
    clearance: int,
    password_stdin: bool,
) -> None:
    from api.cli import _unit_of_work, out
    from engine.users import create_user

    password = _read_password(password_stdin)
    with _unit_of_work() as (_, session):
        create_user(
            session,
            username,
            full_name,
            agency_code,
            roles,
            password,
            clearance=Clearance(clearance),
        )
    out.print(f"user {username} added ({', '.join(sorted(set(roles)))})")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Option(help="Login name (a-z 0-9 . _ -)")],
    agency_code: Annotated[str, typer.Option("--agency-code", help="The user's agency")],
    role: Annotated[
        list[str], typer.Option("--role", help=f"Repeat for several: {', '.join(sorted(ROLES))}")
    ],
    full_name: Annotated[str | None, typer.Option(help="Defaults to the username")] = None,
    clearance: ClearanceOpt = 0,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user; the password is read from stdin or prompted for."""
    from api.cli import _errors

    with _errors():
        _add(username, full_name or username, agency_code, role, clearance, password_stdin)


@user_app.command("create-admin")
def user_create_admin(
    username: Annotated[str, typer.Option(help="Login name (a-z 0-9 . _ -)")],
    agency_code: Annotated[
        str, typer.Option("--agency-code", help="The admin's agency (their scope is its subtree)")
    ],
    full_name: Annotated[str | None, typer.Option(help="Defaults to the username")] = None,
    clearance: ClearanceOpt = 0,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an administrator (e.g. the first one of a production database)."""
    from api.cli import _errors

    with _errors():
        _add(username, full_name or username, agency_code, ["admin"], clearance, password_stdin)


@user_app.command("set-password")
def user_set_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (read from stdin or prompted for); their log-in sessions
    and API tokens end."""
    from api.cli import _errors, _unit_of_work, out
    from engine.users import reset_password

    with _errors():
        password = _read_password(password_stdin)
    with _unit_of_work() as (_, session):
        reset_password(session, username, password)
    out.print(f"password of {username} set")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Disable an account: its sessions and API tokens stop working at once."""
    from api.cli import _unit_of_work, out
    from engine.users import set_active

    with _unit_of_work() as (_, session):
        set_active(session, username, False)
    out.print(f"user {username} disabled")


@user_app.command("enable")
def user_enable(username: str) -> None:
    """Enable an account again."""
    from api.cli import _unit_of_work, out
    from engine.users import set_active

    with _unit_of_work() as (_, session):
        set_active(session, username, True)
    out.print(f"user {username} enabled")
