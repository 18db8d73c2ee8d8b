"""``hitmachine keyservice ...``: set up and run the OPRF key service.

Runs where the key service runs (ideally another machine, another operator), with its own
``HITMACHINE_KEYSERVICE_DIR``; it never touches the Veiligheidshuis's keys or database.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hitmachine.core.console import err
from hitmachine.core.console import fail as _fail
from hitmachine.core.errors import HitmachineError
from hitmachine_keyservice import audit, keyfile, tokens
from hitmachine_keyservice.settings import KeyServiceSettings, load_keyservice_settings

# Plain click help, like the hitmachine command (hitmachine/cli/main.py says why).
keyservice_app = typer.Typer(help="The OPRF key service for blind pseudonyms.",
                             no_args_is_help=True, rich_markup_mode=None)
token_app = typer.Typer(help="Key service tokens for adapters and the query path.",
                        no_args_is_help=True, rich_markup_mode=None)
keyservice_app.add_typer(token_app, name="token")


def _loaded() -> KeyServiceSettings:
    """The settings, built once per command; a bad value ends it naming its variable."""
    try:
        return load_keyservice_settings()
    except HitmachineError as exc:
        _fail(exc)


def _settings() -> KeyServiceSettings:
    s = _loaded()
    s.dir.mkdir(parents=True, exist_ok=True)
    os.chmod(s.dir, 0o700)
    return s


@keyservice_app.command("init")
def init(version: Annotated[int, typer.Option(
        min=1, help="the first key's version: the Veiligheidshuis keyring's oprf version")] = 1
         ) -> None:
    """Create the key file (0600) with one OPRF key."""
    s = _settings()
    try:
        keyfile.create(s.key_path, version)
    except HitmachineError as exc:
        _fail(exc)
    err.print(f"created {s.key_path} with key version {version}")


@keyservice_app.command("rotate", short_help="Add a key version.")
def rotate(version: Annotated[int | None, typer.Option(
        min=1, help="the new key's version  [default: the newest + 1]")] = None) -> None:
    """Add a key version (then register it with 'hitmachine keys rotate' or 'keys migrate')."""
    s = _settings()
    try:
        keys = keyfile.load(s.key_path).add(version)
        keyfile.save(s.key_path, keys)
    except HitmachineError as exc:
        _fail(exc)
    typer.echo(f"key versions: {', '.join(map(str, keys.active_versions))}")


@keyservice_app.command("retire", short_help="Stop evaluating under a key version.")
def retire(version: int) -> None:
    """Stop evaluating under a key version (once the keyring has retired it too)."""
    s = _settings()
    try:
        keys = keyfile.load(s.key_path).retire(version)
        keyfile.save(s.key_path, keys)
    except HitmachineError as exc:
        _fail(exc)
    typer.echo(f"retired {version}; active: {', '.join(map(str, keys.active_versions))}")


@keyservice_app.command("versions")
def versions() -> None:
    """Key versions (never key material)."""
    try:
        keys = keyfile.load(_settings().key_path)
    except HitmachineError as exc:
        _fail(exc)
    typer.echo("version\tstate\tcreated")
    for k in keys.keys:
        typer.echo(f"{k.version}\t{'active' if k.active else 'retired'}\t{k.created.isoformat()}")


@token_app.command("create", short_help="Create a token (printed once).")
def token_create(
    name: Annotated[str, typer.Option(help="who holds it (the audit log counts per name)")],
    per_minute: Annotated[int | None, typer.Option(min=1, help="evaluations per minute")] = None,
    per_day: Annotated[int | None, typer.Option(min=1, help="evaluations per UTC day")] = None,
) -> None:
    """A token, printed once alone on the last line; only its hash is kept."""
    s = _settings()
    try:
        current = tokens.load(s.tokens_path)
        updated, entry, token = current.create(name, per_minute or s.per_minute,
                                               per_day or s.per_day)
        tokens.save(s.tokens_path, updated)
    except HitmachineError as exc:
        _fail(exc)
    err.print(f"key service token {entry.id} for {entry.name} ({entry.per_minute}/minute, "
              f"{entry.per_day}/day); store it now, it is not shown again:")
    sys.stdout.write(token + "\n")


@token_app.command("list")
def token_list() -> None:
    """Tokens (never the tokens themselves)."""
    try:
        current = tokens.load(_settings().tokens_path)
    except HitmachineError as exc:
        _fail(exc)
    typer.echo("id\tstate\tper minute\tper day\tname")
    for t in current.tokens:
        typer.echo(f"{t.id}\t{'revoked' if t.revoked else 'active'}\t{t.per_minute}/min\t"
                   f"{t.per_day}/day\t{t.name}")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token; a running key service refuses it within a second."""
    s = _settings()
    try:
        tokens.save(s.tokens_path, tokens.load(s.tokens_path).revoke(token_id))
    except HitmachineError as exc:
        _fail(exc)
    typer.echo(f"revoked key service token {token_id}")


@keyservice_app.command("audit", short_help="Evaluations per day and adapter.")
def audit_totals() -> None:
    """Evaluations per day and adapter (counts: the key service knows nothing more)."""
    s = _loaded()
    typer.echo("day\tadapter\toutcome\tevaluations")
    for (day, adapter, outcome), count in sorted(audit.totals(audit.read(s.audit_path)).items()):
        typer.echo(f"{day}\t{adapter}\t{outcome}\t{count}")


@keyservice_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8100,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
) -> None:
    """Serve the key service with uvicorn."""
    import uvicorn

    from hitmachine.core.listen import bind_tcp
    from hitmachine_keyservice.app import create_app

    s = _loaded()
    try:
        keyfile.load(s.key_path)  # refuse to start on a missing or exposed key file
        bind_tcp(host, port).close()  # a taken port in one line, not uvicorn's traceback
    except HitmachineError as exc:
        _fail(exc)
    # One worker serves the settings loaded above; uvicorn starts more only from an import
    # string, and each of those processes loads its own in the factory (same validation).
    app = (functools.partial(create_app, s) if workers == 1
           else "hitmachine_keyservice.app:create_app")
    uvicorn.run(app, factory=True, host=host, port=port, workers=workers,
                ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile, access_log=False,
                log_level="info")


def main() -> None:
    """``hitmachine-keyservice``: the same commands as ``hitmachine keyservice``, for a key
    service machine that has only this part installed."""
    keyservice_app(prog_name="hitmachine-keyservice")


__all__ = ["keyservice_app", "main"]
