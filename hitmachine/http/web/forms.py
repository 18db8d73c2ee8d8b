"""Reading HTML forms, and the errors a page shows at its fields.

Forms are posted as ``application/x-www-form-urlencoded`` (the browser's default); they
are parsed here with the standard library, within the app's body limit. Every value is
a single line: control characters are dropped, so nothing odd reaches the database.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

MAX_FIELDS = 1000
MAX_VALUE_LENGTH = 4096
FORM_TYPE = "application/x-www-form-urlencoded"


class BadForm(Exception):
    """The body is not a form this app could have sent (wrong type, not UTF-8, too many
    fields)."""


class Form(dict[str, str]):
    """Field name -> value (the first, if a name repeats)."""

    def text(self, name: str) -> str:
        return self.get(name, "").strip()


def parse(body: bytes, content_type: str | None) -> Form:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if body and media != FORM_TYPE:
        raise BadForm("not a form")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS,
                          encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadForm("not a readable form") from None
    form = Form()
    for name, value in pairs:
        if name not in form:
            form[name] = _clean(value)
    return form


def _clean(value: str) -> str:
    value = value[:MAX_VALUE_LENGTH]
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cc" or ch == "\t")


@dataclass(frozen=True, slots=True)
class PageError:
    field_id: str     # the id of the input the summary links to
    message: str


@dataclass
class Errors:
    """Field errors for one page: a summary at the top links to each field."""

    items: list[PageError] = field(default_factory=list)

    def add(self, field_id: str, message: str) -> None:
        if field_id not in self.by_field:
            self.items.append(PageError(field_id, message))

    @property
    def by_field(self) -> dict[str, str]:
        return {e.field_id: e.message for e in self.items}

    def __bool__(self) -> bool:
        return bool(self.items)


_DUTCH_DATE = re.compile(r"^(\d{1,2})[-/. ](\d{1,2})[-/. ](\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_date(text: str) -> str:
    """Dutch notation (dd-mm-jjjj, also with / or .) as ISO; anything else unchanged, for
    the domain to judge (and reject with the field's error)."""
    text = text.strip()
    m = _DUTCH_DATE.match(text)
    if m:
        day, month, year = m.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text


def dutch_date(iso: str) -> str:
    """``2012-03-04`` as ``04-03-2012``; anything else unchanged."""
    if _ISO_DATE.match(iso):
        return f"{iso[8:10]}-{iso[5:7]}-{iso[0:4]}"
    return iso


def parse_day(text: str, field_id: str, errors: Errors) -> dt.date | None:
    """A day-month-year field (or ISO), None when empty; a wrong one is an error on it."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(iso_date(text))
    except ValueError:
        errors.add(field_id, "Vul een datum in als dag-maand-jaar, bijvoorbeeld 01-11-2025.")
        return None


__all__ = ["BadForm", "Errors", "FORM_TYPE", "Form", "PageError", "dutch_date", "iso_date",
           "parse", "parse_day"]
