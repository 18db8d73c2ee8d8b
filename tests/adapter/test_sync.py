"""Adapter runs against a real server on loopback: the five shipped mappings end to end,
rejects, the rejects limit, delta mode, a server killed mid-sync, and key rotation."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hitmachine.core.identity import age_on
from hitmachine_adapter.errors import RejectsLimitExceeded
from tests.adapter.conftest import SAMPLES, World, people, write_plain
from tests.live_server import LiveServer, cli, env_for

ROOT = Path(__file__).parents[2]
Member = dict[str, str]


# --------------------------------------------------------------------------- the samples, read
# independently of the adapter (plain csv and string handling), so that a mapping that
# reads its export wrongly shows up as people the server cannot find.

def _dmy(text: str) -> str:
    if "-" in text and len(text.split("-")[0]) == 4:
        return text
    d, m, y = text.split("-")
    return f"{y}-{m}-{d}"


def _member(bsn: str, given: str, prefix: str, surname: str, born: str) -> Member:
    if bsn:
        return {"bsn": bsn, "date_of_birth": born}
    return {"given_names": given, "prefix": prefix, "surname": surname, "date_of_birth": born}


def _leerplicht() -> list[tuple[Member, bool]]:
    with (SAMPLES / "leerplicht.csv").open(encoding="utf-8", newline="") as fh:
        return [(_member(r["BSN"], r["Voornamen"] or r["Roepnaam"], r["Voorvoegsel"],
                         r["Achternaam"], _dmy(r["Geboortedatum"])),
                 r["Status"] in ("Open", "In behandeling")) for r in csv.DictReader(fh)]


def _schuldhulp() -> list[tuple[Member, bool]]:
    with (SAMPLES / "schuldhulp.csv").open(encoding="cp1252", newline="") as fh:
        next(fh)  # the title line
        return [(_member(r["BSN"], r["Voornamen"] or r["Voorletters"], r["Tussenvoegsel"],
                         r["Achternaam"], _dmy(r["Geboortedatum"])), not r["Einddatum"])
                for r in csv.DictReader(fh, delimiter=";")]


def _regieteams() -> list[tuple[Member, bool]]:
    out = []
    with (SAMPLES / "regieteams.tsv").open(encoding="utf-8-sig", newline="") as fh:
        for r in csv.DictReader(fh, delimiter="\t"):
            full = r["Achternaam"].replace("v.d.", "van der")
            surname, _, prefix = full.partition(",")   # "Berg, van der" or "van der Berg"
            out.append((_member(r["BSN"], r["Voornamen"], prefix.strip(), surname.strip(),
                                _dmy(r["Geboortedatum"])), r["Status"] != "Afgesloten"))
    return out


def _om() -> list[tuple[Member, bool]]:
    with (SAMPLES / "om.csv").open(encoding="utf-8", newline="") as fh:
        return [(_member(r["bsn"], r["voornamen"], r["voorvoegsels"], r["achternaam"],
                         f"{r['geboortedatum'][:4]}-{r['geboortedatum'][4:6]}-"
                         f"{r['geboortedatum'][6:]}"),
                 r["zaakstatus"] not in ("Afgedaan", "Geseponeerd")) for r in csv.DictReader(fh)]


def _reclassering(url: str) -> list[tuple[Member, bool]]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT bsn, voornamen, tussenvoegsel, achternaam, geboortedatum FROM client c "
            "WHERE id IN (SELECT client_id FROM toezicht WHERE einddatum IS NULL) ORDER BY id"
        )).all()
    engine.dispose()
    return [(_member(bsn or "", given or "", prefix or "", surname, str(born or "")), True)
            for bsn, given, prefix, surname, born in rows]


SAMPLE_FILES = {"leerplicht": "leerplicht.csv", "schuldhulp": "schuldhulp.csv",
                "regieteams": "regieteams.tsv", "om": "om.csv"}
READERS: dict[str, Callable[[], list[tuple[Member, bool]]]] = {
    "leerplicht": _leerplicht, "schuldhulp": _schuldhulp, "regieteams": _regieteams,
    "om": _om}


def _rejected_rows(path: Path) -> dict[int, str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {int(r["row"]): r["reason"] for r in csv.DictReader(fh)}


def test_each_shipped_mapping_publishes_its_sample_and_the_people_are_found(
        world: World, reclassering_db: str) -> None:
    agencies = world.settings.agency_map()
    today = dt.date.today()
    expected: list[tuple[str, Member]] = []   # every published person its agency discloses
    for agency in ("leerplicht", "schuldhulp", "regieteams", "om", "reclassering"):
        source = reclassering_db if agency == "reclassering" else SAMPLES / SAMPLE_FILES[agency]
        rejects = world.tmp / f"{agency}-rejects.csv"
        result = world.sync(agency, source, rejects=rejects)   # the shipped mapping by default
        assert result.mapping == agency
        rows = _reclassering(reclassering_db) if agency == "reclassering" else READERS[agency]()
        kept = [(n, m) for n, (m, keep) in enumerate(rows, start=1) if keep]
        rejected = _rejected_rows(rejects)
        assert result.rejected == len(rejected) >= 1     # every sample has a bad row or two
        assert set(rejected) <= {n for n, _ in kept}     # the filter comes first
        assert result.rows_read == len(rows)
        assert result.entries_published == len(kept) - len(rejected)
        assert world.status(agency)["entries"] == result.entries_published  # type: ignore[index]
        for n, member in kept:
            if n in rejected:
                continue
            born = dt.date.fromisoformat(member["date_of_birth"])
            if agencies[agency].disclosure.allows(age_on(born, today)):
                expected.append((agency, member))
    answers = world.query([m for _, m in expected])
    assert not [(a, m) for (a, m), got in zip(expected, answers) if a not in got]
    assert len(expected) >= 100


def test_rejects_land_in_the_rejects_file_with_row_and_reason_never_content(
        world: World) -> None:
    good = people(6, seed=1)
    bad = [{"bsn": "123456789", "given_names": "Geheim", "prefix": "", "surname": "Xylofoon",
            "date_of_birth": "1970-01-01"},                                    # fails 11-test
           {"bsn": "", "given_names": "Karel", "prefix": "", "surname": "Quasimodo",
            "date_of_birth": "1981-02-30"}]                                    # no such date
    source = write_plain(world.tmp / "om.csv", good[:3] + bad[:1] + good[3:] + bad[1:])
    rejects = world.tmp / "rejects.csv"
    result = world.sync("om", source, rejects=rejects, max_reject_fraction=0.5)
    assert (result.rows_read, result.entries_published, result.rejected) == (8, 6, 2)
    text_ = rejects.read_text(encoding="utf-8")
    rows = list(csv.DictReader(text_.splitlines()))
    assert [(r["row"], r["line"], r["fields"]) for r in rows] == [
        ("4", "5", "bsn"), ("8", "9", "date_of_birth")]
    assert "11-test" in rows[0]["reason"] and "date" in rows[1]["reason"]
    for value in ("123456789", "Geheim", "Xylofoon", "Karel", "Quasimodo", "1981", "1970"):
        assert value not in text_
    assert world.query([{"bsn": p["bsn"]} for p in good]) == [{"om"}] * 6


def test_too_many_rejects_fail_the_run_before_anything_is_published(world: World) -> None:
    before = people(4, seed=2)
    dry = world.sync("om", write_plain(world.tmp / "before.csv", before), dry_run=True)
    assert (dry.entries_published, dry.mode) == (4, "dry-run")
    assert world.status("om") is None                    # a dry run sends nothing
    world.sync("om", write_plain(world.tmp / "before.csv", before))
    status = world.status("om")
    after = people(4, seed=3)
    for p in after[:2]:
        p["bsn"] = p["bsn"][:-1] + str((int(p["bsn"][-1]) + 1) % 10)   # 11-test fails
    source = write_plain(world.tmp / "after.csv", after)
    with pytest.raises(RejectsLimitExceeded, match="nothing was published"):
        world.sync("om", source, max_reject_fraction=0.25)
    assert world.status("om") == status
    assert world.query([{"bsn": p["bsn"]} for p in before + after[2:]]) == \
        [{"om"}] * 4 + [set()] * 2
    # The command line says so with its own exit code, and the same one-line summary.
    cmd = cli(world.settings, "adapter", "sync", "--agency", "om", "--source", str(source),
              "--server", world.server.url, "--token", world.tokens["om"], "--keyring",
              str(world.keyring), "--state-dir", str(world.tmp / "state"),
              "--max-reject-fraction", "0.25", check=False)
    assert cmd.returncode == 3, cmd.stderr
    assert "2 of 4 rows rejected" in cmd.stderr and cmd.stdout == ""
    assert world.status("om") == status


def test_delta_mode_adds_and_removes(world: World) -> None:
    state = world.tmp / "state"
    crowd = people(8, seed=4) + people(2, seed=5, with_bsn=False)
    first = world.sync("regieteams", write_plain(world.tmp / "1.csv", crowd), mode="delta",
                       state_dir=state)
    assert first.fell_back and first.entries_published == 10    # no state yet: a snapshot
    newcomers = people(3, seed=6)
    second_set = crowd[2:] + newcomers                # two leave, three arrive
    second = world.sync("regieteams", write_plain(world.tmp / "2.csv", second_set),
                        mode="delta", state_dir=state)
    assert (second.fell_back, second.added, second.removed) == (None, 3, 2)
    assert world.status("regieteams")["entries"] == 11  # type: ignore[index]
    found = world.query(crowd + newcomers)
    assert found == [set()] * 2 + [{"regieteams"}] * 11
    third = world.sync("regieteams", write_plain(world.tmp / "3.csv", second_set),
                       mode="delta", state_dir=state)
    assert third.unchanged and "delta: no changes" in third.summary()
    # The state directory holds pseudonyms and counts, nothing anyone could read a person from.
    blob = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    for p in crowd + newcomers:
        for value in (p["bsn"], p["surname"], p["date_of_birth"]):
            if value:
                assert value.encode() not in blob


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_first_delta_after_a_snapshot_sends_only_the_changes(world: World) -> None:
    # Issue 14 item 8: a snapshot records what it published, so the delta after it is a
    # delta (it said "no earlier run is on record" and published a snapshot again).
    state = world.tmp / "state"
    crowd = people(6, seed=21)
    first = world.sync("om", write_plain(world.tmp / "1.csv", crowd), state_dir=state)
    assert (first.mode, first.entries_published) == ("snapshot", 6)
    second = world.sync("om", write_plain(world.tmp / "2.csv", crowd[1:] + people(1, seed=22)),
                        mode="delta", state_dir=state)
    assert (second.fell_back, second.added, second.removed) == (None, 1, 1), second.fell_back
    assert world.status("om")["entries"] == 6  # type: ignore[index]


def test_a_server_killed_mid_sync_keeps_the_previous_set_and_a_rerun_completes(
        world: World) -> None:
    old = people(5, seed=7)
    world.sync("reclassering", write_plain(world.tmp / "old.csv", old))
    new = people(200, seed=8)
    write_plain(world.tmp / "new.csv", new)
    token_file = world.tmp / "token"
    token_file.write_text(world.tokens["reclassering"])
    token_file.chmod(0o600)
    config = world.tmp / "reclassering.toml"    # what a cron line points at
    config.write_text(f'agency = "reclassering"\nsource = "new.csv"\nserver = "{world.server.url}"\n'
                      f'token_file = "token"\nkeyring = "{world.keyring}"\nstate_dir = "state"\n'
                      "batch_size = 1\nparallel = 1\nretries = 2\nbackoff = 0.05\n")
    adapter = subprocess.Popen([sys.executable, "-m", "hitmachine_adapter.cli", "sync", "--config",
                                str(config)], cwd=ROOT, env=env_for(world.settings),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engine = create_engine(world.settings.database_url, poolclass=NullPool)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:      # wait until a few batches are in
            with engine.connect() as conn:
                sent = conn.execute(text("SELECT max(batch_count) FROM syncs WHERE status = "
                                         "'open'")).scalar()
            if sent and sent >= 5:
                break
            assert adapter.poll() is None, adapter.communicate()
            time.sleep(0.01)
        world.server.kill()
        _out, err = adapter.communicate(timeout=60)
    finally:
        engine.dispose()
    assert adapter.returncode == 5, err
    assert "Rerun to resume" in err
    restarted = LiveServer(world.settings, world.tmp / "server2.log")
    restarted.port, restarted.url = world.server.port, world.server.url   # the same server
    with restarted:
        world.server = restarted
        assert world.status("reclassering")["entries"] == 5  # type: ignore[index]
        assert world.query(old + new[:3]) == [{"reclassering"}] * 5 + [set()] * 3
        rerun = cli(world.settings, "adapter", "sync", "--config", str(config))
        assert "200 entries published" in rerun.stdout and "resumed at batch" in rerun.stdout
        assert len(rerun.stdout.strip().splitlines()) == 1
        assert world.status("reclassering")["entries"] == 200  # type: ignore[index]
        assert world.query(old + new[::20]) == [set()] * 5 + [{"reclassering"}] * 10


def test_a_key_rotation_keeps_every_person_findable(world: World) -> None:
    crowds = {agency: people(4, seed=20 + i) for i, agency in enumerate(("om", "regieteams",
                                                                          "reclassering"))}
    everyone = [p for crowd in crowds.values() for p in crowd]
    expected = [{agency} for agency, crowd in crowds.items() for _ in crowd]

    def publish(agency: str, keyring: Path) -> int:
        result = world.sync(agency, write_plain(world.tmp / f"{agency}.csv", crowds[agency]),
                            keyring=keyring)
        return result.key_version

    assert {publish(a, world.keyring) for a in crowds} == {1}
    assert world.query(everyone) == expected
    cli(world.settings, "keys", "rotate")
    new_keyring = world.tmp / "keyring-2.json"
    cli(world.settings, "keys", "export", "--out", str(new_keyring))
    assert world.query(everyone) == expected            # nobody republished yet
    assert publish("om", new_keyring) == 2
    assert world.query(everyone) == expected            # one agency under each version
    refused = cli(world.settings, "keys", "retire", "1", check=False)
    assert refused.returncode != 0
    assert "regieteams" in refused.stderr and "reclassering" in refused.stderr
    for agency in ("regieteams", "reclassering"):
        assert publish(agency, new_keyring) == 2
        assert world.query(everyone) == expected
    cli(world.settings, "keys", "retire", "1")
    assert world.query(everyone) == expected
    # An adapter still holding only the retired key is told so, and publishes nothing.
    stale = cli(world.settings, "adapter", "sync", "--agency", "om", "--source",
                str(world.tmp / "om.csv"), "--server", world.server.url, "--token",
                world.tokens["om"], "--keyring", str(world.keyring), "--state-dir",
                str(world.tmp / "stale"), check=False)
    assert stale.returncode == 6 and "key_version" in stale.stderr
    assert world.query(everyone) == expected
