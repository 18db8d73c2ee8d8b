"""Writing one seed's data set: the CSV files, ``expected.json`` and the README."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from tools.synthetic.constants import DEFAULT_SEED, HOUSEHOLD_HEADER, MANUAL_HEADER, PERSON_HEADER
from tools.synthetic.readme import render_readme
from tools.synthetic.summary import SyntheticSummary
from tools.synthetic.world import World, build_world


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str | int]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def write_world(world: World, out_dir: Path) -> None:
    household_rows = [[m.household_id, m.member_id, *m.record.fields()]
                      for h in world.plan.households for m in h.members]
    _write_csv(out_dir / "households.csv", HOUSEHOLD_HEADER, household_rows)
    for relative, rows in world.files.items():
        _write_csv(out_dir / relative, PERSON_HEADER, [r.fields() for r in rows])
    _write_csv(out_dir / "manual.csv", MANUAL_HEADER, world.manual)
    (out_dir / "expected.json").write_text(world.summary.to_json(), encoding="utf-8")
    (out_dir / "README.md").write_text(render_readme(world), encoding="utf-8")


def generate(out_dir: Path, seed: int = DEFAULT_SEED) -> SyntheticSummary:
    """Write the synthetic Nijmegen data set for ``seed`` into ``out_dir``."""
    world = build_world(seed)
    write_world(world, Path(out_dir))
    return world.summary


__all__ = ["generate", "write_world"]
