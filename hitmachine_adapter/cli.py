"""``hitmachine-adapter``: publish an agency's people to the Veiligheidshuis.

    hitmachine-adapter sync --config /etc/hitmachine/om.toml
    hitmachine-adapter sync --agency om --source export.csv --server URL --token-file F ...
    hitmachine-adapter status --config /etc/hitmachine/om.toml
    hitmachine-adapter signals --config /etc/hitmachine/om.toml [--out signals.csv] [--ack]
    hitmachine-adapter mappings [--show NAME]

See ``hitmachine_adapter/README.md``; exit codes are in ``hitmachine_adapter/errors.py``.
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from hitmachine_adapter.config import (
    DEFAULT_BATCH,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_REJECT_FRACTION,
    Options,
    build_options,
    default_state_dir,
    load_config,
)
from hitmachine_adapter.errors import EXIT_INTERRUPTED, AdapterError, AdapterUsageError
from hitmachine_adapter.mapping import load_mapping, shipped_mappings
from hitmachine_adapter.progress import Reporter
from hitmachine_adapter.result import SyncResult
from hitmachine_adapter.state import DeltaState, StateDir
from hitmachine_adapter.sync import run

# Click's plain help (rich_markup_mode None): it wraps at word boundaries to the terminal
# (COLUMNS), never cuts an option name, and shows "[default: ...]" in a help text as
# written, where rich took it for markup and dropped it.
app = typer.Typer(help="Publish pseudonyms of an agency's people to the Hitmachine.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  rich_markup_mode=None)

ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", envvar="HITMACHINE_ADAPTER_CONFIG",
    help="TOML file with these settings (command-line options win)")]


@app.callback()
def _root() -> None:
    """Hitmachine adapter: runs at a partner agency, sends pseudonyms only."""


@app.command(short_help="Publish the agency's people (snapshot or delta).")
def sync(
    config: ConfigOpt = None,
    agency: Annotated[str | None, typer.Option(help="the agency code this adapter publishes for")] = None,
    source: Annotated[str | None, typer.Option(
        help="the export (CSV/TSV file) or a database URL (SQLAlchemy, e.g. postgresql+psycopg://...)")] = None,
    server: Annotated[str | None, typer.Option(help="base URL of the Hitmachine")] = None,
    token: Annotated[str | None, typer.Option(
        help="adapter token (prefer --token-file or HITMACHINE_ADAPTER_TOKEN: ps shows options)")] = None,
    token_file: Annotated[Path | None, typer.Option(help="file holding the adapter token (0600)")] = None,
    mapping: Annotated[str | None, typer.Option(
        help="mapping file, or a shipped mapping's name [default: the plain format if the "
             "file has its header, else the agency's shipped mapping]")] = None,
    mode: Annotated[str | None, typer.Option(
        help="snapshot (replace the whole set) or delta (send what changed)  [default: snapshot]")] = None,
    keyring: Annotated[Path | None, typer.Option(
        help="keyring exported by 'hitmachine keys export'  [default: keys/keyring.json]")] = None,
    state_dir: Annotated[Path | None, typer.Option(
        help="where resume and delta state live  [default: ~/.local/state/hitmachine-adapter/AGENCY]")] = None,
    rejects: Annotated[Path | None, typer.Option(
        help="rejects file (row, line, fields, reason)  [default: STATE_DIR/rejects.csv]")] = None,
    max_reject_fraction: Annotated[float | None, typer.Option(
        help=f"fail, publishing nothing, above this fraction of rejected rows  "
             f"[default: {DEFAULT_MAX_REJECT_FRACTION}]")] = None,
    allow_empty: Annotated[bool, typer.Option(
        "--allow-empty", help="publish an empty set even where the server holds entries")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="read, check and pseudonymise, write the rejects, send nothing")] = False,
    batch_size: Annotated[int | None, typer.Option(
        help=f"entries per batch  [default: {DEFAULT_BATCH}]")] = None,
    workers: Annotated[int | None, typer.Option(
        help="processes that pseudonymise  [default: 1 for small files, else the CPU count up to 4]")] = None,
    parallel: Annotated[int | None, typer.Option(help="batches in flight  [default: 4]")] = None,
    retries: Annotated[int | None, typer.Option(help="retries per request  [default: 6]")] = None,
    timeout: Annotated[float | None, typer.Option(help="seconds per request  [default: 60]")] = None,
    deadline: Annotated[float | None, typer.Option(
        help=f"seconds the whole run may take before it stops with exit code 8; 0 for no "
             f"limit  [default: {DEFAULT_DEADLINE:.0f}]")] = None,
    ca_bundle: Annotated[Path | None, typer.Option(help="CA certificate(s) to trust (PEM)")] = None,
    client_cert: Annotated[Path | None, typer.Option(help="client certificate for mutual TLS (PEM)")] = None,
    client_key: Annotated[Path | None, typer.Option(help="its private key (PEM)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar, no notes; only the summary")] = False,
    progress: Annotated[bool | None, typer.Option(
        "--progress/--no-progress", help="progress bar  [default: on a terminal only]")] = None,
    scheme: Annotated[str | None, typer.Option(
        help="hmac or oprf: refuse a keyring of the other scheme  [default: the keyring's]")] = None,
    keyservice: Annotated[str | None, typer.Option(
        help="oprf: the key service's URL  [default: the one in the keyring]")] = None,
    keyservice_token_file: Annotated[Path | None, typer.Option(
        help="oprf: this adapter's key service token (0600)  [default: keyservice.token "
             "beside the keyring]")] = None,
) -> None:
    """Publish the agency's people: all of them (snapshot) or what changed (delta)."""
    cli = {"agency": agency, "source": source, "server": server, "token": token,
           "token_file": token_file, "mapping": mapping, "mode": mode, "keyring": keyring,
           "state_dir": state_dir, "rejects": rejects, "max_reject_fraction": max_reject_fraction,
           "allow_empty": allow_empty or None, "dry_run": dry_run or None,
           "batch_size": batch_size, "workers": workers, "parallel": parallel,
           "retries": retries, "timeout": timeout, "deadline": deadline,
           "ca_bundle": ca_bundle, "client_cert": client_cert, "client_key": client_key,
           "quiet": quiet or None, "scheme": scheme, "keyservice": keyservice,
           "keyservice_token_file": keyservice_token_file}
    try:
        opts = build_options(cli, config)
        if opts.state_dir is None:
            opts.state_dir = default_state_dir(opts.agency)
        reporter = Reporter.for_terminal(quiet=opts.quiet, progress=progress)
        result = run(opts, reporter=reporter)
    except AdapterError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted; the previous set stays published. Rerun to resume.", EXIT_INTERRUPTED)
    except OSError as exc:
        _fail(f"{exc.strerror or type(exc).__name__}"
              f"{': ' + str(exc.filename) if exc.filename else ''}", 1)
    typer.echo(result.summary())


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


