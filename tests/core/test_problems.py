"""The one error -> problem table (``hitmachine.core.problems``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from hitmachine.core import errors
from hitmachine.core.problems import TABLE, problem_kind
from hitmachine.store.audit_tree import TreeDamaged

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("error", "status"), [
    (errors.InvalidInput("members.0.bsn", "fails the 11-test"), 422),
    (errors.InvalidProof("the proof does not lead to the root"), 422),
    (errors.NotFound("no such sync"), 404),
    (errors.Conflict("already committed"), 409),
    (errors.AuthenticationFailed("no token"), 401),
    (errors.Forbidden("not for this role"), 403),
    (errors.LimitExceeded("too many requests", retry_after=3), 429),
    (errors.TooLarge("at most 10 elements per request", field="body"), 413),
    (errors.Unavailable("the database is unreachable"), 503),
    (errors.Damaged("a record does not match its leaf hash"), 500),
    (TreeDamaged("the tree does not end where the records end"), 500),
    (errors.HitmachineError("anything else"), 500),
])
def test_each_error_has_its_status(error: errors.HitmachineError, status: int) -> None:
    assert problem_kind(error).status == status


def test_every_error_class_has_a_row_of_its_own() -> None:
    classes = {obj for obj in vars(errors).values()
               if isinstance(obj, type) and issubclass(obj, errors.HitmachineError)}
    assert classes == set(TABLE)


def test_the_errors_know_nothing_of_http() -> None:
    """No status, title or code on the exception classes: the table is the one place."""
    tree = ast.parse((ROOT / "hitmachine/core/errors.py").read_text())
    assigned = {target.id for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                for stmt in node.body if isinstance(stmt, ast.Assign | ast.AnnAssign)
                for target in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
                if isinstance(target, ast.Name)}
    assert not assigned & {"status", "title", "code"}


def test_the_shells_map_errors_only_through_the_table() -> None:
    """The API, the web pages and the key service read statuses from ``problem_kind``."""
    for path in [*ROOT.joinpath("hitmachine/http").rglob("*.py"),
                 *ROOT.joinpath("hitmachine_keyservice").rglob("*.py")]:
        text = path.read_text()
        assert "exc.status " not in text and "exc.status)" not in text, path
