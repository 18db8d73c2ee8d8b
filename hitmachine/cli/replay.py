"""``hitmachine replay``: replay a manual hit/no-hit test through the Hitmachine.

Registered on the ``hitmachine`` command in ``hitmachine/cli/main.py``. The heavy modules (the
app, uvicorn, Altair) are imported only when the command runs.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from hitmachine.core.errors import HitmachineError, InvalidInput

MAX_PROBLEMS_SHOWN = 50


class Language(str, Enum):
    """The report's language (the console's lines stay English, like every command's)."""

    nl = "nl"
    en = "en"

err = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


class RichProgress:
    """The engine's progress, as a rich progress bar on standard error."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(SpinnerColumn(), TextColumn("{task.description:<22}"), BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self._task: TaskID | None = None

    def __enter__(self) -> "RichProgress":
        self._bar.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is None:
            self._finish()
        self._bar.stop()

    def _finish(self) -> None:
        if self._task is not None:
            task = self._bar.tasks[-1]
            self._bar.update(self._task, completed=task.total)

    def start(self, description: str, total: int) -> None:
        self._finish()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._bar.advance(self._task, amount)

    def note(self, message: str) -> None:
        self._bar.console.print(f"[yellow]note:[/yellow] {escape(message)}")


def parse_reference_date(text: str) -> dt.date:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise InvalidInput("reference-date", "must be a date as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("reference-date", "is not an existing date") from None


def parse_adapter_tokens(pairs: list[str], file: Path | None) -> dict[str, str]:
    """``CODE=TOKEN`` from the options and from FILE (one per line, ``#`` starts a comment).
    Error messages name the agency or the line, never the token."""
    lines: list[tuple[str, str]] = [("--adapter-token", p) for p in pairs]
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidInput("adapter-tokens", f"cannot be read ({exc.strerror})") from None
        for number, line in enumerate(text.splitlines(), start=1):
            line = line.strip()
            if line and not line.startswith("#"):
                lines.append((f"{file}, line {number}", line))
    tokens: dict[str, str] = {}
    for where, item in lines:
        code, sep, token = item.partition("=")
        code, token = code.strip(), token.strip()
        if not sep or not code or not token:
            raise InvalidInput("adapter-token", f"{where}: must be CODE=TOKEN")
        if code in tokens:
            raise InvalidInput("adapter-token", f"given twice for {code}")
        tokens[code] = token
    return tokens


def replay_command(
    households: Annotated[Path, typer.Option(
        help="CSV: household_id,member_id,bsn,given_names,prefix,surname,date_of_birth")],
    extracts: Annotated[Path, typer.Option(
        help="directory with one <agency code>.csv per agency "
             "(bsn,given_names,prefix,surname,date_of_birth)")],
    reference_date: Annotated[str, typer.Option(
        metavar="YYYY-MM-DD", help="the date the questions are asked as on (ages, rules)")],
    out: Annotated[Path, typer.Option(
        help="directory for summary.json, report.md, report.html and the charts")],
    manual: Annotated[Path | None, typer.Option(
        help="CSV of the manual answers: household_id,member_id,agency,known (0 or 1)")] = None,
    server: Annotated[str | None, typer.Option(
        help="a running Hitmachine; without it a fresh temporary instance is used")] = None,
    token: Annotated[str | None, typer.Option(
        envvar="HITMACHINE_TOKEN", show_envvar=True,
        help="researcher token for the queries (with --server)")] = None,
    publish: Annotated[bool, typer.Option(
        help="publish the extracts (with --server: replaces those agencies' sets there)")] = True,
    adapter_token: Annotated[list[str] | None, typer.Option(
        metavar="CODE=TOKEN", help="adapter token per agency, to publish to --server")] = None,
    adapter_tokens: Annotated[Path | None, typer.Option(
        help="file with CODE=TOKEN lines (keeps tokens out of the process list)")] = None,
    keyring: Annotated[Path | None, typer.Option(
        help="adapter keyring from 'hitmachine keys export', to publish to --server")] = None,
    purpose: Annotated[str, typer.Option(help="query purpose (one that allows a "
                                              "reference date)")] = "replay",
    keep_instance: Annotated[Path | None, typer.Option(
        help="keep the embedded instance (database with audit log, keys) in this new "
             "directory instead of removing it")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000,
                                            help="adapter batch size")] = 5000,
    lang: Annotated[Language, typer.Option(
        help="language of the report: nl (Dutch) or en (English)")] = Language.nl,
) -> None:
    """Replay a manual hit/no-hit test: publish the extracts through the adapter, ask about
    every household through the query API as on the reference date, compare with the manual
    answers, and write summary.json and a report. See docs/replay.md."""
    from hitmachine.cli.support import settings as load_settings
    from hitmachine.replay.engine import run_replay
    from hitmachine.replay.inputs import ReplayInputError
    from hitmachine.replay.model import ReplayOptions

    # An embedded instance is configured like any other (HITMACHINE_*); a remote one is not
    # ours to configure, so its replay does not read the variables at all.
    settings = load_settings() if server is None else None
    try:
        options = ReplayOptions(
            households=households, extracts=extracts,
            reference_date=parse_reference_date(reference_date), out=out, manual=manual,
            server=server, token=token, publish=publish,
            adapter_tokens=parse_adapter_tokens(adapter_token or [], adapter_tokens),
            keyring=keyring, purpose=purpose, keep_instance=keep_instance,
            batch_size=batch_size, lang=lang.value)
        options.check()
        with RichProgress(err) as progress:
            outcome = run_replay(options, progress, settings)
    except ReplayInputError as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            err.print(f"[red]error:[/red] {escape(str(problem))}", soft_wrap=True)
        hidden = len(exc.problems) - MAX_PROBLEMS_SHOWN
        if hidden > 0:
            err.print(f"... and {hidden} more")
        err.print(exc.detail)
        raise typer.Exit(code=2) from None
    except InvalidInput as exc:
        message = exc.errors[0].message if exc.errors else exc.detail
        err.print(f"[red]error:[/red] {escape(f'--{exc.field} {message}')}", soft_wrap=True)
        raise typer.Exit(code=2) from None
    except HitmachineError as exc:
        err.print(f"[red]error:[/red] {escape(exc.detail)}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    summary = outcome.summary
    lines = [
        f"{summary['households']} households, {summary['individuals']} individuals: "
        f"{summary['households_with_hits']} with a hit, {summary['households_without_hits']} "
        f"without",
    ]
    if "agreement" in summary:
        cells = summary["agreement"].values()
        rows = sum(sum(c.values()) for c in cells)
        agreed = sum(c["true_positive"] + c["true_negative"] for c in cells)
        lines.append(f"same answer as the manual one on {agreed} of {rows} rows")
    lines.append(f"wrote {', '.join(p.name for p in outcome.files)} to {options.out}")
    for line in lines:
        stdout.print(escape(line), soft_wrap=True)
    # The engine's one measurement, which the report's method note gives too.
    stdout.print(f"replay took {run_time(outcome.run.seconds)}")


def run_time(value: float) -> str:
    """The run time as the English report writes it (the Dutch one with a decimal comma)."""
    from hitmachine.replay.texts import Words

    return Words("en").seconds(value)


__all__ = ["Language", "RichProgress", "parse_adapter_tokens", "parse_reference_date",
           "replay_command", "run_time"]
