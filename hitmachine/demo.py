"""``hitmachine demo``: a working instance in one command, on SQLite, with synthetic data.

It does what an operator and five agencies would do: initialise, create tokens, export
the keyring for the adapters, serve, and publish each agency's (synthetic) export
through the real adapter over HTTP. Then it prints how to ask a question with curl.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from hitmachine.config import Settings
from hitmachine.domain.errors import Conflict, Unavailable
from hitmachine.domain.principal import Role
from hitmachine.instance import initialise
from hitmachine.services import admin
from hitmachine.services.context import Context

DATA = Path(__file__).with_name("data") / "nijmegen"


def run_demo(*, directory: Path, port: int, foreground: bool = True) -> None:
    from adapters.cli import run_sync

    directory = directory.resolve()
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    env = {**os.environ, "HITMACHINE_DATABASE_URL": f"sqlite:///{directory / 'hitmachine.db'}",
           "HITMACHINE_KEYS_DIR": str(directory / "keys"),
           "HITMACHINE_API_DOCS": "true"}  # served by the app itself, if the docs extra is in
    settings = Settings(database_url=env["HITMACHINE_DATABASE_URL"],
                        keys_dir=Path(env["HITMACHINE_KEYS_DIR"]))
    for line in initialise(settings):
        print(line)
    ctx = Context.from_settings(settings)
    try:
        adapter_keyring = directory / "adapter-keyring.json"
        admin.export_keyring(ctx, admin.CONSOLE, adapter_keyring, "demo-setup")
        adapter_tokens = {code: admin.create_token(ctx, admin.CONSOLE, name=f"adapter {code}",
                                                   role=Role.ADAPTER, agency=code,
                                                   expires_at=None, request_id="demo-setup")[1]
                          for code in ctx.agencies}
        _, coordinator = admin.create_token(ctx, admin.CONSOLE, name="demo coordinator",
                                            role=Role.COORDINATOR, agency=None, expires_at=None,
                                            request_id="demo-setup")
    finally:
        ctx.close()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "hitmachine.cli", "serve", "--port", str(port),
                               "--no-access-log"], env=env)
    try:
        _wait_ready(base, server)
        for extract in sorted(_extracts()):
            code = extract.stem
            result = run_sync(agency=code, source=extract, server=base,
                              token=adapter_tokens[code], keyring=adapter_keyring)
            print(result.summary())
        print(_instructions(base, coordinator))
        if foreground:
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if foreground or server.poll() is not None:
            server.terminate()
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
            raise Unavailable(f"the server exited (code {server.returncode}); is the port in use?")
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


def _instructions(base: str, token: str) -> str:
    body = {"purpose": "casusoverleg", "case_reference": "VH-2026-0042",
            "members": example_household()}
    curl = (f"curl -s -X POST {base}/v1/queries/household \\\n"
            f"  -H 'Authorization: Bearer {token}' \\\n"
            f"  -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}")
    return f"""
Hitmachine demo is running on {base}  (Ctrl+C stops it)

Coordinator token (shown once):
{token}

Ask about a household (synthetic people):
{curl}

API documentation: {base}/docs (with the docs extra), contract: {base}/openapi.json
"""


__all__ = ["example_household", "run_demo"]
