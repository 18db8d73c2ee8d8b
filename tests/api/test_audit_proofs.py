"""Checkpoints and Merkle proofs over the API, checked the way a partner would: the proof
against the signed root, with the RFC 9162 verifier and the log's public key only."""

from __future__ import annotations

import base64
import hashlib

from fastapi.testclient import TestClient

from hitmachine.core.auditlog.checkpoint import CheckpointVerifier
from hitmachine.core.auditlog.merkle import verify_consistency, verify_inclusion
from hitmachine.services import audit as service
from hitmachine.services.context import Context
from tests.conftest import Tokens
from tests.helpers import publish, query

ANNA = {"bsn": "111222333"}


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def test_checkpoint_and_proofs_for_the_privacy_officer_and_own_records_of_a_partner(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [ANNA], ctx)
    asked = query(client, tokens["partner:om"], [ANNA])
    assert asked.status_code == 200
    other = query(client, tokens["partner:leerplicht"], [ANNA])
    service.sign_checkpoint_now(ctx)

    r = client.get("/v1/audit/checkpoint", headers=tokens.header("partner:om"))
    assert r.status_code == 200, r.text
    cp = r.json()
    verifier = CheckpointVerifier.from_verifier_key(cp["verifier_key"])
    signed = verifier.verify(cp["checkpoint"], origin=ctx.settings.origin)
    assert (signed.size, base64.b64encode(signed.root_hash).decode()) == (cp["size"],
                                                                           cp["root_hash"])

    # The partner proves its own query is in the log: by the request id it was answered with.
    rid = asked.headers["x-request-id"]
    r = client.get("/v1/audit/proof/inclusion", params={"request_id": rid},
                   headers=tokens.header("partner:om"))
    assert r.status_code == 200, r.text
    proof = r.json()
    assert proof["size"] == cp["size"] and proof["checkpoint"] == cp["checkpoint"]
    leaf = b64(proof["leaf_hash"])
    assert hashlib.sha256(b"\x00" + b64(proof["leaf_data"])).digest() == leaf
    verify_inclusion(leaf, proof["seq"], proof["size"], [b64(h) for h in proof["proof"]],
                     signed.root_hash)
    assert b64(proof["root_hash"]) == signed.root_hash  # the root the answer states

    # Not another partner's record, neither by request id nor by seq.
    r = client.get("/v1/audit/proof/inclusion",
                   params={"request_id": other.headers["x-request-id"]},
                   headers=tokens.header("partner:om"))
    assert r.status_code == 404
    r = client.get("/v1/audit/proof/inclusion", params={"request_id": rid},
                   headers=tokens.header("partner:leerplicht"))
    assert r.status_code == 404
    r = client.get("/v1/audit/proof/inclusion", params={"seq": proof["seq"]},
                   headers=tokens.header("partner:leerplicht"))
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    # The privacy officer may ask about any record.
    r = client.get("/v1/audit/proof/inclusion", params={"seq": proof["seq"]},
                   headers=tokens.header("privacy-officer"))
    assert r.status_code == 200 and r.json()["leaf_hash"] == proof["leaf_hash"]
    # The coordinator may not ask at all.
    r = client.get("/v1/audit/checkpoint", headers=tokens.header("coordinator"))
    assert r.status_code == 403

    # More records, a new checkpoint: the old one is a prefix of the new.
    query(client, tokens["coordinator"], [ANNA])
    service.sign_checkpoint_now(ctx)
    new = client.get("/v1/audit/checkpoint", headers=tokens.header("privacy-officer")).json()
    r = client.get("/v1/audit/proof/consistency", params={"from": cp["size"]},
                   headers=tokens.header("partner:om"))
    assert r.status_code == 200, r.text
    cons = r.json()
    assert (cons["from"], cons["to"]) == (cp["size"], new["size"])
    verify_consistency(cons["from"], cons["to"], [b64(h) for h in cons["proof"]],
                       signed.root_hash, b64(new["root_hash"]))
    assert (b64(cons["from_root_hash"]), b64(cons["to_root_hash"])) == (
        signed.root_hash, b64(new["root_hash"]))
    assert cons["from_checkpoint"] == cp["checkpoint"]


def test_proof_requests_with_bad_input_are_problems_naming_the_field(
        client: TestClient, ctx: Context, tokens: Tokens) -> None:
    service.sign_checkpoint_now(ctx)
    officer = tokens.header("privacy-officer")
    cases = [
        ("/v1/audit/proof/inclusion", {"seq": "-1"}, "seq"),
        ("/v1/audit/proof/inclusion", {"seq": "x"}, "seq"),
        ("/v1/audit/proof/inclusion", {}, "seq"),
        ("/v1/audit/proof/inclusion", {"seq": "0", "size": "999999"}, "size"),
        ("/v1/audit/proof/consistency", {}, "from"),
        ("/v1/audit/proof/consistency", {"from": "5", "to": "2"}, "from"),
    ]
    for path, params, field in cases:
        r = client.get(path, params=params, headers=officer)
        assert r.status_code == 422, (path, params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert any(field in e["field"] for e in r.json()["errors"]), (params, r.json())
    r = client.get("/v1/audit/proof/inclusion", params={"seq": "999999"}, headers=officer)
    assert r.status_code == 404
