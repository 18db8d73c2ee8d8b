"""The committed OpenAPI document is the app's document: the contract changes on purpose only."""

from __future__ import annotations

import json
from pathlib import Path

from hitmachine.cli.openapi_export import document

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_spec_matches_the_app() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == document(), "the API changed: run `make openapi` and commit openapi/openapi.json"


def test_every_operation_documents_its_security_and_the_bench_endpoint_is_hidden() -> None:
    spec = document()
    assert "/bench/parse" not in spec["paths"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path in ("/healthz", "/readyz"):
                continue
            assert op.get("security"), f"{method.upper()} {path} declares no security"
