"""Charts for the statistics page: Vega-Altair specifications rendered to SVG on the server
by vl-convert (which bundles Vega, so nothing is fetched from a CDN).

The SVG is placed inline in the page. It contains only presentation attributes (no
``style`` and no script, so the page's CSP holds); Vega's own ARIA attributes are removed
and the outer ``<svg>`` becomes ``role="img"``, named by the chart's heading and summary.
Every chart has its figures in a table next to it as well.
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ElementTree
from typing import Any

from markupsafe import Markup

from hitmachine.services.statistics import Statistics

BLUE = "#01689B"        # lintblauw
DARK_BLUE = "#154273"   # donkerblauw
GREY = "#767676"
ORANGE = "#A85400"
TEXT = "#1A1A1A"
FONT = "Liberation Sans, Arial, Helvetica, sans-serif"
WIDTH = 640
WIDE = 900

_render_lock = threading.Lock()
_ARIA = re.compile(r'\s(?:role|aria-roledescription|aria-label|aria-hidden)="[^"]*"')
_SVG_OPEN = re.compile(r"<svg\b([^>]*)>")


def _config() -> dict[str, Any]:
    axis = {"labelColor": TEXT, "titleColor": TEXT, "labelFont": FONT, "titleFont": FONT,
            "labelFontSize": 12, "titleFontSize": 12, "titleFontWeight": "bold",
            "domainColor": GREY, "tickColor": GREY, "gridColor": "#E0E0E0"}
    return {"aria": False, "font": FONT, "axis": axis, "view": {"stroke": None},
            "legend": {"labelColor": TEXT, "labelFont": FONT, "labelFontSize": 12},
            "background": "#FFFFFF"}


def to_svg(chart: Any, labelled_by: str) -> Markup:
    """Render an Altair chart; the result is safe to put inline in a page."""
    import vl_convert

    spec = chart.to_dict()
    spec["config"] = _config()
    with _render_lock:  # one Vega runtime; it is not documented as thread-safe
        svg: str = vl_convert.vegalite_to_svg(spec)
    svg = _ARIA.sub("", svg)
    match = _SVG_OPEN.search(svg)
    if match is None:
        raise ValueError("vl-convert did not return an SVG document")
    # Vega's own class goes: an attribute twice would make the document ill-formed.
    attributes = re.sub(r'\sclass="[^"]*"', "", match.group(1))
    opening = (f'<svg{attributes} role="img" aria-labelledby="{labelled_by}" '
               f'class="grafiek__svg" focusable="false">')
    svg = svg[:match.start()] + opening + svg[match.end():]
    svg = re.sub(r"<\?xml[^>]*>", "", svg)
    check_inert(svg)
    return Markup(svg)  # noqa: S704 - produced by vl-convert from our own numbers, checked above


_ACTIVE_ELEMENTS = frozenset({"script", "style", "foreignobject", "iframe", "object", "embed",
                              "animate", "set", "animatemotion", "animatetransform", "handler"})


def check_inert(svg: str) -> None:
    """Refuse an SVG with active content, judged on its parsed elements and attributes.

    Labels (token and user names among them) are text *inside* elements, escaped by the
    renderer: a pattern over the raw markup took ``Team onderzoek=noord`` for an event
    handler and broke the page. Parsing looks only at real element and attribute names, so
    no text can trip it, and no markup can slip past it either."""
    try:
        root = ElementTree.fromstring(svg)
    except ElementTree.ParseError:
        raise ValueError("the chart is not well-formed SVG") from None
    for element in root.iter():
        if _local(element.tag) in _ACTIVE_ELEMENTS:
            raise ValueError("unexpected active content in the chart")
        for name, value in element.attrib.items():
            attribute = _local(name)
            if attribute.startswith("on") or attribute == "style":
                raise ValueError("unexpected active content in the chart")
            if attribute == "href" and not value.startswith("#"):
                raise ValueError("unexpected link in the chart")


def _local(name: str) -> str:
    """An element or attribute name without its ``{namespace}``, in lower case."""
    return name.rpartition("}")[2].lower()


def count_ticks(highest: int, most: int = 6) -> list[int]:
    """Whole-number tick values from 0 to at least ``highest``: counts have no halves."""
    step = max(1, -(-highest // (most - 1)))
    return list(range(0, max(highest, 1) + step, step))


def weekly(stats: Statistics) -> Markup:
    import altair as alt

    ticks = count_ticks(max((w.total for w in stats.per_week), default=0))
    rows = []
    for w in stats.per_week:
        rows.append({"week": w.week, "soort": "met treffer", "aantal": w.hits})
        rows.append({"week": w.week, "soort": "zonder treffer", "aantal": w.no_hits})
    chart = alt.Chart(alt.Data(values=rows)).mark_bar().encode(
        x=alt.X("week:O", title="Week", sort=None,
                axis=alt.Axis(labelAngle=-60, labelOverlap=True)),
        y=alt.Y("sum(aantal):Q", title="Aantal vragen",
                axis=alt.Axis(values=ticks, format="d"), scale=alt.Scale(domain=[0, ticks[-1]])),
        color=alt.Color("soort:N", title=None,
                        scale=alt.Scale(domain=["met treffer", "zonder treffer"],
                                        range=[BLUE, GREY]),
                        legend=alt.Legend(orient="top")),
        order=alt.Order("soort:N", sort="ascending"),
    ).properties(width=WIDE, height=240)
    return to_svg(chart, "grafiek-week-titel grafiek-week-samenvatting")


def _bars(groups: list[tuple[str, int]], title: str, labelled_by: str) -> Markup:
    import altair as alt

    rows = [{"naam": label, "aantal": n} for label, n in groups]
    ticks = count_ticks(max((n for _, n in groups), default=0))
    base = alt.Chart(alt.Data(values=rows)).encode(
        y=alt.Y("naam:N", title=None, sort=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("aantal:Q", title=title, axis=alt.Axis(values=ticks, format="d"),
                scale=alt.Scale(domain=[0, ticks[-1]])),
    )
    bars = base.mark_bar(color=BLUE)
    labels = base.mark_text(align="left", dx=4, color=TEXT, fontSize=12).encode(
        text=alt.Text("aantal:Q"))
    chart = (bars + labels).properties(width=WIDTH - 280, height=max(40, 28 * len(rows)))
    return to_svg(chart, labelled_by)


def per_purpose(stats: Statistics) -> Markup:
    return _bars([(g.key or "(geen)", g.total) for g in stats.per_purpose], "Aantal vragen",
                 "grafiek-doel-titel")


def per_actor(stats: Statistics) -> Markup:
    return _bars([(g.label, g.total) for g in stats.per_actor[:25]], "Aantal vragen",
                 "grafiek-gebruiker-titel")


def _share(parts: list[tuple[str, int, str]], labelled_by: str) -> Markup:
    import altair as alt

    total = sum(n for _, n, _ in parts) or 1
    rows = [{"deel": label, "aantal": n, "procent": n / total, "volgorde": i}
            for i, (label, n, _) in enumerate(parts)]
    chart = alt.Chart(alt.Data(values=rows)).mark_bar(height=36).encode(
        x=alt.X("procent:Q", title=None, stack="zero",
                axis=alt.Axis(format="%", tickCount=5), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("deel:N", title=None, sort=[p[0] for p in parts],
                        scale=alt.Scale(domain=[p[0] for p in parts],
                                        range=[p[2] for p in parts]),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        order=alt.Order("volgorde:Q"),
    ).properties(width=WIDTH, height=48)
    return to_svg(chart, labelled_by)


def hit_share(stats: Statistics) -> Markup:
    return _share([("met treffer", stats.with_hit, BLUE),
                   ("zonder treffer", stats.no_hit, GREY)],
                  "grafiek-treffer-titel grafiek-treffer-samenvatting")


def multi_agency_share(stats: Statistics) -> Markup:
    return _share([("meerdere domeinen", stats.multi_agency, ORANGE),
                   ("één organisatie", stats.single_agency, BLUE),
                   ("geen treffer", stats.no_hit, GREY)],
                  "grafiek-domeinen-titel grafiek-domeinen-samenvatting")


__all__ = ["check_inert", "hit_share", "multi_agency_share", "per_actor", "per_purpose", "to_svg", "weekly"]
