"""Single sign-on pages: off to the identity provider, back from it, and signed out there
too. The flow and its checks are ``hitmachine.services.oidc``; these routes are plain
``def`` (run on the thread pool) because discovery, the token exchange and the keys are
blocking network calls.

The browser comes back from the provider on a cross-site navigation, which does not carry
the session cookie (SameSite=Strict), nor would the page it is redirected to. So the
callback answers with a page that moves on by itself (a meta refresh: a navigation of our
own page, which does carry it) instead of a redirect. The attempt's binding cookie
``hm_sso`` is SameSite=Lax for the same reason: it must come back on that navigation.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from hitmachine.http.peer import client_address
from hitmachine.http.web import sessions
from hitmachine.http.web.deps import get_ctx, home_path, request_id, safe_next
from hitmachine.http.web.errors import WebProblem, WebRoute, problem_page
from hitmachine.http.web.render import render
from hitmachine.services import oidc, ratelimit
from hitmachine.services.context import Context
from hitmachine.store.users import User

router = APIRouter(route_class=WebRoute, include_in_schema=False)

START_PATH = "/aanmelden/sso"
SIGNED_OUT_PATH = "/aanmelden/sso/afgemeld"
BINDING_COOKIE = "hm_sso"

_AGAIN = "Ga naar de aanmeldpagina en meld u opnieuw aan."
_LOGGED = "Deze poging is vastgelegd in het auditlog."
# What the person is told for each refusal; the audit record has the exact reason.
_REFUSALS: dict[str, tuple[int, str]] = {
    **dict.fromkeys(("unknown_state", "other_browser", "attempt_expired"), (
        400, "Deze aanmelding is verlopen, al gebruikt of in een andere browser begonnen. "
             + _AGAIN)),
    "provider_refused": (401, "De aanmelding bij {provider} is afgebroken of geweigerd. "
                              + _AGAIN),
    "no_role": (403, "U bent bij {provider} bekend, maar u zit daar niet in een van de "
                     "groepen die toegang geven tot Hitmachine. Vraag de beheerder om u aan "
                     "de juiste groep toe te voegen."),
    "ambiguous_role": (403, "U zit bij {provider} in groepen die toegang geven tot "
                            "Hitmachine voor meer dan één rol. Iedereen heeft hier één rol: "
                            "vraag de beheerder om u uit de verkeerde groep te halen."),
    **dict.fromkeys(("no_name", "name_unusable", "name_taken"), (
        403, "Uw account bij {provider} kan hier niet worden gebruikt: de gebruikersnaam "
             "ontbreekt, is niet bruikbaar of is al in gebruik door een ander account. Neem "
             "contact op met de beheerder.")),
    "disabled": (403, "Uw account in Hitmachine is uitgeschakeld. Neem contact op met de "
                      "beheerder."),
}
# Every other reason: the provider's answer did not pass the checks (signature, audience,
# issuer, nonce, expiry, the token request).
_NOT_VERIFIED = (401, "Het bewijs van aanmelding van {provider} kon niet worden gecontroleerd "
                      "en is geweigerd. " + _AGAIN + " Blijft dit gebeuren, neem dan contact "
                      "op met de beheerder en noem het kenmerk.")


def _provider(ctx: Context) -> oidc.Provider:
    idp = oidc.provider(ctx.settings)
    if idp is None:
        raise WebProblem(status=404)
    return idp


def _secure(request: Request, ctx: Context) -> bool:
    secure = ctx.settings.web_cookie_secure
    return request.url.scheme == "https" if secure is None else secure


def _clear_binding(response: Response, request: Request, ctx: Context) -> None:
    response.delete_cookie(BINDING_COOKIE, path=START_PATH, httponly=True, samesite="lax",
                           secure=_secure(request, ctx))


def sign_in_choice(ctx: Context) -> str | None:
    """The provider's name for the sign-in page's button, when single sign-on is on."""
    return ctx.settings.oidc_provider_name if ctx.settings.oidc_enabled else None


def after_sign_out(ctx: Context, user: User | None) -> str | None:
    """Where a signed-out single sign-on user goes next: our page that sends the browser on
    to the provider's end-session endpoint (a redirect straight from the sign-out form
    would be blocked by the pages' ``form-action 'self'``). None: the usual page."""
    idp = oidc.provider(ctx.settings)
    if idp is None or user is None or not oidc.is_external(ctx, user):
        return None
    return SIGNED_OUT_PATH


@router.get(START_PATH)
def start(request: Request) -> Response:
    ctx = get_ctx(request)
    idp = _provider(ctx)
    # Each start stores an attempt: counted like a sign-in, before anything is written.
    ratelimit.check_sign_in(ctx, client_address(request), request_id(request))
    started = oidc.begin(ctx, idp, safe_next(request.query_params.get("volgende")))
    response = RedirectResponse(started.url, status_code=303)
    response.set_cookie(BINDING_COOKIE, started.binding, path=START_PATH,
                        max_age=oidc.ATTEMPT_MINUTES * 60, httponly=True, samesite="lax",
                        secure=_secure(request, ctx))
    return response


@router.get(oidc.CALLBACK_PATH)
def callback(request: Request) -> Response:
    ctx = get_ctx(request)
    idp = _provider(ctx)
    rid = request_id(request)
    ratelimit.check_sign_in(ctx, client_address(request), rid)
    query = request.query_params
    try:
        done = oidc.complete(ctx, idp, state=query.get("state"), code=query.get("code"),
                             error=query.get("error"),
                             binding=request.cookies.get(BINDING_COOKIE), request_id=rid)
    except oidc.SignInRefused as refused:
        status, message = _REFUSALS.get(refused.reason, _NOT_VERIFIED)
        response = problem_page(request, status, title="Aanmelden niet gelukt",
                                message=message.format(provider=ctx.settings.oidc_provider_name)
                                + " " + _LOGGED)
        _clear_binding(response, request, ctx)
        return response
    web = sessions.start(ctx, done.user, oidc.METHOD, rid, None)
    principal = done.user.principal()
    target = safe_next(done.next_path, principal) or home_path(principal)
    response = render(request, "doorsturen.html", {
        "title": "Aangemeld", "user": None, "nav": [], "csrf_token": "", "target": target,
        "heading": "U bent aangemeld",
        "text": f"U bent aangemeld met {ctx.settings.oidc_provider_name}.",
        "link": "Verder naar Hitmachine"})
    sessions.set_cookie(response, request, ctx, web)
    _clear_binding(response, request, ctx)
    return response


@router.get(SIGNED_OUT_PATH)
def signed_out(request: Request) -> Response:
    ctx = get_ctx(request)
    target = _provider(ctx).end_session_url()
    if target is None:
        return RedirectResponse(oidc.SIGNED_OUT_PATH, status_code=303)
    return render(request, "doorsturen.html", {
        "title": "Afgemeld", "user": None, "nav": [], "csrf_token": "", "target": target,
        "heading": "U bent afgemeld bij Hitmachine",
        "text": f"U wordt nu ook afgemeld bij {ctx.settings.oidc_provider_name}.",
        "link": f"Afmelden bij {ctx.settings.oidc_provider_name}"})


__all__ = ["BINDING_COOKIE", "SIGNED_OUT_PATH", "START_PATH", "after_sign_out", "router",
           "sign_in_choice"]
