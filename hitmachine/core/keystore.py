"""Key files on disk: written 0600 atomically, refused when others can read them.

Keys live in the keys directory (``keys/`` by default), never in the database: whoever
copies the database alone learns pseudonyms, not the means to test a guessed BSN.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hitmachine.core.auditlog.checkpoint import CheckpointSigner
from hitmachine.core.errors import Conflict, Forbidden, NotFound
from hitmachine.core.files import Watched, check_private, read_secret_file, write_secret_file
from hitmachine.core.keyring import Keyring

if TYPE_CHECKING:
    from hitmachine.core.pseudonym.base import Pseudonymiser
    from hitmachine.core.pseudonym.blind import BlindEvaluator


def check_keys_dir(keys_dir: Path) -> None:
    """Refuse to start when any file in the keys directory (keyring, checkpoint key, OPRF
    key, exports left there) is open to group or others, or when others may write the
    directory itself (they could swap a key file in)."""
    if not keys_dir.is_dir():
        raise NotFound(f"{keys_dir} does not exist; run 'hitmachine init' first")
    mode = keys_dir.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise Forbidden(f"{keys_dir} is writable by group or others (mode "
                        f"{stat.S_IMODE(mode):o}); run: chmod 700 {keys_dir}")
    for path in sorted(keys_dir.iterdir()):
        if path.is_file():
            check_private(path)


def load_keyring(path: Path) -> Keyring:
    return Keyring.from_json(read_secret_file(path))


def save_keyring(path: Path, keyring: Keyring) -> None:
    write_secret_file(path, keyring.to_json())


def create_keyring(path: Path, scheme: str = "hmac", *,
                   keyservice_url: str | None = None) -> Keyring:
    """A new keyring with version 1. For oprf, version 1 holds no key: the key service
    holds it (``hitmachine keyservice init`` makes its version 1)."""
    if path.exists():
        raise Conflict(f"{path} already exists")
    keyring = Keyring.generate(scheme)
    if scheme == "oprf":
        keyring = Keyring(scheme, keyring.versions, keyservice_url=keyservice_url)
    save_keyring(path, keyring)
    return keyring


def checkpoint_key_path(keys_dir: Path) -> Path:
    """Where the Ed25519 key that signs audit checkpoints lives."""
    return keys_dir / "checkpoint.key"


def create_checkpoint_key(path: Path, name: str) -> CheckpointSigner:
    """A new checkpoint signing key named ``name`` (the log's origin), written 0600 in Go's
    ``PRIVATE+KEY+<name>+<id>+<key>`` note format."""
    if path.exists():
        raise Conflict(f"{path} already exists")
    signer = CheckpointSigner.generate(name)
    write_secret_file(path, signer.to_private_key_string() + "\n")
    return signer


def load_checkpoint_signer(path: Path) -> CheckpointSigner:
    """The checkpoint signer; refused when missing or readable by group or others."""
    return CheckpointSigner.from_private_key_string(read_secret_file(path).strip())


__all__ = ["check_keys_dir", "checkpoint_key_path", "create_checkpoint_key", "create_keyring",
           "load_checkpoint_signer", "load_keyring", "save_keyring", "WatchedKeyring"]


class WatchedKeyring(Watched["Pseudonymiser"]):
    """The pseudonymiser for a keyring file, rebuilt when the file changes.

    ``hitmachine keys rotate`` runs in another process; a running server picks the new
    version up within ``interval`` seconds (``keyring_check_seconds``, 1 by default), so
    queries look under it as soon as adapters publish.
    """

    def __init__(self, path: Path, evaluator: "BlindEvaluator | None" = None, *,
                 interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        # Imported here: the factory loads libsodium, which only a watching server needs.
        from hitmachine.core.pseudonym.factory import make_pseudonymiser

        # OPRF versions are evaluated by the key service (``evaluator``, its client).
        super().__init__(path, lambda p: make_pseudonymiser(load_keyring(p), evaluator),
                         interval=interval, clock=clock)

    def current(self) -> "Pseudonymiser":
        return self.get()
