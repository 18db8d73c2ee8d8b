"""``hitmachine demo``: a working instance in one command, on SQLite, with synthetic data.

It does what an operator and five agencies would do: initialise, create tokens, export
the keyring for the adapters, serve, and publish each agency's (synthetic) export
through the real adapter over HTTP. Then it prints how to ask a question with curl.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import shlex
import shutil
import signal
import string
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import httpx

from hitmachine.core.errors import Conflict, Unavailable
from hitmachine.core.listen import bind_tcp
from hitmachine.core.principal import Role
from hitmachine.services import admin, users
from hitmachine.services.context import Context
from hitmachine.services.instance import initialise
from hitmachine.settings import Settings

DATA = Path(__file__).parents[1] / "data" / "nijmegen"
# Written into every directory the demo makes; only a directory holding it is ever deleted.
MARKER = ".hitmachine-demo"
WEB_USER = "demo-coordinator"


def run_demo(base: Settings, *, directory: Path, port: int, foreground: bool = True) -> None:
    """Run the demo with ``base`` (the command's settings) pointed at ``directory``."""
    # Before anything is deleted or started: on a taken port the adapters would publish to
    # whatever listens there (another Hitmachine answers 401 to our tokens).
    bind_tcp("127.0.0.1", port).close()
    directory = fresh_directory(directory)
    env = {**os.environ, "HITMACHINE_DATABASE_URL": f"sqlite:///{directory / 'hitmachine.db'}",
           "HITMACHINE_KEYS_DIR": str(directory / "keys"),
           "HITMACHINE_API_DOCS": "true"}  # served by the app itself, if the docs extra is in
    settings = base.model_copy(update={"database_url": env["HITMACHINE_DATABASE_URL"],
                                       "keys_dir": Path(env["HITMACHINE_KEYS_DIR"])})
    for line in initialise(settings):
        print(line)
    adapter_keyring = directory / "adapter-keyring.json"
    adapter_tokens, coordinator, web_password = _accounts(settings, adapter_keyring)
    url = f"http://127.0.0.1:{port}"
    with _sigterm_as_interrupt():
        server = subprocess.Popen([sys.executable, "-m", "hitmachine.cli.main", "serve", "--port",
                                   str(port), "--no-access-log"], env=env)
        keep_serving = False  # only --no-foreground, after everything went well
        try:
            _wait_ready(url, server)
            _publish(url, adapter_tokens, adapter_keyring)
            stop = ("Ctrl+C stops it" if foreground else
                    f"in the background; stop it with: kill {server.pid}")
            print(_instructions(url, coordinator, web_password, stop))
            keep_serving = not foreground
            if foreground:
                server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            if not keep_serving:
                _stop(server)


def fresh_directory(directory: Path) -> Path:
    """The demo's directory, empty but for the marker. An existing one is deleted only when
    the demo made it (the marker is there); any other non-empty directory is refused."""
    directory = directory.expanduser().resolve()
    marker = directory / MARKER
    if directory.exists() and not directory.is_dir():
        raise Conflict(f"--dir {directory} exists and is not a directory")
    if directory.is_dir() and marker.is_file() and not marker.is_symlink():
        shutil.rmtree(directory)
    elif directory.is_dir() and any(directory.iterdir()):
        raise Conflict(f"--dir {directory} is not empty and was not made by 'hitmachine demo'; "
                       f"it is left alone: choose another --dir")
    directory.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by 'hitmachine demo', which deletes this directory when it runs "
                      "here again\n", encoding="utf-8")
    return directory


def _accounts(settings: Settings, adapter_keyring: Path) -> tuple[dict[str, str], str, str]:
    """Adapter tokens per agency, a coordinator token, and a coordinator web account."""
    ctx = Context.from_settings(settings)
    try:
        admin.export_keyring(ctx, admin.CONSOLE, adapter_keyring, "demo-setup")
        adapter_tokens = {code: admin.create_token(ctx, admin.CONSOLE, name=f"adapter {code}",
                                                   role=Role.ADAPTER, agency=code,
                                                   expires_at=None, request_id="demo-setup")[1]
                          for code in ctx.agencies}
        _, coordinator = admin.create_token(ctx, admin.CONSOLE, name="demo coordinator",
                                            role=Role.COORDINATOR, agency=None, expires_at=None,
                                            request_id="demo-setup")
        # 16 letters and digits: above the 12 the pages require, and nothing to mistype
        password = "".join(secrets.choice(string.ascii_letters + string.digits)
                           for _ in range(16))
        users.create_user(ctx, admin.CONSOLE, name=WEB_USER, role=Role.COORDINATOR,
                          password=password, request_id="demo-setup")
    finally:
        ctx.close()
    return adapter_tokens, coordinator, password


def _publish(base: str, adapter_tokens: dict[str, str], keyring: Path) -> None:
    from hitmachine_adapter.cli import run_sync
    from hitmachine_adapter.errors import AdapterError

    for extract in sorted(_extracts()):
        code = extract.stem
        try:
            result = run_sync(agency=code, source=extract, server=base,
                              token=adapter_tokens[code], keyring=keyring)
        except AdapterError as exc:
            raise Unavailable(f"publishing {code}'s synthetic extract failed: {exc}") from None
        print(result.summary())


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl+C, so its server child is stopped too. Only in this
    process: a child forked meanwhile (an adapter's worker) gets the default action."""
    me = os.getpid()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != me:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop(server: subprocess.Popen[bytes]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut this short
    if server.poll() is None:
        server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def _extracts() -> list[Path]:
    found = list((DATA / "extracts").glob("*.csv")) + list((DATA / "extracts-justice").glob("*.csv"))
    if not found:
        raise Conflict(f"no synthetic extracts found under {DATA}")
    return found


def _wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise Unavailable(f"the demo's server exited (code {server.returncode}); "
                              f"its own message is above")
        try:
            if httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise Unavailable("the server did not become ready in time")


def example_household() -> list[dict[str, str]]:
    """A synthetic household with hits at two or more agencies, as query members."""
    expected = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    member_hits: dict[str, list[str]] = expected["member_hits"]
    with (DATA / "households.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_household: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_household.setdefault(row["household_id"], []).append(row)
    def score(members: list[dict[str, str]]) -> int:
        return len({a for m in members for a in member_hits.get(m["member_id"], [])})
    best = max(by_household.values(), key=score)
    out = []
    for m in best:
        member = {k: m[k] for k in ("bsn", "given_names", "prefix", "surname", "date_of_birth")
                  if m[k]}
        out.append(member)
    return out


def _instructions(base: str, token: str, web_password: str, stop: str) -> str:
    body = {"purpose": "casusoverleg", "case_reference": "VH-2026-0042",
            "members": example_household()}
    curl = (f"curl -s -X POST {base}/v1/queries/household \\\n"
            f"  -H 'Authorization: Bearer {token}' \\\n"
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}")
    return f"""
Hitmachine demo is running on {base}  ({stop})

Sign in to the web pages at {base}/aanmelden
  name:     {WEB_USER}
  password: {web_password}

Coordinator token for the API (shown once):
{token}

Ask about a household (synthetic people):
{curl}

API documentation: {base}/docs (with the docs extra), contract: {base}/openapi.json
"""


__all__ = ["MARKER", "example_household", "fresh_directory", "run_demo"]
