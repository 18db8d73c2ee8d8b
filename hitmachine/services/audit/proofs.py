"""Inclusion and consistency proofs (RFC 9162) against the tree of a given size,
each recorded as ``audit.proof``. A partner may only ask about its own organisation's
records.

A proof reads every leaf hash up to the tree size and hashes them (O(n) a request):
the tree's inner nodes are not stored, only the leaf hashes and the compact range of the
newest state. The new root then follows from the proof itself (O(log n)) instead of a
second pass over the leaves. Bounded reads would need stored subtree hashes (tiles
written by the integrator).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping

from hitmachine.core.auditlog.encoding import LEAF_FIELDS, leaf_data_from_values
from hitmachine.core.auditlog.merkle import (
    consistency_proof,
    inclusion_proof,
    root_from_consistency,
    root_from_inclusion,
)
from hitmachine.core.auditlog.merkle import root as merkle_root
from hitmachine.core.errors import Forbidden, InvalidInput, NotFound
from hitmachine.core.principal import Principal, Role
from hitmachine.services.audit._common import record_action
from hitmachine.services.context import Context
from hitmachine.store import audit_tree


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
    path = inclusion_proof(hashes, seq, size)
    proof = InclusionProof(seq, size, hashes[seq],
                           leaf_data_from_values(seq, int(record["id"]), values), path,
                           root_from_inclusion(hashes[seq], seq, size, path), checkpoint)
    record_action(ctx, principal, "audit.proof", request_id,
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
    path = consistency_proof(hashes, size1, size2)
    root1 = merkle_root(hashes[:size1])
    proof = ConsistencyProof(size1, size2, path, root1,
                             root_from_consistency(size1, size2, path, root1),
                             checkpoint1, checkpoint2)
    record_action(ctx, principal, "audit.proof", request_id,
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


__all__ = ["ConsistencyProof", "InclusionProof", "prove_consistency", "prove_inclusion"]
