"""An adapter run's settings: from the command line, the environment and a config file.

A cron line stays short: ``hitmachine-adapter sync --config /etc/hitmachine/om.toml``. The
config file (TOML) takes the same settings as the command line, with underscores::

    agency = "om"
    source = "/srv/exports/om-hitmachine.csv"      # or a SQLAlchemy URL
    server = "https://hitmachine.vh.local"
    token_file = "/etc/hitmachine/om.token"
    keyring = "/etc/hitmachine/om-keyring.json"
    state_dir = "/var/lib/hitmachine-adapter/om"
    mode = "delta"

A setting on the command line wins over the environment (``HITMACHINE_ADAPTER_TOKEN``,
``HITMACHINE_ADAPTER_TOKEN_FILE``), which wins over the file. Relative paths in the file
are relative to the file, the file of a ``sqlite:///`` source included. The token never
has to be on the command line (where ``ps`` shows it): put it in a file of its own, the
environment, or a config file only its owner can read.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from hitmachine.core.errors import HitmachineError
from hitmachine.core.files import check_private
from hitmachine.core.files import read_token_file as _read_token_file
from hitmachine_adapter.errors import AdapterUsageError
from hitmachine_adapter.mapping import PLAIN, Mapping, load_mapping, shipped_mappings
from hitmachine_adapter.source import is_database_url, sniff_plain

MODES = ("snapshot", "delta")
DEFAULT_BATCH = 10_000
DEFAULT_MAX_REJECT_FRACTION = 0.05
DEFAULT_DEADLINE = 7200.0
TOKEN_ENV = "HITMACHINE_ADAPTER_TOKEN"
TOKEN_FILE_ENV = "HITMACHINE_ADAPTER_TOKEN_FILE"
STATE_ENV = "HITMACHINE_ADAPTER_STATE_DIR"


@dataclass
class Options:
    agency: str
    source: str | Path
    server: str | None = None
    token: str | None = None
    keyring: Path = Path("keys/keyring.json")
    mapping: str | Path | None = None
    mode: str = "snapshot"
    dry_run: bool = False
    state_dir: Path | None = None          # None: a temporary one (no resume, no delta)
    rejects: Path | None = None            # None: rejects.csv in the state directory
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION
    allow_empty: bool = False
    batch_size: int = DEFAULT_BATCH
    workers: int | None = None             # None: by source size and CPU count
    parallel: int = 4                      # batches in flight (the database works on several)
    retries: int = 6
    backoff: float = 1.0
    timeout: float = 60.0
    delta_max: int = 10_000                # the server's max_delta_entries
    deadline: float = DEFAULT_DEADLINE     # seconds a run may take; 0: no limit
    ca_bundle: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    quiet: bool = False
    progress: bool | None = None           # None: on a terminal only
    # Pseudonymisation: hmac or oprf (None: whatever the keyring is for). For oprf, the key
    # service's URL (None: the keyring's) and this adapter's token for it (None:
    # keyservice.token beside the keyring).
    scheme: str | None = None
    keyservice: str | None = None
    keyservice_token_file: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> None:
        if not self.agency:
            raise AdapterUsageError("--agency is required")
        if not str(self.source):
            raise AdapterUsageError("--source is required")
        if self.mode not in MODES:
            raise AdapterUsageError(f"--mode must be one of {', '.join(MODES)}")
        if not self.dry_run:
            if not self.server:
                raise AdapterUsageError("--server is required (or --dry-run)")
            if not self.token:
                raise AdapterUsageError(f"a token is required: --token-file, {TOKEN_ENV}, or "
                                        "token / token_file in the config file")
            if not self.server.startswith(("http://", "https://")):
                raise AdapterUsageError("--server must be an http:// or https:// URL")
        if self.mode == "delta" and self.state_dir is None:
            raise AdapterUsageError("delta mode needs a state directory (--state-dir)")
        if not 0.0 <= self.max_reject_fraction <= 1.0:
            raise AdapterUsageError("--max-reject-fraction must be between 0 and 1")
        if not 1 <= self.batch_size <= 100_000:
            raise AdapterUsageError("--batch-size must be between 1 and 100000")
        if self.workers is not None and not 1 <= self.workers <= 64:
            raise AdapterUsageError("--workers must be between 1 and 64")
        if not 1 <= self.parallel <= 8:
            raise AdapterUsageError("parallel must be between 1 and 8")
        if self.deadline < 0:
            raise AdapterUsageError("--deadline must be >= 0 seconds (0: no limit)")
        if self.retries < 0 or self.backoff < 0 or self.timeout <= 0:
            raise AdapterUsageError("retries and backoff must be >= 0 and timeout > 0")
        if bool(self.client_cert) != bool(self.client_key) and self.client_key:
            raise AdapterUsageError("--client-key needs --client-cert")

    def tls(self) -> tuple[bool | str, tuple[str, str] | str | None]:
        verify: bool | str = str(self.ca_bundle) if self.ca_bundle else True
        cert: tuple[str, str] | str | None = None
        if self.client_cert and self.client_key:
            cert = (str(self.client_cert), str(self.client_key))
        elif self.client_cert:
            cert = str(self.client_cert)
        return verify, cert


# --------------------------------------------------------------------------- config file

_PATHS = {"keyring", "state_dir", "rejects", "ca_bundle", "client_cert", "client_key",
          "token_file", "mapping", "keyservice_token_file"}
_KEYS = {f.name for f in fields(Options)} - {"extra", "progress"} | {"token_file"}
_TYPES: dict[str, tuple[type, ...]] = {
    "dry_run": (bool,), "allow_empty": (bool,), "quiet": (bool,),
    "max_reject_fraction": (float, int), "backoff": (float, int), "timeout": (float, int),
    "deadline": (float, int),
    "batch_size": (int,), "workers": (int,), "parallel": (int,), "retries": (int,),
    "delta_max": (int,),
}


def load_config(path: Path) -> dict[str, Any]:
    """The settings in a config file, checked, with paths made absolute."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AdapterUsageError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AdapterUsageError(f"config {path} is not valid TOML: {exc}") from None
    out: dict[str, Any] = {}
    base = path.resolve().parent
    for raw_key, value in doc.items():
        key = raw_key.replace("-", "_")
        if key not in _KEYS:
            raise AdapterUsageError(f"config {path}: {raw_key} is not a known setting "
                                    f"(known: {', '.join(sorted(_KEYS))})")
        want = _TYPES.get(key, (str,))
        if not isinstance(value, want) or (isinstance(value, bool) and bool not in want):
            raise AdapterUsageError(f"config {path}: {raw_key} must be a "
                                    f"{' or '.join(t.__name__ for t in want)}")
        out[key] = _relative_to(base, key, value) if isinstance(value, str) else value
    if "token" in out:
        try:
            check_private(path)
        except HitmachineError as exc:
            raise AdapterUsageError(f"config {path} holds a token but {exc.detail}") from None
    return out


