"""The committed OpenAPI document is the app's document: the contract changes on purpose only."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from hitmachine.cli.openapi_export import document
from hitmachine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "openapi" / "openapi.json"
SPECTRAL = ROOT / "tools" / "adr" / "node_modules" / ".bin" / "spectral"


def test_committed_spec_matches_the_app() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == document(), "the API changed: run `make openapi` and commit openapi/openapi.json"


def test_every_operation_documents_its_security_and_the_bench_endpoint_is_hidden() -> None:
    spec = document()
    assert "/bench/parse" not in spec["paths"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if path in ("/healthz", "/readyz", "/openapi.json"):  # public on purpose
                continue
            assert op.get("security"), f"{method.upper()} {path} declares no security"


def test_every_documented_path_is_served_at_its_server_url(client: TestClient) -> None:
    # The document's paths are relative to the server URL (/v1) while the app serves
    # /v1/...: each path joined to its server must reach a route of the app. Without a
    # token a route answers 401 (or, for a probe, 200/503); a path it does not have, 404.
    spec = document()
    assert spec["servers"] == [{"url": "/v1", "description": "version 1 of the API, on this host"}]
    outside = set()
    for path, item in spec["paths"].items():
        assert not path.startswith("/v1/"), path
        base = item["servers"][0]["url"].rstrip("/") if "servers" in item else "/v1"
        if "servers" in item:
            outside.add(path)
        url = re.sub(r"\{[^}]+\}", "1", base + path)
        for method in item.keys() - {"servers"}:
            r = client.request(method.upper(), url)
            assert r.status_code not in (404, 405), (method, url, r.status_code)
    assert outside == {"/healthz", "/readyz"}


def test_the_document_is_published_in_the_base_path(client: TestClient) -> None:
    # /core/publish-openapi: <base>/openapi.json, no token, readable from any origin.
    r = client.get("/v1/openapi.json", headers={"Origin": "https://elsewhere.example"})
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["API-Version"] == r.json()["info"]["version"]
    assert r.json() == json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert client.get("/openapi.json").json() == r.json()


def test_every_response_declares_the_version_header_and_the_contact_is_set() -> None:
    spec = document()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method == "servers":
                continue
            for status, response in op["responses"].items():
                assert response["headers"]["API-Version"] == {
                    "$ref": "#/components/headers/API-Version"}, (method, path, status)
    assert spec["components"]["headers"]["API-Version"]["required"] is True
    assert set(spec["info"]["contact"]) == {"name", "email", "url"}
    used = {t for item in spec["paths"].values() for m, op in item.items() if m != "servers"
            for t in op["tags"]}
    assert used == {t["name"] for t in spec["tags"]}


def test_the_spectral_exclusions_point_at_what_docs_api_md_explains() -> None:
    # The overrides in .spectral.yaml name parameters by their index: if one moved, the
    # exclusion would silently cover another parameter.
    config = yaml.safe_load((ROOT / ".spectral.yaml").read_text(encoding="utf-8"))
    expected = {"/paths/~1audit~1proof~1inclusion/get/parameters/1/name": "request_id",
                "/paths/~1audit~1records/get/parameters/5/name": "case_reference",
                "/components/schemas/MemberOut/properties/unchecked_without_birth_date": None}
    spec = document()
    pointers = [f.split("#", 1)[1] for o in config["overrides"] for f in o["files"]]
    assert sorted(pointers) == sorted(expected)
    for pointer, name in expected.items():
        node: Any = spec
        for part in pointer.strip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert node is not None and (name is None or node == name), pointer
    explained = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for rule in [*config.get("rules", {}), *(r for o in config["overrides"] for r in o["rules"])]:
        assert f"`{rule}`" in explained, f"{rule} is excluded but not explained in docs/api.md"


@pytest.mark.skipif(not SPECTRAL.exists(), reason="npm ci --prefix tools/adr (make adr runs it in CI)")
def test_the_committed_document_passes_the_api_design_rules_linter() -> None:
    result = subprocess.run(
        [str(SPECTRAL), "lint", "openapi/openapi.json", "--ruleset", ".spectral.yaml",
         "--fail-severity", "error", "--format", "text"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_contact_is_the_deployment_s() -> None:
    spec = document(Settings(api_contact_name="Team Hitmachine", api_contact_email="hm@gemeente.nl",
                             api_contact_url="https://gemeente.nl/hm"))
    assert spec["info"]["contact"] == {"name": "Team Hitmachine", "email": "hm@gemeente.nl",
                                       "url": "https://gemeente.nl/hm"}
