"""The compact binary encoding of pseudonym entries: what an adapter sends in a batch.

JSON carries an entry as hex strings with their keys (about 220 bytes, and a pydantic
object on the server); this encoding carries it as one fixed 97-byte record (media type
``application/vnd.hitmachine.entries.v2``)::

    u8 flags | 32 bytes BSN pseudonym | 32 bytes name-key pseudonym
             | 32 bytes (BSN, birth date) pseudonym

``flags`` bit 0 says the BSN pseudonym is present, bit 1 the name-key pseudonym, bit 2 the
(BSN, birth date) pseudonym (only together with bit 0: it is the BSN's birth date). An
absent pseudonym is 32 zero bytes, every other bit is zero, and at least one of the first
two is present. The (BSN, birth date) pseudonym is what lets the service check an asked
birth date against the agency's own before an age rule counts it (``domain.policy``).

Version 1 records (media type ``application/octet-stream``) are the first 65 bytes of
that, without bit 2: what adapters before version 2 send. The server still takes them;
their entries carry no birth date, so an age-bounded agency's BSN hits from them are not
disclosed until its adapter sends version 2. A body is a concatenation of records of one
version. The adapter (``adapters``) encodes, the publish API decodes; both import this
module, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from hitmachine.core.errors import InvalidInput

MEDIA_TYPE = "application/vnd.hitmachine.entries.v2"
V1_MEDIA_TYPE = "application/octet-stream"
PSEUDONYM_BYTES = 32
RECORD_BYTES = 1 + 3 * PSEUDONYM_BYTES
V1_RECORD_BYTES = 1 + 2 * PSEUDONYM_BYTES
FLAG_BSN = 0x01
FLAG_NAME = 0x02
FLAG_BSN_BIRTH = 0x04
_ZERO = bytes(PSEUDONYM_BYTES)
_VALID_FLAGS = (1, 2, 3, 5, 7)

# (BSN pseudonym, name-key pseudonym, (BSN, birth date) pseudonym)
Pair = tuple[bytes | None, bytes | None, bytes | None]


def encode_entry(bsn: bytes | None, name: bytes | None, bsn_birth: bytes | None = None
                 ) -> bytes:
    """One 97-byte record. Raises ``ValueError`` for an entry without pseudonyms, with a
    birth-date pseudonym but no BSN, or with a pseudonym that is not 32 bytes (a
    programming error, not input)."""
    if bsn is None and name is None:
        raise ValueError("an entry needs a BSN or a name-key pseudonym")
    if bsn_birth is not None and bsn is None:
        raise ValueError("a (BSN, birth date) pseudonym needs the BSN pseudonym")
    if any(p is not None and len(p) != PSEUDONYM_BYTES for p in (bsn, name, bsn_birth)):
        raise ValueError(f"pseudonyms are {PSEUDONYM_BYTES} bytes")
    flags = ((FLAG_BSN if bsn is not None else 0) | (FLAG_NAME if name is not None else 0)
             | (FLAG_BSN_BIRTH if bsn_birth is not None else 0))
    return bytes((flags,)) + (bsn or _ZERO) + (name or _ZERO) + (bsn_birth or _ZERO)


def encode_entries(entries: Iterable[Pair]) -> bytes:
    return b"".join(encode_entry(*entry) for entry in entries)


def decode_entry(record: bytes) -> Pair:
    """A well-formed record of either version (its length says which)."""
    flags = record[0]
    return (record[1:33] if flags & FLAG_BSN else None,
            record[33:65] if flags & FLAG_NAME else None,
            record[65:97] if flags & FLAG_BSN_BIRTH and len(record) >= RECORD_BYTES else None)


def decode_entries(body: bytes, *, field: str = "body", max_entries: int | None = None,
                   record_bytes: int = RECORD_BYTES) -> list[Pair]:
    """The entries of a body of version 2 records (``record_bytes`` 65: version 1), or
    ``InvalidInput`` naming the first bad record (never its content)."""
    size = len(body)
    if size % record_bytes:
        raise InvalidInput(field, f"is not a whole number of {record_bytes}-byte records")
    count = size // record_bytes
    if max_entries is not None and count > max_entries:
        raise InvalidInput(field, f"has {count} entries; at most {max_entries} per batch")
    allowed = _VALID_FLAGS if record_bytes == RECORD_BYTES else (1, 2, 3)
    view = memoryview(body)
    out: list[Pair] = []
    append = out.append
    for start in range(0, size, record_bytes):
        flags = body[start]
        if flags not in allowed:
            raise InvalidInput(f"{field}.{start // record_bytes}", "has invalid flags (" + ", ".join(
                map(str, allowed)) + ": which pseudonyms are present)")
        parts: list[bytes | None] = []
        for bit, offset in ((FLAG_BSN, 1), (FLAG_NAME, 33), (FLAG_BSN_BIRTH, 65)):
            if offset >= record_bytes:
                parts.append(None)
                continue
            chunk = view[start + offset:start + offset + PSEUDONYM_BYTES]
            if flags & bit:
                parts.append(bytes(chunk))
            elif chunk != _ZERO:
                raise InvalidInput(f"{field}.{start // record_bytes}",
                                   "has bytes in an absent pseudonym's place")
            else:
                parts.append(None)
        append((parts[0], parts[1], parts[2]))
    return out


__all__ = ["FLAG_BSN", "FLAG_BSN_BIRTH", "FLAG_NAME", "MEDIA_TYPE", "PSEUDONYM_BYTES",
           "RECORD_BYTES", "V1_MEDIA_TYPE", "V1_RECORD_BYTES", "Pair", "decode_entries",
           "decode_entry", "encode_entries", "encode_entry"]
