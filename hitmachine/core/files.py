"""Files, done one way everywhere: written whole or not at all, secrets readable by their
owner only, and a file's parsed contents re-read when another process changes it.

Used by the key files (``core.keystore``), the key service's key and token files, the
adapter's state and rejects files, and the replay's outputs.
"""

from __future__ import annotations

import os
import secrets
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Generic, TypeVar

from hitmachine.core.errors import Forbidden, HitmachineError, NotFound

T = TypeVar("T")


# --- writing whole or not at all ----------------------------------------------------------

class AtomicFile:
    """A file that appears under its name only when ``commit`` is called: written to a
    temporary file beside it and renamed into place, so a reader (or a crash) never sees
    half of it. ``discard`` (or leaving a ``with`` block by an exception) removes the
    temporary file and leaves any earlier file of that name as it was.

    ``private``: created 0600 from the start, never readable by others even for a moment;
    otherwise the usual permissions (0666 less the umask). ``durable``: fsync'ed before the
    rename, for files that must survive a power cut (keys, the adapter's delta state).
    """

    def __init__(self, path: Path, *, private: bool = False, durable: bool = False,
                 binary: bool = False, newline: str | None = None) -> None:
        self.path = path
        self._durable = durable
        path.parent.mkdir(parents=True, exist_ok=True)
        # A name no other writer picks (pid and random), so two writers never share one.
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     0o600 if private else 0o666)
        try:
            self.handle: IO[Any] = (os.fdopen(fd, "wb") if binary else
                                    os.fdopen(fd, "w", encoding="utf-8", newline=newline))
        except BaseException:
            os.close(fd)
            self._tmp.unlink(missing_ok=True)
            raise
        self._open = True

    def write(self, data: Any) -> None:
        self.handle.write(data)

    def commit(self) -> None:
        if not self._open:
            return
        self._open = False
        try:
            if self._durable:
                self.handle.flush()
                os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.handle.close()
            self._tmp.unlink(missing_ok=True)
            raise

    def discard(self) -> None:
        if self._open:
            self._open = False
            self.handle.close()
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path: Path, data: str | bytes, *, private: bool = False,
                 durable: bool = False) -> None:
    """Write ``data`` to ``path`` whole or not at all (see ``AtomicFile``)."""
    with AtomicFile(path, private=private, durable=durable,
                    binary=isinstance(data, bytes)) as out:
        out.write(data)


# --- secrets ------------------------------------------------------------------------------

def check_private(path: Path, *, hint: str | None = None) -> None:
    """Refuse a secret file that the group or others may read or write."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise Forbidden(f"{path} is accessible to group or others (mode {stat.S_IMODE(mode):o}); "
                        f"run: chmod 600 {hint or path}")


def write_secret_file(path: Path, content: str) -> None:
    """Write ``content`` so that it is never readable by anyone but the owner, not even for
    a moment: the temporary file is created 0600, synced and renamed into place."""
    atomic_write(path, content, private=True, durable=True)


def read_secret_file(path: Path) -> str:
    """The contents of a key file; refused when missing or readable by group or others."""
    if not path.exists():
        raise NotFound(f"{path} does not exist; run 'hitmachine init' first")
    check_private(path)
    return path.read_text(encoding="utf-8")


class TokenFileError(HitmachineError):
    """A token file that is missing, unreadable, open to others, or not one token."""


def read_token_file(path: Path) -> str:
    """The one token on the one line of a file only its owner may read (an adapter's token,
    the server's token for the key service)."""
    try:
        check_private(path)
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise TokenFileError(f"token file {path} does not exist") from None
    except OSError as exc:
        raise TokenFileError(f"cannot read token file {path}: {exc.strerror}") from None
    except Forbidden as exc:
        raise TokenFileError(f"token file {exc.detail}") from None
    if not token or "\n" in token:
        raise TokenFileError(f"token file {path} must hold one token on one line")
    return token


# --- watching -----------------------------------------------------------------------------

Stamp = tuple[int, int] | None  # (mtime_ns, inode), None while the file is missing


def file_stamp(path: Path) -> Stamp:
    """What changes when a file is rewritten: its modification time and, after an atomic
    rename, its inode."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_ino


class Watched(Generic[T]):
    """A file's parsed contents, re-read when the file changes: the keyring, the key
    service's keys and tokens are rewritten by commands in another process, and a running
    server picks the change up within ``interval`` seconds (0: on every ``get``).

    ``clock`` and ``stamp`` are ``time.monotonic`` and ``file_stamp`` unless a test passes
    its own, so a test can move time on instead of sleeping. A file that cannot be read or
    parsed is not taken: the last good contents keep serving (the commands that write these
    files report their own errors).
    """

    def __init__(self, path: Path, load: Callable[[Path], T], *, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 stamp: Callable[[Path], Stamp] = file_stamp) -> None:
        self._path, self._load, self._interval = path, load, interval
        self._clock, self._stamp_of = clock, stamp
        self._stamp = stamp(path)
        self._value = load(path)
        self._checked = clock()
        self._lock = threading.Lock()

    def get(self) -> T:
        now = self._clock()
        if now - self._checked >= self._interval:
            with self._lock:
                self._checked = now
                try:
                    stamp = self._stamp_of(self._path)
                    if stamp != self._stamp:
                        self._value, self._stamp = self._load(self._path), stamp
                except (OSError, HitmachineError):
                    pass  # keep serving with what we have
        return self._value


__all__ = ["AtomicFile", "Stamp", "TokenFileError", "Watched", "atomic_write", "check_private",
           "file_stamp", "read_secret_file", "read_token_file", "write_secret_file"]
