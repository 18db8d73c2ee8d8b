"""``hitmachine keys migrate``: an hmac deployment moves to oprf like a key rotation, and
every person stays findable throughout (queries look under every active version of either
scheme) until the hmac version is retired."""

from __future__ import annotations

import json
from pathlib import Path

from hitmachine.settings import Settings
from tests.adapter.conftest import World, export_keyring, make_tokens, people, write_plain
from tests.keyservice.live import LiveKeyService
from tests.live_server import KEYRING_AT_ONCE, LiveServer, cli


def test_migrating_from_hmac_to_oprf_keeps_everyone_findable(settings: Settings,
                                                            tmp_path: Path) -> None:
    om, lp = people(6, seed=11), people(6, seed=12)
    om_csv, lp_csv = write_plain(tmp_path / "om.csv", om), write_plain(tmp_path / "lp.csv", lp)
    tokens, coordinator = make_tokens(settings)
    hmac_keyring = export_keyring(settings, tmp_path / "hmac" / "keyring.json")

    with LiveKeyService(tmp_path / "keyservice", versions=(2,)) as ks:
        ks.write_token(settings.keys_dir / "keyservice.token")
        # The server knows where the key service is before the move; still hmac.
        settings = settings.model_copy(update={"keyservice_url": ks.url})
        oprf_settings = settings.model_copy(update={"pseudonym_scheme": "oprf"})
        with LiveServer(settings, tmp_path / "server.log", extra_env=KEYRING_AT_ONCE) as server:
            world = World(settings, server, hmac_keyring, tokens, coordinator, tmp_path)

            def everyone_found() -> None:
                assert world.query([{"bsn": p["bsn"], "date_of_birth": p["date_of_birth"]} for p in om]) == [{"om"}] * 6
                assert world.query([{"bsn": p["bsn"], "date_of_birth": p["date_of_birth"]} for p in lp]) == [{"schuldhulp"}] * 6

            assert world.sync("om", om_csv).key_version == 1
            assert world.sync("schuldhulp", lp_csv, mapping="plain").key_version == 1
            everyone_found()

            refused = cli(settings, "keys", "migrate", check=False)  # config still says hmac
            assert refused.returncode == 2 and "HITMACHINE_PSEUDONYM_SCHEME" in refused.stderr
            cli(oprf_settings, "keys", "migrate")
            everyone_found()  # nobody republished yet: found under the hmac version

            oprf_keyring = export_keyring(oprf_settings, tmp_path / "oprf" / "keyring.json")
            exported = json.loads(oprf_keyring.read_text())
            assert [(k["version"], k["scheme"], "key" in k) for k in exported["keys"]] == [
                (2, "oprf", False)]  # no hmac key leaves any more
            assert exported["keyservice_url"] == ks.url
            ks.write_token(oprf_keyring.parent / "keyservice.token")

            assert world.sync("om", om_csv, keyring=oprf_keyring, scheme="oprf").key_version == 2
            everyone_found()  # om under oprf version 2, schuldhulp still under hmac 1
            stuck = cli(settings, "keys", "retire", "1", check=False)
            assert stuck.returncode == 2 and "schuldhulp" in stuck.stderr

            assert world.sync("schuldhulp", lp_csv, mapping="plain",
                              keyring=oprf_keyring).key_version == 2
            cli(settings, "keys", "retire", "1")
            everyone_found()
            # An adapter still holding the hmac keyring can no longer publish.
            assert world.status("om")["key_version"] == 2  # type: ignore[index]

        # Restarted as what it now is, an oprf deployment.
        with LiveServer(oprf_settings, tmp_path / "server2.log") as server:
            world = World(oprf_settings, server, hmac_keyring, tokens, coordinator, tmp_path)
            assert world.query([{"bsn": p["bsn"], "date_of_birth": p["date_of_birth"]} for p in om + lp][:12]) == \
                [{"om"}] * 6 + [{"schuldhulp"}] * 6
    lines = (ks.settings.audit_path).read_text().splitlines()
    assert sum(json.loads(x)["count"] for x in lines) >= 24  # counts only, per adapter
