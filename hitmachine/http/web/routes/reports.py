"""The privacy officer's figures and descriptions: the statistics of the audit log (with
the signals and follow-ups alive now) and the DPIA's processing description. Reading either
is recorded by its use case (``audit.statistics``, ``dpia.read``)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.responses import Response

from hitmachine.core.clock import local_today
from hitmachine.http.web import charts
from hitmachine.http.web.deps import PrivacyOfficer
from hitmachine.http.web.errors import WebRoute
from hitmachine.http.web.forms import Errors, dutch_date, parse_day
from hitmachine.http.web.render import NO_STORE, render, render_text
from hitmachine.http.web.texts import SIGNAL_KINDS
from hitmachine.http.web.user import WebUser
from hitmachine.services import dpia, statistics
from hitmachine.services import signals as signal_service

router = APIRouter(route_class=WebRoute, include_in_schema=False)
STATISTICS_DAYS = 7 * 52


# --- statistics -------------------------------------------------------------------------

@router.get("/statistieken")
def statistics_page(request: Request, web: PrivacyOfficer) -> Response:
    ctx = web.ctx
    params = request.query_params
    today = local_today(ctx.settings.timezone)
    van, tot = params.get("van", "").strip()[:32], params.get("tot", "").strip()[:32]
    errors = Errors()
    since = parse_day(van, "van", errors) or today - dt.timedelta(days=STATISTICS_DAYS - 1)
    until = parse_day(tot, "tot", errors) or today
    if until < since:
        errors.add("tot", "De einddatum ligt vóór de begindatum.")
    elif (until - since).days > 366 * 5:
        errors.add("van", "Kies een periode van hoogstens vijf jaar.")
    stats = figures = None
    if not errors:
        stats = statistics.read(ctx, web.principal, web.request_id, since=since,
                                until=until, via="web")
        if stats.total:
            figures = {"week": charts.weekly(stats), "doel": charts.per_purpose(stats),
                       "gebruiker": charts.per_actor(stats), "treffer": charts.hit_share(stats),
                       "domeinen": charts.multi_agency_share(stats)}
    tables = _statistics_tables(stats) if stats is not None else {}
    return render(request, "statistieken.html", web.page(
        title="Statistieken", stats=stats, figures=figures, errors=errors, **tables,
        signal_rows=_signal_rows(web),
        field_errors=errors.by_field,
        van=van or dutch_date(since.isoformat()), tot=tot or dutch_date(until.isoformat())),
        status=422 if errors else 200)


def _signal_rows(web: WebUser) -> list[list[str]]:
    """Signals and follow-ups alive now, per purpose (issue 16): counts only, from
    ``services.signals.counts``; the page view itself is the ``audit.statistics`` record."""
    found = signal_service.counts(web.ctx)
    purposes = sorted({p for p, _, _ in found.signals} | set(found.follow_ups))
    rows = []
    for code in purposes:
        purpose = web.ctx.purposes.get(code)
        per_kind = [sum(n for (p, k, _), n in found.signals.items() if p == code and k == kind)
                    for kind in SIGNAL_KINDS]
        acked = sum(n for (p, _, a), n in found.signals.items() if p == code and a)
        rows.append([f"{code}: {purpose.description}" if purpose else code,
                     *(_n(v) for v in per_kind), _n(acked), _n(found.follow_ups.get(code, 0))])
    return rows


def _n(value: int) -> str:
    return f"{value:,}".replace(",", ".")


def _statistics_tables(stats: statistics.Statistics) -> dict[str, list[list[str]]]:
    return {
        "week_rows": [[w.week, _n(w.hits), _n(w.no_hits), _n(w.total)] for w in stats.per_week],
        "purpose_rows": [[f"{g.key}: {g.label}" if g.key else g.label, _n(g.total), _n(g.hits)]
                         for g in stats.per_purpose],
        "actor_rows": [[g.label, _n(g.total), _n(g.hits)] for g in stats.per_actor],
    }


# --- DPIA -------------------------------------------------------------------------------

@router.get("/dpia")
def dpia_page(request: Request, web: PrivacyOfficer) -> Response:
    """The processing description, printable (app.css's print rules hide the page's frame)."""
    described = dpia.describe(web.ctx, web.principal, web.request_id, via="web")
    return render(request, "dpia.html", web.page(title="DPIA", d=described))


@router.get("/dpia.md")
def dpia_markdown(web: PrivacyOfficer) -> Response:
    described = dpia.describe(web.ctx, web.principal, web.request_id, via="web-md")
    return Response(render_text("dpia.md", {"d": described}),
                    media_type="text/markdown; charset=utf-8", headers={
                        "Cache-Control": NO_STORE,
                        "Content-Disposition": 'attachment; filename="hitmachine-dpia.md"'})


__all__ = ["router"]
