"""Configuration is validated when it is loaded (issue 15, "late validation"): every setting
whose value can be wrong is refused by ``Settings(...)`` with its field named, and the
message built for the operator names the variable without repeating the value."""

from __future__ import annotations

import functools
import pickle
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hitmachine.core.errors import InvalidInput, settings_problem
from hitmachine.http.app import create_app
from hitmachine.settings import Settings, load_settings
from hitmachine_keyservice.app import create_app as create_keyservice_app
from hitmachine_keyservice.settings import KeyServiceSettings, load_keyservice_settings

SECRET = "hunter2-s3cret"
LIMITS = ["rate_limit_per_token", "rate_limit_per_user", "sign_in_limit_per_address",
          "sign_in_limit_total", "anonymous_limit_per_address"]
AGENCY = {"code": "om", "name": "OM", "contact": "x"}
PURPOSE = {"code": "casusoverleg", "description": "d", "legal_basis": "b"}

BAD: list[tuple[str, Any]] = [
    *[(name, "1200/minuet") for name in LIMITS],
    *[(name, "") for name in LIMITS],
    ("timezone", "Europe/Amsterdm"),
    ("timezone", "../../etc/passwd"),
    ("timezone", ""),
    ("rate_limit_storage", f"redsi://:{SECRET}@127.0.0.1:6379"),
    ("rate_limit_storage", f"127.0.0.1:6379/{SECRET}"),
    ("database_url", f"mysql://root:{SECRET}@db/hm"),
    ("keyservice_url", f"ftp://adapter:{SECRET}@keys.example"),
    ("keyservice_url", f"https://keys.example:{SECRET}"),
    ("keyservice_url", "keys.example"),
    ("origin", ""),
    ("origin", "two\nlines"),
    ("log_level", "loud"),
    ("pseudonym_scheme", "md5"),
    ("agencies", []),
    ("agencies", [AGENCY, AGENCY]),
    ("agencies", [{**AGENCY, "disclosure": {"min_age": 18, "max_age": 5}}]),
    ("agencies", [{**AGENCY, "code": "Not A Code"}]),
    ("purposes", []),
    ("purposes", [PURPOSE, PURPOSE]),
    ("sync_ttl_seconds", 0),
    ("denial_summary_seconds", 0),
    ("token_lifetime_days", 0),
    ("audit_integrate_seconds", 0),
    ("audit_checkpoint_seconds", -1),
    ("web_idle_timeout_minutes", 0),
    ("web_session_max_hours", 0),
    ("web_lockout_minutes", 0),
    ("retention_days", 30),
    ("max_members", 0),
    ("signal_expiry_days", 0),
    ("contact_desk", ""),
    ("contact_desk", "two\nlines"),
    ("purposes", [{**PURPOSE, "follow_up_max_days": -1}]),
    ("purposes", [{**PURPOSE, "signals": "sometimes"}]),
    ("purposes", [{**PURPOSE, "allows_reference_date": True, "signals": True,
                   "follow_up_max_days": 0}]),
    ("purposes", [{**PURPOSE, "allows_reference_date": True}]),  # follow-ups default to 90
    ("agencies", [{**AGENCY, "signals": "perhaps"}]),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_a_bad_value_is_refused_at_load_naming_its_setting(field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(**{field: value})
    assert caught.value.errors()[0]["loc"][0] == field
    problem = settings_problem(caught.value, "HITMACHINE_")
    assert problem.field.startswith(f"HITMACHINE_{field.upper()}"), problem.field
    assert SECRET not in str(problem.detail) + repr(problem.errors)


@pytest.mark.parametrize("path_field", ["keys_dir", "keyservice_token_file"])
def test_a_path_of_the_wrong_kind_is_refused(tmp_path: Path, path_field: str) -> None:
    (tmp_path / "a-file").write_text("x")
    wrong = tmp_path / ("a-file" if path_field == "keys_dir" else "")
    with pytest.raises(ValidationError) as caught:
        kwargs: dict[str, Any] = {path_field: wrong}
        Settings(**kwargs)
    assert caught.value.errors()[0]["loc"] == (path_field,)


GOOD: list[tuple[str, Any]] = [
    ("rate_limit_per_token", "10 per second"),
    ("rate_limit_per_user", "600/minute"),
    ("timezone", "UTC"),
    ("rate_limit_storage", "redis://127.0.0.1:6379"),
    ("rate_limit_storage", "memory://"),
    ("keyservice_url", "http://127.0.0.1:8100"),
    ("log_level", "debug"),
    ("keys_dir", Path("not-made-yet")),
]


@pytest.mark.parametrize(("field", "value"), GOOD, ids=[f"{f}={v!r}" for f, v in GOOD])
def test_good_values_still_load(field: str, value: Any) -> None:
    assert getattr(Settings(**{field: value}), field) == value


def test_signals_are_on_for_live_purposes_and_off_for_research() -> None:
    purposes = Settings().purpose_map()
    assert (purposes["casusoverleg"].signals, purposes["partnervraag"].signals) == (True, True)
    assert (purposes["replay"].signals, purposes["replay"].follow_up_max_days) == (False, 0)
    assert purposes["casusoverleg"].follow_up_max_days == 90
    assert all(a.signals for a in Settings().agencies)
    assert Settings().signal_expiry_days == 30


def test_the_defaults_load() -> None:
    Settings()
    KeyServiceSettings()


def test_the_loader_names_the_variable_and_never_the_value(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HITMACHINE_RATE_LIMIT_PER_TOKEN", "1200/minuet")
    monkeypatch.setenv("HITMACHINE_RATE_LIMIT_STORAGE", f"redsi://:{SECRET}@h:6379")
    with pytest.raises(InvalidInput) as caught:
        load_settings()
    fields = sorted(e.field for e in caught.value.errors)
    assert fields == ["HITMACHINE_RATE_LIMIT_PER_TOKEN", "HITMACHINE_RATE_LIMIT_STORAGE"]
    assert SECRET not in repr(caught.value.errors) and caught.value.__cause__ is None


def test_the_uvicorn_factory_validates_like_the_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    # `uvicorn --factory hitmachine.http.app:create_app` builds the process's one Settings.
    monkeypatch.setenv("HITMACHINE_TIMEZONE", "Europe/Amsterdm")
    with pytest.raises(InvalidInput) as caught:
        create_app()
    assert caught.value.field == "HITMACHINE_TIMEZONE"


def test_workers_get_the_validated_object_not_the_environment() -> None:
    # `hitmachine serve --workers N` pickles the factory with its settings to each worker.
    settings = Settings(timezone="UTC", max_members=7)
    factory = pickle.loads(pickle.dumps(functools.partial(create_app, settings)))
    assert factory.args[0] == settings


def test_keyservice_settings_are_validated_at_load(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a-file").write_text("x")
    for field, value in (("dir", tmp_path / "a-file"), ("threads", 0), ("max_batch", 0),
                         ("per_minute", 0), ("per_day", 0)):
        with pytest.raises(ValidationError) as caught:
            kwargs: dict[str, Any] = {field: value}
            KeyServiceSettings(**kwargs)
        assert caught.value.errors()[0]["loc"] == (field,)
    monkeypatch.setenv("HITMACHINE_KEYSERVICE_THREADS", "lots")
    with pytest.raises(InvalidInput) as loaded:
        load_keyservice_settings()
    assert loaded.value.field == "HITMACHINE_KEYSERVICE_THREADS"
    with pytest.raises(InvalidInput):
        create_keyservice_app()
