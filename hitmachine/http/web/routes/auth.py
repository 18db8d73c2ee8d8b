"""Signing in and out.

The sign-in post is refused before any password is hashed when its address, or everyone
together, has tried too often (429, ``ratelimit.check_sign_in``). After that an unknown
name, a disabled or locked account and a wrong password all get the same 401 page, after
the same work (one Argon2 verification, off the event loop): the page cannot tell anyone
whether an account exists or is locked. Whoever is locked out learns it from the text
that every failure shows, and from the administrator.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import LimitExceeded
from hitmachine.core.principal import ANONYMOUS
from hitmachine.http.peer import client_address
from hitmachine.http.web import sessions
from hitmachine.http.web.deps import (
    AnyUser,
    SessionDep,
    audit_denied,
    get_ctx,
    home_path,
    request_id,
    safe_next,
)
from hitmachine.http.web.errors import CsrfRefused, WebProblem, WebRoute
from hitmachine.http.web.forms import Errors
from hitmachine.http.web.render import local_time, render
from hitmachine.http.web.routes import oidc as sso
from hitmachine.http.web.sessions import WebSession
from hitmachine.http.web.texts import SIGNOUT_REASONS
from hitmachine.services import ratelimit
from hitmachine.services.users import (
    Authenticator,
    LocalPasswordAuthenticator,
    authenticate_async,
)

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
    token, fresh = sessions.sign_in_token(request)  # nothing stored until someone signs in
    response = _form(request, token, notice=SIGNOUT_REASONS.get(reason),
                     next_path=safe_next(request.query_params.get("volgende")))
    if fresh:
        sessions.set_sign_in_cookie(response, request, ctx, token)
    return response


@router.post("/aanmelden")
async def sign_in(request: Request, current: SessionDep) -> Response:
    ctx = get_ctx(request)
    rid = request_id(request)
    if not ctx.settings.web_password_sign_in:
        raise WebProblem(status=404)  # single sign-on only (HITMACHINE_WEB_PASSWORD_SIGN_IN)
    loaded, form = current
    token = form.get("csrf_token")
    if not (sessions.sign_in_csrf_matches(request, token) or (
            isinstance(loaded, WebSession) and sessions.csrf_matches(loaded, token))):
        await run_in_threadpool(audit_denied, ctx, ANONYMOUS, request, "csrf")
        raise CsrfRefused()
    name, password = form.text("naam"), form.get("wachtwoord", "")
    next_path = safe_next(form.get("volgende"))
    csrf_token = str(token)
    try:
        await run_in_threadpool(ratelimit.check_sign_in, ctx, client_address(request), rid)
    except LimitExceeded as exc:
        return _too_many(request, csrf_token, name, next_path, exc.retry_after)
    errors = Errors()
    if not name:
        errors.add("naam", "Vul uw gebruikersnaam in.")
    if not password:
        errors.add("wachtwoord", "Vul uw wachtwoord in.")
    if errors:
        return _form(request, csrf_token, name=name, errors=errors, next_path=next_path,
                     status=422)
    result = await authenticate_async(AUTHENTICATOR, ctx, {"name": name, "password": password},
                                      rid)
    if not result.ok or result.user is None:
        # One answer for every failure (unknown, disabled, locked, wrong): see the docstring.
        errors.add("naam", "De gebruikersnaam of het wachtwoord klopt niet, of het account is "
                           "tijdelijk geblokkeerd. Na "
                           f"{ctx.settings.web_lockout_attempts} mislukte pogingen op rij "
                           "wordt een account geblokkeerd; neem contact op met de beheerder "
                           "als u er niet meer in komt.")
        return _form(request, csrf_token, name=name, errors=errors, next_path=next_path,
                     status=401, refused=True)
    replaces = loaded if isinstance(loaded, WebSession) else None
    web = await run_in_threadpool(sessions.start, ctx, result.user, AUTHENTICATOR.method, rid,
                                  replaces)
    target = safe_next(next_path, result.user.principal()) or home_path(result.user.principal())
    response = RedirectResponse(target, status_code=303)
    sessions.set_cookie(response, request, ctx, web)
    sessions.clear_sign_in_cookie(response, request, ctx)
    return response


def _too_many(request: Request, csrf_token: str, name: str, next_path: str | None,
              retry_after: int | None) -> Response:
    seconds = retry_after or 60
    until = local_time(iso_utc(utc_now() + dt.timedelta(seconds=seconds)),
                       get_ctx(request).settings.timezone, seconds=False)
    errors = Errors()
    errors.add("naam", "Er is de laatste tijd te vaak geprobeerd aan te melden. Probeer het "
                       f"na {until} opnieuw. Uw wachtwoord is niet gecontroleerd.")
    response = _form(request, csrf_token, name=name, errors=errors, next_path=next_path,
                     status=429)
    response.headers["Retry-After"] = str(seconds)
    return response


@router.post("/afmelden")
def sign_out(request: Request, web: AnyUser) -> Response:
    ctx = get_ctx(request)
    target = sso.after_sign_out(ctx, web.user) or "/aanmelden?reden=afgemeld"
    sessions.end(ctx, web.session, web.request_id)
    response = RedirectResponse(target, status_code=303)
    sessions.clear_cookie(response, request, ctx)
    return response


def _form(request: Request, csrf_token: str, *, name: str = "", errors: Errors | None = None,
          notice: str | None = None, next_path: str | None = None,
          status: int = 200, refused: bool = False) -> Response:
    # ``refused``: the name and password together were refused. That error is the
    # summary's alone: neither field is known to be the wrong one.
    ctx = get_ctx(request)
    return render(request, "aanmelden.html", {
        "title": "Aanmelden", "user": None, "nav": [], "csrf_token": csrf_token,
        "errors": errors or Errors(), "name": name, "notice": notice, "next_path": next_path,
        "refused": refused, "sso": sso.sign_in_choice(ctx),
        "password_sign_in": ctx.settings.web_password_sign_in,
        "idle_minutes": ctx.settings.web_idle_timeout_minutes,
    }, status=status)


__all__ = ["AUTHENTICATOR", "router"]
