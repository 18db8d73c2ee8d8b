"""When does an index entry match a query subject?

Their BSN pseudonyms are equal; or, when either side has no BSN, their name-key
pseudonyms are equal. Two *different* BSNs never match, even with equal names and birth
dates: a name key is a fallback for missing BSNs, not a second chance for a mismatch.
Pseudonyms are only comparable under the same key version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from hitmachine.domain.pseudonym import PseudonymSet

Basis = Literal["bsn", "name_birthdate"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A person as one agency knows them, in pseudonyms only."""

    agency: str
    key_version: int
    bsn: bytes | None
    name: bytes | None


def match_basis(subject: PseudonymSet, entry: Entry) -> Basis | None:
    if subject.key_version != entry.key_version:
        return None
    if subject.bsn is not None and entry.bsn is not None:
        return "bsn" if subject.bsn == entry.bsn else None
    if subject.name is not None and entry.name is not None and subject.name == entry.name:
        return "name_birthdate"
    return None


def match_subject(subject: Mapping[int, PseudonymSet], entries: Iterable[Entry]) -> dict[str, Basis]:
    """Agency code -> the strongest basis on which that agency knows the subject."""
    hits: dict[str, Basis] = {}
    for entry in entries:
        pseudonyms = subject.get(entry.key_version)
        if pseudonyms is None:
            continue
        basis = match_basis(pseudonyms, entry)
        if basis is not None and hits.get(entry.agency) != "bsn":
            hits[entry.agency] = basis
    return hits


__all__ = ["Basis", "Entry", "match_basis", "match_subject"]
