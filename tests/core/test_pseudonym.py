"""Tests of pseudonyms (hitmachine.core.pseudonym.base), keyrings (hitmachine.core.keyring)
and key files on disk (hitmachine.core.keystore).

The HMAC primitive is checked against RFC 4231 section 4 (HMAC-SHA-256 outputs of test
cases 1, 2, 3, 4, 6 and 7; case 5 is a truncated output and left out). Every constant was
cross-checked three ways: against the RFC text as recalled, against Python's ``hmac`` module,
and against several independent public implementations' RFC 4231 test suites.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitmachine.core.errors import Conflict, Forbidden, InvalidInput
from hitmachine.core.files import read_secret_file, write_secret_file
from hitmachine.core.identity import IdentifierKind, normalise_identity
from hitmachine.core.keyring import FORMAT, KEY_BYTES, Keyring, KeyVersion
from hitmachine.core.keystore import load_keyring, save_keyring
from hitmachine.core.pseudonym.base import (
    DOMAIN,
    HmacPseudonymiser,
    encode_message,
    hmac_sha256,
)

# --------------------------------------------------------------------------- fixtures

CREATED = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def secret(label: str) -> bytes:
    """A fixed, distinct 256-bit test key per label (reproducible, unlike Keyring.generate)."""
    return hashlib.sha256(f"hitmachine test key {label}".encode()).digest()


def keyring(*labels: str) -> Keyring:
    """Versions 1..n with the secrets for ``labels``."""
    return Keyring("hmac", tuple(KeyVersion(i, secret(label), CREATED)
                                 for i, label in enumerate(labels, start=1)))


KEYRING_A = keyring("a", "b", "c")
KEYRING_B = keyring("x", "y", "z")
PSEUDONYMISER_A = HmacPseudonymiser(KEYRING_A)
PSEUDONYMISER_B = HmacPseudonymiser(KEYRING_B)

kinds = st.sampled_from(list(IdentifierKind))
values = st.text(max_size=64)
versions = st.sampled_from(KEYRING_A.active_versions)
u32 = st.integers(min_value=0, max_value=2**32 - 1)


def assert_no_echo(exc: Exception, value: str) -> None:
    assert value not in str(exc)
    assert value not in getattr(exc, "detail", "")
    for err in getattr(exc, "errors", []):
        assert value not in err.message


# --------------------------------------------------------------------------- RFC 4231

RFC4231_SHA256 = [
    pytest.param(b"\x0b" * 20, b"Hi There",
                 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                 id="case-1"),
    pytest.param(b"Jefe", b"what do ya want for nothing?",
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                 id="case-2"),
    pytest.param(b"\xaa" * 20, b"\xdd" * 50,
                 "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                 id="case-3"),
    pytest.param(bytes(range(0x01, 0x1a)), b"\xcd" * 50,
                 "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                 id="case-4"),
    pytest.param(b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                 id="case-6"),
    pytest.param(b"\xaa" * 131,
                 b"This is a test using a larger than block-size key and a larger than "
                 b"block-size data. The key needs to be hashed before being used by the "
                 b"HMAC algorithm.",
                 "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                 id="case-7"),
]


@pytest.mark.parametrize(("key", "data", "expected"), RFC4231_SHA256)
def test_hmac_sha256_matches_rfc4231(key: bytes, data: bytes, expected: str) -> None:
    assert hmac_sha256(key, data).hex() == expected


@given(kinds, values, versions)
def test_digest_is_hmac_sha256_of_the_encoded_message(kind: IdentifierKind, value: str,
                                                      version: int) -> None:
    expected = hmac_sha256(KEYRING_A.get(version).secret, encode_message(kind, value, version))
    assert PSEUDONYMISER_A.digest(kind, value, version) == expected


# --------------------------------------------------------------------------- encoding

def decode_message(message: bytes) -> tuple[IdentifierKind, str, int]:
    """Parse ``encode_message`` output back; succeeds only on exactly one well-formed message,
    so encode_message being invertible proves it injective."""
    assert message.startswith(DOMAIN)
    rest = message[len(DOMAIN):]
    (kind_len,) = struct.unpack(">B", rest[:1])
    kind = IdentifierKind(rest[1:1 + kind_len].decode("ascii"))
    rest = rest[1 + kind_len:]
    version, value_len = struct.unpack(">II", rest[:8])
    value_b = rest[8:]
    assert len(value_b) == value_len
    return kind, value_b.decode("utf-8"), version


@given(kinds, values, u32)
def test_encode_message_can_be_decoded_back_to_its_inputs(kind: IdentifierKind, value: str,
                                                         version: int) -> None:
    assert decode_message(encode_message(kind, value, version)) == (kind, value, version)


@given(st.lists(st.tuples(kinds, st.text(alphabet="ab|\x00\x01", max_size=4),
                         st.integers(min_value=0, max_value=3)), max_size=40))
def test_encode_message_gives_distinct_bytes_for_distinct_triples(
        triples: list[tuple[IdentifierKind, str, int]]) -> None:
    # A small alphabet and few versions make near-collisions (shifted lengths, separator
    # bytes inside the value, adjacent versions) likely among the generated triples.
    distinct = set(triples)
    assert len({encode_message(*t) for t in distinct}) == len(distinct)


def test_encode_message_separates_kind_from_a_value_that_spells_the_other_kind() -> None:
    # The classic ambiguity of plain concatenation: kind + value == other kind + other value.
    a = encode_message(IdentifierKind.BSN, "x", 1)
    b = encode_message(IdentifierKind.NAME_BIRTHDATE, "x", 1)
    c = encode_message(IdentifierKind.BSN, IdentifierKind.NAME_BIRTHDATE.value + "x", 1)
    assert len({a, b, c}) == 3


# --------------------------------------------------------------------------- pseudonym properties

@given(kinds, values, versions)
def test_pseudonyms_are_32_bytes(kind: IdentifierKind, value: str, version: int) -> None:
    assert len(PSEUDONYMISER_A.digest(kind, value, version)) == 32


@given(kinds, values, versions)
def test_pseudonyms_are_deterministic(kind: IdentifierKind, value: str, version: int) -> None:
    assert PSEUDONYMISER_A.digest(kind, value, version) == \
        PSEUDONYMISER_A.digest(kind, value, version)


@given(kinds, values, versions)
def test_two_pseudonymisers_from_one_keyring_agree(kind: IdentifierKind, value: str,
                                                   version: int) -> None:
    other = HmacPseudonymiser(Keyring.from_json(KEYRING_A.to_json()))
    assert other.digest(kind, value, version) == PSEUDONYMISER_A.digest(kind, value, version)


@given(values, versions)
def test_kinds_are_separated(value: str, version: int) -> None:
    assert PSEUDONYMISER_A.digest(IdentifierKind.BSN, value, version) != \
        PSEUDONYMISER_A.digest(IdentifierKind.NAME_BIRTHDATE, value, version)


@given(kinds, values, versions)
def test_keys_are_separated(kind: IdentifierKind, value: str, version: int) -> None:
    assert PSEUDONYMISER_A.digest(kind, value, version) != \
        PSEUDONYMISER_B.digest(kind, value, version)


SAME_SECRET_TWICE = HmacPseudonymiser(Keyring("hmac", (KeyVersion(1, secret("same"), CREATED),
                                                       KeyVersion(2, secret("same"), CREATED))))


@given(kinds, values)
def test_versions_are_separated_even_under_the_same_secret(kind: IdentifierKind,
                                                          value: str) -> None:
    assert SAME_SECRET_TWICE.digest(kind, value, 1) != SAME_SECRET_TWICE.digest(kind, value, 2)


def test_an_unknown_version_is_invalid_input_on_key_version() -> None:
    with pytest.raises(InvalidInput) as info:
        PSEUDONYMISER_A.digest(IdentifierKind.BSN, "012345672", 99)
    assert info.value.field == "key_version"


def test_equivalent_bsn_spellings_give_one_pseudonym() -> None:
    spellings = ["012345672", "12345672", "0123.45.672", "012 345 672", "12-34-56-72"]
    sets = PSEUDONYMISER_A.pseudonymise([normalise_identity(bsn=s) for s in spellings], 1)
    assert len({ps.bsn for ps in sets}) == 1
    assert all(ps.name is None for ps in sets)


def test_equivalent_name_spellings_give_one_pseudonym() -> None:
    people = [
        {"surname": "van der Berg", "given_names": "Émile", "date_of_birth": "1990-05-17"},
        {"surname": "Berg", "prefix": "Van der", "given_names": "emile",
         "date_of_birth": "1990-05-17"},
        {"surname": "VANDERBERG", "given_names": "E\u0301mile Jan", "date_of_birth": "1990-05-17"},
        {"surname": "van-der-Berg", "given_names": " Emile", "date_of_birth": " 1990-05-17 "},
    ]
    sets = PSEUDONYMISER_A.pseudonymise([normalise_identity(**p) for p in people], 2)
    assert len({ps.name for ps in sets}) == 1
    assert all(ps.bsn is None and ps.key_version == 2 for ps in sets)


@given(st.sampled_from(["Çelik", "Celik", "ÇELIK", "çelik"]),
       st.sampled_from(["Yılmaz", "Yilmaz", "YILMAZ"]))
def test_name_pseudonyms_ignore_diacritics_and_case(surname: str, given_names: str) -> None:
    def pseudonym(s: str, g: str) -> bytes | None:
        ident = normalise_identity(surname=s, given_names=g, date_of_birth="2001-02-03")
        return PSEUDONYMISER_A.pseudonymise([ident], 1)[0].name

    assert pseudonym(surname, given_names) == pseudonym("celik", "y")


def test_pseudonymise_keeps_order_and_absent_identifiers() -> None:
    people = [normalise_identity(bsn="012345672"),
              normalise_identity(surname="Berg", given_names="Jan", date_of_birth="1990-05-17"),
              normalise_identity(bsn="012345672", surname="Berg", given_names="Jan",
                                 date_of_birth="1990-05-17")]
    bsn_only, name_only, both = PSEUDONYMISER_A.pseudonymise(people, 3)
    assert bsn_only.bsn is not None and bsn_only.name is None
    assert name_only.bsn is None and name_only.name is not None
    assert (both.bsn, both.name) == (bsn_only.bsn, name_only.name)
    assert [kind for kind, _ in both.pairs()] == [IdentifierKind.BSN,
                                                  IdentifierKind.NAME_BIRTHDATE]
    assert {ps.key_version for ps in (bsn_only, name_only, both)} == {3}


# --------------------------------------------------------------------------- keyring

def test_generate_gives_one_active_256_bit_primary_key() -> None:
    ring = Keyring.generate()
    assert ring.active_versions == (1,)
    assert ring.primary.version == 1
    assert len(ring.primary.secret) == KEY_BYTES == 32


def test_rotate_adds_a_new_primary_and_keeps_the_old_key_active() -> None:
    ring = Keyring.generate()
    rotated = ring.rotate()
    assert rotated.primary.version == 2
    assert rotated.active_versions == (1, 2)
    assert rotated.get(1) == ring.get(1)
    assert rotated.get(2).secret != ring.get(1).secret


def test_retire_refuses_the_primary_key() -> None:
    ring = Keyring.generate().rotate()
    with pytest.raises(Conflict):
        ring.retire(ring.primary.version)


def test_retire_deactivates_an_older_key_but_keeps_it_in_the_ring() -> None:
    ring = Keyring.generate().rotate().retire(1)
    assert ring.active_versions == (2,)
    assert ring.primary.version == 2
    assert ring.get(1).active is False


def test_retire_of_an_unknown_version_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as info:
        Keyring.generate().retire(7)
    assert info.value.field == "key_version"


def test_a_keyring_with_only_retired_keys_has_no_primary() -> None:
    ring = Keyring("hmac", (KeyVersion(1, secret("a"), CREATED, active=False),))
    with pytest.raises(Conflict):
        _ = ring.primary


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_key_versions_must_be_256_bit(length: int) -> None:
    with pytest.raises(InvalidInput) as info:
        KeyVersion(1, b"\x01" * length, CREATED)
    assert info.value.field == "keys"


def test_json_round_trip_keeps_every_version_secret_date_and_state() -> None:
    ring = Keyring.generate().rotate().rotate().retire(1)
    assert Keyring.from_json(ring.to_json()) == ring


def test_json_round_trip_keeps_the_pseudonyms() -> None:
    again = HmacPseudonymiser(Keyring.from_json(KEYRING_A.to_json()))
    for version in KEYRING_A.active_versions:
        assert again.digest(IdentifierKind.BSN, "012345672", version) == \
            PSEUDONYMISER_A.digest(IdentifierKind.BSN, "012345672", version)


def secret_renderings(key: bytes) -> list[str]:
    return [repr(key), key.hex(), base64.b64encode(key).decode(), str(list(key))]


def test_secrets_never_appear_in_the_repr_of_a_key_version() -> None:
    version = KEYRING_A.get(1)
    for rendering in secret_renderings(version.secret):
        assert rendering not in repr(version)
        assert rendering not in str(version)


def test_secrets_never_appear_in_the_repr_of_a_keyring() -> None:
    ring = Keyring.generate().rotate()
    for version in ring.versions:
        for rendering in secret_renderings(version.secret):
            assert rendering not in repr(ring)


MARKER = "do-not-echo-4f1c"
GOOD_KEY_B64 = base64.b64encode(secret("a")).decode()


def keyring_doc(**changes: object) -> str:
    doc: dict[str, object] = {"format": FORMAT, "scheme": "hmac",
           "keys": [{"version": 1, "key": GOOD_KEY_B64, "created": CREATED.isoformat(),
                     "active": True}]}
    doc.update(changes)
    return json.dumps(doc)


def key_entry(**changes: object) -> dict[str, object]:
    entry: dict[str, object] = {"version": 1, "key": GOOD_KEY_B64,
                                "created": CREATED.isoformat(), "active": True}
    entry.update(changes)
    return entry


MALFORMED_KEYRINGS = [
    pytest.param(f"not json {MARKER}", "keyring", id="not-json"),
    pytest.param(f"[\"{MARKER}\"]", "keyring", id="json-array"),
    pytest.param(f"\"{MARKER}\"", "keyring", id="json-string"),
    pytest.param("null", "keyring", id="json-null"),
    pytest.param("42", "keyring", id="json-number"),
    pytest.param(keyring_doc(format=MARKER), "keyring", id="wrong-format"),
    pytest.param(json.dumps({"format": FORMAT, "note": MARKER}), "keyring", id="no-keys"),
    pytest.param(keyring_doc(keys=[]), "keyring", id="empty-keys"),
    pytest.param(keyring_doc(keys=MARKER), "keyring", id="keys-is-a-string"),
    pytest.param(keyring_doc(keys=[[MARKER]]), "keyring", id="key-entry-is-a-list"),
    pytest.param(keyring_doc(keys=[key_entry(key=MARKER + "!")]), "keyring", id="bad-base64"),
    pytest.param(keyring_doc(keys=[key_entry(created=MARKER)]), "keyring", id="bad-date"),
    pytest.param(keyring_doc(keys=[key_entry(version=MARKER)]), "keyring", id="bad-version"),
    pytest.param(keyring_doc(keys=[key_entry(), key_entry(note=MARKER)]), "keyring",
                 id="duplicate-versions"),
    pytest.param(keyring_doc(keys=[key_entry(key=base64.b64encode(MARKER.encode()).decode())]),
                 "keys", id="short-key"),
]


@pytest.mark.parametrize(("text", "field"), MALFORMED_KEYRINGS)
def test_malformed_keyring_json_is_invalid_input(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Keyring.from_json(text)
    assert info.value.field == field


@pytest.mark.parametrize(("text", "field"), MALFORMED_KEYRINGS)
def test_malformed_keyring_json_is_never_echoed(text: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        Keyring.from_json(text)
    assert_no_echo(info.value, MARKER)
    assert_no_echo(info.value, GOOD_KEY_B64)


def test_the_well_formed_keyring_doc_helper_itself_parses() -> None:
    # Guards the malformed cases above: each differs from a valid document in one place.
    assert Keyring.from_json(keyring_doc()).get(1).secret == secret("a")


# --------------------------------------------------------------------------- keystore

@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_secret_file_creates_a_0600_file(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "keyring.json"
    write_secret_file(path, "content")
    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "content"


def test_write_secret_file_is_0600_even_with_umask_0(tmp_path: Path,
                                                     permissive_umask: None) -> None:
    path = tmp_path / "keyring.json"
    write_secret_file(path, "content")
    assert mode(path) == 0o600


def test_write_secret_file_replaces_a_world_readable_file_with_a_0600_one(
        tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "keyring.json"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    write_secret_file(path, "new")
    assert mode(path) == 0o600
    assert path.read_text(encoding="utf-8") == "new"


def test_write_secret_file_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_secret_file(tmp_path / "keyring.json", "content")
    assert [p.name for p in tmp_path.iterdir()] == ["keyring.json"]


@pytest.mark.parametrize("loose_mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_read_secret_file_refuses_a_file_others_can_access(tmp_path: Path,
                                                           loose_mode: int) -> None:
    path = tmp_path / "keyring.json"
    write_secret_file(path, "content")
    path.chmod(loose_mode)
    with pytest.raises(Forbidden):
        read_secret_file(path)


def test_load_keyring_refuses_a_0644_keyring(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(path, KEYRING_A)
    path.chmod(0o644)
    with pytest.raises(Forbidden):
        load_keyring(path)


def test_save_and_load_keyring_round_trip(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(path, KEYRING_A)
    assert mode(path) == 0o600
    assert load_keyring(path) == KEYRING_A


def test_the_forbidden_message_does_not_contain_the_file_content(tmp_path: Path) -> None:
    path = tmp_path / "keyring.json"
    save_keyring(path, KEYRING_A)
    path.chmod(0o644)
    with pytest.raises(Forbidden) as info:
        load_keyring(path)
    for version in KEYRING_A.versions:
        assert base64.b64encode(version.secret).decode() not in str(info.value)


def test_keyring_active_flag_must_be_a_real_boolean() -> None:
    import json as _json

    from hitmachine.core.errors import InvalidInput
    from hitmachine.core.keyring import Keyring

    doc = _json.loads(Keyring.generate().rotate().retire(1).to_json())
    doc["keys"][0]["active"] = "false"  # a hand edit that bool() would read as True
    with pytest.raises(InvalidInput):
        Keyring.from_json(_json.dumps(doc))


def test_the_bsn_birth_date_pseudonym_is_its_own_kind_and_needs_both() -> None:
    both = normalise_identity(bsn="012345672", date_of_birth="1990-05-17")
    [ps] = PSEUDONYMISER_A.pseudonymise([both], 1)
    assert ps.bsn_birth == PSEUDONYMISER_A.digest(IdentifierKind.BSN_BIRTHDATE,
                                                  "012345672|1990-05-17", 1)
    assert ps.bsn_birth not in (ps.bsn, PSEUDONYMISER_A.digest(
        IdentifierKind.BSN, "012345672|1990-05-17", 1))
    [bsn_only] = PSEUDONYMISER_A.pseudonymise([normalise_identity(bsn="012345672")], 1)
    [name_only] = PSEUDONYMISER_A.pseudonymise([normalise_identity(
        surname="Berg", given_names="Jan", date_of_birth="1990-05-17")], 1)
    assert bsn_only.bsn_birth is None and name_only.bsn_birth is None
