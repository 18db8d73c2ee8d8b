"""The replay's charts: Vega-Lite specifications built with Vega-Altair and rendered to PNG
offline by vl-convert (no browser, no CDN). ``report.html`` embeds the very same PNGs.

Computed from agency codes and counts only, like the rest of the report.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from hitmachine.replay.summary import NONE, Figures
from hitmachine.replay.texts import Words

HITS_PNG = "hits_per_agency.png"
COMBINATIONS_PNG = "household_combinations.png"
AGREEMENT_PNG = "agreement.png"
SCALE = 2  # PNGs at twice their CSS size: sharp on high-density screens and in print
HOUSEHOLDS_COLOUR = "#1f5a96"
INDIVIDUALS_COLOUR = "#86b6e2"
AGREE_COLOUR = "#3b7dbf"
DISAGREE_COLOUR = "#e08a1e"
FONT = "Liberation Sans, DejaVu Sans, Arial, sans-serif"


def known_word(w: Words, known: bool) -> str:
    """'known' or 'not known' in the report's language (charts and tables alike)."""
    return w("known") if known else w("not_known")


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
            cells.append({"agency": s.agency, "machine": known_word(w, machine),
                          "manual": known_word(w, manual), "count": count,
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


__all__ = ["AGREEMENT_PNG", "COMBINATIONS_PNG", "HITS_PNG", "SCALE", "Chart", "agreement_chart",
           "build_charts", "combination_order", "combinations_chart", "hits_chart", "known_word",
           "render_png"]
