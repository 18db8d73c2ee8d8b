"""FastAPI dependencies of the web pages: the form, the session, the role, the CSRF check.

``signed_in(permission)`` is what every page but the sign-in page depends on. For a POST
it checks the form's CSRF token against the session's before anything else happens; a
missing or wrong token, and a role that may not open the page, are refused with 403 and
audited as ``auth.denied``, exactly like a refusal of the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from hitmachine.core.auditlog.record import Outcome
from hitmachine.core.principal import ANONYMOUS, Permission, Principal
from hitmachine.http.web import sessions
from hitmachine.http.web.errors import CsrfRefused, FormUnreadable, NotPermitted, SignInRequired
from hitmachine.http.web.forms import BadForm, Form, parse
from hitmachine.http.web.render import NAVIGATION
from hitmachine.http.web.sessions import Expired, WebSession
from hitmachine.http.web.user import WebUser
from hitmachine.services import denials
from hitmachine.services.context import Context

SAFE_METHODS = ("GET", "HEAD")
_NEXT = re.compile(r"^/[a-z/]{0,40}$")


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def read_form(request: Request) -> Form:
    """The posted form (empty for GET). Async: reading the body needs the event loop."""
    if request.method in SAFE_METHODS:
        return Form()
    body = await request.body()
    try:
        return parse(body, request.headers.get("content-type"))
    except BadForm:
        raise FormUnreadable() from None


FormDep = Annotated[Form, Depends(read_form)]


def home_path(principal: Principal) -> str:
    for path, _, permission in NAVIGATION:
        if principal.may(permission):
            return path
    return "/aanmelden"


def safe_next(path: str | None, principal: Principal | None = None) -> str | None:
    """A local page to continue to after sign-in, if it is one of ours (no open redirect)."""
    if not path or not _NEXT.match(path):
        return None
    for page, _, permission in NAVIGATION:
        if path == page and (principal is None or principal.may(permission)):
            return path
    return None


def audit_denied(ctx: Context, principal: Principal, request: Request, reason: str,
                 status: int = 403) -> None:
    """Audit a refusal; one of nobody signed in goes into its address's window summary."""
    denials.audit_refusal(
        ctx, principal, request.client.host if request.client else "unknown", "auth.denied",
        request_id(request), Outcome.DENIED,
        {"status": status, "operation": f"{request.method} {request.url.path}",
         "reason": reason, "fields": []})


def signed_in(permission: Permission | None) -> Callable[..., WebUser]:
    """The signed-in user, who must hold ``permission``; for a POST, with a valid CSRF token."""

    def dependency(request: Request, form: FormDep) -> WebUser:
        ctx = get_ctx(request)
        rid = request_id(request)
        loaded = sessions.load(ctx, request, rid)
        if isinstance(loaded, Expired):
            raise SignInRequired(reason=loaded.reason, clear_cookie=True)
        if loaded is None or loaded.user is None:
            if request.method not in SAFE_METHODS:
                # A post without a session cannot carry a valid token: refused and recorded.
                audit_denied(ctx, ANONYMOUS, request, "csrf")
                raise CsrfRefused()
            raise SignInRequired(next_path=safe_next(request.url.path))
        web = WebUser(ctx, loaded, loaded.user, form, rid)
        if request.method not in SAFE_METHODS and not sessions.csrf_matches(
                loaded, form.get("csrf_token")):
            audit_denied(ctx, web.principal, request, "csrf")
            raise CsrfRefused(web=web)
        if permission is not None and not web.principal.may(permission):
            audit_denied(ctx, web.principal, request, "role")
            raise NotPermitted(web=web)
        return web

    return dependency


Coordinator = Annotated[WebUser, Depends(signed_in(Permission.QUERY))]
PrivacyOfficer = Annotated[WebUser, Depends(signed_in(Permission.READ_AUDIT))]
Administrator = Annotated[WebUser, Depends(signed_in(Permission.ADMIN))]
AnyUser = Annotated[WebUser, Depends(signed_in(None))]


def current_session(request: Request, form: FormDep) -> tuple[WebSession | Expired | None, Form]:
    """For the sign-in page: whatever session the cookie names (or none), and the form."""
    return sessions.load(get_ctx(request), request, request_id(request)), form


SessionDep = Annotated[tuple[WebSession | Expired | None, Form], Depends(current_session)]

__all__ = ["Administrator", "AnyUser", "Coordinator", "FormDep", "PrivacyOfficer",
           "SessionDep", "audit_denied", "get_ctx", "home_path", "read_form",
           "request_id", "safe_next", "signed_in"]
