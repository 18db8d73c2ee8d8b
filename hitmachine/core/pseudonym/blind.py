"""Blind pseudonyms: the OPRF scheme behind the same ``Pseudonymiser`` interface as HMAC.

For each identifier the client (an adapter, or the query path) builds exactly the message
HMAC would hash (``encode_message``: domain, kind, key version, value), blinds it, has the
key service evaluate the blinded element under that version's key, and unblinds and
finalises (RFC 9497, ``hitmachine.core.oprf``). The pseudonym is the first 32 bytes of the
64-byte OPRF output: the size of every pseudonym in the index and on the wire, still far
beyond any collision among the people of a country.

The client never holds the key, so neither it nor anyone who copies its files (or the
index) can compute the pseudonym of a guessed BSN; the key service sees only uniformly
random group elements, so it never learns whom a pseudonym is for. The network round trip
is the ``BlindEvaluator``'s business (``hitmachine.core.keyservice_client``): this module stays
pure, one call per chunk of identities, never one per person.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from hitmachine.core import oprf
from hitmachine.core.identity import IdentifierKind, Identity
from hitmachine.core.keyring import Keyring
from hitmachine.core.pseudonym.base import PseudonymSet, encode_message
from hitmachine.core.wire import PSEUDONYM_BYTES


class BlindEvaluator(Protocol):
    """The key service, as the client sees it: ``k_version * B`` for each blinded B."""

    def evaluate(self, version: int, blinded: Sequence[bytes]) -> list[bytes]: ...


class OprfPseudonymiser:
    """Pseudonyms under the keyring's OPRF versions, evaluated by the key service."""

    scheme = "oprf"
    remote = True  # each call is a round trip: callers keep it off an event loop

    def __init__(self, keyring: Keyring, evaluator: BlindEvaluator) -> None:
        self._keyring = keyring
        self._evaluator = evaluator
        self._versions = {v.version for v in keyring.versions_of("oprf")}

    @property
    def primary_version(self) -> int:
        return self._keyring.primary.version

    @property
    def active_versions(self) -> tuple[int, ...]:
        return self._keyring.active_versions

    def pseudonymise(self, identities: Sequence[Identity], version: int) -> list[PseudonymSet]:
        if version not in self._versions:
            self._keyring.get(version)  # the clear error for an unknown version
            raise ValueError(f"key version {version} is not an oprf version")
        # One flat list of inputs for the whole chunk: BSNs and name keys alike, with
        # where each output goes back (-1: absent).
        inputs: list[bytes] = []
        slots: list[tuple[int, int, int]] = []
        for ident in identities:
            b = n = d = -1
            if ident.bsn is not None:
                b = len(inputs)
                inputs.append(encode_message(IdentifierKind.BSN, ident.bsn, version))
            if ident.name_key is not None:
                n = len(inputs)
                inputs.append(encode_message(IdentifierKind.NAME_BIRTHDATE,
                                             ident.name_key.canonical(), version))
            both = ident.bsn_birthdate()
            if both is not None:
                d = len(inputs)
                inputs.append(encode_message(IdentifierKind.BSN_BIRTHDATE, both, version))
            slots.append((b, n, d))
        outputs = self.evaluate_inputs(inputs, version)
        return [PseudonymSet(version, outputs[b] if b >= 0 else None,
                             outputs[n] if n >= 0 else None,
                             outputs[d] if d >= 0 else None) for b, n, d in slots]

    def evaluate_inputs(self, inputs: Sequence[bytes], version: int) -> list[bytes]:
        """The 32-byte pseudonyms of already encoded messages (blind, evaluate, finalise)."""
        if not inputs:
            return []
        blinded = oprf.blind_batch(inputs)
        evaluated = self._evaluator.evaluate(version, [b for _, b in blinded])
        outputs = oprf.finalize_batch(inputs, [r for r, _ in blinded], evaluated)
        return [o[:PSEUDONYM_BYTES] for o in outputs]


def direct_pseudonym(key: oprf.OprfKey, kind: IdentifierKind, value: str, version: int) -> bytes:
    """What ``OprfPseudonymiser`` yields, computed with the key itself (RFC 9497 Evaluate).
    Only the key service can do this; tests use it to check the blind path."""
    return key.evaluate(encode_message(kind, value, version))[:PSEUDONYM_BYTES]


__all__ = ["BlindEvaluator", "OprfPseudonymiser", "PSEUDONYM_BYTES", "direct_pseudonym"]
