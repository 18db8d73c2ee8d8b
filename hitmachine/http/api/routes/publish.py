"""Publishing by adapters: snapshot syncs in numbered batches, and atomic deltas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from hitmachine.core import wire
from hitmachine.core.errors import NotFound
from hitmachine.core.principal import Permission, Principal
from hitmachine.http.api.auth import CtxDep, require
from hitmachine.http.api.problems import request_id
from hitmachine.http.schemas import (
    AgencySetOut,
    BatchIn,
    BatchOut,
    CommitIn,
    DeltaIn,
    DeltaOut,
    EntryIn,
    SyncOpenIn,
    SyncOut,
)
from hitmachine.services import publish
from hitmachine.store.index import AgencySet, EntryPair, SyncInfo

router = APIRouter(prefix="/v1/publish", tags=["publish"])
SyncId = Annotated[str, Path(max_length=36, pattern=r"^[0-9a-f-]{36}$")]


Opener = Annotated[Principal, Depends(require(Permission.PUBLISH, "publish.open"))]
Batcher = Annotated[Principal, Depends(require(Permission.PUBLISH, "publish.batch"))]
Committer = Annotated[Principal, Depends(require(Permission.PUBLISH, "publish.commit"))]
Abandoner = Annotated[Principal, Depends(require(Permission.PUBLISH, "publish.abandon"))]
DeltaPublisher = Annotated[Principal, Depends(require(Permission.PUBLISH, "publish.delta"))]
StatusReader = Annotated[Principal, Depends(require(Permission.PUBLISH))]


def _sync_out(s: SyncInfo) -> SyncOut:
    return SyncOut(sync_id=s.public_id, agency=s.agency, key_version=s.key_version,
                   status=s.status, expires_at=s.expires_at, batches=s.batch_count,
                   entries=s.entry_count)


def _set_out(s: AgencySet) -> AgencySetOut:
    return AgencySetOut(agency=s.agency, key_version=s.key_version, entries=s.entry_count,
                        updated_at=s.updated_at)


def _pairs(entries: list[EntryIn]) -> list[tuple[str | None, str | None, str | None]]:
    return [(e.bsn, e.name, e.bsn_birthdate) for e in entries]


@router.post("/syncs", response_model=SyncOut, status_code=201)
def open_sync(body: SyncOpenIn, request: Request, ctx: CtxDep,
              principal: Opener) -> SyncOut:
    """Open a snapshot sync: the batches that follow replace the agency's whole set at commit."""
    sync = publish.open_sync(ctx, principal, body.agency, body.key_version, request_id(request))
    return _sync_out(sync)


def _batch_body_schema() -> dict[str, object]:
    """The request body of ``put_batch``, which reads its body itself (two encodings)."""
    as_json = BatchIn.model_json_schema(ref_template="#/components/schemas/{model}")
    as_json.pop("$defs", None)  # EntryIn is a component already (DeltaIn uses it)
    return {"requestBody": {"required": True, "content": {
        "application/json": {"schema": as_json},
        wire.MEDIA_TYPE: {"schema": {
            "type": "string", "format": "binary",
            "description": f"{wire.RECORD_BYTES}-byte records, one per entry: u8 flags "
                           "(bit 0: BSN pseudonym present, bit 1: name-key pseudonym "
                           "present, bit 2: (BSN, birth date) pseudonym present, only with "
                           "bit 0), 32 bytes BSN pseudonym, 32 bytes name-key pseudonym, "
                           "32 bytes (BSN, birth date) pseudonym (zeros when absent). Much "
                           "smaller than JSON and cheaper to read; see "
                           "hitmachine/core/wire.py."}},
        wire.V1_MEDIA_TYPE: {"schema": {
            "type": "string", "format": "binary",
            "description": f"Version 1, from older adapters: {wire.V1_RECORD_BYTES}-byte "
                           "records, the version 2 record without its last 32 bytes (flags "
                           "1, 2 or 3). Their entries carry no birth date, so an "
                           "age-bounded agency's BSN hits from them are not disclosed."}}}}}


