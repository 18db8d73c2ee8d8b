"""The adapter's state directory: what lets a run resume, and delta mode remember.

One directory per agency (``--state-dir``; mode 0700), holding pseudonyms and counts only:

- ``lock``            held (lockf) while a run is going: two runs never interleave;
- ``spool.bin``       this run's entries as 97-byte records (deleted after a commit);
- ``run.json``        the open sync: its id, the spool's fingerprint and how many batches
                      the server confirmed, so a rerun after a crash continues there;
- ``published.sqlite`` delta mode: the entries the server confirmed last time, and what the
                      server said its set was then (count, update time, key version);
- ``last-run.json``   the outcome of the last run, for monitoring and ``status``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hitmachine.core import wire
from hitmachine.core.files import atomic_write
from hitmachine_adapter.errors import AdapterBusy, AdapterUsageError

RUN_FORMAT = "hitmachine-adapter-run/1"


@dataclass
class RunState:
    """An open snapshot sync on the server that this state directory may resume."""

    agency: str
    server: str
    key_version: int
    fingerprint: str     # SHA-256 over the spool and the batch size: the same data, same batches
    batch_size: int
    batches: int
    entries: int
    sync_id: str
    confirmed: int       # batches 0 .. confirmed-1 are on the server
    started_at: str
    format: str = RUN_FORMAT

    def resumes(self, other: "RunState") -> bool:
        return (self.agency, self.server, self.key_version, self.fingerprint, self.batch_size,
                self.batches, self.entries) == (other.agency, other.server, other.key_version,
                                                other.fingerprint, other.batch_size,
                                                other.batches, other.entries)


class StateDir:
    def __init__(self, path: Path | None) -> None:
        """``path`` None: a temporary directory, removed at the end (no resume, no delta)."""
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="hitmachine-adapter-")
            path = Path(self._tmp.name)
        self.path = path
        self.persistent = self._tmp is None
        try:
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise AdapterUsageError(f"cannot create the state directory {path}: "
                                    f"{exc.strerror}") from None
        self._lock_fd: int | None = None

    @property
    def spool(self) -> Path:
        return self.path / "spool.bin"

    @property
    def delta_db(self) -> Path:
        return self.path / "published.sqlite"

    @property
    def rejects(self) -> Path:
        return self.path / "rejects.csv"

    # ----------------------------------------------------------------------- lock

    @contextlib.contextmanager
    def locked(self) -> Iterator["StateDir"]:
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # A POSIX record lock, not flock: it belongs to this process alone, so forked
            # workers never hold it, and it goes when this process does, however it ends.
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AdapterBusy(f"another run holds {self.path} (lock); "
                                  "try again later") from None
            raise
        self._lock_fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # closing releases the lock
            if self._tmp is not None:
                self._tmp.cleanup()

    # ----------------------------------------------------------------------- run.json

    def load_run(self) -> RunState | None:
        path = self.path / "run.json"
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format") != RUN_FORMAT:
                return None
            return RunState(**doc)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, OSError):
            return None  # unreadable: start afresh (an open sync expires on the server)

    def save_run(self, run: RunState, *, durable: bool = False) -> None:
        _write_json(self.path / "run.json", asdict(run), durable=durable)

    def clear_run(self) -> None:
        (self.path / "run.json").unlink(missing_ok=True)
        self.spool.unlink(missing_ok=True)

    # ----------------------------------------------------------------------- last-run.json

    def write_last_run(self, doc: dict[str, Any]) -> None:
        if self.persistent:
            _write_json(self.path / "last-run.json", doc)

    def read_last_run(self) -> dict[str, Any] | None:
        try:
            doc: dict[str, Any] = json.loads((self.path / "last-run.json").read_text("utf-8"))
            return doc
        except (OSError, ValueError):
            return None


def _write_json(path: Path, doc: dict[str, Any], *, durable: bool = False) -> None:
    atomic_write(path, json.dumps(doc, indent=2, sort_keys=True) + "\n", private=True,
                 durable=durable)


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- delta state

class DeltaState:
    """What the server confirmed last time, as records (``published``), and this run's set
    (``current``), in a small SQLite file: the difference is two EXCEPT queries, and memory
    stays flat however large the sets are."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)
        os.chmod(path, 0o600)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS published (rec BLOB PRIMARY KEY) WITHOUT ROWID;
        """)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "DeltaState":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # meta: agency, server, key_version, entries, updated_at (the server's, after our last
    # confirmed change) and pending (set while a delta's outcome is unknown).
    def meta(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM meta").fetchall())

    def set_meta(self, **values: object) -> None:
        with self._tx():
            self._set_meta(values)

    def _set_meta(self, values: dict[str, object]) -> None:
        self.db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                            "DO UPDATE SET value = excluded.value",
                            [(k, str(v)) for k, v in values.items()])

    def forget(self) -> None:
        """Whatever the server has now, it is not known to be ``published``: the next delta
        run publishes a snapshot."""
        with self._tx():
            self.db.execute("DELETE FROM meta")

    @contextlib.contextmanager
    def _tx(self) -> Iterator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def load_current(self, spool: Path, chunk: int = 20000) -> int:
        """This run's entries, each once; returns how many distinct entries there are."""
        size = wire.RECORD_BYTES
        with self._tx():
            self.db.execute("DROP TABLE IF EXISTS current")
            self.db.execute("CREATE TABLE current (rec BLOB PRIMARY KEY) WITHOUT ROWID")
            with spool.open("rb") as fh:
                while True:
                    block = fh.read(size * chunk)
                    if not block:
                        break
                    self.db.executemany("INSERT OR IGNORE INTO current (rec) VALUES (?)",
                                        ((block[i:i + size],) for i in range(0, len(block), size)))
        count: int = self.db.execute("SELECT count(*) FROM current").fetchone()[0]
        return count

    def diff_counts(self) -> tuple[int, int]:
        add = self.db.execute("SELECT count(*) FROM (SELECT rec FROM current EXCEPT "
                              "SELECT rec FROM published)").fetchone()[0]
        remove = self.db.execute("SELECT count(*) FROM (SELECT rec FROM published EXCEPT "
                                 "SELECT rec FROM current)").fetchone()[0]
        return int(add), int(remove)

    def diff(self) -> tuple[list[bytes], list[bytes]]:
        add = [r[0] for r in self.db.execute(
            "SELECT rec FROM current EXCEPT SELECT rec FROM published ORDER BY 1")]
        remove = [r[0] for r in self.db.execute(
            "SELECT rec FROM published EXCEPT SELECT rec FROM current ORDER BY 1")]
        return add, remove

    def export_current(self, spool: Path) -> tuple[int, str]:
        """This run's distinct entries to a spool file (sorted); returns (count, sha256)."""

        digest = hashlib.sha256()
        count = 0
        fd = os.open(spool, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb", buffering=1 << 20) as out:
            for (rec,) in self.db.execute("SELECT rec FROM current ORDER BY rec"):
                out.write(rec)
                digest.update(rec)
                count += 1
            out.flush()
            os.fsync(out.fileno())
        return count, digest.hexdigest()

    def apply(self, add: list[bytes], remove: list[bytes], **meta: object) -> None:
        """The server confirmed a delta: make ``published`` what it now holds."""
        with self._tx():
            self.db.executemany("DELETE FROM published WHERE rec = ?", ((r,) for r in remove))
            self.db.executemany("INSERT OR IGNORE INTO published (rec) VALUES (?)",
                                ((r,) for r in add))
            self.db.execute("DELETE FROM meta WHERE key = 'pending'")
            self._set_meta(meta)

    def promote_current(self, **meta: object) -> None:
        """The server committed a snapshot of ``current``: it is now ``published``."""
        with self._tx():
            self.db.execute("DROP TABLE published")
            self.db.execute("ALTER TABLE current RENAME TO published")
            self.db.execute("DELETE FROM meta")
            self._set_meta(meta)

    def drop_current(self) -> None:
        with self._tx():
            self.db.execute("DROP TABLE IF EXISTS current")


__all__ = ["DeltaState", "RunState", "StateDir", "now_iso"]
