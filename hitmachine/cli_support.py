"""What every ``hitmachine`` sub-command shares: the error console, how a domain error
ends a command, the service context, and the request id a command's audit records carry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer
from rich.console import Console

from hitmachine.config import Settings
from hitmachine.domain.errors import HitmachineError

if TYPE_CHECKING:
    from hitmachine.services.context import Context

T = TypeVar("T")
err = Console(stderr=True)


def fail(exc: HitmachineError) -> NoReturn:
    """Print the problem (fields and messages, never a submitted value) and exit 2."""
    err.print(f"[red]error:[/red] {exc.detail}")
    for e in exc.errors:
        if f"{e.field}: {e.message}" != exc.detail:
            err.print(f"  {e.field}: {e.message}")
    raise typer.Exit(code=2)


def context() -> Context:
    # Imported late: `hitmachine --help` should not load the database layer.
    from hitmachine.services.context import Context

    return Context.from_settings(Settings())


def call(use: Callable[[Context], T]) -> T:
    """One service call on a fresh context, closed after; a domain error ends the command."""
    ctx = context()
    try:
        return use(ctx)
    except HitmachineError as exc:
        fail(exc)
    finally:
        ctx.close()


def request_id() -> str:
    return "cli-" + uuid.uuid4().hex


__all__ = ["call", "context", "err", "fail", "request_id"]
