"""Signed tree heads: C2SP ``tlog-checkpoint`` bodies in C2SP ``signed-note`` envelopes.

A checkpoint is what the audit log publishes so that outsiders can hold it to its history:
origin, tree size and root hash, signed with Ed25519. Using the C2SP text formats (the
ones Go's ``golang.org/x/mod/sumdb/note`` and the transparency-dev tooling speak) means
existing witnesses and verifiers can check our log without custom code.

Wire format, as produced and accepted here::

    <origin>\\n
    <decimal tree size, no leading zeros>\\n
    <base64 of the 32-byte root hash>\\n
    [<extension line>\\n ...]
    \\n
    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\\n
    [more signature lines]

The signature covers the body (the lines before the blank line, with their newlines).
Pure module: no I/O, keys come in as objects or strings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from hitmachine.core.errors import InvalidInput, InvalidProof

__all__ = [
    "ALG_ED25519",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CheckpointSigner",
    "CheckpointVerifier",
    "ed25519_key_hash",
    "parse_checkpoint_body",
]

ALG_ED25519 = 0x01
# signed-note asks verifiers to cap the signature count (and accept at least 16);
# 100 is the limit Go's note package uses.
MAX_SIGNATURES = 100

_ROOT_HASH_SIZE = 32
_KEY_HASH_SIZE = 4
_SIGNATURE_SIZE = 64
_MAX_TREE_SIZE = 2**64 - 1  # tree sizes are uint64 in every other implementation
_SIG_PREFIX = "\u2014 "  # EM DASH, space
_PRIVATE_PREFIX = "PRIVATE+KEY+"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
# Any ASCII control character but newline; signed-note forbids them in the whole note.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed tree head of the log: which log, how many leaves, which root."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise InvalidInput("size", "must be an integer")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise InvalidInput("size", "must be between 0 and 2**64-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _ROOT_HASH_SIZE:
            raise InvalidInput("root_hash", f"must be {_ROOT_HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise InvalidInput("extensions", "must be a tuple of lines")
        for i, line in enumerate(self.extensions):
            _check_line(f"extensions.{i}", line)

    def body(self) -> bytes:
        """The note text that gets signed, every line ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        lines = (self.origin, str(self.size), root, *self.extensions)
        return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_checkpoint_body(body: bytes) -> Checkpoint:
    """Read a checkpoint note text strictly; raise InvalidProof if it is not canonical.

    Strictness matters because two byte strings for the same tree head would let a log
    show different, equally valid signed texts to different people.
    """
    text = _decode_text(body)
    if not text.endswith("\n"):
        raise InvalidProof("the checkpoint does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidProof("the checkpoint has fewer than three lines")
    if any(not line for line in lines):
        raise InvalidProof("the checkpoint has an empty line")
    origin, size_line, root_line, *extensions = lines
    try:
        return Checkpoint(origin, _parse_size(size_line), _parse_root(root_line), tuple(extensions))
    except InvalidInput as exc:
        raise InvalidProof(f"the checkpoint is malformed ({exc.field})") from exc


def ed25519_key_hash(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id: SHA-256(name || "\\n" || 0x01 || public key)[:4].

    Only an identifier to pick the right key, not a security property.
    """
    material = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    return hashlib.sha256(material).digest()[:_KEY_HASH_SIZE]


class CheckpointSigner:
    """Signs checkpoints (or any note text) with one named Ed25519 key."""

    __slots__ = ("_key", "_key_hash", "_name", "_public")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        _check_key_name("name", name)
        self._name = name
        self._key = private_key
        self._public = private_key.public_key().public_bytes_raw()
        self._key_hash = ed25519_key_hash(name, self._public)

    @classmethod
    def generate(cls, name: str) -> CheckpointSigner:
        """A signer with a fresh random key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key_string(cls, key: str) -> CheckpointSigner:
        """Read Go's ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`` format."""
        if not key.startswith(_PRIVATE_PREFIX):
            raise InvalidInput("private_key", "is not a PRIVATE+KEY string")
        name, key_hash, material = _split_key_string("private_key", key[len(_PRIVATE_PREFIX) :])
        seed = _key_material("private_key", material)
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        # The id is over the public key, so a matching id proves the seed was not mangled.
        if signer.key_hash != key_hash:
            raise InvalidInput("private_key", "key id does not match the key")
        return signer

    def to_private_key_string(self) -> str:
        """The secret key in Go's note format; keep it secret."""
        seed = self._key.private_bytes_raw()
        material = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"{_PRIVATE_PREFIX}{self._name}+{self._key_hash.hex()}+{material}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_hash(self) -> bytes:
        """The 4-byte key id that prefixes every signature."""
        return self._key_hash

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    @property
    def verifier_key(self) -> str:
        """The public ``<name>+<hex id>+<base64(0x01 || public key)>`` string."""
        return _verifier_key_string(self._name, self._key_hash, self._public)

    def verifier(self) -> CheckpointVerifier:
        """A verifier for exactly this key."""
        return CheckpointVerifier(self._name, self._key.public_key())

    def sign(self, checkpoint: Checkpoint) -> str:
        """The complete signed note for a checkpoint."""
        return self._sign_text(checkpoint.body().decode("utf-8"))

    def sign_note(self, text: str) -> str:
        """Sign any note text: lines ending in newline, no control characters."""
        _encode_text(text)
        if not text.endswith("\n") or _CONTROL.search(text):
            raise InvalidInput("text", "must end in a newline and have no control characters")
        return self._sign_text(text)

    def _sign_text(self, text: str) -> str:
        signature = self._key.sign(text.encode("utf-8"))
        blob = base64.b64encode(self._key_hash + signature).decode("ascii")
        return f"{text}\n{_SIG_PREFIX}{self._name} {blob}\n"

    def __repr__(self) -> str:
        # Never the key itself: reprs end up in logs and tracebacks.
        return f"CheckpointSigner(name={self._name!r}, key_hash={self._key_hash.hex()})"


class CheckpointVerifier:
    """Checks notes against one trusted named Ed25519 key."""

    __slots__ = ("_key", "_key_hash", "_name")

    def __init__(self, name: str, public_key: Ed25519PublicKey) -> None:
        _check_key_name("name", name)
        self._name = name
        self._key = public_key
        self._key_hash = ed25519_key_hash(name, public_key.public_bytes_raw())

    @classmethod
    def from_verifier_key(cls, key: str) -> CheckpointVerifier:
        """Read a ``<name>+<hex id>+<base64(0x01 || public key)>`` string."""
        name, key_hash, material = _split_key_string("verifier_key", key)
        public = _key_material("verifier_key", material)
        try:
            verifier = cls(name, Ed25519PublicKey.from_public_bytes(public))
        except ValueError as exc:
            raise InvalidInput("verifier_key", "is not an Ed25519 public key") from exc
        if verifier.key_hash != key_hash:
            raise InvalidInput("verifier_key", "key id does not match the key")
        return verifier

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_hash(self) -> bytes:
        return self._key_hash

    @property
    def verifier_key(self) -> str:
        return _verifier_key_string(self._name, self._key_hash, self._key.public_bytes_raw())

    def verify(self, note: str | bytes, *, origin: str | None = None) -> Checkpoint:
        """The checkpoint in a signed note, if our key signed it; else InvalidProof.

        Pass ``origin`` to also require the checkpoint to come from that log: the same
        key could in principle sign for several logs.
        """
        checkpoint = parse_checkpoint_body(self.verify_note(note).encode("utf-8"))
        if origin is not None and checkpoint.origin != origin:
            raise InvalidProof("the checkpoint is for another log")
        return checkpoint

    def verify_note(self, note: str | bytes) -> str:
        """The text of a signed note that our key signed; else InvalidProof.

        As signed-note requires: signatures by other keys are skipped (they may be
        witnesses or a rotated key), but one by our key that fails rejects the note.
        """
        raw = note if isinstance(note, bytes) else _encode_text(note, proof=True)
        _decode_text(raw)
        split = raw.rfind(b"\n\n")
        if split < 0:
            raise InvalidProof("the note has no blank line before its signatures")
        body, block = raw[: split + 1], raw[split + 2 :]
        if not block.endswith(b"\n"):
            raise InvalidProof("the note's signature block does not end in a newline")
        verified = False
        for name, key_hash, signature in _signature_lines(block):
            if name == self._name and key_hash == self._key_hash:
                self._check_signature(body, signature)
                verified = True
        if not verified:
            raise InvalidProof("the note carries no signature by the trusted key")
        return body.decode("utf-8")

    def _check_signature(self, body: bytes, signature: bytes) -> None:
        if len(signature) != _SIGNATURE_SIZE:
            raise InvalidProof("the signature has the wrong length")
        try:
            self._key.verify(signature, body)
        except InvalidSignature as exc:
            raise InvalidProof("the signature does not verify") from exc

    def __repr__(self) -> str:
        return f"CheckpointVerifier({self.verifier_key!r})"


def _signature_lines(block: bytes) -> Iterator[tuple[str, bytes, bytes]]:
    """(key name, key id, signature) per line; the block is known to end in a newline."""
    lines = block[:-1].decode("utf-8").split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidProof("the note has too many signatures")
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise InvalidProof("a signature line does not start with an em dash")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not _is_key_name(name) or not encoded:
            raise InvalidProof("a signature line is malformed")
        blob = _b64decode(encoded)
        if len(blob) <= _KEY_HASH_SIZE:
            raise InvalidProof("a signature is too short")
        yield name, blob[:_KEY_HASH_SIZE], blob[_KEY_HASH_SIZE:]


def _parse_size(line: str) -> int:
    # The regex keeps out signs, spaces, underscores and non-ASCII digits that int() takes.
    if not _DECIMAL.fullmatch(line):
        raise InvalidProof("the tree size is not a canonical decimal number")
    size = int(line)
    if size > _MAX_TREE_SIZE:
        raise InvalidProof("the tree size is out of range")
    return size


def _parse_root(line: str) -> bytes:
    root = _b64decode(line)
    if len(root) != _ROOT_HASH_SIZE:
        raise InvalidProof(f"the root hash is not {_ROOT_HASH_SIZE} bytes")
    return root


def _b64decode(text: str) -> bytes:
    """Standard padded base64, and only its canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise InvalidProof("malformed base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise InvalidProof("non-canonical base64")
    return raw


def _decode_text(raw: bytes) -> str:
    """Note bytes as text; signed-note allows only UTF-8 without control characters."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidProof("the note is not valid UTF-8") from exc
    if _CONTROL.search(text):
        raise InvalidProof("the note contains a control character")
    return text


def _encode_text(text: str, *, proof: bool = False) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates
        if proof:
            raise InvalidProof("the note is not valid UTF-8") from exc
        raise InvalidInput("text", "is not valid Unicode") from exc


def _check_line(field: str, line: str) -> None:
    """One checkpoint line: non-empty text that stays one line in the note."""
    if not isinstance(line, str) or not line:
        raise InvalidInput(field, "must be a non-empty string")
    if "\n" in line or _CONTROL.search(line):
        raise InvalidInput(field, "must not contain control characters")
    _encode_text(line)


def _is_key_name(name: str) -> bool:
    # signed-note: non-empty, no Unicode spaces, no "+" (the key string separator).
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _check_key_name(field: str, name: str) -> None:
    if not isinstance(name, str) or not _is_key_name(name) or _CONTROL.search(name):
        raise InvalidInput(field, "must be non-empty without spaces, '+' or control characters")
    _encode_text(name)


def _split_key_string(field: str, key: str) -> tuple[str, bytes, str]:
    """``name+hexid+base64`` into its parts; base64 may itself contain '+'."""
    parts = key.split("+", 2)
    if len(parts) != 3 or not _HEX8.fullmatch(parts[1]):
        raise InvalidInput(field, "is not a <name>+<key id>+<key> string")
    name, hex_id, material = parts
    if not _is_key_name(name):
        raise InvalidInput(field, "has an invalid key name")
    return name, bytes.fromhex(hex_id), material


def _key_material(field: str, material: str) -> bytes:
    """The 32 key bytes after the Ed25519 algorithm byte."""
    try:
        raw = _b64decode(material)
    except InvalidProof as exc:
        raise InvalidInput(field, "has malformed base64 key material") from exc
    if len(raw) != 1 + 32 or raw[0] != ALG_ED25519:
        raise InvalidInput(field, "is not an Ed25519 key")
    return raw[1:]


def _verifier_key_string(name: str, key_hash: bytes, public: bytes) -> str:
    material = base64.b64encode(bytes([ALG_ED25519]) + public).decode("ascii")
    return f"{name}+{key_hash.hex()}+{material}"
