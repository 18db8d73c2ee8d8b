"""What can go wrong on a web page, and the route class that turns it into a Dutch page.

Every web route uses ``WebRoute``: whatever its dependencies or its body raise becomes an
HTML page with the right status (never a problem+json document, never a traceback), or
the redirect to the sign-in page. Like the API, an unexpected error is logged by type and
route only: its message might quote what was typed, and that may be an identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hitmachine.core.errors import HitmachineError, LimitExceeded, Unavailable
from hitmachine.core.problems import problem_kind
from hitmachine.http.web.render import navigation, render
from hitmachine.http.web.sessions import COOKIE
from hitmachine.http.web.user import WebUser

log = logging.getLogger("hitmachine.http.web")

PAGES: dict[int, tuple[str, str]] = {
    400: ("Het formulier kon niet worden gelezen",
          "Het formulier kwam niet goed aan. Ga terug, laad de pagina opnieuw en probeer het "
          "nog eens."),
    403: ("Geen toegang", "U heeft geen toegang tot deze pagina. Deze poging is vastgelegd in "
                          "het auditlog."),
    404: ("Pagina niet gevonden", "Deze pagina bestaat niet. Controleer het adres, of ga naar "
                                  "de startpagina."),
    405: ("Dit kan hier niet", "Deze pagina kan niet op deze manier worden gebruikt. Ga naar de "
                               "startpagina en probeer het opnieuw."),
    413: ("Het formulier is te groot", "Er is meer verstuurd dan de dienst aanneemt. Vraag naar "
                                       "minder personen tegelijk."),
    415: ("Het formulier kon niet worden gelezen",
          "Het formulier kwam niet goed aan. Ga terug, laad de pagina opnieuw en probeer het "
          "nog eens."),
    422: ("Controleer de invoer", "Een van de velden bevat iets dat hier niet kan, zoals een "
                                  "onzichtbaar stuurteken. Ga terug, pas de invoer aan en "
                                  "probeer het opnieuw."),
    429: ("Te veel vragen", "U heeft in korte tijd te veel vragen gesteld. Deze vraag is niet "
                            "gesteld en niet beantwoord. Probeer het later opnieuw."),
    500: ("Er ging iets mis", "Er is een onverwachte fout opgetreden en vastgelegd. Er is geen "
                              "antwoord gegeven. Probeer het later opnieuw; blijft het misgaan, "
                              "neem dan contact op met de beheerder en noem het kenmerk."),
    503: ("Tijdelijk niet beschikbaar",
          "De dienst kan uw verzoek nu niet verwerken. Er is niets gewijzigd en geen antwoord "
          "gegeven. Probeer het over enkele minuten opnieuw."),
}


class SignInRequired(Exception):
    """Nobody (valid) is signed in: go to the sign-in page."""

    def __init__(self, *, reason: str | None = None, next_path: str | None = None,
                 clear_cookie: bool = False) -> None:
        super().__init__("sign-in required")
        self.reason = reason
        self.next_path = next_path
        self.clear_cookie = clear_cookie


class WebProblem(Exception):
    """A refusal or failure shown as a page with ``status``."""

    status = 500

    def __init__(self, *, web: WebUser | None = None, title: str | None = None,
                 message: str | None = None, status: int | None = None) -> None:
        super().__init__(title or "web problem")
        if status is not None:
            self.status = status
        default_title, default_message = PAGES.get(self.status, PAGES[500])
        self.web = web
        self.title = title or default_title
        self.message = message or default_message


class NotPermitted(WebProblem):
    status = 403


class CsrfRefused(WebProblem):
    status = 403

    def __init__(self, *, web: WebUser | None = None) -> None:
        super().__init__(web=web, title="Formulier verlopen of ongeldig",
                         message="Dit formulier is geweigerd: het beveiligingskenmerk ontbreekt "
                                 "of hoort niet bij uw sessie. Ga terug, laad de pagina opnieuw "
                                 "en verstuur het formulier nog eens.")


class FormUnreadable(WebProblem):
    status = 400


class LimitReached(WebProblem):
    """A rate limit or the daily query budget refused the request (429): say which, and
    when asking works again, instead of a bare error code."""

    status = 429

    def __init__(self, exc: LimitExceeded, *, web: WebUser | None = None) -> None:
        wait = exc.retry_after or 60
        if exc.errors and exc.errors[0].field == "members":  # the daily budget
            title = "Dagelijks maximum bereikt"
            message = ("U heeft vandaag het maximale aantal personen opgevraagd. Deze vraag "
                       "is niet gesteld en niet beantwoord. Morgen vanaf 00.00 uur (over "
                       f"{dutch_duration(wait)}) kunt u weer vragen stellen. Is het dringend, "
                       "neem dan contact op met de beheerder.")
        else:
            title = "Te veel vragen achter elkaar"
            message = ("U heeft in korte tijd te veel vragen gesteld. Deze vraag is niet "
                       f"gesteld en niet beantwoord. Probeer het over {dutch_duration(wait)} "
                       "opnieuw.")
        super().__init__(web=web, title=title, message=message)
        self.retry_after = wait


def dutch_duration(seconds: int) -> str:
    """``45`` as "45 seconden", ``90`` as "2 minuten", ``5400`` as "1 uur en 30 minuten"."""
    if seconds < 60:
        return "1 seconde" if seconds == 1 else f"{seconds} seconden"
    minutes = -(-seconds // 60)
    if minutes < 60:
        return "1 minuut" if minutes == 1 else f"{minutes} minuten"
    hours, rest = divmod(minutes, 60)
    return f"{hours} uur" + (f" en {rest} {'minuut' if rest == 1 else 'minuten'}" if rest else "")


def problem_page(request: Request, status: int, *, web: WebUser | None = None,
                 title: str | None = None, message: str | None = None,
                 retry_after: int | None = None) -> Response:
    default_title, default_message = PAGES.get(status, PAGES[500])
    values: dict[str, Any] = {
        "title": title or default_title, "message": message or default_message,
        "status": status, "request_id": request.scope.get("state", {}).get("request_id", "-"),
        "user": web.user if web else None,
        "nav": navigation(web.principal.may) if web else [],
        "csrf_token": web.csrf_token if web else "",
    }
    headers = {"Retry-After": "30"} if status == 503 else None
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    return render(request, "fout.html", values, status=status, headers=headers)


def sign_in_redirect(exc: SignInRequired) -> Response:
    params = []
    if exc.reason:
        params.append(f"reden={quote(exc.reason)}")
    if exc.next_path:
        params.append(f"volgende={quote(exc.next_path, safe='/')}")
    location = "/aanmelden" + ("?" + "&".join(params) if params else "")
    response = RedirectResponse(location, status_code=303)
    if exc.clear_cookie:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


class WebRoute(APIRoute):
    """An APIRoute whose failures are pages (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired as exc:
                return sign_in_redirect(exc)
            except WebProblem as exc:
                return problem_page(request, exc.status, web=exc.web, title=exc.title,
                                    message=exc.message,
                                    retry_after=getattr(exc, "retry_after", None))
            except LimitExceeded as exc:
                page = LimitReached(exc)
                return problem_page(request, page.status, title=page.title,
                                    message=page.message, retry_after=page.retry_after)
            except HTTPException as exc:  # e.g. 413 from the body limit while reading a form
                return problem_page(request, exc.status_code if exc.status_code in PAGES else 400)
            except RequestValidationError:
                return problem_page(request, 400)
            except Unavailable:
                return problem_page(request, 503)
            except DBAPIError as exc:
                log.error("database error %s on %s %s", type(exc.orig).__name__,
                          request.method, self.path)
                return problem_page(request, 503)
            except HitmachineError as exc:
                status = problem_kind(exc).status
                return problem_page(request, status if status in PAGES else 400)
            except Exception as exc:
                log.error("unexpected %s on %s %s", type(exc).__name__, request.method,
                          self.path)
                return problem_page(request, 500)

        return guarded


__all__ = ["CsrfRefused", "FormUnreadable", "LimitReached", "NotPermitted", "PAGES", "SignInRequired",
           "WebProblem", "WebRoute", "dutch_duration", "problem_page", "sign_in_redirect"]
