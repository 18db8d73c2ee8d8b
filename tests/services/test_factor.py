"""The second factor's use cases (hitmachine.services.factor), on SQLite and PostgreSQL:
enrolment, codes, replay, recovery codes, lock-out, sealing and reset, each audited."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import select, update

from hitmachine.core.errors import Conflict, InvalidInput, NotFound
from hitmachine.core.keystore import create_factor_key
from hitmachine.core.principal import Role
from hitmachine.services import admin, factor, users
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings, load_settings
from hitmachine.store import users as user_store
from hitmachine.store.schema import factor_challenges, recovery_codes, user_factors
from hitmachine.store.users import User
from tests.web.util import records

PASSWORD = "paard-batterij-nietje"
T0 = 1_800_000_010.0  # a fixed moment, 10 s into a step, so that steps are known


@pytest.fixture
def fctx(database_url: str, tmp_path: Path) -> Iterator[Context]:
    """A context with the production default: privacy officers and admins need a factor."""
    settings = Settings(database_url=database_url, keys_dir=tmp_path / "keys")
    initialise(settings)
    context = Context.from_settings(settings)
    yield context
    context.close()


def _user(ctx: Context, name: str = "Abel Beheer", role: Role = Role.ADMIN) -> User:
    return users.create_user(ctx, admin.CONSOLE, name=name, role=role, password=PASSWORD,
                             request_id="test")


def _enrol(ctx: Context, user: User, at: float = T0) -> tuple[str, list[str]]:
    """Enrol ``user`` as the pages do; returns the secret and the recovery codes."""
    started = factor.start_challenge(ctx, user, None)
    assert started is not None and started[1] == factor.ENROL
    waiting = factor.pending(ctx, started[0])
    assert waiting is not None
    enrolment = factor.new_enrolment(ctx, waiting)
    result = factor.verify(ctx, started[0], pyotp.TOTP(enrolment.secret).at(at), "rid", now=at)
    assert result.ok, result
    return enrolment.secret, result.recovery_codes


def _challenge(ctx: Context, user: User) -> str:
    started = factor.start_challenge(ctx, user, "/audit")
    assert started is not None and started[1] == factor.VERIFY
    return started[0]


def _detail(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record["detail"].items() if k != "actor_id"}


def _current(ctx: Context, user: User) -> User:
    with ctx.db.read() as conn:
        return user_store.get(conn, user.id)


def test_the_default_requires_it_of_privacy_officers_and_admins_only() -> None:
    settings = Settings()
    assert settings.web_second_factor_roles == ("privacy-officer", "admin")
    local = {role: factor.required(settings, User(1, "x", role, "$argon2id$...", "", None, 0,
                                                  None, None, None))
             for role in users.WEB_ROLES}
    assert local == {Role.COORDINATOR: False, Role.PRIVACY_OFFICER: True, Role.ADMIN: True}
    # An account without a password signs in at the identity provider, which asks its own.
    assert not factor.required(settings, User(1, "x", Role.ADMIN, None, "", None, 0, None,
                                              None, None))


def test_a_misspelt_role_is_refused_at_load_naming_the_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITMACHINE_WEB_SECOND_FACTOR_ROLES", '["admin", "coordinater"]')
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    [error] = caught.value.errors
    assert error.field == "HITMACHINE_WEB_SECOND_FACTOR_ROLES"
    assert "coordinater" not in error.message
    monkeypatch.setenv("HITMACHINE_WEB_SECOND_FACTOR_ROLES",
                       '["coordinator", "privacy-officer", "admin"]')
    assert load_settings().web_second_factor_roles == ("coordinator", "privacy-officer", "admin")


def test_a_coordinator_signs_in_without_unless_configured(fctx: Context) -> None:
    cora = _user(fctx, "Cora", Role.COORDINATOR)
    assert factor.start_challenge(fctx, cora, None) is None
    fctx.settings = fctx.settings.model_copy(
        update={"web_second_factor_roles": ("coordinator", "privacy-officer", "admin")})
    started = factor.start_challenge(fctx, cora, None)
    assert started is not None and started[1] == factor.ENROL


def test_enrolment_stores_the_secret_sealed_and_the_codes_hashed(fctx: Context) -> None:
    abel = _user(fctx)
    started = factor.start_challenge(fctx, abel, None)
    assert started is not None
    waiting = factor.pending(fctx, started[0])
    assert waiting is not None
    enrolment = factor.new_enrolment(fctx, waiting)
    assert enrolment.uri == (f"otpauth://totp/Hitmachine:Abel%20Beheer?secret="
                             f"{enrolment.secret}&issuer=Hitmachine")
    wrong = factor.verify(fctx, started[0], "000000" if pyotp.TOTP(enrolment.secret).at(T0)
                          != "000000" else "111111", "rid", now=T0)
    assert wrong.failure == "wrong_code" and _current(fctx, abel).failed_attempts == 1
    [failed] = records(fctx, "auth.factor_failed")
    assert _detail(failed) == {"step": "enrol", "reason": "wrong_code", "method": "totp",
                                "failed_attempts": 1}
    result = factor.verify(fctx, started[0], pyotp.TOTP(enrolment.secret).at(T0), "rid",
                           now=T0)
    assert result.ok and len(result.recovery_codes) == factor.RECOVERY_CODES == 10
    assert len(set(result.recovery_codes)) == 10
    [enrolled] = records(fctx, "auth.factor_enrolled")
    assert enrolled["actor"] == "Abel Beheer" and enrolled["detail"]["recovery_codes"] == 10
    with fctx.db.read() as conn:
        [sealed] = conn.execute(select(user_factors.c.secret_sealed)).scalars().all()
        hashes = conn.execute(select(recovery_codes.c.code_hash)).scalars().all()
        assert conn.execute(select(factor_challenges)).all() == []  # the challenge is spent
    assert sealed.startswith("v1.") and enrolment.secret not in sealed
    assert len(hashes) == 10 and all(h.startswith("sha256$") for h in hashes)
    for code in result.recovery_codes:
        assert not any(code in h or code.replace("-", "") in h for h in hashes)
    for record in records(fctx):  # neither secret nor code reaches the audit log
        assert enrolment.secret not in str(record)
        assert not any(code in str(record) for code in result.recovery_codes)
    assert _current(fctx, abel).failed_attempts == 1  # until the session starts


def test_a_code_is_accepted_once_even_within_its_window(fctx: Context) -> None:
    abel = _user(fctx)
    secret, _ = _enrol(fctx, abel)
    totp = pyotp.TOTP(secret)
    challenge = _challenge(fctx, abel)
    # The enrolment's own code, still in its window: refused as a replay.
    replay = factor.verify(fctx, challenge, totp.at(T0), "rid", now=T0 + 5)
    assert replay.failure == "wrong_code"
    assert records(fctx, "auth.factor_failed")[-1]["detail"]["reason"] == "replayed"
    ok = factor.verify(fctx, challenge, totp.at(T0 + 30), "rid", now=T0 + 30)
    assert ok.ok and ok.method == "totp"
    assert _detail(records(fctx, "auth.factor_verified")[-1]) == {"method": "totp"}
    again = _challenge(fctx, abel)
    assert factor.verify(fctx, again, totp.at(T0 + 30), "rid", now=T0 + 31).failure \
        == "wrong_code"
    # One step of clock drift either way is accepted; two are not.
    assert factor.verify(fctx, again, totp.at(T0 + 120), "rid", now=T0 + 90).ok
    late = _challenge(fctx, abel)
    assert factor.verify(fctx, late, totp.at(T0 + 150), "rid", now=T0 + 210).failure \
        == "wrong_code"


def test_a_recovery_code_works_once(fctx: Context) -> None:
    abel = _user(fctx)
    _, codes = _enrol(fctx, abel)
    challenge = _challenge(fctx, abel)
    # As typed from paper: upper case, without the hyphens, with a space.
    typed = codes[3].replace("-", "").upper()
    result = factor.verify(fctx, challenge, typed[:6] + " " + typed[6:], "rid", now=T0 + 60)
    assert result.ok and result.method == "recovery_code"
    assert result.remaining_recovery_codes == 9
    [used] = records(fctx, "auth.recovery_code_used")
    assert _detail(used) == {"method": "recovery_code", "remaining": 9}
    second = _challenge(fctx, abel)
    again = factor.verify(fctx, second, codes[3], "rid", now=T0 + 60)
    assert again.failure == "wrong_code"
    assert records(fctx, "auth.factor_failed")[-1]["detail"]["method"] == "recovery_code"
    assert factor.verify(fctx, second, codes[4], "rid", now=T0 + 60).ok


def test_wrong_codes_lock_the_account_like_wrong_passwords(fctx: Context) -> None:
    abel = _user(fctx)
    secret, _ = _enrol(fctx, abel)
    limit = fctx.settings.web_lockout_attempts
    # A wrong password first: password and code failures share one count.
    assert users.LocalPasswordAuthenticator().authenticate(
        fctx, {"name": abel.name, "password": "not it at all"}, "rid").failure \
        == "bad_credentials"
    challenge = _challenge(fctx, abel)
    wrong = "000000" if pyotp.TOTP(secret).at(T0 + 60) != "000000" else "111111"
    for attempt in range(2, limit):
        assert factor.verify(fctx, challenge, wrong, "rid", now=T0 + 60).failure \
            == "wrong_code"
        assert _current(fctx, abel).failed_attempts == attempt
    assert factor.verify(fctx, challenge, wrong, "rid", now=T0 + 60).failure == "locked"
    [locked] = records(fctx, "auth.locked")
    assert locked["detail"]["failed_attempts"] == limit
    # The challenge is gone: even the right code now needs the password again, and the
    # password is refused while the lock lasts.
    assert factor.pending(fctx, challenge) is None
    assert factor.verify(fctx, challenge, pyotp.TOTP(secret).at(T0 + 60), "rid",
                         now=T0 + 60).failure == "expired"
    assert users.LocalPasswordAuthenticator().authenticate(
        fctx, {"name": abel.name, "password": PASSWORD}, "rid").failure == "locked"


def test_a_challenge_of_a_locked_account_is_refused(fctx: Context) -> None:
    abel = _user(fctx)
    secret, _ = _enrol(fctx, abel)
    challenge = _challenge(fctx, abel)
    with fctx.db.write() as conn:
        user_store.update_user(conn, abel.id, locked_until="2999-01-01T00:00:00.000000Z")
    assert factor.verify(fctx, challenge, pyotp.TOTP(secret).at(T0 + 60), "rid",
                         now=T0 + 60).failure == "locked"
    assert records(fctx, "auth.factor_failed")[-1]["detail"]["reason"] == "locked"


def test_a_challenge_expires(fctx: Context) -> None:
    abel = _user(fctx)
    secret, _ = _enrol(fctx, abel)
    challenge = _challenge(fctx, abel)
    with fctx.db.write() as conn:
        conn.execute(update(factor_challenges).values(created_at="2000-01-01T00:00:00.000000Z"))
    assert factor.pending(fctx, challenge) is None
    assert factor.verify(fctx, challenge, pyotp.TOTP(secret).at(T0 + 60), "rid",
                         now=T0 + 60).failure == "expired"
    assert factor.pending(fctx, "not a challenge") is None


def test_a_new_password_sign_in_replaces_the_challenge(fctx: Context) -> None:
    abel = _user(fctx)
    secret, _ = _enrol(fctx, abel)
    first = _challenge(fctx, abel)
    second = _challenge(fctx, abel)
    assert factor.pending(fctx, first) is None and factor.pending(fctx, second) is not None
    assert factor.verify(fctx, first, pyotp.TOTP(secret).at(T0 + 60), "rid",
                         now=T0 + 60).failure == "expired"


def test_the_secret_opens_only_with_its_key_and_for_its_account(fctx: Context) -> None:
    abel = _user(fctx)
    priya = _user(fctx, "Priya", Role.PRIVACY_OFFICER)
    secret, _ = _enrol(fctx, abel)
    _enrol(fctx, priya)
    with fctx.db.write() as conn:
        abels = conn.execute(select(user_factors.c.secret_sealed)
                             .where(user_factors.c.user_id == abel.id)).scalar_one()
        conn.execute(update(user_factors).where(user_factors.c.user_id == priya.id)
                     .values(secret_sealed=abels, last_step=None))
    challenge = _challenge(fctx, priya)
    with pytest.raises(Conflict, match="does not open"):
        factor.verify(fctx, challenge, pyotp.TOTP(secret).at(T0 + 60), "rid", now=T0 + 60)
    key = fctx.settings.factor_key_path
    key.unlink()
    create_factor_key(key)  # another key than the one that sealed it
    challenge = _challenge(fctx, abel)
    with pytest.raises(Conflict, match="does not open"):
        factor.verify(fctx, challenge, pyotp.TOTP(secret).at(T0 + 60), "rid", now=T0 + 60)


def test_reset_removes_the_factor_ends_sessions_and_is_audited(fctx: Context) -> None:
    abel = _user(fctx)
    _enrol(fctx, abel)
    with fctx.db.write() as conn:
        user_store.create_session(conn, session_id="s" * 43, user_id=abel.id,
                                  csrf_token="c", now="2026-01-01T00:00:00.000000Z")
    user, had = factor.reset(fctx, admin.CONSOLE, "abel beheer", "rid")
    assert had and user.id == abel.id
    [record] = records(fctx, "auth.factor_reset")
    assert record["actor"] == "console" and _detail(record) == {
        "user_id": abel.id, "name": "Abel Beheer", "had_factor": True, "sessions_ended": 1}
    with fctx.db.read() as conn:
        assert conn.execute(select(user_factors)).all() == []
        assert conn.execute(select(recovery_codes)).all() == []
        assert user_store.count_sessions(conn, abel.id) == 0
    started = factor.start_challenge(fctx, abel, None)
    assert started is not None and started[1] == factor.ENROL  # enrols anew
    assert factor.reset(fctx, admin.CONSOLE, "Abel Beheer", "rid")[1] is False
    with pytest.raises(NotFound):
        factor.reset(fctx, admin.CONSOLE, "Nobody", "rid")


def test_a_code_now_matches_the_clock() -> None:
    # The default ``now`` is the wall clock: the code an app shows now is accepted.
    secret = pyotp.random_base32()
    assert factor._matching_step(secret, pyotp.TOTP(secret).now(), time.time()) is not None
