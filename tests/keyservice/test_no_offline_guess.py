"""Issue 8's privacy claim, tested: with ``oprf``, nothing an adapter keeps (its keyring
copy, its token files, its state directory, its rejects file) nor anything in the index lets
anyone check a guessed BSN without asking the key service.

The test plays the attacker who has copied all of it and guesses a BSN that is in fact
published (the best case for the attacker). Knowing the (public) pseudonym encoding, the
attacker tries every piece of possible key material in the copies: every 32-byte window of
every file and table row, and every base64 or hex string decoded (in the SQLite
file too), as an HMAC key and as an OPRF
key, under every key version. Under ``hmac`` this finds the person (the keyring copy holds
the key: so the test can fail); under ``oprf`` it must find nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select
from sqlalchemy.pool import NullPool

from hitmachine.core.errors import InvalidInput
from hitmachine.core.identity import IdentifierKind
from hitmachine.core.oprf import OprfKey
from hitmachine.core.pseudonym.base import encode_message, hmac_sha256
from hitmachine.core.pseudonym.blind import direct_pseudonym
from hitmachine.settings import Settings
from tests.adapter.conftest import (
    World,
    export_keyring,
    make_tokens,
    oprf_deployment,
    people,
    write_plain,
)
from tests.live_server import LiveServer

VERSIONS = (1, 2, 3)
_B64 = re.compile(rb"[A-Za-z0-9+/_-]{42,88}={0,2}")
_HEX = re.compile(rb"\b[0-9a-fA-F]{64}\b")


def _blobs_of_adapter(paths: list[Path]) -> dict[str, bytes]:
    out = {}
    for root in paths:
        for f in ([root] if root.is_file() else sorted(root.rglob("*"))):
            if f.is_file():
                out[str(f)] = f.read_bytes()
    return out


def _blobs_of_index(settings: Settings) -> dict[str, bytes]:
    """Every value of every row of every table, and the database file itself on SQLite."""
    engine = create_engine(settings.database_url, poolclass=NullPool)
    meta = MetaData()
    meta.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            parts = []
            for row in conn.execute(select(table)):
                for v in row:
                    parts.append(bytes(v) if isinstance(v, (bytes, memoryview)) else
                                 str(v).encode())
            out[f"table {table.name}"] = b"\x00".join(parts)
    engine.dispose()
    if settings.database_url.startswith("sqlite:///"):
        db = Path(settings.database_url.removeprefix("sqlite:///"))
        out["database file"] = db.read_bytes()
    return out


def _bsn_pseudonyms(settings: Settings) -> set[bytes]:
    engine = create_engine(settings.database_url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT bsn_pseudonym FROM entries").fetchall()
    engine.dispose()
    return {bytes(r[0]) for r in rows if r[0] is not None}


def _decoded_strings(blob: bytes) -> set[bytes]:
    found = set()
    for m in _B64.finditer(blob):
        s = m.group().decode()
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                found.add(decode(s + "=" * (-len(s) % 4)))
            except (binascii.Error, ValueError):
                pass
    for m in _HEX.finditer(blob):
        found.add(bytes.fromhex(m.group().decode()))
    return {d[i:i + 32] for d in found if len(d) >= 32 for i in range(len(d) - 31)}


def _guess_checks_out(bsn: str, published: set[bytes], blobs: dict[str, bytes]) -> bool:
    messages = [encode_message(IdentifierKind.BSN, bsn, v) for v in VERSIONS]
    decoded: set[bytes] = set()
    for name, blob in blobs.items():
        decoded |= _decoded_strings(blob)
        if name == "database file":
            continue  # its rows are scanned as tables; its free pages for encoded keys only
        for i in range(len(blob) - 31):  # every raw window as an HMAC key
            key = blob[i:i + 32]
            if any(hmac_sha256(key, m) in published for m in messages):
                return True
    for key in decoded:
        if any(hmac_sha256(key, m) in published for m in messages):
            return True
        try:
            scalar = OprfKey(key)
        except InvalidInput:
            continue
        if any(direct_pseudonym(scalar, IdentifierKind.BSN, bsn, v) in published
               for v in VERSIONS):
            return True
    return False


@pytest.mark.parametrize("scheme", ["hmac", "oprf"])
def test_no_file_of_an_adapter_and_nothing_in_the_index_checks_a_guessed_bsn(
        scheme: str, settings: Settings, tmp_path: Path) -> None:
    crowd = people(12, seed=81)
    source = write_plain(tmp_path / "om-export.csv",
                         crowd + [{"bsn": "123456789", "surname": "Reject"}])
    state = tmp_path / "adapter-state"
    with ExitStack() as stack:
        if scheme == "oprf":
            settings = oprf_deployment(settings, tmp_path, stack)
        tokens, coordinator = make_tokens(settings)
        keyring = export_keyring(settings, tmp_path / "adapter-keyring.json")
        server = stack.enter_context(LiveServer(settings, tmp_path / "server.log"))
        world = World(settings, server, keyring, tokens, coordinator, tmp_path)
        result = world.sync("om", source, mode="delta", state_dir=state,
                            max_reject_fraction=0.5)
        assert result.entries_published == 12 and result.rejected == 1
        assert world.query([{"bsn": crowd[0]["bsn"]}]) == [{"om"}]  # it is published

    adapter_files = [keyring, state]  # the state directory holds the rejects file too
    if scheme == "oprf":
        adapter_files.append(tmp_path / "keyservice.token")
    blobs = {**_blobs_of_adapter([p for p in adapter_files if p.exists()]),
             **_blobs_of_index(settings)}
    assert any("rejects" in name for name in blobs) and any("published" in n for n in blobs)
    published = _bsn_pseudonyms(settings)
    assert len(published) == 12
    for person in crowd[:3]:
        assert all(person["bsn"].encode() not in blob for blob in blobs.values())
        assert _guess_checks_out(person["bsn"], published, blobs) is (scheme == "hmac")
