"""End to end through the API on both databases: publish, then ask."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hitmachine.services.context import Context
from tests.conftest import Tokens
from tests.helpers import publish, query

ANNA = {"bsn": "111222333", "given_names": "Anna", "surname": "Jansen",
        "date_of_birth": "1980-05-01"}


def test_publish_then_query_finds_the_person(client: TestClient, ctx: Context,
                                             tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [ANNA], ctx)
    r = query(client, tokens["coordinator"], [{"bsn": "111222333"}, {"bsn": "123456782"}])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["members"][0]["known"] is True
    assert [a["code"] for a in body["members"][0]["agencies"]] == ["om"]
    assert body["members"][0]["agencies"][0]["basis"] == "bsn"
    assert body["members"][1] == {"known": False, "agencies": [],
                                  "unchecked_without_birth_date": ["leerplicht", "schuldhulp"]}
    assert body["household"] == {"agencies": ["om"], "agency_count": 1, "multi_agency": False}
