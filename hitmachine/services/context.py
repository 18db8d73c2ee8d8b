"""Everything a use case needs, built once per process from ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hitmachine.config import Settings
from hitmachine.domain.agencies import Agency, Purpose
from hitmachine.domain.pseudonym import Pseudonymiser
from hitmachine.keystore import WatchedKeyring
from hitmachine.services.principal_cache import PrincipalCache
from hitmachine.store.audit_log import AuditWriter
from hitmachine.store.database import Database


@dataclass
class Context:
    settings: Settings
    db: Database
    keys: Callable[[], Pseudonymiser]
    audit: AuditWriter
    agencies: dict[str, Agency] = field(default_factory=dict)
    purposes: dict[str, Purpose] = field(default_factory=dict)
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    guard: Any = None  # hitmachine.services.ratelimit.Guard, made on first use

    @property
    def pseudonymiser(self) -> Pseudonymiser:
        return self.keys()

    @classmethod
    def from_settings(cls, settings: Settings,
                      keys: Callable[[], Pseudonymiser] | None = None) -> "Context":
        db = Database(settings.database_url, pool_size=settings.db_pool_size)
        if keys is None:
            from hitmachine.keyservice.client import client_for

            keys = WatchedKeyring(settings.keyring_path, client_for(settings)).current
        return cls(settings=settings, db=db, keys=keys, audit=AuditWriter(db),
                   agencies=settings.agency_map(), purposes=settings.purpose_map())

    def close(self) -> None:
        self.audit.close()
        self.db.dispose()


__all__ = ["Context"]
