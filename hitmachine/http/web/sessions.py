"""Server-side web sessions: the cookie, idle and absolute timeouts, and the CSRF token.

The cookie ``hm_session`` holds 256 random bits (HttpOnly, SameSite=Strict, Path=/, Secure
over HTTPS). The database keeps only its SHA-256, with the session's CSRF synchronizer
token: every POST form carries that token in a hidden field and is refused without it.

The sign-in form needs a token before anyone has signed in. Storing a session for every
visitor of the sign-in page let anyone make the database write, so the form's token is a
double-submit one instead, kept by nobody but the browser: the GET sets a random value in
the cookie ``hm_aanmelden`` (HttpOnly, SameSite=Strict, Path=/aanmelden) and puts the same
value in the form; the POST must carry both, equal, and come from this origin (a
``Sec-Fetch-Site`` of another site, or an ``Origin`` of another host, is refused). Another
site can neither read the value nor make the browser send the cookie, so it cannot post
the form in someone's name. Signing in then starts the session (new id, new token), so a
session id planted before sign-in is worth nothing afterwards.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from hitmachine.core.auditlog.record import AuditRecord, Outcome
from hitmachine.core.clock import iso_utc, parse_iso_utc, utc_now
from hitmachine.services import users as user_service
from hitmachine.services.context import Context
from hitmachine.store import audit_log
from hitmachine.store import users as store
from hitmachine.store.users import Session, User

COOKIE = "hm_session"
SIGN_IN_COOKIE = "hm_aanmelden"
SIGN_IN_PATH = "/aanmelden"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class WebSession:
    session: Session
    user: User | None
    session_id: str

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


@dataclass(frozen=True, slots=True)
class Expired:
    """The cookie named a session that has just ended by timeout (now audited)."""

    reason: str  # "idle" | "max_age" | "disabled"


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(web: WebSession, submitted: str | None) -> bool:
    if not submitted:
        return False
    return hmac.compare_digest(web.csrf_token.encode(), submitted.encode("utf-8", "replace"))


def load(ctx: Context, request: Request, request_id: str) -> WebSession | Expired | None:
    """The session the request's cookie names, if it is still valid.

    A session past its idle or absolute limit, or whose account was disabled, is ended
    here and audited as ``auth.signout`` with the reason.
    """
    session_id = request.cookies.get(COOKIE, "")
    if not _SESSION_ID.match(session_id):
        return None
    with ctx.db.read() as conn:
        found = store.find_session(conn, session_id)
    if found is None:
        return None
    session, user = found
    settings = ctx.settings
    moment = utc_now()
    idle_limit = dt.timedelta(minutes=settings.web_idle_timeout_minutes)
    reason = None
    if parse_iso_utc(session.last_seen_at) < moment - idle_limit:
        reason = "idle"
    elif parse_iso_utc(session.created_at) < moment - dt.timedelta(
            hours=settings.web_session_max_hours):
        reason = "max_age"
    elif user is not None and user.disabled:
        reason = "disabled"
    if reason is not None:
        _end(ctx, session, user, request_id, reason)
        return Expired(reason) if user is not None else None
    # Refresh the idle clock, but not on every click: a write per page view is wasteful.
    refresh_after = min(dt.timedelta(seconds=30), idle_limit / 10)
    if parse_iso_utc(session.last_seen_at) < moment - refresh_after:
        with ctx.db.write() as conn:
            store.touch_session(conn, session.id, iso_utc(moment))
    return WebSession(session, user, session_id)


def sign_in_token(request: Request) -> tuple[str, bool]:
    """The sign-in form's CSRF token: the sign-in cookie's value, or a new one (then True:
    the response must set the cookie). Nothing is stored."""
    current = request.cookies.get(SIGN_IN_COOKIE, "")
    if _SESSION_ID.match(current):
        return current, False
    return new_csrf_token(), True


def sign_in_csrf_matches(request: Request, submitted: str | None) -> bool:
    """The posted sign-in form's token equals its cookie, and the post came from here."""
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    if not submitted or not _SESSION_ID.match(cookie) or not _same_origin(request):
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode("utf-8", "replace"))


def _same_origin(request: Request) -> bool:
    """The browser's word that the post came from a page of ours. ``Sec-Fetch-Site`` first:
    the browser sets it, and a proxy that rewrites ``Host`` does not change it; ``Origin``
    against ``Host`` for browsers without it. ``Origin: null`` is what a browser sends
    under our ``Referrer-Policy: no-referrer``; that, or no header at all, leaves it to
    the cookie's SameSite=Strict, which no other site's post carries."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin", "null")
    return origin == "null" or urlsplit(origin).netloc == request.headers.get("host", "")


def set_sign_in_cookie(response: Response, request: Request, ctx: Context, token: str) -> None:
    response.set_cookie(SIGN_IN_COOKIE, token, path=SIGN_IN_PATH, httponly=True,
                        samesite="strict", secure=_secure(request, ctx))


def clear_sign_in_cookie(response: Response, request: Request, ctx: Context) -> None:
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH, httponly=True,
                           samesite="strict", secure=_secure(request, ctx))


def start(ctx: Context, user: User, method: str, request_id: str,
          replaces: WebSession | None) -> WebSession:
    """Sign ``user`` in: a new session (new id, new CSRF token) in place of ``replaces``,
    the failure count reset, and ``auth.signin`` audited, in one transaction."""
    session_id, now = new_session_id(), iso_utc(utc_now())
    with ctx.db.write() as conn:
        if replaces is not None:
            store.delete_session(conn, replaces.session.id)
        _purge(ctx, conn)
        user = user_service.record_sign_in(conn, user, method, request_id)
        session = store.create_session(conn, session_id=session_id, user_id=user.id,
                                       csrf_token=new_csrf_token(), now=now)
    return WebSession(session, user, session_id)


def end(ctx: Context, web: WebSession, request_id: str, reason: str = "user") -> None:
    """Sign out: the session is deleted and, if someone was signed in, audited."""
    _end(ctx, web.session, web.user, request_id, reason)


def _end(ctx: Context, session: Session, user: User | None, request_id: str,
         reason: str) -> None:
    with ctx.db.write() as conn:
        existed = store.delete_session(conn, session.id)
        if user is not None and existed:
            audit_log.append(conn, [AuditRecord.by(
                user.principal(), "auth.signout", request_id, Outcome.OK,
                detail={"reason": reason})])


def _purge(ctx: Context, conn: Connection) -> None:
    """Forget sessions nobody can use any more (idle or too old), signed in or not."""
    moment = utc_now()
    settings = ctx.settings
    store.purge_sessions(
        conn,
        idle_before=iso_utc(moment - dt.timedelta(minutes=settings.web_idle_timeout_minutes)),
        created_before=iso_utc(moment - dt.timedelta(hours=settings.web_session_max_hours)))


def _secure(request: Request, ctx: Context) -> bool:
    secure = ctx.settings.web_cookie_secure
    return request.url.scheme == "https" if secure is None else secure


def set_cookie(response: Response, request: Request, ctx: Context, web: WebSession) -> None:
    response.set_cookie(COOKIE, web.session_id, path="/", httponly=True, samesite="strict",
                        secure=_secure(request, ctx))


def clear_cookie(response: Response, request: Request, ctx: Context) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                           secure=_secure(request, ctx))


__all__ = ["COOKIE", "Expired", "SIGN_IN_COOKIE", "WebSession", "clear_cookie",
           "clear_sign_in_cookie", "csrf_matches", "end", "load", "set_cookie",
           "set_sign_in_cookie", "sign_in_csrf_matches", "sign_in_token", "start"]