def _sqlite_from(base: Path, url: str) -> str:
    """A SQLite URL with a relative file (``sqlite:///clients.db``) names a file beside the
    config file, like every other relative path in it; other URLs stay as written."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # the source says what is wrong with it when it opens
    database = parsed.database or ""
    if (parsed.get_backend_name() != "sqlite" or database in ("", ":memory:")
            or database.startswith("file:") or Path(database).is_absolute()):
        return url
    resolved = parsed.set(database=str(base / Path(database).expanduser()))
    return resolved.render_as_string(hide_password=False)


def _relative_to(base: Path, key: str, value: str) -> str | Path:
    """A path setting of a config file is relative to the file's folder."""
    if key in _PATHS and key != "mapping":
        return base / Path(value).expanduser()
    if key == "mapping" and not _is_shipped_name(value):
        return base / Path(value).expanduser()
    if key == "source" and not is_database_url(value):
        return base / Path(value).expanduser()
    if key == "source":
        return _sqlite_from(base, value)
    return value


def _is_shipped_name(value: str) -> bool:
    return "/" not in value and not value.endswith(".toml") and value in shipped_mappings()


def read_token_file(path: Path) -> str:
    try:
        return _read_token_file(path)
    except HitmachineError as exc:
        raise AdapterUsageError(exc.detail) from None


def build_options(cli: dict[str, Any], config: Path | None) -> Options:
    """Command line over environment over config file over defaults."""
    settings: dict[str, Any] = load_config(config) if config else {}
    given = {k: v for k, v in cli.items() if v is not None}
    token_file_cli = given.pop("token_file", None)
    token_cli = given.pop("token", None)
    settings.update({k: v for k, v in given.items() if k not in ("token", "token_file")})
    # The token: command line, then environment, then the config file.
    token: str | None = None
    if token_cli:
        token = token_cli
    elif token_file_cli:
        token = read_token_file(Path(token_file_cli))
    elif os.environ.get(TOKEN_ENV):
        token = os.environ[TOKEN_ENV].strip()
    elif os.environ.get(TOKEN_FILE_ENV):
        token = read_token_file(Path(os.environ[TOKEN_FILE_ENV]))
    elif settings.get("token"):
        token = str(settings["token"])
    elif settings.get("token_file"):
        token = read_token_file(Path(settings["token_file"]))
    settings.pop("token_file", None)
    settings["token"] = token
    if "state_dir" not in settings and os.environ.get(STATE_ENV):
        settings["state_dir"] = Path(os.environ[STATE_ENV])
    for required in ("agency", "source"):
        if not settings.get(required):
            raise AdapterUsageError(f"--{required} is required (on the command line or in "
                                    "the config file)")
    opts = Options(agency=str(settings.pop("agency")), source=settings.pop("source"))
    known = {f.name for f in fields(Options)}
    return replace(opts, **{k: v for k, v in settings.items() if k in known})


def default_state_dir(agency: str) -> Path:
    """Where a run keeps its state unless told: ``$STATE_DIRECTORY`` (systemd's
    ``StateDirectory=``), else ``$XDG_STATE_HOME`` or ``~/.local/state``, per agency."""
    systemd = os.environ.get("STATE_DIRECTORY")
    if systemd:
        return Path(systemd.split(":")[0]) / agency
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "hitmachine-adapter" / agency


# --------------------------------------------------------------------------- mapping

def resolve_mapping(spec: str | Path | None, agency: str, source: str | Path) -> Mapping:
    """The mapping to use: the one given (a file or a shipped name); otherwise the plain
    format when the source file has its header, else the mapping shipped for the agency."""
    if spec is not None:
        return load_mapping(spec)
    if not is_database_url(source) and sniff_plain(Path(source)):
        return load_mapping(PLAIN)
    if agency in shipped_mappings():
        return load_mapping(agency)
    raise AdapterUsageError(f"there is no shipped mapping for agency {agency!r}; "
                            "write one and pass it with --mapping")


__all__ = ["DEFAULT_BATCH", "DEFAULT_DEADLINE", "DEFAULT_MAX_REJECT_FRACTION", "MODES", "Options",
           "build_options", "default_state_dir", "load_config", "read_token_file",
           "resolve_mapping"]
