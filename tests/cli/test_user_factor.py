"""``hitmachine user reset-factor NAME`` and the second factor in ``hitmachine user list``,
run as an operator runs them (issue 17 item 3)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyotp
from sqlalchemy import select

from hitmachine.services import factor
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store.schema import audit_records
from tests.cli.test_operator_errors import PASSWORD, assert_one_line_error, run


def _settings(home: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{home / 'hitmachine.db'}", keys_dir=home / "keys")


def _enrol(home: Path, name: str) -> None:
    """Enrol ``name`` as the pages do (the password step passed)."""
    ctx = Context.from_settings(_settings(home))
    try:
        from hitmachine.store import users as user_store

        with ctx.db.read() as conn:
            user = user_store.find_by_name(conn, name)
        assert user is not None
        started = factor.start_challenge(ctx, user, None)
        assert started is not None
        waiting = factor.pending(ctx, started[0])
        assert waiting is not None
        secret = factor.new_enrolment(ctx, waiting).secret
        now = time.time()
        assert factor.verify(ctx, started[0], pyotp.TOTP(secret).at(now), "t", now=now).ok
    finally:
        ctx.close()


def _list(home: Path) -> dict[str, str]:
    lines = run(home, "user", "list").stdout.splitlines()
    return {line.split("\t")[-1]: line.split("\t")[3] for line in lines[1:]}


def test_reset_factor_removes_it_and_is_audited(instance: Path) -> None:
    for role, name in (("admin", "Abel Beheer"), ("coordinator", "Cas")):
        made = run(instance, "user", "create", "--role", role, "--name", name,
                   stdin=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
    assert _list(instance) == {"Abel Beheer": "none, enrols at next sign-in", "Cas": "none"}
    _enrol(instance, "Abel Beheer")
    assert _list(instance)["Abel Beheer"] == "totp"

    reset = run(instance, "user", "reset-factor", "abel beheer")  # names compare casefolded
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout.strip() == ("second factor of Abel Beheer removed; their sessions "
                                    "have ended; they enrol a new one at their next sign-in")
    assert _list(instance)["Abel Beheer"] == "none, enrols at next sign-in"
    again = run(instance, "user", "reset-factor", "Abel Beheer")
    assert again.stdout.strip() == "Abel Beheer had no second factor; their sessions have ended"

    ctx = Context.from_settings(_settings(instance))
    try:
        with ctx.db.read() as conn:
            rows = conn.execute(select(audit_records.c.actor, audit_records.c.detail)
                                .where(audit_records.c.event == "auth.factor_reset")).all()
    finally:
        ctx.close()
    assert [(actor, json.loads(detail)["had_factor"]) for actor, detail in rows] == [
        ("console", True), ("console", False)]


def test_reset_factor_of_an_unknown_account_is_one_line(instance: Path) -> None:
    result = run(instance, "user", "reset-factor", "Niemand")
    assert_one_line_error(result, "there is no account with this name")
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_without_the_factor_key(instance: Path) -> None:
    (instance / "keys" / "factor.key").unlink()
    result = run(instance, "serve", "--port", "0")
    assert_one_line_error(result, "keys/factor.key does not exist", "run 'hitmachine init'")
    assert run(instance, "init").returncode == 0  # makes it again, alone
    assert (instance / "keys" / "factor.key").stat().st_mode & 0o077 == 0
