"""A short-lived cache of verified bearer tokens.

Looking a token up costs a database round trip on every request; the cache keeps a
verified principal for ``TTL`` seconds. A revocation in this process takes effect at once
(``forget_all``); one made elsewhere (the CLI, another worker) within at most ``TTL``
seconds. Only SHA-256 digests of tokens are kept, as in the database.

It lives apart from ``authn`` because the context holds one and ``authn`` reads the
context: with the cache here, neither module needs the other in both directions.
"""

from __future__ import annotations

import math
import threading
import time

from hitmachine.core.clock import parse_iso_utc
from hitmachine.core.principal import Principal

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


__all__ = ["MAX_ENTRIES", "TTL", "PrincipalCache"]
