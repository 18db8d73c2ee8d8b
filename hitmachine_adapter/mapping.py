"""Mappings: how one agency's export or database describes its people.

A mapping is a small TOML file (see ``hitmachine_adapter/mappings/`` for the five shipped ones and
``hitmachine_adapter/README.md`` for the reference). It says where the BSN, the given names, the
prefix and surname (or one combined surname field) and the birth date are, how dates are
written, how the file is encoded and separated, which rows count (a filter, for example
only open cases), and for a database the query.

Loading checks everything up front and names the offending key, so that a typo in a mapping
fails the run before anything is read, let alone sent. ``RowReader`` then turns a source
row into the five parts ``normalise_identity`` takes, or says why it cannot: the reason
names a field, never its value.
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from hitmachine.core.errors import FieldError, InvalidInput
from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.names import expand_prefix, split_surname

MAPPINGS_DIR = Path(__file__).with_name("mappings")
FORMATS = ("csv", "tsv", "sql")
FIELDS = ("bsn", "given_names", "prefix", "surname", "full_surname", "date_of_birth")
PLAIN = "plain"
PLAIN_COLUMNS = ("bsn", "given_names", "prefix", "surname", "date_of_birth")
FILTERED = object()  # what RowReader.read returns for a row the filter leaves out
REFERENCE_CHARS = 64  # a reference is a case or client number: longer is cut


class MappingError(AdapterUsageError):
    """A mapping file that cannot be used (exit code 2)."""


@dataclass(frozen=True, slots=True)
class Filter:
    """Keep a row only if ``column`` satisfies the condition. Values are compared trimmed
    and case-insensitively; a missing or NULL value is the empty string."""

    column: str
    op: str                      # equals | in | not_in | empty
    values: frozenset[str] = frozenset()
    empty: bool = False

    def keeps(self, value: Any) -> bool:
        text = _filter_text(value)
        if self.op == "empty":
            return (text == "") == self.empty
        if self.op == "not_in":
            return text not in self.values
        return text in self.values

    def describe(self) -> str:
        if self.op == "empty":
            return f"{self.column} is {'empty' if self.empty else 'not empty'}"
        shown = ", ".join(sorted(self.values))
        return f"{self.column} {'not in' if self.op == 'not_in' else 'in'} [{shown}]"


@dataclass(frozen=True)
class Mapping:
    name: str
    description: str
    format: str
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str | None = '"'
    skip_lines: int = 0
    query: str | None = None
    # field -> candidate columns; the first non-empty one is used.
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    filters: tuple[Filter, ...] = ()
    agency: str | None = None
    path: Path | None = None
    # A column that identifies the row in the agency's own system (a client or case
    # number), shown in the rejects file so a clerk can find the row; never an identity
    # column. A database has no line numbers, and row positions change between runs.
    reference: str | None = None

    @property
    def is_sql(self) -> bool:
        return self.format == "sql"

    def needed_columns(self) -> list[str]:
        """Every source column the mapping reads, each once, in a fixed order."""
        seen: dict[str, None] = {}
        for name in FIELDS:
            for col in self.columns.get(name, ()):
                seen.setdefault(col, None)
        for flt in self.filters:
            seen.setdefault(flt.column, None)
        if self.reference is not None:
            seen.setdefault(self.reference, None)
        return list(seen)

    def describe(self) -> str:
        where = f" ({self.path})" if self.path else ""
        return f"{self.name}{where}: {self.description}"


# --------------------------------------------------------------------------- loading

def shipped_mappings() -> dict[str, Path]:
    return {p.stem: p for p in sorted(MAPPINGS_DIR.glob("*.toml"))}


def load_mapping(spec: str | Path) -> Mapping:
    """A mapping by file path, or by the name of a shipped one (``om``, ``plain``, ...)."""
    path = Path(spec)
    if not path.is_file():
        shipped = shipped_mappings()
        if str(spec) in shipped:
            path = shipped[str(spec)]
        else:
            raise MappingError(f"mapping {spec!s} is neither a file nor a shipped mapping "
                               f"({', '.join(shipped)})")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping {path} is not valid TOML: {exc}") from None
    return parse_mapping(doc, name=path.stem, path=path)


def parse_mapping(doc: dict[str, Any], *, name: str, path: Path | None = None) -> Mapping:
    where = str(path or name)

    def fail(key: str, message: str) -> MappingError:
        return MappingError(f"mapping {where}: {key} {message}")

    _only(doc, {"mapping", "source", "columns", "dates", "filter"}, "", fail)
    meta = _table(doc, "mapping", fail)
    _only(meta, {"description", "agency"}, "mapping.", fail)
    source = _table(doc, "source", fail)
    _only(source, {"format", "encoding", "delimiter", "quote", "skip_lines", "query"},
          "source.", fail)
    fmt = source.get("format")
    if fmt not in FORMATS:
        raise fail("source.format", f"must be one of {', '.join(FORMATS)}")
    encoding = _str(source, "encoding", "utf-8", "source.", fail)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise fail("source.encoding", "is not an encoding Python knows") from None
    default_delim = "\t" if fmt == "tsv" else ","
    delimiter = _str(source, "delimiter", default_delim, "source.", fail)
    if len(delimiter) != 1:
        raise fail("source.delimiter", "must be one character")
    quote: str | None = _str(source, "quote", "" if fmt == "tsv" else '"', "source.", fail)
    if quote is not None and len(quote) > 1:
        raise fail("source.quote", "must be one character, or empty for no quoting")
    quote = quote or None
    skip = source.get("skip_lines", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip <= 100:
        raise fail("source.skip_lines", "must be a whole number from 0 to 100")
    query = source.get("query")
    if fmt == "sql":
        if not isinstance(query, str) or not query.strip():
            raise fail("source.query", "is required for format sql")
    elif query is not None:
        raise fail("source.query", "is only for format sql")

    cols_doc = dict(_table(doc, "columns", fail))
    _only(cols_doc, {*FIELDS, "reference"}, "columns.", fail)
    reference = cols_doc.pop("reference", None)
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in cols_doc.items():
        names = [value] if isinstance(value, str) else value
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) and n.strip() for n in names)):
            raise fail(f"columns.{key}", "must be a column name or a list of them")
        columns[key] = tuple(n.strip() for n in names)
    if "full_surname" in columns and ({"surname", "prefix"} & columns.keys()):
        raise fail("columns.full_surname", "replaces surname and prefix; give one or the other")
    if "full_surname" not in columns and "surname" not in columns:
        raise fail("columns", "needs surname (or full_surname)")
    for required in ("given_names", "date_of_birth"):
        if required not in columns:
            raise fail("columns", f"needs {required}")
    if reference is not None:
        if not isinstance(reference, str) or not reference.strip():
            raise fail("columns.reference", "must be a column name")
        reference = reference.strip()
        identity = {c.casefold() for names in columns.values() for c in names}
        if reference.casefold() in identity:
            raise fail("columns.reference", "must not be a column the person is read from "
                                            "(the rejects file would show it)")

    dates = doc.get("dates", {})
    if not isinstance(dates, dict):
        raise fail("dates", "must be a table")
    _only(dates, {"formats"}, "dates.", fail)
    formats = dates.get("formats", ["%Y-%m-%d"])
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
        raise fail("dates.formats", "must be a list of date formats such as \"%d-%m-%Y\"")
    for f in formats:
        try:
            DateParser.compile(f)
        except ValueError as exc:
            raise fail("dates.formats", f"has {f!r}: {exc}") from None

    raw_filters = doc.get("filter", [])
    if not isinstance(raw_filters, list):
        raise fail("filter", "must be an array of tables ([[filter]])")
    filters = tuple(_filter(f, i, fail) for i, f in enumerate(raw_filters))
    agency = meta.get("agency")
    if agency is not None and not isinstance(agency, str):
        raise fail("mapping.agency", "must be a string")
    return Mapping(name=name, description=_str(meta, "description", "", "mapping.", fail),
                   format=fmt, encoding=encoding, delimiter=delimiter, quote=quote,
                   skip_lines=skip, query=query, columns=columns,
                   date_formats=tuple(formats), filters=filters, agency=agency, path=path,
                   reference=reference)


def _filter(doc: Any, i: int, fail: Any) -> Filter:
    key = f"filter[{i}]"
    if not isinstance(doc, dict):
        raise fail(key, "must be a table")
    _only(doc, {"column", "equals", "in", "not_in", "empty"}, f"{key}.", fail)
    column = doc.get("column")
    if not isinstance(column, str) or not column.strip():
        raise fail(f"{key}.column", "is required")
    ops = [op for op in ("equals", "in", "not_in", "empty") if op in doc]
    if len(ops) != 1:
        raise fail(key, "needs exactly one of equals, in, not_in, empty")
    op = ops[0]
    value = doc[op]
    if op == "empty":
        if not isinstance(value, bool):
            raise fail(f"{key}.empty", "must be true or false")
        return Filter(column.strip(), "empty", empty=value)
    values = [value] if op == "equals" else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise fail(f"{key}.{op}", "must be a string" if op == "equals" else "must be a list of strings")
    return Filter(column.strip(), "in" if op == "equals" else op,
                  frozenset(v.strip().casefold() for v in values))


def _only(doc: dict[str, Any], allowed: set[str], prefix: str, fail: Any) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise fail(prefix + unknown[0], f"is not a known key (known: {', '.join(sorted(allowed))})")


def _table(doc: dict[str, Any], key: str, fail: Any) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise fail(key, "is required (a [" + key + "] table)")
    return value


def _str(doc: dict[str, Any], key: str, default: str, prefix: str, fail: Any) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise fail(prefix + key, "must be a string")
    return value


def _filter_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value).strip().casefold()


# --------------------------------------------------------------------------- dates

_DIRECTIVES = {
    "d": r"(?P<d>\d{1,2})", "m": r"(?P<m>\d{1,2})", "Y": r"(?P<Y>\d{4})",
    "H": r"\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "f": r"\d{1,9}",
}


class DateParser:
    """Birth dates written as the mapping's formats say: ``%d``, ``%m``, ``%Y`` and literal
    characters (``%H``, ``%M``, ``%S``, ``%f`` allow a time part, which is ignored).
    Two-digit years are refused: "01-02-03" is no birth date anyone can trust."""

    def __init__(self, formats: Sequence[str]) -> None:
        self.formats = tuple(formats)
        self._patterns = [self.compile(f) for f in formats]
        self.parse = lru_cache(maxsize=65536)(self._parse)

    @staticmethod
    def compile(fmt: str) -> re.Pattern[str]:
        tokens: list[tuple[bool, str]] = []   # (is a directive, directive letter or literal)
        i = 0
        seen: set[str] = set()
        while i < len(fmt):
            ch = fmt[i]
            if ch == "%":
                if i + 1 >= len(fmt):
                    raise ValueError("ends with a lone %")
                d = fmt[i + 1]
                if d == "y":
                    raise ValueError("two-digit years (%y) are ambiguous for birth dates; use %Y")
                if d not in _DIRECTIVES:
                    raise ValueError(f"%{d} is not supported (use %d, %m, %Y and literals)")
                if d in seen and d in "dmY":
                    raise ValueError(f"%{d} appears twice")
                seen.add(d)
                tokens.append((d != "%", d))
                i += 2
            else:
                tokens.append((False, ch))
                i += 1
        if not {"d", "m", "Y"} <= seen:
            raise ValueError("needs %d, %m and %Y")
        # Digits run together ("%Y%m%d": 19820310) only parse unambiguously at fixed widths.
        packed = any(a[0] and b[0] for a, b in pairwise(tokens))
        out = []
        for is_directive, value in tokens:
            if not is_directive:
                out.append(r"\s+" if value == " " else re.escape(value if value != "%" else "%"))
            elif packed and value in "dmHMS":
                out.append(_DIRECTIVES[value].replace(r"\d{1,2}", r"\d{2}"))
            else:
                out.append(_DIRECTIVES[value])
        return re.compile("".join(out))

    def _parse(self, text: str) -> dt.date:
        for pattern in self._patterns:
            m = pattern.fullmatch(text)
            if m is not None:
                try:
                    return dt.date(int(m["Y"]), int(m["m"]), int(m["d"]))
                except ValueError:
                    raise InvalidInput("date_of_birth", "is not an existing date") from None
        shown = " or ".join(f.replace("%d", "dd").replace("%m", "mm").replace("%Y", "jjjj")
                            for f in self.formats)
        raise InvalidInput("date_of_birth", f"is not a date as the mapping says ({shown})")


# --------------------------------------------------------------------------- rows

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


__all__ = ["FIELDS", "FILTERED", "FORMATS", "MAPPINGS_DIR", "PLAIN", "PLAIN_COLUMNS",
           "DateParser", "Filter", "Mapping", "MappingError", "Person", "RowReader",
           "load_mapping", "parse_mapping", "shipped_mappings"]
