"""The second factor's pages: the code after the password, and enrolment.

A correct password for an account with a factor (or one that must get one) ends in
``begin``: instead of a session, the browser gets the cookie ``hm_factor`` (a random id,
HttpOnly, SameSite=Strict, Path=/aanmelden) and goes to ``/aanmelden/code`` or, without a
factor yet, ``/aanmelden/koppelen``. The forms carry the sign-in form's double-submit
CSRF token (``sessions.sign_in_token``; its cookie's path covers these pages too). Each
post is counted against the sign-in rate limits before any code is checked; a wrong code
counts towards the account's lock-out (``hitmachine.services.factor``). A correct code
starts the session as a password alone does (``sessions.start``), recorded with the
method ``password+totp`` or ``password+recovery_code``.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import partial

import qrcode  # type: ignore[import-untyped]  # ships no type information
import qrcode.image.svg  # type: ignore[import-untyped]
from fastapi import APIRouter, Request
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from hitmachine.core.clock import iso_utc, utc_now
from hitmachine.core.errors import LimitExceeded
from hitmachine.core.principal import ANONYMOUS
from hitmachine.http.peer import client_address
from hitmachine.http.web import sessions
from hitmachine.http.web.deps import (
    SessionDep,
    audit_denied,
    get_ctx,
    home_path,
    request_id,
    safe_next,
)
from hitmachine.http.web.errors import CsrfRefused, WebRoute
from hitmachine.http.web.forms import Errors
from hitmachine.http.web.render import local_time, navigation, render
from hitmachine.http.web.sessions import WebSession
from hitmachine.http.web.texts import FACTOR
from hitmachine.services import factor, ratelimit
from hitmachine.services.context import Context
from hitmachine.services.factor import Enrolment, FactorResult, Pending
from hitmachine.store.users import User

router = APIRouter(route_class=WebRoute, include_in_schema=False)

COOKIE = "hm_factor"
COOKIE_PATH = "/aanmelden"
CODE_PATH = "/aanmelden/code"
ENROL_PATH = "/aanmelden/koppelen"
_CHALLENGE_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


def begin(request: Request, ctx: Context, user: User, next_path: str | None) -> Response | None:
    """After a correct password: the way to the code page, or None if no code is needed
    (then the caller starts the session). Blocking: call it in a thread."""
    started = factor.start_challenge(ctx, user, next_path)
    if started is None:
        return None
    challenge_id, purpose = started
    response = RedirectResponse(ENROL_PATH if purpose == factor.ENROL else CODE_PATH,
                                status_code=303)
    response.set_cookie(COOKIE, challenge_id, path=COOKIE_PATH, httponly=True,
                        samesite="strict", secure=_secure(request, ctx),
                        max_age=factor.CHALLENGE_MINUTES * 60)
    return response


# --- the code after the password ----------------------------------------------------------

@router.get(CODE_PATH)
def code_page(request: Request) -> Response:
    ctx = get_ctx(request)
    waiting = _pending(request, ctx)
    if waiting is None:
        return _restart(request, ctx, "code_verlopen")
    if waiting.purpose == factor.ENROL:
        return RedirectResponse(ENROL_PATH, status_code=303)
    token, fresh = sessions.sign_in_token(request)
    response = _code_form(request, token, waiting)
    if fresh:
        sessions.set_sign_in_cookie(response, request, ctx, token)
    return response


@router.post(CODE_PATH)
async def code(request: Request, current: SessionDep) -> Response:
    ctx = get_ctx(request)
    loaded, form = current
    await _check_csrf(request, ctx, form.get("csrf_token"))
    csrf_token = str(form.get("csrf_token"))
    waiting = await run_in_threadpool(_pending, request, ctx)
    if waiting is None or waiting.purpose != factor.VERIFY:
        return _restart(request, ctx, "code_verlopen")
    errors = Errors()
    limited = await _rate_limited(request, ctx)
    if limited is not None:
        errors.add("code", limited[0])
        return _code_form(request, csrf_token, waiting, errors, 429, limited[1])
    typed = form.text("code")
    if not typed:
        errors.add("code", FACTOR["code_empty"])
        return _code_form(request, csrf_token, waiting, errors, 422)
    result = await run_in_threadpool(factor.verify, ctx, _challenge_id(request), typed,
                                     request_id(request))
    if not result.ok:
        if result.failure != "wrong_code":
            return _restart(request, ctx, _reason(result))
        errors.add("code", FACTOR["code_wrong"].format(
            attempts=ctx.settings.web_lockout_attempts))
        return _code_form(request, csrf_token, waiting, errors, 401)
    web = await _start(request, ctx, result, loaded)
    target = _target(result, waiting)
    response = RedirectResponse(target, status_code=303)
    _finish(response, request, ctx, web)
    return response


def _code_form(request: Request, csrf_token: str, waiting: Pending,
               errors: Errors | None = None, status: int = 200,
               retry_after: int | None = None) -> Response:
    response = render(request, "code.html", {
        "title": "Code invullen", "user": None, "nav": [], "csrf_token": csrf_token,
        "errors": errors or Errors(), "name": waiting.user.name,
    }, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


# --- enrolment ----------------------------------------------------------------------------

@router.get(ENROL_PATH)
async def enrol_page(request: Request) -> Response:
    ctx = get_ctx(request)
    waiting = await run_in_threadpool(_pending, request, ctx)
    if waiting is None:
        return _restart(request, ctx, "code_verlopen")
    if waiting.purpose != factor.ENROL:
        return RedirectResponse(CODE_PATH, status_code=303)
    # A new secret each time the page is opened: the one shown before is discarded.
    enrolment = await run_in_threadpool(factor.new_enrolment, ctx, waiting)
    token, fresh = sessions.sign_in_token(request)
    response = _enrol_form(request, token, waiting, enrolment)
    if fresh:
        sessions.set_sign_in_cookie(response, request, ctx, token)
    return response


@router.post(ENROL_PATH)
async def enrol(request: Request, current: SessionDep) -> Response:
    ctx = get_ctx(request)
    loaded, form = current
    await _check_csrf(request, ctx, form.get("csrf_token"))
    csrf_token = str(form.get("csrf_token"))
    waiting = await run_in_threadpool(_pending, request, ctx)
    if waiting is None or waiting.purpose != factor.ENROL:
        return _restart(request, ctx, "code_verlopen")
    shown = await run_in_threadpool(factor.shown_enrolment, ctx, waiting)
    if shown is None:  # posted without ever opening the page: show it first
        return RedirectResponse(ENROL_PATH, status_code=303)
    errors = Errors()
    limited = await _rate_limited(request, ctx)
    if limited is not None:
        errors.add("code", limited[0])
        return _enrol_form(request, csrf_token, waiting, shown, errors, 429, limited[1])
    typed = form.text("code")
    if not typed:
        errors.add("code", FACTOR["enrol_empty"])
        return _enrol_form(request, csrf_token, waiting, shown, errors, 422)
    result = await run_in_threadpool(factor.verify, ctx, _challenge_id(request), typed,
                                     request_id(request))
    if not result.ok or result.user is None:
        if result.failure != "wrong_code":
            return _restart(request, ctx, _reason(result))
        errors.add("code", FACTOR["enrol_wrong"].format(
            attempts=ctx.settings.web_lockout_attempts))
        return _enrol_form(request, csrf_token, waiting, shown, errors, 401)
    web = await _start(request, ctx, result, loaded)
    # The recovery codes, once: in this answer, never stored readable, never shown again.
    response = render(request, "herstelcodes.html", {
        "title": "Herstelcodes", "user": result.user, "csrf_token": web.csrf_token,
        "nav": navigation(result.user.principal().may), "codes": result.recovery_codes,
        "target": _target(result, waiting),
    })
    _finish(response, request, ctx, web)
    return response


def _enrol_form(request: Request, csrf_token: str, waiting: Pending, enrolment: Enrolment,
                errors: Errors | None = None, status: int = 200,
                retry_after: int | None = None) -> Response:
    response = render(request, "koppelen.html", {
        "title": "Tweede factor koppelen", "user": None, "nav": [], "csrf_token": csrf_token,
        "errors": errors or Errors(), "name": waiting.user.name, "issuer": factor.ISSUER,
        "secret": enrolment.grouped, "qr": qr_svg(enrolment.uri),
        "minutes": factor.CHALLENGE_MINUTES,
    }, status=status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code: made here, no script, nothing fetched."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=12,
                        border=4, error_correction=qrcode.constants.ERROR_CORRECT_M)
    svg: str = image.to_string(encoding="unicode")
    svg = svg[svg.index("<svg"):]  # no XML declaration inside HTML
    label = FACTOR["qr_label"]
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" class="qr-code" ', 1)
    return Markup(svg)  # noqa: S704  (generated SVG: a path of numbers, the label is ours)


# --- shared -------------------------------------------------------------------------------

async def _check_csrf(request: Request, ctx: Context, token: str | None) -> None:
    # The sign-in form's double-submit token: nobody is signed in yet.
    if not sessions.sign_in_csrf_matches(request, token):
        await run_in_threadpool(audit_denied, ctx, ANONYMOUS, request, "csrf")
        raise CsrfRefused()


async def _rate_limited(request: Request, ctx: Context) -> tuple[str, int] | None:
    """The same limits as a password: per address and in all, before any code is checked."""
    try:
        await run_in_threadpool(ratelimit.check_sign_in, ctx, client_address(request),
                                request_id(request))
    except LimitExceeded as exc:
        seconds = exc.retry_after or 60
        until = local_time(iso_utc(utc_now() + dt.timedelta(seconds=seconds)),
                           ctx.settings.timezone, seconds=False)
        return FACTOR["too_many"].format(until=until), seconds
    return None


def _challenge_id(request: Request) -> str:
    value = request.cookies.get(COOKIE, "")
    return value if _CHALLENGE_ID.match(value) else ""


def _pending(request: Request, ctx: Context) -> Pending | None:
    return factor.pending(ctx, _challenge_id(request))


def _reason(result: FactorResult) -> str:
    return "code_geblokkeerd" if result.failure == "locked" else "code_verlopen"


def _restart(request: Request, ctx: Context, reason: str) -> Response:
    """Back to the password: the sign-in halfway is gone (expired, replaced or locked)."""
    response = RedirectResponse(f"/aanmelden?reden={reason}", status_code=303)
    _clear(response, request, ctx)
    return response


async def _start(request: Request, ctx: Context, result: FactorResult,
                 loaded: object) -> WebSession:
    assert result.user is not None
    replaces = loaded if isinstance(loaded, WebSession) else None
    return await run_in_threadpool(partial(
        sessions.start, ctx, result.user, f"password+{result.method}", request_id(request),
        replaces))


def _target(result: FactorResult, waiting: Pending) -> str:
    assert result.user is not None
    principal = result.user.principal()
    return safe_next(waiting.challenge.next_path, principal) or home_path(principal)


def _finish(response: Response, request: Request, ctx: Context, web: WebSession) -> None:
    sessions.set_cookie(response, request, ctx, web)
    sessions.clear_sign_in_cookie(response, request, ctx)
    _clear(response, request, ctx)


def _clear(response: Response, request: Request, ctx: Context) -> None:
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=_secure(request, ctx))


def _secure(request: Request, ctx: Context) -> bool:
    # As the session cookie's (hitmachine.http.web.sessions).
    secure = ctx.settings.web_cookie_secure
    return request.url.scheme == "https" if secure is None else secure


__all__ = ["COOKIE", "CODE_PATH", "ENROL_PATH", "begin", "qr_svg", "router"]
