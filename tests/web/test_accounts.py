"""Web accounts on both databases: Argon2id hashes, sign-in, lock-out after repeated
failures, unlock, disable, and the audit record of every attempt."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select, update

from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import Conflict, InvalidInput, NotFound
from hitmachine.core.principal import Role
from hitmachine.services import admin, users
from hitmachine.services.context import Context
from hitmachine.store import users as store
from hitmachine.store.schema import users as users_table
from tests.web.util import PASSWORD, records

AUTH = users.LocalPasswordAuthenticator()


def _create(ctx: Context, name: str = "Cora Coördinator", role: Role = Role.COORDINATOR,
            password: str = PASSWORD) -> store.User:
    return users.create_user(ctx, admin.CONSOLE, name=name, role=role, password=password,
                             request_id="test")


def _try(ctx: Context, name: str, password: str) -> users.SignInResult:
    return AUTH.authenticate(ctx, {"name": name, "password": password}, "rid")


def test_password_is_stored_as_argon2id_and_verifies(ctx: Context) -> None:
    user = _create(ctx)
    with ctx.db.read() as conn:
        stored = conn.execute(select(users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert user.password_hash == stored
    result = _try(ctx, "  cora   COÖRDINATOR ", PASSWORD)  # name: case and spaces don't matter
    assert result.ok and result.user is not None and result.user.id == user.id
    [created] = records(ctx, "user.create")
    assert created["actor"] == "console" and created["detail"]["role"] == "coordinator"
    assert PASSWORD not in str(records(ctx))


def test_account_rules(ctx: Context) -> None:
    _create(ctx)
    with pytest.raises(Conflict):
        _create(ctx, name="cora coördinator")
    with pytest.raises(InvalidInput) as short:
        _create(ctx, name="Short", password="elevenchars")
    assert short.value.field == "password"
    with pytest.raises(InvalidInput) as role:
        _create(ctx, name="Adapter", role=Role.ADAPTER)
    assert role.value.field == "role"
    with pytest.raises(InvalidInput):
        _create(ctx, name="   ")
    with pytest.raises(NotFound):
        users.unlock(ctx, admin.CONSOLE, "nobody", "rid")


def test_five_wrong_passwords_lock_the_account_and_everything_is_audited(ctx: Context) -> None:
    user = _create(ctx)
    for _ in range(1, 5):
        result = _try(ctx, user.name, "wrong password!")
        assert result.failure == "bad_credentials"
    result = _try(ctx, user.name, "wrong password!")
    assert result.failure == "locked" and result.locked_until is not None
    # While locked, not even the right password gets in.
    assert _try(ctx, user.name, PASSWORD).failure == "locked"
    failed = records(ctx, "auth.signin_failed")
    assert [r["detail"]["reason"] for r in failed] == ["bad_password"] * 5 + ["locked"]
    assert [r["detail"].get("failed_attempts") for r in failed[:5]] == [1, 2, 3, 4, 5]
    assert all(r["actor"] == user.name and r["outcome"] == "denied" for r in failed)
    [locked] = records(ctx, "auth.locked")
    assert locked["actor"] == user.name and locked["role"] == "coordinator"
    assert locked["detail"]["failed_attempts"] == 5
    # The administrator unlocks it (audited); the right password works again.
    users.unlock(ctx, admin.CONSOLE, user.name, "rid")
    assert records(ctx, "auth.unlock")[0]["detail"]["was_locked"] is True
    assert _try(ctx, user.name, PASSWORD).ok


def test_a_lock_runs_out_and_the_count_starts_again(ctx: Context) -> None:
    user = _create(ctx)
    for _ in range(5):
        _try(ctx, user.name, "wrong password!")
    past = iso_utc(utc_now() - dt.timedelta(seconds=1))
    with ctx.db.write() as conn:
        conn.execute(update(users_table).values(locked_until=past))
    assert _try(ctx, user.name, "wrong password!").failure == "bad_credentials"
    with ctx.db.read() as conn:
        assert store.get(conn, user.id).failed_attempts == 1
    assert _try(ctx, user.name, PASSWORD).ok


def test_success_resets_the_failure_count(ctx: Context) -> None:
    user = _create(ctx)
    for _ in range(4):
        _try(ctx, user.name, "wrong password!")
    result = _try(ctx, user.name, PASSWORD)
    assert result.ok and result.user is not None
    with ctx.db.write() as conn:
        users.record_sign_in(conn, result.user, "password", "rid")
    for _ in range(4):
        assert _try(ctx, user.name, "wrong password!").failure == "bad_credentials"
    assert records(ctx, "auth.signin")[0]["detail"] == {"method": "password",
                                                        "actor_id": f"user:{user.id}"}


def test_concurrent_wrong_passwords_are_all_counted(ctx: Context) -> None:
    user = _create(ctx)
    results: list[users.SignInResult] = []
    threads = [threading.Thread(target=lambda: results.append(
        _try(ctx, user.name, "wrong password!"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with ctx.db.read() as conn:
        stored = store.get(conn, user.id)
    assert stored.failed_attempts == 5 and stored.locked_until is not None
    assert sum(r.failure == "locked" for r in results) == 4  # the 5th locks; 3 more found it so
    assert len(records(ctx, "auth.locked")) == 1


def test_unknown_names_are_not_recorded_as_typed(ctx: Context) -> None:
    _create(ctx)
    typed = "111222333 oops this was a BSN"
    assert _try(ctx, typed, PASSWORD).failure == "bad_credentials"
    [failed] = records(ctx, "auth.signin_failed")
    assert failed["actor"] == "anonymous" and failed["detail"]["reason"] == "unknown_account"
    assert "111222333" not in str(records(ctx))


def test_disabled_accounts_cannot_sign_in_and_lose_their_sessions(ctx: Context) -> None:
    user = _create(ctx)
    with ctx.db.write() as conn:
        store.create_session(conn, session_id="x" * 43, user_id=user.id, csrf_token="t",
                             now=iso_utc(utc_now()))
    users.set_disabled(ctx, admin.CONSOLE, user.name, True, "rid")
    with ctx.db.read() as conn:
        assert store.count_sessions(conn, user.id) == 0
    assert _try(ctx, user.name, PASSWORD).failure == "bad_credentials"
    assert records(ctx, "auth.signin_failed")[-1]["detail"]["reason"] == "disabled"
    users.set_disabled(ctx, admin.CONSOLE, user.name, False, "rid")
    assert _try(ctx, user.name, PASSWORD).ok
    assert [r["event"] for r in records(ctx) if r["event"].startswith("user.")] == [
        "user.create", "user.disable", "user.enable"]


def test_a_new_password_ends_sessions_and_clears_a_lock(ctx: Context) -> None:
    user = _create(ctx)
    for _ in range(5):
        _try(ctx, user.name, "wrong password!")
    with ctx.db.write() as conn:
        store.create_session(conn, session_id="y" * 43, user_id=user.id, csrf_token="t",
                             now=iso_utc(utc_now()))
    users.set_password(ctx, admin.CONSOLE, user.name, "een heel nieuw wachtwoord", "rid")
    with ctx.db.read() as conn:
        assert store.count_sessions(conn, user.id) == 0
    assert _try(ctx, user.name, PASSWORD).failure == "bad_credentials"
    assert _try(ctx, user.name, "een heel nieuw wachtwoord").ok
    assert records(ctx, "user.password")[0]["detail"]["sessions_ended"] == 1


def test_sessions_are_stored_by_hash_only(ctx: Context) -> None:
    user = _create(ctx)
    session_id = "s" * 43
    with ctx.db.write() as conn:
        store.create_session(conn, session_id=session_id, user_id=user.id, csrf_token="tok",
                             now=iso_utc(utc_now()))
    with ctx.db.read() as conn:
        found = store.find_session(conn, session_id)
        raw = [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM web_sessions")]
    assert found is not None and found[1] is not None and found[1].id == user.id
    assert session_id not in repr(raw) and session_id.encode() not in repr(raw).encode()
