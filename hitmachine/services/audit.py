"""The tamper-evident audit log: integrating records into the Merkle tree, signing
checkpoints, verifying the whole log, proofs, export, data-subject look-up and pruning.

How it fits together (``docs/audit-log.md`` has the full story):

* Requests commit their audit record first, with ``seq`` NULL (``store.audit_log``).
* The ``Integrator`` (a thread per server process; ``store.audit_tree.lock`` lets one
  work at a time) sequences pending records in batches about every half second and signs
  a checkpoint when the tree grew and the last one is older than
  ``settings.audit_checkpoint_seconds``.
* ``verify`` recomputes every leaf from the record contents in one streaming pass and
  compares the roots it passes through with every stored and every outside checkpoint.

Audit actions are audited: export, subject look-up, proofs, checkpoints and pruning here;
the callers of ``verify`` record the outcome they show (the web page, the CLI).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import threading
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Literal

from sqlalchemy import Connection, RowMapping

from hitmachine.core.auditlog.checkpoint import Checkpoint, CheckpointSigner, CheckpointVerifier
from hitmachine.core.auditlog.encoding import LEAF_FIELDS, is_cleared, leaf_data_from_values
from hitmachine.core.auditlog.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
)
from hitmachine.core.auditlog.merkle import root as merkle_root
from hitmachine.core.auditlog.prune_statement import PruneStatement
from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, parse_iso_utc, utc_now, utc_now_iso
from hitmachine.core.csv_cells import safe_row
from hitmachine.core.errors import (
    Forbidden,
    HitmachineError,
    InvalidInput,
    InvalidProof,
    NotFound,
)
from hitmachine.core.identity import Identity
from hitmachine.core.keystore import checkpoint_key_path, load_checkpoint_signer, load_keyring
from hitmachine.core.principal import Principal, Role
from hitmachine.services.context import Context
from hitmachine.store import audit_log, audit_tree
from hitmachine.store.audit_log import AuditFilter

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
EXPORT_PAGE = 5_000
PRUNE_BATCH = 10_000
THIN_AFTER_SECONDS = 24 * 3600  # stored checkpoints older than a day: one per hour kept
ExportFormat = Literal["jsonl", "csv"]
EXPORT_COLUMNS = ("seq", "id", "leaf_hash", "pruned", *LEAF_FIELDS)


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
                 min_age: float) -> tuple[str | None, float]:
    """Sign ``state`` if the tree grew past the newest checkpoint and that one is at least
    ``min_age`` seconds old. Returns the newest checkpoint's note, None when the tree grew
    but the newest checkpoint is too young, and the seconds until a new one can be due."""
    latest = audit_tree.latest_checkpoint(conn)
    age = (min_age if latest is None
           else (utc_now() - parse_iso_utc(latest.signed_at)).total_seconds())
    if latest is not None and latest.size >= state.size:
        return latest.note, max(min_age - age, 0.0)
    if latest is not None and min_age > 0 and age < min_age:
        return None, min_age - age
    key = signer(ctx)
    note = key.sign(Checkpoint(ctx.settings.origin, state.size, state.root_hash))
    audit_tree.insert_checkpoint(conn, size=state.size, root_hash=state.root_hash, note=note,
                                 key_hash=key.key_hash, signed_at=utc_now_iso())
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
    _audit(ctx, principal, "audit.checkpoint", request_id, {**(detail or {}), "via": via})
    return note


class Integrator:
    """The background integrator of one process: sequences pending records about every
    ``audit_integrate_seconds`` and signs checkpoints while records arrive."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
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
            if self._unsigned and time.monotonic() >= self._sign_at:
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
            if self._unsigned and time.monotonic() >= self._sign_at:
                self._sign(conn, state)
        self._busy = done == self.batch
        return done

    def _sign(self, conn: Connection, state: audit_tree.TreeState) -> None:
        note, wait = _sign_if_due(self._ctx, conn, state,
                                  self._ctx.settings.audit_checkpoint_seconds)
        self._unsigned = note is None
        self._sign_at = time.monotonic() + wait

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
        now = time.monotonic()
        if now - self._last_thin < 600:
            return
        self._last_thin = now
        before = iso_utc(utc_now() - _seconds(THIN_AFTER_SECONDS))
        with self._ctx.db.write() as conn:
            if audit_tree.lock(conn, wait=False):
                audit_tree.thin_checkpoints(conn, before)


