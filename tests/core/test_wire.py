"""The binary batch records (hitmachine.core.wire): version 2 carries the (BSN, birth
date) pseudonym in a 97-byte record behind flag bit 2; version 1 (65 bytes) is still read."""

from __future__ import annotations

import pytest

from hitmachine.core import wire
from hitmachine.core.errors import InvalidInput

A, B, C = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32


@pytest.mark.parametrize("entry", [(A, None, None), (None, B, None), (A, B, None),
                                   (A, None, C), (A, B, C)])
def test_version_2_records_round_trip(entry: wire.Pair) -> None:
    record = wire.encode_entry(*entry)
    assert len(record) == wire.RECORD_BYTES == 97
    assert wire.decode_entries(record * 2) == [entry, entry]
    assert wire.decode_entry(record) == entry


def test_a_birth_date_pseudonym_needs_the_bsn() -> None:
    with pytest.raises(ValueError):
        wire.encode_entry(None, B, C)
    record = bytearray(wire.encode_entry(A, B, C))
    record[0] = wire.FLAG_NAME | wire.FLAG_BSN_BIRTH
    record[1:33] = bytes(32)
    with pytest.raises(InvalidInput) as caught:
        wire.decode_entries(bytes(record), field="body")
    assert caught.value.errors[0].field == "body.0"


def test_version_1_records_are_read_without_a_birth_date() -> None:
    v1 = bytes((3,)) + A + B
    assert wire.decode_entries(v1, record_bytes=wire.V1_RECORD_BYTES) == [(A, B, None)]
    assert wire.decode_entry(v1) == (A, B, None)
    with pytest.raises(InvalidInput):  # bit 2 has no place in a 65-byte record
        wire.decode_entries(bytes((5,)) + A + B, record_bytes=wire.V1_RECORD_BYTES)
    with pytest.raises(InvalidInput, match="97-byte"):
        wire.decode_entries(v1)


def test_bytes_in_an_absent_place_are_refused() -> None:
    record = bytearray(wire.encode_entry(A, None, None))
    record[80] = 1
    with pytest.raises(InvalidInput, match="absent"):
        wire.decode_entries(bytes(record))
