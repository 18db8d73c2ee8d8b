"""One adapter run: read and pseudonymise everything locally, check, then publish.

1. The whole source goes through the local pipeline (``hitmachine_adapter.pipeline``) into a spool
   file of entries and a rejects file. Nothing has been sent yet.
2. Too many rejects (``max_reject_fraction`` of the rows the filter kept), or no entries at
   all where the server holds some, stops the run here: exit 3, nothing published.
3. Snapshot mode publishes the spool as one snapshot sync: open, numbered batches (several
   in flight), commit with the counts. The agency's old set stays visible until the commit.
   The sync id and the confirmed batches are kept in ``run.json``: a run that dies
   (network, server, Ctrl+C, a crash) is continued by the next run with the same data,
   from where the server stopped confirming; with other data, the old sync is abandoned.
4. Delta mode compares this run's entries with the ones the server confirmed last time
   (``published.sqlite``) and sends the difference as one atomic delta. When that state
   is not trustworthy (first run, another key version, the server's set changed since,
   a delta whose outcome is unknown, or more changes than one delta request takes), it
   publishes a snapshot instead, which always converges.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hitmachine.core.errors import HitmachineError
from hitmachine.core.keyring import Keyring
from hitmachine.core.keystore import load_keyring
from hitmachine_adapter.client import PublishClient
from hitmachine_adapter.config import DEFAULT_BATCH, Options, resolve_mapping
from hitmachine_adapter.errors import (
    AdapterError,
    AdapterTimeout,
    AdapterUsageError,
    RejectsLimitExceeded,
)
from hitmachine_adapter.pipeline import ChunkRunner, Reject, RejectsFile, pseudonymise_to_spool
from hitmachine_adapter.progress import Reporter
from hitmachine_adapter.pseudonymise import Keys, key_access, make_pseudonymiser
from hitmachine_adapter.publishing import publish_delta, publish_recorded_snapshot
from hitmachine_adapter.result import SyncResult
from hitmachine_adapter.source import is_database_url, open_source
from hitmachine_adapter.state import StateDir, now_iso

AUTO_WORKERS_FROM_BYTES = 8 * 1024 * 1024
DEADLINE_GRACE = 60.0   # seconds a run past its deadline gets to clean up before it exits


def run(opts: Options, *, transport: Any = None, reporter: Reporter | None = None,
        sleep: Callable[[float], None] | None = None) -> SyncResult:
    """A whole run. Raises an ``AdapterError`` (each with its exit code) on failure."""
    started = time.monotonic()
    opts.check()
    reporter = reporter or Reporter.for_terminal(quiet=opts.quiet, progress=opts.progress)
    mapping = resolve_mapping(opts.mapping, opts.agency, opts.source)
    if mapping.agency and mapping.agency != opts.agency:
        reporter.note(f"note: mapping {mapping.name} was written for {mapping.agency}, "
                      f"not {opts.agency}")
    verify, _ = opts.tls()
    keyring = key_access(_keyring(opts.keyring), opts.keyring, scheme=opts.scheme,
                         keyservice_url=opts.keyservice, token_file=opts.keyservice_token_file,
                         verify=verify)
    try:  # the scheme decides which key version this run publishes under
        version = make_pseudonymiser(keyring).primary_version
    except HitmachineError as exc:
        raise AdapterUsageError(f"keyring {opts.keyring}: {exc.detail}") from None
    result = SyncResult(agency=opts.agency, key_version=version,
                        mode="dry-run" if opts.dry_run else opts.mode, mapping=mapping.name)
    state = StateDir(opts.state_dir)
    outcome: dict[str, Any] = {"started_at": now_iso()}
    with _watchdog(opts.deadline), state.locked():
        try:
            _run(opts, mapping, keyring, version, state, result, reporter, transport, sleep)
            outcome.update(outcome="ok", exit_code=0)
        except _Deadline:
            late = AdapterTimeout(f"the run did not finish within its deadline of "
                                  f"{opts.deadline:.0f}s and was stopped; the previous set "
                                  "stays published. Rerun to resume")
            outcome.update(outcome="failed", exit_code=late.exit_code, error=str(late))
            raise late from None
        except AdapterError as exc:
            outcome.update(outcome="failed", exit_code=exc.exit_code, error=str(exc))
            raise
        except KeyboardInterrupt:
            outcome.update(outcome="interrupted", exit_code=130)
            raise
        finally:
            result.duration = time.monotonic() - started
            if not opts.dry_run:  # monitoring reads last-run.json: only real runs count
                state.write_last_run({**outcome, **result.as_dict(), "finished_at": now_iso()})
    return result


class _Deadline(BaseException):
    """The run's deadline passed. A BaseException, so that no ``except Exception`` on the
    way (a driver's, a library's) can swallow it."""


@contextlib.contextmanager
def _watchdog(seconds: float | None) -> Iterator[None]:
    """End a run that takes longer than ``seconds`` (a hung database, server or worker)
    with an error, so it releases its lock and the next cron run can go. A real signal
    (SIGALRM) interrupts even a blocking wait on a lock. If the clean-up itself hangs, the
    process exits ``DEADLINE_GRACE`` seconds later. Signals are the main thread's only:
    elsewhere (a run started from Python in a thread) there is no watchdog."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def hard_stop(signum: int, frame: object) -> None:
        sys.stderr.write("error: the run did not stop within its deadline's grace period; "
                         "exiting\n")
        for child in multiprocessing.active_children():
            child.kill()
        os._exit(AdapterTimeout.exit_code)

    def expire(signum: int, frame: object) -> None:
        signal.signal(signal.SIGALRM, hard_stop)
        signal.setitimer(signal.ITIMER_REAL, DEADLINE_GRACE)
        raise _Deadline()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _keyring(path: Path) -> Keyring:
    if not path.exists():
        raise AdapterUsageError(f"keyring {path} does not exist; the Veiligheidshuis exports "
                                "one for this adapter with 'hitmachine keys export'")
    try:
        return load_keyring(path)
    except HitmachineError as exc:
        raise AdapterUsageError(f"keyring: {exc.detail}") from None
    except OSError as exc:
        raise AdapterUsageError(f"cannot read keyring {path}: {exc.strerror}") from None


