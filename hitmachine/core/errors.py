"""The exception hierarchy of Hitmachine.

Every error the service raises on purpose is one of these. They know nothing of HTTP: the
one table in ``hitmachine.core.problems`` gives each its status and problem title, for the
API, the web pages and the key service alike, and the CLI prints them as one-line
diagnostics. No message ever contains the offending *value*: an identifier may be what
was wrong, and error texts end up in logs and on screens.

    HitmachineError
    ├── InvalidInput          a field is wrong (names the field, never echoes it)
    ├── NotFound              no such sync, record, token, ...
    ├── Conflict              the request does not fit the current state
    ├── AuthenticationFailed  missing, unknown, expired or revoked credentials
    ├── Forbidden             valid credentials, but not for this
    ├── LimitExceeded         a rate limit, budget or count was crossed
    │   └── TooLarge          a request body or batch is larger than accepted
    ├── InvalidProof          a Merkle proof or checkpoint does not verify
    ├── Damaged               stored state fails its own integrity check
    └── Unavailable           a dependency failed (for instance the audit write)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field. ``field`` is a dotted path such as ``members.0.bsn``."""

    field: str
    message: str


class HitmachineError(Exception):
    """Base class of every deliberate Hitmachine error."""

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: list[FieldError] = list(errors or [])


class InvalidInput(HitmachineError):
    """A field is wrong; ``errors`` lists every wrong field, each named, never echoed."""

    def __init__(self, field: str, message: str, *, errors: list[FieldError] | None = None) -> None:
        errs = list(errors) if errors else [FieldError(field, message)]
        super().__init__(f"{field}: {message}", errors=errs)
        self.field = field

    @classmethod
    def many(cls, errors: list[FieldError]) -> "InvalidInput":
        first = errors[0]
        return cls(first.field, first.message, errors=errors)

    def under(self, prefix: str) -> "InvalidInput":
        """The same error with every field path prefixed, e.g. ``members.3``."""
        moved = [FieldError(f"{prefix}.{e.field}", e.message) for e in self.errors]
        return InvalidInput.many(moved)


class NotFound(HitmachineError):
    """No such sync, record, token, account, ..."""


class Conflict(HitmachineError):
    """The request does not fit the current state."""


class AuthenticationFailed(HitmachineError):
    """Missing, unknown, expired or revoked credentials."""


class Forbidden(HitmachineError):
    """Valid credentials, but not for this."""


class LimitExceeded(HitmachineError):
    """A rate limit, a budget or a count was crossed; ``retry_after`` seconds when known."""

    def __init__(self, detail: str, *, field: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(detail, errors=[FieldError(field, detail)] if field else None)
        self.retry_after = retry_after


class TooLarge(LimitExceeded):
    """A request body or batch larger than the configured maximum (not a matter of time)."""


class Damaged(HitmachineError):
    """Stored state disagrees with itself (a record with its leaf hash, the tree with the
    records): somebody changed the database. Not the caller's fault, and not temporary."""


class InvalidProof(HitmachineError):
    """A Merkle proof or checkpoint that does not verify."""


class Unavailable(HitmachineError):
    """A dependency failed (the database, the audit write, the key service)."""


def settings_problem(exc: ValidationError, prefix: str) -> InvalidInput:
    """One field error per bad setting, named by its variable (``HITMACHINE_<FIELD>``,
    nested parts joined by ``__``), with pydantic's message but never the value: a URL or
    path may hold a password."""
    errors = [FieldError(prefix + "__".join(str(p) for p in e["loc"]).upper(),
                         e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    return InvalidInput.many(errors)


__all__ = [
    "AuthenticationFailed",
    "Conflict",
    "Damaged",
    "FieldError",
    "Forbidden",
    "HitmachineError",
    "InvalidInput",
    "InvalidProof",
    "LimitExceeded",
    "NotFound",
    "TooLarge",
    "Unavailable",
    "settings_problem",
]
