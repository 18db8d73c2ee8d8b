"""The command line: ``python -m tools.synthetic --out DIR [--seed N]``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tools.synthetic.constants import DEFAULT_SEED
from tools.synthetic.write import generate


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.synthetic",
        description="Generate the synthetic Nijmegen replay data set.")
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default {DEFAULT_SEED})")
    args = parser.parse_args(argv)
    summary = generate(args.out, args.seed)
    print(f"{summary.households} households, {summary.individuals} individuals, "
          f"{summary.households_without_hits} without a hit -> {args.out}")
    return 0


__all__ = ["main"]
