"""Verifying the whole log: every leaf recomputed from the record contents in one
streaming pass, and the roots it passes through held to every stored and every outside
checkpoint. Pruned records must be covered by a signed prune statement."""

from __future__ import annotations

import json
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hitmachine.core.auditlog.checkpoint import Checkpoint, CheckpointVerifier
from hitmachine.core.auditlog.encoding import LEAF_FIELDS, is_cleared, leaf_data_from_values
from hitmachine.core.auditlog.merkle import CompactRange, leaf_hash
from hitmachine.core.auditlog.prune_statement import PruneStatement
from hitmachine.core.auditlog.record import Outcome
from hitmachine.core.errors import HitmachineError, InvalidInput, InvalidProof
from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import record_action
from hitmachine.services.audit.integrator import signer
from hitmachine.services.context import Context
from hitmachine.store import audit_tree


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
    record_action(ctx, principal, "audit.verify", request_id,
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


__all__ = ["Progress", "VerifyResult", "verify", "verify_for"]
