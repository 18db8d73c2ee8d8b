"""Every audited use case writes its own record in ``hitmachine/services`` (issue 15).

The shells (HTTP API, web pages, CLI) only call the use case: a shell that builds an
audit record itself is how a fourth caller of the same action forgets it. The scan is of
the source, so it also catches a shell that has not been exercised by any other test.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hitmachine"
SHELLS = ("http", "cli")  # the API, the web pages, the app and server; the CLI and the demo
BUILDS_RECORD = re.compile(r"\bAuditRecord(\.by)?\(|\baudit_log\.append\(")

# Still recorded in the web shell: a sign-out, in the session's own transaction. This list
# may only shrink (refused requests of both shells go through ``services.denials``).
STILL_IN_SHELL = {
    "http/web/sessions.py": 1,  # auth.signout, in the session's own transaction
}


def _shell_files() -> list[Path]:
    files: list[Path] = []
    for shell in SHELLS:
        files += sorted((PACKAGE / shell).rglob("*.py"))
    return files


def _records_built() -> dict[str, int]:
    found: dict[str, int] = {}
    for path in _shell_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        count = sum(1 for line in lines if BUILDS_RECORD.search(line))
        if count:
            found[path.relative_to(PACKAGE).as_posix()] = count
    return found


def test_shells_do_not_build_audit_records() -> None:
    assert _records_built() == STILL_IN_SHELL, (
        "a shell builds an audit record itself: write it in the use case in "
        "hitmachine/services and call that instead")


def test_the_audit_shells_build_none() -> None:
    built = _records_built()
    for module in ("cli/audit.py", "http/api/routes/audit.py", "http/web/routes/audit.py"):
        assert module not in built, module


def test_the_scan_sees_the_shells() -> None:
    names = {p.relative_to(PACKAGE).as_posix() for p in _shell_files()}
    assert {"cli/audit.py", "http/api/routes/audit.py", "http/web/routes/audit.py"} <= names
