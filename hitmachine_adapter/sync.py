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
import hashlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitmachine.core import wire
from hitmachine.core.errors import HitmachineError
from hitmachine.core.keyring import Keyring
from hitmachine.core.keystore import load_keyring
from hitmachine_adapter.client import PublishClient
from hitmachine_adapter.config import DEFAULT_BATCH, Options, resolve_mapping
from hitmachine_adapter.errors import (
    AdapterError,
    AdapterRejected,
    AdapterTimeout,
    AdapterUsageError,
    RejectsLimitExceeded,
)
from hitmachine_adapter.pipeline import ChunkRunner, Reject, RejectsFile, pseudonymise_to_spool
from hitmachine_adapter.progress import Reporter
from hitmachine_adapter.pseudonymise import Keys, key_access, make_pseudonymiser
from hitmachine_adapter.source import is_database_url, open_source
from hitmachine_adapter.state import DeltaState, RunState, StateDir, now_iso

AUTO_WORKERS_FROM_BYTES = 8 * 1024 * 1024
DEADLINE_GRACE = 60.0   # seconds a run past its deadline gets to clean up before it exits


@dataclass
class SyncResult:
    agency: str
    key_version: int
    rows_read: int = 0
    entries_published: int = 0
    rejected: int = 0
    batches: int = 0
    duration: float = 0.0
    rejects: list[Reject] = field(default_factory=list)  # the first 1000; the file has all
    filtered: int = 0
    mode: str = "snapshot"          # snapshot | delta | dry-run
    added: int = 0                  # delta mode: what the delta changed
    removed: int = 0
    unchanged: bool = False         # delta mode: nothing to send
    fell_back: str | None = None    # delta mode: why a snapshot was published instead
    resumed_from: int | None = None
    sync_id: str | None = None
    rejects_file: Path | None = None
    retried: int = 0
    mapping: str = ""
    read_seconds: float = 0.0       # reading and pseudonymising (local)
    publish_seconds: float = 0.0    # sending and committing

    def summary(self) -> str:
        verb = "to publish" if self.mode == "dry-run" else "published"
        parts = [f"{self.rows_read} rows read", f"{self.entries_published} entries {verb}",
                 f"{self.rejected} rejected"]
        if self.filtered:
            parts.append(f"{self.filtered} filtered out")
        parts.append(f"{self.duration:.1f}s")
        how = [self.mode if self.mode != "dry-run" else "dry run: nothing sent"]
        if self.mode == "delta":
            how = [f"delta: +{self.added} -{self.removed}" if not self.fell_back
                   else "delta: snapshot"]
            if self.unchanged:
                how = ["delta: no changes"]
        if self.resumed_from is not None:
            how.append(f"resumed at batch {self.resumed_from}")
        line = f"{self.agency}: {', '.join(parts)} ({', '.join(how)})"
        if self.rejected and self.rejects_file is not None:
            line += f"; rejects in {self.rejects_file}"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"agency": self.agency, "key_version": self.key_version, "mode": self.mode,
                "rows_read": self.rows_read, "filtered": self.filtered,
                "rejected": self.rejected, "entries_published": self.entries_published,
                "added": self.added, "removed": self.removed, "batches": self.batches,
                "resumed_from": self.resumed_from, "fell_back": self.fell_back,
                "duration_s": round(self.duration, 3), "mapping": self.mapping,
                "read_s": round(self.read_seconds, 3), "publish_s": round(self.publish_seconds, 3),
                "rejects_file": str(self.rejects_file) if self.rejects_file else None}


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
                _publish_delta(client, opts, version, state, spool, result, reporter)
            else:
                os.replace(spool, state.spool)
                _publish_recorded_snapshot(client, opts, version, state, local.entries,
                                           local.digest, result, reporter)
        finally:
            result.retried = client.retried
            result.publish_seconds = time.monotonic() - publishing
            spool.unlink(missing_ok=True)


# --------------------------------------------------------------------------- snapshot

class _SyncGone(Exception):
    """The sync being resumed (or filled) is no longer open on the server."""


# 404: no such sync (a server restored from backup); 409: it is not open (expired,
# abandoned, or committed by another run) or holds other batches. A fresh sync cures all.
_GONE = (404, 409)


