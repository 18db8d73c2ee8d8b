"""What one adapter run did: the counts the command prints and ``--json`` writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitmachine_adapter.pipeline import Reject


@dataclass
class SyncResult:
    agency: str
    key_version: int
    rows_read: int = 0
    entries_published: int = 0
    rejected: int = 0
    batches: int = 0
    duration: float = 0.0
    rejects: list[Reject] = field(default_factory=list)  # the first 1000; the file has all
    filtered: int = 0
    mode: str = "snapshot"          # snapshot | delta | dry-run
    added: int = 0                  # delta mode: what the delta changed
    removed: int = 0
    unchanged: bool = False         # delta mode: nothing to send
    fell_back: str | None = None    # delta mode: why a snapshot was published instead
    resumed_from: int | None = None
    sync_id: str | None = None
    rejects_file: Path | None = None
    retried: int = 0
    mapping: str = ""
    read_seconds: float = 0.0       # reading and pseudonymising (local)
    publish_seconds: float = 0.0    # sending and committing

    def summary(self) -> str:
        verb = "to publish" if self.mode == "dry-run" else "published"
        parts = [f"{self.rows_read} rows read", f"{self.entries_published} entries {verb}",
                 f"{self.rejected} rejected"]
        if self.filtered:
            parts.append(f"{self.filtered} filtered out")
        parts.append(f"{self.duration:.1f}s")
        how = [self.mode if self.mode != "dry-run" else "dry run: nothing sent"]
        if self.mode == "delta":
            how = [f"delta: +{self.added} -{self.removed}" if not self.fell_back
                   else "delta: snapshot"]
            if self.unchanged:
                how = ["delta: no changes"]
        if self.resumed_from is not None:
            how.append(f"resumed at batch {self.resumed_from}")
        line = f"{self.agency}: {', '.join(parts)} ({', '.join(how)})"
        if self.rejected and self.rejects_file is not None:
            line += f"; rejects in {self.rejects_file}"
        return line

    def as_dict(self) -> dict[str, Any]:
        return {"agency": self.agency, "key_version": self.key_version, "mode": self.mode,
                "rows_read": self.rows_read, "filtered": self.filtered,
                "rejected": self.rejected, "entries_published": self.entries_published,
                "added": self.added, "removed": self.removed, "batches": self.batches,
                "resumed_from": self.resumed_from, "fell_back": self.fell_back,
                "duration_s": round(self.duration, 3), "mapping": self.mapping,
                "read_s": round(self.read_seconds, 3), "publish_s": round(self.publish_seconds, 3),
                "rejects_file": str(self.rejects_file) if self.rejects_file else None}


__all__ = ["SyncResult"]
