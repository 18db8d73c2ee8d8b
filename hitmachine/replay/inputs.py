"""Reading and checking the replay's input files, all of them, before anything is published.

Three kinds of file (UTF-8 CSV with a header line; see ``docs/replay.md``):

- households: ``household_id,member_id,bsn,given_names,prefix,surname,date_of_birth``
- extracts: one ``<agency code>.csv`` per agency in a directory, in the adapter's plain
  format ``bsn,given_names,prefix,surname,date_of_birth``
- manual answers (optional): ``household_id,member_id,agency,known`` with ``known`` 0 or 1

Every problem is reported with its file, line (the header is line 1) and column, and the
messages never repeat a cell's value: a value may be a BSN, a name or a birth date. Member
and household ids are research ids, not identifiers, and may be named.

The check is stricter than the adapter: a row the adapter would reject and skip is an error
here, because a silently skipped row would change the comparison with the manual answers.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hitmachine.core.errors import HitmachineError, InvalidInput
from hitmachine.core.identity import normalise_identity

PERSON_COLUMNS = ("bsn", "given_names", "prefix", "surname", "date_of_birth")
HOUSEHOLD_COLUMNS = ("household_id", "member_id", *PERSON_COLUMNS)
EXTRACT_COLUMNS = PERSON_COLUMNS
MANUAL_COLUMNS = ("household_id", "member_id", "agency", "known")

MAX_ID_LENGTH = 100  # household and member ids end up in case references and reports
EARLIEST_BIRTH = dt.date(1880, 1, 1)
# Files in the extracts directory that are documentation, not extracts.
IGNORED_SUFFIXES = frozenset({".md", ".txt"})


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with one input file; never contains a cell's value."""

    file: str
    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


class ReplayInputError(HitmachineError):
    """The input files are not usable; nothing was published or asked."""

    status = 422
    title = "Invalid replay input"
    code = "invalid-replay-input"

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=_problem_order)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the input files; "
                         "nothing was published")


def _problem_order(p: Problem) -> tuple[str, int, str]:
    return (p.file, p.line or 0, p.column or "")


@dataclass(frozen=True, slots=True)
class Member:
    household_id: str
    member_id: str
    line: int
    bsn: str | None
    given_names: str | None
    prefix: str | None
    surname: str | None
    date_of_birth: dt.date

    def query_fields(self) -> dict[str, str]:
        """The member as the query API takes it: only the fields that have a value."""
        fields = {"bsn": self.bsn, "given_names": self.given_names, "prefix": self.prefix,
                  "surname": self.surname, "date_of_birth": self.date_of_birth.isoformat()}
        return {k: v for k, v in fields.items() if v}


@dataclass(frozen=True, slots=True)
class Household:
    household_id: str
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class Extract:
    agency: str
    path: Path
    rows: int


@dataclass(frozen=True, slots=True)
class ManualAnswer:
    household_id: str
    member_id: str
    agency: str
    known: bool
    line: int


@dataclass(frozen=True)
class ReplayInput:
    """Everything the replay needs, checked. Households keep the order of the file."""

    reference_date: dt.date
    households: tuple[Household, ...]
    extracts: tuple[Extract, ...]  # sorted by agency code
    manual: tuple[ManualAnswer, ...] | None = None
    # Manual rows about agencies that have no extract file: not compared, counted per agency.
    manual_not_compared: dict[str, int] = field(default_factory=dict)

    @property
    def agencies(self) -> tuple[str, ...]:
        return tuple(e.agency for e in self.extracts)

    @property
    def members(self) -> list[Member]:
        return [m for h in self.households for m in h.members]

    @property
    def largest_household(self) -> int:
        return max((len(h.members) for h in self.households), default=0)


# --------------------------------------------------------------------------------------------
# CSV reading


@dataclass(slots=True)
class _Row:
    line: int
    cells: dict[str, str]


class _Table:
    """A CSV file read row by row, problems collected instead of raised."""

    def __init__(self, path: Path, display: str, columns: Sequence[str],
                 problems: list[Problem]) -> None:
        self.path = path
        self.display = display
        self.columns = columns
        self.problems = problems

    def problem(self, line: int | None, column: str | None, message: str) -> None:
        self.problems.append(Problem(self.display, line, column, message))

    def rows(self) -> Iterator[_Row]:
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            self.problem(None, None, f"cannot be read ({exc.strerror or type(exc).__name__})")
            return
        with handle:
            lines = _DecodedLines(handle)
            reader = csv.reader(lines, strict=True)
            try:
                yield from self._read(reader, lines)
            except _NotUtf8 as exc:
                self.problem(exc.line, None, "is not UTF-8 text")
            except csv.Error as exc:
                self.problem(lines.number, None, f"is not valid CSV ({_csv_reason(exc)})")

    def _read(self, reader: Iterator[list[str]], lines: _DecodedLines) -> Iterator[_Row]:
        header = next(reader, None)
        if header is None:
            self.problem(None, None, "is empty (it needs a header line)")
            return
        names = [h.strip().lower() for h in header]
        where: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in where and name in self.columns:
                self.problem(1, name, "appears twice in the header")
            where.setdefault(name, i)
        missing = [c for c in self.columns if c not in where]
        for column in missing:
            self.problem(1, column, f"is missing from the header (expected: "
                                    f"{','.join(self.columns)})")
        if missing:
            return
        width = len(header)
        last = lines.number
        for row in reader:
            line, last = last + 1, lines.number  # a quoted field may span lines
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > width:
                self.problem(line, None, f"has {len(row)} fields, the header {width} "
                                         "(an unquoted comma?)")
                continue
            cells = {c: (row[i].strip() if i < len(row) else "") for c, i in where.items()
                     if c in self.columns}
            yield _Row(line, cells)


