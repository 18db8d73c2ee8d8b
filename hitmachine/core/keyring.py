"""Versioned pseudonymisation keys.

A keyring is a list of 256-bit keys, each with a version number. New entries are published
under the *primary* (newest active) version; queries look under every *active* version, so
that a rotation never makes a person unfindable while adapters change over. Retired keys
stay in the file (their pseudonyms may still be in the audit log) but are no longer used.

Each version has a scheme. An ``hmac`` version holds its 256-bit secret; an ``oprf`` version
holds none: its key lives only in the key service (``hitmachine_keyservice``), and the
keyring merely says that version N is evaluated there. A keyring may hold both while a
deployment migrates (``Keyring.migrate``): queries look under every active version of
either scheme, so that nobody becomes unfindable during the changeover.

This module only models keyrings and their serialisation; reading and writing key files
with safe permissions is ``hitmachine.core.keystore``'s job.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from dataclasses import dataclass, field, replace

from hitmachine.core.errors import Conflict, InvalidInput

KEY_BYTES = 32
FORMAT = "hitmachine-keyring/1"
SCHEMES = ("hmac", "oprf")


@dataclass(frozen=True, slots=True)
class KeyVersion:
    version: int
    secret: bytes = field(repr=False)
    created: dt.datetime
    active: bool = True
    scheme: str = "hmac"

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise InvalidInput("keys", f"version {self.version} has an unknown scheme")
        if self.scheme == "oprf":
            if self.secret:  # the whole point: nobody but the key service holds the key
                raise InvalidInput("keys", f"oprf version {self.version} must hold no key")
        elif len(self.secret) != KEY_BYTES:
            raise InvalidInput("keys", f"version {self.version} is not a {KEY_BYTES * 8}-bit key")


@dataclass(frozen=True, slots=True)
class Keyring:
    scheme: str
    versions: tuple[KeyVersion, ...]
    # Where the oprf versions are evaluated (the key service); not a secret.
    keyservice_url: str | None = None

    @classmethod
    def generate(cls, scheme: str = "hmac", version: int = 1) -> "Keyring":
        return cls(scheme, (_new_version(version, scheme),))

    def versions_of(self, scheme: str) -> tuple[KeyVersion, ...]:
        return tuple(v for v in self.versions if v.scheme == scheme)

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

    @property
    def next_version(self) -> int:
        return max(v.version for v in self.versions) + 1

    def rotate(self) -> "Keyring":
        """A new primary key of the primary's scheme; older keys stay active until retired."""
        scheme = self.primary.scheme
        return replace(self, scheme=scheme,
                       versions=self.versions + (_new_version(self.next_version, scheme),))

    def migrate(self, scheme: str) -> "Keyring":
        """Like ``rotate``, but the new primary version is of ``scheme`` (hmac -> oprf)."""
        if scheme not in SCHEMES:
            raise InvalidInput("scheme", f"must be one of {', '.join(SCHEMES)}")
        if self.primary.scheme == scheme:
            raise Conflict(f"the primary key version is already {scheme}")
        return replace(self, scheme=scheme,
                       versions=self.versions + (_new_version(self.next_version, scheme),))

    def retire(self, version: int) -> "Keyring":
        target = self.get(version)
        if target.version == self.primary.version:
            raise Conflict("the primary key cannot be retired; rotate first")
        return replace(self, versions=tuple(
            replace(v, active=False) if v.version == version else v for v in self.versions))

    def to_json(self) -> str:
        doc: dict[str, object] = {
            "format": FORMAT,
            "scheme": self.scheme,
            "keys": [_key_doc(v) for v in self.versions],
        }
        if self.keyservice_url:
            doc["keyservice_url"] = self.keyservice_url
        return json.dumps(doc, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "Keyring":
        try:
            doc = json.loads(text)
            # A JSON array, string or number is no keyring either (doc.get would raise
            # AttributeError, which is not an InvalidInput).
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("unknown format")
            default = str(doc.get("scheme", "hmac"))
            versions = tuple(
                KeyVersion(int(k["version"]),
                           base64.b64decode(k.get("key", ""), validate=True),
                           dt.datetime.fromisoformat(k["created"]), _strict_bool(k["active"]),
                           str(k.get("scheme", default)))
                for k in doc["keys"]
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("keyring", f"is not a {FORMAT} file ({type(exc).__name__})") from None
        if not versions or len({v.version for v in versions}) != len(versions):
            raise InvalidInput("keyring", "needs at least one key and unique versions")
        url = doc.get("keyservice_url")
        return cls(str(doc.get("scheme", "hmac")), versions,
                   keyservice_url=str(url) if url else None)


def _strict_bool(value: object) -> bool:
    # bool("false") is True: a hand-edited keyring must not silently re-activate a key.
    if not isinstance(value, bool):
        raise ValueError("active must be true or false")
    return value


def _key_doc(v: KeyVersion) -> dict[str, object]:
    doc: dict[str, object] = {"version": v.version, "scheme": v.scheme}
    if v.scheme == "hmac":
        doc["key"] = base64.b64encode(v.secret).decode()
    doc.update(created=v.created.isoformat(), active=v.active)
    return doc


def _new_version(number: int, scheme: str = "hmac") -> KeyVersion:
    secret = secrets.token_bytes(KEY_BYTES) if scheme == "hmac" else b""
    return KeyVersion(number, secret, dt.datetime.now(dt.UTC), scheme=scheme)


__all__ = ["FORMAT", "KEY_BYTES", "SCHEMES", "KeyVersion", "Keyring"]
