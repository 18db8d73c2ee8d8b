"""Tests of hitmachine.core.auditlog.merkle against RFC 9162 and the transparency-dev vectors.

Three independent sources of truth: the public vectors (tests/data/merkle-vectors, copied from transparency-dev/merkle),
the published roots of the classic 8-leaf tree, and a literal recursive transcription of
the RFC definitions (MTH, PATH, PROOF) written here, compared on random trees.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hitmachine.core.auditlog.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_consistency,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)
from hitmachine.core.errors import InvalidInput, InvalidProof

VECTORS = Path(__file__).resolve().parents[1] / "data" / "merkle-vectors"
REQUIRE_VECTORS = os.environ.get("HITMACHINE_REQUIRE_VECTORS") == "1"

# The leaf data of the RFC 6962 / transparency-dev test tree and its published roots.
CLASSIC_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]
CLASSIC_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CLASSIC_HASHES = [leaf_hash(d) for d in CLASSIC_LEAVES]


# --- reference implementation: the RFC 9162 definitions, transcribed literally ------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]  # already a leaf hash
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


# --- vectors --------------------------------------------------------------------------------


def _vector_params(kind: str) -> list[Any]:
    folder = VECTORS / kind
    files = sorted(folder.rglob("*.json")) if folder.is_dir() else []
    if not files:
        return [pytest.param(None, id=f"{kind}-vectors-missing")]
    return [pytest.param(f, id=str(f.relative_to(folder))) for f in files]


def _load(path: Path | None) -> dict[str, Any]:
    if path is None:
        reason = f"Merkle test vectors not found in {VECTORS}"
        if REQUIRE_VECTORS:
            pytest.fail(reason + " (HITMACHINE_REQUIRE_VECTORS=1)")
        pytest.skip(reason)
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _proof(vector: dict[str, Any]) -> list[bytes]:
    return [_b64(p) for p in vector["proof"] or []]


def _accepts(check: Any, *args: Any) -> bool:
    try:
        check(*args)
    except InvalidProof:
        return False
    return True


@pytest.mark.parametrize("path", _vector_params("inclusion"))
def test_inclusion_vector(path: Path | None) -> None:
    v = _load(path)
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], _proof(v), _b64(v["root"]))
    assert _accepts(verify_inclusion, *args) is not v["wantErr"], v["desc"]


@pytest.mark.parametrize("path", _vector_params("consistency"))
def test_consistency_vector(path: Path | None) -> None:
    v = _load(path)
    args = (v["size1"], v["size2"], _proof(v), _b64(v["root1"]), _b64(v["root2"]))
    assert _accepts(verify_consistency, *args) is not v["wantErr"], v["desc"]


def _is_classic_root(value: str, size: int) -> bool:
    return 0 < size <= 8 and _b64(value) == bytes.fromhex(CLASSIC_ROOTS[size - 1])


def _classic_happy_paths(kind: str) -> list[Any]:
    """The valid vectors about the classic tree (the others have made-up hashes)."""
    params = _vector_params(kind)
    if params[0].values[0] is None:
        return params
    chosen = []
    for param in params:
        v = json.loads(param.values[0].read_text(encoding="utf-8"))
        size, top = (v["treeSize"], v["root"]) if kind == "inclusion" else (v["size2"], v["root2"])
        if not v["wantErr"] and _is_classic_root(top, size):
            chosen.append(param)
    return chosen


@pytest.mark.parametrize("path", _classic_happy_paths("inclusion"))
def test_inclusion_happy_paths_are_what_we_generate(path: Path | None) -> None:
    """Where a valid vector is about the classic tree, our prover emits the same proof."""
    v = _load(path)
    assert inclusion_proof(CLASSIC_HASHES, v["leafIdx"], v["treeSize"]) == _proof(v)


@pytest.mark.parametrize("path", _classic_happy_paths("consistency"))
def test_consistency_happy_paths_are_what_we_generate(path: Path | None) -> None:
    v = _load(path)
    assert consistency_proof(CLASSIC_HASHES, v["size1"], v["size2"]) == _proof(v)


def test_vectors_include_accepted_and_rejected_cases() -> None:
    """Guards against a vacuous pass, e.g. a verifier that rejects everything."""
    if not VECTORS.is_dir():
        _load(None)
    wanted = [json.loads(p.read_text(encoding="utf-8"))["wantErr"] for p in VECTORS.rglob("*.json")]
    assert wanted.count(False) >= 10
    assert wanted.count(True) >= 150


# --- classic tree ---------------------------------------------------------------------------


def test_classic_roots() -> None:
    for size in range(1, 9):
        assert root(CLASSIC_HASHES[:size]).hex() == CLASSIC_ROOTS[size - 1]


def test_classic_roots_by_compact_range() -> None:
    compact = CompactRange()
    for size, item in enumerate(CLASSIC_HASHES, start=1):
        compact.append(item)
        assert compact.root().hex() == CLASSIC_ROOTS[size - 1]


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()


def test_rfc_9162_example_proofs() -> None:
    """The seven-leaf examples of RFC 9162 section 2.1.5, by the node names used there."""
    d = CLASSIC_HASHES[:7]
    a, b, c, dd, e, f, j = d[0], d[1], d[2], d[3], d[4], d[5], d[6]
    g, h, i = node_hash(a, b), node_hash(c, dd), node_hash(e, f)
    k, l_ = node_hash(g, h), node_hash(i, j)
    assert inclusion_proof(d, 0, 7) == [b, h, l_]  # audit path for a
    assert inclusion_proof(d, 3, 7) == [c, g, l_]  # for d
    assert inclusion_proof(d, 4, 7) == [f, j, k]  # for e
    assert inclusion_proof(d, 6, 7) == [i, k]  # for j
    assert consistency_proof(d, 3, 7) == [c, dd, g, l_]
    assert consistency_proof(d, 4, 7) == [l_]
    assert consistency_proof(d, 6, 7) == [i, j, k]


# --- argument checking ----------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(-1, 3), (3, 3), (0, 0), (0, 9)])
def test_inclusion_proof_rejects_bad_arguments(index: int, size: int) -> None:
    with pytest.raises(InvalidInput):
        inclusion_proof(CLASSIC_HASHES, index, size)


@pytest.mark.parametrize(("size1", "size2"), [(0, 3), (4, 3), (-1, 3), (1, 9)])
def test_consistency_proof_rejects_bad_arguments(size1: int, size2: int) -> None:
    with pytest.raises(InvalidInput):
        consistency_proof(CLASSIC_HASHES, size1, size2)


def test_equal_sizes_give_an_empty_consistency_proof() -> None:
    assert consistency_proof(CLASSIC_HASHES, 5, 5) == []
    verify_consistency(5, 5, [], root(CLASSIC_HASHES[:5]), root(CLASSIC_HASHES[:5]))


@pytest.mark.parametrize("bad", [b"short", "x" * 32, b"\x00" * 33])
def test_malformed_leaf_hashes_are_refused(bad: Any) -> None:
    with pytest.raises(InvalidInput):
        root([CLASSIC_HASHES[0], bad])
    with pytest.raises(InvalidInput):
        CompactRange().append(bad)


def test_extend_is_all_or_nothing() -> None:
    compact = CompactRange()
    with pytest.raises(InvalidInput):
        compact.extend([CLASSIC_HASHES[0], b"short"])
    assert compact.size == 0


def test_verifiers_reject_malformed_hashes() -> None:
    proof = inclusion_proof(CLASSIC_HASHES, 2, 8)
    top = root(CLASSIC_HASHES)
    with pytest.raises(InvalidProof):
        verify_inclusion(CLASSIC_HASHES[2][:31], 2, 8, proof, top)
    with pytest.raises(InvalidProof):
        verify_inclusion(CLASSIC_HASHES[2], 2, 8, [*proof[:-1], proof[-1] + b"\x00"], top)
    with pytest.raises(InvalidProof):
        verify_inclusion(CLASSIC_HASHES[2], 2, 8, [*proof, proof[0]], top)


def test_compact_range_state_is_validated() -> None:
    with pytest.raises(InvalidInput):
        CompactRange.from_state(3, [CLASSIC_HASHES[0]])  # 3 has two set bits
    with pytest.raises(InvalidInput):
        CompactRange.from_state(-1, [])
    with pytest.raises(InvalidInput):
        CompactRange.from_state(1, [b"short"])
    with pytest.raises(InvalidInput):
        CompactRange.from_bytes(b"\x00" * 7)
    with pytest.raises(InvalidInput):
        CompactRange.from_bytes((3).to_bytes(8, "big") + b"\x00" * 32)


# --- properties -----------------------------------------------------------------------------

hashes32 = st.binary(min_size=32, max_size=32)
leaf_lists = st.lists(hashes32, min_size=1, max_size=70)


@given(leaf_lists)
def test_root_matches_rfc_definition(leaves: list[bytes]) -> None:
    assert root(leaves) == ref_mth(leaves)


@given(leaf_lists)
def test_compact_range_matches_root_for_every_prefix(leaves: list[bytes]) -> None:
    compact = CompactRange()
    assert compact.root() == root([])
    for size, item in enumerate(leaves, start=1):
        compact.append(item)
        assert compact.size == size
        assert compact.root() == root(leaves[:size])
    batched = CompactRange()
    batched.extend(leaves)
    assert batched == compact


@given(leaf_lists, st.data())
def test_compact_range_survives_a_restart(leaves: list[bytes], data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(leaves)))
    first = CompactRange()
    first.extend(leaves[:cut])
    size, hashes = first.to_state()
    by_state = CompactRange.from_state(size, hashes)
    by_bytes = CompactRange.from_bytes(first.to_bytes())
    for restored in (by_state, by_bytes):
        assert restored == first
        restored.extend(leaves[cut:])
        assert restored.root() == root(leaves)


@given(leaf_lists, st.data())
def test_every_inclusion_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(leaves)))
    head = root(leaves[:size])
    for index in range(size):
        proof = inclusion_proof(leaves, index, size)
        assert proof == ref_path(index, leaves[:size])
        verify_inclusion(leaves[index], index, size, proof, head)


@given(leaf_lists, st.data())
def test_every_consistency_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    size2 = data.draw(st.integers(1, len(leaves)))
    head2 = root(leaves[:size2])
    for size1 in range(1, size2 + 1):
        proof = consistency_proof(leaves, size1, size2)
        assert proof == ref_subproof(size1, leaves[:size2], True)
        verify_consistency(size1, size2, proof, root(leaves[:size1]), head2)


def _flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@given(leaf_lists, st.data())
def test_inclusion_fails_on_any_flipped_bit(leaves: list[bytes], data: st.DataObject) -> None:
    size = len(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(leaves, index, size)
    head = root(leaves)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(InvalidProof):
        verify_inclusion(_flip(leaves[index], bit), index, size, proof, head)
    with pytest.raises(InvalidProof):
        verify_inclusion(leaves[index], index, size, proof, _flip(head, bit))
    if proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:at], _flip(proof[at], bit), *proof[at + 1 :]]
        with pytest.raises(InvalidProof):
            verify_inclusion(leaves[index], index, size, bad, head)


@given(st.lists(hashes32, min_size=2, max_size=70, unique=True), st.data())
def test_inclusion_fails_for_another_index(leaves: list[bytes], data: st.DataObject) -> None:
    index, other = data.draw(st.permutations(range(len(leaves))))[:2]
    proof = inclusion_proof(leaves, index, len(leaves))
    with pytest.raises(InvalidProof):
        verify_inclusion(leaves[index], other, len(leaves), proof, root(leaves))


@given(st.lists(hashes32, min_size=2, max_size=70), st.data())
def test_consistency_fails_on_any_flipped_bit(leaves: list[bytes], data: st.DataObject) -> None:
    size2 = len(leaves)
    size1 = data.draw(st.integers(1, size2 - 1))
    proof = consistency_proof(leaves, size1, size2)
    root1, root2 = root(leaves[:size1]), root(leaves)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, proof, _flip(root1, bit), root2)
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, proof, root1, _flip(root2, bit))
    at = data.draw(st.integers(0, len(proof) - 1))
    bad = [*proof[:at], _flip(proof[at], bit), *proof[at + 1 :]]
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, bad, root1, root2)
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, proof[:-1], root1, root2)
    with pytest.raises(InvalidProof):
        verify_consistency(size1, size2, [*proof, proof[0]], root1, root2)


# --- roots from proofs ----------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=40), st.data())
def test_the_roots_that_proofs_lead_to_are_the_tree_roots(size: int, data: st.DataObject) -> None:
    leaves = [hashlib.sha256(bytes([i])).digest() for i in range(size)]
    whole = root(leaves)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    path = inclusion_proof(leaves, index, size)
    assert root_from_inclusion(leaves[index], index, size, path) == whole
    size1 = data.draw(st.integers(min_value=1, max_value=size))
    first = root(leaves[:size1])
    assert root_from_consistency(size1, size, consistency_proof(leaves, size1, size),
                                 first) == whole
    if size1 < size:  # from a root that is not the first tree's: refused, or not the root
        try:
            wrong = root_from_consistency(size1, size, consistency_proof(leaves, size1, size),
                                          whole)
        except InvalidProof:
            pass
        else:
            assert wrong != whole


# --- scale ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_million_leaves() -> None:
    """Correctness at scale; the timings are printed by ``benchmarks/merkle.py``."""
    leaves = [os.urandom(32) for _ in range(1_000_000)]
    expected = root(leaves)
    compact = CompactRange()
    compact.extend(leaves)
    assert compact.root() == expected
    proof = inclusion_proof(leaves, 765_432, len(leaves))
    verify_inclusion(leaves[765_432], 765_432, len(leaves), proof, expected)
