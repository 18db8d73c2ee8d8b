"""``hitmachine-adapter signals`` end to end (issue 16): an agency publishes with a real
adapter run, a coordinator asks a served instance, and the agency's adapter shows its own
reference for exactly the person asked, under both pseudonym schemes and on both
databases; an age-rule-withheld hit shows nothing."""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import httpx
from typer.testing import CliRunner

from hitmachine_adapter.cli import app
from tests.adapter.conftest import World

TODAY = dt.date.today()
CHILD_BIRTH = TODAY.replace(year=TODAY.year - 10, day=1).isoformat()
FIELDS = ["clientnummer", "bsn", "given_names", "prefix", "surname", "date_of_birth"]
ADULT = {"clientnummer": "LP-0001", "bsn": "111222333", "given_names": "Anna", "prefix": "",
         "surname": "Volwassen", "date_of_birth": "1980-05-17"}
CHILD = {"clientnummer": "LP-0002", "bsn": "123456782", "given_names": "Bram", "prefix": "",
         "surname": "Kind", "date_of_birth": CHILD_BIRTH}
OTHER = {"clientnummer": "LP-0003", "bsn": "100000009", "given_names": "Cas", "prefix": "",
         "surname": "Ander", "date_of_birth": CHILD_BIRTH}
MAPPING = """
[mapping]
description = "plain with a client number"
[source]
format = "csv"
encoding = "utf-8"
delimiter = ","
[columns]
bsn = "bsn"
given_names = "given_names"
prefix = "prefix"
surname = "surname"
date_of_birth = "date_of_birth"
reference = "clientnummer"
[dates]
formats = ["%Y-%m-%d"]
"""


def _setup(world: World) -> Path:
    source = world.tmp / "leerplicht.csv"
    with source.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows([ADULT, CHILD, OTHER])
    mapping = world.tmp / "leerplicht-mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    assert world.sync("leerplicht", source, mapping=mapping).entries_published == 3
    token = world.tmp / "leerplicht.token"
    token.write_text(world.tokens["leerplicht"] + "\n")
    os.chmod(token, 0o600)
    config = world.tmp / "leerplicht.toml"
    config.write_text(f'agency = "leerplicht"\nsource = "{source}"\nserver = '
                      f'"{world.server.url}"\ntoken_file = "{token}"\nkeyring = '
                      f'"{world.keyring}"\nmapping = "{mapping}"\n', encoding="utf-8")
    return config


def _ask(world: World, members: list[dict[str, str]]) -> None:
    r = httpx.post(f"{world.server.url}/v1/queries/household",
                   headers={"Authorization": f"Bearer {world.coordinator}"},
                   json={"purpose": "casusoverleg", "case_reference": "VH-SIG-7",
                         "members": [{k: v for k, v in m.items() if k != "clientnummer"}
                                     for m in members]}, timeout=30)
    assert r.status_code == 200, r.text


def _signals(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["signals", "--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_adapter_shows_its_own_reference_for_exactly_the_person_asked(world: World) -> None:
    config = _setup(world)
    assert "no open signals" in _signals(config)
    _ask(world, [ADULT, CHILD])  # leerplicht knows both; its age rule discloses the child
    shown = _signals(config)
    lines = shown.strip().splitlines()
    assert len(lines) == 2, shown
    assert "LP-0002" in lines[1] and "VH-SIG-7" in lines[1] and "casusoverleg" in lines[1]
    assert "LP-0001" not in shown and "LP-0003" not in shown
    out = world.tmp / "signals.csv"
    assert "1 signal(s) written" in _signals(config, "--out", str(out), "--ack")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["reference"], r["kind"], r["sender"]) for r in rows] == [
        ("LP-0002", "hit", "veiligheidshuis")]
    assert (out.stat().st_mode & 0o777) == 0o600
    assert "no open signals" in _signals(config)
    assert "LP-0002" in _signals(config, "--all")


def test_an_age_rule_withheld_hit_shows_nothing(world: World) -> None:
    config = _setup(world)
    _ask(world, [ADULT])
    assert "no open signals" in _signals(config)


def test_one_line_errors(world: World, tmp_path: Path) -> None:
    config = _setup(world)
    plain = world.tmp / "plain.toml"
    plain.write_text(config.read_text().replace(f'mapping = "{world.tmp}/leerplicht-mapping.toml"',
                                                'mapping = "plain"'))
    result = CliRunner().invoke(app, ["signals", "--config", str(plain)])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "reference column" in result.output
    missing = CliRunner().invoke(app, ["signals", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 2 and missing.output.count("\n") == 1
