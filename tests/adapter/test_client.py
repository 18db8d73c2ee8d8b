"""The publish client's behaviour on faults: back off and retry what is safe to retry, stop
at once on a refused token, fall back to JSON batches where binary is not taken. (A fake
HTTP transport stands in for the network here; the real server is in test_sync.py.)"""

from __future__ import annotations

import httpx
import pytest

from hitmachine.core import wire
from hitmachine_adapter.client import PublishClient
from hitmachine_adapter.errors import AdapterAuthError, AdapterRejected, AdapterServerError

PROBLEM = {"type": "about:blank", "title": "Unavailable", "status": 503}


def client_for(answers: list[httpx.Response | Exception], slept: list[float],
               seen: list[httpx.Request], retries: int = 4) -> PublishClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return PublishClient("http://vh.test", "hm_token", transport=httpx.MockTransport(handler),
                         retries=retries, backoff=0.5, sleep=slept.append)


def test_server_faults_are_retried_with_growing_waits() -> None:
    slept: list[float] = []
    seen: list[httpx.Request] = []
    client = client_for([httpx.Response(503, json=PROBLEM), httpx.ConnectError("refused"),
                         httpx.Response(429, headers={"Retry-After": "7"}, json=PROBLEM),
                         httpx.Response(201, json={"sync_id": "s"})], slept, seen)
    assert client.open_sync("om", 1) == {"sync_id": "s"}
    assert slept == [0.5, 1.0, 7.0]          # doubling, or the server's Retry-After
    assert client.retried == 3
    assert len({r.content for r in seen}) == 1   # the very same request each time


def test_giving_up_after_the_retries_is_a_server_failure() -> None:
    slept: list[float] = []
    client = client_for([httpx.ReadTimeout("slow")] * 3, slept, [], retries=2)
    with pytest.raises(AdapterServerError, match="after 3 attempts"):
        client.commit("s", 1, 1)
    assert slept == [0.5, 1.0]


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_not_retried(status: int) -> None:
    slept: list[float] = []
    client = client_for([httpx.Response(status, json={"title": "no", "status": status})],
                        slept, [])
    with pytest.raises(AdapterAuthError) as caught:
        client.open_sync("om", 1)
    assert caught.value.exit_code == 4 and slept == []


def test_a_refused_request_is_not_retried_and_names_the_field() -> None:
    body = {"title": "Invalid input", "status": 422, "detail": "key_version: not active",
            "errors": [{"field": "key_version", "message": "is not an active key version"}]}
    client = client_for([httpx.Response(422, json=body)], [], [])
    with pytest.raises(AdapterRejected, match="key_version") as caught:
        client.open_sync("om", 9)
    assert (caught.value.status, caught.value.exit_code) == (422, 6)


def test_batches_go_binary_or_as_json_to_a_server_that_does_not_take_binary() -> None:
    seen: list[httpx.Request] = []
    records = wire.encode_entries([(b"\x01" * 32, None, None), (None, b"\x02" * 32, None)])
    ok = {"sync_id": "s", "batch": 0, "applied": True, "batches": 1, "entries": 2}
    client = client_for([httpx.Response(200, json=ok), httpx.Response(415, json={}),
                         httpx.Response(200, json=ok)], [], seen)
    client.put_records("s", 0, records)
    assert seen[0].headers["content-type"] == wire.MEDIA_TYPE and seen[0].content == records
    client.put_records("s", 0, records)
    assert seen[2].headers["content-type"] == "application/json"
    assert b'"bsn":null' in seen[2].content.replace(b" ", b"")
    assert not client.binary
