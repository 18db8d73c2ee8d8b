"""RFC 9162 section 2.1 Merkle tree hashing, compact ranges and proofs.

The audit log is an append-only list of records. Publishing only the tree head (a size and
a root hash) lets anyone holding an older head check that the log was extended and not
rewritten (consistency proofs), and lets the owner of one record check that it is in the
log (inclusion proofs), without anyone seeing the other records.

Everything here works on *leaf hashes*: the caller hashes each record once with
``leaf_hash`` and keeps those 32-byte values. The module is pure: no I/O, no clocks, no
global state, so it can be tested exhaustively and reused by the service and by offline
verifiers alike.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import NewType

from hitmachine.core.errors import InvalidInput, InvalidProof

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "LeafHash",
    "RootHash",
    "consistency_proof",
    "root_from_consistency",
    "root_from_inclusion",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32

LeafHash = NewType("LeafHash", bytes)
RootHash = NewType("RootHash", bytes)

# The one-byte prefixes are RFC 9162's domain separation: without them an inner node
# could be passed off as a leaf (second-preimage attack on the tree).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256

EMPTY_ROOT = RootHash(_sha256(b"").digest())

# The byte length of a serialised tree size in CompactRange.to_bytes.
_SIZE_BYTES = 8


def leaf_hash(data: bytes) -> LeafHash:
    """MTH of a one-entry list: SHA-256(0x00 || data)."""
    return LeafHash(_sha256(_LEAF_PREFIX + data).digest())


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node: SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> RootHash:
    """The Merkle Tree Hash (MTH) of a list of leaf hashes; ``EMPTY_ROOT`` for none.

    Runs in O(n) time with one list per level and no recursion, so it copes with
    millions of leaves.
    """
    _check_hashes("leaf_hashes", leaf_hashes)
    if not leaf_hashes:
        return EMPTY_ROOT
    return RootHash(_reduce(list(leaf_hashes)))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int, size: int) -> list[bytes]:
    """RFC 9162 PATH(index, D[0:size]): the audit path of one leaf, lowest level first.

    Only the first ``size`` leaf hashes are used, so a proof can be made against any
    earlier tree head the log has published.
    """
    _check_tree_size("size", size, leaf_hashes)
    if not 0 <= index < size:
        raise InvalidInput("index", "must be at least 0 and below the tree size")
    # Walk from the top of the tree down to the leaf, noting the sibling subtree at each
    # split; the RFC lists the path bottom-up, hence the reversal at the end.
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        split = lo + _largest_power_of_two_below(hi - lo)
        if index < split:
            path.append(_range_root(leaf_hashes, split, hi))
            hi = split
        else:
            path.append(_range_root(leaf_hashes, lo, split))
            lo = split
    path.reverse()
    return path


def consistency_proof(leaf_hashes: Sequence[bytes], size1: int, size2: int) -> list[bytes]:
    """RFC 9162 PROOF(size1, D[0:size2]): shows the tree of size1 is a prefix of size2.

    ``size1`` must be at least 1: every tree extends the empty one, so such a proof
    would prove nothing, and verifiers (ours included) reject it.
    """
    _check_tree_size("size2", size2, leaf_hashes)
    if not 0 < size1 <= size2:
        raise InvalidInput("size1", "must be at least 1 and at most size2")
    # Iterative SUBPROOF(m, D[lo:hi], b): descend towards the end of the old tree,
    # collecting the sibling subtree at each split, then reverse into RFC order.
    proof: list[bytes] = []
    lo, hi = 0, size2
    old_tree_is_whole_subtree = True  # the RFC's flag b
    while size1 != hi:
        split = lo + _largest_power_of_two_below(hi - lo)
        if size1 <= split:
            proof.append(_range_root(leaf_hashes, split, hi))
            hi = split
        else:
            proof.append(_range_root(leaf_hashes, lo, split))
            lo = split
            old_tree_is_whole_subtree = False
    if not old_tree_is_whole_subtree:
        proof.append(_range_root(leaf_hashes, lo, hi))
    proof.reverse()
    return proof


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2); raise InvalidProof if it fails."""
    if not _same(root_from_inclusion(leaf_hash, index, size, proof), root):
        raise InvalidProof("the inclusion proof does not lead to the root hash")


