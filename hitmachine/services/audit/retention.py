"""Pruning: clearing the contents of records older than the retention period under a
signed prune statement, so the tree and every checkpoint still verify."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hitmachine.core.auditlog.prune_statement import PruneStatement
from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import InvalidInput
from hitmachine.core.principal import Principal
from hitmachine.services.audit._common import record_action
from hitmachine.services.audit.integrator import integrate, signer
from hitmachine.services.context import Context
from hitmachine.store import audit_tree

PRUNE_BATCH = 10_000


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
    cutoff = iso_utc(moment - dt.timedelta(seconds=days * 86400))
    integrate(ctx, wait=True)
    with ctx.db.read() as conn:
        before_seq, count = audit_tree.prune_range(conn, cutoff)
    if dry_run or count == 0:
        record_action(ctx, principal, "audit.prune", request_id,
               {"cutoff": cutoff, "before_seq": 0, "records": 0, "candidates": count,
                "dry_run": dry_run})
        return PruneResult(cutoff, count if dry_run else 0, 0, 0)
    statement = PruneStatement(ctx.settings.origin, before_seq, days, iso_utc(moment))
    note = signer(ctx).sign_note(statement.body())
    record_action(ctx, principal, "audit.prune", request_id,
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


__all__ = ["PruneResult", "prune"]
