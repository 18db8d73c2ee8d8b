"""``hitmachine replay --server``: a replay against a running Hitmachine (SQLite and
PostgreSQL), with the researcher's adapter tokens and keyring, audited on that server."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
from typer.testing import CliRunner

from hitmachine.cli.main import app
from hitmachine.core.principal import Role
from hitmachine.services import admin
from hitmachine.services.context import Context
from hitmachine.settings import Settings
from hitmachine.store import index
from hitmachine_adapter.cli import run_sync
from tests.live_server import LiveServer
from tests.replay.util import HOUSEHOLD_HEADER, MANUAL_HEADER, PERSON_HEADER, write_csv

REFERENCE = "2019-09-01"
MEMBERS = [
    ("G1", "G1-1", "217498358", "Quirijn", "van", "Zwanenburgh", "1963-08-27"),
    ("G1", "G1-2", "", "Gerolf", "ter", "Heegstra", "2009-10-05"),
    ("G2", "G2-1", "", "Ximena", "", "Oosterkamp", "1987-02-14"),
    ("G3", "G3-1", "111222333", "Anna", "", "Wiersma", "1950-05-01"),
]
EXTRACTS = {
    "leerplicht": [("", "G.", "", "Ter Heegstra", "2009-10-05")],       # age 9: disclosed
    "regieteams": [("217498358", "Quirijn", "van", "Zwanenburgh", "1963-08-27")],
}
OM = [("", "Ximena", "", "OOSTERKAMP", "1987-02-14"),
      ("111222333", "Anna", "", "Wiersma", "1950-05-01")]
MANUAL = [("G1", "G1-1", "regieteams", 1), ("G1", "G1-2", "leerplicht", 0),
          ("G2", "G2-1", "om", 1), ("G3", "G3-1", "regieteams", 0)]


def token(ctx: Context, role: Role, agency: str | None = None) -> str:
    return admin.create_token(ctx, admin.CONSOLE, name=f"test {role.value} {agency or ''}",
                              role=role, agency=agency, expires_at=None, request_id="test")[1]


def inputs(folder: Path, extracts: Mapping[str, Sequence[tuple[str, ...]]] = EXTRACTS,
           members: Sequence[tuple[str, ...]] = MEMBERS) -> list[str]:
    write_csv(folder / "households.csv", HOUSEHOLD_HEADER, members)
    for agency, rows in extracts.items():
        write_csv(folder / "extracts" / f"{agency}.csv", PERSON_HEADER, rows)
    write_csv(folder / "manual.csv", MANUAL_HEADER, MANUAL)
    return ["replay", "--households", str(folder / "households.csv"),
            "--extracts", str(folder / "extracts"), "--manual", str(folder / "manual.csv"),
            "--reference-date", REFERENCE, "--out", str(folder / "out")]


def published(ctx: Context) -> set[str]:
    with ctx.db.read() as conn:
        return {s.agency for s in index.all_sets(conn)}


def test_replay_against_a_running_server(settings: Settings, ctx: Context,
                                         tmp_path: Path) -> None:
    researcher = token(ctx, Role.RESEARCHER)
    officer = token(ctx, Role.PRIVACY_OFFICER)
    adapters = {a: token(ctx, Role.ADAPTER, a)
                for a in ("leerplicht", "regieteams", "schuldhulp", "om")}
    keyring = tmp_path / "adapter-keyring.json"
    admin.export_keyring(ctx, admin.CONSOLE, keyring, "test")
    token_file = tmp_path / "adapter-tokens"
    token_file.write_text(f"leerplicht={adapters['leerplicht']}\n"
                          f"regieteams={adapters['regieteams']}\n")
    runner = CliRunner()
    with LiveServer(settings, tmp_path / "server.log") as server:
        # om publishes on its own; it has no extract in the replay, so it takes no part.
        write_csv(tmp_path / "om.csv", PERSON_HEADER, OM)
        run_sync(agency="om", source=tmp_path / "om.csv", server=server.url,
                 token=adapters["om"], keyring=keyring)
        remote = ["--server", server.url, "--keyring", str(keyring)]

        # Invalid input: refused before anything is published.
        bad = tmp_path / "bad"
        broken = [*MEMBERS[:3], (*MEMBERS[3][:6], "1950-02-30")]
        args = inputs(bad, {**EXTRACTS, "schuldhulp": []}, broken)
        result = runner.invoke(app, [*args, *remote, "--adapter-tokens", str(token_file)],
                               env={"HITMACHINE_TOKEN": researcher})
        assert result.exit_code == 2, result.output
        assert "households.csv, line 5, column date_of_birth" in result.output
        assert published(ctx) == {"om"}

        # A query token the server does not know: nothing is published.
        result = runner.invoke(app, [*inputs(tmp_path / "wrong"), *remote, "--adapter-tokens",
                                     str(token_file), "--token", "hm_wrong"])
        assert result.exit_code == 1, result.output
        assert "the server refused the query token (401)" in result.output
        assert "hm_wrong" not in result.output
        assert published(ctx) == {"om"}

        # A coordinator token: the research purpose is not theirs (issue 13, finding 3).
        result = runner.invoke(app, [*inputs(tmp_path / "coordinator"), *remote,
                                     "--adapter-tokens", str(token_file), "--token",
                                     token(ctx, Role.COORDINATOR)])
        assert result.exit_code == 2, result.output
        assert "a replay needs a researcher token" in result.output
        assert published(ctx) == {"om"}

        # A missing adapter token: refused before anything is published.
        first = tmp_path / "first"
        args = inputs(first)
        result = runner.invoke(app, [*args, *remote, "--adapter-token",
                                     f"leerplicht={adapters['leerplicht']}"],
                               env={"HITMACHINE_TOKEN": researcher})
        assert result.exit_code == 2, result.output
        assert "--adapter-token missing for regieteams" in result.output
        assert published(ctx) == {"om"}

        # The replay: publish through the adapter, ask through the API.
        result = runner.invoke(app, [*args, *remote, "--adapter-tokens", str(token_file)],
                               env={"HITMACHINE_TOKEN": researcher})
        assert result.exit_code == 0, result.output
        assert published(ctx) == {"om", "leerplicht", "regieteams"}
        summary = json.loads((first / "out" / "summary.json").read_text())

        # Asked again without publishing: the same answers from what is on the server.
        again = tmp_path / "again"
        result = runner.invoke(app, [*inputs(again), "--server", server.url, "--no-publish",
                                     "--token", researcher])
        assert result.exit_code == 0, result.output
        assert json.loads((again / "out" / "summary.json").read_text()) == summary

        audit = httpx.get(f"{server.url}/v1/audit/records",
                          params={"event": "query.household", "purpose": "replay",
                                  "limit": 1000},
                          headers={"Authorization": f"Bearer {officer}"})
        assert audit.status_code == 200, audit.text
        records = audit.json()["records"]

    assert summary["member_hits"] == {"G1-1": ["regieteams"], "G1-2": ["leerplicht"],
                                      "G2-1": [], "G3-1": []}  # om knows G2-1 and G3-1
    assert list(summary["by_agency"]) == ["leerplicht", "regieteams"]
    assert summary["by_combination"] == {"leerplicht+regieteams": 1, "none": 2}
    assert summary["agreement"] == {  # G1-2: manual 0, machine 1; G1-1: 1, 1; G3-1: 0, 0
        "leerplicht": {"true_positive": 0, "false_positive": 1, "false_negative": 0,
                       "true_negative": 0},
        "regieteams": {"true_positive": 1, "false_positive": 0, "false_negative": 0,
                       "true_negative": 1}}
    # Two runs of three households each, all audited as replay queries on the reference date.
    assert len(records) == 6
    assert sorted(r["case_reference"].rsplit(" ", 1)[1] for r in records) == [
        "G1", "G1", "G2", "G2", "G3", "G3"]
    assert {r["detail"]["query_date"] for r in records} == {REFERENCE}
    assert {r["actor"] for r in records} == {"test researcher"}
    report = (first / "out" / "report.md").read_text()
    assert f"de Hitmachine op {server.url}" in report
    assert "Niet vergeleken (geen extractbestand): 1 voor om." in report
