"""Pseudonyms: what leaves an agency and what the index holds instead of an identity.

The service depends only on the small ``Pseudonymiser`` interface, so that the keyed-hash
scheme here and a blind (OPRF) scheme, where nobody but a key service holds the key, are
interchangeable.

The HMAC message is an unambiguous, domain-separated encoding::

    "hitmachine/pseudonym/1" 0x00 | u8 len(kind) | kind | u32 key version | u32 len(value) | value

so that a BSN and a name key can never collide, nor two key versions, nor two schemes.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from hitmachine.core.identity import IdentifierKind, Identity
from hitmachine.core.keyring import Keyring

DOMAIN = b"hitmachine/pseudonym/1\x00"


@dataclass(frozen=True, slots=True)
class PseudonymSet:
    """One person's pseudonyms under one key version (any may be absent). ``bsn_birth`` is
    the pseudonym of (BSN, birth date): present when both are known."""

    key_version: int
    bsn: bytes | None
    name: bytes | None
    bsn_birth: bytes | None = None

    def pairs(self) -> list[tuple[IdentifierKind, bytes]]:
        out = []
        if self.bsn is not None:
            out.append((IdentifierKind.BSN, self.bsn))
        if self.name is not None:
            out.append((IdentifierKind.NAME_BIRTHDATE, self.name))
        return out


class Pseudonymiser(Protocol):
    """Turns normalised identities into pseudonyms under a given key version."""

    @property
    def scheme(self) -> str: ...

    @property
    def primary_version(self) -> int: ...

    @property
    def active_versions(self) -> tuple[int, ...]: ...

    def pseudonymise(self, identities: Sequence[Identity], version: int) -> list[PseudonymSet]: ...


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """The raw primitive (RFC 2104 HMAC with SHA-256): ``HmacPseudonymiser.digest`` equals
    ``hmac_sha256(secret, encode_message(kind, value, version))``."""
    return hmac.new(key, message, hashlib.sha256).digest()


def encode_message(kind: IdentifierKind, value: str, version: int) -> bytes:
    kind_b = kind.value.encode("ascii")
    value_b = value.encode("utf-8")
    return b"".join((DOMAIN, struct.pack(">B", len(kind_b)), kind_b,
                     struct.pack(">II", version, len(value_b)), value_b))


class HmacPseudonymiser:
    """HMAC-SHA256 under a versioned 256-bit key. Whoever holds the key can test a guessed
    BSN: that is why keys stay out of the database and why a blind scheme exists."""

    scheme = "hmac"

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        # A pre-keyed state copied per message is about 2.5x faster than hmac.new each time.
        self._states = {v.version: hmac.new(v.secret, digestmod=hashlib.sha256)
                        for v in keyring.versions_of("hmac")}

    @property
    def primary_version(self) -> int:
        return self._keyring.primary.version

    @property
    def active_versions(self) -> tuple[int, ...]:
        return self._keyring.active_versions

    def digest(self, kind: IdentifierKind, value: str, version: int) -> bytes:
        state = self._states.get(version)
        if state is None:
            self._keyring.get(version)  # raises the clear error
            raise AssertionError("unreachable")
        h = state.copy()
        h.update(encode_message(kind, value, version))
        return h.digest()

    def _prefixed(self, kind: IdentifierKind, version: int) -> "hmac.HMAC":
        """The keyed state that has already absorbed the message up to the value's length
        (domain, kind, version: the same for every value), so that a batch hashes only
        ``u32 len(value) | value`` per identifier. The digests are those of ``digest``."""
        state = self._states.get(version)
        if state is None:
            self._keyring.get(version)  # raises the clear error
            raise AssertionError("unreachable")
        kind_b = kind.value.encode("ascii")
        h = state.copy()
        h.update(b"".join((DOMAIN, struct.pack(">B", len(kind_b)), kind_b,
                           struct.pack(">I", version))))
        return h

    def pseudonymise(self, identities: Sequence[Identity], version: int) -> list[PseudonymSet]:
        bsn_state = self._prefixed(IdentifierKind.BSN, version)
        name_state = self._prefixed(IdentifierKind.NAME_BIRTHDATE, version)
        birth_state = self._prefixed(IdentifierKind.BSN_BIRTHDATE, version)
        length = struct.Struct(">I").pack
        out = []
        for ident in identities:
            bsn = name = bsn_birth = None
            if ident.bsn is not None:
                value = ident.bsn.encode("utf-8")
                h = bsn_state.copy()
                h.update(length(len(value)) + value)
                bsn = h.digest()
            if ident.name_key is not None:
                value = ident.name_key.canonical().encode("utf-8")
                h = name_state.copy()
                h.update(length(len(value)) + value)
                name = h.digest()
            both = ident.bsn_birthdate()
            if both is not None:
                value = both.encode("utf-8")
                h = birth_state.copy()
                h.update(length(len(value)) + value)
                bsn_birth = h.digest()
            out.append(PseudonymSet(version, bsn, name, bsn_birth))
        return out


class KeyringPseudonymiser:
    """Every version of a keyring under its own scheme: HMAC versions hashed here, OPRF
    versions through the key service. This is what a deployment holds while it migrates
    from HMAC to OPRF: it publishes under the primary version and queries under all."""

    remote = True  # pseudonymising may wait on the key service: keep it off the event loop

    def __init__(self, keyring: Keyring, by_scheme: dict[str, Pseudonymiser]) -> None:
        self._keyring = keyring
        self._by_version = {v.version: by_scheme[v.scheme] for v in keyring.versions}

    @property
    def scheme(self) -> str:
        return self._keyring.primary.scheme

    @property
    def primary_version(self) -> int:
        return self._keyring.primary.version

    @property
    def active_versions(self) -> tuple[int, ...]:
        return self._keyring.active_versions

    def pseudonymise(self, identities: Sequence[Identity], version: int) -> list[PseudonymSet]:
        target = self._by_version.get(version)
        if target is None:
            self._keyring.get(version)  # raises the clear error
            raise AssertionError("unreachable")
        return target.pseudonymise(identities, version)


__all__ = ["DOMAIN", "HmacPseudonymiser", "KeyringPseudonymiser", "PseudonymSet",
           "Pseudonymiser", "encode_message", "hmac_sha256"]