def _publish_snapshot(client: PublishClient, opts: Options, version: int, state: StateDir,
                      spool: Path, entries: int, digest: str, result: SyncResult,
                      reporter: Reporter) -> dict[str, Any]:
    """Publish ``spool`` as one snapshot; returns the server's new set (commit response)."""
    size = opts.batch_size
    batches = math.ceil(entries / size)
    fingerprint = hashlib.sha256(f"{digest}:{size}".encode()).hexdigest()
    plan = RunState(agency=opts.agency, server=opts.server or "", key_version=version,
                    fingerprint=fingerprint, batch_size=size, batches=batches, entries=entries,
                    sync_id="", confirmed=0, started_at=now_iso())
    previous = state.load_run() if state.persistent else None
    run: RunState | None = None
    if previous is not None and previous.resumes(plan):
        run = previous
        result.resumed_from = previous.confirmed
        reporter.note(f"resuming sync {previous.sync_id} at batch {previous.confirmed} "
                      f"of {batches}")
    elif previous is not None:
        reporter.note(f"abandoning sync {previous.sync_id} of an earlier run (other data)")
        _abandon_quietly(client, previous.sync_id)
        state.clear_run()
    for attempt in (1, 2):
        if run is None:
            opened = client.open_sync(opts.agency, version)
            run = RunState(**{**plan.__dict__, "sync_id": opened["sync_id"]})
            if state.persistent:
                state.save_run(run, durable=True)
        result.sync_id = run.sync_id
        try:
            _upload(client, run, spool, state, opts.parallel, reporter)
            try:
                committed = client.commit(run.sync_id, batches, entries)
            except AdapterRejected as exc:
                if exc.status in _GONE:
                    raise _SyncGone() from None
                raise
        except _SyncGone:
            if attempt == 2:
                raise AdapterRejected(409, "the sync closed twice while sending; is its TTL "
                                           "(HITMACHINE_SYNC_TTL_SECONDS) long enough?") from None
            reporter.note(f"sync {run.sync_id} is no longer open on the server (expired or "
                          "abandoned); starting a new one")
            state.clear_run()
            run, result.resumed_from = None, None
            continue
        except AdapterRejected:
            _abandon_quietly(client, run.sync_id)
            state.clear_run()
            raise
        except BaseException:
            if not state.persistent:  # nothing could resume it: let it go now
                _abandon_quietly(client, run.sync_id)
            else:
                reporter.note(f"the run stopped; the previous set stays published. Rerun to "
                              f"resume sync {run.sync_id}")
            raise
        break
    state.clear_run()
    spool.unlink(missing_ok=True)
    result.batches = batches
    result.entries_published = entries
    return committed


def _upload(client: PublishClient, run: RunState, spool: Path, state: StateDir,
            parallel: int, reporter: Reporter) -> None:
    """Send batches ``run.confirmed`` .. ``run.batches - 1``, ``parallel`` at a time, and
    record the confirmed prefix so that a rerun starts after it."""
    size, record = run.batch_size, wire.RECORD_BYTES
    fd = os.open(spool, os.O_RDONLY)

    def send(batch_no: int) -> int:
        data = os.pread(fd, size * record, batch_no * size * record)
        try:
            client.put_records(run.sync_id, batch_no, data)
        except AdapterRejected as exc:
            if exc.status in _GONE:
                raise _SyncGone() from None
            raise
        return batch_no

    done: set[int] = set()
    try:
        with reporter.task("publishing", run.batches, "batches") as update, \
                ThreadPoolExecutor(max_workers=parallel,
                                   thread_name_prefix="hitmachine-upload") as pool:
            update(run.confirmed)
            in_flight: deque[Future[int]] = deque()
            try:
                for batch_no in range(run.confirmed, run.batches):
                    in_flight.append(pool.submit(send, batch_no))
                    while len(in_flight) >= parallel:
                        _settle(in_flight.popleft(), done, run, state, update)
                while in_flight:
                    _settle(in_flight.popleft(), done, run, state, update)
            except BaseException:
                for future in in_flight:
                    future.cancel()
                client.stop()  # the other requests give up instead of retrying on
                raise
    finally:
        client.stop(False)
        os.close(fd)


def _settle(future: Future[int], done: set[int], run: RunState, state: StateDir,
            update: Callable[[int], None]) -> None:
    done.add(future.result())
    advanced = False
    while run.confirmed in done:
        done.discard(run.confirmed)
        run.confirmed += 1
        advanced = True
    if advanced:
        if state.persistent:
            state.save_run(run)
        update(run.confirmed)


