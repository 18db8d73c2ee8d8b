"""Imports inside functions: only where they keep start-up fast or load a heavy part only
when it is used, each with its reason (issue 15). Every other import is at the top of its
module, where a reader and the import-linter contracts see it.

The scan includes every function body of the three packages; ``if TYPE_CHECKING:`` blocks
are not imports at run time and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hitmachine", "hitmachine_adapter", "hitmachine_keyservice")

# Command modules import their sub-commands' machinery when the command runs, so that
# `hitmachine --help`, a typo or a one-line error never loads the database, web or chart
# stack (about 1 s on these machines).
COMMANDS = ("hitmachine/cli/", "hitmachine_adapter/cli.py", "hitmachine_keyservice/cli.py")

CHARTS = "Altair and vl-convert take about 1 s to import; only a chart needs them"
ALLOWED: dict[str, dict[str, str]] = {
    "hitmachine/core/keystore.py": {
        "hitmachine.core.pseudonym.factory": "loads libsodium, which only a watching server needs"},
    "hitmachine/http/api/docs.py": {
        "swagger_ui_bundle": "an optional extra (the docs extra), imported when /docs is on"},
    "hitmachine/http/server.py": {
        "ssl": "only with --ssl-certfile",
        "hitmachine.core.logs": "the uvicorn log configuration, after the settings are read",
        "hitmachine.http.app": "after PROMETHEUS_MULTIPROC_DIR is set: prometheus_client "
                               "reads it on import"},
    "hitmachine/http/web/charts.py": {"altair": CHARTS, "vl_convert": CHARTS},
    "hitmachine/replay/charts.py": {"altair": CHARTS, "vl_convert": CHARTS},
    "hitmachine/replay/report.py": {"jinja2": "only when the HTML report is written"},
    "hitmachine/replay/engine.py": {
        "hitmachine.core.listen": "a local server only when no --server is given",
        "hitmachine.core.principal": "a local instance only when no --server is given",
        "hitmachine.http.app": "a local server only when no --server is given",
        "hitmachine.services": "a local instance only when no --server is given",
        "hitmachine.services.context": "a local instance only when no --server is given",
        "hitmachine.services.instance": "a local instance only when no --server is given",
        "uvicorn": "a local server only when no --server is given",
        "hitmachine_adapter.cli": "the real adapter, as an agency runs it",
        "hitmachine_adapter.errors": "the real adapter, as an agency runs it"},
    "hitmachine/services/dpia.py": {
        "hitmachine.services": "statistics imports the audit use cases, which import this",
        "sqlalchemy.engine": "only to name the database kind, never its URL",
        "zoneinfo": "only for the figures' local dates"},
    "hitmachine/services/statistics.py": {
        "hitmachine.services": "the audit use cases import this module"},
    "hitmachine/settings.py": {
        "limits": "rate-limit strings are checked only when set; `--help` stays fast",
        "limits.storage": "the storage URL is checked only when set",
        "sqlalchemy.engine": "the database URL is checked without loading SQLAlchemy for "
                             "`--help`",
        "sqlalchemy.exc": "see sqlalchemy.engine"},
    "hitmachine_adapter/config.py": {
        "sqlalchemy.engine": "only a database source needs SQLAlchemy",
        "sqlalchemy.exc": "only a database source needs SQLAlchemy"},
    "hitmachine_adapter/sql_source.py": {
        "sqlalchemy": "only a database source needs SQLAlchemy",
        "sqlalchemy.engine": "only a database source needs SQLAlchemy",
        "sqlalchemy.exc": "only a database source needs SQLAlchemy",
        "sqlalchemy.pool": "only a database source needs SQLAlchemy",
        "sqlite3": "only a SQLite source, opened read-only",
        "urllib.parse": "only a SQLite source, opened read-only"},
    "hitmachine_adapter/progress.py": {
        "rich.console": "only on a terminal", "rich.progress": "only on a terminal"},
    "hitmachine_adapter/pseudonymise.py": {
        "hitmachine.core.keyservice_client": "httpx only for blind (oprf) pseudonyms",
        "hitmachine_adapter.config": "the token file only for blind (oprf) pseudonyms"},
}


def _lazy_imports(path: Path) -> set[str]:
    found: set[str] = set()

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if in_function and isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif in_function and isinstance(child, ast.ImportFrom):
                found.add(child.module or ".")
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def _inventory() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            if name.startswith(COMMANDS):
                continue
            lazy = _lazy_imports(path)
            if lazy:
                found[name] = lazy
    return found


def test_every_import_in_a_function_has_its_reason() -> None:
    unexplained = {name: sorted(lazy - ALLOWED.get(name, {}).keys())
                   for name, lazy in _inventory().items()
                   if lazy - ALLOWED.get(name, {}).keys()}
    assert not unexplained, (
        "import at the top of the module, or add the import and its reason to ALLOWED: "
        f"{unexplained}")


def test_the_list_holds_no_stale_reasons() -> None:
    inventory = _inventory()
    stale = {name: sorted(reasons.keys() - inventory.get(name, set()))
             for name, reasons in ALLOWED.items()
             if reasons.keys() - inventory.get(name, set())}
    assert not stale, f"no longer imported in a function; remove from ALLOWED: {stale}"


def test_the_scan_sees_function_imports() -> None:
    assert "altair" in _lazy_imports(ROOT / "hitmachine/http/web/charts.py")
    assert "hitmachine.core.pseudonym.factory" in _lazy_imports(
        ROOT / "hitmachine/core/keystore.py")
