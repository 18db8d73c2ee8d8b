"""Configuration is validated when it is loaded (issue 15, "late validation"): every setting
whose value can be wrong is refused by ``Settings(...)`` with its field named, and the
message built for the operator names the variable without repeating the value."""

from __future__ import annotations

import functools
import json
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
BASIS = {"ground": "6.1.e", "sources": [{"law": "wgs"}]}
PURPOSE = {"code": "casusoverleg", "description": "d", "legal_basis": BASIS}

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
    # The legal basis is a structured field with a closed vocabulary (the DPIA and the
    # processing register are generated from it): free text or an unknown law is refused.
    ("purposes", [{**PURPOSE, "legal_basis": "AVG art. 6"}]),
    ("purposes", [{**PURPOSE, "legal_basis": {**BASIS, "ground": "6.1.g"}}]),
    ("purposes", [{**PURPOSE, "legal_basis": {**BASIS, "special": ["11"]}}]),
    ("purposes", [{**PURPOSE, "legal_basis": {**BASIS, "special": ["10", "10"]}}]),
    ("purposes", [{**PURPOSE, "legal_basis": {**BASIS, "sources": []}}]),
    ("purposes", [{**PURPOSE, "legal_basis": {**BASIS, "sources": [{"law": "wet-x"}]}}]),
    ("purposes", [{**PURPOSE, "legal_basis": {
        **BASIS, "sources": [{"law": "wgs", "article": "art. 7\n<script>"}]}}]),
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
    ("api_contact_name", ""),
    ("api_contact_email", "beheer"),
    ("api_contact_email", "beheer@gemeente.nl two@gemeente.nl"),
    ("api_contact_url", "gemeente.nl/hitmachine"),
    ("api_contact_url", "javascript:alert(1)"),
    ("oidc_issuer", "htp://idp.gemeente.example"),
    ("oidc_issuer", "http://idp.gemeente.example"),  # plain http only on loopback
    ("oidc_issuer", "https://idp.gemeente.example/?tenant=1"),
    ("oidc_issuer", "idp.gemeente.example"),
    ("oidc_public_url", "ftp://hitmachine.example"),
    ("oidc_scopes", "profile email"),
    ("oidc_roles", {"hm-beheer": "adapter"}),
    ("oidc_roles", {"hm-beheer": "superuser"}),
    ("oidc_client_id", " "),
    ("oidc_provider_name", "two\nlines"),
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
    ("api_contact_name", "Team Hitmachine, gemeente Nijmegen"),
    ("api_contact_email", "hitmachine@nijmegen.nl"),
    ("api_contact_url", "https://intranet.nijmegen.nl/hitmachine"),
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


def test_single_sign_on_needs_its_companions() -> None:
    """An issuer alone is refused, naming each setting it needs."""
    with pytest.raises(ValidationError) as caught:
        Settings(oidc_issuer="https://idp.gemeente.example")
    fields = sorted(e.field for e in settings_problem(caught.value, "HITMACHINE_").errors)
    assert fields == ["HITMACHINE_OIDC_CLIENT_ID", "HITMACHINE_OIDC_PUBLIC_URL",
                      "HITMACHINE_OIDC_ROLES"]
    loaded = Settings(oidc_issuer="https://idp.gemeente.example/realms/hm/",
                      oidc_client_id="hitmachine", oidc_public_url="https://hm.example/",
                      oidc_roles={"hm-beheer": "admin"}, oidc_scopes="openid  groups")
    # The issuer exactly as written (tokens must name it so); the public URL without slash.
    assert loaded.oidc_enabled and loaded.oidc_issuer == "https://idp.gemeente.example/realms/hm/"
    assert loaded.oidc_scopes == "openid groups" and loaded.oidc_public_url == "https://hm.example"
    assert not Settings().oidc_enabled
    assert Settings(oidc_issuer="http://127.0.0.1:9400", oidc_client_id="c",
                    oidc_public_url="http://localhost:8000", oidc_roles={"g": "admin"})


def test_the_client_secret_file_must_be_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(oidc_client_secret_file=tmp_path / "missing")
    assert settings_problem(caught.value, "HITMACHINE_").field == \
        "HITMACHINE_OIDC_CLIENT_SECRET_FILE"


def test_the_defaults_load() -> None:
    Settings()
    KeyServiceSettings()


def test_a_purposes_legal_basis_loads_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    basis = {"ground": "6.1.c", "special": ["10"],
             "sources": [{"law": "wgs", "article": "art. 7"}, {"law": "convenant-zvh"}]}
    monkeypatch.setenv("HITMACHINE_PURPOSES", json.dumps([{**PURPOSE, "legal_basis": basis}]))
    (purpose,) = load_settings().purposes
    assert purpose.legal_basis.citation == (
        "AVG art. 6 lid 1 sub c; AVG art. 10 jo. UAVG art. 33; "
        "Wet gemeentelijke schuldhulpverlening, art. 7; Convenant Zorg- en Veiligheidshuis")
    assert str(purpose.legal_basis) == purpose.legal_basis.citation


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
