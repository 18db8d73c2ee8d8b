"""Audit records: what happened, by whom, for what purpose, about which pseudonyms.

A record never holds a raw identifier: subjects appear as pseudonyms with their key
version, so a data-subject access request is answered by pseudonymising that person and
searching. Outcomes and disclosed agencies are recorded so that the PIA can count hits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hitmachine.domain.clock import utc_now_iso
from hitmachine.domain.principal import Principal
from hitmachine.domain.pseudonym import PseudonymSet


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
        return cls(event=event, actor=principal.actor, role=principal.role.value,
                   organisation=principal.organisation, request_id=request_id,
                   outcome=outcome, **kwargs)

    def to_row(self) -> dict[str, Any]:
        return {
            "recorded_at": self.recorded_at,
            "event": self.event,
            "actor": self.actor,
            "role": self.role,
            "organisation": self.organisation,
            "request_id": self.request_id,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "case_reference": self.case_reference,
            "subjects": _json(list(self.subjects)),
            "outcome": self.outcome.value,
            "agencies": _json(sorted(self.agencies)),
            "detail": _json(dict(self.detail)),
            "pruned": False,
        }


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
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


__all__ = ["AuditRecord", "Outcome", "subject_entries"]
