"""Plain ASGI middleware for the web pages: security headers, caching, HTML error pages.

Every response outside the API (pages, static files, redirects, errors, and the API
documentation at ``/docs``) gets:

- a Content-Security-Policy that allows only this origin's own scripts, styles and
  images: no inline script or style, no framing (``frame-ancestors 'none'``), forms
  posting only here;
- X-Frame-Options DENY, Referrer-Policy no-referrer, X-Content-Type-Options nosniff, and
  Strict-Transport-Security when the request came over HTTPS;
- ``Cache-Control: no-store`` unless it is a static asset (those are content-addressed).

The API's paths are left as they are. A problem+json document that the framework itself
produced on a web path (an unknown page, a wrong method) becomes a Dutch HTML page.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# /docs is a page (and a token is pasted into it): it gets the web pages' headers too.
API_PREFIXES = ("/v1/", "/openapi.json", "/healthz", "/readyz", "/bench/")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}
STATIC_CACHE = "public, max-age=86400"


def is_web_path(path: str) -> bool:
    return path != "/v1" and not path.startswith(API_PREFIXES)


class WebMiddleware:
    def __init__(self, app: ASGIApp, error_page: Callable[[int, str], bytes]) -> None:
        self.app = app
        self.error_page = error_page  # (status, request id) -> HTML

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_web_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        https = scope.get("scheme") == "https"
        replacement: bytes | None = None

        async def send_secured(message: Message) -> None:
            nonlocal replacement
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if https:
                    headers["Strict-Transport-Security"] = "max-age=31536000"
                if path.startswith("/static/"):
                    headers.setdefault("Cache-Control", STATIC_CACHE)
                else:
                    headers.setdefault("Cache-Control", "no-store")
                if headers.get("content-type", "").startswith("application/problem+json"):
                    rid = scope.get("state", {}).get("request_id", "-")
                    replacement = self.error_page(int(message["status"]), str(rid))
                    headers["Content-Type"] = "text/html; charset=utf-8"
                    headers["Content-Length"] = str(len(replacement))
                await send(message)
                return
            if message["type"] == "http.response.body" and replacement is not None:
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": replacement,
                                "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, send_secured)


__all__ = ["API_PREFIXES", "CSP", "SECURITY_HEADERS", "WebMiddleware", "is_web_path"]
