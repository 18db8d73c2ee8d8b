"""``hitmachine user``: web accounts for the coordinator, the privacy officer and the admin.

Passwords are never command-line arguments (they would end up in shell history and the
process list): they are asked for twice without echo on a terminal, or read as the first
line of standard input otherwise (``printf '%s\\n' "$PW" | hitmachine user create ...``).
Every change is audited under the actor ``console``.
"""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated

import typer

from hitmachine.cli.support import call as _call
from hitmachine.cli.support import context as _context
from hitmachine.cli.support import err
from hitmachine.cli.support import request_id as _rid

user_app = typer.Typer(help="Web accounts: create, list, unlock, password, second factor.",
                       no_args_is_help=True, rich_markup_mode=None)  # see hitmachine/cli/main.py


class WebRole(str, Enum):
    COORDINATOR = "coordinator"
    PRIVACY_OFFICER = "privacy-officer"
    ADMIN = "admin"


def read_password(confirm: bool = True) -> str:
    """A password from the terminal (hidden, asked twice) or from the first line of stdin."""
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True,
                                     confirmation_prompt=confirm)
        return password
    line = sys.stdin.readline()
    if not line:
        err.print("[red]error:[/red] no password on standard input")
        raise typer.Exit(code=2)
    return line.rstrip("\r\n")


@user_app.command("create")
def user_create(
    role: Annotated[WebRole, typer.Option(help="what the account may do")],
    name: Annotated[str, typer.Option(help="account name: signs in with it; the audit actor")],
) -> None:
    """Create an account. The password is asked for (or read from stdin), never an argument."""
    from hitmachine.core.principal import Role
    from hitmachine.services import admin, users

    opened = _context()  # 'run init first' before a password is asked for, not after
    password = read_password()
    user = _call(lambda ctx: users.create_user(ctx, admin.CONSOLE, name=name,
                                               role=Role(role.value), password=password,
                                               request_id=_rid()), opened)
    typer.echo(f"created account {user.id}: {user.name} ({user.role.value})")


@user_app.command("list")
def user_list() -> None:
    """List accounts and their state (never password hashes)."""
    from hitmachine.core.clock import utc_now_iso
    from hitmachine.services import admin, factor, users

    ctx = _context()
    try:
        now = utc_now_iso()
        typer.echo("id\trole\tstate\tsecond factor\tlast sign-in\tname")
        listed = users.list_users(ctx, admin.CONSOLE, _rid())
        with_factor = factor.enrolled(ctx)
        for u in listed:
            state = ("disabled" if u.disabled else f"locked until {u.locked_until}"
                     if u.locked(now) else "active")
            second = ("totp" if u.id in with_factor else "at the identity provider"
                      if u.password_hash is None else "none, enrols at next sign-in"
                      if factor.required(ctx.settings, u) else "none")
            typer.echo(f"{u.id}\t{u.role.value}\t{state}\t{second}\t"
                       f"{u.last_signin_at or 'never signed in'}\t{u.name}")
    finally:
        ctx.close()


@user_app.command("unlock", short_help="Lift a lock-out after failed sign-ins.")
def user_unlock(name: Annotated[str, typer.Option(help="the account to unlock")]) -> None:
    """Lift a lock-out after failed sign-ins now, rather than when it runs out."""
    from hitmachine.services import admin, users

    user = _call(lambda ctx: users.unlock(ctx, admin.CONSOLE, name, _rid()))
    typer.echo(f"unlocked {user.name}")


@user_app.command("passwd", short_help="Set a new password; ends the sessions.")
def user_passwd(name: Annotated[str, typer.Option(help="the account")]) -> None:
    """Set a new password (asked for, or read from stdin); ends the account's sessions."""
    from hitmachine.services import admin, users

    opened = _context()  # 'run init first' before a password is asked for, not after
    password = read_password()
    user = _call(lambda ctx: users.set_password(ctx, admin.CONSOLE, name, password, _rid()),
                 opened)
    typer.echo(f"new password set for {user.name}; their sessions have ended")


@user_app.command("reset-factor", short_help="Remove the second factor; ends the sessions.")
def user_reset_factor(name: Annotated[str, typer.Argument(help="the account")]) -> None:
    """Remove an account's second factor and recovery codes (a lost phone) and end its
    sessions: at the next sign-in, after the password, the account enrols a new factor."""
    from hitmachine.services import admin, factor

    user, had = _call(lambda ctx: factor.reset(ctx, admin.CONSOLE, name, _rid()))
    if had:
        typer.echo(f"second factor of {user.name} removed; their sessions have ended; they "
                   "enrol a new one at their next sign-in")
    else:
        typer.echo(f"{user.name} had no second factor; their sessions have ended")


@user_app.command("disable", short_help="Disable an account; ends its sessions.")
def user_disable(name: Annotated[str, typer.Option(help="the account")]) -> None:
    """Disable an account: it can no longer sign in and its sessions end at once."""
    _set_disabled(name, True)


@user_app.command("enable")
def user_enable(name: Annotated[str, typer.Option(help="the account")]) -> None:
    """Enable a disabled account again."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    from hitmachine.services import admin, users

    user = _call(lambda ctx: users.set_disabled(ctx, admin.CONSOLE, name, disabled, _rid()))
    typer.echo(f"{'disabled' if disabled else 'enabled'} {user.name}")


__all__ = ["read_password", "user_app"]
