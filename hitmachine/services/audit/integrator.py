"""Integrating records into the Merkle tree and signing checkpoints: on demand
(``integrate``, ``sign_checkpoint_now``, ``checkpoint_for``) and in the background
(``Integrator``, a thread per server process; ``store.audit_tree.lock`` lets one work at a
time)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy import Connection

from hitmachine.core.auditlog.checkpoint import Checkpoint, CheckpointSigner
from hitmachine.core.clock import iso_utc, parse_iso_utc, utc_now
from hitmachine.core.errors import HitmachineError
from hitmachine.core.keystore import checkpoint_key_path, load_checkpoint_signer
from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import record_action
from hitmachine.services.context import Context
from hitmachine.store import audit_tree

log = logging.getLogger("hitmachine.audit")

BATCH = 10_000                 # records sequenced per transaction
# The background integrator's batch on SQLite, where its transaction holds the write lock
# that the query path's audit commits wait for (about 25 µs a record): 250 keeps that wait
# under 10 ms, and 1,000 queries/s fill two batches a round. On PostgreSQL nobody waits for
# it, and a transaction costs the same dozen round trips whatever its size.
SQLITE_ROUND_BATCH = 250
# After a full batch the integrator goes on this soon, and no sooner: in the pause the
# writers that queued for the lock meanwhile take their turn.
ROUND_PAUSE_SECONDS = 0.005
# A record waits at most one integrator round (audit_integrate_seconds, at most 1 s) plus
# the rounds for the records before it. Past this the integrator is stopped or failing.
PENDING_LIMIT_SECONDS = 30.0
THIN_AFTER_SECONDS = 24 * 3600  # stored checkpoints older than a day: one per hour kept


# --- keys ---------------------------------------------------------------------------------

def signer(ctx: Context) -> CheckpointSigner:
    """The checkpoint signing key from the keys directory (never the database)."""
    return load_checkpoint_signer(checkpoint_key_path(ctx.settings.keys_dir))


def verifier_key(ctx: Context) -> str:
    """The public key string outsiders need to check our checkpoints."""
    return signer(ctx).verifier_key


# --- integrating and signing --------------------------------------------------------------

def integrate(ctx: Context, *, wait: bool = True) -> int:
    """Sequence every pending record; returns the number sequenced. With ``wait=False`` it
    returns at once when another process integrates (the ``Integrator`` signs checkpoints;
    ``sign_checkpoint_now`` on demand)."""
    total = 0
    while True:
        with ctx.db.write() as conn:
            if not audit_tree.lock(conn, wait=wait):
                return total
            done, _ = audit_tree.integrate_batch(conn, BATCH)
        total += done
        if done < BATCH:
            return total


def has_pending(ctx: Context) -> bool:
    """Cheap (the partial index on pending records): is there anything to sequence?"""
    with ctx.db.read() as conn:
        return audit_tree.has_pending(conn)


def pending_seconds(ctx: Context) -> float:
    """How long the oldest record not yet in the tree has waited (0 when none waits).

    Until the integrator hashes it, a record is protected only by the database's access
    control: this is the window in which a database writer can change it unseen."""
    with ctx.db.read() as conn:
        oldest = audit_tree.oldest_pending(conn)
    if not oldest:
        return 0.0
    try:
        return max(0.0, (utc_now() - parse_iso_utc(oldest)).total_seconds())
    except ValueError:  # not our timestamp format: somebody wrote it by hand
        return float("inf")


def _sign_if_due(ctx: Context, conn: Connection, state: audit_tree.TreeState,
                 min_age: float, now: Callable[[], dt.datetime] = utc_now
                 ) -> tuple[str | None, float]:
    """Sign ``state`` if the tree grew past the newest checkpoint and that one is at least
    ``min_age`` seconds old. Returns the newest checkpoint's note, None when the tree grew
    but the newest checkpoint is too young, and the seconds until a new one can be due."""
    latest = audit_tree.latest_checkpoint(conn)
    age = (min_age if latest is None
           else (now() - parse_iso_utc(latest.signed_at)).total_seconds())
    if latest is not None and latest.size >= state.size:
        return latest.note, max(min_age - age, 0.0)
    if latest is not None and min_age > 0 and age < min_age:
        return None, min_age - age
    key = signer(ctx)
    note = key.sign(Checkpoint(ctx.settings.origin, state.size, state.root_hash))
    audit_tree.insert_checkpoint(conn, size=state.size, root_hash=state.root_hash, note=note,
                                 key_hash=key.key_hash, signed_at=iso_utc(now()))
    return note, min_age


def sign_checkpoint_now(ctx: Context) -> str:
    """Integrate what is pending and sign the tree as it is now (on demand)."""
    integrate(ctx, wait=True)
    with ctx.db.write() as conn:
        audit_tree.lock(conn, wait=True)
        note, _ = _sign_if_due(ctx, conn, audit_tree.load_state(conn), 0)
    assert note is not None
    return note


def latest_checkpoint(ctx: Context) -> str | None:
    """The newest signed checkpoint note, or None before the first is signed."""
    with ctx.db.read() as conn:
        row = audit_tree.latest_checkpoint(conn)
    return row.note if row is not None else None


CheckpointWanted = Literal["sign", "newest", "newest_or_sign"]


def checkpoint_for(ctx: Context, principal: Principal, request_id: str, *,
                   wanted: CheckpointWanted, via: str,
                   detail: dict[str, Any] | None = None) -> str | None:
    """A checkpoint on someone's behalf, recorded as ``audit.checkpoint`` before it is
    returned: signed now, the newest stored one (None before the first), or the newest
    and signed now if there is none yet."""
    if wanted == "sign":
        note: str | None = sign_checkpoint_now(ctx)
    else:
        note = latest_checkpoint(ctx)
        if note is None and wanted == "newest_or_sign":
            note = sign_checkpoint_now(ctx)
    record_action(ctx, principal, "audit.checkpoint", request_id, {**(detail or {}), "via": via})
    return note


class Integrator:
    """The background integrator of one process: sequences pending records about every
    ``audit_integrate_seconds`` and signs checkpoints while records arrive.

    ``monotonic`` and ``now`` are ``time.monotonic`` and ``utc_now`` unless a test passes
    its own clock, to move time on instead of sleeping until a checkpoint is due."""

    def __init__(self, ctx: Context, *, monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], dt.datetime] = utc_now) -> None:
        self._ctx = ctx
        self._monotonic, self._now = monotonic, now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_thin = 0.0
        self._unsigned = False  # this process grew the tree and has not signed it yet
        # No checkpoint can be due before this (time.monotonic()): the newest one seen is
        # younger than the interval. Another process only ever signs a newer one.
        self._sign_at = 0.0
        # The last batch was full: more records wait, so the probe can be skipped.
        self._busy = False
        self.batch = SQLITE_ROUND_BATCH if ctx.db.is_sqlite else BATCH

    def start(self) -> "Integrator":
        self._thread = threading.Thread(target=self._run, name="audit-integrator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run_once(self) -> int:
        """One round: sequence up to ``batch`` pending records, and sign when a
        checkpoint is due. The last records before a quiet spell are signed too, once the
        interval has passed."""
        ctx = self._ctx
        if not self._busy and not has_pending(ctx):
            if self._unsigned and self._monotonic() >= self._sign_at:
                with ctx.db.write() as conn:
                    if audit_tree.lock(conn, wait=False):
                        self._sign(conn, audit_tree.load_state(conn))
            return 0
        with ctx.db.write() as conn:
            # wait=False: when another worker holds the lock it is doing this very job.
            if not audit_tree.lock(conn, wait=False):
                self._busy = False
                return 0
            done, state = audit_tree.integrate_batch(conn, self.batch)
            self._unsigned = self._unsigned or done > 0
            if self._unsigned and self._monotonic() >= self._sign_at:
                self._sign(conn, state)
        self._busy = done == self.batch
        return done

    def _sign(self, conn: Connection, state: audit_tree.TreeState) -> None:
        note, wait = _sign_if_due(self._ctx, conn, state,
                                  self._ctx.settings.audit_checkpoint_seconds, self._now)
        self._unsigned = note is None
        self._sign_at = self._monotonic() + wait

    def _run(self) -> None:
        interval = self._ctx.settings.audit_integrate_seconds
        pause = interval
        while not self._stop.wait(pause):
            done = 0
            try:
                done = self.run_once()
                self._thin()
            except HitmachineError as exc:
                log.error("audit integration stopped: %s", exc.detail)
            except Exception as exc:  # the database is away; try again next round
                log.warning("audit integration failed: %s", type(exc).__name__)
            pause = ROUND_PAUSE_SECONDS if done == self.batch else interval

    def _thin(self) -> None:
        now = self._monotonic()
        if now - self._last_thin < 600:
            return
        self._last_thin = now
        before = iso_utc(self._now() - dt.timedelta(seconds=THIN_AFTER_SECONDS))
        with self._ctx.db.write() as conn:
            if audit_tree.lock(conn, wait=False):
                audit_tree.thin_checkpoints(conn, before)


__all__ = ["BATCH", "PENDING_LIMIT_SECONDS", "ROUND_PAUSE_SECONDS", "SQLITE_ROUND_BATCH",
           "CheckpointWanted", "Integrator", "checkpoint_for", "has_pending", "integrate",
           "latest_checkpoint", "pending_seconds", "sign_checkpoint_now", "signer",
           "verifier_key"]
