"""The listening socket ``hitmachine serve`` binds: accepted connections have Nagle off.

uvicorn 0.54 binds the ``--workers N`` socket with proto 0, so asyncio never sets
TCP_NODELAY on accepted connections and keep-alive responses wait ~40 ms for a delayed
ACK (uvicorn issue 3149). ``bind_tcp`` is our workaround; this pins it.
"""

from __future__ import annotations

import socket

from hitmachine.core.listen import bind_tcp


def test_listener_is_tcp_with_nodelay() -> None:
    listener = bind_tcp("127.0.0.1", 0)
    try:
        assert listener.proto == socket.IPPROTO_TCP
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        listener.close()


def test_accepted_connections_inherit_nodelay() -> None:
    listener = bind_tcp("127.0.0.1", 0)
    listener.listen()
    client = socket.create_connection(listener.getsockname())
    try:
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.proto == socket.IPPROTO_TCP  # asyncio's own check for NODELAY
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        client.close()
        listener.close()


def test_a_default_uvicorn_style_socket_would_not() -> None:
    """The failure the workaround exists for: proto 0 on the listener and its children."""
    plain = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    plain.bind(("127.0.0.1", 0))
    plain.listen()
    client = socket.create_connection(plain.getsockname())
    try:
        accepted, _ = plain.accept()
        with accepted:
            assert accepted.proto == 0
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
    finally:
        client.close()
        plain.close()
