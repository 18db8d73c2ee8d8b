"""The report writer on its own: what it writes with and without manual answers, and that
ids from the researcher's files cannot inject markup into report.html or report.md."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path

from hitmachine.replay.engine import NoProgress, ReplayOutcome, RunInfo
from hitmachine.replay.inputs import load_inputs
from hitmachine.replay.report import (
    AGREEMENT_PNG,
    combination_order,
    md_escape,
    write_outputs,
)
from hitmachine.replay.summary import AgreementStats, summarise
from tests.replay.util import HOUSEHOLD_HEADER, MANUAL_HEADER, PERSON_HEADER, write_csv

REFERENCE = dt.date(2020, 1, 1)
HOSTILE = "<img src=x onerror=alert(1)>|*"


def outcome(tmp_path: Path, *, manual: bool) -> ReplayOutcome:
    members = [(HOSTILE, "M-1", "111222333", "Anna", "", "Jansen", "1980-05-01"),
               (HOSTILE, "M-2", "", "Piet", "", "Smit", "2012-01-01"),
               ("H2", "<b>M-3</b>", "", "Kees", "", "Bos", "1970-01-01")]
    write_csv(tmp_path / "households.csv", HOUSEHOLD_HEADER, members)
    for agency in ("leerplicht", "regieteams"):
        write_csv(tmp_path / "extracts" / f"{agency}.csv", PERSON_HEADER, [])
    if manual:
        write_csv(tmp_path / "manual.csv", MANUAL_HEADER,
                  [(HOSTILE, "M-1", "regieteams", 0), ("H2", "<b>M-3</b>", "regieteams", 1),
                   (HOSTILE, "M-2", "leerplicht", 1)])
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
                  phases={"asking": 0.5}, queries=2, seconds=1.5)
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
    (out / AGREEMENT_PNG).write_bytes(b"from an earlier run")
    written = write_outputs(outcome(tmp_path, manual=False), out, NoProgress())
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(p.name for p in written) == [
        "hits_per_agency.png", "household_combinations.png", "report.html", "report.md",
        "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert "agreement" not in summary
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Agreement with the manual answers" not in html
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
