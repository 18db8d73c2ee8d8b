"""Reading an agency's people, one row at a time: memory stays flat for any size.

Two kinds of source, both described by a mapping (``hitmachine_adapter.mapping``):

- a CSV or TSV file, in the mapping's encoding, delimiter and quoting, streamed;
- any database SQLAlchemy can reach (``postgresql+psycopg://...``, ``sqlite:///...``,
  ``mssql+pyodbc://...`` with its driver installed), with the mapping's query, streamed
  through a server-side cursor in a read-only transaction (``hitmachine_adapter.sql_source``).

Opening a source checks that every column the mapping needs is there, before anything is
read or sent. ``rows()`` then yields ``(row, line, values)``: the 1-based record number
(the first record after the header is 1), the file line it starts on (None for a
database), and the needed columns' values in ``Mapping.needed_columns()`` order, or a
string saying why the record is unusable (never quoting it).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.mapping import PLAIN_COLUMNS, Mapping, load_mapping
from hitmachine_adapter.rows import Row, locate
from hitmachine_adapter.sql_source import SqlSource


class Source(Protocol):
    description: str
    @property
    def total(self) -> int | None: ...  # bytes of a file; None for a database

    def rows(self) -> Iterator[Row]: ...

    def position(self) -> int: ...  # bytes read so far (file) or rows read (database)

    def close(self) -> None: ...


def is_database_url(spec: str | Path) -> bool:
    return "://" in str(spec)


def open_source(spec: str | Path, mapping: Mapping) -> Source:
    if is_database_url(spec):
        if not mapping.is_sql:
            raise AdapterUsageError(f"the source is a database URL, but mapping {mapping.name} "
                                    f"describes a {mapping.format} file")
        return SqlSource(str(spec), mapping)
    if mapping.is_sql:
        raise AdapterUsageError(f"mapping {mapping.name} reads a database (format sql); "
                                "give --source as a SQLAlchemy URL")
    return CsvSource(Path(spec), mapping)


@dataclass(frozen=True)
class CsvLayout:
    """How to read a CSV file's data records (picklable: workers parse blocks with it)."""

    encoding: str            # for the data (a UTF-8 byte-order mark is dealt with up front)
    delimiter: str
    quote: str | None
    width: int               # fields in the header
    where: tuple[int, ...]   # positions of the needed columns
    description: str

    def reader(self, lines: Iterable[str]) -> Any:
        if self.quote is None:
            return csv.reader(lines, delimiter=self.delimiter, quoting=csv.QUOTE_NONE)
        return csv.reader(lines, delimiter=self.delimiter, quotechar=self.quote)

    def rows(self, lines: Iterable[str], first_line: int, counter: list[int]) -> Iterator[Row]:
        """Rows from data records. ``first_line`` is the file line ``lines`` starts on;
        ``counter[0]`` is the number of the record before the first (updated as it goes)."""
        reader = self.reader(lines)
        where, width = self.where, self.width
        last = 0
        try:
            for record in reader:
                start = first_line + last
                last = reader.line_num
                counter[0] += 1
                if len(record) != width:
                    if not any(cell.strip() for cell in record):
                        continue  # an empty line
                    if len(record) < width or any(c.strip() for c in record[width:]):
                        yield counter[0], start, (f"row has {len(record)} fields where the "
                                                  f"header has {width}")
                        continue
                yield counter[0], start, tuple([record[i] for i in where])
        except csv.Error as exc:
            # The csv module's messages describe the syntax, not the data (e.g. "field larger
            # than field limit", "new-line character seen in unquoted field").
            raise AdapterUsageError(f"{self.description}: line {first_line + reader.line_num - 1}"
                                    f" is not valid CSV ({exc}); nothing was published") from None


_BOM = b"\xef\xbb\xbf"
_MAX_HEADER = 1 << 20


