"""Who is on the other end of a request, for the API and the web pages alike."""

from __future__ import annotations

from starlette.requests import Request


def client_address(request: Request) -> str:
    """The peer's address: the server does not trust forwarded headers (a proxy in front
    is one address, and its limits are shared by everyone behind it)."""
    return request.client.host if request.client else "unknown"


__all__ = ["client_address"]
