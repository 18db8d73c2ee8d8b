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

from hitmachine.cli.audit import audit_app
from hitmachine.cli.support import call as _call
from hitmachine.cli.support import check_instance, err
from hitmachine.cli.support import context as _context
from hitmachine.cli.support import fail as _fail
from hitmachine.cli.support import request_id as _rid
from hitmachine.cli.support import settings as _settings
from hitmachine.cli.users import user_app
from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import Conflict, HitmachineError, InvalidInput, Unavailable
from hitmachine.core.principal import Role
from hitmachine_keyservice.cli import keyservice_app

# rich_markup_mode=None on every Typer: click's plain help rewraps paragraphs to the
# terminal, never cuts an option name, and shows no "<bool>" beside flags and --help.
app = typer.Typer(help="Hitmachine: privacy-preserving hit/no-hit service.", no_args_is_help=True,
                  pretty_exceptions_enable=False, rich_markup_mode=None)
keys_app = typer.Typer(help="Pseudonymisation keys: rotate, export for an adapter, retire.",
                       no_args_is_help=True, rich_markup_mode=None)
token_app = typer.Typer(help="API tokens: create, list, revoke.", no_args_is_help=True,
                        rich_markup_mode=None)
app.add_typer(keys_app, name="keys")
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")  # web accounts: hitmachine/cli/users.py
app.add_typer(audit_app, name="audit")  # the audit log: hitmachine/cli/audit.py
app.add_typer(keyservice_app, name="keyservice")  # the OPRF key service: hitmachine_keyservice



@app.command(short_help="Create or upgrade the schema; create missing keys.")
def init() -> None:
    """Create or upgrade the database schema and create the keys when missing."""
    from sqlalchemy.exc import DBAPIError

    from hitmachine.services.instance import initialise
    from hitmachine.store.migrate import connect_problem

    settings = _settings()
    try:
        for line in initialise(settings):
            err.print(line)  # unwrapped (the console's soft wrap): the public key is one line
    except HitmachineError as exc:
        _fail(exc)
    except DBAPIError as exc:
        _fail(connect_problem(settings.database_url, exc))
    except OSError as exc:  # the keys directory or the SQLite file's directory
        _fail(Unavailable(f"cannot create {exc.filename}: {exc.strerror}"))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM)")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM)")] = None,
    ssl_ca_certs: Annotated[Path | None, typer.Option(help="CA for client certificates")] = None,
    require_client_cert: Annotated[bool, typer.Option(
        help="mutual TLS (off unless given)", show_default=False)] = False,
    access_log: Annotated[bool, typer.Option(help="log each request line")] = True,
) -> None:
    """Serve the API (and the web pages) with uvicorn."""
    from hitmachine.http.server import serve as run

    settings = _settings()
    try:
        from hitmachine.core.keystore import check_keys_dir, load_keyring
        from hitmachine.store.database import prepare_sqlite_file

        keyring = load_keyring(settings.keyring_path)  # refuse missing or exposed keys
        check_keys_dir(settings.keys_dir)
        check_instance(settings)  # refuse a database without the current schema
        prepare_sqlite_file(settings.database_url)  # and an exposed SQLite database
        if workers > 1 and settings.rate_limits and not settings.rate_limit_storage:
            err.print("warning: rate limits and query budgets are counted per worker; set "
                      "HITMACHINE_RATE_LIMIT_STORAGE=redis://... to share them")
        if keyring.primary.scheme != settings.pseudonym_scheme:
            raise Conflict(f"the keyring's primary version is {keyring.primary.scheme}, but "
                           f"HITMACHINE_PSEUDONYM_SCHEME is {settings.pseudonym_scheme}"
                           + ("; run: hitmachine keys migrate" if settings.pseudonym_scheme
                              == "oprf" else ""))
        # Files the service creates (SQLite's, the metrics directory's) are its user's alone.
        os.umask(0o077)
        run(settings, host=host, port=port, workers=workers, ssl_certfile=ssl_certfile,
            ssl_keyfile=ssl_keyfile, ssl_ca_certs=ssl_ca_certs,
            require_client_cert=require_client_cert, access_log=access_log,
            log_level=settings.log_level.lower(),
            on_listening=lambda url: err.print(f"Hitmachine listening on {url}  "
                                               f"(Ctrl+C stops it)"))
    except HitmachineError as exc:
        _fail(exc)


@keys_app.command("list")
def keys_list() -> None:
    """Show key versions (never key material)."""
    from hitmachine.core.keystore import load_keyring

    try:
        keyring = load_keyring(_settings().keyring_path)
    except HitmachineError as exc:
        _fail(exc)
    primary = keyring.primary.version
    typer.echo("version\tstate\tcreated")
    for v in keyring.versions:
        state = "primary" if v.version == primary else ("active" if v.active else "retired")
        typer.echo(f"{v.version}\t{state}\t{iso_utc(v.created)}")


@keys_app.command("rotate", short_help="Add a new primary key version.")
def keys_rotate() -> None:
    """Add a new primary key version; older versions stay active for queries."""
    from hitmachine.services import admin

    keyring = _call(lambda ctx: admin.rotate_key(ctx, admin.CONSOLE, _rid()))
    typer.echo(f"new primary key version {keyring.primary.version}; "
               f"active: {', '.join(map(str, keyring.active_versions))}")
    typer.echo("export it for the adapters with: hitmachine keys export --out FILE")


