"""The replay's output: ``summary.json``, ``report.md``, a self-contained ``report.html`` and
the charts as PNG files.

Charts (``hitmachine.replay.charts``) are Vega-Lite specifications built with Vega-Altair
and rendered offline by vl-convert. ``report.html`` embeds the very same PNGs as ``data:`` URIs and its CSS inline:
it has no script, loads nothing from anywhere and opens from a USB stick on a machine
without network (Altair's own HTML output would load Vega from a CDN, so it is not used).

Everything here is computed from ids, agency codes, counts and ages in whole years. No name,
BSN or birth date is ever passed to this module, so none can end up in a report. The words
are Dutch by default, English with ``lang="en"`` (``hitmachine.replay.texts``); the HTML
page is the Jinja template ``templates/report.html`` beside this module.

A run records the files it wrote in a manifest in ``--out``; the next run into the same
directory removes those of them it no longer writes, and never touches any other file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hitmachine import __version__
from hitmachine.core.files import atomic_write
from hitmachine.replay.charts import (
    AGREEMENT_PNG,
    COMBINATIONS_PNG,
    HITS_PNG,
    Chart,
    build_charts,
    combination_order,
    known_word,
)
from hitmachine.replay.model import Progress, ReplayOutcome, write_json
from hitmachine.replay.summary import NONE, Disagreement, Figures, figures
from hitmachine.replay.texts import DEFAULT_LANGUAGE, Words

SUMMARY = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
OUTPUT_FILES = (SUMMARY, REPORT_MD, REPORT_HTML, HITS_PNG, COMBINATIONS_PNG, AGREEMENT_PNG)
MANIFEST = ".hitmachine-replay.json"  # the files the last run into this directory wrote
TEMPLATES = Path(__file__).with_name("templates")
MAX_DISAGREEMENTS_SHOWN = 200

# --------------------------------------------------------------------------------------------
# Words and tables shared by both reports


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    numeric: tuple[bool, ...]
    note: str = ""


@dataclass(frozen=True)
class Section:
    """A heading, an optional chart, an optional introduction, and tables side by side."""

    heading: str
    chart: str | None
    tables: tuple[Table, ...]
    intro: str = ""
    level: int = 2


@dataclass(frozen=True)
class ReportView:
    """What both reports say, computed once, in one language."""

    lang: str
    title: str
    subtitle: str
    headline_label: str
    headline: list[tuple[str, str, str]]   # (figure, label, detail)
    comparison: str | None                 # the sentence comparing with the manual tally
    sections: list[Section]
    method_heading: str
    method: list[str]
    privacy: str
    generated: str


def _agency_table(fig: Figures, w: Words) -> Table:
    s = fig.summary
    rows = []
    for a in fig.agencies:
        counts = s["by_agency"][a]
        rows.append((a, str(counts["households"]), w.pct(counts["households"], s["households"]),
                     str(counts["individuals"]), str(fig.basis[a]["bsn"]),
                     str(fig.basis[a]["name_birthdate"])))
    return Table((w("agency"), w("households"), w("of_all_households"), w("individuals"),
                  w("on_bsn"), w("on_name")), rows,
                 (False, True, True, True, True, True), w("agency_note"))


def _combination_table(by_combination: dict[str, int], whole: int, what: str, header: str,
                       w: Words) -> Table:
    rows = [(w("none") if k == NONE else k, str(by_combination[k]),
             w.pct(by_combination[k], whole)) for k in combination_order(by_combination)]
    return Table((header, what, w("share")), rows, (False, True, True))


def _count_table(counts: dict[int, int], whole: int, what: str, w: Words) -> Table:
    rows = [(str(k), str(v), w.pct(v, whole)) for k, v in counts.items()]
    return Table((w("agency_count"), what, w("share")), rows, (True, True, True))


def _agreement_table(fig: Figures, w: Words) -> Table | None:
    if fig.agreement is None:
        return None
    rows = []
    for s in fig.agreement:
        kappa = "–" if s.kappa is None else w.number(s.kappa, 2)
        rows.append((s.agency, str(s.rows), str(s.true_positive), str(s.false_positive),
                     str(s.false_negative), str(s.true_negative), w.pct(s.agreed, s.rows),
                     kappa))
    return Table((w("agency"), w("manual_rows"), w("tp"), w("fp"), w("fn"), w("tn"),
                  w("same_answer"), w("kappa")), rows,
                 (False, True, True, True, True, True, True, True), w("agreement_note"))


def explanation(d: Disagreement, w: Words) -> str:
    """What explains a row where the answers differ, as far as the replay can know it."""
    if d.outside_rule:
        return w("why_outside_rule")
    if d.machine:
        return w("why_name") if d.basis == "name_birthdate" else w("why_bsn")
    return w("why_no_match") if d.limits is not None else w("why_not_disclosed")


def _disagreement_table(fig: Figures, w: Words) -> Table | None:
    if fig.agreement is None:
        return None
    shown = fig.disagreements[:MAX_DISAGREEMENTS_SHOWN]
    rows = [(d.household_id, d.member_id, d.agency, known_word(w, d.manual), known_word(w, d.machine),
             w(f"basis_{d.basis}") if d.basis else "–",
             "–" if d.age is None else str(d.age),
             w("unknown") if d.limits is None else w.rule(d.limits),
             explanation(d, w)) for d in shown]
    note = w("differ_note")
    if len(fig.disagreements) > len(shown):
        note += " " + w("differ_some", shown=len(shown), total=len(fig.disagreements))
    elif not fig.disagreements:
        note = w("differ_none")
    return Table((w("household"), w("member"), w("agency"), w("manual"), w("machine"),
                  w("basis"), w("age"), w("rule"), w("explanation")), rows,
                 (False,) * 6 + (True, False, False), note)


def _method(outcome: ReplayOutcome, fig: Figures, w: Words) -> list[str]:
    run = outcome.run
    inputs = outcome.inputs
    ref = run.reference_date.isoformat()
    where = (w("where_embedded") if run.target == "embedded" and run.kept_instance is None
             else w("where_kept", directory=run.kept_instance) if run.target == "embedded"
             else w("where_server", server=run.target))
    lines = [w("m_path", where=where, purpose=run.purpose, ref=ref),
             w("m_queries", queries=run.queries, prefix=run.case_reference_prefix),
             w("m_matching")]
    if run.age_limits:
        rules = "; ".join(f"{a}: {w.rule(limits)}" for a, limits in run.age_limits.items())
        lines.append(w("m_rules", ref=ref, rules=rules))
    elif run.rules is not None:
        lines.append(w("m_rules", ref=ref, rules="; ".join(f"{a}: {r}"
                                                           for a, r in run.rules.items())))
    else:
        lines.append(w("m_rules_server", server=run.target, ref=ref))
    taking_part = ", ".join(f"{a} ({run.agency_names.get(a, a)})" for a in inputs.agencies)
    lines.append(w("m_agencies", agencies=taking_part))
    if run.published:
        published = "; ".join(
            w("m_published_one", agency=p.agency, rows=p.rows_read, entries=p.entries)
            + (w("m_rejected", rejected=p.rejected) if p.rejected else "")
            for p in run.published)
        lines.append(w("m_published", published=published))
    else:
        lines.append(w("m_not_published"))
    if fig.agreement is not None:
        compared = w("m_compared", rows=fig.manual_rows)
        if fig.manual_not_compared:
            skipped = ", ".join(w("m_not_compared_one", n=n, agency=a)
                                for a, n in fig.manual_not_compared.items())
            compared += w("m_not_compared", skipped=skipped)
        lines.append(compared)
    phases = ", ".join(f"{w('phase_' + name)} {w.seconds(value)}"
                       for name, value in run.phases.items())
    lines.append(w("m_run", run=run.run_id, started=run.started_at, took=w.seconds(run.seconds),
                   phases=phases, version=__version__))
    return lines


def _headline(fig: Figures, w: Words) -> list[tuple[str, str, str]]:
    s = fig.summary
    households, individuals = s["households"], s["individuals"]
    return [
        (str(households), w("households"), w("n_individuals", n=individuals)),
        (str(s["households_with_hits"]), w("households_with_hits"),
         w.pct(s["households_with_hits"], households)),
        (str(s["households_without_hits"]), w("households_without_hits"),
         w.pct(s["households_without_hits"], households)),
        (str(fig.multi_agency_households), w("multi_agency"), w("multi_agency_detail")),
        (str(s["individuals_with_hits"]), w("individuals_with_hits"),
         w.pct(s["individuals_with_hits"], individuals)),
    ]


def _sections(fig: Figures, w: Words) -> list[Section]:
    s = fig.summary
    households, individuals = s["households"], s["individuals"]
    sections = [
        Section(w("h_hits"), HITS_PNG, (_agency_table(fig, w),)),
        Section(w("h_combinations"), COMBINATIONS_PNG, (
            _combination_table(s["by_combination"], households, w("households"),
                               w("combination_households"), w),
            _count_table(fig.households_by_agency_count, households, w("households"), w))),
        Section(w("h_people"), None, (
            _combination_table(s["individuals_by_combination"], individuals,
                               w("individuals"), w("combination_people"), w),
            _count_table(fig.individuals_by_agency_count, individuals, w("individuals"), w)),
            intro=w("people_intro")),
    ]
    agreement, differ = _agreement_table(fig, w), _disagreement_table(fig, w)
    if agreement is not None and differ is not None:
        sections.append(Section(w("h_agreement"), AGREEMENT_PNG, (agreement,)))
        sections.append(Section(w("h_differ"), None, (differ,) if differ.rows else (),
                                intro="" if differ.rows else differ.note, level=3))
    return sections


def report_view(outcome: ReplayOutcome, fig: Figures, lang: str = DEFAULT_LANGUAGE
                ) -> ReportView:
    w = Words(lang)
    s = fig.summary
    comparison = None
    if fig.agreement is not None and fig.manual_households_without_known is not None:
        rows = sum(a.rows for a in fig.agreement)
        agreed = sum(a.agreed for a in fig.agreement)
        comparison = w("comparison", manual=fig.manual_households_without_known,
                       households=s["households"], machine=s["households_without_hits"],
                       agreed=agreed, rows=rows, share=w.pct(agreed, rows))
    return ReportView(
        lang=lang, title=w("title"),
        subtitle=w("subtitle", ref=outcome.run.reference_date.isoformat(),
                   agencies=", ".join(fig.agencies), run=outcome.run.run_id),
        headline_label=w("headline_label"), headline=_headline(fig, w), comparison=comparison,
        sections=_sections(fig, w), method_heading=w("h_method"),
        method=_method(outcome, fig, w), privacy=w("privacy"),
        generated=w("generated", version=__version__))


# --------------------------------------------------------------------------------------------
# Markdown


_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_{}[]<>#|~"})


def md_escape(text: str) -> str:
    return text.translate(_MD_SPECIAL)


def _md_table(table: Table) -> list[str]:
    lines = ["| " + " | ".join(md_escape(h) for h in table.header) + " |",
             "|" + "|".join("---:" if n else "---" for n in table.numeric) + "|"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", md_escape(table.note)]
    return lines


def render_markdown(view: ReportView, charts: Sequence[Chart]) -> str:
    by_file = {c.file: c for c in charts}
    out = [f"# {md_escape(view.title)}", "", md_escape(view.subtitle), ""]
    out += ["| | |", "|---:|---|"]
    out += [f"| **{md_escape(v)}** | {md_escape(label)} ({md_escape(detail)}) |"
            for v, label, detail in view.headline]
    out.append("")
    if view.comparison:
        out += [md_escape(view.comparison), ""]
    for section in view.sections:
        out += ["#" * section.level + " " + md_escape(section.heading), ""]
        chart = by_file.get(section.chart or "")
        if chart is not None:
            out += [f"![{md_escape(chart.alt)}]({chart.file})", ""]
        if section.intro:
            out += [md_escape(section.intro), ""]
        for table in section.tables:
            out += [*_md_table(table), ""]
    out += [f"## {md_escape(view.method_heading)}", ""]
    out += [f"- {md_escape(line)}" for line in view.method]
    out += ["", f"*{md_escape(view.privacy)}*", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML


def render_html(view: ReportView, charts: Sequence[Chart]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template("report.html").render(
        view=view, charts={c.file: c for c in charts}, version=__version__)


# --------------------------------------------------------------------------------------------
# Writing


def _earlier_outputs(out: Path) -> set[str]:
    """The files the last run into ``out`` wrote, by its manifest: plain names in ``out``
    only, so an edited manifest cannot point the clean-up anywhere else."""
    try:
        listed = json.loads((out / MANIFEST).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    if not isinstance(listed, list):
        return set()
    return {n for n in listed if isinstance(n, str) and n and Path(n).name == n
            and n not in (".", "..") and not n.startswith(".")}


def _clean_up(out: Path, written: Sequence[Path]) -> None:
    """Remove what the last run wrote and this one did not (``agreement.png`` of a run with
    manual answers, before one without); record what this run wrote for the next."""
    names = [p.name for p in written]
    for stale in sorted(_earlier_outputs(out) - set(names)):
        path = out / stale
        if path.is_file() and not path.is_symlink():
            path.unlink()
    atomic_write(out / MANIFEST, json.dumps({"files": names}, indent=2).encode("utf-8") + b"\n")


def write_outputs(outcome: ReplayOutcome, out: Path, progress: Progress,
                  lang: str = DEFAULT_LANGUAGE) -> list[Path]:
    """Write every output file into ``out``, in ``lang``, and remove the files of an earlier
    run into ``out`` that this run does not write."""

    fig = figures(outcome.inputs, outcome.summary, outcome.answers, outcome.run.age_limits)
    w = Words(lang)
    progress.start("writing report", 3 + (fig.agreement is not None))
    written: list[Path] = []
    write_json(out / SUMMARY, outcome.summary)
    written.append(out / SUMMARY)
    charts = []
    for chart in build_charts(fig, w):
        atomic_write(out / chart.file, chart.png)
        written.append(out / chart.file)
        charts.append(chart)
        progress.advance()
    view = report_view(outcome, fig, lang)
    atomic_write(out / REPORT_MD, render_markdown(view, charts).encode("utf-8"))
    atomic_write(out / REPORT_HTML, render_html(view, charts).encode("utf-8"))
    written += [out / REPORT_MD, out / REPORT_HTML]
    progress.advance()
    _clean_up(out, written)
    return written


# The chart file names and combination_order are part of this module's interface too.
__all__ = ["AGREEMENT_PNG", "COMBINATIONS_PNG", "HITS_PNG", "MANIFEST", "OUTPUT_FILES",
           "REPORT_HTML", "REPORT_MD", "SUMMARY", "ReportView", "Section", "combination_order",
           "explanation", "md_escape", "render_html", "render_markdown", "report_view",
           "write_outputs"]