def _seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


# --- verifying ----------------------------------------------------------------------------

@dataclass
class VerifyResult:
    """What ``verify`` found. ``first_bad_seq`` is the lowest sequence number that is not
    as signed (None when all holds, or when only a checkpoint itself is wrong)."""

    ok: bool
    size: int
    root_hash: bytes
    first_bad_seq: int | None
    checkpoints_checked: int
    outside_checked: int
    pending: int
    pruned: int
    problems: list[str] = field(default_factory=list)


@dataclass
class _Bad:
    seq: int | None = None
    problems: list[str] = field(default_factory=list)

    def add(self, seq: int | None, problem: str) -> None:
        if seq is not None and (self.seq is None or seq < self.seq):
            self.seq = seq
        self.problems.append(problem)


Progress = Callable[[int, int], None]


def verify(ctx: Context, *, outside_checkpoints: Sequence[str] = (),
           trusted_keys: Sequence[str] = (), progress: Progress | None = None) -> VerifyResult:
    """Recompute the tree from the records and hold it to every checkpoint.

    Stored checkpoints must carry a valid signature by the log's key; outside checkpoints
    (kept by partners or the privacy officer) by the log's key or one of ``trusted_keys``
    (public ``name+id+key`` strings), which is how a log that was rewritten and re-signed
    with a new key is caught. Reads one snapshot, changes nothing.
    """
    bad = _Bad()
    verifiers = _verifiers(ctx, trusted_keys, bad)
    origin = ctx.settings.origin
    outside = _read_outside(outside_checkpoints, verifiers, origin, bad)
    with audit_tree.snapshot(ctx.db) as conn:
        sequenced, pending = audit_tree.sequenced_count(conn)
        state = audit_tree.load_state(conn)
        stored = audit_tree.list_checkpoints(conn)
        targets = _stored_targets(stored, verifiers[:1], origin, bad)
        wanted = {size for size, _, _ in targets} | {cp.size for cp, _ in outside}
        wanted.add(state.size)
        authority = _PruneAuthority(verifiers, origin, ctx.settings.retention_floor_days, bad)
        scan = _scan(audit_tree.stream_leaves(conn), sorted(wanted), sequenced, authority,
                     progress, bad)
    _check_roots(scan, state, targets, outside, bad)
    return VerifyResult(ok=not bad.problems, size=scan.size, root_hash=scan.root,
                        first_bad_seq=bad.seq, checkpoints_checked=len(targets) + len(outside),
                        outside_checked=len(outside), pending=pending, pruned=scan.pruned,
                        problems=bad.problems)


def verify_for(ctx: Context, principal: Principal, request_id: str, *, via: str,
               outside_checkpoints: Sequence[str] = (), trusted_keys: Sequence[str] = (),
               progress: Progress | None = None) -> VerifyResult:
    """``verify`` on someone's behalf, recorded as ``audit.verify`` before it is returned:
    every shell (CLI, API, web) gets the same record without building it itself."""
    result = verify(ctx, outside_checkpoints=outside_checkpoints, trusted_keys=trusted_keys,
                    progress=progress)
    _audit(ctx, principal, "audit.verify", request_id,
           {"ok": result.ok, "size": result.size, "first_bad_seq": result.first_bad_seq,
            "checkpoints_checked": result.checkpoints_checked,
            "outside_checkpoints": len(outside_checkpoints), "via": via},
           outcome=Outcome.OK if result.ok else Outcome.ERROR)
    return result


