"""Replaying the shipped synthetic Nijmegen test with the ``hitmachine replay`` command.

It must reproduce the published figures (145 households, 239 individuals, 77 without a
hit), and every other figure the generator expects; the agreement with the manual answers
is worked out here from ``manual.csv`` and the expected hits. The report must open in a
headless Chromium with no network and show its charts.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import hitmachine
from hitmachine.replay.report import AGREEMENT_PNG, COMBINATIONS_PNG, HITS_PNG, MANIFEST
from tests.replay.util import agreement

DATA = Path(hitmachine.__file__).parent / "data" / "nijmegen"
AGENCIES = ("leerplicht", "regieteams", "schuldhulp")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
SUMMARY_KEYS = ["households", "individuals", "households_with_hits", "households_without_hits",
                "individuals_with_hits", "by_agency", "by_combination",
                "individuals_by_combination", "member_hits", "agreement"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("nijmegen") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITMACHINE_")}
    result = subprocess.run(
        [sys.executable, "-m", "hitmachine.cli.main", "replay",
         "--households", str(DATA / "households.csv"), "--extracts", str(DATA / "extracts"),
         "--reference-date", "2011-03-01", "--manual", str(DATA / "manual.csv"),
         "--out", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return result, out


@pytest.fixture(scope="module")
def summary(run: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run[1] / "summary.json").read_text(encoding="utf-8"))
    return data


def test_published_figures_145_239_77(summary: dict[str, Any]) -> None:
    assert summary["households"] == 145
    assert summary["individuals"] == 239
    assert summary["households_without_hits"] == 77
    assert summary["households_with_hits"] == 145 - 77
    assert summary["by_combination"]["none"] == 77


def test_summary_has_exactly_the_specified_keys(summary: dict[str, Any]) -> None:
    assert list(summary) == SUMMARY_KEYS
    assert list(summary["by_agency"]) == list(AGENCIES)
    assert list(summary["agreement"]) == list(AGENCIES)
    assert len(summary["member_hits"]) == 239


def test_service_agrees_with_the_generator(summary: dict[str, Any],
                                           expected: dict[str, Any]) -> None:
    """The service's own matching and disclosure give what the generator planned."""
    assert summary["by_agency"] == expected["by_agency"]
    assert summary["by_combination"] == expected["by_combination"]
    with_hits = {m: a for m, a in summary["member_hits"].items() if a}
    assert with_hits == expected["member_hits"]
    assert summary["individuals_with_hits"] == len(expected["member_hits"])


def test_agreement_with_the_manual_answers(summary: dict[str, Any],
                                           expected: dict[str, Any]) -> None:
    manual = read_csv(DATA / "manual.csv")
    hits = {m: set(a) for m, a in expected["member_hits"].items()}
    rows = [(r["member_id"], r["agency"], r["known"] == "1") for r in manual]
    assert summary["agreement"] == agreement(rows, hits, AGENCIES)
    # The rows that differ are exactly the disagreements the generator declared.
    differ = {(m, a, int(k), int(a in hits.get(m, set()))) for m, a, k in rows
              if k != (a in hits.get(m, set()))}
    assert differ == {(d["member_id"], d["agency"], d["manual"], d["machine"])
                      for d in expected["manual_disagreements"]}


def test_output_files_and_closing_lines(run: tuple[subprocess.CompletedProcess[str], Path]
                                        ) -> None:
    result, out = run
    names = {p.name for p in out.iterdir()}
    assert names == {"summary.json", "report.md", "report.html", HITS_PNG, COMBINATIONS_PNG,
                     AGREEMENT_PNG, MANIFEST}
    for png in (HITS_PNG, COMBINATIONS_PNG, AGREEMENT_PNG):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "145 households, 239 individuals: 68 with a hit, 77 without" in result.stdout
    assert "same answer as the manual one on 462 of 467 rows" in result.stdout
    assert re.search(r"replay took \d+\.\d s", result.stdout)
    assert "asking households" in result.stderr and "145/145" in result.stderr


def test_markdown_report(run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    text = (run[1] / "report.md").read_text(encoding="utf-8")
    for line in ("| **145** | huishoudens (239 personen) |",
                 "| **77** | huishoudens zonder treffer (53,1%) |",
                 f"]({HITS_PNG})", f"]({COMBINATIONS_PNG})", f"]({AGREEMENT_PNG})",
                 "| leerplicht+regieteams+schuldhulp | 3 | 2,1% |",
                 "| H061 | H061-4 | leerplicht | niet bekend | bekend |",
                 "Handmatige antwoorden: 77 van 145 huishoudens nergens bekend; machine: 77.",
                 "## Personen per combinatie van organisaties",
                 "peildatum 2011-03-01"):
        assert line in text, line


def test_the_report_gives_the_consoles_run_time(
        run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """One measurement, printed on the console and written in the report's method note."""
    result, out = run
    console = re.search(r"replay took (\d+\.\d) s", result.stdout)
    report = re.search(r"duurde (\d+,\d) s", (out / "report.md").read_text(encoding="utf-8"))
    assert console and report, result.stdout
    assert console.group(1) == report.group(1).replace(",", ".")


def test_no_names_bsns_or_birth_dates_in_the_output(
        run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, out = run
    members = read_csv(DATA / "households.csv")
    # The PNGs hold pixels only; the HTML without its data: URIs (base64 is random letters).
    html = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "",
                  (out / "report.html").read_text(encoding="utf-8"))
    written = "\n".join([html, (out / "report.md").read_text(encoding="utf-8"),
                         (out / "summary.json").read_text(encoding="utf-8"),
                         result.stdout, result.stderr])
    for m in members:
        if m["bsn"]:
            assert m["bsn"] not in written
        assert m["date_of_birth"] not in written
        assert not re.search(rf"\b{re.escape(m['surname'])}\b", written), m["member_id"]


def test_report_opens_offline_in_chromium_and_shows_its_charts(
        run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("HITMACHINE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing (HITMACHINE_REQUIRE_BROWSER=1)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import Route, sync_playwright

    html = run[1] / "report.html"
    text = html.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text
    fetched: list[str] = []

    def refuse(route: Route) -> None:
        fetched.append(route.request.url)
        route.abort() if not route.request.url.startswith(("file:", "data:")) \
            else route.continue_()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", refuse)
            page.goto(html.as_uri(), wait_until="load")
            images = page.evaluate("""() => Array.from(document.images).map(i => ({
                chart: i.dataset.chart, complete: i.complete, width: i.naturalWidth,
                height: i.naturalHeight, shown: i.getBoundingClientRect().width}))""")
            headline = page.inner_text("section.cards")
        finally:
            browser.close()
    assert [i["chart"] for i in images] == [HITS_PNG, COMBINATIONS_PNG, AGREEMENT_PNG]
    for image in images:
        assert image["complete"] and image["width"] > 200 and image["height"] > 100, image
        assert image["shown"] > 200, image
    assert [u for u in fetched if not u.startswith(("file:", "data:"))] == []
    assert "145" in headline and "77" in headline and "huishoudens zonder treffer" in headline
