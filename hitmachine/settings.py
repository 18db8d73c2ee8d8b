"""All configuration, in one pydantic-settings object read from ``HITMACHINE_*`` variables.

Nothing reads the environment anywhere else: each process builds one ``Settings`` at its
entry point (the CLI, or the app factory under ``uvicorn --factory``) and passes it down,
so a test can run the same app on SQLite and PostgreSQL. Every value that can be wrong is
checked here, when the object is built: a mistyped rate limit or time zone ends start-up
naming its variable, instead of starting a server that answers 500 to every request.
Messages never repeat the value (a URL may hold a password).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hitmachine.core.agencies import DEFAULT_AGENCIES, DEFAULT_PURPOSES, Agency, Purpose
from hitmachine.core.errors import HitmachineError, settings_problem
from hitmachine.core.files import check_private

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HITMACHINE_", env_nested_delimiter="__",
                                      extra="ignore")

    database_url: str = "sqlite:///hitmachine.db"
    # Secrets as files (compose secrets, systemd credentials): the value comes from the file,
    # so it is in no environment that `docker inspect` or /proc/PID/environ shows. Checked
    # like the plain variable, refused beside it, and refused when others may read the file.
    database_url_file: Path | None = None
    keys_dir: Path = Path("keys")
    # The name the service signs audit checkpoints with (C2SP tlog origin line).
    origin: str = "hitmachine.veiligheidshuis.local/audit"
    agencies: tuple[Agency, ...] = DEFAULT_AGENCIES
    purposes: tuple[Purpose, ...] = DEFAULT_PURPOSES
    timezone: str = "Europe/Amsterdam"
    # Signals (issue 16): the Veiligheidshuis's contact desk, named in the signals its
    # coordinators' queries send to agencies; how long an unacknowledged or acknowledged
    # signal is kept before it is deleted; how often the expiry job runs.
    contact_desk: str = "Veiligheidshuis Gelderland-Zuid, casusregie 024 329 6000"
    signal_expiry_days: int = Field(default=30, ge=1, le=366)
    signal_expiry_interval_seconds: float = Field(default=300.0, gt=0, le=86400)

    # Resource limits: each answered with 413/422/429, never a crash or a hang.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    max_members: int = Field(default=20, ge=1)
    max_batch_entries: int = Field(default=10_000, ge=1)
    max_delta_entries: int = Field(default=10_000, ge=1)
    max_open_syncs_per_agency: int = Field(default=2, ge=1)
    sync_ttl_seconds: int = Field(default=3600, ge=1)

    # Enumeration defence (hitmachine/services/ratelimit.py, docs/security.md). The store is
    # shared by all workers when it is Redis ("redis://127.0.0.1:6379"); None: in memory,
    # per process. Limits in the `limits` notation ("600/minute"); the budget and alert
    # threshold count household members asked about per actor per local day.
    rate_limits: bool = True
    rate_limit_storage: str | None = None
    rate_limit_storage_file: Path | None = None  # a Redis URL with a password in it
    rate_limit_per_token: str = "1200/minute"
    rate_limit_per_user: str = "600/minute"
    query_budget_per_day: int = Field(default=5000, ge=1)
    query_alert_per_day: int = Field(default=1000, ge=1)
    # Anonymous callers (issue 13, findings 6 and 7), counted per client address in the same
    # store, before any password is hashed or anything is written: sign-in attempts per
    # address and in all; API requests without a valid token per address. Their refusals
    # are audited once per address and window, the rest counted into one summary record.
    sign_in_limit_per_address: str = "10/minute"
    sign_in_limit_total: str = "60/minute"
    anonymous_limit_per_address: str = "60/minute"
    denial_summary_seconds: int = Field(default=60, ge=1, le=3600)
    # A token created without an expiry (API or CLI) expires after this many days.
    token_lifetime_days: int = Field(default=365, ge=1)

    db_pool_size: int = Field(default=8, ge=1)
    # Serve /bench/parse, the bare endpoint benchmarks/query.py measures the stack with.
    bench_endpoint: bool = False
    log_level: str = "INFO"
    metrics_endpoint: bool = True  # GET /metrics (Prometheus; counts only)
    # Swagger UI at /docs, from the app's own copy (the "docs" extra), with the web pages'
    # security headers; off by default: a token is pasted there (hitmachine/http/api/docs.py).
    api_docs: bool = False
    # Who answers questions about the API, in the OpenAPI document's info.contact (NLGov API
    # Design Rules /core/doc-openapi-contact; docs/api.md). Placeholders until a deployment
    # names its own team: the committed openapi/openapi.json is built with these.
    api_contact_name: str = Field(default="Functioneel beheer Hitmachine, Veiligheidshuis",
                                  min_length=1, max_length=200)
    api_contact_email: str = Field(default="hitmachine-beheer@veiligheidshuis.example",
                                   pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=200)
    api_contact_url: str = Field(default="https://veiligheidshuis.example/hitmachine",
                                 pattern=r"^https?://\S+$", max_length=500)

    # The audit Merkle tree (docs/audit-log.md): how far the integrator may lag, how often
    # a checkpoint is signed while records arrive, and after how many days `hitmachine
    # audit prune` clears record contents (their leaf hashes stay). The floor is the legal
    # retention: no prune statement may allow less, and `audit verify` rejects one that did.
    audit_integrate: bool = True
    audit_integrate_seconds: float = Field(default=0.5, gt=0, le=1)
    audit_checkpoint_seconds: float = Field(default=5.0, gt=0, le=10)
    # How often a running server looks whether `hitmachine keys rotate` (another process)
    # rewrote the keyring; 0 looks on every query (one stat of the file).
    keyring_check_seconds: float = Field(default=1.0, ge=0, le=60)
    retention_floor_days: int = Field(default=730, ge=1)
    retention_days: int = Field(default=730, ge=1)

    # The web pages (hitmachine.http.web): sessions, sign-in and lock-out.
    web_idle_timeout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    web_session_max_hours: int = Field(default=10, ge=1, le=7 * 24)
    web_lockout_attempts: int = Field(default=5, ge=1, le=100)
    web_lockout_minutes: int = Field(default=30, ge=1)
    web_password_min_length: int = Field(default=12, ge=8, le=256)
    # None: the session cookie is Secure when the request came over HTTPS; true behind a
    # TLS-terminating proxy (the server does not trust forwarded headers).
    web_cookie_secure: bool | None = None

    # Pseudonymisation scheme (docs/privacy.md): "hmac" (keyed hash; the key is exported
    # to adapters) or "oprf" (blind pseudonyms; the key stays in the key service). `init`
    # starts a keyring of this scheme; `serve` refuses a keyring whose primary version is
    # of another; `hitmachine keys migrate` moves an hmac deployment to oprf. The query path
    # is a client of the key service like any adapter: its URL and our token (a 0600 file).
    pseudonym_scheme: Literal["hmac", "oprf"] = "hmac"
    keyservice_url: str | None = None
    keyservice_token_file: Path | None = None

    # Single sign-on with the municipality's identity provider (OpenID Connect; docs/sso.md,
    # hitmachine/services/oidc.py). Off while the issuer is unset. The client secret is read
    # from a 0600 file, like the key service token; the roles map values of ``oidc_role_claim``
    # (a string or a list of strings in the ID token) to the web roles.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = Field(default=None, validate_default=True)
    oidc_client_secret_file: Path | None = None
    # The address people reach Hitmachine at: the callback and the address to return to
    # after signing out at the provider are made from it.
    oidc_public_url: str | None = Field(default=None, validate_default=True)
    oidc_provider_name: str = "het gemeenteaccount"
    oidc_scopes: str = "openid profile"
    oidc_role_claim: str = "groups"
    oidc_name_claim: str = "preferred_username"
    oidc_roles: dict[str, str] = Field(default_factory=dict, validate_default=True)
    # Name and password for local accounts; off leaves only single sign-on (the CLI still
    # manages accounts).
    web_password_sign_in: bool = True

    @field_validator("retention_days")
    @classmethod
    def _retention_above_floor(cls, value: int, info: ValidationInfo) -> int:
        # A field validator (the floor is declared first), so the error names this setting.
        floor = info.data.get("retention_floor_days")
        if floor is not None and value < floor:
            raise ValueError(f"{value} days is below the legal retention floor "
                             f"HITMACHINE_RETENTION_FLOOR_DAYS ({floor})")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _check_database_url(value)

    @field_validator("database_url_file", "rate_limit_storage_file")
    @classmethod
    def _secret_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Read here, so a missing, exposed or wrong file ends start-up naming this variable.
        if value is None:
            return None
        plain = (info.field_name or "").removesuffix("_file")
        if info.data.get(plain) != cls.model_fields[plain].default:
            raise ValueError(f"is set and so is HITMACHINE_{plain.upper()}; set one of them")
        content = _read_secret(value)
        if plain == "database_url":
            _check_database_url(content)
        else:
            _check_rate_limit_storage(content)
        return value

    @model_validator(mode="after")
    def _values_from_files(self) -> "Settings":
        # The field validators above checked each file; take its (checked) value.
        if self.database_url_file is not None:
            self.database_url = _read_secret(self.database_url_file)
        if self.rate_limit_storage_file is not None:
            self.rate_limit_storage = _read_secret(self.rate_limit_storage_file)
        return self

    @field_validator("rate_limit_per_token", "rate_limit_per_user", "sign_in_limit_per_address",
                     "sign_in_limit_total", "anonymous_limit_per_address")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        # The parser the limiter uses (hitmachine/services/ratelimit.py), so what passes
        # here is what the limiter counts with.
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError("is not a rate limit; expected COUNT/UNIT such as 1200/minute "
                             "(units: second, minute, hour, day, month, year)") from None
        return value

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_limit_storage(cls, value: str | None) -> str | None:
        return None if value is None else _check_rate_limit_storage(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known time zone; expected an IANA name such as "
                             "Europe/Amsterdam") from None
        return value

    @field_validator("contact_desk")
    @classmethod
    def _contact_desk(cls, value: str) -> str:
        if not value.strip() or any(not c.isprintable() for c in value) or len(value) > 200:
            raise ValueError("must be one non-empty line of printable text (at most 200 "
                             "characters), such as the desk's name and telephone number")
        return value

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        # The first line of every signed checkpoint (C2SP tlog-checkpoint): refused here,
        # not when the integrator signs its first checkpoint.
        if not value.strip() or any(not c.isprintable() for c in value):
            raise ValueError("must be one non-empty line of printable text, such as "
                             "hitmachine.veiligheidshuis.local/audit")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.lower() not in _LOG_LEVELS:
            raise ValueError(f"is not a log level; expected one of "
                             f"{', '.join(level.upper() for level in _LOG_LEVELS)}")
        return value

    @field_validator("keyservice_url")
    @classmethod
    def _keyservice_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("is not a key service URL; expected https://HOST[:PORT]")
        return value

    @field_validator("oidc_issuer", "oidc_public_url")
    @classmethod
    def _oidc_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        # https only, but for a provider on this machine (a test, a developer's own).
        if value is None:
            if info.field_name == "oidc_public_url" and info.data.get("oidc_issuer"):
                raise ValueError("is required when HITMACHINE_OIDC_ISSUER is set; expected "
                                 "the https:// address people open Hitmachine at")
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018  (raises on a port that is not a number)
        except ValueError:
            parts = None
        loopback = parts is not None and parts.hostname in ("127.0.0.1", "localhost", "::1")
        if (parts is None or not parts.hostname or parts.query or parts.fragment
                or not (parts.scheme == "https" or (parts.scheme == "http" and loopback))):
            raise ValueError("is not an https URL; expected https://HOST[/PATH] without "
                             "query or fragment (http only on this machine's loopback)")
        # The issuer stays exactly as written: ID tokens must name it so, slash and all.
        return value if info.field_name == "oidc_issuer" else value.rstrip("/")

    @field_validator("oidc_client_id")
    @classmethod
    def _oidc_client_id(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and (not value.strip() or not value.isprintable()):
            raise ValueError("must be one line of printable text")
        if value is None and info.data.get("oidc_issuer"):
            raise ValueError("is required when HITMACHINE_OIDC_ISSUER is set; expected the "
                             "client id registered at the identity provider")
        return value

    @field_validator("oidc_client_secret_file")
    @classmethod
    def _oidc_secret_file(cls, value: Path | None) -> Path | None:
        # Only its shape here; its mode (0600) is checked where it is read.
        if value is not None and not value.is_file():
            raise ValueError("is not a file; expected a file holding the client secret")
        return value

    @field_validator("oidc_scopes")
    @classmethod
    def _oidc_scopes(cls, value: str) -> str:
        scopes = value.split()
        if "openid" not in scopes or not all(s.isprintable() for s in scopes):
            raise ValueError("must be space-separated scopes including openid, such as "
                             "'openid profile groups'")
        return " ".join(scopes)

    @field_validator("oidc_provider_name", "oidc_role_claim", "oidc_name_claim")
    @classmethod
    def _oidc_line(cls, value: str) -> str:
        if not value.strip() or not value.isprintable() or len(value) > 100:
            raise ValueError("must be one non-empty line of printable text")
        return value.strip()

    @field_validator("oidc_roles")
    @classmethod
    def _oidc_roles(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        allowed = ("coordinator", "privacy-officer", "admin")  # services.users.WEB_ROLES
        wrong = sorted({role for role in value.values() if role not in allowed})
        if wrong:
            raise ValueError(f"maps to {', '.join(wrong)}; expected only the roles "
                             f"{', '.join(allowed)}")
        if not value and info.data.get("oidc_issuer"):
            raise ValueError("is required when HITMACHINE_OIDC_ISSUER is set; expected a JSON "
                             "object from claim values to roles, such as "
                             '{"hm-coordinatoren": "coordinator"}')
        return value

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    @field_validator("keys_dir")
    @classmethod
    def _keys_dir(cls, value: Path) -> Path:
        # Made by `hitmachine init`, so it need not exist yet; a file in its place is wrong.
        if value.exists() and not value.is_dir():
            raise ValueError("is a file, not a directory")
        return value

    @field_validator("keyservice_token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.is_dir():
            raise ValueError("is a directory, not a token file")
        return value

    @field_validator("agencies", "purposes")
    @classmethod
    def _unique_codes(cls, value: tuple[Agency, ...] | tuple[Purpose, ...],
                      info: ValidationInfo) -> tuple[Agency, ...] | tuple[Purpose, ...]:
        # Answers, tokens and audit records name agencies and purposes by code: a code
        # configured twice would make one of them unreachable.
        what = "agency" if info.field_name == "agencies" else "purpose"
        if not value:
            raise ValueError(f"must configure at least one {what}")
        codes = [item.code for item in value]
        twice = sorted({code for code in codes if codes.count(code) > 1})
        if twice:
            raise ValueError(f"configures the {what} code {', '.join(twice)} more than once")
        return value

    @property
    def keyring_path(self) -> Path:
        return self.keys_dir / "keyring.json"

    def agency_map(self) -> dict[str, Agency]:
        return {a.code: a for a in self.agencies}

    def purpose_map(self) -> dict[str, Purpose]:
        return {p.code: p for p in self.purposes}


def _check_database_url(value: str) -> str:
    # Refused here, not at the first connection: the error then names the setting, and
    # never echoes the URL (it may hold a password).
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    expected = "expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE"
    try:
        backend = make_url(value).get_backend_name()
    except (ArgumentError, ValueError):
        raise ValueError(f"is not a database URL; {expected}") from None
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"names an unsupported database ({backend}); {expected}")
    return value


def _check_rate_limit_storage(value: str) -> str:
    from limits.storage import SCHEMES  # type: ignore[attr-defined]  # re-exported, not in __all__

    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in SCHEMES or scheme.startswith("async+"):
        raise ValueError("is not a rate limit store URL; expected redis://HOST:PORT "
                         "(or another store of the limits library, or unset: in memory)")
    return value


def _read_secret(path: Path) -> str:
    """One line from a secret file that only its owner may read (compose secrets are bind
    mounts with the host file's owner and mode; systemd credentials are 0400)."""
    try:
        check_private(path)
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise ValueError("names a file that does not exist") from None
    except IsADirectoryError:
        raise ValueError("names a directory, not a file") from None
    except PermissionError:
        raise ValueError("names a file this user may not read") from None
    except HitmachineError:
        raise ValueError("names a file that group or others may read; chmod 600 it") from None
    if not text or "\n" in text:
        raise ValueError("must name a file holding one line")
    return text


def load_settings() -> Settings:
    """The settings from the environment, the one way a process builds them; a bad value
    raises ``InvalidInput`` naming its variable (not pydantic's error, which quotes it)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise settings_problem(exc, "HITMACHINE_") from None


__all__ = ["Settings", "load_settings"]
