"""Refusals of anonymous callers, audited once per client address and window.

A request without a valid token (or a sign-in form without a valid CSRF token) used to
write one ``auth.denied`` record each, kept for the whole retention period: anyone could
fill the audit log and keep the database writing. Now the first refusal of an address in
a window (``denial_summary_seconds``, counted in the rate-limit store that all workers
share) is recorded in full, before its answer leaves, with the address; the later ones of
that window are counted in this process, and one ``auth.denied_summary`` record per
address, window and worker says how many there were, by status and reason. Summaries are
written when their window has ended (by the next refusal, by a timer thread, and at
shutdown). Refusals of an authenticated principal (a valid token without the right role)
are still recorded one by one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc
from hitmachine.core.errors import Unavailable
from hitmachine.core.principal import ANONYMOUS, Principal
from hitmachine.services import ratelimit

if TYPE_CHECKING:
    from hitmachine.services.context import Context

SUMMARY_EVENT = "auth.denied_summary"
_lock = threading.Lock()


class Summaries:
    """The refusals this process has counted but not yet written, per (address, window)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self._counts: dict[tuple[str, int], Counter[str]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def count(self, address: str, window: int, kind: str) -> None:
        with self._lock:
            self._counts.setdefault((address, window), Counter())[kind] += 1

    def take(self, before_window: int | None) -> list[tuple[str, int, Counter[str]]]:
        """Remove and return the counts of windows before ``before_window`` (all: None)."""
        with self._lock:
            done = [key for key in self._counts if before_window is None or key[1] < before_window]
            return [(address, window, self._counts.pop((address, window)))
                    for address, window in done]

    def put_back(self, address: str, window: int, counts: Counter[str]) -> None:
        with self._lock:
            self._counts.setdefault((address, window), Counter()).update(counts)


def summaries(ctx: "Context") -> Summaries:
    current: Summaries | None = getattr(ctx, "denial_summaries", None)
    if current is None:
        with _lock:
            current = getattr(ctx, "denial_summaries", None)
            if current is None:
                current = Summaries(ctx.settings.denial_summary_seconds)
                ctx.denial_summaries = current  # type: ignore[attr-defined]
    return current


def record(ctx: "Context", address: str, denial: AuditRecord) -> None:
    """Audit an anonymous refusal: in full if it is the address's first in this window,
    otherwise counted into the window's summary. Raises ``Unavailable`` like any audit
    write when the full record cannot be committed."""
    state = summaries(ctx)
    window = int(time.time()) // state.seconds
    try:
        first = ratelimit.first_in_window(ctx, f"denied/{address}", state.seconds, window)
    except Unavailable:
        first = True  # without the shared count, record every refusal rather than none
    if first:
        # The window's later refusals from this address go into its summary record.
        detail = {**denial.detail, "address": address,
                  "window_until": iso_utc(_moment(window + 1, state.seconds))}
        ctx.audit.append(replace(denial, detail=detail))
    else:
        status = denial.detail.get("status", "-")
        reason = denial.detail.get("reason", "token")
        state.count(address, window, f"{status} {reason}")
    flush(ctx, before_window=window)


def audit_refusal(ctx: "Context", principal: Principal, address: str, event: str,
                  request_id: str, outcome: Outcome, detail: dict[str, Any]) -> None:
    """Audit a refused request, for the API and the web pages alike: in full for someone
    known, through the address's window summary for nobody signed in (``record``)."""
    refusal = AuditRecord.by(principal, event, request_id, outcome, detail=detail)
    if principal == ANONYMOUS:
        record(ctx, address, refusal)
    else:
        ctx.audit.append(refusal)


def flush(ctx: "Context", *, before_window: int | None = None) -> int:
    """Write the summaries of ended windows (of every window: ``before_window=None``);
    returns how many records were written. Counts whose write fails are kept for later."""
    state = summaries(ctx)
    written = 0
    for address, window, counts in state.take(before_window):
        summary = AuditRecord.by(
            ANONYMOUS, SUMMARY_EVENT, "-", Outcome.DENIED,
            detail={"address": address, "from": iso_utc(_moment(window, state.seconds)),
                    "until": iso_utc(_moment(window + 1, state.seconds)),
                    "denials": sum(counts.values()), "by_status_and_reason": dict(counts)})
        try:
            ctx.audit.append(summary)
        except Unavailable:
            state.put_back(address, window, counts)
            continue
        written += 1
    return written


def start(ctx: "Context") -> None:
    """Write ended windows' summaries every window, even when no refusal follows."""
    state = summaries(ctx)
    if state._thread is not None:
        return
    state._stop.clear()

    def run() -> None:
        while not state._stop.wait(state.seconds):
            flush(ctx, before_window=int(time.time()) // state.seconds)

    state._thread = threading.Thread(target=run, name="denial-summaries", daemon=True)
    state._thread.start()


def stop(ctx: "Context") -> None:
    """Stop the timer and write every count still held, ended window or not."""
    state = summaries(ctx)
    state._stop.set()
    if state._thread is not None:
        state._thread.join(timeout=5)
        state._thread = None
    flush(ctx)


def _moment(window: int, seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(window * seconds, tz=dt.UTC)


__all__ = ["SUMMARY_EVENT", "Summaries", "audit_refusal", "flush", "record", "start", "stop", "summaries"]
