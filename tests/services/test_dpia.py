"""The DPIA's processing description (issue 17, item 5): generated from the running
configuration, every cited test exists, the adversary table has one source, and reading it
is recorded by the use case."""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from functools import cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hitmachine.core.agencies import LegalBasis, LegalSource, Purpose
from hitmachine.core.clock import utc_now
from hitmachine.core.principal import Principal, Role
from hitmachine.http.web.render import render_text
from hitmachine.services import admin, dpia
from hitmachine.services.context import Context
from hitmachine.services.statistics import Statistics
from hitmachine.settings import Settings
from tests.conftest import Tokens
from tests.helpers import publish
from tests.web.util import records

ROOT = Path(__file__).resolve().parents[2]
ANNA = {"bsn": "111222333", "given_names": "Anna", "surname": "Jansen",
        "date_of_birth": "1985-06-01"}
UNKNOWN_BSN = "123456782"
SECTIONS = ["## 1. Doelen en grondslagen", "## 2. Categorieën van gegevens",
            "## 3. Categorieën van betrokkenen",
            "## 4. Ontvangers: de ketenpartners en hun verstrekkingsregels",
            "## 5. Opslag en bewaartermijnen", "## 6. Wie ziet wat (rollen)",
            "## 7. Beveiligingsmaatregelen en de tests die ze aantonen",
            "## 8. Tegenstanders: wie kan wat te weten komen",
            "## 9. Gebruik in het afgelopen jaar"]


# --- the maintained tables ---------------------------------------------------------------

