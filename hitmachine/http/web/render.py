"""Rendering pages: the Jinja2 environment, static asset URLs, and the common context."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from hitmachine.core.clock import parse_iso_utc
from hitmachine.core.principal import Permission
from hitmachine.http.web import texts
from hitmachine.http.web.forms import dutch_date

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
NO_STORE = "no-store"

# (path, label, permission): the navigation, shown per role.
NAVIGATION = (
    ("/zoeken", "Vraag stellen", Permission.QUERY),
    ("/meldingen", "Meldingen", Permission.QUERY),
    ("/audit", "Auditlog", Permission.READ_AUDIT),
    ("/audit/verifieren", "Keten verifiëren", Permission.READ_AUDIT),
    ("/audit/betrokkene", "Inzageverzoek", Permission.READ_AUDIT),
    ("/statistieken", "Statistieken", Permission.READ_AUDIT),
    ("/dpia", "DPIA", Permission.READ_AUDIT),
    ("/beheer/gebruikers", "Gebruikers", Permission.ADMIN),
)


@cache
def _asset_version(name: str) -> str:
    path = STATIC / name
    if not path.is_file():
        return "0"
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """The URL of a static asset, with its content hash so that it can be cached long."""
    return f"/static/{name}?v={_asset_version(name)}"


def local_time(iso: str | None, timezone: str = "Europe/Amsterdam", *,
               seconds: bool = True) -> str:
    """An ISO UTC instant as Dutch local time: ``23-11-2025 14:05:09``."""
    if not iso:
        return ""
    try:
        moment = parse_iso_utc(iso)
    except ValueError:
        return iso
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%d-%m-%Y %H:%M:%S" if seconds else "%d-%m-%Y %H:%M")


def _date(value: dt.date | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.strftime("%d-%m-%Y")
    return dutch_date(value)


def _number(value: int | float) -> str:
    """Dutch digit grouping: 12.345."""
    return f"{value:,}".replace(",", ".") if isinstance(value, int) else f"{value:.1f}".replace(
        ".", ",")


def _percent(part: int, whole: int) -> str:
    if not whole:
        return "–"
    return f"{100 * part / whole:.0f}%"


def _cell(value: object) -> str:
    """Text for a Markdown table cell: a "|" would end the cell, a line break the row."""
    return " ".join(str(value).split()).replace("|", "\\|")


_INLINE = re.compile(r"\*\*(.+?)\*\*|\*(.+?)\*|`(.+?)`")


def _inline_markdown(text: str) -> Markup:
    """The inline Markdown of a table cell kept in Markdown (strong, emphasis, code) as
    HTML; everything else escaped."""
    out, last = [], 0
    for m in _INLINE.finditer(text):
        out.append(escape(text[last:m.start()]))
        strong, em, code = m.groups()
        if strong is not None:
            out.append(Markup("<strong>%s</strong>") % strong)
        elif em is not None:
            out.append(Markup("<em>%s</em>") % em)
        else:
            out.append(Markup("<code>%s</code>") % code)
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(static=static_url)
    env.filters.update(local_time=local_time, date=_date, number=_number,
                       event_label=texts.event_label, outcome_label=texts.outcome_label,
                       role_label=texts.role_label, basis_label=lambda b: texts.BASIS.get(b, b),
                       cell=_cell, inline_md=_inline_markdown)
    env.globals.update(percent=_percent)
    return env


env = _environment()


def navigation(principal_may: Any) -> list[tuple[str, str]]:
    return [(path, label) for path, label, perm in NAVIGATION if principal_may(perm)]


def render(request: Request, template: str, values: Mapping[str, Any], *,
           status: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """A page. Every page is ``no-store``: they show who asked what, or the answers."""
    page = env.get_template(template).render(request_path=request.url.path, **values)
    response = HTMLResponse(page, status_code=status)
    response.headers["Cache-Control"] = NO_STORE
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def render_text(template: str, values: Mapping[str, Any]) -> str:
    return env.get_template(template).render(**values)


__all__ = ["NAVIGATION", "NO_STORE", "STATIC", "TEMPLATES", "env", "local_time", "navigation",
           "render", "render_text", "static_url"]
