"""The key service's audit log: one JSON line per evaluated (or refused) batch.

Each line says which adapter (the token's name and id) asked for how many evaluations under
which key version, and when. It cannot say more: the elements are blinded, so the key
service never sees an identity or a pseudonym. A line is written and fsynced before the
answer leaves, so no evaluation goes unrecorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections import Counter
from pathlib import Path


class AuditLog:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, *, adapter: str, token_id: int, version: int | None, count: int,
               outcome: str) -> None:
        line = json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                           "adapter": adapter, "token_id": token_id, "version": version,
                           "count": count, "outcome": outcome}, separators=(",", ":")) + "\n"
        with self._lock:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)


def read(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def totals(records: list[dict[str, object]]) -> Counter[tuple[str, str, str]]:
    """Evaluations per (UTC day, adapter, outcome)."""
    out: Counter[tuple[str, str, str]] = Counter()
    for r in records:
        out[(str(r["at"])[:10], str(r["adapter"]), str(r["outcome"]))] += int(r["count"])  # type: ignore[call-overload]
    return out


__all__ = ["AuditLog", "read", "totals"]
