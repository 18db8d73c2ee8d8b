"""``hitmachine audit ...``: checkpoints, verification, export, data-subject look-up, pruning.

Console actions are recorded under the console principal like the other admin commands.
The data subject's identity is read from standard input only: a BSN on the command line
would stay in the shell history and in the process list.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hitmachine.cli.support import call as _call
from hitmachine.cli.support import context as _context
from hitmachine.cli.support import err
from hitmachine.cli.support import fail as _fail
from hitmachine.cli.support import request_id as _rid
from hitmachine.core.errors import HitmachineError, InvalidInput

audit_app = typer.Typer(help="The tamper-evident audit log: checkpoints, verify, export, "
                             "data-subject look-up, retention.", no_args_is_help=True,
                        short_help="The tamper-evident audit log: verify, export, look-up.",
                        rich_markup_mode=None)  # plain help: see hitmachine/cli/main.py


@audit_app.command("checkpoint", short_help="Print the newest signed checkpoint.")
def checkpoint(
    sign: Annotated[bool, typer.Option(help="sequence pending records and sign the tree as "
                                            "it is now (else: print the newest)")] = True,
    key: Annotated[bool, typer.Option("--key", help="print the public verifier key")] = False,
) -> None:
    """Print the newest signed checkpoint (C2SP signed note); keep a copy outside."""
    from hitmachine.services import admin
    from hitmachine.services import audit as service

    ctx = _context()
    try:
        if key:
            typer.echo(service.verifier_key(ctx))
            return
        note = service.checkpoint_for(ctx, admin.CONSOLE, _rid(),
                                      wanted="sign" if sign else "newest", via="cli",
                                      detail={"signed": sign})
    except HitmachineError as exc:
        _fail(exc)
    finally:
        ctx.close()
    if note is None:
        err.print("no checkpoint has been signed yet")
        raise typer.Exit(code=1)
    sys.stdout.write(note)


@audit_app.command("integrate", short_help="Sequence pending records and sign now.")
def integrate() -> None:
    """Sequence pending records now and sign a checkpoint (the server does this itself)."""
    from hitmachine.services import audit as service

    ctx = _context()
    try:
        done = service.integrate(ctx, wait=True)
        note = service.sign_checkpoint_now(ctx)
    except HitmachineError as exc:
        _fail(exc)
    finally:
        ctx.close()
    err.print(f"sequenced {done} records; tree size {note.splitlines()[1]}")


@audit_app.command("verify", short_help="Recompute the tree; check every checkpoint.")
def verify(
    checkpoint: Annotated[list[Path] | None, typer.Option(
        "--checkpoint", help="a checkpoint kept outside (repeatable)")] = None,
    trusted_key: Annotated[list[str] | None, typer.Option(
        "--trusted-key", help="a verifier key (name+id+key) outside checkpoints may be "
                              "signed with (repeatable)")] = None,
) -> None:
    """Recompute the tree from every record and check it against every checkpoint.

    Exits 0 when everything holds, 1 naming the first bad sequence number otherwise."""
    from hitmachine.services import admin
    from hitmachine.services import audit as service

    try:
        notes = tuple(p.read_text(encoding="utf-8") for p in checkpoint or [])
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]error:[/red] cannot read a checkpoint file ({type(exc).__name__})")
        raise typer.Exit(code=2) from None
    ctx = _context()
    try:
        with _progress() as progress:
            result = service.verify_for(ctx, admin.CONSOLE, _rid(), via="cli",
                                        outside_checkpoints=notes,
                                        trusted_keys=tuple(trusted_key or ()),
                                        progress=progress)
    except HitmachineError as exc:
        _fail(exc)
    finally:
        ctx.close()
    summary = (f"{result.size} records, root {result.root_hash.hex()}, "
               f"{result.checkpoints_checked} checkpoints ({result.outside_checked} outside), "
               f"{result.pruned} pruned, {result.pending} pending")
    if result.ok:
        typer.echo(f"OK: {summary}")
        return
    where = (f"first bad seq {result.first_bad_seq}" if result.first_bad_seq is not None
             else "the checkpoints do not hold")
    typer.echo(f"FAILED: {where}; {summary}")
    for problem in result.problems:
        typer.echo(f"  {problem}")
    raise typer.Exit(code=1)


class _progress:
    """A rich progress bar on a terminal; nothing when stderr is a pipe or a file."""

    def __enter__(self) -> Any:
        if not err.is_terminal:
            self._bar = None
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("verifying"), BarColumn(),
                             TextColumn("{task.completed:,}/{task.total:,} records"),
                             TimeRemainingColumn(), console=err, transient=True)
        self._bar.start()
        task = self._bar.add_task("verify", total=None)

        def update(done: int, total: int) -> None:
            assert self._bar is not None
            self._bar.update(task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


@audit_app.command("export", short_help="Write records with their leaf data.")
def export(
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    since: Annotated[str | None, typer.Option("--from", help="ISO UTC instant, inclusive")] = None,
    until: Annotated[str | None, typer.Option("--to", help="ISO UTC instant, exclusive")] = None,
    event: Annotated[str | None, typer.Option(help="event, or a prefix ending in '.'")] = None,
    actor: Annotated[str | None, typer.Option(help="who acted")] = None,
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Write records with their leaf data (docs/audit-log.md) to recompute every hash."""
    from hitmachine.services import admin
    from hitmachine.services import audit as service
    from hitmachine.store.audit_log import AuditFilter

    if fmt not in ("jsonl", "csv"):
        _fail(InvalidInput("format", "must be jsonl or csv"))
    flt = AuditFilter(since=since, until=until, event=event, actor=actor)
    buffer = io.StringIO(newline="")
    count = _call(lambda ctx: service.export_records(
        ctx, admin.CONSOLE, flt, fmt, buffer, _rid(), via="cli"))  # type: ignore[arg-type]
    # Written only now: the export's own audit record is committed first.
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        out.write_text(buffer.getvalue(), encoding="utf-8", newline="")
    err.print(f"exported {count} records")


