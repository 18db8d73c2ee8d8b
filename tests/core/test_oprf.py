"""Tests for the RFC 9497 OPRF (mode 0x00, ristretto255-SHA512) behind blind pseudonyms.

The test vectors are RFC 9497 Appendix A.1.1 (OPRF mode), checked against the final text
of draft-irtf-cfrg-voprf (github.com/cfrg/draft-irtf-cfrg-voprf, draft-irtf-cfrg-voprf.md,
"## ristretto255-SHA512 / ### OPRF Mode"), which became the RFC. The expand_message_xmd
vectors are RFC 9380 Appendix K.3; the invalid encodings are RFC 9496 Appendix A.2.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hitmachine.core import oprf
from hitmachine.core.errors import InvalidInput
from hitmachine.core.oprf import OprfKey, blind, blind_batch, finalize, finalize_batch

SEED = bytes.fromhex("a3" * 32)
KEY_INFO = bytes.fromhex("74657374206b6579")  # "test key"
SK_SM = bytes.fromhex("5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e")
BLIND = bytes.fromhex("64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706")

VECTORS = [
    pytest.param(
        "00",
        "609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",
        "7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",
        "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
        "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6",
        id="test-vector-1",
    ),
    pytest.param(
        "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
        "da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",
        "b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",
        "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
        "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73",
        id="test-vector-2",
    ),
]

# RFC 9496 Appendix A.2 (a sample of each kind) plus the identity with bit 255 set.
BAD_ENCODINGS = [
    # non-canonical field encodings
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    # the generator with bit 255 set (libsodium 1.0.18 alone would accept it)
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2df6",
    # negative field elements
    "0100000000000000000000000000000000000000000000000000000000000000",
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
    # non-square x^2
    "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
    # negative xy value
    "3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
    "a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
]
IDENTITY = bytes(32)
L = oprf.GROUP_ORDER

# A module-level key for property tests (hypothesis does not mix with function fixtures).
PROPERTY_KEY = OprfKey.generate()


def _assert_no_echo(exc: InvalidInput, value: bytes) -> None:
    texts = [str(exc), exc.detail] + [e.message for e in exc.errors]
    for forbidden in {value.hex(), value.hex().upper(), repr(value)}:
        if len(forbidden) >= 8:
            assert all(forbidden not in t for t in texts)


# ---------------------------------------------------------------- RFC test vectors


def test_context_string() -> None:
    assert oprf.CONTEXT_STRING == b"OPRFV1-\x00-ristretto255-SHA512"


def test_derive_key_pair_reproduces_rfc_key() -> None:
    key = OprfKey.derive(SEED, KEY_INFO)
    assert key.to_bytes() == SK_SM
    assert key == OprfKey.from_bytes(SK_SM)


@pytest.mark.parametrize(("input_hex", "blinded_hex", "evaluated_hex", "output_hex"), VECTORS)
def test_rfc9497_vectors(input_hex: str, blinded_hex: str, evaluated_hex: str,
                         output_hex: str) -> None:
    key = OprfKey.from_bytes(SK_SM)
    x = bytes.fromhex(input_hex)

    r, blinded = blind(x, BLIND)
    assert r == BLIND
    assert blinded.hex() == blinded_hex

    evaluated = key.blind_evaluate(blinded)
    assert evaluated.hex() == evaluated_hex

    output = finalize(x, r, evaluated)
    assert output.hex() == output_hex
    assert len(output) == oprf.OUTPUT_BYTES
    assert key.evaluate(x).hex() == output_hex


def test_rfc9497_vectors_as_one_batch() -> None:
    key = OprfKey.from_bytes(SK_SM)
    inputs = [bytes.fromhex(v.values[0]) for v in VECTORS]  # type: ignore[arg-type]
    blinded = blind_batch(inputs, [BLIND] * len(inputs))
    assert [b.hex() for _, b in blinded] == [v.values[1] for v in VECTORS]
    evaluated = key.blind_evaluate_batch([b for _, b in blinded])
    assert [e.hex() for e in evaluated] == [v.values[2] for v in VECTORS]
    outputs = finalize_batch(inputs, [r for r, _ in blinded], evaluated)
    assert [o.hex() for o in outputs] == [v.values[3] for v in VECTORS]


def test_public_key_matches_rfc_voprf_vector() -> None:
    # pkS = skS * G does not depend on the mode: RFC 9497 A.1.2 (VOPRF mode) key pair.
    sk = bytes.fromhex("e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909")
    pk = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"
    assert OprfKey.from_bytes(sk).public_key.hex() == pk


@pytest.mark.parametrize(("msg", "length", "expected"), [
    (b"", 0x20, "6b9a7312411d92f921c6f68ca0b6380730a1a4d982c507211a90964c394179ba"),
    (b"abc", 0x20, "0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc"),
    (b"", 0x80,
     ("41b037d1734a5f8df225dd8c7de38f851efdb45c372887be655212d07251b921"
      "b052b62eaed99b46f72f2ef4cc96bfaf254ebbbec091e1a3b9e4fb5e5b619d2e"
      "0c5414800a1d882b62bb5cd1778f098b8eb6cb399d5d9d18f5d5842cf5d13d7e"
      "b00a7cff859b605da678b318bd0e65ebff70bec88c753b159a805d2c89c55961")),
])
def test_expand_message_xmd_rfc9380_vectors(msg: bytes, length: int, expected: str) -> None:
    assert oprf.expand_message_xmd(msg, b"QUUX-V01-CS02-with-expander-SHA512-256",
                                   length).hex() == expected


def test_fast_expand_matches_generic() -> None:
    for msg in (b"", b"\x00", os.urandom(40), os.urandom(300)):
        dst = b"HashToGroup-" + oprf.CONTEXT_STRING
        assert oprf._expand_h2g(msg) == oprf.expand_message_xmd(msg, dst, 64)


# ---------------------------------------------------------------- protocol properties


def test_round_trip_equals_direct_evaluation() -> None:
    key = OprfKey.generate()
    x = b"bsn:123456782"
    r, blinded = blind(x)
    assert finalize(x, r, key.blind_evaluate(blinded)) == key.evaluate(x)


def test_batch_round_trip_equals_direct_evaluation() -> None:
    key = OprfKey.generate()
    inputs = [f"person-{i}".encode() for i in range(25)] + [b""]
    blinded = blind_batch(inputs)
    evaluated = key.blind_evaluate_batch([b for _, b in blinded])
    outputs = finalize_batch(inputs, [r for r, _ in blinded], evaluated)
    assert outputs == [key.evaluate(x) for x in inputs]
    assert len(set(outputs)) == len(inputs)


def test_empty_batches() -> None:
    key = OprfKey.generate()
    assert blind_batch([]) == []
    assert key.blind_evaluate_batch([]) == []
    assert finalize_batch([], [], []) == []


def test_different_keys_give_different_outputs() -> None:
    x = b"bsn:123456782"
    k1, k2 = OprfKey.generate(), OprfKey.generate()
    assert k1 != k2
    assert k1.evaluate(x) != k2.evaluate(x)
    assert OprfKey.derive(SEED, b"a").evaluate(x) != OprfKey.derive(SEED, b"b").evaluate(x)
    r, blinded = blind(x)
    assert finalize(x, r, k1.blind_evaluate(blinded)) != finalize(x, r, k2.blind_evaluate(blinded))


def test_blinding_hides_the_input() -> None:
    key = OprfKey.generate()
    x = b"bsn:123456782"
    r1, b1 = blind(x)
    r2, b2 = blind(x)
    assert r1 != r2 and b1 != b2
    assert b1 != oprf.hash_to_group(x) and b2 != oprf.hash_to_group(x)
    assert finalize(x, r1, key.blind_evaluate(b1)) == finalize(x, r2, key.blind_evaluate(b2))


def test_finalize_with_the_wrong_blind_or_input_gives_another_output() -> None:
    key = OprfKey.generate()
    x = b"bsn:123456782"
    r, blinded = blind(x)
    evaluated = key.blind_evaluate(blinded)
    other_r, _ = blind(x)
    assert finalize(x, other_r, evaluated) != key.evaluate(x)
    assert finalize(b"bsn:111222333", r, evaluated) != key.evaluate(b"bsn:111222333")


def test_key_serialisation_and_repr() -> None:
    key = OprfKey.generate()
    raw = key.to_bytes()
    assert len(raw) == oprf.SCALAR_BYTES
    assert OprfKey.from_bytes(raw) == key
    assert raw.hex() not in repr(key)
    assert len(key.public_key) == oprf.ELEMENT_BYTES
    assert OprfKey.from_bytes(raw).public_key == key.public_key


def test_derive_is_deterministic() -> None:
    assert OprfKey.derive(SEED, b"") == OprfKey.derive(SEED)
    assert OprfKey.derive(SEED, b"x") != OprfKey.derive(bytes(32), b"x")


def test_maximum_input_length_is_accepted() -> None:
    key = OprfKey.generate()
    x = b"\x01" * oprf.MAX_INPUT_BYTES
    r, blinded = blind(x)
    assert finalize(x, r, key.blind_evaluate(blinded)) == key.evaluate(x)


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_property_protocol_equals_evaluate(x: bytes) -> None:
    r, blinded = blind(x)
    evaluated = PROPERTY_KEY.blind_evaluate(blinded)
    assert finalize(x, r, evaluated) == PROPERTY_KEY.evaluate(x)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_property_batches_equal_singles(xs: list[bytes]) -> None:
    blinded = blind_batch(xs)
    evaluated = PROPERTY_KEY.blind_evaluate_batch([b for _, b in blinded])
    assert evaluated == [PROPERTY_KEY.blind_evaluate(b) for _, b in blinded]
    outputs = finalize_batch(xs, [r for r, _ in blinded], evaluated)
    assert outputs == [PROPERTY_KEY.evaluate(x) for x in xs]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("bad_hex", BAD_ENCODINGS)
def test_non_canonical_encodings_are_rejected(bad_hex: str) -> None:
    bad = bytes.fromhex(bad_hex)
    assert len(bad) == 32
    key = OprfKey.generate()
    with pytest.raises(InvalidInput) as info:
        key.blind_evaluate(bad)
    assert info.value.field == "blinded_element"
    assert "canonical" in info.value.errors[0].message
    _assert_no_echo(info.value, bad)

    r, _ = blind(b"x")
    with pytest.raises(InvalidInput) as info:
        finalize(b"x", r, bad)
    assert info.value.field == "evaluated_element"
    _assert_no_echo(info.value, bad)


def test_identity_is_rejected() -> None:
    key = OprfKey.generate()
    with pytest.raises(InvalidInput) as info:
        key.blind_evaluate(IDENTITY)
    assert info.value.field == "blinded_element"
    assert "identity" in info.value.errors[0].message
    r, _ = blind(b"x")
    with pytest.raises(InvalidInput) as info:
        finalize(b"x", r, IDENTITY)
    assert info.value.field == "evaluated_element"
    assert "identity" in info.value.errors[0].message


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x02" * 33, "e" * 32, None, 42],
                         ids=["empty", "31", "33", "str", "none", "int"])
def test_wrong_length_or_type_is_rejected(bad: object) -> None:
    key = OprfKey.generate()
    with pytest.raises(InvalidInput) as info:
        key.blind_evaluate(bad)  # type: ignore[arg-type]
    assert info.value.field == "blinded_element"
    assert "32-byte" in info.value.errors[0].message
    r, _ = blind(b"x")
    with pytest.raises(InvalidInput) as info:
        finalize(b"x", r, bad)  # type: ignore[arg-type]
    assert info.value.field == "evaluated_element"


def test_batch_errors_name_each_bad_element() -> None:
    key = OprfKey.generate()
    good = [b for _, b in blind_batch([b"a", b"b", b"c", b"d", b"e", b"f"])]
    bad_encoding = bytes.fromhex(BAD_ENCODINGS[8])
    elements = good[:3] + [IDENTITY] + good[3:4] + [bad_encoding, b"short"] + good[4:]
    with pytest.raises(InvalidInput) as info:
        key.blind_evaluate_batch(elements)
    exc = info.value
    assert exc.field == "blinded_elements.3"
    assert [e.field for e in exc.errors] == ["blinded_elements.3", "blinded_elements.5",
                                             "blinded_elements.6"]
    for value in elements:
        _assert_no_echo(exc, value)


def test_batch_error_count_is_capped() -> None:
    key = OprfKey.generate()
    with pytest.raises(InvalidInput) as info:
        key.blind_evaluate_batch([IDENTITY] * (oprf.MAX_REPORTED_ERRORS + 50))
    assert len(info.value.errors) == oprf.MAX_REPORTED_ERRORS


def test_finalize_batch_errors() -> None:
    key = OprfKey.generate()
    inputs = [b"a", b"b", b"c"]
    blinded = blind_batch(inputs)
    blinds = [r for r, _ in blinded]
    evaluated = key.blind_evaluate_batch([b for _, b in blinded])

    with pytest.raises(InvalidInput) as info:
        finalize_batch(inputs, blinds, [evaluated[0], IDENTITY, evaluated[2]])
    assert info.value.field == "evaluated_elements.1"

    with pytest.raises(InvalidInput) as info:
        finalize_batch(inputs, blinds, evaluated[:2])
    assert info.value.field == "evaluated_elements"

    with pytest.raises(InvalidInput) as info:
        finalize_batch(inputs, blinds[:2], evaluated)
    assert info.value.field == "blinds"

    with pytest.raises(InvalidInput) as info:
        finalize_batch(inputs, [blinds[0], bytes(32), blinds[2]], evaluated)
    assert info.value.field == "blinds.1"


@pytest.mark.parametrize("bad", [
    bytes(32),                                      # zero
    L.to_bytes(32, "little"),                       # == L (not canonical)
    (L + 1).to_bytes(32, "little"),                 # > L
    b"\xff" * 32,
    b"\x01" * 31,
    b"\x01" * 33,
], ids=["zero", "order", "order+1", "ff", "31", "33"])
def test_bad_scalars_are_rejected(bad: bytes) -> None:
    with pytest.raises(InvalidInput) as info:
        blind(b"x", bad)
    assert info.value.field == "blind"
    _assert_no_echo(info.value, bad)
    with pytest.raises(InvalidInput) as info:
        finalize(b"x", bad, OprfKey.generate().blind_evaluate(blind(b"x")[1]))
    assert info.value.field == "blind"
    with pytest.raises(InvalidInput) as info:
        OprfKey.from_bytes(bad)
    assert info.value.field == "key"
    _assert_no_echo(info.value, bad)


def test_largest_scalar_is_accepted() -> None:
    top = (L - 1).to_bytes(32, "little")
    key = OprfKey.from_bytes(top)
    r, blinded = blind(b"x", top)
    assert finalize(b"x", r, key.blind_evaluate(blinded)) == key.evaluate(b"x")


def test_oversized_inputs_are_rejected() -> None:
    key = OprfKey.generate()
    too_long = b"\x00" * (oprf.MAX_INPUT_BYTES + 1)
    with pytest.raises(InvalidInput) as info:
        blind(too_long)
    assert info.value.field == "input"
    with pytest.raises(InvalidInput) as info:
        key.evaluate(too_long)
    assert info.value.field == "input"
    r, blinded = blind(b"x")
    with pytest.raises(InvalidInput) as info:
        finalize(too_long, r, key.blind_evaluate(blinded))
    assert info.value.field == "input"
    with pytest.raises(InvalidInput) as info:
        blind_batch([b"ok", too_long])
    assert info.value.field == "inputs.1"
    with pytest.raises(InvalidInput) as info:
        finalize_batch([too_long], [r], [key.blind_evaluate(blinded)])
    assert info.value.field == "inputs.0"


def test_non_bytes_inputs_are_rejected() -> None:
    with pytest.raises(InvalidInput) as info:
        blind("bsn:123456782")  # type: ignore[arg-type]
    assert info.value.field == "input"
    with pytest.raises(InvalidInput) as info:
        blind_batch([b"ok", "text"])  # type: ignore[list-item]
    assert info.value.field == "inputs.1"


def test_derive_validates_seed_and_info() -> None:
    with pytest.raises(InvalidInput) as info:
        OprfKey.derive(b"\xa3" * 31, KEY_INFO)
    assert info.value.field == "seed"
    with pytest.raises(InvalidInput) as info:
        OprfKey.derive(SEED, b"i" * (oprf.MAX_INPUT_BYTES + 1))
    assert info.value.field == "info"


def test_blind_batch_validates_blinds() -> None:
    with pytest.raises(InvalidInput) as info:
        blind_batch([b"a", b"b"], [BLIND])
    assert info.value.field == "blinds"
    with pytest.raises(InvalidInput) as info:
        blind_batch([b"a", b"b"], [BLIND, bytes(32)])
    assert info.value.field == "blinds.1"


# ---------------------------------------------------------------- batches
# (their throughput is printed by benchmarks/keyservice.py, not measured in a unit test)


def test_the_batch_steps_give_the_single_evaluation() -> None:
    inputs = [os.urandom(20).hex().encode() for _ in range(50)]  # 40 bytes each
    key = OprfKey.generate()
    blinded = blind_batch(inputs)
    evaluated = key.blind_evaluate_batch([b for _, b in blinded])
    outputs = finalize_batch(inputs, [r for r, _ in blinded], evaluated)
    assert outputs == [key.evaluate(i) for i in inputs]
