"""What a replay is given, what it produces and how it reports progress: the types that
the engine (``hitmachine.replay.engine``) and the report (``hitmachine.replay.report``)
share, kept here so that neither has to import the other's module for them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from hitmachine.core.errors import InvalidInput
from hitmachine.core.files import atomic_write
from hitmachine.replay.inputs import ReplayInput

DEFAULT_PURPOSE = "replay"


@dataclass(frozen=True)
class ReplayOptions:
    households: Path
    extracts: Path
    reference_date: dt.date
    out: Path
    manual: Path | None = None
    server: str | None = None
    token: str | None = None
    publish: bool = True
    adapter_tokens: Mapping[str, str] = field(default_factory=dict)
    keyring: Path | None = None
    purpose: str = DEFAULT_PURPOSE
    keep_instance: Path | None = None
    batch_size: int = 5000
    lang: str = "nl"                 # the report's language: nl or en

    def check(self) -> None:
        """Option combinations that cannot work, refused before anything else happens."""
        remote = self.server is not None
        if remote and not self.token:
            raise InvalidInput("token", "is required with --server (a researcher token; "
                                        "or set HITMACHINE_TOKEN)")
        if not remote:
            for name, given in (("token", bool(self.token)),
                                ("adapter-token", bool(self.adapter_tokens)),
                                ("keyring", self.keyring is not None),
                                ("no-publish", not self.publish)):
                if given:
                    raise InvalidInput(name, "only applies with --server; without it the replay "
                                             "makes its own instance, tokens and keys")
        if remote and self.keep_instance is not None:
            raise InvalidInput("keep-instance", "only applies without --server")
        if remote and not self.publish and self.adapter_tokens:
            raise InvalidInput("adapter-token", "is not used with --no-publish")
        if remote and not self.publish and self.keyring is not None:
            raise InvalidInput("keyring", "is not used with --no-publish")
        if self.reference_date > dt.date.today():
            raise InvalidInput("reference-date", "is in the future")
        if self.out.exists() and not self.out.is_dir():
            raise InvalidInput("out", "exists and is not a directory")


@dataclass(frozen=True, slots=True)
class Published:
    agency: str
    rows_read: int
    entries: int
    rejected: int
    seconds: float


@dataclass
class RunInfo:
    run_id: str
    target: str                      # "embedded" or the server's base URL
    purpose: str
    reference_date: dt.date
    started_at: str                  # UTC, ISO 8601
    agency_names: dict[str, str]
    rules: dict[str, str] | None     # agency -> disclosure rule (known for embedded only)
    published: list[Published] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    queries: int = 0
    seconds: float = 0.0             # checking + publishing + asking
    kept_instance: Path | None = None
    # agency -> (min age, max age) of its disclosure rule (known for embedded only)
    age_limits: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)

    @property
    def case_reference_prefix(self) -> str:
        return f"replay {self.run_id}"


@dataclass
class ReplayOutcome:
    inputs: ReplayInput
    answers: dict[str, dict[str, str]]  # member id -> agency -> basis, as the API answered
    run: RunInfo
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)


class Progress(Protocol):
    """What the engine tells whoever watches it (a rich progress bar, or nothing)."""

    def start(self, description: str, total: int) -> None: ...
    def advance(self, amount: int = 1) -> None: ...
    def note(self, message: str) -> None: ...


class NoProgress:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass


def write_json(path: Path, data: object) -> None:
    """Written whole or not at all: a reader never sees half a file."""
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


__all__ = ["DEFAULT_PURPOSE", "NoProgress", "Progress", "Published", "ReplayOptions",
           "ReplayOutcome", "RunInfo", "write_json"]
