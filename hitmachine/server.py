"""Running the app under uvicorn, with its listening socket bound by us.

uvicorn 0.54 binds the socket for ``--workers N`` with ``proto=0``; accepted sockets
inherit that, asyncio then skips TCP_NODELAY, and every keep-alive request after the
first waits ~40 ms for a delayed ACK (uvicorn issue 3149). We bind with IPPROTO_TCP and
set TCP_NODELAY on the listener (Linux copies it to accepted sockets), for one worker
and for many alike.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from uvicorn.supervisors import Multiprocess

from hitmachine.domain.errors import Conflict, Unavailable

if TYPE_CHECKING:
    from hitmachine.config import Settings


def bind_tcp(host: str, port: int) -> socket.socket:
    """The listening socket; a port taken, not ours to bind or an unknown address is a
    one-line error (Conflict or Unavailable), not the OSError's traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)  # taken now, before the app starts (uvicorn listens again: a no-op)
    except OSError as exc:
        sock.close()
        raise bind_problem(host, port, exc) from None
    sock.set_inheritable(True)
    return sock


def bind_problem(host: str, port: int, exc: OSError) -> Conflict | Unavailable:
    if exc.errno == errno.EADDRINUSE:
        return Conflict(f"port {port} on {host} is taken (another program listens on it); "
                        f"stop it or choose another with --port")
    if exc.errno == errno.EACCES:
        return Unavailable(f"not allowed to listen on port {port} (ports below 1024 need "
                           f"privileges); choose another with --port")
    return Unavailable(f"cannot listen on {host} port {port}: {exc.strerror or exc}")


def listen_url(host: str, port: int, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          ssl_certfile: Path | None = None, ssl_keyfile: Path | None = None,
          ssl_ca_certs: Path | None = None, require_client_cert: bool = False,
          access_log: bool = True, log_level: str = "info",
          on_listening: Callable[[str], None] | None = None) -> None:
    """Bind, then tell ``on_listening`` the address, then serve until stopped.

    Every worker builds its app from ``settings``, the caller's already validated object
    (pickled to worker processes), not from the environment a second time."""
    import ssl

    from hitmachine.logs import uvicorn_config

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # /metrics sums all workers' counts from files here (prometheus_client multiprocess
        # mode); set before the workers start, which read it when they import the client.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="hitmachine-metrics-")
    from hitmachine.api.app import create_app  # after the metrics directory is chosen

    config = uvicorn.Config(
        functools.partial(create_app, settings), factory=True, host=host, port=port,
        workers=workers, log_level=log_level,
        # JSON logs (hitmachine.logs); the request log is ours (RequestLogMiddleware).
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


__all__ = ["bind_problem", "bind_tcp", "listen_url", "serve"]
