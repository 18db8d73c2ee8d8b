"""One-line errors on standard error for every command (the server's, the adapter's and the
key service's), so a mistake reads the same whichever part made it."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from hitmachine.core.errors import HitmachineError

# soft_wrap: a message is one line whatever the terminal's width (a pipe counts as 80
# columns, and rich would break a long variable name or path in the middle).
err = Console(stderr=True, soft_wrap=True, highlight=False)


def fail(exc: HitmachineError) -> NoReturn:
    """Print the problem (fields and messages, never a submitted value) and exit 2."""
    err.print(f"[red]error:[/red] {escape(exc.detail)}")
    for e in exc.errors:
        if f"{e.field}: {e.message}" != exc.detail:
            err.print(f"  {escape(e.field)}: {escape(e.message)}")
    raise typer.Exit(code=2)


__all__ = ["err", "fail"]
