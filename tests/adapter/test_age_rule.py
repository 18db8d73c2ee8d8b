"""The age rules rest on the agency's own birth date (issue 13, finding 3), end to end: a
real adapter run publishes leerplicht's people with their (BSN, birth date) pseudonyms, and
the queries go to a served instance, under both pseudonym schemes and on both databases.

Before the fix, leerplicht (ages 5 to 17) disclosed an adult it knows by BSN to anyone who
typed a child's birth date with that BSN, or asked as on an old reference date under the
``replay`` purpose, or named the BSN twice with two birth dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from hitmachine.core.principal import Role
from hitmachine.services import admin
from hitmachine.services.context import Context
from tests.adapter.conftest import World, write_plain

TODAY = dt.date.today()
CHILD_BIRTH = TODAY.replace(year=TODAY.year - 10, day=1).isoformat()
ADULT = {"bsn": "111222333", "given_names": "Anna", "prefix": "", "surname": "Volwassen",
         "date_of_birth": "1980-05-17"}
CHILD = {"bsn": "123456782", "given_names": "Bram", "prefix": "", "surname": "Kind",
         "date_of_birth": CHILD_BIRTH}
NAMED_CHILD = {"given_names": "Cas", "prefix": "de", "surname": "Jong",
               "date_of_birth": CHILD_BIRTH}
UNCHECKED = ["leerplicht", "schuldhulp"]  # the default agencies with an age rule


def _ask(world: World, token: str, members: list[dict[str, str]], **extra: Any
         ) -> httpx.Response:
    return httpx.post(f"{world.server.url}/v1/queries/household",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"purpose": "casusoverleg", "case_reference": "VH-AGE",
                            "members": members, **extra}, timeout=30)


def _codes(r: httpx.Response) -> list[set[str]]:
    assert r.status_code == 200, r.text
    return [{a["code"] for a in m["agencies"]} for m in r.json()["members"]]


def _researcher(world: World) -> str:
    ctx = Context.from_settings(world.settings)
    try:
        return admin.create_token(ctx, admin.CONSOLE, name="researcher", role=Role.RESEARCHER,
                                  agency=None, expires_at=None, request_id="test")[1]
    finally:
        ctx.close()


def _published(world: World) -> None:
    source = write_plain(world.tmp / "leerplicht.csv", [ADULT, CHILD, NAMED_CHILD])
    assert world.sync("leerplicht", source).entries_published == 3
    assert world.sync("om", write_plain(world.tmp / "om.csv", [ADULT])).entries_published == 1


def test_an_age_rule_counts_only_the_birth_date_the_agency_holds(world: World) -> None:
    _published(world)
    coordinator = world.coordinator
    made_up = {"bsn": ADULT["bsn"], "date_of_birth": CHILD_BIRTH}
    # The adult known to leerplicht, asked with a made-up child's birth date: not disclosed.
    assert _codes(_ask(world, coordinator, [made_up])) == [{"om"}]
    # The happy paths: the real child with its real birth date, by BSN and by name key.
    assert _codes(_ask(world, coordinator, [{"bsn": CHILD["bsn"],
                                             "date_of_birth": CHILD_BIRTH}])) == [{"leerplicht"}]
    named = {k: NAMED_CHILD[k] for k in ("given_names", "prefix", "surname", "date_of_birth")}
    r = _ask(world, coordinator, [named])
    assert _codes(r) == [{"leerplicht"}]
    assert r.json()["members"][0]["agencies"][0]["basis"] == "name_birthdate"
    # The child with a wrong birth date is not disclosed either: the agency's date counts.
    wrong = {"bsn": CHILD["bsn"], "date_of_birth": TODAY.replace(year=TODAY.year - 11,
                                                                 day=2).isoformat()}
    assert _codes(_ask(world, coordinator, [wrong])) == [set()]


def test_replays_and_reference_dates_are_the_researchers(world: World) -> None:
    _published(world)
    # The adult as on a date in their childhood, under the research purpose: refused to a
    # coordinator, whatever the date.
    then = dt.date(1990, 1, 1).isoformat()
    r = _ask(world, world.coordinator, [{"bsn": ADULT["bsn"], "date_of_birth": ADULT[
        "date_of_birth"]}], purpose="replay", reference_date=then)
    assert r.status_code == 403, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["purpose"]
    purposes = httpx.get(f"{world.server.url}/v1/purposes", timeout=10,
                         headers={"Authorization": f"Bearer {world.coordinator}"}).json()
    assert "replay" not in {p["code"] for p in purposes}
    # The researcher's replay counts the age on the reference date from the verified date.
    researcher = _researcher(world)
    r = _ask(world, researcher, [{"bsn": ADULT["bsn"], "date_of_birth": ADULT[
        "date_of_birth"]}], purpose="replay", reference_date=then)
    assert _codes(r) == [{"leerplicht", "om"}]
    # ... but never with a made-up birth date, and never a live purpose.
    r = _ask(world, researcher, [{"bsn": ADULT["bsn"], "date_of_birth": "1985-01-01"}],
             purpose="replay", reference_date=then)
    assert _codes(r) == [{"om"}]
    assert _ask(world, researcher, [ADULT]).status_code == 403


def test_the_same_person_twice_is_refused(world: World) -> None:
    _published(world)
    twice = [{"bsn": ADULT["bsn"], "date_of_birth": ADULT["date_of_birth"]},
             {"bsn": ADULT["bsn"], "date_of_birth": CHILD_BIRTH}]
    r = _ask(world, world.coordinator, twice)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["members.1.bsn"]


def test_without_a_birth_date_the_unchecked_agencies_are_listed_hit_or_not(
        world: World) -> None:
    _published(world)
    r = _ask(world, world.coordinator, [{"bsn": ADULT["bsn"]}, {"bsn": CHILD["bsn"]},
                                        {"bsn": "999999990"}])
    assert _codes(r) == [{"om"}, set(), set()]
    lists = [m["unchecked_without_birth_date"] for m in r.json()["members"]]
    assert lists == [UNCHECKED] * 3
    with_birth = _ask(world, world.coordinator, [{"bsn": CHILD["bsn"],
                                                  "date_of_birth": CHILD_BIRTH}])
    assert with_birth.json()["members"][0]["unchecked_without_birth_date"] == []
