"""Administration over the API: tokens and key versions (never key material)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from hitmachine.core.clock import iso_utc
from hitmachine.core.principal import Permission, Principal, Role
from hitmachine.http.api.auth import CtxDep, require
from hitmachine.http.api.problems import request_id
from hitmachine.http.schemas import KeyVersionOut, TokenCreatedOut, TokenCreateIn, TokenOut
from hitmachine.services import admin
from hitmachine.store.tokens import TokenInfo

router = APIRouter(prefix="/v1/admin", tags=["admin"])
TokenAdmin = Annotated[Principal, Depends(require(Permission.ADMIN, "token.admin"))]
KeyAdmin = Annotated[Principal, Depends(require(Permission.ADMIN, "key.admin"))]


def _token_out(t: TokenInfo) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, role=t.role.value, agency=t.agency, user_id=t.user_id,
                    created_at=t.created_at, expires_at=t.expires_at, revoked_at=t.revoked_at)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(request: Request, ctx: CtxDep, principal: TokenAdmin) -> list[TokenOut]:
    return [_token_out(t) for t in admin.list_tokens(ctx, principal, request_id(request))]


@router.post("/tokens", response_model=TokenCreatedOut, status_code=201)
def create_token(body: TokenCreateIn, request: Request, ctx: CtxDep,
                 principal: TokenAdmin) -> TokenCreatedOut:
    info, token = admin.create_token(
        ctx, principal, name=body.name, role=Role(body.role), agency=body.agency,
        expires_at=body.expires_at, request_id=request_id(request), user=body.user)
    return TokenCreatedOut(token=token, info=_token_out(info))


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], request: Request, ctx: CtxDep,
                 principal: TokenAdmin) -> TokenOut:
    return _token_out(admin.revoke_token(ctx, principal, token_id, request_id(request)))


@router.get("/keys", response_model=list[KeyVersionOut])
def list_keys(request: Request, ctx: CtxDep, principal: KeyAdmin) -> list[KeyVersionOut]:
    keyring = admin.list_keys(ctx, principal, request_id(request))
    primary = keyring.primary.version
    return [KeyVersionOut(version=v.version, created=iso_utc(v.created), active=v.active,
                          primary=v.version == primary) for v in keyring.versions]
