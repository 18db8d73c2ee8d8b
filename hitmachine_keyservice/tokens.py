"""Adapter tokens for the key service: random, shown once, kept only as SHA-256 hashes.

A token is 32 random bytes (``hks_`` + base64url), so a plain SHA-256 suffices at rest: the
token file lets nobody authenticate. Each token carries its own rate limits and a name,
which is what the audit log records (the key service knows adapters, never people).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

from hitmachine.core.errors import InvalidInput, NotFound
from hitmachine.core.files import read_secret_file, write_secret_file

FORMAT = "hitmachine-keyservice-tokens/1"
PREFIX = "hks_"


@dataclass(frozen=True, slots=True)
class TokenEntry:
    id: int
    name: str
    hash: str
    created: str
    per_minute: int
    per_day: int
    revoked: bool = False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenFile:
    tokens: tuple[TokenEntry, ...] = ()

    def create(self, name: str, per_minute: int, per_day: int) -> tuple["TokenFile", TokenEntry, str]:
        if not name.strip():
            raise InvalidInput("name", "is required")
        if per_minute < 1 or per_day < 1:
            raise InvalidInput("per_minute", "limits must be at least 1")
        token = PREFIX + secrets.token_urlsafe(32)
        entry = TokenEntry(max((t.id for t in self.tokens), default=0) + 1, name.strip(),
                           token_hash(token), dt.datetime.now(dt.UTC).isoformat(),
                           per_minute, per_day)
        return replace(self, tokens=self.tokens + (entry,)), entry, token

    def revoke(self, token_id: int) -> "TokenFile":
        if not any(t.id == token_id for t in self.tokens):
            raise NotFound(f"no token {token_id}")
        return replace(self, tokens=tuple(replace(t, revoked=True) if t.id == token_id else t
                                          for t in self.tokens))

    def index(self) -> dict[str, TokenEntry]:
        """Active tokens by hash: the look-up ``verify`` uses."""
        return {t.hash: t for t in self.tokens if not t.revoked}

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "tokens": [
            {"id": t.id, "name": t.name, "hash": t.hash, "created": t.created,
             "per_minute": t.per_minute, "per_day": t.per_day, "revoked": t.revoked}
            for t in self.tokens]}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "TokenFile":
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("unknown format")
            tokens = tuple(TokenEntry(int(t["id"]), str(t["name"]), str(t["hash"]),
                                      str(t["created"]), int(t["per_minute"]),
                                      int(t["per_day"]), _strict_bool(t["revoked"]))
                           for t in doc["tokens"])
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("tokens", f"is not a {FORMAT} file ({type(exc).__name__})") from None
        return cls(tokens)


def _strict_bool(value: object) -> bool:
    # bool("false") is True: a hand-edited file must not silently revive a revoked token.
    if not isinstance(value, bool):
        raise ValueError("revoked must be true or false")
    return value


def load(path: Path) -> TokenFile:
    if not path.exists():
        return TokenFile()
    return TokenFile.from_json(read_secret_file(path))


def save(path: Path, tokens: TokenFile) -> None:
    write_secret_file(path, tokens.to_json())


__all__ = ["FORMAT", "PREFIX", "TokenEntry", "TokenFile", "load", "save", "token_hash"]