def _abandon_quietly(client: PublishClient, sync_id: str) -> None:
    try:
        client.abandon(sync_id)
    except AdapterError:  # gone already, or unreachable: it expires on the server either way
        pass


def _publish_recorded_snapshot(client: PublishClient, opts: Options, version: int,
                               state: StateDir, entries: int, digest: str, result: SyncResult,
                               reporter: Reporter) -> None:
    """Snapshot mode. With a state directory, the set it publishes is recorded as the
    delta state too, so that a delta run after it sends only what changed since."""
    if not state.persistent:
        _publish_snapshot(client, opts, version, state, state.spool, entries, digest, result,
                          reporter)
        return
    with DeltaState(state.delta_db) as delta:
        delta.load_current(state.spool)
        committed = _publish_snapshot(client, opts, version, state, state.spool, entries,
                                      digest, result, reporter)
        delta.promote_current(**_meta(opts, version, committed))


# --------------------------------------------------------------------------- delta

def _publish_delta(client: PublishClient, opts: Options, version: int, state: StateDir,
                   spool: Path, result: SyncResult, reporter: Reporter) -> None:
    with DeltaState(state.delta_db) as delta:
        distinct = delta.load_current(spool)
        spool.unlink(missing_ok=True)
        status = client.status()
        reason = _why_snapshot(delta.meta(), opts, version, status)
        if reason is None:
            n_add, n_remove = delta.diff_counts()
            if n_add + n_remove > opts.delta_max:
                reason = (f"{n_add + n_remove} changes are more than one delta takes "
                          f"({opts.delta_max})")
        if reason is None:
            assert status is not None
            if n_add == n_remove == 0:
                result.unchanged = True
                result.entries_published = int(status["entries"])
                delta.drop_current()
                return
            add, remove = delta.diff()
            delta.set_meta(pending=hashlib.sha256(b"".join(add + [b"|"] + remove)).hexdigest())
            try:
                client.delta(opts.agency, version, [wire.decode_entry(r) for r in add],
                             [wire.decode_entry(r) for r in remove])
            except AdapterRejected as exc:
                if exc.status != 422:
                    raise
                reason = f"the server refused the delta ({exc.message})"
            else:
                after = client.status()
                expected = int(status["entries"]) + len(add) - len(remove)
                if after is not None and int(after["entries"]) == expected \
                        and after.get("key_version") == version:
                    delta.apply(add, remove, **_meta(opts, version, after))
                    delta.drop_current()
                    result.added, result.removed = len(add), len(remove)
                    result.entries_published = expected
                    return
                reason = ("the server's set is not what the delta should have made (a "
                          "repeated request, or another publisher)")
        result.fell_back = reason
        reporter.note(f"delta: {reason}; publishing a full snapshot")
        snapshot = state.spool
        count, digest = delta.export_current(snapshot)
        assert count == distinct
        committed = _publish_snapshot(client, opts, version, state, snapshot, count, digest,
                                      result, reporter)
        delta.promote_current(**_meta(opts, version, committed))
        result.added = count


def _why_snapshot(meta: dict[str, str], opts: Options, version: int,
                  status: dict[str, Any] | None) -> str | None:
    if not meta:
        return "the state directory holds no published set to compare with (a first run)"
    if meta.get("pending"):
        return "the outcome of the previous delta is unknown"
    if (meta.get("agency"), meta.get("server")) != (opts.agency, opts.server):
        return "the state directory belongs to another agency or server"
    if meta.get("key_version") != str(version):
        return f"the key version changed ({meta.get('key_version')} -> {version})"
    if status is None:
        return "the server has no set for this agency"
    if (str(status.get("entries")), status.get("updated_at"), str(status.get("key_version"))) \
            != (meta.get("entries"), meta.get("updated_at"), meta.get("key_version")):
        return "the server's set changed since the last run"
    return None


def _meta(opts: Options, version: int, server_set: dict[str, Any]) -> dict[str, object]:
    return {"agency": opts.agency, "server": opts.server, "key_version": version,
            "entries": server_set["entries"], "updated_at": server_set["updated_at"]}


__all__ = ["DEFAULT_BATCH", "Reject", "SyncResult", "run"]