@keys_app.command("migrate", short_help="Move from hmac to oprf pseudonyms.")
def keys_migrate() -> None:
    """Move from hmac to oprf like a rotation: a new primary version evaluated by the key
    service; everybody stays findable under the old versions until they are retired."""
    from hitmachine.services import admin

    keyring = _call(lambda ctx: admin.migrate_keys(ctx, admin.CONSOLE, _rid()))
    typer.echo(f"new primary key version {keyring.primary.version} (oprf); "
               f"active: {', '.join(map(str, keyring.active_versions))}")
    typer.echo("export it for the adapters with: hitmachine keys export --out FILE; once "
               "every agency publishes under it, retire the hmac versions")


@keys_app.command("retire", short_help="Stop using a key version.")
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
    name: Annotated[str, typer.Option(help="who holds it (recorded in the audit log); unique "
                                           "among live tokens and web accounts")],
    agency: Annotated[str | None, typer.Option(help="agency, for adapter and partner")] = None,
    expires_days: Annotated[int | None, typer.Option(
        min=1, help="expire after N days (at most HITMACHINE_TOKEN_LIFETIME_DAYS, the "
                    "default)")] = None,
    user: Annotated[str | None, typer.Option(
        help="the web account this token is for (same role): they share one query budget")
    ] = None,
) -> None:
    """Create a token. It is printed once, alone on the last line; only its hash is kept."""
    from hitmachine.services import admin

    # Bounded before adding: a huge N would overflow the date; the service then refuses
    # anything past the configured lifetime with one clear line.
    expires = (utc_now() + dt.timedelta(days=min(expires_days, 36_500))
               if expires_days else None)
    info, token = _call(lambda ctx: admin.create_token(
        ctx, admin.CONSOLE, name=name, role=role, agency=agency, expires_at=expires,
        request_id=_rid(), user=user))
    err.print(f"token {info.id} for {info.name} ({info.role.value}"
              f"{', ' + info.agency if info.agency else ''}); store it now, it is not shown again:")
    sys.stdout.write(token + "\n")


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by its id (see: hitmachine token list)."""
    from hitmachine.services import admin

    info = _call(lambda ctx: admin.revoke_token(ctx, admin.CONSOLE, token_id, _rid()))
    typer.echo(f"revoked token {info.id} ({info.name})")


@token_app.command("list")
def token_list() -> None:
    """List tokens (never the tokens themselves)."""
    from hitmachine.services import admin

    ctx = _context()
    try:
        typer.echo("id\trole\tagency\tstate\tname")
        for t in admin.list_tokens(ctx, admin.CONSOLE, _rid()):
            state = "revoked" if t.revoked_at else "active"
            typer.echo(f"{t.id}\t{t.role.value}\t{t.agency or '-'}\t{state}\t{t.name}")
    finally:
        ctx.close()


@app.command(short_help="A working instance with synthetic data, in one go.")
def demo(
    port: Annotated[int, typer.Option(help="port to serve on (loopback)")] = 8000,
    directory: Annotated[Path, typer.Option(
        "--dir", help="where the demo instance lives; made by the demo, and deleted by it "
                      "on the next run only when it made it")] = Path(".demo"),
    foreground: Annotated[bool, typer.Option(
        help="keep serving until Ctrl+C (the default), or leave the server running in the "
             "background", show_default=False)] = True,
) -> None:
    """A fresh SQLite instance with the synthetic Nijmegen data published through the
    adapter, a coordinator token and a web account to try it with."""
    from hitmachine.cli.demo import run_demo

    try:
        run_demo(_settings(), directory=directory, port=port, foreground=foreground)
    except HitmachineError as exc:
        _fail(exc)
    except OSError as exc:  # the demo directory: not ours to write, or the disk is full
        _fail(Unavailable(f"cannot write {exc.filename or directory}: {exc.strerror or exc}"))


@app.command(short_help="The processing description for the DPIA and the register.")
def dpia(
    fmt: Annotated[str, typer.Option("--format", help="md (Markdown) or html (printable)")] = "md",
    out: Annotated[Path | None, typer.Option(help="file to write (default: stdout)")] = None,
) -> None:
    """Write the processing description a DPIA and the article 30 register need (in Dutch),
    from this instance's configuration and its last year's statistics. Audited (dpia.read)."""
    from hitmachine.http.web.render import render_text
    from hitmachine.services import admin
    from hitmachine.services import dpia as service

    if fmt not in ("md", "html"):
        _fail(InvalidInput("format", "must be md or html"))
    if out is not None and not out.parent.is_dir():
        # Refused before the read is recorded: a record of a description nobody got misleads.
        _fail(InvalidInput("out", f"the directory {out.parent} does not exist"))
    described = _call(lambda ctx: service.describe(ctx, admin.CONSOLE, _rid(), via="cli"))
    text = render_text("dpia.md" if fmt == "md" else "dpia_document.html", {"d": described})
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(Unavailable(f"cannot write {out}: {exc.strerror or exc}"))
    err.print(f"wrote {out}")


from hitmachine.cli.replay import replay_command  # noqa: E402  (light: heavy imports are lazy)

app.command("replay", short_help="Replay a manual hit/no-hit test (docs/replay.md).")(
    replay_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
