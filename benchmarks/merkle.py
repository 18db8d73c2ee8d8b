"""The Merkle tree's cost at scale, in one process and without a database.

    .venv/bin/python benchmarks/merkle.py [--leaves 1000000]

Prints the seconds for: ``root()`` over all leaves; ``CompactRange.extend`` with all of
them (what the integrator does, batch by batch); one inclusion proof and one consistency
proof against the whole tree (what ``GET /v1/audit/proof/...`` computes after reading every
leaf hash up to the tree size: O(n) per request, see docs/audit-log.md). Moved here from
tests/core/test_merkle.py, which keeps the correctness check at this scale.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hitmachine.core.auditlog.merkle import (
    CompactRange,
    consistency_proof,
    inclusion_proof,
    root,
    verify_inclusion,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    n = parser.parse_args().leaves
    print(f"{n:,} leaves, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    leaves = [os.urandom(32) for _ in range(n)]

    started = time.perf_counter()
    expected = root(leaves)
    print(f"root():                  {time.perf_counter() - started:7.3f} s")

    compact = CompactRange()
    started = time.perf_counter()
    compact.extend(leaves)
    print(f"CompactRange.extend:     {time.perf_counter() - started:7.3f} s")
    assert compact.root() == expected

    index = n * 3 // 4
    started = time.perf_counter()
    proof = inclusion_proof(leaves, index, n)
    print(f"inclusion proof:         {time.perf_counter() - started:7.3f} s")
    verify_inclusion(leaves[index], index, n, proof, expected)

    started = time.perf_counter()
    consistency_proof(leaves, n // 2 + 1, n)
    print(f"consistency proof:       {time.perf_counter() - started:7.3f} s")


if __name__ == "__main__":
    main()
