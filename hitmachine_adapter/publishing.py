"""Publishing a run's spool: as one snapshot sync (resumable batch by batch), or as one
atomic delta against what the server confirmed last time (``published.sqlite``), falling
back to a snapshot whenever that state is not trustworthy. See ``hitmachine_adapter.sync``
for the run around it."""

from __future__ import annotations

import hashlib
import math
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hitmachine.core import wire
from hitmachine_adapter.client import PublishClient
from hitmachine_adapter.config import Options
from hitmachine_adapter.errors import AdapterError, AdapterRejected
from hitmachine_adapter.progress import Reporter
from hitmachine_adapter.result import SyncResult
from hitmachine_adapter.state import DeltaState, RunState, StateDir, now_iso

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


def publish_recorded_snapshot(client: PublishClient, opts: Options, version: int,
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

def publish_delta(client: PublishClient, opts: Options, version: int, state: StateDir,
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


__all__ = ["publish_delta", "publish_recorded_snapshot"]
