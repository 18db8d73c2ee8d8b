"""Small helpers shared by tests: people, pseudonyms, publishing through the API."""

from __future__ import annotations

import random
from typing import Any

from fastapi.testclient import TestClient

from hitmachine.core.identity import normalise_identity
from hitmachine.services.context import Context


def make_bsn(rng: random.Random) -> str:
    """A random nine-digit number that passes the 11-test."""
    while True:
        digits = [rng.randrange(10) for _ in range(8)]
        total = sum(w * d for w, d in zip(range(9, 1, -1), digits))
        last = total % 11
        if last < 10:
            bsn = "".join(map(str, digits)) + str(last)
            if bsn != "000000000":
                return bsn


def entry_for(ctx: Context, version: int | None = None, /, **person: Any) -> dict[str, str | None]:
    """The wire entry an adapter would send for ``person``."""
    pseudonymiser = ctx.pseudonymiser
    ps = pseudonymiser.pseudonymise([normalise_identity(**person)],
                                    version or pseudonymiser.primary_version)[0]
    return {"bsn": ps.bsn.hex() if ps.bsn else None, "name": ps.name.hex() if ps.name else None,
            "bsn_birthdate": ps.bsn_birth.hex() if ps.bsn_birth else None}


def publish(client: TestClient, token: str, agency: str, people: list[dict[str, Any]],
            ctx: Context, version: int | None = None) -> dict[str, Any]:
    """A complete snapshot sync through the API: open, one batch, commit."""
    headers = {"Authorization": f"Bearer {token}"}
    version = version or ctx.pseudonymiser.primary_version
    r = client.post("/v1/publish/syncs", json={"agency": agency, "key_version": version},
                    headers=headers)
    assert r.status_code == 201, r.text
    sync_id = r.json()["sync_id"]
    entries = [entry_for(ctx, version, **p) for p in people]
    r = client.put(f"/v1/publish/syncs/{sync_id}/batches/0", json={"entries": entries},
                   headers=headers)
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/publish/syncs/{sync_id}/commit",
                    json={"batches": 1, "entries": len(entries)}, headers=headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def query(client: TestClient, token: str, members: list[dict[str, Any]],
          purpose: str = "casusoverleg", **extra: Any) -> Any:
    return client.post("/v1/queries/household", headers={"Authorization": f"Bearer {token}"},
                       json={"purpose": purpose, "case_reference": "VH-TEST-1",
                             "members": members, **extra})
