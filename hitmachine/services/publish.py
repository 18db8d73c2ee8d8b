"""Publishing: snapshot syncs (open → numbered batches → commit) and atomic deltas.

Every step writes its audit record in the same transaction as the change it records, so
the index and the audit trail can never disagree about what was published.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.errors import Forbidden, InvalidInput
from hitmachine.core.principal import Principal
from hitmachine.core.wire import PSEUDONYM_BYTES
from hitmachine.services import signals as signal_service
from hitmachine.services.context import Context
from hitmachine.store import audit_log, index
from hitmachine.store import signals as signal_store
from hitmachine.store.index import AgencySet, EntryPair, SyncInfo


def parse_entries(raw: Sequence[tuple[str | None, str | None, str | None]], field: str
                  ) -> list[EntryPair]:
    """Hex pseudonyms (BSN, name key, BSN with birth date) from the wire to bytes; every
    entry needs a BSN or a name pseudonym, and a birth-date pseudonym needs the BSN's."""
    out: list[EntryPair] = []
    for i, (bsn, name, bsn_birth) in enumerate(raw):
        entry = (_pseudonym(bsn, f"{field}.{i}.bsn"), _pseudonym(name, f"{field}.{i}.name"),
                 _pseudonym(bsn_birth, f"{field}.{i}.bsn_birthdate"))
        if entry[:2] == (None, None):
            raise InvalidInput(f"{field}.{i}", "needs a bsn or a name pseudonym")
        if entry[2] is not None and entry[0] is None:
            raise InvalidInput(f"{field}.{i}.bsn_birthdate", "needs the bsn pseudonym too")
        out.append(entry)
    return out


def _pseudonym(value: str | None, field: str) -> bytes | None:
    if value is None:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidInput(field, "must be hexadecimal") from None
    if len(raw) != PSEUDONYM_BYTES:
        raise InvalidInput(field, f"must be {PSEUDONYM_BYTES} bytes ({2 * PSEUDONYM_BYTES} hex digits)")
    return raw


def batch_digest(pairs: Sequence[EntryPair]) -> bytes:
    """SHA-256 over each entry as ``0x01 bsn | 0x00`` then ``0x01 name | 0x00``, then
    ``0x02 bsn_birth`` when present: the same for a batch sent as JSON or as binary
    records, so either retry is recognised. (One update of the joined bytes: the same
    digest as an update per part, several times faster.)"""
    return hashlib.sha256(b"".join(
        (b"\x01" + bsn if bsn else b"\x00") + (b"\x01" + name if name else b"\x00")
        + (b"\x02" + bsn_birth if bsn_birth else b"")
        for bsn, name, bsn_birth in map(index.full_entry, pairs))).digest()


def _check_agency(ctx: Context, principal: Principal, agency: str, field: str = "agency") -> None:
    if agency not in ctx.agencies:
        raise InvalidInput(field, "is not a configured agency (see GET /v1/agencies)")
    if principal.agency != agency:
        raise Forbidden("an adapter token publishes for its own agency only")


def _check_version(ctx: Context, key_version: int) -> None:
    if key_version not in ctx.pseudonymiser.active_versions:
        raise InvalidInput("key_version", "is not an active key version")


def open_sync(ctx: Context, principal: Principal, agency: str, key_version: int,
              request_id: str) -> SyncInfo:
    _check_agency(ctx, principal, agency)
    _check_version(ctx, key_version)
    with ctx.db.write() as conn:
        sync = index.open_sync(conn, agency=agency, key_version=key_version,
                               ttl_seconds=ctx.settings.sync_ttl_seconds,
                               max_open=ctx.settings.max_open_syncs_per_agency)
        audit_log.append(conn, [AuditRecord.by(
            principal, "publish.open", request_id, Outcome.OK, agencies=(agency,),
            detail={"sync": sync.public_id, "key_version": key_version})])
    return sync


def _owned_sync(conn: object, principal: Principal, sync_id: str) -> SyncInfo:
    # Read without a lock: a sync's agency never changes. Its state may, so the index
    # functions lock the row and decide on what they read then.
    sync = index.get_sync(conn, sync_id)  # type: ignore[arg-type]
    if principal.agency != sync.agency:
        raise Forbidden("this sync belongs to another agency")
    return sync


