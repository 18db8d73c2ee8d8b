"""The report writer on its own: what it writes with and without manual answers, and that
ids from the researcher's files cannot inject markup into report.html or report.md."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path

from hitmachine.replay.inputs import load_inputs
from hitmachine.replay.model import NoProgress, ReplayOutcome, RunInfo
from hitmachine.replay.report import (
    AGREEMENT_PNG,
    MANIFEST,
    combination_order,
    md_escape,
    write_outputs,
)
from hitmachine.replay.summary import AgreementStats, summarise
from hitmachine.replay.texts import EN, NL
from tests.replay.util import HOUSEHOLD_HEADER, MANUAL_HEADER, PERSON_HEADER, write_csv

REFERENCE = dt.date(2020, 1, 1)
HOSTILE = "<img src=x onerror=alert(1)>|*"


def outcome(tmp_path: Path, *, manual: bool,
            extra_manual: tuple[tuple[str, str, str, int], ...] = ()) -> ReplayOutcome:
    members = [(HOSTILE, "M-1", "111222333", "Anna", "", "Jansen", "1980-05-01"),
               (HOSTILE, "M-2", "", "Piet", "", "Smit", "2012-01-01"),
               ("H2", "<b>M-3</b>", "", "Kees", "", "Bos", "1970-01-01")]
    write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, members)
    for agency in ("leerplicht", "regieteams"):
        write_csv(tmp_path / "extracts" / f"{agency}.csv", PERSON_HEADER, [])
    if manual:
        write_csv(tmp_path / "manual.csv", MANUAL_HEADER,
                  [(HOSTILE, "M-1", "regieteams", 0), ("H2", "<b>M-3</b>", "regieteams", 1),
                   (HOSTILE, "M-2", "leerplicht", 1), *extra_manual])
    inputs = load_inputs(households=tmp_path / "households.csv",
                         extracts=tmp_path / "extracts", reference_date=REFERENCE,
                         agencies=("leerplicht", "regieteams", "om"),
                         manual=tmp_path / "manual.csv" if manual else None)
    answers = {"M-1": {"regieteams": "bsn", "om": "bsn"}, "M-2": {"leerplicht": "name_birthdate"},
               "<b>M-3</b>": {}}
    run = RunInfo(run_id="20200101T000000Z-abcdef", target="embedded", purpose="replay",
                  reference_date=REFERENCE, started_at="2020-01-01T00:00:00+00:00",
                  agency_names={"leerplicht": "Leerplicht", "regieteams": "Regieteams"},
                  rules={"leerplicht": "ages 5 to 17", "regieteams": "everyone"},
                  phases={"asking": 0.5}, queries=2, seconds=1.5,
                  age_limits={"leerplicht": (5, 17), "regieteams": (None, None)})
    hits = {m: tuple(a) for m, a in answers.items()}
    return ReplayOutcome(inputs=inputs, answers=answers, run=run,
                         summary=summarise(inputs, hits))


def test_ids_are_escaped_in_both_reports(tmp_path: Path) -> None:
    result = outcome(tmp_path, manual=True)
    out = tmp_path / "out"
    out.mkdir()
    write_outputs(result, out, NoProgress())
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "<b>M-3" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;|*" in html
    assert "&lt;b&gt;M-3&lt;/b&gt;" in html
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "\\<img src=x onerror=alert(1)\\>\\|\\*" in md and "<b>" not in md


def test_hits_at_agencies_without_an_extract_are_left_out(tmp_path: Path) -> None:
    summary = outcome(tmp_path, manual=True).summary
    assert summary["member_hits"] == {"<b>M-3</b>": [], "M-1": ["regieteams"],
                                      "M-2": ["leerplicht"]}
    assert summary["by_combination"] == {"leerplicht+regieteams": 1, "none": 1}
    assert summary["agreement"] == {
        "leerplicht": {"true_positive": 1, "false_positive": 0, "false_negative": 0,
                       "true_negative": 0},
        "regieteams": {"true_positive": 0, "false_positive": 1, "false_negative": 1,
                       "true_negative": 0}}


def test_without_manual_answers_there_is_no_agreement(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_outputs(outcome(tmp_path, manual=True), out, NoProgress())
    assert (out / AGREEMENT_PNG).exists()
    written = write_outputs(outcome(tmp_path, manual=False), out, NoProgress())
    names = sorted(p.name for p in out.iterdir() if p.name != MANIFEST)
    assert names == sorted(p.name for p in written) == [
        "hits_per_agency.png", "household_combinations.png", "report.html", "report.md",
        "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert "agreement" not in summary
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Overeenstemming met de handmatige antwoorden" not in html
    assert html.count('<img src="data:image/png;base64,') == 2


def test_image_sizes_are_half_the_png_pixels(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_outputs(outcome(tmp_path, manual=True), out, NoProgress())
    html = (out / "report.html").read_text(encoding="utf-8")
    for name in ("hits_per_agency.png", "household_combinations.png", "agreement.png"):
        width, height = struct.unpack(">II", (out / name).read_bytes()[16:24])
        assert f'width="{width // 2}"' in html and f'height="{height // 2}"' in html


def test_agreement_statistics() -> None:
    stats = AgreementStats("x", true_positive=20, false_positive=1, false_negative=0,
                           true_negative=25)
    assert stats.rows == 46 and stats.agreed == 45
    # kappa by hand: p_o = 45/46; machine yes 21/46, manual yes 20/46;
    # p_e = (21*20 + 25*26) / 46^2 = 1070/2116
    p_o, p_e = 45 / 46, 1070 / 2116
    assert stats.kappa is not None and abs(stats.kappa - (p_o - p_e) / (1 - p_e)) < 1e-12
    assert AgreementStats("y", 0, 0, 0, 5).kappa is None  # one answer only: undefined
    assert AgreementStats("z", 0, 0, 0, 0).share is None


def test_combination_order_and_markdown_escape() -> None:
    assert combination_order({"none": 3, "a": 3, "a+b": 5, "b": 1}) == ["a+b", "a", "none", "b"]
    assert md_escape("a|b*c_d") == "a\\|b\\*c\\_d"


# --- issue 14 item 13 -----------------------------------------------------------------------


def test_a_rerun_removes_only_the_files_it_wrote_itself(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the researcher's own")
    (tmp_path / "outside.txt").write_text("not the replay's")
    write_outputs(outcome(tmp_path, manual=True), out, NoProgress())
    manifest = json.loads((out / MANIFEST).read_text())
    assert AGREEMENT_PNG in manifest["files"] and "notes.txt" not in manifest["files"]
    write_outputs(outcome(tmp_path, manual=False), out, NoProgress())
    assert not (out / AGREEMENT_PNG).exists()
    assert (out / "notes.txt").read_text() == "the researcher's own"
    # A manifest edited by hand cannot point the clean-up anywhere else.
    (out / MANIFEST).write_text(json.dumps({"files": ["../outside.txt", "notes.txt/..",
                                                      str(tmp_path / "outside.txt")]}))
    write_outputs(outcome(tmp_path, manual=False), out, NoProgress())
    assert (tmp_path / "outside.txt").exists() and (out / "notes.txt").exists()


def test_an_output_file_of_unknown_origin_is_kept(tmp_path: Path) -> None:
    """Without a manifest nothing says the replay wrote it: a same-named file stays."""
    out = tmp_path / "out"
    out.mkdir()
    (out / AGREEMENT_PNG).write_bytes(b"someone else's chart")
    write_outputs(outcome(tmp_path, manual=False), out, NoProgress())
    assert (out / AGREEMENT_PNG).read_bytes() == b"someone else's chart"


def test_both_languages_have_the_same_words() -> None:
    assert NL.keys() == EN.keys()


def test_the_report_is_dutch_by_default_and_english_on_request(tmp_path: Path) -> None:
    result = outcome(tmp_path, manual=True)
    out = tmp_path / "nl"
    out.mkdir()
    write_outputs(result, out, NoProgress())
    html = (out / "report.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert '<html lang="nl">' in html
    for text in (html, md):
        for words in ("Treffers per organisatie", "Huishoudens per combinatie van organisaties",
                      "Overeenstemming met de handmatige antwoorden", "Werkwijze",
                      "duurde 1,5 s", "leerplicht: 5 tot en met 17 jaar"):
            assert words in text, words
        for english in ("Hits per agency", "households", "Method", "known"):
            assert english not in text, english
    out = tmp_path / "en"
    out.mkdir()
    write_outputs(result, out, NoProgress(), lang="en")
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in html and "Hits per agency" in html and "took 1.5 s" in html
    assert "Treffers per organisatie" not in html


def test_the_rows_that_differ_show_basis_and_age(tmp_path: Path) -> None:
    """M-1 (39 on the reference date) is known at regieteams on BSN, which the manual answer
    denied; the manual answer has M-1 at leerplicht, whose rule (5 to 17) withholds it."""
    result = outcome(tmp_path, manual=True, extra_manual=((HOSTILE, "M-1", "leerplicht", 1),))
    out = tmp_path / "out"
    out.mkdir()
    write_outputs(result, out, NoProgress())
    md = (out / "report.md").read_text(encoding="utf-8")
    host = md_escape(HOSTILE)
    assert (f"| {host} | M-1 | leerplicht | bekend | niet bekend | – | 39 | "
            "5 tot en met 17 jaar | leeftijd buiten de regel: niet verstrekt |") in md
    assert (f"| {host} | M-1 | regieteams | niet bekend | bekend | BSN | 39 | iedereen | "
            "gevonden op BSN |") in md


def test_co_occurrence_per_person_beside_per_household(tmp_path: Path) -> None:
    """M-1 (regieteams) and M-2 (leerplicht) share a household: the household is known at
    both agencies, but no person is."""
    result = outcome(tmp_path, manual=False)
    assert result.summary["by_combination"] == {"leerplicht+regieteams": 1, "none": 1}
    assert result.summary["individuals_by_combination"] == {
        "leerplicht": 1, "none": 1, "regieteams": 1}
    out = tmp_path / "out"
    out.mkdir()
    write_outputs(result, out, NoProgress())
    md = (out / "report.md").read_text(encoding="utf-8")
    section = md.split("## Personen per combinatie van organisaties", 1)[1].split("## ", 1)[0]
    assert "| organisaties die de persoon kennen | personen | aandeel |" in section
    assert "| leerplicht | 1 | 33,3% |" in section and "| nergens bekend | 1 | 33,3% |" in section
    assert "| 1 | 2 | 66,7% |" in section  # two people known at exactly one agency
