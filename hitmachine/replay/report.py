"""The replay's output: ``summary.json``, ``report.md``, a self-contained ``report.html`` and
the charts as PNG files.

Charts are Vega-Lite specifications built with Vega-Altair and rendered offline by
vl-convert. ``report.html`` embeds the very same PNGs as ``data:`` URIs and its CSS inline:
it has no script, loads nothing from anywhere and opens from a USB stick on a machine
without network (Altair's own HTML output would load Vega from a CDN, so it is not used).

Everything here is computed from ids, agency codes and counts. No name, BSN or birth date
is ever passed to this module, so none can end up in a report.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hitmachine import __version__
from hitmachine.replay.summary import NONE, Figures, figures

if TYPE_CHECKING:
    from hitmachine.replay.engine import Progress, ReplayOutcome

SUMMARY = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
HITS_PNG = "hits_per_agency.png"
COMBINATIONS_PNG = "household_combinations.png"
AGREEMENT_PNG = "agreement.png"
OUTPUT_FILES = (SUMMARY, REPORT_MD, REPORT_HTML, HITS_PNG, COMBINATIONS_PNG, AGREEMENT_PNG)
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


def hits_chart(fig: Figures) -> dict[str, Any]:
    import altair as alt

    by_agency = fig.summary["by_agency"]
    rows = [{"agency": a, "measure": measure, "count": by_agency[a][measure]}
            for a in fig.agencies for measure in ("households", "individuals")]
    measures = alt.Scale(domain=["households", "individuals"],
                         range=[HOUSEHOLDS_COLOUR, INDIVIDUALS_COLOUR])
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("agency:N", sort=list(fig.agencies), title=None,
                axis=alt.Axis(labelFontSize=13, labelPadding=6)),
        yOffset=alt.YOffset("measure:N", sort=["households", "individuals"]),
        x=alt.X("count:Q", title="known at the agency (disclosed hits)",
                axis=alt.Axis(tickMinStep=1, format="d", grid=True, gridColor="#eee")))
    bars = base.mark_bar(height={"band": 1}).encode(
        color=alt.Color("measure:N", scale=measures, title=None),
        tooltip=["agency:N", "measure:N", "count:Q"])
    labels = base.mark_text(align="left", dx=4, fontSize=12, color="#222").encode(text="count:Q")
    chart = (bars + labels).properties(
        width=520, height=alt.Step(22),
        title=alt.Title("Hits per agency", subtitle=(
            f"{fig.summary['households']} households, {fig.summary['individuals']} individuals "
            "asked")))
    spec: dict[str, Any] = _config(chart).to_dict()
    return spec


def combination_order(by_combination: dict[str, int]) -> list[str]:
    """Largest first; ``none`` last among equals so the hit combinations lead."""
    return sorted(by_combination, key=lambda k: (-by_combination[k], k == NONE, k))


def combinations_chart(fig: Figures) -> dict[str, Any]:
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
        y=alt.Y("households:Q", title="households",
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
        title=alt.Title("Households by combination of agencies", subtitle=(
            "bars: households; dots below: the agencies that know someone in them "
            "(no dot: known nowhere)")))
    spec: dict[str, Any] = _config(chart).to_dict()
    return spec


def agreement_chart(fig: Figures) -> dict[str, Any]:
    """Per agency a 2x2 table: the machine's answer against the manual one."""
    import altair as alt

    assert fig.agreement is not None
    cells = []
    for s in fig.agreement:
        for machine, manual, count in ((True, True, s.true_positive),
                                       (True, False, s.false_positive),
                                       (False, True, s.false_negative),
                                       (False, False, s.true_negative)):
            cells.append({"agency": s.agency, "machine": "known" if machine else "not known",
                          "manual": "known" if manual else "not known", "count": count,
                          "agree": "same answer" if machine == manual else "different answer"})
    sides = ["known", "not known"]
    base = alt.Chart().encode(
        x=alt.X("manual:N", sort=sides, title="manual answer",
                axis=alt.Axis(orient="top", labelAngle=0, domain=False, ticks=False)),
        y=alt.Y("machine:N", sort=sides, title="machine",
                axis=alt.Axis(domain=False, ticks=False)))
    rects = base.mark_rect(stroke="white", strokeWidth=2).encode(
        color=alt.Color("agree:N", title=None,
                        scale=alt.Scale(domain=["same answer", "different answer"],
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
        title=alt.Title("Agreement with the manual answers", subtitle=(
            "counted over the manual rows; the manual answer is the reference")))
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


def build_charts(fig: Figures) -> list[Chart]:
    specs = [
        (HITS_PNG, "Hits per agency",
         "Bar chart of the households and individuals known at each agency.", hits_chart(fig)),
        (COMBINATIONS_PNG, "Households by combination of agencies",
         "UpSet-style chart: households per combination of agencies that know them.",
         combinations_chart(fig)),
    ]
    if fig.agreement is not None:
        specs.append((AGREEMENT_PNG, "Agreement with the manual answers",
                      "Per agency, the machine's answers against the manual answers.",
                      agreement_chart(fig)))
    return [Chart(file, title, alt, spec, render_png(spec)) for file, title, alt, spec in specs]


# --------------------------------------------------------------------------------------------
# Words and tables shared by both reports


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    numeric: tuple[bool, ...]
    note: str = ""


@dataclass(frozen=True)
class ReportView:
    """What both reports say, computed once."""

    title: str
    subtitle: str
    headline: list[tuple[str, str, str]]   # (figure, label, detail)
    comparison: str | None                 # the sentence comparing with the manual tally
    agency_table: Table
    combination_table: Table
    count_table: Table
    agreement_table: Table | None
    disagreement_table: Table | None
    method: list[str]
    privacy: str


def _agency_table(fig: Figures) -> Table:
    s = fig.summary
    rows = []
    for a in fig.agencies:
        counts = s["by_agency"][a]
        rows.append((a, str(counts["households"]), pct(counts["households"], s["households"]),
                     str(counts["individuals"]), str(fig.basis[a]["bsn"]),
                     str(fig.basis[a]["name_birthdate"])))
    return Table(("agency", "households", "of all households", "individuals",
                  "matched on BSN", "on name and birth date"), rows,
                 (False, True, True, True, True, True),
                 "An individual known at an agency on both bases counts once, as a BSN match.")


def _combination_table(fig: Figures) -> Table:
    s = fig.summary
    by_combination: dict[str, int] = s["by_combination"]
    rows = [(k, str(by_combination[k]), pct(by_combination[k], s["households"]))
            for k in combination_order(by_combination)]
    return Table(("agencies that know the household", "households", "share"), rows,
                 (False, True, True))


def _count_table(fig: Figures) -> Table:
    s = fig.summary
    rows = [(str(k), str(v), pct(v, s["households"]))
            for k, v in fig.households_by_agency_count.items()]
    return Table(("number of agencies", "households", "share"), rows, (True, True, True))


def _agreement_table(fig: Figures) -> Table | None:
    if fig.agreement is None:
        return None
    rows = []
    for s in fig.agreement:
        kappa = "–" if s.kappa is None else f"{s.kappa:.2f}"
        rows.append((s.agency, str(s.rows), str(s.true_positive), str(s.false_positive),
                     str(s.false_negative), str(s.true_negative), pct(s.agreed, s.rows), kappa))
    note = ("true positive: machine known, manual known; false positive: machine known, manual "
            "not; false negative: machine not, manual known; true negative: neither. Cohen's "
            "kappa corrects the agreement for chance (1 = perfect, 0 = chance level).")
    return Table(("agency", "manual rows", "true positive", "false positive", "false negative",
                  "true negative", "same answer", "Cohen's kappa"), rows,
                 (False, True, True, True, True, True, True, True), note)


def _disagreement_table(fig: Figures) -> Table | None:
    if fig.agreement is None:
        return None
    shown = fig.disagreements[:MAX_DISAGREEMENTS_SHOWN]
    rows = [(d.household_id, d.member_id, d.agency, "known" if d.manual else "not known",
             "known" if d.machine else "not known") for d in shown]
    note = ""
    if len(fig.disagreements) > len(shown):
        note = (f"The first {len(shown)} of {len(fig.disagreements)} are shown; all follow "
                "from summary.json and the manual file.")
    elif not fig.disagreements:
        note = "The machine gave the manual answer on every row."
    return Table(("household", "member", "agency", "manual", "machine"), rows,
                 (False,) * 5, note)


def _method(outcome: ReplayOutcome, fig: Figures) -> list[str]:
    run = outcome.run
    inputs = outcome.inputs
    ref = run.reference_date.isoformat()
    where = ("a fresh embedded Hitmachine (SQLite, new keys, removed afterwards)"
             if run.target == "embedded" and run.kept_instance is None else
             f"a fresh embedded Hitmachine kept in {run.kept_instance}"
             if run.target == "embedded" else f"the Hitmachine at {run.target}")
    lines = [
        f"Replayed on {where}, through the same path as live use: the extracts were published "
        "through the agencies' adapter (normalised and pseudonymised before sending, one atomic "
        "snapshot per agency), and each household was asked about in one query to the query "
        f"API, purpose '{run.purpose}', with the query date set to the reference date {ref}.",
        f"{run.queries} queries were made; each is in the instance's audit log under the case "
        f"reference '{run.case_reference_prefix} <household id>'.",
        "Matching is the service's own: equal BSNs (an 8-digit BSN gets its leading zero "
        "back), or, when either side has no BSN, equal name keys (prefix and surname folded to "
        "letters without accents or case, the birth date, the first initial). Two different "
        "BSNs never match.",
    ]
    if run.rules is not None:
        rules = "; ".join(f"{a}: {r}" for a, r in run.rules.items())
        lines.append(f"Disclosure rules, ages in whole years on {ref}: {rules}. A hit outside "
                     "an agency's rule is not disclosed and counts as not known.")
    else:
        lines.append(f"Disclosure rules: as configured on {run.target}, ages in whole years on "
                     f"{ref}. A hit outside an agency's rule counts as not known.")
    taking_part = ", ".join(f"{a} ({run.agency_names.get(a, a)})" for a in inputs.agencies)
    lines.append(f"Agencies taking part (those with an extract file): {taking_part}. Hits at "
                 "any other agency are not counted.")
    if run.published:
        published = "; ".join(f"{p.agency}: {p.rows_read} rows, {p.entries} published"
                              + (f", {p.rejected} rejected by the adapter" if p.rejected else "")
                              for p in run.published)
        lines.append(f"Published: {published}.")
    else:
        lines.append("The extracts were not published by this run (--no-publish): the answers "
                     "rest on what the agencies had published on the server.")
    if fig.agreement is not None:
        compared = (f"Agreement is counted over the {fig.manual_rows} manual rows, with the "
                    "manual answer as the reference.")
        if fig.manual_not_compared:
            skipped = ", ".join(f"{n} for {a}" for a, n in fig.manual_not_compared.items())
            compared += f" Not compared (no extract file): {skipped}."
        lines.append(compared)
    phases = ", ".join(f"{name} {seconds(value)}" for name, value in run.phases.items())
    lines.append(f"Run {run.run_id}, started {run.started_at}; took {seconds(run.seconds)} "
                 f"({phases}); Hitmachine {__version__}.")
    return lines


def report_view(outcome: ReplayOutcome, fig: Figures) -> ReportView:
    s = fig.summary
    households, individuals = s["households"], s["individuals"]
    headline = [
        (str(households), "households", f"{individuals} individuals"),
        (str(s["households_with_hits"]), "households with a hit",
         pct(s["households_with_hits"], households)),
        (str(s["households_without_hits"]), "households without a hit",
         pct(s["households_without_hits"], households)),
        (str(fig.multi_agency_households), "multi-agency households",
         "known at two or more agencies"),
        (str(s["individuals_with_hits"]), "individuals with a hit",
         pct(s["individuals_with_hits"], individuals)),
    ]
    comparison = None
    if fig.agreement is not None and fig.manual_households_without_known is not None:
        rows = sum(a.rows for a in fig.agreement)
        agreed = sum(a.agreed for a in fig.agreement)
        comparison = (f"Manual answers: {fig.manual_households_without_known} of {households} "
                      f"households known nowhere; machine: {s['households_without_hits']}. "
                      f"Same answer on {agreed} of {rows} manual rows ({pct(agreed, rows)}).")
    agencies = ", ".join(fig.agencies)
    return ReportView(
        title="Replay of the manual Hitmachine test",
        subtitle=(f"Reference date {outcome.run.reference_date.isoformat()} · agencies: "
                  f"{agencies} · run {outcome.run.run_id}"),
        headline=headline, comparison=comparison,
        agency_table=_agency_table(fig), combination_table=_combination_table(fig),
        count_table=_count_table(fig), agreement_table=_agreement_table(fig),
        disagreement_table=_disagreement_table(fig), method=_method(outcome, fig),
        privacy=("This report holds household and member ids, agency codes and counts only: "
                 "no names, BSNs or birth dates."))


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

    def chart(file: str) -> list[str]:
        c = by_file.get(file)
        return [f"![{md_escape(c.alt)}]({file})", ""] if c else []

    out += ["## Hits per agency", "", *chart(HITS_PNG), *_md_table(view.agency_table), ""]
    out += ["## Households by combination of agencies", "", *chart(COMBINATIONS_PNG),
            *_md_table(view.combination_table), "", *_md_table(view.count_table), ""]
    if view.agreement_table is not None and view.disagreement_table is not None:
        out += ["## Agreement with the manual answers", "", *chart(AGREEMENT_PNG),
                *_md_table(view.agreement_table), "", "### Rows where the answers differ", ""]
        out += (_md_table(view.disagreement_table) if view.disagreement_table.rows
                else [md_escape(view.disagreement_table.note)])
        out.append("")
    out += ["## Method", ""]
    out += [f"- {md_escape(line)}" for line in view.method]
    out += ["", f"*{md_escape(view.privacy)}*", ""]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML


HTML_TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Hitmachine {{ version }}">
<title>{{ view.title }}</title>
<style>
  :root { --ink: #1d2530; --muted: #5b6675; --line: #dde3ea; --accent: #1f5a96; }
  * { box-sizing: border-box; }
  body { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: var(--ink);
         margin: 0; background: #f6f8fa; line-height: 1.45; }
  main { max-width: 1080px; margin: 0 auto; padding: 28px 24px 48px; }
  h1 { margin: 0 0 4px; font-size: 26px; }
  h2 { margin: 36px 0 12px; font-size: 19px; border-bottom: 2px solid var(--line);
       padding-bottom: 4px; }
  h3 { font-size: 16px; margin: 22px 0 8px; }
  .sub { color: var(--muted); margin: 0 0 20px; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr));
           gap: 12px; }
  .card { background: white; border: 1px solid var(--line); border-radius: 8px;
          padding: 14px 16px; }
  .card .figure { font-size: 34px; font-weight: bold; color: var(--accent); line-height: 1.1; }
  .card .label { font-weight: bold; margin-top: 2px; }
  .card .detail { color: var(--muted); font-size: 13px; }
  .callout { background: #fff8ec; border-left: 4px solid #e08a1e; padding: 10px 14px;
             margin: 16px 0 0; border-radius: 4px; }
  figure { margin: 12px 0 16px; background: white; border: 1px solid var(--line);
           border-radius: 8px; padding: 14px; overflow-x: auto; }
  figure img { display: block; max-width: 100%; height: auto; }
  table { border-collapse: collapse; background: white; margin: 8px 0; font-size: 14px; }
  th, td { border: 1px solid var(--line); padding: 5px 10px; text-align: left; }
  th { background: #eef2f6; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .note { color: var(--muted); font-size: 13px; max-width: 820px; }
  .two { display: flex; flex-wrap: wrap; gap: 24px; align-items: flex-start; }
  ul.method li { margin-bottom: 6px; }
  footer { margin-top: 32px; color: var(--muted); font-size: 13px; }
  @media print { body { background: white; } figure, .card { break-inside: avoid; } }
</style>
</head>
<body>
<main>
<h1>{{ view.title }}</h1>
<p class="sub">{{ view.subtitle }}</p>
<section class="cards" aria-label="headline figures">
{%- for figure, label, detail in view.headline %}
  <div class="card"><div class="figure">{{ figure }}</div><div class="label">{{ label }}</div>
    <div class="detail">{{ detail }}</div></div>
{%- endfor %}
</section>
{% if view.comparison %}<p class="callout">{{ view.comparison }}</p>{% endif %}

<h2>Hits per agency</h2>
{{ chart(charts.get(hits)) }}
{{ table(view.agency_table) }}

<h2>Households by combination of agencies</h2>
{{ chart(charts.get(combinations)) }}
<div class="two">
{{ table(view.combination_table) }}
{{ table(view.count_table) }}
</div>

{% if view.agreement_table %}
<h2>Agreement with the manual answers</h2>
{{ chart(charts.get(agreement)) }}
{{ table(view.agreement_table) }}
<h3>Rows where the answers differ</h3>
{% if view.disagreement_table.rows %}{{ table(view.disagreement_table) }}
{% else %}<p class="note">{{ view.disagreement_table.note }}</p>{% endif %}
{% endif %}

<h2>Method</h2>
<ul class="method">
{%- for line in view.method %}
  <li>{{ line }}</li>
{%- endfor %}
</ul>
<footer>{{ view.privacy }} Generated by Hitmachine {{ version }}.</footer>
</main>
</body>
</html>
"""

MACROS = """\
{% macro chart(c) -%}
{%- if c %}<figure><img src="{{ c.data_uri() }}" alt="{{ c.alt }}" width="{{ c.size[0] }}"
  height="{{ c.size[1] }}" data-chart="{{ c.file }}"></figure>{% endif -%}
{%- endmacro %}
{% macro table(t) -%}
<div><table>
<thead><tr>{% for h in t.header %}<th{% if t.numeric[loop.index0] %} class="num"{% endif %}>{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{%- for row in t.rows %}
<tr>{% for cell in row %}<td{% if t.numeric[loop.index0] %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{%- endfor %}
</tbody></table>
{% if t.note %}<p class="note">{{ t.note }}</p>{% endif %}</div>
{%- endmacro %}
"""


def render_html(view: ReportView, charts: Sequence[Chart]) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=False, lstrip_blocks=False)
    template = env.from_string(MACROS + HTML_TEMPLATE)
    return template.render(view=view, charts={c.file: c for c in charts}, version=__version__,
                           hits=HITS_PNG, combinations=COMBINATIONS_PNG, agreement=AGREEMENT_PNG)


# --------------------------------------------------------------------------------------------
# Writing


def _write_bytes(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)


def write_outputs(outcome: ReplayOutcome, out: Path, progress: Progress) -> list[Path]:
    """Write every output file into ``out``; files of an earlier run that this run does not
    make (``agreement.png`` without manual answers) are removed, so nothing stale remains."""
    from hitmachine.replay.engine import write_json

    fig = figures(outcome.inputs, outcome.summary, outcome.answers)
    progress.start("writing report", 3 + (fig.agreement is not None))
    written: list[Path] = []
    write_json(out / SUMMARY, outcome.summary)
    written.append(out / SUMMARY)
    charts = []
    for chart in build_charts(fig):
        _write_bytes(out / chart.file, chart.png)
        written.append(out / chart.file)
        charts.append(chart)
        progress.advance()
    view = report_view(outcome, fig)
    _write_bytes(out / REPORT_MD, render_markdown(view, charts).encode("utf-8"))
    _write_bytes(out / REPORT_HTML, render_html(view, charts).encode("utf-8"))
    written += [out / REPORT_MD, out / REPORT_HTML]
    progress.advance()
    for stale in set(OUTPUT_FILES) - {p.name for p in written}:
        (out / stale).unlink(missing_ok=True)
    return written


__all__ = ["AGREEMENT_PNG", "COMBINATIONS_PNG", "HITS_PNG", "OUTPUT_FILES", "REPORT_HTML",
           "REPORT_MD", "SUMMARY", "Chart", "ReportView", "agreement_chart", "build_charts",
           "combination_order", "combinations_chart", "hits_chart", "md_escape",
           "render_html", "render_markdown", "render_png", "report_view", "write_outputs"]