def _verifiers(ctx: Context, trusted_keys: Sequence[str], bad: _Bad) -> list[CheckpointVerifier]:
    out: list[CheckpointVerifier] = []
    try:
        out.append(signer(ctx).verifier())
    except HitmachineError as exc:
        bad.add(None, f"the checkpoint key cannot be read: {exc.detail}")
    for i, key in enumerate(trusted_keys):
        try:
            out.append(CheckpointVerifier.from_verifier_key(key.strip()))
        except InvalidInput:
            raise InvalidInput(f"trusted_keys.{i}", "is not a verifier key "
                               "(name+id+base64 key)") from None
    return out


def _read_outside(notes: Sequence[str], verifiers: Sequence[CheckpointVerifier], origin: str,
                  bad: _Bad) -> list[tuple[Checkpoint, str]]:
    out = []
    for i, note in enumerate(notes, 1):
        label = f"outside checkpoint {i}"
        checkpoint = None
        for v in verifiers:
            try:
                checkpoint = v.verify(note, origin=origin)
                break
            except InvalidProof:
                continue
        if checkpoint is None:
            bad.add(None, f"{label} does not carry a valid signature by a trusted key "
                          "for this log: the log or its key was replaced")
            continue
        out.append((checkpoint, label))
    return out


def _stored_targets(rows: Sequence[audit_tree.CheckpointRow],
                    verifiers: Sequence[CheckpointVerifier], origin: str,
                    bad: _Bad) -> list[tuple[int, bytes, str]]:
    out = []
    for row in rows:
        label = f"stored checkpoint of size {row.size}"
        checkpoint = None
        for v in verifiers:
            try:
                checkpoint = v.verify(row.note, origin=origin)
            except InvalidProof:
                pass
        if checkpoint is None:
            bad.add(None, f"{label} has no valid signature by the log's key")
            continue
        if checkpoint.size != row.size or checkpoint.root_hash != bytes(row.root_hash):
            bad.add(None, f"{label} differs from the note it stores")
        out.append((checkpoint.size, checkpoint.root_hash, label))
    return out


@dataclass
class _Scan:
    size: int
    root: bytes
    roots: dict[int, bytes]
    pruned: int
    first_error: int | None


def _scan(rows: Iterable[Sequence[Any]], wanted: list[int], expected: int,
          authority: _PruneAuthority, progress: Progress | None, bad: _Bad) -> _Scan:
    """One pass over the records by seq: recompute each leaf, note the root at every size
    a checkpoint or the tree state names, and find the first record that is not right."""
    compact = CompactRange()
    roots: dict[int, bytes] = {}
    if wanted and wanted[0] == 0:
        roots[0] = compact.root()
    next_wanted = [w for w in wanted if w > 0]
    w_index = 0
    pruned_seqs = array("q")
    prune_allowance = 0  # records below this seq may be pruned (a signed prune statement)
    first_error: int | None = None
    n = 0
    pending_hashes: list[bytes] = []
    event_index = LEAF_FIELDS.index("event")
    for row in rows:
        seq, record_id, stored, is_pruned = row[0], row[1], row[2], row[3]
        values = row[4:]
        if seq != n and first_error is None:
            # A gap (deleted record) or a jump: the record that should be at n is missing.
            first_error = n
            bad.add(n, f"seq {n}: missing (the next record in the log has seq {seq})")
        stored_b = bytes(stored) if stored is not None else b""
        if is_pruned:
            pruned_seqs.append(seq)
            digest = stored_b if len(stored_b) == 32 else bytes(32)
            if (digest != stored_b or not is_cleared(values)) and first_error is None:
                first_error = seq
                bad.add(seq, f"seq {seq}: marked pruned, but its contents or leaf hash are "
                             "not what pruning leaves")
        else:
            digest = leaf_hash(leaf_data_from_values(seq, record_id, values))
            if digest != stored_b and first_error is None:
                first_error = _explain_mismatch(bad, seq, record_id, values, stored_b)
            if values[event_index] == "audit.prune" and digest == stored_b:
                prune_allowance = max(prune_allowance, authority.allowance(seq, values))
            # The tree is built from the stored leaf hashes, checked against the contents
            # just above: so the checkpoints judge the leaf hashes, and a changed record is
            # named by its own mismatch rather than by every checkpoint after it.
            if len(stored_b) == 32:
                digest = stored_b
        pending_hashes.append(digest)
        n += 1
        # Extend in chunks; stop exactly at every size whose root we need.
        if w_index < len(next_wanted) and n == next_wanted[w_index]:
            compact.extend(pending_hashes)
            pending_hashes = []
            roots[n] = compact.root()
            while w_index < len(next_wanted) and next_wanted[w_index] <= n:
                w_index += 1
        elif len(pending_hashes) >= 4096:
            compact.extend(pending_hashes)
            pending_hashes = []
            if progress is not None:
                progress(n, expected)
    compact.extend(pending_hashes)
    if progress is not None:
        progress(n, expected)
    if pruned_seqs:
        beyond = bisect_left(pruned_seqs, prune_allowance)
        if beyond < len(pruned_seqs):
            seq = pruned_seqs[beyond]
            bad.add(seq, f"seq {seq}: pruned, but no valid signed prune statement in a later "
                         "audit.prune record covers it")
    return _Scan(n, compact.root(), roots, len(pruned_seqs), first_error)


