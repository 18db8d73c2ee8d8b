"""The adapter as cron runs it, many times in a row (issue 14 item 1): the real command in a
process of its own, with the default workers (a pool of forked processes for a database
source), snapshot and delta in turn. No run may hang, and none may print a traceback."""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitmachine.settings import Settings
from tests.adapter.conftest import export_keyring, load_reclassering, make_tokens
from tests.live_server import LiveServer

RUNS = 32
RUN_TIMEOUT = 20.0       # one run of 44 rows takes one to two seconds
SOAK_BUDGET = 60.0


class Agency:
    """What the reclassering administrator has: a config file naming a SQLite source."""

    def __init__(self, tmp: Path, server: LiveServer, token: str, keyring: Path) -> None:
        self.dir = tmp / "reclassering"
        self.dir.mkdir()
        (self.dir / "token").write_text(token)
        (self.dir / "token").chmod(0o600)
        self.source = next(load_reclassering(f"sqlite:///{self.dir / 'clients.db'}"))
        self.config = self.dir / "adapter.toml"
        self.config.write_text(f'agency = "reclassering"\nsource = "{self.source}"\n'
                               f'server = "{server.url}"\ntoken_file = "token"\n'
                               f'keyring = "{keyring}"\nstate_dir = "state"\n'
                               "max_reject_fraction = 0.5\n")

    def command(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "hitmachine_adapter.cli", "sync", "--config", str(self.config),
                *extra]

    def lock_is_free(self) -> bool:
        fd = os.open(self.dir / "state" / "lock", os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        finally:
            os.close(fd)  # closing releases it
        return True


@pytest.fixture
def agency(settings: Settings, tmp_path: Path) -> Iterator[Agency]:
    tokens, _ = make_tokens(settings)
    keyring = export_keyring(settings, tmp_path / "adapter-keyring.json")
    with LiveServer(settings, tmp_path / "server.log") as server:
        yield Agency(tmp_path, server, tokens["reclassering"], keyring)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HITMACHINE_ADAPTER")}
    return {**env, "PYTHONFAULTHANDLER": ""}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_many_runs_in_a_row_never_hang_nor_print_a_traceback(agency: Agency) -> None:
    started = time.monotonic()
    problems: list[str] = []
    runs = 0
    while runs < RUNS and time.monotonic() - started < SOAK_BUDGET:
        mode = "delta" if runs % 2 else "snapshot"
        code, output = _run(agency.command("--mode", mode))
        if code is None:
            problems.append(f"run {runs} ({mode}) hung for {RUN_TIMEOUT:.0f}s: {output[-800:]}")
        elif code != 0 or "Traceback" in output:
            problems.append(f"run {runs} ({mode}) exit {code}: {output[-1500:]}")
        runs += 1
    assert not problems, f"{len(problems)} of {runs} runs failed:\n" + "\n".join(problems)
    print(f"{runs} runs in {time.monotonic() - started:.1f}s")
    assert runs >= 20, f"only {runs} runs in {SOAK_BUDGET:.0f}s"


def _run(command: list[str]) -> tuple[int | None, str]:
    """Exit code (None: it hung, and was killed with its workers) and output."""
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)   # the run and its pool workers
        output, _ = process.communicate()
        return None, output
    return process.returncode, output


def _wait_for_lock(agency: Agency, process: subprocess.Popen[str]) -> None:
    """Until the run holds the state lock (it writes its pid into the lock file)."""
    lock = agency.dir / "state" / "lock"
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(process.pid):
            return
        time.sleep(0.01)
    raise AssertionError(f"the run never took its lock (exit {process.poll()})")


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sigtermed_run_exits_cleanly_and_releases_its_lock(agency: Agency) -> None:
    # The server is down, so each run is reading or retrying when the SIGTERM comes: early
    # ones while the pool of workers reads, later ones while the client waits to retry.
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{unused.getsockname()[1]}"
    for delay in (0.0, 0.01, 0.03, 0.06, 0.1, 0.2, 0.5):
        process = subprocess.Popen(agency.command("--server", down), env=_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        _wait_for_lock(agency, process)
        time.sleep(delay)
        process.send_signal(signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"a SIGTERM'd run (after {delay}s) did not end") from None
        assert process.returncode == 130, (delay, out, err)
        assert "Traceback" not in out + err, (delay, err)
        assert err.splitlines()[-1].startswith("error: interrupted"), (delay, err)
        time.sleep(0.2)
        assert _group_gone(process.pid), f"workers left behind (after {delay}s)"
        assert agency.lock_is_free()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_stuck_run_ends_at_its_deadline_and_releases_its_lock(agency: Agency) -> None:
    # A server that takes the connection and never answers: each request would wait out
    # its 60-second timeout, times seven attempts.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        code, output = _run(agency.command("--server", url, "--deadline", "2"))
        took = time.monotonic() - started
    assert code == 8, output
    assert "Traceback" not in output and took < 15, (took, output)
    assert output.strip().splitlines()[-1].startswith(
        "error: the run did not finish within its deadline of 2s"), output
    assert agency.lock_is_free()
    last = (agency.dir / "state" / "last-run.json").read_text()
    assert '"exit_code": 8' in last
