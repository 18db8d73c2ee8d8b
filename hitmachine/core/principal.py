"""Who is asking, and what each role may do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Role(str, Enum):
    ADAPTER = "adapter"
    COORDINATOR = "coordinator"
    PARTNER = "partner"
    PRIVACY_OFFICER = "privacy-officer"
    ADMIN = "admin"
    # Research replays of the manual test (purposes with ``allows_reference_date``): no live
    # purpose, no audit log. Coordinators and partners get no research purpose.
    RESEARCHER = "researcher"


class Permission(str, Enum):
    PUBLISH = "publish"
    QUERY = "query"
    READ_AUDIT = "read-audit"
    # Checkpoints and Merkle proofs of the audit log: the privacy officer for every record,
    # a partner for its own agency's records (checked where the proof is made).
    VERIFY_AUDIT = "verify-audit"
    ADMIN = "admin"
    READ_CATALOGUE = "read-catalogue"  # agencies and purposes


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADAPTER: frozenset({Permission.PUBLISH, Permission.READ_CATALOGUE}),
    Role.COORDINATOR: frozenset({Permission.QUERY, Permission.READ_CATALOGUE}),
    Role.PARTNER: frozenset({Permission.QUERY, Permission.READ_CATALOGUE,
                             Permission.VERIFY_AUDIT}),
    Role.PRIVACY_OFFICER: frozenset({Permission.READ_AUDIT, Permission.READ_CATALOGUE,
                                     Permission.VERIFY_AUDIT}),
    Role.ADMIN: frozenset({Permission.ADMIN, Permission.READ_CATALOGUE}),
    Role.RESEARCHER: frozenset({Permission.QUERY, Permission.READ_CATALOGUE}),
}

# Roles whose token must name the agency it acts for.
AGENCY_BOUND = frozenset({Role.ADAPTER, Role.PARTNER})
VEILIGHEIDSHUIS = "veiligheidshuis"


@dataclass(frozen=True, slots=True)
class Principal:
    actor: str            # the token's (or user's) name: who, for the audit trail
    role: Role
    agency: str | None    # the agency an adapter or partner acts for
    token_id: int | None = None
    # The web account: the user's own, or the one a token was created for (``--user``).
    user_id: int | None = None

    @property
    def organisation(self) -> str:
        return self.agency or VEILIGHEIDSHUIS

    @property
    def actor_id(self) -> str | None:
        """Which credential acted, for the audit record: names can look alike, ids cannot."""
        if self.token_id is not None:
            return f"token:{self.token_id}"
        if self.user_id is not None:
            return f"user:{self.user_id}"
        return None

    @property
    def budget_key(self) -> str:
        """Whose query rate and daily budget this request spends: one person's account and
        the tokens made for it share one; never the name, which differs in case only."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return f"actor:{self.actor}"

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def may_research(self) -> bool:
        """Research purposes (replays, a reference date) are the researcher's, and only
        theirs: a researcher asks nothing live."""
        return self.role is Role.RESEARCHER


ANONYMOUS = Principal(actor="anonymous", role=Role.COORDINATOR, agency=None)

__all__ = ["AGENCY_BOUND", "ANONYMOUS", "Permission", "Principal", "ROLE_PERMISSIONS", "Role",
           "VEILIGHEIDSHUIS"]
