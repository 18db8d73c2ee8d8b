"""The key service's own configuration (``HITMACHINE_KEYSERVICE_*``), apart from the
Veiligheidshuis's ``Settings``: the two run on different machines under different operators."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KeyServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HITMACHINE_KEYSERVICE_", extra="ignore")

    # Key file, token file and audit log live here (0700); nothing in any database.
    dir: Path = Path("keyservice")
    # Elements per request: 100,000 x 32 bytes = 3.2 MB. Adapters send a chunk at a time.
    max_batch: int = Field(default=100_000, ge=1)
    # Threads evaluating one request's elements (libsodium releases the GIL).
    threads: int = Field(default=2, ge=1, le=64)
    # Defaults for new tokens: elements per minute (a 1,000,000-row export is ~1.7 million
    # elements) and per day. A stolen token can evaluate at most this much, and the audit
    # log shows it per adapter.
    per_minute: int = Field(default=2_000_000, ge=1)
    per_day: int = Field(default=20_000_000, ge=1)

    @property
    def key_path(self) -> Path:
        return self.dir / "oprf-keys.json"

    @property
    def tokens_path(self) -> Path:
        return self.dir / "tokens.json"

    @property
    def audit_path(self) -> Path:
        return self.dir / "audit.jsonl"


__all__ = ["KeyServiceSettings"]
