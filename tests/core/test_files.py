"""Tests of hitmachine.core.files: atomic writes, token files and the one file watcher
(with a test clock and a test stamp: nothing here sleeps)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitmachine.core.errors import NotFound
from hitmachine.core.files import (
    AtomicFile,
    Stamp,
    TokenFileError,
    Watched,
    atomic_write,
    file_stamp,
    read_token_file,
    write_secret_file,
)


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- atomic writes ------------------------------------------------------------------------

def test_atomic_write_gives_ordinary_files_the_usual_permissions(tmp_path: Path,
                                                                 umask_022: None) -> None:
    path = tmp_path / "out" / "report.md"
    atomic_write(path, "text")
    assert path.read_text(encoding="utf-8") == "text" and mode(path) == 0o644
    atomic_write(path, b"\x00bytes")
    assert path.read_bytes() == b"\x00bytes"
    atomic_write(path, "private", private=True, durable=True)
    assert mode(path) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]


def test_a_discarded_or_failed_atomic_file_leaves_the_old_one(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    path.write_text("old", encoding="utf-8")
    out = AtomicFile(path)
    out.write("half")
    out.discard()
    with pytest.raises(RuntimeError), AtomicFile(path) as failing:
        failing.write("half")
        raise RuntimeError("the run failed")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["rejects.csv"]
    with AtomicFile(path, newline="") as done:
        done.write("new\r\n")
    assert path.read_bytes() == b"new\r\n"


# --- token files --------------------------------------------------------------------------

def test_a_token_file_holds_one_token_on_one_line(tmp_path: Path) -> None:
    path = tmp_path / "token"
    write_secret_file(path, "hm_secret\n")
    assert read_token_file(path) == "hm_secret"
    write_secret_file(path, "one\ntwo\n")
    with pytest.raises(TokenFileError, match="one token on one line"):
        read_token_file(path)
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match="accessible to group or others"):
        read_token_file(path)
    with pytest.raises(TokenFileError, match="does not exist"):
        read_token_file(tmp_path / "missing")


# --- the watcher --------------------------------------------------------------------------

class Files:
    """A file's contents and stamp as the watcher sees them, changed by the test."""

    def __init__(self) -> None:
        self.text: str | None = "one"
        self.stamp: Stamp = (1, 1)
        self.loads = 0

    def load(self, path: Path) -> str:
        self.loads += 1
        if self.text is None:
            raise NotFound(f"{path} does not exist")
        return self.text

    def stamp_of(self, path: Path) -> Stamp:
        return self.stamp


def test_the_watcher_rereads_a_changed_file_once_the_interval_has_passed() -> None:
    files, now = Files(), [0.0]
    watched = Watched(Path("keyring.json"), files.load, interval=1.0,
                      clock=lambda: now[0], stamp=files.stamp_of)
    assert watched.get() == "one"
    files.text, files.stamp = "two", (2, 1)
    now[0] = 0.9
    assert watched.get() == "one"  # not looked at yet
    now[0] = 1.0
    assert watched.get() == "two"
    now[0] = 5.0
    assert watched.get() == "two" and files.loads == 2  # unchanged stamp: not re-read


def test_the_watcher_keeps_the_last_good_contents_when_the_file_goes_bad() -> None:
    files, now = Files(), [0.0]
    watched = Watched(Path("keyring.json"), files.load, interval=0,
                      clock=lambda: now[0], stamp=files.stamp_of)
    files.text, files.stamp = None, None  # removed, or half written by hand
    assert watched.get() == "one"
    files.text, files.stamp = "three", (3, 2)
    assert watched.get() == "three"  # interval 0: every get looks


def test_file_stamp_changes_when_a_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    assert file_stamp(path) is None
    write_secret_file(path, "a")
    first = file_stamp(path)
    write_secret_file(path, "b")  # renamed into place: another inode
    assert first is not None and file_stamp(path) != first
