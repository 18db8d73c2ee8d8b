"""No raw identifier at rest or in logs.

Known test identities go through everything that touches them: the adapter (publish,
rejects), the query API (hits, misses, invalid input, refused tokens), and the CLI.
Afterwards neither the database files (SQLite with its WAL and shared memory; for
PostgreSQL a pg_dump of the database) nor the server's and adapter's output contains
any of their BSNs, surnames or birth dates, in any of the spellings that were sent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from hitmachine.core.identity import is_valid_bsn
from hitmachine.settings import Settings
from tests.integration.test_cli_and_adapter import token, write_csv
from tests.live_server import LiveServer, cli

PEOPLE = [  # the first and third BSN pass the 11-test, the fourth does not
    {"bsn": "217498358", "given_names": "Quirijn", "prefix": "van", "surname": "Zwanenburgh",
     "date_of_birth": "1963-08-27"},
    {"bsn": "", "given_names": "Ximena", "prefix": "", "surname": "Oosterkamp-Dijkhuizen",
     "date_of_birth": "1987-02-14"},
    {"bsn": "081273654", "given_names": "Gerolf", "prefix": "ter", "surname": "Heegstra",
     "date_of_birth": "2009-10-05"},
    {"bsn": "217498351", "given_names": "Wrong", "prefix": "", "surname": "Checksumma",
     "date_of_birth": "1955-03-19"},  # fails the 11-test: a rejected row and a 422
]


def test_the_test_identities_are_what_they_claim() -> None:
    assert [is_valid_bsn(p["bsn"]) for p in PEOPLE if p["bsn"]] == [True, True, False]


def needles() -> list[bytes]:
    out: list[bytes] = []
    for p in PEOPLE:
        if p["bsn"]:
            out += [p["bsn"].encode(), p["bsn"].lstrip("0").encode()]
        for part in p["surname"].split("-"):
            out += [part.encode(), part.lower().encode(), part.upper().encode()]
        out += [p["date_of_birth"].encode(), p["date_of_birth"].replace("-", "").encode()]
        d = p["date_of_birth"].split("-")
        out.append(f"{d[2]}-{d[1]}-{d[0]}".encode())
    return out


def database_bytes(settings: Settings, tmp_path: Path) -> bytes:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        db = Path(url.database or "")
        files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"),
                 db.with_name(db.name + "-journal")]
        present = [f for f in files if f.exists()]
        assert db in present
        return b"".join(f.read_bytes() for f in present)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed to scan the PostgreSQL database")
    dump = subprocess.run([pg_dump, "--data-only", "-h", url.host or "127.0.0.1",
                           "-p", str(url.port or 5432), "-U", url.username or "postgres",
                           url.database or ""], capture_output=True, check=True)
    assert b"audit_records" in dump.stdout
    return dump.stdout


def test_nothing_identifying_at_rest_or_in_logs(settings: Settings, tmp_path: Path) -> None:
    adapter_token = token(settings, "adapter", "om adapter", "om")
    coordinator = token(settings, "coordinator", "coordinator")
    keyring = tmp_path / "om-keyring.json"
    cli(settings, "keys", "export", "--out", str(keyring))
    source = write_csv(tmp_path / "om.csv", PEOPLE)
    outputs: list[str] = []
    with LiveServer(settings, tmp_path / "server.log") as server:
        result = cli(settings, "adapter", "sync", "--agency", "om", "--source", str(source),
                     "--server", server.url, "--token", adapter_token, "--keyring", str(keyring),
                     "--state-dir", str(tmp_path / "state"), "--max-reject-fraction", "0.5")
        outputs += [result.stdout, result.stderr,
                    (tmp_path / "state" / "rejects.csv").read_text(encoding="utf-8")]
        assert "1 rejected" in result.stdout
        members = [{k: v for k, v in p.items() if v} for p in PEOPLE]
        headers = {"Authorization": f"Bearer {coordinator}"}
        body = {"purpose": "casusoverleg", "case_reference": "VH-LEAK", "members": members[:3]}
        r = httpx.post(f"{server.url}/v1/queries/household", headers=headers, json=body)
        assert r.status_code == 200 and [m["known"] for m in r.json()["members"]] == [True, True, True]
        r = httpx.post(f"{server.url}/v1/queries/household", headers=headers,
                       json={**body, "members": members})
        assert r.status_code == 422  # the bad BSN
        r = httpx.post(f"{server.url}/v1/queries/household",
                       headers={"Authorization": "Bearer hm_wrong"}, json=body)
        assert r.status_code == 401
        r = httpx.post(f"{server.url}/v1/queries/household", headers=headers,
                       content=b'{"members": [{"bsn": "217498358", "surname": "Zwanenburgh"')
        assert r.status_code == 422
    outputs.append((tmp_path / "server.log").read_text(encoding="utf-8", errors="replace"))
    assert "POST /v1/queries/household" in outputs[-1]  # the access log was captured
    stored = database_bytes(settings, tmp_path)
    logs = "\n".join(outputs).encode()
    for needle in needles():
        assert needle not in stored, f"{needle!r} found in the database"
        assert needle not in logs, f"{needle!r} found in the logs"
