"""Bearer-token authentication and the role check, as FastAPI dependencies.

Each protected route declares the permission it needs and the audit event it records;
the dependency stores both on the request so that a refusal anywhere later (bad body,
wrong agency) is audited under the right event by ``hitmachine.http.api.problems``.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from hitmachine.core.errors import AuthenticationFailed, Forbidden
from hitmachine.core.principal import ANONYMOUS, Permission, Principal
from hitmachine.http.peer import client_address
from hitmachine.services import ratelimit
from hitmachine.services.authn import authenticate, cached
from hitmachine.services.context import Context

bearer = HTTPBearer(auto_error=False, description="A token from `hitmachine token create`")


async def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


CtxDep = Annotated[Context, Depends(get_ctx)]


def principal_for_failure(request: Request) -> Principal:
    """Who to record for a refused request: the authenticated principal if there was one,
    otherwise whoever the token names, otherwise anonymous."""
    state = request.scope.get("state", {})
    principal = state.get("principal")
    if isinstance(principal, Principal):
        return principal
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        try:
            return authenticate(request.app.state.ctx, token.strip())
        except AuthenticationFailed:
            pass
    return ANONYMOUS


class RoleBearer(HTTPBearer):
    """The bearer-token security scheme that is also the role check.

    Being the security scheme itself keeps each route at one dependency that needs only
    the request (FastAPI resolves a graph of small dependencies on every call, and on the
    query path that showed up in profiles); OpenAPI still documents the bearer scheme.
    """

    def __init__(self, permission: Permission, event: str | None) -> None:
        super().__init__(auto_error=False, scheme_name="HTTPBearer",
                         description="A token from `hitmachine token create`")
        self.permission = permission
        self.event = event

    # On the event loop, blocking nothing: a token verified within the last second comes
    # from the cache and the rate limits count without blocking; a token look-up, and a
    # refusal that writes an alert, run in a worker thread.
    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        request.state.audit_event = self.event
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        credentials = token.strip() if scheme.lower() == "bearer" else None
        ctx = request.app.state.ctx
        request_id = str(request.scope["state"].get("request_id", "-"))
        principal = cached(ctx, credentials)
        if principal is None:
            try:
                principal = await anyio.to_thread.run_sync(authenticate, ctx, credentials)
            except AuthenticationFailed:
                # Counted per address before the refusal is audited: over the limit it is a
                # 429 that costs a counter, and its record goes into the window's summary.
                await ratelimit.check_anonymous_async(ctx, client_address(request), request_id)
                raise
        request.state.principal = principal
        await ratelimit.check_request_async(ctx, principal, request_id)
        if not principal.may(self.permission):
            raise Forbidden(f"the {principal.role.value} role may not do this")
        return principal


def require(permission: Permission, event: str | None = None) -> RoleBearer:
    """A dependency that authenticates, checks ``permission`` and names the audit event."""
    return RoleBearer(permission, event)


__all__ = ["CtxDep", "RoleBearer", "authenticate", "bearer", "get_ctx",
           "principal_for_failure", "require"]
