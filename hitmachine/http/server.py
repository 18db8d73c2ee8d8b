"""Running the app under uvicorn, on a listening socket bound by ``hitmachine.core.listen``
(which says why we bind it ourselves)."""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from uvicorn.supervisors import Multiprocess

from hitmachine.core.listen import bind_tcp, listen_url

if TYPE_CHECKING:
    from hitmachine.settings import Settings


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None,
          ssl_ca_certs: Path | None = None, require_client_cert: bool = False,
          access_log: bool = True, log_level: str = "info",
          on_listening: Callable[[str], None] | None = None) -> None:
    """Bind, then tell ``on_listening`` the address, then serve until stopped.

    Every worker builds its app from ``settings``, the caller's already validated object
    (pickled to worker processes), not from the environment a second time."""
    import ssl

    from hitmachine.core.logs import uvicorn_config

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics sums all workers' counts from files here (prometheus_client multiprocess
        # mode); set before the workers start, which read it when they import the client.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hitmachine-metrics-")
    from hitmachine.http.app import create_app  # after the metrics directory is chosen

    config = uvicorn.Config(
        functools.partial(create_app, settings), factory=True, host=host, port=port,
        workers=workers, log_level=log_level,
        # JSON logs (hitmachine.core.logs); the request log is ours (RequestLogMiddleware).
        log_config=uvicorn_config(log_level, access_log), access_log=False,
        server_header=False, proxy_headers=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        ssl_ca_certs=str(ssl_ca_certs) if ssl_ca_certs else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE)
    sock = bind_tcp(host, port)
    if on_listening is not None:
        on_listening(listen_url(host, port, ssl_certfile is not None))
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


__all__ = ["serve"]