def _explain_mismatch(bad: _Bad, seq: int, record_id: int, values: Sequence[Any],
                      stored: bytes) -> int:
    """Name the first bad record. A record whose leaf hash fits the position before it was
    pushed down by a record inserted there; one that fits the next position moved up into
    the place of a deleted record."""
    def fits(position: int) -> bool:
        return position >= 0 and leaf_hash(leaf_data_from_values(
            position, record_id, values)) == stored

    if fits(seq - 1):
        bad.add(seq - 1, f"seq {seq - 1}: a record was inserted here (the record now at "
                         f"{seq} was sequenced at {seq - 1})")
        return seq - 1
    if fits(seq + 1):
        bad.add(seq, f"seq {seq}: the record now here was sequenced at {seq + 1}: a record "
                     "was deleted here or records were reordered")
    else:
        bad.add(seq, f"seq {seq}: the record's contents, position or leaf hash changed "
                     "after it was sequenced")
    return seq


class _PruneAuthority:
    """Judges the ``audit.prune`` records the scan meets: how far each one allows pruning.

    Only a prune statement signed with the log's key (or a ``--trusted-key``, for one
    signed before a key change) counts, for this log, with a retention at least the
    configured floor, dated no later than the record that carries it. The ``before_seq``
    a database writer can put in a record's detail counts for nothing by itself.
    """

    _RECORDED_AT = LEAF_FIELDS.index("recorded_at")
    _DETAIL = LEAF_FIELDS.index("detail")

    def __init__(self, verifiers: Sequence[CheckpointVerifier], origin: str, floor_days: int,
                 bad: _Bad) -> None:
        self._verifiers = verifiers
        self._origin = origin
        self._floor = floor_days
        self._bad = bad

    def allowance(self, seq: int, values: Sequence[Any]) -> int:
        """Records below the returned seq may be pruned; a bad statement is a problem."""
        try:
            detail = json.loads(values[self._DETAIL] or "{}")
        except ValueError:
            detail = None
        if not isinstance(detail, dict):
            detail = {}
        note = detail.get("statement")
        if note is None and not detail.get("before_seq"):
            return 0  # a dry run, or nothing was due: no pruning claimed
        problem: str | None
        statement, problem = self._read(note)
        if statement is not None:
            problem = self._judge(statement, values[self._RECORDED_AT])
        if statement is None or problem is not None:
            self._bad.add(seq, f"seq {seq}: audit.prune record whose prune statement {problem}")
            return 0
        # A statement only authorises pruning of what was sequenced before its record.
        return min(statement.before_seq, seq)

    def _read(self, note: Any) -> tuple[PruneStatement | None, str]:
        if not isinstance(note, str):
            return None, "is missing: the pruning it claims is not authorised"
        body = None
        for verifier in self._verifiers:
            try:
                body = verifier.verify_note(note)
                break
            except InvalidProof:
                continue
        if body is None:
            return None, "has no valid signature by the log's key or a trusted key"
        try:
            return PruneStatement.parse(body), ""
        except InvalidProof as exc:
            return None, f"is not valid: {exc.detail}"

    def _judge(self, statement: PruneStatement, recorded_at: str) -> str | None:
        if statement.origin != self._origin:
            return f"is for another log ({statement.origin})"
        if statement.retention_days < self._floor:
            return (f"allowed pruning after {statement.retention_days} days, below the "
                    f"retention floor of {self._floor}")
        if statement.signed_at > recorded_at:
            return "is dated after the record that carries it"
        return None