@app.command(short_help="The last run, a sync waiting to resume, the server's set.")
def status(
    config: ConfigOpt = None,
    agency: Annotated[str | None, typer.Option(help="agency code")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="state directory")] = None,
    server: Annotated[str | None, typer.Option(help="also ask the server (needs a token)")] = None,
    token_file: Annotated[Path | None, typer.Option(help="file holding the adapter token")] = None,
) -> None:
    """What the last run did, whether a sync waits to be resumed, and what the server holds."""
    try:
        settings: dict[str, Any] = load_config(config) if config else {}
        agency = agency or settings.get("agency")
        if not agency:
            raise AdapterUsageError("--agency is required (or in the config file)")
        where = state_dir or settings.get("state_dir") or default_state_dir(agency)
        state = StateDir(Path(where))
        last = state.read_last_run()
        typer.echo(f"state directory: {state.path}")
        if last is None:
            typer.echo("last run: none on record")
        else:
            typer.echo(f"last run: {last.get('outcome')} at {last.get('finished_at')} "
                       f"(exit {last.get('exit_code')}): {last.get('rows_read')} rows read, "
                       f"{last.get('entries_published')} entries published, "
                       f"{last.get('rejected')} rejected, mode {last.get('mode')}")
            if last.get("error"):
                typer.echo(f"  error: {last['error']}")
        pending = state.load_run()
        if pending is not None:
            typer.echo(f"resumable: sync {pending.sync_id}, {pending.confirmed} of "
                       f"{pending.batches} batches confirmed (started {pending.started_at})")
        if state.delta_db.exists():
            with DeltaState(state.delta_db) as delta:
                meta = delta.meta()
            if meta:
                typer.echo(f"delta state: {meta.get('entries')} entries under key version "
                           f"{meta.get('key_version')}, server set of {meta.get('updated_at')}")
            else:
                typer.echo("delta state: none (the next delta run publishes a snapshot)")
        server = server or settings.get("server")
        if server:
            opts = build_options({"agency": agency, "source": "-", "server": server,
                                  "token_file": token_file}, config)
            from hitmachine_adapter.client import PublishClient

            verify, cert = opts.tls()
            with PublishClient(server, opts.token or "", retries=1, verify=verify,
                               cert=cert) as client:
                current = client.status()
            typer.echo("server: no set published yet" if current is None else
                       f"server: {current['entries']} entries under key version "
                       f"{current['key_version']}, updated {current['updated_at']}")
    except AdapterError as exc:
        _fail(str(exc), exc.exit_code)


