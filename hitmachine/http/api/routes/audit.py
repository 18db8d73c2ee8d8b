"""Reading the audit log (privacy officer), and its checkpoints and Merkle proofs (privacy
officer, and partners for their own records). Every call is itself audited.

Hashes travel as standard base64, as in the checkpoint notes; ``docs/audit-log.md`` shows
how to check a proof against a checkpoint kept outside."""

from __future__ import annotations

import base64
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import RowMapping

from hitmachine.core.auditlog.checkpoint import parse_checkpoint_body
from hitmachine.core.principal import Permission, Principal
from hitmachine.http.api.auth import CtxDep, require
from hitmachine.http.api.problems import request_id
from hitmachine.http.schemas import AuditPageOut, AuditRecordOut, FreeText
from hitmachine.services import audit as audit_service
from hitmachine.store.audit_log import AuditFilter

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AuditReader = Annotated[Principal, Depends(require(Permission.READ_AUDIT, "audit.read"))]
CheckpointReader = Annotated[Principal, Depends(require(Permission.VERIFY_AUDIT,
                                                        "audit.checkpoint"))]
# Filters are free text like every other field (no NUL, which PostgreSQL text cannot
# hold, no other control character or lone surrogate): refused here with a 422 naming the
# parameter, rather than failing in the driver.
ProofReader = Annotated[Principal, Depends(require(Permission.VERIFY_AUDIT, "audit.proof"))]


@router.get("/records", response_model=AuditPageOut)
def list_records(
    request: Request, ctx: CtxDep, principal: AuditReader,
    since: Annotated[FreeText | None, Query(alias="from", max_length=32)] = None,
    until: Annotated[FreeText | None, Query(alias="to", max_length=32)] = None,
    event: Annotated[FreeText | None, Query(max_length=64)] = None,
    actor: Annotated[FreeText | None, Query(max_length=128)] = None,
    purpose: Annotated[FreeText | None, Query(max_length=32)] = None,
    case_reference: Annotated[FreeText | None, Query(max_length=200)] = None,
    outcome: Annotated[FreeText | None, Query(max_length=16)] = None,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,  # a database bigint
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPageOut:
    """Audit records in arrival order, filtered, one page after record ``after``."""
    flt = AuditFilter(since=since, until=until, event=event, actor=actor, purpose=purpose,
                      case_reference=case_reference, outcome=outcome)
    rows = audit_service.search_records(ctx, principal, request_id(request), flt,
                                        after=after, limit=limit)
    records = [_record_out(r) for r in rows]
    return AuditPageOut(records=records,
                        next_cursor=records[-1].id if len(records) == limit else None)


def _record_out(m: RowMapping) -> AuditRecordOut:
    plain = {k: m[k] for k in ("id", "seq", "recorded_at", "event", "actor", "role",
                               "organisation", "request_id", "purpose", "legal_basis",
                               "case_reference", "outcome")}
    return AuditRecordOut(**plain, subjects=json.loads(m["subjects"]),
                          agencies=json.loads(m["agencies"]), detail=json.loads(m["detail"]))


class CheckpointOut(BaseModel):
    """The newest signed tree head. Keep ``checkpoint`` (the whole signed note) outside."""

    origin: str
    size: int
    root_hash: str = Field(description="base64 of the 32-byte root hash")
    checkpoint: str = Field(description="C2SP tlog-checkpoint in a C2SP signed note")
    verifier_key: str = Field(description="the public key that signs, name+id+base64 key")


class InclusionProofOut(BaseModel):
    seq: int
    size: int
    leaf_hash: str = Field(description="base64 of SHA-256(0x00 || leaf_data)")
    leaf_data: str = Field(description="base64 of the record's canonical bytes")
    proof: list[str] = Field(description="RFC 9162 inclusion path, lowest level first, base64")
    root_hash: str
    checkpoint: str | None = Field(description="the signed checkpoint of this size, if stored")


class ConsistencyProofOut(BaseModel):
    from_size: int = Field(serialization_alias="from")
    to_size: int = Field(serialization_alias="to")
    proof: list[str] = Field(description="RFC 9162 consistency proof, base64")
    from_root_hash: str
    to_root_hash: str
    from_checkpoint: str | None
    to_checkpoint: str | None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


@router.get("/checkpoint", response_model=CheckpointOut)
def checkpoint(request: Request, ctx: CtxDep, principal: CheckpointReader) -> CheckpointOut:
    """The newest signed checkpoint of the audit log (signed now if there is none yet)."""
    note = audit_service.checkpoint_for(ctx, principal, request_id(request),
                                        wanted="newest_or_sign", via="api")
    assert note is not None  # signed now when none was stored yet
    body = parse_checkpoint_body(note[: note.index("\n\n") + 1].encode("utf-8"))
    return CheckpointOut(origin=body.origin, size=body.size, root_hash=_b64(body.root_hash),
                         checkpoint=note, verifier_key=audit_service.verifier_key(ctx))


@router.get("/proof/inclusion", response_model=InclusionProofOut)
def inclusion(
    request: Request, ctx: CtxDep, principal: ProofReader,
    seq: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    record_request_id: Annotated[FreeText | None, Query(alias="request_id", min_length=1,
                                                   max_length=64)] = None,
    size: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> InclusionProofOut:
    """The inclusion proof of one record (by ``seq``, or by the ``request_id`` of the
    request it records) in the tree of ``size`` records (default: the newest checkpoint).
    A partner gets proofs for its own organisation's records only."""
    proof = audit_service.prove_inclusion(ctx, principal, request_id(request), seq=seq,
                                          record_request_id=record_request_id, size=size)
    return InclusionProofOut(seq=proof.seq, size=proof.size, leaf_hash=_b64(proof.leaf_hash),
                             leaf_data=_b64(proof.leaf_data),
                             proof=[_b64(h) for h in proof.hashes],
                             root_hash=_b64(proof.root_hash), checkpoint=proof.checkpoint)


@router.get("/proof/consistency", response_model=ConsistencyProofOut,
            response_model_by_alias=True)
def consistency(
    request: Request, ctx: CtxDep, principal: ProofReader,
    size1: Annotated[int, Query(alias="from", ge=1, le=2**62)],
    size2: Annotated[int | None, Query(alias="to", ge=1, le=2**62)] = None,
) -> ConsistencyProofOut:
    """Proof that the tree of ``from`` records is a prefix of the tree of ``to`` records
    (default: the newest checkpoint): the log was only appended to in between."""
    proof = audit_service.prove_consistency(ctx, principal, request_id(request),
                                            size1=size1, size2=size2)
    return ConsistencyProofOut(from_size=proof.size1, to_size=proof.size2,
                               proof=[_b64(h) for h in proof.hashes],
                               from_root_hash=_b64(proof.root1), to_root_hash=_b64(proof.root2),
                               from_checkpoint=proof.checkpoint1,
                               to_checkpoint=proof.checkpoint2)
