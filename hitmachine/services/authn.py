"""Bearer-token authentication, through the context's short-lived cache of verified
tokens (``hitmachine.services.principal_cache``) before the database."""

from __future__ import annotations

from hitmachine.core.clock import utc_now_iso
from hitmachine.core.errors import AuthenticationFailed
from hitmachine.core.principal import Principal
from hitmachine.services.context import Context
from hitmachine.store import tokens


def authenticate(ctx: Context, token: str | None) -> Principal:
    if not token:
        raise AuthenticationFailed("a bearer token is required")
    if len(token) > 256:
        raise AuthenticationFailed("the token is not valid")
    digest = tokens.hash_token(token)
    cached = ctx.principals.get(digest)
    if cached is not None:
        return cached
    with ctx.db.read() as conn:
        info = tokens.find(conn, token)
    if info is None or not info.usable(utc_now_iso()):
        raise AuthenticationFailed("the token is not valid, or has expired or been revoked")
    principal = Principal(actor=info.name, role=info.role, agency=info.agency, token_id=info.id,
                          user_id=info.user_id)
    ctx.principals.put(digest, principal, info.expires_at)
    return principal


def cached(ctx: Context, token: str | None) -> Principal | None:
    """The principal of a token verified within the cache's lifetime, or None: then
    ``authenticate`` decides, with a database read. Reads no database, so a coroutine may
    call it on its event loop."""
    if not token or len(token) > 256:
        return None
    return ctx.principals.get(tokens.hash_token(token))


__all__ = ["authenticate", "cached"]
