"""The ``hitmachine`` command: set up, serve, and administer a Hitmachine instance.

A thin shell: every command builds ``Settings`` from the environment and calls a service.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hitmachine.cli_audit import audit_app
from hitmachine.cli_support import call as _call
from hitmachine.cli_support import context as _context
from hitmachine.cli_support import err
from hitmachine.cli_support import fail as _fail
from hitmachine.cli_support import request_id as _rid
from hitmachine.config import Settings
from hitmachine.domain.clock import iso_utc, utc_now
from hitmachine.domain.errors import Conflict, HitmachineError
from hitmachine.domain.principal import Role
from hitmachine.keyservice.cli import keyservice_app
from hitmachine.user_cli import user_app

app = typer.Typer(help="Hitmachine: privacy-preserving hit/no-hit service.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
keys_app = typer.Typer(help="Pseudonymisation keys: rotate, export for an adapter, retire.",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")  # web accounts: hitmachine/user_cli.py
app.add_typer(audit_app, name="audit")  # the audit log: hitmachine/cli_audit.py
app.add_typer(keyservice_app, name="keyservice")  # the OPRF key service: hitmachine/keyservice



@app.command()
def init() -> None:
    """Create or upgrade the database schema and create the keys when missing."""
    from hitmachine.instance import initialise

    try:
        for line in initialise(Settings()):
            err.print(line, soft_wrap=True)  # unwrapped: the public key must stay one line
    except HitmachineError as exc:
        _fail(exc)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
    ssl_ca_certs: Annotated[Path | None, typer.Option(help="CA for client certificates")] = None,
    require_client_cert: Annotated[bool, typer.Option(help="mutual TLS")] = False,
    access_log: Annotated[bool, typer.Option(help="log each request line")] = True,
) -> None:
    """Serve the API (and the web pages) with uvicorn."""
    from hitmachine.server import serve as run

    settings = Settings()
    try:
        from hitmachine.keystore import check_keys_dir, load_keyring
        from hitmachine.store.database import prepare_sqlite_file

        keyring = load_keyring(settings.keyring_path)  # refuse missing or exposed keys
        check_keys_dir(settings.keys_dir)
        prepare_sqlite_file(settings.database_url)  # and an exposed SQLite database
        if workers > 1 and settings.rate_limits and not settings.rate_limit_storage:
            err.print("warning: rate limits and query budgets are counted per worker; set "
                      "HITMACHINE_RATE_LIMIT_STORAGE=redis://... to share them")
        if keyring.primary.scheme != settings.pseudonym_scheme:
            raise Conflict(f"the keyring's primary version is {keyring.primary.scheme}, but "
                           f"HITMACHINE_PSEUDONYM_SCHEME is {settings.pseudonym_scheme}"
                           + ("; run: hitmachine keys migrate" if settings.pseudonym_scheme
                              == "oprf" else ""))
    except HitmachineError as exc:
        _fail(exc)
    # Files the service creates (SQLite's, the metrics directory's) are its user's alone.
    os.umask(0o077)
    run(host=host, port=port, workers=workers, ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile, ssl_ca_certs=ssl_ca_certs,
        require_client_cert=require_client_cert, access_log=access_log,
        log_level=settings.log_level.lower())


@keys_app.command("list")
def keys_list() -> None:
    """Show key versions (never key material)."""
    from hitmachine.keystore import load_keyring

    try:
        keyring = load_keyring(Settings().keyring_path)
    except HitmachineError as exc:
        _fail(exc)
    primary = keyring.primary.version
    for v in keyring.versions:
        state = "primary" if v.version == primary else ("active" if v.active else "retired")
        typer.echo(f"{v.version}\t{state}\t{iso_utc(v.created)}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Add a new primary key version; older versions stay active for queries."""
    from hitmachine.services import admin

    keyring = _call(lambda ctx: admin.rotate_key(ctx, admin.CONSOLE, _rid()))
    typer.echo(f"new primary key version {keyring.primary.version}; "
               f"active: {', '.join(map(str, keyring.active_versions))}")
    typer.echo("export it for the adapters with: hitmachine keys export --out FILE")


@keys_app.command("migrate")
def keys_migrate() -> None:
    """Move from hmac to oprf like a rotation: a new primary version evaluated by the key
    service; everybody stays findable under the old versions until they are retired."""
    from hitmachine.services import admin

    keyring = _call(lambda ctx: admin.migrate_keys(ctx, admin.CONSOLE, _rid()))
    typer.echo(f"new primary key version {keyring.primary.version} (oprf); "
               f"active: {', '.join(map(str, keyring.active_versions))}")
    typer.echo("export it for the adapters with: hitmachine keys export --out FILE; once "
               "every agency publishes under it, retire the hmac versions")


@keys_app.command("retire")
def keys_retire(version: int) -> None:
    """Stop using a key version; refused while an agency publishes only under it."""
    from hitmachine.services import admin

    keyring = _call(lambda ctx: admin.retire_key(ctx, admin.CONSOLE, version, _rid()))
    typer.echo(f"retired version {version}; active: {', '.join(map(str, keyring.active_versions))}")


@keys_app.command("export")
def keys_export(out: Annotated[Path, typer.Option(help="file to write (0600)")]) -> None:
    """Copy the active keys into a keyring file for an adapter."""
    from hitmachine.services import admin

    keyring = _call(lambda ctx: admin.export_keyring(ctx, admin.CONSOLE, out, _rid()))
    typer.echo(f"wrote {out} with key versions {', '.join(map(str, keyring.active_versions))}")


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="what the token may do")],
    name: Annotated[str, typer.Option(help="who holds it (recorded in the audit log)")],
    agency: Annotated[str | None, typer.Option(help="agency, for adapter and partner")] = None,
    expires_days: Annotated[int | None, typer.Option(min=1, help="expire after N days")] = None,
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    from hitmachine.services import admin

    expires = iso_utc(utc_now() + dt.timedelta(days=expires_days)) if expires_days else None
    info, token = _call(lambda ctx: admin.create_token(
        ctx, admin.CONSOLE, name=name, role=role, agency=agency, expires_at=expires,
        request_id=_rid()))
    err.print(f"token {info.id} for {info.name} ({info.role.value}"
              f"{', ' + info.agency if info.agency else ''}); store it now, it is not shown again:")
    sys.stdout.write(token + "\n")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (see ``token list``)."""
    from hitmachine.services import admin

    info = _call(lambda ctx: admin.revoke_token(ctx, admin.CONSOLE, token_id, _rid()))
    typer.echo(f"revoked token {info.id} ({info.name})")


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the tokens themselves)."""
    from hitmachine.services import admin

    ctx = _context()
    try:
        for t in admin.list_tokens(ctx, admin.CONSOLE, _rid()):
            state = "revoked" if t.revoked_at else "active"
            typer.echo(f"{t.id}\t{t.role.value}\t{t.agency or '-'}\t{state}\t{t.name}")
    finally:
        ctx.close()


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    directory: Annotated[Path, typer.Option("--dir", help="where the demo instance lives")] = Path(".demo"),
    foreground: Annotated[bool, typer.Option(help="keep serving until Ctrl+C")] = True,
) -> None:
    """A fresh SQLite instance with the synthetic Nijmegen data published through the adapter."""
    from hitmachine.demo import run_demo

    try:
        run_demo(directory=directory, port=port, foreground=foreground)
    except HitmachineError as exc:
        _fail(exc)


from hitmachine.replay.cli import replay_command  # noqa: E402  (light: heavy imports are lazy)

app.command("replay")(replay_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