def root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> RootHash:
    """The root an inclusion proof leads to, in O(log n): whoever made the proof from the
    leaf hashes gets the tree's root without hashing them all a second time."""
    if not 0 <= index < size:
        raise InvalidProof("the leaf index is not below the tree size")
    _require_hash(leaf_hash, "the leaf hash")
    _require_proof_hashes(proof)
    if len(proof) != _inclusion_proof_length(index, size):
        raise InvalidProof("the inclusion proof has the wrong length")
    return RootHash(_root_from_inclusion(leaf_hash, index, size, proof))


def root_from_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> RootHash:
    """The root of the tree of ``size2`` that a consistency proof leads to from ``root1``,
    in O(log n) (as ``root_from_inclusion``)."""
    if not 0 < size1 <= size2:
        raise InvalidProof("the tree sizes must satisfy 0 < size1 <= size2")
    _require_hash(root1, "the first root hash")
    if size1 == size2:
        if proof:
            raise InvalidProof("the proof between equal tree sizes must be empty")
        return RootHash(root1)
    _require_proof_hashes(proof)
    if len(proof) != _consistency_proof_length(size1, size2):
        raise InvalidProof("the consistency proof has the wrong length")
    old, new = _roots_from_consistency(size1, size2, proof, root1)
    if not _same(old, root1):
        raise InvalidProof("the consistency proof does not lead to the first root hash")
    return RootHash(new)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check a consistency proof (RFC 9162 section 2.1.4.2); raise InvalidProof if it fails.

    Rejects ``size1 == 0`` even for ``size2 == 0``, as the reference vectors we test
    against require: a "proof" from the empty tree carries no information.
    """
    if size1 < 0 or size1 > size2:
        raise InvalidProof("the first tree size is larger than the second")
    if size1 == 0:
        raise InvalidProof("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        # Roots are compared as given (any length) because equal heads need no hashing.
        if proof:
            raise InvalidProof("the proof between equal tree sizes must be empty")
        if not _same(root1, root2):
            raise InvalidProof("equal tree sizes with different root hashes")
        return
    _require_hash(root1, "the first root hash")
    _require_hash(root2, "the second root hash")
    _require_proof_hashes(proof)
    if len(proof) != _consistency_proof_length(size1, size2):
        raise InvalidProof("the consistency proof has the wrong length")
    old, new = _roots_from_consistency(size1, size2, proof, root1)
    if not (_same(old, root1) and _same(new, root2)):
        raise InvalidProof("the consistency proof does not lead to the root hashes")


class CompactRange:
    """The right edge of a growing tree: one subtree root per set bit of the size.

    A log that appends leaves one at a time needs the new root after every batch; keeping
    all leaf hashes in memory for that would be O(n). This keeps O(log n) hashes, the
    roots of the perfect subtrees the leaves so far decompose into (largest first), and
    can be saved with ``to_state``/``to_bytes`` and restored after a restart.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        """The number of leaves appended so far."""
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        """Add one leaf hash at the end of the tree."""
        _require_input_hash("leaf_hash", leaf_hash)
        self._push(leaf_hash)

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Add leaf hashes in order; all or nothing if one of them is malformed."""
        batch = list(leaf_hashes)
        _check_hashes("leaf_hashes", batch)
        # _push inlined: a million method calls would cost a third of the time.
        sha256, prefix = _sha256, _NODE_PREFIX
        hashes, size = self._hashes, self._size
        for carry in batch:
            n = size
            while n & 1:
                carry = sha256(prefix + hashes.pop() + carry).digest()
                n >>= 1
            hashes.append(carry)
            size += 1
        self._size = size

    def root(self) -> RootHash:
        """The root hash of the tree of all leaves appended so far."""
        if not self._hashes:
            return EMPTY_ROOT
        # The subtrees only merge at the root, smallest (rightmost) first: MTH splits
        # off the largest power of two on the left at every level.
        hashes = self._hashes
        acc = hashes[-1]
        for left in reversed(hashes[:-1]):
            acc = node_hash(left, acc)
        return RootHash(acc)

    def to_state(self) -> tuple[int, list[bytes]]:
        """The size and the subtree roots (largest first), for ``from_state``."""
        return self._size, list(self._hashes)

    @classmethod
    def from_state(cls, size: int, hashes: Sequence[bytes]) -> CompactRange:
        """Restore a range saved with ``to_state``; rejects states no tree can have."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput("size", "must be a non-negative integer")
        if len(hashes) != size.bit_count():
            raise InvalidInput("hashes", "must hold one hash per set bit of the size")
        _check_hashes("hashes", hashes)
        restored = cls()
        restored._size = size
        restored._hashes = [bytes(h) for h in hashes]
        return restored

    def to_bytes(self) -> bytes:
        """8-byte big-endian size followed by the subtree roots, largest first."""
        return self._size.to_bytes(_SIZE_BYTES, "big") + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> CompactRange:
        """Restore a range saved with ``to_bytes``."""
        if len(data) < _SIZE_BYTES:
            raise InvalidInput("state", "is too short")
        size = int.from_bytes(data[:_SIZE_BYTES], "big")
        body = data[_SIZE_BYTES:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise InvalidInput("state", "has the wrong length for its tree size")
        hashes = [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]
        return cls.from_state(size, hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"

    def _push(self, leaf_hash: bytes) -> None:
        # Like a binary counter: each trailing 1 bit of the old size is a perfect subtree
        # of the same height as the carry, so they merge before the carry is stored.
        carry = leaf_hash
        hashes = self._hashes
        n = self._size
        while n & 1:
            carry = _sha256(_NODE_PREFIX + hashes.pop() + carry).digest()
            n >>= 1
        hashes.append(carry)
        self._size += 1


def _reduce(level: list[bytes]) -> bytes:
    """The root of a non-empty list of hashes, one tree level per pass.

    Carrying an unpaired last node up a level unchanged builds exactly the tree that
    MTH's "largest power of two below n" split builds.
    """
    sha256, prefix = _sha256, _NODE_PREFIX
    while len(level) > 1:
        # zip over one iterator twice yields consecutive pairs without slicing copies;
        # it drops an odd last node, which is carried up just below.
        pairs = iter(level)
        nxt = [
            sha256(prefix + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _range_root(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH of leaf_hashes[lo:hi] (a non-empty range)."""
    return _reduce(list(leaf_hashes[lo:hi]))


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two strictly smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The RFC 9162 section 2.1.3.2 chaining loop, after the length has been checked."""
    fn, sn, acc = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            raise InvalidProof("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            acc = node_hash(sibling, acc)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            acc = node_hash(acc, sibling)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the inclusion proof is too short")
    return acc


def _roots_from_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """The RFC 9162 section 2.1.4.2 loop: the old and new roots the proof leads to."""
    # When the old tree is a perfect subtree its root is not repeated in the proof.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old = new = path[0]
    for item in path[1:]:
        if sn == 0:
            raise InvalidProof("the consistency proof is too long")
        if fn & 1 or fn == sn:
            old, new = node_hash(item, old), node_hash(item, new)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            new = node_hash(new, item)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InvalidProof("the consistency proof is too short")
    return old, new


def _inclusion_proof_length(index: int, size: int) -> int:
    """Hashes below the point where the paths to index and size-1 meet, plus the left
    siblings above it (one per set bit of what remains of the index)."""
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_length(size1: int, size2: int) -> int:
    """The inclusion path of leaf size1-1 in size2, minus the levels inside the largest
    perfect subtree ending at size1, plus that subtree's root unless it is the old tree."""
    shift = (size1 & -size1).bit_length() - 1  # trailing zero bits of size1
    seed_in_proof = 0 if size1 == 1 << shift else 1
    return seed_in_proof + _inclusion_proof_length(size1 - 1, size2) - shift


def _same(a: bytes, b: bytes) -> bool:
    # Constant time is not needed for public hashes, but costs nothing and ends the debate.
    return hmac.compare_digest(a, b)


def _require_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InvalidProof(f"{what} is not {HASH_SIZE} bytes long")


def _require_proof_hashes(proof: Sequence[bytes]) -> None:
    if any(not isinstance(item, bytes) or len(item) != HASH_SIZE for item in proof):
        raise InvalidProof(f"a proof hash is not {HASH_SIZE} bytes long")


def _require_input_hash(field: str, value: bytes) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InvalidInput(field, f"must be {HASH_SIZE} bytes")


def _check_hashes(field: str, hashes: Sequence[bytes]) -> None:
    """Reject anything but 32-byte ``bytes``: a short or text value would still hash,
    into a root nobody else can reproduce."""
    if not set(map(type, hashes)) <= {bytes} or not set(map(len, hashes)) <= {HASH_SIZE}:
        raise InvalidInput(field, f"every hash must be {HASH_SIZE} bytes")


def _check_tree_size(field: str, size: int, leaf_hashes: Sequence[bytes]) -> None:
    if not 0 <= size <= len(leaf_hashes):
        raise InvalidInput(field, "must be between 0 and the number of leaf hashes")
    _check_hashes("leaf_hashes", leaf_hashes if size == len(leaf_hashes) else leaf_hashes[:size])
