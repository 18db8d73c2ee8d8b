"""Everything a use case needs, built once per process from ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hitmachine.core.agencies import Agency, Purpose
from hitmachine.core.keyservice_client import KeyServiceClient
from hitmachine.core.keystore import WatchedKeyring
from hitmachine.core.pseudonym.base import Pseudonymiser
from hitmachine.services.principal_cache import PrincipalCache
from hitmachine.settings import Settings
from hitmachine.store.audit_log import AuditWriter
from hitmachine.store.database import Database
from hitmachine.store.hot_path import HotPath


@dataclass
class Context:
    settings: Settings
    db: Database
    keys: Callable[[], Pseudonymiser]
    audit: AuditWriter
    agencies: dict[str, Agency] = field(default_factory=dict)
    purposes: dict[str, Purpose] = field(default_factory=dict)
    principals: PrincipalCache = field(default_factory=PrincipalCache)
    hot: HotPath | None = None
    guard: Any = None  # hitmachine.services.ratelimit.Guard, made on first use

    @property
    def pseudonymiser(self) -> Pseudonymiser:
        return self.keys()

    @classmethod
    def from_settings(cls, settings: Settings,
                      keys: Callable[[], Pseudonymiser] | None = None) -> "Context":
        db = Database(settings.database_url, pool_size=settings.db_pool_size)
        if keys is None:
            keys = WatchedKeyring(settings.keyring_path, keyservice_client(settings),
                                  interval=settings.keyring_check_seconds).current
        hot = HotPath(db)
        return cls(settings=settings, db=db, keys=keys, audit=AuditWriter(db, hot),
                   agencies=settings.agency_map(), purposes=settings.purpose_map(), hot=hot)

    def close(self) -> None:
        self.audit.close()
        if self.hot is not None:
            self.hot.close()
        self.db.dispose()


__all__ = ["Context"]


def keyservice_client(settings: Settings) -> KeyServiceClient | None:
    """The Veiligheidshuis's own key-service client (its query path evaluates under oprf
    versions too); None when no key service is configured. The token file defaults to
    ``keys/keyservice.token``."""
    if not settings.keyservice_url:
        return None
    token_file = settings.keyservice_token_file or settings.keys_dir / "keyservice.token"
    return KeyServiceClient.from_token_file(settings.keyservice_url, token_file)
