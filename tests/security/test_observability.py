"""Observability without identifiers: every request leaves one JSON log line (request
id, actor, event, outcome, duration) and moves the Prometheus metrics at ``/metrics``
(queries, hits, publishes, audit lag, rate-limit denials); neither carries a BSN, a name,
a birth date or a pseudonym of the people asked about."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hitmachine.core.logs import JsonFormatter
from hitmachine.services.context import Context
from tests.conftest import Tokens
from tests.helpers import entry_for, publish, query

PERSON = {"bsn": "217498358", "given_names": "Quirijn", "prefix": "van",
          "surname": "Zwanenburgh", "date_of_birth": "1963-08-27"}


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("hitmachine")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


def metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    found = re.search(r"^" + pattern + r"$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_logs_and_metrics_carry_no_identifier(ctx: Context, client: TestClient, tokens: Tokens,
                                              captured: Lines) -> None:
    # The guard is made on first use, from the settings of that moment.
    ctx.settings = ctx.settings.model_copy(update={"rate_limit_per_user": "2/minute"})
    before = client.get("/metrics").text
    publish(client, tokens["adapter:om"], "om", [PERSON], ctx)
    r = query(client, tokens["coordinator"], [PERSON, {"bsn": "123456782"}])
    assert r.status_code == 200 and r.json()["members"][0]["known"] is True
    query(client, tokens["coordinator"], [{"bsn": "111222333"}])
    assert query(client, tokens["coordinator"], [PERSON]).status_code == 429
    client.get("/v1/agencies", headers={"Authorization": "Bearer hm_wrong"})
    after = client.get("/metrics")
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert metric(text, "hitmachine_queries_total", outcome="hit") - \
        metric(before, "hitmachine_queries_total", outcome="hit") == 1
    assert metric(text, "hitmachine_hits_total") - metric(before, "hitmachine_hits_total") == 1
    assert metric(text, "hitmachine_publishes_total", kind="snapshot") - \
        metric(before, "hitmachine_publishes_total", kind="snapshot") == 1
    assert metric(text, "hitmachine_rate_limit_denials_total", limit="user") - \
        metric(before, "hitmachine_rate_limit_denials_total", limit="user") == 1
    assert "hitmachine_audit_lag_seconds" in text and "hitmachine_audit_pending_records" in text

    requests = [json.loads(line) for line in captured.lines if '"logger":"hitmachine.access"' in line]
    assert len(requests) >= 8
    for line in requests:
        assert {"ts", "request_id", "event", "outcome", "status", "duration_ms"} <= line.keys()
    by_status = {(r["route"], r["status"]): r for r in requests}
    answered = by_status[("/v1/queries/household", 200)]
    assert answered["actor"] == "test coordinator" and answered["event"] == "query.household"
    assert by_status[("/v1/queries/household", 429)]["outcome"] == "limited"
    assert by_status[("/v1/agencies", 401)]["outcome"] == "denied"
    alerts = [json.loads(line) for line in captured.lines if '"logger":"hitmachine.alert"' in line]
    assert [a["event"] for a in alerts] == ["alert.rate_limit"]

    secrets = [PERSON["bsn"], "123456782", "111222333", "Zwanenburgh", "zwanenburgh",
               "Quirijn", "1963-08-27", "19630827"]
    entry = entry_for(ctx, **PERSON)
    secrets += [v for v in entry.values() if v]  # the pseudonyms, in hex
    everything = "\n".join(captured.lines) + text
    for secret in secrets:
        assert secret not in everything, secret
