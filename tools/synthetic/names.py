"""The name lists (``names.json``): common Dutch, Turkish, Moroccan, Surinamese, Antillean
and Polish names, given names per generation, and near-miss spellings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from tools.synthetic.constants import GenerationError


@dataclass(frozen=True, slots=True)
class Origin:
    """Names of one origin. Given names are listed per generation: ``(born_before, names)``."""

    code: str
    weight: int
    surnames: tuple[tuple[str, str], ...]  # (prefix, surname)
    male: tuple[tuple[int, tuple[str, ...]], ...]
    female: tuple[tuple[int, tuple[str, ...]], ...]
    max_given: int  # Dutch civil records often list three given names, Moroccan ones one


def _surname(item: str) -> tuple[str, str]:
    """``"van der|Berg"`` -> ``("van der", "Berg")``; ``"Jansen"`` -> ``("", "Jansen")``."""
    prefix, _, surname = item.rpartition("|")
    return prefix, surname


def _generations(items: list[list[Any]]) -> tuple[tuple[int, tuple[str, ...]], ...]:
    return tuple((int(born_before), tuple(str(names).split())) for born_before, names in items)


def _load() -> tuple[tuple[Origin, ...], dict[str, str]]:
    data = json.loads((Path(__file__).parent / "names.json").read_text(encoding="utf-8"))
    origins = tuple(Origin(o["code"], o["weight"], tuple(_surname(s) for s in o["surnames"]),
                           _generations(o["male"]), _generations(o["female"]), o["max_given"])
                    for o in data["origins"])
    return origins, dict(data["near_misses"])


ORIGINS, NEAR_MISSES = _load()
_BY_CODE = {o.code: o for o in ORIGINS}
DUTCH = _BY_CODE["nl"]
POLISH = _BY_CODE["pl"]


def feminine(surname: str, origin: Origin) -> str:
    """Polish surnames in -ski/-cki take the feminine form -ska/-cka."""
    if origin is POLISH and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


def given_name_list(origin: Origin, female: bool, born: date) -> tuple[str, ...]:
    for born_before, names in origin.female if female else origin.male:
        if born.year < born_before:
            return names
    raise GenerationError("given-name generations must end with an open upper bound")


__all__ = ["DUTCH", "NEAR_MISSES", "ORIGINS", "POLISH", "Origin"]
