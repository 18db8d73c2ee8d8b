"""What the administrator sees while a run goes: a progress bar on a terminal, nothing in
cron or CI (stderr is not a terminal) or with ``--quiet``; and notes about decisions the run
took (resuming, falling back from delta to snapshot), which go to stderr unless quiet."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO

Update = Callable[[int], None]


class Reporter:
    def __init__(self, *, progress: bool, quiet: bool, stream: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self._enabled = progress and not quiet
        if self._enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._console = Console(file=self.stream)
            self._columns = (SpinnerColumn(), TextColumn("{task.description:<12}"), BarColumn(),
                             TextColumn("{task.fields[shown]}"), TimeElapsedColumn(),
                             TimeRemainingColumn())
            self._factory = Progress

    @classmethod
    def for_terminal(cls, *, quiet: bool = False, progress: bool | None = None) -> "Reporter":
        if progress is None:
            progress = sys.stderr.isatty()
        return cls(progress=progress, quiet=quiet)

    @classmethod
    def silent(cls) -> "Reporter":
        return cls(progress=False, quiet=True)

    def note(self, message: str) -> None:
        if self.quiet:
            return
        if self._enabled:
            self._console.print(message, markup=False, highlight=False)
        else:
            print(message, file=self.stream, flush=True)

    @contextlib.contextmanager
    def task(self, description: str, total: int | None, unit: str) -> Iterator[Update]:
        """A progress bar for one phase; yields ``update(completed)``."""
        if not self._enabled:
            yield lambda completed: None
            return
        progress = self._factory(*self._columns, console=self._console, transient=False)

        def shown(completed: int) -> str:
            if unit == "bytes":
                done = f"{completed / 1e6:,.1f}"
                return f"{done} / {total / 1e6:,.1f} MB" if total else f"{done} MB"
            return f"{completed:,} / {total:,} {unit}" if total else f"{completed:,} {unit}"

        with progress:
            task = progress.add_task(description, total=total, shown=shown(0))

            def update(completed: int) -> None:
                progress.update(task, completed=completed, shown=shown(completed))

            yield update
            if total:
                progress.update(task, completed=total, shown=shown(total))


__all__ = ["Reporter", "Update"]
