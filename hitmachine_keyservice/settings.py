"""The key service's own configuration (``HITMACHINE_KEYSERVICE_*``), apart from the
Veiligheidshuis's ``Settings``: the two run on different machines under different operators.
Validated when built, like ``Settings``: each process builds it once, at its entry point."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hitmachine.core.errors import settings_problem


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

    @field_validator("dir")
    @classmethod
    def _dir(cls, value: Path) -> Path:
        # Made by `hitmachine keyservice init`, so it need not exist yet; a file is wrong.
        if value.exists() and not value.is_dir():
            raise ValueError("is a file, not a directory")
        return value

    @property
    def key_path(self) -> Path:
        return self.dir / "oprf-keys.json"

    @property
    def tokens_path(self) -> Path:
        return self.dir / "tokens.json"

    @property
    def audit_path(self) -> Path:
        return self.dir / "audit.jsonl"


def load_keyservice_settings() -> KeyServiceSettings:
    """The key service's settings from the environment; a bad value raises ``InvalidInput``
    naming its variable, never quoting the value."""
    try:
        return KeyServiceSettings()
    except ValidationError as exc:
        raise settings_problem(exc, "HITMACHINE_KEYSERVICE_") from None


__all__ = ["KeyServiceSettings", "load_keyservice_settings"]