class CsvSource:
    """A CSV or TSV file. The header is read here (checked against the mapping); the data
    either streams through ``rows()`` or is cut into blocks of whole records by ``blocks()``
    for workers to parse (``CsvLayout.rows``)."""

    def __init__(self, path: Path, mapping: Mapping) -> None:
        self.description = str(path)
        try:
            raw = path.open("rb")
        except OSError as exc:
            raise AdapterUsageError(f"cannot read {path}: {exc.strerror}") from None
        self._raw = raw
        self._consumed = 0
        self.total = os.fstat(raw.fileno()).st_size
        try:
            self._read_header(path, mapping)
        except BaseException:
            raw.close()
            raise

    def _read_header(self, path: Path, mapping: Mapping) -> None:
        encoding = mapping.encoding
        utf8 = codecs.lookup(encoding).name == "utf-8"
        quote = mapping.quote.encode(encoding) if mapping.quote else None
        buf = b""
        while True:
            more = self._raw.read(1 << 16)
            buf += more
            start = len(_BOM) if utf8 and buf.startswith(_BOM) else 0
            for _ in range(mapping.skip_lines):
                nl = buf.find(b"\n", start)
                start = nl + 1 if nl >= 0 else len(buf) + 1
            end = _record_end(buf, start, quote) if start <= len(buf) else -1
            if end >= 0 or not more:
                break
            if len(buf) > _MAX_HEADER:
                raise AdapterUsageError(f"{path.name}: no end of the header line in the first "
                                        f"{_MAX_HEADER // 1024} KiB")
        if start > len(buf):
            raise AdapterUsageError(f"{path.name} has fewer lines than skip_lines "
                                    f"({mapping.skip_lines}) of mapping {mapping.name}")
        if end < 0:
            end = len(buf)
        header_text = buf[start:end].decode(encoding, errors="replace")
        if mapping.quote is None:
            header = next(csv.reader([header_text], quoting=csv.QUOTE_NONE,
                                     delimiter=mapping.delimiter), None)
        else:
            try:
                header = next(csv.reader(io.StringIO(header_text, newline=""),
                                         quotechar=mapping.quote, delimiter=mapping.delimiter), None)
            except csv.Error as exc:
                raise AdapterUsageError(f"{path.name}: the header line is not valid CSV "
                                        f"({exc})") from None
        if not header or not any(h.strip() for h in header):
            raise AdapterUsageError(f"{path.name} is empty (no header line)")
        self.columns = [h.strip() for h in header]
        where = locate(self.columns, mapping, path.name)
        self.layout = CsvLayout(encoding, mapping.delimiter, mapping.quote, len(header),
                                tuple(where), str(path))
        self._data_start = end
        self._first_line = buf[:end].count(b"\n") + 1
        # Blocks are cut at newlines: safe for encodings where a newline and the quote are
        # always those single bytes (UTF-8, the Windows and ISO Latin code pages, ...).
        self.splittable = _byte_safe(encoding, mapping)

    def position(self) -> int:
        if self._consumed:
            return self._consumed
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        self._raw.close()

    def rows(self) -> Iterator[Row]:
        self._raw.seek(self._data_start)
        text = io.TextIOWrapper(self._raw, encoding=self.layout.encoding, errors="replace",
                                newline="")
        try:
            yield from self.layout.rows(text, self._first_line, [0])
        finally:
            text.close()

    def blocks(self, size: int = 1 << 20) -> Iterator[tuple[bytes, int]]:
        """The data as (block of whole records, the file line it starts on)."""
        quote = self.layout.quote.encode(self.layout.encoding) if self.layout.quote else None
        self._raw.seek(self._data_start)
        line = self._first_line
        carry = b""
        try:
            while True:
                more = self._raw.read(size)
                data = carry + more
                if not more:
                    if data:
                        self._consumed = self.total
                        yield data, line
                    return
                cut = _last_record_end(data, quote)
                if cut <= 0:
                    carry = data  # no whole record yet: read on
                    continue
                block, carry = data[:cut], data[cut:]
                self._consumed += len(block)
                yield block, line
                line += block.count(b"\n")
        finally:
            self.close()


def _record_end(buf: bytes, start: int, quote: bytes | None) -> int:
    """Index just after the newline that ends the record starting at ``start``, or -1."""
    parity = 0
    pos = start
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return -1
        if quote is not None:
            parity ^= buf.count(quote, pos, nl) & 1
        pos = nl + 1
        if not parity:
            return pos


def _last_record_end(data: bytes, quote: bytes | None) -> int:
    """Index just after the last newline that ends a record (quotes balanced), or 0. In
    CSV a quote inside a quoted field is doubled, so an even count of quotes since the
    block's start means the newline is outside any field."""
    if quote is None or quote not in data:
        return data.rfind(b"\n") + 1
    parity = 0
    pos = 0
    last = 0
    for segment in data.split(b"\n")[:-1]:
        pos += len(segment) + 1
        parity ^= segment.count(quote) & 1
        if not parity:
            last = pos
    return last


def _byte_safe(encoding: str, mapping: Mapping) -> bool:
    name = codecs.lookup(encoding).name
    if name.startswith(("utf-16", "utf-32")):
        return False
    probe = "\n" + mapping.delimiter + (mapping.quote or "")
    try:
        return probe.encode(encoding) == probe.encode("ascii")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return False


def sniff_plain(path: Path) -> bool:
    """Does ``path`` look like the plain format (a UTF-8 CSV with the five field columns)?"""
    try:
        with path.open("rb") as fh:
            first = fh.readline(4096)
    except OSError:
        return False
    header = first.decode("utf-8-sig", errors="replace").strip().split(",")
    return {h.strip().lower() for h in header} >= set(PLAIN_COLUMNS)


# --------------------------------------------------------------------------- compatibility

@dataclass(frozen=True, slots=True)
class SourceRow:
    """One person as the source has them; ``number`` is the 1-based data row (header = 0)."""

    number: int
    bsn: str | None
    given_names: str | None
    prefix: str | None
    surname: str | None
    date_of_birth: str | None


def read_plain_csv(path: Path) -> Iterator[SourceRow]:
    """The plain format ``bsn,given_names,prefix,surname,date_of_birth`` (UTF-8, header):
    the header is checked now, the rows are read lazily."""
    source = CsvSource(path, load_mapping("plain"))

    def rows() -> Iterator[SourceRow]:
        for number, _line, values in source.rows():
            if isinstance(values, str):
                continue
            yield SourceRow(number, *[(v.strip() or None) for v in values])

    return rows()


__all__ = ["CsvLayout", "CsvSource", "Source", "SourceRow", "is_database_url", "open_source",
           "read_plain_csv", "sniff_plain"]
