"""The exception hierarchy of Hitmachine.

Every error the service raises on purpose is one of these; the API maps them to RFC 9457
problem documents in one place (``hitmachine.http.api.problems``) and the CLI prints them as
diagnostics. No message ever contains the offending *value*: an identifier may be what
was wrong, and error texts end up in logs and on screens.

    HitmachineError
    ├── InvalidInput          422  a field is wrong (names the field, never echoes it)
    ├── NotFound              404  no such sync, record, token, ...
    ├── Conflict              409  the request does not fit the current state
    ├── AuthenticationFailed  401  missing, unknown, expired or revoked credentials
    ├── Forbidden             403  valid credentials, but not for this
    ├── LimitExceeded         413 / 429  a configured resource limit was crossed
    ├── InvalidProof          422  a Merkle proof or checkpoint does not verify
    └── Unavailable           503  a dependency failed (for instance the audit write)
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

    status: int = 500
    title: str = "Internal error"
    code: str = "internal"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: list[FieldError] = list(errors or [])


class InvalidInput(HitmachineError):
    status = 422
    title = "Invalid input"
    code = "invalid-input"

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
    status = 404
    title = "Not found"
    code = "not-found"


class Conflict(HitmachineError):
    status = 409
    title = "Conflict"
    code = "conflict"


class AuthenticationFailed(HitmachineError):
    status = 401
    title = "Authentication required"
    code = "unauthenticated"


class Forbidden(HitmachineError):
    status = 403
    title = "Forbidden"
    code = "forbidden"


class LimitExceeded(HitmachineError):
    status = 429
    title = "Limit exceeded"
    code = "limit-exceeded"

    def __init__(self, detail: str, *, status: int = 429, field: str | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(detail, errors=[FieldError(field, detail)] if field else None)
        self.status = status
        self.retry_after = retry_after


class InvalidProof(HitmachineError):
    status = 422
    title = "Invalid proof"
    code = "invalid-proof"


class Unavailable(HitmachineError):
    status = 503
    title = "Service unavailable"
    code = "unavailable"


def settings_problem(exc: ValidationError, prefix: str) -> InvalidInput:
    """One field error per bad setting, named by its variable (``HITMACHINE_<FIELD>``,
    nested parts joined by ``__``), with pydantic's message but never the value: a URL or
    path may hold a password."""
    errors = [FieldError(prefix + "__".join(str(p) for p in e["loc"]).upper(),
                         e["msg"].removeprefix("Value error, ")) for e in exc.errors()]
    return InvalidInput.many(errors)



__all__ = [
    "settings_problem",
    "AuthenticationFailed",
    "Conflict",
    "FieldError",
    "Forbidden",
    "HitmachineError",
    "InvalidInput",
    "InvalidProof",
    "LimitExceeded",
    "NotFound",
    "Unavailable",
]