class _NotUtf8(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class _DecodedLines:
    """The physical lines of a binary file, decoded one by one, so that a decoding error and
    every record are placed on their exact line (a quoted field may span lines)."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.number = 0  # the last line handed out

    def __iter__(self) -> Iterator[str]:
        for raw in self._handle:
            self.number += 1
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotUtf8(self.number) from None
            if self.number == 1:
                text = text.removeprefix("\ufeff")
            yield text


def _csv_reason(exc: csv.Error) -> str:
    # csv messages describe the syntax ("unexpected end of data"), never the content.
    return str(exc).split(":")[0]


def _column_of(field_path: str) -> str:
    """``members.0.bsn`` or ``bsn`` -> ``bsn``: the input column a FieldError is about."""
    return field_path.rsplit(".", 1)[-1]


def _check_person(table: _Table, row: _Row, *, birth_required: bool,
                  reference_date: dt.date | None) -> dt.date | None:
    """Check one person as the query path (or the adapter) will normalise it."""
    cells = row.cells
    birth: dt.date | None = None
    text = cells["date_of_birth"]
    date_ok = True
    if text:
        birth = _parse_date(text)
        if birth is None:
            table.problem(row.line, "date_of_birth", "is not a date as YYYY-MM-DD")
            date_ok = False
        elif birth < EARLIEST_BIRTH:
            table.problem(row.line, "date_of_birth", "is before 1880")
            date_ok = False
        elif reference_date is not None and birth > reference_date:
            table.problem(row.line, "date_of_birth", "is after the reference date")
            date_ok = False
    elif birth_required:
        table.problem(row.line, "date_of_birth", "is required (the age rules need it)")
        date_ok = False
    try:
        normalise_identity(bsn=cells["bsn"] or None, given_names=cells["given_names"] or None,
                           prefix=cells["prefix"] or None, surname=cells["surname"] or None,
                           date_of_birth=(text or None) if date_ok else None)
    except InvalidInput as exc:
        for error in exc.errors:
            column = _column_of(error.field)
            if column == "date_of_birth" and not date_ok:
                continue  # already reported above, more precisely
            table.problem(row.line, column, error.message)
        return None
    return birth if date_ok else None


def _parse_date(text: str) -> dt.date | None:
    if len(text) != 10 or text[4] != "-" or text[7] != "-" or not text.replace("-", "").isdigit():
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _check_id(table: _Table, row: _Row, column: str) -> str | None:
    value = row.cells[column]
    if not value:
        table.problem(row.line, column, "is empty")
        return None
    if len(value) > MAX_ID_LENGTH:
        table.problem(row.line, column, f"is longer than {MAX_ID_LENGTH} characters")
        return None
    if not value.isprintable():
        table.problem(row.line, column, "contains control characters")
        return None
    return value


# --------------------------------------------------------------------------------------------
# The three kinds of file


def read_households(path: Path, reference_date: dt.date, problems: list[Problem],
                    display: str | None = None) -> tuple[Household, ...]:
    table = _Table(path, display or str(path), HOUSEHOLD_COLUMNS, problems)
    first_line: dict[str, int] = {}
    grouped: dict[str, list[Member]] = {}
    for row in table.rows():
        household_id = _check_id(table, row, "household_id")
        member_id = _check_id(table, row, "member_id")
        if member_id is not None:
            if member_id in first_line:
                table.problem(row.line, "member_id", f"duplicate member id {member_id} "
                                                     f"(first on line {first_line[member_id]})")
                member_id = None
            else:
                first_line[member_id] = row.line
        birth = _check_person(table, row, birth_required=True, reference_date=reference_date)
        if household_id is None or member_id is None or birth is None:
            continue
        cells = row.cells
        grouped.setdefault(household_id, []).append(Member(
            household_id=household_id, member_id=member_id, line=row.line,
            bsn=cells["bsn"] or None, given_names=cells["given_names"] or None,
            prefix=cells["prefix"] or None, surname=cells["surname"] or None,
            date_of_birth=birth))
    if not first_line and not any(p.file == table.display for p in problems):
        table.problem(None, None, "has no members")
    return tuple(Household(h, tuple(ms)) for h, ms in grouped.items())


def read_extract(path: Path, agency: str, problems: list[Problem]) -> Extract:
    table = _Table(path, str(path), EXTRACT_COLUMNS, problems)
    count = 0
    for row in table.rows():
        count += 1
        _check_person(table, row, birth_required=False, reference_date=None)
    return Extract(agency, path, count)


def find_extracts(directory: Path, agencies: Collection[str],
                  problems: list[Problem]) -> list[tuple[str, Path]]:
    """``(agency, path)`` for each ``<agency>.csv`` in DIR, sorted; unknown names are problems."""
    display = str(directory)
    if not directory.is_dir():
        problems.append(Problem(display, None, None, "is not a directory"))
        return []
    found: list[tuple[str, Path]] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() in IGNORED_SUFFIXES:
            continue
        if path.suffix != ".csv":
            problems.append(Problem(str(path), None, None,
                                    "is not an extract: the directory holds one "
                                    "<agency code>.csv per agency"))
            continue
        if path.stem not in agencies:
            problems.append(Problem(str(path), None, None,
                                    f"'{path.stem}' is not a configured agency (configured: "
                                    f"{', '.join(sorted(agencies))})"))
            continue
        found.append((path.stem, path))
    if not found and not any(p.file.startswith(display) for p in problems):
        problems.append(Problem(display, None, None, "holds no <agency code>.csv extract"))
    return found


def read_manual(path: Path, households: Sequence[Household], agencies: Collection[str],
                participating: Collection[str], problems: list[Problem]
                ) -> tuple[tuple[ManualAnswer, ...], dict[str, int]]:
    table = _Table(path, str(path), MANUAL_COLUMNS, problems)
    members = {m.member_id: m for h in households for m in h.members}
    seen: dict[tuple[str, str], int] = {}
    answers: list[ManualAnswer] = []
    not_compared: dict[str, int] = {}
    for row in table.rows():
        household_id = _check_id(table, row, "household_id")
        member_id = _check_id(table, row, "member_id")
        agency = row.cells["agency"]
        known_text = row.cells["known"]
        ok = household_id is not None and member_id is not None
        member = members.get(member_id or "")
        if member_id is not None and member is None:
            table.problem(row.line, "member_id", f"member {member_id} is not in the "
                                                 "households file")
            ok = False
        elif member is not None and household_id is not None and member.household_id != household_id:
            table.problem(row.line, "household_id", f"member {member_id} is in household "
                                                    f"{member.household_id} (households file, "
                                                    f"line {member.line})")
            ok = False
        if not agency:
            table.problem(row.line, "agency", "is empty")
            ok = False
        elif agency not in agencies:
            table.problem(row.line, "agency", f"'{agency}' is not a configured agency")
            ok = False
        if known_text not in ("0", "1"):
            table.problem(row.line, "known", "must be 0 or 1")
            ok = False
        if ok and member_id is not None:
            key = (member_id, agency)
            if key in seen:
                table.problem(row.line, "agency", f"a second answer for member {member_id} "
                                                  f"and {agency} (first on line {seen[key]})")
                ok = False
            else:
                seen[key] = row.line
        if not ok or household_id is None or member_id is None:
            continue
        if agency not in participating:
            not_compared[agency] = not_compared.get(agency, 0) + 1
            continue
        answers.append(ManualAnswer(household_id, member_id, agency, known_text == "1", row.line))
    return tuple(answers), dict(sorted(not_compared.items()))


def load_inputs(*, households: Path, extracts: Path, reference_date: dt.date,
                agencies: Collection[str], manual: Path | None = None) -> ReplayInput:
    """Read and check every input file; raise ``ReplayInputError`` with all problems found."""
    problems: list[Problem] = []
    read = read_households(households, reference_date, problems)
    found = find_extracts(extracts, agencies, problems)
    extract_list = tuple(read_extract(path, agency, problems) for agency, path in found)
    answers: tuple[ManualAnswer, ...] | None = None
    not_compared: dict[str, int] = {}
    if manual is not None:
        answers, not_compared = read_manual(manual, read, agencies,
                                            {a for a, _ in found}, problems)
    if problems:
        raise ReplayInputError(problems)
    return ReplayInput(reference_date=reference_date, households=read, extracts=extract_list,
                       manual=answers, manual_not_compared=not_compared)


__all__ = ["EXTRACT_COLUMNS", "HOUSEHOLD_COLUMNS", "MANUAL_COLUMNS", "Extract", "Household",
           "ManualAnswer", "Member", "Problem", "ReplayInput", "ReplayInputError",
           "find_extracts", "load_inputs", "read_extract", "read_households", "read_manual"]
