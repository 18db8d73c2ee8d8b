"""``hitmachine dpia`` as an operator runs it (issue 17, item 5): the real entry point on an
initialised instance, its configuration from the environment."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, select

from hitmachine.store.schema import audit_records
from tests.cli.test_operator_errors import assert_one_line_error, run
from tests.services.test_dpia import SECTIONS


def _events(home: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{home / 'hitmachine.db'}")
    with engine.connect() as conn:
        rows = conn.execute(select(audit_records.c.event, audit_records.c.detail)
                            .order_by(audit_records.c.id)).all()
    engine.dispose()
    return [(r.event, json.loads(r.detail)["via"]) for r in rows]


def test_markdown_for_the_shipped_configuration(instance: Path) -> None:
    result = run(instance, "dpia")
    assert result.returncode == 0, result.stderr
    for section in SECTIONS:
        assert section in result.stdout, section
    assert "inhoud 730 dagen" in result.stdout
    assert _events(instance) == [("audit.statistics", "dpia-cli"), ("dpia.read", "cli")]


def test_the_running_configuration_changes_the_output(instance: Path) -> None:
    purposes = [{"code": "bijstand", "description": "Afstemming bijstand",
                 "legal_basis": {"ground": "6.1.c", "sources": [{"law": "participatiewet"}]}}]
    result = run(instance, "dpia", HITMACHINE_RETENTION_DAYS="1095",
                 HITMACHINE_PURPOSES=json.dumps(purposes))
    assert result.returncode == 0, result.stderr
    assert "inhoud 1095 dagen" in result.stdout and "`bijstand`" in result.stdout
    assert "`casusoverleg`" not in result.stdout.split("## 2.")[0]


def test_printable_html_to_a_file(instance: Path) -> None:
    out = instance / "dpia.html"
    result = run(instance, "dpia", "--format", "html", "--out", str(out))
    assert result.returncode == 0 and result.stdout == "", result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and '<html lang="nl">' in page
    assert "@media print" in page and page.count("<table>") == 9
    assert "<strong>Database thief</strong>" in page  # the table's Markdown, as HTML


def test_mistakes_are_one_line(instance: Path, tmp_path: Path) -> None:
    assert_one_line_error(run(instance, "dpia", "--format", "pdf"), "format", "md or html")
    assert_one_line_error(run(instance, "dpia", "--out", str(tmp_path / "no" / "x.md")),
                          "out")
    assert _events(instance) == []  # refused before anything was read
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run(empty, "dpia"), "hitmachine init")
