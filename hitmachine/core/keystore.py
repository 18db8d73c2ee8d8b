"""Key files on disk: written 0600 atomically, refused when others can read them.

Keys live in the keys directory (``keys/`` by default), never in the database: whoever
copies the database alone learns pseudonyms, not the means to test a guessed BSN.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from hitmachine.core.auditlog.checkpoint import CheckpointSigner
from hitmachine.core.errors import Conflict, Forbidden, HitmachineError, NotFound
from hitmachine.core.keyring import Keyring

if TYPE_CHECKING:
    from hitmachine.core.pseudonym.base import Pseudonymiser
    from hitmachine.core.pseudonym.blind import BlindEvaluator


def write_secret_file(path: Path, content: str) -> None:
    """Write ``content`` so that it is never readable by anyone but the owner, not even for
    a moment: the temporary file is created 0600 and renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_private(path: Path) -> None:
    """Refuse a key file that the group or others may read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise Forbidden(f"{path} is accessible to group or others (mode {stat.S_IMODE(mode):o}); "
                        f"run: chmod 600 {path}")


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


def read_secret_file(path: Path) -> str:
    if not path.exists():
        raise NotFound(f"{path} does not exist; run 'hitmachine init' first")
    check_private(path)
    return path.read_text(encoding="utf-8")


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


__all__ = ["check_keys_dir", "check_private", "checkpoint_key_path", "create_checkpoint_key", "create_keyring",
           "load_checkpoint_signer", "load_keyring", "read_secret_file", "save_keyring",
           "write_secret_file", "WatchedKeyring"]


class WatchedKeyring:
    """The pseudonymiser for a keyring file, rebuilt when the file changes.

    ``hitmachine keys rotate`` runs in another process; a running server picks the new
    version up within a second, so queries look under it as soon as adapters publish.
    """

    CHECK_INTERVAL = 1.0

    def __init__(self, path: Path, evaluator: "BlindEvaluator | None" = None) -> None:
        # Imported here: the factory loads libsodium, which only a watching server needs.
        from hitmachine.core.pseudonym.factory import make_pseudonymiser

        self._path = path
        # OPRF versions are evaluated by the key service (``evaluator``, its client).
        self._factory: Callable[[Keyring], Pseudonymiser] = (
            lambda keyring: make_pseudonymiser(keyring, evaluator))
        self._stamp = self._read_stamp()
        self._current = self._factory(load_keyring(path))
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def _read_stamp(self) -> tuple[int, int]:
        st = self._path.stat()
        return st.st_mtime_ns, st.st_ino

    def current(self) -> "Pseudonymiser":
        now = time.monotonic()
        if now - self._checked >= self.CHECK_INTERVAL:
            with self._lock:
                self._checked = now
                try:
                    stamp = self._read_stamp()
                    if stamp != self._stamp:
                        self._current = self._factory(load_keyring(self._path))
                        self._stamp = stamp
                except (OSError, HitmachineError):
                    pass  # keep serving with the keys we have; init/rotate report their own errors
        return self._current