@app.command(short_help="The agency's signals, with its own reference per person.")
def signals(
    config: ConfigOpt = None,
    agency: Annotated[str | None, typer.Option(help="the agency code")] = None,
    source: Annotated[str | None, typer.Option(
        help="the export or database sync reads (the references come from it)")] = None,
    server: Annotated[str | None, typer.Option(help="base URL of the Hitmachine")] = None,
    token_file: Annotated[Path | None, typer.Option(help="file holding the adapter token")] = None,
    mapping: Annotated[str | None, typer.Option(
        help="mapping file or shipped name; it must name a reference column")] = None,
    keyring: Annotated[Path | None, typer.Option(help="keyring, as for sync")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="write the signals to this CSV file (0600) instead of a table")] = None,
    ack: Annotated[bool, typer.Option(
        "--ack", help="acknowledge the signals shown (they leave the open list)")] = False,
    all_: Annotated[bool, typer.Option(
        "--all", help="also the signals acknowledged before (until they expire)")] = False,
) -> None:
    """Fetch the agency's signals and show, for each, the agency's own reference for the
    person (recomputed from the source here; nothing identifying is sent)."""
    from hitmachine_adapter.signals import fetch_and_resolve, table, write_csv

    cli = {"agency": agency, "source": source, "server": server, "token_file": token_file,
           "mapping": mapping, "keyring": keyring}
    try:
        opts = build_options(cli, config)
        opts.dry_run = False
        result = fetch_and_resolve(opts, ack=ack, include_acked=all_)
        if out is not None:
            write_csv(out, result.shown)
            typer.echo(f"{len(result.shown)} signal(s) written to {out}")
        elif not result.shown:
            typer.echo("no open signals")
        else:
            typer.echo(table(result.shown), nl=False)
        if ack:
            typer.echo(f"{result.acked} signal(s) acknowledged")
    except AdapterError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:
        _fail(f"{exc.strerror or type(exc).__name__}"
              f"{': ' + str(exc.filename) if exc.filename else ''}", 1)


@app.command(short_help="The shipped mappings.")
def mappings(show: Annotated[str | None, typer.Option(help="print this shipped mapping")] = None
             ) -> None:
    """The shipped mappings (one per agency, and the plain format)."""
    shipped = shipped_mappings()
    if show:
        if show not in shipped:
            _fail(f"no shipped mapping {show!r} ({', '.join(shipped)})", 2)
        typer.echo(shipped[show].read_text(encoding="utf-8"), nl=False)
        return
    for name in shipped:
        try:
            m = load_mapping(name)
        except AdapterError as exc:  # a broken shipped mapping is a bug; say so, go on
            typer.echo(f"{name}\tBROKEN: {exc}")
            continue
        typer.echo(f"{name}\t{m.format}\t{m.description}")


def run_sync(*, agency: str, source: Path | str, server: str, token: str, keyring: Path,
             batch_size: int = DEFAULT_BATCH, transport: object = None, quiet: bool = True,
             progress: bool = False, **options: Any) -> SyncResult:
    """One run from Python (the demo and the replay use it). Keyword ``options`` are those
    of ``hitmachine_adapter.config.Options``: ``mapping``, ``mode``, ``state_dir``, ``dry_run``,
    ``rejects``, ``max_reject_fraction``, ``workers``, ``retries``, ``backoff``, ...
    Without ``state_dir`` the run keeps no state: it cannot resume and has no delta mode."""
    opts = Options(agency=agency, source=source, server=server, token=token, keyring=keyring,
                   batch_size=batch_size, quiet=quiet, progress=progress, **options)
    try:
        return run(opts, transport=transport, reporter=Reporter(progress=progress, quiet=quiet))
    except OSError as exc:
        raise AdapterError(f"{exc.strerror or type(exc).__name__}"
                           f"{': ' + str(exc.filename) if exc.filename else ''}") from None


def _terminate(signum: int, frame: FrameType | None) -> None:
    # A SIGTERM (systemd stop, timeout) ends a run like Ctrl+C. One is enough: a second
    # (systemd repeats, a second kill) must not break into the clean-up of the first.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(prog_name="hitmachine-adapter")
    except KeyboardInterrupt:  # one that arrived after the command had ended its work
        typer.echo("error: interrupted", err=True)
        raise SystemExit(EXIT_INTERRUPTED) from None


__all__ = ["app", "main", "run_sync"]

if __name__ == "__main__":
    main()