def _check_roots(scan: _Scan, state: audit_tree.TreeState,
                 stored: Sequence[tuple[int, bytes, str]],
                 outside: Sequence[tuple[Checkpoint, str]], bad: _Bad) -> None:
    targets = [(size, root, label) for size, root, label in stored]
    targets += [(cp.size, cp.root_hash, label) for cp, label in outside]
    targets.append((state.size, state.root_hash, "the tree state"))
    passed = sorted((size for size, root, _ in targets if scan.roots.get(size) == root))
    for size, root, label in sorted(targets):
        if size > scan.size:
            bad.add(scan.size, f"seq {scan.size}: missing; {label} has {size} records, "
                               f"the log {scan.size}: the tail was cut off")
        elif scan.roots.get(size) != root:
            # The leaves were rewritten consistently: only the signed roots tell. The first
            # bad record is at or after the largest size that still matched.
            below = [p for p in passed if p < size]
            first = below[-1] if below else 0
            # A record found bad below this size already explains the mismatch.
            named = scan.first_error is None or scan.first_error >= size
            bad.add(first if named else None, f"seqs {first}..{size - 1}: the leaf hashes do "
                                              f"not give the root of {label}: rewritten")
    if scan.size > state.size:
        bad.add(state.size, f"seq {state.size}: {scan.size - state.size} records beyond "
                            "the tree the integrator built: inserted")


# --- proofs -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class InclusionProof:
    seq: int
    size: int
    leaf_hash: bytes
    leaf_data: bytes
    hashes: list[bytes]
    root_hash: bytes
    checkpoint: str | None


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    size1: int
    size2: int
    hashes: list[bytes]
    root1: bytes
    root2: bytes
    checkpoint1: str | None
    checkpoint2: str | None


def prove_inclusion(ctx: Context, principal: Principal, request_id: str, *,
                    seq: int | None = None, record_request_id: str | None = None,
                    size: int | None = None) -> InclusionProof:
    """The audit path of one record to the root of the tree of ``size`` (default: the
    newest checkpoint). A partner may only ask about its own organisation's records."""
    if (seq is None) == (record_request_id is None):
        raise InvalidInput("seq", "give either seq or request_id")
    with audit_tree.snapshot(ctx.db) as conn:
        if seq is None:
            rows = [r for r in audit_tree.records_by_request_id(
                conn, record_request_id or "", _own_organisation(principal))
                if r["seq"] is not None]
            if not rows:
                raise NotFound("no sequenced audit record with that request id (records are "
                               "sequenced within about a second)")
            record = rows[0]
            seq = int(record["seq"])
        else:
            found = audit_tree.record_at(conn, seq)
            if found is None:
                raise NotFound("no audit record has that seq (yet)")
            record = found
        _check_own(principal, record)
        size, checkpoint = _tree_size(conn, size, "size")
        if not 0 <= seq < size:
            raise InvalidInput("seq", "must be below the tree size")
        hashes = audit_tree.leaf_hashes(conn, size)
    values = [record[f] for f in LEAF_FIELDS]
    proof = InclusionProof(seq, size, hashes[seq],
                           leaf_data_from_values(seq, int(record["id"]), values),
                           inclusion_proof(hashes, seq, size),
                           merkle_root(hashes), checkpoint)
    _audit(ctx, principal, "audit.proof", request_id,
           {"kind": "inclusion", "seq": seq, "size": size})
    return proof