@cache
def _defined(path: Path) -> frozenset[str]:
    """The test names a file defines: ``name`` for functions, ``Class::name`` for methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {f"{node.name}::{f.name}" for f in node.body
                      if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return frozenset(names)


def _missing(node_id: str) -> str | None:
    file, _, name = node_id.partition("::")
    path = ROOT / file
    if not path.is_file():
        return f"{node_id}: no file {file}"
    name = re.sub(r"\[.*\]$", "", name)  # a parametrised case: the function must exist
    if name and not name.startswith("test") and "::test" not in name:
        return f"{node_id}: {name} is not a test"
    if name and name not in _defined(path):
        return f"{node_id}: {file} defines no {name}"
    return None


def test_every_test_the_dpia_cites_exists() -> None:
    cited = dpia.cited_tests()
    assert len(cited) > 30 and all(m.tests for m in dpia.measures())
    missing = [problem for node_id in cited if (problem := _missing(node_id))]
    assert not missing, missing


def test_the_existence_check_can_fail() -> None:
    assert _missing("tests/services/test_dpia.py::test_every_test_the_dpia_cites_exists") is None
    assert _missing("tests/services/test_dpia.py::test_that_was_renamed")
    assert _missing("tests/services/test_nothing.py::test_x")
    assert _missing("tests/services/test_dpia.py::_defined")


def test_docs_privacy_shows_the_one_adversary_table() -> None:
    doc = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    assert dpia.privacy_doc_with_table(doc) == doc, (
        "docs/privacy.md's adversary table differs from hitmachine/data/dpia/adversaries.toml;"
        " edit the data file and run: make docs")
    assert doc.count("| **") == len(dpia.adversaries()) == 5


def test_measure_codes_are_unique() -> None:
    codes = [m.code for m in dpia.measures()]
    assert len(codes) == len(set(codes))


# --- the description from the configuration ----------------------------------------------

def _markdown(ctx: Context) -> str:
    return render_text("dpia.md", {"d": dpia.describe(ctx, admin.CONSOLE, "req-dpia", via="cli")})


def test_the_shipped_configuration_gives_every_section(ctx: Context) -> None:
    text = _markdown(ctx)
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    for needle in ("AVG art. 6 lid 1 sub e", "Wet justitiële en strafvorderlijke gegevens, "
                   "art. 39f", "Wet gemeentelijke schuldhulpverlening", "Leerplichtwet 1969",
                   "alleen van 5 tot en met 17 jaar", "alleen vanaf 18 jaar",
                   "inhoud 730 dagen", "15 minuten zonder activiteit", "365 dagen",
                   "Functionaris gegevensbescherming", "**Database thief**",
                   "tests/services/test_query.py::test_no_answer_without_audit_record"):
        assert needle in text, needle
    for p in ctx.settings.purposes:
        assert f"`{p.code}`" in text
    # Every row of a table has as many cells as its header: no configured text broke one.
    for table in re.findall(r"(?m)(?:^\|.*\|\n)+", text):
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in table.splitlines()}
        assert len(widths) == 1, table


def test_a_changed_configuration_changes_the_description(settings: Settings) -> None:
    basis = LegalBasis(ground="6.1.c", sources=(LegalSource(law="participatiewet",
                                                            article="art. 64"),))
    added = Purpose(code="bijstand", description="Afstemming | bijstand", legal_basis=basis)
    changed = settings.model_copy(update={
        "retention_days": 1000, "web_idle_timeout_minutes": 120, "signal_expiry_days": 14,
        "purposes": (*settings.purposes, added)})
    ctx = Context.from_settings(changed)
    try:
        text = _markdown(ctx)
    finally:
        ctx.close()
    assert "inhoud 1000 dagen" in text and "inhoud 730 dagen" not in text
    assert "2 uur zonder activiteit" in text
    assert "tabel signals | 14 dagen, daarna gewist" in text
    assert "casusoverleg 90 dagen" in text  # a follow-up's longest life, per purpose
    assert "`bijstand`" in text and "Participatiewet, art. 64" in text
    assert "Afstemming \\| bijstand" in text  # a pipe in a configured text stays in its cell
    assert "AVG art. 6 lid 1 sub c (wettelijke verplichting)" in text


def test_blind_pseudonyms_change_where_the_key_is(settings: Settings) -> None:
    oprf = settings.model_copy(update={
        "pseudonym_scheme": "oprf", "keyservice_url": "https://user:geheim@keys.example:8443",
        "database_url": "postgresql+psycopg://hm:geheim@db.example/hm"})
    stats = Statistics(dt.date(2026, 1, 1), dt.date(2026, 12, 31))
    text = render_text("dpia.md", {"d": dpia.build(oprf, stats, now=utc_now())})
    assert "alleen in de sleuteldienst (keys.example)" in text and "OPRF" in text
    assert "PostgreSQL-database" in text and "geheim" not in text and "db.example" not in text
    assert "kopie van de HMAC-sleutels" not in text


def test_reading_is_recorded_with_the_statistics_it_showed(client: TestClient, ctx: Context,
                                                          tokens: Tokens) -> None:
    publish(client, tokens["adapter:om"], "om", [ANNA], ctx)
    for bsn, purpose in ((ANNA["bsn"], "casusoverleg"), (UNKNOWN_BSN, "casusoverleg"),
                         (UNKNOWN_BSN, "partnervraag")):
        r = client.post("/v1/queries/household", headers=tokens.header("coordinator"),
                        json={"purpose": purpose, "case_reference": "VH-1",
                              "members": [{"bsn": bsn}]})
        assert r.status_code == 200, r.text
    described = dpia.describe(ctx, admin.CONSOLE, "req-dpia", via="cli")
    counts = {c.code: (c.total, c.hits, c.no_hits) for c in described.per_purpose}
    assert counts == {"casusoverleg": (2, 1, 1), "partnervraag": (1, 0, 1), "replay": (0, 0, 0)}
    [read] = records(ctx, "dpia.read")
    [stats] = records(ctx, "audit.statistics")
    assert read["actor"] == "console" and read["request_id"] == stats["request_id"] == "req-dpia"
    assert read["detail"]["via"] == "cli" and stats["detail"]["queries"] == 3
    assert stats["detail"]["via"] == "dpia-cli"
    assert json.dumps(read["detail"]).count(ANNA["bsn"]) == 0


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.PARTNER, Role.ADAPTER])
def test_other_roles_may_not_read_it(ctx: Context, role: Role) -> None:
    from hitmachine.core.errors import Forbidden

    with pytest.raises(Forbidden):
        dpia.describe(ctx, Principal("someone", role, "om" if role != Role.COORDINATOR
                                     else None), "req", via="api")
    assert records(ctx, "dpia.read") == []
