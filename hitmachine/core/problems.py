"""What each error is on the wire: the status, title and type of its problem document.

The errors (``hitmachine.core.errors``) know nothing of HTTP; this is the one table that
the API (``hitmachine.http.api.problems``), the web pages (``hitmachine.http.web.errors``)
and the key service read, so an error means the same status wherever it surfaces. An error
class takes the row of its nearest listed class (``TooLarge`` has its own, ahead of
``LimitExceeded``'s). Problem documents follow RFC 9457.
"""

from __future__ import annotations

from dataclasses import dataclass

from hitmachine.core.errors import (
    AuthenticationFailed,
    Conflict,
    Damaged,
    Forbidden,
    HitmachineError,
    InvalidInput,
    InvalidProof,
    LimitExceeded,
    NotFound,
    TooLarge,
    Unavailable,
)


@dataclass(frozen=True, slots=True)
class ProblemKind:
    status: int
    title: str
    code: str  # the last part of the problem's ``type`` URI and its ``code`` member


TABLE: dict[type[HitmachineError], ProblemKind] = {
    InvalidInput: ProblemKind(422, "Invalid input", "invalid-input"),
    InvalidProof: ProblemKind(422, "Invalid proof", "invalid-proof"),
    NotFound: ProblemKind(404, "Not found", "not-found"),
    Conflict: ProblemKind(409, "Conflict", "conflict"),
    AuthenticationFailed: ProblemKind(401, "Authentication required", "unauthenticated"),
    Forbidden: ProblemKind(403, "Forbidden", "forbidden"),
    TooLarge: ProblemKind(413, "Limit exceeded", "limit-exceeded"),
    LimitExceeded: ProblemKind(429, "Limit exceeded", "limit-exceeded"),
    # A server fault, and not a passing one: the audit log's alerts say what to do.
    Damaged: ProblemKind(500, "Stored data damaged", "damaged"),
    Unavailable: ProblemKind(503, "Service unavailable", "unavailable"),
    HitmachineError: ProblemKind(500, "Internal error", "internal"),
}


def problem_kind(exc: HitmachineError) -> ProblemKind:
    """The row for ``exc``: its own class's, else its nearest base class's."""
    for cls in type(exc).__mro__:
        kind = TABLE.get(cls)
        if kind is not None:
            return kind
    return TABLE[HitmachineError]


__all__ = ["TABLE", "ProblemKind", "problem_kind"]