def prove_consistency(ctx: Context, principal: Principal, request_id: str, *,
                      size1: int, size2: int | None = None) -> ConsistencyProof:
    """Proof that the tree of ``size1`` is a prefix of the tree of ``size2``."""
    with audit_tree.snapshot(ctx.db) as conn:
        size2, checkpoint2 = _tree_size(conn, size2, "to")
        if not 0 < size1 <= size2:
            raise InvalidInput("from", "must be at least 1 and at most 'to'")
        checkpoint1 = _checkpoint_at(conn, size1)
        hashes = audit_tree.leaf_hashes(conn, size2)
    proof = ConsistencyProof(size1, size2, consistency_proof(hashes, size1, size2),
                             merkle_root(hashes[:size1]), merkle_root(hashes),
                             checkpoint1, checkpoint2)
    _audit(ctx, principal, "audit.proof", request_id,
           {"kind": "consistency", "from": size1, "to": size2})
    return proof


def _tree_size(conn: Connection, size: int | None, field_name: str) -> tuple[int, str | None]:
    if size is None:
        latest = audit_tree.latest_checkpoint(conn)
        if latest is None or latest.size == 0:
            raise NotFound("no checkpoint has been signed yet")
        return latest.size, latest.note
    current = audit_tree.load_state(conn).size
    if not 0 < size <= current:
        raise InvalidInput(field_name, f"must be between 1 and the tree size ({current})")
    return size, _checkpoint_at(conn, size)


def _checkpoint_at(conn: Connection, size: int) -> str | None:
    for row in audit_tree.list_checkpoints(conn):
        if row.size == size:
            return row.note
    return None


def _own_organisation(principal: Principal) -> str | None:
    return principal.organisation if principal.role is Role.PARTNER else None


def _check_own(principal: Principal, record: RowMapping) -> None:
    if principal.role is Role.PARTNER and record["organisation"] != principal.organisation:
        raise Forbidden("a partner may only ask proofs for its own organisation's records")


# --- export -------------------------------------------------------------------------------

