"""The canonical bytes of an audit record: what a leaf of the audit Merkle tree hashes.

Defined once, here, and documented byte for byte in ``docs/audit-log.md`` so that anyone
holding an exported record can recompute its leaf hash without our code::

    "hitmachine/audit-leaf/1" 0x00          24 bytes, the domain and version of the encoding
    u64 seq                                  position in the tree (big-endian)
    u64 id                                   the record's storage id (big-endian)
    13 fields, in LEAF_FIELDS order, each:
        u32 0xFFFFFFFF                       when the field is NULL
        u32 byte length | UTF-8 bytes        otherwise

    leaf hash = SHA-256(0x00 || canonical bytes)          (RFC 9162 section 2.1.1)

Every field carries its own length, so no text inside a field (a newline, a separator, a
quote, a whole forged record) can move a boundary: two different records never encode
alike. ``seq`` is inside the hashed bytes, so a record moved to another position, or two
records swapped, no longer match their leaf hashes.

Pruning after the retention period clears a record's contents (``PRUNED_VALUES``) but keeps
its leaf hash: the tree still verifies, and only for pruned records the verifier takes the
stored leaf hash on trust (see ``docs/audit-log.md``, "Retention").

Pure module: no I/O, no database.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from hitmachine.core.auditlog.merkle import LeafHash, leaf_hash
from hitmachine.core.errors import InvalidInput

__all__ = [
    "LEAF_DOMAIN",
    "LEAF_FIELDS",
    "NULLABLE_FIELDS",
    "PRUNED_VALUES",
    "is_cleared",
    "leaf_data",
    "leaf_data_from_values",
    "record_leaf_hash",
]

LEAF_DOMAIN = b"hitmachine/audit-leaf/1\x00"

# The record fields in the order they are encoded: the columns of ``audit_records`` that
# hold what happened. ``seq`` and ``id`` come first; ``leaf_hash`` (the result) and
# ``pruned`` (a storage state, not content) are not part of the leaf.
LEAF_FIELDS: tuple[str, ...] = (
    "recorded_at",
    "event",
    "actor",
    "role",
    "organisation",
    "request_id",
    "purpose",
    "legal_basis",
    "case_reference",
    "subjects",
    "outcome",
    "agencies",
    "detail",
)
NULLABLE_FIELDS = frozenset({"purpose", "legal_basis", "case_reference"})

# What a pruned record holds instead of its contents. The JSON columns keep valid (empty)
# JSON so that readers need no special case.
PRUNED_VALUES: Mapping[str, str | None] = {
    "recorded_at": "",
    "event": "",
    "actor": "",
    "role": "",
    "organisation": "",
    "request_id": "",
    "purpose": None,
    "legal_basis": None,
    "case_reference": None,
    "subjects": "[]",
    "outcome": "",
    "agencies": "[]",
    "detail": "{}",
}
_PRUNED_TUPLE = tuple(PRUNED_VALUES[f] for f in LEAF_FIELDS)

_NULL = b"\xff\xff\xff\xff"
_U32 = struct.Struct(">I").pack
_U64X2 = struct.Struct(">QQ").pack
_MAX_FIELD = 0xFFFFFFFE
_MAX_U64 = 2**64 - 1


def leaf_data_from_values(seq: int, record_id: int, values: Sequence[str | None]) -> bytes:
    """The canonical bytes from the 13 field values in ``LEAF_FIELDS`` order.

    The fast path for the integrator and the verifier, which read rows as tuples.
    """
    if len(values) != len(LEAF_FIELDS):
        raise InvalidInput("values", f"must hold the {len(LEAF_FIELDS)} leaf fields")
    if not (0 <= seq <= _MAX_U64 and 0 <= record_id <= _MAX_U64):
        raise InvalidInput("seq", "seq and id must be unsigned 64-bit integers")
    parts = [LEAF_DOMAIN, _U64X2(seq, record_id)]
    append = parts.append
    # The verifier runs this a million times: the checks are folded into the loop.
    for value in values:
        if value is None:
            append(_NULL)
            continue
        if value.__class__ is not str and not isinstance(value, str):
            raise InvalidInput("values", "every leaf field is text or NULL")
        try:
            raw = value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput("values", "a leaf field is not valid Unicode") from None
        size = len(raw)
        if size > _MAX_FIELD:
            raise InvalidInput("values", "a leaf field is longer than 2**32-2 bytes")
        append(_U32(size))
        append(raw)
    return b"".join(parts)


def leaf_data(seq: int, record_id: int, record: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a record given as a mapping (a database row or an export)."""
    missing = [f for f in LEAF_FIELDS if f not in record]
    if missing:
        raise InvalidInput(missing[0], "is missing from the record")
    return leaf_data_from_values(seq, record_id, [record[f] for f in LEAF_FIELDS])


def record_leaf_hash(seq: int, record_id: int, record: Mapping[str, Any]) -> LeafHash:
    """SHA-256(0x00 || canonical bytes): the record's leaf in the audit tree."""
    return leaf_hash(leaf_data(seq, record_id, record))


def is_cleared(values: Sequence[str | None]) -> bool:
    """Whether the 13 field values are exactly what pruning leaves behind."""
    return tuple(values) == _PRUNED_TUPLE
