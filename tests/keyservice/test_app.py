"""The key service's API: the blind protocol end to end over HTTP, authentication, bad
input named by field, the batch limit, rate limits, and the audit log (counts only)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from hitmachine.core import oprf
from hitmachine.core.errors import Forbidden
from hitmachine_keyservice import audit, keyfile, tokens
from hitmachine_keyservice.app import create_app
from hitmachine_keyservice.settings import KeyServiceSettings

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def ks(tmp_path: Path) -> Iterator[tuple[TestClient, KeyServiceSettings, dict[str, str]]]:
    settings = KeyServiceSettings(dir=tmp_path / "ks", max_batch=5000, threads=2)
    settings.dir.mkdir(mode=0o700)
    keyfile.save(settings.key_path, keyfile.KeyFile.generate(3).add(4).retire(3))
    tf, _, adapter = tokens.TokenFile().create("om adapter", 10**6, 10**7)
    tf, _, slow = tf.create("slow adapter", 100, 150)
    tf, revoked_entry, revoked = tf.create("gone", 100, 100)
    tokens.save(settings.tokens_path, tf.revoke(revoked_entry.id))
    with TestClient(create_app(settings)) as client:
        yield client, settings, {"adapter": adapter, "slow": slow, "revoked": revoked}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **OCTETS}


def test_the_blind_protocol_over_http_gives_the_prf_of_the_input(ks) -> None:  # type: ignore[no-untyped-def]
    client, settings, toks = ks
    inputs = [f"person {i}".encode() for i in range(5000)]  # split over both threads
    blinded = oprf.blind_batch(inputs)
    r = client.post("/v1/evaluate?version=4", content=b"".join(b for _, b in blinded),
                    headers=_auth(toks["adapter"]))
    assert r.status_code == 200, r.text
    evaluated = [r.content[i:i + 32] for i in range(0, len(r.content), 32)]
    outputs = oprf.finalize_batch(inputs, [b for b, _ in blinded], evaluated)
    key = keyfile.load(settings.key_path).key(4)
    assert outputs == [key.evaluate(x) for x in inputs]
    # Fresh blinds: the same inputs look entirely different to the key service next time.
    again = oprf.blind_batch(inputs[:10])
    assert {b for _, b in again}.isdisjoint(b for _, b in blinded[:10])


def test_tokens_are_required_and_revocation_holds(ks) -> None:  # type: ignore[no-untyped-def]
    client, _, toks = ks
    element = oprf.blind(b"x")[1]
    for headers in ({}, _auth("hks_wrong"), _auth(toks["revoked"]), {"Authorization": toks["adapter"]}):
        r = client.post("/v1/evaluate?version=4", content=element, headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/keys").status_code == 401
    assert client.get("/v1/keys", headers=_auth(toks["adapter"])).json()["versions"] == [4]


@pytest.mark.parametrize("query, field", [("", "version"), ("?version=abc", "version"),
                                          ("?version=3", "version"), ("?version=9", "version")])
def test_a_bad_or_retired_version_is_named(ks, query: str, field: str) -> None:  # type: ignore[no-untyped-def]
    client, _, toks = ks
    r = client.post(f"/v1/evaluate{query}", content=oprf.blind(b"x")[1],
                    headers=_auth(toks["adapter"]))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == [field]


def test_bad_bodies_are_named_and_never_echoed(ks) -> None:  # type: ignore[no-untyped-def]
    client, _, toks = ks
    for body in (b"", b"\x01" * 33):
        r = client.post("/v1/evaluate?version=4", content=body, headers=_auth(toks["adapter"]))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    good = [b for _, b in oprf.blind_batch([b"%d" % i for i in range(4400)])]
    bad = b"\xff" * 32
    good[4321] = bad
    r = client.post("/v1/evaluate?version=4", content=b"".join(good), headers=_auth(toks["adapter"]))
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["blinded_elements.4321"]
    assert bad.hex() not in r.text
    r = client.post("/v1/evaluate?version=4", content=b"".join(good[:1]) * 5001,
                    headers=_auth(toks["adapter"]))
    assert r.status_code == 413


def test_rate_limit_answers_429_with_retry_after_and_is_audited(ks) -> None:  # type: ignore[no-untyped-def]
    client, settings, toks = ks
    elements = b"".join(b for _, b in oprf.blind_batch([b"a"] * 60))
    assert client.post("/v1/evaluate?version=4", content=elements,
                       headers=_auth(toks["slow"])).status_code == 200
    r = client.post("/v1/evaluate?version=4", content=elements, headers=_auth(toks["slow"]))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # Another adapter is not held back by this one.
    assert client.post("/v1/evaluate?version=4", content=elements,
                       headers=_auth(toks["adapter"])).status_code == 200
    outcomes = [(rec["adapter"], rec["outcome"], rec["count"])
                for rec in audit.read(settings.audit_path)]
    assert outcomes == [("slow adapter", "ok", 60), ("slow adapter", "rate_limited", 60),
                        ("om adapter", "ok", 60)]


def test_the_audit_log_holds_counts_per_adapter_never_elements(ks) -> None:  # type: ignore[no-untyped-def]
    client, settings, toks = ks
    blinded = [b for _, b in oprf.blind_batch([b"123456782", b"Jansen|2001-02-03"])]
    r = client.post("/v1/evaluate?version=4", content=b"".join(blinded),
                    headers=_auth(toks["adapter"]))
    text = settings.audit_path.read_text()
    for value in (*blinded, *[r.content[i:i + 32] for i in (0, 32)]):
        assert value.hex() not in text and value not in settings.audit_path.read_bytes()
    (record,) = [json.loads(line) for line in text.splitlines()]
    assert set(record) == {"at", "adapter", "token_id", "version", "count", "outcome"}
    assert (record["adapter"], record["count"], record["version"]) == ("om adapter", 2, 4)
    assert audit.totals(audit.read(settings.audit_path))[
        (record["at"][:10], "om adapter", "ok")] == 2


def test_key_and_token_files_are_private_and_hold_no_tokens(ks) -> None:  # type: ignore[no-untyped-def]
    _, settings, toks = ks
    for path in (settings.key_path, settings.tokens_path):
        assert os.stat(path).st_mode & 0o777 == 0o600
    stored = settings.tokens_path.read_text()
    assert all(t not in stored for t in toks.values())
    assert tokens.token_hash(toks["adapter"]) in stored
    settings.key_path.chmod(0o644)
    with pytest.raises(Forbidden):
        keyfile.load(settings.key_path)
