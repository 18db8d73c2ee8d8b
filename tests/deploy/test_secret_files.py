"""Secrets as files (compose secrets, systemd credentials): HITMACHINE_DATABASE_URL_FILE and
HITMACHINE_RATE_LIMIT_STORAGE_FILE give the value of the plain variable, checked the same
way; a file others may read, a missing one, or both variables set end start-up naming the
variable, never quoting the value (it holds a password)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hitmachine.core.errors import InvalidInput
from hitmachine.settings import Settings, load_settings

URL = "postgresql+psycopg://hitmachine:s3cret-pw@postgres/hitmachine"


@pytest.fixture(autouse=True)
def _plain_variables_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HITMACHINE_DATABASE_URL", "HITMACHINE_DATABASE_URL_FILE",
                 "HITMACHINE_RATE_LIMIT_STORAGE", "HITMACHINE_RATE_LIMIT_STORAGE_FILE"):
        monkeypatch.delenv(name, raising=False)


def _secret(tmp_path: Path, content: str, mode: int = 0o600, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    path.chmod(mode)
    return path


def _problem(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    (error,) = caught.value.errors
    assert "s3cret" not in error.message and "s3cret" not in caught.value.detail
    return error.field, error.message


def test_the_database_url_comes_from_its_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITMACHINE_DATABASE_URL_FILE", str(_secret(tmp_path, URL + "\n")))
    assert load_settings().database_url == URL


def test_the_redis_url_comes_from_its_file(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    redis = "redis://:s3cret-pw@redis:6379/0"
    monkeypatch.setenv("HITMACHINE_RATE_LIMIT_STORAGE_FILE", str(_secret(tmp_path, redis)))
    assert load_settings().rate_limit_storage == redis


def test_a_credential_file_readable_by_its_owner_only_is_accepted(tmp_path: Path) -> None:
    # systemd hands credentials over as 0400 files.
    settings = Settings(database_url_file=_secret(tmp_path, URL, mode=0o400))
    assert settings.database_url == URL


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_file_others_may_read_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           mode: int) -> None:
    path = _secret(tmp_path, URL, mode=mode)
    field, message = _problem(monkeypatch, HITMACHINE_DATABASE_URL_FILE=str(path))
    assert field == "HITMACHINE_DATABASE_URL_FILE"
    assert "group or others" in message


def test_the_variable_and_its_file_together_are_refused(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    field, message = _problem(monkeypatch, HITMACHINE_DATABASE_URL="sqlite:///other.db",
                              HITMACHINE_DATABASE_URL_FILE=str(_secret(tmp_path, URL)))
    assert field == "HITMACHINE_DATABASE_URL_FILE"
    assert "HITMACHINE_DATABASE_URL" in message and "one of them" in message


@pytest.mark.parametrize(("content", "expected"), [
    ("mysql://root:s3cret@db/x", "unsupported database"),
    ("not a url s3cret", "not a database URL"),
    ("", "one line"),
    (URL + "\n" + URL, "one line"),
])
def test_a_bad_file_content_is_refused_naming_the_file_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str) -> None:
    path = _secret(tmp_path, content)
    field, message = _problem(monkeypatch, HITMACHINE_DATABASE_URL_FILE=str(path))
    assert field == "HITMACHINE_DATABASE_URL_FILE" and expected in message


def test_a_missing_file_or_a_directory_is_refused(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    field, message = _problem(monkeypatch,
                              HITMACHINE_RATE_LIMIT_STORAGE_FILE=str(tmp_path / "nope"))
    assert (field, message) == ("HITMACHINE_RATE_LIMIT_STORAGE_FILE",
                                "names a file that does not exist")
    monkeypatch.delenv("HITMACHINE_RATE_LIMIT_STORAGE_FILE")
    (tmp_path / "dir").mkdir(mode=0o700)
    field, message = _problem(monkeypatch, HITMACHINE_DATABASE_URL_FILE=str(tmp_path / "dir"))
    assert field == "HITMACHINE_DATABASE_URL_FILE" and "directory" in message


def test_a_redis_file_with_a_wrong_scheme_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = _secret(tmp_path, "http://:s3cret@redis:6379")
    field, message = _problem(monkeypatch, HITMACHINE_RATE_LIMIT_STORAGE_FILE=str(path))
    assert field == "HITMACHINE_RATE_LIMIT_STORAGE_FILE" and "rate limit store URL" in message
