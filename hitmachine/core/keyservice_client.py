"""The key service as a ``BlindEvaluator``: what adapters and the query path call.

Blinded elements go out in requests of at most ``batch`` elements (binary, 32 bytes each);
a 429 is waited out (``Retry-After``), a dropped connection or a 5xx retried a few times.
Evaluation is idempotent (same blinded element, same answer), so a retry is always safe.
One ``httpx.Client`` per process: adapter workers are forked, and a connection pool must
not be shared across a fork.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx

from hitmachine.core import oprf
from hitmachine.core.errors import (
    AuthenticationFailed,
    FieldError,
    HitmachineError,
    InvalidInput,
    LimitExceeded,
    Unavailable,
)
from hitmachine.core.files import read_token_file

MEDIA_TYPE = "application/octet-stream"
DEFAULT_BATCH = 50_000
RETRIES = 4
MAX_WAIT = 120.0  # seconds a single 429 may make us wait


class KeyServiceClient:
    def __init__(self, url: str, token: str, *, timeout: float = 120.0,
                 batch: int = DEFAULT_BATCH, verify: bool | str = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._batch = batch
        self._verify = verify
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @classmethod
    def from_token_file(cls, url: str, token_file: Path, **kwargs: object) -> "KeyServiceClient":
        """The token from a 0600 file (refused when others may read it)."""
        return cls(url, read_token_file(token_file), **kwargs)  # type: ignore[arg-type]

    def __getstate__(self) -> dict[str, object]:  # picklable for worker processes
        state = self.__dict__.copy()
        state.update(_client=None, _pid=0, _lock=None)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None or self._pid != os.getpid():
                self._client = httpx.Client(timeout=self._timeout, verify=self._verify,
                                            headers={"Authorization": f"Bearer {self._token}"})
                self._pid = os.getpid()
            return self._client

    def versions(self) -> tuple[int, ...]:
        """The key versions the key service evaluates under."""
        r = self._request("GET", "/v1/keys")
        return tuple(int(v) for v in r.json()["versions"])

    def evaluate(self, version: int, blinded: Sequence[bytes]) -> list[bytes]:
        out: list[bytes] = []
        n = oprf.ELEMENT_BYTES
        for start in range(0, len(blinded), self._batch):
            part = blinded[start:start + self._batch]
            r = self._request("POST", "/v1/evaluate", params={"version": str(version)},
                              content=b"".join(part), headers={"Content-Type": MEDIA_TYPE})
            body = r.content
            if len(body) != len(part) * n:
                raise Unavailable("the key service gave an answer of the wrong length")
            out += [body[i:i + n] for i in range(0, len(body), n)]
        return out

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        failures = 0
        while True:
            try:
                r = self._http().request(method, self.url + path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                failures += 1
                if failures > RETRIES:
                    raise Unavailable(f"the key service at {self.url} is unreachable "
                                      f"({type(exc).__name__})") from None
                self._sleep(min(2.0 ** failures, 30.0))
                continue
            if r.status_code < 300:
                return r
            if r.status_code == 429:
                wait = _retry_after(r)
                if wait > MAX_WAIT:
                    raise LimitExceeded("the key service's limit for this token is reached; "
                                        f"try again in {int(wait)}s", retry_after=int(wait))
                self._sleep(wait)
                continue
            if r.status_code >= 500 and failures < RETRIES:
                failures += 1
                self._sleep(min(2.0 ** failures, 30.0))
                continue
            raise _error(r)


def _retry_after(r: httpx.Response) -> float:
    try:
        return max(0.1, float(r.headers.get("retry-after", "1")))
    except ValueError:
        return 1.0


def _error(r: httpx.Response) -> HitmachineError:
    """The key service's problem document as our own error (its field names kept)."""
    detail, errors = f"the key service answered {r.status_code}", []
    try:
        doc = r.json()
        detail = f"key service: {doc.get('detail', detail)}"
        errors = [FieldError(e["field"], e["message"]) for e in doc.get("errors", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    if r.status_code == 401:
        return AuthenticationFailed(detail)
    if r.status_code in (400, 413, 422):
        return InvalidInput.many(errors) if errors else InvalidInput("key_service", detail)
    return Unavailable(detail)


__all__ = ["DEFAULT_BATCH", "KeyServiceClient"]
