"""Turning a source row into the five parts ``normalise_identity`` takes (a ``Person``),
as a mapping says, or saying why it cannot: the reason names a field, never its value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from hitmachine.core.errors import FieldError, InvalidInput
from hitmachine_adapter.dates import DateParser
from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.mapping import FIELDS, Mapping
from hitmachine_adapter.names import expand_prefix, split_surname

# What a source yields: the 1-based record number, the file line it starts on (None for a
# database), and the needed columns' values in ``Mapping.needed_columns()`` order, or why
# the record is unusable.
Row = tuple[int, int | None, tuple[Any, ...] | str]
FILTERED = object()  # what RowReader.read returns for a row the filter leaves out
REFERENCE_CHARS = 64  # a reference is a case or client number: longer is cut


@dataclass(frozen=True, slots=True)
class Person:
    bsn: str | None
    given_names: str | None
    prefix: str | None
    surname: str | None
    date_of_birth: dt.date | str | None


class RowReader:
    """Turns a tuple of the mapping's ``needed_columns()`` values into a ``Person``, or
    ``FILTERED``, or raises ``InvalidInput`` naming every field that cannot be used."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        needed = mapping.needed_columns()
        position = {c: i for i, c in enumerate(needed)}
        where = {f: tuple(position[c] for c in mapping.columns.get(f, ())) for f in FIELDS}
        self._where = where
        self._filters = tuple((position[f.column], f) for f in mapping.filters)
        self._reference = None if mapping.reference is None else position[mapping.reference]
        self._dates = DateParser(mapping.date_formats)
        self._encoding = mapping.encoding
        self._full = bool(where["full_surname"])
        self._plan = (where["bsn"], where["given_names"], where["prefix"], where["surname"],
                      where["full_surname"], where["date_of_birth"])
        # Prefixes and combined surnames repeat a lot: remember their readings.
        self._expand_prefix = lru_cache(maxsize=4096)(expand_prefix)
        self._split_surname = lru_cache(maxsize=65536)(split_surname)

    def _text(self, values: Sequence[Any], where: tuple[int, ...], fieldname: str) -> str | None:
        """The first non-empty value of the field's columns, trimmed, as text."""
        for i in where:
            v = values[i]
            if v is None:
                continue
            v = v.strip() if v.__class__ is str else _as_text(v).strip()
            if not v:
                continue
            if "\ufffd" in v:
                raise InvalidInput(fieldname, f"is not valid {self._encoding} text")
            return v
        return None

    def _birth(self, values: Sequence[Any], where: tuple[int, ...]) -> dt.date | None:
        for i in where:
            v = values[i]
            if isinstance(v, dt.datetime):
                return v.date()
            if isinstance(v, dt.date):
                return v
        text = self._text(values, where, "date_of_birth")
        return None if text is None else self._dates.parse(text)

    def reference(self, values: Sequence[Any]) -> str | None:
        """The row's reference (the mapping's ``reference`` column) for the rejects file."""
        if self._reference is None or values[self._reference] is None:
            return None
        text = " ".join(_as_text(values[self._reference]).split())
        return text[:REFERENCE_CHARS] or None

    def read(self, values: Sequence[Any]) -> Person | object:
        for i, flt in self._filters:
            if not flt.keeps(values[i]):
                return FILTERED
        bsn_at, given_at, prefix_at, surname_at, full_at, birth_at = self._plan
        try:
            bsn = self._text(values, bsn_at, "bsn")
            given = self._text(values, given_at, "given_names")
            if self._full:
                prefix, surname = self._split_surname(self._text(values, full_at, "surname"))
            else:
                prefix = self._text(values, prefix_at, "prefix")
                if prefix is not None:
                    prefix = self._expand_prefix(prefix)
                surname = self._text(values, surname_at, "surname")
            return Person(bsn, given, prefix, surname, self._birth(values, birth_at))
        except InvalidInput:
            pass
        # Something is wrong: read again, collecting every problem for the rejects file.
        errors: list[FieldError] = []

        def attempt(fn: Any, *args: Any) -> Any:
            try:
                return fn(*args)
            except InvalidInput as exc:
                errors.extend(exc.errors)
                return None

        attempt(self._text, values, bsn_at, "bsn")
        attempt(self._text, values, given_at, "given_names")
        if self._full:
            full = attempt(self._text, values, full_at, "surname")
            if full is not None:
                attempt(split_surname, full)
        else:
            attempt(self._text, values, prefix_at, "prefix")
            attempt(self._text, values, surname_at, "surname")
        attempt(self._birth, values, birth_at)
        raise InvalidInput.many(errors)


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    if isinstance(value, bytes):
        return value.decode("ascii", errors="replace")
    return str(value).strip()


def locate(columns: list[str], mapping: Mapping, where: str) -> list[int]:
    """Index of each needed column in the header (trimmed, case-insensitive)."""
    folded: dict[str, list[int]] = {}
    for i, name in enumerate(columns):
        folded.setdefault(name.strip().casefold(), []).append(i)
    out, missing, ambiguous = [], [], []
    for name in mapping.needed_columns():
        found = folded.get(name.casefold(), [])
        if not found:
            missing.append(name)
        elif len(found) > 1:
            ambiguous.append(name)
        else:
            out.append(found[0])
    if missing:
        raise AdapterUsageError(f"{where} lacks column(s) {', '.join(missing)} that mapping "
                                f"{mapping.name} reads (it has: {', '.join(columns)})")
    if ambiguous:
        raise AdapterUsageError(f"{where} has more than one column named "
                                f"{', '.join(ambiguous)}")
    return out


__all__ = ["FILTERED", "REFERENCE_CHARS", "Person", "Row", "RowReader", "locate"]
