"""The publish client: the adapter's only connection to the Veiligheidshuis.

Every call is safe to retry: batches are numbered and the server ignores a batch it
already has (in either encoding); committing a committed sync with the same counts is a
no-op. So on a network fault, a 5xx, a 429 or a 408 the client waits (exponential backoff,
or the server's ``Retry-After``) and tries again. Batches go as binary records
(``hitmachine.core.wire``), or as JSON to a server that does not take those (415).
What it sends is pseudonyms, counts, the agency code and the key version: nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from hitmachine.core import wire
from hitmachine_adapter.errors import AdapterAuthError, AdapterRejected, AdapterServerError

RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_DELAY = 30.0
Entry = tuple[bytes | None, bytes | None, bytes | None]  # BSN, name key, (BSN, birth date)


class PublishClient:
    def __init__(self, server: str, token: str, *, transport: httpx.BaseTransport | None = None,
                 retries: int = 6, backoff: float = 1.0, timeout: float = 60.0,
                 verify: bool | str = True, cert: tuple[str, str] | str | None = None,
                 sleep: Callable[[float], None] | None = None,
                 on_retry: Callable[[str], None] | None = None) -> None:
        self.server = server.rstrip("/")
        self._client = httpx.Client(base_url=server.rstrip("/"), transport=transport,
                                    headers={"Authorization": f"Bearer {token}",
                                             "User-Agent": "hitmachine-adapter"},
                                    timeout=timeout, verify=verify, cert=cert)
        self._retries = retries
        self._backoff = backoff
        self._stopped = threading.Event()
        self._sleep = sleep or self._stopped.wait
        self.binary = True          # cleared when the server answers 415 to a binary batch
        self.retried = 0            # how many requests had to be repeated (for the summary)
        # Each retry round is told once (by the first request to reach it), not once per
        # request in flight: the administrator sees the run is waiting, and why.
        self._on_retry = on_retry
        self._told = 0
        self._told_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "PublishClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop(self, stopped: bool = True) -> None:
        """Make calls in other threads give up at their next retry (or allow them again)."""
        if stopped:
            self._stopped.set()
        else:
            self._stopped.clear()

    def _call(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
              headers: dict[str, str] | None = None, ok_statuses: Sequence[int] = ()) -> Any:
        delay = self._backoff
        started = time.monotonic()
        for attempt in range(self._retries + 1):
            if attempt and self._stopped.is_set():
                raise AdapterServerError("stopped while retrying")
            wait = delay
            try:
                response = self._client.request(method, path, json=json, content=content,
                                                headers=headers)
            except httpx.TransportError as exc:
                problem = f"cannot reach the server at {self.server}: {_transport_reason(exc)}"
                if attempt == self._retries:
                    raise AdapterServerError(
                        f"{problem} (after {attempt + 1} attempts in "
                        f"{time.monotonic() - started:.0f}s)") from None
            else:
                status = response.status_code
                if status in (401, 403):
                    raise AdapterAuthError(f"the server refused the token ({status}): "
                                           f"{_problem_text(response)}")
                if status in ok_statuses:
                    return response
                if status not in RETRY_STATUS:
                    if status >= 400:
                        raise AdapterRejected(status, _problem_text(response))
                    return response.json() if response.content else None
                problem = (f"the server at {self.server} answered {status}: "
                           f"{_problem_text(response)}")
                if attempt == self._retries:
                    raise AdapterServerError(f"{problem} (after {attempt + 1} attempts in "
                                             f"{time.monotonic() - started:.0f}s)")
                wait = max(delay, _retry_after(response))
            self.retried += 1
            self._tell(attempt + 1, problem, min(wait, MAX_DELAY))
            self._sleep(min(wait, MAX_DELAY))
            delay = min(delay * 2, MAX_DELAY)
        raise AssertionError("unreachable")

    def _tell(self, attempt: int, problem: str, wait: float) -> None:
        if self._on_retry is None:
            return
        with self._told_lock:
            if attempt <= self._told:
                return
            self._told = attempt
        self._on_retry(f"{problem}; attempt {attempt} of {self._retries + 1}, "
                       f"trying again in {wait:.0f}s")

    def open_sync(self, agency: str, key_version: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/publish/syncs",
                                            json={"agency": agency, "key_version": key_version})
        return result

    def put_batch(self, sync_id: str, batch_no: int, entries: Sequence[Entry]) -> dict[str, Any]:
        """A batch as JSON (hex pseudonyms)."""
        result: dict[str, Any] = self._call(
            "PUT", f"/v1/publish/syncs/{sync_id}/batches/{batch_no}",
            json={"entries": [_wire(e) for e in entries]})
        return result

    def put_records(self, sync_id: str, batch_no: int, records: bytes) -> dict[str, Any]:
        """A batch as binary records; as JSON if the server does not take those."""
        if self.binary:
            response = self._call("PUT", f"/v1/publish/syncs/{sync_id}/batches/{batch_no}",
                                  content=records, headers={"Content-Type": wire.MEDIA_TYPE},
                                  ok_statuses=(415,))
            if not isinstance(response, httpx.Response):
                return dict(response)
            self.binary = False
        size = wire.RECORD_BYTES
        return self.put_batch(sync_id, batch_no, [wire.decode_entry(records[i:i + size])
                                                  for i in range(0, len(records), size)])

    def commit(self, sync_id: str, batches: int, entries: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/publish/syncs/{sync_id}/commit",
                                            json={"batches": batches, "entries": entries})
        return result

    def abandon(self, sync_id: str) -> None:
        self._call("DELETE", f"/v1/publish/syncs/{sync_id}")

    def delta(self, agency: str, key_version: int, add: Sequence[Entry],
              remove: Sequence[Entry]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/publish/delta", json={
            "agency": agency, "key_version": key_version,
            "add": [_wire(e) for e in add], "remove": [_wire(e) for e in remove]})
        return result

    def status(self) -> dict[str, Any] | None:
        """The agency's published set as the server has it, or None if it never published."""
        try:
            result: dict[str, Any] = self._call("GET", "/v1/publish/status")
        except AdapterRejected as exc:
            if exc.status == 404:
                return None
            raise
        return result


    def signals(self, *, include_acked: bool = False) -> list[dict[str, Any]]:
        """The agency's signals (``hitmachine-adapter signals``)."""
        result: list[dict[str, Any]] = self._call(
            "GET", "/v1/signals" + ("?state=all" if include_acked else ""))
        return result

    def ack_signal(self, signal_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/v1/signals/{signal_id}/ack")
        return result


def _wire(entry: Entry) -> dict[str, str | None]:
    bsn, name, *rest = entry
    out = {"bsn": bsn.hex() if bsn else None, "name": name.hex() if name else None}
    if rest and rest[0] is not None:  # only when present: a server before it refuses the key
        out["bsn_birthdate"] = rest[0].hex()
    return out


def _transport_reason(exc: httpx.TransportError) -> str:
    """What the network said ("[Errno 111] Connection refused", "timed out"), with the
    error's name; httpx leaves some messages empty."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0


def _problem_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        text = str(body.get("detail") or body.get("title") or response.reason_phrase)
        fields = body.get("errors")
        if isinstance(fields, list) and fields:
            shown = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in fields[:3]
                              if isinstance(e, dict))
            if shown and shown != text:
                text = f"{text} ({shown})"
        return text
    return response.reason_phrase


__all__ = ["Entry", "PublishClient"]
