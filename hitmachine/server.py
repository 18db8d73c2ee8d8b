"""Running the app under uvicorn, with its listening socket bound by us.

uvicorn 0.54 binds the socket for ``--workers N`` with ``proto=0``; accepted sockets
inherit that, asyncio then skips TCP_NODELAY, and every keep-alive request after the
first waits ~40 ms for a delayed ACK (uvicorn issue 3149). We bind with IPPROTO_TCP and
set TCP_NODELAY on the listener (Linux copies it to accepted sockets), for one worker
and for many alike.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "hitmachine.api.app:create_app"


def bind_tcp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(*, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None,
          ssl_ca_certs: Path | None = None, require_client_cert: bool = False,
          access_log: bool = True, log_level: str = "info") -> None:
    import ssl

    from hitmachine.logs import uvicorn_config

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics sums all workers' counts from files here (prometheus_client multiprocess
        # mode); set before the workers start, which read it when they import the client.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hitmachine-metrics-")
    config = uvicorn.Config(
        APP, factory=True, host=host, port=port, workers=workers, log_level=log_level,
        # JSON logs (hitmachine.logs); the request log is ours (RequestLogMiddleware).
        log_config=uvicorn_config(log_level, access_log), access_log=False,
        server_header=False, proxy_headers=False,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
        ssl_ca_certs=str(ssl_ca_certs) if ssl_ca_certs else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_NONE)
    sock = bind_tcp(host, port)
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])


__all__ = ["bind_tcp", "serve"]
