"""The replay's output: ``summary.json``, ``report.md``, a self-contained ``report.html`` and
the charts as PNG files.

Charts are Vega-Lite specifications built with Vega-Altair and rendered offline by
vl-convert. ``report.html`` embeds the very same PNGs as ``data:`` URIs and its CSS inline:
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

import base64
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hitmachine import __version__
from hitmachine.replay.model import Progress, ReplayOutcome, write_json
from hitmachine.replay.summary import NONE, Disagreement, Figures, figures
from hitmachine.replay.texts import DEFAULT_LANGUAGE, Words

SUMMARY = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
HITS_PNG = "hits_per_agency.png"
COMBINATIONS_PNG = "household_combinations.png"
AGREEMENT_PNG = "agreement.png"
OUTPUT_FILES = (SUMMARY, REPORT_MD, REPORT_HTML, HITS_PNG, COMBINATIONS_PNG, AGREEMENT_PNG)
MANIFEST = ".hitmachine-replay.json"  # the files the last run into this directory wrote
TEMPLATES = Path(__file__).with_name("templates")
MAX_DISAGREEMENTS_SHOWN = 200
SCALE = 2  # PNGs at twice their CSS size: sharp on high-density screens and in print

HOUSEHOLDS_COLOUR = "#1f5a96"
INDIVIDUALS_COLOUR = "#86b6e2"
AGREE_COLOUR = "#3b7dbf"
DISAGREE_COLOUR = "#e08a1e"
FONT = "Liberation Sans, DejaVu Sans, Arial, sans-serif"


@dataclass(frozen=True)
class Chart:
    file: str
    title: str
    alt: str
    spec: dict[str, Any]
    png: bytes

    @property
    def size(self) -> tuple[int, int]:
        """CSS pixels: the PNG's own size divided by the render scale."""
        width, height = struct.unpack(">II", self.png[16:24])
        return width // SCALE, height // SCALE

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# --------------------------------------------------------------------------------------------
# Charts


def _config(chart: Any) -> Any:
    return (chart.configure(font=FONT)
            .configure_view(stroke=None)
            .configure_axis(labelFontSize=12, titleFontSize=12, grid=False)
            .configure_title(fontSize=15, anchor="start", subtitleFontSize=12,
                             subtitleColor="#555")
            .configure_legend(labelFontSize=12, titleFontSize=12, orient="bottom"))


def hits_chart(fig: Figures, w: Words) -> dict[str, Any]:
    import altair as alt

    by_agency = fig.summary["by_agency"]
    names = [w("households"), w("individuals")]
    rows = [{"agency": a, "measure": name, "count": by_agency[a][measure]}
            for a in fig.agencies
            for measure, name in zip(("households", "individuals"), names, strict=True)]
    measures = alt.Scale(domain=names, range=[HOUSEHOLDS_COLOUR, INDIVIDUALS_COLOUR])
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("agency:N", sort=list(fig.agencies), title=None,
                axis=alt.Axis(labelFontSize=13, labelPadding=6)),
        yOffset=alt.YOffset("measure:N", sort=names),
        x=alt.X("count:Q", title=w("c_hits_axis"),
                axis=alt.Axis(tickMinStep=1, format="d", grid=True, gridColor="#eee")))
    bars = base.mark_bar(height={"band": 1}).encode(
        color=alt.Color("measure:N", scale=measures, title=None),
        tooltip=["agency:N", "measure:N", "count:Q"])
    labels = base.mark_text(align="left", dx=4, fontSize=12, color="#222").encode(text="count:Q")
    chart = (bars + labels).properties(
        width=520, height=alt.Step(22),
        title=alt.Title(w("h_hits"), subtitle=w(
            "c_hits_subtitle", households=fig.summary["households"],
            individuals=fig.summary["individuals"])))
    spec: dict[str, Any] = _config(chart).to_dict()
    return spec


def combination_order(by_combination: dict[str, int]) -> list[str]:
    """Largest first; ``none`` last among equals so the hit combinations lead."""
    return sorted(by_combination, key=lambda k: (-by_combination[k], k == NONE, k))


def combinations_chart(fig: Figures, w: Words) -> dict[str, Any]:
    """UpSet-style: a bar per agency combination, and below it which agencies it joins."""
    import altair as alt

    by_combination: dict[str, int] = fig.summary["by_combination"]
    order = combination_order(by_combination)
    total = max(fig.summary["households"], 1)
    bars_data = [{"combination": k, "households": v,
                  "label": f"{v}", "share": f"{100 * v / total:.1f}%"}
                 for k, v in by_combination.items()]
    dots = [{"combination": k, "agency": a, "member": a in k.split("+")}
            for k in order for a in fig.agencies]
    lines = []
    for k in order:
        members = [a for a in fig.agencies if a in k.split("+")]
        if len(members) >= 2:
            lines.append({"combination": k, "low": members[0], "high": members[-1]})
    width = max(320, 56 * len(order))
    x = alt.X("combination:N", sort=order, title=None,
              axis=alt.Axis(labels=False, ticks=False, domain=False))
    top = alt.Chart(alt.Data(values=bars_data)).encode(x=x)
    bars = top.mark_bar(color=HOUSEHOLDS_COLOUR, width={"band": 0.7}).encode(
        y=alt.Y("households:Q", title=w("households"),
                axis=alt.Axis(tickMinStep=1, format="d", grid=True, gridColor="#eee")),
        tooltip=["combination:N", "households:Q", "share:N"])
    counts = top.mark_text(dy=-7, fontSize=12, color="#222").encode(
        y="households:Q", text="label:N")
    y = alt.Y("agency:N", sort=list(fig.agencies), title=None,
              axis=alt.Axis(labelFontSize=13, labelPadding=6))
    matrix = alt.Chart(alt.Data(values=dots)).mark_circle(size=170, opacity=1).encode(
        x=x, y=y,
        color=alt.condition("datum.member", alt.value("#222"), alt.value("#d9d9d9")))
    layers = [matrix]
    if lines:
        connector = alt.Chart(alt.Data(values=lines)).mark_rule(
            strokeWidth=3, color="#222").encode(x=x, y=alt.Y("low:N", sort=list(fig.agencies)),
                                                y2="high:N")
        layers = [connector, matrix]
    upper = (bars + counts).properties(width=width, height=200)
    lower = alt.layer(*layers).properties(width=width, height=alt.Step(26))
    chart = alt.vconcat(upper, lower, spacing=4).resolve_scale(x="shared").properties(
        title=alt.Title(w("h_combinations"), subtitle=w("c_combinations_subtitle")))
    spec: dict[str, Any] = _config(chart).to_dict()
    return spec


