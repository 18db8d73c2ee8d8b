"""The signed-in user of one web request.

Its own module because both the dependencies (``deps``, which make it) and the error pages
(``errors``, which show its navigation on a refusal) need it, and ``deps`` raises the
errors: with ``WebUser`` here the arrows run one way, ``deps`` -> ``errors`` -> ``user``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hitmachine.core.principal import Principal
from hitmachine.http.web.forms import Form
from hitmachine.http.web.render import navigation
from hitmachine.http.web.sessions import WebSession
from hitmachine.services import inbox
from hitmachine.services.context import Context
from hitmachine.store.users import User

INBOX = "/meldingen"


@dataclass
class WebUser:
    """A signed-in user on this request, with what every page template needs."""

    ctx: Context
    session: WebSession
    user: User
    form: Form
    request_id: str
    principal: Principal = field(init=False)

    def __post_init__(self) -> None:
        self.principal = self.user.principal()

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def page(self, **values: Any) -> dict[str, Any]:
        return {"user": self.user, "nav": self.navigation(),
                "csrf_token": self.csrf_token, **values}

    def navigation(self) -> list[tuple[str, str]]:
        """The menu, with the number of new signals beside "Meldingen" (a coordinator's
        own inbox; one indexed count, not audited: see ``services.inbox``)."""
        nav = navigation(self.principal.may)
        if not any(path == INBOX for path, _ in nav):
            return nav
        count = inbox.new_count(self.ctx, self.principal)
        if not count:
            return nav
        return [(path, f"{label} ({count} nieuw)" if path == INBOX else label)
                for path, label in nav]


__all__ = ["WebUser"]
