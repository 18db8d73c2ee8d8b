"""Nothing leaks, across everything this issue added: after a scenario with known
identities on a 2-worker server (sharing limits through Redis) (adapter sync with a rejected row, hits, misses, invalid
input, a refused token, a body that is not JSON, an enumeration stopped by the budget with
its alerts, the privacy officer reading the alerts), none of their BSNs, names or birth
dates is in the database files (SQLite with WAL, shared memory and journal; a pg_dump for
PostgreSQL), the server's JSON logs, the adapter's output and state, the audit export or
``/metrics`` — and no pseudonym of theirs is in the logs or the metrics either."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx

from hitmachine.core.identity import normalise_identity
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from tests.integration.test_cli_and_adapter import token, write_csv
from tests.integration.test_no_raw_identifiers import PEOPLE, database_bytes, needles
from tests.live_server import LiveServer, cli
from tests.security.test_enumeration import REDIS_URL, REQUIRE_REDIS, _redis_up

ENV = {"HITMACHINE_QUERY_BUDGET_PER_DAY": "10", "HITMACHINE_QUERY_ALERT_PER_DAY": "4"}


def _pseudonyms(ctx: Context) -> list[bytes]:
    out: list[bytes] = []
    p = ctx.pseudonymiser
    for person in PEOPLE[:3]:
        ident = normalise_identity(**{k: v for k, v in person.items() if v})
        for ps in p.pseudonymise([ident], p.primary_version):
            out += [x.hex().encode() for x in (ps.bsn, ps.name) if x]
    return out


def test_nothing_leaks_anywhere(settings: Settings, ctx: Context, tmp_path: Path) -> None:
    adapter_token = token(settings, "adapter", "om adapter", "om")
    # Two workers share the budget through Redis; without it, one worker (in-memory counts).
    shared = _redis_up() or REQUIRE_REDIS
    env = {**ENV, "HITMACHINE_RATE_LIMIT_STORAGE": REDIS_URL} if shared else ENV
    coordinator = token(settings, "coordinator", f"leak coordinator {uuid.uuid4().hex[:8]}")
    officer = token(settings, "privacy-officer", "leak officer")
    keyring = tmp_path / "om-keyring.json"
    cli(settings, "keys", "export", "--out", str(keyring))
    source = write_csv(tmp_path / "om.csv", PEOPLE)
    outputs: list[str] = []
    with LiveServer(settings, tmp_path / "server.log", workers=2 if shared else 1,
                    extra_env=env) as server:
        result = cli(settings, "adapter", "sync", "--agency", "om", "--source", str(source),
                     "--server", server.url, "--token", adapter_token, "--keyring", str(keyring),
                     "--state-dir", str(tmp_path / "state"), "--max-reject-fraction", "0.5")
        outputs += [result.stdout, result.stderr]
        members = [{k: v for k, v in p.items() if v} for p in PEOPLE]
        headers = {"Authorization": f"Bearer {coordinator}"}
        body = {"purpose": "casusoverleg", "case_reference": "VH-LEAK", "members": members[:3]}
        url = f"{server.url}/v1/queries/household"
        r = httpx.post(url, headers=headers, json=body)
        assert r.status_code == 200 and [m["known"] for m in r.json()["members"]] == [True] * 3
        assert httpx.post(url, headers=headers, json={**body, "members": members}).status_code == 422
        assert httpx.post(url, headers={"Authorization": "Bearer hm_wrong"}, json=body).status_code == 401
        assert httpx.post(url, headers=headers, content=b'{"members": [{"bsn": "217498358"').status_code == 422
        statuses = [httpx.post(url, headers=headers, json=body).status_code for _ in range(3)]
        assert statuses == [200, 429, 429]  # 3 + 4 (the invalid one counts) + 3 = 10; then over
        alerts = httpx.get(f"{server.url}/v1/audit/records", params={"event": "alert."},
                           headers={"Authorization": f"Bearer {officer}"})
        assert [a["event"] for a in alerts.json()["records"]] == [
            "alert.query_volume", "alert.query_budget"]
        outputs.append(alerts.text)
        metrics = httpx.get(f"{server.url}/metrics").text
        assert "hitmachine_queries_total" in metrics
        outputs.append(metrics)
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(entry.get("route") == "/v1/queries/household" for entry in lines)
    assert any(entry.get("event") == "alert.query_budget" for entry in lines)
    outputs.append(log)
    for path in sorted((tmp_path / "state").rglob("*")):
        if path.is_file() and path.name != "rejects.csv":  # the agency's own rejects, kept locally
            outputs.append(path.read_text(encoding="utf-8", errors="replace"))
    export = tmp_path / "audit.jsonl"
    cli(settings, "audit", "export", "--out", str(export))
    outputs.append(export.read_text(encoding="utf-8"))
    assert "query.household" in outputs[-1]

    stored = database_bytes(settings, tmp_path)
    text = "\n".join(outputs).encode()
    for needle in needles():
        assert needle not in stored, f"{needle!r} found in the database"
        assert needle not in text, f"{needle!r} found in logs, adapter state, export or metrics"
    observability = (log + metrics).encode()
    for pseudonym in _pseudonyms(ctx):
        assert pseudonym not in observability, "a pseudonym in the logs or metrics"