def agreement_chart(fig: Figures, w: Words) -> dict[str, Any]:
    """Per agency a 2x2 table: the machine's answer against the manual one."""
    import altair as alt

    assert fig.agreement is not None
    cells = []
    for s in fig.agreement:
        for machine, manual, count in ((True, True, s.true_positive),
                                       (True, False, s.false_positive),
                                       (False, True, s.false_negative),
                                       (False, False, s.true_negative)):
            cells.append({"agency": s.agency, "machine": _known(w, machine),
                          "manual": _known(w, manual), "count": count,
                          "agree": w("same_answer") if machine == manual
                          else w("different_answer")})
    sides = [w("known"), w("not_known")]
    base = alt.Chart().encode(
        x=alt.X("manual:N", sort=sides, title=w("c_manual_answer"),
                axis=alt.Axis(orient="top", labelAngle=0, domain=False, ticks=False)),
        y=alt.Y("machine:N", sort=sides, title=w("machine"),
                axis=alt.Axis(domain=False, ticks=False)))
    rects = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("agree:N", title=None,
                        scale=alt.Scale(domain=[w("same_answer"), w("different_answer")],
                                        range=[AGREE_COLOUR, DISAGREE_COLOUR])),
        opacity=alt.condition("datum.count > 0", alt.value(1.0), alt.value(0.25)),
        tooltip=["agency:N", "machine:N", "manual:N", "count:Q"])
    text = base.mark_text(fontSize=16, fontWeight="bold").encode(
        text="count:Q",
        color=alt.condition("datum.count > 0", alt.value("white"), alt.value("#6b6b6b")))
    chart = alt.layer(rects, text, data=alt.Data(values=cells)).properties(
        width=150, height=150).facet(
        column=alt.Column("agency:N", sort=list(fig.agencies), title=None,
                          header=alt.Header(labelFontSize=14, labelFontWeight="bold")),
        spacing=28).properties(
        title=alt.Title(w("h_agreement"), subtitle=w("c_agreement_subtitle")))
    spec: dict[str, Any] = _config(chart).to_dict()
    return spec


def render_png(spec: dict[str, Any]) -> bytes:
    import altair as alt
    import vl_convert as vlc

    wanted = ".".join(alt.SCHEMA_VERSION.lstrip("v").split(".")[:2])
    kwargs: dict[str, Any] = {}
    if wanted in vlc.get_vegalite_versions():
        kwargs["vl_version"] = wanted
    png: bytes = vlc.vegalite_to_png(spec, scale=SCALE, **kwargs)
    return png


def build_charts(fig: Figures, w: Words) -> list[Chart]:
    specs = [
        (HITS_PNG, w("h_hits"), w("c_hits_alt"), hits_chart(fig, w)),
        (COMBINATIONS_PNG, w("h_combinations"), w("c_combinations_alt"),
         combinations_chart(fig, w)),
    ]
    if fig.agreement is not None:
        specs.append((AGREEMENT_PNG, w("h_agreement"), w("c_agreement_alt"),
                      agreement_chart(fig, w)))
    return [Chart(file, title, alt, spec, render_png(spec)) for file, title, alt, spec in specs]


# --------------------------------------------------------------------------------------------
# Words and tables shared by both reports


def _known(w: Words, known: bool) -> str:
    return w("known") if known else w("not_known")


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
    rows = [(d.household_id, d.member_id, d.agency, _known(w, d.manual), _known(w, d.machine),
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


def _write_bytes(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


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
    _write_bytes(out / MANIFEST, json.dumps({"files": names}, indent=2).encode("utf-8") + b"\n")


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
        _write_bytes(out / chart.file, chart.png)
        written.append(out / chart.file)
        charts.append(chart)
        progress.advance()
    view = report_view(outcome, fig, lang)
    _write_bytes(out / REPORT_MD, render_markdown(view, charts).encode("utf-8"))
    _write_bytes(out / REPORT_HTML, render_html(view, charts).encode("utf-8"))
    written += [out / REPORT_MD, out / REPORT_HTML]
    progress.advance()
    _clean_up(out, written)
    return written


__all__ = ["AGREEMENT_PNG", "COMBINATIONS_PNG", "HITS_PNG", "MANIFEST", "OUTPUT_FILES",
           "REPORT_HTML", "REPORT_MD", "SUMMARY", "Chart", "ReportView", "Section",
           "agreement_chart", "build_charts", "combination_order", "combinations_chart",
           "explanation", "hits_chart", "md_escape", "render_html", "render_markdown",
           "render_png", "report_view", "write_outputs"]
