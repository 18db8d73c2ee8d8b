"""Bearer-token authentication, with a short-lived cache of verified tokens.

Looking a token up costs a database round trip on every request; the cache keeps a
verified principal for ``TTL`` seconds. A revocation in this process takes effect at once
(``forget``); one made elsewhere (the CLI, another worker) within at most ``TTL``
seconds. Only SHA-256 digests of tokens are kept, as in the database.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING

from hitmachine.domain.clock import parse_iso_utc, utc_now_iso
from hitmachine.domain.errors import AuthenticationFailed
from hitmachine.domain.principal import Principal
from hitmachine.store import tokens

if TYPE_CHECKING:
    from hitmachine.services.context import Context

TTL = 1.0
MAX_ENTRIES = 10_000


class PrincipalCache:
    def __init__(self, ttl: float = TTL) -> None:
        self._ttl = ttl
        # digest -> (monotonic time verified, principal, Unix time the token expires)
        self._entries: dict[bytes, tuple[float, Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: bytes) -> Principal | None:
        hit = self._entries.get(digest)
        if hit is None:
            return None
        stamp, principal, expires = hit
        # Plain clock reads: formatting "now" as ISO text costs more than the rest of this.
        if time.monotonic() - stamp > self._ttl or time.time() >= expires:
            return None
        return principal

    def put(self, digest: bytes, principal: Principal, expires_at: str | None) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            expires = (parse_iso_utc(expires_at).timestamp() if expires_at is not None
                       else math.inf)
            self._entries[digest] = (time.monotonic(), principal, expires)

    def forget_all(self) -> None:
        with self._lock:
            self._entries.clear()


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


__all__ = ["PrincipalCache", "authenticate"]