@audit_app.command("subject", short_help="Every record about one person (AVG art. 15).")
def subject(
    fmt: Annotated[str, typer.Option("--format", help="text or jsonl")] = "text",
) -> None:
    """Every record about one person (AVG art. 15). Reads the identity from stdin: a BSN
    alone, or a JSON object with bsn, given_names, prefix, surname, date_of_birth."""
    from hitmachine.core.identity import normalise_identity
    from hitmachine.services import admin
    from hitmachine.services import audit as service

    opened = _context()  # 'run init first' before the person is asked for, not after
    fields = _read_identity()
    try:
        identity = normalise_identity(**fields)
    except InvalidInput as exc:
        _fail(exc)
    rows = _call(lambda ctx: service.subject_records(ctx, admin.CONSOLE, identity, _rid(),
                                                     via="cli"), opened)
    if fmt != "jsonl":
        typer.echo("\t".join(_SUBJECT_COLUMNS))
    for row in rows:
        if fmt == "jsonl":
            typer.echo(json.dumps(service.export_row(row), ensure_ascii=True))
        else:
            typer.echo("\t".join(str(row[k] if row[k] is not None else "-")
                                  for k in _SUBJECT_COLUMNS))
    err.print(f"{len(rows)} records concern this person")


_SUBJECT_COLUMNS = ("seq", "recorded_at", "event", "actor", "organisation", "purpose",
                    "case_reference", "outcome", "agencies", "request_id")
_IDENTITY_KEYS = ("bsn", "given_names", "prefix", "surname", "date_of_birth")


def _read_identity() -> dict[str, str | None]:
    if sys.stdin.isatty():
        err.print("Enter the person; leave a field empty to skip it.")
        answers = {k: typer.prompt(k, default="", show_default=False,
                                   hide_input=(k == "bsn")) for k in _IDENTITY_KEYS}
        return {k: (v.strip() or None) for k, v in answers.items()}
    text = sys.stdin.read(64 * 1024).strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            _fail(InvalidInput("stdin", "is not valid JSON"))
        if not isinstance(data, dict) or set(data) - set(_IDENTITY_KEYS):
            _fail(InvalidInput("stdin", f"takes only the keys {', '.join(_IDENTITY_KEYS)}"))
        return {k: (str(data[k]).strip() or None) if data.get(k) is not None else None
                for k in _IDENTITY_KEYS}
    if not text:
        _fail(InvalidInput("stdin", "give a BSN or a JSON object on standard input"))
    return {"bsn": text}


@audit_app.command("prune", short_help="Clear old records' contents (hashes stay).")
def prune(
    dry_run: Annotated[bool, typer.Option(help="only count what would be pruned")] = False,
) -> None:
    """Clear the contents of records older than the retention period (leaf hashes stay)."""
    from hitmachine.services import admin
    from hitmachine.services import audit as service

    result = _call(lambda ctx: service.prune(ctx, admin.CONSOLE, _rid(), dry_run=dry_run))
    verb = "would prune" if dry_run else "pruned"
    typer.echo(f"{verb} {result.pruned} records recorded before {result.cutoff}"
               + (f"; {result.checkpoints_thinned} old checkpoints thinned" if not dry_run
                  else ""))


__all__ = ["audit_app"]
