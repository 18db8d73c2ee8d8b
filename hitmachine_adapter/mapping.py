"""Mappings: how one agency's export or database describes its people.

A mapping is a small TOML file (see ``hitmachine_adapter/mappings/`` for the five shipped ones and
``hitmachine_adapter/README.md`` for the reference). It says where the BSN, the given names, the
prefix and surname (or one combined surname field) and the birth date are, how dates are
written, how the file is encoded and separated, which rows count (a filter, for example
only open cases), and for a database the query.

Loading checks everything up front and names the offending key, so that a typo in a mapping
fails the run before anything is read, let alone sent. ``RowReader``
(``hitmachine_adapter.rows``) then turns a source row into the five parts
``normalise_identity`` takes, or says why it cannot: the reason names a field, never its
value.
"""

from __future__ import annotations

import codecs
import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hitmachine_adapter.dates import DateParser
from hitmachine_adapter.errors import AdapterUsageError

MAPPINGS_DIR = Path(__file__).with_name("mappings")
FORMATS = ("csv", "tsv", "sql")
FIELDS = ("bsn", "given_names", "prefix", "surname", "full_surname", "date_of_birth")
PLAIN = "plain"
PLAIN_COLUMNS = ("bsn", "given_names", "prefix", "surname", "date_of_birth")


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


__all__ = ["FIELDS", "FORMATS", "MAPPINGS_DIR", "PLAIN", "PLAIN_COLUMNS", "Filter", "Mapping",
           "MappingError", "load_mapping", "parse_mapping", "shipped_mappings"]