def export_records(ctx: Context, principal: Principal, flt: AuditFilter, fmt: ExportFormat,
                   out: IO[str], request_id: str, *, via: str = "web") -> int:
    """Write the selected records with everything needed to recompute their leaf hashes
    (``docs/audit-log.md``), then record the export. Returns the number written.

    The caller sends ``out`` on only after this returns: the record is committed first."""
    if fmt not in ("jsonl", "csv"):
        raise InvalidInput("format", "must be jsonl or csv")
    writer = csv.writer(out, lineterminator="\r\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(safe_row((*EXPORT_COLUMNS, "null_fields")))
    count, after = 0, 0
    with audit_tree.snapshot(ctx.db) as conn:
        while True:
            rows = audit_log.search(conn, flt, after_id=after, limit=EXPORT_PAGE)
            for row in rows:
                item = export_row(row)
                if writer is not None:
                    # CSV has no NULL: an empty cell is NULL exactly when null_fields names it.
                    # safe_row: free text must not run as a formula in a spreadsheet.
                    writer.writerow(safe_row([*(item[c] for c in EXPORT_COLUMNS),
                                              " ".join(f for f in LEAF_FIELDS
                                                       if item[f] is None)]))
                else:
                    # ensure_ascii: a newline or separator inside a field stays escaped, so
                    # no free text can split a record or forge another line.
                    out.write(json.dumps(item, ensure_ascii=True, separators=(",", ":")) + "\n")
            count += len(rows)
            if len(rows) < EXPORT_PAGE:
                break
            after = int(rows[-1]["id"])
    out.flush()
    _audit(ctx, principal, "audit.export", request_id,
           {"filter": _filter_detail(flt), "format": fmt, "records": count, "via": via})
    return count


def search_records(ctx: Context, principal: Principal, request_id: str,
                   flt: AuditFilter, *, after: int, limit: int) -> list[RowMapping]:
    """One page of records after record ``after``, recorded as ``audit.read``."""
    with ctx.db.read() as conn:
        rows = audit_log.search(conn, flt, after_id=after, limit=limit)
    record_read(ctx, principal, request_id, flt, returned=len(rows), after=after)
    return rows


def record_read(ctx: Context, principal: Principal, request_id: str, flt: AuditFilter, *,
                returned: int, via: str | None = None, **cursor: int | None) -> None:
    """Record that a page of the log was read (``audit.read``), by its filter and cursor.
    For pages a shell lays out itself (the web's newer/older page), after reading it."""
    detail: dict[str, Any] = {"filter": _filter_detail(flt), **cursor, "returned": returned}
    if via is not None:
        detail["via"] = via
    _audit(ctx, principal, "audit.read", request_id, detail)


def export_row(row: RowMapping) -> dict[str, Any]:
    item: dict[str, Any] = {"seq": row["seq"], "id": row["id"],
                            "leaf_hash": bytes(row["leaf_hash"]).hex()
                            if row["leaf_hash"] is not None else None,
                            "pruned": bool(row["pruned"])}
    item.update({f: row[f] for f in LEAF_FIELDS})
    return item


def _filter_detail(flt: AuditFilter) -> dict[str, Any]:
    return {k: v for k, v in asdict(flt).items() if v is not None}


# --- a data subject's records -------------------------------------------------------------

def subject_records(ctx: Context, principal: Principal, identity: Identity,
                    request_id: str, *, via: str = "web") -> list[RowMapping]:
    """Every record about this person (AVG art. 15), oldest first: the identity is
    pseudonymised under every key version and only exact pseudonym matches are kept.
    The look-up is recorded with the number found, never the identity."""
    wanted = subject_pseudonyms(ctx, identity)
    hexes = sorted({h for _, h in wanted})
    with ctx.db.read() as conn:
        candidates = audit_tree.find_by_subject(conn, hexes)
    found = [r for r in candidates if _mentions(r["subjects"], wanted)]
    _audit(ctx, principal, "audit.subject", request_id,
           {"records": len(found), "key_versions": sorted({v for v, _ in wanted}), "via": via},
           outcome=Outcome.OK)
    return found


def record_subject_refused(ctx: Context, principal: Principal, request_id: str,
                           fields: Iterable[str], *, via: str = "web") -> None:
    """Record a data-subject look-up refused for bad input (``audit.subject``, invalid):
    the fields named, never their values."""
    _audit(ctx, principal, "audit.subject", request_id,
           {"status": 422, "via": via, "fields": sorted(fields)}, outcome=Outcome.INVALID)


def subject_pseudonyms(ctx: Context, identity: Identity) -> set[tuple[int, str]]:
    """(key version, hex digest) under every version the keyring holds, retired ones too:
    a record made under a key that has since been retired still concerns the person."""
    pseudonymiser = ctx.pseudonymiser
    versions = set(pseudonymiser.active_versions)
    try:
        versions |= {v.version for v in load_keyring(ctx.settings.keyring_path).versions}
    except HitmachineError:
        pass  # another scheme (a key service) holds the keys: its versions are enough
    out: set[tuple[int, str]] = set()
    for version in sorted(versions):
        try:
            ps = pseudonymiser.pseudonymise([identity], version)[0]
        except HitmachineError:
            continue
        for digest in (ps.bsn, ps.name):
            if digest is not None:
                out.add((version, digest.hex()))
    return out


def _mentions(subjects_json: str, wanted: set[tuple[int, str]]) -> bool:
    try:
        subjects = json.loads(subjects_json or "[]")
    except ValueError:
        return False
    for s in subjects if isinstance(subjects, list) else []:
        if isinstance(s, dict) and any((s.get("key_version"), s.get(k)) in wanted
                                       for k in ("bsn", "name")):
            return True
    return False


# --- retention ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PruneResult:
    cutoff: str
    pruned: int
    before_seq: int
    checkpoints_thinned: int


def prune(ctx: Context, principal: Principal, request_id: str, *,
          dry_run: bool = False) -> PruneResult:
    """Clear the contents of records older than the retention period; their leaf hashes
    stay, so the tree and every checkpoint still verify.

    The permission is a prune statement signed with the checkpoint key (which no database
    writer holds), naming the seq range and the retention, in the ``audit.prune`` record
    sequenced first: the verifier only accepts pruned records below the range of a valid
    statement, so nobody can hide a record by "pruning" it.
    """
    days = ctx.settings.retention_days
    if days < ctx.settings.retention_floor_days:
        raise InvalidInput("retention_days", "is below the legal retention floor "
                                             f"({ctx.settings.retention_floor_days} days)")
    moment = utc_now()
    cutoff = iso_utc(moment - _seconds(days * 86400))
    integrate(ctx, wait=True)
    with ctx.db.read() as conn:
        before_seq, count = audit_tree.prune_range(conn, cutoff)
    if dry_run or count == 0:
        _audit(ctx, principal, "audit.prune", request_id,
               {"cutoff": cutoff, "before_seq": 0, "records": 0, "candidates": count,
                "dry_run": dry_run})
        return PruneResult(cutoff, count if dry_run else 0, 0, 0)
    statement = PruneStatement(ctx.settings.origin, before_seq, days, iso_utc(moment))
    note = signer(ctx).sign_note(statement.body())
    _audit(ctx, principal, "audit.prune", request_id,
           {"cutoff": cutoff, "before_seq": before_seq, "records": count,
            "retention_days": days, "statement": note})
    integrate(ctx, wait=True)  # the prune record gets its seq (above before_seq) first
    pruned = 0
    while True:
        with ctx.db.write() as conn:
            audit_tree.lock(conn, wait=True)
            done = audit_tree.clear_contents(conn, cutoff, before_seq, PRUNE_BATCH)
        pruned += done
        if done < PRUNE_BATCH:
            break
    with ctx.db.write() as conn:
        audit_tree.lock(conn, wait=True)
        thinned = audit_tree.thin_checkpoints(conn, cutoff)
    return PruneResult(cutoff, pruned, before_seq, thinned)


# --- statistics ---------------------------------------------------------------------------

def record_statistics(ctx: Context, principal: Principal, request_id: str, *, since: dt.date,
                      until: dt.date, queries: int, via: str = "web") -> None:
    """Record that the query statistics of these days were shown (``audit.statistics``).
    The figures are computed by the page that lays them out; the record is kept here."""
    _audit(ctx, principal, "audit.statistics", request_id,
           {"from": since.isoformat(), "to": until.isoformat(), "queries": queries,
            "via": via})


# --- shared -------------------------------------------------------------------------------

def _audit(ctx: Context, principal: Principal, event: str, request_id: str,
           detail: dict[str, Any], outcome: Outcome = Outcome.OK) -> None:
    ctx.audit.append(AuditRecord.by(principal, event, request_id, outcome, detail=detail))


__all__ = ["PENDING_LIMIT_SECONDS", "ConsistencyProof", "EXPORT_COLUMNS", "InclusionProof",
           "Integrator", "PruneResult", "VerifyResult", "checkpoint_for", "export_records",
           "export_row", "integrate", "latest_checkpoint", "pending_seconds",
           "prove_consistency", "prove_inclusion", "prune", "record_read", "record_statistics",
           "record_subject_refused", "search_records", "sign_checkpoint_now", "signer",
           "subject_pseudonyms", "subject_records", "verifier_key", "verify", "verify_for"]
