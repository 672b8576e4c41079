"""The API's listening socket, bound before anything else starts.

Binding first makes a taken port fail at once, before the data directory is bootstrapped, and lets
``--port 0`` mean "any free port": the kernel picks it while the socket is held, so no other process
can take it between choosing and serving (the race of probing for a free port and binding it later),
and the port it picked goes into the catalog and ``clouds.yaml``.
"""

from __future__ import annotations

import socket

BACKLOG = 2048
"""Connections the kernel queues before the server accepts them (uvicorn's own default)."""


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host``:``port`` (0: a port the kernel picks, read from ``getsockname``)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def bound_port(listener: socket.socket) -> int:
    return int(listener.getsockname()[1])
