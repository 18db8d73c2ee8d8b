"""Contract fuzzing: schemathesis drives every operation of the committed OpenAPI document
(``openapi/openapi.json``) against the live app, with the tokens of every role.

Positive cases (data that fits the schema) and negative cases (data that does not) alike
must never get a server error, every response must conform to the document (status,
content type, body schema), and every 4xx must be an RFC 9457 problem document. The
example counts are small on purpose: the whole file runs in about a minute on both
databases; raise ``HITMACHINE_FUZZ_EXAMPLES`` for a deeper run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.conftest import Tokens

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(str(SPEC))
# The spec is ours and parses: an Err result would fail here, at collection, loudly.
OPERATIONS = {op.label: op for op in (r.ok() for r in SCHEMA.get_all_operations())}  # type: ignore[union-attr]
EXAMPLES = int(os.environ.get("HITMACHINE_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]

# The token that may call each operation (by path prefix; the document's paths are relative
# to its server URL /v1); every other role is tried too.
PERMITTED = [("/admin", "admin"), ("/publish", "adapter:om"),
             ("/audit", "privacy-officer"), ("/queries", "coordinator"), ("/", "partner:om")]
ALL_ROLES = ["coordinator", "privacy-officer", "admin", "adapter:om", "partner:om"]


def permitted(label: str) -> str:
    path = label.split(" ", 1)[1]
    return next(role for prefix, role in PERMITTED if path.startswith(prefix))


def assert_problem_on_4xx(response: Any, label: str) -> None:
    if 400 <= response.status_code < 500:
        media = response.headers.get("content-type", [""])
        media = media[0] if isinstance(media, list) else media  # schemathesis: header lists
        assert media.startswith("application/problem+json"), (label, response.status_code, media)
        body = json.loads(response.content)
        assert body["status"] == response.status_code and body["title"] and body["type"]


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation_survives_fuzzing(label: str, client: TestClient, tokens: Tokens) -> None:
    operation = OPERATIONS[label]
    app = client.app
    # Half the examples with the permitted role, so they get past the role check.
    roles = st.one_of(st.just(permitted(label)), st.sampled_from(ALL_ROLES))
    seen: set[int] = set()

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode), role=roles)
        def run(case: Any, role: str) -> None:
            headers = tokens.header(role)
            response = case.call(app=app, headers=headers)
            seen.add(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
            assert_problem_on_4xx(response, label)

        try:
            run()
        except schemathesis.errors.InvalidSchema:  # pragma: no cover - the spec is ours
            raise
        except Exception as exc:
            if type(exc).__name__ == "Unsatisfiable" and mode is GenerationMode.NEGATIVE:
                continue  # nothing in this operation can be made invalid (no parameters)
            raise
    # Some answer of the route itself, not only the 404 of a wrong URL (the document's paths
    # are relative to its server URL: a client that ignored it would get nothing else).
    assert seen - {404}, (label, seen)
