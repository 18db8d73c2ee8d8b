"""A real ``hitmachine serve`` process on loopback, for tests that need the whole stack:
uvicorn, workers, the CLI, the adapter over HTTP, and the server's own log output."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from hitmachine.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# A live server looks at its keyring on every query, so a test that rotates or retires a key
# in another process sees the change at once instead of sleeping out the 1 s default.
KEYRING_AT_ONCE = {"HITMACHINE_KEYRING_CHECK_SECONDS": "0"}


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    scheme: dict[str, str] = {"HITMACHINE_PSEUDONYM_SCHEME": settings.pseudonym_scheme}
    if settings.keyservice_url:  # an oprf deployment: the token is keys/keyservice.token
        scheme["HITMACHINE_KEYSERVICE_URL"] = settings.keyservice_url
    return {**os.environ, "HITMACHINE_DATABASE_URL": settings.database_url,
            "HITMACHINE_KEYS_DIR": str(settings.keys_dir), **scheme, **extra}


def cli(settings: Settings, *args: str, stdin: str | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``hitmachine ARGS`` (or ``hitmachine-adapter`` when args[0] == "adapter")."""
    module = "hitmachine_adapter.cli" if args and args[0] == "adapter" else "hitmachine.cli.main"
    argv = list(args[1:]) if module == "hitmachine_adapter.cli" else list(args)
    result = subprocess.run([sys.executable, "-m", module, *argv], env=env_for(settings),
                            input=stdin, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"{module} {argv} failed ({result.returncode}):\n{result.stderr}")
    return result


class LiveServer:
    def __init__(self, settings: Settings, log_path: Path, *, workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.log_path = log_path
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "LiveServer":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hitmachine.cli.main", "serve", "--port", str(self.port),
             "--workers", str(self.workers)],
            env=env_for(self.settings, **self.extra_env), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("server did not become ready")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hooks, as in a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> "LiveServer":
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
