"""Signals and follow-ups (issue 16): an agency's or the coordinators' inbox, and the
household queries kept open. Every call is audited (``hitmachine.services.signals``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from hitmachine.core.principal import Permission, Principal
from hitmachine.http.api.auth import CtxDep, require
from hitmachine.http.api.problems import request_id
from hitmachine.http.schemas import FollowUpOut, Problem, SignalOut
from hitmachine.services import signals as signal_service
from hitmachine.store.signals import FollowUp, Signal

router = APIRouter(prefix="/v1", tags=["signals"])
Fetcher = Annotated[Principal, Depends(require(Permission.READ_SIGNALS, "signal.fetch"))]
Acker = Annotated[Principal, Depends(require(Permission.READ_SIGNALS, "signal.ack"))]
Lister = Annotated[Principal, Depends(require(Permission.QUERY, "follow_up.list"))]
Ender = Annotated[Principal, Depends(require(Permission.QUERY, "follow_up.end"))]
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
PROBLEMS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem, "content": {"application/problem+json": {}}}
    for s in (401, 403, 404, 422, 503)}


@router.get("/signals", response_model=list[SignalOut], responses=PROBLEMS)
def list_signals(
    request: Request, ctx: CtxDep, principal: Fetcher,
    state: Annotated[Literal["open", "all"], Query(
        description="`open`: not yet acknowledged; `all`: also the acknowledged ones")] = "open",
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> list[SignalOut]:
    """The caller's open signals, oldest first: an adapter or partner token gets its own
    agency's, a coordinator the Veiligheidshuis's inbox (follow_up and partner_query
    signals). Signals expire after `HITMACHINE_SIGNAL_EXPIRY_DAYS` (30) and are deleted."""
    found = signal_service.list_signals(ctx, principal, request_id(request),
                                        include_acked=state == "all", limit=limit)
    return [signal_out(s) for s in found]


@router.post("/signals/{signal_id}/ack", response_model=SignalOut, responses=PROBLEMS)
def ack_signal(request: Request, ctx: CtxDep, principal: Acker,
               signal_id: Annotated[str, Path(pattern=UUID)]) -> SignalOut:
    """Acknowledge one of the caller's signals; acknowledging again changes nothing."""
    return signal_out(signal_service.ack_signal(ctx, principal, signal_id,
                                                request_id(request)))


@router.get("/follow-ups", response_model=list[FollowUpOut], responses=PROBLEMS)
def list_follow_ups(request: Request, ctx: CtxDep, principal: Lister) -> list[FollowUpOut]:
    """The open follow-ups of the caller's organisation (`follow_up_days` in a household
    query opens one)."""
    return [follow_up_out(f) for f in
            signal_service.list_follow_ups(ctx, principal, request_id(request))]


@router.delete("/follow-ups/{follow_up_id}", status_code=204, responses=PROBLEMS)
def end_follow_up(request: Request, ctx: CtxDep, principal: Ender,
                  follow_up_id: Annotated[str, Path(pattern=UUID)]) -> Response:
    """End a follow-up now: its members' pseudonyms are deleted."""
    signal_service.end_follow_up(ctx, principal, follow_up_id, request_id(request))
    return Response(status_code=204)


def signal_out(s: Signal) -> SignalOut:
    d = s.detail
    return SignalOut(
        id=s.public_id, kind=s.kind,  # type: ignore[arg-type]
        sender=s.sender, contact=s.contact, purpose=s.purpose,
        case_reference=s.case_reference, created_at=s.created_at, expires_at=s.expires_at,
        acked_at=s.acked_at, pseudonyms=d.get("pseudonyms", []), follow_up=d.get("follow_up"),
        added=d.get("added", []), agencies=d.get("agencies", []),
        multi_agency=d.get("multi_agency"), partner=d.get("partner"))


def follow_up_out(f: FollowUp) -> FollowUpOut:
    return FollowUpOut(id=f.public_id, purpose=f.purpose, case_reference=f.case_reference,
                       agencies=list(f.agencies), multi_agency=len(f.agencies) >= 2,
                       members=f.members, opened_at=f.opened_at, expires_at=f.expires_at)
