"""Audit records: what happened, by whom, for what purpose, about which pseudonyms.

A record never holds a raw identifier: subjects appear as pseudonyms with their key
version, so a data-subject access request is answered by pseudonymising that person and
searching. Outcomes and disclosed agencies are recorded so that the PIA can count hits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from hitmachine.core.clock import utc_now_iso
from hitmachine.core.principal import Principal
from hitmachine.core.pseudonym.base import PseudonymSet

# The X-Request-ID a client sent with the current request, if any (set by the API's
# request-id middleware). Kept in the record's detail only: the record's request_id is
# always the server's own, so two clients can never share one.
CLIENT_REQUEST_ID: ContextVar[str | None] = ContextVar("client_request_id", default=None)


class Outcome(str, Enum):
    HIT = "hit"
    NO_HIT = "no_hit"
    OK = "ok"
    DENIED = "denied"
    INVALID = "invalid"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    event: str
    actor: str
    role: str
    organisation: str
    request_id: str
    outcome: Outcome
    purpose: str | None = None
    legal_basis: str | None = None
    case_reference: str | None = None
    subjects: tuple[Mapping[str, Any], ...] = ()
    agencies: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: str = field(default_factory=utc_now_iso)

    @classmethod
    def by(cls, principal: Principal, event: str, request_id: str, outcome: Outcome,
           **kwargs: Any) -> "AuditRecord":
        """The record of ``principal``'s action; its detail also says which token or
        account acted (``actor_id``) and the client's own request id, if it sent one."""
        extra: dict[str, Any] = {}
        if principal.actor_id is not None:
            extra["actor_id"] = principal.actor_id
            if principal.token_id is not None and principal.user_id is not None:
                extra["actor_account"] = f"user:{principal.user_id}"
        client_id = CLIENT_REQUEST_ID.get()
        if client_id is not None:
            extra["client_request_id"] = client_id
        if extra:
            kwargs["detail"] = {**kwargs.get("detail", {}), **extra}
        return cls(event=event, actor=principal.actor, role=principal.role.value,
                   organisation=principal.organisation, request_id=request_id,
                   outcome=outcome, **kwargs)

    def to_row(self) -> dict[str, Any]:
        return dict(zip(ROW_COLUMNS, self.to_values()))

    def to_values(self) -> tuple[Any, ...]:
        """The row as a tuple in ``ROW_COLUMNS`` order: what the query path inserts."""
        return (self.recorded_at, self.event, self.actor, self.role, self.organisation,
                self.request_id, self.purpose, self.legal_basis, self.case_reference,
                _json(list(self.subjects)), self.outcome.value, _json(sorted(self.agencies)),
                _json(dict(self.detail)), False)


ROW_COLUMNS = ("recorded_at", "event", "actor", "role", "organisation", "request_id",
               "purpose", "legal_basis", "case_reference", "subjects", "outcome",
               "agencies", "detail", "pruned")


def subject_entries(member_sets: Sequence[PseudonymSet | None]) -> tuple[dict[str, Any], ...]:
    """The audit form of each member's pseudonyms: member index, key version, hex digests."""
    out = []
    for index, ps in enumerate(member_sets):
        if ps is None:
            continue
        out.append({"member": index, "key_version": ps.key_version,
                    "bsn": ps.bsn.hex() if ps.bsn else None,
                    "name": ps.name.hex() if ps.name else None})
    return tuple(out)


def _json(value: Any) -> str:
    """Compact JSON with sorted keys and only ASCII, as ``json.dumps(sort_keys=True,
    separators=(",", ":"), ensure_ascii=True)`` writes it. orjson writes the same text for
    strings, integers, booleans, lists and dicts, 15x faster (every query writes three of
    these); floats it may spell differently but equal (``1.5e-7``). What it would write
    differently (non-ASCII text, which it leaves unescaped) or refuses (integer keys, big
    integers) goes to json. The stored text is what the audit tree hashes, so only
    determinism matters, not which of the two wrote it."""
    try:
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        out = b"\x80"  # refused: take the json path below
    if out.isascii():
        return out.decode("ascii")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


__all__ = ["CLIENT_REQUEST_ID", "ROW_COLUMNS", "AuditRecord", "Outcome", "subject_entries"]
