"""When does an index entry match a query subject?

Their BSN pseudonyms are equal; or, when either side has no BSN, their name-key
pseudonyms are equal. Two *different* BSNs never match, even with equal names and birth
dates: a name key is a fallback for missing BSNs, not a second chance for a mismatch.
Pseudonyms are only comparable under the same key version.

A match also says whether the agency's own data confirm the birth date the query gives:
a name-key match does (the name key holds the birth date), a BSN match only when the
agency published the (BSN, birth date) pseudonym and it equals the query's. The age rules
count a birth date only when it is so confirmed (``domain.policy``), never on the asker's
word alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from hitmachine.core.pseudonym.base import PseudonymSet

Basis = Literal["bsn", "name_birthdate"]


@dataclass(frozen=True, slots=True)
class Entry:
    """A person as one agency knows them, in pseudonyms only."""

    agency: str
    key_version: int
    bsn: bytes | None
    name: bytes | None
    bsn_birth: bytes | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """How one agency knows the subject: the basis, and whether its data confirm the
    subject's birth date."""

    basis: Basis
    birth_verified: bool

    def rank(self) -> tuple[bool, bool]:
        return (self.birth_verified, self.basis == "bsn")


def match_basis(subject: PseudonymSet, entry: Entry) -> Basis | None:
    if subject.key_version != entry.key_version:
        return None
    if subject.bsn is not None and entry.bsn is not None:
        return "bsn" if subject.bsn == entry.bsn else None
    if subject.name is not None and entry.name is not None and subject.name == entry.name:
        return "name_birthdate"
    return None


def match_entry(subject: PseudonymSet, entry: Entry) -> Match | None:
    basis = match_basis(subject, entry)
    if basis is None:
        return None
    verified = basis == "name_birthdate" or (
        subject.bsn_birth is not None and entry.bsn_birth == subject.bsn_birth)
    return Match(basis, verified)


def match_verified(subject: Mapping[int, PseudonymSet], entries: Iterable[Entry]
                   ) -> dict[str, Match]:
    """Agency code -> its strongest match: a confirmed birth date first (the age rules need
    it), then a BSN before a name key."""
    hits: dict[str, Match] = {}
    for entry in entries:
        pseudonyms = subject.get(entry.key_version)
        if pseudonyms is None:
            continue
        found = match_entry(pseudonyms, entry)
        if found is None:
            continue
        seen = hits.get(entry.agency)
        if seen is None or found.rank() > seen.rank():
            hits[entry.agency] = found
    return hits


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


__all__ = ["Basis", "Entry", "Match", "match_basis", "match_entry", "match_subject",
           "match_verified"]