def add_batch(ctx: Context, principal: Principal, sync_id: str, batch_no: int,
              pairs: Sequence[EntryPair], request_id: str) -> tuple[SyncInfo, bool]:
    if len(pairs) > ctx.settings.max_batch_entries:
        raise InvalidInput("entries", f"at most {ctx.settings.max_batch_entries} entries per batch")
    digest = batch_digest(pairs)
    with ctx.db.write() as conn:
        sync = _owned_sync(conn, principal, sync_id)
        applied = index.add_batch(conn, sync, batch_no, pairs, digest)
        audit_log.append(conn, [AuditRecord.by(
            principal, "publish.batch", request_id, Outcome.OK, agencies=(sync.agency,),
            detail={"sync": sync.public_id, "batch": batch_no, "entries": len(pairs),
                    "applied": applied})])
        return index.get_sync(conn, sync_id), applied


def commit_sync(ctx: Context, principal: Principal, sync_id: str, batches: int,
                entry_count: int, request_id: str) -> AgencySet:
    """Publish the sync; a repeated commit (a retry after a lost answer) answers the same
    set and is audited as a repeat that changed nothing (``index.commit_sync``)."""
    with ctx.db.write() as conn:
        signal_store.publish_turn(conn)  # no follow-up opens halfway (store.signals)
        sync = _owned_sync(conn, principal, sync_id)
        result, applied = index.commit_sync(conn, sync, batches=batches, entry_count=entry_count)
        audit_log.append(conn, [AuditRecord.by(
            principal, "publish.commit", request_id, Outcome.OK, agencies=(sync.agency,),
            detail={"sync": sync.public_id, "batches": batches, "entries": entry_count,
                    "key_version": sync.key_version, "applied": applied})])
        if applied:  # the open follow-ups against the set just committed, in its transaction
            signal_service.reevaluate(conn, ctx, principal, sync.agency, request_id=request_id,
                                      generation=result.generation)
    return result


def abandon_sync(ctx: Context, principal: Principal, sync_id: str, request_id: str) -> None:
    with ctx.db.write() as conn:
        closed = index.abandon_sync(conn, _owned_sync(conn, principal, sync_id))
        audit_log.append(conn, [AuditRecord.by(
            principal, "publish.abandon", request_id, Outcome.OK, agencies=(closed.agency,),
            detail={"sync": closed.public_id, "batches": closed.batch_count})])


def delta(ctx: Context, principal: Principal, agency: str, key_version: int,
          add: Sequence[EntryPair], remove: Sequence[EntryPair], request_id: str
          ) -> tuple[int, int]:
    _check_agency(ctx, principal, agency)
    _check_version(ctx, key_version)
    if len(add) + len(remove) > ctx.settings.max_delta_entries:
        raise InvalidInput("add", f"at most {ctx.settings.max_delta_entries} entries per delta")
    with ctx.db.write() as conn:
        signal_store.publish_turn(conn)
        added, removed = index.apply_delta(conn, agency=agency, key_version=key_version,
                                           add=add, remove=remove)
        audit_log.append(conn, [AuditRecord.by(
            principal, "publish.delta", request_id, Outcome.OK, agencies=(agency,),
            detail={"added": added, "removed": removed, "key_version": key_version})])
        # Only what the delta added can make a household known to the agency anew.
        signal_service.reevaluate(conn, ctx, principal, agency, request_id=request_id,
                                  added=[index.full_entry(e) for e in add],
                                  key_version=key_version)
    return added, removed


def status(ctx: Context, principal: Principal, request_id: str) -> AgencySet | None:
    """The agency's current set; the look is audited with what it found."""
    with ctx.db.write() as conn:
        found = index.agency_set(conn, principal.agency or "")
        audit_log.append(conn, [AuditRecord.by(
            principal, "publish.status", request_id, Outcome.OK,
            agencies=[principal.agency] if principal.agency else [],
            detail={"published": found is not None})])
    return found


__all__ = ["abandon_sync", "add_batch", "batch_digest", "commit_sync", "delta", "open_sync",
           "parse_entries", "status"]
