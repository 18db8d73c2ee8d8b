"""The CLI and the adapter as an operator and an agency run them, against a real server."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import httpx

from hitmachine.settings import Settings
from tests.live_server import LiveServer, cli

PEOPLE = [
    {"bsn": "111222333", "given_names": "Anna", "prefix": "", "surname": "Jansen",
     "date_of_birth": "1980-05-01"},
    {"bsn": "", "given_names": "Mehmet", "prefix": "", "surname": "Yılmaz",
     "date_of_birth": "1991-11-30"},
    {"bsn": "123456789", "given_names": "Bad", "prefix": "", "surname": "Bsn",
     "date_of_birth": "1970-01-01"},
]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["bsn", "given_names", "prefix", "surname",
                                                "date_of_birth"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def token(settings: Settings, role: str, name: str, agency: str | None = None) -> str:
    args = ["token", "create", "--role", role, "--name", name]
    if agency:
        args += ["--agency", agency]
    out = cli(settings, *args)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hm_"), out.stdout
    return lines[0]


def test_operator_and_agency_end_to_end(settings: Settings, tmp_path: Path) -> None:
    adapter_token = token(settings, "adapter", "om adapter", "om")
    coordinator = token(settings, "coordinator", "coordinator")
    keyring = tmp_path / "om-keyring.json"
    cli(settings, "keys", "export", "--out", str(keyring))
    assert stat.S_IMODE(keyring.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.keyring_path.stat().st_mode) == 0o600
    secret = json.loads(settings.keyring_path.read_text())["keys"][0]["key"]
    source = write_csv(tmp_path / "om.csv", PEOPLE)
    with LiveServer(settings, tmp_path / "server.log") as server:
        result = cli(settings, "adapter", "sync", "--agency", "om", "--source", str(source),
                     "--server", server.url, "--token", adapter_token, "--keyring", str(keyring),
                     "--state-dir", str(tmp_path / "state"), "--max-reject-fraction", "0.5")
        assert "3 rows read, 2 entries published, 1 rejected" in result.stdout
        r = httpx.post(f"{server.url}/v1/queries/household",
                       headers={"Authorization": f"Bearer {coordinator}"},
                       json={"purpose": "casusoverleg", "case_reference": "VH-9",
                             "members": [{"bsn": "111222333"},
                                         {"given_names": "Mehmet", "surname": "Yilmaz",
                                          "date_of_birth": "1991-11-30"},
                                         {"bsn": "123456782"}]})
        assert r.status_code == 200, r.text
        assert [m["known"] for m in r.json()["members"]] == [True, True, False]
        listing = cli(settings, "keys", "list").stdout + cli(settings, "token", "list").stdout
        assert secret not in listing and adapter_token not in listing
        token_id = next(line.split("\t")[0] for line in cli(settings, "token", "list").stdout.splitlines()
                        if line.endswith("coordinator"))
        cli(settings, "token", "revoke", token_id)
        r = httpx.post(f"{server.url}/v1/queries/household",
                       headers={"Authorization": f"Bearer {coordinator}"},
                       json={"purpose": "casusoverleg", "case_reference": "VH-9",
                             "members": [{"bsn": "111222333"}]})
        assert r.status_code == 401
    assert secret not in (tmp_path / "server.log").read_text()


def test_adapter_exit_codes(settings: Settings, tmp_path: Path) -> None:
    coordinator = token(settings, "coordinator", "not an adapter")
    keyring = tmp_path / "k.json"
    cli(settings, "keys", "export", "--out", str(keyring))
    source = write_csv(tmp_path / "om.csv", PEOPLE[:1])
    with LiveServer(settings, tmp_path / "server.log") as server:
        wrong_role = cli(settings, "adapter", "sync", "--agency", "om", "--source", str(source),
                         "--server", server.url, "--token", coordinator, "--keyring", str(keyring),
                         "--state-dir", str(tmp_path / "state"), check=False)
        assert wrong_role.returncode == 4, wrong_role.stderr
        missing = cli(settings, "adapter", "sync", "--agency", "om", "--source",
                      str(tmp_path / "nope.csv"), "--server", server.url, "--token", coordinator,
                      "--keyring", str(keyring), "--state-dir", str(tmp_path / "state"),
                      check=False)
        assert missing.returncode == 2
    unreachable = cli(settings, "adapter", "sync", "--agency", "om", "--source", str(source),
                      "--server", "http://127.0.0.1:9", "--token", coordinator, "--keyring",
                      str(keyring), "--state-dir", str(tmp_path / "state"), "--retries", "1",
                      check=False)
    assert unreachable.returncode == 5


def test_serve_refuses_exposed_keys(settings: Settings) -> None:
    settings.keyring_path.chmod(0o644)
    result = cli(settings, "serve", "--port", "1", check=False)
    assert result.returncode == 2
    assert "chmod 600" in result.stderr


def test_init_is_idempotent(settings: Settings) -> None:
    before = settings.keyring_path.read_bytes()
    result = cli(settings, "init")
    assert "revision" in result.stderr
    assert settings.keyring_path.read_bytes() == before
