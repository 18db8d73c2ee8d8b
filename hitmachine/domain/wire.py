"""The compact binary encoding of pseudonym entries: what an adapter sends in a batch.

JSON carries an entry as two 64-digit hex strings with their keys (about 150 bytes, and a
pydantic object on the server); this encoding carries it as one fixed 65-byte record::

    u8 flags | 32 bytes BSN pseudonym | 32 bytes name-key pseudonym

``flags`` bit 0 says the BSN pseudonym is present, bit 1 the name-key pseudonym; an absent
pseudonym is 32 zero bytes, every other bit is zero, and at least one of the two is present.
A body is a concatenation of records (media type ``application/octet-stream``), so its
length is a multiple of 65. The adapter (``adapters``) encodes, the publish API decodes;
both import this module, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from hitmachine.domain.errors import InvalidInput

MEDIA_TYPE = "application/octet-stream"
PSEUDONYM_BYTES = 32
RECORD_BYTES = 1 + 2 * PSEUDONYM_BYTES
FLAG_BSN = 0x01
FLAG_NAME = 0x02
_ZERO = bytes(PSEUDONYM_BYTES)
_FLAGS = {(True, False): b"\x01", (False, True): b"\x02", (True, True): b"\x03"}

Pair = tuple[bytes | None, bytes | None]


def encode_entry(bsn: bytes | None, name: bytes | None) -> bytes:
    """One 65-byte record. Raises ``ValueError`` for an entry without pseudonyms or with a
    pseudonym that is not 32 bytes (a programming error, not input)."""
    flag = _FLAGS.get((bsn is not None, name is not None))
    if flag is None:
        raise ValueError("an entry needs a BSN or a name-key pseudonym")
    if (bsn is not None and len(bsn) != PSEUDONYM_BYTES) or (
            name is not None and len(name) != PSEUDONYM_BYTES):
        raise ValueError(f"pseudonyms are {PSEUDONYM_BYTES} bytes")
    return flag + (bsn or _ZERO) + (name or _ZERO)


def encode_entries(pairs: Iterable[Pair]) -> bytes:
    return b"".join(encode_entry(bsn, name) for bsn, name in pairs)


def decode_entry(record: bytes) -> Pair:
    flags = record[0]
    return (record[1:33] if flags & FLAG_BSN else None,
            record[33:65] if flags & FLAG_NAME else None)


def decode_entries(body: bytes, *, field: str = "body", max_entries: int | None = None
                   ) -> list[Pair]:
    """The entries of a body, or ``InvalidInput`` naming the first bad record (never its
    content)."""
    size = len(body)
    if size % RECORD_BYTES:
        raise InvalidInput(field, f"is not a whole number of {RECORD_BYTES}-byte records")
    count = size // RECORD_BYTES
    if max_entries is not None and count > max_entries:
        raise InvalidInput(field, f"has {count} entries; at most {max_entries} per batch")
    view = memoryview(body)
    out: list[Pair] = []
    append = out.append
    for start in range(0, size, RECORD_BYTES):
        flags = body[start]
        if flags == 3:
            append((bytes(view[start + 1:start + 33]), bytes(view[start + 33:start + 65])))
        elif flags == 1 and view[start + 33:start + 65] == _ZERO:
            append((bytes(view[start + 1:start + 33]), None))
        elif flags == 2 and view[start + 1:start + 33] == _ZERO:
            append((None, bytes(view[start + 33:start + 65])))
        else:
            i = start // RECORD_BYTES
            if flags not in (1, 2):
                raise InvalidInput(f"{field}.{i}", "has invalid flags (1, 2 or 3: which "
                                                   "pseudonyms are present)")
            raise InvalidInput(f"{field}.{i}", "has bytes in an absent pseudonym's place")
    return out


__all__ = ["FLAG_BSN", "FLAG_NAME", "MEDIA_TYPE", "PSEUDONYM_BYTES", "RECORD_BYTES", "Pair",
           "decode_entries", "decode_entry", "encode_entries", "encode_entry"]
