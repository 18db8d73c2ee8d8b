"""Tests of hitmachine.core.auditlog.checkpoint: C2SP tlog-checkpoint in C2SP signed-note.

Besides round trips, the format is re-read here by hand (split lines, em dash, key id,
Ed25519 check with ``cryptography`` directly) so that a symmetric bug in our signer and
verifier cannot hide, and the Go ``note`` package's published example is reproduced.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st

from hitmachine.core.auditlog.checkpoint import (
    Checkpoint,
    CheckpointSigner,
    CheckpointVerifier,
    ed25519_key_hash,
    parse_checkpoint_body,
)
from hitmachine.core.errors import InvalidInput, InvalidProof

ORIGIN = "hitmachine.example/audit-log"
ROOT = hashlib.sha256(b"some root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()
EM_DASH = "\u2014"

# golang.org/x/mod/sumdb/note: the key pair and signed note of the package's example and
# tests. Ed25519 is deterministic, so signing the same text must give the same bytes.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n"
    + "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    + "qdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture(scope="module")
def signer() -> CheckpointSigner:
    return CheckpointSigner.generate(ORIGIN)


@pytest.fixture(scope="module")
def verifier(signer: CheckpointSigner) -> CheckpointVerifier:
    return CheckpointVerifier.from_verifier_key(signer.verifier_key)


@pytest.fixture(scope="module")
def checkpoint() -> Checkpoint:
    return Checkpoint(ORIGIN, 20852163, ROOT)


# --- round trips ----------------------------------------------------------------------------


def test_round_trip(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    assert verifier.verify(signer.sign(checkpoint)) == checkpoint
    assert verifier.verify(signer.sign(checkpoint).encode()) == checkpoint
    assert signer.verifier().verify(signer.sign(checkpoint)) == checkpoint


def test_round_trip_with_extensions_and_empty_tree(
    signer: CheckpointSigner, verifier: CheckpointVerifier
) -> None:
    empty = Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest(), ("ext one", "Ümlaut ✓"))
    assert verifier.verify(signer.sign(empty)) == empty


def test_private_key_string_round_trip(signer: CheckpointSigner, checkpoint: Checkpoint) -> None:
    key = signer.to_private_key_string()
    assert key.startswith(f"PRIVATE+KEY+{ORIGIN}+{signer.key_hash.hex()}+")
    again = CheckpointSigner.from_private_key_string(key)
    assert again.verifier_key == signer.verifier_key
    # Ed25519 is deterministic: the same key signs the same body identically.
    assert again.sign(checkpoint) == signer.sign(checkpoint)
    assert key not in repr(signer)


def test_body_and_parse_are_inverse(checkpoint: Checkpoint) -> None:
    body = checkpoint.body()
    assert body == f"{ORIGIN}\n20852163\n{ROOT_B64}\n".encode()
    assert parse_checkpoint_body(body) == checkpoint


def test_verify_can_pin_the_origin(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    note = signer.sign(checkpoint)
    assert verifier.verify(note, origin=ORIGIN) == checkpoint
    with pytest.raises(InvalidProof):
        verifier.verify(note, origin="other.example/log")


_line_chars = st.characters(codec="utf-8", min_codepoint=0x20)  # no surrogates


@given(
    origin=st.text(_line_chars, min_size=1, max_size=40),
    size=st.integers(0, 2**64 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(_line_chars, min_size=1, max_size=20), max_size=3),
)
def test_any_checkpoint_round_trips(
    origin: str, size: int, root_hash: bytes, extensions: list[str]
) -> None:
    key = Ed25519PrivateKey.from_private_bytes(b"\x07" * 32)
    signer = CheckpointSigner("log.example", key)
    expected = Checkpoint(origin, size, root_hash, tuple(extensions))
    assert signer.verifier().verify(signer.sign(expected)) == expected


# --- the format, read independently ---------------------------------------------------------


def test_signed_note_layout_read_by_hand(signer: CheckpointSigner, checkpoint: Checkpoint) -> None:
    note = signer.sign(checkpoint)
    raw = note.encode("utf-8")
    lines = note.split("\n")
    assert lines == [ORIGIN, "20852163", ROOT_B64, "", lines[4], ""]
    assert base64.b64decode(lines[2], validate=True) == ROOT

    dash, name, blob_b64 = lines[4].split(" ")
    assert dash == EM_DASH and dash.encode("utf-8") == b"\xe2\x80\x94"
    assert name == ORIGIN
    blob = base64.b64decode(blob_b64, validate=True)
    assert len(blob) == 4 + 64

    public = signer.public_key.public_bytes_raw()
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert blob[:4] == key_id == signer.key_hash

    body = raw[: raw.index(b"\n\n") + 1]
    assert body == f"{ORIGIN}\n20852163\n{ROOT_B64}\n".encode()
    Ed25519PublicKey.from_public_bytes(public).verify(blob[4:], body)  # raises if wrong


def test_verifier_key_string_read_by_hand(signer: CheckpointSigner) -> None:
    name, key_id, material = signer.verifier_key.split("+", 2)
    assert name == ORIGIN
    assert re.fullmatch(r"[0-9a-f]{8}", key_id)
    raw = base64.b64decode(material, validate=True)
    assert raw[0] == 1 and len(raw) == 33
    assert raw[1:] == signer.public_key.public_bytes_raw()
    assert bytes.fromhex(key_id) == ed25519_key_hash(name, raw[1:])


# --- the Go note package's example ----------------------------------------------------------


def test_go_example_keys() -> None:
    signer = CheckpointSigner.from_private_key_string(GO_SKEY)
    assert signer.verifier_key == GO_VKEY
    assert signer.to_private_key_string() == GO_SKEY
    assert CheckpointVerifier.from_verifier_key(GO_VKEY).key_hash.hex() == "c74f20a3"


def test_go_example_note_is_reproduced_byte_for_byte() -> None:
    assert CheckpointSigner.from_private_key_string(GO_SKEY).sign_note(GO_TEXT) == GO_NOTE


def test_go_example_note_verifies() -> None:
    verifier = CheckpointVerifier.from_verifier_key(GO_VKEY)
    assert verifier.verify_note(GO_NOTE) == GO_TEXT
    with pytest.raises(InvalidProof):
        verifier.verify_note(GO_NOTE.replace("cryptography", "cryptographY"))
    with pytest.raises(InvalidProof):
        verifier.verify(GO_NOTE)  # a valid note, but not a checkpoint


# --- tampering ------------------------------------------------------------------------------


def _tampered(note: str) -> dict[str, str]:
    body, sig = note.split("\n\n")
    origin, size, root = body.split("\n")
    prefix, name, blob_b64 = sig.rstrip("\n").split(" ")
    blob = base64.b64decode(blob_b64)

    def with_blob(new: bytes) -> str:
        return f"{body}\n\n{prefix} {name} {base64.b64encode(new).decode()}\n"

    other_root = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    return {
        "size": f"{origin}\n{int(size) + 1}\n{root}\n\n{sig}",
        "root": f"{origin}\n{size}\n{other_root}\n\n{sig}",
        "origin": f"{origin}x\n{size}\n{root}\n\n{sig}",
        "extra body line": f"{body}\nextension\n\n{sig}",
        "signature bit": with_blob(blob[:-1] + bytes([blob[-1] ^ 1])),
        "signature truncated": with_blob(blob[:-1]),
        "key hash": with_blob(bytes([blob[0] ^ 1]) + blob[1:]),
        "key name": f"{body}\n\n{prefix} {name}x {blob_b64}\n",
        "garbage after signature": f"{note}garbage\n",
        "blank line removed": f"{body}\n{sig}",
        "no final newline": note[:-1],
        "hyphen for em dash": f"{body}\n\n- {name} {blob_b64}\n",
        "no signature": f"{body}\n\n",
        "no signature block": f"{body}\n",
        "double space": f"{body}\n\n{prefix}  {name} {blob_b64}\n",
    }


TAMPERINGS = list(_tampered(CheckpointSigner.generate("x").sign(Checkpoint("o", 1, ROOT))))


@pytest.mark.parametrize("what", TAMPERINGS)
def test_tampered_notes_fail(
    what: str, signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    note = _tampered(signer.sign(checkpoint))[what]
    with pytest.raises(InvalidProof):
        verifier.verify(note)


def test_other_key_with_the_same_name_fails(
    verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    impostor = CheckpointSigner.generate(ORIGIN)
    assert impostor.key_hash != verifier.key_hash
    with pytest.raises(InvalidProof):
        verifier.verify(impostor.sign(checkpoint))


def test_other_key_claiming_our_key_id_fails(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    """A key whose id collides with ours (cheap to find) still cannot sign for us."""
    body = checkpoint.body()
    forged = Ed25519PrivateKey.generate().sign(body)
    blob = base64.b64encode(signer.key_hash + forged).decode()
    note = f"{body.decode()}\n{EM_DASH} {ORIGIN} {blob}\n"
    with pytest.raises(InvalidProof):
        verifier.verify(note)


def test_unknown_signatures_are_ignored_if_ours_verifies(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    witness = CheckpointSigner.generate("witness.example")
    ours = signer.sign(checkpoint)
    theirs = witness.sign(checkpoint)
    their_line = theirs.split("\n\n")[1]
    assert verifier.verify(ours + their_line) == checkpoint
    assert verifier.verify(ours.split("\n\n")[0] + "\n\n" + their_line + ours.split("\n\n")[1])
    with pytest.raises(InvalidProof):
        verifier.verify(theirs)  # only an unknown signature


def test_a_bad_signature_by_our_key_rejects_even_next_to_a_good_one(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    note = signer.sign(checkpoint)
    bad = _tampered(note)["signature bit"].split("\n\n")[1]
    with pytest.raises(InvalidProof):
        verifier.verify(note + bad)


def test_signature_count_is_capped(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    note = signer.sign(checkpoint)
    other = CheckpointSigner.generate("w").sign(checkpoint).split("\n\n")[1]
    assert verifier.verify(note + other * 15) == checkpoint  # signed-note: accept 16
    with pytest.raises(InvalidProof):
        verifier.verify(note + other * 100)


@pytest.mark.parametrize(
    "note",
    [
        b"o\n1\n\xff\n\n",  # invalid UTF-8
        "o\n1\n\x07\n\n",  # control character
        "o\r\n1\n\n",  # carriage return
        "o\n1\n\ud800\n\n",  # lone surrogate
        "",
    ],
)
def test_malformed_text_fails(verifier: CheckpointVerifier, note: str | bytes) -> None:
    with pytest.raises(InvalidProof):
        verifier.verify(note)


def test_invalid_utf8_in_an_otherwise_valid_note_fails(
    signer: CheckpointSigner, verifier: CheckpointVerifier, checkpoint: Checkpoint
) -> None:
    raw = signer.sign(checkpoint).encode()
    with pytest.raises(InvalidProof):
        verifier.verify(raw.replace(b"\xe2\x80\x94", b"\xe2\x80"))


# --- checkpoint bodies that are signed but not canonical ------------------------------------

URLSAFE_ROOT = base64.urlsafe_b64encode(b"\xfb" * 32).decode()  # '-' and '_', not std
CANONICAL_SIZE_BREAKERS = ["01", "+1", "-1", " 1", "1 ", "1_0", "1.0", "\uff11", "\u0663", "0x1"]


@pytest.mark.parametrize(
    "body",
    [f"{ORIGIN}\n{size}\n{ROOT_B64}\n" for size in CANONICAL_SIZE_BREAKERS]
    + [
        f"{ORIGIN}\n18446744073709551616\n{ROOT_B64}\n",  # 2**64
        f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"{ORIGIN}\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",
        f"{ORIGIN}\n1\n{ROOT_B64.rstrip('=')}\n",  # padding missing
        f"{ORIGIN}\n1\n{ROOT_B64[:-2]}B=\n",  # non-zero trailing bits
        f"{ORIGIN}\n1\n{ROOT_B64.replace('=', '')}==\n",
        f"{ORIGIN}\n1\n{URLSAFE_ROOT}\n",
        f"{ORIGIN}\n1\n {ROOT_B64}\n",
        f"{ORIGIN}\n1\n",
        f"\n1\n{ROOT_B64}\n",
        f"{ORIGIN}\n1\n{ROOT_B64}\n\nextension after empty line\n",
        f"{ORIGIN}\n1\n{ROOT_B64}\n\n",
    ],
)
def test_non_canonical_bodies_fail_even_when_signed(
    signer: CheckpointSigner, verifier: CheckpointVerifier, body: str
) -> None:
    with pytest.raises(InvalidProof):
        parse_checkpoint_body(body.encode())
    with pytest.raises(InvalidProof):
        verifier.verify(signer.sign_note(body))


def test_largest_size_is_accepted() -> None:
    body = f"{ORIGIN}\n18446744073709551615\n{ROOT_B64}\n".encode()
    assert parse_checkpoint_body(body).size == 2**64 - 1


# --- constructors and key strings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("a\tb", 1, ROOT, ()),
        (ORIGIN, -1, ROOT, ()),
        (ORIGIN, 2**64, ROOT, ()),
        (ORIGIN, True, ROOT, ()),
        (ORIGIN, 1, ROOT[:31], ()),
        (ORIGIN, 1, ROOT, ("",)),
        (ORIGIN, 1, ROOT, ("x\ny",)),
        (ORIGIN, 1, ROOT, ["x"]),
    ],
)
def test_checkpoint_rejects_bad_fields(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput):
        Checkpoint(origin, size, root_hash, extensions)


@pytest.mark.parametrize("name", ["", "with space", "with+plus", "tab\there", "nbsp\u00a0"])
def test_bad_key_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        CheckpointSigner.generate(name)


def test_verifier_key_manglings_are_refused() -> None:
    """Like Go's TestNewVerifier: every substring and every one-byte change is refused."""
    for i in range(len(GO_VKEY)):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) != (0, len(GO_VKEY)):
                with pytest.raises(InvalidInput):
                    CheckpointVerifier.from_verifier_key(GO_VKEY[i:j])
    for i in range(len(GO_VKEY)):
        mangled = GO_VKEY[:i] + chr(ord(GO_VKEY[i]) + 1) + GO_VKEY[i + 1 :]
        with pytest.raises(InvalidInput):
            CheckpointVerifier.from_verifier_key(mangled)


def test_private_key_manglings_are_refused() -> None:
    for i in range(len(GO_SKEY)):
        mangled = GO_SKEY[:i] + chr(ord(GO_SKEY[i]) + 1) + GO_SKEY[i + 1 :]
        with pytest.raises(InvalidInput):
            CheckpointSigner.from_private_key_string(mangled)


def test_sign_note_refuses_bad_text(signer: CheckpointSigner) -> None:
    for text in ["no newline", "", "bell\x07\n", "\ud800\n"]:
        with pytest.raises(InvalidInput):
            signer.sign_note(text)
