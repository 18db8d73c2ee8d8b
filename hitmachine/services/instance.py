"""Setting up an instance: keys directory, keyring, and the schema at the newest revision."""

from __future__ import annotations

import os
from pathlib import Path

from hitmachine.core.keystore import (
    checkpoint_key_path,
    create_checkpoint_key,
    create_factor_key,
    create_keyring,
)
from hitmachine.settings import Settings
from hitmachine.store import migrate
from hitmachine.store.database import make_null_pool_engine


def initialise(settings: Settings) -> list[str]:
    """Idempotent: creates what is missing, upgrades what is old, and says what it did.

    Whatever it creates is for the service's own user only (umask 077): the database
    holds case references, pseudonyms and token hashes."""
    previous = os.umask(0o077)
    try:
        return _initialise(settings)
    finally:
        os.umask(previous)


def _initialise(settings: Settings) -> list[str]:
    said: list[str] = []
    settings.keys_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.keys_dir, 0o700)
    if not settings.keyring_path.exists():
        keyring = create_keyring(settings.keyring_path, settings.pseudonym_scheme,
                                 keyservice_url=settings.keyservice_url)
        said.append(f"created {keyring.scheme} keyring {settings.keyring_path} "
                    f"(version {keyring.primary.version})")
    checkpoint_key = checkpoint_key_path(settings.keys_dir)
    if not checkpoint_key.exists():
        signer = create_checkpoint_key(checkpoint_key, settings.origin)
        said.append(f"created audit checkpoint key {checkpoint_key}; its public key, for "
                    f"whoever keeps checkpoints: {signer.verifier_key}")
    if not settings.factor_key_path.exists():
        create_factor_key(settings.factor_key_path)
        said.append(f"created second-factor key {settings.factor_key_path}")
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True,
                                                                            exist_ok=True)
    engine = make_null_pool_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        said.append("database schema at revision "
                    + " + ".join(migrate.current_revisions(engine)))
    finally:
        engine.dispose()
    return said


__all__ = ["initialise"]
