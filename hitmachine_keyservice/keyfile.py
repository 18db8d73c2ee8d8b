"""The key service's key file: versioned OPRF keys (ristretto255 scalars), written 0600.

Versions are numbered like the Veiligheidshuis's keyring versions: the keyring's oprf
version N is evaluated with this file's key N. Retired keys stay in the file (so that the
history is clear) but are never used again.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from hitmachine.core.errors import Conflict, InvalidInput, NotFound
from hitmachine.core.files import read_secret_file, write_secret_file
from hitmachine.core.oprf import OprfKey

FORMAT = "hitmachine-oprf-keys/1"


@dataclass(frozen=True, slots=True)
class ServiceKey:
    version: int
    key: OprfKey = field(repr=False)
    created: dt.datetime
    active: bool = True


@dataclass(frozen=True, slots=True)
class KeyFile:
    keys: tuple[ServiceKey, ...]

    @classmethod
    def generate(cls, version: int = 1) -> "KeyFile":
        return cls((_new(version),))

    @property
    def active_versions(self) -> tuple[int, ...]:
        return tuple(k.version for k in self.keys if k.active)

    def key(self, version: int) -> OprfKey:
        """The key of an active version, or ``InvalidInput`` naming ``version``."""
        for k in self.keys:
            if k.version == version:
                if not k.active:
                    raise InvalidInput("version", "is retired")
                return k.key
        raise InvalidInput("version", "is not a key version of this key service")

    def add(self, version: int | None = None) -> "KeyFile":
        """A new key; by default numbered after the newest."""
        number = version if version is not None else max(k.version for k in self.keys) + 1
        if number < 1:
            raise InvalidInput("version", "must be at least 1")
        if any(k.version == number for k in self.keys):
            raise Conflict(f"key version {number} already exists")
        return replace(self, keys=self.keys + (_new(number),))

    def retire(self, version: int) -> "KeyFile":
        self.key(version)  # exists and is active
        return replace(self, keys=tuple(replace(k, active=False) if k.version == version else k
                                        for k in self.keys))

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "keys": [
            {"version": k.version, "key": base64.b64encode(k.key.to_bytes()).decode(),
             "created": k.created.isoformat(), "active": k.active} for k in self.keys]},
            indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> "KeyFile":
        try:
            doc = json.loads(text)
            if not isinstance(doc, dict) or doc.get("format") != FORMAT:
                raise ValueError("unknown format")
            keys = []
            for k in doc["keys"]:
                if not isinstance(k["active"], bool):
                    raise ValueError("active must be true or false")
                keys.append(ServiceKey(int(k["version"]),
                                       OprfKey(base64.b64decode(k["key"], validate=True)),
                                       dt.datetime.fromisoformat(k["created"]), k["active"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput("keyfile", f"is not a {FORMAT} file ({type(exc).__name__})") from None
        if not keys or len({k.version for k in keys}) != len(keys):
            raise InvalidInput("keyfile", "needs at least one key and unique versions")
        return cls(tuple(keys))


def _new(version: int) -> ServiceKey:
    return ServiceKey(version, OprfKey.generate(), dt.datetime.now(dt.UTC))


def load(path: Path) -> KeyFile:
    """Refused when missing or readable by group or others (``core.files.check_private``)."""
    if not path.exists():
        raise NotFound(f"{path} does not exist; run 'hitmachine keyservice init' first")
    return KeyFile.from_json(read_secret_file(path))


def save(path: Path, keys: KeyFile) -> None:
    write_secret_file(path, keys.to_json())


def create(path: Path, version: int = 1) -> KeyFile:
    if path.exists():
        raise Conflict(f"{path} already exists")
    keys = KeyFile.generate(version)
    save(path, keys)
    return keys


__all__ = ["FORMAT", "KeyFile", "ServiceKey", "create", "load", "save"]