def _workers(opts: Options) -> int:
    if opts.workers is not None:
        return opts.workers
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if is_database_url(opts.source):
        return min(cpus, 4)
    try:
        size = Path(opts.source).stat().st_size
    except OSError:
        return 1
    return min(cpus, 4) if size >= AUTO_WORKERS_FROM_BYTES else 1


def _run(opts: Options, mapping: Any, keyring: Keys, version: int, state: StateDir,
         result: SyncResult, reporter: Reporter, transport: Any,
         sleep: Callable[[float], None] | None) -> None:
    rejects_path = opts.rejects or (state.rejects if state.persistent else None)
    result.rejects_file = rejects_path
    spool = state.spool.with_name("spool.new")
    reading = time.monotonic()
    # The workers are forked before the source is opened: they inherit no connection.
    with ChunkRunner(mapping, keyring, version, _workers(opts)) as runner:
        source = open_source(opts.source, mapping)
        rejects = RejectsFile(rejects_path, reference=mapping.reference is not None)
        unit = "bytes" if source.total is not None else "rows"
        try:
            with reporter.task("reading", source.total, unit) as update:
                local = pseudonymise_to_spool(source, runner, spool, rejects,
                                              progress=lambda n: update(source.position()))
            rejects.finish()
        except BaseException:
            rejects.discard()
            source.close()
            spool.unlink(missing_ok=True)
            raise
    result.read_seconds = time.monotonic() - reading
    result.rows_read, result.filtered = local.rows_read, local.filtered
    result.rejected, result.rejects = local.rejected, local.rejects
    if local.reject_fraction() > opts.max_reject_fraction:
        spool.unlink(missing_ok=True)
        where = f"; see {rejects_path}" if rejects_path else ""
        raise RejectsLimitExceeded(
            f"{local.rejected} of {local.considered} rows rejected ({local.reject_fraction():.1%}),"
            f" more than {opts.max_reject_fraction:.1%}; nothing was published{where}")
    if opts.dry_run:
        spool.unlink(missing_ok=True)
        result.entries_published = local.entries
        return
    verify, cert = opts.tls()
    publishing = time.monotonic()
    with PublishClient(opts.server or "", opts.token or "", transport=transport,
                       retries=opts.retries, backoff=opts.backoff, timeout=opts.timeout,
                       verify=verify, cert=cert, sleep=sleep, on_retry=reporter.note) as client:
        try:
            if local.entries == 0 and not opts.allow_empty:
                current = client.status()
                if current and current["entries"]:
                    spool.unlink(missing_ok=True)
                    raise RejectsLimitExceeded(
                        f"the source gave no entries ({local.rows_read} rows read, "
                        f"{local.filtered} filtered out, {local.rejected} rejected); publishing "
                        f"would empty the agency's set of {current['entries']}. Nothing was "
                        "published; pass --allow-empty if that is intended")
            if opts.mode == "delta":
                publish_delta(client, opts, version, state, spool, result, reporter)
            else:
                os.replace(spool, state.spool)
                publish_recorded_snapshot(client, opts, version, state, local.entries,
                                           local.digest, result, reporter)
        finally:
            result.retried = client.retried
            result.publish_seconds = time.monotonic() - publishing
            spool.unlink(missing_ok=True)


__all__ = ["DEFAULT_BATCH", "Reject", "SyncResult", "run"]
