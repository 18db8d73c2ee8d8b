"""Per-token limits on evaluations: a token bucket per minute and a budget per UTC day.

The key service is an oracle: whoever holds a token can have any identifier evaluated. The
limits bound what a stolen token yields (at the defaults, the ~90 million valid BSNs take
days, in plain sight in the audit log) while a 1,000,000-row export still publishes in
minutes. In memory, per process: with several workers each enforces its own share.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _State:
    tokens: float
    updated: float
    day: dt.date
    spent_today: int


class RateLimiter:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._states: dict[int, _State] = {}
        self._lock = threading.Lock()

    def spend(self, token_id: int, count: int, per_minute: int, per_day: int) -> float | None:
        """Take ``count`` evaluations from the token's allowance; None when granted, else
        the seconds to wait before asking again (``math.inf``: not before tomorrow)."""
        now = self._clock()
        today = dt.datetime.now(dt.UTC).date()
        with self._lock:
            st = self._states.get(token_id)
            if st is None:
                st = self._states[token_id] = _State(float(per_minute), now, today, 0)
            st.tokens = min(float(per_minute), st.tokens + (now - st.updated) * per_minute / 60)
            st.updated = now
            if st.day != today:
                st.day, st.spent_today = today, 0
            if st.spent_today + count > per_day:
                return math.inf
            if st.tokens < count:
                return max(1.0, (count - st.tokens) * 60 / per_minute)
            st.tokens -= count
            st.spent_today += count
            return None


__all__ = ["RateLimiter"]
