"""The web pages for the information coordinator, the privacy officer and the
administrator: server-rendered (Jinja2), in Dutch, served by the API's own app and
without any asset from elsewhere. ``install(app)`` adds them to an app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hitmachine.http.web.errors import PAGES
from hitmachine.http.web.middleware import WebMiddleware
from hitmachine.http.web.render import STATIC, render_text
from hitmachine.http.web.routes import admin, audit, auth, factor, inbox, oidc, query, reports


def _error_page(status: int, request_id: str) -> bytes:
    title, message = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    return render_text("fout.html", {
        "title": title, "message": message, "status": status, "request_id": request_id,
        "user": None, "nav": [], "csrf_token": "", "request_path": ""}).encode("utf-8")


def install(app: FastAPI) -> None:
    """Add the pages, their static assets and their middleware to ``app``. Call it before
    the app's outer middleware is added, so that request ids exist when pages render."""

    for module in (auth, oidc, factor, query, inbox, audit, reports, admin):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(WebMiddleware, error_page=_error_page)


__all__ = ["install"]
