"""Versioned pseudonymisation keys.

A keyring is a list of 256-bit keys, each with a version number. New entries are published
under the *primary* (newest active) version; queries look under every *active* version, so
that a rotation never makes a person unfindable while adapters change over. Retired keys
stay in the file (their pseudonyms may still be in the audit log) but are no longer used.

This module only models keyrings and their serialisation; reading and writing key files
with safe permissions is ``hitmachine.keystore``'s job.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass, field, replace

from hitmachine.domain.errors import Conflict, InvalidInput

KEY_BYTES = 32
FORMAT = "hitmachine-keyring/1"


@dataclass(frozen=True, slots=True)
class KeyVersion:
    version: int
    secret: bytes = field(repr=False)
    created: dt.datetime
    active: bool = True

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise InvalidInput("keys", f"version {self.version} is not a {KEY_BYTES * 8}-bit key")


@dataclass(frozen=True, slots=True)
class Keyring:
    scheme: str
    versions: tuple[KeyVersion, ...]

    @classmethod
    def generate(cls, scheme: str = "hmac") -> "Keyring":
        return cls(scheme, (_new_version(1),))

    @property
    def active_versions(self) -> tuple[int, ...]:
        return tuple(v.version for v in self.versions if v.active)

    @property
    def primary(self) -> KeyVersion:
        active = [v for v in self.versions if v.active]
        if not active:
            raise Conflict("the keyring has no active key")
        return max(active, key=lambda v: v.version)

    def get(self, version: int) -> KeyVersion:
        for v in self.versions:
            if v.version == version:
                return v
        raise InvalidInput("key_version", f"version {version} is not in the keyring")

    def rotate(self) -> "Keyring":
        """A new primary key; older keys stay active until retired."""
        nxt = max(v.version for v in self.versions) + 1
        return replace(self, versions=self.versions + (_new_version(nxt),))

    def retire(self, version: int) -> "Keyring":
        target = self.get(version)
        if target.version == self.primary.version:
            raise Conflict("the primary key cannot be retired; rotate first")
        return replace(self, versions=tuple(
            replace(v, active=False) if v.version == version else v for v in self.versions))

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "scheme": self.scheme,
            "keys": [
                {"version": v.version, "key": base64.b64encode(v.secret).decode(),
                 "created": v.created.isoformat(), "active": v.active}
                for v in self.versions
            ],
        }
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Keyring":
        try:
            doc = json.loads(text)
            # A JSON array, string or number is no keyring either (doc.get would raise
            # AttributeError, which is not an InvalidInput).
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("unknown format")
            versions = tuple(
                KeyVersion(int(k["version"]), base64.b64decode(k["key"], validate=True),
                           dt.datetime.fromisoformat(k["created"]), _strict_bool(k["active"]))
                for k in doc["keys"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("keyring", f"is not a {FORMAT} file ({type(exc).__name__})") from None
        if not versions or len({v.version for v in versions}) != len(versions):
            raise InvalidInput("keyring", "needs at least one key and unique versions")
        return cls(str(doc.get("scheme", "hmac")), versions)


def _strict_bool(value: object) -> bool:
    # bool("false") is True: a hand-edited keyring must not silently re-activate a key.
    if not isinstance(value, bool):
        raise ValueError("active must be true or false")
    return value


def _new_version(number: int) -> KeyVersion:
    return KeyVersion(number, secrets.token_bytes(KEY_BYTES), dt.datetime.now(dt.timezone.utc))


__all__ = ["FORMAT", "KEY_BYTES", "KeyVersion", "Keyring"]
