"""Free text from outside: the one check every typed field passes (API, web pages, CLI).

PostgreSQL cannot store a NUL character, nor a lone surrogate (not UTF-8); either in an
audit record used to fail the whole group of records committed with it. Other control
characters (newlines in a name, escape sequences) and the bidirectional overrides that
make ``\\u202eroc`` display as ``cor`` have no business in a case reference or a name and
only serve to mislead whoever reads the audit log. So all of them are refused, with a
422 naming the field, never silently dropped: what is recorded is what was asked.
"""

from __future__ import annotations

import re
import unicodedata

from hitmachine.core.errors import InvalidInput
from hitmachine.core.identity import is_valid_bsn

# Unicode category Cc (C0, DEL, C1), the surrogates (category Cs: only lone ones reach a
# str), and the bidirectional formatting characters (ALM, LRM, RLM, embeddings, overrides,
# isolates). A regular expression: every query's case reference passes this.
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff"
                        "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# A BSN as people write it: nine digits, or grouped 1234.56.782 / 123 456 782, not part
# of a longer number. (Eight-digit BSNs are not looked for: a date such as 20260115 would
# too often pass the 11-test.)
_BSN_LIKE = re.compile(r"(?<![0-9])(?:[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3}"
                       r"|[0-9]{3} [0-9]{3} [0-9]{3})(?![0-9])")
RESERVED_NAMES = frozenset({"console", "anonymous"})
MAX_NAME_LENGTH = 128


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be accepted as free text, or None. Never quotes the value."""
    found = _FORBIDDEN.search(value)
    if found is None:
        return None
    char = found.group()
    if unicodedata.category(char) == "Cs":
        return "contains an invalid character (not UTF-8)"
    if unicodedata.category(char) == "Cc":
        return "contains a control character"
    return "contains a text-direction control character"


def check_text(field: str, value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(field, problem)
    return value


def contains_bsn(value: str) -> bool:
    """Whether ``value`` holds something written like a BSN that passes the 11-test."""
    for match in _BSN_LIKE.finditer(value):
        digits = match.group().replace(".", "").replace(" ", "")
        if is_valid_bsn(digits):
            return True
    return False


def case_reference_problem(value: str) -> str | None:
    problem = text_problem(value)
    if problem is not None:
        return problem
    if contains_bsn(value):
        return "must not contain a BSN (use the case number, not an identifier)"
    return None


def check_case_reference(field: str, value: str) -> str:
    problem = case_reference_problem(value)
    if problem is not None:
        raise InvalidInput(field, problem)
    return value


def name_key(name: str) -> str:
    """The comparison form of a name (tokens and accounts alike): NFKC, casefolded, inner
    whitespace collapsed, so "Jan de Vries", "jan  de vries" and "JAN DE VRIES" are one."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def name_problem(name: str) -> str | None:
    """Why ``name`` (already whitespace-collapsed) is not a usable token or account name."""
    if not name:
        return "is required"
    # Also its comparison form, which NFKC can make longer ("ﬃ" is "ffi"), is stored.
    if len(name) > MAX_NAME_LENGTH or len(name_key(name)) > MAX_NAME_LENGTH:
        return f"is longer than {MAX_NAME_LENGTH} characters"
    # isprintable() is False for every control, format (bidi), surrogate and unassigned
    # character, and for every space but the plain one.
    if not name.isprintable():
        return "contains control or formatting characters"
    if name_key(name) in RESERVED_NAMES:
        return "is reserved"
    return None


def check_name(field: str, name: str) -> str:
    """A token's or account's name, whitespace collapsed; raise ``InvalidInput`` if it is
    empty, too long, has control or formatting characters, or is reserved."""
    # Checked before collapsing: split() would quietly turn "a\nb" into "a b".
    problem = text_problem(name)
    cleaned = " ".join(name.split())
    problem = problem or name_problem(cleaned)
    if problem is not None:
        raise InvalidInput(field, problem)
    return cleaned


__all__ = ["MAX_NAME_LENGTH", "RESERVED_NAMES", "case_reference_problem", "check_case_reference",
           "check_name", "check_text", "contains_bsn", "name_key", "name_problem",
           "text_problem"]
