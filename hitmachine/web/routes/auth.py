"""Signing in and out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from hitmachine.domain.principal import ANONYMOUS
from hitmachine.services.users import Authenticator, LocalPasswordAuthenticator
from hitmachine.web import sessions
from hitmachine.web.deps import (
    AnyUser,
    SessionDep,
    audit_denied,
    get_ctx,
    home_path,
    request_id,
    safe_next,
)
from hitmachine.web.errors import CsrfRefused, WebRoute
from hitmachine.web.forms import Errors
from hitmachine.web.render import local_time, render
from hitmachine.web.sessions import WebSession
from hitmachine.web.texts import SIGNOUT_REASONS

router = APIRouter(route_class=WebRoute, include_in_schema=False)

# The seam for another way in: an OIDC authenticator adds its redirect and callback routes
# and ends in the same ``sessions.start``.
AUTHENTICATOR: Authenticator = LocalPasswordAuthenticator()


@router.get("/")
def home(current: SessionDep) -> Response:
    loaded, _ = current
    if isinstance(loaded, WebSession) and loaded.user is not None:
        return RedirectResponse(home_path(loaded.user.principal()), status_code=303)
    return RedirectResponse("/aanmelden", status_code=303)


@router.get("/aanmelden")
def sign_in_page(request: Request, current: SessionDep) -> Response:
    ctx = get_ctx(request)
    loaded, _ = current
    if isinstance(loaded, WebSession) and loaded.user is not None:
        return RedirectResponse(home_path(loaded.user.principal()), status_code=303)
    reason = request.query_params.get("reden", "")
    fresh = not isinstance(loaded, WebSession)
    web = loaded if isinstance(loaded, WebSession) else sessions.start_pre_session(ctx)
    response = _form(request, web, notice=SIGNOUT_REASONS.get(reason),
                     next_path=safe_next(request.query_params.get("volgende")))
    if fresh:
        sessions.set_cookie(response, request, ctx, web)
    return response


@router.post("/aanmelden")
def sign_in(request: Request, current: SessionDep) -> Response:
    ctx = get_ctx(request)
    rid = request_id(request)
    loaded, form = current
    if not isinstance(loaded, WebSession) or not sessions.csrf_matches(
            loaded, form.get("csrf_token")):
        audit_denied(ctx, ANONYMOUS, request, "csrf")
        raise CsrfRefused()
    name, password = form.text("naam"), form.get("wachtwoord", "")
    next_path = safe_next(form.get("volgende"))
    errors = Errors()
    if not name:
        errors.add("naam", "Vul uw gebruikersnaam in.")
    if not password:
        errors.add("wachtwoord", "Vul uw wachtwoord in.")
    if errors:
        return _form(request, loaded, name=name, errors=errors, next_path=next_path, status=422)
    result = AUTHENTICATOR.authenticate(ctx, {"name": name, "password": password}, rid)
    if result.failure == "locked":
        until = local_time(result.locked_until, ctx.settings.timezone, seconds=False)
        errors.add("naam", f"Dit account is geblokkeerd na te veel mislukte pogingen om aan te "
                           f"melden, tot {until}. Neem contact op met de beheerder als u "
                           f"eerder weer aan de slag moet.")
        return _form(request, loaded, name=name, errors=errors, next_path=next_path,
                     status=403, locked=True, refused=True)
    if not result.ok or result.user is None:
        errors.add("naam", "De gebruikersnaam of het wachtwoord klopt niet. Na "
                           f"{ctx.settings.web_lockout_attempts} mislukte pogingen op rij "
                           "wordt het account tijdelijk geblokkeerd.")
        return _form(request, loaded, name=name, errors=errors, next_path=next_path, status=401,
                     refused=True)
    web = sessions.start(ctx, result.user, AUTHENTICATOR.method, rid, replaces=loaded)
    target = safe_next(next_path, result.user.principal()) or home_path(result.user.principal())
    response = RedirectResponse(target, status_code=303)
    sessions.set_cookie(response, request, ctx, web)
    return response


@router.post("/afmelden")
def sign_out(request: Request, web: AnyUser) -> Response:
    ctx = get_ctx(request)
    sessions.end(ctx, web.session, web.request_id)
    response = RedirectResponse("/aanmelden?reden=afgemeld", status_code=303)
    sessions.clear_cookie(response, request, ctx)
    return response


def _form(request: Request, web: WebSession, *, name: str = "", errors: Errors | None = None,
          notice: str | None = None, next_path: str | None = None, status: int = 200,
          locked: bool = False, refused: bool = False) -> Response:
    # ``refused``: the name and password together were refused. That error is the
    # summary's alone: neither field is known to be the wrong one.
    ctx = get_ctx(request)
    return render(request, "aanmelden.html", {
        "title": "Aanmelden", "user": None, "nav": [], "csrf_token": web.csrf_token,
        "errors": errors or Errors(), "name": name, "notice": notice, "next_path": next_path,
        "locked": locked, "refused": refused,
        "idle_minutes": ctx.settings.web_idle_timeout_minutes,
    }, status=status)


__all__ = ["AUTHENTICATOR", "router"]
