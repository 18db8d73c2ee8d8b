"""The administrator's page: the web accounts, and unlocking a locked one.

Creating accounts and setting passwords stays on the console (``hitmachine user``): a
password never passes through a web form of someone else's.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import NotFound
from hitmachine.http.web.deps import Administrator
from hitmachine.http.web.errors import WebRoute
from hitmachine.http.web.render import render
from hitmachine.services import users as user_service

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/beheer/gebruikers")
def users_page(request: Request, web: Administrator) -> Response:
    return _page(request, web)


@router.post("/beheer/gebruikers/ontgrendelen")
def unlock(request: Request, web: Administrator) -> Response:
    name = web.form.text("gebruiker")
    try:
        user = user_service.unlock(web.ctx, web.principal, name, web.request_id)
    except NotFound:
        return _page(request, web, notice="Dit account bestaat niet (meer).", status=404)
    return _page(request, web, notice=f"Het account {user.name} is ontgrendeld.")


def _page(request: Request, web: Administrator, *, notice: str | None = None,
          status: int = 200) -> Response:
    now = iso_utc(utc_now())
    accounts = [{"user": u, "locked": u.locked(now)} for u in user_service.list_users(
        web.ctx, web.principal, web.request_id)]
    return render(request, "gebruikers.html", web.page(
        title="Gebruikers", accounts=accounts, notice=notice), status=status)


__all__ = ["router"]
