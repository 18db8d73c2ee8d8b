"""The listening socket, bound by us for the app and the key service alike.

uvicorn 0.54 binds the socket for ``--workers N`` with ``proto=0``; accepted sockets
inherit that, asyncio then skips TCP_NODELAY, and every keep-alive request after the
first waits ~40 ms for a delayed ACK (uvicorn issue 3149). We bind with IPPROTO_TCP and
set TCP_NODELAY on the listener (Linux copies it to accepted sockets).
"""

from __future__ import annotations

import errno
import socket

from hitmachine.core.errors import Conflict, Unavailable


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


__all__ = ["bind_problem", "bind_tcp", "listen_url"]