def _batch_pairs(media: str, raw: bytes, max_entries: int) -> Sequence[EntryPair]:
    if media == wire.MEDIA_TYPE:
        return wire.decode_entries(raw, field="body", max_entries=max_entries)
    if media == wire.V1_MEDIA_TYPE:
        return wire.decode_entries(raw, field="body", max_entries=max_entries,
                                   record_bytes=wire.V1_RECORD_BYTES)
    if media and media != "application/json" and not media.endswith("+json"):
        raise HTTPException(415, detail=f"send application/json, {wire.MEDIA_TYPE} or "
                                        f"{wire.V1_MEDIA_TYPE}")
    try:
        body = BatchIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]) from None
    return publish.parse_entries(_pairs(body.entries), "entries")


@router.put("/syncs/{sync_id}/batches/{batch_no}", response_model=BatchOut,
            openapi_extra=_batch_body_schema())
async def put_batch(sync_id: SyncId, batch_no: Annotated[int, Path(ge=0, le=10_000_000)],
                    request: Request, ctx: CtxDep, principal: Batcher) -> BatchOut:
    """Send batch number ``batch_no``, as JSON or as binary records (``Content-Type:
    application/octet-stream``). Sending the same batch again, in either form, is harmless."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    rid = request_id(request)

    def apply() -> tuple[SyncInfo, bool]:  # parsing too runs off the event loop
        pairs = _batch_pairs(media, raw, ctx.settings.max_batch_entries)
        return publish.add_batch(ctx, principal, sync_id, batch_no, pairs, rid)

    sync, applied = await run_in_threadpool(apply)
    return BatchOut(sync_id=sync.public_id, batch=batch_no, applied=applied,
                    batches=sync.batch_count, entries=sync.entry_count)


@router.post("/syncs/{sync_id}/commit", response_model=AgencySetOut)
def commit_sync(sync_id: SyncId, body: CommitIn, request: Request, ctx: CtxDep,
                principal: Committer) -> AgencySetOut:
    """Make the sync's entries the agency's set, atomically. The counts must match what the
    server received, so a lost batch can never commit a partial set. Committing a committed
    sync again with the same counts (a retry after a lost answer, even one overlapping the
    first) changes nothing and answers 200 with the agency's set; other counts, or a sync
    whose set a later sync has replaced, answer 409."""
    result = publish.commit_sync(ctx, principal, sync_id, body.batches, body.entries,
                                 request_id(request))
    return _set_out(result)


@router.delete("/syncs/{sync_id}", status_code=204)
def abandon_sync(sync_id: SyncId, request: Request, ctx: CtxDep,
                 principal: Abandoner) -> Response:
    """Abandon an open sync; the agency keeps its previous set. A committed sync cannot be
    abandoned (409), even by a request that overlaps its commit."""
    publish.abandon_sync(ctx, principal, sync_id, request_id(request))
    return Response(status_code=204)


@router.post("/delta", response_model=DeltaOut)
def post_delta(body: DeltaIn, request: Request, ctx: CtxDep,
               principal: DeltaPublisher) -> DeltaOut:
    """Add and remove entries of the agency's current set in one atomic step."""
    add = publish.parse_entries(_pairs(body.add), "add")
    remove = publish.parse_entries(_pairs(body.remove), "remove")
    added, removed = publish.delta(ctx, principal, body.agency, body.key_version, add, remove,
                                   request_id(request))
    return DeltaOut(added=added, removed=removed)


@router.get("/status", response_model=AgencySetOut)
def status(request: Request, ctx: CtxDep, principal: StatusReader) -> AgencySetOut:
    """The adapter's own agency's current set: size, key version, last update."""
    result = publish.status(ctx, principal, request_id(request))
    if result is None:
        raise NotFound("this agency has not published yet")
    return _set_out(result)
