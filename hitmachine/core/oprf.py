"""Blind pseudonyms: the oblivious PRF of RFC 9497, OPRF mode, suite ristretto255-SHA512.

The pseudonym of a normalised identifier x is F(k, x) = SHA-512(x, k * HashToGroup(x)).
1. The adapter picks a random scalar r and sends  B = r * HashToGroup(x)     (``blind``).
2. The key service, holding k, returns          Z = k * B                  (``blind_evaluate``).
3. The adapter unblinds N = (1/r) * Z = k * HashToGroup(x) and hashes x and N (``finalize``).
Why: B is a uniformly random group element whatever x is, so the key service never sees
the identifier (nor can link two requests for the same person); and the adapter only ever
receives k * (something), so the key k never leaves the key service. Without k nobody -
not even a holder of the whole pseudonym index - can compute pseudonyms to test guesses
(the key service itself is such an oracle: it must authenticate and rate-limit callers).
Every element received is checked (canonical ristretto255 encoding, not the identity).

Group arithmetic comes from libsodium (>= 1.0.18) through ctypes; this module is only the
protocol glue (RFC 9380 expand_message_xmd, HashToGroup/Scalar, DeriveKeyPair, batching).
Scalars are 32 bytes little-endian, elements 32 bytes, outputs 64 bytes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from hitmachine.core.errors import FieldError, InvalidInput

MODE_OPRF = 0x00
SUITE_ID = b"ristretto255-SHA512"
CONTEXT_STRING = b"OPRFV1-" + MODE_OPRF.to_bytes(1, "big") + b"-" + SUITE_ID
ELEMENT_BYTES = 32  # Ne
SCALAR_BYTES = 32  # Ns
OUTPUT_BYTES = 64  # Nh
MAX_INPUT_BYTES = 65535  # inputs are length-prefixed with I2OSP(len, 2)
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493
MAX_REPORTED_ERRORS = 100  # a batch reports at most this many bad fields

_HASH_TO_GROUP_DST = b"HashToGroup-" + CONTEXT_STRING
_HASH_TO_SCALAR_DST = b"HashToScalar-" + CONTEXT_STRING
_DERIVE_KEY_PAIR_DST = b"DeriveKeyPair" + CONTEXT_STRING
_ELEMENT_LEN_PREFIX = ELEMENT_BYTES.to_bytes(2, "big")
_FINALIZE = b"Finalize"
_ZERO32 = bytes(32)


# --------------------------------------------------------------------------------------
# libsodium, privately. Only the ristretto255 primitives below are used. ctypes releases
# the GIL during each call; output buffers are created per call (or per batch), never
# shared between calls, so everything here is thread-safe.
# --------------------------------------------------------------------------------------

def _load_libsodium() -> Any:
    candidates = [ctypes.util.find_library("sodium"), "libsodium.so.23", "libsodium.so",
                  "libsodium.dylib"]
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        if not hasattr(lib, "crypto_core_ristretto255_from_hash"):
            continue  # older than 1.0.18
        break
    else:
        raise ImportError("libsodium >= 1.0.18 with ristretto255 is required "
                          "(Debian/Ubuntu: the libsodium23 package)")
    if lib.sodium_init() < 0:
        raise ImportError("libsodium failed to initialise")
    p, c_int = ctypes.c_char_p, ctypes.c_int
    for fname, args, res in [
        ("crypto_core_ristretto255_from_hash", [p, p], c_int),
        ("crypto_core_ristretto255_is_valid_point", [p], c_int),
        ("crypto_scalarmult_ristretto255", [p, p, p], c_int),
        ("crypto_scalarmult_ristretto255_base", [p, p], c_int),
        ("crypto_core_ristretto255_scalar_random", [p], None),
        ("crypto_core_ristretto255_scalar_invert", [p, p], c_int),
        ("crypto_core_ristretto255_scalar_reduce", [p, p], None),
        ("crypto_core_ristretto255_scalar_mul", [p, p, p], None),
    ]:
        f = getattr(lib, fname)
        f.argtypes = args
        f.restype = res
    return lib


_lib = _load_libsodium()
_from_hash = _lib.crypto_core_ristretto255_from_hash
_is_valid_point = _lib.crypto_core_ristretto255_is_valid_point
_scalarmult = _lib.crypto_scalarmult_ristretto255  # -1: invalid point or identity result
_scalarmult_base = _lib.crypto_scalarmult_ristretto255_base
_scalar_random = _lib.crypto_core_ristretto255_scalar_random  # uniform in [1, L-1]
_scalar_invert = _lib.crypto_core_ristretto255_scalar_invert
_scalar_reduce = _lib.crypto_core_ristretto255_scalar_reduce
_scalar_mul = _lib.crypto_core_ristretto255_scalar_mul
_buffer = ctypes.create_string_buffer


def _random_scalar() -> bytes:
    buf = _buffer(SCALAR_BYTES)
    _scalar_random(buf)
    return buf.raw


def _reduce64(wide: bytes) -> bytes:
    buf = _buffer(SCALAR_BYTES)
    _scalar_reduce(buf, wide)
    return buf.raw


def _is_scalar(s: object) -> bool:
    """A canonical (< L), non-zero 32-byte scalar; checked in constant time."""
    if not isinstance(s, bytes) or len(s) != SCALAR_BYTES:
        return False
    canonical = hmac.compare_digest(_reduce64(s + _ZERO32), s)
    zero = hmac.compare_digest(s, _ZERO32)
    return canonical and not zero


def _invert_all(scalars: Sequence[bytes]) -> list[bytes]:
    """Inverses of non-zero scalars with one inversion (Montgomery's trick)."""
    n = len(scalars)
    if n == 0:
        return []
    buf = _buffer(SCALAR_BYTES)
    prefix = [scalars[0]]
    for s in scalars[1:]:
        _scalar_mul(buf, prefix[-1], s)
        prefix.append(buf.raw)
    if _scalar_invert(buf, prefix[-1]) != 0:
        raise ValueError("cannot invert zero")  # unreachable: scalars are checked non-zero
    inv = buf.raw
    out = [b""] * n
    for i in range(n - 1, 0, -1):
        _scalar_mul(buf, inv, prefix[i - 1])
        out[i] = buf.raw
        _scalar_mul(buf, inv, scalars[i])
        inv = buf.raw
    out[0] = inv
    return out


# --------------------------------------------------------------------------------------
# Hashing (RFC 9380 section 5.3.1 with SHA-512; RFC 9497 section 4.1)
# --------------------------------------------------------------------------------------

def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380 expand_message_xmd with H = SHA-512 (b_in_bytes 64, s_in_bytes 128)."""
    ell = -(-len_in_bytes // 64)
    if len(dst) > 255 or not 0 < len_in_bytes <= 65535 or ell > 255:
        raise ValueError("expand_message_xmd: bad DST or output length")
    dst_prime = dst + len(dst).to_bytes(1, "big")
    b0 = hashlib.sha512(bytes(128) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00"
                        + dst_prime).digest()
    b = hashlib.sha512(b0 + b"\x01" + dst_prime).digest()
    blocks = [b]
    for i in range(2, ell + 1):
        mixed = (int.from_bytes(b0, "big") ^ int.from_bytes(b, "big")).to_bytes(64, "big")
        b = hashlib.sha512(mixed + i.to_bytes(1, "big") + dst_prime).digest()
        blocks.append(b)
    return b"".join(blocks)[:len_in_bytes]


class _Expand64:
    """expand_message_xmd(msg, dst, 64) for one fixed DST: ell == 1, precomputed pieces."""

    __slots__ = ("_suffix", "_tail", "_zpad")

    def __init__(self, dst: bytes) -> None:
        dst_prime = dst + len(dst).to_bytes(1, "big")
        self._zpad = hashlib.sha512(bytes(128))  # Z_pad is exactly one SHA-512 block
        self._suffix = (64).to_bytes(2, "big") + b"\x00" + dst_prime
        self._tail = b"\x01" + dst_prime

    def __call__(self, msg: bytes) -> bytes:
        h = self._zpad.copy()
        h.update(msg + self._suffix)
        return hashlib.sha512(h.digest() + self._tail).digest()


_expand_h2g = _Expand64(_HASH_TO_GROUP_DST)
_expand_h2s = _Expand64(_HASH_TO_SCALAR_DST)
_expand_dkp = _Expand64(_DERIVE_KEY_PAIR_DST)


def hash_to_group(msg: bytes) -> bytes:
    """HashToGroup: hash_to_ristretto255 with DST "HashToGroup-" || contextString."""
    buf = _buffer(ELEMENT_BYTES)
    _from_hash(buf, _expand_h2g(msg))
    return buf.raw


def hash_to_scalar(msg: bytes) -> bytes:
    """HashToScalar with DST "HashToScalar-" || contextString (reduced mod L, may be 0)."""
    return _reduce64(_expand_h2s(msg))


def _finalize_hash(x: bytes, element: bytes) -> bytes:
    return hashlib.sha512(len(x).to_bytes(2, "big") + x + _ELEMENT_LEN_PREFIX + element
                          + _FINALIZE).digest()


# --------------------------------------------------------------------------------------
# Validation helpers: name the field, never echo the value.
# --------------------------------------------------------------------------------------

class _Errors:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append(FieldError(field, message))

    def full(self) -> bool:
        return len(self.items) >= MAX_REPORTED_ERRORS

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput.many(self.items)


def _input_problem(x: object) -> str | None:
    if not isinstance(x, bytes):
        return "must be bytes"
    if len(x) > MAX_INPUT_BYTES:
        return f"must be at most {MAX_INPUT_BYTES} bytes"
    return None


def _element_problem(e: object) -> str | None:
    """Why ``e`` is not a valid, non-identity element encoding (None if it is one)."""
    if not isinstance(e, bytes) or len(e) != ELEMENT_BYTES:
        return f"must be a {ELEMENT_BYTES}-byte ristretto255 element"
    if hmac.compare_digest(e, _ZERO32):
        return "must not be the identity element"
    if e[31] & 0x80 or _is_valid_point(e) != 1:  # libsodium 1.0.18 ignores bit 255
        return "is not a canonical ristretto255 encoding"
    return None


def _check_inputs(inputs: Sequence[bytes], field: str, errors: _Errors) -> None:
    for i, x in enumerate(inputs):
        problem = _input_problem(x)
        if problem:
            errors.add(f"{field}.{i}", problem)


def _check_count(values: Sequence[bytes], n: int, field: str) -> None:
    if len(values) != n:
        raise InvalidInput(field, f"expected {n} values, got {len(values)}")


_BAD_SCALAR = f"must be a {SCALAR_BYTES}-byte canonical non-zero scalar"
_UNUSABLE = "could not be evaluated"  # libsodium refused an element that looked valid


# --------------------------------------------------------------------------------------
# Key service side
# --------------------------------------------------------------------------------------

class OprfKey:
    """The OPRF private key skS. Lives only in the key service; never printed."""

    __slots__ = ("_sk",)

    def __init__(self, scalar: bytes) -> None:
        if not _is_scalar(scalar):
            raise InvalidInput("key", _BAD_SCALAR)
        self._sk = scalar

    @classmethod
    def generate(cls) -> OprfKey:
        """A fresh uniformly random key."""
        return cls(_random_scalar())

    @classmethod
    def derive(cls, seed: bytes, info: bytes = b"") -> OprfKey:
        """RFC 9497 section 3.2.1 DeriveKeyPair: deterministic key from a 32-byte secret seed."""
        if not isinstance(seed, bytes) or len(seed) != SCALAR_BYTES:
            raise InvalidInput("seed", f"must be {SCALAR_BYTES} bytes")
        problem = _input_problem(info)
        if problem:
            raise InvalidInput("info", problem)
        derive_input = seed + len(info).to_bytes(2, "big") + info
        for counter in range(256):
            sk = _reduce64(_expand_dkp(derive_input + counter.to_bytes(1, "big")))
            if not hmac.compare_digest(sk, _ZERO32):
                return cls(sk)
        raise InvalidInput("seed", "does not yield a key")  # probability ~ 2^-64000

    @classmethod
    def from_bytes(cls, data: bytes) -> OprfKey:
        return cls(data)

    def to_bytes(self) -> bytes:
        return self._sk

    @property
    def public_key(self) -> bytes:
        """pkS = skS * G (not used in OPRF mode; a safe fingerprint of the key)."""
        buf = _buffer(ELEMENT_BYTES)
        if _scalarmult_base(buf, self._sk) != 0:
            raise ValueError("zero key")  # unreachable: the scalar is checked non-zero
        return buf.raw

    def blind_evaluate(self, blinded: bytes) -> bytes:
        """BlindEvaluate: Z = skS * B for one validated blinded element B."""
        return self._blind_evaluate_many([blinded], None)[0]

    def blind_evaluate_batch(self, blinded: Sequence[bytes]) -> list[bytes]:
        """BlindEvaluate for each element; bad ones are reported as ``blinded_elements.i``."""
        return self._blind_evaluate_many(blinded, "blinded_elements")

    def _blind_evaluate_many(self, blinded: Sequence[bytes], field: str | None) -> list[bytes]:
        sk, buf, mult = self._sk, _buffer(ELEMENT_BYTES), _scalarmult
        out: list[bytes] = []
        errors = _Errors()
        problem: str | None
        for i, e in enumerate(blinded):
            # One call validates and evaluates: libsodium fails on a non-canonical encoding
            # and on an identity result, which for a non-zero scalar means identity input.
            # Bit 255 is checked here because libsodium 1.0.18's decoder ignores it.
            # After the first bad element only the (cheaper) checks run.
            if not errors.items:
                if isinstance(e, bytes) and len(e) == ELEMENT_BYTES and e[31] < 0x80 \
                        and mult(buf, sk, e) == 0:
                    out.append(buf.raw)
                    continue
                problem = _element_problem(e) or _UNUSABLE
            elif errors.full():
                break
            else:
                problem = _element_problem(e)
            if problem:
                errors.add(f"{field}.{i}" if field else "blinded_element", problem)
        errors.raise_if_any()
        return out

    def evaluate(self, input: bytes) -> bytes:
        """Evaluate: the PRF output computed directly from the input (RFC 9497 3.3.1)."""
        problem = _input_problem(input)
        if problem:
            raise InvalidInput("input", problem)
        buf = _buffer(ELEMENT_BYTES)
        if _scalarmult(buf, self._sk, hash_to_group(input)) != 0:
            raise InvalidInput("input", "maps to the identity element")
        return _finalize_hash(input, buf.raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, OprfKey):
            return NotImplemented
        return hmac.compare_digest(self._sk, other._sk)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "OprfKey(<secret>)"


# --------------------------------------------------------------------------------------
# Adapter side
# --------------------------------------------------------------------------------------

def blind(input: bytes, blind: bytes | None = None) -> tuple[bytes, bytes]:
    """Blind: return (blind scalar r, blinded element r * HashToGroup(input)).

    Keep r secret and with the input until ``finalize``; send only the blinded element.
    ``blind`` is for test vectors: never pass a fixed or reused value in production.
    """
    problem = _input_problem(input)
    if problem:
        raise InvalidInput("input", problem)
    if blind is not None and not _is_scalar(blind):
        raise InvalidInput("blind", _BAD_SCALAR)
    return _blind_many([input], None if blind is None else [blind], "input")[0]


def blind_batch(inputs: Sequence[bytes],
                blinds: Sequence[bytes] | None = None) -> list[tuple[bytes, bytes]]:
    """``blind`` for many inputs, each with its own fresh random scalar.

    ``blinds`` is for test vectors only: a fixed or reused blind unmasks the input.
    """
    errors = _Errors()
    _check_inputs(inputs, "inputs", errors)
    if blinds is not None:
        _check_count(blinds, len(inputs), "blinds")
        for i, r in enumerate(blinds):
            if not _is_scalar(r):
                errors.add(f"blinds.{i}", _BAD_SCALAR)
    errors.raise_if_any()
    return _blind_many(inputs, blinds, None)


def _blind_many(inputs: Sequence[bytes], blinds: Sequence[bytes] | None,
                single_field: str | None) -> list[tuple[bytes, bytes]]:
    """Inputs and blinds already checked."""
    rbuf, pbuf, qbuf = _buffer(SCALAR_BYTES), _buffer(ELEMENT_BYTES), _buffer(ELEMENT_BYTES)
    expand, from_hash, rand, mult = _expand_h2g, _from_hash, _scalar_random, _scalarmult
    out: list[tuple[bytes, bytes]] = []
    append = out.append
    for i, x in enumerate(inputs):
        from_hash(pbuf, expand(x))
        if blinds is None:
            rand(rbuf)
            r = rbuf.raw
        else:
            r = blinds[i]
        if mult(qbuf, r, pbuf) != 0:  # HashToGroup(x) is the identity (never seen in practice)
            raise InvalidInput(single_field or f"inputs.{i}", "maps to the identity element")
        append((r, qbuf.raw))
    return out


def finalize(input: bytes, blind: bytes, evaluated: bytes) -> bytes:
    """Finalize: unblind the evaluated element and hash it with the input (64 bytes)."""
    problem = _input_problem(input)
    if problem:
        raise InvalidInput("input", problem)
    if not _is_scalar(blind):
        raise InvalidInput("blind", _BAD_SCALAR)
    return _finalize_many([input], [blind], [evaluated], None)[0]


def finalize_batch(inputs: Sequence[bytes], blinds: Sequence[bytes],
                   evaluated: Sequence[bytes]) -> list[bytes]:
    """``finalize`` for many; bad elements are reported as ``evaluated_elements.i``."""
    n = len(inputs)
    _check_count(blinds, n, "blinds")
    _check_count(evaluated, n, "evaluated_elements")
    errors = _Errors()
    _check_inputs(inputs, "inputs", errors)
    for i, r in enumerate(blinds):
        if not _is_scalar(r):
            errors.add(f"blinds.{i}", _BAD_SCALAR)
    errors.raise_if_any()
    return _finalize_many(inputs, blinds, evaluated, "evaluated_elements")


def _finalize_many(inputs: Sequence[bytes], blinds: Sequence[bytes],
                   evaluated: Sequence[bytes], field: str | None) -> list[bytes]:
    """Inputs and blinds already checked; elements are checked here."""
    inverses = _invert_all(blinds)
    buf, mult, sha512 = _buffer(ELEMENT_BYTES), _scalarmult, hashlib.sha512
    suffix = _FINALIZE
    out: list[bytes] = []
    errors = _Errors()
    problem: str | None
    for i, (x, e) in enumerate(zip(inputs, evaluated)):
        if not errors.items:
            if isinstance(e, bytes) and len(e) == ELEMENT_BYTES and e[31] < 0x80 \
                    and mult(buf, inverses[i], e) == 0:
                out.append(sha512(len(x).to_bytes(2, "big") + x + _ELEMENT_LEN_PREFIX
                                  + buf.raw + suffix).digest())
                continue
            problem = _element_problem(e) or _UNUSABLE
        elif errors.full():
            break
        else:
            problem = _element_problem(e)
        if problem:
            errors.add(f"{field}.{i}" if field else "evaluated_element", problem)
    errors.raise_if_any()
    return out


__all__ = [
    "CONTEXT_STRING",
    "ELEMENT_BYTES",
    "GROUP_ORDER",
    "MAX_INPUT_BYTES",
    "MODE_OPRF",
    "OUTPUT_BYTES",
    "SCALAR_BYTES",
    "OprfKey",
    "blind",
    "blind_batch",
    "expand_message_xmd",
    "finalize",
    "finalize_batch",
    "hash_to_group",
    "hash_to_scalar",
]
