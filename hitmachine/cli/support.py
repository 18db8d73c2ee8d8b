"""What every ``hitmachine`` sub-command shares: the error console, how a domain error
ends a command, the settings and the checks an instance must pass before a command uses
it, the service context, and the request id a command's audit records carry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hitmachine.core.console import err, fail
from hitmachine.core.errors import HitmachineError, InvalidInput, NotFound
from hitmachine.settings import Settings, load_settings

if TYPE_CHECKING:
    from hitmachine.services.context import Context

T = TypeVar("T")
def settings() -> Settings:
    """The settings from the environment, built once per command; a bad value ends the
    command naming its variable (pydantic's own message would quote the value, and a
    database URL may hold a password)."""
    try:
        return load_settings()
    except InvalidInput as exc:
        fail(exc)


def check_instance(s: Settings) -> None:
    """Refuse, in one line, an instance a command cannot use: no keyring (before ``init``,
    or run from the wrong directory), or a database that is missing, unreachable, or
    without the current schema."""
    from hitmachine.store.migrate import check_database

    if not s.keyring_path.is_file():
        raise NotFound(f"{s.keyring_path} does not exist; run 'hitmachine init' first "
                       f"(or run this where the instance lives)")
    check_database(s.database_url)


def context() -> Context:
    """The service context for a checked instance; a problem ends the command."""
    # Imported late: `hitmachine --help` should not load the database layer.
    from hitmachine.services.context import Context

    s = settings()
    try:
        check_instance(s)
        return Context.from_settings(s)
    except HitmachineError as exc:
        fail(exc)


def call(use: Callable[[Context], T], ctx: Context | None = None) -> T:
    """One service call on ``ctx`` (or a fresh context), closed after; a domain error ends
    the command."""
    ctx = ctx or context()
    try:
        return use(ctx)
    except HitmachineError as exc:
        fail(exc)
    finally:
        ctx.close()


def request_id() -> str:
    return "cli-" + uuid.uuid4().hex


__all__ = ["call", "check_instance", "context", "err", "fail", "request_id", "settings"]
