"""A real key service on loopback, served by uvicorn in a thread of the test process."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType

import httpx
import uvicorn

from hitmachine_keyservice import keyfile, tokens
from hitmachine_keyservice.app import create_app
from hitmachine_keyservice.settings import KeyServiceSettings
from tests.live_server import free_port


class LiveKeyService:
    """Key versions ``versions`` and one token (``token``) for everybody in the test."""

    def __init__(self, directory: Path, versions: tuple[int, ...] = (1,), **limits: int) -> None:
        self.settings = KeyServiceSettings(dir=directory, **limits)
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        keys = keyfile.KeyFile.generate(versions[0])
        for v in versions[1:]:
            keys = keys.add(v)
        keyfile.save(self.settings.key_path, keys)
        self.keys = keys
        updated, _, self.token = tokens.TokenFile().create("test adapters", 10**9, 10**10)
        tokens.save(self.settings.tokens_path, updated)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.settings), host="127.0.0.1",
                                                     port=self.port, log_level="warning",
                                                     access_log=False))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def write_token(self, path: Path) -> Path:
        path.write_text(self.token + "\n")
        path.chmod(0o600)
        return path

    def __enter__(self) -> "LiveKeyService":
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise RuntimeError("key service did not start")

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


__all__ = ["LiveKeyService"]
